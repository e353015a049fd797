//! The `ocidiff` binary on images generated in code, in every local source form.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use ocidiff_testkit::{
    DockerArchiveForm, Entry, ImageSpec, Layer, MediaStyle, write_docker_archive,
    write_oci_archive, write_oci_dir,
};
use serde_json::Value;

fn ocidiff() -> Command {
    Command::cargo_bin("ocidiff").unwrap()
}

fn image(content: &str) -> ImageSpec {
    ImageSpec::new().layer(Layer::new(vec![
        Entry::dir("etc/"),
        Entry::file("etc/os-release", "ID=test\n"),
        Entry::file("etc/stamp", content),
    ]))
}

/// Writes `spec` in every local form under `dir` and returns the references naming them.
fn every_form(dir: &Path, tag: &str, spec: &ImageSpec) -> Vec<String> {
    let oci = dir.join(format!("{tag}-oci"));
    write_oci_dir(&oci, &[(tag, spec.clone().into())]).unwrap();
    let oci_archive = dir.join(format!("{tag}-oci.tar"));
    write_oci_archive(&oci_archive, &[(tag, spec.clone().into())]).unwrap();
    let classic = dir.join(format!("{tag}-classic.tar"));
    let docker_name = format!("img:{tag}");
    write_docker_archive(
        &classic,
        &[(
            vec![docker_name.as_str()],
            spec.clone().media(MediaStyle::Docker),
        )],
        DockerArchiveForm::Classic,
    )
    .unwrap();
    let layout = dir.join(format!("{tag}-docker25.tar"));
    write_docker_archive(
        &layout,
        &[(vec![docker_name.as_str()], spec.clone())],
        DockerArchiveForm::OciLayout,
    )
    .unwrap();
    vec![
        format!("oci:{}:{tag}", oci.display()),
        oci.display().to_string(),
        format!("oci-archive:{}", oci_archive.display()),
        oci_archive.display().to_string(),
        format!("docker-archive:{}:{docker_name}", classic.display()),
        classic.display().to_string(),
        format!("docker-archive:{}", layout.display()),
        layout.display().to_string(),
    ]
}

fn redact(out: &[u8], dir: &Path) -> String {
    String::from_utf8_lossy(out).replace(&dir.display().to_string(), "[TMP]")
}

