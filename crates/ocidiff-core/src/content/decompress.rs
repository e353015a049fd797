//! Undoing layer compression as container runtimes undo it.
//!
//! Which decompressor runs is decided as the runtimes decide it: Docker looks at the first
//! bytes whatever the media type says (`archive.DetectCompression`: gzip, bzip2, xz, and zstd
//! since Docker 22.06); containerd looks at them too for the Docker types and the OCI
//! `+gzip`/`+zstd` types, and applies the bytes as they are for an OCI type without a
//! compression suffix. Where the two would read a layer differently (gzip bytes under
//! `application/vnd.oci.image.layer.v1.tar`, bzip2 or xz bytes, which containerd does not
//! read), the layer is refused: what it unpacks to depends on the runtime.
//!
//! The streams are then read with Go's rules, which both runtimes share when `unpigz` is not
//! installed (`compress/gzip` and `klauspost/compress/zstd`): gzip members and zstd frames may
//! follow one another, zstd skippable frames are skipped, and anything else after the last
//! member or frame fails the layer (both runtimes read a layer to its end to hash it).

use std::io::{self, BufRead, BufReader, Read};

use flate2::Crc;
use flate2::bufread::DeflateDecoder;

use super::ContentError;
use crate::model::media::{LayerMedia, NotALayer, layer_media};
use crate::model::{Compression, Digest};

/// How many first bytes decide the format (Docker and containerd peek at 10).
pub const HEAD_BYTES: usize = 10;

/// Why a layer cannot be read as container runtimes read it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecompressError {
    /// An encrypted layer (`+encrypted` media type), which cannot be read without its key.
    #[error(
        "layer {digest} is encrypted ({media_type}): ocidiff cannot decrypt it (runtimes need \
         its key to)"
    )]
    Encrypted {
        /// The layer's digest.
        digest: Digest,
        /// Its media type.
        media_type: String,
    },
    /// A media type that is not a layer type runtimes unpack.
    #[error(
        "layer {digest} has media type {media_type:?}, not a layer type runtimes unpack (an OCI \
         or Docker tar: uncompressed, gzip or zstd)"
    )]
    NotALayer {
        /// The layer's digest.
        digest: Digest,
        /// Its media type.
        media_type: String,
    },
    /// Docker and containerd would decompress the layer differently (or one would not at all).
    #[error(
        "layer {digest} ({media_type}): Docker reads it as {docker} and containerd as \
         {containerd}; refused, as what it unpacks to depends on the runtime"
    )]
    RuntimesDisagree {
        /// The layer's digest.
        digest: Digest,
        /// Its media type.
        media_type: String,
        /// How Docker reads its bytes.
        docker: Format,
        /// How containerd reads them under that media type.
        containerd: Format,
    },
    /// A compressed stream that is corrupt, or has trailing data after its last member or frame.
    #[error("layer {digest}: {what}")]
    Stream {
        /// The layer's digest.
        digest: Digest,
        /// What is wrong with the stream.
        what: String,
    },
}

/// What a layer's first bytes are to one runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// No compression: a tar stream as it is.
    Plain,
    /// gzip, as Go's `compress/gzip` reads it.
    Gzip,
    /// zstd, as `klauspost/compress/zstd` reads it.
    Zstd,
    /// bzip2, which Docker reads and containerd does not.
    Bzip2,
    /// xz, which Docker reads and containerd does not.
    Xz,
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::Plain => "an uncompressed tar",
            Format::Gzip => "gzip",
            Format::Zstd => "zstd",
            Format::Bzip2 => "bzip2",
            Format::Xz => "xz",
        })
    }
}

impl From<Compression> for Format {
    fn from(c: Compression) -> Format {
        match c {
            Compression::None => Format::Plain,
            Compression::Gzip => Format::Gzip,
            Compression::Zstd => Format::Zstd,
        }
    }
}

const GZIP_MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// A zstd skippable frame's magic number (0x184D2A50 to 0x184D2A5F, little-endian).
fn is_skippable(magic: &[u8]) -> bool {
    magic.len() >= 4 && magic[0] & 0xf0 == 0x50 && magic[1..4] == [0x2a, 0x4d, 0x18]
}

