//! `docker://` and `podman://` against real engines: the same Dockerfile built twice (each
//! build writes a random `/build-stamp`), read by ocidiff straight from the engine, and compared
//! with each other and with `docker save` / skopeo copies of the same image.
//!
//! Needs a docker daemon (`DOCKER_HOST`, as exported by `scripts/services.sh`), busybox and
//! skopeo; the Podman cases need `podman` (run here with private vfs storage). Without them the
//! tests skip (`ocidiff_testkit::skip`), a failure under `OCIDIFF_REQUIRE_SERVICES=1`.
//! Every run of ocidiff gets its own store (`OCIDIFF_STORE`).

mod common;

use common::{State, busybox_rootfs, docker, ready, run, tool_works};

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::OnceLock;

use assert_cmd::Command as BinCommand;
use serde_json::Value;

fn base_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("docker-daemon")
}

/// A fresh dir under the target dir.
fn fresh_dir(name: &str) -> Result<PathBuf, String> {
    let dir = base_dir().join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .map_err(|e| format!("cannot empty {}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// A build context whose one step writes a random stamp.
fn context(dir: &Path, base: &str) -> Result<PathBuf, String> {
    let ctx = dir.join("ctx");
    std::fs::create_dir_all(&ctx).map_err(|e| format!("cannot create {}: {e}", ctx.display()))?;
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("FROM {base}\nRUN cat /proc/sys/kernel/random/uuid > /build-stamp\n"),
    )
    .map_err(|e| format!("cannot write the Dockerfile: {e}"))?;
    Ok(ctx)
}

// ---------------------------------------------------------------------------------------------
// Docker fixtures

struct Docker {
    /// `docker://` names of the two builds.
    a: String,
    b: String,
    /// `docker save` of build a, and skopeo's OCI layout of it (tag `a`).
    saved_a: PathBuf,
    oci: PathBuf,
    /// The build context of a and b, and the tag prefix of this run's images.
    ctx: PathBuf,
    tag: String,
}

fn docker_fixtures() -> Option<&'static Docker> {
    static STATE: OnceLock<State<Docker>> = OnceLock::new();
    ready(STATE.get_or_init(build_docker))
}

fn build_docker() -> State<Docker> {
    if !tool_works(docker().arg("info")) {
        return State::Unavailable(format!(
            "no docker daemon answers (DOCKER_HOST={:?}); start one with scripts/services.sh \
             start and source its env file",
            std::env::var("DOCKER_HOST").unwrap_or_default()
        ));
    }
    if !tool_works(Command::new("skopeo").arg("--version")) {
        return State::Unavailable("skopeo is not installed".into());
    }
    // Unique names: other runs may share the daemon. The images stay in it for the tests.
    let tag = format!("ocidiff-daemon-{}", std::process::id());
    match build_docker_images(&tag) {
        Ok(fx) => State::Ready(fx),
        Err(why) => State::Broken(why),
    }
}

fn build_docker_images(tag: &str) -> Result<Docker, String> {
    let dir = fresh_dir("docker")?;
    let base = format!("{tag}-base:1");
    run(docker()
        .arg("import")
        .arg(busybox_rootfs(&dir, &["sh", "cat", "echo"])?)
        .arg(&base))?;
    let ctx = context(&dir, &base)?;
    let (a, b) = (format!("{tag}:a"), format!("{tag}:b"));
    for image in [&a, &b] {
        run(docker()
            .args(["build", "--no-cache", "-q", "-t", image])
            .arg(&ctx))?;
    }
    let saved_a = dir.join("a.docker.tar");
    run(docker().args(["save", "-o"]).arg(&saved_a).arg(&a))?;
    let oci = dir.join("oci");
    let mut skopeo = Command::new("skopeo");
    skopeo.args(["copy", "-q"]);
    // skopeo does not read DOCKER_HOST.
    if let Some(host) = std::env::var_os("DOCKER_HOST") {
        skopeo.arg("--src-daemon-host").arg(host);
    }
    run(skopeo
        .arg(format!("docker-daemon:{a}"))
        .arg(format!("oci:{}:a", oci.display())))?;
    Ok(Docker {
        a: format!("docker://{a}"),
        b: format!("docker://{b}"),
        saved_a,
        oci,
        ctx,
        tag: tag.to_owned(),
    })
}

// ---------------------------------------------------------------------------------------------
// Running ocidiff

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
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

    /// `TYPE NAME` of every table row.
    fn rows(&self) -> Vec<(String, String)> {
        self.stdout
            .lines()
            .skip(1)
            .map(|l| {
                let mut cols = l.split_whitespace();
                let kind = cols.next().unwrap_or("").to_owned();
                (kind, cols.next().unwrap_or("").to_owned())
            })
            .collect()
    }

    /// Whether a layer kept as a listing had to be exported again for its bytes.
    fn needed_whole(&self) -> bool {
        self.stderr
            .contains("a layer kept as a listing is needed whole")
    }

    /// How many exports the log reports.
    fn exports(&self) -> usize {
        self.stderr
            .matches("exporting the image into the store")
            .count()
    }
}

