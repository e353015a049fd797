//! `docker://REF` and `podman://REF`: images in a container engine's store, read through the
//! engine's (Docker-compatible) API, or for Podman without a running service through
//! `podman save`.
//!
//! The export is a `docker save` tar stream, copied into the embedded store as it arrives
//! (`import`); the image is then read from the store like a pulled one. Engine images are
//! recorded by ID ([`EngineImage`]), so an image read before is not exported again until it
//! changes.

mod build;
mod endpoint;
mod http;
mod import;

use std::collections::HashMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

pub use build::{BuildQuery, build, default_builder, docker_endpoint};
pub use endpoint::{Address, DOCKER_DEFAULT_SOCKET, Endpoint};

use import::Layers;

use super::SourceError;
use crate::content::{BlobSource, ContentError, KeptFile, Limits};
use crate::image::Image;
use crate::layer::Walked;
use crate::model::{Blob, Compression, Digest, Platform, PlatformChoice, Reporter};
use crate::reference::ImageRef;
use crate::store::{EngineImage, ImageRecord, Store};

/// The first Engine API version whose export takes a `platform`.
const PLATFORM_EXPORT_API: (u32, u32) = (1, 48);

/// Which engine an image lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// The Docker daemon, through its Engine API.
    Docker,
    /// Podman, through its API service or else `podman save`.
    Podman,
}

impl Engine {
    fn id(self) -> &'static str {
        match self {
            Engine::Docker => "docker",
            Engine::Podman => "podman",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Engine::Docker => "the Docker daemon",
            Engine::Podman => "Podman",
        }
    }
}

