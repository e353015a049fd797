//! The fuzz targets of `fuzz/` on stable: each target's body (`fuzz_bodies`) on every input
//! committed under `fuzz/regressions/<target>/` (the crashes fuzzing found) and on a fixed
//! number of generated inputs, valid ones mutated as a fuzzer would and arbitrary bytes. The
//! case count is fixed, not `PROPTEST_CASES`: this is the bounded stand-in for `cargo fuzz
//! run`, which `scripts/test.sh` adds where nightly and cargo-fuzz are installed.
//! `tar_vs_go`'s regressions are replayed by `tests/go_tar.rs`, which has the Go oracle.

mod fuzz_bodies;

use std::path::PathBuf;

use ocidiff_testkit::{Compression, Entry, Layer, TarFormat, compress, mutate};
use proptest::prelude::*;

/// Generated inputs per target and run.
const CASES: u32 = 512;

/// The committed inputs of `target`, by file name.
fn regressions(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/regressions")
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut inputs: Vec<(String, Vec<u8>)> = entries
        .map(|e| {
            let path = e.expect("a regression input").path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (
                name,
                std::fs::read(&path).expect("a readable regression input"),
            )
        })
        .collect();
    inputs.sort();
    inputs
}

#[test]
fn committed_crash_inputs_pass() {
    for (name, bytes) in regressions("reference") {
        eprintln!("reference/{name}");
        fuzz_bodies::reference(&String::from_utf8_lossy(&bytes));
    }
    for (name, bytes) in regressions("document") {
        eprintln!("document/{name}");
        fuzz_bodies::document(&bytes);
    }
    for (name, bytes) in regressions("layer_walk") {
        eprintln!("layer_walk/{name}");
        fuzz_bodies::layer_walk(&bytes);
    }
    for (name, bytes) in regressions("overlay") {
        eprintln!("overlay/{name}");
        fuzz_bodies::overlay(&String::from_utf8_lossy(&bytes));
    }
}

/// Valid layers in each header format and compression, for the walk to start from.
fn seed_layers() -> Vec<Vec<u8>> {
    let tar = |format| {
        Layer::new(vec![
            Entry::dir("etc/"),
            Entry::file("etc/os-release", "ID=test\n").xattr("user.k", "v"),
            Entry::file(&format!("{}/file", "long/".repeat(30)), "x".repeat(600)),
            Entry::symlink("link", "etc/os-release"),
            Entry::hardlink("hard", "etc/os-release"),
            Entry::whiteout("gone"),
        ])
        .format(format)
        .tar_bytes()
    };
    let mut seeds = Vec::new();
    for format in [TarFormat::Ustar, TarFormat::Pax, TarFormat::Gnu] {
        let plain = tar(format);
        for compression in [Compression::Gzip, Compression::Zstd] {
            seeds.push(compress(&plain, compression));
        }
        seeds.push(plain);
    }
    seeds
}

/// Bytes as a fuzzer tries them: a seed with a few bytes changed and maybe cut, or anything.
fn fuzzed(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let n = seeds.len();
    prop_oneof![
        3 => (
            0..n,
            prop::collection::vec((any::<usize>(), any::<u8>()), 0..8),
            prop::option::of(any::<usize>()),
        )
            .prop_map(move |(i, edits, cut)| mutate(seeds[i].clone(), &edits, cut)),
        1 => prop::collection::vec(any::<u8>(), 0..2048),
    ]
}

/// Text made of the pieces that matter to `target`, or any text.
fn pieces(parts: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::collection::vec(prop::sample::select(parts), 0..16).prop_map(|p| p.concat()),
        1 => "\\PC{0,80}",
    ]
}

const REFERENCE_PARTS: &[&str] = &[
    "a",
    "b0",
    "Upper",
    "localhost",
    "ghcr.io",
    "[::1]",
    ":5000",
    ":",
    "/",
    "//",
    ".",
    "..",
    "_",
    "__",
    "-",
    "@",
    "sha256:",
    "0123456789abcdef0123456789abcdef",
    "latest",
    "docker://",
    "oci:",
    "oci-archive:",
    "docker-archive:",
    "containerd://",
    "podman://",
    "docker-daemon:",
];

const OVERLAY_PARTS: &[&str] = &[
    "a",
    "b",
    "/",
    "a/",
    "..",
    ".",
    ".wh.",
    ".wh.a",
    ".wh..wh..opq",
    "\n",
    "\n\n",
    "//",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn reference_target(input in pieces(REFERENCE_PARTS)) {
        fuzz_bodies::reference(&input);
    }

    #[test]
    fn document_target(data in fuzzed(ocidiff_testkit::sample_documents())) {
        fuzz_bodies::document(&data);
    }

    #[test]
    fn layer_walk_target(data in fuzzed(seed_layers())) {
        fuzz_bodies::layer_walk(&data);
    }

    #[test]
    fn overlay_target(input in pieces(OVERLAY_PARTS)) {
        fuzz_bodies::overlay(&input);
    }
}
