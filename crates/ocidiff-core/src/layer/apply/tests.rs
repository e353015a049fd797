use super::*;
use crate::layer::ContentDigest;
use crate::model::{Compression, Digest};

fn listing(entries: Vec<EntryMeta>) -> Arc<Listing> {
    Arc::new(Listing {
        compression: Compression::None,
        entries,
        diff_id: Digest::sha256_of(b""),
    })
}

fn e(name: &str, kind: EntryType) -> EntryMeta {
    EntryMeta::new(name, kind)
}

fn file(name: &str, content: &str) -> EntryMeta {
    let mut f = e(name, EntryType::File);
    f.digest = Some(ContentDigest::of(content.as_bytes()));
    f.size = content.len() as u64;
    f
}

fn dir(name: &str) -> EntryMeta {
    let mut d = e(name, EntryType::Dir);
    d.mode = 0o755;
    d
}

fn link(name: &str, kind: EntryType, target: &str) -> EntryMeta {
    let mut l = e(name, kind);
    l.link = Some(target.to_owned());
    l
}

/// Applies layers in order, numbering entries; the notes of each layer.
fn apply(tree: &mut Tree, layers: Vec<Vec<EntryMeta>>) -> Result<Vec<Vec<Note>>, ApplyError> {
    let start = tree.layers.len();
    let mut notes = Vec::new();
    for (i, mut entries) in layers.into_iter().enumerate() {
        for (p, entry) in entries.iter_mut().enumerate() {
            entry.position = p;
            entry.layer = start + i;
        }
        notes.push(
            tree.apply(start + i, listing(entries), &HashSet::new())?
                .notes,
        );
    }
    Ok(notes)
}

fn names(t: &Tree) -> Vec<String> {
    t.listing().into_iter().map(|e| e.name).collect()
}

fn kinds(notes: &[Vec<Note>]) -> Vec<NoteKind> {
    notes.iter().flatten().map(|n| n.kind).collect()
}

fn content(t: &Tree, path: &str) -> Option<ContentDigest> {
    t.get(path).and_then(|e| e.digest)
}

#[test]
fn whiteouts_apply_in_stream_order() {
    let mut t = Tree::default();
    apply(
        &mut t,
        vec![vec![
            dir("etc/"),
            file("etc/a", "a"),
            dir("etc/b/"),
            file("etc/b/c", "c"),
        ]],
    )
    .unwrap();
    let notes = apply(
        &mut t,
        vec![vec![
            e("etc/.wh.b", EntryType::File),
            file("etc/b", "new"),
            file("etc/n", "n"),
            e("etc/.wh.n", EntryType::File),
        ]],
    )
    .unwrap();
    assert_eq!(names(&t), ["etc", "etc/a", "etc/b"]);
    assert_eq!(content(&t, "etc/b"), Some(ContentDigest::of(b"new")));
    // Deleting an entry of its own layer is what overlay snapshotters refuse.
    assert_eq!(kinds(&notes), [NoteKind::WhiteoutOfOwnLayer]);
}

#[test]
fn opaque_whiteouts_spare_their_own_layer() {
    let mut t = Tree::default();
    apply(
        &mut t,
        vec![vec![
            dir("d/"),
            file("d/old", "o"),
            dir("d/sub/"),
            file("d/sub/x", "x"),
        ]],
    )
    .unwrap();
    let notes = apply(
        &mut t,
        vec![vec![
            file("d/before", "b"),
            e("d/.wh..wh..opq", EntryType::File),
            file("d/after", "a"),
        ]],
    )
    .unwrap();
    assert_eq!(names(&t), ["d", "d/after", "d/before"]);
    assert!(kinds(&notes).is_empty());
    // Entries put inside a lower directory the layer does not list go with it: overlay
    // snapshotters keep them.
    let mut t = Tree::default();
    apply(
        &mut t,
        vec![vec![dir("d/"), dir("d/sub/"), file("d/sub/x", "x")]],
    )
    .unwrap();
    let notes = apply(
        &mut t,
        vec![vec![
            file("d/sub/new", "n"),
            e("d/.wh..wh..opq", EntryType::File),
        ]],
    )
    .unwrap();
    assert_eq!(names(&t), ["d"]);
    assert_eq!(kinds(&notes), [NoteKind::OpaqueRemovesOwnLayer]);
}