/// The zstd matcher Docker and containerd share: a frame, or a skippable frame when at least
/// eight bytes are there to show it.
fn is_zstd(head: &[u8]) -> bool {
    head.starts_with(&ZSTD_MAGIC) || (head.len() >= 8 && is_skippable(head))
}

/// What Docker makes of a layer's first bytes.
fn docker_sees(head: &[u8]) -> Format {
    if head.starts_with(b"BZh") {
        Format::Bzip2
    } else if head.starts_with(&GZIP_MAGIC) {
        Format::Gzip
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Format::Xz
    } else if is_zstd(head) {
        Format::Zstd
    } else {
        Format::Plain
    }
}

/// What containerd makes of them under a media type of this kind.
fn containerd_sees(head: &[u8], media: LayerMedia) -> Format {
    match media {
        LayerMedia::Detected if head.starts_with(&GZIP_MAGIC) => Format::Gzip,
        LayerMedia::Detected if is_zstd(head) => Format::Zstd,
        LayerMedia::Plain | LayerMedia::Detected => Format::Plain,
    }
}

/// The compression containerd finds in a layer that starts with `head` under a Docker media
/// type (the one `ctr import` gives the layers of a `docker save` archive).
pub fn detected(head: &[u8]) -> Compression {
    match containerd_sees(head, LayerMedia::Detected) {
        Format::Gzip => Compression::Gzip,
        Format::Zstd => Compression::Zstd,
        _ => Compression::None,
    }
}

/// The layer kind its media type names, or why runtimes would not unpack it.
pub fn layer_kind(digest: &Digest, media_type: &str) -> Result<LayerMedia, DecompressError> {
    layer_media(media_type).map_err(|e| match e {
        NotALayer::Encrypted => DecompressError::Encrypted {
            digest: digest.clone(),
            media_type: media_type.to_owned(),
        },
        NotALayer::Unknown => DecompressError::NotALayer {
            digest: digest.clone(),
            media_type: media_type.to_owned(),
        },
    })
}

/// The compression both runtimes find in a layer that starts with `head` (at least
/// [`HEAD_BYTES`] of it, or all of a shorter blob), or why they would read it differently.
pub fn compression_of(
    digest: &Digest,
    media_type: &str,
    head: &[u8],
) -> Result<Compression, DecompressError> {
    let media = layer_kind(digest, media_type)?;
    agreed(
        digest,
        media_type,
        docker_sees(head),
        containerd_sees(head, media),
    )
}

/// Checks that a layer walked before its media type was known (as a `docker save` stream was
/// read) decompresses under that type as it was walked.
pub fn check_walked(
    digest: &Digest,
    media_type: &str,
    walked_as: Compression,
) -> Result<(), DecompressError> {
    let containerd = match layer_kind(digest, media_type)? {
        LayerMedia::Plain => Format::Plain,
        LayerMedia::Detected => walked_as.into(),
    };
    agreed(digest, media_type, walked_as.into(), containerd).map(drop)
}

fn agreed(
    digest: &Digest,
    media_type: &str,
    docker: Format,
    containerd: Format,
) -> Result<Compression, DecompressError> {
    match (docker, containerd) {
        (Format::Plain, Format::Plain) => Ok(Compression::None),
        (Format::Gzip, Format::Gzip) => Ok(Compression::Gzip),
        (Format::Zstd, Format::Zstd) => Ok(Compression::Zstd),
        _ => Err(DecompressError::RuntimesDisagree {
            digest: digest.clone(),
            media_type: media_type.to_owned(),
            docker,
            containerd,
        }),
    }
}

/// A decompressed layer stream and the compression its bytes were found to use.
pub struct Decompressed<'a> {
    /// The compression the bytes turned out to use (which may not be the media type's).
    pub compression: Compression,
    /// The uncompressed tar stream, buffered: readers take its content from the buffer in
    /// place instead of copying it out.
    pub reader: Box<dyn BufRead + Send + 'a>,
}

