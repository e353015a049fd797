//! apk: `lib/apk/db/installed`, blocks of `X:value` lines separated by blank lines.
//!
//! Parsed by hand: no maintained crate reads apk's installed database, and the fields used
//! here are five one-letter keys.

use std::collections::BTreeMap;

use super::{Ecosystem, Package, PackageSet, ReadError};
use crate::layer::clean;

const INSTALLED: &str = "lib/apk/db/installed";

pub(super) fn wants(path: &str) -> bool {
    path == INSTALLED
}

/// A block being read: `P:` name, `V:` version, `A:` arch, files from `F:` then `R:` lines.
#[derive(Default)]
struct Block {
    line: usize,
    name: Option<String>,
    version: Option<String>,
    arch: Option<String>,
    dir: String,
    files: Vec<String>,
}

impl Block {
    fn finish(self, set: &mut PackageSet) {
        let missing = |field| ReadError::Missing {
            path: INSTALLED.to_owned(),
            line: self.line,
            field,
        };
        match (self.name, self.version) {
            (Some(name), Some(version)) => set.packages.push(Package {
                ecosystem: Ecosystem::Apk,
                name,
                version,
                arch: self.arch,
                files: self.files,
            }),
            (None, _) => set.note(missing("P:")),
            (Some(_), None) => set.note(missing("V:")),
        }
    }
}

pub(super) fn read(files: &BTreeMap<String, Vec<u8>>, set: &mut PackageSet) {
    let Some(content) = files.get(INSTALLED) else {
        return;
    };
    let text = String::from_utf8_lossy(content);
    let mut block: Option<Block> = None;
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            if let Some(b) = block.take() {
                b.finish(set);
            }
            continue;
        }
        let b = block.get_or_insert_with(|| Block {
            line: n + 1,
            ..Block::default()
        });
        let Some((key, value)) = line.split_once(':') else {
            set.note(ReadError::Line {
                path: INSTALLED.to_owned(),
                line: n + 1,
                text: line.to_owned(),
            });
            continue;
        };
        match key {
            "P" => b.name = Some(value.to_owned()),
            "V" => b.version = Some(value.to_owned()),
            "A" => b.arch = Some(value.to_owned()),
            "F" => {
                b.dir = clean(value);
                if !b.dir.is_empty() {
                    b.files.push(b.dir.clone());
                }
            }
            "R" => {
                let file = clean(&format!("{}/{value}", b.dir));
                if !file.is_empty() {
                    b.files.push(file);
                }
            }
            _ => {}
        }
    }
    if let Some(b) = block {
        b.finish(set);
    }
}
