//! A closer look at one file whose content differs between the two images: archives and
//! compressed streams are opened and compared entry by entry (recursively), text files get a
//! unified diff and ELF files the names of the sections that differ.
//!
//! The API is pure — two byte buffers in, an [`Inspection`] out — so the engine decides which
//! files to fetch ([`wants_content`]) and what to do with the answer. Hostile input never
//! panics and never grows memory or time without bound: every limit that is hit, and every
//! archive that cannot be read, becomes [`Inspection::note`], and such an inspection never
//! claims that the difference is ignorable.

mod elf;
mod gzip;
mod members;
mod tarball;
mod text;
mod zipfile;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::io::Read;

use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

// Names inside nested archives are escaped as layer entry names are.
use crate::layer::escape_name as escape;
use crate::normalize::{Aspect, Rules};

/// What the closer look ignores and how far it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectOptions {
    /// What is set aside inside the files, as in layers: [`Aspect::FileTimestamp`] (also
    /// a gzip header's time, name, OS and extra field), [`Aspect::EntryOrder`],
    /// [`Aspect::TarFormat`] (also zip compression methods and sizes, gzip member splits,
    /// compressed bytes) and [`Aspect::PathSpelling`].
    pub rules: Rules,
    /// How many archives or compressed streams deep the look goes.
    pub max_depth: usize,
    /// Decompressed bytes per archive or compressed stream and side; the whole inspection
    /// decompresses at most four times this much.
    pub max_bytes: u64,
    /// Entries per archive and side.
    pub max_entries: u64,
    /// Bytes of one unified diff; all the text diffs of an inspection together take at most
    /// eight times this much.
    pub max_text_diff_bytes: usize,
}

impl Default for InspectOptions {
    fn default() -> Self {
        InspectOptions {
            rules: Rules::default(),
            max_depth: 4,
            max_bytes: 256 << 20,
            max_entries: 100_000,
            max_text_diff_bytes: 64 << 10,
        }
    }
}

/// What a closer look at two differing files found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Inspection {
    /// Differences inside archives and compressed streams, recursively. Paths start with the
    /// file's name; entries of an archive are joined with `!/` (`a.tar.gz!/b.zip!/c`); a
    /// compressed stream adds no path element (its header fields are listed under its own
    /// path).
    pub nested: Vec<NestedDiff>,
    /// The files differ, were read completely, and every difference found is one the options
    /// ignore.
    pub only_ignorable: bool,
    /// A unified diff of the files (or of their decompressed content), when both are text.
    pub text_diff: Option<String>,
    /// Some text diff was cut short or left out for size.
    pub truncated: bool,
    /// For ELF files: the sections whose bytes differ, present on one side only included, and
    /// `(headers)` when the ELF header, program headers or section header table differ.
    pub elf_sections: Vec<String>,
    /// Why the closer look is incomplete (a limit was hit, an archive could not be read).
    pub note: Option<String>,
}

/// The fields in which one inner path differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NestedDiff {
    /// The path inside the archive or compressed file.
    pub path: String,
    /// `(field, lhs, rhs, ignorable)`; a value is `None` where that side has no such field
    /// (the field `entry` is the entry itself, present on one side only).
    pub fields: Vec<(String, Option<Value>, Option<Value>, bool)>,
    /// A unified diff of the entry's content, when both sides are text.
    pub text_diff: Option<String>,
}

/// Whether the engine should fetch a differing file's content for [`inspect`]: archives and
/// compressed streams by name up to 256 MiB, anything else up to 16 MiB (text, ELF binaries,
/// archives under an unusual name, found by their magic bytes).
pub fn wants_content(name: &str, size: u64) -> bool {
    const NAMED_ARCHIVE_MAX: u64 = 256 << 20;
    const ANY_MAX: u64 = 16 << 20;
    size <= ANY_MAX || (size <= NAMED_ARCHIVE_MAX && archive_name(name))
}