/// The buffer in front of a blob of `size` bytes (`u64::MAX` when unknown): large reads for a
/// large blob, and no 256 KiB buffer, fresh pages each time, for each of 120 small layers.
fn capacity(size: u64, most: usize) -> usize {
    usize::try_from(size).map_or(most, |size| size.clamp(8 << 10, most))
}

/// Decompresses the layer `digest` of media type `media_type` as runtimes would, or refuses it
/// where they would read it differently (see the module documentation). `size` is the blob's
/// size when known, `u64::MAX` otherwise.
pub fn decompress<'a, R: Read + Send + 'a>(
    inner: R,
    digest: &Digest,
    media_type: &str,
    size: u64,
) -> Result<Decompressed<'a>, ContentError> {
    let mut buffered = BufReader::with_capacity(capacity(size, 256 << 10), inner);
    let buf = buffered
        .fill_buf()
        .map_err(|e| ContentError::from_io(digest, e))?;
    if buf.len() < HEAD_BYTES {
        let taken = buf.to_vec();
        return decompress_chained(taken, buffered, digest, media_type, size);
    }
    let compression = compression_of(digest, media_type, &buf[..HEAD_BYTES])?;
    Ok(Decompressed {
        compression,
        reader: open_as(buffered, compression, digest, size),
    })
}

/// [`decompress`] when the first read gave fewer than [`HEAD_BYTES`] (as Go's `Peek(10)`, the
/// head is gathered across reads): the bytes taken out are put back in front of the rest.
fn decompress_chained<'a, R: Read + Send + 'a>(
    mut taken: Vec<u8>,
    mut rest: BufReader<R>,
    digest: &Digest,
    media_type: &str,
    size: u64,
) -> Result<Decompressed<'a>, ContentError> {
    let consumed = taken.len();
    rest.consume(consumed);
    while taken.len() < HEAD_BYTES {
        let mut byte = [0u8; HEAD_BYTES];
        let want = HEAD_BYTES - taken.len();
        match rest.read(&mut byte[..want]) {
            Ok(0) => break,
            Ok(n) => taken.extend_from_slice(&byte[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ContentError::from_io(digest, e)),
        }
    }
    let compression = compression_of(digest, media_type, &taken)?;
    let joined = io::Cursor::new(taken).chain(rest);
    Ok(Decompressed {
        compression,
        reader: open_as(joined, compression, digest, size),
    })
}

fn open_as<'a, R: BufRead + Send + 'a>(
    r: R,
    compression: Compression,
    digest: &Digest,
    size: u64,
) -> Box<dyn BufRead + Send + 'a> {
    // A tar reader takes 512-byte headers and paddings one at a time; the buffer behind a
    // decompressor turns those into large inflate calls (per-call overhead was a third of the
    // time on layers of many small files, see BENCHMARKS.md). File content is hashed in this
    // buffer: at 128 KiB the large pair from OCI layouts took 2.5 % longer than at 256 KiB.
    let inflated = capacity(size.saturating_mul(4), 256 << 10);
    match compression {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(BufReader::with_capacity(
            inflated,
            GoGzip::new(r, digest.clone()),
        )),
        Compression::Zstd => Box::new(BufReader::with_capacity(
            inflated,
            Zstd::new(r, digest.clone()),
        )),
    }
}

fn stream_error(digest: &Digest, what: impl Into<String>) -> io::Error {
    ContentError::Decompress(DecompressError::Stream {
        digest: digest.clone(),
        what: what.into(),
    })
    .into_io()
}

/// Reads until `buf` is full or the stream ends; how many bytes it got.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

const FHCRC: u8 = 1 << 1;
const FEXTRA: u8 = 1 << 2;
const FNAME: u8 = 1 << 3;
const FCOMMENT: u8 = 1 << 4;

/// Go's `compress/gzip` reader in its default multistream mode: members one after another,
/// each checked against its CRC-32 and length; at the end of a member only the end of the
/// stream or another member may follow. Unlike flate2's, the header is read as Go reads it:
/// reserved flag bits are ignored, a name or comment is at most 511 bytes.
struct GoGzip<R> {
    state: GzState<R>,
    digest: Digest,
}

