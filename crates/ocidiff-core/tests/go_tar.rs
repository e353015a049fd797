//! ocidiff's tar reader against Go's `archive/tar`, the reader of every container runtime:
//! entry by entry, field by field, content and errors, on Go's own test archives and on
//! generated hostile streams. Needs Go (`go` on PATH); the oracle is `go/tarread` in the test
//! kit.

// Scenario tests read top to bottom, one setup and its checks: splitting them hides the story.
#![allow(clippy::too_many_lines)]

mod tar_agreement;

use std::sync::{Mutex, OnceLock};

use ocidiff_testkit::go_tar::{self, GoTar};
use ocidiff_testkit::skip::skip;
use ocidiff_testkit::{RawTar, hostile_tar};
use proptest::prelude::*;
use tar_agreement::agree;

/// The Go oracle, or `None` when Go is not installed and the test must skip (after saying so).
/// Go there but failing to build or start the oracle is a failure.
fn oracle() -> Option<&'static Mutex<GoTar>> {
    static ORACLE: OnceLock<Option<Mutex<GoTar>>> = OnceLock::new();
    let oracle = ORACLE.get_or_init(|| {
        if !go_tar::go_installed() {
            return None;
        }
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("go");
        let bin = go_tar::build(&dir).unwrap_or_else(|why| panic!("the Go oracle: {why}"));
        let go = GoTar::start(&bin).unwrap_or_else(|why| panic!("the Go oracle: {why}"));
        Some(Mutex::new(go))
    });
    if oracle.is_none() {
        skip("Go is not installed (apt-get install golang-go)");
    }
    oracle.as_ref()
}

fn check(stream: &[u8]) -> Result<(), String> {
    let Some(go) = oracle() else { return Ok(()) };
    let mut go = go.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    agree(&mut go, stream)
}

/// Go's own test archives, read by both.
#[test]
fn gos_test_archives() {
    let Some(go) = oracle() else { return };
    let out = std::process::Command::new(go_tar::go())
        .args(["env", "GOROOT"])
        .output()
        .expect("go env GOROOT");
    let dir = std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
        .join("src/archive/tar/testdata");
    let mut read = 0;
    for entry in std::fs::read_dir(&dir).expect("Go's tar test data") {
        let path = entry.expect("dir entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = if path.extension().is_some_and(|e| e == "tar") {
            std::fs::read(&path).expect("read")
        } else if name.ends_with(".tar.base64") {
            use base64::Engine as _;
            let text: String = std::fs::read_to_string(&path)
                .expect("read")
                .split_whitespace()
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .expect("base64")
        } else {
            continue;
        };
        let mut go = go.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Err(why) = agree(&mut go, &bytes) {
            panic!("{name}: {why}");
        }
        read += 1;
    }
    assert!(
        read >= 40,
        "only {read} of Go's test archives found in {dir:?}"
    );
}

