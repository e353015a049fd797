//! Images in containerd's image store (`containerd://REF`), read through containerd's API over
//! its unix socket: the image record from the images service, and every manifest, config and
//! layer straight from the content store as the walk needs it — nothing is exported or copied.
//!
//! Names: `containerd://REF` looks in the namespace of [`ContainerdOptions::namespace`]
//! (`--containerd-namespace`, default `default`); `containerd://NS//REF` names the namespace
//! itself — a `//` never occurs inside an image reference, so the two cannot be confused. REF
//! is tried as it is, then normalised as Docker does (`alpine` →
//! `docker.io/library/alpine:latest`, which is how nerdctl, ctr and Docker store names); a bare
//! `sha256:…` names the image whose target has that digest.
//!
//! containerd keeps content only for the platforms that were pulled, while the index of a
//! multi-platform image lists them all; opening checks that the platforms to be compared are
//! all there, so that a missing one is reported as such rather than as a missing blob.

mod api;
mod blobs;

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use api::{Api, ConnectError, ImageRecord};
use blobs::ContentStore;

use super::SourceError;
use crate::content::{self, Limits};
use crate::image::Image;
use crate::model::{Descriptor, Digest, Document, Matcher, MediaKind, PlatformChoice, is_runnable};
use crate::reference::{DockerRef, ImageRef};

/// The socket containerd listens on unless told otherwise.
pub const DEFAULT_ADDRESS: &str = "/run/containerd/containerd.sock";
/// The namespace nerdctl and ctr use unless told otherwise (Docker uses `moby`, Kubernetes
/// `k8s.io`).
pub const DEFAULT_NAMESPACE: &str = "default";

/// Where containerd is and which namespace to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerdOptions {
    /// The socket; a `unix://` prefix is accepted.
    pub address: String,
    /// The namespace for references that do not name one.
    pub namespace: String,
}

impl Default for ContainerdOptions {
    fn default() -> Self {
        ContainerdOptions {
            address: DEFAULT_ADDRESS.to_owned(),
            namespace: DEFAULT_NAMESPACE.to_owned(),
        }
    }
}

fn holds(present: &[String]) -> String {
    if present.is_empty() {
        "it holds no platform's content".to_owned()
    } else {
        format!("it holds: {}", present.join(", "))
    }
}

/// Why an image could not be read from containerd.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContainerdError {
    /// No socket at the address: containerd is probably not running.
    #[error("containerd's socket {socket} does not exist: is containerd running?")]
    NoSocket {
        /// The socket path.
        socket: PathBuf,
    },
    /// The socket exists but this user may not connect to it.
    #[error("permission denied on containerd's socket {socket}: it is usually only open to root")]
    Forbidden {
        /// The socket path.
        socket: PathBuf,
    },
    /// The socket exists but connecting to it fails.
    #[error("nothing answers on containerd's socket {socket} ({source}): is containerd running?")]
    Unreachable {
        /// The socket path.
        socket: PathBuf,
        /// The connection error.
        source: io::Error,
    },
    /// Something answers on the socket, but not containerd's gRPC API.
    #[error("{socket} does not answer as containerd does ({message})")]
    NotContainerd {
        /// The socket path.
        socket: PathBuf,
        /// What it answered, or why the transport failed.
        message: String,
    },
    /// A namespace name containerd would refuse.
    #[error(
        "invalid containerd namespace {0:?}: letters and digits, separated by single '.', '_' \
         or '-'"
    )]
    BadNamespace(String),
    /// containerd has no namespace of that name.
    #[error("containerd at {socket} has no namespace {namespace:?}; it has: {available}")]
    NoNamespace {
        /// The socket path.
        socket: PathBuf,
        /// The namespace asked for.
        namespace: String,
        /// The namespaces it has, as one phrase.
        available: String,
    },
    /// The namespace holds no image of that name (tried as given and normalised).
    #[error("containerd has no image {wanted:?} in namespace {namespace:?}{suggestions}")]
    NoImage {
        /// The name asked for.
        wanted: String,
        /// The namespace looked in.
        namespace: String,
        /// Up to five names close to it, ready to append to the message (may say the namespace is empty).
        suggestions: String,
    },
    /// An image record without a target descriptor.
    #[error("containerd image {name:?} has no target descriptor")]
    NoTarget {
        /// The image's name in containerd.
        name: String,
    },
    /// An image record whose target digest does not parse.
    #[error("containerd image {name:?} has an invalid target digest {digest:?}")]
    BadTarget {
        /// The image's name in containerd.
        name: String,
        /// The digest as containerd holds it.
        digest: String,
    },
    /// A platform to compare whose content was never pulled into containerd.
    #[error(
        "containerd has no content for platform {platform} of {image}: blob {digest} is \
         missing (containerd stores only the platforms that were pulled); {}",
        holds(.present)
    )]
    PlatformNotPulled {
        /// The image's name in containerd.
        image: String,
        /// The platform, as displayed (`linux/arm64`), or `(none)`.
        platform: String,
        /// The first blob of it found missing.
        digest: String,
        /// The platforms whose content containerd holds.
        present: Vec<String>,
    },
    /// A blob the image refers to is not in the content store.
    #[error("containerd has no content for blob {digest} of {image}")]
    MissingBlob {
        /// The image's name in containerd.
        image: String,
        /// The missing blob's digest.
        digest: String,
    },
    /// The async runtime the gRPC client runs on could not be started.
    #[error("cannot start the containerd client's thread: {0}")]
    Runtime(io::Error),
    /// Any other error status from containerd's API.
    #[error("containerd at {socket}: {message}")]
    Api {
        /// The socket path.
        socket: PathBuf,
        /// containerd's status, as text.
        message: String,
    },
}

