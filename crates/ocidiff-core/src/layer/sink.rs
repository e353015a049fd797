//! The interface the engine's extraction pass (behind `--report-dir`) writes what differs to:
//! the documents as stored and the entries with their content, taken again from the layers. It
//! lives here, below the engine, so that a consumer such as the report directory implements it
//! without importing the engine (ripgrep's `Sink`).

use std::io::{self, Read};

use crate::model::Side;

/// What kind of entry is handed to [`ExtractSink::entry`]. Links are given as their targets:
/// a sink must never create them as links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind<'a> {
    /// A regular file, whose content follows.
    File,
    /// A symlink, with its target.
    Symlink(&'a str),
    /// A hard link, with its target.
    Hardlink(&'a str),
    /// A directory.
    Directory,
    /// Devices, fifos: nothing to show but their metadata.
    Other,
}

/// Receives the content of what differs. `side` is the input it comes from.
pub trait ExtractSink {
    /// A JSON document (manifest, config, index) that differs, as stored.
    fn document(
        &mut self,
        side: Side,
        location: &str,
        file_name: &str,
        bytes: &[u8],
    ) -> io::Result<()>;

    /// A tar entry that differs, with its content.
    fn entry(
        &mut self,
        side: Side,
        location: &str,
        path: &str,
        kind: EntryKind<'_>,
        content: &mut dyn Read,
    ) -> io::Result<()>;
}
