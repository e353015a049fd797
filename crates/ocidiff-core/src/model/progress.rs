//! Progress of the long steps — downloads, daemon exports, layer walks, package databases —
//! for a front end to draw. The library only counts; nothing is drawn unless a [`Progress`]
//! is given.

use std::io::Read;
use std::sync::Arc;

/// What a count counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Bytes (downloads, exports, layers read).
    Bytes,
    /// Things (packages databases read).
    Items,
}

/// Receives progress, per task: a task is named for the user (`alpine:3.18`,
/// `docker://app:a`, `reading layers`).
pub trait Progress: Send + Sync {
    /// `done` of `total` (when known) of `task` is done; `done` may go back when a download
    /// restarts.
    fn update(&self, task: &str, done: u64, total: Option<u64>, unit: Unit);
    /// `task` is complete.
    fn finish(&self, task: &str);
}

/// Where progress goes: nowhere by default.
#[derive(Clone, Default)]
pub struct Reporter(Option<Arc<dyn Progress>>);

impl Reporter {
    /// Progress goes to `sink`.
    pub fn to(sink: Arc<dyn Progress>) -> Reporter {
        Reporter(Some(sink))
    }

    /// Tells the sink, if any.
    pub fn update(&self, task: &str, done: u64, total: Option<u64>, unit: Unit) {
        if let Some(p) = &self.0 {
            p.update(task, done, total, unit);
        }
    }

    /// Tells the sink, if any.
    pub fn finish(&self, task: &str) {
        if let Some(p) = &self.0 {
            p.finish(task);
        }
    }

    /// `reader`, counting the bytes read from it as `task`, told every 1 MiB or so.
    pub fn counting<R: Read>(&self, task: &str, reader: R) -> Counting<R> {
        Counting {
            inner: reader,
            reporter: self.clone(),
            task: task.to_owned(),
            read: 0,
            told: 0,
        }
    }
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Reporter(on)"
        } else {
            "Reporter(off)"
        })
    }
}

/// A reader that reports how much was read from it; see [`Reporter::counting`].
pub struct Counting<R> {
    inner: R,
    reporter: Reporter,
    task: String,
    read: u64,
    told: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read - self.told >= 1 << 20 || (n == 0 && self.read != self.told) {
            self.told = self.read;
            self.reporter
                .update(&self.task, self.read, None, Unit::Bytes);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Log(Mutex<Vec<(String, u64)>>);

    impl Progress for Log {
        fn update(&self, task: &str, done: u64, _: Option<u64>, _: Unit) {
            self.0.lock().unwrap().push((task.to_owned(), done));
        }
        fn finish(&self, _: &str) {}
    }

    #[test]
    fn a_counting_reader_tells_every_mebibyte_and_at_the_end() {
        let log = Arc::new(Log::default());
        let reporter = Reporter::to(log.clone());
        let data = vec![0u8; (3 << 20) + 5];
        let mut out = Vec::new();
        reporter
            .counting("t", &data[..])
            .read_to_end(&mut out)
            .unwrap();
        let told: Vec<u64> = log.0.lock().unwrap().iter().map(|(_, n)| *n).collect();
        assert_eq!(told.last(), Some(&(data.len() as u64)));
        assert!(told.len() >= 3 && told.len() <= 5, "{told:?}");
        Reporter::default().update("nobody", 1, None, Unit::Items);
    }
}
