use std::ffi::OsString;

use super::*;
use crate::content::MemorySource;
use crate::model::media;

/// Builds, in `src`, a manifest for `arch` with the given layers; returns its descriptor.
fn manifest(src: &mut MemorySource, arch: &str, layers: &[&[u8]]) -> Descriptor {
    let id: String = layers.iter().map(|l| String::from_utf8_lossy(l)).collect();
    let config = format!(r#"{{"os":"linux","architecture":"{arch}","id":"{id}"}}"#);
    let config_desc = descriptor(
        media::OCI_CONFIG,
        src.insert(config.as_bytes()),
        config.len() as u64,
    );
    let layers: Vec<Descriptor> = layers
        .iter()
        .map(|l| descriptor(media::OCI_LAYER, src.insert(l), l.len() as u64))
        .collect();
    let bytes = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "config": config_desc,
        "layers": layers,
    }))
    .unwrap();
    descriptor(media::OCI_MANIFEST, src.insert(&bytes), bytes.len() as u64)
}

fn index(src: &mut MemorySource, manifests: &[(Descriptor, &str)]) -> Descriptor {
    let manifests: Vec<Descriptor> = manifests
        .iter()
        .map(|(d, arch)| Descriptor {
            platform: Some(format!("linux/{arch}").parse().unwrap()),
            ..d.clone()
        })
        .collect();
    let bytes = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_INDEX,
        "manifests": manifests,
    }))
    .unwrap();
    descriptor(media::OCI_INDEX, src.insert(&bytes), bytes.len() as u64)
}

fn image(src: MemorySource, root: &Descriptor) -> Image {
    let bytes = src.0[&root.digest].clone();
    Image {
        reference: ImageRef::Registry("test".into()),
        root: Blob {
            descriptor: Some(root.clone()),
            bytes,
        },
        blobs: Box::new(src),
        walked: Default::default(),
    }
}

fn name(s: &str) -> DockerRef {
    DockerRef::parse(s).unwrap()
}

fn tmp_is_empty(store: &Store) -> bool {
    fs::read_dir(store.root().join("tmp"))
        .unwrap()
        .next()
        .is_none()
}

#[test]
fn ingest_verifies_and_leaves_nothing_on_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let good = descriptor(media::OCI_LAYER, Digest::sha256_of(b"layer"), 5);
    store.ingest(&good, &b"layer"[..]).unwrap();
    assert!(store.has_blob(&good.digest));
    assert!(store.is_verified(&good.digest));
    assert_eq!(fs::read(store.blob_path(&good.digest)).unwrap(), b"layer");

    let lying = descriptor(media::OCI_LAYER, Digest::sha256_of(b"other"), 5);
    let err = store.ingest(&lying, &b"layer"[..]).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Content(ContentError::DigestMismatch { .. })
        ),
        "{err}"
    );
    assert!(!store.has_blob(&lying.digest));

    let short = descriptor(media::OCI_LAYER, Digest::sha256_of(b"layer!"), 6);
    assert!(store.ingest(&short, &b"layer"[..]).is_err());
    let long = descriptor(media::OCI_LAYER, Digest::sha256_of(b"lay"), 3);
    assert!(store.ingest(&long, &b"layer"[..]).is_err());
    assert!(!store.has_blob(&short.digest) && !store.has_blob(&long.digest));
    assert!(tmp_is_empty(&store));
}

/// Blobs larger than the write-back step, as a daemon export streams them: whole under their
/// names, hashed or vouched for; an unsettled one leaves nothing.
#[test]
fn large_unknown_and_unhashed_blobs_are_stored_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let bytes = ocidiff_testkit::noise(70 << 20, 3);
    let (digest, size) = store
        .ingest_unknown(Algorithm::Sha256, "test", &bytes[..])
        .unwrap();
    assert_eq!(
        (&digest, size),
        (&Digest::sha256_of(&bytes), bytes.len() as u64)
    );
    assert_eq!(fs::read(store.blob_path(&digest)).unwrap(), bytes);

    let other = ocidiff_testkit::noise((33 << 20) + 5, 4);
    let vouched = Digest::sha256_of(&other);
    let blob = store.ingest_unhashed("test", &other[..]).unwrap();
    assert_eq!(blob.size(), other.len() as u64);
    assert_eq!(store.settle(blob, Some(&vouched)).unwrap(), vouched);
    assert_eq!(fs::read(store.blob_path(&vouched)).unwrap(), other);
    // Without a vouched digest, the file is hashed.
    let blob = store.ingest_unhashed("test", &b"small"[..]).unwrap();
    assert_eq!(
        store.settle(blob, None).unwrap(),
        Digest::sha256_of(b"small")
    );
    drop(store.ingest_unhashed("test", &b"dropped"[..]).unwrap());
    assert!(tmp_is_empty(&store));
}

