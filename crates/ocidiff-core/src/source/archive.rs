//! Reading the members of a tar archive in place, shared by the OCI-archive and docker-archive
//! sources.
//!
//! The archive is scanned once (headers only: the reader seeks over member data) into a table
//! of member name → byte range. Opening a member is then a fresh file handle seeked to its
//! range, so several threads can read blobs at once and nothing is unpacked to disk or held in
//! memory.
//!
//! Compressed archives (`docker save | gzip`) are refused rather than streamed: streaming would
//! mean decompressing the whole archive once per blob read, or unpacking it, and a one-off
//! `gunzip` costs the user less than either.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::model::{Digest, Hasher};

/// How many links a member name may go through before it is taken for a loop.
const MAX_LINK_HOPS: usize = 16;

/// Why an archive or one of its members could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "{path}: the archive is {compression}-compressed; decompress it first (ocidiff reads \
         archives in place, without unpacking them)"
    )]
    Compressed {
        path: PathBuf,
        compression: &'static str,
    },
    #[error("{path}: not a readable tar archive: {source}")]
    NotTar { path: PathBuf, source: io::Error },
    #[error(
        "{path}: member {member:?} ends at byte {end}, past the end of the archive ({len} bytes): \
         the archive is truncated or corrupt"
    )]
    OutOfBounds {
        path: PathBuf,
        member: String,
        end: u64,
        len: u64,
    },
    #[error("{path}: the archive has no member {member:?}")]
    MissingMember { path: PathBuf, member: String },
    #[error("{path}: member {member:?} is a link that leads nowhere in the archive ({reason})")]
    BadLink {
        path: PathBuf,
        member: String,
        reason: String,
    },
    #[error("{path}: member {member:?} is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        path: PathBuf,
        member: String,
        size: u64,
        limit: u64,
    },
    #[error("{path}: {what}: {reason}")]
    Malformed {
        path: PathBuf,
        what: String,
        reason: String,
    },
}

/// What a member name stands for.
#[derive(Debug, Clone)]
enum Member {
    File {
        offset: u64,
        size: u64,
    },
    /// Target as written, relative to the link's directory.
    Symlink(String),
    /// Target as written, relative to the archive root.
    Hardlink(String),
}

/// A member's place in the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub offset: u64,
    pub size: u64,
}

/// The members of one tar archive, by normalised name.
#[derive(Debug)]
pub struct TarIndex {
    path: PathBuf,
    members: HashMap<String, Member>,
}

/// `./a/b` → `a/b`: archive writers differ on the leading `./`.
pub(super) fn normalize(name: &str) -> &str {
    let mut name = name;
    while let Some(rest) = name.strip_prefix("./") {
        name = rest;
    }
    name
}

