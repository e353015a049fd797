//! Hostile images through the `ocidiff` binary, each generated here with its documented outcome:
//! a reported difference (exit 1) or one clear line of error (exit 2). Every run also checks
//! that nothing panicked, that nothing changed outside `--report-dir` (the sandbox is listed and
//! hashed before and after), that no file named for the sandbox appeared next to it, at `/` or
//! in the working directory, that the sandbox's `secret` (which links in images point at) was
//! not read into the output or the report, that the report dir holds only regular files and
//! directories, and that the run ended in bounded time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use ocidiff_testkit::skip::skip;
use ocidiff_testkit::{
    Compression, Entry, ImageSpec, Layer, RawLayer, RawTar, compress, sha256_digest,
    write_index_json, write_layout_blobs, write_oci_archive, write_oci_dir, write_raw_oci_dir,
};
use serde_json::json;

/// Generous for debug builds on a busy machine; each case takes well under a second normally.
const TIME_BOUND: Duration = Duration::from_secs(60);

/// A temp dir holding the inputs, a `secret` file that links in images point at, and the
/// report dirs `out/report-N`, one per run.
struct Sandbox {
    dir: tempfile::TempDir,
    /// Unique text that names written by an escaping entry would contain.
    token: String,
    /// The content of `secret`, which no run may show.
    secret: String,
    runs: std::cell::Cell<usize>,
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Run {
    /// Exit 2 and one line of error containing each of `needles`.
    fn error(&self, needles: &[&str]) {
        assert_eq!(self.code, Some(2), "{}{}", self.stdout, self.stderr);
        assert!(
            self.stderr.starts_with("ocidiff: error: "),
            "{}",
            self.stderr
        );
        assert_eq!(self.stderr.trim_end().lines().count(), 1, "{}", self.stderr);
        for n in needles {
            assert!(self.stderr.contains(n), "{n:?} not in {}", self.stderr);
        }
    }

    /// Exit 1: a difference reported, no error.
    fn different(&self) {
        assert_eq!(self.code, Some(1), "{}{}", self.stdout, self.stderr);
    }
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("ocidiff-hostile-")
            .tempdir()
            .unwrap();
        let token = dir
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let secret = format!("secret of {token}\n");
        std::fs::write(dir.path().join("secret"), &secret).unwrap();
        std::fs::create_dir(dir.path().join("out")).unwrap();
        Sandbox {
            dir,
            token,
            secret,
            runs: std::cell::Cell::new(0),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The report dir of the latest run (each run gets a new one).
    fn report_dir(&self) -> PathBuf {
        self.path()
            .join("out")
            .join(format!("report-{}", self.runs.get()))
    }

    /// Writes `spec` as an OCI layout named `name`; returns its path.
    fn image(&self, name: &str, spec: ImageSpec) -> String {
        let dir = self.path().join(name);
        write_oci_dir(&dir, &[("", spec.into())]).unwrap();
        dir.display().to_string()
    }

    fn raw(&self, name: &str, layers: &[RawLayer]) -> String {
        let dir = self.path().join(name);
        write_raw_oci_dir(&dir, layers).unwrap();
        dir.display().to_string()
    }

    /// An ordinary image to compare hostile ones with.
    fn plain(&self) -> String {
        self.image(
            "plain",
            ImageSpec::new().layer(Layer::new(vec![Entry::file("etc/hostname", "box\n")])),
        )
    }

    /// `ocidiff diff --report-dir out/report ARGS…`, checked for everything every case must
    /// hold.
    fn diff(&self, args: &[&str]) -> Run {
        self.runs.set(self.runs.get() + 1);
        let before = snapshot(self.path(), &self.report_dir());
        let around = self.around();
        let around_before: Vec<_> = around.iter().map(|d| names_with(d, &self.token)).collect();
        let start = Instant::now();
        let report_dir = self.report_dir();
        let out = Command::cargo_bin("ocidiff")
            .unwrap()
            .arg("diff")
            .arg("--report-dir")
            .arg(&report_dir)
            .args(args)
            .timeout(TIME_BOUND * 2)
            .output()
            .unwrap();
        let run = Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            elapsed: start.elapsed(),
        };
        assert!(
            !run.stderr.contains("panicked") && !run.stderr.contains("RUST_BACKTRACE"),
            "{}",
            run.stderr
        );
        assert!(run.elapsed < TIME_BOUND, "took {:?}", run.elapsed);
        assert_eq!(
            snapshot(self.path(), &report_dir),
            before,
            "something outside the report dir changed"
        );
        for (dir, names) in around.iter().zip(around_before) {
            assert_eq!(
                names_with(dir, &self.token),
                names,
                "something was written in {}",
                dir.display()
            );
        }
        assert_only_files_and_dirs(&report_dir);
        self.assert_secret_unread(&run, &report_dir);
        run
    }

    /// Where an escaping write would land: next to the sandbox, `/` (where enough `..` lead),
    /// and the working directory.
    fn around(&self) -> Vec<PathBuf> {
        vec![
            self.path().parent().unwrap().to_owned(),
            PathBuf::from("/"),
            std::env::current_dir().unwrap(),
        ]
    }

    /// Neither `secret`'s content nor its digest (what a link followed out of the image would
    /// show) is in the output or in any file of the report dir.
    fn assert_secret_unread(&self, run: &Run, report_dir: &Path) {
        let digest = sha256_digest(self.secret.as_bytes());
        let needles = [self.secret.trim_end(), &digest[7..]];
        let mut texts = vec![("stdout".to_owned(), run.stdout.clone())];
        texts.push(("stderr".to_owned(), run.stderr.clone()));
        if report_dir.exists() {
            let mut stack = vec![report_dir.to_owned()];
            while let Some(dir) = stack.pop() {
                for entry in std::fs::read_dir(&dir).unwrap() {
                    let path = entry.unwrap().path();
                    if path.is_dir() {
                        stack.push(path);
                    } else {
                        let bytes = std::fs::read(&path).unwrap();
                        let text = String::from_utf8_lossy(&bytes).into_owned();
                        texts.push((path.display().to_string(), text));
                    }
                }
            }
        }
        for (what, text) in texts {
            for needle in needles {
                assert!(!text.contains(needle), "the sandbox's secret is in {what}");
            }
        }
    }
}

/// Every path under `root` except `skip`, with its kind and content hash (link target for
/// symlinks), not following links.
fn snapshot(root: &Path, skip: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path == skip {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let what = if meta.is_dir() {
                stack.push(path.clone());
                "dir".to_owned()
            } else if meta.file_type().is_symlink() {
                format!("link {}", std::fs::read_link(&path).unwrap().display())
            } else if meta.len() > 1 << 20 {
                // Hashing big inputs in a debug build costs more than the run; a write would
                // change the length or the modification time.
                format!("big {} {:?}", meta.len(), meta.modified().unwrap())
            } else {
                sha256_digest(&std::fs::read(&path).unwrap())
            };
            out.insert(path, what);
        }
    }
    out
}

