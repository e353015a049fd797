use std::io::{self, Read};

use super::ContentError;
use crate::model::{Digest, Hasher};

/// Hashes what passes through and, at the end of the stream, fails unless the bytes match the
/// expected digest and size. It also refuses to read past the declared size, so a blob that
/// lies about its length cannot make us read without bound.
pub struct VerifyingReader<R> {
    inner: R,
    hasher: Option<Hasher>,
    expected: Digest,
    declared: u64,
    seen: u64,
    checked: bool,
}

impl<R: Read> VerifyingReader<R> {
    /// Reads `inner`, expected to hold `declared` bytes that hash to `expected`.
    pub fn new(inner: R, expected: Digest, declared: u64) -> Self {
        VerifyingReader {
            inner,
            hasher: Some(Hasher::new(expected.algorithm())),
            expected,
            declared,
            seen: 0,
            checked: false,
        }
    }

    /// A reader for a blob whose source already checked it against its digest (a store that
    /// verifies on ingest): only the size is checked, hashing it again would be wasted work.
    pub fn trusting(inner: R, expected: Digest, declared: u64) -> Self {
        VerifyingReader {
            hasher: None,
            ..VerifyingReader::new(inner, expected, declared)
        }
    }

    /// Reads whatever is left, so that the digest check runs even when the consumer stopped
    /// early (a tar reader stops at the end-of-archive marker, not at the end of the blob).
    pub fn finish(mut self) -> Result<(), ContentError> {
        io::copy(&mut self, &mut io::sink())
            .map_err(|e| ContentError::from_io(&self.expected, e))?;
        Ok(())
    }

    fn check(&mut self) -> io::Result<()> {
        if std::mem::replace(&mut self.checked, true) {
            return Ok(());
        }
        if self.seen != self.declared {
            return Err(ContentError::SizeMismatch {
                digest: self.expected.clone(),
                declared: self.declared,
                actual: self.seen,
            }
            .into_io());
        }
        let Some(hasher) = self.hasher.take() else {
            return Ok(());
        };
        let actual = hasher.finish();
        if actual != self.expected {
            return Err(ContentError::DigestMismatch {
                expected: self.expected.clone(),
                actual,
            }
            .into_io());
        }
        Ok(())
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n == 0 {
            self.check()?;
            return Ok(0);
        }
        self.seen += n as u64;
        if self.seen > self.declared {
            return Err(ContentError::SizeMismatch {
                digest: self.expected.clone(),
                declared: self.declared,
                actual: self.seen,
            }
            .into_io());
        }
        if let Some(h) = self.hasher.as_mut() {
            h.update(&buf[..n]);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_matching_content() {
        let data = b"layer bytes";
        let r = VerifyingReader::new(&data[..], Digest::sha256_of(data), data.len() as u64);
        r.finish().unwrap();
    }

    #[test]
    fn trusting_checks_only_the_size() {
        let data = b"layer bytes";
        let wrong = Digest::sha256_of(b"other");
        VerifyingReader::trusting(&data[..], wrong.clone(), data.len() as u64)
            .finish()
            .unwrap();
        let err = VerifyingReader::trusting(&data[..], wrong, 3)
            .finish()
            .unwrap_err();
        assert!(matches!(err, ContentError::SizeMismatch { .. }), "{err}");
    }

    #[test]
    fn fails_on_wrong_digest_or_size() {
        let data = b"layer bytes";
        let wrong = Digest::sha256_of(b"other");
        let err = VerifyingReader::new(&data[..], wrong, data.len() as u64)
            .finish()
            .unwrap_err();
        assert!(matches!(err, ContentError::DigestMismatch { .. }), "{err}");
        let err = VerifyingReader::new(&data[..], Digest::sha256_of(data), 4)
            .finish()
            .unwrap_err();
        assert!(matches!(err, ContentError::SizeMismatch { .. }), "{err}");
        let err = VerifyingReader::new(&data[..], Digest::sha256_of(data), 400)
            .finish()
            .unwrap_err();
        assert!(matches!(err, ContentError::SizeMismatch { .. }), "{err}");
    }
}
