//! What is kept of one tar entry: its metadata as Go's reader reports it and a digest of its
//! content, so that memory grows with the number of entries, not with the layer's size.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::tar::{Format, Header, typeflag};

pub use super::tar::Time;

/// The header style an entry was written in, as Go guesses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TarFormat {
    /// No magic, or a header that breaks USTAR's rules (Go's `FormatUnknown`).
    Unknown,
    /// POSIX ustar, with nothing beyond it.
    Ustar,
    /// USTAR with PAX extended records.
    Pax,
    /// GNU tar's format (long names as `././@LongLink` entries, sparse files).
    Gnu,
}

impl From<Format> for TarFormat {
    fn from(f: Format) -> TarFormat {
        if f.has(Format::PAX) {
            TarFormat::Pax
        } else if f.has(Format::GNU) {
            TarFormat::Gnu
        } else if f.has(Format::USTAR) {
            TarFormat::Ustar
        } else {
            TarFormat::Unknown
        }
    }
}

/// The kind of a tar entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryType {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A hard link to an earlier entry.
    Hardlink,
    /// A character device.
    Char,
    /// A block device.
    Block,
    /// A named pipe.
    Fifo,
    /// A PAX global header: Go returns it as an entry, and appliers act on its name.
    #[serde(rename = "pax-global-header")]
    GlobalHeader,
    /// Any other typeflag, kept so that it can be reported.
    Other(u8),
}

impl EntryType {
    /// The kind a Go `Header.Typeflag` stands for (after Go's own promotions).
    pub fn from_typeflag(flag: u8) -> EntryType {
        match flag {
            typeflag::REG => EntryType::File,
            typeflag::DIR => EntryType::Dir,
            typeflag::SYMLINK => EntryType::Symlink,
            typeflag::LINK => EntryType::Hardlink,
            typeflag::CHAR => EntryType::Char,
            typeflag::BLOCK => EntryType::Block,
            typeflag::FIFO => EntryType::Fifo,
            typeflag::X_GLOBAL_HEADER => EntryType::GlobalHeader,
            other => EntryType::Other(other),
        }
    }
}

/// Content from this many bytes on is hashed with BLAKE3, smaller content with SHA-256: on
/// one chunk BLAKE3 has no lanes to fill, and SHA-NI was 1.7 times faster on 1 KiB (a layer of
/// 100 000 small files took 10 % longer with BLAKE3 alone); from 4 KiB BLAKE3 was 1.6 times
/// faster, and 3.5 times from 16 KiB.
pub const BLAKE3_FROM: u64 = 4096;

/// A digest of a file's content, telling two files apart. Which algorithm follows from the
/// content's size and from the comparison's [`FileDigests`], the same for both sides, so two
/// files a comparison holds side by side are always hashed alike (and files of different
/// sizes differ anyway). Kept as bytes: hex text for each of many small files was a tenth of
/// the walk.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentDigest {
    /// `sha256:HEX`: content under [`BLAKE3_FROM`] bytes, or any content under
    /// [`FileDigests::Sha256`].
    Sha256([u8; 32]),
    /// `blake3:HEX`: larger content under [`FileDigests::BySize`].
    Blake3([u8; 32]),
}

impl ContentDigest {
    /// Hashes `bytes` as [`FileDigests::BySize`] does.
    pub fn of(bytes: &[u8]) -> ContentDigest {
        let mut h = ContentHasher::new(bytes.len() as u64, FileDigests::BySize);
        h.update(bytes);
        h.finish()
    }
}

/// How one comparison hashes files' contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FileDigests {
    /// SHA-256 under [`BLAKE3_FROM`] bytes, BLAKE3 from there: the cheapest where nothing
    /// else reads a layer's stream through SHA-256 (a blob the store verified on ingest, a
    /// compressed layer whose diff ID is known). Hashing each large file with SHA-256 on its
    /// own had doubled the cost of reading uncompressed layers.
    #[default]
    BySize,
    /// SHA-256 for every file: where each layer's stream is hashed with SHA-256 anyway (an
    /// uncompressed blob read from an archive or a layout, for its digest), a file's hash
    /// shares that pass at almost no cost ([`ocidiff_sha256::update_both`]).
    Sha256,
}

/// Hashes content of a known size as it streams, with the algorithm [`ContentDigest`] uses
/// for that size.
pub enum ContentHasher {
    /// SHA-256.
    Sha256(ocidiff_sha256::Sha256),
    /// BLAKE3.
    Blake3(Box<blake3::Hasher>),
}

