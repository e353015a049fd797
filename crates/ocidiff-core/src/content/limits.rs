use std::fmt;
use std::io::{self, BufRead, Read};

use super::ContentError;

/// Bounds on what one image may make us read, as diffoci has them, scaled together by
/// `--max-scale`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Limits {
    /// Largest index, manifest or config accepted, in bytes.
    pub json_bytes: u64,
    /// Largest compressed layer, in bytes.
    pub layer_bytes: u64,
    /// Most bytes one layer may decompress to.
    pub decompressed_bytes: u64,
    /// Most manifests one index may list.
    pub manifests: u64,
    /// Most layers one manifest may list.
    pub layers: u64,
    /// Most tar entries one layer may hold.
    pub entries: u64,
    /// Most bytes of names, link names, PAX records and extended attributes one layer may
    /// hold (each record counted with its bookkeeping): what the walk keeps in memory.
    pub metadata_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            json_bytes: 8 << 20,
            layer_bytes: 4 << 30,
            decompressed_bytes: 32 << 30,
            manifests: 4096,
            layers: 4096,
            entries: 4 << 20,
            metadata_bytes: 128 << 20,
        }
    }
}

impl Limits {
    /// Whether everything `other` allows, these limits allow too.
    pub fn covers(&self, other: &Limits) -> bool {
        self.json_bytes >= other.json_bytes
            && self.layer_bytes >= other.layer_bytes
            && self.decompressed_bytes >= other.decompressed_bytes
            && self.manifests >= other.manifests
            && self.layers >= other.layers
            && self.entries >= other.entries
            && self.metadata_bytes >= other.metadata_bytes
    }

    /// Every limit multiplied by `factor` (saturating), as diffoci's `--max-scale` does.
    // Approximate by nature: the product is clamped to 1..=u64::MAX before the cast back.
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    pub fn scaled(self, factor: f64) -> Limits {
        let s = |v: u64| {
            let scaled = v as f64 * factor;
            if scaled >= u64::MAX as f64 {
                u64::MAX
            } else {
                scaled.max(1.0) as u64
            }
        };
        Limits {
            json_bytes: s(self.json_bytes),
            layer_bytes: s(self.layer_bytes),
            decompressed_bytes: s(self.decompressed_bytes),
            manifests: s(self.manifests),
            layers: s(self.layers),
            entries: s(self.entries),
            metadata_bytes: s(self.metadata_bytes),
        }
    }
}

/// Which of the [`Limits`] an input went past.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// [`Limits::json_bytes`].
    JsonBytes,
    /// [`Limits::layer_bytes`].
    LayerBytes,
    /// [`Limits::decompressed_bytes`].
    DecompressedBytes,
    /// [`Limits::manifests`].
    Manifests,
    /// [`Limits::layers`].
    Layers,
    /// [`Limits::entries`].
    Entries,
    /// [`Limits::metadata_bytes`].
    MetadataBytes,
}

/// An input went past one of the [`Limits`]. Every error about a limit carries one as its
/// source, so that a front end finds it in the chain and says how to raise that limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitExceeded {
    /// Which limit, so that a front end can say how to raise it.
    pub limit: Limit,
    /// The limit's value.
    pub max: u64,
    /// What went past it: `layer sha256:…`, `index sha256:…`, a path.
    pub subject: String,
    /// How many bytes or items the subject declares or holds, when known.
    pub found: Option<u64>,
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let LimitExceeded {
            limit,
            max,
            subject,
            found,
        } = self;
        match limit {
            Limit::JsonBytes | Limit::LayerBytes | Limit::DecompressedBytes => {
                write!(f, "{subject}")?;
                if let Some(n) = found {
                    write!(f, " ({n} bytes)")?;
                }
                write!(f, " is larger than the limit of {max} bytes")
            }
            Limit::Manifests | Limit::Layers => {
                let items = if *limit == Limit::Layers {
                    "layers"
                } else {
                    "manifests"
                };
                match found {
                    Some(n) => write!(f, "{subject} lists {n} {items}")?,
                    None => write!(f, "{subject} lists more {items}")?,
                }
                write!(f, ", more than the limit of {max}")
            }
            Limit::Entries => write!(f, "{subject} holds more than {max} entries"),
            Limit::MetadataBytes => write!(
                f,
                "{subject} holds more than {max} bytes of names, PAX records and extended \
                 attributes"
            ),
        }
    }
}