#[test]
fn interrupted_writer_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let desc = descriptor(media::OCI_LAYER, Digest::sha256_of(b"abcdef"), 6);
    let mut w = store.writer(&desc).unwrap();
    w.write(b"abc").unwrap();
    drop(w);
    assert!(!store.has_blob(&desc.digest));
    assert!(tmp_is_empty(&store));
}

#[test]
fn concurrent_ingests_of_one_blob_agree() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let data = vec![7u8; 1 << 20];
    let desc = descriptor(
        media::OCI_LAYER,
        Digest::sha256_of(&data),
        data.len() as u64,
    );
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| store.ingest(&desc, &data[..]).unwrap());
        }
    });
    assert_eq!(fs::read(store.blob_path(&desc.digest)).unwrap(), data);
}

#[test]
fn load_list_find_and_remove_free_unshared_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();

    let mut a = MemorySource::default();
    let amd = manifest(&mut a, "amd64", &[b"shared", b"a-only"]);
    let arm = manifest(&mut a, "arm64", &[b"arm-only"]);
    let root_a = index(&mut a, &[(amd, "amd64"), (arm.clone(), "arm64")]);
    // The source lacks the arm64 manifest, as a one-platform save of a multi-platform image.
    a.0.remove(&arm.digest);
    let records = load(
        &store,
        &image(a, &root_a),
        &[name("a:1"), name("a:latest")],
        "t.tar",
    )
    .unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].platforms, vec!["linux/amd64".parse().unwrap()]);
    assert_eq!(records[0].root, root_a);

    let mut b = MemorySource::default();
    let root_b = manifest(&mut b, "amd64", &[b"shared", b"b-only"]);
    load(
        &store,
        &image(b, &root_b),
        &[name("registry.io/b:2")],
        "t.tar",
    )
    .unwrap();

    let keys: Vec<String> = store
        .list_images()
        .unwrap()
        .iter()
        .map(ImageRecord::key)
        .collect();
    assert_eq!(
        keys,
        [
            "docker.io/library/a:1",
            "docker.io/library/a:latest",
            "registry.io/b:2"
        ]
    );
    let found = store.find_image(&name("a:1")).unwrap().unwrap();
    assert_eq!(found.root.digest, root_a.digest);
    let by_digest = name(&format!("a@{}", root_a.digest));
    assert!(store.find_image(&by_digest).unwrap().is_some());
    assert!(
        store
            .find_image(&name(&format!("c@{}", root_a.digest)))
            .unwrap()
            .is_none()
    );
    assert!(store.find_image(&name("a:2")).unwrap().is_none());

    let opened = store.open_image(&found).unwrap();
    assert_eq!(opened.root.descriptor.as_ref(), Some(&root_a));

    // a: index, manifest, config, 2 layers; b: manifest, config, its own layer.
    let before = store.info().unwrap();
    assert_eq!(before.images, 3);
    assert_eq!(before.blobs, 8);

    // A name still pointing at the image keeps its blobs.
    let r = store.remove_images(&[name("a:1")]).unwrap();
    assert_eq!((r.removed.len(), r.freed_blobs), (1, 0));

    let err = store
        .remove_images(&[name("a:latest"), name("nope")])
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NoSuchImage(ref n) if n == "nope:latest"),
        "{err}"
    );
    assert_eq!(
        store.list_images().unwrap().len(),
        2,
        "nothing removed on error"
    );

    // Listings kept beside layers go with their blobs.
    let layers = ["shared", "a-only", "b-only"].map(|l| Digest::sha256_of(l.as_bytes()));
    for digest in &layers {
        let mut kept = store.keep_listing(digest).unwrap();
        kept.write_all(b"listing").unwrap();
        kept.keep().unwrap();
    }
    let listed = |d: &Digest| store.open_listing(d).is_some();
    // Nor is one kept for a blob the store does not hold.
    let ghost = Digest::sha256_of(b"ghost");
    let mut kept = store.keep_listing(&ghost).unwrap();
    kept.write_all(b"listing").unwrap();
    kept.keep().unwrap();
    assert!(!listed(&ghost));

    // Removing the last name of a frees its index, manifest, config and own layer, not the
    // layer it shares with b.
    let r = store.remove_images(&[name("a:latest")]).unwrap();
    assert_eq!(r.freed_blobs, 4);
    assert!(store.has_blob(&Digest::sha256_of(b"shared")));
    assert!(!store.has_blob(&Digest::sha256_of(b"a-only")));
    assert!(store.has_blob(&Digest::sha256_of(b"b-only")));
    assert_eq!(layers.each_ref().map(listed), [true, false, true]);

    let r = store.remove_images(&[name("registry.io/b:2")]).unwrap();
    assert_eq!(r.freed_blobs, 4);
    assert_eq!(layers.each_ref().map(listed), [false, false, false]);
    let after = store.info().unwrap();
    assert_eq!((after.images, after.blobs, after.bytes), (0, 0, 0));
}

