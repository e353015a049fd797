//! Whether a layer stands alone, decided entry by entry as it streams past: [`Tree::apply_alone`]'s
//! question for the layers builders write — every parent named as a directory before what is
//! in it, each path once, hard links only to files the layer wrote before, nothing a runtime
//! treats differently — without building the tree. Any other layer is "not plain", and the
//! caller applies it with the full model. For a plain layer, `apply_alone` finds it stands
//! alone and notes nothing (a property test checks this).
//!
//! Builders walk directories in sorted order (Go's `filepath.Walk`, BuildKit's and
//! containers/storage's walkers), so most layers are checked against the chain of directories
//! the walk is in: a path is new when it sorts after its parent's last child. Only a layer that
//! leaves that order, or holds a hard link, is checked with one hash per name from then on, the
//! names so far hashed in. A set of a million hashes misses the cache on every lookup: the
//! ordered check keeps the cost per entry flat as layers grow.
//!
//! [`Tree::apply_alone`]: super::Tree::apply_alone

use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

use super::paths::components;
use crate::layer::{EntryMeta, EntryType};

/// What a path holds, in the low two bits of its name's hash.
const DIR: u64 = 0;
const FILE: u64 = 1;
/// A file whose capabilities a hard link to it could keep or drop (a note of its own).
const FILE_WITH_CAPABILITIES: u64 = 2;
const OTHER: u64 = 3;
const KIND: u64 = 3;

/// The check, fed one entry at a time in stream order.
pub struct Plain {
    state: State,
    seed: foldhash::fast::RandomState,
    hardlinks: bool,
}

enum State {
    /// Every entry so far came in walk order.
    Ordered(Walk),
    /// A hash of each path written, with the kind written there in its low two bits. Seeded
    /// per process: two names that hash alike (about one chance in 2^62 a pair) can only make
    /// a plain layer look like one that is not — or, for a parent, the other way round, which
    /// an attacker cannot aim at without the seed.
    Hashed(HashSet<u64, ByName>),
    /// An entry was not plain: the memory went.
    Not,
}

/// The walk a sorted layer follows: the directories it is in, from the root, each with the
/// last name written in it.
struct Walk {
    /// `frames[0]` is the root; only the first `depth` are current (the others keep their
    /// buffers for the next directories entered).
    frames: Vec<Frame>,
    depth: usize,
    /// Every path so far, hashed as [`State::Hashed`] keeps it, in case the order ends.
    keys: Vec<u64>,
}

#[derive(Default)]
struct Frame {
    name: String,
    /// The last name written in this directory, empty before the first (no component is).
    last: String,
}

impl Walk {
    fn new() -> Walk {
        Walk {
            frames: vec![Frame::default()],
            depth: 1,
            keys: Vec::new(),
        }
    }

    /// Takes the path `comps` when it continues the walk: its parent is a directory of the
    /// chain and it sorts after everything written there. A path written before cannot: its
    /// parent's last name only grows while the parent is current, and a directory left is
    /// current again only through a second entry of its own, which its parent refuses.
    fn follows(&mut self, comps: &[&str], dir: bool) -> bool {
        let Some((&name, parents)) = comps.split_last() else {
            // The root, before anything else.
            return self.keys.is_empty();
        };
        let n = comps.len();
        if self.depth < n
            || !parents
                .iter()
                .zip(&self.frames[1..n])
                .all(|(c, f)| f.name == *c)
        {
            return false;
        }
        let parent = &mut self.frames[n - 1];
        if name <= parent.last.as_str() {
            return false;
        }
        parent.last.clear();
        parent.last.push_str(name);
        self.depth = n;
        if dir {
            if self.frames.len() == n {
                self.frames.push(Frame::default());
            }
            let f = &mut self.frames[n];
            f.name.clear();
            f.name.push_str(name);
            f.last.clear();
            self.depth = n + 1;
        }
        true
    }
}