/// Why an engine's image could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonError {
    /// A daemon address ocidiff cannot use (TLS, an unknown scheme…).
    #[error("{origin} is {host:?}, which ocidiff cannot use: {reason}")]
    BadHost {
        /// The address as written.
        host: String,
        /// Where it came from (`DOCKER_HOST`, a Docker context…).
        origin: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// The Docker CLI's config file exists but cannot be read.
    #[error("{path}: {source}")]
    ConfigUnreadable {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A Docker CLI config or context file that is not the JSON expected.
    #[error("{path}: {source}")]
    ConfigJson {
        /// The file.
        path: std::path::PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The current Docker context's metadata cannot be read.
    #[error("{path}: docker context {name:?} is current, but: {source}")]
    ContextUnreadable {
        /// The context's `meta.json`.
        path: std::path::PathBuf,
        /// The context's name.
        name: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A Docker CLI config or context file that does not say what is needed.
    #[error("{path}: {reason}")]
    Config {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Nothing answers at the daemon's address.
    #[error("cannot connect to {endpoint}: {source}{}", unreachable_hint(source))]
    Unreachable {
        /// The address tried.
        endpoint: Endpoint,
        /// The connection error, whose kind picks the hint in the message.
        source: std::io::Error,
    },
    /// Reading the daemon's answer failed partway.
    #[error("{what}: {source}")]
    Read {
        /// The request, as the message names it.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The daemon answered something that is not valid HTTP or not the JSON expected.
    #[error("{what}: {reason}")]
    Protocol {
        /// The request, as the message names it.
        what: String,
        /// What is wrong with the answer.
        reason: String,
    },
    /// The engine has no image of that name or ID.
    #[error("{engine} has no image {name:?} (asked {where_})")]
    NoImage {
        /// The engine's name.
        engine: &'static str,
        /// The name or ID asked for.
        name: String,
        /// The endpoint or command that was asked.
        where_: String,
    },
    /// The Engine API answered with an error status.
    #[error("{what}: {engine} answered {status}: {message}")]
    Api {
        /// The request, as the message names it.
        what: String,
        /// The engine's name.
        engine: &'static str,
        /// The HTTP status.
        status: u16,
        /// The engine's error message.
        message: String,
    },
    /// The daemon's builder stopped with an error (a step failed, a base is missing…).
    #[error("the build failed: {message}")]
    BuildFailed {
        /// The builder's message.
        message: String,
    },
    /// The `podman` command could not be started.
    #[error(
        "cannot run {command:?}: {source} (is Podman installed? or start its service: podman system service)"
    )]
    Spawn {
        /// The command line.
        command: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A layer whose bytes an export was to keep only as a listing could not be walked: its
    /// bytes went by unkept, so the image is exported again with its layers kept.
    #[error("{member} in the export of {label} could not be walked: {reason}")]
    Unlisted {
        /// The export, as the user named it.
        label: String,
        /// The member.
        member: String,
        /// Why the walk failed.
        reason: String,
    },
    /// The `podman` command failed.
    #[error("{command:?} failed ({status}): {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// How it exited.
        status: std::process::ExitStatus,
        /// What it printed on stderr.
        stderr: String,
    },
}

fn unreachable_hint(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
            " (is the daemon running? DOCKER_HOST names the socket to use)"
        }
        std::io::ErrorKind::PermissionDenied => {
            " (join the socket's group, e.g. docker, or set DOCKER_HOST to a socket you may use)"
        }
        _ => "",
    }
}

/// Reads an engine's image into the store (unless it is there already) and opens it. `name`
/// is the engine's name or ID for it, as the user wrote it. Through the Engine API the layers
/// are kept as listings unless `ctx` says the run reads their content.
pub fn open(
    store: &Store,
    engine: Engine,
    name: &str,
    ctx: &super::Context,
) -> Result<Image, SourceError> {
    let (platforms, progress) = (&ctx.platforms, &ctx.progress);
    let layers = if ctx.keep_layers {
        Layers::Bytes
    } else {
        Layers::Listings
    };
    let env = |k: &str| std::env::var(k).ok();
    let endpoint = match engine {
        Engine::Docker => Some(endpoint::docker(&env)?),
        Engine::Podman => endpoint::podman(&env)?,
    };
    let mut image = match endpoint {
        Some(endpoint) => through_api(store, engine, &endpoint, name, platforms, progress, layers)?,
        None => through_podman_save(store, name, progress)?,
    };
    image.reference = match engine {
        Engine::Docker => ImageRef::Docker(name.to_owned()),
        Engine::Podman => ImageRef::Podman(name.to_owned()),
    };
    Ok(image)
}

/// Whether the engine answers and holds an image of that name: for suggesting `docker://`
/// when a registry does not have a name the user built locally. Any failure is a no.
pub fn has_image(engine: Engine, name: &str) -> bool {
    let env = |k: &str| std::env::var(k).ok();
    let endpoint = match engine {
        Engine::Docker => endpoint::docker(&env).ok(),
        Engine::Podman => endpoint::podman(&env).ok().flatten(),
    };
    let Some(endpoint) = endpoint else {
        return false;
    };
    let Ok(version) = api_version(engine, &endpoint) else {
        return false;
    };
    let path = format!(
        "/v{}.{}/images/{}/json",
        version.0,
        version.1,
        http::encode_name(name)
    );
    http::get(&endpoint, &path, false).is_ok_and(|r| r.status == 200)
}

/// `1.41` → `(1, 41)`.
fn parse_api_version(v: &str) -> Option<(u32, u32)> {
    let (major, minor) = v.trim().split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// The API version the engine speaks, from `/_ping` (or `/version` for engines that do not
/// say it there); requests are then made under `/v{version}`.
fn api_version(engine: Engine, endpoint: &Endpoint) -> Result<(u32, u32), DaemonError> {
    let ping = http::get(endpoint, "/_ping", false)?;
    if let Some(v) = ping.header("api-version").and_then(parse_api_version) {
        return Ok(v);
    }
    let what = format!("GET /version from {endpoint}");
    let response = http::get(endpoint, "/version", false)?;
    if response.status != 200 {
        return Err(DaemonError::Api {
            status: response.status,
            engine: engine.title(),
            message: response.error_message(&what),
            what,
        });
    }
    let bytes = response.read_small(1 << 20, &what)?;
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| parse_api_version(v.get("ApiVersion")?.as_str()?))
        .ok_or_else(|| DaemonError::Protocol {
            what,
            reason: "the answer names no ApiVersion".into(),
        })
}

/// The `platform` query value of an export: the OCI platform as JSON.
fn platform_query(p: &Platform) -> String {
    let mut json = serde_json::json!({"os": p.os, "architecture": p.architecture});
    if let Some(v) = &p.variant {
        json["variant"] = v.as_str().into();
    }
    if let Some(v) = &p.os_version {
        json["os.version"] = v.as_str().into();
    }
    format!("platform={}", http::encode_query(&json.to_string()))
}

fn through_api(
    store: &Store,
    engine: Engine,
    endpoint: &Endpoint,
    name: &str,
    platforms: &PlatformChoice,
    progress: &Reporter,
    layers: Layers,
) -> Result<Image, SourceError> {
    let version = api_version(engine, endpoint)?;
    let prefix = format!("/v{}.{}", version.0, version.1);
    let encoded = http::encode_name(name);
    let no_image = || DaemonError::NoImage {
        engine: engine.title(),
        name: name.to_owned(),
        where_: endpoint.to_string(),
    };

    let what = format!("GET {prefix}/images/{encoded}/json from {endpoint}");
    let inspect = http::get(endpoint, &format!("{prefix}/images/{encoded}/json"), false)?;
    let inspect = expect_ok(inspect, engine, &what, no_image)?;
    let bytes = inspect.read_small(Limits::default().json_bytes * 4, &what)?;
    let id = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("Id")?.as_str().map(str::to_owned))
        .ok_or_else(|| DaemonError::Protocol {
            what: what.clone(),
            reason: "the image has no Id".into(),
        })?;

    // Older engines export every platform they hold; so do newer ones when several or all
    // are asked for.
    let platform = match platforms.wanted() {
        Some(ps) if ps.len() == 1 && version >= PLATFORM_EXPORT_API => Some(ps[0].clone()),
        _ => None,
    };
    let key = EngineImage {
        engine: engine.id().to_owned(),
        endpoint: endpoint.address.to_string(),
        id: id.clone(),
        platform: platform.clone(),
    };
    let export = Export {
        key: key.clone(),
        engine,
        endpoint: endpoint.clone(),
        prefix,
        id,
        platform,
        label: format!("{}://{name}", engine.id()),
        name: name.to_owned(),
        progress: progress.clone(),
    };
    let lock = export_lock(&key);
    let _exporting = lock.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(image) = reuse(store, &key, name, Some(&export))? {
        return Ok(image);
    }

    let _lease = store.lease()?;
    let (root, walked) = match export.import(store, layers) {
        Err(SourceError::Daemon(DaemonError::Unlisted { member, reason, .. })) => {
            tracing::info!(
                member,
                reason,
                "a layer could not be listed, exporting again with every layer"
            );
            export.import(store, Layers::Bytes)?
        }
        imported => imported?,
    };
    record(store, root, walked, &key, name, Some(export))
}