impl ContentHasher {
    /// A hasher for content of `size` bytes, in a comparison that hashes files as `files`.
    pub fn new(size: u64, files: FileDigests) -> ContentHasher {
        if size < BLAKE3_FROM || files == FileDigests::Sha256 {
            ContentHasher::Sha256(ocidiff_sha256::Sha256::new())
        } else {
            ContentHasher::Blake3(Box::default())
        }
    }

    /// Hashes more of the content.
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            ContentHasher::Sha256(h) => h.update(bytes),
            ContentHasher::Blake3(h) => {
                h.update(bytes);
            }
        }
    }

    /// The digest of what was hashed.
    pub fn finish(self) -> ContentDigest {
        match self {
            ContentHasher::Sha256(h) => ContentDigest::Sha256(h.finish()),
            ContentHasher::Blake3(h) => ContentDigest::Blake3(*h.finalize().as_bytes()),
        }
    }
}

impl std::fmt::Display for ContentDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ContentDigest::Sha256(b) => write!(f, "sha256:{}", hex::encode(b)),
            ContentDigest::Blake3(b) => write!(f, "blake3:{}", hex::encode(b)),
        }
    }
}

impl std::fmt::Debug for ContentDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl Serialize for ContentDigest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What the walk keeps of one tar entry.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryMeta {
    /// The path, escaped by [`escape_name`].
    pub name: String,
    /// What kind of entry it is.
    pub kind: EntryType,
    /// A link's target (escaped), for any entry whose header names one.
    pub link: Option<String>,
    /// The mode bits as the header stores them.
    pub mode: i64,
    /// Owner user ID.
    pub uid: i64,
    /// Owner group ID.
    pub gid: i64,
    /// Owner user name (escaped), which runtimes do not use to set the owner.
    pub uname: String,
    /// Owner group name (escaped), which runtimes do not use to set the owner.
    pub gname: String,
    /// Major and minor device numbers, for character and block devices.
    pub device: Option<(i64, i64)>,
    /// The content's length; 0 where Go's header gives a negative size.
    pub size: u64,
    /// A digest of the content, for regular files.
    pub digest: Option<ContentDigest>,
    /// Modification time.
    pub mtime: Time,
    /// Access time, when the header has one.
    pub atime: Option<Time>,
    /// Change time, when the header has one.
    pub ctime: Option<Time>,
    /// `SCHILY.xattr.` records, empty values included (some runtimes set them).
    pub xattrs: BTreeMap<String, String>,
    /// PAX records not already represented by a field above.
    pub pax: BTreeMap<String, String>,
    /// The header style it was written in.
    pub format: TarFormat,
    /// Index of the entry in its layer.
    pub position: usize,
    /// Index of the layer the entry is in.
    pub layer: usize,
    /// In a file system built from layers: a directory the runtime created for a missing
    /// parent, whose mode is the runtime's (0755, or 0600 in Docker 20.10), not a layer's.
    pub implied: bool,
}

/// PAX records that Go folds into header fields.
const FOLDED: [&[u8]; 10] = [
    b"path",
    b"linkpath",
    b"size",
    b"uid",
    b"gid",
    b"uname",
    b"gname",
    b"mtime",
    b"atime",
    b"ctime",
];

impl EntryMeta {
    /// An entry with nothing but a name and a kind (mode 0644, owned by root, at time 0), for
    /// building file-system trees in tests and fuzzing without a tar stream.
    pub fn new(name: &str, kind: EntryType) -> EntryMeta {
        EntryMeta {
            name: name.to_owned(),
            kind,
            link: None,
            mode: 0o644,
            uid: 0,
            gid: 0,
            uname: String::new(),
            gname: String::new(),
            device: None,
            size: 0,
            digest: None,
            mtime: Time { secs: 0, nanos: 0 },
            atime: None,
            ctime: None,
            xattrs: BTreeMap::new(),
            pax: BTreeMap::new(),
            format: TarFormat::Ustar,
            position: 0,
            layer: 0,
            implied: false,
        }
    }

    /// The entry Go's reader returned as `h`, the `position`-th of layer `layer`.
    pub fn from_header(h: Header, position: usize, layer: usize) -> EntryMeta {
        let kind = EntryType::from_typeflag(h.typeflag);
        let mut xattrs = BTreeMap::new();
        let mut pax = BTreeMap::new();
        for (k, v) in h.pax {
            if let Some(attr) = k.strip_prefix(b"SCHILY.xattr.") {
                xattrs.insert(escape_name(attr), escape_owned(v));
            } else if !FOLDED.contains(&k.as_slice()) {
                pax.insert(escape_owned(k), escape_owned(v));
            }
        }
        EntryMeta {
            name: escape_owned(h.name),
            kind,
            link: (!h.linkname.is_empty()).then(|| escape_owned(h.linkname)),
            mode: h.mode,
            uid: h.uid,
            gid: h.gid,
            uname: escape_owned(h.uname),
            gname: escape_owned(h.gname),
            device: matches!(kind, EntryType::Char | EntryType::Block)
                .then_some((h.devmajor, h.devminor)),
            size: u64::try_from(h.size).unwrap_or(0),
            digest: None,
            mtime: h.mtime,
            atime: h.atime,
            ctime: h.ctime,
            xattrs,
            pax,
            format: h.format.into(),
            position,
            layer,
            implied: false,
        }
    }

