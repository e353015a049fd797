//! What the library's errors leave to the front end: which flag changes the outcome. The
//! library states the fact with structured fields; here its causes are looked up in the error
//! chain and the flag that answers the first one is named.

use std::error::Error;

use ocidiff_core::content::{Limit, LimitExceeded};
use ocidiff_core::normalize::PatternError;
use ocidiff_core::source::SourceError;
use ocidiff_core::source::containerd::ContainerdError;
use ocidiff_core::store::StoreError;

/// The hint for the first cause in `err`'s chain that a flag or setting answers.
pub fn for_error(err: &anyhow::Error) -> Option<&'static str> {
    err.chain().find_map(for_cause)
}

fn for_cause(cause: &(dyn Error + 'static)) -> Option<&'static str> {
    if let Some(e) = cause.downcast_ref::<LimitExceeded>() {
        return Some(match e.limit {
            Limit::Entries | Limit::MetadataBytes => "(raise the limit with --max-scale)",
            _ => "(raise it with --max-scale)",
        });
    }
    if cause.is::<PatternError>() {
        return Some("(in --ignore-path)");
    }
    // A transparent variant hides its inner error from the chain: look inside it here.
    match cause.downcast_ref::<SourceError>() {
        Some(SourceError::NotInStore { .. }) => Some("(and --pull never forbids pulling it)"),
        Some(SourceError::Store(e)) => store(e),
        Some(SourceError::StoreUnavailable(e)) => store(e),
        Some(SourceError::Containerd(e)) => containerd(e),
        Some(_) => None,
        None => cause
            .downcast_ref::<StoreError>()
            .and_then(store)
            .or_else(|| cause.downcast_ref::<ContainerdError>().and_then(containerd)),
    }
}

fn store(err: &StoreError) -> Option<&'static str> {
    matches!(err, StoreError::NoRoot).then_some("(or pass --store DIR)")
}

fn containerd(err: &ContainerdError) -> Option<&'static str> {
    match err {
        ContainerdError::NoSocket { .. } | ContainerdError::Unreachable { .. } => {
            Some("Name its socket with --containerd-address or CONTAINERD_ADDRESS")
        }
        ContainerdError::Forbidden { .. } => Some(
            "(run as root, or name another socket with --containerd-address or \
             CONTAINERD_ADDRESS)",
        ),
        ContainerdError::NoNamespace { .. } => {
            Some("(choose with --containerd-namespace, or containerd://NAMESPACE//IMAGE)")
        }
        ContainerdError::PlatformNotPulled { present, .. } if !present.is_empty() => {
            Some("(choose one with --platform)")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_deep_in_the_chain_is_found() {
        let limit = LimitExceeded {
            limit: Limit::Entries,
            max: 3,
            subject: "layer x".into(),
            found: None,
        };
        let err = anyhow::Error::new(std::io::Error::other(
            ocidiff_core::layer::LayerError::from(limit),
        ))
        .context("comparing");
        assert_eq!(for_error(&err), Some("(raise the limit with --max-scale)"));
        assert_eq!(for_error(&anyhow::anyhow!("other")), None);
    }
}
