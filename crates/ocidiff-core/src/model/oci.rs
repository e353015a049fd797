//! The parts of manifests, indexes and descriptors the walk navigates by.
//!
//! Written by hand rather than taken from `oci-spec` because a differ needs what that crate
//! drops: unknown fields (compared from the raw JSON, which [`Blob`] keeps), Docker-only
//! spellings accepted as they are, and our validated [`Digest`] in every descriptor.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use super::digest::Digest;
use super::gojson::{self, GoJsonError};
use super::media::{self, MediaKind};
use super::platform::Platform;

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// What the content is, as written: unknown types are kept, not refused.
    pub media_type: String,
    /// The content's digest, which is also its address in a blob store.
    pub digest: Digest,
    /// The content's length in bytes, checked when it is read.
    pub size: u64,
    /// For a manifest in an index, the platform it runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Free-form metadata (`org.opencontainers.image.ref.name`…); `null` reads as empty.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: BTreeMap<String, String>,
    /// Other places the content may be fetched from (Windows foreign layers); `null` reads as empty.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub urls: Vec<String>,
    /// For an artifact manifest, what kind of artifact it is.
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

    /// What the media type says the content is.
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
    /// The index's own `mediaType`, when it states one.
    #[serde(default)]
    pub media_type: Option<String>,
    /// One descriptor per manifest (or nested index); `null` reads as empty.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub manifests: Vec<Descriptor>,
}

/// An image manifest (OCI or Docker schema 2).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// The manifest's own `mediaType`, when it states one.
    #[serde(default)]
    pub media_type: Option<String>,
    /// The image config.
    pub config: Descriptor,
    /// The layers, lowest first; `null` reads as empty.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub layers: Vec<Descriptor>,
}

/// A list or map that is `null` or absent reads as empty, as Go decodes it (a nil slice or map).
fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The part of an image config that the walk needs; the rest is compared as raw JSON.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Config {
    /// The operating system the image runs on.
    #[serde(default)]
    pub os: Option<String>,
    /// The CPU architecture the image runs on.
    #[serde(default)]
    pub architecture: Option<String>,
    /// The CPU variant (`v7`, `v8`…).
    #[serde(default)]
    pub variant: Option<String>,
    /// The uncompressed layer digests that the runtime checks the layers against.
    #[serde(default)]
    pub rootfs: Option<RootFs>,
    /// When the image was made, as written (the advice dates package snapshots by it).
    #[serde(default)]
    pub created: Option<String>,
}

/// `rootfs` of an image config.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RootFs {
    /// The digest of each layer's uncompressed tar stream, lowest first.
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
    /// The descriptor it was reached by; `None` for a root without one.
    pub descriptor: Option<Descriptor>,
    /// The document exactly as stored.
    pub bytes: Vec<u8>,
}

/// What a document parsed as, by its media type or, when it names none, by its shape.
#[derive(Debug, Clone)]
pub enum Document {
    /// An image index or Docker manifest list.
    Index(Index),
    /// Boxed: a manifest holds its config descriptor inline and is several times an index's size.
    Manifest(Box<Manifest>),
}

/// Why a JSON document could not be read as an index or manifest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DocumentError {
    /// Not JSON.
    #[error("malformed JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// JSON that Go's decoder, and so the runtimes, would read differently or refuse.
    #[error(transparent)]
    Go(#[from] GoJsonError),
    /// A media type that is neither an index nor a manifest.
    #[error("unsupported media type {0:?} (expected an image index or manifest)")]
    MediaType(String),
    /// A document whose content says it is something other than its media type says.
    #[error(
        "{by} says it is an image {expected}, but it {holds}; containerd refuses such a \
         document, and so does ocidiff"
    )]
    Contradiction {
        /// What said which kind it is (`its descriptor's media type`, `its mediaType`…).
        by: &'static str,
        /// The kind that made it (`index` or `manifest`).
        expected: &'static str,
        /// What the document holds instead, as a phrase.
        holds: String,
    },
    /// A Docker schema 1 manifest (it has `fsLayers`), which runtimes no longer read.
    #[error(
        "Docker schema 1 manifests are not supported (it has fsLayers); convert the image \
         with `skopeo copy` or push it again with a current Docker"
    )]
    Schema1,
}

/// The members of a document that tell what it is, present even when `null` (as containerd
/// sees them: a `json.RawMessage` holding `null` is not empty).
// One presence flag per member, as serde fills them: not a state machine in disguise.
#[allow(clippy::struct_excessive_bools)]
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default, deserialize_with = "present")]
    config: bool,
    #[serde(default, deserialize_with = "present")]
    layers: bool,
    #[serde(default, deserialize_with = "present")]
    manifests: bool,
    #[serde(default, deserialize_with = "present")]
    fs_layers: bool,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| true)
}

