//! `--report-dir D`: the JSON report plus the differing files and documents of each side,
//! laid out as diffoci does:
//!
//! ```text
//! D/README.md                                  what the directory holds
//! D/report.json                                the JSON report, plus a `files` index
//! D/input-0/manifests-0/config.json            a differing JSON document of input 0
//! D/input-0/manifests-0/layers-1/etc/os-release
//! D/input-1/…                                  the same for input 1
//! ```
//!
//! The entries come from images that may be hostile, so nothing may ever be written outside
//! `D`:
//! - every path component is sanitised ([`sanitize_component`]): empty and `.` components are
//!   dropped (so `/abs` is stored as `abs`), `..` becomes `%2E%2E`, `%`, control characters
//!   and bytes that are not UTF-8 become `%XX`, components longer than 240 bytes are cut and
//!   end in `~` plus 16 hex digits of their SHA-256;
//! - directories are created and opened one component at a time relative to their parent's
//!   file descriptor with `O_NOFOLLOW`, and files are created with
//!   `O_CREAT | O_EXCL | O_NOFOLLOW`: a symlink in `D`, whoever made it, is never followed and
//!   an existing file is never overwritten;
//! - links from the images are not created as links: a symlink or hardlink is stored as a
//!   regular file holding its target, and device nodes and fifos as empty files;
//! - a path that is already taken (the same entry twice, or a file `a` and then `a/b`) is
//!   stored under the first free name `NAME.~N~` (N = 1, 2, …) for the clashing component,
//!   and its `files` record says `renamed`.
//!
//! `D` must not exist or be an empty directory: `ocidiff` never deletes anything.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use rustix::fs::{AtFlags, CWD, Mode, OFlags};
use rustix::io::Errno;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use sha2::Digest as _;

use crate::finding::Findings;
use crate::layer::{EntryKind, ExtractSink};
use crate::model::Side;

/// Where the files of `side` are stored: `input-0/` and `input-1/`.
fn dir_name(side: Side) -> &'static str {
    match side {
        Side::Lhs => "input-0",
        Side::Rhs => "input-1",
    }
}

/// A tar entry to store, by type.
pub enum Entry<'a> {
    /// A regular file and its content.
    File(&'a mut dyn Read),
    /// A symlink and its target, stored as a regular file holding the target.
    Symlink(&'a [u8]),
    /// A hardlink and its target, stored as a regular file holding the target.
    Hardlink(&'a [u8]),
    /// A directory, created as a directory.
    Directory,
    /// A device node, fifo or anything else without content, stored as an empty file.
    Other,
}

/// What a stored file stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StoredKind {
    /// A JSON document (index, manifest or config) as read.
    Document,
    /// A regular file's content.
    File,
    /// A symlink, stored as a regular file holding its target.
    Symlink,
    /// A hardlink, stored as a regular file holding its target.
    Hardlink,
    /// A directory, created as a directory.
    Directory,
    /// A device node, fifo or anything else without content, stored as an empty file.
    Other,
}

/// One thing stored in the report directory: a record of the `files` index of `report.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct StoredFile {
    /// The input it comes from: 0 or 1.
    pub input: u8,
    /// The location of the layer or document, as in findings.
    pub location: String,
    /// The entry's path in its layer, or the document's file name (bytes that are not UTF-8
    /// shown as U+FFFD).
    pub name: String,
    /// What the stored file stands for.
    pub kind: StoredKind,
    /// Where it is stored, relative to the report directory, `/`-separated.
    pub path: String,
    /// A symlink's or hardlink's target, which is also the stored file's content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Bytes stored.
    pub size: u64,
    /// The content was longer than the limit: only its first `size` bytes are stored.
    pub truncated: bool,
    /// Stored under another name than its sanitised path, because that was taken.
    pub renamed: bool,
}

/// The engine's extraction pass writes straight into the directory.
impl ExtractSink for ReportDir {
    fn document(
        &mut self,
        side: Side,
        location: &str,
        file_name: &str,
        bytes: &[u8],
    ) -> io::Result<()> {
        self.write_json_doc(side, location, file_name, bytes)
            .map(drop)
            .map_err(io::Error::other)
    }

