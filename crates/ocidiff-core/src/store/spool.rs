//! Writes a blob's temporary file around the page cache where the file system allows it, on
//! a thread of its own so that the export being read never waits for the disk.
//!
//! A cold `docker://` run puts about a gigabyte per image into the store while it reads the
//! daemon's export, in the thread that reads it. Through the page cache each of those bytes
//! first needs a fresh page, and on a virtual machine that hands its free memory back to the
//! host (free page reporting, as on one benchmark machine) a fresh page costs a fault on the
//! host: 1.6–10 s of ocidiff's system time for the 1.8 GB of the large pair, against 0.6–0.9 s
//! with these writes `O_DIRECT` from reused buffers (BENCHMARKS.md, "Fifth round"). The blob
//! is not read back in this run, so the page cache had nothing to offer it.
//!
//! A direct write returns only once the device has the bytes. Made in the reading thread, on
//! a machine whose disk takes 440 MB/s it held the export up: 1.40–1.47× the daemon's own export
//! ("Sixth round"). So whole chunks go to a writer thread, [`DEPTH`] of them at most in
//! flight, and the reader fills the next buffer meanwhile.
//!
//! Direct writes need the buffer's address, its length and the file offset aligned to the
//! device's block size: whole 4 KiB-aligned blocks go direct, the tail goes through the page
//! cache, and any refusal (a file system without `O_DIRECT`, a larger block size) turns the
//! file back to ordinary writes for the rest — the bytes written are the same either way.

use std::fs::File;
use std::io::{self, Write};
use std::sync::mpsc;
use std::thread::JoinHandle;

/// Alignment that satisfies every common logical block size (512 B and 4 KiB).
const ALIGN: usize = 4096;
/// How much is gathered before each direct write.
const CHUNK: usize = 1 << 20;
/// Chunks of one blob written or waiting to be, besides the one being filled: enough to ride
/// out a slow write, few enough that two exports in flight hold only tens of MB.
const DEPTH: usize = 8;

/// How much of a blob written through the page cache is written before its write-back is
/// started.
const WRITE_BACK_EVERY: u64 = 32 << 20;

/// How a blob's bytes reach its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Not one chunk yet: a blob smaller than that is written through the page cache at the
    /// end, without asking the file system for anything (most blobs of an export are small).
    Gathering,
    /// Whole chunks go to the [`Writer`].
    Direct,
    /// Through the page cache, in this thread: the file system refused `O_DIRECT`.
    Cached,
}

/// `CHUNK` bytes at a 4 KiB-aligned address of a heap block that never moves (it is never
/// grown), with no `unsafe`.
struct Aligned {
    buf: Vec<u8>,
    start: usize,
}

impl Aligned {
    fn new() -> Aligned {
        let buf = vec![0; CHUNK + ALIGN];
        let start = buf.as_ptr().align_offset(ALIGN);
        Aligned { buf, start }
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[self.start..self.start + CHUNK]
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.start + CHUNK]
    }
}

/// Appends to one file: whole chunks direct on the writer thread while the file system takes
/// them, through the page cache otherwise. The caller reads straight into [`Spool::space`],
/// so the bytes are not copied once more on their way to the file.
pub(super) struct Spool<'f> {
    file: &'f File,
    buf: Aligned,
    filled: usize,
    mode: Mode,
    /// Bytes handed on so far: written, or queued for the writer.
    at: u64,
    writer: Option<Writer>,
}

impl<'f> Spool<'f> {
    pub(super) fn new(file: &'f File) -> Self {
        Spool {
            file,
            buf: Aligned::new(),
            filled: 0,
            mode: Mode::Gathering,
            at: 0,
            writer: None,
        }
    }

    /// Where the next bytes go; never empty.
    pub(super) fn space(&mut self) -> &mut [u8] {
        &mut self.buf.bytes_mut()[self.filled..]
    }

    /// The `n` bytes put at the front of [`Spool::space`].
    pub(super) fn filled(&self, n: usize) -> &[u8] {
        &self.buf.bytes()[self.filled..][..n]
    }

    /// Appends the `n` bytes put at the front of [`Spool::space`].
    pub(super) fn commit(&mut self, n: usize) -> io::Result<()> {
        self.filled += n;
        match self.mode {
            Mode::Cached => self.buffered(),
            _ if self.filled < CHUNK => Ok(()),
            Mode::Direct => self.hand_on(),
            Mode::Gathering if direct(self.file, true).is_ok() => {
                self.writer = Some(Writer::start(self.file)?);
                self.mode = Mode::Direct;
                self.hand_on()
            }
            Mode::Gathering => {
                self.mode = Mode::Cached;
                self.buffered()
            }
        }
    }

    /// Waits for the writer, then writes what is gathered through the page cache.
    pub(super) fn finish(mut self) -> io::Result<()> {
        if let Some(writer) = self.writer.take() {
            writer.finish()?;
            direct(self.file, false)?;
        }
        self.buffered()
    }

    /// Queues the full chunk for the writer and takes an empty buffer in its place.
    fn hand_on(&mut self) -> io::Result<()> {
        let writer = self.writer.as_mut().expect("direct mode has a writer");
        let handed = match writer.empty() {
            Some(empty) => writer.send(std::mem::replace(&mut self.buf, empty)),
            None => false,
        };
        if !handed {
            return Err(self.writer.take().map_or_else(gone, Writer::failure));
        }
        self.at += CHUNK as u64;
        self.filled = 0;
        Ok(())
    }