fn names_with(dir: &Path, token: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(token))
        .collect();
    names.sort();
    names
}

fn assert_only_files_and_dirs(dir: &Path) {
    if !dir.exists() {
        return;
    }
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let kind = std::fs::symlink_metadata(&path).unwrap().file_type();
            if kind.is_dir() {
                stack.push(path);
            } else {
                assert!(kind.is_file(), "{} is not a regular file", path.display());
            }
        }
    }
}

fn tar_layer(entries: Vec<Entry>) -> Layer {
    Layer::new(entries)
}

#[test]
fn traversal_absolute_and_link_escapes_stay_in_the_report_dir() {
    let sb = Sandbox::new();
    let root = sb.path().display().to_string();
    let t = &sb.token;
    let hostile = sb.image(
        "hostile",
        ImageSpec::new().layer(tar_layer(vec![
            // Hard links resolve inside the image's root: these are what they link to.
            Entry::file("secret", "the image's own"),
            Entry::file(&format!("{root}/secret"), "the image's own too"),
            Entry::file(&format!("../../../../{t}-dotdot"), "x"),
            Entry::file(&format!("a/../../../{t}-mid"), "x"),
            Entry::file(&format!("{root}/out/abs-{t}"), "x"),
            Entry::file(&format!("/{t}-root"), "x"),
            Entry::symlink("evil", &format!("{root}/out")),
            Entry::file(&format!("evil/through-{t}"), "x"),
            Entry::symlink("up", "../../../../.."),
            Entry::file(&format!("up/{t}-up"), "x"),
            Entry::hardlink("hl", &format!("{root}/secret")),
            Entry::hardlink("hl2", "../../../../secret"),
            Entry::file("hl", "overwrite the secret through the hard link"),
            Entry::dir("."),
            Entry::dir("/"),
        ])),
    );
    let run = sb.diff(&[&sb.plain(), &hostile]);
    run.different();
    assert!(sb.report_dir().join("report.json").is_file());
    // The names are reported as the image has them.
    assert!(run.stdout.contains("dotdot"), "{}", run.stdout);
}

