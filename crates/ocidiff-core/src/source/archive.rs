//! Reading the members of a tar archive in place, shared by the OCI-archive and docker-archive
//! sources.
//!
//! The archive is scanned once (headers only, read with Go's rules as Docker's and
//! containerd's readers read them; the reader seeks over member data) and each member placed
//! where `docker load`'s extraction would put it ([`Members`]). Opening a member is then a
//! fresh file handle seeked to its range, so several threads can read blobs at once and
//! nothing is unpacked to disk or held in memory.
//!
//! Compressed archives (`docker save | gzip`) are refused rather than streamed: streaming would
//! mean decompressing the whole archive once per blob read, or unpacking it, and a one-off
//! `gunzip` costs the user less than either.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::members::{Entry, Found, MemberError, Members};
use crate::layer::tar::{Reader, typeflag};
use crate::model::{Algorithm, Digest, Hasher};

/// Why an archive or one of its members could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// The archive could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The archive.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A compressed archive, refused rather than read (see the module doc).
    #[error(
        "{path}: the archive is {compression}-compressed; decompress it first (ocidiff reads \
         archives in place, without unpacking them)"
    )]
    Compressed {
        /// The archive.
        path: PathBuf,
        /// The compression found (`gzip`, `zstd`, `xz`, `bzip2`).
        compression: &'static str,
    },
    /// The file does not read as a tar stream.
    #[error("{path}: not a readable tar archive: {source}")]
    NotTar {
        /// The archive.
        path: PathBuf,
        /// Where reading it as tar failed.
        source: io::Error,
    },
    /// A member whose data runs past the end of the file: a truncated archive.
    #[error(
        "{path}: member {member:?} ends at byte {end}, past the end of the archive ({len} bytes): \
         the archive is truncated or corrupt"
    )]
    OutOfBounds {
        /// The archive.
        path: PathBuf,
        /// The member's name.
        member: String,
        /// The byte its data would end at.
        end: u64,
        /// The archive's length in bytes.
        len: u64,
    },
    /// The archive has nothing at a name a document refers to.
    #[error("{path}: the archive has no member {member:?}")]
    MissingMember {
        /// The archive.
        path: PathBuf,
        /// The member name looked for.
        member: String,
    },
    /// Members that cannot be placed as `docker load` places them, or a name that leads nowhere.
    #[error("{path}: {source}")]
    Member {
        /// The archive.
        path: PathBuf,
        /// Which members, and why.
        source: MemberError,
    },
    /// A member of a tar type `docker load` refuses.
    #[error("{path}: member {member:?} has tar type {typeflag:?}, which docker load refuses")]
    Typeflag {
        /// The archive.
        path: PathBuf,
        /// The member's name.
        member: String,
        /// Its tar typeflag, as a character.
        typeflag: char,
    },
    /// A sparse member, which is not read in place.
    #[error(
        "{path}: member {member:?} is a sparse file; ocidiff reads archive members in place and \
         does not read sparse ones (no tool writes them in image archives)"
    )]
    Sparse {
        /// The archive.
        path: PathBuf,
        /// The member's name.
        member: String,
    },
    /// A document member over the size allowed for it.
    #[error("{path}: member {member:?} is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        /// The archive.
        path: PathBuf,
        /// The member's name.
        member: String,
        /// Its size in bytes.
        size: u64,
        /// The most allowed, in bytes.
        limit: u64,
    },
    /// A document in the archive that is not what the format expects.
    #[error("{path}: {what}: {reason}")]
    Malformed {
        /// The archive.
        path: PathBuf,
        /// Which document.
        what: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// A member's place in the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Where the member's data starts in the archive file.
    pub offset: u64,
    /// Its length in bytes.
    pub size: u64,
}

/// The members of one tar archive, where extraction puts them.
#[derive(Debug)]
pub struct TarIndex {
    path: PathBuf,
    members: Members<Span>,
}

impl TarIndex {
    /// Reads every header of the archive at `path`.
    pub fn scan(path: &Path) -> Result<TarIndex, ArchiveError> {
        let io_err = |source| ArchiveError::Io {
            path: path.to_owned(),
            source,
        };
        let file = File::open(path).map_err(io_err)?;
        let len = file.metadata().map_err(io_err)?.len();
        let mut reader = BufReader::with_capacity(64 << 10, file);
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
        let mut tar = Reader::seeking(reader);
        let mut members = Members::default();
        while let Some(header) = tar.next_header().map_err(|e| ArchiveError::NotTar {
            path: path.to_owned(),
            source: e.into_io(),
        })? {
            let member = || String::from_utf8_lossy(&header.name).into_owned();
            let entry = match header.typeflag {
                typeflag::REG => {
                    if header.pax.keys().any(|k| k.starts_with(b"GNU.sparse.")) {
                        return Err(ArchiveError::Sparse {
                            path: path.to_owned(),
                            member: member(),
                        });
                    }
                    let offset = tar.position();
                    let size = u64::try_from(header.size).unwrap_or(0);
                    let end = offset.saturating_add(size);
                    if end > len {
                        return Err(ArchiveError::OutOfBounds {
                            path: path.to_owned(),
                            member: member(),
                            end,
                            len,
                        });
                    }
                    Entry::File(Span { offset, size })
                }
                typeflag::DIR => Entry::Dir,
                typeflag::SYMLINK => Entry::Symlink(header.linkname.clone()),
                typeflag::LINK => Entry::Hardlink(header.linkname.clone()),
                typeflag::CHAR | typeflag::BLOCK | typeflag::FIFO => Entry::Other,
                // Ignored by extraction.
                typeflag::X_GLOBAL_HEADER => continue,
                other => {
                    return Err(ArchiveError::Typeflag {
                        path: path.to_owned(),
                        member: member(),
                        typeflag: char::from(other),
                    });
                }
            };
            members
                .insert(&header.name, entry)
                .map_err(|source| ArchiveError::Member {
                    path: path.to_owned(),
                    source,
                })?;
        }
        Ok(TarIndex {
            path: path.to_owned(),
            members,
        })
    }

