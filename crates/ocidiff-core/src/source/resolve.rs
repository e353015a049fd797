//! Opening any image reference. Local files are read in place; registry images are pulled
//! into the embedded store (as the pull policy says) and read from it, their layers while they
//! download. The store
//! is only opened when a reference needs it, so comparing two local archives never touches the
//! user's cache.

use std::path::PathBuf;

#[cfg(feature = "containerd")]
use super::containerd;
#[cfg(feature = "daemon")]
use super::daemon::{self, Engine};
#[cfg(feature = "registry")]
use super::registry;
#[cfg(feature = "registry")]
use super::select;
use super::{PullOptions, SourceError};
#[cfg(feature = "registry")]
use crate::content::Limits;
use crate::image::Image;
use crate::model::PlatformChoice;
#[cfg(feature = "registry")]
use crate::model::{Descriptor, Document, Platform};
#[cfg(feature = "registry")]
use crate::reference::DockerRef;
use crate::reference::ImageRef;
#[cfg(feature = "registry")]
use crate::store::ImageRecord;
use crate::store::{Store, StoreError};

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
    /// When registry images are pulled again rather than read from the store.
    pub pull: PullPolicy,
    /// Which platforms of multi-platform images to open.
    pub platforms: PlatformChoice,
    /// How to reach registries; its `limits` also bound what local sources read.
    pub registry: PullOptions,
    /// Told how daemon exports progress.
    pub progress: crate::model::Reporter,
    /// The run reads files' content (a report directory, package databases): engine exports
    /// keep their layers' bytes, not only their listings, which would otherwise be exported
    /// again for it.
    pub keep_layers: bool,
    /// Where containerd is, for `containerd://` references.
    #[cfg(feature = "containerd")]
    pub containerd: containerd::ContainerdOptions,
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
#[derive(Default)]
pub struct Pending {
    /// The downloads, and the reference index of each download request.
    #[cfg(feature = "registry")]
    downloads: Option<(registry::Downloads, Vec<usize>)>,
}

impl Pending {
    /// Waits for the downloads and records the pulled images in the store. The error names
    /// the index of the input whose download failed. Dropping a `Pending` instead stops them.
    pub fn wait(self) -> Result<(), (usize, SourceError)> {
        #[cfg(feature = "registry")]
        if let Some((downloads, inputs)) = self.downloads {
            for (input, result) in inputs.into_iter().zip(downloads.wait()) {
                result.map_err(|e| (input, e.into()))?;
            }
        }
        Ok(())
    }
}

/// How one reference is opened once the registry pulls have started.
enum Plan {
    /// By its own source: a file, a daemon, containerd.
    Direct,
    /// Not at all: its name is invalid, its pull failed or this build lacks its source.
    Failed(SourceError),
    /// From the store: `root` is that of an image being pulled now; without it, the image
    /// the store already holds under `name`.
    #[cfg(feature = "registry")]
    Stored {
        name: DockerRef,
        root: Option<Box<Descriptor>>,
    },
}

/// Opens every reference, pulling the registry ones together so that their downloads share
/// one bound. One result per reference, in order. Registry images are open as soon as their
/// manifests and configs are in the store: their layers are read while they download (see
/// `registry::start_all`), and [`Pending::wait`] must be called before trusting that the
/// comparison saw every byte it needed.
pub fn open_all(refs: &[ImageRef], ctx: &Context) -> (Vec<Result<Image, SourceError>>, Pending) {
    let plans: Vec<Plan> = refs.iter().map(plan).collect();
    let store = if refs.iter().any(uses_store) {
        match ctx.store() {
            Ok(s) => Some(s),
            Err(e) => return (without_store(refs, plans, e, ctx), Pending::default()),
        }
    } else {
        None
    };
    let (plans, pending) = match &store {
        #[cfg(feature = "registry")]
        Some(store) => start_pulls(store, ctx, plans),
        _ => (plans, Pending::default()),
    };
    (open_each(refs, plans, store.as_ref(), ctx), pending)
}

