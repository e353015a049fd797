//! A walked layer's listing as a file, so that the next comparison of a layer the store holds
//! reads a few bytes per entry instead of the layer (3.7 MB for the benchmark's two images
//! of 930 MB). Written as the walk goes and read back as a stream: a layer of a million entries
//! never has its listing in memory whole.
//!
//! The format is ours and versioned, compact rather than self-describing: the magic and version,
//! one record per entry in stream order, and a trailer (known only once the walk ends) with the
//! number of entries, how files were hashed, the compression found, the blob's size, the diff ID,
//! the trailer's length and a BLAKE3 digest of every byte before it. A file whose trailer does not
//! check out (a run that died while writing, a file system that lost the tail after a crash,
//! another version) is not used: the layer is walked again. What the trailer cannot tell, a file
//! rewritten on purpose, is outside what the store trusts anyway (SECURITY.md): the blobs beside it
//! could be too.

use std::collections::BTreeMap;
use std::io::{self, BufRead, Read, Write};

use super::entry::{ContentDigest, EntryMeta, EntryType, FileDigests, TarFormat, Time};
use super::walk::{LayerError, Listing, WalkEnd, check_descriptor, kept, walk_each};
use crate::content::{self, BlobSource, ContentError, KeptFile, Limits};
use crate::model::{Compression, Descriptor, Digest};

const MAGIC: &[u8; 16] = b"ocidiff listing\n";
/// Bumped whenever a record's layout or what the walk puts in an entry changes: a file of
/// another version is walked again, never misread.
const VERSION: u8 = 1;
const ENTRY: u8 = 1;
const END: u8 = 0;

/// [`walk_each`] for a comparison that needs only the entries' metadata. Replays the listing
/// `source` keeps for the blob when it is whole, was made as this walk would make it (files
/// hashed alike, under limits this run's cover) and fits `desc` (size and media type, checked
/// as a walk checks them); otherwise walks the blob, and where the source keeps listings and
/// this run has the default limits, keeps the walk's listing for the next run.
pub fn list_each<E>(
    source: &dyn BlobSource,
    desc: &Descriptor,
    layer: usize,
    diff_id: Option<&Digest>,
    limits: &Limits,
    files: FileDigests,
    mut each: E,
) -> Result<WalkEnd, LayerError>
where
    E: FnMut(EntryMeta) -> io::Result<()>,
{
    if let Some(end) = replay(source, desc, layer, limits, files, &mut each)? {
        return Ok(end);
    }
    let mut kept = if *limits == Limits::default() {
        source
            .keep_listing(&desc.digest)
            .and_then(|f| Writer::new(f).ok())
    } else {
        None
    };
    let end = walk_each(source, desc, layer, diff_id, limits, files, |e| {
        if kept.as_mut().is_some_and(|w| w.push(&e).is_err()) {
            kept = None;
        }
        each(e)
    })?;
    if let Some(w) = kept {
        finish(w, desc, files, end.compression, &end.diff_id);
    }
    Ok(end)
}

/// [`list_each`], keeping the entries.
pub fn list(
    source: &dyn BlobSource,
    desc: &Descriptor,
    layer: usize,
    diff_id: Option<&Digest>,
    limits: &Limits,
    files: FileDigests,
) -> Result<Listing, LayerError> {
    kept(|each| list_each(source, desc, layer, diff_id, limits, files, each))
}

/// Keeps `listing`, made by a source as it read the blob `desc` under the default limits
/// (a `docker save` stream walked on its way into the store), when the source keeps listings
/// and has none for it yet.
pub fn keep(source: &dyn BlobSource, desc: &Descriptor, listing: &Listing, files: FileDigests) {
    if source.open_listing(&desc.digest).is_some() {
        return;
    }
    let Some(mut w) = source
        .keep_listing(&desc.digest)
        .and_then(|f| Writer::new(f).ok())
    else {
        return;
    };
    for e in &listing.entries {
        if w.push(e).is_err() {
            return;
        }
    }
    finish(w, desc, files, listing.compression, &listing.diff_id);
}

