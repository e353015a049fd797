//! The README's claims about the `ocidiff` binary, each checked so that the test fails when the
//! behaviour it describes breaks: what `--report-html` and `--verbose` show, exit 2 on a failed
//! write, `ocidiff.toml`, the limits and `--max-scale`, `--semantic` leaving `--packages` off,
//! `--store`, `--insecure-registry`, a `docker save` tarball against its registry copy, the
//! platform a Docker ≥ 1.48 export is asked for, and containerd `sha256:` references.
//!
//! The tests needing a registry, dockerd or containerd print `SKIP: ...` and pass without them,
//! unless `OCIDIFF_REQUIRE_SERVICES=1`, when they fail.

mod common;

use common::{Containerd, docker, run, skip, tool_works};

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use assert_cmd::Command;
use ocidiff_testkit::registry::{TestRegistries, push};
use ocidiff_testkit::{
    DockerArchiveForm, Entry, ImageSpec, IndexSpec, Layer, RawLayer, RawTar, docker_archive_bytes,
    write_index_json, write_layout_blobs, write_oci_archive, write_oci_dir, write_raw_oci_dir,
};
use serde_json::{Value, json};

fn ocidiff() -> Command {
    let mut cmd = Command::cargo_bin("ocidiff").unwrap();
    cmd.env_remove("OCIDIFF_STORE")
        .env_remove("CONTAINERD_NAMESPACE");
    cmd
}

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Out {
    fn of(cmd: &mut Command) -> Out {
        let out = cmd.output().unwrap();
        Out {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn expect(&self, code: i32) -> &Out {
        assert_eq!(
            self.code,
            Some(code),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Exit 2 and one line of error containing each of `needles`.
    fn error(&self, needles: &[&str]) {
        self.expect(2);
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

    /// NAME of every `File` row.
    fn files(&self) -> Vec<String> {
        self.rows()
            .iter()
            .filter_map(|r| r.strip_prefix("File ").map(str::to_owned))
            .collect()
    }

    /// `TYPE NAME` of every table row.
    fn rows(&self) -> Vec<String> {
        self.stdout
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
            .collect()
    }
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// The shipped examples, strictly: timestamps and storage format count.
fn example_args() -> [String; 2] {
    let ex = examples();
    [
        ex.join("hello-v1").display().to_string(),
        ex.join("hello-v2.tar").display().to_string(),
    ]
}

/// A minimal little-endian ELF64 executable with a `.text` section holding `text`: enough for
/// the ELF reader, without a C compiler.
fn elf(text: [u8; 8]) -> Vec<u8> {
    const SHSTRTAB: &[u8] = b"\0.text\0.shstrtab\0";
    let (text_off, str_off, sh_off) = (64u64, 72u64, 96u64);
    let mut b = Vec::new();
    b.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
    b.extend_from_slice(&2u16.to_le_bytes()); // e_type: executable
    b.extend_from_slice(&62u16.to_le_bytes()); // e_machine: x86-64
    b.extend_from_slice(&1u32.to_le_bytes()); // e_version
    b.extend_from_slice(&0u64.to_le_bytes()); // e_entry
    b.extend_from_slice(&0u64.to_le_bytes()); // e_phoff
    b.extend_from_slice(&sh_off.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    for half in [64u16, 56, 0, 64, 3, 2] {
        // e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx
        b.extend_from_slice(&half.to_le_bytes());
    }
    b.extend_from_slice(&text);
    b.extend_from_slice(SHSTRTAB);
    b.resize(usize::try_from(sh_off).unwrap(), 0);
    let section = |b: &mut Vec<u8>, name: u32, kind: u32, flags: u64, off: u64, size: u64| {
        b.extend_from_slice(&name.to_le_bytes());
        b.extend_from_slice(&kind.to_le_bytes());
        b.extend_from_slice(&flags.to_le_bytes());
        b.extend_from_slice(&0u64.to_le_bytes()); // sh_addr
        b.extend_from_slice(&off.to_le_bytes());
        b.extend_from_slice(&size.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes()); // sh_link
        b.extend_from_slice(&0u32.to_le_bytes()); // sh_info
        b.extend_from_slice(&1u64.to_le_bytes()); // sh_addralign
        b.extend_from_slice(&0u64.to_le_bytes()); // sh_entsize
    };
    section(&mut b, 0, 0, 0, 0, 0);
    section(&mut b, 1, 1, 6, text_off, 8);
    section(&mut b, 7, 3, 0, str_off, SHSTRTAB.len() as u64);
    b
}

/// README: text files get a unified diff and ELF files the sections that differ "in the JSON,
/// HTML and report directory". The HTML report alone must carry them.
#[test]
fn html_report_alone_carries_text_diffs_and_elf_sections() {
    let dir = tempfile::tempdir().unwrap();
    let image = |motd: &str, text: &[u8; 8]| {
        ImageSpec::new().layer(Layer::new(vec![
            Entry::dir("etc/"),
            Entry::file("etc/motd", motd),
            Entry::dir("usr/bin/"),
            Entry::file("usr/bin/tool", elf(*text)).mode(0o755),
        ]))
    };
    let (l, r) = (dir.path().join("l"), dir.path().join("r"));
    write_oci_dir(
        &l,
        &[(
            "",
            image("hello\nold line\n", b"\x90\x90\x90\x90\x90\x90\x90\xc3").into(),
        )],
    )
    .unwrap();
    write_oci_dir(
        &r,
        &[(
            "",
            image("hello\nnew line\n", b"\x90\x90\x90\x90\x90\x90\xcc\xc3").into(),
        )],
    )
    .unwrap();
    let page = dir.path().join("report.html");
    Out::of(
        ocidiff()
            .arg("diff")
            .arg("--report-html")
            .arg(&page)
            .arg(&l)
            .arg(&r),
    )
    .expect(1);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("Text diff"), "no text diff in the page");
    assert!(
        html.contains(
            "<span class=\"del\">-old line\n</span><span class=\"add\">+new line\n</span>"
        )
    );
    assert!(
        html.contains("@@ -1,2 +1,2 @@"),
        "no hunk header in the page"
    );
    assert!(
        html.contains("ELF sections that differ</div><p><code>.text</code></p>"),
        "no ELF detail in the page"
    );
}

/// README: set-aside differences are listed "in the table with `--verbose`, in brackets"; the
/// table leaves them out otherwise.
#[test]
fn verbose_shows_set_aside_differences_in_brackets() {
    let [l, r] = example_args();
    // Only the mtime of LICENSE differs: a set-aside row under --ignore-file-timestamps.
    let quiet = Out::of(ocidiff().args(["diff", "--ignore-file-timestamps", &l, &r]));
    quiet.expect(1);
    assert!(!quiet.stdout.contains("LICENSE"), "{}", quiet.stdout);
    assert!(!quiet.stdout.contains("[mtime="), "{}", quiet.stdout);
    let verbose =
        Out::of(ocidiff().args(["diff", "--verbose", "--ignore-file-timestamps", &l, &r]));
    verbose.expect(1);
    let license = verbose
        .stdout
        .lines()
        .find(|row| row.starts_with("File  etc/hello/LICENSE "))
        .unwrap_or_else(|| panic!("no LICENSE row:\n{}", verbose.stdout));
    assert!(
        license.contains("[mtime=2024-03-01T12:00:00Z]")
            && license.contains("[mtime=2024-03-08T12:00:00Z]"),
        "{license}"
    );
    // A counted row keeps its counted field bare and brackets only the set-aside one.
    let run_sh = verbose
        .stdout
        .lines()
        .find(|row| row.starts_with("File  etc/hello/run.sh "))
        .unwrap_or_else(|| panic!("no run.sh row:\n{}", verbose.stdout));
    assert!(run_sh.contains("mode=0644, [mtime="), "{run_sh}");
    // "progress on stderr"
    assert!(
        verbose.stderr.contains("INFO comparing"),
        "{}",
        verbose.stderr
    );
    assert!(!quiet.stderr.contains("INFO"), "{}", quiet.stderr);
    // The same verdict either way: --verbose shows, it does not count.
    let verdict = |o: &Out| o.stderr.lines().last().unwrap_or("").to_owned();
    assert_eq!(verdict(&quiet), verdict(&verbose));
}

/// README: exit status 2 on "a failed write", with one line naming what failed.
#[test]
fn failed_writes_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let below_file = file.join("x");
    let full = Path::new("/dev/full");
    let [l, r] = example_args();
    let cases: [(&str, &Path, &[&str]); 6] = [
        (
            "--report-file",
            &below_file,
            &["creating report file", "Not a directory"],
        ),
        (
            "--report-file",
            full,
            &["writing report file /dev/full", "No space left"],
        ),
        (
            "--report-html",
            &below_file,
            &["creating HTML report", "Not a directory"],
        ),
        (
            "--report-html",
            full,
            &["writing HTML report /dev/full", "No space left"],
        ),
        (
            "--report-dir",
            &file,
            &["report directory", "not a directory"],
        ),
        (
            "--report-dir",
            &below_file,
            &["cannot create report directory"],
        ),
    ];
    for (flag, path, needles) in cases {
        Out::of(ocidiff().arg("diff").arg(flag).arg(path).args([&l, &r])).error(needles);
        // A device is written in place, never replaced by a file.
        assert!(
            std::os::unix::fs::FileTypeExt::is_char_device(
                &std::fs::metadata(full).unwrap().file_type()
            ),
            "{flag} replaced /dev/full"
        );
    }
    // Standard output that cannot be written is a failed write too.
    for format in ["table", "markdown"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ocidiff"))
            .args(["diff", "--format", format, &l, &r])
            .stdout(std::fs::File::create(full).unwrap())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{format}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("writing to standard output") && stderr.contains("No space left"),
            "{stderr}"
        );
    }
}

/// `rules`, `ignore_paths` and the platforms compared, from the JSON report of a run.
fn rules_of(dir: &Path, args: &[&str]) -> (Value, Value, Vec<String>) {
    let report = dir.join("report.json");
    let _ = std::fs::remove_file(&report);
    let out = Out::of(
        ocidiff()
            .current_dir(dir)
            .args(["diff", "--report-file", "report.json"])
            .args(args)
            .args(["multi", "multi"]),
    );
    assert_eq!(out.code, Some(0), "{args:?}: {}", out.stderr);
    let json: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let platforms = json["comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["platform"].to_string())
        .collect();
    (
        json["rules"].clone(),
        json["ignore_paths"].clone(),
        platforms,
    )
}

/// README: "Every boolean flag of `ocidiff diff` may be set under its long name. Flags on the
/// command line add to the file". Each boolean in `./ocidiff.toml` must have the effect of its
/// flag, and flags and patterns on the command line must add to the file's.
#[test]
fn config_file_booleans_act_as_their_flags_and_flags_add_to_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let multi = IndexSpec::new()
        .manifest(ImageSpec::new().platform("linux/amd64"))
        .manifest(ImageSpec::new().platform("linux/arm64"));
    write_oci_dir(&d.join("multi"), &[("", multi.into())]).unwrap();
    let config = d.join("ocidiff.toml");
    let (defaults, _, one) = rules_of(d, &["--platform", "linux/amd64"]);
    assert_eq!(one.len(), 1);
    for key in [
        "semantic",
        "ignore-timestamps",
        "ignore-history",
        "ignore-file-order",
        "ignore-file-mode-redundant-bits",
        "ignore-file-timestamps",
        "ignore-image-timestamps",
        "ignore-image-name",
        "ignore-tar-format",
        "treat-canonical-paths-equal",
        "ignore-storage-format",
        "flatten",
        "packages",
        "all-platforms",
    ] {
        let _ = std::fs::remove_file(&config);
        let by_flag = rules_of(d, &[&format!("--{key}")]);
        std::fs::write(&config, format!("[diff]\n{key} = true\n")).unwrap();
        let by_file = rules_of(d, &[]);
        assert_eq!(by_file, by_flag, "{key} in ocidiff.toml");
        if key == "all-platforms" {
            assert_eq!(by_file.2.len(), 2, "{key}: both platforms compared");
        } else {
            assert_ne!(by_file.0, defaults, "{key} changes no rule");
        }
    }
    // The command line adds to the file: both booleans on, both patterns kept.
    std::fs::write(
        &config,
        "[diff]\nignore-history = true\nignore-path = [\"/var/cache/**\"]\n",
    )
    .unwrap();
    let (rules, paths, _) = rules_of(d, &["--ignore-file-order", "--ignore-path", "/tmp"]);
    assert_eq!(rules["ignore_history"], true, "{rules}");
    assert_eq!(rules["ignore_file_order"], true, "{rules}");
    assert_eq!(paths, json!(["/tmp", "/var/cache/**"]));
    // Platforms are a choice, not a sum: the command line's replaces the file's.
    std::fs::write(&config, "[diff]\nplatform = [\"linux/arm64\"]\n").unwrap();
    let (_, _, platforms) = rules_of(d, &[]);
    assert!(
        platforms.len() == 1 && platforms[0].contains("arm64"),
        "{platforms:?}"
    );
    let (_, _, platforms) = rules_of(d, &["--platform", "linux/amd64"]);
    assert!(
        platforms.len() == 1 && platforms[0].contains("amd64"),
        "{platforms:?}"
    );
    std::fs::write(&config, "[diff]\nall-platforms = true\n").unwrap();
    let (_, _, platforms) = rules_of(d, &["--platform", "linux/arm64"]);
    assert!(
        platforms.len() == 1 && platforms[0].contains("arm64"),
        "{platforms:?}"
    );
    // --config names another file, read instead of ./ocidiff.toml.
    std::fs::write(d.join("other.toml"), "[diff]\nignore-image-name = true\n").unwrap();
    let (rules, _, _) = rules_of(d, &["--config", "other.toml"]);
    assert_eq!(rules["ignore_image_name"], true, "{rules}");
    assert_eq!(rules["ignore_history"], false, "{rules}");
}

/// README: "`--semantic` does not turn it on": a pair differing only in a package database
/// shows no package view under `--semantic`, and shows one with `--packages`.
#[test]
fn semantic_does_not_turn_on_packages() {
    let dir = tempfile::tempdir().unwrap();
    let image = |version: &str| {
        ImageSpec::new().layer(Layer::new(vec![
            Entry::dir("var/lib/dpkg/"),
            Entry::file(
                "var/lib/dpkg/status",
                format!(
                    "Package: tool\nStatus: install ok installed\nVersion: {version}\nArchitecture: amd64\n\n"
                ),
            ),
        ]))
    };
    write_oci_dir(&dir.path().join("a"), &[("", image("1.0").into())]).unwrap();
    write_oci_dir(&dir.path().join("b"), &[("", image("1.1").into())]).unwrap();
    let run_with = |extra: &[&str]| {
        let out = Out::of(
            ocidiff()
                .current_dir(dir.path())
                .args(["diff", "--semantic", "--report-file", "r.json"])
                .args(extra)
                .args(["a", "b"]),
        );
        out.expect(1);
        let json: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("r.json")).unwrap()).unwrap();
        (out, json)
    };
    let (out, json) = run_with(&[]);
    assert_eq!(out.rows(), ["File var/lib/dpkg/status"], "{}", out.stdout);
    assert_eq!(json["rules"]["packages"], false);
    assert!(!out.stderr.contains("package-changed"), "{}", out.stderr);
    assert!(
        !json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "package"),
        "{json}"
    );
    let (out, json) = run_with(&["--packages"]);
    assert!(out.stdout.contains("Pkg   dpkg:tool"), "{}", out.stdout);
    assert_eq!(json["rules"]["packages"], true);
}

// ---------------------------------------------------------------------------------------------
// Limits

/// A layout of one image whose layers are `count` copies of one small layer.
fn many_layers(dir: &Path, count: usize) -> String {
    let tar = RawTar::new().file(b"a", b"1").finish();
    write_raw_oci_dir(dir, &vec![RawLayer::tar(tar); count]).unwrap();
    dir.display().to_string()
}

/// README: 4096 layers at most, more with `--max-scale`.
#[test]
fn more_than_4096_layers_need_max_scale() {
    let dir = tempfile::tempdir().unwrap();
    let plain = many_layers(&dir.path().join("plain"), 1);
    let at_limit = many_layers(&dir.path().join("4096"), 4096);
    let over = many_layers(&dir.path().join("4097"), 4097);
    Out::of(ocidiff().args(["diff", "--semantic", &plain, &at_limit])).expect(1);
    Out::of(ocidiff().args(["diff", &plain, &over])).error(&[
        "lists 4097 layers, more than the limit of 4096",
        "--max-scale",
    ]);
    Out::of(ocidiff().args(["diff", "--semantic", "--max-scale", "2", &plain, &over])).expect(1);
}

/// README: "a compressed layer over 4 GiB needs 2 or more" `--max-scale`. The layer's
/// descriptor claims 4 GiB + 1 bytes over a blob of a few: refused on the claim, before
/// anything is read; under `--max-scale 2` the claim passes and the blob is read and found
/// short, so no 4 GiB is ever written.
#[test]
fn a_layer_over_4_gib_needs_max_scale_2() {
    let dir = tempfile::tempdir().unwrap();
    let plain = many_layers(&dir.path().join("plain"), 1);
    let tar = RawTar::new().file(b"b", b"2").finish();
    let big = dir.path().join("big");
    let blobs = write_raw_oci_dir(&big, &[RawLayer::tar(tar)]).unwrap();
    let (manifest, layer) = (&blobs[0], &blobs[2]);
    let mut doc: Value = serde_json::from_slice(&manifest.bytes).unwrap();
    let claim = (4u64 << 30) + 1;
    doc["layers"][0]["size"] = json!(claim);
    let manifest = ocidiff_testkit::Blob::new(
        "application/vnd.oci.image.manifest.v1+json",
        serde_json::to_vec(&doc).unwrap(),
    );
    write_layout_blobs(&big, std::slice::from_ref(&manifest)).unwrap();
    write_index_json(
        &big,
        &serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [manifest.descriptor()]}))
            .unwrap(),
    )
    .unwrap();
    let big = big.display().to_string();
    Out::of(ocidiff().args(["diff", &plain, &big])).error(&[
        &format!("({claim} bytes) is larger than the limit of 4294967296 bytes"),
        "--max-scale",
    ]);
    let lifted = Out::of(ocidiff().args(["diff", "--max-scale", "2", &plain, &big]));
    lifted.expect(2);
    assert!(!lifted.stderr.contains("limit of"), "{}", lifted.stderr);
    assert!(
        lifted.stderr.contains(&layer.hex()[..12]),
        "{}",
        lifted.stderr
    );
}

