//! The package view: which packages each image has installed, which of them were added,
//! removed or moved to another version, and which package owns each differing file.
//!
//! A rebuild made a week later pulls newer packages, so many of its differences are expected.
//! This view tells those apart from the differences a reviewer must look at: a file that differs
//! although the package owning it has the same version on both sides.
//!
//! The module is pure: the engine asks [`wants`] which files of the flattened root filesystem
//! to read, hands their contents to [`read`] (once per side), and then calls [`compare`] and
//! [`Owners::attribute`].
//!
//! # Databases read
//!
//! Paths are root-relative, without a leading `/` (as in the engine's tree).
//!
//! | ecosystem | files | what is taken |
//! |---|---|---|
//! | dpkg | `var/lib/dpkg/status` | RFC 822 paragraphs: `Package`, `Version`, `Architecture`, `Status`, `Conffiles` |
//! | dpkg (distroless) | `var/lib/dpkg/status.d/<name>` | one paragraph per file; no `Status` field means installed |
//! | dpkg | `var/lib/dpkg/info/<pkg>[:<arch>].list`, `….md5sums`, `status.d/<name>.md5sums` | owned paths |
//! | apk | `lib/apk/db/installed` | blocks of `P:` name, `V:` version, `A:` arch, `F:` directory, `R:` file |
//! | rpm | `var/lib/rpm/rpmdb.sqlite`, `usr/lib/sysimage/rpm/rpmdb.sqlite` (and `-wal`) | rpm headers in table `Packages`: name, `[epoch:]version-release`, arch, file names |
//! | Python | `**/*.dist-info/METADATA` and `RECORD` | `Name`, `Version`; `RECORD` paths resolved against the directory holding the `.dist-info` |
//!
//! A dpkg package counts as present unless its `Status` says `not-installed` or `config-files`
//! (its files are then gone): half-configured or unpacked packages have files on disk.
//!
//! # Limits
//!
//! - rpm's older Berkeley DB (`var/lib/rpm/Packages`) and SUSE's `Packages.db` are not read;
//!   [`unsupported`] names them so the engine can say so instead of staying silent.
//! - dpkg diversions and alternatives are not followed: a diverted file is attributed to the
//!   package whose list names the path.
//! - Python `.egg-info` distributions and other ecosystems (npm, gems, Go binaries) are not read.
//! - Owned paths are matched as databases write them; a path that no database names is also
//!   looked up through the merged-`/usr` aliases (`bin` ↔ `usr/bin`, `lib` ↔ `usr/lib`, …),
//!   because Debian's lists still name `/bin/bash` where the filesystem holds `usr/bin/bash`.
//! - Versions are compared as strings: a change is reported, not whether it is an upgrade.
//! - Content is untrusted: malformed input becomes a note in [`PackageSet::notes`], never a
//!   panic. The caller bounds how many bytes it reads.

mod apk;
mod dpkg;
mod python;
mod rpm;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use schemars::JsonSchema;
use serde::Serialize;

/// The package managers whose databases are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Ecosystem {
    /// Debian and Ubuntu packages (`var/lib/dpkg`).
    Dpkg,
    /// Alpine packages (`lib/apk/db/installed`).
    Apk,
    /// rpm packages, from the sqlite database.
    Rpm,
    /// Python distributions (`*.dist-info`).
    Python,
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Ecosystem::Dpkg => "dpkg",
            Ecosystem::Apk => "apk",
            Ecosystem::Rpm => "rpm",
            Ecosystem::Python => "python",
        })
    }
}

/// One installed package as its database records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Package {
    /// The package manager whose database lists it.
    pub ecosystem: Ecosystem,
    /// The package's name in that database.
    pub name: String,
    /// The version as the database writes it (rpm: `[epoch:]version-release`).
    pub version: String,
    /// The architecture, when the database records one.
    pub arch: Option<String>,
    /// Paths the package owns, root-relative and cleaned, sorted, without duplicates.
    pub files: Vec<String>,
}

/// Every package found in one image, and what could not be read.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct PackageSet {
    /// Sorted by ecosystem, name, version, arch.
    pub packages: Vec<Package>,
    /// One line per database or record that could not be read, naming its path.
    pub notes: Vec<String>,
}