/// A reference split into its namespace and image name.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target<'a> {
    namespace: &'a str,
    name: &'a str,
}

/// Splits `NS//REF` (or plain `REF`, in `default_ns`).
fn split_reference<'a>(reference: &'a str, default_ns: &'a str) -> Target<'a> {
    match reference.split_once("//") {
        Some((namespace, name)) => Target { namespace, name },
        None => Target {
            namespace: default_ns,
            name: reference,
        },
    }
}

/// containerd's rule for namespace names (`namespaces.Validate`).
fn valid_namespace(ns: &str) -> bool {
    ns.len() <= 76
        && !ns.is_empty()
        && ns
            .split(['.', '_', '-'])
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Opens `containerd://REF` as `options` says. `platforms` are checked to be present in the
/// content store (see the module doc). Must not be called from inside an async runtime.
pub fn open(
    reference: &ImageRef,
    name: &str,
    options: &ContainerdOptions,
    platforms: &PlatformChoice,
) -> Result<Image, SourceError> {
    let socket = PathBuf::from(
        options
            .address
            .strip_prefix("unix://")
            .unwrap_or(&options.address),
    );
    let target = split_reference(name, &options.namespace);
    if !valid_namespace(target.namespace) {
        return Err(ContainerdError::BadNamespace(target.namespace.to_owned()).into());
    }
    if target.name.is_empty() {
        return Err(crate::reference::RefError::EmptyName(reference.to_string()).into());
    }
    let runtime = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("containerd-client")
            .enable_all()
            .build()
            .map_err(ContainerdError::Runtime)?,
    );
    let api = runtime
        .block_on(Api::connect(&socket, target.namespace))
        .map_err(|e| connect_error(&socket, e))?;
    let api_err = |status: tonic::Status| api_error(&socket, &status);
    let record = runtime
        .block_on(find_image(&api, &socket, &target))
        .map_err(SourceError::from)?;
    let desc = descriptor(&record)?;
    let store = ContentStore {
        runtime: runtime.clone(),
        api: api.clone(),
        name: format!(
            "containerd image {} (namespace {} at {})",
            record.name,
            target.namespace,
            socket.display()
        ),
    };
    let image_label = format!("{} in namespace {}", record.name, target.namespace);
    let root_bytes = content::read_json_blob(&store, &desc, Limits::default().json_bytes).map_err(
        |e| match e {
            content::ContentError::NotFound { digest, .. } => {
                SourceError::from(ContainerdError::MissingBlob {
                    image: image_label.clone(),
                    digest: digest.to_string(),
                })
            }
            other => other.into(),
        },
    )?;
    let root = crate::model::Blob {
        descriptor: Some(desc),
        bytes: root_bytes,
    };
    runtime.block_on(check_platforms(
        &api,
        &store,
        &image_label,
        &root,
        platforms,
        api_err,
    ))?;
    Ok(Image {
        reference: reference.clone(),
        root,
        blobs: Box::new(store),
        walked: Default::default(),
    })
}