#[test]
fn device_nodes_and_fifos_are_reported_not_created() {
    let sb = Sandbox::new();
    let hostile = sb.image(
        "hostile",
        ImageSpec::new().layer(tar_layer(vec![
            Entry::char_device("dev/null", 1, 3),
            Entry::block_device("dev/sda", 8, 0),
            Entry::fifo("run/fifo"),
            Entry::char_device("dev/kmsg-huge", u32::MAX >> 11, u32::MAX >> 11),
        ])),
    );
    let run = sb.diff(&[&sb.plain(), &hostile]);
    run.different();
    assert!(run.stdout.contains("dev/sda"), "{}", run.stdout);
}

#[test]
fn a_file_longer_than_its_stream_is_an_error() {
    let sb = Sandbox::new();
    let short = RawTar::new()
        .file(b"ok", b"fine")
        .entry(b"lies", b'0', 1 << 20, b"short")
        .unterminated();
    let huge = RawTar::new()
        .entry(b"lies", b'0', 1 << 40, b"short")
        .finish();
    for (name, bytes, needle) in [
        (
            "short",
            short,
            "the archive ends inside the entry at byte 1024",
        ),
        ("huge", huge, "the archive ends inside the entry at byte 0"),
    ] {
        let hostile = sb.raw(name, &[RawLayer::tar(bytes)]);
        sb.diff(&[&sb.plain(), &hostile])
            .error(&["layer sha256:", needle]);
    }
}

/// A tar of one file of `size` zero bytes, compressed: kilobytes expanding to `size`.
fn bomb(size: usize, compression: Compression) -> RawLayer {
    let tar = RawTar::new().file(b"zeros", &vec![0; size]).finish();
    let media = match compression {
        Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
        Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        Compression::None => "application/vnd.oci.image.layer.v1.tar",
    };
    RawLayer::new(media, compress(&tar, compression))
}

#[test]
fn gzip_and_zstd_bombs_stop_at_the_decompressed_limit() {
    let sb = Sandbox::new();
    let plain = sb.plain();
    // --max-scale 0.0001 lowers the 32 GiB default to 3.4 MB; the bombs expand to 16 MiB.
    for (name, compression) in [("gz", Compression::Gzip), ("zst", Compression::Zstd)] {
        let layer = bomb(16 << 20, compression);
        assert!(layer.bytes.len() < 100 << 10, "{}", layer.bytes.len());
        let hostile = sb.raw(name, &[layer]);
        sb.diff(&["--max-scale", "0.0001", &plain, &hostile])
            .error(&["decompressed", "limit of 3435973 bytes", "--max-scale"]);
    }
}

#[test]
fn a_long_name_bomb_is_refused_before_it_is_read_into_memory() {
    let sb = Sandbox::new();
    // 64 MiB of GNU long name (Go's archive/tar, and so every runtime, refuses more than 1 MiB),
    // in about 64 KiB of gzip.
    let tar = RawTar::new()
        .entry(b"././@LongLink", b'L', 64 << 20, &vec![b'a'; 64 << 20])
        .file(b"x", b"")
        .finish();
    let hostile = sb.raw(
        "longname",
        &[RawLayer::new(
            "application/vnd.oci.image.layer.v1.tar+gzip",
            compress(&tar, Compression::Gzip),
        )],
    );
    sb.diff(&[&sb.plain(), &hostile]).error(&[
        "layer sha256:",
        "GNU long name over 1 MiB, which container runtimes refuse",
    ]);
    let mut pax = format!("{} path=", 67_108_864 + 8 + 7).into_bytes();
    pax.resize(64 << 20, b'p');
    let tar = RawTar::new()
        .entry(b"PaxHeaders/x", b'x', pax.len() as u64, &pax)
        .file(b"x", b"")
        .finish();
    let hostile = sb.raw(
        "pax",
        &[RawLayer::new(
            "application/vnd.oci.image.layer.v1.tar+zstd",
            compress(&tar, Compression::Zstd),
        )],
    );
    sb.diff(&[&sb.plain(), &hostile])
        .error(&["PAX header or GNU long name over 1 MiB"]);
}

