//! Property tests over hostile input: the parsers and the layer walk never panic, whatever the
//! bytes, and applying layers never lets a path escape the root. The same targets run for longer
//! under cargo-fuzz (`fuzz/`); nested-archive reading (`inspect`) is covered here too. The case
//! count follows `PROPTEST_CASES` (CI: 256).

use std::collections::HashMap;

use ocidiff_core::content::{Limits, MemorySource};
use ocidiff_core::inspect::{InspectOptions, inspect};
use ocidiff_core::layer::{self, ContentDigest, EntryMeta, EntryType, FileDigests, Tree};
use ocidiff_core::model::{Descriptor, Digest, Document};
use ocidiff_core::normalize::Rules;
use ocidiff_core::reference::{DockerRef, ImageRef};
use ocidiff_testkit::{Compression, Entry, Layer, TarFormat as KitFormat, mutate};
use proptest::prelude::*;
use sha2::{Digest as _, Sha256};

/// Limits small enough that every case ends fast.
fn small_limits() -> Limits {
    Limits {
        json_bytes: 64 << 10,
        layer_bytes: 1 << 20,
        decompressed_bytes: 4 << 20,
        manifests: 64,
        layers: 64,
        entries: 1000,
        metadata_bytes: 1 << 20,
    }
}

/// Walks `bytes` as a layer whose media type names the compression its magic bytes show, as
/// an image's would: a gzip stream declared as a plain tar is refused before it is read.
fn walk_bytes(bytes: Vec<u8>) -> Result<layer::Listing, layer::LayerError> {
    let digest = Digest::sha256_of(&bytes);
    let media_type = ocidiff_testkit::layer_media_type(&bytes);
    let desc = Descriptor {
        media_type: media_type.into(),
        digest: digest.clone(),
        size: bytes.len() as u64,
        platform: None,
        annotations: Default::default(),
        urls: vec![],
        artifact_type: None,
    };
    let source = MemorySource(HashMap::from([(digest, bytes)]));
    let mut sink = Vec::new();
    let by_size = layer::walk(
        &source,
        &desc,
        0,
        None,
        &small_limits(),
        FileDigests::BySize,
        |_, r| {
            sink.clear();
            r.read_to_end(&mut sink).map(drop)
        },
    );
    // Hashed with the layer's stream, each file's digest is the SHA-256 of what reading it
    // gave, and nothing else changes.
    let mut read = Vec::new();
    let sha256 = layer::walk(
        &source,
        &desc,
        0,
        None,
        &small_limits(),
        FileDigests::Sha256,
        |e, r| {
            let mut content = Vec::new();
            r.read_to_end(&mut content)?;
            if e.kind == EntryType::File {
                read.push(ContentDigest::Sha256(Sha256::digest(&content).into()));
            }
            Ok(())
        },
    );
    match (&by_size, &sha256) {
        (Ok(l), Ok(s)) => {
            assert_eq!(l.entries.len(), s.entries.len());
            assert_eq!(l.diff_id, s.diff_id);
            let digests: Vec<_> = s.entries.iter().filter_map(|e| e.digest).collect();
            assert_eq!(digests, read);
        }
        (Err(l), Err(s)) => assert_eq!(l.to_string(), s.to_string()),
        (l, s) => panic!("the two ways of hashing files disagree: {l:?} / {s:?}"),
    }
    by_size
}

/// The number of entries in [`seed_layer`].
const SEED_ENTRIES: usize = 8;

/// A valid layer to mutate: long names, PAX records, links, devices, in each header style.
fn seed_layer(format: KitFormat, compression: Compression) -> Vec<u8> {
    Layer::new(vec![
        Entry::dir("etc/"),
        Entry::file("etc/os-release", "ID=test\n").xattr("user.k", "v"),
        Entry::file(&format!("{}/file", "long/".repeat(40)), "x".repeat(700)),
        Entry::symlink("link", &"t/".repeat(80)),
        Entry::hardlink("hard", "etc/os-release"),
        Entry::char_device("dev/null", 1, 3),
        Entry::fifo("fifo"),
        Entry::whiteout("gone"),
    ])
    .format(format)
    .compression(compression)
    .blob_bytes()
}

