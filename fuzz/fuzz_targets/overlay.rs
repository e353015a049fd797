#![no_main]

use libfuzzer_sys::fuzz_target;
use ocidiff_core::layer::{EntryMeta, EntryType, Listing, Tree, clean};
use ocidiff_core::model::{Compression, Digest};

fn listing(entries: Vec<EntryMeta>) -> std::sync::Arc<Listing> {
    std::sync::Arc::new(Listing {
        compression: Compression::None,
        entries,
        diff_id: Digest::sha256_of(b""),
    })
}

// Input: layers separated by `\n\n`, entries by `\n`; a trailing `/` makes a directory. Applying
// them succeeds or is refused as every runtime would refuse it, and what it leaves stays inside
// the root with no whiteout kept as a file.
fuzz_target!(|input: &str| {
    let mut tree = Tree::default();
    for (i, layer) in input.split("\n\n").enumerate() {
        let entries: Vec<EntryMeta> = layer
            .lines()
            .enumerate()
            .map(|(p, l)| EntryMeta {
                position: p,
                layer: i,
                ..EntryMeta::new(l, if l.ends_with('/') { EntryType::Dir } else { EntryType::File })
            })
            .collect();
        if tree.apply(i, listing(entries), &std::collections::HashSet::new()).is_err() {
            return;
        }
    }
    for e in tree.listing() {
        assert!(!e.name.is_empty());
        assert_eq!(clean(&e.name), e.name);
        // A whiteout's name stays only as a directory made for a missing parent (`.wh.a/x`).
        assert!(e.implied || !e.name.rsplit('/').next().unwrap_or_default().starts_with(".wh."));
    }
});
