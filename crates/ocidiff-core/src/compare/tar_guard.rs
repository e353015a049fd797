//! Bounds the tar metadata the `tar` crate reads into memory.
//!
//! `tar` reads a GNU long-name (`L`), long-link (`K`) or PAX (`x`) entry whole into a `Vec`
//! before it returns the entry it describes, with no bound but the entry's declared size: a
//! layer of a few MB of gzip can declare a long name of tens of GB. No hook of the crate sees
//! those headers first, so this reader follows the stream's block structure as the bytes pass
//! (headers, data padded to 512 bytes, GNU sparse extension blocks, PAX `size` overrides — the
//! rules `tar` follows) and fails before an oversized extension entry's payload is read.
//!
//! Only extension headers are refused here; everything else is left to `tar`. When the bytes
//! stop looking like tar (a bad checksum where a header should be), the guard steps aside: `tar`
//! reports that stream as broken itself.

use std::io::{self, Read};

use crate::content::ContentError;

const BLOCK: u64 = 512;

pub(crate) struct ExtensionGuard<R> {
    inner: R,
    limit: u64,
    what: String,
    state: State,
    block: Box<[u8; 512]>,
    filled: usize,
    /// A PAX `size` record waiting for the entry it describes.
    pax_size: Option<u64>,
    /// Data of the current PAX entry, kept to find its `size` record (bounded by `limit`).
    pax: Option<Vec<u8>>,
}

enum State {
    Header,
    /// GNU sparse extension blocks, then `data` bytes of the entry.
    SparseExt {
        data: u64,
    },
    Data {
        remaining: u64,
    },
    Lost,
}

impl<R: Read> ExtensionGuard<R> {
    /// Refuses extension entries declaring more than `limit` bytes; `what` names the layer.
    pub(crate) fn new(inner: R, limit: u64, what: String) -> Self {
        ExtensionGuard {
            inner,
            limit,
            what,
            state: State::Header,
            block: Box::new([0; 512]),
            filled: 0,
            pax_size: None,
            pax: None,
        }
    }

    pub(crate) fn into_inner(self) -> R {
        self.inner
    }

    fn feed(&mut self, mut bytes: &[u8]) -> Result<(), ContentError> {
        while !bytes.is_empty() {
            match &mut self.state {
                State::Lost => return Ok(()),
                State::Data { remaining } => {
                    let n = bytes
                        .len()
                        .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                    if let Some(pax) = &mut self.pax {
                        pax.extend_from_slice(&bytes[..n]);
                    }
                    *remaining -= n as u64;
                    bytes = &bytes[n..];
                    if *remaining == 0 {
                        if let Some(pax) = self.pax.take() {
                            self.pax_size = pax_size(&pax);
                        }
                        self.state = State::Header;
                    }
                }
                State::Header | State::SparseExt { .. } => {
                    let n = bytes.len().min(512 - self.filled);
                    self.block[self.filled..self.filled + n].copy_from_slice(&bytes[..n]);
                    self.filled += n;
                    bytes = &bytes[n..];
                    if self.filled == 512 {
                        self.filled = 0;
                        self.block_done()?;
                    }
                }
            }
        }
        Ok(())
    }

    fn block_done(&mut self) -> Result<(), ContentError> {
        if let State::SparseExt { data } = self.state {
            // `isextended` of a GNU sparse extension block.
            self.state = if self.block[504] != 0 {
                State::SparseExt { data }
            } else {
                data_state(data)
            };
            return Ok(());
        }
        if self.block.iter().all(|&b| b == 0) {
            return Ok(());
        }
        let header = tar::Header::from_byte_slice(&self.block[..]);
        let size = match (checksum_ok(&self.block), header.entry_size()) {
            (true, Ok(size)) => size,
            _ => {
                self.state = State::Lost;
                return Ok(());
            }
        };
        let kind = header.entry_type();
        let recognised = header.as_gnu().is_some() || header.as_ustar().is_some();
        let extension = kind.is_gnu_longname() || kind.is_gnu_longlink();
        if recognised && (extension || kind.is_pax_local_extensions()) {
            if size > self.limit {
                return Err(ContentError::TooLarge {
                    what: format!(
                        "{}: a tar {} entry of {size} bytes",
                        self.what,
                        if extension { "long-name" } else { "PAX header" }
                    ),
                    limit: self.limit,
                    flag: "--max-scale",
                });
            }
            if kind.is_pax_local_extensions() {
                self.pax = Some(Vec::new());
            }
            self.state = data_state(size);
            return Ok(());
        }
        if kind.is_pax_global_extensions() {
            self.state = data_state(size);
            return Ok(());
        }
        let size = self.pax_size.take().unwrap_or(size);
        let sparse_extended =
            kind.is_gnu_sparse() && header.as_gnu().is_some_and(|g| g.is_extended());
        self.state = if sparse_extended {
            State::SparseExt { data: size }
        } else {
            data_state(size)
        };
        Ok(())
    }
}