fn kit_format() -> impl Strategy<Value = KitFormat> {
    prop_oneof![
        Just(KitFormat::Ustar),
        Just(KitFormat::Pax),
        Just(KitFormat::Gnu)
    ]
}

fn compression() -> impl Strategy<Value = Compression> {
    prop_oneof![
        Just(Compression::None),
        Just(Compression::Gzip),
        Just(Compression::Zstd)
    ]
}

/// Path components a hostile layer would use.
fn component() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("..".to_owned()),
        Just(".".to_owned()),
        Just(String::new()),
        Just(".wh..wh..opq".to_owned()),
        Just(".wh.".to_owned()),
        "\\.wh\\.[ab]".prop_map(String::from),
        "[ab]".prop_map(String::from),
    ]
}

fn entry_name() -> impl Strategy<Value = String> {
    (any::<bool>(), prop::collection::vec(component(), 1..5)).prop_map(|(absolute, parts)| {
        format!("{}{}", if absolute { "/" } else { "" }, parts.join("/"))
    })
}

fn listing(entries: Vec<EntryMeta>) -> std::sync::Arc<layer::Listing> {
    std::sync::Arc::new(layer::Listing {
        compression: ocidiff_core::model::Compression::None,
        entries,
        diff_id: Digest::sha256_of(b""),
    })
}

fn meta(name: &str, dir: bool) -> EntryMeta {
    EntryMeta::new(name, if dir { EntryType::Dir } else { EntryType::File })
}

fn layer_metas() -> impl Strategy<Value = Vec<(String, bool)>> {
    prop::collection::vec((entry_name(), any::<bool>()), 0..12)
}

