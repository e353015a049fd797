//! Images and indexes described in code, built into the blobs a layout or archive stores.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::layer::{Compression, Layer, sha256_digest};

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// The default config `created` and history times, [`crate::DEFAULT_MTIME`] as RFC 3339.
pub const DEFAULT_CREATED: &str = "2023-11-14T22:13:20Z";

/// Which family of media types documents and layers are labelled with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MediaStyle {
    /// `application/vnd.oci.image.*` types.
    #[default]
    Oci,
    /// `application/vnd.docker.*` types, as `docker save` and Docker's registries write them.
    Docker,
}

impl MediaStyle {
    fn layer(self, compression: Compression) -> &'static str {
        match (self, compression) {
            (MediaStyle::Oci, Compression::None) => "application/vnd.oci.image.layer.v1.tar",
            (MediaStyle::Oci, Compression::Gzip) => "application/vnd.oci.image.layer.v1.tar+gzip",
            // Docker has no zstd layer type; its tools write the OCI one.
            (_, Compression::Zstd) => "application/vnd.oci.image.layer.v1.tar+zstd",
            (MediaStyle::Docker, Compression::None) => {
                "application/vnd.docker.image.rootfs.diff.tar"
            }
            (MediaStyle::Docker, Compression::Gzip) => {
                "application/vnd.docker.image.rootfs.diff.tar.gzip"
            }
        }
    }
}

/// A content-addressed blob ready to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// The media type its descriptor gives it.
    pub media_type: String,
    /// `sha256:HEX`.
    pub digest: String,
    /// The content.
    pub bytes: Vec<u8>,
}

impl Blob {
    /// A blob holding `bytes`, its digest computed.
    pub fn new(media_type: &str, bytes: Vec<u8>) -> Blob {
        Blob {
            media_type: media_type.to_owned(),
            digest: sha256_digest(&bytes),
            bytes,
        }
    }

    /// The digest without its `sha256:` prefix, as blob file names have it.
    pub fn hex(&self) -> &str {
        self.digest.trim_start_matches("sha256:")
    }

    /// `{"mediaType", "digest", "size"}`.
    pub fn descriptor(&self) -> Value {
        json!({
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.bytes.len(),
        })
    }
}

/// One image: layers, config (defaults plus overrides), media style, manifest annotations and
/// platform.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImageSpec {
    /// The layers, lowest first.
    pub layers: Vec<Layer>,
    /// Top-level config fields replacing (or, when `None`, removing) the defaults.
    pub config_overrides: Vec<(String, Option<Value>)>,
    /// The media types of manifest, config and layers.
    pub media: MediaStyle,
    /// The manifest's `annotations`.
    pub manifest_annotations: BTreeMap<String, String>,
    /// `os/arch[/variant]`: sets the config's fields and, in indexes, the descriptor's
    /// platform. `None` means linux/amd64 in the config and no platform on a top-level
    /// descriptor.
    pub platform: Option<String>,
    /// Text replacements in the written config (`from`, `to`, each once): for documents a
    /// JSON value cannot hold, such as repeated keys.
    pub config_text_edits: Vec<(String, String)>,
}

/// An image built into its blobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltImage {
    /// The manifest.
    pub manifest: Blob,
    /// The config.
    pub config: Blob,
    /// The layers, lowest first, compressed as their specs say.
    pub layers: Vec<Blob>,
    /// `rootfs.diff_ids`: the sha256 of each uncompressed layer.
    pub diff_ids: Vec<String>,
    /// The platform object an index descriptor carries, when the spec named one.
    pub platform: Option<Value>,
}

impl BuiltImage {
    /// The manifest's descriptor, with the platform when the spec named one.
    pub fn descriptor(&self) -> Value {
        let mut d = self.manifest.descriptor();
        if let Some(p) = &self.platform {
            d["platform"] = p.clone();
        }
        d
    }

    /// Manifest, config and layers.
    pub fn blobs(&self) -> impl Iterator<Item = &Blob> {
        [&self.manifest, &self.config]
            .into_iter()
            .chain(self.layers.iter())
    }
}

impl ImageSpec {
    /// An image with no layer and the default config.
    pub fn new() -> ImageSpec {
        ImageSpec::default()
    }

    /// Adds `layer` on top of the others.
    pub fn layer(mut self, layer: Layer) -> ImageSpec {
        self.layers.push(layer);
        self
    }

    /// Sets a top-level config field (`created`, `config`, `history`, `rootfs`…), replacing the
    /// default.
    pub fn config_field(mut self, key: &str, value: Value) -> ImageSpec {
        self.config_overrides.push((key.to_owned(), Some(value)));
        self
    }

