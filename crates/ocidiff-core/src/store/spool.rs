//! Writes a blob's temporary file around the page cache where the file system allows it.
//!
//! A cold `docker://` run puts about a gigabyte per image into the store while it reads the
//! daemon's export, in the thread that reads it. Through the page cache each of those bytes
//! first needs a fresh page, and on a virtual machine that hands its free memory back to the
//! host (free page reporting, as on the benchmark machine) a fresh page costs a fault on the
//! host: 1.6–10 s of ocidiff's system time for the 1.8 GB of the large pair, against 0.6–0.9 s
//! with these writes `O_DIRECT` from one reused buffer (BENCHMARKS.md, "Fifth round"). The
//! blob is not read back in this run, so the page cache had nothing to offer it.
//!
//! Direct writes need the buffer's address, its length and the file offset aligned to the
//! device's block size: whole 4 KiB-aligned blocks go direct, the tail goes through the page
//! cache, and any refusal (a file system without `O_DIRECT`, a larger block size) turns the
//! file back to ordinary writes for the rest — the bytes written are the same either way.

use std::fs::File;
use std::io::{self, Write};

/// Alignment that satisfies every common logical block size (512 B and 4 KiB).
const ALIGN: usize = 4096;
/// How much is gathered before each direct write.
const CHUNK: usize = 1 << 20;

/// How much of a blob written through the page cache is written before its write-back is
/// started.
const WRITE_BACK_EVERY: u64 = 32 << 20;

/// Appends to one file: direct in whole aligned chunks while the file system takes them,
/// through the page cache otherwise. The caller reads straight into [`Spool::space`], so the
/// bytes are not copied once more on their way to the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Not one chunk yet: a blob smaller than that is written through the page cache at the
    /// end, without asking the file system for anything (most blobs of an export are small).
    Gathering,
    Direct,
    Cached,
}

pub(super) struct Spool<'f> {
    file: &'f File,
    /// `CHUNK + ALIGN` bytes, of which `start..start + CHUNK` is aligned.
    buf: Vec<u8>,
    start: usize,
    filled: usize,
    mode: Mode,
    /// Bytes in the file so far.
    at: u64,
}

impl<'f> Spool<'f> {
    pub(super) fn new(file: &'f File) -> Self {
        let buf = vec![0; CHUNK + ALIGN];
        // The heap block never moves: the buffer is never grown.
        let start = buf.as_ptr().align_offset(ALIGN);
        Spool {
            file,
            buf,
            start,
            filled: 0,
            mode: Mode::Gathering,
            at: 0,
        }
    }

    /// Where the next bytes go; never empty.
    pub(super) fn space(&mut self) -> &mut [u8] {
        &mut self.buf[self.start + self.filled..self.start + CHUNK]
    }

    /// The `n` bytes put at the front of [`Spool::space`].
    pub(super) fn filled(&self, n: usize) -> &[u8] {
        &self.buf[self.start + self.filled..][..n]
    }

    /// Appends the `n` bytes put at the front of [`Spool::space`].
    pub(super) fn commit(&mut self, n: usize) -> io::Result<()> {
        self.filled += n;
        match self.mode {
            Mode::Cached => self.buffered(0),
            _ if self.filled < CHUNK => Ok(()),
            Mode::Direct => self.drain(),
            Mode::Gathering if direct(self.file, true).is_ok() => {
                self.mode = Mode::Direct;
                self.drain()
            }
            Mode::Gathering => {
                self.mode = Mode::Cached;
                self.buffered(0)
            }
        }
    }

    /// Writes what is gathered through the page cache.
    pub(super) fn finish(mut self) -> io::Result<()> {
        if self.mode == Mode::Direct {
            direct(self.file, false)?;
        }
        self.buffered(0)
    }

    /// Writes the gathered chunk direct; a refusal turns the file back to the page cache for
    /// the rest of the chunk and everything after it.
    fn drain(&mut self) -> io::Result<()> {
        let mut done = 0;
        while done < self.filled {
            match (&*self.file).write(&self.buf[self.start + done..self.start + self.filled]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    done += n;
                    self.at += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if refused(&e) => {
                    direct(self.file, false)?;
                    self.mode = Mode::Cached;
                    return self.buffered(done);
                }
                Err(e) => return Err(e),
            }
        }
        self.filled = 0;
        Ok(())
    }

    /// Writes the gathered bytes from `from` on through the page cache.
    fn buffered(&mut self, from: usize) -> io::Result<()> {
        let bytes = &self.buf[self.start + from..self.start + self.filled];
        (&*self.file).write_all(bytes)?;
        written_back(self.file, self.at, bytes.len() as u64);
        self.at += bytes.len() as u64;
        self.filled = 0;
        Ok(())
    }
}

