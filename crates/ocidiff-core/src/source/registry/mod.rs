//! Pulling images from OCI distribution (v2) registries into the [`Store`].
//!
//! [`pull`] resolves a reference to its root manifest or index, picks the platforms asked for,
//! and downloads their manifests, configs and layers (only those), several at once, each
//! streamed into the store and checked against its digest and size on the way.
//! [`start_all`] returns as soon as manifests and configs are in, leaving the layers to
//! download in the background while the store serves them as they arrive, so that a
//! comparison reads each layer in the same pass as its download. The library prints
//! nothing: progress goes to an optional [`Progress`] sink.

mod auth;
mod client;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::{StreamExt, TryStreamExt};
use reqwest::{Method, StatusCode};

pub use super::options::{CredentialSources, PullOptions};
pub use crate::model::{Progress, Unit};
pub use auth::DOCKER_HUB_AUTH_KEY;

use client::{Registry, is_transient_error, status_error};

use crate::content::{ContentError, Limit, LimitExceeded};
use crate::model::{
    Descriptor, Digest, Document, DocumentError, Hasher, Manifest, Matcher, MediaKind, Platform,
    is_runnable, media,
};
use crate::reference::DockerRef;
use crate::source::select::{self, SelectError};
use crate::store::{ImageRecord, Publisher, Store, StoreError};

/// The manifest types we can read, in the order we prefer them.
const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.docker.distribution.manifest.v2+json";

pub use crate::model::PlatformChoice;

/// Why an image could not be pulled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The registry refused the credentials, or asked for authentication in a way that cannot be met.
    #[error("authentication failed for {registry}: {reason}")]
    AuthFailed {
        /// The registry's host name.
        registry: String,
        /// What went wrong.
        reason: String,
    },
    /// The credentials for the registry could not be read (a docker config, a credential helper).
    #[error("credentials for {registry}: {reason}")]
    Credentials {
        /// The registry's host name.
        registry: String,
        /// Which source failed, and why.
        reason: String,
    },
    /// A credentials file (the Docker config, `--authfile`) cannot be read.
    #[error("credentials for {registry}: {path}: {source}")]
    CredentialsFile {
        /// The registry's host name.
        registry: String,
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A credentials file is not the JSON of a Docker config.
    #[error("credentials for {registry}: {path}: {source}")]
    CredentialsJson {
        /// The registry's host name.
        registry: String,
        /// The file.
        path: std::path::PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The credential lookup (which may run a helper) did not finish.
    #[error("credentials for {registry}: {source}")]
    CredentialsLookup {
        /// The registry's host name.
        registry: String,
        /// Why the lookup's task ended.
        #[source]
        source: tokio::task::JoinError,
    },
    /// The token service answered with something that is not a token.
    #[error(
        "authentication failed for {registry}: unreadable answer from the token service {realm}: {source}"
    )]
    TokenAnswer {
        /// The registry's host name.
        registry: String,
        /// The token service's URL.
        realm: String,
        /// Why the answer could not be read.
        #[source]
        source: reqwest::Error,
    },
    /// A request failed below HTTP (connection, TLS, timeout).
    #[error("{url}: {source}")]
    Http {
        /// The URL requested.
        url: String,
        /// The client's error.
        #[source]
        source: reqwest::Error,
    },
    /// The registry answered with an unexpected HTTP status.
    #[error("{url}: the registry answered {status}: {message}")]
    Status {
        /// The URL requested.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The registry's error message, or the body's start.
        message: String,
    },
    /// The registry does not have the image.
    #[error("image {reference} not found")]
    NotFound {
        /// The reference as the user gave it.
        reference: String,
    },
    /// A manifest or index that does not parse.
    #[error("manifest {reference}: {source}")]
    Document {
        /// The reference it was fetched for.
        reference: String,
        /// What is wrong with it.
        source: DocumentError,
    },
    /// A manifest whose content does not hash to the digest it was asked for by.
    #[error("manifest {reference} from the registry hashes to {actual}, not {expected}")]
    DigestMismatch {
        /// The reference it was fetched for.
        reference: String,
        /// The digest asked for.
        expected: Digest,
        /// The digest of what arrived.
        actual: Digest,
    },
    /// A document ocidiff does not read (a Docker schema 1 manifest).
    #[error("{reference}: {reason}")]
    Unsupported {
        /// The reference it was fetched for.
        reference: String,
        /// Why it is not read.
        reason: String,
    },
    /// No manifest in the index matches the platforms asked for.
    #[error("{reference}: {source}")]
    Select {
        /// The reference as the user gave it.
        reference: String,
        /// Boxed: it names platforms and digests, and errors are passed around a lot.
        source: Box<SelectError>,
    },
    /// The HTTP client could not be built.
    #[error("cannot start the HTTP client: {source}")]
    Client {
        /// The client's error.
        source: reqwest::Error,
    },
    /// The async runtime the downloads run on could not be started.
    #[error("cannot start the download threads: {0}")]
    Runtime(std::io::Error),
    /// A layer both images need, downloaded for the other one, failed.
    #[error("{0}")]
    SharedDownload(String),
    /// Writing into the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A downloaded blob failed verification or a limit.
    #[error(transparent)]
    Content(#[from] ContentError),
}