#[test]
fn every_form_equals_every_other_under_semantic() {
    let dir = tempfile::tempdir().unwrap();
    let forms = every_form(dir.path(), "a", &image("1"));
    for lhs in &forms {
        for rhs in &forms {
            let out = ocidiff()
                .args(["diff", "--semantic", lhs, rhs])
                .output()
                .unwrap();
            assert_eq!(
                out.status.code(),
                Some(0),
                "{lhs} vs {rhs}:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(out.stdout.is_empty());
        }
    }
}

#[test]
fn every_form_sees_a_content_difference() {
    let dir = tempfile::tempdir().unwrap();
    let lhs = every_form(dir.path(), "a", &image("1"));
    let rhs = every_form(dir.path(), "b", &image("2"));
    for (l, r) in lhs.iter().zip(&rhs) {
        let out = ocidiff()
            .args(["diff", "--semantic", l, r])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{l} vs {r}");
        let table = String::from_utf8(out.stdout).unwrap();
        let files: Vec<&str> = table.lines().filter(|l| l.starts_with("File")).collect();
        assert_eq!(files.len(), 1, "{table}");
        assert!(files[0].contains("etc/stamp"), "{table}");
    }
}

#[test]
fn identical_input_prints_nothing_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let forms = every_form(dir.path(), "a", &image("1"));
    ocidiff()
        .args(["diff", &forms[0], &forms[0]])
        .assert()
        .code(0)
        .stdout("");
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

#[test]
fn shipped_examples_strict() {
    let ex = examples();
    let out = ocidiff()
        .current_dir(&ex)
        .args(["diff", "hello-v1", "hello-v2.tar"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!("examples_strict", String::from_utf8(out.stdout).unwrap());
}

#[test]
fn shipped_examples_semantic() {
    let ex = examples();
    let out = ocidiff()
        .current_dir(&ex)
        .args(["diff", "--semantic", "hello-v1", "hello-v2.tar"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!("examples_semantic", String::from_utf8(out.stdout).unwrap());
}

#[test]
fn report_file_is_versioned_json() {
    let dir = tempfile::tempdir().unwrap();
    let l = every_form(dir.path(), "a", &image("1"));
    let r = every_form(dir.path(), "b", &image("2"));
    let report = dir.path().join("r.json");
    ocidiff()
        .args(["diff", "--semantic", "--report-file"])
        .arg(&report)
        .args([&l[0], &r[4]])
        .assert()
        .code(1);
    let json: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["inputs"][0]["transport"], "oci");
    assert_eq!(json["inputs"][1]["transport"], "docker-archive");
    let files: Vec<&Value> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "file")
        .collect();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0]["name"], "etc/stamp");
    assert_eq!(files[0]["location"], "manifests-0/layers-0");
}

/// A file's digest in the report, each what `sha256sum` or `b3sum` prints for the file's
/// content (docs/report.md): SHA-256 under 4096 bytes, BLAKE3 from 4096 bytes — or SHA-256
/// for every file when each layer's stream is hashed anyway (uncompressed layers of a layout)
/// and the CPU hashes a file in that pass for next to nothing.
#[test]
fn file_digests_are_sha256_small_and_blake3_large() {
    use ocidiff_testkit::Compression;
    let fast = ocidiff_sha256::shares_rounds();
    let dir = tempfile::tempdir().unwrap();
    let oci = |tag: &str, n: u8, compression| {
        let path = dir.path().join(tag);
        write_oci_dir(&path, &[("", digests_spec(n, compression).into())]).unwrap();
        format!("oci:{}", path.display())
    };
    for (lhs, rhs, all_sha256) in [
        (Compression::Gzip, Compression::Gzip, false),
        (Compression::None, Compression::Gzip, false),
        (Compression::None, Compression::None, fast),
    ] {
        let tag = format!("{lhs:?}-{rhs:?}");
        let pair = [
            oci(&format!("l-{tag}"), 1, lhs),
            oci(&format!("r-{tag}"), 2, rhs),
        ];
        check_file_digests(dir.path(), &pair, all_sha256);
    }
    // Uncompressed layers in every form read in place: `docker save` tarballs (classic and
    // Docker 25's), OCI archives.
    let l = every_form(dir.path(), "l", &digests_spec(1, Compression::None));
    let r = every_form(dir.path(), "r", &digests_spec(2, Compression::None));
    for pair in l.into_iter().zip(r) {
        check_file_digests(dir.path(), &[pair.0, pair.1], fast);
    }
}

/// One layer: `big` of 4096 bytes and `small` of 4095, both differing with `n`.
fn digests_spec(n: u8, compression: ocidiff_testkit::Compression) -> ImageSpec {
    ImageSpec::new().layer(
        Layer::new(vec![
            Entry::file("big", vec![n; 4096]),
            Entry::file("small", format!("{n}{}", "x".repeat(4094))),
        ])
        .compression(compression),
    )
}

fn check_file_digests(dir: &Path, [lhs, rhs]: &[String; 2], all_sha256: bool) {
    use sha2::Digest as _;
    let report = dir.join("digests.json");
    ocidiff()
        .args(["diff", "--semantic", "--report-file"])
        .arg(&report)
        .args([lhs, rhs])
        .assert()
        .code(1);
    let json: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let digest = |name: &str, side: &str| -> String {
        let f = json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .unwrap_or_else(|| panic!("no finding for {name}"));
        let field = f["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["field"] == "digest")
            .unwrap();
        field[side].as_str().unwrap().to_owned()
    };
    for (side, n) in [("lhs", 1u8), ("rhs", 2)] {
        let big = vec![n; 4096];
        let big_digest = if all_sha256 {
            format!("sha256:{:x}", sha2::Sha256::digest(&big))
        } else {
            format!("blake3:{}", blake3::hash(&big).to_hex())
        };
        assert_eq!(digest("big", side), big_digest, "{lhs} / {rhs}");
        let small = format!("{n}{}", "x".repeat(4094));
        assert_eq!(small.len(), 4095);
        assert_eq!(
            digest("small", side),
            format!("sha256:{:x}", sha2::Sha256::digest(small.as_bytes()))
        );
    }
}

/// One line of git's output in this checkout, or `None` (no git, or not a checkout).
fn git(args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `--version` names the commit the binary was built from and its date (build.rs), and the
/// JSON report's `tool` carries the same commit.
#[test]
fn version_and_report_name_the_commit() {
    let out = ocidiff().arg("--version").output().unwrap();
    let line = String::from_utf8(out.stdout).unwrap();
    let build = line
        .trim_end()
        .strip_prefix(concat!("ocidiff ", env!("CARGO_PKG_VERSION"), " ("))
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{line}"));
    let commit = build.split(' ').next().unwrap();
    // Built from this checkout (build.rs is tracked here): HEAD's commit and date.
    if git(&["ls-files", "--error-unmatch", "build.rs"]).is_some() {
        let head = git(&["rev-parse", "--short=12", "HEAD"]).unwrap();
        let date = git(&["log", "-1", "--format=%cs", "HEAD"]).unwrap();
        assert_eq!(build, format!("{head} {date}"));
    }

    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.json");
    ocidiff()
        .args(["diff", "--report-file"])
        .arg(&report)
        .arg(examples().join("hello-v1"))
        .arg(examples().join("hello-v1"))
        .assert()
        .code(0);
    let json: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(json["tool"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(json["tool"]["commit"], commit);
}

#[test]
fn report_dir_holds_the_differing_files() {
    let dir = tempfile::tempdir().unwrap();
    let l = every_form(dir.path(), "a", &image("one\n"));
    let r = every_form(dir.path(), "b", &image("two\n"));
    let out = dir.path().join("report");
    ocidiff()
        .args(["diff", "--report-dir"])
        .arg(&out)
        .args([&l[2], &r[6]])
        .assert()
        .code(1);
    assert!(out.join("report.json").is_file());
    let stamp = |side: &str| {
        std::fs::read_to_string(out.join(side).join("manifests-0/layers-0/etc/stamp")).unwrap()
    };
    assert_eq!(stamp("input-0"), "one\n");
    assert_eq!(stamp("input-1"), "two\n");
    assert!(
        !out.join("input-0/manifests-0/layers-0/etc/os-release")
            .exists()
    );
}

#[test]
fn bad_inputs_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = every_form(dir.path(), "a", &image("1"));
    let truncated = dir.path().join("truncated.tar");
    let whole = std::fs::read(dir.path().join("a-classic.tar")).unwrap();
    std::fs::write(&truncated, &whole[..whole.len() / 2]).unwrap();
    let malformed = dir.path().join("malformed");
    std::fs::create_dir(&malformed).unwrap();
    std::fs::write(
        malformed.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    std::fs::write(malformed.join("index.json"), "{not json").unwrap();
    // A layout whose image is a Docker schema 1 manifest.
    let schema1 = dir.path().join("schema1");
    let manifest = br#"{"schemaVersion":1,"name":"x","tag":"1","fsLayers":[],"history":[]}"#;
    let digest = ocidiff_testkit::sha256_digest(manifest);
    std::fs::create_dir_all(schema1.join("blobs/sha256")).unwrap();
    std::fs::write(
        schema1
            .join("blobs/sha256")
            .join(&digest["sha256:".len()..]),
        manifest,
    )
    .unwrap();
    std::fs::write(
        schema1.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "digest": digest,
        "size": manifest.len(),
    }]});
    std::fs::write(schema1.join("index.json"), index.to_string()).unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![good[0].clone(), format!("oci:{}", schema1.display())],
            "Docker schema 1 manifests are not supported",
        ),
        (
            vec!["oci:/nonexistent/dir".into(), good[0].clone()],
            "input 0",
        ),
        (
            vec![
                good[0].clone(),
                format!("docker-archive:{}", truncated.display()),
            ],
            "input 1",
        ),
        (
            vec![good[0].clone(), malformed.display().to_string()],
            "malformed JSON",
        ),
        (
            vec![
                "--platform".into(),
                "linux/".into(),
                good[0].clone(),
                good[0].clone(),
            ],
            "invalid platform",
        ),
    ];
    for (args, needle) in cases {
        let out = ocidiff().arg("diff").args(&args).output().unwrap();
        let stderr = redact(&out.stderr, dir.path());
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// A config Go reads differently from how it looks (a second, lower-case `user` that Go takes
/// for `User`; a repeated `config` object that Go merges) is refused in every source form, with
/// one line naming the document and the key.
#[test]
fn configs_go_reads_ambiguously_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let clean = image("1").config_field("config", serde_json::json!({"User": "nobody"}));
    let clean_forms = every_form(dir.path(), "clean", &clean);
    let cases = [
        (
            "folded",
            clean
                .clone()
                .edit_config_text(r#""User":"nobody""#, r#""User":"nobody","user":"""#),
            "key .config.user: Go's encoding/json reads it as \"User\"",
        ),
        (
            "twice",
            clean.clone().edit_config_text(
                r#""config":{"User":"nobody"}"#,
                r#""config":{"User":"nobody"},"config":{"Cmd":["sh"]}"#,
            ),
            "key .config appears twice",
        ),
    ];
    for (tag, spec, needle) in cases {
        let forms = every_form(dir.path(), tag, &spec);
        for (lhs, rhs) in clean_forms.iter().zip(&forms) {
            let out = ocidiff()
                .args(["diff", "--semantic", lhs, rhs])
                .output()
                .unwrap();
            let stderr = redact(&out.stderr, dir.path());
            assert_eq!(out.status.code(), Some(2), "{rhs}: {stderr}");
            assert!(stderr.contains("image config "), "{rhs}: {stderr}");
            assert!(stderr.contains(needle), "{rhs}: {stderr}");
            assert_eq!(stderr.trim_end().lines().count(), 1, "{rhs}: {stderr}");
        }
    }
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    ocidiff().args(["diff", "only-one"]).assert().code(2);
    let help = ocidiff().args(["diff", "--help"]).assert().code(0);
    let text = String::from_utf8(help.get_output().stdout.clone()).unwrap();
    for flag in [
        "--semantic",
        "--ignore-timestamps",
        "--ignore-history",
        "--ignore-file-order",
        "--ignore-file-mode-redundant-bits",
        "--ignore-file-timestamps",
        "--ignore-image-timestamps",
        "--ignore-image-name",
        "--ignore-tar-format",
        "--treat-canonical-paths-equal",
        "--platform",
        "--all-platforms",
        "--verbose",
        "--report-file",
        "--report-dir",
        "--max-scale",
    ] {
        assert!(text.contains(flag), "{flag} missing from --help");
    }
}

fn run_in(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = ocidiff().current_dir(dir).args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn verdict_line_sums_up_the_run() {
    let ex = examples();
    let (code, _, stderr) = run_in(&ex, &["diff", "--semantic", "hello-v1", "hello-v2.tar"]);
    assert_eq!(code, Some(1));
    let last = stderr.trim_end().lines().last().unwrap();
    assert!(
        last.starts_with(
            "ocidiff: different: 4 differences (content: 2, added: 1, permission: 1); "
        ),
        "{last}"
    );
    assert!(last.contains("timestamp: 4"), "{last}");
    let (code, stdout, stderr) = run_in(&ex, &["diff", "hello-v1", "hello-v1"]);
    assert_eq!((code, stdout.as_str()), (Some(0), ""));
    assert_eq!(stderr.trim_end(), "ocidiff: identical: no differences");
}

#[test]
fn timestamps_only_is_equivalent_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let l = dir.path().join("l");
    let r = dir.path().join("r");
    let spec = |t: u64| ImageSpec::new().layer(Layer::new(vec![Entry::file("a", "x").mtime(t)]));
    write_oci_dir(&l, &[("", spec(1).into())]).unwrap();
    write_oci_dir(&r, &[("", spec(2).into())]).unwrap();
    let (code, stdout, stderr) =
        run_in(dir.path(), &["diff", "--ignore-file-timestamps", "l", "r"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, "");
    assert!(stderr.contains("equivalent under the chosen options: 5 differences set aside (timestamp: 1, derived: 4)"), "{stderr}");
    let (code, stdout, _) = run_in(dir.path(), &["diff", "l", "r"]);
    assert_eq!(code, Some(1));
    assert!(stdout.contains("mtime="), "{stdout}");
}

#[test]
fn ignore_path_and_config_file() {
    let ex = examples();
    let dir = tempfile::tempdir().unwrap();
    let args = |extra: &[&str]| {
        let mut v: Vec<String> = vec!["diff".into(), "--semantic".into()];
        v.extend(extra.iter().map(|s| (*s).to_owned()));
        v.push(ex.join("hello-v1").display().to_string());
        v.push(ex.join("hello-v2.tar").display().to_string());
        v
    };
    let out = ocidiff()
        .current_dir(dir.path())
        .args(args(&[
            "--ignore-path",
            "/etc/hello/build-date",
            "--ignore-path",
            "etc/hello/NEWS",
        ]))
        .output()
        .unwrap();
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        !table.contains("build-date") && !table.contains("NEWS"),
        "{table}"
    );
    assert!(table.contains("config.ini"), "{table}");

    std::fs::write(
        dir.path().join("ocidiff.toml"),
        "[diff]\nignore-path = [\"/etc/hello/**\"]\n",
    )
    .unwrap();
    let out = ocidiff()
        .current_dir(dir.path())
        .args(args(&[]))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("ignored-path: 5"), "{stderr}");

    std::fs::write(dir.path().join("bad.toml"), "[diff]\nsemantik = true\n").unwrap();
    let out = ocidiff()
        .current_dir(dir.path())
        .args(args(&["--config", "bad.toml"]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("semantik"));

    let out = ocidiff()
        .current_dir(dir.path())
        .args(args(&["--ignore-path", "a[", "--config", "/dev/null"]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn flatten_sees_through_layering() {
    let dir = tempfile::tempdir().unwrap();
    let two = ImageSpec::new()
        .layer(Layer::new(vec![
            Entry::dir("etc/"),
            Entry::file("etc/a", "1"),
        ]))
        .layer(Layer::new(vec![
            Entry::file("etc/b", "2"),
            Entry::whiteout("etc/never"),
        ]));
    let one = ImageSpec::new().layer(Layer::new(vec![
        Entry::dir("etc/"),
        Entry::file("etc/a", "1"),
        Entry::file("etc/b", "2"),
    ]));
    write_oci_dir(&dir.path().join("two"), &[("", two.into())]).unwrap();
    write_oci_dir(&dir.path().join("one"), &[("", one.into())]).unwrap();
    let (code, stdout, _) = run_in(dir.path(), &["diff", "--semantic", "two", "one"]);
    assert_eq!(code, Some(1));
    assert!(stdout.contains("Mani  manifests-0 .layers"), "{stdout}");
    let (code, stdout, stderr) = run_in(
        dir.path(),
        &["diff", "--semantic", "--flatten", "two", "one"],
    );
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stderr.contains("layering: 1"), "{stderr}");
}

#[test]
fn markdown_summary_on_stdout_and_html_report() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    let out = ocidiff()
        .current_dir(examples())
        .args([
            "diff",
            "--semantic",
            "--format",
            "markdown",
            "hello-v1",
            "hello-v2.tar",
        ])
        .arg("--report-html")
        .arg(&page)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let md = String::from_utf8(out.stdout).unwrap();
    assert!(md.starts_with("## ❌ ocidiff: different\n"), "{md}");
    assert!(
        md.contains("| File | etc/hello/run.sh | mode=0644 | mode=0755 | permission |"),
        "{md}"
    );
    assert!(md.contains("<details><summary>"), "{md}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("<div class=\"outcome\">different</div>"));
    assert!(html.contains("etc/hello/run.sh"));
}

#[test]
fn packages_view_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let image = |version: &str, tool: &str| {
        ImageSpec::new().layer(Layer::new(vec![
            Entry::dir("var/lib/dpkg/info/"),
            Entry::file(
                "var/lib/dpkg/status",
                format!(
                    "Package: tool\nStatus: install ok installed\nVersion: {version}\nArchitecture: amd64\n\n"
                ),
            ),
            Entry::file("var/lib/dpkg/info/tool.list", "/usr/bin/tool\n"),
            Entry::file("usr/bin/tool", tool),
        ]))
    };
    write_oci_dir(&dir.path().join("a"), &[("", image("1.0", "x").into())]).unwrap();
    write_oci_dir(&dir.path().join("b"), &[("", image("1.1", "y").into())]).unwrap();
    write_oci_dir(&dir.path().join("c"), &[("", image("1.0", "z").into())]).unwrap();
    let (code, stdout, stderr) =
        run_in(dir.path(), &["diff", "--semantic", "--packages", "a", "b"]);
    assert_eq!(code, Some(1));
    assert!(stdout.contains("Pkg   dpkg:tool"), "{stdout}");
    assert!(stderr.contains("package-changed: 2"), "{stderr}");
    let (_, _, stderr) = run_in(dir.path(), &["diff", "--semantic", "--packages", "a", "c"]);
    assert!(stderr.contains("same-package-content: 1"), "{stderr}");
}

#[test]
fn errors_are_one_line_and_name_each_cause_once() {
    let out = ocidiff()
        .args(["diff", "/nonexistent", "/nonexistent"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(
        err,
        "ocidiff: error: input 0: \"/nonexistent\": no such file or directory\n",
    );
}

#[test]
fn verbose_and_debug_log_progress_to_stderr() {
    let ex = examples();
    let run = |args: &[&str]| {
        let out = ocidiff()
            .current_dir(&ex)
            .args(args)
            .env_remove("OCIDIFF_LOG")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        String::from_utf8(out.stderr).unwrap()
    };
    let quiet = run(&["diff", "hello-v1", "hello-v1"]);
    assert_eq!(quiet, "ocidiff: identical: no differences\n");
    let verbose = run(&["diff", "-v", "hello-v1", "hello-v1"]);
    assert!(
        verbose.contains("INFO") && verbose.contains("comparing"),
        "{verbose}"
    );
    assert!(!verbose.contains("DEBUG"), "{verbose}");
    let debug = run(&["--debug", "diff", "hello-v1", "hello-v1"]);
    assert!(
        debug.contains("INFO") && debug.contains("comparing"),
        "{debug}"
    );
}

/// Runs ocidiff with its stdout a pipe nobody reads (`ocidiff … | head -c0`).
fn with_closed_stdout(args: &[&str], dir: &Path) -> std::process::Output {
    let (reader, writer) = rustix::pipe::pipe().unwrap();
    drop(reader);
    std::process::Command::new(assert_cmd::cargo::cargo_bin("ocidiff"))
        .current_dir(dir)
        .args(args)
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap()
}

#[test]
fn a_reader_that_stops_reading_changes_neither_verdict_nor_reports() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let out = with_closed_stdout(
        &[
            "diff",
            "hello-v1",
            "hello-v2.tar",
            "--report-file",
            report.to_str().unwrap(),
        ],
        &examples(),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("error"), "{err}");
    let json: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert!(json["findings"].as_array().is_some_and(|f| !f.is_empty()));
    // Listing the store into a closed pipe is not an error either.
    let store = dir.path().join("store");
    let load = ocidiff()
        .args(["load", "--store", store.to_str().unwrap(), "--input"])
        .arg(examples().join("hello-v2.tar"))
        .output()
        .unwrap();
    assert_eq!(load.status.code(), Some(0), "{load:?}");
    let out = with_closed_stdout(&["images", "--store", store.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");
}

#[test]
fn each_report_alone_carries_the_text_diffs() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let html = dir.path().join("r.html");
    let report_dir = dir.path().join("dir");
    let diff_line = "+level=2";
    for (flag, path, written) in [
        ("--report-file", &json, json.clone()),
        ("--report-html", &html, html.clone()),
        ("--report-dir", &report_dir, report_dir.join("report.json")),
    ] {
        ocidiff()
            .current_dir(examples())
            .args(["diff", "hello-v1", "hello-v2.tar", flag])
            .arg(path)
            .assert()
            .code(1);
        let text = std::fs::read_to_string(&written).unwrap();
        assert!(
            text.contains(diff_line),
            "{flag}: no text diff in {written:?}"
        );
    }
}

#[test]
fn a_full_stdout_is_an_error() {
    let full = std::fs::File::create("/dev/full").unwrap();
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("ocidiff"))
        .current_dir(examples())
        .args(["diff", "hello-v1", "hello-v2.tar"])
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("ocidiff: error: writing to standard output"),
        "{err}"
    );
}

/// The library states which limit or setting stopped it; the binary names the flag that
/// changes it, at the end of the line.
#[test]
fn errors_end_with_the_flag_that_changes_them() {
    let dir = tempfile::tempdir().unwrap();
    let good = every_form(dir.path(), "a", &image("1"));
    // Two images of 1100 entries each, the last one differing: walked, not taken as equal.
    let many = |stamp: &str| {
        let mut entries: Vec<Entry> = (0..1100)
            .map(|i| Entry::file(&format!("f{i}"), ""))
            .collect();
        entries.push(Entry::file("stamp", stamp));
        let path = dir.path().join(format!("many-{stamp}"));
        write_oci_dir(
            &path,
            &[("many", ImageSpec::new().layer(Layer::new(entries)).into())],
        )
        .unwrap();
        format!("oci:{}:many", path.display())
    };
    let (lhs, rhs) = (many("1"), many("2"));
    let store = dir.path().join("store");
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        // 4 Mi entries scaled by 0.00025: 1048, while the JSON limit stays above 2 KB.
        (
            vec!["--max-scale", "0.00025", &lhs, &rhs],
            "holds more than 1048 entries",
            "(raise the limit with --max-scale)",
        ),
        (
            vec!["--max-scale", "0.00001", &good[0], &good[0]],
            "index.json is larger than the limit of 83 bytes",
            "(raise it with --max-scale)",
        ),
        (
            vec![
                "--pull",
                "never",
                "--store",
                store.to_str().unwrap(),
                &good[0],
                "registry.invalid/absent:1",
            ],
            "registry.invalid/absent:1 is not in the local store",
            "(and --pull never forbids pulling it)",
        ),
        (
            vec!["--ignore-path", "a[", &good[0], &good[0]],
            "pattern \"a[\"",
            "--ignore-path)",
        ),
    ];
    for (args, fact, hint) in cases {
        let out = ocidiff().arg("diff").args(&args).output().unwrap();
        let stderr = redact(&out.stderr, dir.path());
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(fact), "{args:?}: {stderr}");
        assert!(stderr.trim_end().ends_with(hint), "{args:?}: {stderr}");
        assert_eq!(stderr.matches(hint).count(), 1, "{args:?}: {stderr}");
    }
}

