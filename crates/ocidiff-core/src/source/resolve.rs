//! Opening any image reference. Local files are read in place; registry images are pulled
//! into the embedded store (as the pull policy says) and read from it, their layers while they
//! download. The store
//! is only opened when a reference needs it, so comparing two local archives never touches the
//! user's cache.

use std::path::PathBuf;

use super::containerd;
use super::daemon::{self, Engine};
use super::registry::{self, PullOptions};
use super::select;
use super::{Image, SourceError};
use crate::content::Limits;
use crate::model::{Descriptor, Document, Platform, PlatformChoice};
use crate::reference::{DockerRef, ImageRef};
use crate::store::{ImageRecord, Store, StoreError};

/// When to contact a registry for an image the store may already hold (diffoci's `--pull`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PullPolicy {
    /// Always ask the registry; blobs already held are still not downloaded again.
    Always,
    /// Only when the store lacks the image or a platform asked for.
    #[default]
    Missing,
    /// Never: an image not in the store is an error.
    Never,
}

/// Everything needed to open references that live outside the file system.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The store's directory; `None` for [`Store::default_root`].
    pub store_root: Option<PathBuf>,
    pub pull: PullPolicy,
    pub platforms: PlatformChoice,
    pub registry: PullOptions,
    /// Where containerd is, for `containerd://` references.
    pub containerd: containerd::Options,
}

impl Context {
    /// Opens the store this context names.
    pub fn store(&self) -> Result<Store, StoreError> {
        let root = match &self.store_root {
            Some(r) => r.clone(),
            None => Store::default_root()?,
        };
        Store::open(&root)
    }
}

/// Layers of registry inputs still downloading when [`open_all`] returns.
pub struct Pending {
    downloads: Option<registry::Downloads>,
    /// The reference index of each download request.
    inputs: Vec<usize>,
}

impl Pending {
    /// Waits for the downloads and records the pulled images in the store. The error names
    /// the index of the input whose download failed. Dropping a `Pending` instead stops them.
    pub fn wait(self) -> Result<(), (usize, SourceError)> {
        let Some(downloads) = self.downloads else {
            return Ok(());
        };
        for (input, result) in self.inputs.into_iter().zip(downloads.wait()) {
            result.map_err(|e| (input, e.into()))?;
        }
        Ok(())
    }
}