/// A store of its own for one test.
fn store(test: &str) -> PathBuf {
    let dir = base_dir().join("stores").join(test);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn ocidiff(store: &Path, args: &[&str], env: &[(&str, &str)], unset: &[&str]) -> Outcome {
    let mut cmd = BinCommand::cargo_bin("ocidiff").expect("the ocidiff binary is built");
    cmd.env("OCIDIFF_STORE", store)
        .env("OCIDIFF_LOG", "ocidiff_core=info")
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    for k in unset {
        cmd.env_remove(k);
    }
    let out = cmd.output().expect("ocidiff runs");
    Outcome {
        code: out.status.code().expect("ocidiff exits, not killed"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The `pulled` time of every record in a store, by engine image ID.
fn records(store: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(store.join("refs"))
        .map(|d| {
            d.filter_map(|e| {
                let bytes = std::fs::read(e.ok()?.path()).ok()?;
                let v: Value = serde_json::from_slice(&bytes).ok()?;
                let id = v.pointer("/engine/id")?.as_str()?.to_owned();
                Some((id, v.get("pulled")?.to_string()))
            })
            .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// The semantic difference between two builds is exactly the stamp.
fn expect_only_stamp(out: &Outcome, what: &str) {
    out.expect_code(1, what);
    assert_eq!(
        out.rows(),
        vec![("File".to_owned(), "build-stamp".to_owned())],
        "{what}:\n{}",
        out.stdout
    );
}

// ---------------------------------------------------------------------------------------------
// Docker

#[test]
fn docker_rebuilds_differ_in_the_stamp_and_what_a_rebuild_changes() {
    let Some(fx) = docker_fixtures() else {
        return;
    };
    let store = store("rebuilds");
    let out = ocidiff(&store, &["diff", &fx.a, &fx.b], &[], &[]);
    out.expect_code(1, "strict a vs b");
    let rows = out.rows();
    assert!(
        rows.contains(&("File".into(), "build-stamp".into())),
        "{}",
        out.stdout
    );
    // Nothing else in the file system differs; the rest is the build's metadata.
    assert_eq!(
        rows.iter().filter(|(k, _)| k == "File").count(),
        1,
        "{}",
        out.stdout
    );
    assert!(
        rows.iter()
            .any(|(k, n)| k == "Cfg" && n.ends_with("config")),
        "{}",
        out.stdout
    );

    let out = ocidiff(&store, &["diff", "--semantic", &fx.a, &fx.b], &[], &[]);
    expect_only_stamp(&out, "--semantic a vs b");
    assert_eq!(out.exports(), 0, "both were exported by the strict run");
    assert!(!out.needed_whole(), "{}", out.stderr);
}

#[test]
fn docker_image_equals_its_docker_save_and_oci_copies() {
    let Some(fx) = docker_fixtures() else {
        return;
    };
    let store = store("copies");
    let saved = format!("docker-archive:{}", fx.saved_a.display());
    // The same bytes as `docker save`: equal even without --semantic. The layers the store
    // keeps as listings are not needed whole for it.
    let out = ocidiff(&store, &["diff", &fx.a, &saved], &[], &[]);
    out.expect_code(0, "a vs docker save");
    assert!(!out.needed_whole(), "{}", out.stderr);
    let oci = format!("oci:{}:a", fx.oci.display());
    ocidiff(&store, &["diff", "--semantic", &fx.a, &oci], &[], &[])
        .expect_code(0, "--semantic a vs skopeo's OCI copy");
    // Strictly they differ, in nothing but the storage format, and the verdict says so.
    let strict = ocidiff(&store, &["diff", &fx.a, &oci], &[], &[]);
    strict.expect_code(1, "strict a vs skopeo's OCI copy");
    let verdict = strict
        .stderr
        .lines()
        .find(|l| l.starts_with("ocidiff: different"))
        .unwrap_or_else(|| panic!("{}", strict.stderr));
    assert!(
        verdict.ends_with("equivalent under --semantic")
            && !verdict.contains("config-field")
            && !verdict.contains("other"),
        "{verdict}"
    );
    ocidiff(&store, &["diff", "--semantic", &oci, &fx.b], &[], &[]).expect_code(1, "oci a vs b");
}

#[test]
fn docker_missing_image_is_exit_2_with_a_clear_message() {
    let Some(fx) = docker_fixtures() else {
        return;
    };
    let store = store("missing");
    let out = ocidiff(
        &store,
        &["diff", "docker://ocidiff-no-such-image:1", &fx.a],
        &[],
        &[],
    );
    out.expect_code(2, "missing image");
    assert!(
        out.stderr
            .contains(r#"the Docker daemon has no image "ocidiff-no-such-image:1""#),
        "{}",
        out.stderr
    );

    let out = ocidiff(
        &store,
        &["diff", &fx.a, &fx.b],
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
        &[],
    );
    out.expect_code(2, "no daemon");
    assert!(
        out.stderr
            .contains("cannot connect to unix:///nonexistent/docker.sock (from DOCKER_HOST)"),
        "{}",
        out.stderr
    );

    // A name built locally but written without docker:// is found in the daemon.
    let bare = fx.a.strip_prefix("docker://").unwrap();
    let out = ocidiff(&store, &["diff", "--pull", "never", bare, &fx.b], &[], &[]);
    out.expect_code(2, "bare local name");
    assert!(
        out.stderr
            .trim_end()
            .ends_with(&format!("did you mean docker://{bare}?)")),
        "{}",
        out.stderr
    );
    // skopeo's docker://HOST/REPO habit: docker:// is the daemon here.
    let out = ocidiff(
        &store,
        &["diff", "docker://registry.example.com/app:1", &fx.b],
        &[],
        &[],
    );
    out.expect_code(2, "registry host after docker://");
    assert!(
        out.stderr
            .contains("docker:// is the local Docker daemon, as in diffoci"),
        "{}",
        out.stderr
    );
    let errors: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("ocidiff:"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", out.stderr);
}

/// README: "On a terminal, a bar per image exported, in input order, then one for reading
/// the layers"; none when stderr is not a terminal (script(1) gives ocidiff one).
#[test]
fn progress_is_drawn_on_a_terminal_only_in_input_order() {
    let Some(fx) = docker_fixtures() else {
        return;
    };
    let store = store("progress");
    let line = format!(
        "{} diff --semantic {} {}",
        assert_cmd::cargo::cargo_bin("ocidiff").display(),
        fx.a,
        fx.b
    );
    let out = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("OCIDIFF_STORE", &store)
        .output()
        .expect("script runs");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    let (a, b, layers) = (
        shown.rfind(fx.a.as_str()),
        shown.rfind(fx.b.as_str()),
        shown.rfind("reading layers"),
    );
    assert!(
        a.is_some() && a < b && b < layers,
        "bars in input order, then the layers: {shown}"
    );
    let _ = std::fs::remove_dir_all(&store);
    let out = ocidiff(&store, &["diff", "--semantic", &fx.a, &fx.b], &[], &[]);
    assert!(!out.stderr.contains("reading layers"), "{}", out.stderr);
}

#[test]
fn docker_image_read_twice_is_exported_once() {
    let Some(fx) = docker_fixtures() else {
        return;
    };
    let store = store("once");
    // Both inputs name the same image: one export.
    let out = ocidiff(&store, &["diff", &fx.a, &fx.a], &[], &[]);
    out.expect_code(0, "a vs a");
    assert_eq!(out.exports(), 1, "{}", out.stderr);
    let first = records(&store);
    assert_eq!(first.len(), 1, "{first:?}");

    let out = ocidiff(&store, &["diff", &fx.a, &fx.b], &[], &[]);
    out.expect_code(1, "a vs b");
    assert_eq!(out.exports(), 1, "only b is new: {}", out.stderr);
    let second = records(&store);
    assert_eq!(second.len(), 2, "{second:?}");
    assert!(second.contains(&first[0]), "a's record was not rewritten");
}

/// Every file under `dir`, by path relative to it, with its content.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("a directory of the tree") {
            let path = e.expect("an entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).expect("under dir").to_owned();
                out.push((rel, std::fs::read(&path).expect("a file of the tree")));
            }
        }
    }
    out.sort();
    out
}

/// Names of the files in one directory of a store (`blobs/sha256`, `listings/sha256`).
fn names_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// A cold export keeps the layers it walks as listings, not bytes; a run that needs a listed
/// layer's content (a report directory) exports the image again, once, and gets what a run
/// that kept the layers from the start gets.
#[test]
fn docker_layers_are_kept_as_listings_and_exported_again_when_needed() {
    let Some(fx) = docker_fixtures() else {
        return;
    };
    let dir = fresh_dir("listed").expect("a fresh dir");
    // One layer each, large enough to be walked on the way; /etc/motd differs.
    let mut names = Vec::new();
    for (i, motd) in ["one\n", "two\n"].iter().enumerate() {
        let layer = ocidiff_testkit::Layer::new(vec![
            ocidiff_testkit::Entry::dir("etc/"),
            ocidiff_testkit::Entry::file("etc/motd", motd),
            ocidiff_testkit::Entry::file("big", ocidiff_testkit::noise(600_000, 3)),
        ]);
        let tar = dir.join(format!("{i}.tar"));
        std::fs::write(&tar, layer.tar_bytes()).expect("the layer is written");
        let name = format!("{}-listed:{i}", fx.tag);
        run(docker().arg("import").arg(&tar).arg(&name)).expect("docker import");
        names.push(format!("docker://{name}"));
    }
    let [lhs, rhs] = [&names[0], &names[1]].map(String::as_str);

    let store = self::store("listed");
    let out = ocidiff(&store, &["diff", lhs, rhs], &[], &[]);
    out.expect_code(1, "cold");
    assert_eq!(out.exports(), 2, "{}", out.stderr);
    let listed = names_in(&store.join("listings/sha256"));
    assert_eq!(listed.len(), 2, "{listed:?}");
    let blobs = names_in(&store.join("blobs/sha256"));
    assert!(
        listed.iter().all(|l| !blobs.contains(l)),
        "listed layers are not stored: {blobs:?}"
    );
    let cold = out.stdout.clone();

    let out = ocidiff(&store, &["diff", lhs, rhs], &[], &[]);
    out.expect_code(1, "warm");
    assert_eq!(out.exports(), 0, "{}", out.stderr);
    assert_eq!(out.stdout, cold);

    let report = dir.join("report");
    let out = ocidiff(
        &store,
        &["diff", "--report-dir", &report.to_string_lossy(), lhs, rhs],
        &[],
        &[],
    );
    out.expect_code(1, "a report directory from listings");
    assert_eq!(
        out.exports(),
        2,
        "exported again for the bytes: {}",
        out.stderr
    );
    assert!(out.needed_whole(), "{}", out.stderr);
    let blobs = names_in(&store.join("blobs/sha256"));
    assert!(
        listed.iter().all(|l| blobs.contains(l)),
        "now stored: {blobs:?}"
    );

    // Kept whole from the start when a report directory is asked for: the same report.
    let kept = dir.join("kept");
    let whole = self::store("listed-whole");
    let out = ocidiff(
        &whole,
        &["diff", "--report-dir", &kept.to_string_lossy(), lhs, rhs],
        &[],
        &[],
    );
    out.expect_code(1, "a report directory, cold");
    assert_eq!(out.exports(), 2, "{}", out.stderr);
    let mut stored = names_in(&whole.join("blobs/sha256"));
    stored.retain(|b| listed.contains(b));
    assert_eq!(stored.len(), 2, "the layers' bytes are kept");
    assert_eq!(tree(&report), tree(&kept));
    assert!(
        tree(&report)
            .iter()
            .any(|(path, bytes)| path.ends_with("etc/motd") && bytes == b"one\n"),
        "{:?}",
        tree(&report).iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
    for name in &names {
        let _ = run(docker().args(["rmi", name.trim_start_matches("docker://")]));
    }
}

#[test]
fn docker_exports_are_listed_by_name_and_rebuilds_do_not_pile_up() {
    let Some(fx) = docker_fixtures() else {
        return;
    };
    let store = store("rebuilt");
    let name = format!("{}-rebuilt:x", fx.tag);
    let docker_name = format!("docker://{name}");
    let build = || -> String {
        run(docker()
            .args(["build", "--no-cache", "-q", "-t", &name])
            .arg(&fx.ctx))
        .unwrap();
        let id = run(docker().args(["image", "inspect", "--format", "{{.Id}}", &name])).unwrap();
        id.trim().trim_start_matches("sha256:")[..12].to_owned()
    };
    // NAME KIND ID of each row of `ocidiff images`.
    let images = || -> Vec<[String; 3]> {
        let out = ocidiff(&store, &["images"], &[], &[]);
        out.expect_code(0, "images");
        out.stdout
            .lines()
            .skip(1)
            .map(|l| {
                let mut cols = l.split_whitespace().map(str::to_owned);
                [(); 3].map(|()| cols.next().unwrap_or_default())
            })
            .collect()
    };

    let mut ids = Vec::new();
    for round in 0..3 {
        ids.push(build());
        let out = ocidiff(&store, &["diff", &docker_name, &docker_name], &[], &[]);
        out.expect_code(0, "the image against itself");
        assert_eq!(out.exports(), 1, "round {round}: {}", out.stderr);
        // The current build has the name; the ones before are unnamed.
        let rows = images();
        assert!(
            rows.contains(&[docker_name.clone(), "docker".into(), ids[round].clone()]),
            "{rows:?}"
        );
        assert_eq!(
            rows.iter().filter(|r| r[0] == "docker://<none>").count(),
            round,
            "{rows:?}"
        );
    }
    assert_eq!(records(&store).len(), 3);
    // Read by a second name: the same record, named twice, not exported again.
    let also = format!("docker://{}-rebuilt:y", fx.tag);
    run(docker().args(["tag", &name, &also["docker://".len()..]])).unwrap();
    let out = ocidiff(&store, &["diff", &also, &docker_name], &[], &[]);
    out.expect_code(0, "two names of one image");
    assert_eq!(out.exports(), 0, "{}", out.stderr);
    assert_eq!(records(&store).len(), 3);

    let out = ocidiff(&store, &["prune"], &[], &[]);
    out.expect_code(0, "prune");
    assert!(out.stdout.contains("Freed 2 images"), "{}", out.stdout);
    let rows = images();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.iter().all(|r| r[2] == ids[2]), "{rows:?}");

    // rm of one name keeps the image under the other; by ID it goes.
    let out = ocidiff(&store, &["rm", &docker_name], &[], &[]);
    out.expect_code(0, "rm by name");
    assert!(
        out.stdout.contains(&format!("Untagged {docker_name}")),
        "{}",
        out.stdout
    );
    let out = ocidiff(&store, &["rm", &ids[2]], &[], &[]);
    out.expect_code(0, "rm by ID");
    assert!(out.stdout.contains("Freed 1 image"), "{}", out.stdout);
    assert!(images().is_empty());
    let _ = run(docker().args(["rmi", &name, &also["docker://".len()..]]));
}

// ---------------------------------------------------------------------------------------------
// Podman

struct Podman {
    /// `CONTAINERS_STORAGE_CONF` pointing at private vfs storage.
    storage_conf: PathBuf,
    a: String,
    b: String,
    saved_a: PathBuf,
}

impl Podman {
    fn env(&self) -> [(&str, &str); 1] {
        [(
            "CONTAINERS_STORAGE_CONF",
            self.storage_conf.to_str().unwrap_or_default(),
        )]
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new("podman");
        cmd.env("CONTAINERS_STORAGE_CONF", &self.storage_conf);
        cmd
    }
}

fn podman_fixtures() -> Option<&'static Podman> {
    static STATE: OnceLock<State<Podman>> = OnceLock::new();
    ready(STATE.get_or_init(build_podman))
}

fn build_podman() -> State<Podman> {
    if !tool_works(Command::new("podman").arg("--version")) {
        return State::Unavailable("podman is not installed (apt-get install podman)".into());
    }
    match build_podman_images() {
        Ok(fx) => State::Ready(fx),
        Err(why) => State::Broken(why),
    }
}

fn build_podman_images() -> Result<Podman, String> {
    let dir = fresh_dir("podman")?;
    let storage_conf = dir.join("storage.conf");
    std::fs::write(
        &storage_conf,
        format!(
            "[storage]\ndriver = \"vfs\"\ngraphroot = \"{0}/root\"\nrunroot = \"{0}/run\"\n",
            dir.display()
        ),
    )
    .map_err(|e| format!("cannot write {}: {e}", storage_conf.display()))?;
    let fx = Podman {
        storage_conf,
        a: "podman://localhost/ocidiff-podman:a".into(),
        b: "podman://localhost/ocidiff-podman:b".into(),
        saved_a: dir.join("a.podman.tar"),
    };
    let base = "localhost/ocidiff-podman-base:1";
    run(fx
        .command()
        .arg("import")
        .arg(busybox_rootfs(&dir, &["sh", "cat", "echo"])?)
        .arg(base))?;
    let ctx = context(&dir, base)?;
    for tag in ["a", "b"] {
        run(fx
            .command()
            // chroot isolation needs no OCI runtime: crun refuses hosts with hybrid cgroups.
            .args(["build", "-q", "--no-cache", "--isolation", "chroot", "-t"])
            .arg(format!("localhost/ocidiff-podman:{tag}"))
            .arg(&ctx))?;
    }
    run(fx
        .command()
        .args(["save", "--format", "docker-archive", "-o"])
        .arg(&fx.saved_a)
        .arg("localhost/ocidiff-podman:a"))?;
    Ok(fx)
}

/// Engine-finding variables of the caller that would send ocidiff elsewhere.
const PODMAN_UNSET: [&str; 2] = ["CONTAINER_HOST", "XDG_RUNTIME_DIR"];

#[test]
fn podman_images_read_through_podman_save() {
    let Some(fx) = podman_fixtures() else {
        return;
    };
    let store = store("podman-save");
    let env = fx.env();
    let out = ocidiff(
        &store,
        &["diff", "--semantic", &fx.a, &fx.b],
        &env,
        &PODMAN_UNSET,
    );
    expect_only_stamp(&out, "--semantic podman a vs b");
    assert_eq!(out.exports(), 2, "{}", out.stderr);
    let saved = format!("docker-archive:{}", fx.saved_a.display());
    let out = ocidiff(&store, &["diff", &fx.a, &saved], &env, &PODMAN_UNSET);
    out.expect_code(0, "podman a vs its podman save");
    assert_eq!(out.exports(), 0, "{}", out.stderr);

    let out = ocidiff(
        &store,
        &["diff", "podman://ocidiff-no-such-image", &fx.a],
        &env,
        &PODMAN_UNSET,
    );
    out.expect_code(2, "missing podman image");
    assert!(
        out.stderr
            .contains(r#"Podman has no image "ocidiff-no-such-image""#),
        "{}",
        out.stderr
    );
}

/// `podman system service` on a private socket, stopped when dropped.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn podman_images_read_through_its_api_service() {
    let Some(fx) = podman_fixtures() else {
        return;
    };
    let sock = base_dir().join("podman").join("api.sock");
    let _ = std::fs::remove_file(&sock);
    let host = format!("unix://{}", sock.display());
    let service = fx
        .command()
        .args(["system", "service", "--time", "0", &host])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(Service);
    let Ok(_service) = service else {
        panic!("cannot start podman system service");
    };
    for _ in 0..100 {
        if std::os::unix::net::UnixStream::connect(&sock).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let store = store("podman-api");
    let env = [("CONTAINER_HOST", host.as_str())];
    let out = ocidiff(&store, &["diff", "--semantic", &fx.a, &fx.b], &env, &[]);
    expect_only_stamp(&out, "--semantic podman API a vs b");
    assert_eq!(out.exports(), 2, "{}", out.stderr);
    let saved = format!("docker-archive:{}", fx.saved_a.display());
    ocidiff(&store, &["diff", &fx.a, &saved], &env, &[]).expect_code(0, "API a vs podman save");
    let out = ocidiff(
        &store,
        &["diff", "podman://ocidiff-no-such-image", &fx.a],
        &env,
        &[],
    );
    out.expect_code(2, "missing image through the API");
    assert!(out.stderr.contains("Podman has no image"), "{}", out.stderr);
}
