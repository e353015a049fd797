//! How a comparison fails: always naming the input at fault, so that a user knows which of
//! the two images to look at.

use crate::content::{ContentError, LimitExceeded};
use crate::layer::{ApplyError, LayerError};
use crate::model::{Digest, DocumentError, GoJsonError, Side};
use crate::source::select::SelectError;

/// A comparison that could not be completed, naming the input at fault (`side`), or none
/// when the two inputs are at fault together.
#[derive(Debug)]
pub struct CompareError {
    /// Which input failed; `None` when the failure is the pair's (no platform in both).
    pub side: Option<Side>,
    /// That input's reference as the user gave it, to quote in the message.
    pub reference: String,
    /// Boxed: errors are rare and results are passed around a lot.
    pub source: Box<InputError>,
}

impl std::fmt::Display for CompareError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.side {
            Some(side) => write!(f, "{side} ({}): {}", self.reference, self.source),
            None => write!(f, "{}", self.source),
        }
    }
}

impl std::error::Error for CompareError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

/// What was wrong with an input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// A blob could not be read or verified.
    #[error(transparent)]
    Content(#[from] ContentError),
    /// A layer could not be decompressed or walked.
    #[error(transparent)]
    Layer(#[from] LayerError),
    /// A manifest or index that does not parse as one.
    #[error("{what}: {source}")]
    Document {
        /// The document, as the message names it (`manifest sha256:…`).
        what: String,
        /// What is wrong with it.
        source: DocumentError,
    },
    /// An image config that Go's JSON decoder (and so the runtimes) would refuse.
    #[error("image config {digest}: {source}")]
    Config {
        /// The config blob's digest.
        digest: Digest,
        /// Where Go's decoder fails.
        source: GoJsonError,
    },
    /// A document that is not JSON at all.
    #[error("{what} {digest}: malformed JSON: {source}")]
    Json {
        /// The kind of document (`manifest`).
        what: &'static str,
        /// The document's digest (computed when no descriptor names it).
        digest: Digest,
        /// The parser's error.
        source: serde_json::Error,
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
    /// A layer whose uncompressed digest is not the one the config declares for it.
    #[error(
        "layer {index} ({layer}): the config's rootfs.diff_ids names {declared}, but the layer \
         unpacks a stream whose digest is {actual}; container runtimes refuse the image, or run \
         another layer they already hold under that diff ID"
    )]
    DiffId {
        /// The layer's position in the manifest, from 0.
        index: usize,
        /// The layer's (compressed) digest in the manifest.
        layer: Digest,
        /// The diff ID the config's `rootfs.diff_ids` declares.
        declared: Digest,
        /// The digest of the stream the layer actually unpacks.
        actual: Digest,
    },
    /// A manifest and config that disagree on how many layers there are.
    #[error(
        "the manifest lists {layers} layers but the config's rootfs.diff_ids lists {diff_ids}; \
         container runtimes refuse the image"
    )]
    DiffIdCount {
        /// Layers in the manifest.
        layers: usize,
        /// Entries in the config's `rootfs.diff_ids`.
        diff_ids: usize,
    },
    /// A layer that cannot be applied on top of the ones below it.
    #[error("layer {index} ({layer}): {source}")]
    Refused {
        /// The layer's position in the manifest, from 0.
        index: usize,
        /// The layer's digest in the manifest.
        layer: Digest,
        /// Why applying it failed.
        source: ApplyError,
    },
    /// No manifest in an index matches the platform asked for.
    #[error(transparent)]
    Select(#[from] SelectError),
    /// Two indexes with no platform in common, so there is nothing to compare.
    #[error(
        "nothing to compare: input 0 ({lhs}) offers {lhs_offers}, input 1 ({rhs}) offers \
         {rhs_offers}, and no platform is in both"
    )]
    NoPair {
        /// Input 0's reference.
        lhs: String,
        /// The platforms input 0 offers, as one phrase.
        lhs_offers: String,
        /// Input 1's reference.
        rhs: String,
        /// The platforms input 1 offers, as one phrase.
        rhs_offers: String,
    },
    /// An input over one of the limits set to bound time and memory.
    #[error("{0}")]
    TooMany(#[source] LimitExceeded),
}