/// The cargo feature the source of `r` needs, when this build lacks it.
fn missing_feature(r: &ImageRef) -> Option<&'static str> {
    match r {
        ImageRef::Registry(_) if !cfg!(feature = "registry") => Some("registry"),
        ImageRef::Docker(_) | ImageRef::Podman(_) if !cfg!(feature = "daemon") => Some("daemon"),
        ImageRef::Containerd(_) if !cfg!(feature = "containerd") => Some("containerd"),
        _ => None,
    }
}

/// Whether opening `r` needs the embedded store: registry images are pulled into it and
/// daemon images exported into it.
fn uses_store(r: &ImageRef) -> bool {
    matches!(
        r,
        ImageRef::Registry(_) | ImageRef::Docker(_) | ImageRef::Podman(_)
    ) && missing_feature(r).is_none()
}

/// How `r` is to be opened, before any pull.
fn plan(r: &ImageRef) -> Plan {
    if let Some(feature) = missing_feature(r) {
        return Plan::Failed(SourceError::FeatureDisabled {
            feature,
            reference: r.to_string(),
        });
    }
    match r {
        #[cfg(feature = "registry")]
        ImageRef::Registry(s) => match DockerRef::parse(s) {
            Ok(name) => Plan::Stored { name, root: None },
            Err(e) => Plan::Failed(e.into()),
        },
        _ => Plan::Direct,
    }
}

/// The results when the store cannot be opened: the references that need it fail with the
/// reason, the others are opened as usual.
fn without_store(
    refs: &[ImageRef],
    plans: Vec<Plan>,
    error: StoreError,
    ctx: &Context,
) -> Vec<Result<Image, SourceError>> {
    let error = std::sync::Arc::new(error);
    refs.iter()
        .zip(plans)
        .map(|(r, plan)| {
            if uses_store(r) {
                Err(SourceError::StoreUnavailable(error.clone()))
            } else {
                open_one(r, plan, None, ctx)
            }
        })
        .collect()
}

/// Starts pulling, all at once, the registry images the pull policy says to; records in
/// `plans` the root of each image being pulled, or why it cannot be.
#[cfg(feature = "registry")]
fn start_pulls(store: &Store, ctx: &Context, mut plans: Vec<Plan>) -> (Vec<Plan>, Pending) {
    let mut pulls: Vec<(usize, DockerRef)> = Vec::new();
    for (i, plan) in plans.iter_mut().enumerate() {
        let Plan::Stored { name, .. } = plan else {
            continue;
        };
        match must_pull(store, ctx, name) {
            Ok(true) => pulls.push((i, name.clone())),
            Ok(false) => {}
            Err(e) => *plan = Plan::Failed(e),
        }
    }
    if pulls.is_empty() {
        return (plans, Pending::default());
    }
    let requests: Vec<_> = pulls
        .iter()
        .map(|(_, n)| (n.clone(), ctx.platforms.clone()))
        .collect();
    let (results, downloads) = registry::start_all(store, &requests, &ctx.registry);
    for ((i, _), result) in pulls.iter().zip(results) {
        match (&mut plans[*i], result) {
            (Plan::Stored { root, .. }, Ok(pulled)) => *root = Some(Box::new(pulled)),
            (plan, Err(e)) => *plan = Plan::Failed(e.into()),
            (_, Ok(_)) => {}
        }
    }
    let pending = Pending {
        downloads: Some((downloads, pulls.iter().map(|(i, _)| *i).collect())),
    };
    (plans, pending)
}

/// Whether `name` must be pulled now, by the pull policy and what the store holds.
#[cfg(feature = "registry")]
fn must_pull(store: &Store, ctx: &Context, name: &DockerRef) -> Result<bool, SourceError> {
    let held = store.find_image(name)?;
    match ctx.pull {
        PullPolicy::Always => Ok(true),
        // Only this policy asks what the store holds: looking means reading the image's
        // documents and looking up each of its blobs.
        PullPolicy::Missing => Ok(!held
            .as_ref()
            .is_some_and(|rec| match ctx.platforms.wanted() {
                Some(ps) => ps.iter().all(|want| holds(store, rec, want)),
                None => false,
            })),
        PullPolicy::Never if held.is_none() => Err(SourceError::NotInStore {
            reference: name.to_string(),
        }),
        PullPolicy::Never => Ok(false),
    }
}

