//! `docker-archive:PATH[:REF]`: `docker save` (and `podman save`) tarballs, read in place.
//!
//! Docker ≥ 25 writes an OCI layout into the tarball; it is read as one, its images named by
//! `io.containerd.image.name`. Older tarballs hold only `manifest.json`, `<config>.json` and
//! `<id>/layer.tar`: for those a Docker schema-2 manifest is synthesised so that the walk sees
//! the same shape as from a registry.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use serde::Deserialize;

use super::SourceError;
use super::archive::{ArchiveError, Span, TarIndex};
use super::oci_archive::OciArchive;
use crate::content::{BlobSource, ContentError, Limits, read_json_blob};
use crate::model::{Blob, Config, Descriptor, Digest, Document, gojson, media};

/// Opens the image `reference` names (or the only one) in a `docker save` tarball; its JSON
/// documents are held to `limits.json_bytes`.
pub fn open(
    path: &Path,
    reference: Option<&str>,
    limits: &Limits,
) -> Result<(Blob, Box<dyn BlobSource>), SourceError> {
    let tar = TarIndex::scan(path)?;
    if tar.contains("index.json") && tar.contains("oci-layout") {
        let layout = OciArchive::from_index(tar, "docker archive")?;
        let index = layout.index_bytes(limits)?;
        let root = layout_root(path, &index, &layout, reference, limits.json_bytes)?;
        return Ok((root, Box::new(layout)));
    }
    if !tar.contains("manifest.json") {
        return Err(malformed(
            path,
            "archive",
            "it holds neither manifest.json (docker save) nor index.json and oci-layout".into(),
        ));
    }
    let (root, blobs) = classic_root(tar, reference, limits.json_bytes)?;
    Ok((root, Box::new(blobs)))
}

pub(super) fn malformed(path: &Path, what: &str, reason: String) -> SourceError {
    ArchiveError::Malformed {
        path: path.to_owned(),
        what: what.to_owned(),
        reason,
    }
    .into()
}

/// The full name Docker records for a short one: `foo` → `docker.io/library/foo:latest`,
/// `me/foo:1` → `docker.io/me/foo:1`; names with a registry (`reg:5000/x:y`, `localhost/x`)
/// keep it, and a digest reference gets no `latest` tag.
fn normalize_name(name: &str) -> String {
    let (name, digest) = match name.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (name, None),
    };
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    };
    let repo = match repo.split_once('/') {
        Some(("index.docker.io", rest)) => format!("docker.io/{rest}"),
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => repo.to_owned(),
        Some(_) => format!("docker.io/{repo}"),
        None => format!("docker.io/library/{repo}"),
    };
    let repo = match repo.strip_prefix("docker.io/") {
        Some(rest) if !rest.contains('/') => format!("docker.io/library/{rest}"),
        _ => repo,
    };
    match (tag, digest) {
        (Some(t), Some(d)) => format!("{repo}:{t}@{d}"),
        (Some(t), None) => format!("{repo}:{t}"),
        (None, Some(d)) => format!("{repo}@{d}"),
        (None, None) => format!("{repo}:latest"),
    }
}

