//! How to reach registries, always compiled: a [`Context`](super::Context) is the same with or
//! without the `registry` feature, and local sources read their [`Limits`] from it.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::content::Limits;
use crate::model::Progress;

/// How to reach registries.
#[derive(Clone)]
pub struct PullOptions {
    /// Registries (`host` or `host:port`) reached over plain HTTP or unverified TLS, like
    /// Docker's `--insecure-registry`. Loopback registries always are.
    pub insecure_registries: Vec<String>,
    /// Where to look up each registry's credentials.
    pub credentials: CredentialSources,
    /// Blobs downloaded at once, across all images pulled together.
    pub max_concurrent_downloads: usize,
    /// Longest wait for a connection to a registry.
    pub connect_timeout: Duration,
    /// Longest silence while reading an answer.
    pub read_timeout: Duration,
    /// Tries per request, the first included.
    pub max_attempts: u32,
    /// The wait before the first retry, doubled for each later one up to `max_backoff`.
    pub initial_backoff: Duration,
    /// The longest wait between retries.
    pub max_backoff: Duration,
    /// Bounds on the manifests, configs and layers pulled.
    pub limits: Limits,
    /// Told how downloads progress; `None` for silence.
    pub progress: Option<Arc<dyn Progress>>,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            insecure_registries: Vec::new(),
            credentials: CredentialSources::default(),
            max_concurrent_downloads: 6,
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(60),
            max_attempts: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(20),
            limits: Limits::default(),
            progress: None,
        }
    }
}

impl std::fmt::Debug for PullOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullOptions")
            .field("insecure_registries", &self.insecure_registries)
            .field("max_concurrent_downloads", &self.max_concurrent_downloads)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

/// Where credentials are looked up.
#[derive(Debug, Clone, Default)]
pub struct CredentialSources {
    /// Used for every registry, ahead of the Docker config (like skopeo's `--creds`).
    pub explicit: Option<(String, String)>,
    /// The Docker config directory; `None` means `$DOCKER_CONFIG`, else `~/.docker`.
    pub docker_config: Option<PathBuf>,
    /// A file in the Docker config's format (`auths`, `credHelpers`, `credsStore`) read
    /// instead of the config directory's `config.json`, like skopeo's `--authfile`. Unlike
    /// `config.json` it must exist.
    pub auth_file: Option<PathBuf>,
    /// `PATH` for running `docker-credential-*` helpers; `None` means the process's.
    pub helper_path: Option<OsString>,
}
