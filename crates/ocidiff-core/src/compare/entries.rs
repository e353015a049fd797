//! Comparing two lists of tar entries, field by field, under the ignore rules.

use foldhash::HashMap;
use serde_json::{Value, json};

use super::classify;
use crate::finding::{Class, FieldDiff, Finding, Kind};
use crate::layer::{EntryMeta, EntryType, Time};
use crate::normalize::{self, Aspect, Rules};

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
    // foldhash, seeded per process: SipHash was a tenth of the time on 100 000 entries.
    let mut by_name: HashMap<(&str, usize), &EntryMeta> =
        HashMap::with_capacity_and_hasher(rhs.len(), Default::default());
    let mut seen: HashMap<&str, usize> = HashMap::default();
    for e in rhs {
        let name = rules.path(&e.name);
        let n = seen.entry(name).or_insert(0);
        by_name.insert((name, *n), e);
        *n += 1;
    }
    let mut findings = Vec::new();
    let mut seen: HashMap<&str, usize> = HashMap::default();
    for l in lhs {
        let name = rules.path(&l.name);
        let n = seen.entry(name).or_insert(0);
        let key = (name, *n);
        *n += 1;
        let (mut fields, present) = match by_name.remove(&key) {
            Some(r) => (fields(l, r, rules, positional), [Some(l), Some(r)]),
            None => (
                vec![FieldDiff::new(
                    "entry",
                    Some(summary(l)),
                    None,
                    Class::Removed,
                )],
                [Some(l), None],
            ),
        };
        if !fields.is_empty() {
            mount_point(&mut fields, present, rules);
            findings.push(classify::finding(Kind::File, location, name, fields));
        }
    }
    let mut seen: HashMap<&str, usize> = HashMap::default();
    for r in rhs {
        let name = rules.path(&r.name);
        let n = seen.entry(name).or_insert(0);
        if by_name.contains_key(&(name, *n)) {
            let mut fields = vec![FieldDiff::new(
                "entry",
                None,
                Some(summary(r)),
                Class::Added,
            )];
            mount_point(&mut fields, [None, Some(r)], rules);
            findings.push(classify::finding(Kind::File, location, name, fields));
        }
        *n += 1;
    }
    findings
}

