//! dpkg: `var/lib/dpkg/status` (or distroless `status.d/`), with owned paths from
//! `info/*.list`, `*.md5sums` and the `Conffiles` field.
//!
//! Parsed by hand: the deb822 crates on crates.io either pull in a large Debian toolkit or do
//! not keep line numbers for notes, and the format needed here is a dozen lines.

use std::collections::{BTreeMap, HashMap};

use super::{Ecosystem, Package, PackageSet, ReadError, children};
use crate::layer::clean;

const STATUS: &str = "var/lib/dpkg/status";
const STATUS_D: &str = "var/lib/dpkg/status.d/";
const INFO: &str = "var/lib/dpkg/info/";

// dpkg's own names, matched exactly as dpkg does: `.LIST` is not one of them.
#[allow(clippy::case_sensitive_file_extension_comparisons)]
pub(super) fn wants(path: &str) -> bool {
    path == STATUS
        || path
            .strip_prefix(STATUS_D)
            .is_some_and(|base| !base.is_empty() && !base.contains('/'))
        || path.strip_prefix(INFO).is_some_and(|base| {
            !base.contains('/') && (base.ends_with(".list") || base.ends_with(".md5sums"))
        })
}

/// One deb822 paragraph: field name (lower-cased) → value, continuation lines joined by `\n`.
struct Paragraph {
    line: usize,
    fields: HashMap<String, String>,
}

impl Paragraph {
    fn get(&self, field: &str) -> Option<&str> {
        self.fields.get(field).map(|v| v.trim())
    }
}

fn paragraphs(path: &str, content: &[u8], set: &mut PackageSet) -> Vec<Paragraph> {
    let text = String::from_utf8_lossy(content);
    let mut out = Vec::new();
    let mut current: Option<Paragraph> = None;
    let mut last: Option<String> = None;
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        if line.trim().is_empty() {
            out.extend(current.take());
            last = None;
            continue;
        }
        let para = current.get_or_insert_with(|| Paragraph {
            line: line_no,
            fields: HashMap::new(),
        });
        if line.starts_with([' ', '\t']) {
            if let Some(value) = last.as_ref().and_then(|f| para.fields.get_mut(f)) {
                value.push('\n');
                value.push_str(line.trim());
                continue;
            }
        } else if let Some((name, value)) = line.split_once(':') {
            let name = name.trim().to_ascii_lowercase();
            para.fields.insert(name.clone(), value.trim().to_owned());
            last = Some(name);
            continue;
        }
        set.note(ReadError::Line {
            path: path.to_owned(),
            line: line_no,
            text: line.to_owned(),
        });
    }
    out.extend(current);
    out
}

/// The package a paragraph describes, if its files are on disk.
fn package(path: &str, para: &Paragraph, set: &mut PackageSet) -> Option<Package> {
    let missing = |field| ReadError::Missing {
        path: path.to_owned(),
        line: para.line,
        field,
    };
    // `Status: want flag state`; distroless paragraphs come from control files, without one.
    if let Some(status) = para.get("status") {
        if matches!(
            status.split_whitespace().nth(2),
            Some("not-installed" | "config-files")
        ) {
            return None;
        }
    }
    let Some(name) = para.get("package") else {
        set.note(missing("Package"));
        return None;
    };
    let Some(version) = para.get("version") else {
        set.note(missing("Version"));
        return None;
    };
    let files = para
        .get("conffiles")
        .into_iter()
        .flat_map(str::lines)
        .filter_map(|l| l.split_whitespace().next())
        .map(clean)
        .filter(|f| !f.is_empty())
        .collect();
    Some(Package {
        ecosystem: Ecosystem::Dpkg,
        name: name.to_owned(),
        version: version.to_owned(),
        arch: para.get("architecture").map(str::to_owned),
        files,
    })
}

/// Paths named one per line (`.list`), or after a hash (`.md5sums`: `hash  path`).
fn listed(content: &[u8], md5sums: bool) -> impl Iterator<Item = String> + '_ {
    content.split(|&b| b == b'\n').filter_map(move |line| {
        let line = String::from_utf8_lossy(line);
        let path = if md5sums {
            line.trim_start()
                .split_once(char::is_whitespace)
                .map(|(_, p)| p.trim_start())?
        } else {
            &line
        };
        let path = clean(path);
        (!path.is_empty()).then_some(path)
    })
}

pub(super) fn read(files: &BTreeMap<String, Vec<u8>>, set: &mut PackageSet) {
    let mut packages: Vec<Package> = Vec::new();
    if let Some(content) = files.get(STATUS) {
        for para in paragraphs(STATUS, content, set) {
            packages.extend(package(STATUS, &para, set));
        }
    }
    // distroless: status.d/<stem> holds the paragraph, status.d/<stem>.md5sums its files.
    let mut by_stem: HashMap<&str, usize> = HashMap::new();
    for (path, base, content) in children(files, STATUS_D) {
        if base.ends_with(".md5sums") {
            continue;
        }
        for para in paragraphs(path, content, set) {
            if let Some(p) = package(path, &para, set) {
                by_stem.insert(base, packages.len());
                packages.push(p);
            }
        }
    }
    let names = Names::new(&packages);
    for (_, base, content) in children(files, STATUS_D) {
        if let Some(stem) = base.strip_suffix(".md5sums") {
            let owner = by_stem
                .get(stem)
                .copied()
                .or_else(|| names.find(&packages, stem));
            if let Some(owner) = owner {
                packages[owner].files.extend(listed(content, true));
            }
        }
    }
    for (_, base, content) in children(files, INFO) {
        let (stem, md5sums) = match (base.strip_suffix(".list"), base.strip_suffix(".md5sums")) {
            (Some(stem), _) => (stem, false),
            (None, Some(stem)) => (stem, true),
            (None, None) => continue,
        };
        // A list left by a package that is gone (e.g. config-files) owns nothing now.
        if let Some(owner) = names.find(&packages, stem) {
            packages[owner].files.extend(listed(content, md5sums));
        }
    }
    set.packages.extend(packages);
}

/// Packages by name, to find the one an info file stem names: `name:arch` (multi-arch) or
/// `name`.
struct Names(HashMap<String, Vec<usize>>);

impl Names {
    fn new(packages: &[Package]) -> Self {
        let mut names: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, p) in packages.iter().enumerate() {
            names.entry(p.name.clone()).or_default().push(i);
        }
        Names(names)
    }

    fn find(&self, packages: &[Package], stem: &str) -> Option<usize> {
        let (name, arch) = match stem.split_once(':') {
            Some((name, arch)) => (name, Some(arch)),
            None => (stem, None),
        };
        let found = self.0.get(name)?;
        found
            .iter()
            .copied()
            .find(|&i| arch.is_some() && packages[i].arch.as_deref() == arch)
            .or_else(|| found.first().copied())
    }
}
