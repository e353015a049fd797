//! Blobs still being written, readable while they arrive: a comparison walks a registry layer as
//! its bytes reach the store instead of waiting for the whole pull, so each blob is downloaded,
//! hashed once (by its writer) and walked in one pass over the network stream.
//!
//! The reader trusts what it reads because the writer hashes exactly the bytes it puts in the
//! file, and the reader only reports the end of the blob once the writer has checked digest and
//! size and renamed the file into place; a failed or abandoned write is an error at the reader.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt as _;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::content::ContentError;
use crate::model::Digest;

/// The blobs of one store being written now, by digest.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    writes: Mutex<HashMap<Digest, Arc<Progress>>>,
}

impl InFlight {
    /// Announces that `digest` is going to be written, so that readers wait for it, unless
    /// another writer already did (two writers of one blob each verify their own copy;
    /// readers follow the first).
    pub(crate) fn register(self: &Arc<Self>, digest: &Digest) -> Option<Publisher> {
        let mut writes = lock(&self.writes);
        if writes.contains_key(digest) {
            return None;
        }
        let progress = Arc::new(Progress {
            state: Mutex::new(State {
                file: None,
                written: 0,
                outcome: None,
            }),
            changed: Condvar::new(),
        });
        writes.insert(digest.clone(), progress.clone());
        Some(Publisher {
            inflight: self.clone(),
            digest: digest.clone(),
            progress,
            finished: false,
        })
    }

    /// A reader of the blob from its first byte, if it is being written.
    pub(crate) fn follow(&self, digest: &Digest) -> Option<Follower> {
        lock(&self.writes).get(digest).map(|progress| Follower {
            progress: progress.clone(),
            digest: digest.clone(),
            pos: 0,
        })
    }

    pub(crate) fn contains(&self, digest: &Digest) -> bool {
        lock(&self.writes).contains_key(digest)
    }
}

/// A poisoned lock only means another reader or writer panicked; the state it guards is
/// updated in single assignments and stays consistent.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Debug)]
struct Progress {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug)]
struct State {
    /// A handle of its own on the temporary file, once there is one: readers read at their
    /// own offsets.
    file: Option<Arc<File>>,
    written: u64,
    /// `Some` once the writer committed (`Ok`) or gave up (the reason).
    outcome: Option<Result<(), String>>,
}

/// The writer's side: announces bytes as they are written and how the write ended. Dropped
/// without [`Publisher::finish`], it tells readers the write was abandoned.
#[derive(Debug)]
pub(crate) struct Publisher {
    inflight: Arc<InFlight>,
    digest: Digest,
    progress: Arc<Progress>,
    finished: bool,
}

impl Publisher {
    /// The blob is being written to the file `file` reads.
    pub(crate) fn attach(&self, file: File) {
        lock(&self.progress.state).file = Some(Arc::new(file));
    }

    /// `written` bytes of the blob are in the file.
    pub(crate) fn advance(&self, written: u64) {
        lock(&self.progress.state).written = written;
        self.progress.changed.notify_all();
    }

    /// Every byte is written and checked against the digest: readers may reach the end,
    /// without waiting for the file to be synced and renamed (new readers keep following
    /// this write until the `Publisher` is dropped, by when the blob is in place or the
    /// write failed).
    pub(crate) fn verified(&self) {
        self.end(Ok(()));
    }

    /// The write ended: `Ok` once the blob is in place under its name.
    pub(crate) fn finish(mut self, outcome: Result<(), String>) {
        self.finished = true;
        self.end(outcome);
    }

    fn end(&self, outcome: Result<(), String>) {
        let mut state = lock(&self.progress.state);
        // A checked blob stays readable: a later failure to store it is the pull's error.
        if !matches!(state.outcome, Some(Ok(()))) {
            state.outcome = Some(outcome);
        }
        drop(state);
        self.progress.changed.notify_all();
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        if !self.finished {
            self.end(Err("its download stopped before the end".into()));
        }
        lock(&self.inflight.writes).remove(&self.digest);
    }
}

/// Reads a blob being written, waiting for bytes as they come.
pub(crate) struct Follower {
    progress: Arc<Progress>,
    digest: Digest,
    pos: u64,
}

impl Read for Follower {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let (file, available) = {
            let mut state = lock(&self.progress.state);
            loop {
                if let Some(Err(reason)) = &state.outcome {
                    return Err(ContentError::Download {
                        digest: self.digest.clone(),
                        reason: reason.clone(),
                    }
                    .into_io());
                }
                if let Some(file) = state.file.as_ref().filter(|_| state.written > self.pos) {
                    break (file.clone(), state.written - self.pos);
                }
                if state.outcome.is_some() {
                    return Ok(0);
                }
                state = self
                    .progress
                    .changed
                    .wait(state)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
        };
        let want = buf
            .len()
            .min(usize::try_from(available).unwrap_or(usize::MAX));
        let n = file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "blob {} being written: file shorter than announced",
                    self.digest
                ),
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn setup() -> (Arc<InFlight>, Digest, File, tempfile::NamedTempFile) {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let reading = tmp.reopen().unwrap();
        (
            Arc::new(InFlight::default()),
            Digest::sha256_of(b"x"),
            reading,
            tmp,
        )
    }

    fn publish(inflight: &Arc<InFlight>, digest: &Digest, reading: File) -> Publisher {
        let publisher = inflight.register(digest).unwrap();
        publisher.attach(reading);
        publisher
    }

    #[test]
    fn reader_follows_the_writer_to_a_committed_end() {
        let (inflight, digest, reading, mut tmp) = setup();
        let publisher = inflight.register(&digest).unwrap();
        assert!(inflight.register(&digest).is_none());
        // A reader may come before the writer has a file.
        let mut follower = inflight.follow(&digest).unwrap();
        publisher.attach(reading);
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            follower.read_to_end(&mut got).map(|_| got)
        });
        let mut written = 0;
        for chunk in [&b"hello "[..], b"world"] {
            tmp.write_all(chunk).unwrap();
            written += chunk.len() as u64;
            publisher.advance(written);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        publisher.finish(Ok(()));
        assert_eq!(reader.join().unwrap().unwrap(), b"hello world");
        assert!(!inflight.contains(&digest));
        assert!(inflight.follow(&digest).is_none());
    }

    #[test]
    fn an_abandoned_write_is_an_error_at_the_reader() {
        let (inflight, digest, reading, mut tmp) = setup();
        let publisher = publish(&inflight, &digest, reading);
        let mut follower = inflight.follow(&digest).unwrap();
        tmp.write_all(b"par").unwrap();
        publisher.advance(3);
        let mut first = [0u8; 8];
        assert_eq!(follower.read(&mut first).unwrap(), 3);
        drop(publisher);
        let err = follower.read(&mut first).unwrap_err();
        assert!(err.to_string().contains("stopped"), "{err}");
        let err = ContentError::from_io(&digest, err);
        assert!(matches!(err, ContentError::Download { .. }), "{err}");
    }

    #[test]
    fn a_failed_check_is_an_error_even_with_every_byte_read() {
        let (inflight, digest, reading, mut tmp) = setup();
        let publisher = publish(&inflight, &digest, reading);
        let mut follower = inflight.follow(&digest).unwrap();
        tmp.write_all(b"abc").unwrap();
        publisher.advance(3);
        publisher.finish(Err("does not match its digest".into()));
        let mut got = Vec::new();
        let err = follower.read_to_end(&mut got).unwrap_err();
        assert!(err.to_string().contains("digest"), "{err}");
    }
}