impl Document {
    /// Parses an index or a manifest, refusing what Go would read ambiguously
    /// ([`gojson::DOCUMENT`]). As in containerd, the descriptor's media type (`declared`)
    /// decides what the document is; without one (an OCI layout's `index.json`), the
    /// document's own `mediaType`, or failing that its shape. A document whose own
    /// `mediaType` or members say otherwise is refused, and so is Docker schema 1.
    pub fn parse(bytes: &[u8], declared: Option<&str>) -> Result<Document, DocumentError> {
        gojson::check(bytes, &gojson::DOCUMENT)?;
        let probe: Probe = serde_json::from_slice(bytes)?;
        if probe.fs_layers {
            return Err(DocumentError::Schema1);
        }
        // Go reads an empty mediaType as none: it is the zero value writers omit.
        let own = probe.media_type.as_deref().filter(|m| !m.is_empty());
        let (kind, by) = match (declared, own) {
            (Some(mt), _) => (media::classify(mt), "its descriptor's media type"),
            (None, Some(mt)) => (media::classify(mt), "its mediaType"),
            (None, None) if probe.manifests => (MediaKind::Index, "its manifests member"),
            (None, None) => (MediaKind::Manifest, "its shape"),
        };
        let contradiction = |expected, holds: String| {
            Err(DocumentError::Contradiction {
                by,
                expected,
                holds,
            })
        };
        let own_kind = own.map(media::classify);
        match kind {
            MediaKind::Index => {
                if own_kind.is_some_and(|k| k != MediaKind::Index) {
                    return contradiction(
                        "index",
                        format!("names itself {:?}", own.unwrap_or_default()),
                    );
                }
                if probe.config || probe.layers {
                    return contradiction("index", "has a manifest's config or layers".into());
                }
                Ok(Document::Index(serde_json::from_slice(bytes)?))
            }
            MediaKind::Manifest => {
                if own_kind.is_some_and(|k| k != MediaKind::Manifest) {
                    return contradiction(
                        "manifest",
                        format!("names itself {:?}", own.unwrap_or_default()),
                    );
                }
                if probe.manifests {
                    return contradiction("manifest", "has an index's manifests".into());
                }
                Ok(Document::Manifest(serde_json::from_slice(bytes)?))
            }
            _ => Err(DocumentError::MediaType(
                declared.or(own).unwrap_or_default().to_owned(),
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
    fn the_descriptor_decides_and_contradictions_are_refused() {
        let manifest = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"{}","digest":"{EMPTY}","size":0}},"layers":null}}"#,
            media::OCI_CONFIG
        );
        let parse = |doc: &str, declared| Document::parse(doc.as_bytes(), declared);
        let Ok(Document::Manifest(m)) = parse(&manifest, Some(media::DOCKER_MANIFEST)) else {
            panic!("a manifest");
        };
        assert!(m.layers.is_empty());
        let refused = [
            (
                manifest.as_str(),
                Some(media::OCI_INDEX),
                "has a manifest's config or layers",
            ),
            (
                r#"{"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#,
                Some(media::OCI_MANIFEST),
                "names itself",
            ),
            (
                r#"{"manifests":null}"#,
                Some(media::OCI_MANIFEST),
                "has an index's manifests",
            ),
            (
                r#"{"mediaType":"application/vnd.oci.image.manifest.v1+json","manifests":[]}"#,
                None,
                "has an index's manifests",
            ),
            (
                r#"{"manifests":[],"layers":null}"#,
                None,
                "its manifests member says",
            ),
            (r#"{"schemaVersion":1,"fsLayers":[]}"#, None, "schema 1"),
            (
                r#"{"fsLayers":null,"manifests":[]}"#,
                Some(media::OCI_INDEX),
                "schema 1",
            ),
            (r#"{"Manifests":[]}"#, None, "reads it as \"manifests\""),
            (r#"{"manifests":[],"manifests":[]}"#, None, "appears twice"),
        ];
        for (doc, declared, needle) in refused {
            let e = parse(doc, declared).expect_err(doc).to_string();
            assert!(e.contains(needle), "{doc}: {e}");
        }
        // An index whose manifests are null is empty, as Go decodes it.
        for doc in [
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":null}"#,
            r#"{"schemaVersion":2,"manifests":null}"#,
        ] {
            let Ok(Document::Index(i)) = parse(doc, None) else {
                panic!("{doc}: an index");
            };
            assert!(i.manifests.is_empty());
        }
    }

    #[test]
    fn rejects_bad_digest_in_descriptor() {
        let bad = r#"{"mediaType":"x","digest":"sha256:zz","size":1}"#;
        assert!(serde_json::from_str::<Descriptor>(bad).is_err());
    }
}
