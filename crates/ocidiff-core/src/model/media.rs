//! Media types of the OCI image spec and their Docker equivalents.

/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI empty descriptor payload (`{}`).
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// OCI layer, uncompressed.
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI layer, gzip.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI layer, zstd.
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker layer, gzip.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Docker layer, uncompressed (written by some tools for `docker save` content).
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
/// Docker foreign (non-distributable) layer, gzip.
pub const DOCKER_FOREIGN_LAYER_GZIP: &str =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
/// Docker foreign (non-distributable) layer, uncompressed.
pub const DOCKER_FOREIGN_LAYER: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar";
/// OCI non-distributable layer (deprecated), uncompressed.
pub const OCI_NONDISTRIBUTABLE_LAYER: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar";
/// OCI non-distributable layer (deprecated), gzip.
pub const OCI_NONDISTRIBUTABLE_LAYER_GZIP: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
/// OCI non-distributable layer (deprecated), zstd.
pub const OCI_NONDISTRIBUTABLE_LAYER_ZSTD: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";

/// What a media type denotes, whatever its Docker or OCI spelling, so that `--semantic` can treat
/// the two families (and the layer compressions) as one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// An OCI image index or Docker manifest list.
    Index,
    /// An OCI or Docker schema 2 image manifest.
    Manifest,
    /// An OCI or Docker image config.
    Config,
    /// A layer tar, with the compression its media type names.
    Layer(Compression),
    /// The OCI empty descriptor (`application/vnd.oci.empty.v1+json`).
    Empty,
    /// A media type not known here (artifacts, attestations, typos).
    Unknown,
}

/// A layer's compression as its media type names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// An uncompressed tar (OCI `…layer.v1.tar`, Docker `…diff.tar`).
    None,
    /// gzip (OCI `+gzip`, or Docker's `tar.gzip` layer types).
    Gzip,
    /// zstd (OCI `+zstd`; Docker has no zstd layer type).
    Zstd,
}

/// Classifies a media type. Layer types of the deprecated non-distributable family count as
/// layers; anything unrecognised is [`MediaKind::Unknown`] and left to the caller to refuse.
pub fn classify(media_type: &str) -> MediaKind {
    match media_type {
        OCI_INDEX | DOCKER_MANIFEST_LIST => MediaKind::Index,
        OCI_MANIFEST | DOCKER_MANIFEST => MediaKind::Manifest,
        OCI_CONFIG | DOCKER_CONFIG => MediaKind::Config,
        OCI_EMPTY => MediaKind::Empty,
        OCI_LAYER | DOCKER_LAYER | DOCKER_FOREIGN_LAYER | OCI_NONDISTRIBUTABLE_LAYER => {
            MediaKind::Layer(Compression::None)
        }
        OCI_LAYER_GZIP
        | DOCKER_LAYER_GZIP
        | DOCKER_FOREIGN_LAYER_GZIP
        | OCI_NONDISTRIBUTABLE_LAYER_GZIP => MediaKind::Layer(Compression::Gzip),
        OCI_LAYER_ZSTD | OCI_NONDISTRIBUTABLE_LAYER_ZSTD => MediaKind::Layer(Compression::Zstd),
        _ => MediaKind::Unknown,
    }
}

/// How container runtimes decompress a layer of a given media type, as containerd's
/// `images.DiffCompression` decides it (Docker sniffs the bytes whatever the type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerMedia {
    /// The Docker types and the OCI `+gzip`/`+zstd` types: containerd decompresses what the
    /// bytes turn out to be (gzip, zstd or nothing), whatever the type names.
    Detected,
    /// The OCI types without a compression suffix: containerd applies the bytes as they are.
    Plain,
}

/// Why a media type is not one of a layer runtimes unpack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotALayer {
    /// `+encrypted`: only a runtime holding the key can read it.
    Encrypted,
    /// Anything else: another suffix (which containerd hands to whatever stream processor the
    /// node has configured for it), an artifact, a typo.
    Unknown,
}

/// The layer media types runtimes unpack without a plugin: exactly the spellings [`classify`]
/// takes for layers, the ones containerd's `DiffCompression` maps to no compression, gzip or
/// zstd without help from a configured stream processor.
pub fn layer_media(media_type: &str) -> Result<LayerMedia, NotALayer> {
    match classify(media_type) {
        MediaKind::Layer(Compression::None)
            if matches!(media_type, OCI_LAYER | OCI_NONDISTRIBUTABLE_LAYER) =>
        {
            Ok(LayerMedia::Plain)
        }
        MediaKind::Layer(_) => Ok(LayerMedia::Detected),
        _ if media_type.split('+').any(|s| s == "encrypted") => Err(NotALayer::Encrypted),
        _ => Err(NotALayer::Unknown),
    }
}

/// The spelling `--semantic` compares: one name per kind, so that a Docker-typed and an
/// OCI-typed copy of the same image, or a gzip and a zstd copy of the same layer, agree.
pub fn canonical(media_type: &str) -> &str {
    match classify(media_type) {
        MediaKind::Index => OCI_INDEX,
        MediaKind::Manifest => OCI_MANIFEST,
        MediaKind::Config => OCI_CONFIG,
        MediaKind::Layer(_) => OCI_LAYER,
        MediaKind::Empty => OCI_EMPTY,
        MediaKind::Unknown => media_type,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_and_oci_spellings_agree() {
        assert_eq!(canonical(DOCKER_MANIFEST), canonical(OCI_MANIFEST));
        assert_eq!(canonical(DOCKER_LAYER_GZIP), canonical(OCI_LAYER_ZSTD));
        assert_eq!(
            classify(OCI_LAYER_ZSTD),
            MediaKind::Layer(Compression::Zstd)
        );
        assert_eq!(classify("text/plain"), MediaKind::Unknown);
        assert_eq!(canonical("text/plain"), "text/plain");
    }

    #[test]
    fn layer_types_are_those_containerd_unpacks_without_a_plugin() {
        let detected = [
            DOCKER_LAYER,
            DOCKER_LAYER_GZIP,
            DOCKER_FOREIGN_LAYER,
            DOCKER_FOREIGN_LAYER_GZIP,
            OCI_LAYER_GZIP,
            OCI_LAYER_ZSTD,
            OCI_NONDISTRIBUTABLE_LAYER_GZIP,
            OCI_NONDISTRIBUTABLE_LAYER_ZSTD,
        ];
        for mt in detected {
            assert_eq!(layer_media(mt), Ok(LayerMedia::Detected), "{mt}");
            assert!(matches!(classify(mt), MediaKind::Layer(_)), "{mt}");
        }
        for mt in [OCI_LAYER, OCI_NONDISTRIBUTABLE_LAYER] {
            assert_eq!(layer_media(mt), Ok(LayerMedia::Plain), "{mt}");
        }
        for mt in [
            "application/vnd.oci.image.layer.v1.tar+encrypted",
            "application/vnd.oci.image.layer.v1.tar+gzip+encrypted",
            "application/vnd.oci.image.layer.v1.tar+zstd+encrypted",
        ] {
            assert_eq!(layer_media(mt), Err(NotALayer::Encrypted), "{mt}");
        }
        for mt in [
            "application/vnd.oci.image.layer.v1.tar+foo",
            "application/vnd.docker.image.rootfs.diff.tar.gzip+foo",
            "application/vnd.oci.image.layer.v1.tar+zstd+gzip",
            "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
            "Application/vnd.oci.image.layer.v1.tar",
            OCI_CONFIG,
        ] {
            assert_eq!(layer_media(mt), Err(NotALayer::Unknown), "{mt}");
        }
    }
}
