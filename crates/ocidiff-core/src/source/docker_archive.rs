//! `docker-archive:PATH[:REF]`: `docker save` (and `podman save`) tarballs, read in place, as
//! `docker load` reads them.
//!
//! Classic tarballs hold `manifest.json`, `<config>.json` and `<id>/layer.tar`: for those a
//! Docker schema-2 manifest is synthesised, so that the walk sees the same shape as from a
//! registry. Members are found where `docker load`'s extraction puts them
//! ([`super::members`]), and archives whose members collide once extracted are refused.
//!
//! Docker ≥ 25 also writes an OCI layout (`oci-layout`, `index.json`, `blobs/`) next to
//! `manifest.json`. `docker load` reads `manifest.json`; containerd's `ctr import` reads the
//! layout (both checked against dockerd 20.10 and containerd 1.6 in
//! `crates/ocidiff/tests/archives_vs_runtimes.rs`). When both are there, the image named must be
//! the same in both — same config, same layers — or the archive is refused: a verdict on one
//! would say nothing of what the other runtime loads. When they agree, the layout is read (it
//! keeps the media types and annotations the image was saved with). An `index.json` listing no
//! image (`null` or `[]`) is not a layout: `manifest.json` is read, as Docker does (`ctr
//! import` finds no image in it).
//!
//! Several entries of `manifest.json` may carry the same tag: `docker load` tags each in turn,
//! so the last keeps it, and `docker-archive:PATH:TAG` names the last, as `ctr import` does too.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use super::SourceError;
use super::archive::{ArchiveError, Span, TarIndex};
use super::manifest_json::{self, SavedImage};
use super::oci_archive::OciArchive;
use crate::content::{BlobSource, ContentError, HEAD_BYTES, Limits, read_json_blob};
use crate::model::{
    Blob, Compression, Config, Descriptor, Digest, Document, Manifest, gojson, media,
};

/// Opens the image `reference` names (or the only one) in a `docker save` tarball; its JSON
/// documents are held to `limits.json_bytes`.
pub fn open(
    path: &Path,
    reference: Option<&str>,
    limits: &Limits,
) -> Result<(Blob, Box<dyn BlobSource>), SourceError> {
    let tar = TarIndex::scan(path)?;
    let mut in_place = InPlace {
        archive: OciArchive::within(tar, "docker archive"),
        members: HashMap::new(),
        json_limit: limits.json_bytes,
    };
    match open_saved(&mut in_place, reference)? {
        Saved::Layout(root) => Ok((root, Box::new(in_place.archive))),
        Saved::Classic(root) => Ok((
            root,
            Box::new(ClassicArchive {
                tar: in_place.archive.tar,
                members: in_place.members,
            }),
        )),
    }
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

/// Whether a layout's `index.json` lists an image at all (Docker ≥ 25 may write
/// `"manifests": null`).
fn lists_images(index_bytes: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(index_bytes).map_or(true, |v| {
        !matches!(&v["manifests"], serde_json::Value::Null)
            && v["manifests"].as_array().is_none_or(|m| !m.is_empty())
    })
}

/// Picks the image in a Docker ≥ 25 layout: by `io.containerd.image.name` (both sides
/// normalised; the last descriptor of that name, as `ctr import` and `docker load` leave the
/// tag), else by `org.opencontainers.image.ref.name` (the bare tag) or by digest. Docker lists
/// an image once per tag, so descriptors that share a digest count as one image.
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
            let named = index
                .manifests
                .iter()
                .rfind(|d| containerd_name(d).is_some_and(|n| normalize_name(&n) == wanted));
            match named {
                Some(d) => vec![d],
                None => index
                    .manifests
                    .iter()
                    .filter(|d| d.ref_name() == Some(r) || d.digest.to_string() == r)
                    .collect(),
            }
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
        if let Some(name) = reference {
            let mut digests: Vec<String> = chosen.iter().map(|d| d.digest.to_string()).collect();
            digests.sort();
            digests.dedup();
            return Err(SourceError::AmbiguousName {
                path: path.to_owned(),
                name: name.to_owned(),
                digests: digests.join(", "),
            });
        }
        let names = super::distinct(
            chosen
                .iter()
                .map(|d| format!("{} ({})", label(d), d.digest)),
        );
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

/// The media type a classic layer gets from its first bytes, as `ctr import` types them:
/// gzip, zstd, or (the Docker type without compression) anything else, which the walk then
/// reads as runtimes would.
pub(super) fn classic_layer_type(head: &[u8]) -> &'static str {
    match crate::content::detected(head) {
        Compression::Gzip => media::DOCKER_LAYER_GZIP,
        Compression::Zstd => media::OCI_LAYER_ZSTD,
        Compression::None => media::DOCKER_LAYER,
    }
}

