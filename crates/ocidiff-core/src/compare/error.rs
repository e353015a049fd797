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
    pub side: Option<Side>,
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
    #[error(transparent)]
    Content(#[from] ContentError),
    #[error(transparent)]
    Layer(#[from] LayerError),
    #[error("{what}: {source}")]
    Document { what: String, source: DocumentError },
    #[error("image config {digest}: {source}")]
    Config { digest: Digest, source: GoJsonError },
    #[error("{what} {digest}: malformed JSON: {source}")]
    Json {
        what: &'static str,
        digest: Digest,
        source: serde_json::Error,
    },
    #[error("{what} {digest} is a {found}, expected {expected}")]
    WrongKind {
        what: &'static str,
        digest: Digest,
        found: &'static str,
        expected: &'static str,
    },
    #[error(
        "layer {index} ({layer}): the config's rootfs.diff_ids names {declared}, but the layer \
         unpacks a stream whose digest is {actual}; container runtimes refuse the image, or run \
         another layer they already hold under that diff ID"
    )]
    DiffId {
        index: usize,
        layer: Digest,
        declared: Digest,
        actual: Digest,
    },
    #[error(
        "the manifest lists {layers} layers but the config's rootfs.diff_ids lists {diff_ids}; \
         container runtimes refuse the image"
    )]
    DiffIdCount { layers: usize, diff_ids: usize },
    #[error("layer {index} ({layer}): {source}")]
    Refused {
        index: usize,
        layer: Digest,
        source: ApplyError,
    },
    #[error(transparent)]
    Select(#[from] SelectError),
    #[error(
        "nothing to compare: input 0 ({lhs}) offers {lhs_offers}, input 1 ({rhs}) offers \
         {rhs_offers}, and no platform is in both"
    )]
    NoPair {
        lhs: String,
        lhs_offers: String,
        rhs: String,
        rhs_offers: String,
    },
    #[error("{0}")]
    TooMany(#[source] LimitExceeded),
}
