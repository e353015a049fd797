//! Python distributions: `<name>.dist-info/METADATA` (`Name`, `Version`) and `RECORD` (CSV
//! whose first column is a path relative to the directory holding the `.dist-info`).

use std::collections::BTreeMap;

use super::{Ecosystem, Package, PackageSet, ReadError};
use crate::layer::clean;

const DIST_INFO: &str = ".dist-info";

/// The `.dist-info` directory of a `METADATA` or `RECORD` path.
fn dist_info<'p>(path: &'p str, file: &str) -> Option<&'p str> {
    let dir = path.strip_suffix(file)?.strip_suffix('/')?;
    let base = dir.rsplit('/').next()?;
    (base.len() > DIST_INFO.len() && base.ends_with(DIST_INFO)).then_some(dir)
}

pub(super) fn wants(path: &str) -> bool {
    dist_info(path, "METADATA").is_some() || dist_info(path, "RECORD").is_some()
}

/// The value of header `name` in the metadata's header block (before the first blank line,
/// where the long description starts).
fn header<'t>(text: &'t str, name: &str) -> Option<&'t str> {
    text.lines()
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

pub(super) fn read(files: &BTreeMap<String, Vec<u8>>, set: &mut PackageSet) {
    for (path, content) in files {
        let Some(dir) = dist_info(path, "METADATA") else {
            continue;
        };
        let text = String::from_utf8_lossy(content);
        let missing = |field| ReadError::Missing {
            path: path.clone(),
            line: 1,
            field,
        };
        let (Some(name), Some(version)) = (header(&text, "Name"), header(&text, "Version")) else {
            let field = if header(&text, "Name").is_none() {
                "Name"
            } else {
                "Version"
            };
            set.note(missing(field));
            continue;
        };
        let site = dir.rsplit_once('/').map_or("", |(site, _)| site);
        let record = format!("{dir}/RECORD");
        let files = match files.get(&record) {
            Some(content) => owned(&record, site, content, set),
            None => Vec::new(),
        };
        set.packages.push(Package {
            ecosystem: Ecosystem::Python,
            name: name.to_owned(),
            version: version.to_owned(),
            arch: None,
            files,
        });
    }
}

/// The root-relative paths a `RECORD` lists; absolute ones are taken from the root.
fn owned(record: &str, site: &str, content: &[u8], set: &mut PackageSet) -> Vec<String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(content);
    let mut files = Vec::new();
    for row in reader.records() {
        match row {
            Ok(row) => {
                let Some(path) = row.get(0).filter(|p| !p.is_empty()) else {
                    continue;
                };
                let path = if path.starts_with('/') {
                    clean(path)
                } else {
                    clean(&format!("{site}/{path}"))
                };
                if !path.is_empty() {
                    files.push(path);
                }
            }
            Err(source) => {
                set.note(ReadError::Csv {
                    path: record.to_owned(),
                    source,
                });
                break;
            }
        }
    }
    files
}
