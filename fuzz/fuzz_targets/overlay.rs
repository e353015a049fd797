#![no_main]

use libfuzzer_sys::fuzz_target;
use ocidiff_core::compare::layer::{EntryMeta, EntryType, TarFormat, Time};
use ocidiff_core::compare::overlay::{Tree, clean};

fn meta(name: &str, dir: bool) -> EntryMeta {
    EntryMeta {
        name: name.to_owned(),
        kind: if dir { EntryType::Dir } else { EntryType::File },
        link: None,
        mode: 0o644,
        uid: 0,
        gid: 0,
        uname: String::new(),
        gname: String::new(),
        device: None,
        size: 0,
        digest: None,
        mtime: Time { secs: 0, nanos: 0 },
        atime: None,
        ctime: None,
        xattrs: Default::default(),
        pax: Default::default(),
        format: TarFormat::Ustar,
        position: 0,
        layer: 0,
    }
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