impl TarIndex {
    /// Reads every header of the archive at `path`. Later members of the same name replace
    /// earlier ones, as extraction would.
    pub fn scan(path: &Path) -> Result<TarIndex, ArchiveError> {
        let io_err = |source| ArchiveError::Io {
            path: path.to_owned(),
            source,
        };
        let file = File::open(path).map_err(io_err)?;
        let len = file.metadata().map_err(io_err)?.len();
        let mut reader = BufReader::new(file);
        let head = reader.fill_buf().map_err(io_err)?;
        let compression = if head.starts_with(&[0x1f, 0x8b]) {
            Some("gzip")
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some("zstd")
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Some("xz")
        } else if head.starts_with(b"BZh") {
            Some("bzip2")
        } else {
            None
        };
        if let Some(compression) = compression {
            return Err(ArchiveError::Compressed {
                path: path.to_owned(),
                compression,
            });
        }
        let not_tar = |source| ArchiveError::NotTar {
            path: path.to_owned(),
            source,
        };
        let mut archive = tar::Archive::new(reader);
        let mut members = HashMap::new();
        for entry in archive.entries_with_seek().map_err(not_tar)? {
            let entry = entry.map_err(not_tar)?;
            let name = normalize(&String::from_utf8_lossy(&entry.path_bytes())).to_owned();
            let link = || {
                entry
                    .link_name_bytes()
                    .map(|l| String::from_utf8_lossy(&l).into_owned())
                    .unwrap_or_default()
            };
            let member = match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let offset = entry.raw_file_position();
                    let size = entry.size();
                    let end = offset.saturating_add(size);
                    if end > len {
                        return Err(ArchiveError::OutOfBounds {
                            path: path.to_owned(),
                            member: name,
                            end,
                            len,
                        });
                    }
                    Member::File { offset, size }
                }
                tar::EntryType::Symlink => Member::Symlink(link()),
                tar::EntryType::Link => Member::Hardlink(link()),
                _ => continue,
            };
            members.insert(name, member);
        }
        Ok(TarIndex {
            path: path.to_owned(),
            members,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the archive has a member of this name (of any type).
    pub fn contains(&self, name: &str) -> bool {
        self.members.contains_key(normalize(name))
    }

    /// Where the file a member name leads to is, following symbolic and hard links within the
    /// archive (older `docker save` links identical `layer.tar` files to one copy).
    pub fn resolve(&self, name: &str) -> Result<Span, ArchiveError> {
        let bad_link = |reason: String| ArchiveError::BadLink {
            path: self.path.clone(),
            member: name.to_owned(),
            reason,
        };
        let mut current = normalize(name).to_owned();
        for _ in 0..MAX_LINK_HOPS {
            let member = self.members.get(&current).ok_or_else(|| {
                if current == normalize(name) {
                    ArchiveError::MissingMember {
                        path: self.path.clone(),
                        member: name.to_owned(),
                    }
                } else {
                    bad_link(format!("{current:?} is not in the archive"))
                }
            })?;
            current = match member {
                Member::File { offset, size } => {
                    return Ok(Span {
                        offset: *offset,
                        size: *size,
                    });
                }
                Member::Hardlink(target) => normalize(target).to_owned(),
                Member::Symlink(target) => {
                    let dir = current.rsplit_once('/').map_or("", |(dir, _)| dir);
                    join_inside(dir, target)
                        .ok_or_else(|| bad_link(format!("{target:?} points outside it")))?
                }
            };
        }
        Err(bad_link(format!("more than {MAX_LINK_HOPS} links")))
    }

    /// A reader of the member's bytes on a handle of its own.
    pub fn open(&self, name: &str) -> Result<io::Take<File>, ArchiveError> {
        let span = self.resolve(name)?;
        self.open_span(span)
    }

    pub fn open_span(&self, span: Span) -> Result<io::Take<File>, ArchiveError> {
        let io_err = |source| ArchiveError::Io {
            path: self.path.clone(),
            source,
        };
        let mut file = File::open(&self.path).map_err(io_err)?;
        file.seek(SeekFrom::Start(span.offset)).map_err(io_err)?;
        Ok(file.take(span.size))
    }

    /// Reads a small member (a JSON document) whole, refusing one larger than `limit`.
    pub fn read_small(&self, name: &str, limit: u64) -> Result<Vec<u8>, ArchiveError> {
        let span = self.resolve(name)?;
        if span.size > limit {
            return Err(ArchiveError::TooLarge {
                path: self.path.clone(),
                member: name.to_owned(),
                size: span.size,
                limit,
            });
        }
        let mut bytes = Vec::with_capacity(usize::try_from(span.size).unwrap_or(0));
        self.open_span(span)?
            .read_to_end(&mut bytes)
            .map_err(|source| ArchiveError::Io {
                path: self.path.clone(),
                source,
            })?;
        Ok(bytes)
    }

    /// The SHA-256 digest of a member's bytes, read in place.
    pub fn sha256(&self, span: Span) -> Result<Digest, ArchiveError> {
        let mut reader = self.open_span(span)?;
        let mut hasher = Hasher::new(crate::model::Algorithm::Sha256);
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = reader.read(&mut buf).map_err(|source| ArchiveError::Io {
                path: self.path.clone(),
                source,
            })?;
            if n == 0 {
                return Ok(hasher.finish());
            }
            hasher.update(&buf[..n]);
        }
    }
}

