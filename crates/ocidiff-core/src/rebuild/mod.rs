//! Building a published image again from its source, with a real builder, for `ocidiff
//! verify`: the source is a directory or a Git URL (cloned here at the ref it names), the
//! builder Docker's classic builder (through the Engine API), BuildKit, buildah or Podman
//! (through their CLIs), never with their cache unless asked. The image built is named as a
//! source reference, so it is read into the store like any other image.

mod cli;
mod context;
#[cfg(feature = "daemon")]
mod dockerignore;
mod git;
#[cfg(feature = "daemon")]
mod send;

use std::path::PathBuf;

pub use context::{ContextSpec, Prepared, prepare};

use crate::model::Platform;
use crate::reference::ImageRef;

/// Which builder builds the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builder {
    /// The Docker daemon's classic builder, through the Engine API.
    Docker,
    /// BuildKit in the Docker daemon, through the `docker` CLI (`buildx` where installed).
    BuildKit,
    /// `buildah bud`.
    Buildah,
    /// `podman build`.
    Podman,
}

impl Builder {
    /// Its name, as `--builder` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Builder::Docker => "docker",
            Builder::BuildKit => "buildkit",
            Builder::Buildah => "buildah",
            Builder::Podman => "podman",
        }
    }
}

/// What to build, besides the context.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    /// The Dockerfile as `-f` names it: relative to the working directory for a directory
    /// context, to the context for a Git one (as `docker build` reads them). Default:
    /// `Dockerfile` in the context.
    pub dockerfile: Option<PathBuf>,
    /// `--build-arg`s, in order, `SOURCE_DATE_EPOCH` among them.
    pub build_args: Vec<(String, String)>,
    /// The stage to build.
    pub target: Option<String>,
    /// The platform to build for.
    pub platform: Option<Platform>,
    /// Which builder.
    pub builder: Builder,
    /// Whether the builder's cache may be used: a cached step is not rebuilt.
    pub cache: bool,
    /// The network of `RUN` steps, when not the builder's default.
    pub network: Option<String>,
    /// Further arguments for a CLI builder, passed as they are.
    pub builder_args: Vec<String>,
}

/// An image built.
#[derive(Debug)]
pub struct Built {
    /// Where to read it: `docker://ID`, `podman://ID`, or an archive buildah wrote.
    pub reference: ImageRef,
    /// The builder's ID of the image.
    pub id: String,
    /// Holds the archive of a buildah build until the image is read.
    pub scratch: Option<tempfile::TempDir>,
}