/// Runs `ocidiff diff ARGS…` under `/usr/bin/time` (installed by the test script): the exit
/// code, stderr and peak RSS in MB; `None` when `/usr/bin/time` is missing.
fn peak_rss(args: &[&str]) -> Option<(Option<i32>, String, u64)> {
    if !Path::new("/usr/bin/time").exists() {
        skip("/usr/bin/time is missing (apt-get install time)");
        return None;
    }
    let out = std::process::Command::new("/usr/bin/time")
        .args(["-f", "peak-rss-kb %M"])
        .arg(assert_cmd::cargo::cargo_bin("ocidiff"))
        .arg("diff")
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let (ocidiff, time) = stderr.rsplit_once("peak-rss-kb ").expect("time's line");
    let kb: u64 = time.trim().parse().expect("a number");
    Some((out.status.code(), ocidiff.to_owned(), kb / 1024))
}

#[test]
fn metadata_bombs_stay_under_512_mb_or_name_the_limit() {
    let sb = Sandbox::new();
    let plain = sb.plain();
    let image = |name: &str, tar: Vec<u8>| {
        sb.raw(
            name,
            &[RawLayer::new(
                "application/vnd.oci.image.layer.v1.tar+gzip",
                compress(&tar, Compression::Gzip),
            )],
        )
    };
    // A GNU long name and a PAX header declaring 1 GiB: refused once 1 MiB is read.
    let long_name = RawTar::new()
        .bytes(&ocidiff_testkit::header_edited(
            b"././@LongLink",
            b'L',
            1 << 30,
            b"",
            |_| {},
        ))
        .bytes(&vec![b'a'; 2 << 20])
        .unterminated();
    let pax = RawTar::new()
        .bytes(&ocidiff_testkit::header_edited(
            b"PaxHeaders/x",
            b'x',
            1 << 30,
            b"",
            |_| {},
        ))
        .bytes(format!("{} path=", (1u64 << 30) - 1).as_bytes())
        .bytes(&vec![b'p'; 2 << 20])
        .unterminated();
    // Hundreds of entries each with an extended attribute of almost 1 MiB, and entries with a
    // 1 MiB PAX header of a hundred thousand small records: within Go's per-header limit,
    // refused by the bound on what one layer may keep.
    let big_value = vec![b'v'; (1 << 20) - 100];
    let mut xattrs = RawTar::new();
    for i in 0..300 {
        xattrs = xattrs
            .pax(b'x', &[("SCHILY.xattr.user.big", &big_value)])
            .file(format!("f{i}").as_bytes(), b"");
    }
    let records: Vec<(String, Vec<u8>)> = (0..95_000).map(|i| (format!("k{i}"), vec![])).collect();
    let records: Vec<(&str, &[u8])> = records.iter().map(|(k, v)| (k.as_str(), &v[..])).collect();
    let small = ocidiff_testkit::pax_records(&records);
    assert!(small.len() < 1 << 20);
    let mut many = RawTar::new();
    for i in 0..40 {
        many = many
            .entry(b"PaxHeaders/x", b'x', small.len() as u64, &small)
            .file(format!("f{i}").as_bytes(), b"");
    }
    for (name, tar, needles) in [
        ("long-name", long_name, &["GNU long name over 1 MiB"][..]),
        ("pax", pax, &["GNU long name over 1 MiB"][..]),
        (
            "xattrs",
            xattrs.finish(),
            &[
                "bytes of names, PAX records and extended attributes",
                "--max-scale",
            ][..],
        ),
        (
            "records",
            many.finish(),
            &[
                "bytes of names, PAX records and extended attributes",
                "--max-scale",
            ][..],
        ),
    ] {
        let hostile = image(name, tar);
        let Some((code, stderr, mb)) = peak_rss(&[&plain, &hostile]) else {
            return;
        };
        assert_eq!(code, Some(2), "{name}: {stderr}");
        for n in needles {
            assert!(stderr.contains(n), "{name}: {n:?} not in {stderr}");
        }
        eprintln!("{name}: exit 2, peak RSS {mb} MB");
        assert!(mb < 512, "{name}: peak RSS {mb} MB");
    }
}

