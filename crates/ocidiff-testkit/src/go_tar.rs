//! Go's `archive/tar` as an oracle: the program in `go/tarread`, built once with the machine's
//! Go toolchain and kept running, says what Go reads from a tar stream.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// One `(key, value)` of a header's `Xattrs` or `PAXRecords`, bytes as Go holds them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GoPair {
    /// The record's key.
    #[serde(deserialize_with = "bytes")]
    pub key: Vec<u8>,
    /// Its value.
    #[serde(deserialize_with = "bytes")]
    pub value: Vec<u8>,
}

/// A time as `t.Unix()`, `t.Nanosecond()`; absent where Go's `t.IsZero()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct GoTime {
    /// `t.Unix()`.
    pub secs: i64,
    /// `t.Nanosecond()`.
    pub nanos: u32,
}

/// One header as `tar.Reader.Next` returned it, and what `Read` then gave.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GoEntry {
    /// `Header.Typeflag`, after Go's promotions.
    pub typeflag: u8,
    /// `Header.Name`.
    #[serde(deserialize_with = "bytes")]
    pub name: Vec<u8>,
    /// `Header.Linkname`.
    #[serde(deserialize_with = "bytes")]
    pub linkname: Vec<u8>,
    /// `Header.Size`.
    pub size: i64,
    /// `Header.Mode`.
    pub mode: i64,
    /// `Header.Uid`.
    pub uid: i64,
    /// `Header.Gid`.
    pub gid: i64,
    /// `Header.Uname`.
    #[serde(deserialize_with = "bytes")]
    pub uname: Vec<u8>,
    /// `Header.Gname`.
    #[serde(deserialize_with = "bytes")]
    pub gname: Vec<u8>,
    /// `Header.ModTime`.
    pub mtime: Option<GoTime>,
    /// `Header.AccessTime`.
    pub atime: Option<GoTime>,
    /// `Header.ChangeTime`.
    pub ctime: Option<GoTime>,
    /// `Header.Devmajor`.
    pub devmajor: i64,
    /// `Header.Devminor`.
    pub devminor: i64,
    /// `Header.Xattrs`.
    pub xattrs: Vec<GoPair>,
    /// `Header.PAXRecords`.
    pub pax: Vec<GoPair>,
    /// `Header.Format`, Go's bit set.
    pub format: u8,
    /// SHA-256 (hex) over the content in 1 MiB chunks, an all-zero chunk hashed as `Z`.
    pub content: String,
    /// How many bytes `Read` gave before the end or an error.
    pub content_len: i64,
    /// The error `Read` returned, if any.
    pub read_error: Option<String>,
}

/// Everything Go read from one stream, and the error that stopped it (`None` at a clean end).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GoRead {
    /// `runtime.Version()` of the oracle.
    pub go: String,
    /// The entries `Next` returned, in order.
    pub entries: Vec<GoEntry>,
    /// The error `Next` returned; `None` at a clean end of the archive.
    pub error: Option<String>,
}

fn bytes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    use base64::Engine as _;
    let s: Option<String> = Option::deserialize(d)?;
    base64::engine::general_purpose::STANDARD
        .decode(s.unwrap_or_default())
        .map_err(serde::de::Error::custom)
}

/// The oracle's sources, in this crate.
pub fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("go/tarread")
}

pub use crate::go::{go, installed as go_installed};

/// Builds the oracle into `out_dir`; the path of the binary.
pub fn build(out_dir: &Path) -> Result<PathBuf, String> {
    crate::go::build(&source_dir(), "tarread", out_dir)
}

/// A running oracle that reads one stream per call.
pub struct GoTar(crate::go::Server);

impl GoTar {
    /// Starts the oracle built by [`build`].
    pub fn start(bin: &Path) -> Result<GoTar, String> {
        crate::go::Server::start(bin).map(GoTar)
    }

    /// What Go reads from `stream`.
    pub fn read(&mut self, stream: &[u8]) -> GoRead {
        self.0.ask(&[], stream)
    }
}