proptest! {
    #[test]
    fn docker_refs_parse_or_fail_cleanly(input in "\\PC{0,80}") {
        match DockerRef::parse(&input) {
            Ok(parsed) => {
                prop_assert_eq!(DockerRef::parse(&parsed.to_string()), Ok(parsed));
            }
            Err(e) => prop_assert_eq!(e.input, input),
        }
    }

    #[test]
    fn docker_refs_print_as_they_parse(
        registry in prop::option::of("[a-z0-9]{1,8}(\\.[a-z]{2,3})?(:[0-9]{1,5})?"),
        path in "[a-z0-9]{1,6}([._-][a-z0-9]{1,4})?(/[a-z0-9]{1,6}){0,2}",
        tag in prop::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"),
        digest in prop::option::of("[0-9a-f]{64}"),
    ) {
        let mut input = match &registry {
            Some(r) => format!("{r}/{path}"),
            None => path.clone(),
        };
        if let Some(t) = &tag {
            input.push(':');
            input.push_str(t);
        }
        if let Some(d) = &digest {
            input.push_str("@sha256:");
            input.push_str(d);
        }
        // Every generated reference is valid: each part comes back as it was written.
        let parsed = DockerRef::parse(&input);
        prop_assert!(parsed.is_ok(), "{:?}", parsed);
        let parsed = parsed.unwrap();
        let expected_tag = tag.or_else(|| digest.is_none().then(|| "latest".to_owned()));
        prop_assert_eq!(&parsed.tag, &expected_tag);
        prop_assert_eq!(
            parsed.digest.as_ref().map(ToString::to_string),
            digest.map(|d| format!("sha256:{d}"))
        );
        prop_assert!(parsed.name().ends_with(&path), "{} from {}", parsed.name(), input);
        let again = DockerRef::parse(&parsed.to_string());
        prop_assert_eq!(again, Ok(parsed));
    }

    #[test]
    fn image_refs_parse_or_fail_cleanly(
        transport in prop_oneof![
            Just(""), Just("oci:"), Just("oci-archive:"), Just("docker-archive:"),
            Just("docker://"), Just("podman://"), Just("containerd://"), Just("docker-daemon:"),
        ],
        rest in "\\PC{0,60}",
    ) {
        let _ = ImageRef::parse(&format!("{transport}{rest}"));
    }

    #[test]
    fn documents_parse_or_fail_cleanly(
        which in 0usize..3,
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        cut in prop::option::of(any::<usize>()),
        declared in prop::option::of(prop_oneof![
            Just("application/vnd.oci.image.index.v1+json".to_owned()),
            Just("application/vnd.oci.image.manifest.v1+json".to_owned()),
            Just("application/vnd.docker.distribution.manifest.v2+json".to_owned()),
            "\\PC{0,30}",
        ]),
    ) {
        let valid = ocidiff_testkit::sample_documents().swap_remove(which);
        let doc = mutate(valid.clone(), &edits, cut);
        let parsed = Document::parse(&doc, declared.as_deref());
        // Unchanged and undeclared: a manifest and an index read as such, a config is neither.
        if doc == valid && declared.is_none() {
            match (which, &parsed) {
                (0, Ok(Document::Manifest(_))) | (2, Ok(Document::Index(_))) | (1, Err(_)) => {}
                _ => prop_assert!(false, "document {} read as {:?}", which, parsed),
            }
        }
    }

    #[test]
    fn arbitrary_bytes_parse_as_documents_or_fail(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = Document::parse(&bytes, None);
    }

    #[test]
    fn mutated_layers_walk_or_fail_cleanly(
        format in kit_format(),
        compression in compression(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        cut in prop::option::of(any::<usize>()),
    ) {
        let seed = seed_layer(format, compression);
        let bytes = mutate(seed.clone(), &edits, cut);
        let digest = Digest::sha256_of(&bytes);
        match walk_bytes(bytes.clone()) {
            Ok(listing) => {
                prop_assert!(listing.entries.len() as u64 <= small_limits().entries);
                for (i, e) in listing.entries.iter().enumerate() {
                    prop_assert_eq!(e.position, i);
                }
                if bytes == seed {
                    prop_assert_eq!(listing.entries.len(), SEED_ENTRIES);
                }
            }
            // An unchanged layer always reads; a refused one is named in the error.
            Err(e) => {
                prop_assert!(bytes != seed, "the seed layer is refused: {}", e);
                prop_assert!(e.to_string().contains(&digest.to_string()), "{}", e);
            }
        }
    }

    #[test]
    fn mutated_nested_archives_inspect_or_note(
        format in kit_format(),
        compression in compression(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        cut in prop::option::of(any::<usize>()),
        semantic in any::<bool>(),
    ) {
        let lhs = seed_layer(format, compression);
        let rhs = mutate(lhs.clone(), &edits, cut);
        let opts = InspectOptions {
            rules: if semantic { Rules::semantic() } else { Rules::default() },
            max_bytes: 1 << 20,
            ..InspectOptions::default()
        };
        let found = inspect("layer.tar.gz", &lhs, &rhs, &opts);
        let marked: Vec<bool> = found
            .nested
            .iter()
            .flat_map(|n| n.fields.iter().map(|f| f.3))
            .collect();
        if lhs == rhs {
            prop_assert!(found.nested.is_empty() && !found.only_ignorable, "{:?}", found);
        }
        // Nothing is ignorable unless an option says so.
        if !semantic {
            prop_assert!(!found.only_ignorable && !marked.contains(&true), "{:?}", found);
        }
        // "Only ignorable" means a complete look that found differences, each one ignorable.
        if found.only_ignorable {
            prop_assert!(found.note.is_none() && !marked.is_empty(), "{:?}", found);
            prop_assert!(!marked.contains(&false), "{:?}", found);
        }
    }

    #[test]
    fn arbitrary_bytes_walk_or_fail_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        let _ = walk_bytes(bytes);
    }

    #[test]
    fn clean_paths_stay_inside_and_are_stable(name in entry_name()) {
        let c = layer::clean(&name);
        prop_assert_eq!(layer::clean(&c), c.clone());
        prop_assert!(!c.starts_with('/'));
        prop_assert!(c.split('/').all(|p| p != ".." && p != "."));
    }

    #[test]
    fn applied_layers_never_escape_their_root(layers in prop::collection::vec(layer_metas(), 1..4)) {
        let mut tree = Tree::default();
        for (i, l) in layers.iter().enumerate() {
            let entries: Vec<EntryMeta> = l
                .iter()
                .enumerate()
                .map(|(p, (n, d))| EntryMeta { position: p, layer: i, ..meta(n, *d) })
                .collect();
            // A layer every runtime refuses (a file used as a directory) stops the image, at
            // an entry of that layer.
            if let Err(e) = tree.apply(i, listing(entries.clone()), &std::collections::HashSet::new()) {
                prop_assert!(e.position < entries.len(), "{}", e);
                prop_assert_eq!(&e.name, &entries[e.position].name);
                break;
            }
        }
        for e in tree.listing() {
            let key = &e.name;
            prop_assert!(!key.is_empty());
            prop_assert_eq!(&layer::clean(key), key);
            // A whiteout's name stays only as a directory runtimes create for a missing parent
            // (`.wh.a/x`), as they do.
            let base = key.rsplit('/').next().unwrap_or_default();
            prop_assert!(!base.starts_with(".wh.") || e.implied, "whiteout kept as an entry: {}", key);
        }
    }
}

/// An entry of a layer to apply: a name from a small alphabet (so that layers collide), and a
/// kind.
fn model_entry() -> impl Strategy<Value = (Vec<String>, u8)> {
    (
        prop::collection::vec(
            prop_oneof![
                Just("a"),
                Just("b"),
                Just("c"),
                Just(".wh.a"),
                Just(".wh..wh..opq")
            ]
            .prop_map(String::from),
            1..4,
        ),
        0u8..6,
    )
}

fn model_meta(parts: &[String], kind: u8, position: usize, layer: usize) -> EntryMeta {
    let name = parts.join("/");
    let mut e = match kind {
        0 => EntryMeta::new(&format!("{name}/"), EntryType::Dir),
        1 => EntryMeta::new(&name, EntryType::Symlink),
        2 => EntryMeta::new(&name, EntryType::Hardlink),
        _ => EntryMeta::new(&name, EntryType::File),
    };
    if kind == 1 {
        e.link = Some(if layer == 0 { "/b".into() } else { "c".into() });
    }
    if kind == 2 {
        e.link = Some("a".into());
    }
    e.position = position;
    e.layer = layer;
    e
}

proptest! {
    /// What a layer that stands alone ([`Tree::apply_alone`]) is refused for, and what its
    /// entries are noted for, is the same over any layers below: the comparison relies on it to
    /// leave the layers below unread.
    #[test]
    fn a_layer_that_stands_alone_acts_the_same_over_any_layers(
        lower in prop::collection::vec(model_entry(), 0..10),
        upper in prop::collection::vec(model_entry(), 0..8),
        parents in any::<bool>(),
    ) {
        // Upper layers that name their parents first stand alone more often.
        let mut up = Vec::new();
        for (parts, kind) in &upper {
            if parents {
                for k in 1..parts.len() {
                    up.push(model_meta(&parts[..k], 0, up.len(), 1));
                }
            }
            up.push(model_meta(parts, *kind, up.len(), 1));
        }
        let low: Vec<EntryMeta> = lower
            .iter()
            .enumerate()
            .map(|(p, (parts, kind))| model_meta(parts, *kind, p, 0))
            .collect();
        let alone = Tree::apply_alone(1, listing(up.clone()));
        let mut tree = Tree::default();
        let empty = std::collections::HashSet::<usize>::new();
        if tree.apply(0, listing(low.clone()), &empty).is_err() {
            tree = Tree::default();
            tree.apply(0, listing(Vec::new()), &empty).unwrap();
        }
        let full = tree.apply(1, listing(up), &empty);
        let notes = |a: &ocidiff_core::layer::apply::Applied| {
            let mut n: Vec<_> = a.notes.iter().map(|n| (n.position, n.kind)).collect();
            n.sort();
            n
        };
        match (alone, full) {
            (Ok(None), _) => {}
            (Ok(Some(a)), Ok(f)) => prop_assert_eq!(notes(&a), notes(&f)),
            (Err(a), Err(f)) => prop_assert_eq!((a.position, a.why), (f.position, f.why)),
            (alone, full) => prop_assert!(
                false,
                "alone {:?}, over {:?}: {:?}",
                alone.map(|a| a.map(|a| notes(&a))),
                low.iter().map(|e| &e.name).collect::<Vec<_>>(),
                full.map(|f| notes(&f))
            ),
        }
    }
}
