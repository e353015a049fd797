//! Reading the sqlite rpmdb.
//!
//! `SQLite` is read through `rusqlite`; the header blobs are parsed by hand because the rpm
//! crates on crates.io read whole `.rpm` files (lead, signature, payload), not the bare
//! header rpm stores in its database, and the few tags needed here are simple to bound-check.
//!
//! A header blob is `il` (u32 BE, index entries), `dl` (u32 BE, data bytes), then `il`
//! entries of four u32 BE (tag, type, offset, count), then `dl` bytes of data. Every offset
//! and count is checked against the blob: it comes from the image.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rusqlite::{Connection, OpenFlags};

use super::{DATABASES, WAL};
use crate::layer::clean;
use crate::packages::{Ecosystem, Package, PackageSet, ReadError};

const NAME: u32 = 1000;
const VERSION: u32 = 1001;
const RELEASE: u32 = 1002;
const EPOCH: u32 = 1003;
const ARCH: u32 = 1022;
const OLDFILENAMES: u32 = 1027;
const DIRINDEXES: u32 = 1116;
const BASENAMES: u32 = 1117;
const DIRNAMES: u32 = 1118;

const INT32: u32 = 4;
const STRING: u32 = 6;
const STRING_ARRAY: u32 = 8;
const I18NSTRING: u32 = 9;

/// rpm's own limits on a header (`HEADER_TAGS_MAX`, `HEADER_DATA_MAX`).
const TAGS_MAX: usize = 0xffff;
const DATA_MAX: usize = 0x0fff_ffff;

/// Why a header blob cannot be read.
#[derive(Debug, thiserror::Error)]
pub(in crate::packages) enum HeaderError {
    #[error("{len} bytes, too short for the {needed} bytes its counts announce")]
    Truncated { len: usize, needed: usize },
    #[error("{entries} index entries or {data} data bytes, beyond rpm's limits")]
    TooLarge { entries: usize, data: usize },
    #[error("tag {tag} has type {found}, not {expected}")]
    Type { tag: u32, found: u32, expected: u32 },
    #[error("tag {tag}: offset {offset} and count {count} run past the {len} data bytes")]
    OutOfBounds {
        tag: u32,
        offset: usize,
        count: usize,
        len: usize,
    },
    #[error("no tag {tag}")]
    Missing { tag: u32 },
    #[error("file {index} names directory {dir} of {dirs}")]
    DirIndex {
        index: usize,
        dir: usize,
        dirs: usize,
    },
}

struct Entry {
    tag: u32,
    kind: u32,
    offset: usize,
    count: usize,
}

struct Header<'b> {
    entries: Vec<Entry>,
    data: &'b [u8],
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// `usize` from an on-disk u32 (lossless on the 32- and 64-bit targets ocidiff builds for).
fn size(n: u32) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

impl<'b> Header<'b> {
    fn parse(blob: &'b [u8]) -> Result<Self, HeaderError> {
        let truncated = |needed| HeaderError::Truncated {
            len: blob.len(),
            needed,
        };
        let (Some(il), Some(dl)) = (be32(blob, 0), be32(blob, 4)) else {
            return Err(truncated(8));
        };
        let (entries, data) = (size(il), size(dl));
        if entries > TAGS_MAX || data > DATA_MAX {
            return Err(HeaderError::TooLarge { entries, data });
        }
        let start = 8 + entries * 16;
        let end = start + data;
        let data = blob.get(start..end).ok_or_else(|| truncated(end))?;
        let entries = (0..entries)
            .map(|i| {
                // In bounds: the blob holds at least `start` bytes.
                let field = |k: usize| be32(blob, 8 + i * 16 + 4 * k).unwrap_or(0);
                Entry {
                    tag: field(0),
                    kind: field(1),
                    offset: size(field(2)),
                    count: size(field(3)),
                }
            })
            .collect();
        Ok(Header { entries, data })
    }

    fn entry(&self, tag: u32, expected: &[u32]) -> Result<Option<&Entry>, HeaderError> {
        let Some(e) = self.entries.iter().find(|e| e.tag == tag) else {
            return Ok(None);
        };
        if !expected.contains(&e.kind) {
            return Err(HeaderError::Type {
                tag,
                found: e.kind,
                expected: expected[0],
            });
        }
        if e.offset >= self.data.len() {
            return Err(self.out_of_bounds(e));
        }
        Ok(Some(e))
    }

    fn out_of_bounds(&self, e: &Entry) -> HeaderError {
        HeaderError::OutOfBounds {
            tag: e.tag,
            offset: e.offset,
            count: e.count,
            len: self.data.len(),
        }
    }

