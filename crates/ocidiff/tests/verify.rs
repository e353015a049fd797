//! `ocidiff verify` with the real builders here: Docker's classic builder (through the Engine
//! API), BuildKit (through the docker CLI), buildah and Podman. A Dockerfile that builds the same
//! tree twice passes; one that writes a build ID fails naming the file; the attestation is
//! checked field by field and its signature with `openssl`; a Git context is cloned at a tag;
//! a batch of three runs sharded; a failing build shows its last lines.
//!
//! Needs a docker daemon (`DOCKER_HOST`, as `scripts/services.sh` exports it), busybox, git
//! and openssl; buildah and Podman where installed. Without them the tests skip, a failure under
//! `OCIDIFF_REQUIRE_SERVICES=1`.

mod common;

use common::{State, busybox_rootfs, docker, have, ready, run, tool_works};

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use assert_cmd::Command as BinCommand;
use base64::Engine as _;
use serde_json::Value;

/// Writes the same tree on every build: under `--semantic` a rebuild matches. `COPY .` takes
/// the context as each builder reads it, `.dockerignore` applied (see [`context_files`]).
const REPRODUCIBLE: &str = "\
COPY hello.txt /app/hello.txt
COPY . /src/
RUN mkdir -p /app/data && echo built > /app/data/out.txt && chmod 600 /app/data/out.txt
CMD [\"/bin/sh\"]
";

/// Writes a new build ID on every build.
const STAMPED: &str = "\
COPY hello.txt /app/hello.txt
RUN cat /proc/sys/kernel/random/uuid > /app/stamp
";

struct Fixture {
    dir: PathBuf,
    /// The base, as `FROM` names it.
    base: String,
    /// Contexts: the reproducible one and the stamping one.
    reproducible: PathBuf,
    stamped: PathBuf,
    /// `docker-archive:` of each context built with the classic builder.
    published: PublishedImages,
    /// A storage.conf for buildah (vfs, its own root), when buildah is here.
    buildah: Option<PathBuf>,
    /// A docker CLI with BuildKit, when one is here.
    buildkit: Option<String>,
}

struct PublishedImages {
    reproducible: String,
    /// Its image ID: what an attestation names when the archive keeps no manifest.
    reproducible_id: String,
    stamped: String,
}

fn fixture() -> Option<&'static Fixture> {
    static STATE: OnceLock<State<Fixture>> = OnceLock::new();
    ready(STATE.get_or_init(|| {
        for tool in ["busybox", "git", "openssl"] {
            if !have(tool) {
                return State::Unavailable(format!("{tool} is not installed"));
            }
        }
        if !tool_works(docker().arg("info")) {
            return State::Unavailable(format!(
                "no docker daemon answers (DOCKER_HOST={:?}); start one with \
                 scripts/services.sh start and source its env file",
                std::env::var("DOCKER_HOST").unwrap_or_default()
            ));
        }
        match build_fixture() {
            Ok(fx) => State::Ready(fx),
            Err(why) => State::Broken(why),
        }
    }))
}

fn build_fixture() -> Result<Fixture, String> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("verify");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let rootfs = busybox_rootfs(&dir, &["sh", "mkdir", "echo", "chmod", "cat", "false"])?;
    let base = format!("ocidiff-verify-base-{}:1", std::process::id());
    run(docker().arg("import").arg(&rootfs).arg(&base))?;
    let context = |name: &str, steps: &str| -> Result<PathBuf, String> {
        let ctx = dir.join(name);
        std::fs::create_dir_all(&ctx).map_err(|e| format!("{}: {e}", ctx.display()))?;
        std::fs::write(ctx.join("Dockerfile"), format!("FROM {base}\n{steps}"))
            .map_err(|e| format!("{}: {e}", ctx.display()))?;
        context_files(&ctx).map_err(|e| format!("{}: {e}", ctx.display()))?;
        Ok(ctx)
    };
    let reproducible = context("reproducible", REPRODUCIBLE)?;
    let stamped = context("stamped", STAMPED)?;
    let publish = |ctx: &Path, name: &str| -> Result<(String, String), String> {
        let tag = format!("ocidiff-verify-{name}-{}:1", std::process::id());
        let id = run(docker()
            .args(["build", "-q", "--network", "host", "--no-cache", "-t", &tag])
            .arg(ctx))?;
        let tar = dir.join(format!("{name}.tar"));
        run(docker().args(["save", "-o"]).arg(&tar).arg(&tag))?;
        run(docker().args(["rmi", &tag]))?;
        Ok((
            format!("docker-archive:{}", tar.display()),
            id.trim().to_owned(),
        ))
    };
    let (reproducible_archive, reproducible_id) = publish(&reproducible, "reproducible")?;
    let published = PublishedImages {
        reproducible: reproducible_archive,
        reproducible_id,
        stamped: publish(&stamped, "stamped")?.0,
    };
    let buildah = if have("buildah") {
        Some(buildah_storage(&dir, &base)?)
    } else {
        None
    };
    let buildkit = ["docker", "/usr/bin/docker"].into_iter().find(|cli| {
        tool_works(Command::new(cli).args(["buildx", "version"]))
            || run(Command::new(cli).args(["version", "--format", "{{.Client.Version}}"]))
                .ok()
                .and_then(|v| v.trim().split('.').next()?.parse::<u32>().ok())
                .is_some_and(|major| major < 23)
    });
    Ok(Fixture {
        dir,
        base,
        reproducible,
        stamped,
        published,
        buildah,
        buildkit: buildkit.map(str::to_owned),
    })
}