#[test]
fn unnamed_loads_are_keyed_by_digest_and_synthesised_roots_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut src = MemorySource::default();
    let m = manifest(&mut src, "amd64", &[b"l"]);
    let mut img = image(src, &m);
    img.root.descriptor = None;
    let records = load(&store, &img, &[], "t.tar").unwrap();
    assert_eq!(records[0].key(), m.digest.to_string());
    assert_eq!(records[0].root.digest, m.digest);
    assert!(store.has_blob(&m.digest));
}

#[test]
fn missing_layer_in_source_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut src = MemorySource::default();
    let m = manifest(&mut src, "amd64", &[b"gone"]);
    src.0.remove(&Digest::sha256_of(b"gone"));
    let err = load(&store, &image(src, &m), &[name("x")], "t.tar").unwrap_err();
    assert!(err.to_string().contains("not found"), "{err}");
    assert!(store.list_images().unwrap().is_empty());
}

#[test]
fn default_root_follows_the_environment() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| OsString::from(v))
        }
    };
    let root = |pairs| root_from(env(pairs)).map_err(|e| e.to_string());
    assert_eq!(
        root(&[
            ("OCIDIFF_STORE", "/s"),
            ("XDG_CACHE_HOME", "/x"),
            ("HOME", "/h")
        ]),
        Ok(PathBuf::from("/s"))
    );
    assert_eq!(
        root(&[
            ("OCIDIFF_STORE", ""),
            ("XDG_CACHE_HOME", "/x"),
            ("HOME", "/h")
        ]),
        Ok(PathBuf::from("/x/ocidiff"))
    );
    assert_eq!(
        root(&[("HOME", "/h")]),
        Ok(PathBuf::from("/h/.cache/ocidiff"))
    );
    assert!(root(&[]).unwrap_err().contains("OCIDIFF_STORE"));
}

/// An engine image's record over `root`'s blobs (stored through an unnamed load whose record is
/// dropped), not yet written.
fn engine_record(store: &Store, src: MemorySource, root: &Descriptor, id: &str) -> ImageRecord {
    let loaded = load(store, &image(src, root), &[], "x").unwrap().remove(0);
    store.delete_record(&loaded).unwrap();
    ImageRecord {
        engine: Some(engine_key(id, "unix:///d.sock")),
        loaded_from: None,
        ..loaded
    }
}

fn engine_key(id: &str, endpoint: &str) -> EngineImage {
    EngineImage {
        engine: "docker".into(),
        endpoint: endpoint.into(),
        id: id.into(),
        platform: None,
    }
}

