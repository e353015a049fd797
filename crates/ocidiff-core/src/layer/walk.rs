//! One pass over a layer blob: verify its digest, decompress it, read its entries as Go reads
//! them, hash each file's content (for equality: [`super::ContentDigest`]) and the whole
//! decompressed stream (SHA-256: the layer's diff ID, which runtimes check against the
//! config), keeping only metadata. Where the stream and a file are both hashed with SHA-256,
//! the file's bytes are hashed for both at once ([`ocidiff_sha256::update_both`]).

use std::io::{self, BufRead, Read};

use ocidiff_sha256::Sha256;

use super::entry::{ContentDigest, ContentHasher, EntryMeta, EntryType, FileDigests};
use super::tar::{Reader, TarError};
use crate::content::{
    self, BlobSource, ContentError, Limit, LimitExceeded, LimitedReader, Limits, VerifyingReader,
};
use crate::model::{Algorithm, Compression, Descriptor, Digest};

/// A walked layer.
#[derive(Debug, Clone)]
pub struct Listing {
    /// The compression the layer's bytes turned out to use.
    pub compression: Compression,
    /// Every entry, in stream order.
    pub entries: Vec<EntryMeta>,
    /// SHA-256 of the decompressed stream, trailing bytes included: what `rootfs.diff_ids`
    /// must say. For an uncompressed layer it is the blob's own (verified) digest.
    pub diff_id: Digest,
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
#[non_exhaustive]
pub enum LayerError {
    /// The layer's blob could not be read, verified or decompressed.
    #[error(transparent)]
    Content(#[from] ContentError),
    /// A tar stream that Go's reader, and so the runtimes, would refuse.
    #[error("layer {digest}: not a tar stream container runtimes accept: {source}")]
    Tar {
        /// The layer's digest.
        digest: Digest,
        /// Where and why the stream fails.
        source: TarError,
    },
    /// Too many entries, or too many bytes of their metadata.
    #[error("{0}")]
    Limit(#[from] LimitExceeded),
}

impl LayerError {
    fn from_tar(digest: &Digest, err: TarError) -> LayerError {
        match err {
            TarError::Io(e) => match ContentError::from_io(digest, e) {
                ContentError::Io { digest, source } => LayerError::Tar {
                    digest,
                    source: TarError::Io(source),
                },
                other => LayerError::Content(other),
            },
            other => LayerError::Tar {
                digest: digest.clone(),
                source: other,
            },
        }
    }

    pub(super) fn from_io(digest: &Digest, err: io::Error) -> LayerError {
        LayerError::from_tar(digest, TarError::from_io(err))
    }
}

/// Walks the layer `desc` of `source`, the `layer`-th of its manifest, calling `visit` for each
/// entry with its content reader positioned at the start (so a second pass can extract files
/// with the same code). The blob is read to its end, so its digest is always verified.
/// `diff_id` is the blob's diff ID when an earlier run computed it from the same bytes: the
/// decompressed stream is then not hashed again (the blob's own digest still is checked, and
/// the same bytes decompress to the same stream). `files` says how files are hashed.
pub fn walk<F>(
    source: &dyn BlobSource,
    desc: &Descriptor,
    layer: usize,
    diff_id: Option<&Digest>,
    limits: &Limits,
    files: FileDigests,
    visit: F,
) -> Result<Listing, LayerError>
where
    F: FnMut(&EntryMeta, &mut dyn Read) -> io::Result<()>,
{
    kept(|each| walk_opened(source, desc, layer, diff_id, limits, files, visit, each))
}

/// The listing of a walk that hands its entries to the function it is given.
pub(super) fn kept(
    walk: impl FnOnce(&mut dyn FnMut(EntryMeta) -> io::Result<()>) -> Result<WalkEnd, LayerError>,
) -> Result<Listing, LayerError> {
    let mut entries = Vec::new();
    let end = walk(&mut |e| {
        entries.push(e);
        Ok(())
    })?;
    Ok(Listing {
        compression: end.compression,
        entries,
        diff_id: end.diff_id,
    })
}

/// Opens the blob of [`walk`] and [`walk_each`] and walks it. An uncompressed blob walked for
/// [`FileDigests::Sha256`] is not hashed as it is read: the walk hashes its stream, with the
/// files', and checks the blob's digest at the end. Whether it is uncompressed is decided from
/// its first bytes before any is hashed, as the walk then decides it: a blob is read once,
/// so what is walked is what is verified.
#[allow(clippy::too_many_arguments)]
fn walk_opened<F, E>(
    source: &dyn BlobSource,
    desc: &Descriptor,
    layer: usize,
    diff_id: Option<&Digest>,
    limits: &Limits,
    files: FileDigests,
    visit: F,
    each: E,
) -> Result<WalkEnd, LayerError>
where
    F: FnMut(&EntryMeta, &mut dyn Read) -> io::Result<()>,
    E: FnMut(EntryMeta) -> io::Result<()>,
{
    check_descriptor(desc, limits)?;
    let mut blob = Blob::of(desc, layer, diff_id, files);
    if files != FileDigests::Sha256
        || desc.digest.algorithm() != Algorithm::Sha256
        || source.is_verified(&desc.digest)
    {
        let raw = content::open_verified(source, desc)?;
        return walk_entries(raw, &blob, limits, visit, each);
    }
    let digest = &desc.digest;
    let mut raw = io::BufReader::with_capacity(HEAD_PEEK, source.open(digest)?);
    let head = raw
        .fill_buf()
        .map_err(|e| ContentError::from_io(digest, e))?;
    let plain = (head.len() >= content::HEAD_BYTES || head.len() as u64 == desc.size)
        && content::compression_of(digest, &desc.media_type, head)
            .is_ok_and(|c| c == Compression::None);
    if !plain {
        let raw = VerifyingReader::new(raw, digest.clone(), desc.size);
        return walk_entries(raw, &blob, limits, visit, each);
    }
    blob.check_stream = true;
    let raw = VerifyingReader::trusting(raw, digest.clone(), desc.size);
    walk_entries(raw, &blob, limits, visit, each)
}

/// Bytes read ahead to tell whether a blob is compressed: enough for [`content::HEAD_BYTES`],
/// few enough that copying them once more costs nothing.
const HEAD_PEEK: usize = 512;

/// The blob a walk reads: what names it in errors and entries, and what decides how it is
/// read.
struct Blob<'a> {
    digest: &'a Digest,
    media_type: &'a str,
    /// Its size, `u64::MAX` when unknown.
    size: u64,
    layer: usize,
    /// Its diff ID, when already known.
    diff_id: Option<&'a Digest>,
    files: FileDigests,
    /// Nothing below has hashed the blob: when it is uncompressed, its stream must hash to
    /// `digest`.
    check_stream: bool,
}

impl<'a> Blob<'a> {
    fn of(
        desc: &'a Descriptor,
        layer: usize,
        diff_id: Option<&'a Digest>,
        files: FileDigests,
    ) -> Blob<'a> {
        Blob {
            digest: &desc.digest,
            media_type: &desc.media_type,
            size: desc.size,
            layer,
            diff_id,
            files,
            check_stream: false,
        }
    }
}

/// What is checked before a layer's bytes are read: its size, and a media type runtimes unpack.
pub(super) fn check_descriptor(desc: &Descriptor, limits: &Limits) -> Result<(), LayerError> {
    let digest = &desc.digest;
    if desc.size > limits.layer_bytes {
        return Err(ContentError::TooLarge(LimitExceeded {
            limit: Limit::LayerBytes,
            max: limits.layer_bytes,
            subject: format!("layer {digest}"),
            found: Some(desc.size),
        })
        .into());
    }
    content::layer_kind(digest, &desc.media_type).map_err(ContentError::from)?;
    Ok(())
}

/// Hashes what is consumed of the buffered stream below, in place: the whole stream, when its
/// SHA-256 is wanted, and the content of the file being read, when one is.
struct Hashing<R> {
    inner: R,
    stream: Option<Sha256>,
    /// The current file's hasher and how many of its bytes are still to come.
    file: Option<(ContentHasher, u64)>,
}

impl<R: BufRead> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = {
            let there = self.fill_buf()?;
            let n = there.len().min(buf.len());
            buf[..n].copy_from_slice(&there[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Hashing<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        if n > 0 && (self.stream.is_some() || self.file.is_some()) {
            // The bytes consumed are still in the buffer: asking for it again reads nothing.
            if let Ok(buf) = self.inner.fill_buf() {
                let bytes = &buf[..n.min(buf.len())];
                let in_file = self.file.as_ref().map_or(0, |(_, left)| {
                    usize::try_from(*left).map_or(bytes.len(), |left| left.min(bytes.len()))
                });
                let (file_bytes, rest) = bytes.split_at(in_file);
                match (&mut self.stream, &mut self.file) {
                    (Some(stream), Some((ContentHasher::Sha256(file), _))) => {
                        ocidiff_sha256::update_both(stream, file, file_bytes);
                    }
                    (stream, file) => {
                        if let Some(stream) = stream {
                            stream.update(file_bytes);
                        }
                        if let Some((file, _)) = file {
                            file.update(file_bytes);
                        }
                    }
                }
                if let Some(stream) = &mut self.stream {
                    stream.update(rest);
                }
                if let Some((_, left)) = &mut self.file {
                    *left -= in_file as u64;
                }
            }
        }
        self.inner.consume(n);
    }
}

/// Hashes the content of a sparse file as it is read, holes filled in.
struct FileHashing<R> {
    inner: R,
    hasher: ContentHasher,
}

impl<R: Read> Read for FileHashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// [`walk_each`] over a blob's bytes, however they arrive (a member of an export as it streams
/// by); `digest` names it in errors; `media_type` decides, with the bytes, how it is
/// decompressed. An uncompressed stream is not hashed: its digest is the caller's to know.
/// Reads the stream to its end.
pub fn walk_stream_each<R, E>(
    raw: R,
    digest: &Digest,
    media_type: &str,
    limits: &Limits,
    each: E,
) -> Result<WalkEnd, LayerError>
where
    R: Read + Send,
    E: FnMut(EntryMeta) -> io::Result<()>,
{
    let blob = Blob {
        digest,
        media_type,
        size: u64::MAX,
        layer: 0,
        diff_id: None,
        files: FileDigests::BySize,
        check_stream: false,
    };
    walk_entries(raw, &blob, limits, |_, _| Ok(()), each)
}

/// What a walk that handed its entries over found besides them.
#[derive(Debug, Clone)]
pub struct WalkEnd {
    /// The compression the layer's bytes turned out to use.
    pub compression: Compression,
    /// As [`Listing::diff_id`].
    pub diff_id: Digest,
}

/// [`walk`], handing each entry to `each` as soon as it is read instead of keeping them: the
/// comparison of two large layers holds only the entries it has not matched yet. An error
/// from `each` stops the walk.
pub fn walk_each<E>(
    source: &dyn BlobSource,
    desc: &Descriptor,
    layer: usize,
    diff_id: Option<&Digest>,
    limits: &Limits,
    files: FileDigests,
    each: E,
) -> Result<WalkEnd, LayerError>
where
    E: FnMut(EntryMeta) -> io::Result<()>,
{
    walk_opened(
        source,
        desc,
        layer,
        diff_id,
        limits,
        files,
        |_, _| Ok(()),
        each,
    )
}

fn walk_entries<R, F, E>(
    raw: R,
    blob: &Blob,
    limits: &Limits,
    mut visit: F,
    mut each: E,
) -> Result<WalkEnd, LayerError>
where
    R: Read + Send,
    F: FnMut(&EntryMeta, &mut dyn Read) -> io::Result<()>,
    E: FnMut(EntryMeta) -> io::Result<()>,
{
    let (digest, layer) = (blob.digest, blob.layer);
    let decompressed = content::decompress(raw, digest, blob.media_type, blob.size)?;
    let compression = decompressed.compression;
    let uncompressed = compression == Compression::None;
    if blob.check_stream && !uncompressed {
        // The same buffered first bytes said "uncompressed" a moment ago, so this is not
        // reached; were it, nothing would have hashed the blob, which must not pass.
        return Err(ContentError::from_io(
            digest,
            io::Error::other("the blob changed while it was read"),
        )
        .into());
    }
    let hashing = Hashing {
        inner: decompressed.reader,
        stream: (if uncompressed {
            blob.check_stream
        } else {
            blob.diff_id.is_none()
        })
        .then(Sha256::new),
        file: None,
    };
    let limited = LimitedReader::new(
        hashing,
        limits.decompressed_bytes,
        format!("layer {digest} decompressed"),
    );
    let mut tar = Reader::new(limited);
    let mut count = 0u64;
    let mut metadata = 0u64;
    while let Some(header) = tar
        .next_header()
        .map_err(|e| LayerError::from_tar(digest, e))?
    {
        if count >= limits.entries {
            return Err(LimitExceeded {
                limit: Limit::Entries,
                max: limits.entries,
                subject: format!("layer {digest}"),
                found: None,
            }
            .into());
        }
        let position = usize::try_from(count).expect("entries are limited");
        count += 1;
        let mut meta = EntryMeta::from_header(header, position, layer);
        metadata += meta.metadata_bytes();
        if metadata > limits.metadata_bytes {
            return Err(LimitExceeded {
                limit: Limit::MetadataBytes,
                max: limits.metadata_bytes,
                subject: format!("layer {digest}"),
                found: None,
            }
            .into());
        }
        if meta.kind == EntryType::File {
            let hasher = ContentHasher::new(meta.size, blob.files);
            meta.digest = Some(
                read_file(&mut tar, &meta, hasher, &mut visit)
                    .map_err(|e| LayerError::from_tar(digest, e))?,
            );
        } else {
            visit(&meta, &mut io::empty()).map_err(|e| LayerError::from_io(digest, e))?;
        }
        each(meta).map_err(|e| LayerError::from_io(digest, e))?;
    }
    // What follows the end-of-archive marker is part of the diff ID, and only at the end of
    // the blob is its digest known to be right.
    let mut rest = tar.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(|e| LayerError::from_io(digest, e))?;
    let hashing = rest.into_inner();
    let diff_id = match (hashing.stream, blob.diff_id) {
        (Some(hasher), _) => Digest::from_sha256(hasher.finish()),
        (None, Some(known)) if !uncompressed => known.clone(),
        // Uncompressed, the blob is its own diff ID.
        (None, _) => digest.clone(),
    };
    if uncompressed && diff_id != *digest {
        return Err(ContentError::DigestMismatch {
            expected: digest.clone(),
            actual: diff_id,
        }
        .into());
    }
    Ok(WalkEnd {
        compression,
        diff_id,
    })
}

/// Hands the current entry, a regular file, to `visit`, reads the rest of its content, and
/// gives the digest of all of it. A file whose bytes come straight from the stream is hashed
/// below the tar reader as the stream is consumed, in the pass that hashes the stream; a sparse
/// one as it is read, holes filled in.
fn read_file<R, F>(
    tar: &mut Reader<LimitedReader<Hashing<R>>>,
    meta: &EntryMeta,
    hasher: ContentHasher,
    visit: &mut F,
) -> Result<ContentDigest, TarError>
where
    R: BufRead,
    F: FnMut(&EntryMeta, &mut dyn Read) -> io::Result<()>,
{
    let Some(left) = tar.plain_data_left() else {
        let mut hashing = FileHashing { inner: tar, hasher };
        visit(meta, &mut hashing).map_err(TarError::from_io)?;
        let mut hasher = hashing.hasher;
        hashing
            .inner
            .drain_data(&mut |bytes| hasher.update(bytes))?;
        return Ok(hasher.finish());
    };
    tar.inner_mut().inner_mut().file = Some((hasher, left));
    visit(meta, tar).map_err(TarError::from_io)?;
    tar.drain_data(&mut |_| {})?;
    let (hasher, left) = tar.inner_mut().inner_mut().file.take().expect("set above");
    if left != 0 {
        // Consumed but not hashed: the digest would not be the content's.
        return Err(TarError::from_io(io::Error::other(
            "a file's content was read past the hasher",
        )));
    }
    Ok(hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::MemorySource;
    use crate::layer::ContentDigest;

    fn desc(digest: Digest, size: usize) -> Descriptor {
        Descriptor {
            media_type: crate::model::media::OCI_LAYER_GZIP.into(),
            digest,
            size: size as u64,
            platform: None,
            annotations: Default::default(),
            urls: vec![],
            artifact_type: None,
        }
    }

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
        let r = walk(
            &src,
            &desc(digest, cut.len()),
            0,
            None,
            &Limits::default(),
            FileDigests::BySize,
            |_, _| Ok(()),
        );
        assert!(r.is_err(), "{:?}", r.map(|l| l.entries.len()));
    }

    #[test]
    fn diff_id_is_the_digest_of_the_decompressed_stream() {
        let layer = ocidiff_testkit::Layer::new(vec![ocidiff_testkit::Entry::file("f", "x")]);
        let tar = layer.tar_bytes();
        let gz = layer
            .compression(ocidiff_testkit::Compression::Gzip)
            .blob_bytes();
        let mut src = MemorySource::default();
        let digest = src.insert(&gz);
        let listing = walk(
            &src,
            &desc(digest, gz.len()),
            0,
            None,
            &Limits::default(),
            FileDigests::BySize,
            |_, _| Ok(()),
        )
        .unwrap();
        assert_eq!(listing.diff_id, Digest::sha256_of(&tar));
        assert_eq!(listing.entries[0].digest, Some(ContentDigest::of(b"x")));
    }

    /// A gzip layer of one file, `f`: contents of one length give blobs of one size.
    fn gz_of(content: &str) -> Vec<u8> {
        ocidiff_testkit::Layer::new(vec![ocidiff_testkit::Entry::file("f", content)])
            .compression(ocidiff_testkit::Compression::Gzip)
            .blob_bytes()
    }

    /// `walk_as` of a valid layer the size of `gz` stored under `gz`'s digest fails on the
    /// digest check, the only thing that can tell.
    fn other_bytes_fail(gz: &[u8], walk_as: impl Fn(&MemorySource, Digest) -> WalkResult) {
        let other = gz_of("y");
        assert_eq!(other.len(), gz.len());
        let claimed = Digest::sha256_of(gz);
        let src = MemorySource([(claimed.clone(), other)].into());
        let err = walk_as(&src, claimed).unwrap_err();
        assert!(
            matches!(
                err,
                LayerError::Content(ContentError::DigestMismatch { .. })
            ),
            "{err:?}"
        );
    }

    type WalkResult = Result<Listing, LayerError>;

    /// A diff ID already known is taken, not computed again; the blob is still verified.
    #[test]
    fn a_known_diff_id_is_not_computed_again() {
        let gz = gz_of("x");
        let mut src = MemorySource::default();
        let digest = src.insert(&gz);
        let known = Digest::sha256_of(b"what an earlier run found");
        let walk_with = |src: &MemorySource, digest: Digest| {
            walk(
                src,
                &desc(digest, gz.len()),
                0,
                Some(&known),
                &Limits::default(),
                FileDigests::BySize,
                |_, _| Ok(()),
            )
        };
        assert_eq!(walk_with(&src, digest).unwrap().diff_id, known);
        other_bytes_fail(&gz, walk_with);
    }

    fn plain(digest: Digest, size: usize) -> Descriptor {
        Descriptor {
            media_type: crate::model::media::OCI_LAYER.into(),
            ..desc(digest, size)
        }
    }

    fn sha256_of(bytes: &[u8]) -> ContentDigest {
        ContentDigest::Sha256(<sha2::Sha256 as sha2::Digest>::digest(bytes).into())
    }

    /// Files hashed in the pass that hashes the layer: each file's SHA-256, whatever its size
    /// and however much of it the visit read, and the blob still checked against its digest.
    #[test]
    fn files_hashed_with_the_layer_are_their_sha256() {
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let layer = ocidiff_testkit::Layer::new(vec![
            ocidiff_testkit::Entry::file("small", "x"),
            ocidiff_testkit::Entry::file("big", big.clone()),
            ocidiff_testkit::Entry::dir("d/"),
            ocidiff_testkit::Entry::file("empty", ""),
        ]);
        let tar = layer.tar_bytes();
        let mut src = MemorySource::default();
        let digest = src.insert(&tar);
        for read in [0, 1000, usize::MAX] {
            let listing = walk(
                &src,
                &plain(digest.clone(), tar.len()),
                0,
                None,
                &Limits::default(),
                FileDigests::Sha256,
                |_, r| {
                    io::copy(&mut r.take(read as u64), &mut io::sink())?;
                    Ok(())
                },
            )
            .unwrap();
            let digests: Vec<_> = listing.entries.iter().map(|e| e.digest).collect();
            assert_eq!(
                digests,
                [
                    Some(sha256_of(b"x")),
                    Some(sha256_of(&big)),
                    None,
                    Some(sha256_of(b""))
                ]
            );
            assert_eq!(listing.diff_id, digest);
        }
        // Other bytes of the same size under that digest: the walk's own hash tells.
        let mut other = tar.clone();
        let at = other.len() / 2;
        other[at] ^= 1;
        let src = MemorySource([(digest.clone(), other)].into());
        let err = walk(
            &src,
            &plain(digest, tar.len()),
            0,
            None,
            &Limits::default(),
            FileDigests::Sha256,
            |_, _| Ok(()),
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                LayerError::Content(ContentError::DigestMismatch { .. })
            ),
            "{err:?}"
        );
    }