/// What a context holds besides its Dockerfile: files `.dockerignore` leaves out and keeps, an
/// executable, a directory left out whole.
fn context_files(ctx: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    for dir in ["bin", "logs", "ignored/deeper"] {
        std::fs::create_dir_all(ctx.join(dir))?;
    }
    for (name, text) in [
        ("hello.txt", "hello\n"),
        ("build.log", "left out\n"),
        ("logs/keep.log", "kept by an exception\n"),
        ("logs/other.log", "left out\n"),
        ("ignored/deeper/x", "left out\n"),
        ("bin/run.sh", "#!/bin/sh\necho run\n"),
        (
            ".dockerignore",
            "# what the build does not need\n*.log\nlogs\n!logs/keep.log\nignored/\n",
        ),
    ] {
        std::fs::write(ctx.join(name), text)?;
    }
    std::fs::set_permissions(
        ctx.join("bin/run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
}

/// A storage of buildah's own (vfs) holding the base, named by a storage.conf that ocidiff's
/// buildah reads through `CONTAINERS_STORAGE_CONF`.
fn buildah_storage(dir: &Path, base: &str) -> Result<PathBuf, String> {
    let storage = dir.join("buildah");
    let conf = dir.join("storage.conf");
    std::fs::write(
        &conf,
        format!(
            "[storage]\ndriver = \"vfs\"\ngraphroot = \"{0}/root\"\nrunroot = \"{0}/run\"\n",
            storage.display()
        ),
    )
    .map_err(|e| format!("{}: {e}", conf.display()))?;
    let base_tar = dir.join("base.tar");
    run(docker().args(["save", "-o"]).arg(&base_tar).arg(base))?;
    let buildah = || {
        let mut c = Command::new("buildah");
        c.env("CONTAINERS_STORAGE_CONF", &conf);
        c
    };
    let loaded = run(buildah()
        .args(["pull", "-q"])
        .arg(format!("docker-archive:{}", base_tar.display())))?;
    run(buildah()
        .arg("tag")
        .arg(loaded.trim())
        .arg(format!("localhost/{base}")))?;
    Ok(conf)
}

fn ocidiff(fx: &Fixture) -> BinCommand {
    let mut cmd = BinCommand::cargo_bin("ocidiff").expect("the binary is built");
    cmd.env("OCIDIFF_STORE", fx.dir.join("store"))
        .env("BUILDAH_ISOLATION", "chroot")
        .current_dir(&fx.dir);
    if let Some(conf) = &fx.buildah {
        cmd.env("CONTAINERS_STORAGE_CONF", conf);
    }
    cmd
}

/// Runs the command `make` builds until it exits other than on a [`common::machine_hiccup`]
/// (at most [`common::ATTEMPTS`] times) and requires `code`.
fn expect_code(code: i32, make: impl Fn() -> BinCommand) {
    let mut attempt = 1;
    loop {
        let out = make().output().expect("ocidiff runs");
        if attempt < common::ATTEMPTS && common::machine_hiccup(&out) {
            attempt += 1;
            continue;
        }
        assert_eq!(
            out.status.code(),
            Some(code),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
}

fn json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn sha256(path: &Path) -> String {
    let out = run(Command::new("sha256sum").arg(path)).expect("sha256sum runs");
    out.split_whitespace().next().unwrap_or_default().to_owned()
}

#[test]
fn a_reproducible_build_passes_and_is_attested_and_signed() {
    let Some(fx) = fixture() else { return };
    let out_dir = fx.dir.join("attested");
    std::fs::create_dir_all(&out_dir).unwrap();
    let key = out_dir.join("key.pem");
    run(Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ])
        .arg(&key))
    .unwrap();
    let attestation = out_dir.join("app.intoto.json");
    let assert = ocidiff(fx)
        .args(["verify", &fx.published.reproducible, "--builder", "docker"])
        .args(["--network", "host", "--context"])
        .arg(&fx.reproducible)
        .arg("--attestation")
        .arg(&attestation)
        .arg("--signing-key")
        .arg(&key)
        .assert()
        .code(0);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(
        stderr.contains("ocidiff: PASSED: the rebuild matches"),
        "{stderr}"
    );
    // What was passed to the builder is said.
    assert!(stderr.contains("SOURCE_DATE_EPOCH="), "{stderr}");
    assert!(stderr.contains("platform linux/"), "{stderr}");
    assert!(stderr.contains("network host, no cache"), "{stderr}");

    // The envelope: its payload is the statement, signed over the DSSE PAE.
    let envelope = json(&attestation);
    assert_eq!(envelope["payloadType"], "application/vnd.in-toto+json");
    let script = format!(
        "set -e; cd {dir}; \
         openssl pkey -in key.pem -pubout -out pub.pem; \
         jq -j .payloadType app.intoto.json > type; \
         jq -r .payload app.intoto.json | base64 -d > statement.json; \
         jq -r '.signatures[0].sig' app.intoto.json | base64 -d > sig.der; \
         printf 'DSSEv1 %d %s %d ' $(wc -c < type) \"$(cat type)\" $(wc -c < statement.json) > pae.bin; \
         cat statement.json >> pae.bin; \
         openssl dgst -sha256 -verify pub.pem -signature sig.der pae.bin",
        dir = out_dir.display()
    );
    if have("jq") {
        let verified = run(Command::new("sh").arg("-c").arg(&script)).unwrap();
        assert_eq!(verified.trim(), "Verified OK");
    }
    let statement: Value = {
        let payload = base64::engine::general_purpose::STANDARD
            .decode(envelope["payload"].as_str().unwrap())
            .unwrap();
        serde_json::from_slice(&payload).unwrap()
    };
    check_statement(fx, &statement, &out_dir.join("app.report.json"), "PASSED");
}

/// The predicate's ocidiff extension, named by a URI ending in `/verify/v1`.
fn extension(predicate: &Value) -> &Value {
    predicate
        .as_object()
        .expect("the predicate is an object")
        .iter()
        .find(|(k, _)| k.ends_with("/verify/v1"))
        .map(|(_, v)| v)
        .expect("the ocidiff extension")
}

/// The statement, field by field.
fn check_statement(fx: &Fixture, statement: &Value, report: &Path, result: &str) {
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(
        statement["predicateType"],
        "https://slsa.dev/verification_summary/v1"
    );
    let subject = &statement["subject"][0];
    assert_eq!(subject["name"], fx.published.reproducible.as_str());
    let digest = subject["digest"]["sha256"].as_str().unwrap();
    assert_eq!(digest.len(), 64);
    let report_json = json(report);
    // The manifest compared as input 0, or the image ID where the archive keeps no manifest
    // (a `docker save` before Docker 25).
    let expected = report_json["comparisons"][0]["digests"][0]
        .as_str()
        .map_or_else(|| fx.published.reproducible_id.clone(), str::to_owned);
    assert_eq!(format!("sha256:{digest}"), expected);
    let p = &statement["predicate"];
    assert_eq!(
        p["verifier"]["version"]["ocidiff"],
        env!("CARGO_PKG_VERSION")
    );
    assert!(
        p["verifier"]["id"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
    let time = p["timeVerified"].as_str().unwrap();
    assert!(
        time.ends_with('Z') && time.parse::<jiff::Timestamp>().is_ok(),
        "{time}"
    );
    assert_eq!(p["resourceUri"], fx.published.reproducible.as_str());
    assert_eq!(p["verificationResult"], result);
    let levels = p["verifiedLevels"].as_array().unwrap();
    if result == "PASSED" {
        assert_eq!(levels[0], "OCIDIFF_REBUILD_SEMANTIC");
    } else {
        assert_eq!(levels[0], "FAILED");
    }
    // The policy: its content is the options, its digest theirs.
    let content = base64::engine::general_purpose::STANDARD
        .decode(p["policy"]["content"].as_str().unwrap())
        .unwrap();
    let policy: Value = serde_json::from_slice(&content).unwrap();
    assert_eq!(policy["rules"]["ignore_file_timestamps"], true);
    let policy_file = fx.dir.join("policy.json");
    std::fs::write(&policy_file, &content).unwrap();
    assert_eq!(
        p["policy"]["digest"]["sha256"],
        sha256(&policy_file).as_str()
    );
    // The report beside it, by digest.
    let ext = extension(p);
    assert_eq!(ext["report"]["name"], "app.report.json");
    assert_eq!(ext["report"]["digest"]["sha256"], sha256(report).as_str());
    assert_eq!(ext["rebuild"]["builder"], "docker");
    assert!(
        ext["rebuild"]["build_args"][0]
            .as_str()
            .unwrap()
            .starts_with("SOURCE_DATE_EPOCH=")
    );
}

#[test]
fn a_build_that_stamps_an_id_fails_naming_the_file() {
    let Some(fx) = fixture() else { return };
    let attestation = fx.dir.join("stamped-out/app.intoto.json");
    std::fs::create_dir_all(attestation.parent().unwrap()).unwrap();
    let assert = ocidiff(fx)
        .args([
            "verify",
            &fx.published.stamped,
            "--network",
            "host",
            "--context",
        ])
        .arg(&fx.stamped)
        .arg("--attestation")
        .arg(&attestation)
        .assert()
        .code(1);
    let out = assert.get_output();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("app/stamp"), "{stdout}");
    assert!(!stdout.contains("app/hello.txt"), "{stdout}");
    assert!(
        stderr.contains("ocidiff: FAILED: the rebuild differs"),
        "{stderr}"
    );
    let statement = json(&attestation);
    assert_eq!(statement["predicate"]["verificationResult"], "FAILED");
    assert_eq!(statement["predicate"]["verifiedLevels"][0], "FAILED");
    // Strictly, even the reproducible one differs (timestamps), and the advice says how to
    // fix that. With --verbose: the builder's output as it comes, and the library's log.
    let assert = ocidiff(fx)
        .args([
            "verify",
            &fx.published.reproducible,
            "--strict",
            "--verbose",
            "--network",
            "host",
        ])
        .arg("--context")
        .arg(&fx.reproducible)
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr);
    assert!(stderr.contains("  | Step 1/"), "{stderr}");
    assert!(stderr.contains("INFO"), "{stderr}");
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout);
    let Some((_, advice)) = stdout.split_once("How to make the rebuild match:") else {
        panic!("no advice in {stdout}");
    };
    assert!(advice.contains("SOURCE_DATE_EPOCH"), "{advice}");
}

#[test]
fn buildkit_buildah_and_podman_rebuild_what_they_published() {
    let Some(fx) = fixture() else { return };
    if let Some(cli) = &fx.buildkit {
        let tag = format!("ocidiff-verify-bk-{}:1", std::process::id());
        run(Command::new(cli)
            .env("DOCKER_BUILDKIT", "1")
            .args(["build", "-q", "--network", "host", "--no-cache", "-t", &tag])
            .arg(&fx.reproducible))
        .unwrap();
        let published = format!("docker://{tag}");
        let assert = ocidiff(fx)
            .args([
                "verify",
                &published,
                "--builder",
                "buildkit",
                "--network",
                "host",
            ])
            .arg("--context")
            .arg(&fx.reproducible)
            .assert();
        let out = assert.get_output();
        let _ = run(docker().args(["rmi", &tag]));
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        common::skip("no docker CLI here builds with BuildKit");
    }
    let Some(conf) = &fx.buildah else {
        common::skip("buildah is not installed");
        return;
    };
    let archive = fx.dir.join("buildah-published.tar");
    let id = run(Command::new("buildah")
        .env("CONTAINERS_STORAGE_CONF", conf)
        .args(["bud", "-q", "--isolation", "chroot", "--no-cache"])
        .arg(&fx.reproducible))
    .unwrap();
    let id = id.lines().last().unwrap_or_default().trim().to_owned();
    run(Command::new("buildah")
        .env("CONTAINERS_STORAGE_CONF", conf)
        .args(["push", "-q", &id])
        .arg(format!("oci-archive:{}", archive.display())))
    .unwrap();
    expect_code(0, || {
        let mut cmd = ocidiff(fx);
        cmd.args(["verify", "--builder", "buildah", "--context"])
            .arg(&fx.reproducible)
            .arg(format!("oci-archive:{}", archive.display()));
        cmd
    });
    // The rebuild went into the store, as an image loaded from buildah.
    let images = ocidiff(fx).arg("images").assert().code(0);
    let listed = String::from_utf8_lossy(&images.get_output().stdout).into_owned();
    assert!(listed.contains("(loaded buildah "), "{listed}");

    if !have("podman") {
        common::skip("podman is not installed");
        return;
    }
    // Podman shares buildah's storage (CONTAINERS_STORAGE_CONF) and reads BUILDAH_ISOLATION.
    let id = run(Command::new("podman")
        .env("CONTAINERS_STORAGE_CONF", conf)
        .env("BUILDAH_ISOLATION", "chroot")
        .args(["build", "-q", "--network", "host", "--no-cache"])
        .arg(&fx.reproducible))
    .unwrap();
    let id = id.lines().last().unwrap_or_default().trim().to_owned();
    expect_code(0, || {
        let mut cmd = ocidiff(fx);
        cmd.args(["verify", &format!("podman://{id}"), "--builder", "podman"])
            .args(["--network", "host", "--context"])
            .arg(&fx.reproducible);
        cmd
    });
}

#[test]
fn a_git_context_is_cloned_at_its_ref() {
    let Some(fx) = fixture() else { return };
    let repo = fx.dir.join("repo");
    std::fs::create_dir_all(repo.join("images")).unwrap();
    run(Command::new("cp")
        .arg("-a")
        .arg(&fx.reproducible)
        .arg(repo.join("images/app")))
    .unwrap();
    let git = |args: &[&str]| {
        run(Command::new("git")
            .args(args)
            .current_dir(&repo)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com"))
        .unwrap()
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "app"]);
    git(&["tag", "v1"]);
    let commit = git(&["rev-parse", "HEAD"]).trim().to_owned();
    // A later commit that breaks the build: the tag must be what is built.
    std::fs::write(
        repo.join("images/app/Dockerfile"),
        "FROM scratch\nRUN false\n",
    )
    .unwrap();
    git(&["commit", "-qam", "broken"]);
    let attestation = fx.dir.join("git-out/app.intoto.json");
    std::fs::create_dir_all(attestation.parent().unwrap()).unwrap();
    let assert = ocidiff(fx)
        .args([
            "verify",
            &fx.published.reproducible,
            "--network",
            "host",
            "--context",
        ])
        .arg(format!("file://{}#v1:images/app", repo.display()))
        .arg("--attestation")
        .arg(&attestation)
        .assert()
        .code(0);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr);
    assert!(stderr.contains(&format!("(commit {commit})")), "{stderr}");
    let statement = json(&attestation);
    let ext = extension(&statement["predicate"]);
    assert_eq!(ext["rebuild"]["commit"], commit.as_str());
}

