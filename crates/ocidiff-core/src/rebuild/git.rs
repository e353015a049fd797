//! Cloning a Git context with the `git` CLI, which knows every transport, credential helper
//! and SSH setup the user has; a library would know fewer.

use std::process::{Command, Stdio};

use super::RebuildError;

/// Clones `url` into a temporary directory and checks out `reference` (a branch, tag or
/// commit; the remote's default branch when absent), submodules included, as `docker build`
/// does for a Git context. Returns the clone and the commit checked out.
pub(super) fn clone(
    url: &str,
    reference: Option<&str>,
) -> Result<(tempfile::TempDir, String), RebuildError> {
    let failed = |reason: String| RebuildError::Git {
        url: url.to_owned(),
        reason,
    };
    let dir = tempfile::Builder::new()
        .prefix("ocidiff-context-")
        .tempdir()
        .map_err(|e| failed(format!("cannot make a directory to clone into: {e}")))?;
    let path = dir.path().to_string_lossy().into_owned();
    git(&["clone", "--quiet", "--no-checkout", "--", url, &path]).map_err(&failed)?;
    let at = |args: &[&str]| {
        let mut full = vec!["-C", path.as_str()];
        full.extend_from_slice(args);
        git(&full)
    };
    let commit = match reference {
        None => at(&["rev-parse", "--verify", "HEAD^{commit}"]),
        Some(r) => at(&[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{r}^{{commit}}"),
        ])
        .or_else(|_| {
            at(&[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("origin/{r}^{{commit}}"),
            ])
        })
        .or_else(|_| {
            // A ref the clone did not bring (a pull request's head, say).
            at(&["fetch", "--quiet", "origin", r])?;
            at(&["rev-parse", "--verify", "FETCH_HEAD^{commit}"])
        })
        .map_err(|e| format!("no branch, tag or commit {r:?} ({e})")),
    }
    .map_err(&failed)?;
    let commit = commit.trim().to_owned();
    at(&["checkout", "--quiet", "--detach", &commit]).map_err(&failed)?;
    if dir.path().join(".gitmodules").exists() {
        at(&["submodule", "update", "--quiet", "--init", "--recursive"]).map_err(&failed)?;
    }
    Ok((dir, commit))
}

/// Runs git, never asking for a password on the terminal; its stdout, or its last line of
/// stderr as the error.
fn git(args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run git: {e} (is git installed?)"))?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no message");
    Err(format!(
        "git {} failed: {last}",
        args.first().unwrap_or(&"")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(dir: &std::path::Path, script: &str) {
        let ok = Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .status()
            .unwrap()
            .success();
        assert!(ok, "{script}");
    }

    #[test]
    fn clones_at_a_branch_a_tag_or_a_commit() {
        if Command::new("git").arg("--version").output().is_err() {
            eprintln!("skipped: no git");
            return;
        }
        let repo = tempfile::tempdir().unwrap();
        sh(
            repo.path(),
            "git init -q -b main . && echo one > f && git add f && git commit -qm one \
             && git tag v1 && echo two > f && git commit -qam two \
             && git checkout -qb topic && echo three > f && git commit -qam three \
             && git checkout -q main",
        );
        let url = format!("file://{}", repo.path().display());
        let read = |r: Option<&str>| {
            let (dir, commit) = clone(&url, r).unwrap();
            (
                std::fs::read_to_string(dir.path().join("f")).unwrap(),
                commit,
            )
        };
        assert_eq!(read(None).0, "two\n");
        assert_eq!(read(Some("v1")).0, "one\n");
        let (text, commit) = read(Some("topic"));
        assert_eq!(text, "three\n");
        assert_eq!(read(Some(&commit)).0, "three\n");
        let err = clone(&url, Some("nope")).unwrap_err().to_string();
        assert!(err.contains("no branch, tag or commit \"nope\""), "{err}");
        let err = clone("file:///nonexistent/repo.git", None)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("git context file:///nonexistent/repo.git: git clone failed"),
            "{err}"
        );
    }
}