fn archive_name(name: &str) -> bool {
    const EXTENSIONS: &[&str] = &[
        ".tar", ".tgz", ".gz", ".taz", ".zst", ".tzst", ".zip", ".jar", ".war", ".ear", ".whl",
        ".egg", ".apk", ".aar", ".nupkg", ".xpi",
    ];
    let lower = name.to_ascii_lowercase();
    EXTENSIONS.iter().any(|e| lower.ends_with(e))
}

/// Compares `lhs` and `rhs`, the two versions of the file `name`.
pub fn inspect(name: &str, lhs: &[u8], rhs: &[u8], opts: &InspectOptions) -> Inspection {
    let mut ctx = Ctx::new(opts);
    let outcome = ctx.examine(name, lhs, rhs, 0);
    Inspection {
        only_ignorable: lhs != rhs
            && outcome.explained
            && ctx.notes.is_empty()
            && !ctx.nested.is_empty(),
        nested: ctx.nested,
        text_diff: outcome.text_diff,
        truncated: ctx.truncated,
        elf_sections: outcome.elf_sections,
        note: (!ctx.notes.is_empty()).then(|| ctx.notes.join("; ")),
    }
}

/// What kind of content a buffer holds, by magic bytes first and name second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Gzip,
    Zstd,
    Zip,
    Tar,
    Elf,
    Text,
    Binary,
}

impl Kind {
    fn detect(name: &str, data: &[u8]) -> Kind {
        if data.starts_with(&[0x1f, 0x8b]) {
            Kind::Gzip
        } else if data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Kind::Zstd
        } else if data.starts_with(b"PK\x03\x04") || data.starts_with(b"PK\x05\x06") {
            Kind::Zip
        } else if data.starts_with(b"\x7fELF") {
            Kind::Elf
        } else if tarball::looks_like_tar(data) {
            Kind::Tar
        } else if name.to_ascii_lowercase().ends_with(".tar") && !data.is_empty() {
            // An archive of zero blocks only has no magic, and a damaged one is worth a note.
            Kind::Tar
        } else if text::is_text(data) {
            Kind::Text
        } else {
            Kind::Binary
        }
    }
}

/// What examining one pair of buffers concluded.
#[derive(Debug, Default)]
struct Examined {
    /// Every difference found at this level and below is ignorable (vacuously true for equal
    /// buffers) and nothing stopped the look.
    explained: bool,
    text_diff: Option<String>,
    elf_sections: Vec<String>,
}

impl Examined {
    fn unexplained() -> Examined {
        Examined::default()
    }
}

/// State shared along one inspection: findings, notes and the budgets that keep hostile input
/// bounded.
struct Ctx<'o> {
    opts: &'o InspectOptions,
    nested: Vec<NestedDiff>,
    by_path: HashMap<String, usize>,
    notes: Vec<String>,
    /// Decompressed bytes left for the whole inspection.
    inflate_left: u64,
    /// Text diff bytes left for the whole inspection.
    text_left: usize,
    truncated: bool,
}