    /// Leaves a default config field out.
    pub fn without_config_field(mut self, key: &str) -> ImageSpec {
        self.config_overrides.push((key.to_owned(), None));
        self
    }

    /// Replaces the first `from` in the config's JSON text with `to` (the config is written
    /// compactly, keys in order: `"User":"nobody"`).
    pub fn edit_config_text(mut self, from: &str, to: &str) -> ImageSpec {
        self.config_text_edits
            .push((from.to_owned(), to.to_owned()));
        self
    }

    /// `os/arch[/variant]`, e.g. `linux/arm64`.
    pub fn platform(mut self, platform: &str) -> ImageSpec {
        self.platform = Some(platform.to_owned());
        self
    }

    /// Labels manifest, config and layers with `media`'s types.
    pub fn media(mut self, media: MediaStyle) -> ImageSpec {
        self.media = media;
        self
    }

    /// Adds a manifest annotation.
    pub fn annotation(mut self, key: &str, value: &str) -> ImageSpec {
        self.manifest_annotations
            .insert(key.to_owned(), value.to_owned());
        self
    }

    /// The config JSON: defaults (amd64/linux, `created`, `Env` and `Cmd`, computed `rootfs`,
    /// one history entry per layer), then the platform, then the overrides.
    pub fn config_json(&self, diff_ids: &[String]) -> Value {
        let mut config = Map::new();
        config.insert("architecture".into(), json!("amd64"));
        config.insert("os".into(), json!("linux"));
        config.insert("created".into(), json!(DEFAULT_CREATED));
        config.insert(
            "config".into(),
            json!({
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Cmd": ["/bin/sh"],
            }),
        );
        config.insert(
            "rootfs".into(),
            json!({"type": "layers", "diff_ids": diff_ids}),
        );
        let history: Vec<Value> = (0..diff_ids.len())
            .map(
                |i| json!({"created": DEFAULT_CREATED, "created_by": format!("testkit layer {i}")}),
            )
            .collect();
        config.insert("history".into(), Value::Array(history));
        if let Some((os, arch, variant)) = self.platform_parts() {
            config.insert("architecture".into(), json!(arch));
            config.insert("os".into(), json!(os));
            if let Some(v) = variant {
                config.insert("variant".into(), json!(v));
            }
        }
        for (key, value) in &self.config_overrides {
            match value {
                Some(v) => config.insert(key.clone(), v.clone()),
                None => config.remove(key),
            };
        }
        Value::Object(config)
    }

    fn platform_parts(&self) -> Option<(&str, &str, Option<&str>)> {
        let p = self.platform.as_deref()?;
        let mut parts = p.splitn(3, '/');
        let os = parts.next().unwrap_or_default();
        let arch = parts.next().unwrap_or_default();
        Some((os, arch, parts.next()))
    }

    /// Builds the layers, config and manifest.
    pub fn build(&self) -> BuiltImage {
        let layers: Vec<Blob> = self
            .layers
            .iter()
            .map(|l| Blob::new(self.media.layer(l.compression), l.blob_bytes()))
            .collect();
        let diff_ids: Vec<String> = self.layers.iter().map(Layer::diff_id).collect();
        let (manifest_type, config_type) = match self.media {
            MediaStyle::Oci => (OCI_MANIFEST, OCI_CONFIG),
            MediaStyle::Docker => (DOCKER_MANIFEST, DOCKER_CONFIG),
        };
        let mut config_text = String::from_utf8(to_json(&self.config_json(&diff_ids)))
            .expect("serde_json writes UTF-8");
        for (from, to) in &self.config_text_edits {
            assert!(
                config_text.contains(from.as_str()),
                "{from:?} is not in {config_text}"
            );
            config_text = config_text.replacen(from.as_str(), to, 1);
        }
        let config = Blob::new(config_type, config_text.into_bytes());
        let mut manifest = json!({
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": config.descriptor(),
            "layers": layers.iter().map(Blob::descriptor).collect::<Vec<_>>(),
        });
        if !self.manifest_annotations.is_empty() {
            manifest["annotations"] = json!(self.manifest_annotations);
        }
        let platform = self.platform.as_deref().map(platform_json);
        BuiltImage {
            manifest: Blob::new(manifest_type, to_json(&manifest)),
            config,
            layers,
            diff_ids,
            platform,
        }
    }
}