/// README: "`ocidiff completions <SHELL>` and `ocidiff man`". Both come from the CLI
/// definition, so the flags built from the library's rule list are in them too.
#[test]
fn completions_and_man_pages_name_every_command_and_flag() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = ocidiff().args(["completions", shell]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        for word in [
            "diff",
            "ignore-storage-format",
            "treat-canonical-paths-equal",
        ] {
            assert!(script.contains(word), "{shell} lacks {word}");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let bash = dir.path().join("ocidiff.bash");
    let out = ocidiff().args(["completions", "bash"]).output().unwrap();
    std::fs::write(&bash, out.stdout).unwrap();
    let syntax = std::process::Command::new("bash")
        .arg("-n")
        .arg(&bash)
        .status()
        .unwrap();
    assert!(syntax.success(), "bash -n on the completion script");
    let out = ocidiff().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));

    let out = ocidiff().arg("man").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.contains(".TH ocidiff 1"), "{page}");
    let pages = dir.path().join("man1");
    ocidiff()
        .args(["man", "--dir"])
        .arg(&pages)
        .assert()
        .success();
    let diff = std::fs::read_to_string(pages.join("ocidiff-diff.1")).unwrap();
    assert!(diff.contains(r"\-\-ignore\-storage\-format"), "{diff}");
    assert!(
        diff.contains("Exit status"),
        "the image forms and exit status"
    );
    assert!(pages.join("ocidiff.1").is_file());
}

