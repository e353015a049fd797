//! The parts of manifests, indexes and descriptors the walk navigates by.
//!
//! Written by hand rather than taken from `oci-spec` because a differ needs what that crate
//! drops: unknown fields (compared from the raw JSON, which [`Blob`] keeps), Docker-only
//! spellings accepted as they are, and our validated [`Digest`] in every descriptor.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::digest::Digest;
use super::media::{self, MediaKind};
use super::platform::Platform;

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

impl Descriptor {
    /// A descriptor with nothing but media type, digest and size.
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.to_owned(),
            digest,
            size,
            platform: None,
            annotations: BTreeMap::new(),
            urls: Vec::new(),
            artifact_type: None,
        }
    }

    pub fn kind(&self) -> MediaKind {
        media::classify(&self.media_type)
    }

    /// The `org.opencontainers.image.ref.name` annotation.
    pub fn ref_name(&self) -> Option<&str> {
        self.annotations
            .get("org.opencontainers.image.ref.name")
            .map(String::as_str)
    }
}

/// An image index or Docker manifest list.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    #[serde(default)]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
}

/// An image manifest (OCI or Docker schema 2).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    #[serde(default)]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// The part of an image config that the walk needs; the rest is compared as raw JSON.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Config {
    #[serde(default)]
    pub os: Option<String>,
    #[serde(default)]
    pub architecture: Option<String>,
    #[serde(default)]
    pub variant: Option<String>,
    #[serde(default)]
    pub rootfs: Option<RootFs>,
}

/// `rootfs` of an image config.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RootFs {
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

/// A JSON document with its bytes and, when it is addressed by content, its descriptor.
///
/// The bytes are kept because the comparison reads raw JSON (no field may be lost) and the
/// descriptor because a root such as an OCI layout's `index.json` or a manifest synthesised from
/// a `docker save` tarball has none.
#[derive(Debug, Clone)]
pub struct Blob {
    pub descriptor: Option<Descriptor>,
    pub bytes: Vec<u8>,
}

/// What a document parsed as, by its media type or, when it names none, by its shape.
#[derive(Debug, Clone)]
pub enum Document {
    Index(Index),
    /// Boxed: a manifest holds its config descriptor inline and is several times an index's size.
    Manifest(Box<Manifest>),
}

/// Why a JSON document could not be read as an index or manifest.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("malformed JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unsupported media type {0:?} (expected an image index or manifest)")]
    MediaType(String),
}

impl Document {
    /// Parses an index or a manifest. The `mediaType` (of the document or, failing that, of its
    /// descriptor) decides; only documents that name none are told apart by shape.
    pub fn parse(bytes: &[u8], declared: Option<&str>) -> Result<Document, DocumentError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Probe {
            #[serde(default)]
            media_type: Option<String>,
            #[serde(default)]
            manifests: Option<serde_json::Value>,
        }
        let probe: Probe = serde_json::from_slice(bytes)?;
        let media_type = probe.media_type.as_deref().or(declared);
        let kind = match media_type {
            Some(mt) => media::classify(mt),
            None if probe.manifests.is_some() => MediaKind::Index,
            None => MediaKind::Manifest,
        };
        match kind {
            MediaKind::Index => Ok(Document::Index(serde_json::from_slice(bytes)?)),
            MediaKind::Manifest => Ok(Document::Manifest(serde_json::from_slice(bytes)?)),
            _ => Err(DocumentError::MediaType(
                media_type.unwrap_or_default().to_owned(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_by_media_type_then_shape() {
        let manifest = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"{}","digest":"{EMPTY}","size":0}},"layers":[]}}"#,
            media::OCI_CONFIG
        );
        assert!(matches!(
            Document::parse(manifest.as_bytes(), None).unwrap(),
            Document::Manifest(_)
        ));
        let index = r#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(matches!(
            Document::parse(index.as_bytes(), None).unwrap(),
            Document::Index(_)
        ));
        let weird = r#"{"mediaType":"text/plain"}"#;
        assert!(matches!(
            Document::parse(weird.as_bytes(), None),
            Err(DocumentError::MediaType(_))
        ));
        assert!(Document::parse(b"{", None).is_err());
    }

    #[test]
    fn rejects_bad_digest_in_descriptor() {
        let bad = r#"{"mediaType":"x","digest":"sha256:zz","size":1}"#;
        assert!(serde_json::from_str::<Descriptor>(bad).is_err());
    }
}