/// Ends a listing and puts it in place. A listing that cannot be kept costs only a walk next
/// time, so failing to keep one is not an error.
fn finish(
    w: Writer<Box<dyn KeptFile + '_>>,
    desc: &Descriptor,
    files: FileDigests,
    compression: Compression,
    diff_id: &Digest,
) {
    let head = Head {
        files,
        compression,
        blob_size: desc.size,
        diff_id: diff_id.clone(),
    };
    if let Err(e) = w.finish(&head).and_then(KeptFile::keep) {
        tracing::debug!("the listing of {} was not kept: {e}", desc.digest);
    }
}

/// Hands the kept listing of `desc` to `each`, if there is one to use (see [`list_each`]).
fn replay<E>(
    source: &dyn BlobSource,
    desc: &Descriptor,
    layer: usize,
    limits: &Limits,
    files: FileDigests,
    each: &mut E,
) -> Result<Option<WalkEnd>, LayerError>
where
    E: FnMut(EntryMeta) -> io::Result<()>,
{
    let digest = &desc.digest;
    if !limits.covers(&Limits::default()) {
        return Ok(None);
    }
    let Some(head) = source
        .open_listing(digest)
        .and_then(|file| check(file).ok().flatten())
    else {
        return Ok(None);
    };
    if head.files != files || head.blob_size != desc.size {
        return Ok(None);
    }
    check_descriptor(desc, limits)?;
    content::check_walked(digest, &desc.media_type, head.compression)
        .map_err(ContentError::from)?;
    let Some(file) = source.open_listing(digest) else {
        return Ok(None);
    };
    let unreadable = |e| LayerError::from(ContentError::from_io(digest, e));
    let mut reader =
        Reader::new(io::BufReader::with_capacity(64 << 10, file), layer).map_err(unreadable)?;
    while let Some(e) = reader.next_entry().map_err(unreadable)? {
        each(e).map_err(|e| LayerError::from_io(digest, e))?;
    }
    Ok(Some(WalkEnd {
        compression: head.compression,
        diff_id: head.diff_id,
    }))
}

/// What a listing says about its layer as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// How the walk hashed files: a comparison uses only a listing hashed as it hashes.
    pub files: FileDigests,
    /// The compression the blob turned out to use.
    pub compression: Compression,
    /// The blob's size, which a descriptor naming it must declare.
    pub blob_size: u64,
    /// SHA-256 of the decompressed stream.
    pub diff_id: Digest,
}

/// Writes a listing as its entries arrive.
pub struct Writer<W: Write> {
    out: Hashed<W>,
    count: u64,
    buf: Vec<u8>,
}

impl<W: Write> Writer<W> {
    /// Starts a listing in `out` (its magic and version).
    pub fn new(out: W) -> io::Result<Writer<W>> {
        let mut w = Writer {
            out: Hashed {
                inner: out,
                hasher: blake3::Hasher::new(),
            },
            count: 0,
            buf: Vec::with_capacity(256),
        };
        w.buf.extend_from_slice(MAGIC);
        w.buf.push(VERSION);
        w.flush_buf()?;
        Ok(w)
    }

    /// Appends one entry; its position and layer are not kept (the position is its index, the
    /// layer the reader's).
    pub fn push(&mut self, e: &EntryMeta) -> io::Result<()> {
        let b = &mut self.buf;
        b.push(ENTRY);
        put_str(b, &e.name);
        put_kind(b, e.kind);
        put_opt_str(b, e.link.as_deref());
        put_i64(b, e.mode);
        put_i64(b, e.uid);
        put_i64(b, e.gid);
        put_str(b, &e.uname);
        put_str(b, &e.gname);
        match e.device {
            None => b.push(0),
            Some((major, minor)) => {
                b.push(1);
                put_i64(b, major);
                put_i64(b, minor);
            }
        }
        put_u64(b, e.size);
        match e.digest {
            None => b.push(0),
            Some(ContentDigest::Sha256(d)) => {
                b.push(1);
                b.extend_from_slice(&d);
            }
            Some(ContentDigest::Blake3(d)) => {
                b.push(2);
                b.extend_from_slice(&d);
            }
        }
        put_time(b, e.mtime);
        put_opt_time(b, e.atime);
        put_opt_time(b, e.ctime);
        put_map(b, &e.xattrs);
        put_map(b, &e.pax);
        b.push(match e.format {
            TarFormat::Unknown => 0,
            TarFormat::Ustar => 1,
            TarFormat::Pax => 2,
            TarFormat::Gnu => 3,
        });
        b.push(u8::from(e.implied));
        self.count += 1;
        self.flush_buf()
    }

