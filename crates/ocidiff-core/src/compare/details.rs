//! A closer look at files whose content differs: archives and compressed files compared entry
//! by entry (an apk `scripts.tar` differing only in inner timestamps is then set aside under
//! `--semantic`), unified diffs of text files, the ELF sections that differ.
//!
//! Only the layers holding such files are read again, and only those files kept (bounded).
//! Archives are always looked into, since what is inside decides whether they count; text and
//! ELF details only when a report will show them ([`super::CompareOptions::details`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use super::{CompareError, Walk};
use crate::finding::{Class, Detail, FieldDiff, Finding, Kind};
use crate::inspect::{self, InspectOptions, NestedDiff};
use crate::model::{Descriptor, Side};

/// Largest file kept in memory for a closer look.
const MAX_FILE_BYTES: u64 = 256 << 20;

/// Names of archives and compressed files, which are looked into even without `details`.
fn archive_like(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [
        ".tar", ".tgz", ".gz", ".taz", ".zst", ".tzst", ".zip", ".jar", ".war", ".ear", ".whl",
        ".egg", ".apk", ".aar", ".nupkg", ".xpi",
    ]
    .iter()
    .any(|ext| lower.ends_with(ext))
}

/// Both sides' sizes when both sides have content that differs.
fn differing_content(f: &Finding) -> Option<u64> {
    let digest = f.fields.iter().find(|d| d.field == "digest")?;
    if digest.lhs.is_none() || digest.rhs.is_none() {
        return None;
    }
    let size = f.fields.iter().find(|d| d.field == "size").map_or(0, |d| {
        let n = |v: &Option<Value>| v.as_ref().and_then(Value::as_u64).unwrap_or(0);
        n(&d.lhs).max(n(&d.rhs))
    });
    Some(size)
}

impl Walk<'_> {
    /// Adds details to the file findings of one manifest pair. `layer_of` says which layer of
    /// each side holds a finding's file, and the entry's (clean) name there.
    pub(super) fn details(
        &self,
        layers: [&[Descriptor]; 2],
        layer_of: impl Fn(Side, &Finding) -> Option<(usize, String)>,
        findings: &mut [Finding],
    ) -> Result<(), CompareError> {
        let wanted_findings: Vec<usize> = findings
            .iter()
            .enumerate()
            .filter(|(_, f)| f.kind == Kind::File && f.class != Class::IgnoredPath)
            .filter_map(|(i, f)| {
                let size = differing_content(f)?;
                let look = archive_like(&f.name) || self.opts.details;
                (look && inspect::wants_content(&f.name, size)).then_some(i)
            })
            .collect();
        if wanted_findings.is_empty() {
            return Ok(());
        }
        let mut captured = [HashMap::new(), HashMap::new()];
        for side in Side::BOTH {
            let mut wanted: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
            for &i in &wanted_findings {
                if let Some((layer, name)) = layer_of(side, &findings[i]) {
                    wanted.entry(layer).or_default().insert(name);
                }
            }
            captured[side.i()] = self.capture(side, layers[side.i()], &wanted, MAX_FILE_BYTES)?;
        }
        let opts = InspectOptions {
            rules: *self.rules(),
            ..InspectOptions::default()
        };
        for i in wanted_findings {
            let f = &mut findings[i];
            let get = |side: Side| layer_of(side, f).and_then(|key| captured[side.i()].get(&key));
            let (Some(l), Some(r)) = (get(Side::Lhs), get(Side::Rhs)) else {
                continue;
            };
            if l.truncated || r.truncated {
                f.detail = Some(Detail {
                    note: Some(format!(
                        "larger than {MAX_FILE_BYTES} bytes: not looked into"
                    )),
                    ..Detail::default()
                });
                continue;
            }
            let found = inspect::inspect(&f.name, &l.bytes, &r.bytes, &opts);
            let nested: Vec<Finding> = found
                .nested
                .iter()
                .map(|n| nested_finding(&f.name, n))
                .collect();
            if found.only_ignorable {
                for d in f
                    .fields
                    .iter_mut()
                    .filter(|d| d.field == "digest" || d.field == "size")
                {
                    d.class = Class::NestedMetadata;
                    d.counted = false;
                }
                f.refresh();
            }
            let detail = Detail {
                text_diff: found.text_diff,
                truncated: found.truncated,
                nested,
                elf_sections: found.elf_sections,
                note: found.note,
            };
            if detail != Detail::default() {
                f.detail = Some(detail);
            }
        }
        Ok(())
    }
}

/// A difference inside an archive, as a finding located at the archive.
fn nested_finding(outer: &str, n: &NestedDiff) -> Finding {
    let fields = n
        .fields
        .iter()
        .map(|(field, l, r, ignorable)| {
            let class = nested_class(field, l.is_some(), r.is_some());
            let d = FieldDiff::new(field.clone(), l.clone(), r.clone(), class);
            if *ignorable { d.set_aside() } else { d }
        })
        .collect();
    let mut f = Finding::new(Kind::File, outer, &n.path, fields);
    if let Some(diff) = &n.text_diff {
        f.detail = Some(Detail {
            text_diff: Some(diff.clone()),
            ..Detail::default()
        });
    }
    f
}

fn nested_class(field: &str, lhs: bool, rhs: bool) -> Class {
    let base = field.rsplit('.').next().unwrap_or(field);
    match base {
        "entry" if lhs => Class::Removed,
        "entry" => {
            debug_assert!(rhs);
            Class::Added
        }
        "mtime" | "atime" | "ctime" | "filename" | "os" | "extra" => Class::Timestamp,
        "position" => Class::Order,
        "format" | "encoding" | "compression" | "compressed_size" | "made_by" | "members" => {
            Class::TarFormat
        }
        "uid" | "gid" | "uname" | "gname" => Class::Ownership,
        "mode" => Class::Permission,
        "digest" | "size" | "type" | "link" | "kind" | "trailing" | "comment" => Class::Content,
        _ if field.starts_with("extra:") => Class::Metadata,
        _ => Class::Metadata,
    }
}
