//! Which image of a multi-platform image a runtime would run, and which images an index offers.
//!
//! A comparison is only worth its verdict if it compares the image a runtime would run, so the
//! choice follows containerd's `images.Manifest` (which Docker, `BuildKit` and nerdctl share):
//! among the entries the request accepts (see [`Matcher`]) and those without a platform, the
//! best-ranked is followed, entries without a platform last; a nested index is descended into
//! the same way; an entry without a platform is only taken if its config's platform is
//! accepted. The root itself, when it is a manifest, is run whatever platform it is for.

use std::collections::HashSet;

use crate::content::{self, BlobSource, ContentError, Limit, LimitExceeded, Limits};
use crate::model::{Blob, Descriptor, Digest, Document, DocumentError, MediaKind, Platform};
use crate::model::{Matcher, is_runnable};

/// Nested indexes deeper than this are refused: no tool writes them, and a chain of them could
/// otherwise be walked for ever.
pub const MAX_DEPTH: usize = 8;

/// Why no image could be chosen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SelectError {
    /// A blob could not be read or verified.
    #[error(transparent)]
    Content(#[from] ContentError),
    /// An index or manifest that does not parse.
    #[error("{what}: {source}")]
    Document {
        /// Which document, as the message names it.
        what: String,
        /// What is wrong with it.
        source: DocumentError,
    },
    /// No index entry matches the platforms asked for.
    #[error("no image for platform {wanted}; the image offers: {offered}")]
    NoPlatform {
        /// The platforms asked for, as one phrase.
        wanted: String,
        /// The platforms the image offers, as one phrase.
        offered: String,
    },
    /// The best entry names no platform, and its config is for another one: runtimes stop there.
    #[error(
        "no image for platform {wanted}: its best index entry, manifest {digest}, names no \
         platform and its config is for {found}; container runtimes stop there"
    )]
    ConfigMismatch {
        /// The platforms asked for, as one phrase.
        wanted: String,
        /// The entry's manifest.
        digest: Digest,
        /// The platform its config names.
        found: String,
    },
    /// The chosen entry is neither a manifest nor an index.
    #[error(
        "the index entry for platform {wanted}, {digest}, has media type {media_type:?}, which \
         is neither an image manifest nor an index: container runtimes fail on it"
    )]
    NotAnImage {
        /// The platforms asked for, as one phrase.
        wanted: String,
        /// The entry's digest.
        digest: Digest,
        /// The entry's media type.
        media_type: String,
    },
    /// An index where a manifest was expected, or the reverse.
    #[error("{what} {digest} is a {found}, expected {expected}")]
    WrongKind {
        /// The role the document was read for.
        what: &'static str,
        /// The document's digest.
        digest: Digest,
        /// The kind it turned out to be.
        found: &'static str,
        /// The kind its role asks for.
        expected: &'static str,
    },
    /// An index that lists itself, directly or through nested indexes.
    #[error("index {0} refers to itself")]
    Cycle(Digest),
    /// Indexes nested deeper than [`MAX_DEPTH`].
    #[error("index {0} is nested more than {MAX_DEPTH} indexes deep")]
    TooDeep(Digest),
    /// An index with more entries than the limit allows.
    #[error("{0}")]
    TooMany(#[source] LimitExceeded),
}

/// An image chosen or offered: its manifest, and the platform it is for — the index entry's,
/// or its config's when the entry names none (`None` when neither does, or for a root
/// manifest whose config names none).
#[derive(Debug, Clone)]
pub struct Offered {
    /// The image's manifest, with its bytes.
    pub manifest: Blob,
    /// The platform it is for (see above).
    pub platform: Option<Platform>,
}

/// Reads indexes, manifests and configs of one image.
struct Reader<'a> {
    blobs: &'a dyn BlobSource,
    limits: &'a Limits,
}