    /// Writes the trailer, with what the walk found at its end, and gives the output back.
    pub fn finish(mut self, head: &Head) -> io::Result<W> {
        let b = &mut self.buf;
        b.push(END);
        put_u64(b, self.count);
        b.push(match head.files {
            FileDigests::BySize => 0,
            FileDigests::Sha256 => 1,
        });
        b.push(match head.compression {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Zstd => 2,
        });
        put_u64(b, head.blob_size);
        put_str(b, &head.diff_id.to_string());
        let len = u16::try_from(b.len()).expect("a trailer is short");
        b.extend_from_slice(&len.to_le_bytes());
        self.flush_buf()?;
        let digest = self.out.hasher.finalize();
        self.out.inner.write_all(digest.as_bytes())?;
        self.out.inner.flush()?;
        Ok(self.out.inner)
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }
}

struct Hashed<W> {
    inner: W,
    hasher: blake3::Hasher,
}

impl<W: Write> Write for Hashed<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(bytes)?;
        self.hasher.update(&bytes[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Bytes at the end of a listing that hold its trailer: the trailer, its length, the digest.
const TAIL: usize = 512 + 2 + 32;

/// The trailer's [`Head`] when `r` holds a whole listing of this version: the digest at its
/// end matches, read to the end. A listing is replayed only after this said so, so a torn file
/// is caught before any of its entries is handed on.
pub fn check(r: impl Read) -> io::Result<Option<Head>> {
    let mut r = io::BufReader::with_capacity(64 << 10, r);
    let mut start = [0; MAGIC.len() + 1];
    match r.read_exact(&mut start) {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        read => read?,
    }
    if start[..MAGIC.len()] != MAGIC[..] || start[MAGIC.len()] != VERSION {
        return Ok(None);
    }
    let mut hasher = blake3::Hasher::new();
    hasher.update(&start);
    // The last TAIL bytes are kept for the trailer; everything before them is hashed on the way.
    let mut tail: Vec<u8> = Vec::with_capacity(TAIL + (64 << 10));
    loop {
        let chunk = r.fill_buf()?;
        if chunk.is_empty() {
            break;
        }
        let n = chunk.len();
        tail.extend_from_slice(chunk);
        r.consume(n);
        if tail.len() > TAIL {
            let cut = tail.len() - TAIL;
            hasher.update(&tail[..cut]);
            tail.drain(..cut);
        }
    }
    let Some(body) = tail.len().checked_sub(32) else {
        return Ok(None);
    };
    hasher.update(&tail[..body]);
    if hasher.finalize().as_bytes()[..] != tail[body..] || body < 2 {
        return Ok(None);
    }
    let len = usize::from(u16::from_le_bytes([tail[body - 2], tail[body - 1]]));
    let Some(at) = (body - 2).checked_sub(len) else {
        return Ok(None);
    };
    let mut trailer = &tail[at..body - 2];
    Ok(read_trailer(&mut trailer).ok())
}

/// The trailer after its [`END`] byte and count.
fn read_trailer(r: &mut &[u8]) -> io::Result<Head> {
    if get_u8(r)? != END {
        return Err(bad("no trailer"));
    }
    get_u64(r)?;
    let files = match get_u8(r)? {
        0 => FileDigests::BySize,
        1 => FileDigests::Sha256,
        _ => return Err(bad("unknown file digests")),
    };
    let compression = match get_u8(r)? {
        0 => Compression::None,
        1 => Compression::Gzip,
        2 => Compression::Zstd,
        _ => return Err(bad("unknown compression")),
    };
    let blob_size = get_u64(r)?;
    let diff_id = get_str(r)?
        .parse()
        .map_err(|_| bad("a diff ID that is not a digest"))?;
    if !r.is_empty() {
        return Err(bad("more after the trailer"));
    }
    Ok(Head {
        files,
        compression,
        blob_size,
        diff_id,
    })
}

/// Reads a listing checked by [`check`] back, one entry at a time.
pub struct Reader<R: BufRead> {
    r: R,
    layer: usize,
    next: usize,
    done: bool,
}

impl<R: BufRead> Reader<R> {
    /// Reads the magic; the entries will say they are in the `layer`-th layer.
    pub fn new(mut r: R, layer: usize) -> io::Result<Reader<R>> {
        let mut magic = [0; 16];
        r.read_exact(&mut magic)?;
        if &magic != MAGIC || get_u8(&mut r)? != VERSION {
            return Err(bad("not a listing of this version"));
        }
        Ok(Reader {
            r,
            layer,
            next: 0,
            done: false,
        })
    }

    /// The next entry, `None` after the last (whose count the trailer confirms).
    pub fn next_entry(&mut self) -> io::Result<Option<EntryMeta>> {
        if self.done {
            return Ok(None);
        }
        let r = &mut self.r;
        match get_u8(r)? {
            END => {
                self.done = true;
                if get_u64(r)? != self.next as u64 {
                    return Err(bad("the count of entries does not match"));
                }
                return Ok(None);
            }
            ENTRY => {}
            _ => return Err(bad("unknown record")),
        }
        let name = get_str(r)?;
        let kind = get_kind(r)?;
        let link = get_opt_str(r)?;
        let (mode, uid, gid) = (get_i64(r)?, get_i64(r)?, get_i64(r)?);
        let (uname, gname) = (get_str(r)?, get_str(r)?);
        let device = match get_u8(r)? {
            0 => None,
            1 => Some((get_i64(r)?, get_i64(r)?)),
            _ => return Err(bad("bad device")),
        };
        let size = get_u64(r)?;
        let digest = match get_u8(r)? {
            0 => None,
            1 => Some(ContentDigest::Sha256(get_32(r)?)),
            2 => Some(ContentDigest::Blake3(get_32(r)?)),
            _ => return Err(bad("bad content digest")),
        };
        let mtime = get_time(r)?;
        let atime = get_opt_time(r)?;
        let ctime = get_opt_time(r)?;
        let xattrs = get_map(r)?;
        let pax = get_map(r)?;
        let format = match get_u8(r)? {
            0 => TarFormat::Unknown,
            1 => TarFormat::Ustar,
            2 => TarFormat::Pax,
            3 => TarFormat::Gnu,
            _ => return Err(bad("bad tar format")),
        };
        let implied = match get_u8(r)? {
            0 => false,
            1 => true,
            _ => return Err(bad("bad flag")),
        };
        let position = self.next;
        self.next += 1;
        Ok(Some(EntryMeta {
            name,
            kind,
            link,
            mode,
            uid,
            gid,
            uname,
            gname,
            device,
            size,
            digest,
            mtime,
            atime,
            ctime,
            xattrs,
            pax,
            format,
            position,
            layer: self.layer,
            implied,
        }))
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("listing file: {what}"))
}

fn put_u64(b: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        b.push(low7(v) | 0x80);
        v >>= 7;
    }
    b.push(low7(v));
}

fn low7(v: u64) -> u8 {
    u8::try_from(v & 0x7f).expect("seven bits")
}

fn put_i64(b: &mut Vec<u8>, v: i64) {
    // Zigzag: small negative values (a uid of -1) stay short.
    put_u64(b, ((v << 1) ^ (v >> 63)).cast_unsigned());
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    put_u64(b, s.len() as u64);
    b.extend_from_slice(s.as_bytes());
}

fn put_opt_str(b: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => b.push(0),
        Some(s) => {
            b.push(1);
            put_str(b, s);
        }
    }
}