    /// `count` NUL-terminated strings from `e.offset`.
    fn strings(&self, e: &Entry, count: usize) -> Result<Vec<String>, HeaderError> {
        // Each string takes at least one byte: a larger count cannot fit.
        if count > self.data.len() {
            return Err(self.out_of_bounds(e));
        }
        let mut rest = self
            .data
            .get(e.offset..)
            .ok_or_else(|| self.out_of_bounds(e))?;
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            let nul = rest
                .iter()
                .position(|&b| b == 0)
                .ok_or_else(|| self.out_of_bounds(e))?;
            out.push(String::from_utf8_lossy(&rest[..nul]).into_owned());
            rest = &rest[nul + 1..];
        }
        Ok(out)
    }

    fn string(&self, tag: u32) -> Result<Option<String>, HeaderError> {
        match self.entry(tag, &[STRING, I18NSTRING])? {
            Some(e) => Ok(self.strings(e, 1)?.pop()),
            None => Ok(None),
        }
    }

    fn required(&self, tag: u32) -> Result<String, HeaderError> {
        self.string(tag)?.ok_or(HeaderError::Missing { tag })
    }

    fn string_array(&self, tag: u32) -> Result<Vec<String>, HeaderError> {
        match self.entry(tag, &[STRING_ARRAY])? {
            Some(e) => self.strings(e, e.count),
            None => Ok(Vec::new()),
        }
    }

    fn int32s(&self, tag: u32) -> Result<Vec<u32>, HeaderError> {
        let Some(e) = self.entry(tag, &[INT32])? else {
            return Ok(Vec::new());
        };
        let bytes = e
            .count
            .checked_mul(4)
            .and_then(|n| n.checked_add(e.offset))
            .and_then(|end| self.data.get(e.offset..end))
            .ok_or_else(|| self.out_of_bounds(e))?;
        Ok(bytes
            .chunks_exact(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    /// Owned paths: `DIRNAMES[DIRINDEXES[i]] + BASENAMES[i]`, or the older `OLDFILENAMES`.
    fn files(&self) -> Result<Vec<String>, HeaderError> {
        let old = self.string_array(OLDFILENAMES)?;
        if !old.is_empty() {
            return Ok(old.iter().map(|f| clean(f)).collect());
        }
        let bases = self.string_array(BASENAMES)?;
        let dirs = self.string_array(DIRNAMES)?;
        let indexes = self.int32s(DIRINDEXES)?;
        bases
            .iter()
            .enumerate()
            .map(|(index, base)| {
                let dir = indexes.get(index).map_or(usize::MAX, |d| size(*d));
                let name = dirs.get(dir).ok_or(HeaderError::DirIndex {
                    index,
                    dir,
                    dirs: dirs.len(),
                })?;
                Ok(clean(&format!("{name}{base}")))
            })
            .collect()
    }

    fn package(&self) -> Result<Package, HeaderError> {
        let name = self.required(NAME)?;
        let version = self.required(VERSION)?;
        let release = self.string(RELEASE)?;
        let epoch = self.int32s(EPOCH)?.first().copied();
        let mut full = String::new();
        if let Some(epoch) = epoch {
            let _ = write!(full, "{epoch}:");
        }
        full.push_str(&version);
        if let Some(release) = release {
            full.push('-');
            full.push_str(&release);
        }
        Ok(Package {
            ecosystem: Ecosystem::Rpm,
            name,
            version: full,
            arch: self.string(ARCH)?,
            files: self.files()?,
        })
    }
}

pub(in crate::packages) fn read(files: &BTreeMap<String, Vec<u8>>, set: &mut PackageSet) {
    for db in DATABASES {
        if let Some(content) = files.get(db) {
            let wal = files.get(&format!("{db}{WAL}"));
            read_db(db, content, wal.map(Vec::as_slice), set);
            // Where both exist, the first is the live one (the other a leftover or a link).
            return;
        }
    }
}

fn read_db(path: &str, content: &[u8], wal: Option<&[u8]>, set: &mut PackageSet) {
    let rows = match rows(path, content, wal) {
        Ok(rows) => rows,
        Err(e) => return set.note(e),
    };
    for (hnum, blob) in rows {
        match Header::parse(&blob).and_then(|h| h.package()) {
            Ok(p) => set.packages.push(p),
            Err(reason) => set.note(ReadError::Header {
                path: path.to_owned(),
                hnum,
                reason,
            }),
        }
    }
}

/// The header blobs of the database, read from a private copy: `SQLite` reads files, and a
/// database in WAL mode needs its `-wal` beside it and a writable directory for `-shm`.
fn rows(path: &str, content: &[u8], wal: Option<&[u8]>) -> Result<Vec<(i64, Vec<u8>)>, ReadError> {
    let copy = |source| ReadError::Copy {
        path: path.to_owned(),
        source,
    };
    let sqlite = |source| ReadError::Sqlite {
        path: path.to_owned(),
        source,
    };
    let dir = tempfile::tempdir().map_err(copy)?;
    let file = dir.path().join("rpmdb.sqlite");
    std::fs::write(&file, content).map_err(copy)?;
    if let Some(wal) = wal {
        std::fs::write(dir.path().join(format!("rpmdb.sqlite{WAL}")), wal).map_err(copy)?;
    }
    let conn = Connection::open_with_flags(
        &file,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite)?;
    // The schema comes from the image: let none of its triggers or views run functions.
    conn.pragma_update(None, "trusted_schema", false)
        .map_err(sqlite)?;
    let mut stmt = conn
        .prepare("SELECT hnum, blob FROM Packages ORDER BY hnum")
        .map_err(sqlite)?;
    let rows = stmt
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .map_err(sqlite)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sqlite)?;
    Ok(rows)
}