/// Pulls `reference` into the store and records it; returns the digest of its root manifest
/// or index. Blobs already in the store are not downloaded again. Must not be called from
/// inside an async runtime (it runs its own).
pub fn pull(
    store: &Store,
    reference: &DockerRef,
    platforms: PlatformChoice,
    options: &PullOptions,
) -> Result<Digest, RegistryError> {
    pull_all(store, &[(reference.clone(), platforms)], options)
        .pop()
        .unwrap_or_else(|| unreachable!("one request gives one result"))
}

/// Pulls several images at once (the two sides of a comparison), their downloads sharing
/// one bound. Returns one result per request, in order.
pub fn pull_all(
    store: &Store,
    requests: &[(DockerRef, PlatformChoice)],
    options: &PullOptions,
) -> Vec<Result<Digest, RegistryError>> {
    let (roots, downloads) = start_all(store, requests, options);
    roots
        .into_iter()
        .zip(downloads.wait())
        .map(|(root, done)| Ok(root?.digest).and_then(|d| done.map(|()| d)))
        .collect()
}

/// Starts pulling several images: returns, per request, its root descriptor once its
/// manifests and config are in the store, while its layers keep downloading in the
/// background. The store serves those layers as they arrive (readers wait for bytes still to
/// come and see a failed download as an error), so a comparison can walk them in the same pass
/// as the download. [`Downloads::wait`] says how the downloads ended and records the images;
/// dropping it stops them. A blob both images need is downloaded once.
pub fn start_all(
    store: &Store,
    requests: &[(DockerRef, PlatformChoice)],
    options: &PullOptions,
) -> (Vec<Result<Descriptor, RegistryError>>, Downloads) {
    let fail_all = |e: RegistryError| {
        let msg = e.to_string();
        let mut out = vec![Err(e)];
        out.extend(
            (1..requests.len())
                .map(|_| Err(RegistryError::Runtime(std::io::Error::other(msg.clone())))),
        );
        (out, Downloads::none(requests.len()))
    };
    let lease = match store.lease() {
        Ok(l) => l,
        Err(e) => return fail_all(e.into()),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail_all(RegistryError::Runtime(e)),
    };
    let options = Arc::new(options.clone());
    let permits = Arc::new(tokio::sync::Semaphore::new(
        options.max_concurrent_downloads.max(1),
    ));
    let pulls: Vec<Arc<Pull>> = requests
        .iter()
        .map(|(reference, _)| {
            Arc::new(Pull {
                store: store.clone(),
                reference: reference.clone(),
                options: options.clone(),
                permits: permits.clone(),
                done: AtomicU64::new(0),
                total: AtomicU64::new(0),
            })
        })
        .collect();
    let prepared = runtime.block_on(futures_util::future::join_all(
        pulls
            .iter()
            .zip(requests)
            .map(|(pull, (_, choice))| pull.prepare(choice)),
    ));

    // Each missing layer is announced to the store by the first image that needs it, which
    // downloads it; the others wait for that download.
    let mut shared: HashMap<Digest, tokio::sync::watch::Receiver<SharedOutcome>> = HashMap::new();
    let mut roots = Vec::new();
    let mut tasks = Vec::new();
    for (pull, prepared) in pulls.into_iter().zip(prepared) {
        let prepared = match prepared {
            Ok(p) => p,
            Err(e) => {
                roots.push(Err(e));
                tasks.push(None);
                continue;
            }
        };
        let mut own = Vec::new();
        let mut others = Vec::new();
        for desc in &prepared.missing {
            if let Some(rx) = shared.get(&desc.digest) {
                others.push(rx.clone());
                continue;
            }
            let (tx, rx) = tokio::sync::watch::channel(None);
            shared.insert(desc.digest.clone(), rx);
            let publisher = store.announce(&desc.digest);
            own.push((desc.clone(), publisher, tx));
        }
        // Configs came first; the layers another image downloads are not this one's.
        let layers: u64 = own.iter().map(|(d, _, _)| d.size).sum();
        pull.total.store(
            pull.done.load(Ordering::Relaxed) + layers,
            Ordering::Relaxed,
        );
        roots.push(Ok(prepared.record.root.clone()));
        tasks.push(Some(runtime.spawn(pull.finish(prepared, own, others))));
    }
    (
        roots,
        Downloads {
            runtime: Some(runtime),
            tasks,
            _lease: Some(lease),
        },
    )
}

