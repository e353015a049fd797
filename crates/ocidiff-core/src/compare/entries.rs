//! Comparing two lists of tar entries, field by field, under the ignore rules.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::layer::{EntryMeta, EntryType, Time};
use crate::finding::{FieldDiff, Finding, Kind};
use crate::normalize::Rules;

/// Compares entries matched by name (the n-th occurrence of a name with the n-th, should a
/// layer hold duplicates). `positional` is false for squashed listings, where an entry's
/// position says nothing.
pub fn compare(
    lhs: &[EntryMeta],
    rhs: &[EntryMeta],
    rules: &Rules,
    location: &str,
    positional: bool,
) -> Vec<Finding> {
    let mut by_name: HashMap<(&str, usize), &EntryMeta> = HashMap::with_capacity(rhs.len());
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for e in rhs {
        let name = rules.path(&e.name);
        let n = seen.entry(name).or_insert(0);
        by_name.insert((name, *n), e);
        *n += 1;
    }
    let mut findings = Vec::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for l in lhs {
        let name = rules.path(&l.name);
        let n = seen.entry(name).or_insert(0);
        let key = (name, *n);
        *n += 1;
        let fields = match by_name.remove(&key) {
            Some(r) => fields(l, r, rules, positional),
            None => vec![FieldDiff::new("entry", Some(summary(l)), None)],
        };
        if !fields.is_empty() {
            findings.push(file_finding(location, name, fields));
        }
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for r in rhs {
        let name = rules.path(&r.name);
        let n = seen.entry(name).or_insert(0);
        if by_name.contains_key(&(name, *n)) {
            findings.push(file_finding(
                location,
                name,
                vec![FieldDiff::new("entry", None, Some(summary(r)))],
            ));
        }
        *n += 1;
    }
    findings
}

fn file_finding(location: &str, name: &str, fields: Vec<FieldDiff>) -> Finding {
    Finding {
        kind: Kind::File,
        location: location.to_owned(),
        name: name.to_owned(),
        fields,
    }
}

/// How an entry present on one side only is shown.
fn summary(e: &EntryMeta) -> Value {
    let mut v = json!({ "type": e.kind, "mode": mode(e.mode), "uid": e.uid, "gid": e.gid });
    if e.kind == EntryType::File {
        v["size"] = json!(e.size);
    }
    if let Some(d) = &e.digest {
        v["digest"] = json!(d);
    }
    if let Some(l) = &e.link {
        v["link"] = json!(l);
    }
    v
}

fn mode(m: u32) -> String {
    format!("{m:04o}")
}

fn time(t: &Option<Time>) -> Option<Value> {
    t.as_ref().map(|t| json!(t.render()))
}

/// The fields in which two entries of the same name differ.
pub fn fields(l: &EntryMeta, r: &EntryMeta, rules: &Rules, positional: bool) -> Vec<FieldDiff> {
    let mut out = Vec::new();
    let mut cmp = |field: &str, lv: Option<Value>, rv: Option<Value>| {
        if lv != rv {
            out.push(FieldDiff::new(field, lv, rv));
        }
    };
    cmp("type", Some(json!(l.kind)), Some(json!(r.kind)));
    let link = |e: &EntryMeta| e.link.as_deref().map(|s| json!(rules.path(s)));
    if matches!(l.kind, EntryType::Symlink | EntryType::Hardlink)
        || matches!(r.kind, EntryType::Symlink | EntryType::Hardlink)
    {
        cmp("link", link(l), link(r));
    }
    let mask = |m: u32| {
        if rules.ignore_file_mode_redundant_bits {
            m & 0o7777
        } else {
            m
        }
    };
    cmp(
        "mode",
        Some(json!(mode(mask(l.mode)))),
        Some(json!(mode(mask(r.mode)))),
    );
    cmp("uid", Some(json!(l.uid)), Some(json!(r.uid)));
    cmp("gid", Some(json!(l.gid)), Some(json!(r.gid)));
    cmp("uname", Some(json!(l.uname)), Some(json!(r.uname)));
    cmp("gname", Some(json!(l.gname)), Some(json!(r.gname)));
    let dev = |e: &EntryMeta| e.device.map(|(ma, mi)| json!(format!("{ma},{mi}")));
    cmp("device", dev(l), dev(r));
    if l.kind == EntryType::File || r.kind == EntryType::File {
        cmp("size", Some(json!(l.size)), Some(json!(r.size)));
    }
    cmp(
        "digest",
        l.digest.as_ref().map(|d| json!(d)),
        r.digest.as_ref().map(|d| json!(d)),
    );
    for key in l
        .xattrs
        .keys()
        .chain(r.xattrs.keys().filter(|k| !l.xattrs.contains_key(*k)))
    {
        cmp(
            &format!("xattr:{key}"),
            l.xattrs.get(key).map(|v| json!(v)),
            r.xattrs.get(key).map(|v| json!(v)),
        );
    }
    for key in l
        .pax
        .keys()
        .chain(r.pax.keys().filter(|k| !l.pax.contains_key(*k)))
    {
        cmp(
            &format!("pax:{key}"),
            l.pax.get(key).map(|v| json!(v)),
            r.pax.get(key).map(|v| json!(v)),
        );
    }
    if !rules.ignore_file_timestamps {
        cmp(
            "mtime",
            time(&Some(l.mtime.clone())),
            time(&Some(r.mtime.clone())),
        );
        cmp("atime", time(&l.atime), time(&r.atime));
        cmp("ctime", time(&l.ctime), time(&r.ctime));
    }
    if positional && !rules.ignore_file_order {
        cmp("position", Some(json!(l.position)), Some(json!(r.position)));
    }
    if !rules.ignore_tar_format {
        cmp("format", Some(json!(l.format)), Some(json!(r.format)));
    }
    out
}