    /// A blob walked for SHA-256 file digests that turns out compressed is hashed as it is
    /// read, as any compressed blob, and its files are their SHA-256.
    #[test]
    fn a_compressed_blob_walked_for_sha256_files_is_still_checked() {
        let gz = gz_of("x");
        let mut src = MemorySource::default();
        let digest = src.insert(&gz);
        // A Docker type says nothing of the compression: the bytes decide.
        let walk_sha = |src: &MemorySource, digest: Digest| {
            walk(
                src,
                &Descriptor {
                    media_type: crate::model::media::DOCKER_LAYER.into(),
                    ..desc(digest, gz.len())
                },
                0,
                None,
                &Limits::default(),
                FileDigests::Sha256,
                |_, _| Ok(()),
            )
        };
        let listing = walk_sha(&src, digest).unwrap();
        assert_eq!(listing.entries[0].digest, Some(sha256_of(b"x")));
        other_bytes_fail(&gz, walk_sha);
    }

    #[test]
    fn metadata_is_bounded_per_layer() {
        let entries: Vec<_> = (0..100)
            .map(|i| ocidiff_testkit::Entry::file(&format!("{i:0100}"), ""))
            .collect();
        let tar = ocidiff_testkit::Layer::new(entries).tar_bytes();
        let limits = Limits {
            metadata_bytes: 5_000,
            ..Limits::default()
        };
        let err = walk_stream_each(
            &tar[..],
            &Digest::sha256_of(&tar),
            crate::model::media::OCI_LAYER,
            &limits,
            |_| Ok(()),
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                LayerError::Limit(LimitExceeded {
                    limit: Limit::MetadataBytes,
                    max: 5_000,
                    ..
                })
            ),
            "{err}"
        );
    }
}