impl Reader<'_> {
    fn json(&self, desc: &Descriptor) -> Result<Vec<u8>, SelectError> {
        Ok(content::read_json_blob(
            self.blobs,
            desc,
            self.limits.json_bytes,
        )?)
    }

    // A method beside json, entries and manifest, though it needs neither blobs nor limits.
    #[allow(clippy::unused_self)]
    fn document(&self, bytes: &[u8], desc: Option<&Descriptor>) -> Result<Document, SelectError> {
        Document::parse(bytes, desc.map(|d| d.media_type.as_str())).map_err(|source| {
            SelectError::Document {
                what: desc.map_or_else(
                    || "the image's root document".to_owned(),
                    |d| format!("{} {}", kind_name(d), d.digest),
                ),
                source,
            }
        })
    }

    /// The entries of the index `desc` (or of the root, when `desc` is `None`).
    fn entries(
        &self,
        bytes: &[u8],
        desc: Option<&Descriptor>,
    ) -> Result<Vec<Descriptor>, SelectError> {
        let manifests = match self.document(bytes, desc)? {
            Document::Index(index) => index.manifests,
            Document::Manifest(_) => {
                return Err(SelectError::WrongKind {
                    what: "index",
                    digest: digest_of(bytes, desc),
                    found: "manifest",
                    expected: "index",
                });
            }
        };
        if manifests.len() as u64 > self.limits.manifests {
            return Err(SelectError::TooMany(LimitExceeded {
                limit: Limit::Manifests,
                max: self.limits.manifests,
                subject: format!("index {}", digest_of(bytes, desc)),
                found: Some(manifests.len() as u64),
            }));
        }
        Ok(manifests)
    }

    /// The manifest `desc` names, with the platform its config declares.
    fn manifest(&self, desc: &Descriptor) -> Result<(Blob, Option<Platform>), SelectError> {
        let blob = Blob {
            bytes: self.json(desc)?,
            descriptor: Some(desc.clone()),
        };
        let platform = self.declared_platform(&blob)?;
        Ok((blob, platform))
    }

    /// The platform the config of the manifest `blob` declares.
    fn declared_platform(&self, blob: &Blob) -> Result<Option<Platform>, SelectError> {
        let manifest = match self.document(&blob.bytes, blob.descriptor.as_ref())? {
            Document::Manifest(m) => m,
            Document::Index(_) => {
                return Err(SelectError::WrongKind {
                    what: "manifest",
                    digest: digest_of(&blob.bytes, blob.descriptor.as_ref()),
                    found: "index",
                    expected: "manifest",
                });
            }
        };
        let config = self.json(&manifest.config)?;
        Platform::of_config(&config).map_err(|source| SelectError::Document {
            what: format!("config {}", manifest.config.digest),
            source: source.into(),
        })
    }
}

fn kind_name(d: &Descriptor) -> &'static str {
    match d.kind() {
        MediaKind::Index => "index",
        _ => "manifest",
    }
}

fn digest_of(bytes: &[u8], desc: Option<&Descriptor>) -> Digest {
    desc.map_or_else(|| Digest::sha256_of(bytes), |d| d.digest.clone())
}

