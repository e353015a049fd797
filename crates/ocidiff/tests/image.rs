//! What is shipped: the static executable (`scripts/release.sh`) and the container image made
//! of it (`scripts/image.sh`). Two image builds from one commit are the same bytes and the same
//! image to a strict `ocidiff diff`; Docker runs the image on layouts mounted into it; the
//! static executable, alone and in the image, reaches a registry named `localhost`.
//!
//! The executable is built once per run of this file with `scripts/release.sh` (the musl
//! target; the profile `OCIDIFF_RELEASE_PROFILE` names, `dist-quick` in `scripts/test.sh`):
//! the image holds no libc, so the debug build cannot go in it, and a static debug build would
//! cost a second build of every dependency. `scripts/test.sh` runs the same script before
//! `cargo test`, so here it finds the build done.
//!
//! Needs rustup's musl target and musl-gcc (the build), GNU tar, gzip and jq (the image),
//! skopeo and a docker daemon (`DOCKER_HOST`) for loading and running it, and the registry
//! tools for the `localhost` cases. Without them the tests skip (`ocidiff_testkit::skip`), a
//! failure under `OCIDIFF_REQUIRE_SERVICES=1`.

mod common;

use common::{State, docker, have, ready, run, skip, tool_works};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use ocidiff_testkit::registry::{TestRegistries, push};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn work_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("image")
        .join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The static executable, built once.
fn release_binary() -> Option<&'static PathBuf> {
    static STATE: OnceLock<State<PathBuf>> = OnceLock::new();
    ready(STATE.get_or_init(build_release))
}

fn build_release() -> State<PathBuf> {
    let target = format!("{}-unknown-linux-musl", std::env::consts::ARCH);
    let installed = run(Command::new("rustup").args(["target", "list", "--installed"]))
        .is_ok_and(|list| list.lines().any(|t| t == target));
    if !installed {
        return State::Unavailable(format!(
            "rustup's {target} target is missing (rustup target add {target})"
        ));
    }
    if !have("musl-gcc") {
        return State::Unavailable("musl-gcc is missing (apt-get install musl-tools)".into());
    }
    let out = work_dir("dist");
    let mut release = Command::new(repo().join("scripts/release.sh"));
    release.arg("--out").arg(&out).current_dir(repo());
    // Without the variables `cargo test` sets for this process, the build is the one
    // scripts/test.sh made from a shell: build scripts watch some of them (ring's
    // CARGO_MANIFEST_DIR and OUT_DIR, ocidiff's OCIDIFF_COMMIT), and a change redoes ring and
    // all above it, minutes with LTO, and the next build from a shell redoes them again.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let by_cargo =
            name.starts_with("CARGO_") && name != "CARGO_HOME" && name != "CARGO_TARGET_DIR";
        if by_cargo || ["OUT_DIR", "OCIDIFF_COMMIT", "OCIDIFF_BUILD"].contains(&&*name) {
            release.env_remove(&*name);
        }
    }
    match run(&mut release) {
        Ok(path) => State::Ready(PathBuf::from(path.trim())),
        Err(e) => State::Broken(e),
    }
}

/// The tools `scripts/image.sh` needs, or why the test must skip.
fn image_tools() -> Result<(), String> {
    for tool in ["jq", "gzip", "sha256sum", "tar"] {
        if !have(tool) {
            return Err(format!("{tool} is missing"));
        }
    }
    if !Path::new("/etc/ssl/certs/ca-certificates.crt").is_file() {
        return Err("no CA bundle (apt-get install ca-certificates)".into());
    }
    Ok(())
}

fn image_sh(binary: &Path, dir: &Path, extra: &[&str]) -> Result<String, String> {
    run(Command::new(repo().join("scripts/image.sh"))
        .arg("--binary")
        .arg(binary)
        .args(extra)
        .arg(dir))
}

fn ocidiff(store: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ocidiff"));
    cmd.env("OCIDIFF_STORE", store)
        .env("DOCKER_CONFIG", store.join("no-docker-config"));
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every file under `dir` with its bytes, by path.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                files.push((path.strip_prefix(dir).unwrap().to_owned(), bytes));
            }
        }
    }
    files.sort();
    files
}

/// The one manifest's config and layer blobs of a layout `scripts/image.sh` wrote.
fn config_and_layer(dir: &Path) -> (serde_json::Value, PathBuf) {
    let read = |digest: &str| {
        let path = dir
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"));
        (std::fs::read(&path).unwrap(), path)
    };
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let (manifest, _) = read(index["manifests"][0]["digest"].as_str().unwrap());
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let (config, _) = read(manifest["config"]["digest"].as_str().unwrap());
    let (_, layer) = read(manifest["layers"][0]["digest"].as_str().unwrap());
    (serde_json::from_slice(&config).unwrap(), layer)
}

#[test]
fn two_builds_of_the_image_are_the_same_bytes() {
    if let Err(why) = image_tools() {
        skip(&why);
        return;
    }
    let Some(binary) = release_binary() else {
        return;
    };
    let work = work_dir("twice");
    let (one, two) = (work.join("one"), work.join("two"));
    image_sh(binary, &one, &["--tag", "test"]).unwrap();
    image_sh(binary, &two, &["--tag", "test"]).unwrap();
    assert_eq!(tree(&one), tree(&two), "two builds differ in bytes");
    let out = ocidiff(&work.join("store"))
        .arg("diff")
        .arg(&one)
        .arg(&two)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "a strict diff of the two builds: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    let (config, layer) = config_and_layer(&one);
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/ocidiff"])
    );
    assert!(
        config["config"]["Env"]
            .as_array()
            .unwrap()
            .contains(&"OCIDIFF_STORE=/tmp/ocidiff".into()),
        "{config}"
    );
    // The executable, the CA bundle, a world-writable /tmp for the store, and nothing else.
    let listing = run(Command::new("tar")
        .args(["--numeric-owner", "-tvzf"])
        .arg(layer))
    .unwrap();
    let entries: Vec<(String, String, String)> = listing
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].to_owned(), f[1].to_owned(), f[5].to_owned())
        })
        .collect();
    let expected = [
        ("drwxr-xr-x", "etc/"),
        ("drwxr-xr-x", "etc/ssl/"),
        ("drwxr-xr-x", "etc/ssl/certs/"),
        ("-rw-r--r--", "etc/ssl/certs/ca-certificates.crt"),
        ("-rwxr-xr-x", "ocidiff"),
        ("drwxrwxrwt", "tmp/"),
    ]
    .map(|(mode, name)| (mode.to_owned(), "0/0".to_owned(), name.to_owned()));
    assert_eq!(entries, expected, "{listing}");
}

