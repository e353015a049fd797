//! One pass over a layer blob: verify its digest, decompress it, walk its tar entries and hash
//! each file's content, keeping only metadata so that memory grows with the number of entries,
//! not with the layer's size.

use std::collections::BTreeMap;
use std::io::{self, Read};

use serde::Serialize;

use super::tar_guard::ExtensionGuard;
use crate::content::{self, BlobSource, ContentError, LimitedReader, Limits};
use crate::model::{Compression, Descriptor, Digest, Hasher};

/// The header style an entry was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TarFormat {
    /// Pre-POSIX tar, no magic.
    V7,
    Ustar,
    /// USTAR with PAX extended records.
    Pax,
    Gnu,
}

/// The kind of a tar entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryType {
    File,
    Dir,
    Symlink,
    Hardlink,
    Char,
    Block,
    Fifo,
    Other(u8),
}

/// A point in time as tar stores it: whole seconds in the header, or a decimal from a PAX
/// record that may carry a fraction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Time {
    pub secs: i64,
    pub nanos: u32,
}

impl Time {
    fn from_pax(value: &str) -> Option<Time> {
        let (int, frac) = value.split_once('.').unwrap_or((value, ""));
        let secs: i64 = int.parse().ok()?;
        let mut digits: String = frac.chars().take(9).collect();
        if !digits.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        while digits.len() < 9 {
            digits.push('0');
        }
        let nanos = digits.parse().ok()?;
        // A negative PAX time with a fraction counts the fraction towards zero.
        Some(Time { secs, nanos })
    }

    /// RFC 3339, in UTC.
    pub fn render(&self) -> String {
        match jiff::Timestamp::new(self.secs, self.nanos as i32) {
            Ok(t) => t.to_string(),
            Err(_) => format!("{}.{:09}s", self.secs, self.nanos),
        }
    }
}

/// What the walk keeps of one tar entry.
#[derive(Debug, Clone)]
pub struct EntryMeta {
    /// The path, with any bytes that are not UTF-8 escaped as `\xNN`.
    pub name: String,
    pub kind: EntryType,
    pub link: Option<String>,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub uname: String,
    pub gname: String,
    pub device: Option<(u32, u32)>,
    pub size: u64,
    /// SHA-256 of the content, for regular files.
    pub digest: Option<Digest>,
    pub mtime: Time,
    pub atime: Option<Time>,
    pub ctime: Option<Time>,
    pub xattrs: BTreeMap<String, String>,
    /// PAX records not already represented by a field above.
    pub pax: BTreeMap<String, String>,
    pub format: TarFormat,
    /// Index of the entry in its layer.
    pub position: usize,
    /// Index of the layer the entry is in.
    pub layer: usize,
}

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
        }
    }
}

/// A walked layer.
#[derive(Debug, Clone)]
pub struct Listing {
    pub compression: Compression,
    pub entries: Vec<EntryMeta>,
}

impl Listing {
    /// The listing as the `layer`-th layer of a manifest.
    pub fn as_layer(&self, layer: usize) -> Listing {
        let mut out = self.clone();
        for e in &mut out.entries {
            e.layer = layer;
        }
        out
    }
}

/// Layers a source walked while reading them (a `docker save` stream, walked as it is
/// stored), by the digest of the blob walked: the comparison uses them instead of reading the
/// blob again. Made under the default [`Limits`].
pub type Walked = std::collections::HashMap<Digest, std::sync::Arc<Listing>>;

/// Why a layer could not be walked.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error(transparent)]
    Content(#[from] ContentError),
    #[error("layer {digest}: not a valid tar stream: {source}")]
    Tar { digest: Digest, source: io::Error },
    #[error("layer {digest} holds more than {limit} entries (raise the limit with --max-scale)")]
    TooManyEntries { digest: Digest, limit: u64 },
}