/// Exports `docker://app:a` as the build `n` made it (its own layer, image ID `id`).
fn export(store: &Store, n: u8, id: &str, as_name: &str) -> ImageRecord {
    let mut src = MemorySource::default();
    let root = manifest(&mut src, "amd64", &[b"base", &[b'0' + n]]);
    let record = engine_record(store, src, &root, id);
    let key = record.engine.clone().unwrap();
    store
        .name_engine_image(&key, as_name, Some(record))
        .unwrap()
        .unwrap()
}

fn id(n: char) -> String {
    format!("sha256:{}", n.to_string().repeat(64))
}

fn named(store: &Store) -> Vec<Vec<String>> {
    store
        .list_images()
        .unwrap()
        .iter()
        .filter(|r| r.is_named())
        .map(ImageRecord::display_names)
        .collect()
}

#[test]
fn a_rebuilt_engine_image_takes_the_name_and_prune_removes_the_older() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let first = export(&store, 1, &id('1'), "app:a");
    assert_eq!(first.display_names(), ["docker://app:a"]);
    assert_eq!(first.short_id(), "111111111111");
    assert_eq!(first.kind(), RecordKind::Docker);
    // Rebuilt twice, read again each time.
    export(&store, 2, &id('2'), "app:a");
    export(&store, 3, &id('3'), "docker.io/library/app:a");
    assert_eq!(store.list_images().unwrap().len(), 3);
    assert_eq!(named(&store), [["docker://docker.io/library/app:a"]]);
    let older = store
        .find_engine_image(&first.engine.unwrap())
        .unwrap()
        .unwrap();
    assert!(!older.is_named());
    assert_eq!(older.display_names(), ["docker://<none>"]);

    // Re-reading the current image adds a name without touching the others.
    let current = engine_key(&id('3'), "unix:///d.sock");
    let r = store
        .name_engine_image(&current, "app:latest", None)
        .unwrap()
        .unwrap();
    assert_eq!(r.engine_names, ["app:latest", "docker.io/library/app:a"]);
    // Another daemon's app:a is another image.
    let mut src = MemorySource::default();
    let root = manifest(&mut src, "amd64", &[b"elsewhere"]);
    let mut other = engine_record(&store, src, &root, &id('4'));
    other.engine = Some(engine_key(&id('4'), "tcp://other:2375"));
    let key = other.engine.clone().unwrap();
    store.name_engine_image(&key, "app:a", Some(other)).unwrap();
    assert_eq!(named(&store).len(), 2);

    let info = store.info().unwrap();
    assert_eq!((info.images, info.unnamed), (4, 2));
    let r = store.prune(false).unwrap();
    assert_eq!(r.removed.len(), 2);
    // Each build's own layer, config and manifest; "base" is shared with the kept one.
    assert_eq!(r.freed_blobs, 6);
    assert!(store.has_blob(&Digest::sha256_of(b"base")));
    assert!(!store.has_blob(&Digest::sha256_of(b"1")));
    assert_eq!(store.list_images().unwrap().len(), 2);
    // A record pruned meanwhile is not named again: the caller exports again.
    let gone = engine_key(&id('1'), "unix:///d.sock");
    assert!(
        store
            .name_engine_image(&gone, "app:a", None)
            .unwrap()
            .is_none()
    );
}

#[test]
fn a_warm_read_of_a_named_record_reads_no_other() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let first = export(&store, 1, &id('1'), "app:a");
    // A second record holding the same name, written around the lock (never done by ocidiff):
    // only a scan of every record would take the name off it.
    let mut src = MemorySource::default();
    let root = manifest(&mut src, "amd64", &[b"base", b"2"]);
    let mut stray = engine_record(&store, src, &root, &id('2'));
    stray.engine_names = vec!["app:a".into()];
    store.put_image(&stray).unwrap();
    let key = first.engine.clone().unwrap();
    let again = store.name_engine_image(&key, "app:a", None).unwrap();
    assert_eq!(again.unwrap().engine_names, first.engine_names);
    assert_eq!(
        named(&store).len(),
        2,
        "the name was not looked for elsewhere"
    );
    // A name the record lacks is taken from every other record, as before.
    store.name_engine_image(&key, "app:b", None).unwrap();
    store
        .name_engine_image(&stray.engine.clone().unwrap(), "app:b", None)
        .unwrap();
    let first_now = store.find_engine_image(&key).unwrap().unwrap();
    assert!(!first_now.engine_names.iter().any(|n| n.ends_with("app:b")));
}

