//! End to end against real tools: images built twice by docker's classic builder and by
//! buildah, exported by `docker save` and by skopeo, then compared by the
//! `ocidiff` binary. Each build writes a random `/build-stamp`, so the two builds differ in that
//! file for real and otherwise only in what a rebuild always changes (timestamps, IDs).
//!
//! Needs a docker daemon (`DOCKER_HOST`, as exported by `scripts/services.sh`) and skopeo. Without
//! them the tests skip (`ocidiff_testkit::skip`), a failure under `OCIDIFF_REQUIRE_SERVICES=1`;
//! a tool that is there and fails is always a failure.

mod common;

use common::{State, busybox_rootfs, docker, have, ready, run, skip, tool_works};

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use assert_cmd::Command as BinCommand;
use serde_json::Value;

/// Files built once per test binary; see [`fixtures`].
struct Fixtures {
    /// `docker save` of builds a and b (the classic `manifest.json` form from dockerd 20.10).
    docker_a: PathBuf,
    docker_b: PathBuf,
    /// skopeo's OCI layout holding build a as tag `a` and build b as tag `b`.
    oci_dir: PathBuf,
    /// skopeo's OCI archive of build a.
    oci_archive_a: PathBuf,
    /// buildah's builds of the same Dockerfile, as docker archives; `None` when buildah is not
    /// installed, `Err` when it failed.
    buildah: Result<Option<[PathBuf; 2]>, String>,
}

/// The fixtures, or `None` when the test must skip (after saying so).
fn fixtures() -> Option<&'static Fixtures> {
    static STATE: OnceLock<State<Fixtures>> = OnceLock::new();
    ready(STATE.get_or_init(build_fixtures))
}

/// skopeo does not read `DOCKER_HOST`; it must be told the daemon's socket.
fn skopeo_from_daemon(image: &str, dest: &str) -> Command {
    let mut cmd = Command::new("skopeo");
    cmd.args(["copy", "-q"]);
    if let Some(host) = std::env::var_os("DOCKER_HOST") {
        cmd.arg("--src-daemon-host").arg(host);
    }
    cmd.arg(format!("docker-daemon:{image}")).arg(dest);
    cmd
}

fn build_fixtures() -> State<Fixtures> {
    if !tool_works(docker().arg("info")) {
        return State::Unavailable(format!(
            "no docker daemon answers (DOCKER_HOST={:?}); start one with scripts/services.sh start \
             and source its env file",
            std::env::var("DOCKER_HOST").unwrap_or_default()
        ));
    }
    if !tool_works(Command::new("skopeo").arg("--version")) {
        return State::Unavailable("skopeo is not installed".into());
    }
    // Unique names: a system daemon may be in use, and other runs may share it.
    let tag = format!("ocidiff-real-tools-{}", std::process::id());
    let base = format!("{tag}-base:1");
    let images = [format!("{tag}:a"), format!("{tag}:b")];
    let result = build_with_docker(&base, &images);
    // The exports are all the tests need; leave the daemon as it was.
    let _ = docker()
        .arg("rmi")
        .arg("-f")
        .arg(&base)
        .args(&images)
        .output();
    match result {
        Ok(fx) => State::Ready(fx),
        Err(why) => State::Broken(why),
    }
}