impl<'o> Ctx<'o> {
    fn new(opts: &'o InspectOptions) -> Ctx<'o> {
        Ctx {
            opts,
            nested: Vec::new(),
            by_path: HashMap::new(),
            notes: Vec::new(),
            inflate_left: opts.max_bytes.saturating_mul(4),
            text_left: opts.max_text_diff_bytes.saturating_mul(8),
            truncated: false,
        }
    }

    /// Whether a difference in `aspect` is set aside; one with no aspect never is.
    fn ignorable(&self, aspect: Option<Aspect>) -> bool {
        aspect.is_some_and(|a| self.opts.rules.sets_aside(a))
    }

    fn note(&mut self, note: String) {
        self.notes.push(note);
    }

    /// Records differing fields of `path`, merging with what is already recorded for it.
    fn record(&mut self, path: &str, fields: Vec<(String, Option<Value>, Option<Value>, bool)>) {
        if fields.is_empty() {
            return;
        }
        if let Some(&i) = self.by_path.get(path) {
            self.nested[i].fields.extend(fields);
        } else {
            self.by_path.insert(path.to_owned(), self.nested.len());
            self.nested.push(NestedDiff {
                path: path.to_owned(),
                fields,
                text_diff: None,
            });
        }
    }

    /// Records one field of `path` if `lhs` and `rhs` differ; returns whether it is ignorable
    /// (true when equal).
    fn field(
        &mut self,
        path: &str,
        name: &str,
        lhs: Option<Value>,
        rhs: Option<Value>,
        class: Option<Aspect>,
    ) -> bool {
        if lhs == rhs {
            return true;
        }
        let ignorable = self.ignorable(class);
        self.record(path, vec![(name.to_owned(), lhs, rhs, ignorable)]);
        ignorable
    }

    /// Compares the content of `path` (an archive entry, or the payload of a compressed
    /// stream, as the fields `<prefix>size` and `<prefix>digest`), looking inside when both
    /// sides are at hand: the content difference is ignorable only when that look says so.
    fn content(
        &mut self,
        path: &str,
        prefix: &str,
        lhs: (Option<u64>, Option<Value>, Option<&[u8]>),
        rhs: (Option<u64>, Option<Value>, Option<&[u8]>),
        depth: usize,
    ) -> Examined {
        let (size, digest) = (format!("{prefix}size"), format!("{prefix}digest"));
        let mut fields = Vec::new();
        if lhs.0 != rhs.0 {
            fields.push((
                size.clone(),
                lhs.0.map(|s| json!(s)),
                rhs.0.map(|s| json!(s)),
                false,
            ));
        }
        fields.push((digest.clone(), lhs.1, rhs.1, false));
        self.record(path, fields);
        let inner = match (lhs.2, rhs.2) {
            (Some(l), Some(r)) => self.examine(path, l, r, depth + 1),
            _ => Examined::unexplained(),
        };
        if let Some(&i) = self.by_path.get(path) {
            for field in &mut self.nested[i].fields {
                if field.0 == size || field.0 == digest {
                    field.3 = inner.explained;
                }
            }
        }
        inner
    }

    /// Reads a decompressing reader to its end, within `opts.max_bytes` for the archive (of
    /// which `used` bytes are spent already) and what is left of the whole inspection's budget.
    fn inflate(
        &mut self,
        path: &str,
        what: &str,
        reader: impl Read,
        used: u64,
    ) -> Result<Vec<u8>, String> {
        let room = self
            .opts
            .max_bytes
            .saturating_sub(used)
            .min(self.inflate_left);
        let mut out = Vec::new();
        let read = reader.take(room.saturating_add(1)).read_to_end(&mut out);
        self.inflate_left = self.inflate_left.saturating_sub(out.len() as u64);
        if let Err(e) = read {
            return Err(format!("{path}: {what} cannot be decompressed: {e}"));
        }
        if out.len() as u64 > room {
            return Err(format!(
                "{path}: {what} decompresses to more than the {room} bytes left of the limit; \
                 not inspected further"
            ));
        }
        Ok(out)
    }

    /// Compares two buffers found at `path`, `depth` archives or streams deep.
    fn examine(&mut self, path: &str, lhs: &[u8], rhs: &[u8], depth: usize) -> Examined {
        if lhs == rhs {
            return Examined {
                explained: true,
                ..Examined::default()
            };
        }
        let (lk, rk) = (Kind::detect(path, lhs), Kind::detect(path, rhs));
        if lk != rk {
            self.field(path, "kind", Some(json!(lk)), Some(json!(rk)), None);
            return Examined::unexplained();
        }
        let container = matches!(lk, Kind::Gzip | Kind::Zstd | Kind::Zip | Kind::Tar);
        if container && depth >= self.opts.max_depth {
            self.note(format!(
                "{path}: archives nested deeper than {} levels are not inspected",
                self.opts.max_depth
            ));
            return Examined::unexplained();
        }
        let (recorded, noted) = (self.nested.len(), self.notes.len());
        let mut outcome = match lk {
            Kind::Gzip => gzip::examine(self, path, lhs, rhs, depth),
            Kind::Zstd => self.examine_zstd(path, lhs, rhs, depth),
            Kind::Tar => {
                let l = tarball::read(self, path, lhs);
                let r = tarball::read(self, path, rhs);
                match (l, r) {
                    (Some(l), Some(r)) => members::compare(self, path, l, r, depth),
                    _ => Examined::unexplained(),
                }
            }
            Kind::Zip => zipfile::examine(self, path, lhs, rhs, depth),
            Kind::Elf => match elf::differing_sections(lhs, rhs) {
                Ok(sections) => Examined {
                    elf_sections: sections,
                    ..Examined::unexplained()
                },
                Err(e) => {
                    self.note(format!("{path}: {e}"));
                    Examined::unexplained()
                }
            },
            Kind::Text => {
                let diff = self.text_diff(path, lhs, rhs);
                Examined {
                    text_diff: diff,
                    ..Examined::unexplained()
                }
            }
            Kind::Binary => Examined::unexplained(),
        };
        // The buffers differ: if nothing inside does, the difference is in how the same
        // entries are encoded (compression, padding, headers the readers do not expose).
        if container
            && outcome.explained
            && self.nested.len() == recorded
            && self.notes.len() == noted
        {
            let (l, r) = (sha256(lhs), sha256(rhs));
            outcome.explained =
                self.field(path, "encoding", Some(l), Some(r), Some(Aspect::TarFormat));
        }
        outcome
    }

    fn examine_zstd(&mut self, path: &str, lhs: &[u8], rhs: &[u8], depth: usize) -> Examined {
        let mut payload = |data: &[u8]| match zstd::stream::read::Decoder::new(data) {
            Ok(d) => self.inflate(path, "zstd stream", d, 0),
            Err(e) => Err(format!("{path}: not a valid zstd stream: {e}")),
        };
        let (l, r) = (payload(lhs), payload(rhs));
        match (l, r) {
            (Ok(l), Ok(r)) if l == r => Examined {
                explained: true,
                ..Examined::default()
            },
            (Ok(l), Ok(r)) => self.content(
                path,
                "payload.",
                (Some(l.len() as u64), Some(sha256(&l)), Some(&l)),
                (Some(r.len() as u64), Some(sha256(&r)), Some(&r)),
                depth,
            ),
            (l, r) => {
                for e in [l.err(), r.err()].into_iter().flatten() {
                    self.note(e);
                }
                Examined::unexplained()
            }
        }
    }

    fn text_diff(&mut self, path: &str, lhs: &[u8], rhs: &[u8]) -> Option<String> {
        let (Ok(l), Ok(r)) = (std::str::from_utf8(lhs), std::str::from_utf8(rhs)) else {
            return None;
        };
        let budget = self.opts.max_text_diff_bytes.min(self.text_left);
        if budget == 0 {
            self.truncated = true;
            return None;
        }
        let Some((diff, truncated)) = text::unified(path, l, r, budget) else {
            self.truncated = true;
            return None;
        };
        self.text_left -= diff.len().min(self.text_left);
        self.truncated |= truncated;
        Some(diff)
    }
}

/// `sha256:<hex>` of a buffer, as the digests elsewhere in the report read.
fn sha256(data: &[u8]) -> Value {
    json!(format!("sha256:{}", hex::encode(Sha256::digest(data))))
}

/// `outer!/inner`: the path of an entry inside the archive at `outer`.
fn join(outer: &str, inner: &str) -> String {
    format!("{outer}!/{inner}")
}