#[test]
fn rm_takes_names_engine_names_digests_and_ids() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut a = MemorySource::default();
    let root_a = manifest(&mut a, "amd64", &[b"a"]);
    load(&store, &image(a, &root_a), &[name("a:1")], "a.tar").unwrap();
    let mut b = MemorySource::default();
    let root_b = manifest(&mut b, "amd64", &[b"b"]);
    let unnamed = load(&store, &image(b, &root_b), &[], "b.tar")
        .unwrap()
        .remove(0);
    assert_eq!(unnamed.display_names(), ["(loaded b.tar)"]);
    assert_eq!(unnamed.kind(), RecordKind::Archive);
    let e1 = format!("sha256:aaaaaaaaaaaa{}", "1".repeat(52));
    let e2 = format!("sha256:aaaaaaaaaaaa{}", "2".repeat(52));
    export(&store, 1, &e1, "app:a");
    let key1 = engine_key(&e1, "unix:///d.sock");
    store.name_engine_image(&key1, "app:b", None).unwrap();
    export(&store, 2, &e2, "app:c");
    assert_eq!(store.list_images().unwrap().len(), 4);

    let nothing = |s: &str| store.select_images(s).unwrap().is_empty();
    assert!(nothing("docker://app:z"));
    assert!(nothing("podman://app:a"));
    assert!(nothing(&root_a.digest.hex()[..11]), "11 digits are too few");
    assert!(matches!(
        store.select_images("aaaaaaaaaaaa"),
        Err(StoreError::Ambiguous(_))
    ));
    assert_eq!(
        store.select_images("docker://aaaaaaaaaaaa2").unwrap().len(),
        1
    );

    // An unknown selector: nothing is removed.
    let err = store
        .remove_selected(&["a:1".into(), "nope".into()])
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NoSuchImage(ref n) if n == "nope"),
        "{err}"
    );
    assert_eq!(store.list_images().unwrap().len(), 4);

    // An engine name comes off; the record goes with its last one.
    let r = store.remove_selected(&["docker://app:a".into()]).unwrap();
    assert_eq!(
        (r.removed.len(), r.untagged.clone()),
        (0, vec!["docker://app:a".to_owned()])
    );
    let r = store.remove_selected(&["docker://app:b".into()]).unwrap();
    assert_eq!(r.removed.len(), 1);
    assert!(r.freed_blobs > 0);
    // By short root digest, by full digest, by engine ID without the engine.
    let short = root_b.digest.hex()[..12].to_owned();
    let r = store
        .remove_selected(&[short, root_a.digest.to_string(), e2.clone()])
        .unwrap();
    assert_eq!(r.removed.len(), 3);
    let info = store.info().unwrap();
    assert_eq!((info.images, info.blobs), (0, 0));
}

#[test]
fn info_counts_each_kind_and_prune_all_empties_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut a = MemorySource::default();
    let root_a = manifest(&mut a, "amd64", &[b"base", b"a"]);
    load(&store, &image(a, &root_a), &[name("a:1")], "a.tar").unwrap();
    export(&store, 1, &id('1'), "app:a");
    // A blob no record uses.
    store
        .ingest_bytes("application/octet-stream", b"stray")
        .unwrap();

    let info = store.info().unwrap();
    assert_eq!(info.images, 2);
    // Two manifests, two configs, "base", "a", "1" and the stray blob.
    assert_eq!(info.blobs, 8);
    let kinds: Vec<(RecordKind, usize, usize)> = info
        .kinds
        .iter()
        .map(|(k, u)| (*k, u.images, u.blobs))
        .collect();
    // Each: manifest, config, "base" and its own layer.
    assert_eq!(
        kinds,
        [(RecordKind::Docker, 1, 4), (RecordKind::Archive, 1, 4)]
    );
    assert_eq!((info.unused.blobs, info.unused.bytes), (1, 5));

    let r = store.prune(false).unwrap();
    assert_eq!((r.removed.len(), r.freed_blobs, r.freed_bytes), (0, 1, 5));
    let r = store.prune(true).unwrap();
    assert_eq!((r.removed.len(), r.freed_blobs), (2, 7));
    let info = store.info().unwrap();
    assert_eq!((info.images, info.blobs, info.kinds.len()), (0, 0, 0));
    assert!(dir.path().join("refs").is_dir() && dir.path().join("blobs/sha256").is_dir());
}