/// The fixture dir, emptied first: under the target dir, so no run leaves files elsewhere.
fn fresh_dir() -> Result<PathBuf, String> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("real-tools");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .map_err(|e| format!("cannot empty {}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn build_with_docker(base: &str, images: &[String; 2]) -> Result<Fixtures, String> {
    let dir = fresh_dir()?;
    import_busybox_base(&dir, base)?;

    let ctx = dir.join("ctx");
    std::fs::create_dir(&ctx).map_err(|e| format!("cannot create {}: {e}", ctx.display()))?;
    // busybox's `date` has no `%N`: a random UUID makes each build's stamp differ for sure.
    write(
        &ctx.join("Dockerfile"),
        &format!(
            "FROM {base}\nRUN cat /proc/sys/kernel/random/uuid > /build-stamp && echo hello > /hello.txt\n"
        ),
    )?;
    for image in images {
        run(docker()
            .args(["build", "--no-cache", "-q", "-t", image])
            .arg(&ctx))?;
    }

    let docker_a = dir.join("a.docker.tar");
    let docker_b = dir.join("b.docker.tar");
    for (image, out) in images.iter().zip([&docker_a, &docker_b]) {
        run(docker().args(["save", "-o"]).arg(out).arg(image))?;
    }

    let oci_dir = dir.join("oci");
    let oci_archive_a = dir.join("a.oci.tar");
    for (image, name) in images.iter().zip(["a", "b"]) {
        run(&mut skopeo_from_daemon(
            image,
            &format!("oci:{}:{name}", oci_dir.display()),
        ))?;
    }
    run(&mut skopeo_from_daemon(
        &images[0],
        &format!("oci-archive:{}", oci_archive_a.display()),
    ))?;

    let buildah = build_with_buildah(&dir, base, &ctx);
    Ok(Fixtures {
        docker_a,
        docker_b,
        oci_dir,
        oci_archive_a,
        buildah,
    })
}

/// A base image with no registry: a static busybox and a few applet links, by `docker import`.
fn import_busybox_base(dir: &Path, base: &str) -> Result<(), String> {
    let rootfs_tar = busybox_rootfs(dir, &["sh", "ls", "date", "cat", "echo"])?;
    run(docker().arg("import").arg(&rootfs_tar).arg(base))?;
    Ok(())
}

/// Builds the same Dockerfile with buildah in its own storage under `dir`, from the docker
/// base (brought over as an OCI archive, since buildah cannot be pointed at our daemon's
/// socket).
fn build_with_buildah(dir: &Path, base: &str, ctx: &Path) -> Result<Option<[PathBuf; 2]>, String> {
    if !have("buildah") {
        return Ok(None);
    }
    let storage = dir.join("buildah");
    let buildah = || {
        let mut cmd = Command::new("buildah");
        cmd.arg("--root")
            .arg(storage.join("root"))
            .arg("--runroot")
            .arg(storage.join("run"))
            .args(["--storage-driver", "vfs"]);
        cmd
    };
    let base_tar = dir.join("base.oci.tar");
    run(&mut skopeo_from_daemon(
        base,
        &format!("oci-archive:{}", base_tar.display()),
    ))?;
    let id = run(buildah()
        .args(["pull", "-q"])
        .arg(format!("oci-archive:{}", base_tar.display())))?;
    // `FROM name:1` resolves to `localhost/name:1` in local storage.
    run(buildah()
        .arg("tag")
        .arg(id.trim())
        .arg(format!("localhost/{base}")))?;
    let mut out = Vec::new();
    for name in ["a", "b"] {
        let image = format!("ocidiff-buildah:{name}");
        run(buildah()
            .args([
                "bud",
                "-q",
                "--isolation",
                "chroot",
                "--pull-never",
                "--no-cache",
            ])
            .args(["-t", &image])
            .arg(ctx))?;
        let tar = dir.join(format!("{name}.buildah.tar"));
        run(buildah()
            .args(["push", "-q", &image])
            .arg(format!("docker-archive:{}:{image}", tar.display())))?;
        out.push(tar);
    }
    let [a, b]: [PathBuf; 2] = out
        .try_into()
        .map_err(|_| "two builds make two archives".to_string())?;
    Ok(Some([a, b]))
}

// ---------------------------------------------------------------------------------------------
// Running ocidiff

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

fn ocidiff(args: &[&str]) -> Outcome {
    let out = BinCommand::cargo_bin("ocidiff")
        .expect("the ocidiff binary is built")
        .args(args)
        .output()
        .expect("ocidiff runs");
    Outcome {
        code: out.status.code().expect("ocidiff exits, not killed"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Outcome {
    fn expect_code(&self, code: i32, what: &str) -> &Self {
        assert_eq!(
            self.code, code,
            "{what}: exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// NAME of each `File` row of the table (`TYPE NAME INPUT-0 INPUT-1`).
    fn file_rows(&self) -> Vec<String> {
        self.stdout
            .lines()
            .filter_map(|line| {
                let mut cols = line.split_whitespace();
                (cols.next() == Some("File")).then(|| cols.next().unwrap_or("").to_string())
            })
            .collect()
    }

    fn expect_table_header(&self) -> &Self {
        let header = self.stdout.lines().next().unwrap_or("");
        assert!(
            header.starts_with("TYPE") && header.contains("INPUT-1"),
            "table header {header:?} in:\n{}",
            self.stdout
        );
        self
    }
}

fn arg(transport: &str, path: &Path) -> String {
    format!("{transport}:{}", path.display())
}

fn oci_tag(fx: &Fixtures, tag: &str) -> String {
    format!("oci:{}:{tag}", fx.oci_dir.display())
}

/// The stamp is the one real difference between two builds, so the semantic table must name it
/// and nothing else among files.
fn expect_only_stamp(out: &Outcome, what: &str) {
    let files = out.file_rows();
    assert!(
        !files.is_empty() && files.iter().all(|n| n.ends_with("build-stamp")),
        "{what}: File rows {files:?}, expected only build-stamp, in:\n{}",
        out.stdout
    );
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn fixtures_build() {
    let Some(fx) = fixtures() else {
        return;
    };
    for tar in [&fx.docker_a, &fx.docker_b, &fx.oci_archive_a] {
        let meta = std::fs::metadata(tar).expect("archive written");
        assert!(meta.len() > 1_000_000, "{tar:?} holds busybox");
    }
    let index: Value = serde_json::from_slice(
        &std::fs::read(fx.oci_dir.join("index.json")).expect("skopeo wrote index.json"),
    )
    .expect("index.json is JSON");
    let tags: Vec<&str> = index["manifests"]
        .as_array()
        .expect("index lists manifests")
        .iter()
        .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .collect();
    assert_eq!(tags, ["a", "b"]);
    assert_ne!(
        std::fs::read(&fx.docker_a).expect("a"),
        std::fs::read(&fx.docker_b).expect("b"),
        "two builds differ"
    );
}

#[test]
fn rebuilt_docker_images_differ_in_build_stamp() {
    let Some(fx) = fixtures() else {
        return;
    };
    let out = ocidiff(&[
        "diff",
        &arg("docker-archive", &fx.docker_a),
        &arg("docker-archive", &fx.docker_b),
    ]);
    out.expect_code(1, "a vs b").expect_table_header();
    assert!(
        out.file_rows().iter().any(|n| n.ends_with("build-stamp")),
        "a File row for build-stamp in:\n{}",
        out.stdout
    );
}

#[test]
fn semantic_diff_of_rebuilds_is_only_the_build_stamp() {
    let Some(fx) = fixtures() else {
        return;
    };
    let out = ocidiff(&[
        "diff",
        "--semantic",
        &arg("docker-archive", &fx.docker_a),
        &arg("docker-archive", &fx.docker_b),
    ]);
    out.expect_code(1, "--semantic a vs b")
        .expect_table_header();
    expect_only_stamp(&out, "--semantic a vs b");
}

#[test]
fn an_archive_equals_itself() {
    let Some(fx) = fixtures() else {
        return;
    };
    let a = arg("docker-archive", &fx.docker_a);
    let out = ocidiff(&["diff", &a, &a]);
    out.expect_code(0, "a vs a");
    assert_eq!(out.stdout, "", "no output for identical images");
}

#[test]
fn semantic_same_image_in_other_storage_formats() {
    let Some(fx) = fixtures() else {
        return;
    };
    let docker_a = arg("docker-archive", &fx.docker_a);
    for other in [oci_tag(fx, "a"), arg("oci-archive", &fx.oci_archive_a)] {
        ocidiff(&["diff", "--semantic", &docker_a, &other])
            .expect_code(0, &format!("--semantic {docker_a} vs {other}"));
    }
}

#[test]
fn semantic_rebuilds_differ_across_storage_formats() {
    let Some(fx) = fixtures() else {
        return;
    };
    let out = ocidiff(&[
        "diff",
        "--semantic",
        &arg("docker-archive", &fx.docker_a),
        &oci_tag(fx, "b"),
    ]);
    out.expect_code(1, "--semantic docker a vs oci b");
    expect_only_stamp(&out, "--semantic docker a vs oci b");
}

#[test]
fn report_file_names_the_build_stamp() {
    let Some(fx) = fixtures() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let report = dir.path().join("r.json");
    ocidiff(&[
        "diff",
        "--report-file",
        report.to_str().expect("temp paths are UTF-8"),
        &arg("docker-archive", &fx.docker_a),
        &arg("docker-archive", &fx.docker_b),
    ])
    .expect_code(1, "--report-file a vs b");
    let json: Value =
        serde_json::from_slice(&std::fs::read(&report).expect("report written")).expect("JSON");
    assert_eq!(json["schema_version"], 1);
    let findings = json["findings"].as_array().expect("findings array");
    assert!(
        findings.iter().any(|f| f["kind"] == "file"
            && f["name"]
                .as_str()
                .is_some_and(|n| n.ends_with("build-stamp"))),
        "a file finding for build-stamp in {json:#}"
    );
}

#[test]
fn buildah_rebuilds_differ_only_in_build_stamp() {
    let Some(fx) = fixtures() else {
        return;
    };
    let [a, b] = match &fx.buildah {
        Ok(Some(archives)) => archives,
        Ok(None) => return skip("buildah is not installed (apt-get install buildah)"),
        Err(why) => panic!("buildah failed: {why}"),
    };
    let a = arg("docker-archive", a);
    ocidiff(&["diff", &a, &a]).expect_code(0, "buildah a vs a");
    let out = ocidiff(&["diff", "--semantic", &a, &arg("docker-archive", b)]);
    out.expect_code(1, "--semantic buildah a vs b");
    expect_only_stamp(&out, "--semantic buildah a vs b");
}