#[test]
fn parents_resolve_through_symlinks_inside_the_root() {
    let mut t = Tree::default();
    apply(
        &mut t,
        vec![vec![
            dir("usr/"),
            dir("usr/lib/"),
            link("lib", EntryType::Symlink, "usr/lib"),
            link("abs", EntryType::Symlink, "/usr/lib"),
            link("up", EntryType::Symlink, "../../../usr"),
        ]],
    )
    .unwrap();
    let notes = apply(
        &mut t,
        vec![vec![
            file("lib/x", "x"),
            file("abs/y", "y"),
            file("up/z", "z"),
        ]],
    )
    .unwrap();
    assert_eq!(
        names(&t),
        [
            "abs",
            "lib",
            "up",
            "usr",
            "usr/lib",
            "usr/lib/x",
            "usr/lib/y",
            "usr/z"
        ]
    );
    assert_eq!(t.get("lib").unwrap().kind, EntryType::Symlink);
    let k = kinds(&notes);
    assert!(k.contains(&NoteKind::LowerSymlinkParent), "{k:?}");
    assert!(k.contains(&NoteKind::SymlinkEscapesRoot), "{k:?}");
    // The same symlink made in the layer that writes through it is followed everywhere.
    let mut t = Tree::default();
    let notes = apply(
        &mut t,
        vec![vec![
            dir("usr/"),
            link("lib", EntryType::Symlink, "usr"),
            file("lib/x", "x"),
        ]],
    )
    .unwrap();
    assert_eq!(names(&t), ["lib", "usr", "usr/x"]);
    assert!(kinds(&notes).is_empty());
}

#[test]
fn hard_links_hold_what_they_held_and_share_metadata() {
    let mut t = Tree::default();
    let mut a = file("a", "old");
    a.mode = 0o644;
    a.uid = 1000;
    let mut b = link("b", EntryType::Hardlink, "a");
    b.mode = 0o4755;
    b.uid = 0;
    apply(&mut t, vec![vec![a, b]]).unwrap();
    let listing = t.listing();
    assert_eq!(
        listing[0].mode, 0o4755,
        "the link entry set the shared inode's mode"
    );
    assert_eq!(listing[0].uid, 0);
    assert_eq!(listing[1].kind, EntryType::Hardlink);
    assert_eq!(listing[1].link.as_deref(), Some("a"));
    assert_eq!(listing[1].digest, Some(ContentDigest::of(b"old")));
    // A later layer rewrites `a`: `b` keeps the old content, and is a file of its own.
    apply(&mut t, vec![vec![file("a", "new")]]).unwrap();
    assert_eq!(content(&t, "b"), Some(ContentDigest::of(b"old")));
    assert_eq!(t.listing()[1].kind, EntryType::File);
}

#[test]
fn refusals() {
    let refuse = |layers: Vec<Vec<EntryMeta>>| apply(&mut Tree::default(), layers).unwrap_err().why;
    assert_eq!(
        refuse(vec![vec![link("b", EntryType::Hardlink, "missing")]]),
        Refusal::LinkTargetMissing("missing".into())
    );
    assert_eq!(
        refuse(vec![vec![dir("d/"), link("b", EntryType::Hardlink, "d")]]),
        Refusal::LinkToDirectory("d".into())
    );
    assert_eq!(
        refuse(vec![vec![e("c", EntryType::Other(b'7'))]]),
        Refusal::UnknownType('7', b'7')
    );
    assert_eq!(
        refuse(vec![vec![file("f", "x"), file("f/x", "y")]]),
        Refusal::NotADirectory("f".into())
    );
    assert_eq!(
        refuse(vec![vec![dir("nd/"), e(".wh.nd", EntryType::File)]]),
        Refusal::DirectoryRemoved
    );
    assert_eq!(
        refuse(vec![vec![e(".wh.", EntryType::File)]]),
        Refusal::WhiteoutOfRoot
    );
    // A link named like its own target removes the target first.
    assert_eq!(
        refuse(vec![vec![
            file("a", "x"),
            link("a", EntryType::Hardlink, "a")
        ]]),
        Refusal::LinkTargetMissing("a".into())
    );
    // Whiteouts are whiteouts whatever their type.
    let mut t = Tree::default();
    apply(
        &mut t,
        vec![
            vec![file("x", "x")],
            vec![e(".wh.x", EntryType::Other(b'S'))],
        ],
    )
    .unwrap();
    assert!(t.is_empty());
}

#[test]
fn runtime_dependent_entries_are_noted() {
    let mut t = Tree::default();
    let mut root = dir("./");
    root.mode = 0o700;
    let mut empty = file("e", "");
    empty.xattrs.insert("user.x".into(), String::new());
    let notes = apply(
        &mut t,
        vec![
            vec![
                file("x", "1"),
                file("./x", "2"),
                root,
                empty,
                file("../esc", "e"),
            ],
            vec![
                e("x", EntryType::GlobalHeader),
                e("d/.wh.", EntryType::File),
            ],
        ],
    )
    .unwrap();
    assert_eq!(
        kinds(&notes),
        [
            NoteKind::DuplicatePath,
            NoteKind::RootEntry,
            NoteKind::EmptyXattr,
            NoteKind::EscapesRoot,
            NoteKind::GlobalHeaderRemoves,
            NoteKind::BareWhiteout,
            // `d` was created (as a missing parent) by the same layer.
            NoteKind::WhiteoutOfOwnLayer,
        ]
    );
    assert_eq!(
        names(&t),
        ["e", "esc"],
        "the global header removed x, `.wh.` its directory"
    );
}

#[test]
fn missing_parents_are_created_and_marked() {
    let mut t = Tree::default();
    apply(&mut t, vec![vec![file("a/b/c", "c")]]).unwrap();
    let listing = t.listing();
    assert_eq!(names(&t), ["a", "a/b", "a/b/c"]);
    assert!(listing[0].implied && listing[1].implied && !listing[2].implied);
    apply(&mut t, vec![vec![dir("a/")]]).unwrap();
    assert!(
        !t.listing()[0].implied,
        "an entry for the directory defines it"
    );
}