impl std::error::Error for LimitExceeded {}

/// Fails once more than `limit` bytes have been read: the guard against decompression bombs.
pub struct LimitedReader<R> {
    inner: R,
    remaining: u64,
    limit: u64,
    what: String,
}

impl<R: Read> LimitedReader<R> {
    /// Reads `inner`, failing past `limit` bytes; `what` names the stream in the error.
    pub fn new(inner: R, limit: u64, what: String) -> Self {
        LimitedReader {
            inner,
            remaining: limit,
            limit,
            what,
        }
    }

    /// The stream below.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// The stream below, to reach the state of a wrapper there.
    pub fn inner_mut(&mut self) -> &mut R {
        &mut self.inner
    }
}

impl<R> LimitedReader<R> {
    fn exceeded(&self) -> io::Error {
        ContentError::TooLarge(LimitExceeded {
            limit: Limit::DecompressedBytes,
            max: self.limit,
            subject: self.what.clone(),
            found: None,
        })
        .into_io()
    }
}

impl<R: Read> Read for LimitedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.remaining {
            return Err(self.exceeded());
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// The stream's own buffer, shown only up to the limit: a byte past it is an error as soon
/// as the stream has one.
impl<R: BufRead> BufRead for LimitedReader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let remaining = self.remaining;
        let has_more = !self.inner.fill_buf()?.is_empty();
        if remaining == 0 && has_more {
            return Err(self.exceeded());
        }
        let buf = self.inner.fill_buf()?;
        Ok(&buf[..buf
            .len()
            .min(usize::try_from(remaining).unwrap_or(usize::MAX))])
    }

    fn consume(&mut self, n: usize) {
        self.remaining = self.remaining.saturating_sub(n as u64);
        self.inner.consume(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_multiplies_and_saturates() {
        let l = Limits::default().scaled(2.0);
        assert_eq!(l.manifests, 8192);
        assert_eq!(Limits::default().scaled(f64::INFINITY).json_bytes, u64::MAX);
    }

    #[test]
    fn limited_reader_stops_bombs() {
        let data = [0u8; 100];
        let mut r = LimitedReader::new(&data[..], 50, "test stream".into());
        let err = io::copy(&mut r, &mut io::sink()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "test stream is larger than the limit of 50 bytes"
        );
        let mut r = LimitedReader::new(&data[..], 100, "test stream".into());
        assert_eq!(io::copy(&mut r, &mut io::sink()).unwrap(), 100);
    }

    /// Read in place, the stream shows no byte past the limit and fails once it has one.
    fn drain(r: &mut impl BufRead) -> io::Result<usize> {
        let mut total = 0;
        loop {
            let n = r.fill_buf()?.len();
            if n == 0 {
                return Ok(total);
            }
            total += n;
            r.consume(n);
        }
    }

    #[test]
    fn limited_buffer_stops_bombs() {
        let data = [0u8; 100];
        let mut r = LimitedReader::new(&data[..], 50, "test stream".into());
        assert_eq!(r.fill_buf().unwrap().len(), 50);
        let err = drain(&mut r).unwrap_err();
        assert_eq!(
            err.to_string(),
            "test stream is larger than the limit of 50 bytes"
        );
        let mut r = LimitedReader::new(&data[..], 100, "test stream".into());
        assert_eq!(drain(&mut r).unwrap(), 100);
    }
}