/// A layer held only as a listing (an engine export's) counts as verified, says how it was
/// compressed and its diff ID, and is checked against a descriptor's media type as its bytes
/// would be; once its bytes are in place they are what is read.
#[test]
fn a_layer_listed_without_its_bytes_answers_from_its_listing() {
    use crate::layer::persist::{Head, Writer};
    use crate::layer::{EntryMeta, EntryType, FileDigests};

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let bytes = b"a gzip layer's bytes".to_vec();
    let digest = Digest::sha256_of(&bytes);
    let diff_id = Digest::sha256_of(b"what it decompresses to");
    let mut w = Writer::new(store.new_listing().unwrap()).unwrap();
    w.push(&EntryMeta::new("etc", EntryType::Dir)).unwrap();
    let head = Head {
        files: FileDigests::BySize,
        compression: crate::model::Compression::Gzip,
        blob_size: bytes.len() as u64,
        diff_id: diff_id.clone(),
    };
    w.finish(&head).unwrap().keep_as(&digest).unwrap();

    assert!(!store.has_blob(&digest));
    assert!(store.is_verified(&digest));
    assert_eq!(
        store.listed(&digest),
        Some((crate::model::Compression::Gzip, diff_id))
    );
    let gzip = descriptor(media::OCI_LAYER_GZIP, digest.clone(), bytes.len() as u64);
    assert_eq!(
        crate::content::verify_layer(&store, &gzip).unwrap(),
        crate::model::Compression::Gzip
    );
    // Typed as uncompressed, gzip bytes are refused as reading them refuses them.
    let plain = descriptor(media::OCI_LAYER, digest.clone(), bytes.len() as u64);
    assert!(crate::content::verify_layer(&store, &plain).is_err());

    store.ingest(&gzip, &bytes[..]).unwrap();
    assert_eq!(store.listed(&digest), None, "the bytes are here");
}

/// The listings the store keeps beside layer blobs ([`crate::layer::persist`]): made by the
/// first walk, replayed by the next where the walk would have made the same.
mod listings {
    use ocidiff_testkit::{Compression as Packed, Entry, Layer};

    use super::*;
    use crate::content::BlobSource;
    use crate::layer::persist::keep;
    use crate::layer::{FileDigests, LayerError, Listing, list, walk};

