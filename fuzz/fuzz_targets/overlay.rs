#![no_main]

use libfuzzer_sys::fuzz_target;
use ocidiff_core::compare::layer::{EntryMeta, EntryType};
use ocidiff_core::compare::overlay::{Tree, clean};

fn meta(name: &str, dir: bool) -> EntryMeta {
    EntryMeta::new(name, if dir { EntryType::Dir } else { EntryType::File })
}

// Input: layers separated by `\n\n`, entries by `\n`; a trailing `/` makes a directory.
fuzz_target!(|input: &str| {
    let mut tree = Tree::default();
    for layer in input.split("\n\n") {
        tree.apply(
            layer
                .lines()
                .map(|l| meta(l, l.ends_with('/')))
                .collect(),
        );
    }
    for key in tree.entries.keys() {
        assert!(!key.is_empty());
        assert_eq!(&clean(key), key);
        assert!(!key.rsplit('/').next().unwrap_or_default().starts_with(".wh."));
    }
});