/// The members of a `docker save` archive, wherever they are: the archive read in place, or
/// the store a streamed archive was copied into. Names are resolved as `docker load` resolves
/// them once the archive is extracted.
pub(super) trait SavedMembers {
    /// Names the archive in errors.
    fn path(&self) -> &Path;
    /// Whether `docker load` finds something at `name`.
    fn contains(&self, name: &str) -> bool;
    /// A small member's bytes, refused past the JSON limit.
    fn read_small(&self, name: &str) -> Result<Vec<u8>, SourceError>;
    /// The most bytes a JSON document (member or blob) may have.
    fn json_limit(&self) -> u64;
    /// The bytes of the config member `name` and the blob it is.
    fn config(&mut self, name: &str) -> Result<(Vec<u8>, ClassicBlob), SourceError>;
    /// The layer member `name`, whose uncompressed digest the config says is `diff_id`.
    fn layer(&mut self, name: &str, diff_id: Digest) -> Result<ClassicBlob, SourceError>;
    /// Whether the member `name` holds the bytes of the blob `digest` of the archive's layout.
    fn holds(&self, name: &str, digest: &Digest) -> Result<bool, SourceError>;
    /// Where the blobs of the archive's OCI layout are.
    fn layout_blobs(&self) -> &dyn BlobSource;
}

/// Which of its indexes an archive was read through.
pub(super) enum Saved {
    /// The OCI layout: the root descriptor's blob, served by the layout's blobs.
    Layout(Blob),
    /// `manifest.json` alone: a synthesised manifest, its blobs located by
    /// [`SavedMembers::config`] and [`SavedMembers::layer`].
    Classic(Blob),
}

/// Reads the image `reference` names (or the only one) from a `docker save` archive, as the
/// module documentation says.
pub(super) fn open_saved(
    members: &mut dyn SavedMembers,
    reference: Option<&str>,
) -> Result<Saved, SourceError> {
    let path = members.path().to_owned();
    let layout = if members.contains("oci-layout") && members.contains("index.json") {
        Some(members.read_small("index.json")?).filter(|index| lists_images(index))
    } else {
        None
    };
    let saved = if members.contains("manifest.json") {
        let bytes = members.read_small("manifest.json")?;
        Some(
            manifest_json::parse(&bytes)
                .map_err(|e| malformed(&path, "manifest.json", e.to_string()))?,
        )
    } else {
        None
    };
    match (saved, layout) {
        (None, None) => Err(malformed(
            &path,
            "archive",
            "it holds neither manifest.json (docker save) nor an OCI layout listing an image"
                .into(),
        )),
        (None, Some(index)) => Ok(Saved::Layout(layout_root(
            &path,
            &index,
            members.layout_blobs(),
            reference,
            members.json_limit(),
        )?)),
        (Some(saved), None) => {
            let image = &saved[pick_saved(&path, &saved, reference)?];
            let bytes = classic_manifest(&path, image, members)?;
            Ok(Saved::Classic(Blob {
                descriptor: None,
                bytes,
            }))
        }
        (Some(saved), Some(index)) => {
            let root = both_agree(&path, &saved, &index, members, reference)?;
            Ok(Saved::Layout(root))
        }
    }
}