/// A package's version and architecture on one side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct PackageVersion {
    /// The version as the database writes it.
    pub version: String,
    /// The architecture, when the database records one.
    pub arch: Option<String>,
}

impl fmt::Display for PackageVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.arch {
            Some(arch) => write!(f, "{} ({arch})", self.version),
            None => f.write_str(&self.version),
        }
    }
}

/// A package added, removed, or with another version or architecture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct PackageDiff {
    /// The package manager whose database lists it.
    pub ecosystem: Ecosystem,
    /// The package's name.
    pub name: String,
    /// `None`: added in `rhs`.
    pub lhs: Option<PackageVersion>,
    /// `None`: removed in `rhs`.
    pub rhs: Option<PackageVersion>,
}

/// What kind of change a [`PackageDiff`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Only `rhs` has it.
    Added,
    /// Only `lhs` has it.
    Removed,
    /// Both have it, at different versions.
    Version,
    /// Both have it at the same version, for different architectures.
    Arch,
}

impl PackageDiff {
    /// Which kind of change this is, from which sides have the package and how they differ.
    pub fn change(&self) -> Change {
        match (&self.lhs, &self.rhs) {
            (None, _) => Change::Added,
            (_, None) => Change::Removed,
            (Some(l), Some(r)) if l.version == r.version => Change::Arch,
            _ => Change::Version,
        }
    }
}

/// The class of a differing file, by the package that owns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(tag = "class", rename_all = "snake_case")]
pub enum Ownership {
    /// Owned by a package whose version or architecture differs between the sides, or that
    /// exists on one side only: expected in a later rebuild.
    PackageChanged {
        /// The package manager whose database lists it.
        ecosystem: Ecosystem,
        /// The package's name.
        name: String,
        /// Its version on the left; `None` if only the right has it.
        lhs: Option<PackageVersion>,
        /// Its version on the right; `None` if only the left has it.
        rhs: Option<PackageVersion>,
    },
    /// Owned by the same package version on both sides, yet different: a real
    /// reproducibility problem, the class a reviewer must look at.
    SameVersion {
        /// The package manager whose database lists it.
        ecosystem: Ecosystem,
        /// The package's name.
        name: String,
        /// The version both sides have.
        version: PackageVersion,
    },
    /// No database names this path.
    Unowned,
}

/// Why a database or one of its records could not be read; each becomes a note.
#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error("{path}: line {line} is neither a field nor a continuation: {text:?}")]
    Line {
        path: String,
        line: usize,
        text: String,
    },
    #[error("{path}: the record at line {line} has no {field} field")]
    Missing {
        path: String,
        line: usize,
        field: &'static str,
    },
    #[cfg(feature = "rpm")]
    #[error("{path}: cannot copy the database to a temporary file: {source}")]
    Copy {
        path: String,
        source: std::io::Error,
    },
    #[cfg(feature = "rpm")]
    #[error("{path}: {source}")]
    Sqlite {
        path: String,
        source: rusqlite::Error,
    },
    #[cfg(feature = "rpm")]
    #[error("{path}: package header {hnum}: {reason}")]
    Header {
        path: String,
        hnum: i64,
        reason: rpm::HeaderError,
    },
    #[error("{path}: {source}")]
    Csv { path: String, source: csv::Error },
}

impl PackageSet {
    // A sink, like push: callers build the error in the call, and its message is what is kept.
    #[allow(clippy::needless_pass_by_value)]
    fn note(&mut self, error: ReadError) {
        self.notes.push(error.to_string());
    }
}

/// The direct children of directory `dir/` among `files`.
fn children<'f>(
    files: &'f BTreeMap<String, Vec<u8>>,
    dir: &'f str,
) -> impl Iterator<Item = (&'f str, &'f str, &'f [u8])> {
    files
        .range(dir.to_owned()..)
        .take_while(move |(k, _)| k.starts_with(dir))
        .filter_map(move |(k, v)| {
            let base = &k[dir.len()..];
            (!base.is_empty() && !base.contains('/')).then_some((k.as_str(), base, v.as_slice()))
        })
}

/// Whether the package view needs the content of `path` (root-relative, no leading `/`).
pub fn wants(path: &str) -> bool {
    dpkg::wants(path) || apk::wants(path) || rpm::wants(path) || python::wants(path)
}