enum GzState<R> {
    /// Before a member's header; `first` for the stream's first.
    Header {
        r: R,
        first: bool,
    },
    Body {
        inflate: DeflateDecoder<R>,
        crc: Crc,
    },
    Done,
    /// A read failed; every later one fails too.
    Failed,
}

impl<R: BufRead> GoGzip<R> {
    fn new(r: R, digest: Digest) -> GoGzip<R> {
        GoGzip {
            state: GzState::Header { r, first: true },
            digest,
        }
    }

    fn err(&self, what: impl Into<String>) -> io::Error {
        stream_error(&self.digest, what)
    }

    /// Reads a member header (`false` when the stream ends cleanly before one).
    fn header(&self, r: &mut R, first: bool) -> io::Result<bool> {
        let mut h = [0u8; 10];
        let n = read_full(r, &mut h)?;
        if n == 0 && !first {
            return Ok(false);
        }
        if n < h.len() || h[..3] != GZIP_MAGIC {
            return Err(self.err(if first {
                "not a gzip stream: invalid header".to_owned()
            } else {
                format!(
                    "data after the last gzip member that is not another member (Docker and \
                     containerd refuse the layer): {}",
                    if n < h.len() {
                        format!("{n} bytes")
                    } else {
                        "an invalid header".to_owned()
                    }
                )
            }));
        }
        let truncated = || self.err("the stream ends inside a gzip header");
        let mut crc = Crc::new();
        crc.update(&h);
        let flags = h[3];
        if flags & FEXTRA != 0 {
            let mut len = [0u8; 2];
            if read_full(r, &mut len)? < 2 {
                return Err(truncated());
            }
            crc.update(&len);
            let mut extra = vec![0u8; usize::from(u16::from_le_bytes(len))];
            if read_full(r, &mut extra)? < extra.len() {
                return Err(truncated());
            }
            crc.update(&extra);
        }
        for flag in [FNAME, FCOMMENT] {
            if flags & flag == 0 {
                continue;
            }
            // Go reads these into a 512-byte buffer and fails on a longer one.
            let mut text = Vec::new();
            loop {
                let mut byte = [0u8; 1];
                if read_full(r, &mut byte)? == 0 {
                    return Err(truncated());
                }
                text.push(byte[0]);
                if byte[0] == 0 {
                    break;
                }
                if text.len() >= 512 {
                    return Err(self.err("a gzip file name or comment over 511 bytes"));
                }
            }
            crc.update(&text);
        }
        if flags & FHCRC != 0 {
            let mut sum = [0u8; 2];
            if read_full(r, &mut sum)? < 2 {
                return Err(truncated());
            }
            // RFC 1952: the header's CRC16 is the low 16 bits of its CRC-32.
            #[allow(clippy::cast_possible_truncation)]
            let want = crc.sum() as u16;
            if u16::from_le_bytes(sum) != want {
                return Err(self.err("a gzip header whose checksum does not match"));
            }
        }
        Ok(true)
    }

    fn step(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match std::mem::replace(&mut self.state, GzState::Failed) {
                GzState::Header { mut r, first } => {
                    if !self.header(&mut r, first)? {
                        self.state = GzState::Done;
                        return Ok(0);
                    }
                    self.state = GzState::Body {
                        inflate: DeflateDecoder::new(r),
                        crc: Crc::new(),
                    };
                }
                GzState::Body {
                    mut inflate,
                    mut crc,
                } => {
                    let n = inflate.read(buf)?;
                    if n > 0 {
                        crc.update(&buf[..n]);
                        self.state = GzState::Body { inflate, crc };
                        return Ok(n);
                    }
                    let mut r = inflate.into_inner();
                    let mut trailer = [0u8; 8];
                    if read_full(&mut r, &mut trailer)? < trailer.len() {
                        return Err(self.err("the stream ends inside a gzip member's trailer"));
                    }
                    let sum = u32::from_le_bytes(trailer[..4].try_into().expect("4 bytes"));
                    let size = u32::from_le_bytes(trailer[4..].try_into().expect("4 bytes"));
                    if sum != crc.sum() || size != crc.amount() {
                        return Err(self.err("a gzip member whose checksum does not match"));
                    }
                    self.state = GzState::Header { r, first: false };
                }
                GzState::Done => {
                    self.state = GzState::Done;
                    return Ok(0);
                }
                GzState::Failed => return Err(self.err("reading past an earlier error")),
            }
        }
    }
}