/// The image a runtime asked for `wanted` would run from the image whose root is `root`.
pub fn select(
    blobs: &dyn BlobSource,
    root: &Blob,
    wanted: &Platform,
    limits: &Limits,
) -> Result<Offered, SelectError> {
    let reader = Reader { blobs, limits };
    let mut entries = match reader.document(&root.bytes, root.descriptor.as_ref())? {
        Document::Manifest(_) => {
            return Ok(Offered {
                manifest: root.clone(),
                platform: None,
            });
        }
        Document::Index(_) => reader.entries(&root.bytes, root.descriptor.as_ref())?,
    };
    let matcher = Matcher::only(wanted);
    let mut seen: Vec<Digest> = root.descriptor.iter().map(|d| d.digest.clone()).collect();
    loop {
        let runnable: Vec<Descriptor> =
            entries.iter().filter(|d| is_runnable(d)).cloned().collect();
        let Some(best) = matcher.best(&runnable).cloned() else {
            return Err(SelectError::NoPlatform {
                wanted: wanted.to_string(),
                offered: describe_entries(&runnable),
            });
        };
        match best.kind() {
            MediaKind::Index => {
                if seen.contains(&best.digest) {
                    return Err(SelectError::Cycle(best.digest));
                }
                if seen.len() > MAX_DEPTH {
                    return Err(SelectError::TooDeep(best.digest));
                }
                seen.push(best.digest.clone());
                entries = reader.entries(&reader.json(&best)?, Some(&best))?;
            }
            MediaKind::Manifest => {
                let (manifest, config) = reader.manifest(&best)?;
                return match &best.platform {
                    Some(p) => Ok(Offered {
                        manifest,
                        platform: Some(p.clone()),
                    }),
                    None if config.as_ref().is_some_and(|c| matcher.matches(c)) => Ok(Offered {
                        manifest,
                        platform: config,
                    }),
                    None => Err(SelectError::ConfigMismatch {
                        wanted: wanted.to_string(),
                        digest: best.digest,
                        found: config.map_or_else(|| "no platform".to_owned(), |c| c.to_string()),
                    }),
                };
            }
            _ => {
                return Err(SelectError::NotAnImage {
                    wanted: wanted.to_string(),
                    digest: best.digest,
                    media_type: best.media_type,
                });
            }
        }
    }
}

/// [`select`], for a platform the user asked for: an image for one platform only must be for
/// that one, as `docker run --platform` refuses an image for another.
pub fn select_asked(
    blobs: &dyn BlobSource,
    root: &Blob,
    wanted: &Platform,
    limits: &Limits,
) -> Result<Offered, SelectError> {
    let chosen = select(blobs, root, wanted, limits)?;
    if chosen.platform.is_none() {
        let reader = Reader { blobs, limits };
        if let Some(found) = reader.declared_platform(root)? {
            if !Matcher::only(wanted).matches(&found) {
                return Err(SelectError::NoPlatform {
                    wanted: wanted.to_string(),
                    offered: found.to_string(),
                });
            }
        }
    }
    Ok(chosen)
}

/// Every image the root offers, in document order, nested indexes flattened where they stand:
/// the root manifest itself, or each runnable image-manifest entry (attestations and entries of
/// other media types are no images), each manifest once.
pub fn offered(
    blobs: &dyn BlobSource,
    root: &Blob,
    limits: &Limits,
) -> Result<Vec<Offered>, SelectError> {
    let reader = Reader { blobs, limits };
    if let Document::Manifest(_) = reader.document(&root.bytes, root.descriptor.as_ref())? {
        return Ok(vec![Offered {
            platform: reader.declared_platform(root)?,
            manifest: root.clone(),
        }]);
    }
    let mut out = Vec::new();
    let mut path: Vec<Digest> = root.descriptor.iter().map(|d| d.digest.clone()).collect();
    let entries = reader.entries(&root.bytes, root.descriptor.as_ref())?;
    collect(&reader, entries, &mut path, &mut HashSet::new(), &mut out)?;
    Ok(out)
}