/// Whether the store holds all of the image a runtime asked for `wanted` would run from the
/// image `record` names: the choice is made again over the stored index, so that an image
/// pulled for `amd64` is pulled again for `amd64/v3` if the index offers that.
#[cfg(feature = "registry")]
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

/// Opens each reference in its own thread: scanning a large archive or exporting from an
/// engine takes a while, and the inputs do not depend on each other.
fn open_each(
    refs: &[ImageRef],
    plans: Vec<Plan>,
    store: Option<&Store>,
    ctx: &Context,
) -> Vec<Result<Image, SourceError>> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = refs
            .iter()
            .zip(plans)
            .map(|(r, plan)| scope.spawn(move || open_one(r, plan, store, ctx)))
            .collect();
        // A panic is a bug: let it show as one.
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// Opens one reference once registry pulls have started.
fn open_one(
    r: &ImageRef,
    plan: Plan,
    store: Option<&Store>,
    ctx: &Context,
) -> Result<Image, SourceError> {
    match (plan, r, store) {
        (Plan::Failed(e), _, _) => Err(e),
        #[cfg(feature = "registry")]
        (
            Plan::Stored {
                root: Some(root), ..
            },
            _,
            Some(store),
        ) => Ok(store.open_root(&root, r.clone())?),
        #[cfg(feature = "registry")]
        (Plan::Stored { name, root: None }, _, Some(store)) => {
            let record = store
                .find_image(&name)?
                .ok_or_else(|| SourceError::NotInStore {
                    reference: name.to_string(),
                })?;
            let mut image = store.open_image(&record)?;
            image.reference = r.clone();
            Ok(image)
        }
        #[cfg(feature = "daemon")]
        (_, ImageRef::Docker(name), Some(store)) => daemon::open(store, Engine::Docker, name, ctx),
        #[cfg(feature = "daemon")]
        (_, ImageRef::Podman(name), Some(store)) => daemon::open(store, Engine::Podman, name, ctx),
        #[cfg(feature = "containerd")]
        (_, ImageRef::Containerd(name), _) => {
            containerd::open(r, name, &ctx.containerd, &ctx.platforms)
        }
        (_, local, _) => super::open(local, &ctx.registry.limits),
    }
}

#[cfg(all(
    test,
    not(any(feature = "registry", feature = "daemon", feature = "containerd"))
))]
mod tests {
    use super::*;

    /// Without the network and daemon features every such reference fails with the feature
    /// it needs, and the store (here a path that cannot be one) is not opened.
    #[test]
    fn references_to_missing_sources_name_the_feature() {
        let ctx = Context {
            store_root: Some(PathBuf::from("/dev/null/store")),
            ..Default::default()
        };
        let refs = [
            ImageRef::Registry("alpine:3.20".into()),
            ImageRef::Docker("app".into()),
            ImageRef::Podman("app".into()),
            ImageRef::Containerd("app".into()),
        ];
        let (images, pending) = open_all(&refs, &ctx);
        assert!(pending.wait().is_ok());
        let errors: Vec<String> = images
            .into_iter()
            .map(|r| match r {
                Err(e @ SourceError::FeatureDisabled { .. }) => e.to_string(),
                Err(e) => panic!("another error: {e}"),
                Ok(_) => panic!("opened"),
            })
            .collect();
        let without =
            |r: &str, f: &str| format!("{r}: ocidiff-core was built without the `{f}` feature");
        assert_eq!(
            errors,
            [
                without("alpine:3.20", "registry"),
                without("docker://app", "daemon"),
                without("podman://app", "daemon"),
                without("containerd://app", "containerd"),
            ]
        );
    }
}