/// `index.json` is held to the JSON limit (8 MiB), which `--max-scale` lifts as it lifts every
/// size limit — in a layout directory, an OCI archive and a Docker ≥ 25 archive alike.
#[test]
fn the_index_json_cap_is_lifted_by_max_scale() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ImageSpec::new().layer(Layer::new(vec![Entry::file("a", "1")]));
    let plain = dir.path().join("plain");
    write_oci_dir(&plain, &[("", spec.clone().into())]).unwrap();
    // The same image, its index.json padded past 8 MiB with an annotation.
    let padded = dir.path().join("padded");
    write_oci_dir(&padded, &[("", spec.into())]).unwrap();
    let mut index: Value =
        serde_json::from_slice(&std::fs::read(padded.join("index.json")).unwrap()).unwrap();
    index["annotations"] = json!({"padding": "x".repeat(9 << 20)});
    let index = serde_json::to_vec(&index).unwrap();
    write_index_json(&padded, &index).unwrap();
    let mut archive = RawTar::new()
        .file(b"oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)
        .file(b"index.json", &index);
    for blob in std::fs::read_dir(padded.join("blobs/sha256")).unwrap() {
        let blob = blob.unwrap();
        let name = format!("blobs/sha256/{}", blob.file_name().to_string_lossy());
        archive = archive.file(name.as_bytes(), &std::fs::read(blob.path()).unwrap());
    }
    let archive_path = dir.path().join("padded.tar");
    std::fs::write(&archive_path, archive.finish()).unwrap();

    let plain = plain.display().to_string();
    let archive = archive_path.display().to_string();
    for (input, needles) in [
        (
            padded.display().to_string(),
            &["index.json", "limit of 8388608 bytes", "--max-scale"][..],
        ),
        (
            format!("oci-archive:{archive}"),
            &["index.json", "limit of 8388608 bytes"],
        ),
        (
            format!("docker-archive:{archive}"),
            &["index.json", "limit of 8388608 bytes"],
        ),
    ] {
        Out::of(ocidiff().args(["diff", &plain, &input])).error(needles);
        let out = Out::of(ocidiff().args(["diff", "--max-scale", "2", &plain, &input]));
        assert_eq!(out.code, Some(0), "{input}: {}", out.stderr);
    }
}

