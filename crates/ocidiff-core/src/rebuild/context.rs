//! The build context: a directory, or a Git repository cloned at a ref; and, for the Engine
//! API, the tar of it that `docker build` would send.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::dockerignore::Ignore;
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

/// The context as the docker CLI sends it to the Engine API: every file `.dockerignore` does
/// not exclude, in lexical order, owned by 0:0, mtimes in whole seconds, hard links as links;
/// the Dockerfile and `.dockerignore` always. Returns the tar (in a temporary file), its
/// length and the Dockerfile's name inside it — a Dockerfile outside the context is added
/// under a name of its own, as the CLI does.
pub(super) fn tar(
    context: &Prepared,
    dockerfile: &Path,
) -> Result<(File, u64, String), RebuildError> {
    let io = |what: String| move |source| RebuildError::Io { what, source };
    let root = std::fs::canonicalize(&context.dir).map_err(|source| RebuildError::Context {
        path: context.dir.clone(),
        source,
    })?;
    let dockerfile_real =
        std::fs::canonicalize(dockerfile).map_err(io(dockerfile.display().to_string()))?;
    let inside = dockerfile_real
        .strip_prefix(&root)
        .ok()
        .map(|p| p.to_string_lossy().into_owned());
    let ignore = Ignore::read(&root.join(".dockerignore"))?;
    let mut keep: Vec<String> = vec![".dockerignore".to_owned()];
    keep.extend(inside.clone());

    let file = tempfile::tempfile().map_err(io("a temporary file for the context".into()))?;
    let mut builder = tar::Builder::new(file);
    builder.follow_symlinks(false);
    let mut walk = Walk {
        ignore: &ignore,
        keep: &keep,
        links: HashMap::new(),
        builder: &mut builder,
    };
    walk.dir(&root, "")?;
    let name = if let Some(name) = inside {
        name
    } else {
        let name = format!(
            ".dockerfile.{}",
            &crate::model::Digest::sha256_of(dockerfile_real.to_string_lossy().as_bytes()).hex()
                [..20]
        );
        let mut header = tar::Header::new_gnu();
        let bytes =
            std::fs::read(&dockerfile_real).map_err(io(dockerfile_real.display().to_string()))?;
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        builder
            .append_data(&mut header, &name, &bytes[..])
            .map_err(io("the context's tar".into()))?;
        name
    };
    let mut file = builder
        .into_inner()
        .map_err(io("the context's tar".into()))?;
    let len = file
        .seek(SeekFrom::End(0))
        .map_err(io("the context's tar".into()))?;
    file.seek(SeekFrom::Start(0))
        .map_err(io("the context's tar".into()))?;
    Ok((file, len, name))
}

struct Walk<'a> {
    ignore: &'a Ignore,
    keep: &'a [String],
    /// (device, inode) → the first name written, for hard links.
    links: HashMap<(u64, u64), String>,
    builder: &'a mut tar::Builder<File>,
}

impl Walk<'_> {
    fn dir(&mut self, dir: &Path, rel: &str) -> Result<(), RebuildError> {
        let io = |what: &Path| {
            let what = what.display().to_string();
            move |source| RebuildError::Io { what, source }
        };
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .map_err(io(dir))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(io(dir))?;
        names.sort();
        for name in names {
            let path = dir.join(&name);
            let name = name.to_string_lossy();
            let rel = if rel.is_empty() {
                name.into_owned()
            } else {
                format!("{rel}/{name}")
            };
            let meta = std::fs::symlink_metadata(&path).map_err(io(&path))?;
            let excluded = self.ignore.excludes(&rel) && !self.keep.contains(&rel);
            if excluded && !(meta.is_dir() && self.ignore.has_exceptions()) {
                continue;
            }
            if !excluded {
                self.entry(&path, &rel, &meta)?;
            }
            if meta.is_dir() {
                self.dir(&path, &rel)?;
            }
        }
        Ok(())
    }

    fn entry(
        &mut self,
        path: &Path,
        rel: &str,
        meta: &std::fs::Metadata,
    ) -> Result<(), RebuildError> {
        let io = |source| RebuildError::Io {
            what: path.display().to_string(),
            source,
        };
        let mut header = tar::Header::new_gnu();
        header.set_metadata_in_mode(meta, tar::HeaderMode::Complete);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(u64::try_from(meta.mtime()).unwrap_or(0));
        let kind = meta.file_type();
        if kind.is_file() && meta.nlink() > 1 {
            let key = (meta.dev(), meta.ino());
            if let Some(first) = self.links.get(&key) {
                header.set_entry_type(tar::EntryType::Link);
                header.set_size(0);
                return self
                    .builder
                    .append_link(&mut header, rel, first)
                    .map_err(io);
            }
            self.links.insert(key, rel.to_owned());
        }
        if kind.is_file() {
            let file = File::open(path).map_err(io)?;
            self.builder.append_data(&mut header, rel, file).map_err(io)
        } else if kind.is_symlink() {
            let target = std::fs::read_link(path).map_err(io)?;
            header.set_size(0);
            self.builder
                .append_link(&mut header, rel, target)
                .map_err(io)
        } else if kind.is_dir() {
            header.set_size(0);
            self.builder
                .append_data(&mut header, format!("{rel}/"), std::io::empty())
                .map_err(io)
        } else {
            // Sockets, FIFOs and devices: the CLI sends them as headers only.
            header.set_size(0);
            self.builder
                .append_data(&mut header, rel, std::io::empty())
                .map_err(io)
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

    fn listing(dir: &Path, dockerfile: &Path) -> (Vec<(String, u64)>, String) {
        let spec = ContextSpec::Dir(dir.to_owned());
        let prepared = prepare(&spec).unwrap();
        let (file, _, name) = tar(&prepared, dockerfile).unwrap();
        let mut archive = tar::Archive::new(file);
        let entries = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    e.header().uid().unwrap(),
                )
            })
            .collect();
        (entries, name)
    }

    #[test]
    fn tar_leaves_out_what_dockerignore_excludes() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("logs/keep")).unwrap();
        std::fs::write(d.join("Dockerfile"), "FROM scratch\n").unwrap();
        std::fs::write(d.join("app.txt"), "x").unwrap();
        std::fs::write(d.join("logs/a.log"), "x").unwrap();
        std::fs::write(d.join("logs/keep/b.log"), "x").unwrap();
        std::fs::write(
            d.join(".dockerignore"),
            "# comment\nlogs\n!logs/keep/b.log\nDockerfile\n",
        )
        .unwrap();
        let (entries, name) = listing(d, &d.join("Dockerfile"));
        let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [".dockerignore", "Dockerfile", "app.txt", "logs/keep/b.log"]
        );
        assert!(entries.iter().all(|(_, uid)| *uid == 0));
        assert_eq!(name, "Dockerfile");
    }

    #[test]
    fn a_dockerfile_outside_the_context_is_sent_under_a_name_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = dir.path().join("ctx");
        std::fs::create_dir(&ctx).unwrap();
        std::fs::write(ctx.join("a"), "x").unwrap();
        std::fs::write(dir.path().join("Other.Dockerfile"), "FROM scratch\n").unwrap();
        let (entries, name) = listing(&ctx, &dir.path().join("Other.Dockerfile"));
        assert!(name.starts_with(".dockerfile."), "{name}");
        assert_eq!(entries.last().unwrap().0, name);
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
    }
}
