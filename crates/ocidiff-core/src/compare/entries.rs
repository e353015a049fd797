//! Comparing two lists of tar entries, field by field, under the ignore rules.

use std::borrow::Borrow;
use std::collections::{VecDeque, hash_map};
use std::hash::BuildHasher;

use foldhash::HashMap;
use serde_json::{Value, json};

use super::classify;
use crate::finding::{Class, FieldDiff, Finding, Kind};
use crate::layer::{EntryMeta, EntryType, Time};
use crate::model::Side;
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
    let mut join = Join::new(rules, location, positional);
    for l in lhs {
        join.push(Side::Lhs, l);
    }
    for r in rhs {
        join.push(Side::Rhs, r);
    }
    join.finish().findings
}

/// [`compare`] for entries that arrive from both sides in any interleaving: only the entries
/// not matched yet are held, so two layers that list their entries in the same order, read
/// side by side, take memory for the distance between the readers rather than for their
/// length; entries out of order wait for their match.
pub struct Join<'a, E> {
    rules: &'a Rules,
    location: &'a str,
    positional: bool,
    /// Each side's entries waiting for their match, by a hash of their name as the rules see
    /// it. For one name, only one side ever has entries waiting.
    waiting: [HashMap<u64, Waiting<E>>; 2],
    // foldhash, seeded per process: SipHash was a tenth of the time on 100 000 entries.
    hasher: foldhash::fast::RandomState,
    /// Each finding with the key that puts it in walk order: entries matched or on the left
    /// only by their position on the left, then entries on the right only by theirs.
    found: Vec<((bool, usize), Finding)>,
}

/// What a [`Join`] gives once both sides are done.
pub struct Joined {
    /// As [`compare`] gives them.
    pub findings: Vec<Finding>,
    /// Some entry is on one side only.
    pub one_sided: bool,
}

/// The entries waiting under one hash, oldest first (usually one, of one name).
enum Waiting<E> {
    One(E),
    Many(VecDeque<E>),
}

impl<'a, E: Borrow<EntryMeta>> Join<'a, E> {
    /// An empty join of entries found at `location`.
    pub fn new(rules: &'a Rules, location: &'a str, positional: bool) -> Self {
        Join {
            rules,
            location,
            positional,
            waiting: [HashMap::default(), HashMap::default()],
            hasher: foldhash::fast::RandomState::default(),
            found: Vec::new(),
        }
    }

    /// Takes the next entry of `side`.
    pub fn push(&mut self, side: Side, e: E) {
        let rules = self.rules;
        let name = rules.path(&e.borrow().name);
        let hash = self.hasher.hash_one(name);
        let same = |w: &E| rules.path(&w.borrow().name) == name;
        match take(&mut self.waiting[side.other().i()], hash, same) {
            Some(w) => self.matched(side, e.borrow(), w.borrow()),
            None => put(&mut self.waiting[side.i()], hash, e),
        }
    }

    fn matched(&mut self, side: Side, e: &EntryMeta, waiting: &EntryMeta) {
        let (l, r) = match side {
            Side::Lhs => (e, waiting),
            Side::Rhs => (waiting, e),
        };
        if let Some(f) = pair_finding(
            [Some(l), Some(r)],
            self.rules,
            self.location,
            self.positional,
        ) {
            self.found.push(((false, l.position), f));
        }
    }

    /// The findings, in walk order, once both sides are done: what still waits is on one side
    /// only.
    pub fn finish(mut self) -> Joined {
        let mut one_sided = false;
        for side in Side::BOTH {
            for waiting in std::mem::take(&mut self.waiting[side.i()]).into_values() {
                let entries = match waiting {
                    Waiting::One(e) => vec![e],
                    Waiting::Many(queue) => queue.into(),
                };
                for e in entries {
                    one_sided = true;
                    let e = e.borrow();
                    let present = match side {
                        Side::Lhs => [Some(e), None],
                        Side::Rhs => [None, Some(e)],
                    };
                    if let Some(f) =
                        pair_finding(present, self.rules, self.location, self.positional)
                    {
                        self.found.push(((side == Side::Rhs, e.position), f));
                    }
                }
            }
        }
        self.found.sort_by_key(|(key, _)| *key);
        Joined {
            findings: self.found.into_iter().map(|(_, f)| f).collect(),
            one_sided,
        }
    }
}

