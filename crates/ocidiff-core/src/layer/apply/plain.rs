//! Whether a layer stands alone, decided entry by entry as it streams past and in one hash per
//! name: [`Tree::apply_alone`]'s question for the layers builders write — every parent named as
//! a directory before what is in it, each path once, hard links only to files the layer wrote
//! before, nothing a runtime treats differently — without building the tree. Any other layer
//! is "not plain", and the caller applies it with the full model. For a plain layer,
//! `apply_alone` finds it stands alone and notes nothing (a property test checks this).
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
    /// A hash of each path written, with the kind written there in its low two bits; `None`
    /// once an entry was not plain. Seeded per process: two names that hash alike (about one
    /// chance in 2^62 a pair) can only make a plain layer look like one that is not — or, for
    /// a parent, the other way round, which an attacker cannot aim at without the seed.
    names: Option<HashSet<u64, ByName>>,
    seed: foldhash::fast::RandomState,
    hardlinks: bool,
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
            names: Some(HashSet::default()),
            seed: foldhash::fast::RandomState::default(),
            hardlinks: false,
        }
    }
}

impl Plain {
    /// Takes the next entry of the layer.
    pub fn push(&mut self, e: &EntryMeta) {
        if self.names.is_some() && !self.accepts(e) {
            // Not plain: the memory goes now.
            self.names = None;
        }
    }

    /// Every entry so far was plain.
    pub fn plain(&self) -> bool {
        self.names.is_some()
    }

    /// The layer holds a hard link: its order relative to the file it names matters.
    pub fn hardlinks(&self) -> bool {
        self.hardlinks
    }

    /// The hash of the path `comps` (kind bits clear), and of its parent.
    fn hash(&self, comps: &[&str]) -> (u64, u64) {
        let mut h = self.seed.build_hasher();
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

    fn has(&self, key: u64, kind: u64) -> bool {
        self.names
            .as_ref()
            .is_some_and(|n| n.contains(&(key | kind)))
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
        let (key, parent) = self.hash(&comps);
        if (0..=KIND).any(|kind| self.has(key, kind)) {
            return false;
        }
        if comps.is_empty() {
            // The root, which every runtime makes 0755 and owned by 0:0 anyway.
            let default =
                e.kind == EntryType::Dir && e.mode & 0o7777 == 0o755 && e.uid == 0 && e.gid == 0;
            return default && self.insert(key | DIR);
        }
        if comps.len() > 1 && !self.has(parent, DIR) {
            return false;
        }
        let kind = match e.kind {
            EntryType::Dir => DIR,
            EntryType::File if e.xattrs.contains_key("security.capability") => {
                FILE_WITH_CAPABILITIES
            }
            EntryType::File => FILE,
            EntryType::Symlink | EntryType::Char | EntryType::Block | EntryType::Fifo => OTHER,
            EntryType::Hardlink => {
                let (target, escaped) = components(e.link.as_deref().unwrap_or_default());
                if escaped || target.is_empty() || !e.xattrs.is_empty() {
                    return false;
                }
                let (target, _) = self.hash(&target);
                if !self.has(target, FILE) {
                    return false;
                }
                self.hardlinks = true;
                FILE
            }
            EntryType::GlobalHeader | EntryType::Other(_) => return false,
        };
        self.insert(key | kind)
    }

    fn insert(&mut self, key: u64) -> bool {
        self.names.as_mut().is_some_and(|n| n.insert(key))
    }
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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
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
