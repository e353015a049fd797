//! Reading blobs: where they come from ([`BlobSource`]), checking them against their digest as
//! they stream ([`VerifyingReader`]), undoing layer compression, and the limits that keep a
//! hostile image from exhausting memory or disk.

mod decompress;
mod limits;
mod verify;

use std::io::{self, BufRead, Read};

pub use decompress::{
    DecompressError, Decompressed, Format, HEAD_BYTES, check_walked, compression_of, decompress,
    detected, layer_kind,
};
pub use limits::{Limit, LimitExceeded, LimitedReader, Limits};
pub use verify::VerifyingReader;

use crate::model::{Compression, Descriptor, Digest};

/// Anything that holds blobs by digest: an OCI layout, an archive, a store.
pub trait BlobSource: Send + Sync {
    /// Opens the blob's bytes as stored, not yet verified; callers go through [`open_verified`].
    fn open(&self, digest: &Digest) -> Result<Box<dyn Read + Send + '_>, ContentError>;

    /// Whether the source has already checked this blob against its digest (a store that
    /// verifies on ingest), so that reading it again to verify would be wasted work.
    fn is_verified(&self, _digest: &Digest) -> bool {
        false
    }

    /// Names the source in error messages.
    fn describe(&self) -> String;

    /// The listing kept beside the blob by an earlier walk ([`crate::layer::persist`]), for a
    /// source that keeps them: read instead of the blob when only metadata is needed.
    fn open_listing(&self, _digest: &Digest) -> Option<Box<dyn Read + Send + '_>> {
        None
    }

    /// Where a walk of the blob may keep its listing, for a source that keeps them.
    fn keep_listing(&self, _digest: &Digest) -> Option<Box<dyn KeptFile + '_>> {
        None
    }

    /// For a layer the source holds only as a listing (its bytes exported again on demand):
    /// the compression its bytes were found to use and its diff ID, which stand in for
    /// reading its first bytes or hashing it.
    fn listed(&self, _digest: &Digest) -> Option<(Compression, Digest)> {
        None
    }
}

/// A file being written beside a blob, put in place by [`KeptFile::keep`] once complete.
pub trait KeptFile: io::Write + Send {
    /// Puts the file in place (dropped without this, it is thrown away).
    fn keep(self: Box<Self>) -> io::Result<()>;
}

/// Why a blob could not be read or trusted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContentError {
    /// The source does not hold the blob.
    #[error("blob {digest} not found in {source_name}")]
    NotFound {
        /// The blob asked for.
        digest: Digest,
        /// The source, as [`BlobSource::describe`] names it.
        source_name: String,
    },
    /// A blob whose content does not hash to its digest: corrupt or tampered with.
    #[error("blob {expected} does not match its digest: its content hashes to {actual}")]
    DigestMismatch {
        /// The digest it was asked for by.
        expected: Digest,
        /// What its content hashes to.
        actual: Digest,
    },
    /// A blob whose length is not the size its descriptor declares.
    #[error("blob {digest} is {actual} bytes long, but its descriptor says {declared}")]
    SizeMismatch {
        /// The blob's digest.
        digest: Digest,
        /// The size the descriptor declares.
        declared: u64,
        /// The length actually read.
        actual: u64,
    },
    /// A blob over a size limit.
    #[error("{0}")]
    TooLarge(#[from] LimitExceeded),
    /// Reading the blob failed.
    #[error("reading blob {digest}: {source}")]
    Io {
        /// The blob's digest.
        digest: Digest,
        /// The I/O error.
        source: io::Error,
    },
    /// A blob read while it downloads whose download failed.
    #[error("downloading blob {digest}: {reason}")]
    Download {
        /// The blob's digest.
        digest: Digest,
        /// Why the download failed.
        reason: String,
    },
    /// A layer that cannot be decompressed as runtimes would.
    #[error(transparent)]
    Decompress(#[from] DecompressError),
}

impl ContentError {
    /// Recovers a `ContentError` carried through an `io::Error` by one of the readers here, or
    /// wraps the I/O error with the blob it came from.
    pub fn from_io(digest: &Digest, err: io::Error) -> ContentError {
        err.downcast::<ContentError>()
            .unwrap_or_else(|err| ContentError::Io {
                digest: digest.clone(),
                source: err,
            })
    }

    pub(crate) fn into_io(self) -> io::Error {
        io::Error::other(self)
    }
}

/// Blobs held in memory: for tests, benchmarks and fuzzing, and for library users who build
/// images in memory.
#[derive(Debug, Default, Clone)]
pub struct MemorySource(pub std::collections::HashMap<Digest, Vec<u8>>);

impl MemorySource {
    /// Adds `bytes` under their SHA-256 digest, which it returns.
    pub fn insert(&mut self, bytes: &[u8]) -> Digest {
        let d = Digest::sha256_of(bytes);
        self.0.insert(d.clone(), bytes.to_vec());
        d
    }
}

impl BlobSource for MemorySource {
    fn open(&self, digest: &Digest) -> Result<Box<dyn Read + Send + '_>, ContentError> {
        match self.0.get(digest) {
            Some(b) => Ok(Box::new(&b[..])),
            None => Err(ContentError::NotFound {
                digest: digest.clone(),
                source_name: self.describe(),
            }),
        }
    }

    fn describe(&self) -> String {
        "memory".into()
    }
}

