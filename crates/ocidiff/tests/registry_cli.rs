//! The `ocidiff` binary against real distribution registries (`scripts/registry.sh`, started per
//! test and stopped on drop, also on panic): `diff` of registry references, `pull`, `images`,
//! `load`, `rm`, `info`, platforms and credentials. Images are built by the test kit and pushed
//! with skopeo; every test has its own `--store`.
//!
//! Without `docker-registry`, skopeo and friends the tests skip (`ocidiff_testkit::skip`), a
//! failure under `OCIDIFF_REQUIRE_SERVICES=1`.

// Scenario tests read top to bottom, one setup and its checks: splitting them hides the story.
#![allow(clippy::too_many_lines)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use ocidiff_testkit::registry::{TOKEN_PASS, TOKEN_USER, TestRegistries, push};
use ocidiff_testkit::{
    DockerArchiveForm, Entry, ImageSpec, IndexSpec, Layer, Root, write_docker_archive,
    write_oci_archive, write_oci_dir,
};
use tempfile::TempDir;

/// Running registries and a work dir, or `None` when the test must skip (after saying so).
fn setup() -> Option<(TestRegistries, TempDir)> {
    let regs = TestRegistries::start_or_skip()?;
    Some((regs, tempfile::tempdir().unwrap()))
}

fn image(platform: &str, hello: &str) -> ImageSpec {
    ImageSpec::new().platform(platform).layer(Layer::new(vec![
        Entry::dir("etc/"),
        Entry::file("etc/hello", hello),
    ]))
}

/// An OCI layout holding `root` as tag `latest`.
fn layout(dir: &Path, root: Root) -> PathBuf {
    write_oci_dir(dir, &[("latest", root)]).unwrap();
    dir.to_owned()
}

fn ocidiff(store: &Path) -> Command {
    let mut cmd = Command::cargo_bin("ocidiff").unwrap();
    cmd.env("OCIDIFF_STORE", store)
        .env("DOCKER_CONFIG", store.join("no-docker-config"))
        .env_remove("NO_COLOR");
    cmd
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(cmd: &mut Command) -> Out {
    let out = cmd.output().unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// NAMEs of the `File` rows of the table.
fn file_rows(table: &str) -> Vec<String> {
    table
        .lines()
        .filter_map(|l| {
            let mut cols = l.split_whitespace();
            (cols.next() == Some("File")).then(|| cols.next().unwrap_or("").to_owned())
        })
        .collect()
}

fn blob_count(store: &Path) -> u64 {
    let out = run(ocidiff(store).arg("info"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.stdout
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim().eq_ignore_ascii_case("blobs")).then(|| {
                v.split_whitespace()
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("blob count in {l:?}"))
            })
        })
        .unwrap_or_else(|| panic!("no blobs line in `ocidiff info`:\n{}", out.stdout))
}

#[test]
fn diff_by_tag_and_digest_and_pull_policies() {
    let Some((regs, work)) = setup() else {
        return;
    };
    let w = work.path();
    let reg = regs.anon().to_owned();
    let one = layout(&w.join("one"), image("linux/amd64", "one\n").into());
    let two = layout(&w.join("two"), image("linux/amd64", "two\n").into());
    let d1 = push(&one, "latest", &format!("{reg}/x:1"), None, false).unwrap();
    push(&two, "latest", &format!("{reg}/x:2"), None, false).unwrap();
    let store = w.join("store");

    let out = run(ocidiff(&store).args(["diff", &format!("{reg}/x:1"), &format!("{reg}/x:2")]));
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_eq!(file_rows(&out.stdout), ["etc/hello"], "{}", out.stdout);

    let by_digest = format!("{reg}/x@{d1}");
    let out = run(ocidiff(&store).args(["diff", &by_digest, &format!("{reg}/x:2")]));
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_eq!(file_rows(&out.stdout), ["etc/hello"], "{}", out.stdout);
    let out = run(ocidiff(&store).args(["diff", &by_digest, &format!("{reg}/x:1")]));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);

    let empty = w.join("empty-store");
    let out = run(ocidiff(&empty).args([
        "diff",
        "--pull",
        "never",
        &format!("{reg}/x:1"),
        &format!("{reg}/x:2"),
    ]));
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("not in the local store"),
        "{}",
        out.stderr
    );

    // With the registries gone, what the store holds is enough under the default `missing`.
    regs.stop();
    let out = run(ocidiff(&store).args(["diff", &format!("{reg}/x:1"), &format!("{reg}/x:2")]));
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_eq!(file_rows(&out.stdout), ["etc/hello"], "{}", out.stdout);
    let out = run(ocidiff(&store).args(["diff", &by_digest, &format!("{reg}/x:2")]));
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let out = run(ocidiff(&store).args([
        "diff",
        "--pull",
        "always",
        &format!("{reg}/x:1"),
        &format!("{reg}/x:2"),
    ]));
    assert_eq!(
        out.code, 2,
        "--pull always must reach the registry: {}",
        out.stdout
    );
}

