//! The build context as the docker CLI sends it to the Engine API's `POST /build`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::dockerignore::Ignore;
use super::{Prepared, RebuildError};

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
            if excluded {
                // Walked all the same when an exception may bring back something below it.
                if meta.is_dir() && self.ignore.has_exceptions() {
                    self.dir(&path, &rel)?;
                }
                continue;
            }
            self.entry(&path, &rel, &meta)?;
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
    use crate::rebuild::{ContextSpec, prepare};

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
    fn hard_links_are_sent_as_links_and_symlinks_as_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("Dockerfile"), "FROM scratch\n").unwrap();
        std::fs::write(d.join("a"), "x").unwrap();
        std::fs::hard_link(d.join("a"), d.join("b")).unwrap();
        std::os::unix::fs::symlink("a", d.join("c")).unwrap();
        std::fs::create_dir(d.join("dir")).unwrap();
        let spec = ContextSpec::Dir(d.to_owned());
        let (file, _, _) = tar(&prepare(&spec).unwrap(), &d.join("Dockerfile")).unwrap();
        let mut archive = tar::Archive::new(file);
        let kinds: Vec<(String, tar::EntryType, Option<String>)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    e.header().entry_type(),
                    e.link_name()
                        .unwrap()
                        .map(|l| l.to_string_lossy().into_owned()),
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("Dockerfile".into(), tar::EntryType::Regular, None),
                ("a".into(), tar::EntryType::Regular, None),
                ("b".into(), tar::EntryType::Link, Some("a".into())),
                ("c".into(), tar::EntryType::Symlink, Some("a".into())),
                ("dir/".into(), tar::EntryType::Directory, None),
            ]
        );
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
}
