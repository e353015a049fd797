//! The Go toolchain, for the oracles in `go/`: small programs that say what Go's standard
//! library (which every container runtime reads images with) makes of an input.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde::de::DeserializeOwned;

/// The Go toolchain: `$GO`, `go` on `PATH`, or where Go's own installer and Debian put it.
pub fn go() -> PathBuf {
    if let Some(go) = std::env::var_os("GO") {
        return go.into();
    }
    let on_path = Command::new("go")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !on_path {
        for dir in ["/usr/local/go/bin/go", "/usr/lib/go/bin/go"] {
            if Path::new(dir).exists() {
                return dir.into();
            }
        }
    }
    "go".into()
}

/// Whether a Go toolchain is there at all: without one the oracles' tests skip; with one, a
/// build that fails is a failure.
pub fn installed() -> bool {
    let go = go();
    go.is_file() || crate::skip::on_path(&go.to_string_lossy())
}

/// Builds the Go program in `source` into `out_dir/name` with `go build`; the binary's path.
pub fn build(source: &Path, name: &str, out_dir: &Path) -> Result<PathBuf, String> {
    std::fs::create_dir_all(out_dir)
        .map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
    let bin = out_dir.join(name);
    let out = Command::new(go())
        .args(["build", "-o"])
        .arg(&bin)
        .arg(".")
        .current_dir(source)
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-mod=mod")
        .output()
        .map_err(|e| format!("cannot run `go build` (is Go installed?): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "go build failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(bin)
}

/// An oracle run with `-serve`: one request written to its stdin per call, one JSON line back.
pub struct Server {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Server {
    /// Starts the oracle binary `bin`.
    pub fn start(bin: &Path) -> Result<Server, String> {
        let mut child = Command::new(bin)
            .arg("-serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        Ok(Server {
            child,
            stdin,
            stdout,
        })
    }

    /// Writes `head` then `body` preceded by its length (u64, little-endian), and reads the
    /// answer.
    pub fn ask<T: DeserializeOwned>(&mut self, head: &[u8], body: &[u8]) -> T {
        self.stdin
            .write_all(head)
            .and_then(|()| self.stdin.write_all(&(body.len() as u64).to_le_bytes()))
            .and_then(|()| self.stdin.write_all(body))
            .and_then(|()| self.stdin.flush())
            .expect("the Go oracle stopped reading");
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .expect("the Go oracle stopped answering");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad answer from Go: {e}: {line}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
