//! The build context: a directory, or a Git repository cloned at a ref.

use std::path::{Path, PathBuf};

use super::{RebuildError, git};

/// A context as `--context` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextSpec {
    /// A directory.
    Dir(PathBuf),
    /// A Git repository, `URL#REF:SUBDIR` as `docker build` takes it.
    Git {
        /// The repository.
        url: String,
        /// The branch, tag or commit; the remote's default branch when absent.
        reference: Option<String>,
        /// The context's directory inside the repository.
        subdir: Option<String>,
    },
}

impl ContextSpec {
    /// Reads `--context`: an existing directory is one; a Git URL as `docker build` knows
    /// them (`git://`, `git@`, `github.com/`, an `http(s)` URL ending in `.git`), or an
    /// `ssh://` or `file://` URL, is a repository; anything else is a directory (to be found
    /// missing when read).
    pub fn parse(text: &str) -> ContextSpec {
        if Path::new(text).is_dir() || !is_git_url(text) {
            return ContextSpec::Dir(PathBuf::from(text));
        }
        let (url, fragment) = match text.split_once('#') {
            Some((url, fragment)) => (url, Some(fragment)),
            None => (text, None),
        };
        let (reference, subdir) = match fragment {
            None => (None, None),
            Some(f) => match f.split_once(':') {
                Some((r, s)) => (Some(r), Some(s)),
                None => (Some(f), None),
            },
        };
        let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        ContextSpec::Git {
            url: url.to_owned(),
            reference: reference.and_then(non_empty),
            subdir: subdir.and_then(non_empty),
        }
    }
}

fn is_git_url(text: &str) -> bool {
    let url = text.split('#').next().unwrap_or_default();
    ["git://", "git@", "github.com/", "ssh://", "file://"]
        .iter()
        .any(|p| url.starts_with(p))
        || ((url.starts_with("https://") || url.starts_with("http://"))
            && Path::new(url).extension().is_some_and(|e| e == "git"))
}

/// A context ready to build from.
#[derive(Debug)]
pub struct Prepared {
    /// The context directory.
    pub dir: PathBuf,
    /// For a Git context, the commit checked out.
    pub commit: Option<String>,
    /// The context as given.
    pub spec: ContextSpec,
    /// Holds a clone for as long as the context is used.
    _clone: Option<tempfile::TempDir>,
}

/// Makes `spec` a directory to build from: a Git context is cloned into a temporary directory
/// and checked out at its ref.
pub fn prepare(spec: &ContextSpec) -> Result<Prepared, RebuildError> {
    match spec {
        ContextSpec::Dir(dir) => {
            let meta = std::fs::metadata(dir).map_err(|source| RebuildError::Context {
                path: dir.clone(),
                source,
            })?;
            if !meta.is_dir() {
                return Err(RebuildError::Context {
                    path: dir.clone(),
                    source: std::io::Error::other("not a directory"),
                });
            }
            Ok(Prepared {
                dir: dir.clone(),
                commit: None,
                spec: spec.clone(),
                _clone: None,
            })
        }
        ContextSpec::Git {
            url,
            reference,
            subdir,
        } => {
            let (clone, commit) = git::clone(url, reference.as_deref())?;
            let mut dir = clone.path().to_owned();
            if let Some(sub) = subdir {
                let inside = Path::new(sub);
                if inside.is_absolute()
                    || inside
                        .components()
                        .any(|c| matches!(c, std::path::Component::ParentDir))
                {
                    return Err(RebuildError::Git {
                        url: url.clone(),
                        reason: format!("the subdirectory {sub:?} is not inside the repository"),
                    });
                }
                dir = dir.join(inside);
                if !dir.is_dir() {
                    return Err(RebuildError::Git {
                        url: url.clone(),
                        reason: format!("the repository has no directory {sub:?} at {commit}"),
                    });
                }
            }
            Ok(Prepared {
                dir,
                commit: Some(commit),
                spec: spec.clone(),
                _clone: Some(clone),
            })
        }
    }
}