impl LayerError {
    fn from_io(digest: &Digest, err: io::Error) -> LayerError {
        match ContentError::from_io(digest, err) {
            ContentError::Io { digest, source } => LayerError::Tar { digest, source },
            other => LayerError::Content(other),
        }
    }
}

/// Escapes the bytes of a name that are not UTF-8, keeping distinct names distinct.
pub fn escape_name(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Walks the layer `desc` of `source`, the `layer`-th of its manifest, calling `visit` for each
/// entry with its content reader positioned at the start (so a second pass can extract files
/// with the same code). The blob is read to its end, so its digest is always verified.
pub fn walk<F>(
    source: &dyn BlobSource,
    desc: &Descriptor,
    layer: usize,
    limits: &Limits,
    visit: F,
) -> Result<Listing, LayerError>
where
    F: FnMut(&EntryMeta, &mut dyn Read) -> io::Result<()>,
{
    let digest = &desc.digest;
    if desc.size > limits.layer_bytes {
        return Err(ContentError::TooLarge {
            what: format!("layer {digest} ({} bytes)", desc.size),
            limit: limits.layer_bytes,
            flag: "--max-scale",
        }
        .into());
    }
    let raw = content::open_verified(source, desc)?;
    walk_stream(raw, digest, layer, limits, visit)
}

/// [`walk`] over a blob's bytes, however they arrive; `digest` names it in errors. Reads the
/// stream to its end.
pub fn walk_stream<R, F>(
    raw: R,
    digest: &Digest,
    layer: usize,
    limits: &Limits,
    mut visit: F,
) -> Result<Listing, LayerError>
where
    R: Read + Send,
    F: FnMut(&EntryMeta, &mut dyn Read) -> io::Result<()>,
{
    let decompressed = content::decompress(raw)?;
    let compression = decompressed.compression;
    // tar reads 512-byte headers and paddings one at a time; a buffer in front of the
    // decompressor turns those into large reads (per-call inflate overhead was a third of the
    // time on layers of many small files, see BENCHMARKS.md). Content larger than the buffer
    // still bypasses it.
    let buffered = io::BufReader::with_capacity(128 << 10, decompressed.reader);
    let limited = LimitedReader::new(
        buffered,
        limits.decompressed_bytes,
        format!("layer {digest} decompressed"),
    );
    // Long names and PAX records are metadata, held to the limit on metadata documents.
    let guarded = ExtensionGuard::new(limited, limits.json_bytes, format!("layer {digest}"));
    let mut archive = tar::Archive::new(Forward::new(guarded));
    let mut entries = Vec::new();
    let iter = archive
        .entries_with_seek()
        .map_err(|e| LayerError::from_io(digest, e))?;
    for entry in iter {
        let mut entry = entry.map_err(|e| LayerError::from_io(digest, e))?;
        if matches!(
            entry.header().entry_type(),
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader
        ) {
            continue;
        }
        if entries.len() as u64 >= limits.entries {
            return Err(LayerError::TooManyEntries {
                digest: digest.clone(),
                limit: limits.entries,
            });
        }
        let mut meta = read_meta(&mut entry, entries.len(), layer)
            .map_err(|e| LayerError::from_io(digest, e))?;
        if meta.kind == EntryType::File {
            let mut hashing = HashingReader {
                inner: &mut entry,
                hasher: Hasher::new(crate::model::Algorithm::Sha256),
            };
            visit(&meta, &mut hashing).map_err(|e| LayerError::from_io(digest, e))?;
            io::copy(&mut hashing, &mut io::sink()).map_err(|e| LayerError::from_io(digest, e))?;
            meta.digest = Some(hashing.hasher.finish());
        } else {
            visit(&meta, &mut io::empty()).map_err(|e| LayerError::from_io(digest, e))?;
        }
        entries.push(meta);
    }
    // Read what follows the end-of-archive marker: only at the end of the blob is its digest
    // known to be right.
    let mut rest = archive.into_inner().inner.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(|e| LayerError::from_io(digest, e))?;
    Ok(Listing {
        compression,
        entries,
    })
}

/// A stream that "seeks" forward by reading through a buffer it keeps. tar-rs skips the rest
/// of each entry (at least its padding) by seeking when it can, and otherwise by reading into a
/// 32 KiB buffer it zeroes on every call: a tenth of the time on layers of small files.
struct Forward<R> {
    inner: R,
    pos: u64,
    scratch: Vec<u8>,
}

impl<R> Forward<R> {
    fn new(inner: R) -> Self {
        Forward {
            inner,
            pos: 0,
            scratch: vec![0; 8 << 10],
        }
    }
}

impl<R: Read> Read for Forward<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read> io::Seek for Forward<R> {
    fn seek(&mut self, to: io::SeekFrom) -> io::Result<u64> {
        let io::SeekFrom::Current(delta) = to else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "a layer stream only moves forward",
            ));
        };
        let mut left = u64::try_from(delta).map_err(|_| {
            io::Error::new(
                io::ErrorKind::Unsupported,
                "a layer stream only moves forward",
            )
        })?;
        while left > 0 {
            let want = usize::try_from(left)
                .unwrap_or(usize::MAX)
                .min(self.scratch.len());
            let n = match self.inner.read(&mut self.scratch[..want]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => other?,
            };
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the layer ends inside an entry",
                ));
            }
            left -= n as u64;
            self.pos += n as u64;
        }
        Ok(self.pos)
    }
}