/// The image loaded into the daemon as `name`, or `None` when the test must skip.
fn loaded_image(name: &str) -> Option<()> {
    if let Err(why) = image_tools() {
        skip(&why);
        return None;
    }
    if !tool_works(docker().arg("info")) || !have("skopeo") {
        skip("needs a docker daemon (DOCKER_HOST, scripts/services.sh) and skopeo");
        return None;
    }
    let binary = release_binary()?;
    let dir = work_dir(&format!("load-{name}").replace([':', '/'], "-"));
    image_sh(binary, &dir, &["--load", name]).unwrap();
    Some(())
}

fn remove_image(name: &str) {
    let _ = docker().args(["rmi", "-f", name]).output();
}

fn docker_run(name: &str, args: &[&str], ocidiff_args: &[&str]) -> Output {
    docker()
        .args(["run", "--rm"])
        .args(args)
        .arg(name)
        .args(ocidiff_args)
        .output()
        .unwrap()
}

#[test]
fn docker_runs_the_image_on_mounted_layouts() {
    let name = format!("ocidiff-image-test-{}:run", std::process::id());
    if loaded_image(&name).is_none() {
        return;
    }
    let examples = repo().join("examples").canonicalize().unwrap();
    let mount = format!("{}:/in:ro", examples.display());
    let out = docker_run(
        &name,
        &["--network", "none", "-v", &mount],
        &["diff", "/in/hello-v1", "/in/hello-v2.tar"],
    );
    let host = ocidiff(&work_dir("run-store"))
        .arg("diff")
        .arg(examples.join("hello-v1"))
        .arg(examples.join("hello-v2.tar"))
        .output()
        .unwrap();
    let version = docker_run(&name, &["--network", "none"], &["--version"]);
    // The daemon's socket mounted at the default path: docker:// reads the image itself. (A
    // tcp:// DOCKER_HOST has no socket to mount.)
    let socket = match std::env::var("DOCKER_HOST") {
        Ok(host) => host.strip_prefix("unix://").map(str::to_owned),
        Err(_) => Some("/var/run/docker.sock".to_owned()),
    };
    let itself = format!("docker://{name}");
    let through_socket = socket.map(|socket| {
        let mount = format!("{socket}:/var/run/docker.sock");
        docker_run(
            &name,
            &["--network", "none", "-v", &mount],
            &["diff", &itself, &itself],
        )
    });
    remove_image(&name);
    if let Some(out) = through_socket {
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("etc/hello/run.sh"));
    // The same table as the build under test prints for the same inputs.
    assert_eq!(text(&out.stdout), text(&host.stdout));
    assert_eq!(text(&out.stderr), text(&host.stderr));
    let binary = release_binary().unwrap();
    let expected = run(Command::new(binary).arg("--version")).unwrap();
    assert_eq!(text(&version.stdout), expected);
}

/// `examples/hello-v1` pushed to a test registry as `localhost:PORT/hello:v1`, its layout
/// copy, and the registries (stopped on drop); `None` when the test must skip.
fn pushed_to_localhost(work: &Path) -> Option<(TestRegistries, String, PathBuf)> {
    let regs = TestRegistries::start_or_skip()?;
    // skopeo writes its digest file into the layout: a copy, not examples/.
    let layout = work.join("hello-v1");
    run(Command::new("cp")
        .arg("-r")
        .arg(repo().join("examples/hello-v1"))
        .arg(&layout))
    .unwrap();
    let port = regs.anon().rsplit_once(':').unwrap().1.to_owned();
    push(
        &layout,
        "v1",
        &format!("{}/hello:v1", regs.anon()),
        None,
        false,
    )
    .unwrap();
    Some((regs, format!("localhost:{port}/hello:v1"), layout))
}

#[test]
fn the_static_binary_resolves_localhost() {
    let Some(binary) = release_binary() else {
        return;
    };
    let work = work_dir("localhost");
    let Some((_regs, image, layout)) = pushed_to_localhost(&work) else {
        return;
    };
    let out = Command::new(binary)
        .env("OCIDIFF_STORE", work.join("store"))
        .env("DOCKER_CONFIG", work.join("no-docker-config"))
        .args(["diff", "--semantic", &image])
        .arg(format!("oci:{}:v1", layout.display()))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn the_image_reaches_a_localhost_registry_on_the_host_network() {
    let name = format!("ocidiff-image-test-{}:net", std::process::id());
    let work = work_dir("host-network");
    let Some((_regs, image, layout)) = pushed_to_localhost(&work) else {
        return;
    };
    if loaded_image(&name).is_none() {
        return;
    }
    let mount = format!("{}:/in:ro", layout.display());
    let out = docker_run(
        &name,
        &["--network", "host", "-v", &mount],
        &["diff", "--semantic", &image, "oci:/in:v1"],
    );
    remove_image(&name);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}