// ---------------------------------------------------------------------------------------------
// A Docker engine speaking API 1.48, faked: the test dockerd (20.10) speaks 1.41.

/// A fake engine on loopback: answers `/_ping` with `api` as its version, `/images/…/json`
/// with `id`, and `/images/…/get` with `export`; keeps every request line.
fn fake_engine(
    api: &'static str,
    id: String,
    export: Vec<u8>,
) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = format!("tcp://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            answer(stream, api, &id, &export, &log);
        }
    });
    (host, seen)
}

fn answer(stream: TcpStream, api: &str, id: &str, export: &[u8], log: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream);
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    let path = request.split_whitespace().nth(1).unwrap_or("").to_owned();
    log.lock().unwrap().push(path.clone());
    let id_json = serde_json::to_vec(&json!({"Id": id})).unwrap();
    let (status, body): (&str, &[u8]) = if path == "/_ping" {
        ("200 OK", b"OK")
    } else if path.ends_with("/json") {
        ("200 OK", &id_json)
    } else if path.contains("/get") {
        ("200 OK", export)
    } else {
        ("404 Not Found", br#"{"message":"not faked"}"#)
    };
    let mut stream = reader.into_inner();
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nApi-Version: {api}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(body);
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
}

/// README: "With Engine API ≥ 1.48 and one `--platform`, only that platform of a multi-platform
/// image is exported": the export asks for it (`platform` query, the OCI platform as JSON);
/// below 1.48, or with several platforms, it asks for the whole image.
#[test]
fn docker_api_1_48_exports_the_one_platform_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ImageSpec::new()
        .platform("linux/arm64")
        .layer(Layer::new(vec![Entry::file("etc/hello", "hi\n")]));
    let (export, ids) = docker_archive_bytes(&[(vec!["app:1"], spec)], DockerArchiveForm::Classic);
    // What the engine exports, compared with the copy of it on disk.
    let saved = dir.path().join("saved.tar");
    std::fs::write(&saved, &export).unwrap();
    let saved = saved.display().to_string();
    let cases: [(&str, &[&str], Option<&str>); 3] = [
        (
            "1.48",
            &["--platform", "linux/arm64/v8"],
            Some(r#"{"os":"linux","architecture":"arm64","variant":"v8"}"#),
        ),
        ("1.41", &["--platform", "linux/arm64/v8"], None),
        (
            "1.48",
            &["--platform", "linux/arm64", "--platform", "linux/amd64"],
            None,
        ),
    ];
    for (n, (api, platforms, wanted)) in cases.into_iter().enumerate() {
        let (host, seen) = fake_engine(api, ids[0].clone(), export.clone());
        let out = Out::of(
            ocidiff()
                .env("DOCKER_HOST", &host)
                .env("OCIDIFF_STORE", dir.path().join(format!("store-{n}")))
                .args(["diff", "--semantic"])
                .args(platforms)
                .args(["docker://app:1", &saved]),
        );
        let seen = seen.lock().unwrap().clone();
        // The image is for arm64 only: amd64, asked for as well, is an error once it is read.
        let code = if platforms.contains(&"linux/amd64") {
            2
        } else {
            0
        };
        assert_eq!(
            out.code,
            Some(code),
            "{api} {platforms:?}: {}{}\n{seen:?}",
            out.stdout,
            out.stderr
        );
        if code == 2 {
            assert!(
                out.stderr
                    .contains("no image for platform linux/amd64; the image offers: linux/arm64"),
                "{}",
                out.stderr
            );
        }
        let exports: Vec<&String> = seen.iter().filter(|p| p.contains("/get")).collect();
        assert_eq!(exports.len(), 1, "{seen:?}");
        let (path, query) = exports[0].split_once('?').unwrap_or((exports[0], ""));
        assert_eq!(path, format!("/v{api}/images/{}/get", ids[0]));
        let platform = query.strip_prefix("platform=").map(percent_decode);
        assert_eq!(platform.as_deref(), wanted, "{api} {platforms:?}: {seen:?}");
    }
}

