//! A tar reader that reads every stream exactly as Go's `archive/tar` does (Go 1.26, whose
//! reading has not changed since Go 1.19.2 but for a bound on GNU 1.0 sparse maps added in
//! 1.25.2).
//!
//! Written by hand because Docker, containerd, `BuildKit`, Podman and buildah all read layers
//! with Go's package, and the `tar` crate reads some streams differently: a size on a directory
//! header, typeflag NUL with a trailing `/`, repeated or empty PAX records, extension headers
//! without the ustar magic, a zero block followed by more entries… A verifier that reads a layer
//! differently from the runtime can be shown one file system while the runtime unpacks another.
//! Every header field, every entry and every error here is Go's; `tests/go_tar.rs` checks that
//! against Go itself.
//!
//! Memory is bounded as Go bounds it: extension records (PAX headers, GNU long names, sparse
//! maps) over 1 MiB are refused, and content is streamed, never held.

mod parse;
mod sparse;

use std::collections::BTreeMap;
use std::io::{self, BufRead, Read};

pub use parse::Time;
use parse::{Numbers, c_string};
use sparse::SparseEntry;

const BLOCK: u64 = 512;
/// Go's `maxSpecialFileSize`: the most a PAX header, GNU long name or sparse map may hold.
pub const MAX_SPECIAL_FILE: usize = 1 << 20;

/// Typeflags, as Go names them.
pub mod typeflag {
    /// A regular file.
    pub const REG: u8 = b'0';
    /// Promoted to [`REG`] or [`DIR`] by the reader, as Go does.
    pub const REG_A: u8 = 0;
    /// A hard link to `linkname`.
    pub const LINK: u8 = b'1';
    /// A symbolic link to `linkname`.
    pub const SYMLINK: u8 = b'2';
    /// A character device.
    pub const CHAR: u8 = b'3';
    /// A block device.
    pub const BLOCK: u8 = b'4';
    /// A directory.
    pub const DIR: u8 = b'5';
    /// A named pipe.
    pub const FIFO: u8 = b'6';
    /// Reserved (a contiguous file in old tars): its data is read as a regular file's.
    pub const CONT: u8 = b'7';
    /// A PAX header for the next entry; never returned, merged into it.
    pub const X_HEADER: u8 = b'x';
    /// A PAX global header, returned as an entry of its own as Go does.
    pub const X_GLOBAL_HEADER: u8 = b'g';
    /// An old GNU sparse file.
    pub const GNU_SPARSE: u8 = b'S';
    /// A GNU long name for the next entry; never returned, merged into it.
    pub const GNU_LONG_NAME: u8 = b'L';
    /// A GNU long link name for the next entry; never returned, merged into it.
    pub const GNU_LONG_LINK: u8 = b'K';
}

/// Types whose data section is empty whatever their size field says.
pub fn is_header_only(flag: u8) -> bool {
    matches!(
        flag,
        typeflag::LINK
            | typeflag::SYMLINK
            | typeflag::CHAR
            | typeflag::BLOCK
            | typeflag::DIR
            | typeflag::FIFO
    )
}

/// Go's best guess at the format of an entry, a set of its `tar.Format` bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Format(pub u8);

impl Format {
    /// No format could be told.
    pub const UNKNOWN: Format = Format(0);
    /// The original Unix V7 format: no magic, no user or group names.
    pub const V7: Format = Format(1);
    /// POSIX.1-1988 ustar.
    pub const USTAR: Format = Format(2);
    /// POSIX.1-2001 PAX: ustar with extended header records.
    pub const PAX: Format = Format(4);
    /// GNU tar's format: long names as extra entries, sparse files, base-256 numbers.
    pub const GNU: Format = Format(8);
    /// Schily's star format.
    pub const STAR: Format = Format(16);

    /// Whether any of `other`'s bits are set: the entry may be in that format.
    pub fn has(self, other: Format) -> bool {
        self.0 & other.0 != 0
    }

    fn may_only_be(&mut self, other: Format) {
        self.0 &= other.0;
    }
}

/// One entry as Go's `tar.Reader.Next` returns it. Strings are bytes, as in Go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// The entry type, one of [`typeflag`].
    pub typeflag: u8,
    /// The path, after PAX and GNU long-name overrides.
    pub name: Vec<u8>,
    /// A link's target, after PAX and GNU long-link overrides.
    pub linkname: Vec<u8>,
    /// The logical size; negative only on header-only types, which Go accepts.
    pub size: i64,
    /// The mode bits as stored, file type bits included if the writer set them.
    pub mode: i64,
    /// Owner user ID.
    pub uid: i64,
    /// Owner group ID.
    pub gid: i64,
    /// Owner user name, which runtimes ignore when unpacking.
    pub uname: Vec<u8>,
    /// Owner group name, which runtimes ignore when unpacking.
    pub gname: Vec<u8>,
    /// [`Time::GO_ZERO`] on a PAX global header, whose other fields Go leaves empty.
    pub mtime: Time,
    /// Access time, when the header has one (PAX or GNU).
    pub atime: Option<Time>,
    /// Change time, when the header has one (PAX or GNU).
    pub ctime: Option<Time>,
    /// Device major number (character and block devices).
    pub devmajor: i64,
    /// Device minor number (character and block devices).
    pub devminor: i64,
    /// Go's `Xattrs`: the `SCHILY.xattr.` records with a non-empty value.
    pub xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Go's `PAXRecords`: every record of the entry's PAX header, the last of each key.
    pub pax: BTreeMap<Vec<u8>, Vec<u8>>,
    /// The formats the header may be in.
    pub format: Format,
}

