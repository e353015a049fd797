//! Where images come from. Each source turns an [`ImageRef`] into an [`Image`]: the document the
//! walk starts at (an index or a manifest) and a [`BlobSource`](crate::content::BlobSource) for
//! everything it refers to.

mod archive;
#[cfg(feature = "containerd")]
pub mod containerd;
#[cfg(feature = "daemon")]
pub mod daemon;
pub(crate) mod docker_archive;
mod layout;
mod listing;
mod manifest_json;
pub(crate) mod members;
mod oci_archive;
mod options;
#[cfg(feature = "registry")]
pub mod registry;
mod resolve;
pub mod select;

use std::path::PathBuf;

pub use archive::{ArchiveError, Span, TarIndex};
pub use docker_archive::ClassicArchive;
pub use layout::{OciDir, select_root};
pub use listing::{ArchivedImage, archived_images};
pub use oci_archive::OciArchive;
pub use options::{CredentialSources, Progress, PullOptions};
pub use resolve::{Context, Pending, PullPolicy, open_all};
pub use select::{Offered, SelectError};

use crate::content::{ContentError, Limits};
use crate::image::Image;
use crate::model::DocumentError;
use crate::reference::{ImageRef, RefError};

/// Why an image could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    #[error(transparent)]
    Reference(#[from] RefError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not an OCI image layout ({reason})")]
    NotLayout { path: PathBuf, reason: String },
    #[error("{path}: {what}: {source}")]
    Document {
        path: PathBuf,
        what: String,
        source: DocumentError,
    },
    #[error("{path}: no image named {wanted:?}; it holds: {available}")]
    NoSuchImage {
        path: PathBuf,
        wanted: String,
        available: String,
    },
    #[error("{path}: holds several images, name one with {hint}: {available}")]
    Ambiguous {
        path: PathBuf,
        hint: String,
        available: String,
    },
    #[error(
        "{path}: the name {name:?} is on several images ({digests}): runtimes disagree on \
         which it means; name one by digest"
    )]
    AmbiguousName {
        path: PathBuf,
        name: String,
        digests: String,
    },
    #[error("{path}: holds no image")]
    Empty { path: PathBuf },
    #[error(
        "{path}: manifest.json and index.json disagree ({what}): docker load reads \
         manifest.json, containerd's ctr import index.json"
    )]
    Disagree { path: PathBuf, what: String },
    #[error(transparent)]
    Content(#[from] ContentError),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    DockerRef(#[from] crate::reference::DockerRefError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[cfg(feature = "registry")]
    #[error(transparent)]
    Registry(#[from] registry::RegistryError),
    #[cfg(feature = "daemon")]
    #[error(transparent)]
    Daemon(#[from] daemon::DaemonError),
    /// Shared by every input that needed the store.
    #[error("the image store is unusable: {0}")]
    StoreUnavailable(#[source] std::sync::Arc<crate::store::StoreError>),
    /// Only the store was to be read (no pulling), and it does not hold the image.
    #[error("{reference} is not in the local store")]
    NotInStore { reference: String },
    #[cfg(feature = "containerd")]
    #[error(transparent)]
    Containerd(#[from] containerd::ContainerdError),
    #[error("{transport}:// images are not supported yet: {reference}")]
    Unsupported {
        transport: &'static str,
        reference: String,
    },
    #[error("{reference}: ocidiff-core was built without the `{feature}` feature")]
    FeatureDisabled {
        feature: &'static str,
        reference: String,
    },
}

/// Opens the image a local reference names, holding its JSON documents to `limits`.
pub fn open(reference: &ImageRef, limits: &Limits) -> Result<Image, SourceError> {
    match reference {
        ImageRef::OciDir { path, reference: r } => {
            let dir = OciDir::open(path)?;
            let root = dir.root(r.as_deref(), limits)?;
            Ok(Image {
                reference: reference.clone(),
                root,
                blobs: Box::new(dir),
                walked: Default::default(),
            })
        }
        ImageRef::OciArchive { path, reference: r } => {
            let archive = OciArchive::open(path)?;
            let root = archive.root(r.as_deref(), limits)?;
            Ok(Image {
                reference: reference.clone(),
                root,
                blobs: Box::new(archive),
                walked: Default::default(),
            })
        }
        ImageRef::DockerArchive { path, reference: r } => {
            let (root, blobs) = docker_archive::open(path, r.as_deref(), limits)?;
            Ok(Image {
                reference: reference.clone(),
                root,
                blobs,
                walked: Default::default(),
            })
        }
        other => Err(SourceError::Unsupported {
            transport: other.transport(),
            reference: other.to_string(),
        }),
    }
}