/// How to export one engine image through the Engine API: once into the store, and again when
/// a run needs the bytes of a layer kept only as a listing.
#[derive(Clone)]
struct Export {
    /// The engine image, as the store records it.
    key: EngineImage,
    engine: Engine,
    endpoint: Endpoint,
    /// `/v1.NN`.
    prefix: String,
    /// The image ID: exported by ID, not name, so that a tag moved since the inspection is
    /// not recorded under the ID inspected.
    id: String,
    platform: Option<Platform>,
    /// `docker://NAME`, as errors and progress name it.
    label: String,
    name: String,
    progress: Reporter,
}

impl Export {
    /// Exports the image into the store, keeping `layers` of what it walks on the way. The
    /// caller holds a lease.
    fn import(&self, store: &Store, layers: Layers) -> Result<(Blob, Walked), SourceError> {
        let (engine, endpoint) = (self.engine, &self.endpoint);
        let export_path = format!("{}/images/{}/get", self.prefix, http::encode_name(&self.id));
        let mut response = None;
        if let Some(p) = &self.platform {
            let r = http::get(
                endpoint,
                &format!("{export_path}?{}", platform_query(p)),
                true,
            )?;
            if r.status == 200 {
                response = Some(r);
            } else {
                // An image that does not have this platform (a single-platform image of
                // another architecture, say): export it whole and let the comparison say what
                // it is.
                tracing::debug!(status = r.status, "export for {p} refused, exporting whole");
            }
        }
        let response = match response {
            Some(r) => r,
            None => http::get(endpoint, &export_path, true)?,
        };
        let what = format!("GET {export_path} from {endpoint}");
        let no_image = || DaemonError::NoImage {
            engine: engine.title(),
            name: self.name.clone(),
            where_: endpoint.to_string(),
        };
        let response = expect_ok(response, engine, &what, no_image)?;
        tracing::info!(
            engine = engine.id(),
            name = self.name,
            id = self.id,
            ?layers,
            "exporting the image into the store"
        );
        // Only Docker checks its classic layers against their diff IDs as it exports them, and
        // only a daemon on this machine's socket is trusted with the store, whose blobs other
        // sources reuse: a remote one's layers are hashed.
        let vouching = engine == Engine::Docker && matches!(endpoint.address, Address::Unix(_));
        let label = &self.label;
        let imported = import::import(
            store,
            self.progress.counting(label, response.body),
            label,
            vouching,
            layers,
        );
        self.progress.finish(label);
        imported
    }
}

