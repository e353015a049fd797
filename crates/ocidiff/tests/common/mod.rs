//! What the tests against real tools share: running commands, and the test kit's skip (a
//! failure when `OCIDIFF_REQUIRE_SERVICES=1`) when a tool is missing.

// Each test binary includes this module and uses a part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub use ocidiff_testkit::skip::{on_path as have, skip};

/// Runs a command and returns its stdout, or an error quoting the command and its output.
pub fn run(cmd: &mut Command) -> Result<String, String> {
    let mut attempt = 1;
    loop {
        let out = cmd
            .output()
            .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        if attempt < ATTEMPTS && machine_hiccup(&out) {
            attempt += 1;
            continue;
        }
        return Err(format!(
            "{cmd:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
}

/// How often a run that failed on a [`machine_hiccup`] is tried.
pub const ATTEMPTS: u32 = 3;

/// Whether a failed run of buildah or Podman (directly or as `ocidiff verify`'s builder) failed
/// on the machine rather than on the code under test. buildah 1.28 copies itself into a sealed
/// memfd before it re-executes; under load the kernel can refuse the seal for a moment (EBUSY
/// while pages are still pinned), and the run fails at its first RUN step with `Close_Fd sealing
/// memfd copy: Device or resource busy`. Seen once in CI; such a run is simply tried again.
pub fn machine_hiccup(out: &std::process::Output) -> bool {
    let said = |bytes: &[u8]| String::from_utf8_lossy(bytes).contains("sealing memfd copy");
    !out.status.success() && (said(&out.stderr) || said(&out.stdout))
}

/// Fixtures built once per test binary from real tools.
pub enum State<T> {
    Ready(T),
    /// The tools or services are missing: skip (a failure under `OCIDIFF_REQUIRE_SERVICES=1`).
    Unavailable(String),
    /// The tools are there but building failed: always a failure.
    Broken(String),
}

/// The fixtures, or `None` when the test must skip (after saying so).
pub fn ready<T>(state: &State<T>) -> Option<&T> {
    match state {
        State::Ready(fx) => Some(fx),
        State::Unavailable(why) => {
            skip(why);
            None
        }
        State::Broken(why) => panic!("building the fixtures failed: {why}"),
    }
}

/// Whether a command runs and succeeds.
pub fn tool_works(cmd: &mut Command) -> bool {
    cmd.output().is_ok_and(|o| o.status.success())
}

/// The docker CLI, with the classic builder (`BuildKit` is not in Debian's package).
pub fn docker() -> Command {
    let mut cmd = Command::new("docker");
    cmd.env("DOCKER_BUILDKIT", "0");
    cmd
}

/// A root filesystem of the host's static busybox and links for `applets`, as a tar under
/// `dir`: a base image with no registry, for `docker import` / `podman import`.
pub fn busybox_rootfs(dir: &Path, applets: &[&str]) -> Result<PathBuf, String> {
    let busybox = run(Command::new("sh").args(["-c", "command -v busybox"]))
        .map_err(|_| "busybox is not installed (apt-get install busybox-static)".to_string())?;
    let busybox = busybox.trim();
    let bin = dir.join("rootfs/bin");
    std::fs::create_dir_all(&bin).map_err(|e| format!("cannot create {}: {e}", bin.display()))?;
    std::fs::copy(busybox, bin.join("busybox"))
        .map_err(|e| format!("cannot copy {busybox:?}: {e}"))?;
    for applet in applets {
        std::os::unix::fs::symlink("busybox", bin.join(applet))
            .map_err(|e| format!("cannot link {applet}: {e}"))?;
    }
    let tar = dir.join("rootfs.tar");
    run(Command::new("tar")
        .arg("-C")
        .arg(dir.join("rootfs"))
        .arg("-cf")
        .arg(&tar)
        .arg("."))?;
    Ok(tar)
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// A containerd of the test's own (`scripts/containerd.sh`: its own root, state and socket),
/// stopped on drop.
pub struct Containerd {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
}

impl Containerd {
    /// Starts one, or skips the test and returns `None` (a failure under
    /// `OCIDIFF_REQUIRE_SERVICES=1`).
    pub fn start() -> Option<Containerd> {
        let why = if !have("containerd") || !have("ctr") {
            Some("containerd is not installed (apt-get install containerd)")
        } else if !is_root() {
            Some("containerd needs root")
        } else {
            None
        };
        if let Some(why) = why {
            skip(why);
            return None;
        }
        // Short: the socket path must fit a unix socket's 108 bytes.
        let dir = tempfile::Builder::new()
            .prefix("ctd")
            .tempdir_in("/tmp")
            .unwrap();
        let out = Command::new("bash")
            .arg(containerd_script())
            .arg("start")
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "containerd.sh start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let socket = dir.path().join("containerd.sock");
        Some(Containerd { dir, socket })
    }

    /// `ctr` against this containerd, in `namespace`.
    pub fn ctr(&self, namespace: &str) -> Command {
        let mut cmd = Command::new("ctr");
        cmd.arg("-a").arg(&self.socket).args(["-n", namespace]);
        cmd
    }

    /// `ctr images import --no-unpack` into `namespace`, with `extra` arguments.
    pub fn import(&self, namespace: &str, file: &Path, extra: &[&str]) {
        let out = self
            .ctr(namespace)
            .args(["images", "import", "--no-unpack"])
            .args(extra)
            .arg(file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ctr import {} failed: {}{}",
            file.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(containerd_script())
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

fn containerd_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/containerd.sh")
}
