//! The bodies of the fuzz targets in `fuzz/fuzz_targets/`, one function each, shared so that
//! stable `cargo test` (`tests/fuzz_targets.rs`: generated inputs and every committed crash
//! input) checks what `cargo fuzz` checks on nightly. Each panics when its check fails; the
//! fifth target, `tar_vs_go`, is `tar_agreement::agree`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use ocidiff_core::content::{Limits, MemorySource};
use ocidiff_core::layer::{self, EntryMeta, EntryType, FileDigests, Listing, Tree, clean};
use ocidiff_core::model::{Compression, Descriptor, Digest, Document};
use ocidiff_core::reference::{DockerRef, ImageRef};

/// `DockerRef::parse` and `ImageRef::parse` never panic; a printed reference parses back to
/// itself, and a refusal quotes the input.
pub fn reference(input: &str) {
    match DockerRef::parse(input) {
        Ok(r) => {
            let again = DockerRef::parse(&r.to_string()).expect("a printed reference parses");
            assert_eq!(again, r, "{input:?} printed as {r}");
        }
        Err(e) => assert_eq!(e.input, input),
    }
    let _ = ImageRef::parse(input);
}

/// `Document::parse` never panics, whatever is declared.
pub fn document(data: &[u8]) {
    let _ = Document::parse(data, None);
    let _ = Document::parse(data, Some("application/vnd.oci.image.index.v1+json"));
    let _ = Document::parse(
        data,
        Some("application/vnd.docker.distribution.manifest.v2+json"),
    );
}

/// The layer walk over any bytes, declared with the media type their magic bytes need (else a
/// compressed input is refused before it is read): never panics, stays within its limits, and
/// a refusal names the layer.
pub fn layer_walk(data: &[u8]) {
    let digest = Digest::sha256_of(data);
    let media_type = ocidiff_testkit::layer_media_type(data);
    let desc = Descriptor {
        media_type: media_type.into(),
        digest: digest.clone(),
        size: data.len() as u64,
        platform: None,
        annotations: Default::default(),
        urls: vec![],
        artifact_type: None,
    };
    let source = MemorySource(HashMap::from([(digest.clone(), data.to_vec())]));
    let limits = Limits {
        json_bytes: 64 << 10,
        layer_bytes: 1 << 20,
        decompressed_bytes: 16 << 20,
        manifests: 64,
        layers: 64,
        entries: 10_000,
        metadata_bytes: 1 << 20,
    };
    let mut sink = Vec::new();
    // Either way of hashing files, picked by the input so that both are fuzzed.
    let files = if data.first().is_some_and(|b| b % 2 == 1) {
        FileDigests::Sha256
    } else {
        FileDigests::BySize
    };
    let walked = layer::walk(&source, &desc, 0, None, &limits, files, |_, r| {
        sink.clear();
        r.read_to_end(&mut sink).map(drop)
    });
    match walked {
        Ok(listing) => assert!(listing.entries.len() as u64 <= limits.entries),
        Err(e) => assert!(e.to_string().contains(&digest.to_string()), "{e}"),
    }
}

/// Layers separated by `\n\n`, entries by `\n`, a trailing `/` making a directory. Applying
/// them succeeds, or is refused at an entry of the refused layer; what is applied stays inside
/// the root, with no whiteout kept as a file.
pub fn overlay(input: &str) {
    let mut tree = Tree::default();
    for (i, layer) in input.split("\n\n").enumerate() {
        let entries: Vec<EntryMeta> = layer
            .lines()
            .enumerate()
            .map(|(p, l)| EntryMeta {
                position: p,
                layer: i,
                ..EntryMeta::new(
                    l,
                    if l.ends_with('/') {
                        EntryType::Dir
                    } else {
                        EntryType::File
                    },
                )
            })
            .collect();
        let listing = Arc::new(Listing {
            compression: Compression::None,
            entries: entries.clone(),
            diff_id: Digest::sha256_of(b""),
        });
        if let Err(e) = tree.apply(i, listing, &HashSet::new()) {
            assert!(e.position < entries.len(), "{e}");
            assert_eq!(e.name, entries[e.position].name);
            break;
        }
    }
    for e in tree.listing() {
        assert!(!e.name.is_empty());
        assert_eq!(clean(&e.name), e.name);
        // A whiteout's name stays only as a directory made for a missing parent (`.wh.a/x`).
        let base = e.name.rsplit('/').next().unwrap_or_default();
        assert!(e.implied || !base.starts_with(".wh."), "{}", e.name);
    }
}