/// README: "`-q`/`--quiet`: nothing on stdout, no verdict line; the exit status says it".
#[test]
fn quiet_says_it_with_the_exit_status_only() {
    let dir = tempfile::tempdir().unwrap();
    let l = every_form(dir.path(), "a", &image("1"));
    let r = every_form(dir.path(), "b", &image("2"));
    for (rhs, code) in [(&l[1], 0), (&r[0], 1)] {
        ocidiff()
            .args(["diff", "-q", &l[0], rhs])
            .assert()
            .code(code)
            .stdout("")
            .stderr("");
    }
    // The report files asked for are still written.
    let report = dir.path().join("quiet.json");
    ocidiff()
        .args(["diff", "--quiet", "--report-file"])
        .arg(&report)
        .args([&l[0], &r[0]])
        .assert()
        .code(1)
        .stdout("");
    assert!(report.is_file());
    let out = ocidiff()
        .args(["diff", "-q", &l[0], "no-such-image-dir/"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(out.stdout, b"");
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
}

/// README: "`--report-file -` writes the JSON report on stdout, instead of the table".
#[test]
fn report_file_dash_is_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let l = every_form(dir.path(), "a", &image("1"));
    let r = every_form(dir.path(), "b", &image("2"));
    let out = ocidiff()
        .args(["diff", "--report-file", "-", &l[0], &r[0]])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["schema_version"], 1);
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("ocidiff: different"));
    assert!(!dir.path().join("-").exists());
    for clash in ["--quiet", "--format=markdown"] {
        ocidiff()
            .args(["diff", clash, "--report-file", "-", &l[0], &r[0]])
            .assert()
            .code(2)
            .stdout("");
    }
}