/// What Go's reader reports, with where in the stream it happened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TarError {
    /// Go's `ErrHeader`.
    #[error("invalid tar header at byte {offset}: {why}")]
    Header {
        /// Where the entry's header starts in the stream.
        offset: u64,
        /// What is wrong with it, in Go's words.
        why: &'static str,
    },
    /// Go's `ErrFieldTooLong`.
    #[error(
        "tar header at byte {offset}: a PAX header or GNU long name over 1 MiB, which container runtimes refuse"
    )]
    FieldTooLong {
        /// Where the entry's header starts in the stream.
        offset: u64,
    },
    /// Go's `errSparseTooLong`.
    #[error("tar entry at byte {offset}: its sparse map is over 1 MiB")]
    SparseTooLong {
        /// Where the entry starts in the stream.
        offset: u64,
    },
    /// Go's `errMissData`.
    #[error("sparse file at byte {offset} refers to data the archive does not hold")]
    MissData {
        /// Where the entry starts in the stream.
        offset: u64,
    },
    /// Go's `errUnrefData`.
    #[error("sparse file at byte {offset} holds data its sparse map does not refer to")]
    UnrefData {
        /// Where the entry starts in the stream.
        offset: u64,
    },
    /// Go's `io.ErrUnexpectedEOF`.
    #[error("the archive ends inside the entry at byte {offset}")]
    UnexpectedEof {
        /// Where the entry starts in the stream.
        offset: u64,
    },
    /// A stream Go itself reads differently from run to run: refused.
    #[error("tar header at byte {offset}: {why}")]
    Ambiguous {
        /// Where the entry starts in the stream.
        offset: u64,
        /// Why the header is refused.
        why: &'static str,
    },
    /// The stream below failed (decompression, digest, limits).
    #[error(transparent)]
    Io(io::Error),
}

impl TarError {
    /// The name of the error Go returns in the same place, for tests against Go.
    pub fn go_name(&self) -> &'static str {
        match self {
            TarError::Header { .. } => "archive/tar: invalid tar header",
            TarError::FieldTooLong { .. } => "archive/tar: header field too long",
            TarError::SparseTooLong { .. } => "archive/tar: sparse map too long",
            TarError::MissData { .. } => "archive/tar: sparse file references non-existent data",
            TarError::UnrefData { .. } => "archive/tar: sparse file contains unreferenced data",
            TarError::UnexpectedEof { .. } => "unexpected EOF",
            TarError::Ambiguous { .. } => "ambiguous",
            TarError::Io(_) => "io",
        }
    }

    /// The same error again, for a reader that keeps failing once it has failed.
    fn again(&self) -> TarError {
        match self {
            TarError::Header { offset, why } => TarError::Header {
                offset: *offset,
                why,
            },
            TarError::FieldTooLong { offset } => TarError::FieldTooLong { offset: *offset },
            TarError::SparseTooLong { offset } => TarError::SparseTooLong { offset: *offset },
            TarError::MissData { offset } => TarError::MissData { offset: *offset },
            TarError::UnrefData { offset } => TarError::UnrefData { offset: *offset },
            TarError::UnexpectedEof { offset } => TarError::UnexpectedEof { offset: *offset },
            TarError::Ambiguous { offset, why } => TarError::Ambiguous {
                offset: *offset,
                why,
            },
            TarError::Io(e) => TarError::Io(io::Error::new(e.kind(), e.to_string())),
        }
    }

    /// Carries the error through `io::Read`; [`TarError::from_io`] takes it back out.
    pub fn into_io(self) -> io::Error {
        match self {
            TarError::Io(e) => e,
            other => io::Error::other(other),
        }
    }

    /// The `TarError` inside an error [`TarError::into_io`] made, or the I/O error itself.
    pub fn from_io(err: io::Error) -> TarError {
        err.downcast::<TarError>().unwrap_or_else(TarError::Io)
    }
}

/// Counts the bytes read, to say where a problem is.
struct Counting<R> {
    inner: R,
    pos: u64,
}

impl<R: Read> Counting<R> {
    /// Reads until `buf` is full or the stream ends; the number of bytes read.
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize, TarError> {
        let mut n = 0;
        while n < buf.len() {
            match self.inner.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => {
                    n += k;
                    self.pos += k as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(TarError::from_io(e)),
            }
        }
        Ok(n)
    }

