//! What a layer holds, read the way container runtimes read it: the tar reader with Go's
//! semantics ([`tar`]), the walk that keeps each entry's metadata and a digest of its content
//! ([`walk`]), the model of how runtimes apply layers one over another ([`apply`]), and the
//! [`ExtractSink`] that differing entries are handed to.
//!
//! This module sits below the sources and the comparison: the store, the sources that walk a
//! stream as it arrives, the package view and nested-archive inspection all use it.

pub mod apply;
mod entry;
pub mod persist;
mod sink;
pub mod tar;
mod walk;

pub use apply::{ApplyError, Note, NoteKind, Plain, Refusal, Tree, clean};
pub use entry::{
    BLAKE3_FROM, ContentDigest, ContentHasher, EntryMeta, EntryType, FileDigests, TarFormat, Time,
    escape_name,
};
pub use persist::{list, list_each};
pub use sink::{EntryKind, ExtractSink};
pub use walk::{LayerError, Listing, WalkEnd, Walked, walk, walk_each, walk_stream_each};