fn percent_decode(s: &str) -> String {
    let mut out = Vec::new();
    let mut rest = s.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' && tail.len() >= 2 {
            let hex = std::str::from_utf8(&tail[..2]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            rest = &tail[2..];
        } else {
            out.push(b);
            rest = tail;
        }
    }
    String::from_utf8(out).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Registries

/// Running registries and a work dir, or `None` (after saying so, past libtest's capture).
fn registries() -> Option<(TestRegistries, tempfile::TempDir)> {
    let regs = TestRegistries::start_or_skip()?;
    Some((regs, tempfile::tempdir().unwrap()))
}

/// Pushes a one-file image to `reg/x:TAG` and returns its manifest digest.
fn push_hello(work: &Path, reg: &str, tag: &str) -> String {
    let layout = work.join(format!("layout-{tag}"));
    let spec = ImageSpec::new()
        .platform("linux/amd64")
        .layer(Layer::new(vec![
            Entry::dir("etc/"),
            Entry::file("etc/hello", tag),
        ]));
    write_oci_dir(&layout, &[("latest", spec.into())]).unwrap();
    push(&layout, "latest", &format!("{reg}/x:{tag}"), None, false).unwrap()
}

fn blob_path(store: &Path, digest: &str) -> PathBuf {
    let hex = digest.strip_prefix("sha256:").unwrap();
    store.join("blobs/sha256").join(hex)
}