    fn read_some(&mut self, buf: &mut [u8]) -> Result<usize, TarError> {
        loop {
            match self.inner.read(buf) {
                Ok(k) => {
                    self.pos += k as u64;
                    return Ok(k);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(TarError::from_io(e)),
            }
        }
    }
}

/// The data section of the current entry.
enum Current {
    Regular {
        /// Bytes of the data section not yet read.
        left: u64,
    },
    Sparse {
        left: u64,
        /// Holes (offset, length) in the logical file; the last, possibly empty, ends at its
        /// size.
        holes: Vec<SparseEntry>,
        hole: usize,
        pos: i64,
    },
}

impl Current {
    fn physical_left(&self) -> u64 {
        match self {
            Current::Regular { left } | Current::Sparse { left, .. } => *left,
        }
    }
}

/// Reads a tar stream entry by entry, as Go's `tar.Reader`: [`Reader::next_header`] moves to the next
/// entry, `Read` reads its content (holes of sparse files as zeros).
pub struct Reader<R> {
    r: Counting<R>,
    pad: u64,
    curr: Current,
    blk: [u8; 512],
    /// Where the current entry's first header starts.
    entry_offset: u64,
    /// Go's sticky error: once a call fails, every later one fails the same way.
    failed: Option<TarError>,
    ended: bool,
    scratch: Vec<u8>,
    /// Moves the stream forward without reading, when it can ([`Reader::seeking`]).
    seek: Option<fn(&mut R, u64) -> io::Result<()>>,
}

type Records = BTreeMap<Vec<u8>, Vec<u8>>;

impl<R: Read> Reader<R> {
    /// A reader at the start of a tar stream.
    pub fn new(inner: R) -> Reader<R> {
        Reader {
            r: Counting { inner, pos: 0 },
            pad: 0,
            curr: Current::Regular { left: 0 },
            blk: [0; 512],
            entry_offset: 0,
            failed: None,
            ended: false,
            scratch: Vec::new(),
            seek: None,
        }
    }

    /// The stream below, positioned where the reader stopped: right after the end-of-archive
    /// marker once [`Reader::next_header`] has returned `None`.
    pub fn into_inner(self) -> R {
        self.r.inner
    }

    /// The stream below, to reach the state of a wrapper there; reading from it would put the
    /// reader out of step.
    pub fn inner_mut(&mut self) -> &mut R {
        &mut self.r.inner
    }

    /// Bytes of the current entry's data still to come, when they come straight from the
    /// stream (`None` for a sparse entry, whose holes are filled in as it is read).
    pub fn plain_data_left(&self) -> Option<u64> {
        match self.curr {
            Current::Regular { left } => Some(left),
            Current::Sparse { .. } => None,
        }
    }

    /// Bytes read from the stream so far.
    pub fn position(&self) -> u64 {
        self.r.pos
    }

    /// Where the entry [`Reader::next_header`] last returned starts in the stream.
    pub fn entry_offset(&self) -> u64 {
        self.entry_offset
    }

    /// The next entry, skipping what is left of the current one; `None` at the end of the
    /// archive.
    pub fn next_header(&mut self) -> Result<Option<Header>, TarError> {
        if let Some(e) = &self.failed {
            return Err(e.again());
        }
        if self.ended {
            return Ok(None);
        }
        match self.read_next() {
            Ok(None) => {
                self.ended = true;
                Ok(None)
            }
            Ok(Some(h)) => Ok(Some(h)),
            Err(e) => {
                self.failed = Some(e.again());
                Err(e)
            }
        }
    }

    fn header_error(&self, why: &'static str) -> TarError {
        TarError::Header {
            offset: self.entry_offset,
            why,
        }
    }