#[test]
fn a_hundred_thousand_entries_in_bounded_time_and_the_entry_limit() {
    let sb = Sandbox::new();
    // Written with the raw writer: building 100k entries through `tar` is slow in debug.
    let layer = |stamp: &[u8]| {
        let mut tar = RawTar::new();
        for i in 0..100_000 {
            tar = tar.file(format!("d{}/f{i}", i % 100).as_bytes(), b"");
        }
        RawLayer::tar(tar.file(b"stamp", stamp).finish())
    };
    // The same entries on both sides but one, so the report dir gets one file each.
    let lhs = sb.raw("lhs", &[layer(b"1")]);
    let rhs = sb.raw("rhs", &[layer(b"2")]);
    let run = sb.diff(&[&lhs, &rhs]);
    run.different();
    eprintln!("100k entries: {:?}", run.elapsed);
    // 4 Mi entries scaled by 0.02: 83886 (and the 51 MB layer is within 4 GiB × 0.02).
    sb.diff(&["--max-scale", "0.02", &lhs, &rhs])
        .error(&["more than 83886 entries", "--max-scale"]);
}

#[test]
fn non_utf8_long_and_duplicate_names_are_reported() {
    let sb = Sandbox::new();
    // 4 KiB of name: 100 directories and a component of 3500 bytes.
    let mut long: Vec<u8> = [&b"deep/"[..]; 100].concat();
    long.extend_from_slice(&[b'n'; 3500]);
    let mut long_bad = long.clone();
    long_bad.extend_from_slice(b"caf\xe9\xff");
    let mut name = long_bad.clone();
    name.push(0);
    let tar = RawTar::new()
        .file(b"caf\xe9", b"latin-1")
        .file(b"\xff\xfe/\x01\x7f", b"control")
        .entry(b"././@LongLink", b'L', name.len() as u64, &name)
        .file(b"ignored", b"long")
        .file(b"dup", b"first")
        .file(b"dup", b"second")
        .entry(b"dup", b'5', 0, b"")
        .file(b"dup/child", b"under a file")
        .finish();
    let hostile = sb.raw("names", &[RawLayer::tar(tar)]);
    let run = sb.diff(&[&sb.plain(), &hostile]);
    run.different();
    assert!(run.stdout.contains("caf\\xe9"), "{}", run.stdout);
}

#[test]
fn malformed_and_huge_json_are_errors() {
    let sb = Sandbox::new();
    let plain = sb.plain();
    let bad = sb.path().join("bad-index");
    write_oci_dir(&bad, &[("", ImageSpec::new().into())]).unwrap();
    write_index_json(&bad, b"{\"schemaVersion\": 2, \"manifests\": [").unwrap();
    sb.diff(&[&plain, bad.to_str().unwrap()])
        .error(&["index.json: malformed JSON"]);

    // A 10 GiB index.json (sparse on disk) is refused without reading it.
    let huge = sb.path().join("huge-index");
    write_oci_dir(&huge, &[("", ImageSpec::new().into())]).unwrap();
    std::fs::File::create(huge.join("index.json"))
        .unwrap()
        .set_len(10 << 30)
        .unwrap();
    sb.diff(&[&plain, huge.to_str().unwrap()])
        .error(&["index.json", "limit of 8388608 bytes"]);

    // A manifest that is valid by digest but not JSON.
    let garbage = ocidiff_testkit::Blob::new(
        "application/vnd.oci.image.manifest.v1+json",
        b"\x00\x01not json".to_vec(),
    );
    let dir = sb.path().join("garbage-manifest");
    write_layout_blobs(&dir, std::slice::from_ref(&garbage)).unwrap();
    write_index_json(
        &dir,
        &serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [garbage.descriptor()]}))
            .unwrap(),
    )
    .unwrap();
    sb.diff(&[&plain, dir.to_str().unwrap()])
        .error(&["malformed JSON"]);

    // A config declaring more than the JSON limit is refused before it is read.
    let big = sb.image(
        "big-config",
        ImageSpec::new().config_field("padding", json!("x".repeat(9 << 20))),
    );
    sb.diff(&[&plain, &big])
        .error(&["limit of 8388608 bytes", "--max-scale"]);
}