fn put_kind(b: &mut Vec<u8>, k: EntryType) {
    let code = match k {
        EntryType::File => 0,
        EntryType::Dir => 1,
        EntryType::Symlink => 2,
        EntryType::Hardlink => 3,
        EntryType::Char => 4,
        EntryType::Block => 5,
        EntryType::Fifo => 6,
        EntryType::GlobalHeader => 7,
        EntryType::Other(flag) => {
            b.push(8);
            b.push(flag);
            return;
        }
    };
    b.push(code);
}

fn put_time(b: &mut Vec<u8>, t: Time) {
    put_i64(b, t.secs);
    put_u64(b, u64::from(t.nanos));
}

fn put_opt_time(b: &mut Vec<u8>, t: Option<Time>) {
    match t {
        None => b.push(0),
        Some(t) => {
            b.push(1);
            put_time(b, t);
        }
    }
}

fn put_map(b: &mut Vec<u8>, m: &BTreeMap<String, String>) {
    put_u64(b, m.len() as u64);
    for (k, v) in m {
        put_str(b, k);
        put_str(b, v);
    }
}

fn get_u8(r: &mut impl Read) -> io::Result<u8> {
    let mut one = [0];
    r.read_exact(&mut one)?;
    Ok(one[0])
}

fn get_u64(r: &mut impl Read) -> io::Result<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = get_u8(r)?;
        let bits = u64::from(byte & 0x7f);
        if shift == 63 && bits > 1 {
            return Err(bad("a number too large"));
        }
        v |= bits << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(bad("a number too long"))
}