/// Opens every reference, pulling the registry ones together so that their downloads share
/// one bound. One result per reference, in order. Registry images are open as soon as their
/// manifests and configs are in the store: their layers are read while they download (see
/// [`registry::start_all`]), and [`Pending::wait`] must be called before trusting that the
/// comparison saw every byte it needed.
pub fn open_all(refs: &[ImageRef], ctx: &Context) -> (Vec<Result<Image, SourceError>>, Pending) {
    let mut pending = Pending {
        downloads: None,
        inputs: Vec::new(),
    };
    let needs_store = refs.iter().any(|r| {
        matches!(
            r,
            ImageRef::Registry(_) | ImageRef::Docker(_) | ImageRef::Podman(_)
        )
    });
    let store = if needs_store {
        match ctx.store() {
            Ok(s) => Some(s),
            Err(e) => {
                let err = std::sync::Arc::new(e);
                let images = refs
                    .iter()
                    .map(|r| match r {
                        ImageRef::Registry(_) | ImageRef::Docker(_) | ImageRef::Podman(_) => {
                            Err(SourceError::StoreUnavailable(err.clone()))
                        }
                        local => super::open(local, &ctx.registry.limits),
                    })
                    .collect();
                return (images, pending);
            }
        }
    } else {
        None
    };

    // Which registry references must be pulled, all at once.
    let mut parsed: Vec<Option<Result<DockerRef, SourceError>>> = refs
        .iter()
        .map(|r| match r {
            ImageRef::Registry(s) => Some(DockerRef::parse(s).map_err(SourceError::from)),
            _ => None,
        })
        .collect();
    let mut pulls: Vec<(usize, DockerRef)> = Vec::new();
    // The roots of the images being pulled now, not yet recorded in the store.
    let mut roots: Vec<Option<Descriptor>> = vec![None; refs.len()];
    if let Some(store) = &store {
        for (i, p) in parsed.iter_mut().enumerate() {
            let Some(Ok(name)) = p else { continue };
            let name = name.clone();
            let held = match store.find_image(&name) {
                Ok(r) => r,
                Err(e) => {
                    *p = Some(Err(e.into()));
                    continue;
                }
            };
            let covers = held.as_ref().is_some_and(|rec| match &ctx.platforms {
                PlatformChoice::These(ps) => ps.iter().all(|want| holds(store, rec, want)),
                PlatformChoice::All => false,
            });
            let pull = match ctx.pull {
                PullPolicy::Always => true,
                PullPolicy::Missing => !covers,
                PullPolicy::Never => {
                    if held.is_none() {
                        *p = Some(Err(SourceError::NotInStore {
                            reference: name.to_string(),
                        }));
                    }
                    false
                }
            };
            if pull {
                pulls.push((i, name));
            }
        }
        let requests: Vec<_> = pulls
            .iter()
            .map(|(_, n)| (n.clone(), ctx.platforms.clone()))
            .collect();
        if !requests.is_empty() {
            let (results, downloads) = registry::start_all(store, &requests, &ctx.registry);
            for ((i, _), result) in pulls.iter().zip(results) {
                match result {
                    Ok(root) => roots[*i] = Some(root),
                    Err(e) => parsed[*i] = Some(Err(e.into())),
                }
            }
            pending.downloads = Some(downloads);
            pending.inputs = pulls.iter().map(|(i, _)| *i).collect();
        }
    }

    // Each in its own thread: scanning a large archive or exporting from an engine takes a
    // while, and the two inputs do not depend on each other.
    let store = store.as_ref();
    let images = std::thread::scope(|scope| {
        let handles: Vec<_> = refs
            .iter()
            .zip(parsed)
            .zip(roots)
            .map(|((r, p), root)| scope.spawn(move || open_one(r, p, root, store, ctx)))
            .collect();
        // A panic is a bug: let it show as one.
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    (images, pending)
}

/// Whether the store holds all of the image a runtime asked for `wanted` would run from the
/// image `record` names: the choice is made again over the stored index, so that an image
/// pulled for `amd64` is pulled again for `amd64/v3` if the index offers that.
fn holds(store: &Store, record: &ImageRecord, wanted: &Platform) -> bool {
    let Ok(image) = store.open_image(record) else {
        return false;
    };
    let Ok(chosen) = select::select(&*image.blobs, &image.root, wanted, &Limits::default()) else {
        return false;
    };
    match Document::parse(&chosen.manifest.bytes, None) {
        Ok(Document::Manifest(m)) => std::iter::once(&m.config)
            .chain(&m.layers)
            .all(|d| store.has_blob(&d.digest)),
        _ => false,
    }
}

/// Opens one reference once registry pulls have started (`parsed` is its pull's outcome so
/// far, `root` the root of an image being pulled).
fn open_one(
    r: &ImageRef,
    parsed: Option<Result<DockerRef, SourceError>>,
    root: Option<Descriptor>,
    store: Option<&Store>,
    ctx: &Context,
) -> Result<Image, SourceError> {
    match (r, parsed, store) {
        (ImageRef::Registry(_), Some(Err(e)), _) => Err(e),
        (ImageRef::Registry(_), Some(Ok(_)), Some(store)) if let Some(root) = root => {
            Ok(store.open_root(&root, r.clone())?)
        }
        (ImageRef::Registry(_), Some(Ok(name)), Some(store)) => {
            let record = store
                .find_image(&name)?
                .ok_or_else(|| SourceError::NotInStore {
                    reference: name.to_string(),
                })?;
            let mut image = store.open_image(&record)?;
            image.reference = r.clone();
            Ok(image)
        }
        (ImageRef::Docker(name), _, Some(store)) => {
            daemon::open(store, Engine::Docker, name, &ctx.platforms)
        }
        (ImageRef::Podman(name), _, Some(store)) => {
            daemon::open(store, Engine::Podman, name, &ctx.platforms)
        }
        (ImageRef::Containerd(name), _, _) => {
            containerd::open(r, name, &ctx.containerd, &ctx.platforms)
        }
        (local, _, _) => super::open(local, &ctx.registry.limits),
    }
}
