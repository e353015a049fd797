//! Builders driven through their CLIs: BuildKit (through `docker buildx build`, or `docker
//! build` with `DOCKER_BUILDKIT=1` for CLIs from before buildx was split out: the Engine API
//! reaches BuildKit only through its gRPC session protocol), buildah and Podman.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{BuildRequest, Builder, Built, Prepared, RebuildError};
use crate::reference::ImageRef;

/// How many of a builder's last lines an error shows.
const TAIL: usize = 20;

/// A builder's last lines of output.
#[derive(Debug, Default)]
pub(super) struct Tail(VecDeque<String>);

impl Tail {
    pub fn push(&mut self, line: &str) {
        if self.0.len() == TAIL {
            self.0.pop_front();
        }
        self.0.push_back(line.to_owned());
    }

    pub fn failed(self, command: &str, status: &str) -> RebuildError {
        let tail: Vec<String> = self.0.into();
        RebuildError::Failed {
            command: command.to_owned(),
            status: status.to_owned(),
            last: tail.last().cloned().unwrap_or_else(|| "no output".into()),
            tail,
        }
    }
}

pub(super) fn build(
    context: &Prepared,
    dockerfile: &Path,
    request: &BuildRequest,
    on_line: &mut (dyn FnMut(&str) + Send),
) -> Result<Built, RebuildError> {
    let scratch = tempfile::Builder::new()
        .prefix("ocidiff-rebuild-")
        .tempdir()
        .map_err(|source| RebuildError::Io {
            what: "a scratch directory".into(),
            source,
        })?;
    let iidfile = scratch.path().join("iid");
    let mut cmd = match request.builder {
        Builder::BuildKit => buildkit_command()?,
        Builder::Buildah => {
            let mut c = Command::new("buildah");
            c.arg("bud");
            c
        }
        Builder::Podman | Builder::Docker => {
            let mut c = Command::new("podman");
            c.arg("build");
            c
        }
    };
    cmd.arg("--iidfile").arg(&iidfile).arg("-f").arg(dockerfile);
    if !request.cache {
        cmd.arg("--no-cache");
    }
    for (k, v) in &request.build_args {
        cmd.arg("--build-arg").arg(format!("{k}={v}"));
    }
    if let Some(t) = &request.target {
        cmd.arg("--target").arg(t);
    }
    if let Some(p) = &request.platform {
        cmd.arg("--platform").arg(p.os_arch());
    }
    if let Some(n) = &request.network {
        cmd.arg("--network").arg(n);
    }
    cmd.args(&request.builder_args).arg(&context.dir);
    run(&mut cmd, on_line)?;
    let id = std::fs::read_to_string(&iidfile)
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| RebuildError::Failed {
            command: shown(&cmd),
            status: "exit status 0".into(),
            last: "it wrote no image ID".into(),
            tail: Vec::new(),
        })?;
    let (reference, scratch) = match request.builder {
        Builder::BuildKit | Builder::Docker => (ImageRef::Docker(id.clone()), None),
        Builder::Podman => (ImageRef::Podman(id.clone()), None),
        Builder::Buildah => {
            // buildah's images live in containers/storage, which only Podman serves: an OCI
            // archive is the form every ocidiff reads.
            let archive = scratch.path().join("image.tar");
            let mut push = Command::new("buildah");
            push.args(["push", "--quiet", &id])
                .arg(format!("oci-archive:{}", archive.display()));
            run(&mut push, on_line)?;
            (
                ImageRef::OciArchive {
                    path: archive,
                    reference: None,
                },
                Some(scratch),
            )
        }
    };
    Ok(Built {
        reference,
        id,
        scratch,
    })
}

/// A `docker` command that builds with BuildKit: the first CLI on `PATH` with the buildx
/// plugin, or one from before version 23, which has BuildKit built in.
fn buildkit_command() -> Result<Command, RebuildError> {
    let mut tried = Vec::new();
    for cli in docker_clis() {
        let quiet = |args: &[&str]| {
            Command::new(&cli)
                .args(args)
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
                .ok()
        };
        if quiet(&["buildx", "version"]).is_some_and(|o| o.status.success()) {
            let mut c = Command::new(&cli);
            c.args(["buildx", "build", "--load", "--progress", "plain"]);
            return Ok(c);
        }
        let version = quiet(&["version", "--format", "{{.Client.Version}}"])
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        let major: Option<u32> = version.split('.').next().and_then(|m| m.parse().ok());
        if major.is_some_and(|m| m < 23) {
            let mut c = Command::new(&cli);
            c.env("DOCKER_BUILDKIT", "1")
                .args(["build", "--progress", "plain"]);
            return Ok(c);
        }
        tried.push(format!("{} ({version})", cli.display()));
    }
    Err(RebuildError::Spawn {
        command: "docker buildx build".into(),
        reason: if tried.is_empty() {
            "no docker CLI on PATH".into()
        } else {
            format!(
                "no docker CLI on PATH has the buildx plugin or BuildKit built in (tried {})",
                tried.join(", ")
            )
        },
    })
}

/// Every `docker` on `PATH`, in order, each file once.
fn docker_clis() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = Vec::new();
    let mut seen = Vec::new();
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        let cli = dir.join("docker");
        if let Ok(real) = std::fs::canonicalize(&cli) {
            if real.is_file() && !seen.contains(&real) {
                seen.push(real);
                found.push(cli);
            }
        }
    }
    found
}

fn shown(cmd: &Command) -> String {
    let mut words = vec![cmd.get_program().to_string_lossy().into_owned()];
    words.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    words.join(" ")
}

/// Runs `cmd`, passing each line of its output to `on_line` as it comes. stdout and stderr
/// share one pipe, so that their lines keep the order the builder wrote them in.
fn run(cmd: &mut Command, on_line: &mut (dyn FnMut(&str) + Send)) -> Result<(), RebuildError> {
    let command = shown(cmd);
    let spawn_failed = |e: std::io::Error| RebuildError::Spawn {
        command: command.clone(),
        reason: e.to_string(),
    };
    let (reader, writer) = rustix::pipe::pipe().map_err(|e| spawn_failed(e.into()))?;
    let writer2 = writer.try_clone().map_err(spawn_failed)?;
    let spawned = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(writer))
        .stderr(Stdio::from(writer2))
        .spawn();
    // The command keeps what it was given: its copies of the pipe's writing end must go, or
    // the output never ends.
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = spawned.map_err(spawn_failed)?;
    let mut tail = Tail::default();
    for line in BufReader::new(std::fs::File::from(reader))
        .split(b'\n')
        .map_while(Result::ok)
    {
        let line = String::from_utf8_lossy(&line);
        let line = line.trim_end();
        if !line.trim().is_empty() {
            tail.push(line);
            on_line(line);
        }
    }
    let status = child.wait().map_err(spawn_failed)?;
    if status.success() {
        Ok(())
    } else {
        Err(tail.failed(&command, &status.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_command_keeps_its_last_lines() {
        let mut seen = Vec::new();
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg("for i in $(seq 1 30); do echo line $i; done; echo oops >&2; exit 3");
        let err = run(&mut cmd, &mut |l| seen.push(l.to_owned())).unwrap_err();
        assert_eq!(seen.len(), 31);
        assert_eq!(err.tail().len(), TAIL);
        assert_eq!(err.tail().last().unwrap(), "oops");
        assert!(
            err.to_string().contains(" failed (exit status: 3): oops"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_builder_is_named() {
        let err = run(&mut Command::new("ocidiff-no-such-builder"), &mut |_| {}).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot run ocidiff-no-such-builder: "),
            "{err}"
        );
    }
}