/// Takes the oldest entry waiting under `hash` that is `same`.
fn take<E>(
    waiting: &mut HashMap<u64, Waiting<E>>,
    hash: u64,
    same: impl Fn(&E) -> bool,
) -> Option<E> {
    let hash_map::Entry::Occupied(mut slot) = waiting.entry(hash) else {
        return None;
    };
    if let Waiting::Many(queue) = slot.get_mut() {
        let taken = queue.iter().position(&same).and_then(|i| queue.remove(i));
        if queue.is_empty() {
            slot.remove();
        }
        return taken;
    }
    if !matches!(slot.get(), Waiting::One(w) if same(w)) {
        return None;
    }
    match slot.remove() {
        Waiting::One(w) => Some(w),
        Waiting::Many(_) => None,
    }
}

/// Puts `e` to wait under `hash`, after the entries already there.
fn put<E>(waiting: &mut HashMap<u64, Waiting<E>>, hash: u64, e: E) {
    match waiting.entry(hash) {
        hash_map::Entry::Vacant(slot) => {
            slot.insert(Waiting::One(e));
        }
        hash_map::Entry::Occupied(mut slot) => {
            let slot = slot.get_mut();
            let mut queue = match std::mem::replace(slot, Waiting::Many(VecDeque::new())) {
                Waiting::One(first) => VecDeque::from([first]),
                Waiting::Many(queue) => queue,
            };
            queue.push_back(e);
            *slot = Waiting::Many(queue);
        }
    }
}

/// The finding about one entry matched on both sides, or present on one side only; `None`
/// when nothing differs.
fn pair_finding(
    present: [Option<&EntryMeta>; 2],
    rules: &Rules,
    location: &str,
    positional: bool,
) -> Option<Finding> {
    let (mut fields, name) = match present {
        [Some(l), Some(r)] => (fields(l, r, rules, positional), &l.name),
        [Some(l), None] => (
            vec![FieldDiff::new(
                "entry",
                Some(summary(l)),
                None,
                Class::Removed,
            )],
            &l.name,
        ),
        [None, Some(r)] => (
            vec![FieldDiff::new(
                "entry",
                None,
                Some(summary(r)),
                Class::Added,
            )],
            &r.name,
        ),
        [None, None] => return None,
    };
    if fields.is_empty() {
        return None;
    }
    mount_point(&mut fields, present, rules);
    Some(classify::finding(
        Kind::File,
        location,
        rules.path(name),
        fields,
    ))
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

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]
        /// However the two sides' entries interleave, the join finds what [`compare`] finds,
        /// in the same order.
        #[test]
        fn any_interleaving_joins_alike(
            lhs in proptest::collection::vec((0usize..6, 0u64..3), 0..12),
            rhs in proptest::collection::vec((0usize..6, 0u64..3), 0..12),
            turns in proptest::collection::vec(proptest::bool::ANY, 24),
        ) {
            let names = ["a", "b", "./a", "c/d", "e", "f"];
            let list = |spec: &[(usize, u64)]| -> Vec<EntryMeta> {
                spec.iter().enumerate().map(|(i, &(n, size))| file(names[n], size, i)).collect()
            };
            let (lhs, rhs) = (list(&lhs), list(&rhs));
            let rules = Rules { treat_canonical_paths_equal: true, ..Rules::default() };
            let whole = compare(&lhs, &rhs, &rules, "l", true);
            let mut join = Join::new(&rules, "l", true);
            let (mut l, mut r) = (lhs.iter(), rhs.iter());
            for lhs_turn in turns.iter().chain(std::iter::repeat_n(&true, 24)) {
                if *lhs_turn {
                    if let Some(e) = l.next() { join.push(Side::Lhs, e); }
                } else if let Some(e) = r.next() {
                    join.push(Side::Rhs, e);
                }
            }
            for e in r { join.push(Side::Rhs, e); }
            let joined = join.finish();
            proptest::prop_assert_eq!(format!("{:?}", joined.findings), format!("{whole:?}"));
            let same_names = |a: &[EntryMeta], b: &[EntryMeta]| {
                let mut a: Vec<&str> = a.iter().map(|e| rules.path(&e.name)).collect();
                let mut b: Vec<&str> = b.iter().map(|e| rules.path(&e.name)).collect();
                a.sort_unstable();
                b.sort_unstable();
                a == b
            };
            proptest::prop_assert_eq!(joined.one_sided, !same_names(&lhs, &rhs));
        }
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