/// Opens a blob so that reading it to the end proves it matches `desc` (digest and size). A
/// blob the source has verified already is only checked for its size.
pub fn open_verified<'a>(
    source: &'a dyn BlobSource,
    desc: &Descriptor,
) -> Result<VerifyingReader<Box<dyn Read + Send + 'a>>, ContentError> {
    let inner = source.open(&desc.digest)?;
    if source.is_verified(&desc.digest) {
        return Ok(VerifyingReader::trusting(
            inner,
            desc.digest.clone(),
            desc.size,
        ));
    }
    Ok(VerifyingReader::new(inner, desc.digest.clone(), desc.size))
}

/// Reads a small JSON blob whole, verified, refusing it before reading when its descriptor
/// declares more than `limit` bytes.
pub fn read_json_blob(
    source: &dyn BlobSource,
    desc: &Descriptor,
    limit: u64,
) -> Result<Vec<u8>, ContentError> {
    if desc.size > limit {
        return Err(ContentError::TooLarge(LimitExceeded {
            limit: Limit::JsonBytes,
            max: limit,
            subject: format!("JSON blob {}", desc.digest),
            found: Some(desc.size),
        }));
    }
    let mut reader = open_verified(source, desc)?;
    let mut bytes = Vec::with_capacity(usize::try_from(desc.size).unwrap_or(0));
    reader
        .read_to_end(&mut bytes)
        .map_err(|e| ContentError::from_io(&desc.digest, e))?;
    Ok(bytes)
}

/// Reads a blob to its end only to check it against its descriptor.
pub fn verify_blob(source: &dyn BlobSource, desc: &Descriptor) -> Result<(), ContentError> {
    if source.is_verified(&desc.digest) {
        return Ok(());
    }
    let mut reader = open_verified(source, desc)?;
    io::copy(&mut reader, &mut io::sink()).map_err(|e| ContentError::from_io(&desc.digest, e))?;
    Ok(())
}

/// Reads the first [`HEAD_BYTES`] of `reader` (fewer if it ends sooner).
fn read_head(reader: &mut impl Read, digest: &Digest) -> Result<Vec<u8>, ContentError> {
    let mut head = [0u8; HEAD_BYTES];
    let mut n = 0;
    while n < head.len() {
        match reader.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ContentError::from_io(digest, e)),
        }
    }
    Ok(head[..n].to_vec())
}