    fn read_next(&mut self) -> Result<Option<Header>, TarError> {
        let mut pax: Option<Records> = None;
        let mut long_name = Vec::new();
        let mut long_link = Vec::new();
        let mut format = Format(Format::USTAR.0 | Format::PAX.0 | Format::GNU.0);
        let mut first = true;
        loop {
            self.skip(self.curr.physical_left())?;
            let pad = usize::try_from(self.pad).expect("padding is under a block");
            let mut padding = [0u8; 512];
            // A stream that ends inside the padding ends the archive, as in Go.
            if self.r.fill(&mut padding[..pad])? < pad {
                return Ok(None);
            }
            self.pad = 0;
            if first {
                self.entry_offset = self.r.pos;
                first = false;
            }
            let Some(mut hdr) = self.read_header()? else {
                return Ok(None);
            };
            self.handle_regular_file(&hdr)?;
            format.may_only_be(hdr.format);
            match hdr.typeflag {
                typeflag::X_HEADER | typeflag::X_GLOBAL_HEADER => {
                    format.may_only_be(Format::PAX);
                    let records = self.parse_pax()?;
                    if hdr.typeflag == typeflag::X_GLOBAL_HEADER {
                        // Go merges a global header into the entry it returns for it and
                        // stops at the first record that fails, in its maps' random order: which
                        // records then apply differs from run to run.
                        if merge_pax(&mut hdr, Some(&records)).is_err() {
                            return Err(TarError::Ambiguous {
                                offset: self.entry_offset,
                                why: "a PAX global header with a malformed record, which Go \
                                      applies in part and in a random order",
                            });
                        }
                        return Ok(Some(Header {
                            typeflag: hdr.typeflag,
                            name: hdr.name,
                            mtime: Time::GO_ZERO,
                            xattrs: hdr.xattrs,
                            pax: hdr.pax,
                            format,
                            ..Header::default()
                        }));
                    }
                    pax = Some(records);
                }
                typeflag::GNU_LONG_NAME | typeflag::GNU_LONG_LINK => {
                    format.may_only_be(Format::GNU);
                    let data = self.read_special_file()?;
                    let value = c_string(&data).to_vec();
                    if hdr.typeflag == typeflag::GNU_LONG_NAME {
                        long_name = value;
                    } else {
                        long_link = value;
                    }
                }
                _ => {
                    merge_pax(&mut hdr, pax.as_ref()).map_err(|why| self.header_error(why))?;
                    if !long_name.is_empty() {
                        hdr.name = long_name;
                    }
                    if !long_link.is_empty() {
                        hdr.linkname = long_link;
                    }
                    if hdr.typeflag == typeflag::REG_A {
                        hdr.typeflag = if hdr.name.ends_with(b"/") {
                            typeflag::DIR
                        } else {
                            typeflag::REG
                        };
                    }
                    self.handle_regular_file(&hdr)?;
                    self.handle_sparse_file(&mut hdr)?;
                    if format.has(Format::USTAR) && format.has(Format::PAX) {
                        format.may_only_be(Format::USTAR);
                    }
                    hdr.format = format;
                    return Ok(Some(hdr));
                }
            }
        }
    }

    /// Skips `n` bytes of the stream.
    fn skip(&mut self, mut n: u64) -> Result<(), TarError> {
        if n == 0 {
            return Ok(());
        }
        // As Go's `discard`: seek to the last byte and read it, so that a stream cut short is
        // still found.
        if let (Some(seek), true) = (self.seek, n > 1) {
            seek(&mut self.r.inner, n - 1).map_err(TarError::from_io)?;
            self.r.pos += n - 1;
            n = 1;
        }
        if self.scratch.is_empty() {
            self.scratch = vec![0; 32 << 10];
        }
        while n > 0 {
            let want = usize::try_from(n)
                .unwrap_or(usize::MAX)
                .min(self.scratch.len());
            let k = self.r.read_some(&mut self.scratch[..want])?;
            if k == 0 {
                return Err(TarError::UnexpectedEof {
                    offset: self.entry_offset,
                });
            }
            n -= k as u64;
        }
        Ok(())
    }

    /// Reads one header block; `None` at the end of the archive (the stream ends before a
    /// header, or after one zero block, or two zero blocks).
    fn read_header(&mut self) -> Result<Option<Header>, TarError> {
        let at = self.r.pos;
        if self.read_block_or_end(at)? {
            return Ok(None);
        }
        let found = block_format(&self.blk);
        if found == Format::UNKNOWN {
            return Err(TarError::Header {
                offset: at,
                why: "bad header checksum",
            });
        }
        let mut p = Numbers::default();
        let hdr = parse_header(&self.blk, found, &mut p);
        if p.failed {
            return Err(TarError::Header {
                offset: at,
                why: "a numeric field that is not a number",
            });
        }
        Ok(Some(hdr))
    }

    /// Reads the block at `at` into `self.blk`; `true` at the end of the archive. A zero block
    /// ends it when the stream or a second zero block follows; anything else is an error.
    fn read_block_or_end(&mut self, at: u64) -> Result<bool, TarError> {
        let eof = |n: usize| -> Result<bool, TarError> {
            match n {
                0 => Ok(true),
                512 => Ok(false),
                _ => Err(TarError::UnexpectedEof { offset: at }),
            }
        };
        let n = self.r.fill(&mut self.blk)?;
        if eof(n)? {
            return Ok(true);
        }
        if self.blk.iter().all(|&b| b == 0) {
            let n = self.r.fill(&mut self.blk)?;
            if eof(n)? || self.blk.iter().all(|&b| b == 0) {
                return Ok(true);
            }
            return Err(TarError::Header {
                offset: at,
                why: "a zero block followed by more entries",
            });
        }
        Ok(false)
    }

    fn handle_regular_file(&mut self, hdr: &Header) -> Result<(), TarError> {
        let size = if is_header_only(hdr.typeflag) {
            0
        } else {
            hdr.size
        };
        let Ok(left) = u64::try_from(size) else {
            return Err(self.header_error("a negative size"));
        };
        self.pad = left.wrapping_neg() & (BLOCK - 1);
        self.curr = Current::Regular { left };
        Ok(())
    }