/// Picks the image in a Docker ≥ 25 layout: by `io.containerd.image.name` (both sides
/// normalised), by `org.opencontainers.image.ref.name` (the bare tag) or by digest. Docker
/// lists an image once per tag, so descriptors that share a digest count as one image.
/// `index_bytes` is the layout's `index.json`, `blobs` where its blobs are (the archive itself,
/// or the store a streamed archive was copied into); `path` names the archive in errors.
pub(super) fn layout_root(
    path: &Path,
    index_bytes: &[u8],
    blobs: &dyn BlobSource,
    reference: Option<&str>,
    json_limit: u64,
) -> Result<Blob, SourceError> {
    let index =
        match Document::parse(index_bytes, None).map_err(|source| SourceError::Document {
            path: path.to_owned(),
            what: "index.json".into(),
            source,
        })? {
            Document::Index(index) => index,
            Document::Manifest(_) => {
                return Err(SourceError::NotLayout {
                    path: path.to_owned(),
                    reason: "index.json is a manifest, not an index".into(),
                });
            }
        };
    let containerd_name = |d: &Descriptor| d.annotations.get("io.containerd.image.name").cloned();
    let label = |d: &Descriptor| {
        containerd_name(d)
            .or_else(|| d.ref_name().map(str::to_owned))
            .unwrap_or_else(|| d.digest.to_string())
    };
    let available = || {
        let mut all: Vec<String> = index.manifests.iter().map(label).collect();
        all.dedup();
        all.join(", ")
    };
    let chosen: Vec<&Descriptor> = match reference {
        Some(r) => {
            let wanted = normalize_name(r);
            index
                .manifests
                .iter()
                .filter(|d| {
                    containerd_name(d).is_some_and(|n| normalize_name(&n) == wanted)
                        || d.ref_name() == Some(r)
                        || d.digest.to_string() == r
                })
                .collect()
        }
        None => index.manifests.iter().collect(),
    };
    let Some(first) = chosen.first() else {
        return Err(match reference {
            Some(r) => SourceError::NoSuchImage {
                path: path.to_owned(),
                wanted: r.to_owned(),
                available: available(),
            },
            None => SourceError::Empty {
                path: path.to_owned(),
            },
        });
    };
    if chosen.iter().any(|d| d.digest != first.digest) {
        let mut names: Vec<String> = chosen.iter().map(|d| label(d)).collect();
        names.dedup();
        return Err(SourceError::Ambiguous {
            path: path.to_owned(),
            hint: "docker-archive:PATH:NAME[:TAG]".into(),
            available: names.join(", "),
        });
    }
    let bytes = read_json_blob(blobs, first, json_limit)?;
    Ok(Blob {
        descriptor: Some((*first).clone()),
        bytes,
    })
}

/// One entry of a classic `manifest.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SavedImage {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

impl SavedImage {
    fn label(&self) -> String {
        match self.repo_tags.as_deref() {
            Some(tags) if !tags.is_empty() => tags.join(", "),
            _ => format!("<untagged {}>", self.config),
        }
    }
}

/// The blobs of a classic `docker save` tarball: each digest of the synthesised manifest
/// mapped to the member holding it.
pub struct ClassicArchive {
    tar: TarIndex,
    members: HashMap<Digest, Span>,
}

impl BlobSource for ClassicArchive {
    fn open(&self, digest: &Digest) -> Result<Box<dyn Read + Send + '_>, ContentError> {
        let span = self
            .members
            .get(digest)
            .ok_or_else(|| ContentError::NotFound {
                digest: digest.clone(),
                source_name: self.describe(),
            })?;
        match self.tar.open_span(*span) {
            Ok(reader) => Ok(Box::new(reader)),
            Err(e) => Err(ContentError::Io {
                digest: digest.clone(),
                source: std::io::Error::other(e),
            }),
        }
    }

    fn describe(&self) -> String {
        format!("docker archive {}", self.tar.path().display())
    }
}

/// One blob of a classic archive, as the synthesised manifest describes it.
pub(super) struct ClassicBlob {
    pub media_type: &'static str,
    pub digest: Digest,
    pub size: u64,
}

/// The layer media type a blob's first bytes show: gzip, zstd, or (`None`) a plain tar.
pub(super) fn compressed_layer_type(magic: &[u8]) -> Option<&'static str> {
    match magic {
        [0x1f, 0x8b, ..] => Some(media::DOCKER_LAYER_GZIP),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Some(media::OCI_LAYER_ZSTD),
        _ => None,
    }
}

/// Where the members a classic `manifest.json` names are: the archive read in place, or the
/// store a streamed archive was copied into.
pub(super) trait ClassicMembers {
    /// The bytes of the (small) config member `name` and the blob it is.
    fn config(&mut self, name: &str) -> Result<(Vec<u8>, ClassicBlob), SourceError>;
    /// The layer member `name`, whose uncompressed digest the config says is `diff_id`.
    fn layer(&mut self, name: &str, diff_id: Digest) -> Result<ClassicBlob, SourceError>;
}