    fn entry(
        &mut self,
        side: Side,
        location: &str,
        path: &str,
        kind: EntryKind<'_>,
        content: &mut dyn Read,
    ) -> io::Result<()> {
        let entry = match kind {
            EntryKind::File => Entry::File(content),
            EntryKind::Symlink(t) => Entry::Symlink(t.as_bytes()),
            EntryKind::Hardlink(t) => Entry::Hardlink(t.as_bytes()),
            EntryKind::Directory => Entry::Directory,
            EntryKind::Other => Entry::Other,
        };
        self.write_entry(side, location, path.as_bytes(), entry)
            .map(drop)
            .map_err(io::Error::other)
    }
}

/// Why the report directory could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// The directory exists and holds something: it is never written into.
    #[error("report directory {0:?} exists and is not empty: give a new or an empty directory")]
    NotEmpty(PathBuf),
    /// The path exists and is not a directory.
    #[error("report directory {0:?} exists and is not a directory")]
    NotADirectory(PathBuf),
    /// The directory could not be created.
    #[error("cannot create report directory {path:?}: {source}")]
    Create {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A file in the directory could not be written.
    #[error("cannot write {path:?}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// An entry's content could not be read from its layer.
    #[error("cannot read {name:?} of input-{input} at {location:?}: {source}")]
    Read {
        /// The input it comes from: 0 or 1.
        input: u8,
        /// The layer or document, as in findings.
        location: String,
        /// The entry's path in its layer.
        name: String,
        /// The I/O error.
        source: io::Error,
    },
}

/// Longest path component stored as is; longer ones are cut and hashed. Below `NAME_MAX`
/// (255) to leave room for a `.~N~` suffix.
const MAX_COMPONENT: usize = 240;

const README: &str = "\
# ocidiff report

Written by `ocidiff --report-dir`.