/// How a layer download ended (`None` while it runs), for the other images that need it.
type SharedOutcome = Option<Result<(), String>>;

/// A layer an image downloads: what it announced to the store, and where it tells the other
/// images that need the layer how the download ended.
type OwnDownload = (
    Descriptor,
    Option<Publisher>,
    tokio::sync::watch::Sender<SharedOutcome>,
);

/// Layer downloads running in the background: see [`start_all`].
pub struct Downloads {
    runtime: Option<tokio::runtime::Runtime>,
    /// Per request; `None` for one that failed before downloading layers.
    tasks: Vec<Option<tokio::task::JoinHandle<Result<(), RegistryError>>>>,
    _lease: Option<crate::store::Lease>,
}

impl Downloads {
    fn none(requests: usize) -> Downloads {
        Downloads {
            runtime: None,
            tasks: (0..requests).map(|_| None).collect(),
            _lease: None,
        }
    }

    /// Waits for every download; one result per request (`Ok` for a request that had
    /// already failed: [`start_all`] gave its error).
    pub fn wait(mut self) -> Vec<Result<(), RegistryError>> {
        let tasks = std::mem::take(&mut self.tasks);
        let Some(runtime) = self.runtime.take() else {
            return tasks.iter().map(|_| Ok(())).collect();
        };
        runtime.block_on(async {
            let mut out = Vec::new();
            for task in tasks {
                out.push(match task {
                    None => Ok(()),
                    Some(handle) => handle
                        .await
                        .unwrap_or_else(|e| Err(RegistryError::Runtime(std::io::Error::other(e)))),
                });
            }
            out
        })
    }
}

/// One image being pulled.
struct Pull {
    store: Store,
    reference: DockerRef,
    options: Arc<PullOptions>,
    permits: Arc<tokio::sync::Semaphore>,
    done: AtomicU64,
    total: AtomicU64,
}

/// An image whose manifests and configs are in the store.
struct Prepared {
    registry: Arc<Registry>,
    /// Layers not in the store yet.
    missing: Vec<Descriptor>,
    /// What the store will record once they are.
    record: ImageRecord,
}