fn connect_error(socket: &Path, e: ConnectError) -> ContainerdError {
    let socket = socket.to_owned();
    match e {
        ConnectError::Socket(e) => match e.kind() {
            io::ErrorKind::NotFound => ContainerdError::NoSocket { socket },
            io::ErrorKind::PermissionDenied => ContainerdError::Forbidden { socket },
            _ => ContainerdError::Unreachable { socket, source: e },
        },
        ConnectError::Transport(message) => ContainerdError::NotContainerd { socket, message },
        ConnectError::Namespace(ns) => ContainerdError::BadNamespace(ns),
    }
}

fn api_error(socket: &Path, status: &tonic::Status) -> ContainerdError {
    match status.code() {
        // What an HTTP server that is not containerd (Docker's socket, say) answers.
        tonic::Code::Unimplemented | tonic::Code::Internal | tonic::Code::Unknown
            if !status.message().is_empty() && status.metadata().is_empty() =>
        {
            ContainerdError::NotContainerd {
                socket: socket.to_owned(),
                message: api::status_text(status),
            }
        }
        _ => ContainerdError::Api {
            socket: socket.to_owned(),
            message: api::status_text(status),
        },
    }
}

/// The image record a name means: as given, then Docker-normalised, then (for a digest) the
/// image whose target it is. A miss tells whether the namespace exists, and which names are
/// close.
async fn find_image(
    api: &Api,
    socket: &Path,
    target: &Target<'_>,
) -> Result<ImageRecord, ContainerdError> {
    let api_err = |status: tonic::Status| api_error(socket, &status);
    if let Some(record) = api.get_image(target.name).await.map_err(api_err)? {
        return Ok(record);
    }
    let normalized = DockerRef::parse(target.name).ok();
    if let Some(full) = &normalized {
        let full = full.to_string();
        if full != target.name
            && let Some(record) = api.get_image(&full).await.map_err(api_err)?
        {
            return Ok(record);
        }
    }
    let images = api.list_images().await.map_err(api_err)?;
    if let Ok(digest) = target.name.parse::<Digest>() {
        let digest = digest.to_string();
        if let Some(hit) = images
            .iter()
            .find(|i| i.target.as_ref().is_some_and(|t| t.digest == digest))
        {
            return Ok(hit.clone());
        }
    }
    // `name@digest` for an image pulled by tag: the record of that repository with that target.
    if let Some(r) = normalized.as_ref().filter(|r| r.digest.is_some()) {
        let digest = r.digest.as_ref().map(ToString::to_string);
        let repo = r.name();
        if let Some(hit) = images.iter().find(|i| {
            i.target.as_ref().map(|t| &t.digest) == digest.as_ref()
                && DockerRef::parse(&i.name).is_ok_and(|n| n.name() == repo)
        }) {
            return Ok(hit.clone());
        }
    }
    if images.is_empty() {
        let namespaces = api.namespaces().await.map_err(api_err)?;
        if !namespaces.iter().any(|n| n == target.namespace) {
            return Err(ContainerdError::NoNamespace {
                socket: socket.to_owned(),
                namespace: target.namespace.to_owned(),
                available: if namespaces.is_empty() {
                    "none".to_owned()
                } else {
                    namespaces.join(", ")
                },
            });
        }
    }
    let names: Vec<&str> = images.iter().map(|i| i.name.as_str()).collect();
    Err(ContainerdError::NoImage {
        wanted: target.name.to_owned(),
        namespace: target.namespace.to_owned(),
        suggestions: suggestions(target.name, &names),
    })
}

/// Up to five names near `wanted`: those sharing its repository's last component first, then
/// any, so that a typo or a missing tag is easy to spot.
fn suggestions(wanted: &str, names: &[&str]) -> String {
    const SHOWN: usize = 5;
    if names.is_empty() {
        return " (the namespace holds no image)".to_owned();
    }
    let stem = wanted
        .split(['@', ':'])
        .next()
        .unwrap_or(wanted)
        .rsplit('/')
        .next()
        .unwrap_or(wanted)
        .to_ascii_lowercase();
    let mut close: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !stem.is_empty() && n.to_ascii_lowercase().contains(&stem))
        .collect();
    let label = if close.is_empty() {
        close = names.to_vec();
        "it holds"
    } else {
        "close names"
    };
    close.sort_unstable();
    let more = close.len().saturating_sub(SHOWN);
    close.truncate(SHOWN);
    let mut out = format!("; {label}: {}", close.join(", "));
    if more > 0 {
        let _ = write!(out, " and {more} more");
    }
    out
}