struct HashingReader<'a, R> {
    inner: &'a mut R,
    hasher: Hasher,
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

fn read_meta<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    position: usize,
    layer: usize,
) -> io::Result<EntryMeta> {
    let name = escape_name(&entry.path_bytes());
    let link = entry.link_name_bytes().map(|l| escape_name(&l));
    let mut pax_records = BTreeMap::new();
    if let Some(exts) = entry.pax_extensions()? {
        for ext in exts {
            let ext = ext?;
            pax_records.insert(escape_name(ext.key_bytes()), escape_name(ext.value_bytes()));
        }
    }
    let header = entry.header();
    let format = if !pax_records.is_empty() {
        TarFormat::Pax
    } else if header.as_gnu().is_some() {
        TarFormat::Gnu
    } else if header.as_ustar().is_some() {
        TarFormat::Ustar
    } else {
        TarFormat::V7
    };
    let kind = match header.entry_type() {
        tar::EntryType::Regular | tar::EntryType::Continuous => EntryType::File,
        tar::EntryType::Directory => EntryType::Dir,
        tar::EntryType::Symlink => EntryType::Symlink,
        tar::EntryType::Link => EntryType::Hardlink,
        tar::EntryType::Char => EntryType::Char,
        tar::EntryType::Block => EntryType::Block,
        tar::EntryType::Fifo => EntryType::Fifo,
        other => EntryType::Other(other.as_byte()),
    };
    let device = match kind {
        EntryType::Char | EntryType::Block => Some((
            header.device_major()?.unwrap_or(0),
            header.device_minor()?.unwrap_or(0),
        )),
        _ => None,
    };
    let take_time = |records: &mut BTreeMap<String, String>, key: &str| {
        records.remove(key).and_then(|v| Time::from_pax(&v))
    };
    let header_mtime = Time {
        secs: i64::try_from(header.mtime()?).unwrap_or(i64::MAX),
        nanos: 0,
    };
    let mtime = take_time(&mut pax_records, "mtime").unwrap_or(header_mtime);
    let gnu_time = |t: io::Result<u64>| match t {
        Ok(0) | Err(_) => None,
        Ok(secs) => Some(Time {
            secs: i64::try_from(secs).unwrap_or(i64::MAX),
            nanos: 0,
        }),
    };
    let (gnu_atime, gnu_ctime) = match header.as_gnu() {
        Some(g) => (gnu_time(g.atime()), gnu_time(g.ctime())),
        None => (None, None),
    };
    let atime = take_time(&mut pax_records, "atime").or(gnu_atime);
    let ctime = take_time(&mut pax_records, "ctime").or(gnu_ctime);
    let uid = pax_records
        .remove("uid")
        .and_then(|v| v.parse().ok())
        .map_or_else(|| header.uid(), Ok)?;
    let gid = pax_records
        .remove("gid")
        .and_then(|v| v.parse().ok())
        .map_or_else(|| header.gid(), Ok)?;
    let uname = pax_records
        .remove("uname")
        .unwrap_or_else(|| header.username_bytes().map(escape_name).unwrap_or_default());
    let gname = pax_records.remove("gname").unwrap_or_else(|| {
        header
            .groupname_bytes()
            .map(escape_name)
            .unwrap_or_default()
    });
    // Represented by `name`, `link` and `size`, which tar-rs already resolved from them.
    for k in ["path", "linkpath", "size"] {
        pax_records.remove(k);
    }
    let mut xattrs = BTreeMap::new();
    pax_records.retain(|k, v| match k.strip_prefix("SCHILY.xattr.") {
        Some(attr) => {
            xattrs.insert(attr.to_owned(), v.clone());
            false
        }
        None => true,
    });
    Ok(EntryMeta {
        name,
        kind,
        link,
        mode: header.mode()?,
        uid,
        gid,
        uname,
        gname,
        device,
        size: entry.size(),
        digest: None,
        mtime,
        atime,
        ctime,
        xattrs,
        pax: pax_records,
        format,
        position,
        layer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times_keep_fractions() {
        assert_eq!(
            Time::from_pax("1700000000.5").unwrap(),
            Time {
                secs: 1_700_000_000,
                nanos: 500_000_000
            }
        );
        assert_eq!(Time::from_pax("12").unwrap().nanos, 0);
        assert!(Time::from_pax("x").is_none());
        assert_eq!(
            Time::from_pax("0").unwrap().render(),
            "1970-01-01T00:00:00Z"
        );
    }

    #[test]
    fn forward_seeks_by_reading_and_knows_where_it_is() {
        use std::io::Seek;
        let data: Vec<u8> = (0..=255).cycle().take(20_000).collect();
        let mut f = Forward::new(&data[..]);
        let mut two = [0u8; 2];
        f.read_exact(&mut two).unwrap();
        assert_eq!(f.stream_position().unwrap(), 2);
        assert_eq!(f.seek(io::SeekFrom::Current(10_000)).unwrap(), 10_002);
        f.read_exact(&mut two).unwrap();
        assert_eq!(two, [data[10_002], data[10_003]]);
        assert!(f.seek(io::SeekFrom::Current(-1)).is_err());
        assert!(f.seek(io::SeekFrom::Start(0)).is_err());
        let err = f.seek(io::SeekFrom::Current(20_000)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn escapes_non_utf8() {
        assert_eq!(escape_name(b"a\xffb"), "a\\xffb");
        assert_eq!(escape_name("é".as_bytes()), "é");
    }
}

#[cfg(test)]
mod truncation_tests {
    use super::*;
    use crate::content::MemorySource;

    #[test]
    fn truncated_gzip_layer_is_an_error() {
        let layer = ocidiff_testkit::Layer::new(vec![ocidiff_testkit::Entry::file(
            "big",
            vec![7u8; 200_000],
        )])
        .compression(ocidiff_testkit::Compression::Gzip);
        let blob = layer.blob_bytes();
        let cut = &blob[..blob.len() / 2];
        let mut src = MemorySource::default();
        let digest = src.insert(cut);
        let desc = Descriptor {
            media_type: crate::model::media::OCI_LAYER_GZIP.into(),
            digest,
            size: cut.len() as u64,
            platform: None,
            annotations: Default::default(),
            urls: vec![],
            artifact_type: None,
        };
        let r = walk(&src, &desc, 0, &Limits::default(), |_, _| Ok(()));
        assert!(r.is_err(), "{:?}", r.map(|l| l.entries.len()));
    }
}