/// What a file system says of a direct write it does not take: misaligned (`EINVAL`) or not
/// supported at all.
fn refused(e: &io::Error) -> bool {
    use rustix::io::Errno;
    [Errno::INVAL, Errno::OPNOTSUPP]
        .iter()
        .any(|errno| e.raw_os_error() == Some(errno.raw_os_error()))
}

/// Sets or clears `O_DIRECT`; setting it fails where the file system does not support it.
fn direct(file: &File, on: bool) -> io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};
        let flags = fcntl_getfl(file)?;
        let flags = if on {
            flags | OFlags::DIRECT
        } else {
            flags - OFlags::DIRECT
        };
        fcntl_setfl(file, flags)?;
        Ok(())
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = file;
        if on {
            Err(io::ErrorKind::Unsupported.into())
        } else {
            Ok(())
        }
    }
}

/// Starts writing to disk, without waiting, each [`WRITE_BACK_EVERY`] bytes that `len` more
/// bytes at `at` complete, and lets the page cache drop them once written: the `fsync` owed
/// before the blob is renamed into the store then finds little left to write. It had waited
/// 0.3–0.5 s at the end of each 900 MB `docker://` export, with the comparison waiting on it.
fn written_back(file: &File, at: u64, len: u64) {
    let end = at + len;
    let done = end - end % WRITE_BACK_EVERY;
    if done > at - at % WRITE_BACK_EVERY {
        let from = done.saturating_sub(WRITE_BACK_EVERY);
        // Advice only: a file system that ignores it is merely slower at the fsync.
        let _ = rustix::fs::fadvise(
            file,
            from,
            std::num::NonZeroU64::new(WRITE_BACK_EVERY),
            rustix::fs::Advice::DontNeed,
        );
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use proptest::prelude::*;

    use super::*;

    /// Bytes that differ from one offset to the next, and from one seed to another.
    fn pattern(seed: usize, n: usize) -> Vec<u8> {
        (0..n)
            .map(|j| (seed * 31 + j * 7).to_le_bytes()[0])
            .collect()
    }

    fn put(spool: &mut Spool<'_>, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let space = spool.space();
            let n = space.len().min(bytes.len());
            space[..n].copy_from_slice(&bytes[..n]);
            assert_eq!(spool.filled(n), &bytes[..n]);
            spool.commit(n).unwrap();
            bytes = &bytes[n..];
        }
    }

    fn spooled(pieces: &[Vec<u8>]) -> Vec<u8> {
        let mut file = tempfile::tempfile().unwrap();
        let mut spool = Spool::new(&file);
        for p in pieces {
            put(&mut spool, p);
        }
        spool.finish().unwrap();
        let mut back = Vec::new();
        io::Seek::rewind(&mut file).unwrap();
        file.read_to_end(&mut back).unwrap();
        back
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn the_file_holds_exactly_what_was_written(
            sizes in prop::collection::vec(0usize..3 * CHUNK / 2, 0..6),
        ) {
            let pieces: Vec<Vec<u8>> = sizes
                .iter()
                .enumerate()
                .map(|(i, &n)| pattern(i, n))
                .collect();
            prop_assert_eq!(spooled(&pieces), pieces.concat());
        }
    }

    #[test]
    fn small_blobs_ask_nothing_and_whole_chunks_go_direct() {
        let file = tempfile::tempfile().unwrap();
        let supported = direct(&file, true)
            .and_then(|()| direct(&file, false))
            .is_ok();
        let mut spool = Spool::new(&file);
        put(&mut spool, &pattern(1, CHUNK - 1));
        assert_eq!(spool.mode, Mode::Gathering);
        put(&mut spool, &pattern(2, 2));
        let expected = if supported {
            Mode::Direct
        } else {
            Mode::Cached
        };
        assert_eq!(spool.mode, expected);
        spool.finish().unwrap();
        assert_eq!(file.metadata().unwrap().len(), CHUNK as u64 + 1);
    }

    #[test]
    fn a_refused_direct_write_falls_back_to_the_page_cache() {
        let mut file = tempfile::tempfile().unwrap();
        // One byte first: every direct write after it is at an offset no device takes.
        file.write_all(b"x").unwrap();
        if direct(&file, true)
            .and_then(|()| direct(&file, false))
            .is_err()
        {
            eprintln!("the temporary directory's file system refuses O_DIRECT: nothing to test");
            return;
        }
        let mut spool = Spool::new(&file);
        let bytes = pattern(0, 2 * CHUNK + 5);
        put(&mut spool, &bytes);
        assert_eq!(spool.mode, Mode::Cached, "the refusal turned the file back");
        spool.finish().unwrap();
        let mut back = Vec::new();
        io::Seek::rewind(&mut file).unwrap();
        file.read_to_end(&mut back).unwrap();
        assert_eq!(back, [&b"x"[..], &bytes].concat());
    }
}