    /// Bytes of metadata this entry holds beyond its fixed size, for the per-layer bound.
    pub fn metadata_bytes(&self) -> u64 {
        // A map node and two heap strings: about what a short record costs in memory.
        const PER_RECORD: usize = 128;
        let strings = self.name.len()
            + self.link.as_ref().map_or(0, String::len)
            + self.uname.len()
            + self.gname.len();
        let records: usize = self
            .xattrs
            .iter()
            .chain(&self.pax)
            .map(|(k, v)| k.len() + v.len() + PER_RECORD)
            .sum();
        (strings + records) as u64
    }
}

/// [`escape_name`] of bytes owned, reusing them when they need no escaping.
fn escape_owned(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(s) if !s.contains("\\x") => s,
        Ok(s) => escape_name(s.as_bytes()),
        Err(e) => escape_name(e.as_bytes()),
    }
}

/// A name as text. Names that are UTF-8 and hold no `\x` are kept as they are; any other has
/// `\` written `\\` and each byte that is not UTF-8 written `\xNN`. Two different names never
/// read alike: an escaped name always holds a `\x` or `\\x`, which a name kept as it is does not.
pub fn escape_name(bytes: &[u8]) -> String {
    if let Ok(s) = std::str::from_utf8(bytes) {
        if !s.contains("\\x") {
            return s.to_owned();
        }
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                out.push_str("\\\\");
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The report's values are what `sha256sum` and `b3sum` print, by content size.
    #[test]
    fn content_digest_is_sha256_then_blake3() {
        assert_eq!(
            ContentDigest::of(b"abc").to_string(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let big = vec![0u8; 4096];
        assert_eq!(BLAKE3_FROM, 4096);
        assert_eq!(
            ContentDigest::of(&big).to_string(),
            format!("blake3:{}", blake3::hash(&big).to_hex())
        );
        let under = &big[..4095];
        assert_eq!(
            ContentDigest::of(under),
            ContentDigest::Sha256(<sha2::Sha256 as sha2::Digest>::digest(under).into())
        );
        // Streamed in pieces, the same digest.
        let mut h = ContentHasher::new(big.len() as u64, FileDigests::BySize);
        for piece in big.chunks(1000) {
            h.update(piece);
        }
        assert_eq!(h.finish(), ContentDigest::of(&big));
        // Hashed with the layer's stream, every size is SHA-256.
        let mut h = ContentHasher::new(big.len() as u64, FileDigests::Sha256);
        h.update(&big);
        assert_eq!(
            h.finish(),
            ContentDigest::Sha256(<sha2::Sha256 as sha2::Digest>::digest(&big).into())
        );
    }

    #[test]
    fn escaping_keeps_different_names_apart() {
        assert_eq!(escape_name("é".as_bytes()), "é");
        assert_eq!(escape_name(br"C:\dir"), r"C:\dir");
        assert_eq!(escape_name(b"a\xffb"), r"a\xffb");
        // A name that spells an escape is escaped itself, so it cannot pass for the bytes.
        assert_eq!(escape_name(br"a\xffb"), r"a\\xffb");
        assert_ne!(escape_name(b"a\xff"), escape_name(br"a\xff"));
        assert_ne!(escape_name(br"a\\xff"), escape_name(b"a\\\xff"));
    }

    #[test]
    fn escaping_is_injective_on_small_names() {
        let alphabet: &[u8] = b"\\xf\xff";
        let mut seen = std::collections::HashMap::new();
        let mut names: Vec<Vec<u8>> = vec![vec![]];
        for _ in 0..5 {
            let mut next = Vec::new();
            for n in &names {
                for &c in alphabet {
                    let mut m = n.clone();
                    m.push(c);
                    next.push(m);
                }
            }
            names.extend(next.iter().cloned());
            names.dedup();
        }
        names.sort();
        names.dedup();
        for n in names {
            if let Some(other) = seen.insert(escape_name(&n), n.clone()) {
                assert_eq!(other, n, "two names escape alike");
            }
        }
    }
}