/// Appends the images `entries` offer to `out`; `path` holds the indexes being walked (a cycle
/// is an error), `walked` those walked already: an index listed again offers nothing new, and
/// skipping it keeps a fan of indexes listing indexes from multiplying the work.
fn collect(
    reader: &Reader,
    entries: Vec<Descriptor>,
    path: &mut Vec<Digest>,
    walked: &mut HashSet<Digest>,
    out: &mut Vec<Offered>,
) -> Result<(), SelectError> {
    for d in entries.into_iter().filter(is_runnable) {
        match d.kind() {
            MediaKind::Index => {
                if path.contains(&d.digest) {
                    return Err(SelectError::Cycle(d.digest));
                }
                if path.len() > MAX_DEPTH {
                    return Err(SelectError::TooDeep(d.digest));
                }
                if !walked.insert(d.digest.clone()) {
                    continue;
                }
                path.push(d.digest.clone());
                let nested = reader.entries(&reader.json(&d)?, Some(&d))?;
                collect(reader, nested, path, walked, out)?;
                path.pop();
            }
            MediaKind::Manifest => {
                if out.iter().any(|o: &Offered| {
                    o.manifest
                        .descriptor
                        .as_ref()
                        .is_some_and(|m| m.digest == d.digest)
                }) {
                    continue;
                }
                let (manifest, config) = reader.manifest(&d)?;
                out.push(Offered {
                    platform: d.platform.clone().or(config),
                    manifest,
                });
            }
            _ => {}
        }
        if out.len() as u64 > reader.limits.manifests {
            return Err(SelectError::TooMany(LimitExceeded {
                limit: Limit::Manifests,
                max: reader.limits.manifests,
                subject: "an index with its nested indexes".into(),
                found: Some(out.len() as u64),
            }));
        }
    }
    Ok(())
}

/// The platforms of offered images, for error messages.
pub fn describe(images: &[Offered]) -> String {
    if images.is_empty() {
        return "no image".to_owned();
    }
    let mut names: Vec<String> = images
        .iter()
        .map(|o| {
            o.platform.as_ref().map_or_else(
                || "an image without a platform".to_owned(),
                ToString::to_string,
            )
        })
        .collect();
    names.dedup();
    names.join(", ")
}