/// A layer blob's diff ID: the SHA-256 of its stream once decompressed as runtimes decompress
/// it under its media type, read to its end (what its config's `rootfs.diff_ids` must name),
/// and the compression found; the blob's digest is verified on the way. An uncompressed blob
/// is its own diff ID; with `trust_digest` (the same bytes are known to carry that digest), it
/// is then not read further.
pub fn diff_id(
    source: &dyn BlobSource,
    desc: &Descriptor,
    limits: &Limits,
    trust_digest: bool,
) -> Result<(Digest, Compression), ContentError> {
    let mut reader = open_verified(source, desc)?;
    let head = read_head(&mut reader, &desc.digest)?;
    let compression = compression_of(&desc.digest, &desc.media_type, &head)?;
    let whole = io::Cursor::new(head).chain(reader);
    if compression == Compression::None {
        if !trust_digest {
            io::copy(&mut { whole }, &mut io::sink())
                .map_err(|e| ContentError::from_io(&desc.digest, e))?;
        }
        return Ok((desc.digest.clone(), compression));
    }
    let decompressed = decompress(whole, &desc.digest, &desc.media_type, desc.size)?;
    let mut limited = LimitedReader::new(
        decompressed.reader,
        limits.decompressed_bytes,
        format!("layer {} decompressed", desc.digest),
    );
    let mut hasher = crate::model::Hasher::new(crate::model::Algorithm::Sha256);
    loop {
        let n = match limited.fill_buf() {
            Ok([]) => break,
            Ok(buf) => {
                hasher.update(buf);
                buf.len()
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ContentError::from_io(&desc.digest, e)),
        };
        limited.consume(n);
    }
    Ok((hasher.finish(), compression))
}

/// Reads a layer blob to its end to check it against its descriptor, and checks on the way
/// that runtimes decompress its bytes alike under its media type ([`compression_of`]). Of a
/// blob its source has verified already, only the first bytes are read.
pub fn verify_layer(
    source: &dyn BlobSource,
    desc: &Descriptor,
) -> Result<Compression, ContentError> {
    if source.is_verified(&desc.digest) {
        if let Some((compression, _)) = source.listed(&desc.digest) {
            check_walked(&desc.digest, &desc.media_type, compression)?;
            return Ok(compression);
        }
        let head = layer_head(source, &desc.digest)?;
        return Ok(compression_of(&desc.digest, &desc.media_type, &head)?);
    }
    let mut reader = open_verified(source, desc)?;
    let head = read_head(&mut reader, &desc.digest)?;
    let compression = compression_of(&desc.digest, &desc.media_type, &head)?;
    io::copy(&mut reader, &mut io::sink()).map_err(|e| ContentError::from_io(&desc.digest, e))?;
    Ok(compression)
}

/// The first [`HEAD_BYTES`] of a blob, unverified: what runtimes look at to decide how to
/// decompress a layer ([`compression_of`]).
pub fn layer_head(source: &dyn BlobSource, digest: &Digest) -> Result<Vec<u8>, ContentError> {
    read_head(&mut source.open(digest)?, digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(digest: Digest, size: u64) -> Descriptor {
        Descriptor::new(crate::model::media::OCI_CONFIG, digest, size)
    }

    #[test]
    fn json_blob_is_verified_and_bounded() {
        let mut src = MemorySource::default();
        let d = src.insert(b"{}");
        assert_eq!(
            read_json_blob(&src, &desc(d.clone(), 2), 10).unwrap(),
            b"{}"
        );
        assert!(matches!(
            read_json_blob(&src, &desc(d.clone(), 2), 1),
            Err(ContentError::TooLarge(LimitExceeded {
                limit: Limit::JsonBytes,
                ..
            }))
        ));
        assert!(matches!(
            read_json_blob(&src, &desc(d.clone(), 3), 10),
            Err(ContentError::SizeMismatch { .. })
        ));
        src.0.insert(d.clone(), b"[]".to_vec());
        assert!(matches!(
            verify_blob(&src, &desc(d, 2)),
            Err(ContentError::DigestMismatch { .. })
        ));
    }
}