/// README: "`--store DIR` the local image store (default `$OCIDIFF_STORE`…)", and registry
/// images are "pulled into an embedded content-addressed store … so a second comparison costs
/// nothing": what a run pulls lands in the store named, and a later run reads it from there
/// with the registry gone.
#[test]
fn store_flag_and_variable_hold_what_is_pulled_for_the_next_run() {
    let Some((regs, work)) = registries() else {
        return;
    };
    let w = work.path();
    let reg = regs.anon().to_owned();
    let d1 = push_hello(w, &reg, "1");
    let d2 = push_hello(w, &reg, "2");
    let (x1, x2) = (format!("{reg}/x:1"), format!("{reg}/x:2"));
    let (flag, variable) = (w.join("flag-store"), w.join("variable-store"));
    let diff = |store_flag: Option<&Path>| {
        let mut cmd = ocidiff();
        cmd.env("OCIDIFF_STORE", &variable)
            .env("DOCKER_CONFIG", w.join("no-docker-config"))
            .arg("diff");
        if let Some(s) = store_flag {
            cmd.arg("--store").arg(s);
        }
        Out::of(cmd.args([&x1, &x2]))
    };
    // --store wins over the variable.
    let out = diff(Some(&flag));
    assert_eq!(out.expect(1).files(), ["etc/hello"]);
    for d in [&d1, &d2] {
        assert!(blob_path(&flag, d).is_file(), "{d} not in --store");
    }
    assert!(!variable.exists(), "the variable's store was used");
    // The variable alone names the store.
    diff(None).expect(1);
    for d in [&d1, &d2] {
        assert!(
            blob_path(&variable, d).is_file(),
            "{d} not in $OCIDIFF_STORE"
        );
    }
    // With the registry gone, each store serves the next run.
    regs.stop();
    assert_eq!(diff(Some(&flag)).expect(1).files(), ["etc/hello"]);
    assert_eq!(diff(None).expect(1).files(), ["etc/hello"]);
    let empty = w.join("empty-store");
    diff(Some(&empty)).expect(2);
}