/// For a package database this module cannot read, the note to show when the image has it.
pub fn unsupported(path: &str) -> Option<String> {
    rpm::unsupported(path)
}

/// Parses every database found among `files` (root-relative path → content).
///
/// Absent databases are skipped; malformed content becomes a note.
pub fn read(files: &BTreeMap<String, Vec<u8>>) -> PackageSet {
    let mut set = PackageSet::default();
    dpkg::read(files, &mut set);
    apk::read(files, &mut set);
    #[cfg(feature = "rpm")]
    rpm::read(files, &mut set);
    python::read(files, &mut set);
    for p in &mut set.packages {
        p.files.sort_unstable();
        p.files.dedup();
    }
    set.packages.sort_by(|a, b| {
        (a.ecosystem, &a.name, &a.version, &a.arch).cmp(&(
            b.ecosystem,
            &b.name,
            &b.version,
            &b.arch,
        ))
    });
    set
}

/// Lists the packages added, removed or changed from `lhs` to `rhs`, sorted by ecosystem and
/// name.
pub fn compare(lhs: &PackageSet, rhs: &PackageSet) -> Vec<PackageDiff> {
    let pairs = Pairing::new(lhs, rhs);
    let mut diffs = Vec::new();
    for (l, p) in lhs.packages.iter().zip(&pairs.lhs) {
        match p {
            None => diffs.push(diff(l, Some(l), None)),
            Some(r) => {
                let r = &rhs.packages[*r];
                if (&l.version, &l.arch) != (&r.version, &r.arch) {
                    diffs.push(diff(l, Some(l), Some(r)));
                }
            }
        }
    }
    for (r, p) in rhs.packages.iter().zip(&pairs.rhs) {
        if p.is_none() {
            diffs.push(diff(r, None, Some(r)));
        }
    }
    diffs.sort_by(|a, b| (a.ecosystem, &a.name).cmp(&(b.ecosystem, &b.name)));
    diffs
}

fn version(p: &Package) -> PackageVersion {
    PackageVersion {
        version: p.version.clone(),
        arch: p.arch.clone(),
    }
}

fn diff(p: &Package, lhs: Option<&Package>, rhs: Option<&Package>) -> PackageDiff {
    PackageDiff {
        ecosystem: p.ecosystem,
        name: p.name.clone(),
        lhs: lhs.map(version),
        rhs: rhs.map(version),
    }
}

/// The identity that pairs a package across the sides: Python names compare normalised
/// (PEP 503), others as written.
fn key(p: &Package) -> (Ecosystem, String) {
    let name = match p.ecosystem {
        Ecosystem::Python => p
            .name
            .to_ascii_lowercase()
            .split(['-', '_', '.'])
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("-"),
        _ => p.name.clone(),
    };
    (p.ecosystem, name)
}

/// Which `rhs` package is each `lhs` package's counterpart, and back.
///
/// Several packages may share a name (dpkg multi-arch, a Python distribution in two
/// environments); within a name, identical versions pair first, then equal architectures,
/// then the rest in order.
struct Pairing {
    lhs: Vec<Option<usize>>,
    rhs: Vec<Option<usize>>,
}

impl Pairing {
    fn new(lhs: &PackageSet, rhs: &PackageSet) -> Self {
        type Same = fn(&Package, &Package) -> bool;
        let mut groups: BTreeMap<(Ecosystem, String), (Vec<usize>, Vec<usize>)> = BTreeMap::new();
        for (i, p) in lhs.packages.iter().enumerate() {
            groups.entry(key(p)).or_default().0.push(i);
        }
        for (i, p) in rhs.packages.iter().enumerate() {
            groups.entry(key(p)).or_default().1.push(i);
        }
        let mut pairs = Pairing {
            lhs: vec![None; lhs.packages.len()],
            rhs: vec![None; rhs.packages.len()],
        };
        let passes: [Same; 3] = [
            |l, r| l.version == r.version && l.arch == r.arch,
            |l, r| l.arch == r.arch,
            |_, _| true,
        ];
        for (ls, rs) in groups.values() {
            for same in passes {
                for &l in ls {
                    if pairs.lhs[l].is_some() {
                        continue;
                    }
                    let found = rs.iter().copied().find(|&r| {
                        pairs.rhs[r].is_none() && same(&lhs.packages[l], &rhs.packages[r])
                    });
                    if let Some(r) = found {
                        pairs.lhs[l] = Some(r);
                        pairs.rhs[r] = Some(l);
                    }
                }
            }
        }
        pairs
    }
}