/// `dir` joined with the relative link target `target`, `.` and `..` resolved; `None` when the
/// target is absolute or climbs above the archive root.
pub(super) fn join_inside(dir: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
pub(crate) mod tests {
    use ocidiff_testkit::{Entry, Layer};

    use super::*;
    use crate::content::{BlobSource, Limits, read_json_blob, verify_blob};
    use crate::model::{Blob, Document};

    /// Writes `bytes` to a file in a fresh temp dir.
    pub(crate) fn temp_file(bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("archive.tar");
        std::fs::write(&path, bytes).unwrap();
        (dir, path)
    }

    /// Verifies every blob below `root`: manifests of an index, then configs and layers.
    pub(crate) fn verify_all(root: &Blob, blobs: &dyn BlobSource) -> usize {
        let mut verified = 0;
        let declared = root.descriptor.as_ref().map(|d| d.media_type.as_str());
        match Document::parse(&root.bytes, declared).unwrap() {
            Document::Index(index) => {
                for d in &index.manifests {
                    let bytes = read_json_blob(blobs, d, Limits::default().json_bytes).unwrap();
                    let child = Blob {
                        descriptor: Some(d.clone()),
                        bytes,
                    };
                    verified += 1 + verify_all(&child, blobs);
                }
            }
            Document::Manifest(m) => {
                for d in std::iter::once(&m.config).chain(&m.layers) {
                    verify_blob(blobs, d).unwrap();
                    verified += 1;
                }
            }
        }
        verified
    }

    fn outer(entries: Vec<Entry>) -> Vec<u8> {
        Layer::new(entries).tar_bytes()
    }

    fn read(index: &TarIndex, name: &str) -> Vec<u8> {
        let mut out = Vec::new();
        index.open(name).unwrap().read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn members_are_read_in_place_and_concurrently() {
        let (_d, path) = temp_file(&outer(vec![
            Entry::dir("./a/"),
            Entry::file("./a/one", b"first"),
            Entry::file("two", vec![7u8; 5000]),
            Entry::file("two", b"replaced"),
        ]));
        let index = TarIndex::scan(&path).unwrap();
        assert!(index.contains("a/one") && index.contains("./a/one"));
        assert!(
            !index.contains("a/"),
            "directories are not members one can open"
        );
        let mut lhs = index.open("a/one").unwrap();
        let mut rhs = index.open("./two").unwrap();
        let (mut l, mut r) = ([0u8; 2], Vec::new());
        lhs.read_exact(&mut l).unwrap();
        rhs.read_to_end(&mut r).unwrap();
        let mut rest = Vec::new();
        lhs.read_to_end(&mut rest).unwrap();
        assert_eq!(
            (&l[..], &rest[..], &r[..]),
            (&b"fi"[..], &b"rst"[..], &b"replaced"[..])
        );
        let span = index.resolve("two").unwrap();
        assert_eq!(index.sha256(span).unwrap(), Digest::sha256_of(b"replaced"));
    }

    #[test]
    fn links_are_followed_within_the_archive() {
        let (_d, path) = temp_file(&outer(vec![
            Entry::file("x/layer.tar", b"data"),
            Entry::symlink("y/layer.tar", "../x/layer.tar"),
            Entry::symlink("z/layer.tar", "./../y/layer.tar"),
            Entry::hardlink("h", "./x/layer.tar"),
            Entry::symlink("loop", "loop"),
            Entry::symlink("up", "../../etc/passwd"),
            Entry::symlink("abs", "/etc/passwd"),
            Entry::symlink("dangling", "nothing"),
        ]));
        let index = TarIndex::scan(&path).unwrap();
        for name in ["y/layer.tar", "z/layer.tar", "h"] {
            assert_eq!(read(&index, name), b"data", "{name}");
        }
        for name in ["loop", "up", "abs", "dangling"] {
            let err = index.open(name).unwrap_err();
            assert!(matches!(err, ArchiveError::BadLink { .. }), "{name}: {err}");
        }
        assert!(matches!(
            index.open("missing"),
            Err(ArchiveError::MissingMember { .. })
        ));
    }

    #[test]
    fn compressed_archives_are_refused_with_a_hint() {
        let tar = outer(vec![Entry::file("manifest.json", b"[]")]);
        let gz = ocidiff_testkit::compress(&tar, ocidiff_testkit::Compression::Gzip);
        let (_d, path) = temp_file(&gz);
        let err = TarIndex::scan(&path).unwrap_err();
        assert!(err.to_string().contains("gzip-compressed"), "{err}");
    }

    #[test]
    fn truncated_or_lying_archives_are_errors() {
        let tar = outer(vec![
            Entry::file("a", b"x"),
            Entry::file("b", vec![1u8; 2000]),
        ]);
        // Cut inside b's data: b's range runs past the end of the file.
        let (_d, path) = temp_file(&tar[..1536 + 1000]);
        let err = TarIndex::scan(&path).unwrap_err();
        assert!(matches!(err, ArchiveError::OutOfBounds { .. }), "{err}");
        // Cut inside b's header.
        let (_d, path) = temp_file(&tar[..1024 + 100]);
        assert!(matches!(
            TarIndex::scan(&path),
            Err(ArchiveError::NotTar { .. })
        ));
        // A header declaring far more data than the file holds.
        let mut header = tar::Header::new_ustar();
        header.set_path("huge").unwrap();
        header.set_size(1 << 32);
        header.set_cksum();
        let (_d, path) = temp_file(header.as_bytes());
        let err = TarIndex::scan(&path).unwrap_err();
        assert!(err.to_string().contains("\"huge\" ends at byte"), "{err}");
        let (_d, path) = temp_file(&[b'x'; 1024]);
        assert!(matches!(
            TarIndex::scan(&path),
            Err(ArchiveError::NotTar { .. })
        ));
    }

    #[test]
    fn small_reads_are_bounded() {
        let (_d, path) = temp_file(&outer(vec![Entry::file("big", vec![0u8; 100])]));
        let index = TarIndex::scan(&path).unwrap();
        assert_eq!(index.read_small("big", 100).unwrap().len(), 100);
        assert!(matches!(
            index.read_small("big", 99),
            Err(ArchiveError::TooLarge { .. })
        ));
    }

    #[test]
    fn link_targets_resolve_like_paths() {
        assert_eq!(join_inside("a/b", "../c").as_deref(), Some("a/c"));
        assert_eq!(join_inside("", "./x/./y").as_deref(), Some("x/y"));
        assert_eq!(join_inside("a", "../../x"), None);
        assert_eq!(join_inside("a", "/x"), None);
    }
}