/// A loopback registry serving HTTPS with a self-signed certificate, as local registries often
/// do, is reached over TLS without flags (Docker treats loopback registries as insecure: TLS
/// first, unverified); a plain-HTTP one still works (the other tests).
#[test]
fn loopback_registry_over_tls() {
    let Some((regs, work)) = setup() else {
        return;
    };
    let w = work.path();
    let reg = regs.tls().to_owned();
    let one = layout(&w.join("one"), image("linux/amd64", "one\n").into());
    let two = layout(&w.join("two"), image("linux/amd64", "two\n").into());
    push(&one, "latest", &format!("{reg}/x:1"), None, false).unwrap();
    push(&two, "latest", &format!("{reg}/x:2"), None, false).unwrap();
    let localhost = reg.replace("127.0.0.1", "localhost");
    let out = run(ocidiff(&w.join("store")).args([
        "diff",
        &format!("{reg}/x:1"),
        &format!("{localhost}/x:2"),
    ]));
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_eq!(file_rows(&out.stdout), ["etc/hello"], "{}", out.stdout);
}

/// `--max-scale` bounds what a pull downloads (here a 1 MiB layer against 4 GiB × 0.0001),
/// naming the flag that raises the bound; at the default scale the same image pulls.
#[test]
fn max_scale_bounds_pulls() {
    let Some((regs, work)) = setup() else {
        return;
    };
    let w = work.path();
    let reg = regs.anon().to_owned();
    let noise = ocidiff_testkit::noise(1 << 20, 0x1234_5678);
    let spec = ImageSpec::new().layer(Layer::new(vec![Entry::file("noise", noise)]));
    let dir = layout(&w.join("big"), spec.into());
    push(&dir, "latest", &format!("{reg}/big:1"), None, false).unwrap();
    let store = w.join("store");
    let image = format!("{reg}/big:1");
    let out = run(ocidiff(&store).args(["pull", "--max-scale", "0.0001", &image]));
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("larger than the limit") && out.stderr.contains("--max-scale"),
        "{}",
        out.stderr
    );
    let out = run(ocidiff(&store).args(["pull", &image]));
    assert_eq!(out.code, 0, "{}", out.stderr);
}