#[test]
fn a_batch_of_three_runs_its_shard() {
    let Some(fx) = fixture() else { return };
    let batch = fx.dir.join("batch.toml");
    std::fs::write(
        &batch,
        format!(
            "[defaults]\nnetwork = \"host\"\nbuilder = \"docker\"\n\n\
             [[image]]\nname = \"first\"\npublished = \"{r}\"\ncontext = \"{rc}\"\n\n\
             [[image]]\nname = \"second\"\npublished = \"{r}\"\ncontext = \"{rc}\"\n\n\
             [[image]]\nname = \"third\"\npublished = \"{s}\"\ncontext = \"{sc}\"\n",
            r = fx.published.reproducible,
            rc = fx.reproducible.display(),
            s = fx.published.stamped,
            sc = fx.stamped.display(),
        ),
    )
    .unwrap();
    let out = fx.dir.join("batch-out");
    // Three in two shards: the second holds `second` and `third`; one of them fails.
    let assert = ocidiff(fx)
        .args(["verify", "--batch"])
        .arg(&batch)
        .args([
            "--shard", "2/2", "--jobs", "2", "--format", "markdown", "--output",
        ])
        .arg(&out)
        .assert()
        .code(1);
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert_eq!(stdout, summary);
    assert!(
        summary.contains("| second |") && summary.contains("PASSED"),
        "{summary}"
    );
    assert!(
        summary.contains("| third |") && summary.contains("FAILED"),
        "{summary}"
    );
    assert!(!summary.contains("| first |"), "{summary}");
    for name in ["second", "third"] {
        let statement = json(&out.join(format!("{name}.intoto.json")));
        let report = out.join(format!("{name}.report.json"));
        assert!(report.is_file());
        assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
    }
    assert!(!out.join("first.report.json").exists());
}

#[test]
fn a_failed_build_shows_the_builders_last_lines() {
    let Some(fx) = fixture() else { return };
    let ctx = fx.dir.join("failing");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("FROM {}\nRUN echo about to fail && false\n", fx.base),
    )
    .unwrap();
    let assert = ocidiff(fx)
        .args([
            "verify",
            &fx.published.reproducible,
            "--network",
            "host",
            "--context",
        ])
        .arg(&ctx)
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr);
    assert!(stderr.contains("  | about to fail"), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("ocidiff: error: ") && last.contains("failed"),
        "{stderr}"
    );
}