    fn handle_sparse_file(&mut self, hdr: &mut Header) -> Result<(), TarError> {
        let datas = if hdr.typeflag == typeflag::GNU_SPARSE {
            self.old_gnu_sparse_map(hdr)?
        } else {
            self.pax_sparse_map(hdr)?
        };
        let Some(datas) = datas else { return Ok(()) };
        if is_header_only(hdr.typeflag) || !sparse::valid(&datas, hdr.size) {
            return Err(self.header_error("an invalid sparse map"));
        }
        let left = self.curr.physical_left();
        self.curr = Current::Sparse {
            left,
            holes: sparse::holes(datas, hdr.size),
            hole: 0,
            pos: 0,
        };
        Ok(())
    }

    /// The sparse map of an old GNU sparse entry, in its header and the extension blocks
    /// after it; the header's size becomes the file's real size.
    fn old_gnu_sparse_map(
        &mut self,
        hdr: &mut Header,
    ) -> Result<Option<Vec<SparseEntry>>, TarError> {
        if block_format(&self.blk) != Format::GNU {
            return Err(self.header_error("a GNU sparse entry without the GNU magic"));
        }
        let mut p = Numbers::default();
        hdr.size = p.numeric(&self.blk[483..495]);
        if p.failed {
            return Err(self.header_error("a GNU sparse size that is not a number"));
        }
        let mut datas = Vec::new();
        let (mut start, mut entries) = (386, 4);
        let mut total = 24 * 4 + 1;
        while total < MAX_SPECIAL_FILE {
            for i in 0..entries {
                let e = &self.blk[start + i * 24..start + i * 24 + 24];
                if e[0] == 0 {
                    break;
                }
                let offset = p.numeric(&e[..12]);
                let length = p.numeric(&e[12..]);
                if p.failed {
                    return Err(self.header_error("a GNU sparse map that is not numbers"));
                }
                self.push_sparse(&mut datas, offset, length)?;
            }
            if self.blk[start + 24 * entries] == 0 {
                return Ok(Some(datas));
            }
            let at = self.r.pos;
            if self.r.fill(&mut self.blk)? < 512 {
                return Err(TarError::UnexpectedEof { offset: at });
            }
            (start, entries) = (0, 21);
            total += 512;
        }
        Err(TarError::SparseTooLong {
            offset: self.entry_offset,
        })
    }

    fn push_sparse(
        &self,
        datas: &mut Vec<SparseEntry>,
        offset: i64,
        length: i64,
    ) -> Result<(), TarError> {
        if datas.len() >= sparse::MAX_ENTRIES {
            return Err(TarError::SparseTooLong {
                offset: self.entry_offset,
            });
        }
        datas.push(SparseEntry { offset, length });
        Ok(())
    }

    /// The sparse map of a PAX (GNU 0.0, 0.1 or 1.0) sparse entry, if it is one.
    fn pax_sparse_map(&mut self, hdr: &mut Header) -> Result<Option<Vec<SparseEntry>>, TarError> {
        let get = |k: &str| hdr.pax.get(k.as_bytes()).map_or(&b""[..], Vec::as_slice);
        let (major, minor) = (get("GNU.sparse.major"), get("GNU.sparse.minor"));
        let v1 = match (major, minor) {
            (b"0", b"0" | b"1") => false,
            (b"1", b"0") => true,
            _ if !major.is_empty() || !minor.is_empty() => return Ok(None),
            _ if !get("GNU.sparse.map").is_empty() => false,
            _ => return Ok(None),
        };
        let name = get("GNU.sparse.name");
        if !name.is_empty() {
            hdr.name = name.to_vec();
        }
        let mut size = get("GNU.sparse.size");
        if size.is_empty() {
            size = get("GNU.sparse.realsize");
        }
        if !size.is_empty() {
            hdr.size = parse::parse_int(size)
                .ok_or_else(|| self.header_error("a GNU sparse size that is not a number"))?;
        }
        if v1 {
            return self.sparse_map_1x0().map(Some);
        }
        let count = parse::parse_int(get("GNU.sparse.numblocks"))
            .filter(|&n| n >= 0 && n.wrapping_mul(2) >= n)
            .ok_or_else(|| self.header_error("a bad GNU.sparse.numblocks"))?;
        let map = get("GNU.sparse.map");
        let fields: Vec<&[u8]> = if map.is_empty() {
            Vec::new()
        } else {
            map.split(|&c| c == b',').collect()
        };
        if i64::try_from(fields.len()).ok() != Some(2 * count) {
            return Err(self.header_error("a GNU.sparse.map of the wrong length"));
        }
        let mut datas = Vec::new();
        for pair in fields.chunks_exact(2) {
            let (Some(offset), Some(length)) =
                (parse::parse_int(pair[0]), parse::parse_int(pair[1]))
            else {
                return Err(self.header_error("a GNU.sparse.map that is not numbers"));
            };
            self.push_sparse(&mut datas, offset, length)?;
        }
        Ok(Some(datas))
    }

