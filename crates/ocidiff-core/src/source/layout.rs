//! OCI image layout directories, and choosing an image from a layout's `index.json` (shared
//! with the archive sources, whose layouts have the same `index.json`).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::SourceError;
use crate::content::{BlobSource, ContentError, Limit, LimitExceeded, Limits};
use crate::model::{Blob, Descriptor, Digest, Document, Index};

/// An OCI image layout on disk.
pub struct OciDir {
    path: PathBuf,
}

impl OciDir {
    /// Opens the layout at `path`: a directory with an `oci-layout` file (nothing else is read yet).
    pub fn open(path: &Path) -> Result<OciDir, SourceError> {
        let marker = path.join("oci-layout");
        if !path.is_dir() {
            return Err(SourceError::Io {
                path: path.to_owned(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory"),
            });
        }
        if !marker.is_file() {
            return Err(SourceError::NotLayout {
                path: path.to_owned(),
                reason: "it has no oci-layout file".into(),
            });
        }
        Ok(OciDir {
            path: path.to_owned(),
        })
    }

    /// The image named `reference` (or the only one) in `index.json`, which like every JSON
    /// document is held to `limits.json_bytes`.
    pub fn root(&self, reference: Option<&str>, limits: &Limits) -> Result<Blob, SourceError> {
        let index_path = self.path.join("index.json");
        // Read at most one byte past the limit: the file is not trusted to be small.
        let limit = limits.json_bytes;
        let io_err = |source| SourceError::Io {
            path: index_path.clone(),
            source,
        };
        let mut bytes = Vec::new();
        File::open(&index_path)
            .and_then(|f| f.take(limit + 1).read_to_end(&mut bytes))
            .map_err(io_err)?;
        if bytes.len() as u64 > limit {
            return Err(ContentError::TooLarge(LimitExceeded {
                limit: Limit::JsonBytes,
                max: limit,
                subject: index_path.display().to_string(),
                found: None,
            })
            .into());
        }
        select_root(&self.path, bytes, reference, self, limits)
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.path
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(digest.hex())
    }
}

impl BlobSource for OciDir {
    fn open(&self, digest: &Digest) -> Result<Box<dyn Read + Send + '_>, ContentError> {
        match File::open(self.blob_path(digest)) {
            Ok(f) => Ok(Box::new(f)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ContentError::NotFound {
                digest: digest.clone(),
                source_name: self.describe(),
            }),
            Err(source) => Err(ContentError::Io {
                digest: digest.clone(),
                source,
            }),
        }
    }

    fn describe(&self) -> String {
        format!("OCI layout {}", self.path.display())
    }
}

/// Chooses the image a layout's `index.json` names.
///
/// With a reference, the entry whose `org.opencontainers.image.ref.name` (or, as Docker
/// writes it, `io.containerd.image.name`) or digest equals it. A name on entries of different
/// digests is an error: skopeo takes the first of them and `ctr import` leaves the name on the
/// last. Without a reference: the only entry; or, when the entries share one name (or none) —
/// as a multi-platform layout written straight into `index.json` has them — the index itself.
pub fn select_root(
    path: &Path,
    index_bytes: Vec<u8>,
    reference: Option<&str>,
    blobs: &dyn BlobSource,
    limits: &Limits,
) -> Result<Blob, SourceError> {
    let index = parse_index(path, &index_bytes)?;
    let chosen: Vec<&Descriptor> = match reference {
        Some(r) => vec![find_reference(path, &index, r)?],
        None => index.manifests.iter().collect(),
    };
    match chosen.as_slice() {
        [] => Err(SourceError::Empty {
            path: path.to_owned(),
        }),
        [one] => {
            let bytes = crate::content::read_json_blob(blobs, one, limits.json_bytes)?;
            Ok(Blob {
                descriptor: Some((*one).clone()),
                bytes,
            })
        }
        several => {
            let first = ref_names(several[0]);
            let same_name = several.iter().all(|d| ref_names(d) == first);
            let all_platformed = several.iter().all(|d| d.platform.is_some());
            if same_name && all_platformed {
                Ok(Blob {
                    descriptor: None,
                    bytes: index_bytes,
                })
            } else {
                Err(SourceError::Ambiguous {
                    path: path.to_owned(),
                    hint: "PATH:REF".into(),
                    available: available(&index),
                })
            }
        }
    }
}

/// A layout's `index.json`, which must be an index.
fn parse_index(path: &Path, index_bytes: &[u8]) -> Result<Index, SourceError> {
    let parsed = Document::parse(index_bytes, None).map_err(|source| SourceError::Document {
        path: path.to_owned(),
        what: "index.json".to_owned(),
        source,
    })?;
    match parsed {
        Document::Index(index) => Ok(index),
        Document::Manifest(_) => Err(SourceError::NotLayout {
            path: path.to_owned(),
            reason: "index.json is a manifest, not an index".into(),
        }),
    }
}

/// The names an entry of `index.json` is given: `org.opencontainers.image.ref.name`, and
/// `io.containerd.image.name` as Docker writes it.
fn ref_names(d: &Descriptor) -> Vec<String> {
    [
        "org.opencontainers.image.ref.name",
        "io.containerd.image.name",
    ]
    .iter()
    .filter_map(|k| d.annotations.get(*k).cloned())
    .collect()
}

/// The images `index` offers, for messages: each entry's name, or its digest.
fn available(index: &Index) -> String {
    super::distinct(index.manifests.iter().map(|d| {
        d.ref_name()
            .map_or_else(|| d.digest.to_string(), str::to_owned)
    }))
    .join(", ")
}

/// The entry of `index` that `reference` names, by name or digest. Several entries of one
/// name are fine when they are one digest; of different digests, the name is ambiguous.
fn find_reference<'i>(
    path: &Path,
    index: &'i Index,
    reference: &str,
) -> Result<&'i Descriptor, SourceError> {
    let hits: Vec<&Descriptor> = index
        .manifests
        .iter()
        .filter(|d| {
            ref_names(d).iter().any(|n| n == reference) || d.digest.to_string() == reference
        })
        .collect();
    let Some(&first) = hits.first() else {
        return Err(SourceError::NoSuchImage {
            path: path.to_owned(),
            wanted: reference.to_owned(),
            available: available(index),
        });
    };
    let mut digests: Vec<String> = hits.iter().map(|d| d.digest.to_string()).collect();
    digests.sort();
    digests.dedup();
    if digests.len() > 1 {
        return Err(SourceError::AmbiguousName {
            path: path.to_owned(),
            name: reference.to_owned(),
            digests: digests.join(", "),
        });
    }
    Ok(first)
}