    /// Writes the gathered bytes through the page cache.
    fn buffered(&mut self) -> io::Result<()> {
        let bytes = &self.buf.bytes()[..self.filled];
        cached(self.file, bytes, self.at)?;
        self.at += bytes.len() as u64;
        self.filled = 0;
        Ok(())
    }
}

fn gone() -> io::Error {
    io::Error::other("the store's writer thread is gone")
}

/// The thread that writes a blob's whole chunks, in order, and gives the buffers back.
struct Writer {
    /// Dropped to tell the thread that no chunk follows.
    full: Option<mpsc::SyncSender<Aligned>>,
    empty: mpsc::Receiver<Aligned>,
    /// Buffers made so far; at most [`DEPTH`].
    made: usize,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl Writer {
    fn start(file: &File) -> io::Result<Writer> {
        // A duplicate shares the file's offset and flags: the tail written after the thread
        // ends lands behind the chunks.
        let mut file = file.try_clone()?;
        let (full, chunks) = mpsc::sync_channel::<Aligned>(DEPTH);
        let (give_back, empty) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || {
                let mut at = 0u64;
                let mut direct_ok = true;
                for chunk in chunks {
                    write_chunk(&mut file, chunk.bytes(), at, &mut direct_ok)?;
                    at += CHUNK as u64;
                    // The reader may be done with buffers already.
                    let _ = give_back.send(chunk);
                }
                Ok(())
            })?;
        Ok(Writer {
            full: Some(full),
            empty,
            made: 0,
            thread: Some(thread),
        })
    }

    /// A buffer to fill: a new one while fewer than [`DEPTH`] exist, else one the thread gave
    /// back, waiting for it; `None` when the thread stopped.
    fn empty(&mut self) -> Option<Aligned> {
        if let Ok(buf) = self.empty.try_recv() {
            return Some(buf);
        }
        if self.made < DEPTH {
            self.made += 1;
            return Some(Aligned::new());
        }
        self.empty.recv().ok()
    }

    /// Queues a full chunk; `false` when the thread stopped.
    fn send(&self, full: Aligned) -> bool {
        self.full.as_ref().is_some_and(|tx| tx.send(full).is_ok())
    }

    /// Waits for every queued chunk to be written.
    fn finish(mut self) -> io::Result<()> {
        self.full = None;
        self.thread
            .take()
            .expect("joined once")
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the store's writer thread panicked")))
    }

    /// Why the thread stopped early.
    fn failure(self) -> io::Error {
        match self.finish() {
            Err(e) => e,
            Ok(()) => gone(),
        }
    }
}

impl Drop for Writer {
    /// A spool dropped unfinished (its reader failed) stops the thread before its file goes.
    fn drop(&mut self) {
        self.full = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Writes one whole chunk at `at`, direct while `direct_ok`; a refusal turns the file back to
/// the page cache for the rest of the chunk and everything after it.
fn write_chunk(file: &mut File, chunk: &[u8], at: u64, direct_ok: &mut bool) -> io::Result<()> {
    let mut done = 0;
    while *direct_ok && done < chunk.len() {
        match file.write(&chunk[done..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if refused(&e) => {
                direct(file, false)?;
                *direct_ok = false;
            }
            Err(e) => return Err(e),
        }
    }
    cached(file, &chunk[done..], at + done as u64)
}

/// Writes `bytes` at `at` through the page cache.
fn cached(mut file: &File, bytes: &[u8], at: u64) -> io::Result<()> {
    if !bytes.is_empty() {
        file.write_all(bytes)?;
        written_back(file, at, bytes.len() as u64);
    }
    Ok(())
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
    fn buffers_the_writer_gives_back_carry_nothing_over() {
        // More chunks than buffers, each filled again after the thread wrote it; every chunk
        // differs from the others (`pattern` repeats every 256 bytes, so not it).
        let bytes: Vec<u8> = (0..(2 * DEPTH + 3) * CHUNK + 17)
            .map(|j| ((j as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8)
            .collect();
        assert!(spooled(std::slice::from_ref(&bytes)) == bytes);
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
        spool.finish().unwrap();
        let mut back = Vec::new();
        io::Seek::rewind(&mut file).unwrap();
        file.read_to_end(&mut back).unwrap();
        assert_eq!(back, [&b"x"[..], &bytes].concat());
    }

    #[test]
    fn a_failed_write_of_the_writer_thread_is_reported() {
        let written = tempfile::NamedTempFile::new().unwrap();
        // Writes to a file opened for reading fail, direct or not.
        let file = File::open(written.path()).unwrap();
        if direct(&file, true).is_err() {
            eprintln!("the temporary directory's file system refuses O_DIRECT: nothing to test");
            return;
        }
        direct(&file, false).unwrap();
        let mut spool = Spool::new(&file);
        let bytes = pattern(3, (DEPTH + 3) * CHUNK);
        let mut rest = &bytes[..];
        let mut failed = None;
        while !rest.is_empty() && failed.is_none() {
            let space = spool.space();
            let n = space.len().min(rest.len());
            space[..n].copy_from_slice(&rest[..n]);
            failed = spool.commit(n).err();
            rest = &rest[n..];
        }
        let err = match failed {
            Some(e) => e,
            None => spool.finish().unwrap_err(),
        };
        assert_eq!(
            err.raw_os_error(),
            Some(rustix::io::Errno::BADF.raw_os_error()),
            "{err}"
        );
    }
}
