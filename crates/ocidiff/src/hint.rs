//! What the library's errors leave to the front end: which flag changes the outcome. The
//! library states the fact with structured fields; here its causes are looked up in the error
//! chain and the flag that answers the first one is named.

use std::error::Error;

use ocidiff_core::content::{Limit, LimitExceeded};
use ocidiff_core::normalize::PatternError;
use ocidiff_core::source::SourceError;
use ocidiff_core::source::containerd::ContainerdError;
use ocidiff_core::source::daemon::DaemonError;
use ocidiff_core::store::StoreError;

/// Which input an error is about (`input 0 (REF)`), and what the user may have meant instead,
/// found by the command that opened it.
#[derive(Debug)]
pub struct Input {
    pub n: usize,
    pub reference: String,
    pub suggestion: Option<String>,
}

impl std::fmt::Display for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "input {} ({})", self.n, self.reference)
    }
}

/// The hint for the error: what the user may have meant, else the flag or setting that
/// answers the first cause in its chain that one answers.
pub fn for_error(err: &anyhow::Error) -> Option<String> {
    if let Some(s) = err
        .downcast_ref::<Input>()
        .and_then(|i| i.suggestion.clone())
    {
        return Some(s);
    }
    err.chain().find_map(for_cause).map(str::to_owned)
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
        Some(SourceError::Daemon(DaemonError::NoImage { name, .. })) if has_registry_host(name) => {
            Some(
                "(docker:// is the local Docker daemon, as in diffoci; to pull from that \
                 registry, name the image without docker://)",
            )
        }
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

/// Whether the name's first component is a registry host (`host.tld/…`, `host:port/…`,
/// `localhost/…`), as skopeo users write after `docker://`.
fn has_registry_host(name: &str) -> bool {
    name.split_once('/')
        .is_some_and(|(first, _)| first.contains(['.', ':']) || first == "localhost")
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
        assert_eq!(
            for_error(&err).as_deref(),
            Some("(raise the limit with --max-scale)")
        );
        assert_eq!(for_error(&anyhow::anyhow!("other")), None);
    }
}