    /// The archive file, to name in messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether `docker load` would find something at `name` (a name that leads nowhere it can
    /// read, such as through an absolute link, counts: reading it says why).
    pub fn contains(&self, name: &str) -> bool {
        !matches!(self.members.find(name), Ok(Found::Nothing(_)))
    }

    /// Where the file a member name leads to is, as `docker load` finds it once extracted.
    pub fn resolve(&self, name: &str) -> Result<Span, ArchiveError> {
        match self.members.file(name) {
            Ok(span) => Ok(*span),
            Err(MemberError::Missing { .. }) => Err(ArchiveError::MissingMember {
                path: self.path.clone(),
                member: name.to_owned(),
            }),
            Err(source) => Err(ArchiveError::Member {
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// A reader of the member's bytes on a handle of its own.
    pub fn open(&self, name: &str) -> Result<io::Take<File>, ArchiveError> {
        let span = self.resolve(name)?;
        self.open_span(span)
    }

    /// A reader of the bytes at `span` on a handle of its own.
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

    /// The digest of a member's bytes, read in place.
    pub fn digest(&self, span: Span, algorithm: Algorithm) -> Result<Digest, ArchiveError> {
        let mut reader = self.open_span(span)?;
        let mut hasher = Hasher::new(algorithm);
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

#[cfg(test)]
pub(crate) mod tests {
    use ocidiff_testkit::{Entry, Layer, RawTar};

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
            Entry::file("big", vec![7u8; 5000]),
            Entry::file("two", b"replaced"),
        ]));
        let index = TarIndex::scan(&path).unwrap();
        assert!(index.contains("a/one") && index.contains("./a/one"));
        assert!(
            matches!(index.open("a/"), Err(ArchiveError::Member { .. })),
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
        assert_eq!(
            index.digest(span, Algorithm::Sha256).unwrap(),
            Digest::sha256_of(b"replaced")
        );
    }

    #[test]
    fn links_are_followed_within_the_archive() {
        let (_d, path) = temp_file(&outer(vec![
            Entry::file("x/layer.tar", b"data"),
            Entry::symlink("y/layer.tar", "../x/layer.tar"),
            Entry::symlink("z/layer.tar", "./../y/layer.tar"),
            Entry::hardlink("h", "./x/layer.tar"),
            Entry::symlink("up", "../../x/layer.tar"),
            Entry::symlink("loop", "loop"),
            Entry::symlink("abs", "/etc/passwd"),
            Entry::symlink("dangling", "nothing"),
        ]));
        let index = TarIndex::scan(&path).unwrap();
        for name in ["y/layer.tar", "z/layer.tar", "h", "up"] {
            assert_eq!(read(&index, name), b"data", "{name}");
        }
        for name in ["loop", "abs", "dangling"] {
            let err = index.open(name).unwrap_err();
            assert!(matches!(err, ArchiveError::Member { .. }), "{name}: {err}");
        }
        assert!(matches!(
            index.open("missing"),
            Err(ArchiveError::MissingMember { .. })
        ));
    }

    #[test]
    fn members_are_named_as_go_reads_the_headers() {
        // Repeated PAX path records: Go keeps the last (the `tar` crate the first).
        let tar = RawTar::new()
            .pax(b'x', &[("path", b"decoy"), ("path", b"manifest.json")])
            .file(b"header-name", b"[]")
            .finish();
        let (_d, path) = temp_file(&tar);
        let index = TarIndex::scan(&path).unwrap();
        assert!(index.contains("manifest.json"));
        assert!(!index.contains("decoy") && !index.contains("header-name"));
        // A typeflag docker load refuses, a zero block before more members.
        for (tar, needle) in [
            (
                RawTar::new().entry(b"c", b'7', 1, b"c").finish(),
                "tar type '7'",
            ),
            (
                RawTar::new()
                    .file(b"a", b"")
                    .bytes(&[0; 512])
                    .file(b"hidden", b"h")
                    .finish(),
                "not a readable tar archive",
            ),
        ] {
            let (_d, path) = temp_file(&tar);
            let err = TarIndex::scan(&path).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn colliding_members_are_refused() {
        let (_d, path) = temp_file(&outer(vec![
            Entry::file("manifest.json", b"[]"),
            Entry::file("x/../manifest.json", b"[{}]"),
        ]));
        let err = TarIndex::scan(&path).unwrap_err().to_string();
        assert!(
            err.contains("\"manifest.json\" and \"x/../manifest.json\" both extract to"),
            "{err}"
        );
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
}