/// Places a key in the set by its name alone, the kind bits rotated to the top: the four
/// lookups of one name's kinds then probe the same slots, one cache miss instead of four on a
/// layer of a million names (its keys are seeded hashes already, so they need no more mixing).
type ByName = BuildHasherDefault<ByNameHasher>;

#[derive(Default)]
struct ByNameHasher(u64);

impl Hasher for ByNameHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = key.rotate_right(KIND.count_ones());
    }

    /// Not called for `u64` keys; folded in all the same, should a caller ever hash bytes.
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
}

impl Default for Plain {
    fn default() -> Plain {
        Plain {
            state: State::Ordered(Walk::new()),
            seed: foldhash::fast::RandomState::default(),
            hardlinks: false,
        }
    }
}

impl Plain {
    /// Takes the next entry of the layer.
    pub fn push(&mut self, e: &EntryMeta) {
        if !matches!(self.state, State::Not) && !self.accepts(e) {
            self.state = State::Not;
        }
    }

    /// Every entry so far was plain.
    pub fn plain(&self) -> bool {
        !matches!(self.state, State::Not)
    }

    /// The layer holds a hard link: its order relative to the file it names matters.
    pub fn hardlinks(&self) -> bool {
        self.hardlinks
    }

    fn accepts(&mut self, e: &EntryMeta) -> bool {
        let (comps, escaped) = components(&e.name);
        let noted_xattr = e
            .xattrs
            .iter()
            .any(|(k, v)| v.is_empty() || k.starts_with("trusted.") || k == "security.selinux");
        let device_fits = e.device.is_none_or(|(major, minor)| {
            u32::try_from(major).is_ok() && u32::try_from(minor).is_ok()
        });
        if escaped || noted_xattr || !device_fits || comps.iter().any(|c| c.starts_with(".wh.")) {
            return false;
        }
        if comps.is_empty() {
            // The root, which every runtime makes 0755 and owned by 0:0 anyway.
            let default =
                e.kind == EntryType::Dir && e.mode & 0o7777 == 0o755 && e.uid == 0 && e.gid == 0;
            if !default {
                return false;
            }
        }
        let kind = match e.kind {
            EntryType::Dir => DIR,
            EntryType::File if e.xattrs.contains_key("security.capability") => {
                FILE_WITH_CAPABILITIES
            }
            // A hard link writes a file, checked below as one of the file it names.
            EntryType::File | EntryType::Hardlink => FILE,
            EntryType::Symlink | EntryType::Char | EntryType::Block | EntryType::Fifo => OTHER,
            EntryType::GlobalHeader | EntryType::Other(_) => return false,
        };
        let (key, parent) = hash(&self.seed, &comps);
        if let State::Ordered(walk) = &mut self.state {
            if e.kind != EntryType::Hardlink && walk.follows(&comps, e.kind == EntryType::Dir) {
                walk.keys.push(key | kind);
                return true;
            }
            let keys = std::mem::take(&mut walk.keys);
            let mut names = HashSet::with_capacity_and_hasher(keys.len(), ByName::default());
            names.extend(keys);
            self.state = State::Hashed(names);
        }
        // Left the walk just above, or before: only the set decides from here.
        let State::Hashed(names) = &mut self.state else {
            return false;
        };
        if (0..=KIND).any(|kind| names.contains(&(key | kind))) {
            return false;
        }
        if comps.len() > 1 && !names.contains(&(parent | DIR)) {
            return false;
        }
        if e.kind == EntryType::Hardlink {
            let (target, escaped) = components(e.link.as_deref().unwrap_or_default());
            if escaped
                || target.is_empty()
                || !e.xattrs.is_empty()
                || !names.contains(&(hash(&self.seed, &target).0 | FILE))
            {
                return false;
            }
            self.hardlinks = true;
        }
        names.insert(key | kind)
    }
}