impl Pull {
    /// Fetches the manifests and configs: what a comparison must have before it starts.
    async fn prepare(&self, choice: &PlatformChoice) -> Result<Prepared, RegistryError> {
        let registry = Registry::connect(&self.reference.registry, &self.options).await?;
        let (root, bytes) = self
            .manifest(
                &registry,
                &self.reference.reference(),
                self.reference.digest.as_ref(),
                None,
            )
            .await?;
        self.store.ingest(&root, &bytes[..])?;
        let mut size = root.size;
        let mut manifests: Vec<(Option<Platform>, Manifest)> = Vec::new();
        let mut root_manifest = false;
        match self.parse(&bytes, &root)? {
            Document::Manifest(m) => {
                manifests.push((None, *m));
                root_manifest = true;
            }
            Document::Index(index) => {
                manifests = self
                    .choose(&registry, &root, index.manifests, choice, &mut size)
                    .await?;
            }
        }

        let mut seen = HashSet::new();
        let blobs: Vec<&Descriptor> = manifests
            .iter()
            .flat_map(|(_, m)| std::iter::once(&m.config).chain(&m.layers))
            .filter(|d| seen.insert(d.digest.clone()))
            .collect();
        size += blobs.iter().map(|d| d.size).sum::<u64>();
        for d in &blobs {
            if d.size > self.options.limits.layer_bytes {
                return Err(ContentError::TooLarge(LimitExceeded {
                    limit: Limit::LayerBytes,
                    max: self.options.limits.layer_bytes,
                    subject: format!("blob {}", d.digest),
                    found: Some(d.size),
                })
                .into());
            }
        }
        let configs: HashSet<&Digest> = manifests.iter().map(|(_, m)| &m.config.digest).collect();
        let (configs, layers): (Vec<&Descriptor>, Vec<&Descriptor>) = blobs
            .into_iter()
            .filter(|d| !self.store.has_blob(&d.digest))
            .partition(|d| configs.contains(&d.digest));
        self.total
            .store(configs.iter().map(|d| d.size).sum(), Ordering::Relaxed);
        futures_util::stream::iter(configs)
            .map(|d| self.blob(&registry, d, self.store.announce(&d.digest)))
            .buffer_unordered(self.options.max_concurrent_downloads.max(1))
            .try_collect::<Vec<()>>()
            .await?;

        let mut platforms = Vec::new();
        for (platform, m) in &manifests {
            let platform = if let Some(p) = platform {
                Some(p.clone())
            } else {
                let config = crate::content::read_json_blob(
                    &self.store,
                    &m.config,
                    self.options.limits.json_bytes,
                )?;
                let found = crate::store::platform_of(&config);
                if root_manifest {
                    self.check_asked(choice, found.as_ref())?;
                }
                found
            };
            if let Some(p) = platform.filter(|p| !platforms.contains(p)) {
                platforms.push(p);
            }
        }
        Ok(Prepared {
            registry: Arc::new(registry),
            missing: layers.into_iter().cloned().collect(),
            record: ImageRecord {
                name: Some(self.reference.clone()),
                root,
                platforms,
                size,
                pulled: jiff::Timestamp::now(),
                engine: None,
                engine_names: Vec::new(),
                loaded_from: None,
            },
        })
    }

    /// Downloads the layers this image announced (`own`), waits for those another image is
    /// downloading (`others`), and records the image.
    async fn finish(
        self: Arc<Self>,
        prepared: Prepared,
        own: Vec<OwnDownload>,
        others: Vec<tokio::sync::watch::Receiver<SharedOutcome>>,
    ) -> Result<(), RegistryError> {
        self.report(0);
        let registry = &prepared.registry;
        futures_util::stream::iter(own)
            .map(|(desc, publisher, tx)| {
                let this = &self;
                async move {
                    let outcome = this.blob(registry, &desc, publisher).await;
                    tx.send_replace(Some(
                        outcome.as_ref().map(drop).map_err(ToString::to_string),
                    ));
                    outcome
                }
            })
            .buffer_unordered(self.options.max_concurrent_downloads.max(1))
            .try_collect::<Vec<()>>()
            .await?;
        for mut rx in others {
            let outcome = rx.wait_for(Option::is_some).await.map(|o| o.clone());
            match outcome {
                Ok(Some(Ok(()))) => {}
                Ok(Some(Err(reason))) => return Err(RegistryError::SharedDownload(reason)),
                Ok(None) | Err(_) => {
                    return Err(RegistryError::SharedDownload(
                        "a download shared with the other image stopped".into(),
                    ));
                }
            }
        }
        let store = self.store.clone();
        let record = prepared.record;
        tokio::task::block_in_place(|| store.put_image(&record))?;
        if let Some(p) = &self.options.progress {
            p.finish(&self.reference.familiar());
        }
        Ok(())
    }

