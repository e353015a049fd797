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

pub use crate::model::{Progress, Reporter, Unit};
pub use archive::{ArchiveError, Span, TarIndex};
pub use docker_archive::ClassicArchive;
pub use layout::{OciDir, select_root};
pub use listing::{ArchivedImage, archived_images};
pub use oci_archive::OciArchive;
pub use options::{CredentialSources, PullOptions};
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
    /// The reference itself does not parse.
    #[error(transparent)]
    Reference(#[from] RefError),
    /// A file or directory of the input could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A directory that is not an OCI image layout (no `oci-layout` file, say).
    #[error("{path}: not an OCI image layout ({reason})")]
    NotLayout {
        /// The directory.
        path: PathBuf,
        /// What is missing or wrong.
        reason: String,
    },
    /// An index or manifest inside the input that does not parse.
    #[error("{path}: {what}: {source}")]
    Document {
        /// The input holding it.
        path: PathBuf,
        /// Which document, as the message names it.
        what: String,
        /// What is wrong with it.
        source: DocumentError,
    },
    /// The input holds images, but none under the name asked for.
    #[error("{path}: no image named {wanted:?}; it holds: {available}")]
    NoSuchImage {
        /// The input.
        path: PathBuf,
        /// The name asked for.
        wanted: String,
        /// The names it does hold, as one phrase.
        available: String,
    },
    /// The input holds several images and the reference names none of them.
    #[error("{path}: holds several images, name one with {hint}: {available}")]
    Ambiguous {
        /// The input.
        path: PathBuf,
        /// The reference form that names one (`PATH:REF`).
        hint: String,
        /// The images it holds, as one phrase.
        available: String,
    },
    /// A name that tags several images: runtimes disagree on which it means.
    #[error(
        "{path}: the name {name:?} is on several images ({digests}): runtimes disagree on \
         which it means; name one by digest"
    )]
    AmbiguousName {
        /// The input.
        path: PathBuf,
        /// The name.
        name: String,
        /// The digests it is on, as one phrase.
        digests: String,
    },
    /// An input that holds no image at all.
    #[error("{path}: holds no image")]
    Empty {
        /// The input.
        path: PathBuf,
    },
    /// A docker archive whose `manifest.json` and `index.json` describe different images.
    #[error(
        "{path}: manifest.json and index.json disagree ({what}): docker load reads \
         manifest.json, containerd's ctr import index.json"
    )]
    Disagree {
        /// The archive.
        path: PathBuf,
        /// Where they differ.
        what: String,
    },
    /// A blob could not be read or verified.
    #[error(transparent)]
    Content(#[from] ContentError),
    /// The archive's tar stream could not be indexed.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// A `docker-archive` image name that does not parse.
    #[error(transparent)]
    DockerRef(#[from] crate::reference::DockerRefError),
    /// The local image store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// Pulling from a registry failed.
    #[cfg(feature = "registry")]
    #[error(transparent)]
    Registry(#[from] registry::RegistryError),
    /// Exporting from the Docker or Podman daemon failed.
    #[cfg(feature = "daemon")]
    #[error(transparent)]
    Daemon(#[from] daemon::DaemonError),
    /// Shared by every input that needed the store.
    #[error("the image store is unusable: {0}")]
    StoreUnavailable(#[source] std::sync::Arc<crate::store::StoreError>),
    /// Only the store was to be read (no pulling), and it does not hold the image.
    #[error("{reference} is not in the local store")]
    NotInStore {
        /// The reference as the user gave it.
        reference: String,
    },
    /// Reading from containerd failed.
    #[cfg(feature = "containerd")]
    #[error(transparent)]
    Containerd(#[from] containerd::ContainerdError),
    /// A transport [`open`] does not read: a remote one, which [`open_all`] opens.
    #[error("{transport}:// images are not supported yet: {reference}")]
    Unsupported {
        /// The transport's name, without `://`.
        transport: &'static str,
        /// The reference as the user gave it.
        reference: String,
    },
    /// A reference whose transport needs a cargo feature this build lacks.
    #[error("{reference}: ocidiff-core was built without the `{feature}` feature")]
    FeatureDisabled {
        /// The missing feature.
        feature: &'static str,
        /// The reference as the user gave it.
        reference: String,
    },
}

/// `names` without repeats, in the order of their first occurrence: what an error lists as
/// the images to choose from (an index may name one image once per platform).
fn distinct(names: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    names
        .into_iter()
        .filter(|n| seen.insert(n.clone()))
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_to_choose_from_are_named_once_in_order() {
        let names = ["a", "b", "a", "c", "b"].map(str::to_owned);
        assert_eq!(distinct(names), ["a", "b", "c"]);
    }

    #[test]
    fn a_layout_of_several_images_names_each_once() {
        let dir = tempfile::tempdir().unwrap();
        let image = |content: &str| -> ocidiff_testkit::ImageSpec {
            ocidiff_testkit::ImageSpec::new().layer(ocidiff_testkit::Layer::new(vec![
                ocidiff_testkit::Entry::file("f", content),
            ]))
        };
        ocidiff_testkit::write_oci_dir(
            dir.path(),
            &[
                ("a", image("1").into()),
                ("b", image("2").into()),
                ("a", image("3").into()),
            ],
        )
        .unwrap();
        let err = open(
            &ImageRef::OciDir {
                path: dir.path().to_owned(),
                reference: None,
            },
            &Limits::default(),
        )
        .err()
        .expect("several images are ambiguous");
        let text = err.to_string();
        assert!(text.ends_with(": a, b"), "{text}");
    }
}