/// The store's blobs of an engine image whose layers may be kept there as listings only
/// ([`Layers::Listings`]): opening such a layer's bytes exports the image again, once, this
/// time keeping every layer. Only what needs content gets there (files looked into,
/// `--report-dir`); the comparison of entries reads the listings.
struct Exported {
    store: Store,
    export: Export,
    /// The root the record names, which the export again must give.
    root: Digest,
    /// The outcome of exporting again, once tried.
    again: Mutex<Option<Result<(), String>>>,
}

impl Exported {
    /// Exports the image again for the layer `digest`, once. Under the lock of the first
    /// export: when both inputs name the image, the second finds the layer stored by the first.
    fn export_again(&self, digest: &Digest) -> Result<(), String> {
        let mut again = self.again.lock().unwrap_or_else(PoisonError::into_inner);
        again
            .get_or_insert_with(|| {
                let lock = export_lock(&self.export.key);
                let _exporting = lock.lock().unwrap_or_else(PoisonError::into_inner);
                if self.store.has_blob(digest) {
                    return Ok(());
                }
                let _lease = self.store.lease().map_err(|e| e.to_string())?;
                let (root, _) = self
                    .export
                    .import(&self.store, Layers::Bytes)
                    .map_err(|e| e.to_string())?;
                let digest = root
                    .descriptor
                    .map_or_else(|| Digest::sha256_of(&root.bytes), |d| d.digest);
                if digest == self.root {
                    Ok(())
                } else {
                    Err(format!(
                        "the engine exported another image ({digest}, not {})",
                        self.root
                    ))
                }
            })
            .clone()
    }
}

impl BlobSource for Exported {
    fn open(&self, digest: &Digest) -> Result<Box<dyn Read + Send + '_>, ContentError> {
        match self.store.open(digest) {
            Err(ContentError::NotFound { .. }) if self.store.has_listing(digest) => {
                tracing::info!(%digest, "a layer kept as a listing is needed whole");
                self.export_again(digest).map_err(|reason| ContentError::Io {
                    digest: digest.clone(),
                    source: std::io::Error::other(format!(
                        "the store keeps only its listing, and exporting {} again failed: {reason}",
                        self.export.label
                    )),
                })?;
                self.store.open(digest)
            }
            opened => opened,
        }
    }

    fn is_verified(&self, digest: &Digest) -> bool {
        self.store.is_verified(digest)
    }

    fn describe(&self) -> String {
        self.store.describe()
    }

    fn open_listing(&self, digest: &Digest) -> Option<Box<dyn Read + Send + '_>> {
        self.store.open_listing(digest)
    }

    fn keep_listing(&self, digest: &Digest) -> Option<Box<dyn KeptFile + '_>> {
        self.store.keep_listing(digest)
    }

    fn listed(&self, digest: &Digest) -> Option<(Compression, Digest)> {
        self.store.listed(digest)
    }
}