    /// A GNU 1.0 sparse map: newline-terminated decimal numbers in whole blocks at the start of
    /// the data section.
    fn sparse_map_1x0(&mut self) -> Result<Vec<SparseEntry>, TarError> {
        let mut buf: Vec<u8> = Vec::new();
        let mut newlines: i64 = 0;
        let mut read_total = 0usize;
        let mut cursor = 0usize;
        let mut block = [0u8; 512];
        let mut feed = |this: &mut Self, buf: &mut Vec<u8>, newlines: &mut i64, want: i64| {
            while *newlines < want {
                read_total += 512;
                if read_total > MAX_SPECIAL_FILE {
                    return Err(TarError::SparseTooLong {
                        offset: this.entry_offset,
                    });
                }
                let mut n = 0;
                while n < 512 {
                    match this.read_data(&mut block[n..])? {
                        0 => {
                            return Err(TarError::UnexpectedEof {
                                offset: this.entry_offset,
                            });
                        }
                        k => n += k,
                    }
                }
                buf.extend_from_slice(&block);
                // At most 512: no wrap; and not worth the bytecount crate for one block.
                #[allow(clippy::cast_possible_wrap, clippy::naive_bytecount)]
                let lines = block.iter().filter(|&&c| c == b'\n').count() as i64;
                *newlines += lines;
            }
            Ok(())
        };
        let token = |buf: &[u8], cursor: &mut usize, newlines: &mut i64| -> Vec<u8> {
            *newlines -= 1;
            let rest = &buf[*cursor..];
            let end = rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
            *cursor += (end + 1).min(rest.len());
            rest[..end].to_vec()
        };
        feed(self, &mut buf, &mut newlines, 1)?;
        let count = parse::parse_int(&token(&buf, &mut cursor, &mut newlines))
            .filter(|&n| n >= 0 && n.wrapping_mul(2) >= n)
            .ok_or_else(|| self.header_error("a bad GNU 1.0 sparse entry count"))?;
        feed(self, &mut buf, &mut newlines, 2 * count)?;
        let mut datas = Vec::new();
        for _ in 0..count {
            let offset = parse::parse_int(&token(&buf, &mut cursor, &mut newlines));
            let length = parse::parse_int(&token(&buf, &mut cursor, &mut newlines));
            let (Some(offset), Some(length)) = (offset, length) else {
                return Err(self.header_error("a GNU 1.0 sparse map that is not numbers"));
            };
            self.push_sparse(&mut datas, offset, length)?;
        }
        Ok(datas)
    }

    /// The records of a PAX header, the last of each key; GNU 0.0 sparse offsets and sizes
    /// gathered into `GNU.sparse.map`.
    fn parse_pax(&mut self) -> Result<Records, TarError> {
        let data = self.read_special_file()?;
        let mut s = &data[..];
        let mut records = Records::new();
        let mut sparse_map: Vec<&[u8]> = Vec::new();
        while !s.is_empty() {
            let (key, value, rest) =
                parse::pax_record(s).ok_or_else(|| self.header_error("a malformed PAX record"))?;
            s = rest;
            match key {
                b"GNU.sparse.offset" | b"GNU.sparse.numbytes" => {
                    let want: &[u8] = if sparse_map.len().is_multiple_of(2) {
                        b"GNU.sparse.offset"
                    } else {
                        b"GNU.sparse.numbytes"
                    };
                    if key != want || value.contains(&b',') {
                        return Err(self.header_error("GNU 0.0 sparse records out of order"));
                    }
                    sparse_map.push(value);
                }
                _ => {
                    records.insert(key.to_vec(), value.to_vec());
                }
            }
        }
        if !sparse_map.is_empty() {
            records.insert(b"GNU.sparse.map".to_vec(), sparse_map.join(&b","[..]));
        }
        Ok(records)
    }

    /// The whole data section of an extension entry, refused past 1 MiB.
    fn read_special_file(&mut self) -> Result<Vec<u8>, TarError> {
        let mut data = Vec::new();
        let mut chunk = [0u8; 8192];
        while data.len() <= MAX_SPECIAL_FILE {
            let want = chunk.len().min(MAX_SPECIAL_FILE + 1 - data.len());
            match self.read_data(&mut chunk[..want])? {
                0 => return Ok(data),
                n => data.extend_from_slice(&chunk[..n]),
            }
        }
        Err(TarError::FieldTooLong {
            offset: self.entry_offset,
        })
    }