/// A multi-platform index of images.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IndexSpec {
    /// The entries, in order.
    pub entries: Vec<IndexEntry>,
    /// The index's `annotations`.
    pub annotations: BTreeMap<String, String>,
    /// OCI index or Docker manifest list.
    pub media: MediaStyle,
}

/// One entry of an index.
#[derive(Debug, Clone, PartialEq)]
pub enum IndexEntry {
    /// An image whose descriptor names its platform (linux/amd64 when the spec names none).
    Image(ImageSpec),
    /// An image whose descriptor names no platform: only its config says what it is for.
    Bare(ImageSpec),
    /// An index inside the index, its descriptor naming this platform (or none).
    Nested(IndexSpec, Option<String>),
}

/// An index built into its blobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltIndex {
    /// The index document.
    pub index: Blob,
    /// The images listed directly, in order.
    pub images: Vec<BuiltImage>,
    /// The indexes listed directly, in order.
    pub nested: Vec<BuiltIndex>,
}

impl BuiltIndex {
    /// The index and everything it refers to, nested indexes included.
    pub fn blobs(&self) -> Vec<Blob> {
        let mut out = vec![self.index.clone()];
        for image in &self.images {
            out.extend(image.blobs().cloned());
        }
        for nested in &self.nested {
            out.extend(nested.blobs());
        }
        out
    }
}

impl IndexSpec {
    /// An empty index.
    pub fn new() -> IndexSpec {
        IndexSpec::default()
    }

    /// An image listed with its platform on its descriptor.
    pub fn manifest(mut self, image: ImageSpec) -> IndexSpec {
        self.entries.push(IndexEntry::Image(image));
        self
    }

    /// An image listed without a platform on its descriptor.
    pub fn manifest_without_platform(mut self, image: ImageSpec) -> IndexSpec {
        self.entries.push(IndexEntry::Bare(image));
        self
    }

    /// An index listed inside this one, with `platform` (`os/arch[/variant]`) on its
    /// descriptor, or none.
    pub fn nested(mut self, index: IndexSpec, platform: Option<&str>) -> IndexSpec {
        self.entries
            .push(IndexEntry::Nested(index, platform.map(str::to_owned)));
        self
    }