/// Where the `tar` crate reads a stream differently from Go: each class of the layer-reading
/// issue, written out.
fn classic_disagreements() -> Vec<(&'static str, Vec<u8>)> {
    let no_magic = |h: &mut [u8; 512]| h[257..265].fill(0);
    let zero_pad = |n: usize| vec![0u8; n];
    vec![
        (
            "size on a directory",
            RawTar::new()
                .entry(b"d/", b'5', 1024, b"")
                .file(b"f", b"abc")
                .finish(),
        ),
        (
            "size on a symlink and a hard link",
            RawTar::new()
                .bytes(&ocidiff_testkit::header_edited(
                    b"l",
                    b'2',
                    700,
                    b"t",
                    |_| {},
                ))
                .bytes(&ocidiff_testkit::header_edited(
                    b"h",
                    b'1',
                    700,
                    b"f",
                    |_| {},
                ))
                .file(b"f", b"abc")
                .finish(),
        ),
        (
            "typeflag NUL with a trailing slash",
            RawTar::new()
                .entry(b"d/", 0, 0, b"")
                .entry(b"f", 0, 1, b"x")
                .finish(),
        ),
        (
            "repeated and empty PAX records",
            RawTar::new()
                .pax(
                    b'x',
                    &[
                        ("path", b"one"),
                        ("path", b"two"),
                        ("uid", b""),
                        ("gid", b"7"),
                    ],
                )
                .file(b"header-name", b"")
                .finish(),
        ),
        (
            "PAX header without the ustar magic",
            RawTar::new()
                .edited(
                    b"PaxHeaders/0",
                    b'x',
                    &ocidiff_testkit::pax_records(&[("path", b"p")]),
                    no_magic,
                )
                .edited(b"plain", b'0', b"", no_magic)
                .finish(),
        ),
        (
            "GNU long name without the magic",
            RawTar::new()
                .edited(b"././@LongLink", b'L', b"long-name", no_magic)
                .edited(b"short", b'0', b"", no_magic)
                .finish(),
        ),
        (
            "ustar magic with another version",
            RawTar::new()
                .edited(b"v", b'0', b"", |h| h[263..265].copy_from_slice(b"xx"))
                .finish(),
        ),
        (
            "the STAR trailer",
            RawTar::new()
                .edited(b"name", b'0', b"", |h| {
                    h[345..351].copy_from_slice(b"prefix");
                    h[508..512].copy_from_slice(b"tar\0");
                })
                .finish(),
        ),
        (
            "GNU times that are not numbers",
            RawTar::new()
                .edited(b"name", b'0', b"", |h| {
                    h[257..263].copy_from_slice(b"ustar ");
                    h[263..265].copy_from_slice(b" \0");
                    h[345..351].copy_from_slice(b"pre/fx");
                })
                .finish(),
        ),
        (
            "a PAX uid that does not parse",
            RawTar::new()
                .pax(b'x', &[("uid", b"12x")])
                .file(b"f", b"")
                .finish(),
        ),
        (
            "a zero block followed by more entries",
            RawTar::new()
                .file(b"a", b"")
                .bytes(&zero_pad(512))
                .file(b"hidden", b"")
                .finish(),
        ),
        (
            "typeflags runtimes refuse",
            RawTar::new()
                .entry(b"c", b'7', 1, b"x")
                .entry(b"v", b'V', 0, b"")
                .finish(),
        ),
        (
            "a global header named like a path",
            RawTar::new()
                .bytes(&ocidiff_testkit::header_edited(
                    b"etc/passwd",
                    b'g',
                    0,
                    b"",
                    |_| {},
                ))
                .finish(),
        ),
    ]
}

#[test]
fn known_disagreements_with_the_tar_crate() {
    for (what, stream) in classic_disagreements() {
        check(&stream).unwrap_or_else(|why| panic!("{what}: {why}"));
    }
}

fn cases() -> u32 {
    std::env::var("OCIDIFF_GO_TAR_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

/// The inputs the `tar_vs_go` fuzz target found (`fuzz/regressions/tar_vs_go/`), read by both.
#[test]
fn fuzz_regressions_read_as_go_reads_them() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/tar_vs_go");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("a regression input").path();
        let stream = std::fs::read(&path).expect("a readable regression input");
        if let Err(why) = check(&stream) {
            panic!("{}: {why}", path.display());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// Generated hostile streams: both readers agree entry by entry, or both refuse.
    #[test]
    fn hostile_streams_read_as_go_reads_them(seed in any::<u64>()) {
        let stream = hostile_tar::stream(seed);
        if let Err(why) = check(&stream) {
            prop_assert!(false, "seed {}: {}\nstream: {}", seed, why, hex::encode(&stream));
        }
    }

    /// A valid stream with a few bytes changed anywhere.
    #[test]
    fn mutated_streams_read_as_go_reads_them(
        seed in any::<u64>(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
    ) {
        let mut stream = hostile_tar::stream(seed);
        let len = stream.len();
        for (at, byte) in edits.iter().filter(|_| len > 0) {
            stream[at % len] = *byte;
        }
        if let Err(why) = check(&stream) {
            prop_assert!(false, "{}\nstream: {}", why, hex::encode(&stream));
        }
    }
}