/// Synthesises the Docker schema-2 manifest of the image `reference` names (or the only one)
/// in a classic `manifest.json`; `path` names the archive in errors.
pub(super) fn classic_manifest(
    path: &Path,
    manifest_json: &[u8],
    reference: Option<&str>,
    members: &mut dyn ClassicMembers,
) -> Result<Vec<u8>, SourceError> {
    let saved: Vec<SavedImage> = gojson::from_slice(manifest_json, &gojson::DOCKER_SAVE_MANIFEST)
        .map_err(|e| malformed(path, "manifest.json", e.to_string()))?;
    let available = || {
        saved
            .iter()
            .map(SavedImage::label)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let image = match reference {
        Some(r) => {
            let wanted = normalize_name(r);
            let mut hits = saved.iter().filter(|s| {
                s.repo_tags
                    .iter()
                    .flatten()
                    .any(|t| normalize_name(t) == wanted)
            });
            hits.next().ok_or_else(|| SourceError::NoSuchImage {
                path: path.to_owned(),
                wanted: r.to_owned(),
                available: available(),
            })?
        }
        None => match saved.as_slice() {
            [] => {
                return Err(SourceError::Empty {
                    path: path.to_owned(),
                });
            }
            [one] => one,
            _ => {
                return Err(SourceError::Ambiguous {
                    path: path.to_owned(),
                    hint: "docker-archive:PATH:NAME[:TAG]".into(),
                    available: available(),
                });
            }
        },
    };

    let (config_bytes, config_blob) = members.config(&image.config)?;
    let config: Config = gojson::from_slice(&config_bytes, &gojson::IMAGE_CONFIG).map_err(|e| {
        malformed(
            path,
            &format!("image config {}", image.config),
            e.to_string(),
        )
    })?;
    let diff_ids = config.rootfs.map(|r| r.diff_ids).unwrap_or_default();
    if diff_ids.len() != image.layers.len() {
        return Err(malformed(
            path,
            "manifest.json",
            format!(
                "{} lists {} layers, but its config {} has {} rootfs.diff_ids",
                image.label(),
                image.layers.len(),
                image.config,
                diff_ids.len()
            ),
        ));
    }
    let mut layers = Vec::with_capacity(image.layers.len());
    for (member, diff_id) in image.layers.iter().zip(diff_ids) {
        let blob = members.layer(member, diff_id)?;
        layers.push(serde_json::json!({
            "mediaType": blob.media_type,
            "size": blob.size,
            "digest": blob.digest,
        }));
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::DOCKER_MANIFEST,
        "config": {
            "mediaType": config_blob.media_type,
            "size": config_blob.size,
            "digest": config_blob.digest,
        },
        "layers": layers,
    });
    serde_json::to_vec(&manifest).map_err(|e| malformed(path, "manifest", e.to_string()))
}

/// The members of a classic archive read in place; each blob the manifest names is mapped to
/// the member holding it as it is located.
struct InPlace<'a> {
    tar: &'a TarIndex,
    members: HashMap<Digest, Span>,
    json_limit: u64,
}

impl ClassicMembers for InPlace<'_> {
    fn config(&mut self, name: &str) -> Result<(Vec<u8>, ClassicBlob), SourceError> {
        let span = self.tar.resolve(name)?;
        let bytes = self.tar.read_small(name, self.json_limit)?;
        let digest = Digest::sha256_of(&bytes);
        self.members.insert(digest.clone(), span);
        let blob = ClassicBlob {
            media_type: media::DOCKER_CONFIG,
            digest,
            size: span.size,
        };
        Ok((bytes, blob))
    }

    fn layer(&mut self, name: &str, diff_id: Digest) -> Result<ClassicBlob, SourceError> {
        let tar = self.tar;
        let span = tar.resolve(name)?;
        let mut magic = [0u8; 4];
        let n = read_up_to(&mut tar.open_span(span)?, &mut magic).map_err(|source| {
            SourceError::Io {
                path: tar.path().to_owned(),
                source,
            }
        })?;
        // An uncompressed layer's digest is its diff_id, so no need to hash it here (reading
        // it later verifies it); a compressed one must be hashed to learn its digest.
        let (media_type, digest) = match compressed_layer_type(&magic[..n]) {
            Some(media_type) => (media_type, tar.sha256(span)?),
            None => (media::DOCKER_LAYER, diff_id),
        };
        self.members.insert(digest.clone(), span);
        Ok(ClassicBlob {
            media_type,
            digest,
            size: span.size,
        })
    }
}

fn classic_root(
    tar: TarIndex,
    reference: Option<&str>,
    json_limit: u64,
) -> Result<(Blob, ClassicArchive), SourceError> {
    let path = tar.path().to_owned();
    let manifest_json = tar.read_small("manifest.json", json_limit)?;
    let mut in_place = InPlace {
        tar: &tar,
        members: HashMap::new(),
        json_limit,
    };
    let bytes = classic_manifest(&path, &manifest_json, reference, &mut in_place)?;
    let members = in_place.members;
    Ok((
        Blob {
            descriptor: None,
            bytes,
        },
        ClassicArchive { tar, members },
    ))
}