/// Classes every field `mount-point` when each entry there is an empty directory or file at a
/// path runtimes mount over (whatever differs, no container sees it), or when the one entry
/// there is a directory a runtime makes for its mounts where the image has none.
fn mount_point(fields: &mut [FieldDiff], present: [Option<&EntryMeta>; 2], rules: &Rules) {
    let trace = match present {
        [Some(l), Some(r)] => normalize::mounted_over(l) && normalize::mounted_over(r),
        [Some(e), None] | [None, Some(e)] => {
            normalize::mounted_over(e) || normalize::made_for_mounts(e)
        }
        [None, None] => false,
    };
    if trace {
        let set_aside = rules.sets_aside(Aspect::MountPoint);
        for f in fields {
            f.class = Class::MountPoint;
            f.counted &= !set_aside;
        }
    }
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

fn mode(m: i64) -> String {
    format!("{m:04o}")
}

/// Records one field when the two sides differ. Values are compared as they are and only
/// rendered for the report when they differ: most fields of most entries are equal, and
/// rendering every one cost more than the walk on layers of many small files.
fn diff<T: PartialEq>(
    out: &mut Vec<FieldDiff>,
    field: &str,
    (l, r): (Option<T>, Option<T>),
    render: impl Fn(T) -> Value,
    class: Class,
    ignored: bool,
) {
    if l != r {
        let d = FieldDiff::new(field, l.map(&render), r.map(&render), class);
        out.push(if ignored { d.set_aside() } else { d });
    }
}

fn text(s: &String) -> Value {
    json!(s)
}

fn rendered(t: &Time) -> Value {
    json!(t.render())
}

/// The fields in which two entries matched by name differ, each classed and marked counted or
/// set aside by the rules.
pub fn fields(l: &EntryMeta, r: &EntryMeta, rules: &Rules, positional: bool) -> Vec<FieldDiff> {
    let mut out = Vec::new();
    identity(&mut out, [l, r], rules);
    ownership(&mut out, [l, r], rules);
    content(&mut out, [l, r]);
    encoding(&mut out, [l, r], rules, positional);
    out
}

/// What the entry is: its name, its type, who made it, where a link points.
fn identity(out: &mut Vec<FieldDiff>, [l, r]: [&EntryMeta; 2], rules: &Rules) {
    diff(
        out,
        "name",
        (Some(&l.name), Some(&r.name)),
        text,
        Class::PathSpelling,
        true,
    );
    diff(
        out,
        "type",
        (Some(l.kind), Some(r.kind)),
        |k| json!(k),
        Class::Content,
        false,
    );
    diff(
        out,
        "made-by",
        (Some(l.implied), Some(r.implied)),
        |implied| json!(if implied { "the runtime" } else { "an entry" }),
        Class::RuntimeDependent,
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
        diff(out, "link", (ll, rl), |s| json!(s), class, spelled_alike);
    }
}

/// Mode and owner: what the runtime applies to the file.
fn ownership(out: &mut Vec<FieldDiff>, [l, r]: [&EntryMeta; 2], rules: &Rules) {
    let perm_equal = l.mode & 0o7777 == r.mode & 0o7777;
    diff(
        out,
        "mode",
        (Some(l.mode), Some(r.mode)),
        |m| json!(mode(m)),
        Class::Permission,
        perm_equal && rules.sets_aside(Aspect::RedundantModeBits),
    );
    for (field, lv, rv) in [("uid", l.uid, r.uid), ("gid", l.gid, r.gid)] {
        diff(
            out,
            field,
            (Some(lv), Some(rv)),
            |n| json!(n),
            Class::Ownership,
            false,
        );
    }
    // Runtimes apply the ids: a name is only a name where they are equal.
    let owner_name = rules.sets_aside(Aspect::OwnerName);
    for (field, lv, rv, same_id) in [
        ("uname", &l.uname, &r.uname, l.uid == r.uid),
        ("gname", &l.gname, &r.gname, l.gid == r.gid),
    ] {
        let class = if same_id {
            Class::OwnerName
        } else {
            Class::Ownership
        };
        diff(
            out,
            field,
            (Some(lv), Some(rv)),
            text,
            class,
            same_id && owner_name,
        );
    }
}

/// What the entry holds: device numbers, size, digest, extended attributes and PAX records.
fn content(out: &mut Vec<FieldDiff>, [l, r]: [&EntryMeta; 2]) {
    diff(
        out,
        "device",
        (l.device, r.device),
        |(ma, mi)| json!(format!("{ma},{mi}")),
        Class::Metadata,
        false,
    );
    if l.kind == EntryType::File || r.kind == EntryType::File {
        diff(
            out,
            "size",
            (Some(l.size), Some(r.size)),
            |n| json!(n),
            Class::Content,
            false,
        );
    }
    diff(
        out,
        "digest",
        (l.digest.as_ref(), r.digest.as_ref()),
        |d| json!(d),
        Class::Content,
        false,
    );
    for (prefix, lm, rm) in [("xattr", &l.xattrs, &r.xattrs), ("pax", &l.pax, &r.pax)] {
        for key in lm.keys().chain(rm.keys().filter(|k| !lm.contains_key(*k))) {
            diff(
                out,
                &format!("{prefix}:{key}"),
                (lm.get(key), rm.get(key)),
                text,
                Class::Metadata,
                false,
            );
        }
    }
}

/// How the entry was written down: times, position in the layer, tar format.
fn encoding(out: &mut Vec<FieldDiff>, [l, r]: [&EntryMeta; 2], rules: &Rules, positional: bool) {
    let ts = rules.sets_aside(Aspect::FileTimestamp);
    for (field, lt, rt) in [
        ("mtime", Some(&l.mtime), Some(&r.mtime)),
        ("atime", l.atime.as_ref(), r.atime.as_ref()),
        ("ctime", l.ctime.as_ref(), r.ctime.as_ref()),
    ] {
        diff(out, field, (lt, rt), rendered, Class::Timestamp, ts);
    }
    if positional {
        diff(
            out,
            "position",
            (Some(l.position), Some(r.position)),
            |n| json!(n),
            Class::Order,
            rules.sets_aside(Aspect::EntryOrder),
        );
    }
    diff(
        out,
        "format",
        (Some(l.format), Some(r.format)),
        |f| json!(f),
        Class::TarFormat,
        rules.sets_aside(Aspect::TarFormat),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, size: u64, position: usize) -> EntryMeta {
        EntryMeta {
            size,
            position,
            ..EntryMeta::new(name, EntryType::File)
        }
    }

    #[test]
    fn the_nth_occurrence_of_a_name_meets_the_nth() {
        let listing = [file("a", 1, 0), file("b", 2, 1), file("a", 3, 2)];
        assert!(compare(&listing, &listing, &Rules::default(), "l", true).is_empty());
        let swapped = [file("a", 3, 0), file("b", 2, 1), file("a", 1, 2)];
        let found = compare(&listing, &swapped, &Rules::default(), "l", true);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found
                .iter()
                .all(|f| f.name == "a" && f.class == Class::Content)
        );
        let fewer = [file("a", 1, 0), file("b", 2, 1)];
        let found = compare(&listing, &fewer, &Rules::default(), "l", true);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].class, Class::Removed);
        let found = compare(&fewer, &listing, &Rules::default(), "l", true);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].class, Class::Added);
    }

    #[test]
    fn a_respelled_path_is_one_entry_whose_spelling_is_set_aside() {
        let rules = Rules {
            treat_canonical_paths_equal: true,
            ..Rules::default()
        };
        let found = compare(&[file("./a", 1, 0)], &[file("a", 1, 0)], &rules, "l", true);
        assert_eq!(found.len(), 1, "{found:?}");
        let name = &found[0].fields[0];
        assert_eq!(
            (name.field.as_str(), &name.lhs, &name.rhs, name.counted),
            ("name", &Some(json!("./a")), &Some(json!("a")), false)
        );
        assert_eq!(found[0].class, Class::PathSpelling);
    }

    #[test]
    fn a_link_replaced_by_a_file_names_the_link_it_was() {
        let link = EntryMeta {
            link: Some("target".into()),
            ..EntryMeta::new("a", EntryType::Symlink)
        };
        for (l, r) in [(&link, &file("a", 4, 0)), (&file("a", 4, 0), &link)] {
            let fields = fields(l, r, &Rules::default(), true);
            let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
            assert_eq!(names, ["type", "link", "size"]);
        }
    }

    #[test]
    fn a_link_target_respelled_is_set_aside_and_another_counts() {
        let link = |target: &str| EntryMeta {
            link: Some(target.into()),
            ..EntryMeta::new("a", EntryType::Symlink)
        };
        let canonical = Rules {
            treat_canonical_paths_equal: true,
            ..Rules::default()
        };
        let found = compare(&[link("/etc/x")], &[link("etc/x")], &canonical, "l", true);
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].class, found[0].counted),
            (Class::PathSpelling, false)
        );
        // Strictly, another spelling is another target.
        let found = compare(
            &[link("/etc/x")],
            &[link("etc/x")],
            &Rules::default(),
            "l",
            true,
        );
        assert_eq!((found[0].class, found[0].counted), (Class::Content, true));
        let found = compare(&[link("etc/x")], &[link("etc/y")], &canonical, "l", true);
        assert_eq!((found[0].class, found[0].counted), (Class::Content, true));
    }
}