#[test]
fn nested_indexes_and_self_reference_are_bounded() {
    let sb = Sandbox::new();
    let plain = sb.plain();
    // Ten indexes deep: each lists the one below it.
    let built = ImageSpec::new().build();
    let mut blobs: Vec<ocidiff_testkit::Blob> = built.blobs().cloned().collect();
    let mut below = built.descriptor();
    below["platform"] = json!({"os": "linux", "architecture": "amd64"});
    for _ in 0..10 {
        let index = ocidiff_testkit::Blob::new(
            "application/vnd.oci.image.index.v1+json",
            serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": [below],
            }))
            .unwrap(),
        );
        below = index.descriptor();
        blobs.push(index);
    }
    let deep = sb.path().join("deep");
    write_layout_blobs(&deep, &blobs).unwrap();
    write_index_json(
        &deep,
        &serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [below]})).unwrap(),
    )
    .unwrap();
    sb.diff(&[&plain, deep.to_str().unwrap()])
        .error(&["is nested more than 8 indexes deep"]);

    // An index naming itself can only do so with a digest its content does not have.
    let selfref = sb.path().join("selfref");
    let fake = sha256_digest(b"the index names this digest");
    let body = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json",
                       "digest": fake, "size": 200}],
    }))
    .unwrap();
    let mut body = body;
    body.resize(200, b' ');
    std::fs::create_dir_all(selfref.join("blobs/sha256")).unwrap();
    std::fs::write(selfref.join("blobs/sha256").join(&fake[7..]), &body).unwrap();
    std::fs::write(
        selfref.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    write_index_json(
        &selfref,
        &serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [
            {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": fake, "size": 200}
        ]}))
        .unwrap(),
    )
    .unwrap();
    sb.diff(&[&plain, selfref.to_str().unwrap()])
        .error(&["does not match its digest"]);
}

#[test]
fn an_index_fanning_out_to_the_same_index_is_bounded() {
    // A lists B 64 times, B lists C 64 times, C lists one manifest 64 times: 262144 manifests
    // from three small blobs, unless choosing follows one entry (--platform) and listing
    // every image reads each index once (--all-platforms).
    let sb = Sandbox::new();
    let built = ImageSpec::new().build();
    let mut blobs: Vec<ocidiff_testkit::Blob> = built.blobs().cloned().collect();
    let mut below = built.descriptor();
    below["platform"] = json!({"os": "linux", "architecture": "amd64"});
    for _ in 0..3 {
        let index = ocidiff_testkit::Blob::new(
            "application/vnd.oci.image.index.v1+json",
            serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": vec![below.clone(); 64],
            }))
            .unwrap(),
        );
        below = index.descriptor();
        blobs.push(index);
    }
    let dir = sb.path().join("fan");
    write_layout_blobs(&dir, &blobs).unwrap();
    write_index_json(
        &dir,
        &serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [below]})).unwrap(),
    )
    .unwrap();
    for extra in [None, Some("--all-platforms")] {
        let mut args = vec![sb.plain(), dir.to_str().unwrap().to_owned()];
        args.extend(extra.map(str::to_owned));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = sb.diff(&args);
        run.different();
        assert!(run.elapsed < Duration::from_secs(20), "{:?}", run.elapsed);
    }
    // One index listing more manifests than the limit is refused before it is read.
    let wide = dir.with_file_name("wide");
    let mut entry = built.descriptor();
    entry["platform"] = json!({"os": "linux", "architecture": "amd64"});
    write_layout_blobs(&wide, &built.blobs().cloned().collect::<Vec<_>>()).unwrap();
    let index = ocidiff_testkit::Blob::new(
        "application/vnd.oci.image.index.v1+json",
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": vec![entry; 4097],
        }))
        .unwrap(),
    );
    write_layout_blobs(&wide, std::slice::from_ref(&index)).unwrap();
    write_index_json(
        &wide,
        &serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [index.descriptor()]}))
            .unwrap(),
    )
    .unwrap();
    sb.diff(&[&sb.plain(), wide.to_str().unwrap()])
        .error(&["more than the limit of 4096", "--max-scale"]);
}