/// Top-level directories that merged-`/usr` systems make symlinks into `usr/`.
const MERGED: [&str; 6] = ["bin", "sbin", "lib", "lib32", "lib64", "libx32"];

/// The other spelling of `path` under merged `/usr`, if it has one.
fn usr_alias(path: &str) -> Option<String> {
    let (top, rest) = path.split_once('/')?;
    if top == "usr" {
        let (dir, _) = rest.split_once('/')?;
        MERGED.contains(&dir).then(|| rest.to_owned())
    } else {
        MERGED.contains(&top).then(|| format!("usr/{path}"))
    }
}

/// Who owns which path on both sides, built once so that each lookup is a hash probe.
pub struct Owners<'a> {
    lhs: &'a PackageSet,
    rhs: &'a PackageSet,
    lhs_index: HashMap<&'a str, Vec<usize>>,
    rhs_index: HashMap<&'a str, Vec<usize>>,
    pairs: Pairing,
}

fn index(set: &PackageSet) -> HashMap<&str, Vec<usize>> {
    let mut index: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, p) in set.packages.iter().enumerate() {
        for f in &p.files {
            index.entry(f.as_str()).or_default().push(i);
        }
    }
    index
}

fn owners_of<'i>(index: &'i HashMap<&str, Vec<usize>>, path: &str) -> &'i [usize] {
    if let Some(found) = index.get(path) {
        return found;
    }
    usr_alias(path)
        .and_then(|alias| index.get(alias.as_str()))
        .map_or(&[], Vec::as_slice)
}

impl<'a> Owners<'a> {
    /// Indexes the owned paths of both sides.
    pub fn new(lhs: &'a PackageSet, rhs: &'a PackageSet) -> Self {
        Owners {
            lhs,
            rhs,
            lhs_index: index(lhs),
            rhs_index: index(rhs),
            pairs: Pairing::new(lhs, rhs),
        }
    }

    /// Classifies a differing file (root-relative path).
    ///
    /// A path may have several owners (directories shared by many packages, multi-arch
    /// copies): it is *package changed* when any owner changed, since any of them may have
    /// written the difference, and *same version* only when none did. The `rhs` owners are
    /// named first: they are what the newer build installed.
    pub fn attribute(&self, path: &str) -> Ownership {
        let rhs_owners = owners_of(&self.rhs_index, path)
            .iter()
            .map(|&r| (self.pairs.rhs[r], Some(r)));
        let lhs_owners = owners_of(&self.lhs_index, path)
            .iter()
            .map(|&l| (Some(l), self.pairs.lhs[l]));
        let owners: Vec<(Option<usize>, Option<usize>)> = rhs_owners.chain(lhs_owners).collect();
        let side = |l: Option<usize>, r: Option<usize>| {
            (
                l.map(|l| &self.lhs.packages[l]),
                r.map(|r| &self.rhs.packages[r]),
            )
        };
        let changed = owners.iter().find_map(|&(l, r)| {
            let (l, r) = side(l, r);
            let named = r.or(l)?;
            match (l, r) {
                (Some(l), Some(r)) if (&l.version, &l.arch) == (&r.version, &r.arch) => None,
                _ => Some((named, l, r)),
            }
        });
        if let Some((named, l, r)) = changed {
            return Ownership::PackageChanged {
                ecosystem: named.ecosystem,
                name: named.name.clone(),
                lhs: l.map(version),
                rhs: r.map(version),
            };
        }
        match owners.first().map(|&(l, r)| side(l, r)) {
            Some((_, Some(p)) | (Some(p), None)) => Ownership::SameVersion {
                ecosystem: p.ecosystem,
                name: p.name.clone(),
                version: version(p),
            },
            _ => Ownership::Unowned,
        }
    }
}

/// [`Owners::attribute`] for a single path; build an [`Owners`] to classify many.
pub fn attribute(path: &str, lhs: &PackageSet, rhs: &PackageSet) -> Ownership {
    Owners::new(lhs, rhs).attribute(path)
}
