//! Names the commit the binary is built from, for `ocidiff --version` and the reports' `tool`
//! section: `OCIDIFF_COMMIT` (`abc123456789`) and `OCIDIFF_BUILD` (`abc123456789 2026-12-03`)
//! for the compiler, read from git in a checkout, else from `OCIDIFF_COMMIT` and
//! `OCIDIFF_COMMIT_DATE` in the environment (a source tarball, a packager), else `unknown`. The
//! date is the commit's, not the build's, so that two builds of one commit are the same bytes.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo::rerun-if-env-changed=OCIDIFF_COMMIT");
    println!("cargo::rerun-if-env-changed=OCIDIFF_COMMIT_DATE");
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    // Only this repository's own checkout: a crate package unpacked inside another one must not
    // take that one's commit.
    let ours = git(&dir, &["ls-files", "--error-unmatch", "build.rs"]).is_some();
    let from_git = ours
        .then(|| git(&dir, &["rev-parse", "--short=12", "HEAD"]))
        .flatten()
        .map(|commit| {
            watch_head(&dir);
            let date = git(&dir, &["log", "-1", "--format=%cs", "HEAD"]);
            (commit, date)
        });
    let (commit, date) = from_git.unwrap_or_else(|| {
        (
            env_nonempty("OCIDIFF_COMMIT").unwrap_or_else(|| "unknown".to_owned()),
            env_nonempty("OCIDIFF_COMMIT_DATE"),
        )
    });
    let build = match date {
        Some(date) => format!("{commit} {date}"),
        None => commit.clone(),
    };
    println!("cargo::rustc-env=OCIDIFF_COMMIT={commit}");
    println!("cargo::rustc-env=OCIDIFF_BUILD={build}");
}

/// Reruns this script when HEAD moves: a commit or checkout rewrites HEAD (detached) or the
/// branch ref it names, or `packed-refs` when the ref is packed. Paths come from git, so a
/// worktree (whose `.git` is a file) is watched too.
fn watch_head(dir: &str) {
    let mut paths = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        paths.push(branch);
    }
    for path in paths {
        if let Some(file) = git(
            dir,
            &["rev-parse", "--path-format=absolute", "--git-path", &path],
        ) {
            if Path::new(&file).exists() {
                println!("cargo::rerun-if-changed={file}");
            }
        }
    }
}

/// One line of git's output, or `None` without git or outside a checkout (`cargo install` of a
/// crate package, a tarball).
fn git(dir: &str, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    let line = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !line.is_empty()).then_some(line)
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}