#[test]
fn missing_blob_is_an_error() {
    let sb = Sandbox::new();
    let spec = ImageSpec::new().layer(tar_layer(vec![Entry::file("a", "1")]));
    let img = sb.image("missing", spec.clone());
    let layer = &spec.build().layers[0];
    std::fs::remove_file(Path::new(&img).join("blobs/sha256").join(layer.hex())).unwrap();
    sb.diff(&[&sb.plain(), &img])
        .error(&[&layer.digest, "not found"]);
}

#[test]
fn same_digest_blobs_are_verified_on_both_sides() {
    let spec = ImageSpec::new().layer(tar_layer(vec![Entry::file("etc/passwd", "root:x:0:0\n")]));
    let built = spec.build();
    // A layer and a config, each changed on the right side only.
    for (hex, position) in [
        (built.layers[0].hex().to_owned(), 600),
        (built.config.hex().to_owned(), 2),
    ] {
        let sb = Sandbox::new();
        let lhs = sb.image("lhs", spec.clone());
        let rhs = sb.image("rhs", spec.clone());
        let blob = Path::new(&rhs).join("blobs/sha256").join(&hex);
        let mut bytes = std::fs::read(&blob).unwrap();
        bytes[position] ^= 1;
        std::fs::write(&blob, bytes).unwrap();
        sb.diff(&[&lhs, &rhs])
            .error(&["input 1", &hex, "does not match its digest"]);
        // Either way round.
        sb.diff(&[&rhs, &lhs])
            .error(&["input 0", &hex, "does not match its digest"]);
    }
}

#[test]
fn unknown_media_types_are_compared_or_refused_clearly() {
    let sb = Sandbox::new();
    let tar = Layer::new(vec![Entry::file("a", "1")]).tar_bytes();
    let gzip = compress(&tar, Compression::Gzip);
    // One check whatever the mode: the layer view, the file system view, the packages.
    let modes: [&[&str]; 3] = [&[], &["--flatten"], &["--packages"]];
    for (i, (media_type, bytes, needle)) in [
        (
            "application/x-not-a-layer",
            &tar,
            "\"application/x-not-a-layer\"",
        ),
        (
            "application/vnd.oci.image.layer.v1.tar+foo",
            &tar,
            "\"application/vnd.oci.image.layer.v1.tar+foo\"",
        ),
        (
            "application/vnd.oci.image.layer.v1.tar+gzip+encrypted",
            &gzip,
            "cannot decrypt",
        ),
        (
            "application/vnd.oci.image.layer.v1.tar",
            &gzip,
            "containerd as an uncompressed tar",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let odd = sb.raw(
            &format!("odd-{i}"),
            &[RawLayer::new(media_type, bytes.clone())],
        );
        let plain = sb.plain();
        for mode in modes {
            let mut args = mode.to_vec();
            args.extend([plain.as_str(), odd.as_str()]);
            sb.diff(&args).error(&[needle]);
        }
    }

    // A manifest whose own media type is unknown.
    let dir = sb.path().join("odd-manifest");
    let doc = ocidiff_testkit::Blob::new(
        "application/x-unknown",
        serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": "application/x-unknown"}))
            .unwrap(),
    );
    write_layout_blobs(&dir, std::slice::from_ref(&doc)).unwrap();
    write_index_json(
        &dir,
        &serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [doc.descriptor()]})).unwrap(),
    )
    .unwrap();
    sb.diff(&[&sb.plain(), dir.to_str().unwrap()])
        .error(&["application/x-unknown"]);
}