/// Fills as much of `buf` as the reader has.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use ocidiff_testkit::{
        Compression, DockerArchiveForm, Entry, ImageSpec, Layer, docker_archive_bytes,
    };
    use serde_json::json;

    use super::*;
    use crate::model::{Manifest, MediaKind};
    use crate::reference::ImageRef;
    use crate::source::archive::tests::{temp_file, verify_all};

    fn image(content: &str) -> ImageSpec {
        ImageSpec::new()
            .layer(Layer::new(vec![
                Entry::dir("etc/"),
                Entry::file("etc/f", content),
            ]))
            .layer(Layer::new(vec![Entry::file(
                "shared",
                "same in every image",
            )]))
    }

    fn archive(
        images: &[(Vec<&str>, ImageSpec)],
        form: DockerArchiveForm,
    ) -> (tempfile::TempDir, std::path::PathBuf) {
        temp_file(&docker_archive_bytes(images, form).0)
    }

    fn manifest_of(root: &Blob) -> Manifest {
        match Document::parse(&root.bytes, None).unwrap() {
            Document::Manifest(m) => *m,
            Document::Index(_) => panic!("expected a manifest"),
        }
    }

    #[test]
    fn classic_archive_gets_a_synthesised_docker_manifest() {
        let spec = image("a");
        let built = spec.build();
        let (_d, path) = archive(&[(vec!["one:1"], spec)], DockerArchiveForm::Classic);
        let (root, blobs) = open(&path, None, &Limits::default()).unwrap();
        assert!(root.descriptor.is_none());
        let m = manifest_of(&root);
        assert_eq!(m.media_type.as_deref(), Some(media::DOCKER_MANIFEST));
        assert_eq!(m.config.media_type, media::DOCKER_CONFIG);
        assert_eq!(m.config.digest.to_string(), built.config.digest);
        let digests: Vec<String> = m.layers.iter().map(|l| l.digest.to_string()).collect();
        assert_eq!(digests, built.diff_ids);
        assert!(
            m.layers
                .iter()
                .all(|l| l.kind() == MediaKind::Layer(crate::model::Compression::None))
        );
        assert_eq!(verify_all(&root, blobs.as_ref()), 3);
    }

    #[test]
    fn classic_symlinked_and_gzip_layers_are_read() {
        let gz = ImageSpec::new()
            .layer(Layer::new(vec![Entry::file("z", "zipped")]).compression(Compression::Gzip))
            .layer(Layer::new(vec![Entry::file(
                "shared",
                "same in every image",
            )]));
        let images = [(vec!["one:1"], image("a")), (vec!["gz"], gz.clone())];
        let (_d, path) = archive(&images, DockerArchiveForm::Classic);
        // The shared layer of "gz" is a symlink to the copy "one" stored first.
        let (root, blobs) = open(&path, Some("gz"), &Limits::default()).unwrap();
        let m = manifest_of(&root);
        assert_eq!(m.layers[0].media_type, media::DOCKER_LAYER_GZIP);
        assert_eq!(m.layers[0].digest.to_string(), gz.build().layers[0].digest);
        assert_eq!(verify_all(&root, blobs.as_ref()), 3);
    }

    #[test]
    fn classic_refs_are_normalised_and_errors_list_the_tags() {
        let images = [
            (vec!["one:1"], image("a")),
            (vec!["two", "reg:5000/x/two:2"], image("b")),
            (vec![], image("c")),
        ];
        let (_d, path) = archive(&images, DockerArchiveForm::Classic);
        let config_of = |r: &str| {
            manifest_of(&open(&path, Some(r), &Limits::default()).unwrap().0)
                .config
                .digest
        };
        let one = image("a").build().config.digest;
        let two = image("b").build().config.digest;
        assert_eq!(config_of("one:1").to_string(), one);
        assert_eq!(config_of("docker.io/library/one:1").to_string(), one);
        assert_eq!(config_of("two:latest").to_string(), two);
        assert_eq!(config_of("reg:5000/x/two:2").to_string(), two);

        let err = open(&path, Some("one"), &Limits::default()).err().unwrap();
        assert!(matches!(err, SourceError::NoSuchImage { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("one:1, two, reg:5000/x/two:2, <untagged "),
            "{err}"
        );
        let err = open(&path, None, &Limits::default()).err().unwrap();
        assert!(matches!(err, SourceError::Ambiguous { .. }), "{err}");
        assert!(err.to_string().contains("one:1"), "{err}");
    }

    #[test]
    fn classic_layer_count_must_match_diff_ids() {
        let spec = image("a").config_field("rootfs", json!({"type": "layers", "diff_ids": []}));
        let (_d, path) = archive(&[(vec!["x"], spec)], DockerArchiveForm::Classic);
        let err = open(&path, None, &Limits::default()).err().unwrap();
        assert!(err.to_string().contains("lists 2 layers"), "{err}");
        assert!(err.to_string().contains("has 0 rootfs.diff_ids"), "{err}");
    }

    #[test]
    fn truncated_classic_archive_is_an_error() {
        let bytes = docker_archive_bytes(&[(vec!["x"], image("a"))], DockerArchiveForm::Classic).0;
        // Inside a layer, inside the last member (repositories), inside an early header.
        for cut in [bytes.len() / 2, bytes.len() - 1024 - 512 + 10, 700] {
            let (_d, path) = temp_file(&bytes[..cut]);
            assert!(
                open(&path, None, &Limits::default()).is_err(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn docker_25_archive_reads_as_a_layout_named_by_containerd() {
        let images = [
            (vec!["one:1", "one:latest"], image("a")),
            (vec!["ghcr.io/o/two:2"], image("b")),
        ];
        let (_d, path) = archive(&images, DockerArchiveForm::OciLayout);
        let one = image("a").build().manifest.digest;
        let two = image("b").build().manifest.digest;
        let root_of = |r: &str| {
            let (root, blobs) = open(&path, Some(r), &Limits::default()).unwrap();
            assert_eq!(verify_all(&root, blobs.as_ref()), 3);
            root.descriptor.unwrap().digest.to_string()
        };
        assert_eq!(root_of("one"), one);
        assert_eq!(root_of("one:1"), one);
        assert_eq!(root_of("docker.io/library/one:1"), one);
        assert_eq!(root_of("2"), two, "the bare tag is the ref.name");
        assert_eq!(root_of("ghcr.io/o/two:2"), two);
        assert_eq!(root_of(&two), two);

        let err = open(&path, Some("two:2"), &Limits::default())
            .err()
            .unwrap();
        assert!(matches!(err, SourceError::NoSuchImage { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("docker.io/library/one:1, docker.io/library/one:latest, ghcr.io/o/two:2"),
            "{err}"
        );
        let err = open(&path, None, &Limits::default()).err().unwrap();
        assert!(matches!(err, SourceError::Ambiguous { .. }), "{err}");

        // One image under two tags is one image.
        let (_d, path) = archive(&images[..1], DockerArchiveForm::OciLayout);
        assert_eq!(
            open(&path, None, &Limits::default())
                .unwrap()
                .0
                .descriptor
                .unwrap()
                .digest
                .to_string(),
            one
        );
    }

    #[test]
    fn bare_paths_open_through_source_open() {
        for form in [DockerArchiveForm::Classic, DockerArchiveForm::OciLayout] {
            let (_d, path) = archive(&[(vec!["x:1"], image("a"))], form);
            let bare = ImageRef::parse(path.to_str().unwrap()).unwrap();
            assert_eq!(bare.transport(), "docker-archive", "{form:?}");
            let image = crate::source::open(&bare, &Default::default()).unwrap();
            assert_eq!(verify_all(&image.root, image.blobs.as_ref()), 3);
            let named = ImageRef::parse(&format!("docker-archive:{}:x:1", path.display())).unwrap();
            assert!(
                crate::source::open(&named, &Default::default()).is_ok(),
                "{form:?}"
            );
        }
    }

    #[test]
    fn names_normalise_like_docker() {
        assert_eq!(normalize_name("foo"), "docker.io/library/foo:latest");
        assert_eq!(normalize_name("foo:1"), "docker.io/library/foo:1");
        assert_eq!(normalize_name("me/foo"), "docker.io/me/foo:latest");
        assert_eq!(normalize_name("docker.io/foo:1"), "docker.io/library/foo:1");
        assert_eq!(
            normalize_name("index.docker.io/library/foo"),
            "docker.io/library/foo:latest"
        );
        assert_eq!(normalize_name("reg:5000/x:y"), "reg:5000/x:y");
        assert_eq!(normalize_name("localhost/x"), "localhost/x:latest");
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            normalize_name(&format!("foo@{d}")),
            format!("docker.io/library/foo@{d}")
        );
    }
}