/// The response of a 200, the image's absence for a 404, or the engine's own message.
fn expect_ok(
    response: http::Response,
    engine: Engine,
    what: &str,
    no_image: impl Fn() -> DaemonError,
) -> Result<http::Response, DaemonError> {
    match response.status {
        200 => Ok(response),
        404 => Err(no_image()),
        status => Err(DaemonError::Api {
            status,
            engine: engine.title(),
            message: response.error_message(what),
            what: what.to_owned(),
        }),
    }
}

/// Held while one engine image is looked up and exported, so that two inputs naming the same
/// image (`docker://x docker://x`, opened in parallel) export it once.
fn export_lock(key: &EngineImage) -> Arc<Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<String, Arc<Mutex<()>>>>> = OnceLock::new();
    let mut locks = LOCKS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    locks.entry(key.key()).or_default().clone()
}

/// The image recorded for this engine image, when all of it is still in the store; the record
/// gains `name` (and an older record of that name loses it). `export` exports it again when a
/// layer kept as a listing is needed whole.
fn reuse(
    store: &Store,
    key: &EngineImage,
    name: &str,
    export: Option<&Export>,
) -> Result<Option<Image>, SourceError> {
    let Some(record) = store.find_engine_image(key)? else {
        return Ok(None);
    };
    match open_record(store, &record, export.cloned()) {
        Ok(image) => {
            // Held so that `ocidiff prune` cannot remove the record while it is named.
            let _lease = store.lease()?;
            if store.name_engine_image(key, name, None)?.is_none() {
                tracing::debug!(
                    "the record of {} was removed meanwhile, exporting again",
                    key.id
                );
                return Ok(None);
            }
            tracing::info!(
                id = key.id,
                "the image is in the store already, not exporting it"
            );
            Ok(Some(image))
        }
        // Freed since (`ocidiff rm` of a shared blob, a cleaned cache): export again.
        Err(e) => {
            tracing::debug!(
                "the store's copy of {} is unusable ({e}), exporting again",
                key.id
            );
            Ok(None)
        }
    }
}

/// Records an imported image under its engine ID, read by `name`, and opens it from the store.
/// The caller holds a lease.
fn record(
    store: &Store,
    root: crate::model::Blob,
    walked: crate::layer::Walked,
    key: &EngineImage,
    name: &str,
    export: Option<Export>,
) -> Result<Image, SourceError> {
    let imported = Image {
        reference: ImageRef::Docker(key.id.clone()),
        root,
        blobs: Box::new(store.clone()),
        walked: Default::default(),
    };
    let copied = crate::store::copy(store, &imported)?;
    let record = ImageRecord {
        name: None,
        root: copied.root,
        platforms: copied.platforms,
        size: copied.size,
        pulled: jiff::Timestamp::now(),
        engine: Some(key.clone()),
        engine_names: Vec::new(),
        loaded_from: None,
    };
    // A fresh record is always written and returned.
    let record = store
        .name_engine_image(key, name, Some(record.clone()))?
        .unwrap_or(record);
    Ok(Image {
        walked,
        ..open_record(store, &record, export)?
    })
}

/// Opens a recorded engine image from the store, its listed layers exported again by `export`
/// when their bytes are needed.
fn open_record(
    store: &Store,
    record: &ImageRecord,
    export: Option<Export>,
) -> Result<Image, crate::store::StoreError> {
    let image = store.open_image(record)?;
    Ok(match export {
        Some(export) => Image {
            blobs: Box::new(Exported {
                store: store.clone(),
                export,
                root: record.root.digest.clone(),
                again: Mutex::default(),
            }),
            ..image
        },
        None => image,
    })
}

