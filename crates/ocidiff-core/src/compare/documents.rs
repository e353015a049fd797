//! Reading the documents of one side — the root, manifests, configs — as runtimes read them,
//! and comparing two JSON documents value by value.

use serde_json::Value;

use super::{CompareError, InputError, Walk, classify, json};
use crate::content::{self, Limit, LimitExceeded};
use crate::finding::{Class, FieldDiff, Finding, Kind};
use crate::model::{Blob, Descriptor, Digest, Document, DocumentError, Manifest, Side, gojson};
use crate::normalize::Rules;

/// The document an image starts at.
pub(super) enum Root {
    Index(Value),
    Manifest(Box<Blob>),
}

impl Walk<'_> {
    pub(super) fn root(&self, side: Side) -> Result<Root, CompareError> {
        let image = self.image(side);
        let declared = image
            .root
            .descriptor
            .as_ref()
            .map(|d| d.media_type.as_str());
        let what = match &image.root.descriptor {
            Some(d) => format!("the image's root document {}", d.digest),
            None => "the image's root document".into(),
        };
        let document_error = |source: DocumentError| {
            self.err(
                side,
                InputError::Document {
                    what: what.clone(),
                    source,
                },
            )
        };
        match Document::parse(&image.root.bytes, declared).map_err(document_error)? {
            Document::Manifest(_) => Ok(Root::Manifest(Box::new(image.root.clone()))),
            Document::Index(_) => Ok(Root::Index(
                serde_json::from_slice(&image.root.bytes).map_err(|e| document_error(e.into()))?,
            )),
        }
    }

    pub(super) fn json_blob(&self, side: Side, desc: &Descriptor) -> Result<Vec<u8>, CompareError> {
        content::read_json_blob(&*self.image(side).blobs, desc, self.opts.limits.json_bytes)
            .map_err(|e| self.err(side, e))
    }

    pub(super) fn parse_manifest(&self, side: Side, blob: &Blob) -> Result<Manifest, CompareError> {
        let declared = blob.descriptor.as_ref().map(|d| d.media_type.as_str());
        let digest = blob
            .descriptor
            .as_ref()
            .map_or_else(|| Digest::sha256_of(&blob.bytes), |d| d.digest.clone());
        match Document::parse(&blob.bytes, declared) {
            Ok(Document::Manifest(m)) => {
                let limit = self.opts.limits.layers;
                if m.layers.len() as u64 > limit {
                    return Err(self.err(
                        side,
                        InputError::TooMany(LimitExceeded {
                            limit: Limit::Layers,
                            max: limit,
                            subject: format!("manifest {digest}"),
                            found: Some(m.layers.len() as u64),
                        }),
                    ));
                }
                Ok(*m)
            }
            Ok(Document::Index(_)) => Err(self.err(
                side,
                InputError::WrongKind {
                    what: "manifest",
                    digest,
                    found: "index",
                    expected: "manifest",
                },
            )),
            Err(source) => Err(self.err(
                side,
                InputError::Document {
                    what: format!("manifest {digest}"),
                    source,
                },
            )),
        }
    }

    pub(super) fn json_value(&self, side: Side, blob: &Blob) -> Result<Value, CompareError> {
        serde_json::from_slice(&blob.bytes).map_err(|source| {
            self.err(
                side,
                InputError::Json {
                    what: "manifest",
                    digest: blob
                        .descriptor
                        .as_ref()
                        .map_or_else(|| Digest::sha256_of(&blob.bytes), |d| d.digest.clone()),
                    source,
                },
            )
        })
    }

    /// The config as `T` (its JSON value, or the fields the engine reads), refused where Go
    /// would read it ambiguously.
    pub(super) fn config_as<T: serde::de::DeserializeOwned>(
        &self,
        side: Side,
        desc: &Descriptor,
        bytes: &[u8],
    ) -> Result<T, CompareError> {
        gojson::from_slice(bytes, &gojson::IMAGE_CONFIG).map_err(|source| {
            self.err(
                side,
                InputError::Config {
                    digest: desc.digest.clone(),
                    source,
                },
            )
        })
    }

    /// The fields the engine reads of a config already checked and read as `value`.
    pub(super) fn config_from(
        &self,
        side: Side,
        desc: &Descriptor,
        value: &Value,
    ) -> Result<crate::model::Config, CompareError> {
        serde::Deserialize::deserialize(value).map_err(|e| {
            self.err(
                side,
                InputError::Config {
                    digest: desc.digest.clone(),
                    source: e.into(),
                },
            )
        })
    }
}

/// A finding for each differing value of two JSON documents, prepared by `prepare` (which
/// removes what is compared elsewhere, and what the rules ignore; see `normalize::document`).
/// A value that differs as stored but not as the rules see it is set aside. Its class is what
/// `--semantic` makes of it, whatever this run's rules: the options decide whether a difference
/// counts, not what it is.
pub(super) fn values(
    kind: Kind,
    location: &str,
    docs: [Value; 2],
    prepare: fn([Value; 2], &Rules) -> [Value; 2],
    rules: &Rules,
) -> Vec<Finding> {
    // Prepared without rules first, the documents lose what is compared elsewhere (a
    // manifest's layers), so that each rule set below copies only what is left; preparing
    // again under rules gives what preparing once under them would.
    let raw = prepare(docs, &Rules::default());
    let diffs = json::diff(&raw[0], &raw[1]);
    if diffs.is_empty() {
        return Vec::new();
    }
    let differing = |with: &Rules| -> Vec<String> {
        if *with == Rules::default() {
            return diffs.iter().map(|(p, ..)| p.clone()).collect();
        }
        let [l, r] = prepare(raw.clone(), with);
        json::diff(&l, &r).into_iter().map(|(p, ..)| p).collect()
    };
    let touches = |paths: &[String], path: &str| {
        paths
            .iter()
            .any(|k| json::within(k, path) || json::within(path, k))
    };
    let semantic = Rules::semantic();
    let kept_by_semantic = differing(&semantic);
    let kept = if *rules == semantic {
        kept_by_semantic.clone()
    } else {
        differing(rules)
    };
    // What only the builder-metadata rule sets aside is the builders' own.
    let kept_but_for_builders = if diffs.iter().all(|(p, ..)| touches(&kept_by_semantic, p)) {
        Vec::new()
    } else {
        differing(&Rules {
            ignore_builder_metadata: false,
            ..semantic
        })
    };
    diffs
        .into_iter()
        .map(|(path, l, r)| {
            let counted = touches(&kept, &path);
            let by_semantic = touches(&kept_by_semantic, &path);
            let class = if !by_semantic && touches(&kept_but_for_builders, &path) {
                Class::BuilderMetadata
            } else {
                classify::json_class(kind, &path, by_semantic)
            };
            let d = FieldDiff::new("value", l, r, class);
            classify::finding(
                kind,
                location,
                &path,
                vec![if counted { d } else { d.set_aside() }],
            )
        })
        .collect()
}