    /// Adds an index annotation.
    pub fn annotation(mut self, key: &str, value: &str) -> IndexSpec {
        self.annotations.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Makes the index an OCI index or a Docker manifest list.
    pub fn media(mut self, media: MediaStyle) -> IndexSpec {
        self.media = media;
        self
    }

    /// Builds every image and nested index, then the index over them.
    pub fn build(&self) -> BuiltIndex {
        let mut images = Vec::new();
        let mut nested = Vec::new();
        let mut descriptors = Vec::new();
        for entry in &self.entries {
            match entry {
                IndexEntry::Image(spec) => {
                    let mut built = spec.build();
                    built
                        .platform
                        .get_or_insert_with(|| json!({"architecture": "amd64", "os": "linux"}));
                    descriptors.push(built.descriptor());
                    images.push(built);
                }
                IndexEntry::Bare(spec) => {
                    let mut built = spec.build();
                    built.platform = None;
                    descriptors.push(built.descriptor());
                    images.push(built);
                }
                IndexEntry::Nested(spec, platform) => {
                    let built = spec.build();
                    let mut d = built.index.descriptor();
                    if let Some(p) = platform {
                        d["platform"] = platform_json(p);
                    }
                    descriptors.push(d);
                    nested.push(built);
                }
            }
        }
        let media_type = match self.media {
            MediaStyle::Oci => OCI_INDEX,
            MediaStyle::Docker => DOCKER_MANIFEST_LIST,
        };
        let mut index = json!({
            "schemaVersion": 2,
            "mediaType": media_type,
            "manifests": descriptors,
        });
        if !self.annotations.is_empty() {
            index["annotations"] = json!(self.annotations);
        }
        BuiltIndex {
            index: Blob::new(media_type, to_json(&index)),
            images,
            nested,
        }
    }
}

/// `os/arch[/variant]` as a descriptor's `platform` object.
fn platform_json(p: &str) -> Value {
    let mut parts = p.splitn(3, '/');
    let mut out = json!({
        "os": parts.next().unwrap_or_default(),
        "architecture": parts.next().unwrap_or_default(),
    });
    if let Some(v) = parts.next() {
        out["variant"] = json!(v);
    }
    out
}

/// What a layout's `index.json` entry points at.
#[derive(Debug, Clone, PartialEq)]
pub enum Root {
    /// A single image: `index.json` points at its manifest.
    Image(ImageSpec),
    /// A multi-platform image: `index.json` points at the index.
    Index(IndexSpec),
}

impl From<ImageSpec> for Root {
    fn from(spec: ImageSpec) -> Root {
        Root::Image(spec)
    }
}

impl From<IndexSpec> for Root {
    fn from(spec: IndexSpec) -> Root {
        Root::Index(spec)
    }
}

/// A root built: the descriptor its parent lists and every blob it needs.
pub(crate) struct BuiltRoot {
    pub descriptor: Value,
    pub blobs: Vec<Blob>,
}

impl Root {
    pub(crate) fn build(&self) -> BuiltRoot {
        match self {
            Root::Image(spec) => {
                let built = spec.build();
                BuiltRoot {
                    descriptor: built.descriptor(),
                    blobs: built.blobs().cloned().collect(),
                }
            }
            Root::Index(spec) => {
                let built = spec.build();
                BuiltRoot {
                    descriptor: built.index.descriptor(),
                    blobs: built.blobs(),
                }
            }
        }
    }
}

/// Compact JSON, as registries and Docker write documents.
pub(crate) fn to_json(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("a serde_json::Value always serialises")
}

/// Valid documents of each kind (manifest, config, index): seeds for mutation.
pub fn sample_documents() -> Vec<Vec<u8>> {
    let image = ImageSpec::new()
        .layer(Layer::new(vec![crate::layer::Entry::file("a", "1")]))
        .build();
    let index = IndexSpec::new()
        .manifest(ImageSpec::new())
        .manifest(ImageSpec::new().platform("linux/arm64/v8"))
        .build();
    vec![image.manifest.bytes, image.config.bytes, index.index.bytes]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::Entry;

    #[test]
    fn config_lists_diff_ids_and_overrides_win() {
        let spec = ImageSpec::new()
            .layer(Layer::new(vec![Entry::file("a", b"1")]).compression(Compression::Gzip))
            .layer(Layer::new(vec![Entry::file("b", b"2")]))
            .platform("linux/arm64/v8")
            .config_field("created", json!("2024-01-01T00:00:00Z"))
            .without_config_field("history");
        let built = spec.build();
        let config: Value = serde_json::from_slice(&built.config.bytes).unwrap();
        assert_eq!(config["architecture"], "arm64");
        assert_eq!(config["variant"], "v8");
        assert_eq!(config["created"], "2024-01-01T00:00:00Z");
        assert!(config.get("history").is_none());
        assert_eq!(config["rootfs"]["diff_ids"], json!(built.diff_ids));
        assert_eq!(
            built.diff_ids[0],
            sha256_digest(&spec.layers[0].tar_bytes())
        );
        assert_ne!(
            built.layers[0].digest, built.diff_ids[0],
            "gzip blob differs from tar"
        );
        assert_eq!(
            built.layers[1].digest, built.diff_ids[1],
            "plain blob is the tar"
        );
        let manifest: Value = serde_json::from_slice(&built.manifest.bytes).unwrap();
        assert_eq!(manifest["config"]["digest"], json!(built.config.digest));
        assert_eq!(
            manifest["layers"][0]["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        assert_eq!(
            built.platform,
            Some(json!({"architecture": "arm64", "os": "linux", "variant": "v8"}))
        );
    }

    #[test]
    fn docker_media_style_labels_everything() {
        let built = ImageSpec::new()
            .media(MediaStyle::Docker)
            .layer(Layer::new(vec![]).compression(Compression::Gzip))
            .build();
        let manifest: Value = serde_json::from_slice(&built.manifest.bytes).unwrap();
        assert_eq!(manifest["mediaType"], DOCKER_MANIFEST);
        assert_eq!(manifest["config"]["mediaType"], DOCKER_CONFIG);
        assert_eq!(
            manifest["layers"][0]["mediaType"],
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
        );
    }

    #[test]
    fn index_gives_every_manifest_a_platform() {
        let built = IndexSpec::new()
            .manifest(ImageSpec::new())
            .manifest(ImageSpec::new().platform("linux/arm64"))
            .annotation("k", "v")
            .build();
        let index: Value = serde_json::from_slice(&built.index.bytes).unwrap();
        assert_eq!(index["manifests"][0]["platform"]["architecture"], "amd64");
        assert_eq!(index["manifests"][1]["platform"]["architecture"], "arm64");
        assert_eq!(index["annotations"]["k"], "v");
        assert_eq!(
            index["manifests"][1]["digest"],
            json!(built.images[1].manifest.digest)
        );
    }
}