/// The first address of this machine that is not loopback, if any.
fn non_loopback_address() -> Option<std::net::IpAddr> {
    let out = run(std::process::Command::new("hostname").arg("-I")).ok()?;
    out.split_whitespace()
        .filter_map(|a| a.parse::<std::net::IpAddr>().ok())
        .find(|a| a.is_ipv4() && !a.is_loopback())
}

/// Forwards connections to `ip:port` (a port chosen here) to `target`; returns `ip:port`.
fn forward(ip: std::net::IpAddr, target: String) -> String {
    let listener = TcpListener::bind((ip, 0)).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let (Ok(client), Ok(upstream)) = (client, TcpStream::connect(&target)) else {
                continue;
            };
            let (mut c2, mut u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
            let (mut c, mut u) = (client, upstream);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c, &mut u);
                let _ = u.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut u2, &mut c2);
                let _ = c2.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    addr
}

/// README: `--insecure-registry HOST` reaches a registry "over unverified TLS, or plain HTTP
/// when TLS does not answer (as Docker does); loopback registries always are". The plain-HTTP
/// test registry, reached through a non-loopback address of this machine, is refused without
/// the flag and read with it; at 127.0.0.1 it needs no flag.
#[test]
fn insecure_registry_reaches_plain_http_off_loopback() {
    let Some((regs, work)) = registries() else {
        return;
    };
    let w = work.path();
    let reg = regs.anon().to_owned();
    push_hello(w, &reg, "1");
    push_hello(w, &reg, "2");
    let Some(ip) = non_loopback_address() else {
        let why = "this machine has no non-loopback IPv4 address";
        skip(why);
        return;
    };
    let remote = forward(ip, reg.clone());
    let diff = |reg: &str, extra: &[&str], store: &str| {
        Out::of(
            ocidiff()
                .env("OCIDIFF_STORE", w.join(store))
                .env("DOCKER_CONFIG", w.join("no-docker-config"))
                .arg("diff")
                .args(extra)
                .args([format!("{reg}/x:1"), format!("{reg}/x:2")]),
        )
    };
    assert_eq!(diff(&reg, &[], "loopback").expect(1).files(), ["etc/hello"]);
    let refused = diff(&remote, &[], "refused");
    refused.error(&[&remote]);
    assert_eq!(
        diff(&remote, &["--insecure-registry", &remote], "insecure")
            .expect(1)
            .files(),
        ["etc/hello"]
    );
    // HOST alone covers every port, as Docker's option does.
    assert_eq!(
        diff(&remote, &["--insecure-registry", &ip.to_string()], "host")
            .expect(1)
            .files(),
        ["etc/hello"]
    );
}