fn get_i64(r: &mut impl Read) -> io::Result<i64> {
    let z = get_u64(r)?;
    Ok((z >> 1).cast_signed() ^ -(z & 1).cast_signed())
}

fn get_str(r: &mut impl Read) -> io::Result<String> {
    let len = get_u64(r)?;
    let mut bytes = Vec::new();
    r.take(len).read_to_end(&mut bytes)?;
    if bytes.len() as u64 != len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    String::from_utf8(bytes).map_err(|_| bad("a name that is not UTF-8"))
}

fn get_opt_str(r: &mut impl Read) -> io::Result<Option<String>> {
    match get_u8(r)? {
        0 => Ok(None),
        1 => get_str(r).map(Some),
        _ => Err(bad("bad optional name")),
    }
}

fn get_kind(r: &mut impl Read) -> io::Result<EntryType> {
    Ok(match get_u8(r)? {
        0 => EntryType::File,
        1 => EntryType::Dir,
        2 => EntryType::Symlink,
        3 => EntryType::Hardlink,
        4 => EntryType::Char,
        5 => EntryType::Block,
        6 => EntryType::Fifo,
        7 => EntryType::GlobalHeader,
        8 => EntryType::Other(get_u8(r)?),
        _ => return Err(bad("unknown kind")),
    })
}

fn get_32(r: &mut impl Read) -> io::Result<[u8; 32]> {
    let mut d = [0; 32];
    r.read_exact(&mut d)?;
    Ok(d)
}

fn get_time(r: &mut impl Read) -> io::Result<Time> {
    let secs = get_i64(r)?;
    let nanos = u32::try_from(get_u64(r)?)
        .ok()
        .filter(|n| *n < 1_000_000_000)
        .ok_or_else(|| bad("bad nanoseconds"))?;
    Ok(Time { secs, nanos })
}

fn get_opt_time(r: &mut impl Read) -> io::Result<Option<Time>> {
    match get_u8(r)? {
        0 => Ok(None),
        1 => get_time(r).map(Some),
        _ => Err(bad("bad optional time")),
    }
}