/// Podman without its API service: `podman image inspect` for the ID, `podman save` streamed
/// into the store.
fn through_podman_save(
    store: &Store,
    name: &str,
    progress: &Reporter,
) -> Result<Image, SourceError> {
    let inspect = ["image", "inspect", "--format", "{{.Id}}", name];
    let out = Command::new("podman")
        .args(inspect)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| DaemonError::Spawn {
            command: format!("podman {}", inspect.join(" ")),
            source,
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        // Podman 4 says "image not known", older ones "no such image".
        if stderr.contains("not known") || stderr.contains("no such image") {
            return Err(DaemonError::NoImage {
                engine: Engine::Podman.title(),
                name: name.to_owned(),
                where_: "podman image inspect".into(),
            }
            .into());
        }
        return Err(DaemonError::Command {
            command: format!("podman {}", inspect.join(" ")),
            status: out.status,
            stderr,
        }
        .into());
    }
    let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let key = EngineImage {
        engine: Engine::Podman.id().to_owned(),
        endpoint: "podman save".into(),
        id: id.clone(),
        platform: None,
    };
    let lock = export_lock(&key);
    let _exporting = lock.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(image) = reuse(store, &key, name, None)? {
        return Ok(image);
    }

    let _lease = store.lease()?;
    let save = ["save", "--format", "docker-archive", &id];
    let command = format!("podman {}", save.join(" "));
    tracing::info!(
        name,
        id,
        "exporting the image into the store with {command}"
    );
    let mut child = Command::new("podman")
        .args(save)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| DaemonError::Spawn {
            command: command.clone(),
            source,
        })?;
    // Drained on its own thread, so that a chatty podman never blocks on a full pipe.
    let stderr = child.stderr.take().map(|mut e| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = e.read_to_string(&mut text);
            text
        })
    });
    let imported = match child.stdout.take() {
        Some(stdout) => {
            let label = format!("podman://{name}");
            // Kept whole: only an export through the Engine API is made again when needed.
            let stream = progress.counting(&label, stdout);
            let imported = import::import(store, stream, &label, false, Layers::Bytes);
            progress.finish(&label);
            imported
        }
        None => Err(DaemonError::Protocol {
            what: command.clone(),
            reason: "no output pipe".into(),
        }
        .into()),
    };
    let status = child.wait().map_err(|source| DaemonError::Spawn {
        command: command.clone(),
        source,
    })?;
    let stderr = stderr
        .and_then(|t| t.join().ok())
        .unwrap_or_default()
        .trim()
        .to_owned();
    // podman's own complaint explains a cut stream better than the tar reader can; but when
    // it has none (it died of the pipe closed by a failed import), the import's error is it.
    if !status.success() && (!stderr.is_empty() || imported.is_ok()) {
        return Err(DaemonError::Command {
            command,
            status,
            stderr,
        }
        .into());
    }
    let (root, walked) = imported?;
    record(store, root, walked, &key, name, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_parse_and_order() {
        assert_eq!(parse_api_version("1.41"), Some((1, 41)));
        assert_eq!(parse_api_version(" 1.50 "), Some((1, 50)));
        assert_eq!(parse_api_version("1"), None);
        assert!(parse_api_version("1.41").unwrap() < PLATFORM_EXPORT_API);
        assert!(parse_api_version("1.100").unwrap() > PLATFORM_EXPORT_API);
    }

    #[test]
    fn platform_queries_are_json_encoded() {
        let p: Platform = "linux/arm64/v8".parse().unwrap();
        assert_eq!(
            platform_query(&p),
            "platform=%7B%22os%22%3A%22linux%22%2C%22architecture%22%3A%22arm64%22%2C%22variant%22%3A%22v8%22%7D"
        );
        let decoded =
            percent_encoding::percent_decode_str(&platform_query(&p)["platform=".len()..])
                .decode_utf8()
                .unwrap()
                .into_owned();
        let v: serde_json::Value = serde_json::from_str(&decoded).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"os": "linux", "architecture": "arm64", "variant": "v8"})
        );
    }

    #[test]
    fn unreachable_sockets_say_which_and_why() {
        let err = DaemonError::Unreachable {
            endpoint: endpoint::parse_host("unix:///nowhere/docker.sock", "DOCKER_HOST").unwrap(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        let msg = err.to_string();
        assert!(
            msg.contains("unix:///nowhere/docker.sock (from DOCKER_HOST)"),
            "{msg}"
        );
        assert!(msg.contains("DOCKER_HOST names the socket"), "{msg}");
    }
}
