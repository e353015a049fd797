//! An opened image: what every source returns, the store builds and the engine walks. It sits
//! below the store and the sources so that neither has to import the other to name it.

use crate::content::BlobSource;
use crate::layer::Walked;
use crate::model::Blob;
use crate::reference::ImageRef;

/// An image ready to be walked.
pub struct Image {
    /// What the user named.
    pub reference: ImageRef,
    /// The index or manifest the walk starts at.
    pub root: Blob,
    /// Every blob the root refers to.
    pub blobs: Box<dyn BlobSource>,
    /// Layers the source already walked while reading them.
    pub walked: Walked,
}