fn data_state(size: u64) -> State {
    match size.checked_add(BLOCK - 1) {
        Some(0..BLOCK) => State::Header,
        Some(padded) => State::Data {
            remaining: padded & !(BLOCK - 1),
        },
        None => State::Lost,
    }
}

fn checksum_ok(block: &[u8; 512]) -> bool {
    let sum: u32 = block[..148]
        .iter()
        .chain(&block[156..])
        .map(|&b| u32::from(b))
        .sum::<u32>()
        + 8 * 32;
    tar::Header::from_byte_slice(&block[..])
        .cksum()
        .is_ok_and(|c| c == sum)
}

/// The `size` record of PAX data, as `tar` reads it.
fn pax_size(data: &[u8]) -> Option<u64> {
    tar::PaxExtensions::new(data)
        .filter_map(Result::ok)
        .find(|e| e.key_bytes() == b"size")
        .and_then(|e| e.value().ok()?.parse().ok())
}

impl<R: Read> Read for ExtensionGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.feed(&buf[..n]).map_err(ContentError::into_io)?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, kind: tar::EntryType, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_path(name).unwrap();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_cksum();
        h
    }

    /// Reads `bytes` through the guard in chunks of `chunk` bytes.
    fn drain(bytes: &[u8], limit: u64, chunk: usize) -> io::Result<u64> {
        let mut guard = ExtensionGuard::new(bytes, limit, "layer".into());
        let mut buf = vec![0; chunk];
        let mut total = 0;
        loop {
            match guard.read(&mut buf)? {
                0 => return Ok(total),
                n => total += n as u64,
            }
        }
    }

    #[test]
    fn oversized_long_name_is_refused_before_its_payload() {
        let mut tar = header("././@LongLink", tar::EntryType::GNULongName, 1 << 40)
            .as_bytes()
            .to_vec();
        tar.extend_from_slice(&[b'a'; 4096]);
        let err = drain(&tar, 1 << 20, 100).unwrap_err();
        let err = ContentError::from_io(&crate::model::Digest::sha256_of(b""), err);
        let text = err.to_string();
        assert!(
            text.contains("long-name entry of 1099511627776 bytes"),
            "{text}"
        );
        assert!(text.contains("--max-scale"), "{text}");
    }

    #[test]
    fn follows_data_pax_sizes_and_real_tars() {
        let mut b = tar::Builder::new(Vec::new());
        let long = "d/".repeat(200);
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        b.append_data(&mut h, format!("{long}file"), &b"abc"[..])
            .unwrap();
        b.append_pax_extensions([("user.x", &b"1"[..])]).unwrap();
        let mut h = header("big", tar::EntryType::Regular, 5000);
        h.set_cksum();
        b.append(&h, &[0u8; 5000][..]).unwrap();
        let bytes = b.into_inner().unwrap();
        for chunk in [1, 7, 512, 8192] {
            assert_eq!(drain(&bytes, 1024, chunk).unwrap(), bytes.len() as u64);
        }
        // The same stream, but a PAX `size` says the next entry's data is 600 bytes: a long
        // name after it is found where `tar` would look for it.
        let mut b = tar::Builder::new(Vec::new());
        b.append_pax_extensions([("size", &b"600"[..])]).unwrap();
        b.append(&header("f", tar::EntryType::Regular, 0), &[7u8; 600][..])
            .unwrap();
        let mut bytes = b.into_inner().unwrap();
        bytes.extend_from_slice(header("x", tar::EntryType::GNULongName, 5000).as_bytes());
        bytes.extend_from_slice(&[b'a'; 5120]);
        assert!(drain(&bytes, 1024, 64).is_err());
    }

    #[test]
    fn garbage_is_left_to_tar() {
        assert_eq!(drain(&[0xAB; 3000], 10, 100).unwrap(), 3000);
    }
}