/// Why a rebuild could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RebuildError {
    /// The context directory does not exist or cannot be read.
    #[error("context {path}: {source}")]
    Context {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The Dockerfile is not there.
    #[error("no Dockerfile at {0}")]
    NoDockerfile(PathBuf),
    /// A Git context that cannot be cloned or checked out.
    #[error("git context {url}: {reason}")]
    Git {
        /// The URL as given.
        url: String,
        /// What failed, with git's last line.
        reason: String,
    },
    /// A `.dockerignore` pattern that is not a valid glob.
    #[error("{path}: bad pattern {pattern:?}: {reason}")]
    Ignore {
        /// The `.dockerignore`.
        path: PathBuf,
        /// The pattern.
        pattern: String,
        /// Why it is refused.
        reason: String,
    },
    /// Writing the context to send, or a scratch file, failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being written.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A builder CLI is not installed or cannot be started.
    #[error("cannot run {command}: {reason}")]
    Spawn {
        /// The command.
        command: String,
        /// Why.
        reason: String,
    },
    /// The builder ran and failed.
    #[error("{command} failed ({status}): {last}")]
    Failed {
        /// The command, or `POST /build` for the classic builder.
        command: String,
        /// How it ended.
        status: String,
        /// Its last line of output.
        last: String,
        /// Its last lines, for the user to see what went wrong.
        tail: Vec<String>,
    },
    /// The Docker daemon could not be asked to build.
    #[cfg(feature = "daemon")]
    #[error(transparent)]
    Daemon(#[from] crate::source::daemon::DaemonError),
    /// This build of ocidiff cannot reach container engines.
    #[error("building with {0} needs ocidiff built with its `daemon` feature")]
    FeatureDisabled(&'static str),
}

impl RebuildError {
    /// The builder's last lines of output, when it ran and failed.
    pub fn tail(&self) -> &[String] {
        match self {
            RebuildError::Failed { tail, .. } => tail,
            _ => &[],
        }
    }
}

/// Which builder `docker build` uses with the Docker daemon by default, as the daemon says.
#[cfg(feature = "daemon")]
pub fn daemon_builder() -> Result<Builder, RebuildError> {
    let endpoint = crate::source::daemon::docker_endpoint()?;
    Ok(
        match crate::source::daemon::default_builder(&endpoint)?.as_deref() {
            Some("2") => Builder::BuildKit,
            _ => Builder::Docker,
        },
    )
}

/// Without the `daemon` feature, the classic builder is named (and refused when building).
#[cfg(not(feature = "daemon"))]
pub fn daemon_builder() -> Result<Builder, RebuildError> {
    Ok(Builder::Docker)
}

/// Builds the image. Each line the builder prints goes to `on_line` as it comes.
pub fn build(
    context: &Prepared,
    request: &BuildRequest,
    on_line: &mut (dyn FnMut(&str) + Send),
) -> Result<Built, RebuildError> {
    let dockerfile = context.dockerfile(request.dockerfile.as_deref())?;
    match request.builder {
        Builder::Docker => classic(context, &dockerfile, request, on_line),
        Builder::BuildKit | Builder::Buildah | Builder::Podman => {
            cli::build(context, &dockerfile, request, on_line)
        }
    }
}

#[cfg(feature = "daemon")]
fn classic(
    context: &Prepared,
    dockerfile: &std::path::Path,
    request: &BuildRequest,
    on_line: &mut (dyn FnMut(&str) + Send),
) -> Result<Built, RebuildError> {
    use crate::source::daemon;
    if !request.builder_args.is_empty() {
        return Err(RebuildError::Spawn {
            command: "the classic builder".into(),
            reason: "it is driven through the Engine API, which takes no builder arguments".into(),
        });
    }
    let (mut tar, len, name) = send::tar(context, dockerfile)?;
    let query = daemon::BuildQuery {
        dockerfile: name,
        build_args: request.build_args.clone(),
        target: request.target.clone(),
        platform: request.platform.clone(),
        cache: request.cache,
        network: request.network.clone(),
    };
    let endpoint = daemon::docker_endpoint()?;
    let mut tail = cli::Tail::default();
    let built = daemon::build(&endpoint, &mut tar, len, &query, &mut |line| {
        tail.push(line);
        on_line(line);
    });
    let id = match built {
        Ok(id) => id,
        Err(daemon::DaemonError::BuildFailed { message }) => {
            tail.push(&message);
            return Err(tail.failed("POST /build (Docker's classic builder)", "error"));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Built {
        reference: ImageRef::Docker(id.clone()),
        id,
        scratch: None,
    })
}

#[cfg(not(feature = "daemon"))]
fn classic(
    _: &Prepared,
    _: &std::path::Path,
    _: &BuildRequest,
    _: &mut (dyn FnMut(&str) + Send),
) -> Result<Built, RebuildError> {
    Err(RebuildError::FeatureDisabled("Docker's classic builder"))
}

/// `SOURCE_DATE_EPOCH` for an image created at `created` (the config's RFC 3339 time): whole
/// seconds since the epoch, as reproducible builds define it; 0 for an image that says none.
pub fn source_date_epoch(created: Option<&str>) -> Result<i64, String> {
    match created {
        None => Ok(0),
        Some(text) => text
            .parse::<jiff::Timestamp>()
            .map(jiff::Timestamp::as_second)
            .map_err(|e| format!("the config's created time {text:?} is not RFC 3339: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_of_created() {
        assert_eq!(source_date_epoch(None), Ok(0));
        assert_eq!(source_date_epoch(Some("1970-01-01T00:00:00Z")), Ok(0));
        assert_eq!(
            source_date_epoch(Some("2023-11-14T22:13:20.123456789Z")),
            Ok(1_700_000_000)
        );
        assert_eq!(
            source_date_epoch(Some("2023-11-15T00:13:20+02:00")),
            Ok(1_700_000_000)
        );
        assert!(source_date_epoch(Some("yesterday")).is_err());
    }
}