impl<R: BufRead> Read for GoGzip<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.step(buf)
    }
}

/// Bytes put back in front of a stream: the magic number read to tell a frame from what
/// follows the last one.
struct Pushback<R> {
    head: [u8; 4],
    at: usize,
    len: usize,
    inner: R,
}

impl<R: BufRead> Read for Pushback<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = {
            let avail = self.fill_buf()?;
            let n = avail.len().min(buf.len());
            buf[..n].copy_from_slice(&avail[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Pushback<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.at < self.len {
            return Ok(&self.head[self.at..self.len]);
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        let here = (self.len - self.at).min(amt);
        self.at += here;
        self.inner.consume(amt - here);
    }
}

/// zstd read as `klauspost/compress/zstd` streams it (Docker ≥ 22.06, containerd): frames one
/// after another, skippable frames skipped wherever they are; at a frame boundary only the end
/// of the stream, a frame or a skippable frame may follow. Each frame is decoded by libzstd.
struct Zstd<R: BufRead> {
    state: ZState<R>,
    digest: Digest,
}

enum ZState<R: BufRead> {
    Boundary(Pushback<R>),
    Frame(Box<zstd::stream::read::Decoder<'static, Pushback<R>>>),
    Done,
    Failed,
}

impl<R: BufRead> Zstd<R> {
    fn new(r: R, digest: Digest) -> Zstd<R> {
        Zstd {
            state: ZState::Boundary(Pushback {
                head: [0; 4],
                at: 0,
                len: 0,
                inner: r,
            }),
            digest,
        }
    }

    fn err(&self, what: impl Into<String>) -> io::Error {
        stream_error(&self.digest, what)
    }

    /// At a frame boundary: `Some` with the stream positioned at the next frame's magic,
    /// `None` at a clean end.
    fn next_frame(&self, mut r: Pushback<R>) -> io::Result<Option<Pushback<R>>> {
        loop {
            let mut magic = [0u8; 4];
            let n = read_full(&mut r, &mut magic)?;
            if n == 0 {
                return Ok(None);
            }
            if n < magic.len() {
                return Err(self.err(format!(
                    "{n} bytes after the last zstd frame (Docker and containerd refuse the layer)"
                )));
            }
            if is_skippable(&magic) {
                let mut len = [0u8; 4];
                if read_full(&mut r, &mut len)? < len.len() {
                    return Err(self.err("the stream ends inside a zstd skippable frame"));
                }
                let len = u64::from(u32::from_le_bytes(len));
                if io::copy(&mut (&mut r).take(len), &mut io::sink())? < len {
                    return Err(self.err("the stream ends inside a zstd skippable frame"));
                }
                continue;
            }
            if magic != ZSTD_MAGIC {
                return Err(self.err(
                    "data after the last zstd frame that is not a frame (Docker and containerd \
                     refuse the layer)",
                ));
            }
            r.head = magic;
            r.at = 0;
            r.len = magic.len();
            return Ok(Some(r));
        }
    }
}

impl<R: BufRead> Read for Zstd<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match std::mem::replace(&mut self.state, ZState::Failed) {
                ZState::Boundary(r) => match self.next_frame(r)? {
                    None => self.state = ZState::Done,
                    Some(r) => {
                        let decoder = zstd::stream::read::Decoder::with_buffer(r)
                            .map_err(|e| self.err(format!("starting zstd: {e}")))?
                            .single_frame();
                        self.state = ZState::Frame(Box::new(decoder));
                    }
                },
                ZState::Frame(mut decoder) => {
                    let n = decoder
                        .read(buf)
                        .map_err(|e| self.err(format!("zstd: {e}")))?;
                    if n > 0 {
                        self.state = ZState::Frame(decoder);
                        return Ok(n);
                    }
                    self.state = ZState::Boundary(decoder.finish());
                }
                ZState::Done => {
                    self.state = ZState::Done;
                    return Ok(0);
                }
                ZState::Failed => return Err(self.err("reading past an earlier error")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::model::media;

    fn digest() -> Digest {
        Digest::sha256_of(b"layer")
    }

    fn read_as(data: &[u8], media_type: &str) -> Result<(Compression, Vec<u8>), String> {
        let mut d = decompress(data, &digest(), media_type, data.len() as u64)
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        d.reader
            .read_to_end(&mut out)
            .map_err(|e| ContentError::from_io(&digest(), e).to_string())?;
        Ok((d.compression, out))
    }

    fn roundtrip(data: &[u8]) -> (Compression, Vec<u8>) {
        read_as(data, media::DOCKER_LAYER).unwrap()
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(data).unwrap();
        gz.finish().unwrap()
    }

    fn zst(data: &[u8]) -> Vec<u8> {
        zstd::encode_all(data, 1).unwrap()
    }

    fn skippable(payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0x5a, 0x2a, 0x4d, 0x18];
        out.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_le_bytes());
        out.extend_from_slice(payload);
        out
    }

    fn plain() -> Vec<u8> {
        (0..200_000u32).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn detects_by_magic() {
        let plain = b"plain tar bytes".to_vec();
        assert_eq!(roundtrip(&plain), (Compression::None, plain.clone()));
        let mut two_members = gz(&plain);
        two_members.extend_from_slice(&two_members.clone());
        let mut twice = plain.clone();
        twice.extend_from_slice(&plain);
        assert_eq!(roundtrip(&two_members), (Compression::Gzip, twice));
        assert_eq!(roundtrip(&zst(&plain)), (Compression::Zstd, plain));
    }

    #[test]
    fn zstd_frames_and_skippable_frames_make_one_stream() {
        let data = plain();
        let (a, b) = data.split_at(70_000);
        let mut framed = skippable(b"zstd:chunked manifest would be here");
        framed.extend(zst(a));
        framed.extend(skippable(b""));
        framed.extend(zst(b));
        framed.extend(skippable(&[7; 100]));
        assert_eq!(roundtrip(&framed), (Compression::Zstd, data.clone()));
        // Every skippable magic from 0x184D2A50 to 0x184D2A5F.
        for low in 0x50..=0x5f {
            let mut s = skippable(b"x");
            s[0] = low;
            s.extend(zst(&data));
            assert_eq!(roundtrip(&s).1, data, "{low:#x}");
        }
    }

    #[test]
    fn anything_after_the_last_member_or_frame_is_an_error() {
        let data = plain();
        for (name, stream) in [("gzip", gz(&data)), ("zstd", zst(&data))] {
            for tail in [
                &[0u8][..],
                &[0; 3],
                &[0; 4],
                &[0; 9],
                &[0; 10],
                &[0; 1024],
                b"junk after the stream",
            ] {
                let mut s = stream.clone();
                s.extend_from_slice(tail);
                let err = read_as(&s, media::DOCKER_LAYER).unwrap_err();
                assert!(
                    err.contains("after the last") && err.contains("refuse the layer"),
                    "{name} + {} bytes: {err}",
                    tail.len()
                );
            }
        }
    }

    #[test]
    fn gzip_headers_are_read_as_go_reads_them() {
        let data = b"content".to_vec();
        let mut base = gz(&data);
        // A reserved flag bit: flate2 refuses it, Go ignores it.
        base[3] |= 0x80;
        assert_eq!(roundtrip(&base).1, data);
        // A file name of 511 bytes is read, one of 512 refused.
        for (len, ok) in [(511, true), (512, false)] {
            let body = &gz(&data)[10..];
            let mut s = vec![0x1f, 0x8b, 8, FNAME, 0, 0, 0, 0, 0, 255];
            s.extend(std::iter::repeat_n(b'n', len));
            s.push(0);
            s.extend_from_slice(body);
            assert_eq!(read_as(&s, media::DOCKER_LAYER).is_ok(), ok, "{len}");
        }
        // A header checksum that does not match.
        let body = &gz(&data)[10..];
        let mut s = vec![0x1f, 0x8b, 8, FHCRC, 0, 0, 0, 0, 0, 255, 0, 0];
        s.extend_from_slice(body);
        assert!(read_as(&s, media::DOCKER_LAYER).is_err());
        let mut crc = Crc::new();
        crc.update(&s[..10]);
        s[10..12].copy_from_slice(&crc.sum().to_le_bytes()[..2]);
        assert_eq!(roundtrip(&s).1, data);
    }

    #[test]
    fn truncated_streams_are_errors() {
        let plain = plain();
        for (name, full) in [("gzip", gz(&plain)), ("zstd", zst(&plain))] {
            for cut in [full.len() / 2, full.len() - 4, full.len() - 1] {
                let r = read_as(&full[..cut], media::DOCKER_LAYER);
                assert!(r.is_err(), "{name} cut at {cut}/{}", full.len());
            }
        }
        let mut s = skippable(&[0; 100]);
        s.truncate(50);
        s.splice(0..0, zst(b"x"));
        assert!(read_as(&s, media::DOCKER_LAYER).is_err());
    }

    #[test]
    fn media_type_and_bytes_must_read_alike_in_every_runtime() {
        let tar = b"plain tar bytes, longer than ten".to_vec();
        let ok = |data: &[u8], mt: &str| read_as(data, mt).map(|(c, _)| c);
        // containerd decompresses what the bytes are under these types; so does Docker.
        for mt in [
            media::DOCKER_LAYER,
            media::DOCKER_LAYER_GZIP,
            media::DOCKER_FOREIGN_LAYER,
            media::OCI_LAYER_GZIP,
            media::OCI_LAYER_ZSTD,
            media::OCI_NONDISTRIBUTABLE_LAYER_ZSTD,
        ] {
            assert_eq!(ok(&tar, mt), Ok(Compression::None), "{mt}");
            assert_eq!(ok(&gz(&tar), mt), Ok(Compression::Gzip), "{mt}");
            assert_eq!(ok(&zst(&tar), mt), Ok(Compression::Zstd), "{mt}");
        }
        // Under an OCI type without a suffix, containerd does not decompress: Docker does.
        for mt in [media::OCI_LAYER, media::OCI_NONDISTRIBUTABLE_LAYER] {
            assert_eq!(ok(&tar, mt), Ok(Compression::None));
            for data in [gz(&tar), zst(&tar)] {
                let err = ok(&data, mt).unwrap_err();
                assert!(err.contains("containerd as an uncompressed tar"), "{err}");
            }
        }
        // bzip2 and xz are Docker's alone; a plain tar whose first name starts with "BZh" is
        // bzip2 to Docker.
        for head in [
            &b"BZh91AY&SY"[..],
            &[0xfd, b'7', b'z', b'X', b'Z', 0, 0, 0, 0, 0],
        ] {
            let err = ok(head, media::DOCKER_LAYER).unwrap_err();
            assert!(err.contains("Docker reads it as"), "{err}");
        }
        let err = ok(&tar, "application/vnd.oci.image.layer.v1.tar+encrypted").unwrap_err();
        assert!(err.contains("encrypted"), "{err}");
        let err = ok(&tar, "application/vnd.oci.image.layer.v1.tar+foo").unwrap_err();
        assert!(
            err.contains("\"application/vnd.oci.image.layer.v1.tar+foo\""),
            "{err}"
        );
    }

    #[test]
    fn short_and_empty_streams() {
        // Read one byte at a time: the head is gathered across reads.
        struct OneByte<'a>(&'a [u8]);
        impl Read for OneByte<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let Some((first, rest)) = self.0.split_first() else {
                    return Ok(0);
                };
                buf[0] = *first;
                self.0 = rest;
                Ok(1)
            }
        }
        assert_eq!(roundtrip(b""), (Compression::None, vec![]));
        assert_eq!(roundtrip(b"abc"), (Compression::None, b"abc".to_vec()));
        let data = plain();
        let z = zst(&data);
        let mut d = decompress(OneByte(&z), &digest(), media::OCI_LAYER_ZSTD, u64::MAX).unwrap();
        let mut out = Vec::new();
        d.reader.read_to_end(&mut out).unwrap();
        assert_eq!((d.compression, out), (Compression::Zstd, data));
    }
}