/// README: "Comparing a `docker save` tarball with a registry copy of the same image shows no
/// difference" under `--semantic`. The image goes from the test dockerd to the test registry
/// with `docker push` and out of dockerd with `docker save`.
#[test]
fn a_docker_save_tarball_equals_its_registry_copy() {
    if !tool_works(docker().arg("info")) {
        let why = format!(
            "no docker daemon answers (DOCKER_HOST={:?}); start one with scripts/services.sh \
             start and source its env file",
            std::env::var("DOCKER_HOST").unwrap_or_default()
        );
        skip(&why);
        return;
    }
    let Some((regs, work)) = registries() else {
        return;
    };
    let w = work.path();
    let name = format!("{}/claims-save:{}", regs.anon(), std::process::id());
    run(docker()
        .arg("import")
        .arg(common::busybox_rootfs(w, &["sh", "cat"]).unwrap())
        .arg(&name))
    .unwrap();
    let saved = w.join("saved.tar");
    let pushed = run(docker().arg("push").arg(&name))
        .and_then(|_| run(docker().args(["save", "-o"]).arg(&saved).arg(&name)));
    let _ = run(docker().args(["rmi", "-f", &name]));
    pushed.unwrap();
    let diff = |extra: &[&str]| {
        Out::of(
            ocidiff()
                .env("OCIDIFF_STORE", w.join("store"))
                .env("DOCKER_CONFIG", w.join("no-docker-config"))
                .arg("diff")
                .args(extra)
                .arg(format!("docker-archive:{}", saved.display()))
                .arg(&name),
        )
    };
    let out = diff(&["--semantic"]);
    out.expect(0);
    assert_eq!(out.stdout, "");
    // Strictly they differ, in storage format only: docker save writes uncompressed layers,
    // the registry holds them gzip-compressed.
    let strict = diff(&[]);
    strict.expect(1);
    assert!(
        strict
            .rows()
            .iter()
            .all(|r| r.starts_with("Desc ") || r.starts_with("Mani ") || r.starts_with("Cfg ")),
        "{}",
        strict.stdout
    );
}

