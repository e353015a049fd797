//! Comparing two lists of tar entries, field by field, under the ignore rules.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::classify;
use super::layer::{EntryMeta, EntryType, Time};
use crate::finding::{Class, FieldDiff, Finding, Kind};
use crate::normalize::Rules;

/// Compares entries matched by name (the n-th occurrence of a name with the n-th, should a
/// layer hold duplicates). `positional` is false for squashed listings, where an entry's
/// position says nothing. Every differing field is recorded; the rules decide which count.
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
            None => vec![FieldDiff::new(
                "entry",
                Some(summary(l)),
                None,
                Class::Removed,
            )],
        };
        if !fields.is_empty() {
            findings.push(classify::finding(Kind::File, location, name, fields));
        }
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for r in rhs {
        let name = rules.path(&r.name);
        let n = seen.entry(name).or_insert(0);
        if by_name.contains_key(&(name, *n)) {
            findings.push(classify::finding(
                Kind::File,
                location,
                name,
                vec![FieldDiff::new(
                    "entry",
                    None,
                    Some(summary(r)),
                    Class::Added,
                )],
            ));
        }
        *n += 1;
    }
    findings
}

/// How an entry present on one side only is shown.
pub fn summary(e: &EntryMeta) -> Value {
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

fn time(t: Option<&Time>) -> Option<Value> {
    t.map(|t| json!(t.render()))
}

/// The fields in which two entries matched by name differ, each classed and marked counted or
/// set aside by the rules.
pub fn fields(l: &EntryMeta, r: &EntryMeta, rules: &Rules, positional: bool) -> Vec<FieldDiff> {
    let mut out = Vec::new();
    let mut cmp =
        |field: &str, lv: Option<Value>, rv: Option<Value>, class: Class, ignored: bool| {
            if lv != rv {
                let d = FieldDiff::new(field, lv, rv, class);
                out.push(if ignored { d.set_aside() } else { d });
            }
        };
    cmp(
        "name",
        Some(json!(l.name)),
        Some(json!(r.name)),
        Class::PathSpelling,
        true,
    );
    cmp(
        "type",
        Some(json!(l.kind)),
        Some(json!(r.kind)),
        Class::Content,
        false,
    );
    if matches!(l.kind, EntryType::Symlink | EntryType::Hardlink)
        || matches!(r.kind, EntryType::Symlink | EntryType::Hardlink)
    {
        let (ll, rl) = (l.link.as_deref(), r.link.as_deref());
        let spelled_alike = ll.map(|s| rules.path(s)) == rl.map(|s| rules.path(s));
        let class = if ll != rl && spelled_alike {
            Class::PathSpelling
        } else {
            Class::Content
        };
        cmp(
            "link",
            ll.map(|s| json!(s)),
            rl.map(|s| json!(s)),
            class,
            spelled_alike,
        );
    }
    let perm_equal = l.mode & 0o7777 == r.mode & 0o7777;
    cmp(
        "mode",
        Some(json!(mode(l.mode))),
        Some(json!(mode(r.mode))),
        Class::Permission,
        perm_equal && rules.ignore_file_mode_redundant_bits,
    );
    cmp(
        "uid",
        Some(json!(l.uid)),
        Some(json!(r.uid)),
        Class::Ownership,
        false,
    );
    cmp(
        "gid",
        Some(json!(l.gid)),
        Some(json!(r.gid)),
        Class::Ownership,
        false,
    );
    cmp(
        "uname",
        Some(json!(l.uname)),
        Some(json!(r.uname)),
        Class::Ownership,
        false,
    );
    cmp(
        "gname",
        Some(json!(l.gname)),
        Some(json!(r.gname)),
        Class::Ownership,
        false,
    );
    let dev = |e: &EntryMeta| e.device.map(|(ma, mi)| json!(format!("{ma},{mi}")));
    cmp("device", dev(l), dev(r), Class::Metadata, false);
    if l.kind == EntryType::File || r.kind == EntryType::File {
        cmp(
            "size",
            Some(json!(l.size)),
            Some(json!(r.size)),
            Class::Content,
            false,
        );
    }
    cmp(
        "digest",
        l.digest.as_ref().map(|d| json!(d)),
        r.digest.as_ref().map(|d| json!(d)),
        Class::Content,
        false,
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
            Class::Metadata,
            false,
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
            Class::Metadata,
            false,
        );
    }
    let ts = rules.ignore_file_timestamps;
    cmp(
        "mtime",
        time(Some(&l.mtime)),
        time(Some(&r.mtime)),
        Class::Timestamp,
        ts,
    );
    cmp(
        "atime",
        time(l.atime.as_ref()),
        time(r.atime.as_ref()),
        Class::Timestamp,
        ts,
    );
    cmp(
        "ctime",
        time(l.ctime.as_ref()),
        time(r.ctime.as_ref()),
        Class::Timestamp,
        ts,
    );
    if positional {
        cmp(
            "position",
            Some(json!(l.position)),
            Some(json!(r.position)),
            Class::Order,
            rules.ignore_file_order,
        );
    }
    cmp(
        "format",
        Some(json!(l.format)),
        Some(json!(r.format)),
        Class::TarFormat,
        rules.ignore_tar_format,
    );
    out
}