/// The entry of `manifest.json` a reference names: the last to carry that tag (each entry is
/// tagged in turn, so the last keeps it), or the only entry.
fn pick_saved(
    path: &Path,
    saved: &[SavedImage],
    reference: Option<&str>,
) -> Result<usize, SourceError> {
    match find_saved(path, saved, reference)? {
        Some(i) => Ok(i),
        None => Err(SourceError::NoSuchImage {
            path: path.to_owned(),
            wanted: reference.unwrap_or_default().to_owned(),
            available: saved
                .iter()
                .map(SavedImage::label)
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// [`pick_saved`], `None` when a reference names no entry.
fn find_saved(
    path: &Path,
    saved: &[SavedImage],
    reference: Option<&str>,
) -> Result<Option<usize>, SourceError> {
    match reference {
        Some(r) => {
            let wanted = normalize_name(r);
            Ok(saved
                .iter()
                .rposition(|s| s.repo_tags.iter().any(|t| normalize_name(t) == wanted)))
        }
        None => match saved {
            [] => Err(SourceError::Empty {
                path: path.to_owned(),
            }),
            [_] => Ok(Some(0)),
            _ => Err(SourceError::Ambiguous {
                path: path.to_owned(),
                hint: "docker-archive:PATH:NAME[:TAG]".into(),
                available: saved
                    .iter()
                    .map(SavedImage::label)
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        },
    }
}

/// The layout's image the reference names, after checking that `manifest.json` holds the same
/// image under the same name (or, for a name only the layout knows — a digest, a bare tag — under
/// any name).
fn both_agree(
    path: &Path,
    saved: &[SavedImage],
    index: &[u8],
    members: &mut dyn SavedMembers,
    reference: Option<&str>,
) -> Result<Blob, SourceError> {
    let disagree = |what: String| SourceError::Disagree {
        path: path.to_owned(),
        what,
    };
    let entry = find_saved(path, saved, reference)?;
    let json_limit = members.json_limit();
    let root = match layout_root(path, index, members.layout_blobs(), reference, json_limit) {
        Err(SourceError::NoSuchImage { wanted, .. }) if entry.is_some() => {
            return Err(disagree(format!(
                "manifest.json has {wanted}, index.json has no image of that name"
            )));
        }
        other => other?,
    };
    let manifests = layout_manifests(path, &root, members.layout_blobs(), json_limit)?;
    let candidates: Vec<&SavedImage> = match entry {
        Some(i) => vec![&saved[i]],
        None => saved.iter().collect(),
    };
    let mut differences = Vec::new();
    for image in &candidates {
        for manifest in &manifests {
            match same_image(image, manifest, members)? {
                None => return Ok(root),
                Some(difference) => differences.push(difference),
            }
        }
    }
    let named = root
        .descriptor
        .as_ref()
        .map_or_else(|| "the image".to_owned(), |d| format!("image {}", d.digest));
    Err(disagree(match (entry, differences.first()) {
        (Some(i), Some(difference)) => {
            format!("{}: {difference}", saved[i].label())
        }
        _ => format!("index.json's {named} is not in manifest.json"),
    }))
}

/// The manifests of a layout's root: itself, or the manifests of the index it is.
fn layout_manifests(
    path: &Path,
    root: &Blob,
    blobs: &dyn BlobSource,
    json_limit: u64,
) -> Result<Vec<Manifest>, SourceError> {
    let declared = root.descriptor.as_ref().map(|d| d.media_type.as_str());
    let document = |bytes: &[u8], declared: Option<&str>, what: String| {
        Document::parse(bytes, declared).map_err(|source| SourceError::Document {
            path: path.to_owned(),
            what,
            source,
        })
    };
    match document(&root.bytes, declared, "the layout's image".into())? {
        Document::Manifest(m) => Ok(vec![*m]),
        Document::Index(index) => {
            let mut out = Vec::new();
            for d in &index.manifests {
                let bytes = read_json_blob(blobs, d, json_limit)?;
                if let Document::Manifest(m) = document(
                    &bytes,
                    Some(&d.media_type),
                    format!("manifest {}", d.digest),
                )? {
                    out.push(*m);
                }
            }
            Ok(out)
        }
    }
}

/// `None` when the `manifest.json` entry names the manifest's config and layers, else what
/// differs.
fn same_image(
    image: &SavedImage,
    manifest: &Manifest,
    members: &dyn SavedMembers,
) -> Result<Option<String>, SourceError> {
    if !members.holds(&image.config, &manifest.config.digest)? {
        return Ok(Some(format!(
            "manifest.json gives config {:?}, index.json config {}",
            image.config, manifest.config.digest
        )));
    }
    if image.layers.len() != manifest.layers.len() {
        return Ok(Some(format!(
            "manifest.json lists {} layers, index.json {}",
            image.layers.len(),
            manifest.layers.len()
        )));
    }
    for (i, (member, layer)) in image.layers.iter().zip(&manifest.layers).enumerate() {
        if !members.holds(member, &layer.digest)? {
            return Ok(Some(format!(
                "layer {i} is {member:?} in manifest.json, {} in index.json",
                layer.digest
            )));
        }
    }
    Ok(None)
}

/// Synthesises the Docker schema-2 manifest of one `manifest.json` entry; `path` names the
/// archive in errors.
pub(super) fn classic_manifest(
    path: &Path,
    image: &SavedImage,
    members: &mut dyn SavedMembers,
) -> Result<Vec<u8>, SourceError> {
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

/// The members of an archive read in place; each blob the synthesised manifest names is mapped
/// to the member holding it as it is located.
struct InPlace {
    archive: OciArchive,
    members: HashMap<Digest, Span>,
    json_limit: u64,
}

impl InPlace {
    fn tar(&self) -> &TarIndex {
        &self.archive.tar
    }

    fn io_err(&self, source: std::io::Error) -> SourceError {
        SourceError::Io {
            path: self.tar().path().to_owned(),
            source,
        }
    }
}

impl SavedMembers for InPlace {
    fn path(&self) -> &Path {
        self.tar().path()
    }

    fn contains(&self, name: &str) -> bool {
        self.tar().contains(name)
    }

    fn read_small(&self, name: &str) -> Result<Vec<u8>, SourceError> {
        Ok(self.tar().read_small(name, self.json_limit)?)
    }

    fn json_limit(&self) -> u64 {
        self.json_limit
    }

    fn config(&mut self, name: &str) -> Result<(Vec<u8>, ClassicBlob), SourceError> {
        let span = self.tar().resolve(name)?;
        let bytes = self.read_small(name)?;
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
        let span = self.tar().resolve(name)?;
        let mut head = Vec::with_capacity(HEAD_BYTES);
        self.tar()
            .open_span(span)?
            .take(HEAD_BYTES as u64)
            .read_to_end(&mut head)
            .map_err(|e| self.io_err(e))?;
        let media_type = classic_layer_type(&head);
        // An uncompressed layer's digest is its diff_id, so no need to hash it here (reading
        // it later verifies it); a compressed one must be hashed to learn its digest.
        let digest = if media_type == media::DOCKER_LAYER {
            diff_id
        } else {
            self.tar().digest(span, crate::model::Algorithm::Sha256)?
        };
        self.members.insert(digest.clone(), span);
        Ok(ClassicBlob {
            media_type,
            digest,
            size: span.size,
        })
    }

    /// The same member as the layout's blob is the same bytes (which reading the blob then
    /// verifies); another member is hashed.
    fn holds(&self, name: &str, digest: &Digest) -> Result<bool, SourceError> {
        let span = self.tar().resolve(name)?;
        let blob = format!("blobs/{}/{}", digest.algorithm().as_str(), digest.hex());
        if self.tar().resolve(&blob).is_ok_and(|b| b == span) {
            return Ok(true);
        }
        Ok(self.tar().digest(span, digest.algorithm())? == *digest)
    }

    fn layout_blobs(&self) -> &dyn BlobSource {
        &self.archive
    }
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
    fn a_tag_on_several_images_names_the_last_as_docker_load_leaves_it() {
        for form in [DockerArchiveForm::Classic, DockerArchiveForm::OciLayout] {
            let images = [
                (vec!["x:1"], image("first")),
                (vec!["x:1", "y:1"], image("last")),
            ];
            let (_d, path) = archive(&images, form);
            let (root, blobs) = open(&path, Some("x:1"), &Limits::default()).unwrap();
            assert_eq!(
                manifest_of(&root).config.digest.to_string(),
                image("last").build().config.digest,
                "{form:?}"
            );
            assert_eq!(verify_all(&root, blobs.as_ref()), 3);
        }
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

    /// A Docker ≥ 25 archive of `images`' blobs with the given `index.json` and
    /// `manifest.json`.
    fn layout_with(
        images: &[&ocidiff_testkit::BuiltImage],
        index: &serde_json::Value,
        saved: &serde_json::Value,
    ) -> (tempfile::TempDir, std::path::PathBuf) {
        let mut entries = vec![Entry::file(
            "oci-layout",
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )];
        let mut seen = std::collections::HashSet::new();
        for blob in images.iter().flat_map(|i| i.blobs()) {
            if !seen.insert(&blob.digest) {
                continue;
            }
            entries.push(Entry::file(
                &format!("blobs/sha256/{}", blob.hex()),
                &blob.bytes,
            ));
        }
        entries.push(Entry::file("index.json", index.to_string()));
        entries.push(Entry::file("manifest.json", saved.to_string()));
        temp_file(&Layer::new(entries).tar_bytes())
    }

    fn saved_blobs(image: &ocidiff_testkit::BuiltImage) -> serde_json::Value {
        json!([{
            "Config": format!("blobs/sha256/{}", image.config.hex()),
            "RepoTags": ["x:1"],
            "Layers": image.layers.iter().map(|l| format!("blobs/sha256/{}", l.hex())).collect::<Vec<_>>(),
        }])
    }

    fn index_of(image: &ocidiff_testkit::BuiltImage) -> serde_json::Value {
        let mut d = image.manifest.descriptor();
        d["annotations"] = json!({"io.containerd.image.name": "docker.io/library/x:1"});
        json!({"schemaVersion": 2, "manifests": [d]})
    }

    #[test]
    fn a_layout_that_disagrees_with_manifest_json_is_refused() {
        let (a, b) = (image("a").build(), image("b").build());
        let (_d, path) = layout_with(&[&a, &b], &index_of(&a), &saved_blobs(&b));
        for reference in [None, Some("x:1")] {
            let err = open(&path, reference, &Limits::default()).err().unwrap();
            assert!(matches!(err, SourceError::Disagree { .. }), "{err}");
            assert!(err.to_string().contains(&a.config.digest), "{err}");
        }
        // Agreeing, the layout is read.
        let (_d, path) = layout_with(&[&a], &index_of(&a), &saved_blobs(&a));
        let (root, blobs) = open(&path, Some("x:1"), &Limits::default()).unwrap();
        assert_eq!(verify_all(&root, blobs.as_ref()), 3);
        assert_eq!(
            root.descriptor.unwrap().digest.to_string(),
            a.manifest.digest
        );
    }

    #[test]
    fn a_layout_listing_no_image_leaves_manifest_json() {
        let b = image("b").build();
        for manifests in [json!(null), json!([])] {
            let index = json!({"schemaVersion": 2, "manifests": manifests});
            let (_d, path) = layout_with(&[&b], &index, &saved_blobs(&b));
            let (root, blobs) = open(&path, Some("x:1"), &Limits::default()).unwrap();
            assert!(root.descriptor.is_none(), "a synthesised manifest");
            assert_eq!(
                manifest_of(&root).config.digest.to_string(),
                b.config.digest
            );
            assert_eq!(verify_all(&root, blobs.as_ref()), 3);
        }
    }

    #[test]
    fn a_ref_name_on_two_layout_images_is_ambiguous() {
        let (a, b) = (image("a").build(), image("b").build());
        let mut index = json!({"schemaVersion": 2, "manifests": []});
        for i in [&a, &b] {
            let mut d = i.manifest.descriptor();
            d["annotations"] = json!({"org.opencontainers.image.ref.name": "1"});
            index["manifests"].as_array_mut().unwrap().push(d);
        }
        let (_d, path) = layout_with(&[&a, &b], &index, &json!([]));
        let err = open(&path, Some("1"), &Limits::default()).err().unwrap();
        assert!(matches!(err, SourceError::AmbiguousName { .. }), "{err}");
        assert!(
            err.to_string().contains(&a.manifest.digest)
                && err.to_string().contains(&b.manifest.digest),
            "{err}"
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