fn get_map(r: &mut impl Read) -> io::Result<BTreeMap<String, String>> {
    let len = get_u64(r)?;
    let mut map = BTreeMap::new();
    for _ in 0..len {
        let key = get_str(r)?;
        map.insert(key, get_str(r)?);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn head() -> Head {
        Head {
            files: FileDigests::BySize,
            compression: Compression::Gzip,
            blob_size: 12345,
            diff_id: Digest::from_sha256([7; 32]),
        }
    }

    fn write(head: &Head, entries: &[EntryMeta]) -> Vec<u8> {
        let mut w = Writer::new(Vec::new()).unwrap();
        for e in entries {
            w.push(e).unwrap();
        }
        w.finish(head).unwrap()
    }

    fn read(bytes: &[u8], layer: usize) -> io::Result<Vec<EntryMeta>> {
        let mut r = Reader::new(bytes, layer)?;
        let mut out = Vec::new();
        while let Some(e) = r.next_entry()? {
            out.push(e);
        }
        Ok(out)
    }

    fn time() -> impl Strategy<Value = Time> {
        (any::<i64>(), 0u32..1_000_000_000).prop_map(|(secs, nanos)| Time { secs, nanos })
    }

    fn kind() -> impl Strategy<Value = EntryType> {
        prop_oneof![
            Just(EntryType::File),
            Just(EntryType::Dir),
            Just(EntryType::Symlink),
            Just(EntryType::Hardlink),
            Just(EntryType::Char),
            Just(EntryType::Block),
            Just(EntryType::Fifo),
            Just(EntryType::GlobalHeader),
            any::<u8>().prop_map(EntryType::Other),
        ]
    }

    fn entry() -> impl Strategy<Value = EntryMeta> {
        let digest = prop_oneof![
            Just(None),
            any::<[u8; 32]>().prop_map(|d| Some(ContentDigest::Sha256(d))),
            any::<[u8; 32]>().prop_map(|d| Some(ContentDigest::Blake3(d))),
        ];
        let format = prop_oneof![
            Just(TarFormat::Unknown),
            Just(TarFormat::Ustar),
            Just(TarFormat::Pax),
            Just(TarFormat::Gnu),
        ];
        let map = || proptest::collection::btree_map(".{0,8}", ".{0,8}", 0..3);
        (
            (".{0,40}", kind(), proptest::option::of(".{0,20}")),
            (any::<i64>(), any::<i64>(), any::<i64>(), ".{0,6}", ".{0,6}"),
            (
                proptest::option::of((any::<i64>(), any::<i64>())),
                any::<u64>(),
                digest,
            ),
            (
                time(),
                proptest::option::of(time()),
                proptest::option::of(time()),
            ),
            (map(), map(), format, any::<bool>()),
        )
            .prop_map(
                |(
                    (name, kind, link),
                    (mode, uid, gid, uname, gname),
                    (device, size, digest),
                    (mtime, atime, ctime),
                    (xattrs, pax, format, implied),
                )| EntryMeta {
                    name,
                    kind,
                    link,
                    mode,
                    uid,
                    gid,
                    uname,
                    gname,
                    device,
                    size,
                    digest,
                    mtime,
                    atime,
                    ctime,
                    xattrs,
                    pax,
                    format,
                    position: 0,
                    layer: 0,
                    implied,
                },
            )
    }

    proptest! {
        /// Every field comes back as written, positions count up and the layer is the
        /// reader's.
        #[test]
        fn entries_come_back_as_written(entries in proptest::collection::vec(entry(), 0..20)) {
            let bytes = write(&head(), &entries);
            prop_assert_eq!(check(&bytes[..]).unwrap(), Some(head()));
            let back = read(&bytes, 3).unwrap();
            prop_assert_eq!(back.len(), entries.len());
            for (i, (mut want, got)) in entries.into_iter().zip(back).enumerate() {
                want.position = i;
                want.layer = 3;
                prop_assert_eq!(got, want);
            }
        }

        /// Any bytes at all are refused or read, never a panic: a damaged store gives errors.
        #[test]
        fn any_bytes_are_checked_and_read_without_panicking(
            junk in proptest::collection::vec(any::<u8>(), 0..600),
            valid_start in any::<bool>(),
        ) {
            let mut bytes = if valid_start { write(&head(), &[]) } else { Vec::new() };
            bytes.truncate(MAGIC.len() + 1);
            bytes.extend_from_slice(&junk);
            let _ = check(&bytes[..]);
            let _ = read(&bytes, 0);
        }

        /// A file cut anywhere, or with any byte changed, is not whole.
        #[test]
        fn damage_is_caught(entries in proptest::collection::vec(entry(), 1..5), at in any::<usize>(), flip in 1u8..) {
            let bytes = write(&head(), &entries);
            let at = at % bytes.len();
            prop_assert_eq!(check(&bytes[..at]).unwrap(), None);
            let mut changed = bytes.clone();
            changed[at] ^= flip;
            prop_assert_eq!(check(&changed[..]).unwrap(), None);
        }
    }

    #[test]
    fn extreme_numbers_come_back() {
        let mut e = EntryMeta::new("a", EntryType::File);
        e.size = u64::MAX;
        e.mode = i64::MIN;
        e.uid = -1;
        e.gid = i64::MAX;
        e.mtime = Time::GO_ZERO;
        let bytes = write(&head(), std::slice::from_ref(&e));
        assert_eq!(read(&bytes, 0).unwrap(), vec![e]);
    }

    #[test]
    fn another_version_is_not_whole_nor_read() {
        let mut bytes = write(&head(), &[]);
        bytes[MAGIC.len()] = VERSION + 1;
        assert_eq!(check(&bytes[..]).unwrap(), None);
        assert!(read(&bytes, 0).is_err());
        assert_eq!(check(&b""[..]).unwrap(), None);
        assert_eq!(check(&b"ocidiff"[..]).unwrap(), None);
    }

    /// Every way of hashing files and every compression come back from the trailer, and a
    /// diff ID of either algorithm.
    #[test]
    fn every_head_comes_back() {
        for files in [FileDigests::BySize, FileDigests::Sha256] {
            for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
                for diff_id in [
                    Digest::from_sha256([1; 32]),
                    format!("sha512:{}", "ab".repeat(64)).parse().unwrap(),
                ] {
                    let head = Head {
                        files,
                        compression,
                        blob_size: u64::MAX,
                        diff_id,
                    };
                    let bytes = write(&head, &[EntryMeta::new("a", EntryType::File)]);
                    assert_eq!(check(&bytes[..]).unwrap(), Some(head));
                }
            }
        }
    }

    /// Bytes whose trailer's digest is made right again after `edit`.
    fn redigested(mut bytes: Vec<u8>, edit: impl FnOnce(&mut [u8])) -> Vec<u8> {
        let body = bytes.len() - 32;
        edit(&mut bytes[..body]);
        let digest = blake3::hash(&bytes[..body]);
        bytes[body..].copy_from_slice(digest.as_bytes());
        bytes
    }

    /// Another version or magic is not used even when the file is whole, so a format change
    /// never misreads an old file.
    #[test]
    fn a_whole_listing_of_another_version_or_magic_is_not_used() {
        let bytes = write(&head(), &[EntryMeta::new("a", EntryType::Dir)]);
        assert_eq!(check(&bytes[..]).unwrap(), Some(head()));
        let newer = redigested(bytes.clone(), |b| b[MAGIC.len()] = VERSION + 1);
        assert_eq!(check(&newer[..]).unwrap(), None);
        let other = redigested(bytes, |b| b[0] = b'O');
        assert_eq!(check(&other[..]).unwrap(), None);
    }

    /// A file that cannot be read is an error, not "no listing": only a short file is that.
    #[test]
    fn read_errors_are_errors() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        assert!(check(Failing).is_err());
        let bytes = write(&head(), &[]);
        let failing_later = (&bytes[..=MAGIC.len()]).chain(Failing);
        assert!(check(failing_later).is_err());
    }

    #[test]
    fn a_wrong_count_is_an_error() {
        let e = EntryMeta::new("a", EntryType::Dir);
        let mut bytes = write(&head(), &[e]);
        // The trailer: END, the count (1), the head, the trailer's length, the digest.
        let len = usize::from(u16::from_le_bytes([
            bytes[bytes.len() - 34],
            bytes[bytes.len() - 33],
        ]));
        let count = bytes.len() - 34 - len + 1;
        assert_eq!(bytes[count], 1);
        bytes[count] = 2;
        assert!(read(&bytes, 0).is_err());
    }

    #[test]
    fn numbers_past_64_bits_are_refused() {
        let mut too_long: &[u8] = &[0xff; 11];
        assert!(get_u64(&mut too_long).is_err());
        let mut too_large: &[u8] = &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert!(get_u64(&mut too_large).is_err());
        let mut max: &[u8] = &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(get_u64(&mut max).unwrap(), u64::MAX);
    }
}