    /// A store holding one gzip layer of a few entries, and the layer's descriptor.
    fn stored_layer() -> (tempfile::TempDir, Store, Descriptor) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let layer = Layer::new(vec![
            Entry::dir("etc"),
            Entry::file("etc/os-release", "ID=test\n").xattr("user.a", "b"),
            Entry::symlink("etc/link", "os-release"),
            Entry::file("big", vec![7; 100_000]),
        ])
        .compression(Packed::Gzip);
        let desc = store
            .ingest_bytes(media::OCI_LAYER_GZIP, &layer.blob_bytes())
            .unwrap();
        (dir, store, desc)
    }

    fn listed(store: &Store, desc: &Descriptor, limits: &Limits) -> Result<Listing, LayerError> {
        list(store, desc, 2, None, limits, FileDigests::BySize)
    }

    fn listing_path(dir: &tempfile::TempDir, desc: &Descriptor) -> std::path::PathBuf {
        dir.path().join("listings/sha256").join(desc.digest.hex())
    }

    /// Blanks the blob in place: a listing replayed from then on is the only way the next
    /// listing can still be right.
    fn spoil_blob(store: &Store, desc: &Descriptor) {
        std::fs::write(
            store.blob_path(&desc.digest),
            vec![0; usize::try_from(desc.size).unwrap()],
        )
        .unwrap();
    }

    #[test]
    fn the_first_walk_keeps_a_listing_the_next_replays() {
        let (dir, store, desc) = stored_layer();
        let walked = listed(&store, &desc, &Limits::default()).unwrap();
        assert!(listing_path(&dir, &desc).is_file());
        spoil_blob(&store, &desc);
        let replayed = listed(&store, &desc, &Limits::default()).unwrap();
        assert_eq!(replayed.entries, walked.entries);
        assert_eq!(replayed.diff_id, walked.diff_id);
        assert_eq!(replayed.compression, walked.compression);
        assert_eq!(walked.entries[3].layer, 2);
        // What the walk itself gives, kept by nobody.
        let memory = crate::content::MemorySource(
            [(desc.digest.clone(), Layer::raw(Vec::new()).blob_bytes())].into(),
        );
        assert!(memory.open_listing(&desc.digest).is_none());
    }

    #[test]
    fn a_torn_listing_is_walked_again_and_replaced() {
        let (dir, store, desc) = stored_layer();
        let walked = listed(&store, &desc, &Limits::default()).unwrap();
        let path = listing_path(&dir, &desc);
        let whole = std::fs::read(&path).unwrap();
        std::fs::write(&path, &whole[..whole.len() / 2]).unwrap();
        assert_eq!(
            listed(&store, &desc, &Limits::default()).unwrap().entries,
            walked.entries
        );
        assert_eq!(std::fs::read(&path).unwrap(), whole);
    }

    #[test]
    fn a_descriptor_the_listing_does_not_fit_is_checked_as_a_walk_checks_it() {
        let (_dir, store, desc) = stored_layer();
        listed(&store, &desc, &Limits::default()).unwrap();
        // Another size: the blob is read, and does not match.
        let longer = Descriptor {
            size: desc.size + 1,
            ..desc.clone()
        };
        let err = listed(&store, &longer, &Limits::default()).unwrap_err();
        assert!(err.to_string().contains("bytes long"), "{err}");
        // A media type that says uncompressed, for gzip bytes: refused as the walk refuses it.
        let plain = Descriptor {
            media_type: media::OCI_LAYER.into(),
            ..desc.clone()
        };
        let refused = || {
            list(
                &store,
                &plain,
                0,
                None,
                &Limits::default(),
                FileDigests::BySize,
            )
            .unwrap_err()
            .to_string()
        };
        let walked = refused();
        spoil_blob(&store, &desc);
        let replayed = refused();
        assert_eq!(replayed, walked);
    }

    #[test]
    fn only_listings_made_as_this_run_would_make_them_are_replayed() {
        let (dir, store, desc) = stored_layer();
        // Tighter limits than the defaults: walked, and nothing kept.
        let tight = Limits {
            entries: 3,
            ..Limits::default()
        };
        assert!(listed(&store, &desc, &tight).is_err());
        assert!(!listing_path(&dir, &desc).exists());
        listed(&store, &desc, &Limits::default()).unwrap();
        // Kept under the defaults, the listing is not replayed for tighter limits.
        assert!(listed(&store, &desc, &tight).is_err());
        // Nor for files hashed otherwise.
        spoil_blob(&store, &desc);
        assert!(
            list(
                &store,
                &desc,
                0,
                None,
                &Limits::default(),
                FileDigests::Sha256
            )
            .is_err()
        );
        assert!(listed(&store, &desc, &Limits::default()).is_ok());
        // Looser limits cover what the defaults allowed.
        let loose = Limits {
            entries: u64::MAX,
            ..Limits::default()
        };
        assert!(listed(&store, &desc, &loose).is_ok());
    }

    #[test]
    fn a_listing_made_by_a_source_is_kept_once() {
        let (dir, store, desc) = stored_layer();
        let listing = walk(
            &store,
            &desc,
            0,
            None,
            &Limits::default(),
            FileDigests::BySize,
            |_, _| Ok(()),
        )
        .unwrap();
        keep(&store, &desc, &listing, FileDigests::BySize);
        let path = listing_path(&dir, &desc);
        let first = std::fs::metadata(&path).unwrap().modified().unwrap();
        keep(&store, &desc, &listing, FileDigests::BySize);
        assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), first);
        spoil_blob(&store, &desc);
        assert_eq!(
            listed(&store, &desc, &Limits::default()).unwrap().entries,
            listing.as_layer(2).entries
        );
    }
}