    fn report(&self, added: u64) {
        let done = self.done.fetch_add(added, Ordering::Relaxed) + added;
        if let Some(p) = &self.options.progress {
            p.update(
                &self.reference.familiar(),
                done,
                Some(self.total.load(Ordering::Relaxed)),
                Unit::Bytes,
            );
        }
    }

    fn parse(&self, bytes: &[u8], desc: &Descriptor) -> Result<Document, RegistryError> {
        Document::parse(bytes, Some(&desc.media_type)).map_err(|source| RegistryError::Document {
            reference: format!("{}@{}", self.reference.name(), desc.digest),
            source,
        })
    }

    /// Fetches the index or manifest `desc` names into the store; `size` counts its bytes.
    async fn document(
        &self,
        registry: &Registry,
        desc: &Descriptor,
        size: &mut u64,
    ) -> Result<Document, RegistryError> {
        let (_, bytes) = self
            .manifest(
                registry,
                &desc.digest.to_string(),
                Some(&desc.digest),
                Some(desc.size),
            )
            .await?;
        self.store.ingest(desc, &bytes[..])?;
        *size += desc.size;
        self.parse(&bytes, desc)
    }

    /// An image for one platform only must be for each platform the user asked for, as
    /// `docker pull --platform` requires.
    fn check_asked(
        &self,
        choice: &PlatformChoice,
        found: Option<&Platform>,
    ) -> Result<(), RegistryError> {
        let (PlatformChoice::These(asked), Some(found)) = (choice, found) else {
            return Ok(());
        };
        match asked
            .iter()
            .find(|want| !Matcher::only(want).matches(found))
        {
            Some(want) => Err(self.select_error(SelectError::NoPlatform {
                wanted: want.to_string(),
                offered: found.to_string(),
            })),
            None => Ok(()),
        }
    }

    fn select_error(&self, source: SelectError) -> RegistryError {
        RegistryError::Select {
            reference: self.reference.familiar(),
            source: Box::new(source),
        }
    }

    /// The manifests of the index `root` that `choice` selects, with their platforms, fetched
    /// into the store: for each platform asked for, the one a runtime would run (see
    /// [`crate::source::select`], whose rules this follows over the network); for
    /// `--all-platforms`, every image the index offers, nested indexes followed.
    async fn choose(
        &self,
        registry: &Registry,
        root: &Descriptor,
        entries: Vec<Descriptor>,
        choice: &PlatformChoice,
        size: &mut u64,
    ) -> Result<Vec<(Option<Platform>, Manifest)>, RegistryError> {
        let Some(wanted) = choice.wanted() else {
            return self.every_image(registry, root, entries, size).await;
        };
        let mut out: Vec<(Option<Platform>, Manifest)> = Vec::new();
        let mut taken: HashSet<Digest> = HashSet::new();
        for want in &wanted {
            let (digest, platform, manifest) = self
                .runnable_for(registry, root, &entries, want, size)
                .await?;
            if taken.insert(digest) {
                out.push((platform, manifest));
            }
        }
        Ok(out)
    }