// ---------------------------------------------------------------------------------------------
// containerd

/// README: in `containerd://REF`, "`sha256:…` names the image whose target has that digest" —
/// checked against a real containerd.
#[test]
fn containerd_sha256_reference_names_the_image_by_its_target() {
    let Some(ctd) = Containerd::start() else {
        return;
    };
    let archive = ctd.path("images.tar");
    let spec = |hello: &str| {
        ImageSpec::new().layer(Layer::new(vec![
            Entry::dir("etc/"),
            Entry::file("etc/hello", hello),
        ]))
    };
    let digests = write_oci_archive(
        &archive,
        &[("one", spec("one\n").into()), ("two", spec("two\n").into())],
    )
    .unwrap();
    ctd.import("test", &archive, &["--base-name", "docker.io/library/app"]);
    let diff = |lhs: &str, rhs: &str| {
        Out::of(
            ocidiff()
                .env("CONTAINERD_ADDRESS", &ctd.socket)
                .env("OCIDIFF_STORE", ctd.path("store"))
                .args(["diff", "--containerd-namespace", "test", lhs, rhs]),
        )
    };
    let by_digest = |d: &str| format!("containerd://{d}");
    diff(&by_digest(&digests[0]), "containerd://app:one").expect(0);
    let out = diff(&by_digest(&digests[0]), &by_digest(&digests[1]));
    assert_eq!(out.expect(1).files(), ["etc/hello"]);
    let ns = format!("containerd://test//{}", digests[1]);
    diff(&ns, "containerd://app:two").expect(0);
    let unknown = format!("sha256:{}", "0".repeat(64));
    diff(&by_digest(&unknown), "containerd://app:one").error(&[&unknown]);
}