impl Prepared {
    /// The Dockerfile `-f` names: relative to the working directory for a directory context,
    /// to the context for a Git one; `Dockerfile` (or `dockerfile`) in the context by default.
    pub fn dockerfile(&self, named: Option<&Path>) -> Result<PathBuf, RebuildError> {
        let path = match named {
            Some(p) if matches!(self.spec, ContextSpec::Git { .. }) => self.dir.join(p),
            Some(p) => p.to_owned(),
            None => {
                let upper = self.dir.join("Dockerfile");
                let lower = self.dir.join("dockerfile");
                if !upper.is_file() && lower.is_file() {
                    lower
                } else {
                    upper
                }
            }
        };
        if path.is_file() {
            Ok(path)
        } else {
            Err(RebuildError::NoDockerfile(path))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_as_docker_build_reads_them() {
        assert_eq!(
            ContextSpec::parse("file:///srv/app.git#v1.2:docker/app"),
            ContextSpec::Git {
                url: "file:///srv/app.git".into(),
                reference: Some("v1.2".into()),
                subdir: Some("docker/app".into()),
            }
        );
        assert_eq!(
            ContextSpec::parse("https://example.com/app.git#:sub"),
            ContextSpec::Git {
                url: "https://example.com/app.git".into(),
                reference: None,
                subdir: Some("sub".into()),
            }
        );
        assert_eq!(
            ContextSpec::parse("git@example.com:o/app"),
            ContextSpec::Git {
                url: "git@example.com:o/app".into(),
                reference: None,
                subdir: None,
            }
        );
        assert_eq!(
            ContextSpec::parse("https://example.com/app.tar.gz"),
            ContextSpec::Dir("https://example.com/app.tar.gz".into())
        );
        assert_eq!(ContextSpec::parse("."), ContextSpec::Dir(".".into()));
    }

    #[test]
    fn default_dockerfile_and_missing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let prepared = prepare(&ContextSpec::Dir(dir.path().to_owned())).unwrap();
        assert!(matches!(
            prepared.dockerfile(None),
            Err(RebuildError::NoDockerfile(_))
        ));
        std::fs::write(dir.path().join("dockerfile"), "FROM scratch\n").unwrap();
        assert_eq!(
            prepared.dockerfile(None).unwrap(),
            dir.path().join("dockerfile")
        );
        assert!(matches!(
            prepare(&ContextSpec::Dir(dir.path().join("nope"))),
            Err(RebuildError::Context { .. })
        ));
        // `Dockerfile` wins over `dockerfile` when both are there.
        std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        assert_eq!(
            prepared.dockerfile(None).unwrap(),
            dir.path().join("Dockerfile")
        );
    }

    /// A Git repository with `sub/Dockerfile`, as a `file://` URL.
    fn repository() -> Option<(tempfile::TempDir, String)> {
        let repo = tempfile::tempdir().unwrap();
        std::fs::create_dir(repo.path().join("sub")).unwrap();
        std::fs::write(repo.path().join("sub/Dockerfile"), "FROM scratch\n").unwrap();
        let ok = std::process::Command::new("sh")
            .arg("-c")
            .arg("git init -q . && git add . && git -c user.name=t -c user.email=t@example.com commit -qm c")
            .current_dir(repo.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("skipped: git cannot make a repository here");
            return None;
        }
        let url = format!("file://{}", repo.path().display());
        Some((repo, url))
    }

    #[test]
    fn a_git_subdirectory_must_be_inside_and_there() {
        let Some((_repo, url)) = repository() else {
            return;
        };
        let git = |subdir: &str| ContextSpec::Git {
            url: url.clone(),
            reference: None,
            subdir: Some(subdir.to_owned()),
        };
        let prepared = prepare(&git("sub")).unwrap();
        assert!(prepared.dir.ends_with("sub"));
        assert_eq!(prepared.commit.as_deref().map(str::len), Some(40));
        for outside in ["/etc", "../x", "sub/../../x"] {
            let err = prepare(&git(outside)).unwrap_err().to_string();
            assert!(
                err.contains("is not inside the repository"),
                "{outside}: {err}"
            );
        }
        let err = prepare(&git("missing")).unwrap_err().to_string();
        assert!(err.contains("has no directory \"missing\""), "{err}");
    }

    #[test]
    fn dash_f_is_relative_to_the_context_for_git_and_to_here_for_a_directory() {
        let Some((_repo, url)) = repository() else {
            return;
        };
        let git = prepare(&ContextSpec::Git {
            url,
            reference: None,
            subdir: None,
        })
        .unwrap();
        assert_eq!(
            git.dockerfile(Some(Path::new("sub/Dockerfile"))).unwrap(),
            git.dir.join("sub/Dockerfile")
        );
        let here = tempfile::tempdir().unwrap();
        std::fs::write(here.path().join("Other"), "FROM scratch\n").unwrap();
        let dir = prepare(&ContextSpec::Dir(git.dir.clone())).unwrap();
        let named = here.path().join("Other");
        assert_eq!(dir.dockerfile(Some(&named)).unwrap(), named);
        // Tests run in the crate's directory, which has a Cargo.toml; the context has none.
        assert_eq!(
            dir.dockerfile(Some(Path::new("Cargo.toml"))).unwrap(),
            Path::new("Cargo.toml")
        );
        assert!(matches!(
            dir.dockerfile(Some(Path::new("sub/Dockerfile-not-here"))),
            Err(RebuildError::NoDockerfile(_))
        ));
    }
}