    /// `--all-platforms`: every image the index offers, depth-first in document order (as the
    /// comparison lists them), nested indexes followed, each manifest once.
    async fn every_image(
        &self,
        registry: &Registry,
        root: &Descriptor,
        entries: Vec<Descriptor>,
        size: &mut u64,
    ) -> Result<Vec<(Option<Platform>, Manifest)>, RegistryError> {
        let mut out: Vec<(Option<Platform>, Manifest)> = Vec::new();
        let mut taken: HashSet<Digest> = HashSet::new();
        let mut stack = vec![(entries.into_iter(), vec![root.digest.clone()])];
        while let Some((iter, path)) = stack.last_mut() {
            let Some(d) = iter.next() else {
                stack.pop();
                continue;
            };
            if !is_runnable(&d) {
                continue;
            }
            match d.kind() {
                MediaKind::Index => {
                    if path.contains(&d.digest) {
                        return Err(self.select_error(SelectError::Cycle(d.digest)));
                    }
                    if path.len() > select::MAX_DEPTH {
                        return Err(self.select_error(SelectError::TooDeep(d.digest)));
                    }
                    let mut path = path.clone();
                    path.push(d.digest.clone());
                    match self.document(registry, &d, size).await? {
                        Document::Index(i) => stack.push((i.manifests.into_iter(), path)),
                        Document::Manifest(_) => {
                            return Err(self.wrong_kind(&d, "manifest", "index"));
                        }
                    }
                }
                MediaKind::Manifest if taken.insert(d.digest.clone()) => {
                    match self.document(registry, &d, size).await? {
                        Document::Manifest(m) => out.push((d.platform.clone(), *m)),
                        Document::Index(_) => {
                            return Err(self.wrong_kind(&d, "index", "manifest"));
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// The image a runtime asked for `want` would run: the best entry of each level, nested
    /// indexes descended, as its digest, platform and manifest.
    async fn runnable_for(
        &self,
        registry: &Registry,
        root: &Descriptor,
        entries: &[Descriptor],
        want: &Platform,
        size: &mut u64,
    ) -> Result<(Digest, Option<Platform>, Manifest), RegistryError> {
        let matcher = Matcher::only(want);
        let mut level = entries.to_vec();
        let mut path = vec![root.digest.clone()];
        loop {
            let runnable: Vec<Descriptor> =
                level.iter().filter(|d| is_runnable(d)).cloned().collect();
            let Some(best) = matcher.best(&runnable).cloned() else {
                return Err(self.select_error(SelectError::NoPlatform {
                    wanted: want.to_string(),
                    offered: select::describe_entries(&runnable),
                }));
            };
            match best.kind() {
                MediaKind::Index => {
                    if path.contains(&best.digest) {
                        return Err(self.select_error(SelectError::Cycle(best.digest)));
                    }
                    if path.len() > select::MAX_DEPTH {
                        return Err(self.select_error(SelectError::TooDeep(best.digest)));
                    }
                    path.push(best.digest.clone());
                    level = match self.document(registry, &best, size).await? {
                        Document::Index(i) => i.manifests,
                        Document::Manifest(_) => {
                            return Err(self.wrong_kind(&best, "manifest", "index"));
                        }
                    };
                }
                MediaKind::Manifest => {
                    let manifest = match self.document(registry, &best, size).await? {
                        Document::Manifest(m) => *m,
                        Document::Index(_) => {
                            return Err(self.wrong_kind(&best, "index", "manifest"));
                        }
                    };
                    let platform = if let Some(p) = &best.platform {
                        Some(p.clone())
                    } else {
                        self.config_platform(registry, &best, &manifest, &matcher, want)
                            .await?
                    };
                    return Ok((best.digest, platform, manifest));
                }
                _ => {
                    return Err(self.select_error(SelectError::NotAnImage {
                        wanted: want.to_string(),
                        digest: best.digest,
                        media_type: best.media_type,
                    }));
                }
            }
        }
    }

    /// The platform of an entry that names none: its config's, which must match `want`. The
    /// config is fetched now (it is needed anyway).
    async fn config_platform(
        &self,
        registry: &Registry,
        best: &Descriptor,
        manifest: &Manifest,
        matcher: &Matcher,
        want: &Platform,
    ) -> Result<Option<Platform>, RegistryError> {
        self.blob(registry, &manifest.config, None).await?;
        let config = crate::content::read_json_blob(
            &self.store,
            &manifest.config,
            self.options.limits.json_bytes,
        )?;
        let found = crate::store::platform_of(&config);
        if !found.as_ref().is_some_and(|c| matcher.matches(c)) {
            return Err(self.select_error(SelectError::ConfigMismatch {
                wanted: want.to_string(),
                digest: best.digest.clone(),
                found: found.map_or_else(|| "no platform".to_owned(), |c| c.to_string()),
            }));
        }
        Ok(found)
    }

    fn wrong_kind(
        &self,
        d: &Descriptor,
        found: &'static str,
        expected: &'static str,
    ) -> RegistryError {
        self.select_error(SelectError::WrongKind {
            what: if expected == "index" {
                "index"
            } else {
                "manifest"
            },
            digest: d.digest.clone(),
            found,
            expected,
        })
    }

    /// Fetches a manifest or index by tag or digest. By digest, the content must hash to it;
    /// by tag, to the `Docker-Content-Digest` the registry announces, when it announces one.
    async fn manifest(
        &self,
        registry: &Registry,
        reference: &str,
        expected: Option<&Digest>,
        expected_size: Option<u64>,
    ) -> Result<(Descriptor, Vec<u8>), RegistryError> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Probe {
            #[serde(default)]
            media_type: Option<String>,
            #[serde(default)]
            schema_version: Option<u32>,
        }
        let repo = &self.reference.repository;
        let url = registry.url(&format!("/v2/{repo}/manifests/{reference}"));
        let display = format!(
            "{}{}{reference}",
            self.reference.name(),
            if expected.is_some() { "@" } else { ":" }
        );
        let (content_type, announced, bytes) =
            self.download_manifest(registry, &url, &display).await?;
        let check = expected.or(announced.as_ref());
        let algorithm = check.map_or(crate::model::Algorithm::Sha256, Digest::algorithm);
        let mut hasher = Hasher::new(algorithm);
        hasher.update(&bytes);
        let actual = hasher.finish();
        if let Some(want) = check {
            if *want != actual {
                return Err(RegistryError::DigestMismatch {
                    reference: display,
                    expected: want.clone(),
                    actual,
                });
            }
        }
        if let Some(size) = expected_size {
            if size != bytes.len() as u64 {
                return Err(ContentError::SizeMismatch {
                    digest: actual,
                    declared: size,
                    actual: bytes.len() as u64,
                }
                .into());
            }
        }
        let probe: Probe = serde_json::from_slice(&bytes).map_err(|e| RegistryError::Document {
            reference: display.clone(),
            source: DocumentError::Json(e),
        })?;
        if probe.schema_version == Some(1) {
            return Err(RegistryError::Unsupported {
                reference: display,
                reason: "it is a Docker schema 1 manifest, which registries no longer serve and \
                         ocidiff does not read"
                    .into(),
            });
        }
        let media_type = probe
            .media_type
            .or(content_type.filter(|c| media::classify(c) != MediaKind::Unknown))
            .unwrap_or_else(|| {
                match Document::parse(&bytes, None) {
                    Ok(Document::Index(_)) => media::OCI_INDEX,
                    _ => media::OCI_MANIFEST,
                }
                .to_owned()
            });
        let desc = Descriptor {
            media_type,
            digest: actual,
            size: bytes.len() as u64,
            platform: None,
            annotations: Default::default(),
            urls: vec![],
            artifact_type: None,
        };
        Ok((desc, bytes))
    }

    /// GETs a manifest, retrying a transfer that fails midway: its content type (without
    /// parameters), the digest the registry announces, and its bytes (within the JSON limit).
    async fn download_manifest(
        &self,
        registry: &Registry,
        url: &str,
        display: &str,
    ) -> Result<(Option<String>, Option<Digest>, Vec<u8>), RegistryError> {
        let repo = &self.reference.repository;
        let limit = self.options.limits.json_bytes;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let resp = registry
                .send(Method::GET, url, Some(ACCEPT_MANIFESTS), repo)
                .await?;
            if resp.status() == StatusCode::NOT_FOUND {
                return Err(RegistryError::NotFound {
                    reference: display.to_owned(),
                });
            }
            if !resp.status().is_success() {
                return Err(status_error(url, resp).await);
            }
            let header = |name: &str| {
                resp.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let content_type = header("content-type")
                .map(|c| c.split(';').next().unwrap_or_default().trim().to_owned());
            let announced = header("docker-content-digest").and_then(|d| d.parse::<Digest>().ok());
            match read_limited(resp, limit, display).await {
                Ok(bytes) => return Ok((content_type, announced, bytes)),
                Err(BodyError::Http(e))
                    if is_transient_error(&e) && attempt < registry.attempts() =>
                {
                    tokio::time::sleep(registry.backoff(attempt)).await;
                }
                Err(BodyError::Http(source)) => {
                    return Err(RegistryError::Http {
                        url: url.to_owned(),
                        source,
                    });
                }
                Err(BodyError::Content(e)) => return Err(e.into()),
            }
        }
    }

    /// Streams one blob into the store, verified. A dropped connection resumes where it
    /// stopped (a `Range` request; from the start, skipping what is already written, when the
    /// registry ignores it), so the bytes readers of the store have seen stay the bytes checked.
    async fn blob(
        &self,
        registry: &Registry,
        desc: &Descriptor,
        publisher: Option<Publisher>,
    ) -> Result<(), RegistryError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| RegistryError::Runtime(std::io::Error::other(e)))?;
        let mut writer = self.store.writer_publishing(desc, publisher)?;
        match self.fetch(registry, desc, &mut writer).await {
            Ok(()) => Ok(tokio::task::block_in_place(|| writer.commit())?),
            Err(e) => {
                writer.abandon(e.to_string());
                Err(e)
            }
        }
    }

    async fn fetch(
        &self,
        registry: &Registry,
        desc: &Descriptor,
        writer: &mut crate::store::BlobWriter,
    ) -> Result<(), RegistryError> {
        let repo = &self.reference.repository;
        let url = registry.url(&format!("/v2/{repo}/blobs/{}", desc.digest));
        let mut attempt = 0;
        loop {
            attempt += 1;
            let from = writer.written();
            if from > 0 && from == desc.size {
                return Ok(());
            }
            let mut resp = registry.send_from(&url, repo, from).await?;
            if resp.status() == StatusCode::NOT_FOUND {
                return Err(RegistryError::NotFound {
                    reference: format!("{}@{}", self.reference.name(), desc.digest),
                });
            }
            if !resp.status().is_success() {
                return Err(status_error(&url, resp).await);
            }
            // What of the answer is already written: all of it before `from` unless the
            // registry honoured the range.
            let mut skip = if resp.status() == StatusCode::PARTIAL_CONTENT {
                0
            } else {
                from
            };
            let outcome = loop {
                match resp.chunk().await {
                    Ok(Some(chunk)) => {
                        let drop_n = usize::try_from(skip).unwrap_or(usize::MAX).min(chunk.len());
                        skip -= drop_n as u64;
                        let fresh = &chunk[drop_n..];
                        if !fresh.is_empty() {
                            writer.write(fresh)?;
                            self.report(fresh.len() as u64);
                        }
                    }
                    Ok(None) => break Ok(()),
                    Err(e) => break Err(e),
                }
            };
            match outcome {
                Ok(()) => return Ok(()),
                Err(e) if is_transient_error(&e) && attempt < registry.attempts() => {
                    tracing::debug!(url, error = %e, "blob download interrupted, resuming");
                    tokio::time::sleep(registry.backoff(attempt)).await;
                }
                Err(source) => return Err(RegistryError::Http { url, source }),
            }
        }
    }
}

enum BodyError {
    Http(reqwest::Error),
    Content(ContentError),
}

/// Reads a small answer whole, refusing it once it passes `limit` bytes.
async fn read_limited(
    mut resp: reqwest::Response,
    limit: u64,
    what: &str,
) -> Result<Vec<u8>, BodyError> {
    let too_large = || {
        BodyError::Content(ContentError::TooLarge(LimitExceeded {
            limit: Limit::JsonBytes,
            max: limit,
            subject: format!("manifest {what}"),
            found: None,
        }))
    };
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Http)? {
        if (bytes.len() + chunk.len()) as u64 > limit {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}
