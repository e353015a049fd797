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

/// What a media type denotes, whatever its Docker or OCI spelling, so that `--semantic` can treat
/// the two families (and the layer compressions) as one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    Index,
    Manifest,
    Config,
    Layer(Compression),
    Empty,
    Unknown,
}

/// A layer's compression as its media type names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
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
        OCI_LAYER | DOCKER_LAYER | "application/vnd.oci.image.layer.nondistributable.v1.tar" => {
            MediaKind::Layer(Compression::None)
        }
        OCI_LAYER_GZIP
        | DOCKER_LAYER_GZIP
        | DOCKER_FOREIGN_LAYER_GZIP
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip" => {
            MediaKind::Layer(Compression::Gzip)
        }
        OCI_LAYER_ZSTD | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" => {
            MediaKind::Layer(Compression::Zstd)
        }
        _ => MediaKind::Unknown,
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
}