/// The hash of the path `comps` and that of its parent, taken on the way (a hasher's copy
/// costs less than hashing the parent again), each with its low two bits clear for the kind.
fn hash(seed: &foldhash::fast::RandomState, comps: &[&str]) -> (u64, u64) {
    let mut h = seed.build_hasher();
    let mut parent = 0;
    for (i, c) in comps.iter().enumerate() {
        if i + 1 == comps.len() {
            parent = h.clone().finish() & !KIND;
        }
        h.write(c.as_bytes());
        h.write_u8(b'/');
    }
    (h.finish() & !KIND, parent)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::*;
    use crate::layer::{Listing, Tree};
    use crate::model::{Compression, Digest};

    fn entry(name: &str, kind: EntryType) -> EntryMeta {
        let mut e = EntryMeta::new(name, kind);
        if kind == EntryType::Dir {
            e.mode = 0o755;
        }
        e
    }

    fn plain(entries: &[EntryMeta]) -> Plain {
        let mut p = Plain::default();
        for e in entries {
            p.push(e);
        }
        p
    }

    #[test]
    fn one_names_kinds_share_their_slots_and_keep_their_tags() {
        let slot = |h: u64| h & (u64::MAX >> 7);
        let tag = |h: u64| h >> 57;
        let hash = |key: u64| ByName::default().hash_one(key);
        for name in [0u64, 0x1234_5678_9abc_def0 & !KIND, !KIND] {
            let hashes: Vec<u64> = (0..=KIND).map(|kind| hash(name | kind)).collect();
            assert!(
                hashes.iter().all(|&h| slot(h) == slot(hashes[0])),
                "{hashes:x?}"
            );
            let tags: HashSet<u64> = hashes.iter().map(|&h| tag(h)).collect();
            assert_eq!(tags.len(), hashes.len(), "{hashes:x?}");
        }
        assert_ne!(slot(hash(4)), slot(hash(8)));
    }

    #[test]
    fn what_builders_write_is_plain() {
        let mut link = entry("d/l", EntryType::Hardlink);
        link.link = Some("/d/f".into());
        let layer = [
            entry("./", EntryType::Dir),
            entry("d/", EntryType::Dir),
            entry("d/f", EntryType::File),
            entry("./d/s", EntryType::Symlink),
            link,
        ];
        let p = plain(&layer);
        assert!(p.plain() && p.hardlinks());
        for not_plain in [
            vec![entry("d/f", EntryType::File)],
            vec![entry("d", EntryType::File), entry("d/f", EntryType::File)],
            vec![entry("f", EntryType::File), entry("./f", EntryType::File)],
            vec![entry(".wh.f", EntryType::File)],
            vec![entry("../f", EntryType::File)],
            vec![
                entry("d/", EntryType::Dir),
                entry("d/.wh..wh..opq", EntryType::File),
            ],
        ] {
            assert!(!plain(&not_plain).plain(), "{not_plain:?}");
        }
        // Attributes and device numbers that runtimes treat differently, each alone.
        let with = |edit: fn(&mut EntryMeta)| {
            let mut e = entry("f", EntryType::File);
            edit(&mut e);
            plain(&[e]).plain()
        };
        assert!(with(|e| {
            e.xattrs.insert("user.a".into(), "x".into());
        }));
        assert!(!with(|e| {
            e.xattrs.insert("security.selinux".into(), "x".into());
        }));
        assert!(!with(|e| {
            e.xattrs.insert("trusted.a".into(), "x".into());
        }));
        // Hard links: to a file written before, plain; climbing out of the root, carrying
        // attributes of their own, or to a file with capabilities (which a link may keep or
        // drop), not.
        let linked = |target: &str, edit: fn(&mut EntryMeta), caps: bool| {
            let mut f = entry("f", EntryType::File);
            if caps {
                f.xattrs.insert("security.capability".into(), "x".into());
            }
            let mut l = entry("l", EntryType::Hardlink);
            l.link = Some(target.into());
            edit(&mut l);
            plain(&[f, l]).plain()
        };
        assert!(linked("f", |_| {}, false));
        assert!(!linked("../f", |_| {}, false));
        assert!(!linked("", |_| {}, false));
        assert!(!linked("g", |_| {}, false));
        assert!(!linked(
            "f",
            |l| {
                l.xattrs.insert("user.a".into(), "x".into());
            },
            false
        ));
        assert!(!linked("f", |_| {}, true));
        // The root as every runtime makes it, and not: another mode or owner, or not a
        // directory, each alone.
        let root = |edit: fn(&mut EntryMeta)| {
            let mut e = entry("./", EntryType::Dir);
            edit(&mut e);
            plain(&[e, entry("f", EntryType::File)]).plain()
        };
        assert!(root(|_| {}));
        assert!(!root(|e| e.mode = 0o700));
        assert!(!root(|e| e.uid = 1));
        assert!(!root(|e| e.gid = 1));
        assert!(!root(|e| e.kind = EntryType::File));
        assert!(with(|e| e.device = Some((1, 3))));
        assert!(!with(|e| e.device = Some((1 << 32, 3))));
        assert!(!with(|e| e.device = Some((1, 1 << 32))));
    }

    fn arb_entry() -> impl Strategy<Value = EntryMeta> {
        let names = prop::sample::select(vec![
            "a",
            "a/",
            "./a",
            "/a",
            "b",
            "a/b",
            "a/b/c",
            "b/a",
            "a/.wh.b",
            ".wh.a",
            "a/.wh..wh..opq",
            "",
            "./",
            "../a",
            "a/../b",
            ".wh..wh.plnk",
        ]);
        let kinds = prop::sample::select(vec![
            EntryType::File,
            EntryType::Dir,
            EntryType::Dir,
            EntryType::Symlink,
            EntryType::Hardlink,
            EntryType::Fifo,
            EntryType::GlobalHeader,
        ]);
        (
            names,
            kinds,
            prop::sample::select(vec!["a", "a/b", "b", "../a", ""]),
            0u8..8,
        )
            .prop_map(|(name, kind, link, odd)| {
                let mut e = entry(name, kind);
                e.link = Some(link.into());
                match odd {
                    0 => e.mode = 0o700,
                    1 => {
                        e.xattrs.insert("security.capability".into(), "x".into());
                    }
                    2 => {
                        e.xattrs.insert("user.a".into(), String::new());
                    }
                    _ => {}
                }
                e
            })
    }

    impl Plain {
        /// The check with every name hashed from the start, as it was before the ordered one.
        fn hashed() -> Plain {
            Plain {
                state: State::Hashed(HashSet::default()),
                ..Plain::default()
            }
        }
    }

    fn ordered(p: &Plain) -> bool {
        matches!(p.state, State::Ordered(_))
    }

    #[test]
    fn a_sorted_walk_is_checked_in_order() {
        let walk = [
            entry("./", EntryType::Dir),
            entry("a/", EntryType::Dir),
            entry("a/b/", EntryType::Dir),
            entry("a/b/c", EntryType::File),
            entry("a/b/d", EntryType::Symlink),
            entry("a/c", EntryType::File),
            entry("a.txt", EntryType::File),
            entry("b/", EntryType::Dir),
            entry("b/a", EntryType::Fifo),
        ];
        let p = plain(&walk);
        assert!(p.plain() && ordered(&p) && !p.hardlinks());

        // Sorted by whole path, as some tools write: `a.txt` before `a/b` ('.' < '/').
        let by_path = [
            entry("a/", EntryType::Dir),
            entry("a.txt", EntryType::File),
            entry("a/b", EntryType::File),
        ];
        let p = plain(&by_path);
        assert!(p.plain() && !ordered(&p));

        // A directory left and written again, a path twice, a root after other entries.
        for not_plain in [
            vec![
                entry("a/", EntryType::Dir),
                entry("b/", EntryType::Dir),
                entry("a/", EntryType::Dir),
            ],
            vec![entry("a", EntryType::File), entry("a", EntryType::Fifo)],
            vec![entry("a/", EntryType::Dir), entry("a/", EntryType::Dir)],
            vec![
                entry("a/", EntryType::Dir),
                entry("a/b", EntryType::File),
                entry("c", EntryType::File),
                entry("a/d", EntryType::File),
                entry("a/b", EntryType::File),
            ],
        ] {
            assert!(!plain(&not_plain).plain(), "{not_plain:?}");
        }
        let mut late_root = vec![entry("a", EntryType::File), entry("./", EntryType::Dir)];
        let p = plain(&late_root);
        assert!(p.plain() && !ordered(&p));
        late_root.push(entry("/", EntryType::Dir));
        assert!(!plain(&late_root).plain());
    }

    /// A layer as a builder walks it: a random tree, each directory before what it holds and
    /// its names sorted; then a few entries moved, repeated, dropped or turned into hard links.
    fn arb_walk() -> impl Strategy<Value = Vec<EntryMeta>> {
        let tree = prop::collection::btree_set(
            prop::collection::vec(prop::sample::select(vec!["a", "a.b", "b", "c"]), 1..4),
            0..24,
        );
        let edits = prop::collection::vec(
            (
                0u8..4,
                any::<prop::sample::Index>(),
                any::<prop::sample::Index>(),
            ),
            0..3,
        );
        (tree, edits).prop_map(|(paths, edits)| {
            let mut dirs = std::collections::BTreeSet::new();
            for p in &paths {
                for n in 1..p.len() {
                    dirs.insert(p[..n].to_vec());
                }
            }
            let mut all: Vec<(Vec<&str>, bool)> = paths
                .iter()
                .map(|p| (p.clone(), dirs.contains(p)))
                .chain(
                    dirs.iter()
                        .filter(|d| !paths.contains(*d))
                        .map(|d| (d.clone(), true)),
                )
                .collect();
            // Component-wise order is the walk's order.
            all.sort();
            let mut entries: Vec<EntryMeta> = all
                .into_iter()
                .map(|(p, dir)| {
                    let kind = if dir { EntryType::Dir } else { EntryType::File };
                    entry(&p.join("/"), kind)
                })
                .collect();
            for (edit, i, j) in edits {
                if entries.is_empty() {
                    break;
                }
                let (i, j) = (i.index(entries.len()), j.index(entries.len()));
                match edit {
                    0 => entries.swap(i, j),
                    1 => entries.insert(j, entries[i].clone()),
                    2 => {
                        entries.remove(i);
                    }
                    _ => {
                        let mut link =
                            entry(&format!("{}.l", entries[i].name), EntryType::Hardlink);
                        link.link = Some(entries[j].name.clone());
                        entries.insert(i.max(j) + 1, link);
                    }
                }
            }
            entries
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn the_ordered_check_decides_as_the_hashed_one(entries in prop_oneof![arb_walk(), prop::collection::vec(arb_entry(), 0..8)]) {
            let mut fast = Plain::default();
            let mut hashed = Plain::hashed();
            for e in &entries {
                fast.push(e);
                hashed.push(e);
                prop_assert_eq!(fast.plain(), hashed.plain(), "{:?}", entries);
                prop_assert_eq!(fast.hardlinks(), hashed.hardlinks(), "{:?}", entries);
            }
        }

        #[test]
        fn a_plain_layer_stands_alone_and_notes_nothing(entries in prop::collection::vec(arb_entry(), 0..8)) {
            let entries: Vec<EntryMeta> = entries
                .into_iter()
                .enumerate()
                .map(|(i, mut e)| { e.position = i; e })
                .collect();
            if plain(&entries).plain() {
                let listing = Listing {
                    compression: Compression::None,
                    entries: entries.clone(),
                    diff_id: Digest::sha256_of(b""),
                };
                let applied = Tree::apply_alone(0, Arc::new(listing));
                let applied = applied.map(|a| a.map(|a| a.notes));
                prop_assert!(matches!(&applied, Ok(Some(notes)) if notes.is_empty()), "{entries:?}: {applied:?}");
            }
        }
    }
}