#[test]
fn truncated_archives_and_streams_are_errors() {
    let sb = Sandbox::new();
    let plain = sb.plain();
    let spec = ImageSpec::new().layer(
        Layer::new(vec![Entry::file("big", vec![7u8; 200_000])]).compression(Compression::Gzip),
    );
    let archive = sb.path().join("img.tar");
    write_oci_archive(&archive, &[("", spec.clone().into())]).unwrap();
    let bytes = std::fs::read(&archive).unwrap();
    // Halfway, inside the last member's data (`oci-layout`), inside the first header.
    for (cut, needle) in [
        (bytes.len() / 2, "past the end of the archive"),
        (
            bytes.len() - 1024 - 512 + 10,
            "member \"oci-layout\" ends at byte",
        ),
        (300, "not a readable tar archive"),
    ] {
        let cut_path = sb.path().join(format!("cut-{cut}.tar"));
        std::fs::write(&cut_path, &bytes[..cut]).unwrap();
        sb.diff(&[&plain, &format!("oci-archive:{}", cut_path.display())])
            .error(&[needle]);
    }
    // A gzip layer cut short, whose descriptor names the short bytes (so the digest holds).
    let blob = spec.build().layers[0].bytes.clone();
    let cut = sb.raw(
        "cut-gzip",
        &[RawLayer::new(
            "application/vnd.oci.image.layer.v1.tar+gzip",
            blob[..blob.len() / 2].to_vec(),
        )],
    );
    sb.diff(&[&plain, &cut])
        .error(&["layer sha256:", "incomplete deflate stream"]);
    // A tar without its end-of-archive marker is read to its end: only the marker is missing.
    let unterminated = sb.raw(
        "unterminated",
        &[RawLayer::tar(RawTar::new().file(b"a", b"1").unterminated())],
    );
    sb.diff(&[&plain, &unterminated]).different();
}

#[test]
fn a_layer_holding_itself_is_just_a_file() {
    let sb = Sandbox::new();
    let inner = Layer::new(vec![Entry::file("a", "1")]).tar_bytes();
    let outer = Layer::new(vec![
        Entry::file("layer.tar", &inner),
        Entry::file("layer.tar.gz", compress(&inner, Compression::Gzip)),
    ]);
    let hostile = sb.image("nested", ImageSpec::new().layer(outer.clone()).layer(outer));
    sb.diff(&[&sb.plain(), &hostile]).different();
}

/// The members of an uncompressed tar of ustar headers, but `name`.
fn without_member(tar: &[u8], name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 512 <= tar.len() {
        let header = &tar[at..at + 512];
        let member = &header[..100];
        let member = &member[..member.iter().position(|&b| b == 0).unwrap_or(100)];
        let size = std::str::from_utf8(&header[124..136]).unwrap();
        let size =
            u64::from_str_radix(size.trim_matches(|c: char| c == '\0' || c == ' '), 8).unwrap_or(0);
        let size = usize::try_from(size).unwrap();
        let end = at + 512 + size.div_ceil(512) * 512;
        if member != name.as_bytes() {
            out.extend_from_slice(&tar[at..end.min(tar.len())]);
        }
        at = end;
    }
    out
}

#[test]
fn oci_archive_members_escaping_are_not_followed() {
    let sb = Sandbox::new();
    let (bytes, _) = ocidiff_testkit::oci_archive_bytes(&[("", ImageSpec::new().into())]);
    let secret = sb.path().join("secret").display().to_string();
    // index.json as a link to the sandbox's secret (next to the archive) or to a file of the
    // host, symbolic and hard: resolved as `docker load` resolves links, inside the archive
    // (climbing clamped at its root), where there is nothing at those paths; an absolute
    // target is refused, as runtimes resolve it from different places.
    let nothing = "not an OCI image layout (the archive has no index.json member)";
    let absolute = "which docker load resolves from the archive's root and containerd from";
    for (i, (kind, target, why)) in [
        (b'2', "../secret", nothing),
        (b'2', secret.as_str(), absolute),
        (
            b'1',
            "../secret",
            "is a hard link to \"secret\", which the archive does not hold",
        ),
        (b'2', "../../../../etc/passwd", nothing),
        (b'2', "/etc/passwd", absolute),
    ]
    .into_iter()
    .enumerate()
    {
        let mut tar = without_member(&bytes[..bytes.len() - 1024], "index.json");
        tar.extend_from_slice(
            &RawTar::new()
                .link(b"index.json", kind, target.as_bytes())
                .finish(),
        );
        let path = sb.path().join(format!("escape-{i}.tar"));
        std::fs::write(&path, tar).unwrap();
        sb.diff(&[&sb.plain(), &format!("oci-archive:{}", path.display())])
            .error(&[why]);
    }
}