fn descriptor(record: &ImageRecord) -> Result<Descriptor, ContainerdError> {
    let target = record
        .target
        .as_ref()
        .ok_or_else(|| ContainerdError::NoTarget {
            name: record.name.clone(),
        })?;
    let bad = || ContainerdError::BadTarget {
        name: record.name.clone(),
        digest: target.digest.clone(),
    };
    Ok(Descriptor {
        media_type: target.media_type.clone(),
        digest: target.digest.parse().map_err(|_| bad())?,
        size: u64::try_from(target.size).map_err(|_| bad())?,
        platform: None,
        annotations: target
            .annotations
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        urls: Vec::new(),
        artifact_type: None,
    })
}

/// Deepest nesting of indexes followed, as the comparison's own walk allows.
const MAX_DEPTH: usize = 8;

/// Checks that containerd holds every blob of the platforms to be compared (the manifests the
/// comparison will choose), so that a platform not pulled is named as such.
async fn check_platforms(
    api: &Api,
    store: &ContentStore,
    image: &str,
    root: &crate::model::Blob,
    platforms: &PlatformChoice,
    api_err: impl Fn(tonic::Status) -> ContainerdError + Copy,
) -> Result<(), SourceError> {
    let limit = Limits::default().json_bytes;
    let entries = match Document::parse(
        &root.bytes,
        root.descriptor.as_ref().map(|d| &*d.media_type),
    ) {
        // Malformed roots are the comparison's to report, with its own context.
        Err(_) => return Ok(()),
        Ok(Document::Manifest(_)) => {
            // One platform only: its blobs are either all there or the image is broken.
            if let Some(desc) = &root.descriptor
                && let Some(missing) = missing_blob(api, store, desc, limit, api_err).await?
            {
                return Err(ContainerdError::MissingBlob {
                    image: image.to_owned(),
                    digest: missing,
                }
                .into());
            }
            return Ok(());
        }
        Ok(Document::Index(index)) => index.manifests,
    };
    let mut manifests = Vec::new();
    flatten(store, entries.clone(), &mut manifests, 0, limit).await;
    let wanted: Vec<Descriptor> = match platforms.wanted() {
        Some(ps) => {
            let mut wanted = Vec::new();
            for p in &ps {
                if let Some(d) = best(store, &entries, &Matcher::only(p), limit).await {
                    wanted.push(d);
                }
            }
            wanted
        }
        None => manifests
            .iter()
            .filter(|d| d.kind() == MediaKind::Manifest && is_runnable(d))
            .cloned()
            .collect(),
    };
    let mut present = Vec::new();
    let mut first_missing = None;
    for d in manifests
        .iter()
        .filter(|d| d.kind() == MediaKind::Manifest && is_runnable(d))
    {
        let missing = missing_blob(api, store, d, limit, api_err).await?;
        let platform = d
            .platform
            .as_ref()
            .map_or_else(|| "(none)".to_owned(), ToString::to_string);
        match missing {
            None => present.push(platform),
            Some(digest) => {
                if first_missing.is_none() && wanted.iter().any(|w| w.digest == d.digest) {
                    first_missing = Some((platform, digest));
                }
            }
        }
    }
    match first_missing {
        None => Ok(()),
        Some((platform, digest)) => Err(ContainerdError::PlatformNotPulled {
            image: image.to_owned(),
            platform,
            digest,
            present,
        }
        .into()),
    }
}

/// The manifest a runtime asked for by `matcher` would follow (the comparison's own choice,
/// see [`crate::source::select`]), through nested indexes; `None` when there is none, or an
/// index on the way cannot be read: the comparison reports why.
async fn best(
    store: &ContentStore,
    entries: &[Descriptor],
    matcher: &Matcher,
    limit: u64,
) -> Option<Descriptor> {
    let mut level: Vec<Descriptor> = entries.to_vec();
    for _ in 0..=MAX_DEPTH {
        let runnable: Vec<Descriptor> = level.iter().filter(|d| is_runnable(d)).cloned().collect();
        let chosen = matcher.best(&runnable)?.clone();
        if chosen.kind() != MediaKind::Index {
            return Some(chosen);
        }
        let bytes = read_json(store, &chosen, limit).await.ok()?;
        match Document::parse(&bytes, Some(&chosen.media_type)) {
            Ok(Document::Index(nested)) => level = nested.manifests,
            _ => return None,
        }
    }
    None
}