/// The platforms index entries name, for error messages (without reading them).
pub fn describe_entries(entries: &[Descriptor]) -> String {
    let mut names: Vec<String> = entries
        .iter()
        .map(|d| match (&d.platform, d.kind()) {
            (Some(p), _) => p.to_string(),
            (None, MediaKind::Index) => "an index without a platform".to_owned(),
            (None, _) => "an entry without a platform".to_owned(),
        })
        .collect();
    names.dedup();
    if names.is_empty() {
        "no image".to_owned()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::content::MemorySource;
    use crate::model::media;

    fn put(blobs: &mut MemorySource, media_type: &str, bytes: Vec<u8>) -> Descriptor {
        let d = Descriptor::new(media_type, Digest::sha256_of(&bytes), bytes.len() as u64);
        blobs.0.insert(d.digest.clone(), bytes);
        d
    }

    /// An image for `linux/amd64`.
    fn image(blobs: &mut MemorySource) -> Descriptor {
        image_for(blobs, "amd64")
    }

    fn image_for(blobs: &mut MemorySource, arch: &str) -> Descriptor {
        let config = json!({
            "os": "linux",
            "architecture": arch,
            "rootfs": {"type": "layers", "diff_ids": []},
        });
        let config = put(
            blobs,
            media::OCI_CONFIG,
            serde_json::to_vec(&config).unwrap(),
        );
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_MANIFEST,
            "config": config,
            "layers": [],
        });
        let mut d = put(
            blobs,
            media::OCI_MANIFEST,
            serde_json::to_vec(&manifest).unwrap(),
        );
        d.platform = Some(Platform::new("linux", arch, None));
        d
    }

    fn index(entries: &[Descriptor]) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_INDEX,
            "manifests": entries,
        }))
        .unwrap()
    }

    fn root(bytes: Vec<u8>) -> Blob {
        Blob {
            descriptor: None,
            bytes,
        }
    }

    #[test]
    fn an_index_may_hold_as_many_entries_as_the_limit() {
        let mut blobs = MemorySource::default();
        let entries: Vec<Descriptor> = (0..3).map(|_| image(&mut blobs)).collect();
        let limits = Limits {
            manifests: 2,
            ..Limits::default()
        };
        let amd64 = Platform::new("linux", "amd64", None);
        select(&blobs, &root(index(&entries[..2])), &amd64, &limits).unwrap();
        let e = select(&blobs, &root(index(&entries)), &amd64, &limits).unwrap_err();
        assert!(matches!(e, SelectError::TooMany(_)), "{e}");
    }

    /// An image under `depth` indexes below the root index.
    fn nested(depth: usize) -> (MemorySource, Blob) {
        let mut blobs = MemorySource::default();
        let mut entry = image(&mut blobs);
        for _ in 0..depth {
            entry = Descriptor {
                platform: entry.platform.clone(),
                ..put(&mut blobs, media::OCI_INDEX, index(&[entry]))
            };
        }
        let bytes = index(&[entry]);
        let root = Blob {
            descriptor: Some(put(&mut blobs, media::OCI_INDEX, bytes.clone())),
            bytes,
        };
        (blobs, root)
    }

    #[test]
    fn indexes_nest_up_to_the_limit_below_the_root() {
        let amd64 = Platform::new("linux", "amd64", None);
        let limits = Limits::default();
        let (blobs, root) = nested(MAX_DEPTH);
        select(&blobs, &root, &amd64, &limits).unwrap();
        assert_eq!(offered(&blobs, &root, &limits).unwrap().len(), 1);
        let (blobs, root) = nested(MAX_DEPTH + 1);
        let e = select(&blobs, &root, &amd64, &limits).unwrap_err();
        assert!(matches!(e, SelectError::TooDeep(_)), "{e}");
        let e = offered(&blobs, &root, &limits).unwrap_err();
        assert!(matches!(e, SelectError::TooDeep(_)), "{e}");
    }

    #[test]
    fn every_image_offered_once_nested_indexes_flattened() {
        let mut blobs = MemorySource::default();
        let a = image(&mut blobs);
        let b = image_for(&mut blobs, "arm64");
        let inner = put(&mut blobs, media::OCI_INDEX, index(&[b.clone(), a.clone()]));
        let root = root(index(&[a.clone(), inner.clone(), inner]));
        let images = offered(&blobs, &root, &Limits::default()).unwrap();
        let digests: Vec<&Digest> = images
            .iter()
            .map(|o| &o.manifest.descriptor.as_ref().unwrap().digest)
            .collect();
        assert_eq!(digests, [&a.digest, &b.digest]);
        // The limit counts the images offered, nested ones included.
        let limit = |manifests| Limits {
            manifests,
            ..Limits::default()
        };
        let c = image_for(&mut blobs, "s390x");
        let bc = put(&mut blobs, media::OCI_INDEX, index(&[b, c]));
        let three = self::root(index(&[a, bc]));
        offered(&blobs, &three, &limit(3)).unwrap();
        let e = offered(&blobs, &three, &limit(2)).unwrap_err();
        assert!(matches!(e, SelectError::TooMany(_)), "{e}");
    }

    #[test]
    fn a_malformed_document_is_named_by_its_kind() {
        let mut blobs = MemorySource::default();
        let mut nested = put(
            &mut blobs,
            media::OCI_INDEX,
            br#"{"schemaVersion":2,"manifests":{}}"#.to_vec(),
        );
        nested.platform = Some(Platform::new("linux", "amd64", None));
        let amd64 = Platform::new("linux", "amd64", None);
        let error = |entry: &Descriptor| {
            select(
                &blobs,
                &root(index(std::slice::from_ref(entry))),
                &amd64,
                &Limits::default(),
            )
            .unwrap_err()
            .to_string()
        };
        let e = error(&nested);
        assert!(e.starts_with(&format!("index {}", nested.digest)), "{e}");
        let mut manifest = nested;
        manifest.media_type = media::OCI_MANIFEST.to_owned();
        let e = error(&manifest);
        assert!(
            e.starts_with(&format!("manifest {}", manifest.digest)),
            "{e}"
        );
    }
}