/// Port and digests vary per run, and with them the column widths: columns become single spaces.
fn redact(text: &str, reg: &str) -> String {
    let mut out = text.replace(reg, "REGISTRY");
    while let Some(at) = out.find("sha256:") {
        let end = out[at + 7..]
            .find(|c: char| !c.is_ascii_hexdigit())
            .map_or(out.len(), |n| at + 7 + n);
        out.replace_range(at..end, "[DIGEST]");
    }
    out.lines()
        .map(|l| {
            l.split_whitespace()
                // The short IDs of `ocidiff images`.
                .map(|w| {
                    if w.len() == 12 && w.bytes().all(|b| b.is_ascii_hexdigit()) {
                        "[ID]"
                    } else {
                        w
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn pull_images_rm_info() {
    let Some((regs, work)) = setup() else {
        return;
    };
    let w = work.path();
    let reg = regs.anon().to_owned();
    let one = layout(&w.join("one"), image("linux/amd64", "one\n").into());
    let two = layout(&w.join("two"), image("linux/amd64", "two\n").into());
    push(&one, "latest", &format!("{reg}/x:1"), None, false).unwrap();
    push(&two, "latest", &format!("{reg}/x:2"), None, false).unwrap();
    let store = w.join("store");

    let out = run(ocidiff(&store).args(["pull", &format!("{reg}/x:1"), &format!("{reg}/x:2")]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.is_empty(),
        "no progress bars off a terminal: {}",
        out.stderr
    );
    let out = run(ocidiff(&store).arg("images"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    insta::assert_snapshot!("images_after_pull", redact(&out.stdout, &reg));

    // Each image: manifest, config, layer; nothing shared.
    let before = blob_count(&store);
    assert_eq!(before, 6);
    let out = run(ocidiff(&store).args(["rm", &format!("{reg}/x:1")]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(blob_count(&store), 3);
    let out = run(ocidiff(&store).arg("images"));
    assert!(!out.stdout.contains("/x:1 "), "{}", out.stdout);
    assert!(out.stdout.contains("/x:2 "), "{}", out.stdout);
    let out = run(ocidiff(&store).args(["rm", &format!("{reg}/x:1")]));
    assert_eq!(out.code, 2, "removing what is not there: {}", out.stdout);
}

#[test]
fn load_archives_from_file_and_stdin() {
    let Some((_regs, work)) = setup() else {
        return;
    };
    let w = work.path();
    let store = w.join("store");
    let docker = w.join("docker.tar");
    write_docker_archive(
        &docker,
        &[(vec!["loaded/docker:1"], image("linux/amd64", "one\n"))],
        DockerArchiveForm::Classic,
    )
    .unwrap();
    let oci = w.join("oci.tar");
    write_oci_archive(
        &oci,
        &[("loaded/oci:2", image("linux/amd64", "two\n").into())],
    )
    .unwrap();

    let out = run(ocidiff(&store).args(["load", "--input"]).arg(&docker));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = run(ocidiff(&store)
        .arg("load")
        .write_stdin(std::fs::read(&oci).unwrap()));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = run(ocidiff(&store).arg("images"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    insta::assert_snapshot!("images_after_load", redact(&out.stdout, "no registry"));
}

#[test]
fn multi_platform_index() {
    let Some((regs, work)) = setup() else {
        return;
    };
    let w = work.path();
    let reg = regs.anon().to_owned();
    let index = |amd: &str, arm: &str| -> Root {
        IndexSpec::new()
            .manifest(image("linux/amd64", amd))
            .manifest(image("linux/arm64", arm))
            .into()
    };
    // Only arm64 differs.
    let one = layout(&w.join("one"), index("same\n", "arm one\n"));
    let two = layout(&w.join("two"), index("same\n", "arm two\n"));
    push(&one, "latest", &format!("{reg}/m:1"), None, true).unwrap();
    push(&two, "latest", &format!("{reg}/m:2"), None, true).unwrap();
    let (m1, m2) = (format!("{reg}/m:1"), format!("{reg}/m:2"));
    let store = w.join("store");

    let out = run(ocidiff(&store).args(["diff", "--platform", "linux/arm64", &m1, &m2]));
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_eq!(file_rows(&out.stdout), ["etc/hello"], "{}", out.stdout);
    let out = run(ocidiff(&store).args(["diff", "--platform", "linux/amd64", &m1, &m2]));
    assert_eq!(
        out.code, 1,
        "the indexes differ: {}{}",
        out.stdout, out.stderr
    );
    assert!(file_rows(&out.stdout).is_empty(), "{}", out.stdout);
    let out = run(ocidiff(&store).args(["diff", "--all-platforms", &m1, &m2]));
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_eq!(file_rows(&out.stdout), ["etc/hello"], "{}", out.stdout);
    let out = run(ocidiff(&store).args(["diff", "--platform", "linux/riscv64", &m1, &m2]));
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("linux/amd64, linux/arm64"),
        "the error lists the platforms there are: {}",
        out.stderr
    );

    // An image for one platform: another one asked for is an error, for pull and diff alike;
    // with none asked for, it is read whatever it is for.
    let single = layout(&w.join("single"), image("linux/arm64", "arm\n").into());
    let s1 = format!("{reg}/single:1");
    push(&single, "latest", &s1, None, true).unwrap();
    let wrong = "no image for platform linux/amd64; the image offers: linux/arm64";
    for args in [
        vec!["pull", "--platform", "linux/amd64", &s1],
        vec!["diff", "--platform", "linux/amd64", &s1, &s1],
    ] {
        let out = run(ocidiff(&w.join("store-single")).args(&args));
        assert_eq!(out.code, 2, "{args:?}: {}{}", out.stdout, out.stderr);
        assert!(out.stderr.contains(wrong), "{args:?}: {}", out.stderr);
    }
    let out =
        run(ocidiff(&w.join("store-single")).args(["pull", "--platform", "linux/arm64", &s1]));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let out = run(ocidiff(&w.join("store-single")).args(["diff", &s1, &s1]));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
}

#[test]
fn credentials() {
    use base64::Engine as _;
    let Some((regs, work)) = setup() else {
        return;
    };
    let w = work.path();
    let basic = regs.basic().to_owned();
    let token = regs.token().to_owned();
    let creds = regs.basic_creds();
    let token_creds = format!("{TOKEN_USER}:{TOKEN_PASS}");
    let one = layout(&w.join("one"), image("linux/amd64", "one\n").into());
    let two = layout(&w.join("two"), image("linux/amd64", "two\n").into());
    for (reg, c, repo) in [(&basic, &creds, "p"), (&token, &token_creds, "private/p")] {
        push(&one, "latest", &format!("{reg}/{repo}:1"), Some(c), false).unwrap();
        push(&two, "latest", &format!("{reg}/{repo}:2"), Some(c), false).unwrap();
    }
    let config = |name: &str, json: &str| {
        let dir = w.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.json"), json).unwrap();
        dir
    };
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let diff = |store: &str,
                docker_config: &Path,
                path: Option<&std::ffi::OsStr>,
                reg: &str,
                repo: &str| {
        let mut cmd = ocidiff(&w.join(store));
        cmd.env("DOCKER_CONFIG", docker_config).args([
            "diff",
            &format!("{reg}/{repo}:1"),
            &format!("{reg}/{repo}:2"),
        ]);
        if let Some(p) = path {
            cmd.env("PATH", p);
        }
        run(&mut cmd)
    };

    let bad = config(
        "bad",
        &format!(
            r#"{{"auths":{{"{basic}":{{"auth":"{}"}},"{token}":{{"auth":"{}"}}}}}}"#,
            b64("ocidiff:wrong"),
            b64(&format!("{TOKEN_USER}:wrong"))
        ),
    );
    for (reg, repo) in [(&basic, "p"), (&token, "private/p")] {
        let out = diff("s-bad", &bad, None, reg, repo);
        assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
        assert!(
            out.stderr.contains("authentication failed"),
            "{}",
            out.stderr
        );
    }
    let none = config("none", "{}");
    let out = diff("s-none", &none, None, &token, "private/p");
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("authentication failed"),
        "{}",
        out.stderr
    );

    let good = config(
        "good",
        &format!(
            r#"{{"auths":{{"{token}":{{"auth":"{}"}}}}}}"#,
            b64(&token_creds)
        ),
    );
    let out = diff("s-token", &good, None, &token, "private/p");
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_eq!(file_rows(&out.stdout), ["etc/hello"], "{}", out.stdout);

    // skopeo's --creds and --authfile, with an empty Docker config.
    let with = |store: &str, extra: &[&str], reg: &str, repo: &str| {
        let mut cmd = ocidiff(&w.join(store));
        cmd.env("DOCKER_CONFIG", &none)
            .arg("diff")
            .args(extra)
            .args([&format!("{reg}/{repo}:1"), &format!("{reg}/{repo}:2")]);
        run(&mut cmd)
    };
    for (reg, c, repo) in [(&basic, &creds, "p"), (&token, &token_creds, "private/p")] {
        let out = with(&format!("s-creds-{repo}"), &["--creds", c], reg, repo);
        assert_eq!(out.code, 1, "--creds: {}{}", out.stdout, out.stderr);
        let user = c.split_once(':').unwrap().0;
        let wrong = format!("{user}:wrong");
        let out = with(&format!("s-wrong-{repo}"), &["--creds", &wrong], reg, repo);
        assert_eq!(out.code, 2, "--creds wrong: {}{}", out.stdout, out.stderr);
        // No password and no terminal to ask on: an error that says what to write.
        let out = with(&format!("s-nopass-{repo}"), &["--creds", user], reg, repo);
        assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
        assert!(
            out.stderr.contains("no terminal to ask for it"),
            "{}",
            out.stderr
        );
    }
    // On a terminal the password is asked for (script(1) gives the child one).
    let (user, pass) = creds.split_once(':').unwrap();
    let line = format!(
        "{} diff --creds {user} {basic}/p:1 {basic}/p:2",
        assert_cmd::cargo::cargo_bin("ocidiff").display()
    );
    let mut script = std::process::Command::new("script");
    script
        .args(["-qec", &line, "/dev/null"])
        .env("OCIDIFF_STORE", w.join("s-prompt"))
        .env("DOCKER_CONFIG", &none)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = script.spawn().unwrap();
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{pass}").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(shown.contains(&format!("Password for {user}:")), "{shown}");

    let authfile = good.join("config.json");
    let out = with(
        "s-authfile",
        &["--authfile", authfile.to_str().unwrap()],
        &token,
        "private/p",
    );
    assert_eq!(out.code, 1, "--authfile: {}{}", out.stdout, out.stderr);
    let out = with(
        "s-authfile-missing",
        &["--authfile", "/nonexistent/auth.json"],
        &token,
        "private/p",
    );
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("/nonexistent/auth.json"),
        "{}",
        out.stderr
    );

    // A credential helper on the child's PATH, named for this registry only.
    let bin = w.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-test");
    let (user, pass) = creds.split_once(':').unwrap();
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 2\nread host\n[ \"$host\" = '{basic}' ] || {{ echo 'credentials not found in native keychain'; exit 1; }}\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{pass}\"}}' \"$host\"\n"
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut dirs = vec![bin];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let path = std::env::join_paths(dirs).unwrap();
    let helped = config(
        "helped",
        &format!(r#"{{"credHelpers":{{"{basic}":"test"}}}}"#),
    );
    let out = diff("s-helper", &helped, Some(&path), &basic, "p");
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_eq!(file_rows(&out.stdout), ["etc/hello"], "{}", out.stdout);
    let out = diff("s-nohelper", &helped, None, &basic, "p");
    assert_eq!(out.code, 2, "without the helper on PATH: {}", out.stdout);
}