/// Nested indexes flattened in order; an index that cannot be read is left for the walk to
/// report.
async fn flatten(
    store: &ContentStore,
    entries: Vec<Descriptor>,
    out: &mut Vec<Descriptor>,
    depth: usize,
    limit: u64,
) {
    for d in entries {
        if d.kind() != MediaKind::Index {
            out.push(d);
            continue;
        }
        if depth >= MAX_DEPTH {
            continue;
        }
        let Ok(bytes) = read_json(store, &d, limit).await else {
            continue;
        };
        if let Ok(Document::Index(nested)) = Document::parse(&bytes, Some(&d.media_type)) {
            Box::pin(flatten(store, nested.manifests, out, depth + 1, limit)).await;
        }
    }
}

/// Reads a small blob from inside the runtime (the `BlobSource` side blocks on it instead).
async fn read_json(
    store: &ContentStore,
    desc: &Descriptor,
    limit: u64,
) -> Result<Vec<u8>, tonic::Status> {
    if desc.size > limit {
        return Err(tonic::Status::out_of_range("too large"));
    }
    let mut stream = store.api.read(&desc.digest.to_string()).await?;
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.message().await? {
        bytes.extend_from_slice(&chunk.data);
        if bytes.len() as u64 > limit {
            return Err(tonic::Status::out_of_range("too large"));
        }
    }
    Ok(bytes)
}

/// The first blob of a manifest (itself, its config, its layers) that containerd lacks.
async fn missing_blob(
    api: &Api,
    store: &ContentStore,
    manifest: &Descriptor,
    limit: u64,
    api_err: impl Fn(tonic::Status) -> ContainerdError,
) -> Result<Option<String>, ContainerdError> {
    let key = manifest.digest.to_string();
    if api.info(&key).await.map_err(&api_err)?.is_none() {
        return Ok(Some(key));
    }
    let Ok(bytes) = read_json(store, manifest, limit).await else {
        return Ok(None);
    };
    let Ok(Document::Manifest(m)) = Document::parse(&bytes, Some(&manifest.media_type)) else {
        return Ok(None);
    };
    let checks = std::iter::once(&m.config)
        .chain(&m.layers)
        .map(|d| d.digest.to_string())
        .map(|digest| async move {
            let held = api.info(&digest).await?;
            Ok::<_, tonic::Status>((digest, held.is_some()))
        });
    for result in futures_util::future::join_all(checks).await {
        let (digest, held) = result.map_err(&api_err)?;
        if !held {
            return Ok(Some(digest));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_prefix_needs_a_double_slash() {
        assert_eq!(
            split_reference("moby//alpine:3.18", "default"),
            Target {
                namespace: "moby",
                name: "alpine:3.18"
            }
        );
        assert_eq!(
            split_reference("ghcr.io/o/app:1", "default"),
            Target {
                namespace: "default",
                name: "ghcr.io/o/app:1"
            }
        );
        assert_eq!(
            split_reference("k8s.io//registry.k8s.io/pause:3.9", "default"),
            Target {
                namespace: "k8s.io",
                name: "registry.k8s.io/pause:3.9"
            }
        );
    }

    #[test]
    fn namespaces_follow_containerds_rule() {
        for ok in ["default", "moby", "k8s.io", "a-b_c.d", "x1"] {
            assert!(valid_namespace(ok), "{ok}");
        }
        for bad in ["", "a..b", "-a", "a/b", "a b", "é", &"a".repeat(77)] {
            assert!(!valid_namespace(bad), "{bad}");
        }
    }

    #[test]
    fn suggestions_prefer_names_sharing_the_stem() {
        let names = [
            "docker.io/library/alpine:3.18",
            "docker.io/library/alpine:3.19",
            "docker.io/library/busybox:1",
        ];
        let s = suggestions("alpine:3.20", &names);
        assert_eq!(
            s,
            "; close names: docker.io/library/alpine:3.18, docker.io/library/alpine:3.19"
        );
        let s = suggestions("nginx", &names);
        assert!(s.starts_with("; it holds: "), "{s}");
        assert_eq!(suggestions("x", &[]), " (the namespace holds no image)");
    }
}