#[test]
fn a_lower_file_used_as_a_directory_is_noted() {
    let mut t = Tree::default();
    let notes = apply(&mut t, vec![vec![file("f", "x")], vec![file("f/y", "y")]]).unwrap();
    assert_eq!(kinds(&notes), [NoteKind::LowerFileAsDirectory]);
    assert_eq!(names(&t), ["f", "f/y"]);
}

#[test]
fn owners_as_chown_sets_them() {
    let mut t = Tree::default();
    let mut a = file("a", "");
    a.uid = (1 << 32) + 5;
    a.gid = -1;
    let mut d = dir("d/");
    d.uid = 7;
    let mut d2 = dir("d/");
    d2.uid = -1;
    apply(&mut t, vec![vec![a, d], vec![d2]]).unwrap();
    assert_eq!((t.get("a").unwrap().uid, t.get("a").unwrap().gid), (5, 0));
    assert_eq!(t.get("d").unwrap().uid, 7, "-1 leaves the owner as it was");
}

#[test]
fn file_over_directory_removes_its_children() {
    let mut t = Tree::default();
    apply(
        &mut t,
        vec![
            vec![dir("a/"), file("a/b", "b")],
            vec![link("a", EntryType::Symlink, "x")],
        ],
    )
    .unwrap();
    assert_eq!(names(&t), ["a"]);
}

#[test]
fn effects_of_watched_entries() {
    let mut t = Tree::default();
    apply(&mut t, vec![vec![dir("d/"), file("d/f", "f")]]).unwrap();
    let entries = vec![
        e("d/.wh.none", EntryType::File),
        file("d/f", "f"),
        e("d/.wh.f", EntryType::File),
    ];
    let watch: HashSet<usize> = [0, 1, 2].into();
    let applied = t.apply(1, listing(entries), &watch).unwrap();
    assert!(!applied.effects[&0].structural, "a whiteout of nothing");
    assert_eq!(
        applied.effects[&1].prior.as_ref().unwrap().digest,
        Some(ContentDigest::of(b"f"))
    );
    assert!(!applied.effects[&1].structural);
    assert!(applied.effects[&2].structural);
    assert!(
        applied.effects[&2].noted,
        "it deletes an entry of its own layer"
    );
}

#[test]
fn merged_directories_keep_their_extended_attributes() {
    let mut t = Tree::default();
    let mut d = dir("d/");
    d.xattrs.insert("user.a".into(), "1".into());
    let mut again = dir("d/");
    again.mode = 0o700;
    let mut more = dir("d/");
    more.xattrs.insert("user.b".into(), "2".into());
    apply(&mut t, vec![vec![d], vec![again], vec![more]]).unwrap();
    let d = t.get("d").unwrap();
    assert_eq!(d.xattrs.len(), 2, "{:?}", d.xattrs);
    assert_eq!(d.mode, 0o755, "the last entry's mode");
}

#[test]
fn layers_that_name_their_parents_stand_alone() {
    let alone = |entries: Vec<EntryMeta>| {
        let mut entries = entries;
        for (p, e) in entries.iter_mut().enumerate() {
            e.position = p;
        }
        Tree::apply_alone(3, listing(entries)).unwrap().is_some()
    };
    assert!(alone(vec![dir("d/"), file("d/f", "f"), file("top", "t")]));
    assert!(alone(vec![
        dir("d/"),
        file("d/f", "f"),
        link("d/h", EntryType::Hardlink, "d/f"),
        e("d/.wh.old", EntryType::File),
        e("d/.wh..wh..opq", EntryType::File),
    ]));
    // A parent the layer does not name could be a symlink or a file below.
    assert!(!alone(vec![file("d/f", "f")]));
    assert!(!alone(vec![
        dir("real/"),
        link("d", EntryType::Symlink, "real"),
        file("d/f", "f")
    ]));
    // A hard link to a file below, a global header, a path written twice, a directory it
    // removed itself.
    assert!(!alone(vec![link("h", EntryType::Hardlink, "below")]));
    assert!(!alone(vec![e("g", EntryType::GlobalHeader)]));
    assert!(!alone(vec![file("a", "1"), file("./a", "2")]));
    assert!(!alone(vec![
        dir("d/"),
        e(".wh.d", EntryType::File),
        file("d/f", "f")
    ]));
    // What every runtime refuses is refused alone too, and noted entries are noted.
    let refused = Tree::apply_alone(0, listing(vec![e("c", EntryType::Other(b'7'))]));
    assert!(matches!(
        refused,
        Err(ApplyError {
            why: Refusal::UnknownType(..),
            ..
        })
    ));
    let mut empty = file("x", "");
    empty.xattrs.insert("user.e".into(), String::new());
    let applied = Tree::apply_alone(0, listing(vec![empty])).unwrap().unwrap();
    assert_eq!(applied.notes[0].kind, NoteKind::EmptyXattr);
}