- `report.json`: the differences found (format: `docs/report.md` in ocidiff's sources), plus
  `files`, an index of everything stored below.
- `input-0/`, `input-1/`: the differing files and JSON documents of input 0 and input 1, at
  `input-N/<location>/<path in the layer>`.

Paths are sanitised: `..` is stored as `%2E%2E`, `%`, control characters and bytes that are not
UTF-8 as `%XX`, and overlong names are cut and end in a hash. Symlinks and hardlinks are stored
as regular files holding their target; device nodes and fifos as empty files. A path already
taken is stored as `NAME.~N~`. `files` in `report.json` maps every entry to where it is.
";

/// The report directory being written. Its methods take `&self`, so the layers of both images
/// can be written from several threads; each write holds one lock, which also makes the
/// `.~N~` renaming follow the order of the calls.
pub struct ReportDir {
    root: PathBuf,
    fd: OwnedFd,
    max_file_bytes: u64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    files: Vec<StoredFile>,
    /// The next `.~N~` to try for a path that was taken, so that many clashes stay cheap.
    next_suffix: HashMap<String, u32>,
}

/// The last component of a path to store.
enum Leaf<'a> {
    Bytes(&'a [u8]),
    Reader(&'a mut dyn Read),
    Directory,
}

impl ReportDir {
    /// Creates `path` (and its parents), or takes it if it is an empty directory.
    pub fn create(path: &Path) -> Result<ReportDir, ReportError> {
        let create_err = |source| ReportError::Create {
            path: path.to_owned(),
            source,
        };
        match std::fs::metadata(path) {
            Ok(meta) if !meta.is_dir() => return Err(ReportError::NotADirectory(path.to_owned())),
            Ok(_) => {
                if std::fs::read_dir(path)
                    .map_err(create_err)?
                    .next()
                    .is_some()
                {
                    return Err(ReportError::NotEmpty(path.to_owned()));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                std::fs::create_dir_all(path).map_err(create_err)?;
            }
            Err(e) => return Err(create_err(e)),
        }
        // `path` is the user's choice, so a symlink there is followed; nothing below it is.
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(CWD, path, flags, Mode::empty())
            .map_err(|e| create_err(e.into()))?;
        Ok(ReportDir {
            root: path.to_owned(),
            fd,
            max_file_bytes: 64 << 20,
            state: Mutex::new(State::default()),
        })
    }

    /// Stores at most `max` bytes of each file (64 MiB unless set); the rest is left out and
    /// the file marked `truncated`.
    pub fn with_max_file_bytes(mut self, max: u64) -> ReportDir {
        self.max_file_bytes = max;
        self
    }

    /// The directory being written.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Stores a JSON document (index, manifest, config) of `side` as
    /// `input-N/<location>/<file_name>`, e.g. `manifests-0` and `config.json`.
    pub fn write_json_doc(
        &self,
        side: Side,
        location: &str,
        file_name: &str,
        bytes: &[u8],
    ) -> Result<StoredFile, ReportError> {
        let record = StoredFile {
            input: side.index(),
            location: location.to_owned(),
            name: file_name.to_owned(),
            kind: StoredKind::Document,
            path: String::new(),
            target: None,
            size: 0,
            truncated: false,
            renamed: false,
        };
        self.store(
            side,
            location,
            file_name.as_bytes(),
            Leaf::Bytes(bytes),
            record,
        )
    }

    /// Stores a tar entry of `side` found at `location` (e.g. `manifests-0/layers-1`) as
    /// `input-N/<location>/<entry_path>`. For a file, reads `content` up to the limit plus one
    /// byte, to tell whether it was cut; the caller drains the rest if it needs to.
    pub fn write_entry(
        &self,
        side: Side,
        location: &str,
        entry_path: &[u8],
        entry: Entry<'_>,
    ) -> Result<StoredFile, ReportError> {
        let target = |t: &[u8]| Some(String::from_utf8_lossy(t).into_owned());
        let (kind, target, leaf) = match entry {
            Entry::File(content) => (StoredKind::File, None, Leaf::Reader(content)),
            Entry::Symlink(t) => (StoredKind::Symlink, target(t), Leaf::Bytes(t)),
            Entry::Hardlink(t) => (StoredKind::Hardlink, target(t), Leaf::Bytes(t)),
            Entry::Directory => (StoredKind::Directory, None, Leaf::Directory),
            Entry::Other => (StoredKind::Other, None, Leaf::Bytes(&[])),
        };
        let record = StoredFile {
            input: side.index(),
            location: location.to_owned(),
            name: String::from_utf8_lossy(entry_path).into_owned(),
            kind,
            path: String::new(),
            target,
            size: 0,
            truncated: false,
            renamed: false,
        };
        self.store(side, location, entry_path, leaf, record)
    }

    /// Writes `report.json` (the report plus the `files` index) and `README.md`.
    pub fn finish(self, report: &Findings) -> Result<(), ReportError> {
        let mut state = self
            .state
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        state
            .files
            .sort_by(|a, b| (a.input, &a.path).cmp(&(b.input, &b.path)));
        let doc = DirReport {
            report,
            files: &state.files,
        };
        let mut json = serde_json::to_vec_pretty(&doc).map_err(|e| ReportError::Write {
            path: self.root.join("report.json"),
            source: e.into(),
        })?;
        json.push(b'\n');
        for (name, bytes) in [("report.json", &json[..]), ("README.md", README.as_bytes())] {
            let path = self.root.join(name);
            let write_err = |source| ReportError::Write {
                path: path.clone(),
                source,
            };
            let mut file = File::from(
                rustix::fs::openat(&self.fd, name, file_flags(), Mode::from_raw_mode(0o644))
                    .map_err(|e| write_err(e.into()))?,
            );
            file.write_all(bytes).map_err(write_err)?;
        }
        Ok(())
    }

    fn store(
        &self,
        side: Side,
        location: &str,
        name: &[u8],
        leaf: Leaf<'_>,
        mut record: StoredFile,
    ) -> Result<StoredFile, ReportError> {
        let mut dirs = vec![dir_name(side).to_owned()];
        dirs.extend(sanitize_path(location.as_bytes()));
        let mut entry = sanitize_path(name);
        let last = entry.pop().unwrap_or_else(|| sanitize_component(b"."));
        dirs.extend(entry);

        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let mut stored: Vec<String> = Vec::with_capacity(dirs.len() + 1);
        let mut current: Option<OwnedFd> = None;
        for comp in &dirs {
            let parent = current.as_ref().unwrap_or(&self.fd);
            let (fd, used) = self.enter_dir(&mut state, parent, &stored, comp)?;
            record.renamed |= used != *comp;
            stored.push(used);
            current = Some(fd);
        }
        let parent = current.as_ref().unwrap_or(&self.fd);
        match leaf {
            Leaf::Directory => {
                let (_, used) = self.enter_dir(&mut state, parent, &stored, &last)?;
                record.renamed |= used != last;
                stored.push(used);
            }
            Leaf::Bytes(bytes) => {
                let (mut file, used) = self.create_file(&mut state, parent, &stored, &last)?;
                record.renamed |= used != last;
                stored.push(used);
                file.write_all(bytes)
                    .map_err(|e| self.write_err(&stored, e))?;
                record.size = bytes.len() as u64;
            }
            Leaf::Reader(content) => {
                let (mut file, used) = self.create_file(&mut state, parent, &stored, &last)?;
                record.renamed |= used != last;
                stored.push(used);
                let copied = copy_limited(content, &mut file, self.max_file_bytes);
                if copied.is_err() {
                    // Best effort: a half-written file listed nowhere would only mislead.
                    let _ = rustix::fs::unlinkat(parent, last_of(&stored), AtFlags::empty());
                }
                let (size, truncated) = copied.map_err(|e| match e {
                    CopyError::Read(source) => ReportError::Read {
                        input: record.input,
                        location: record.location.clone(),
                        name: record.name.clone(),
                        source,
                    },
                    CopyError::Write(e) => self.write_err(&stored, e),
                })?;
                record.size = size;
                record.truncated = truncated;
            }
        }
        record.path = stored.join("/");
        state.files.push(record.clone());
        Ok(record)
    }

    /// Opens directory `name` under `parent`, creating it if needed; when `name` is taken by
    /// something that is not a directory (a file, a symlink), the first free `name.~N~`.
    fn enter_dir(
        &self,
        state: &mut State,
        parent: &OwnedFd,
        stored: &[String],
        name: &str,
    ) -> Result<(OwnedFd, String), ReportError> {
        // Cached separately from files: a name taken by a directory is free for a directory.
        let key = format!("dir:{}/{name}", stored.join("/"));
        let mut n = state.next_suffix.get(&key).copied().unwrap_or(0);
        loop {
            let candidate = with_suffix(name, n);
            match rustix::fs::mkdirat(parent, candidate.as_str(), Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(self.write_err(&[stored, &[candidate]].concat(), e)),
            }
            match rustix::fs::openat(parent, candidate.as_str(), dir_flags(), Mode::empty()) {
                Ok(fd) => return Ok((fd, candidate)),
                Err(Errno::NOTDIR | Errno::LOOP) => {
                    n = next_suffix(state, &key, n);
                }
                Err(e) => return Err(self.write_err(&[stored, &[candidate]].concat(), e)),
            }
        }
    }

    /// Creates file `name` under `parent`; when `name` is taken, the first free `name.~N~`.
    fn create_file(
        &self,
        state: &mut State,
        parent: &OwnedFd,
        stored: &[String],
        name: &str,
    ) -> Result<(File, String), ReportError> {
        let key = format!("file:{}/{name}", stored.join("/"));
        let mut n = state.next_suffix.get(&key).copied().unwrap_or(0);
        loop {
            let candidate = with_suffix(name, n);
            let mode = Mode::from_raw_mode(0o644);
            match rustix::fs::openat(parent, candidate.as_str(), file_flags(), mode) {
                Ok(fd) => return Ok((File::from(fd), candidate)),
                Err(Errno::EXIST | Errno::LOOP | Errno::ISDIR) => {
                    n = next_suffix(state, &key, n);
                }
                Err(e) => return Err(self.write_err(&[stored, &[candidate]].concat(), e)),
            }
        }
    }

    fn write_err(&self, stored: &[String], source: impl Into<io::Error>) -> ReportError {
        ReportError::Write {
            path: self.root.join(stored.join("/")),
            source: source.into(),
        }
    }
}

/// The next suffix to try after `n` failed for `key`, remembered for the next clash on `key`.
fn next_suffix(state: &mut State, key: &str, n: u32) -> u32 {
    let next = state.next_suffix.get(key).copied().unwrap_or(0).max(n) + 1;
    state.next_suffix.insert(key.to_owned(), next);
    next
}

fn last_of(stored: &[String]) -> &str {
    stored.last().map_or("", String::as_str)
}

fn with_suffix(name: &str, n: u32) -> String {
    if n == 0 {
        name.to_owned()
    } else {
        format!("{name}.~{n}~")
    }
}

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

fn file_flags() -> OFlags {
    OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

/// Copies at most `max` bytes, then reads one more to tell whether the content was cut; unlike
/// `io::copy`, it tells a failing reader (the image) from a failing writer (the disk).
fn copy_limited(from: &mut dyn Read, to: &mut File, max: u64) -> Result<(u64, bool), CopyError> {
    let mut buf = vec![0u8; 64 << 10];
    let mut total = 0u64;
    loop {
        let room = usize::try_from(max - total)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        // With no room left, one byte is read only to see whether there is more.
        let want = room.max(1);
        let n = match from.read(&mut buf[..want]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        if n == 0 {
            return Ok((total, false));
        }
        if room == 0 {
            return Ok((total, true));
        }
        to.write_all(&buf[..n]).map_err(CopyError::Write)?;
        total += n as u64;
    }
}

/// The components of `path` that may be stored, each sanitised; empty and `.` components
/// are dropped.
fn sanitize_path(path: &[u8]) -> Vec<String> {
    path.split(|b| *b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(sanitize_component)
        .collect()
}

/// One path component as a safe, UTF-8 file name: `.` and `..` escaped as `%2E`, `%2E%2E`;
/// `%`, control characters (NUL among them) and bytes that are not UTF-8 as `%XX`; longer than
/// `MAX_COMPONENT` (240) bytes, cut and ended with `~` and 16 hex digits of its SHA-256.
pub fn sanitize_component(comp: &[u8]) -> String {
    if comp == b"." || comp == b".." {
        return "%2E".repeat(comp.len());
    }
    let mut out = String::with_capacity(comp.len());
    let escape = |out: &mut String, bytes: &[u8]| {
        for b in bytes {
            let _ = write!(out, "%{b:02X}");
        }
    };
    for chunk in comp.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '%' || c.is_control() {
                escape(&mut out, c.encode_utf8(&mut [0; 4]).as_bytes());
            } else {
                out.push(c);
            }
        }
        escape(&mut out, chunk.invalid());
    }
    if out.len() <= MAX_COMPONENT {
        return out;
    }
    let hash = hex::encode(&sha2::Sha256::digest(comp)[..8]);
    let mut cut = MAX_COMPONENT - 1 - hash.len();
    while !out.is_char_boundary(cut) {
        cut -= 1;
    }
    // Do not leave half a `%XX` escape before the hash.
    if let Some(pct) = out[..cut].rfind('%') {
        if pct + 3 > cut {
            cut = pct;
        }
    }
    format!("{}~{hash}", &out[..cut])
}

/// `report.json` in a report directory: the report with the `files` index added.
#[derive(Serialize, JsonSchema)]
struct DirReport<'a> {
    #[serde(flatten)]
    report: &'a Findings,
    /// Everything stored under `input-0/` and `input-1/`, by input then path.
    files: &'a [StoredFile],
}

/// The JSON Schema of a report directory's `report.json`, as committed in
/// `docs/report-dir.schema.json`.
pub fn report_dir_schema() -> Value {
    serde_json::to_value(schemars::schema_for!(DirReport<'static>)).expect("a schema is plain JSON")
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use ocidiff_testkit::schema::{check_committed_schema, validate};

    use super::*;
    use crate::report::fixtures::sample_report;

    const LAYER: &str = "manifests-0/layers-1";

    /// A report directory `t/report` next to an `t/outside` that must stay empty.
    fn setup() -> (tempfile::TempDir, ReportDir) {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("outside")).unwrap();
        let dir = ReportDir::create(&t.path().join("report")).unwrap();
        (t, dir)
    }

    /// Asserts that `t` holds only `report/` and an empty `outside/`, and that no symlink was
    /// created anywhere under `report/`.
    fn assert_contained(t: &Path) {
        let mut top: Vec<_> = std::fs::read_dir(t)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        top.sort();
        assert_eq!(top, ["outside", "report"]);
        assert_eq!(std::fs::read_dir(t.join("outside")).unwrap().count(), 0);
        let mut stack = vec![t.join("report")];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap() {
                let e = e.unwrap();
                let ty = e.file_type().unwrap();
                assert!(!ty.is_symlink(), "symlink {:?} was created", e.path());
                if ty.is_dir() {
                    stack.push(e.path());
                }
            }
        }
    }

    fn file(dir: &ReportDir, path: &[u8], content: &[u8]) -> StoredFile {
        dir.write_entry(Side::Lhs, LAYER, path, Entry::File(&mut &content[..]))
            .unwrap()
    }

    #[test]
    fn hostile_names_stay_inside() {
        let (t, dir) = setup();
        let mut stored = vec![
            file(&dir, b"../../etc/x", b"x"),
            file(&dir, b"/abs", b"abs"),
            file(&dir, b"abs", b"abs again"),
            file(&dir, b"a/../../b", b"b"),
            dir.write_entry(
                Side::Lhs,
                LAYER,
                b"lnk",
                Entry::Symlink(b"../../../../outside"),
            )
            .unwrap(),
            file(&dir, b"lnk/passwd", b"through the link"),
            file(&dir, b"lnk/group", b"through the link again"),
            dir.write_entry(Side::Rhs, LAYER, b"hard", Entry::Hardlink(b"/etc/shadow"))
                .unwrap(),
            file(&dir, b"f", b"a file"),
            file(&dir, b"f/b", b"under the file"),
            file(&dir, b"d/c", b"in a directory"),
            file(&dir, b"d", b"a file named like the directory"),
            dir.write_entry(Side::Lhs, LAYER, b"d", Entry::Directory)
                .unwrap(),
            file(&dir, b"caf\xe9/\xff", b"not UTF-8"),
            file(&dir, b"n\0ul\n\x1b[2J", b"control characters"),
            file(&dir, b"%41", b"percent"),
            file(&dir, b"", b"empty name"),
            file(&dir, b"./", b"dot"),
            dir.write_entry(Side::Lhs, LAYER, b"dev/null", Entry::Other)
                .unwrap(),
            dir.write_entry(Side::Rhs, "../../x", b"../y", Entry::Other)
                .unwrap(),
            dir.write_json_doc(Side::Rhs, "manifests-0", "config.json", b"{}")
                .unwrap(),
            dir.write_json_doc(Side::Rhs, "manifests-0", "config.json", b"{ }")
                .unwrap(),
        ];
        let long = file(&dir, "é".repeat(200).as_bytes(), b"long");
        let long_name = long.path.rsplit('/').next().unwrap().to_owned();
        assert!(long_name.len() <= MAX_COMPONENT, "{long_name}");
        assert!(long_name.starts_with("é"));
        stored.push(long);
        let listing: Vec<String> = stored
            .iter()
            .map(|s| {
                format!(
                    "{} {:?} -> {}{}",
                    s.input,
                    if s.name.len() > MAX_COMPONENT {
                        "<LONG>"
                    } else {
                        &s.name
                    },
                    s.path.replace(&long_name, "<LONG>"),
                    if s.renamed { " (renamed)" } else { "" }
                )
            })
            .collect();
        insta::assert_snapshot!(listing.join("\n"), @r#"
        0 "../../etc/x" -> input-0/manifests-0/layers-1/%2E%2E/%2E%2E/etc/x
        0 "/abs" -> input-0/manifests-0/layers-1/abs
        0 "abs" -> input-0/manifests-0/layers-1/abs.~1~ (renamed)
        0 "a/../../b" -> input-0/manifests-0/layers-1/a/%2E%2E/%2E%2E/b
        0 "lnk" -> input-0/manifests-0/layers-1/lnk
        0 "lnk/passwd" -> input-0/manifests-0/layers-1/lnk.~1~/passwd (renamed)
        0 "lnk/group" -> input-0/manifests-0/layers-1/lnk.~1~/group (renamed)
        1 "hard" -> input-1/manifests-0/layers-1/hard
        0 "f" -> input-0/manifests-0/layers-1/f
        0 "f/b" -> input-0/manifests-0/layers-1/f.~1~/b (renamed)
        0 "d/c" -> input-0/manifests-0/layers-1/d/c
        0 "d" -> input-0/manifests-0/layers-1/d.~1~ (renamed)
        0 "d" -> input-0/manifests-0/layers-1/d
        0 "caf�/�" -> input-0/manifests-0/layers-1/caf%E9/%FF
        0 "n\0ul\n\u{1b}[2J" -> input-0/manifests-0/layers-1/n%00ul%0A%1B[2J
        0 "%41" -> input-0/manifests-0/layers-1/%2541
        0 "" -> input-0/manifests-0/layers-1/%2E
        0 "./" -> input-0/manifests-0/layers-1/%2E.~1~ (renamed)
        0 "dev/null" -> input-0/manifests-0/layers-1/dev/null
        1 "../y" -> input-1/%2E%2E/%2E%2E/x/%2E%2E/y
        1 "config.json" -> input-1/manifests-0/config.json
        1 "config.json" -> input-1/manifests-0/config.json.~1~ (renamed)
        0 "<LONG>" -> input-0/manifests-0/layers-1/<LONG>
        "#);
        let read = |rel: &str| std::fs::read(t.path().join("report").join(rel)).unwrap();
        assert_eq!(read(&stored[4].path), b"../../../../outside");
        assert_eq!(stored[4].target.as_deref(), Some("../../../../outside"));
        assert_eq!(read(&stored[5].path), b"through the link");
        assert_eq!(read(&stored[13].path), b"not UTF-8");
        assert_contained(t.path());
        dir.finish(&sample_report()).unwrap();
        assert_contained(t.path());
    }

    #[test]
    fn symlinks_planted_in_the_directory_are_not_followed() {
        let (t, dir) = setup();
        file(&dir, b"seed", b"creates the layer directory");
        let layer = t.path().join("report/input-0").join(LAYER);
        symlink(t.path().join("outside"), layer.join("evil-dir")).unwrap();
        symlink(t.path().join("outside/f"), layer.join("evil-file")).unwrap();
        let through_dir = file(&dir, b"evil-dir/x", b"x");
        let over_file = file(&dir, b"evil-file", b"y");
        assert_eq!(through_dir.path, format!("input-0/{LAYER}/evil-dir.~1~/x"));
        assert_eq!(over_file.path, format!("input-0/{LAYER}/evil-file.~1~"));
        assert!(through_dir.renamed && over_file.renamed);
        assert_eq!(
            std::fs::read_dir(t.path().join("outside")).unwrap().count(),
            0
        );
    }

    #[test]
    fn many_clashes_stay_cheap_and_ordered() {
        let (_t, dir) = setup();
        assert_eq!(Side::from_index(1), Some(Side::Rhs));
        assert_eq!(Side::from_index(2), None);
        let paths: Vec<String> = (0..300).map(|_| file(&dir, b"same", b"").path).collect();
        assert_eq!(paths[0], format!("input-0/{LAYER}/same"));
        assert_eq!(paths[299], format!("input-0/{LAYER}/same.~299~"));
    }

    #[test]
    fn existing_directories() {
        let t = tempfile::tempdir().unwrap();
        let empty = t.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        assert!(ReportDir::create(&empty).is_ok());
        std::fs::write(empty.join("x"), b"").unwrap();
        let err = ReportDir::create(&empty).err().unwrap();
        assert!(matches!(err, ReportError::NotEmpty(_)), "{err}");
        assert!(err.to_string().contains("exists and is not empty"));
        let err = ReportDir::create(&empty.join("x")).err().unwrap();
        assert!(matches!(err, ReportError::NotADirectory(_)), "{err}");
        assert!(ReportDir::create(&t.path().join("new/nested")).is_ok());
        let fresh = t.path().join("fresh");
        std::fs::create_dir(&fresh).unwrap();
        symlink(&fresh, t.path().join("via-link")).unwrap();
        let dir = ReportDir::create(&t.path().join("via-link")).unwrap();
        file(&dir, b"x", b"x");
        assert!(fresh.join("input-0").join(LAYER).join("x").is_file());
    }

    #[test]
    fn truncates_at_the_limit() {
        let (t, dir) = setup();
        let dir = dir.with_max_file_bytes(4);
        let cut = file(&dir, b"long", b"abcdefgh");
        assert_eq!((cut.size, cut.truncated), (4, true));
        let exact = file(&dir, b"exact", b"abcd");
        assert_eq!((exact.size, exact.truncated), (4, false));
        let read = std::fs::read(t.path().join("report").join(&cut.path)).unwrap();
        assert_eq!(read, b"abcd");
    }

    #[test]
    fn read_errors_name_the_entry() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("corrupt gzip stream"))
            }
        }
        let (_t, dir) = setup();
        let err = dir
            .write_entry(Side::Rhs, LAYER, b"etc/x", Entry::File(&mut Failing))
            .err()
            .unwrap();
        insta::assert_snapshot!(err, @r#"cannot read "etc/x" of input-1 at "manifests-0/layers-1": corrupt gzip stream"#);
        assert!(
            !dir.path()
                .join("input-1")
                .join(LAYER)
                .join("etc/x")
                .exists()
        );
    }

    #[test]
    fn finish_writes_report_and_readme() {
        let (t, dir) = setup();
        file(&dir, b"etc/os-release", b"ID=x\n");
        dir.write_entry(Side::Rhs, LAYER, b"bin/sh", Entry::Symlink(b"busybox"))
            .unwrap();
        dir.finish(&sample_report()).unwrap();
        let root = t.path().join("report");
        let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
        assert!(readme.starts_with("# ocidiff report"));
        let json: Value =
            serde_json::from_slice(&std::fs::read(root.join("report.json")).unwrap()).unwrap();
        insta::assert_json_snapshot!(json["files"], @r#"
        [
          {
            "input": 0,
            "location": "manifests-0/layers-1",
            "name": "etc/os-release",
            "kind": "file",
            "path": "input-0/manifests-0/layers-1/etc/os-release",
            "size": 5,
            "truncated": false,
            "renamed": false
          },
          {
            "input": 1,
            "location": "manifests-0/layers-1",
            "name": "bin/sh",
            "kind": "symlink",
            "path": "input-1/manifests-0/layers-1/bin/sh",
            "target": "busybox",
            "size": 7,
            "truncated": false,
            "renamed": false
          }
        ]
        "#);
        validate(&report_dir_schema(), &json).unwrap();
        validate(&crate::finding::report_schema(), &json).unwrap();
    }

    #[test]
    fn committed_schema_is_current() {
        check_committed_schema("report-dir.schema.json", &report_dir_schema());
    }
}