/// A report path that cannot be written is an error before anything is read, and a run that
/// fails leaves no report (and no temporary file) behind.
#[test]
fn report_paths_are_checked_first_and_never_left_partial() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir/r.json");
    for flag in ["--report-file", "--report-html"] {
        let out = ocidiff()
            .args(["diff", flag])
            .arg(&missing)
            .args(["no-such-input-0/", "no-such-input-1/"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("no-such-dir/r.json"), "{flag}: {stderr}");
        assert!(!stderr.contains("no-such-input"), "{flag}: {stderr}");
    }
    ocidiff()
        .args(["diff", "--report-file"])
        .arg(dir.path())
        .args(["a/", "b/"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("is a directory"));
    let report = dir.path().join("r.json");
    ocidiff()
        .args(["diff", "--report-file"])
        .arg(&report)
        .args(["no-such-input-0/", "no-such-input-1/"])
        .assert()
        .code(2);
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");

    // Through a symbolic link the file it names gets the report; the link stays.
    let forms = every_form(dir.path(), "a", &image("1"));
    let real = dir.path().join("real.json");
    let link = dir.path().join("link.json");
    std::fs::write(&real, "old").unwrap();
    std::os::unix::fs::symlink(&real, &link).unwrap();
    ocidiff()
        .args(["diff", "--report-file"])
        .arg(&link)
        .args([&forms[0], &forms[0]])
        .assert()
        .code(0);
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    let json: Value = serde_json::from_slice(&std::fs::read(&real).unwrap()).unwrap();
    assert_eq!(json["schema_version"], 1);
}

/// docs/report.md: "`config_file`: the `ocidiff.toml` whose defaults were read … absent when
/// none was".
#[test]
fn the_report_names_the_config_file_read() {
    let dir = tempfile::tempdir().unwrap();
    let forms = every_form(dir.path(), "a", &image("1"));
    let report = |extra: &[&str]| -> Value {
        let out = ocidiff()
            .current_dir(dir.path())
            .args(["diff", "--report-file", "-"])
            .args(extra)
            .args([&forms[0], &forms[0]])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    assert!(report(&[]).get("config_file").is_none());
    std::fs::write(dir.path().join("ocidiff.toml"), "[diff]\nsemantic = true\n").unwrap();
    assert_eq!(report(&[])["config_file"], "ocidiff.toml");
    std::fs::write(dir.path().join("other.toml"), "[diff]\n").unwrap();
    assert_eq!(
        report(&["--config", "other.toml"])["config_file"],
        "other.toml"
    );
}

/// Layers large enough to be compared as they stream (4 MiB and more; 20 000 entries, more
/// than are kept for a second look) find what the file-system view finds: settled as they
/// stream when both list the same paths, read again when a file is on one side only.
#[test]
fn large_layers_stream_and_find_what_the_file_systems_show() {
    let dir = tempfile::tempdir().unwrap();
    let files = |changed: &[usize], extra: bool, mtime: u64| {
        let mut entries = Vec::new();
        for d in 0..20 {
            entries.push(Entry::dir(&format!("d{d}/")).mtime(mtime));
            for f in 0..1000 {
                let n = d * 1000 + f;
                let body = if changed.contains(&n) {
                    "changed"
                } else {
                    "same"
                };
                entries.push(Entry::file(&format!("d{d}/f{f}"), body).mtime(mtime));
            }
        }
        if extra {
            entries.push(Entry::file("d3/extra", "new"));
        }
        ImageSpec::new().layer(Layer::new(entries))
    };
    let write = |name: &str, spec: ImageSpec| {
        let path = dir.path().join(name);
        write_oci_dir(&path, &[("", spec.into())]).unwrap();
        format!("oci:{}", path.display())
    };
    let base = write("base", files(&[], false, 1));
    let counted = |args: &[&str], rhs: &str| -> (i32, Vec<String>) {
        let report = dir.path().join("report.json");
        let out = ocidiff()
            .args(["diff", "--semantic", "--report-file"])
            .arg(&report)
            .args(args)
            .args([&base, rhs])
            .output()
            .unwrap();
        let json: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        let mut names: Vec<String> = json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["counted"] == true && f["kind"] == "file")
            .map(|f| f["name"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        (out.status.code().unwrap(), names)
    };
    for (name, spec, expected) in [
        ("retimed", files(&[], false, 2), vec![]),
        (
            "changed",
            files(&[5, 17_999], false, 2),
            vec!["d0/f5", "d17/f999"],
        ),
        ("extra", files(&[7], true, 1), vec!["d0/f7", "d3/extra"]),
    ] {
        let rhs = write(name, spec);
        let layers = counted(&[], &rhs);
        assert_eq!(layers, counted(&["--flatten"], &rhs), "{name}");
        let code = i32::from(!expected.is_empty());
        assert_eq!(
            layers,
            (code, expected.iter().map(ToString::to_string).collect())
        );
    }
}