    /// Reads from the current entry's data section (holes of a sparse file as zeros); `Ok(0)`
    /// at its end. Bytes read before an error are returned first, the error on the next call.
    fn read_data(&mut self, buf: &mut [u8]) -> Result<usize, TarError> {
        if let Some(e) = &self.failed {
            return Err(e.again());
        }
        let (n, err) = match &mut self.curr {
            Current::Regular { left } => {
                match read_section(&mut self.r, left, buf, self.entry_offset) {
                    Ok(n) => (n, None),
                    Err(e) => (0, Some(e)),
                }
            }
            Current::Sparse {
                left,
                holes,
                hole,
                pos,
            } => sparse::read(&mut self.r, left, holes, hole, pos, buf, self.entry_offset),
        };
        match err {
            None => Ok(n),
            Some(e) => {
                self.failed = Some(e.again());
                if n > 0 { Ok(n) } else { Err(e) }
            }
        }
    }
}

/// Reads from a data section with `left` bytes to go.
fn read_section<R: Read>(
    r: &mut Counting<R>,
    left: &mut u64,
    buf: &mut [u8],
    offset: u64,
) -> Result<usize, TarError> {
    let want = usize::try_from(*left).unwrap_or(usize::MAX).min(buf.len());
    if want == 0 {
        return Ok(0);
    }
    match r.read_some(&mut buf[..want])? {
        0 => Err(TarError::UnexpectedEof { offset }),
        n => {
            *left -= n as u64;
            Ok(n)
        }
    }
}

impl<R: BufRead> Reader<R> {
    /// Hands the rest of the current entry's content to `each`, in pieces as the stream
    /// buffers them, without copying them out of its buffer: what [`Read`] gives, with the
    /// same errors, which are sticky as Go's are.
    pub fn drain_data(&mut self, each: &mut dyn FnMut(&[u8])) -> Result<(), TarError> {
        if self.ended && self.failed.is_none() {
            return Ok(());
        }
        if let Some(e) = &self.failed {
            return Err(e.again());
        }
        let Current::Regular { left } = &mut self.curr else {
            // Holes are filled with zeros as they are read: no buffer to lend.
            let mut buf = vec![0u8; 64 << 10];
            loop {
                match self.read_data(&mut buf)? {
                    0 => return Ok(()),
                    n => each(&buf[..n]),
                }
            }
        };
        while *left > 0 {
            let taken = match self.r.inner.fill_buf() {
                Ok([]) => Err(TarError::UnexpectedEof {
                    offset: self.entry_offset,
                }),
                Ok(buf) => {
                    let n = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                    each(&buf[..n]);
                    Ok(n)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Err(TarError::from_io(e)),
            };
            match taken {
                Ok(n) => {
                    self.r.inner.consume(n);
                    self.r.pos += n as u64;
                    *left -= n as u64;
                }
                Err(e) => {
                    self.failed = Some(e.again());
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

impl<F: Read + io::Seek> Reader<io::BufReader<F>> {
    /// A reader that seeks over the data it skips instead of reading it: an archive read in
    /// place, whose members' data is not wanted while scanning it. Data already buffered is
    /// skipped within the buffer: a plain seek would empty it, and reading the next header
    /// would fill it again (a `docker save` archive of 120 small layers read 24 MB so).
    pub fn seeking(inner: io::BufReader<F>) -> Reader<io::BufReader<F>> {
        Reader {
            seek: Some(|r: &mut io::BufReader<F>, n| {
                let n = i64::try_from(n).map_err(io::Error::other)?;
                r.seek_relative(n)
            }),
            ..Reader::new(inner)
        }
    }
}

impl<R: Read> Read for Reader<R> {
    /// The content of the current entry. An error, once returned, is returned again, as Go's
    /// reader does.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.ended && self.failed.is_none() {
            return Ok(0);
        }
        self.read_data(buf).map_err(TarError::into_io)
    }
}

/// Whether `block` is a tar header Go would read: its checksum is right.
pub fn is_header(block: &[u8; 512]) -> bool {
    block_format(block) != Format::UNKNOWN
}

/// The header in block `b` of format `found`, as Go's `readHeader` unpacks it; a numeric field
/// that is not a number sets `p.failed`.
fn parse_header(b: &[u8; 512], found: Format, p: &mut Numbers) -> Header {
    let mut hdr = Header {
        typeflag: b[156],
        name: c_string(&b[0..100]).to_vec(),
        linkname: c_string(&b[157..257]).to_vec(),
        size: p.numeric(&b[124..136]),
        mode: p.numeric(&b[100..108]),
        uid: p.numeric(&b[108..116]),
        gid: p.numeric(&b[116..124]),
        mtime: Time::unix(p.numeric(&b[136..148]), 0),
        ..Header::default()
    };
    if found == Format::V7 {
        return hdr;
    }
    hdr.uname = c_string(&b[265..297]).to_vec();
    hdr.gname = c_string(&b[297..329]).to_vec();
    hdr.devmajor = p.numeric(&b[329..337]);
    hdr.devminor = p.numeric(&b[337..345]);
    let prefix = if found.has(Format::USTAR) {
        ustar_prefix(b, found, &mut hdr)
    } else if found == Format::STAR {
        hdr.atime = Some(Time::unix(p.numeric(&b[476..488]), 0));
        hdr.ctime = Some(Time::unix(p.numeric(&b[488..500]), 0));
        c_string(&b[345..476])
    } else if found == Format::GNU {
        gnu_times(b, &mut hdr)
    } else {
        &[]
    };
    if !prefix.is_empty() {
        let mut name = prefix.to_vec();
        name.push(b'/');
        name.extend_from_slice(&hdr.name);
        hdr.name = name;
    }
    hdr
}

/// A USTAR header's name prefix. The header stays USTAR only if it is all ASCII and its
/// numeric fields end in NUL, as Go checks.
fn ustar_prefix<'b>(b: &'b [u8; 512], found: Format, hdr: &mut Header) -> &'b [u8] {
    hdr.format = found;
    let ends_nul = |r: std::ops::Range<usize>| b[r.end - 1] == 0;
    if b.iter().any(|&c| c >= 0x80)
        || ![
            124..136,
            100..108,
            108..116,
            116..124,
            136..148,
            329..337,
            337..345,
        ]
        .into_iter()
        .all(ends_nul)
    {
        hdr.format = Format::UNKNOWN;
    }
    c_string(&b[345..500])
}

/// A GNU header's access and change times; the name prefix (usually none) that Go's fallback
/// finds instead when they do not parse.
fn gnu_times<'b>(b: &'b [u8; 512], hdr: &mut Header) -> &'b [u8] {
    hdr.format = Format::GNU;
    let mut p = Numbers::default();
    if b[345] != 0 {
        hdr.atime = Some(Time::unix(p.numeric(&b[345..357]), 0));
    }
    if b[357] != 0 {
        hdr.ctime = Some(Time::unix(p.numeric(&b[357..369]), 0));
    }
    // Go's fallback for archives from Go < 1.8, which wrote a USTAR prefix where GNU keeps
    // these times.
    if !p.failed {
        return &[];
    }
    hdr.atime = None;
    hdr.ctime = None;
    hdr.format = Format::UNKNOWN;
    let s = c_string(&b[345..500]);
    if s.iter().all(|&c| c < 0x80) { s } else { &[] }
}

/// Go's `getFormat`: the checksum (unsigned or signed bytes) must match, then the magic says
/// which format the block is in.
fn block_format(b: &[u8; 512]) -> Format {
    let mut p = Numbers::default();
    let value = p.octal(&b[148..156]);
    // The checksum field counts as eight spaces. Sums over the whole block vectorise.
    let field = &b[148..156];
    let unsigned = i64::from(b.iter().map(|&c| u32::from(c)).sum::<u32>())
        - field.iter().map(|&c| i64::from(c)).sum::<i64>()
        + 8 * 32;
    // Reinterpreting on purpose: old writers summed the bytes as C's signed chars.
    #[allow(clippy::cast_possible_wrap)]
    let signed = || {
        i64::from(b.iter().map(|&c| i32::from(c as i8)).sum::<i32>())
            - field.iter().map(|&c| i64::from(c as i8)).sum::<i64>()
            + 8 * 32
    };
    let matches = value == unsigned || value == signed();
    if p.failed || !matches {
        return Format::UNKNOWN;
    }
    let (magic, version, trailer) = (&b[257..263], &b[263..265], &b[508..512]);
    if magic == b"ustar\0" && trailer == b"tar\0" {
        Format::STAR
    } else if magic == b"ustar\0" {
        Format(Format::USTAR.0 | Format::PAX.0)
    } else if magic == b"ustar " && version == b" \0" {
        Format::GNU
    } else {
        Format::V7
    }
}

/// Merges PAX records into a header as Go does: an empty value keeps the header's own, a
/// number that does not parse is an error.
fn merge_pax(hdr: &mut Header, records: Option<&Records>) -> Result<(), &'static str> {
    let Some(records) = records else {
        hdr.pax = Records::new();
        return Ok(());
    };
    let mut failed = None;
    for (k, v) in records {
        if v.is_empty() {
            continue;
        }
        let mut fail = |why| {
            failed.get_or_insert(why);
        };
        match k.as_slice() {
            b"path" => hdr.name.clone_from(v),
            b"linkpath" => hdr.linkname.clone_from(v),
            b"uname" => hdr.uname.clone_from(v),
            b"gname" => hdr.gname.clone_from(v),
            b"uid" | b"gid" => match parse::parse_int(v) {
                Some(n) if k == b"uid" => hdr.uid = n,
                Some(n) => hdr.gid = n,
                None => fail("a PAX uid or gid that is not a number"),
            },
            b"atime" | b"mtime" | b"ctime" => match Time::from_pax(v) {
                Some(t) if k == b"atime" => hdr.atime = Some(t),
                Some(t) if k == b"mtime" => hdr.mtime = t,
                Some(t) => hdr.ctime = Some(t),
                None => fail("a PAX time that is not a time"),
            },
            b"size" => match parse::parse_int(v) {
                Some(n) => hdr.size = n,
                None => fail("a PAX size that is not a number"),
            },
            other => {
                if let Some(attr) = other.strip_prefix(b"SCHILY.xattr.") {
                    hdr.xattrs.insert(attr.to_vec(), v.clone());
                }
            }
        }
    }
    hdr.pax = records.clone();
    match failed {
        Some(why) => Err(why),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
