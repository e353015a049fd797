use std::io::{BufRead, BufReader, Read};

use super::ContentError;
use crate::model::Compression;

/// A decompressed layer stream and the compression its bytes were found to use.
pub struct Decompressed<'a> {
    pub compression: Compression,
    pub reader: Box<dyn Read + Send + 'a>,
}

/// Undoes gzip or zstd compression, recognised by the stream's magic bytes rather than by the
/// media type: images in the wild mislabel layers (uncompressed `docker save` layers typed as
/// gzip), and the media type is compared on its own anyway.
///
/// gzip goes through `MultiGzDecoder` because layers may hold several members (eStargz);
/// zstd decodes concatenated and skippable frames (zstd:chunked).
pub fn decompress<'a, R: Read + Send + 'a>(inner: R) -> Result<Decompressed<'a>, ContentError> {
    let mut buffered = BufReader::with_capacity(256 << 10, inner);
    let head = buffered
        .fill_buf()
        .map_err(|e| ContentError::Decompress(format!("reading layer: {e}")))?;
    let compression = sniff(head);
    let reader: Box<dyn Read + Send + 'a> = match compression {
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(buffered)
                .map_err(|e| ContentError::Decompress(format!("starting zstd: {e}")))?,
        ),
        Compression::None => Box::new(buffered),
    };
    Ok(Decompressed {
        compression,
        reader,
    })
}

/// The compression a stream's first bytes (four are enough) show.
pub fn sniff(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn roundtrip(data: &[u8]) -> (Compression, Vec<u8>) {
        let mut d = decompress(data).unwrap();
        let mut out = Vec::new();
        d.reader.read_to_end(&mut out).unwrap();
        (d.compression, out)
    }

    #[test]
    fn detects_by_magic() {
        let plain = b"plain tar bytes".to_vec();
        assert_eq!(roundtrip(&plain), (Compression::None, plain.clone()));

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&plain).unwrap();
        let mut two_members = gz.finish().unwrap();
        two_members.extend_from_slice(&two_members.clone());
        let mut twice = plain.clone();
        twice.extend_from_slice(&plain);
        assert_eq!(roundtrip(&two_members), (Compression::Gzip, twice));

        let zst = zstd::encode_all(&plain[..], 1).unwrap();
        assert_eq!(roundtrip(&zst), (Compression::Zstd, plain));
    }

    #[test]
    fn truncated_streams_are_errors() {
        let plain: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&plain).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&plain[..], 1).unwrap();
        for (name, full) in [("gzip", gz), ("zstd", zst)] {
            for cut in [full.len() / 2, full.len() - 4, full.len() - 1] {
                let mut d = decompress(&full[..cut]).unwrap();
                let mut out = Vec::new();
                let r = d.reader.read_to_end(&mut out);
                assert!(
                    r.is_err(),
                    "{name} cut at {cut}/{}: read {}",
                    full.len(),
                    out.len()
                );
            }
        }
    }

    #[test]
    fn empty_stream_is_uncompressed() {
        assert_eq!(roundtrip(b""), (Compression::None, vec![]));
    }
}
