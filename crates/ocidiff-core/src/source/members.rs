//! Where the members of an archive land when it is extracted as `docker load` extracts it, and
//! what a name then leads to, without extracting anything.
//!
//! `docker load` untars the whole archive into a temporary directory (chrooted into it), then
//! opens `manifest.json`, configs and layers there through their symbolic links, resolved
//! within that directory (`symlink.FollowSymlinkInScope`). Names are cleaned on the way in
//! (`filepath.Clean`, then joined to the root: `x/../a` and `/a` and `../a` all land on `a`),
//! and a later member replaces an earlier one of the same path. Reading the archive as a table
//! of member names would see the first `manifest.json` where Docker reads the last, so each
//! member is placed in a tree of paths instead, as extraction places it.
//!
//! Where an archive would read differently in Docker and in containerd (whose `ctr import`
//! streams the archive and keys members by `path.Clean` of their name, one link deep), or
//! depends on extraction order, it is refused rather than read one way:
//! - two members that land on the same path (unless both are directories), or a member under a
//!   path another member holds as a file: Docker keeps the later, and so does containerd 1.6
//!   for two files, but not for a file and a link (its links are applied after all files);
//! - a member written through a symbolic link another member made: Docker writes through it,
//!   containerd keeps the name;
//! - a symbolic link to an absolute path, followed: Docker resolves it from the archive's root,
//!   containerd from the link's directory.
//!
//! Links that climb above the root are clamped to it, as in Docker's chroot. Hard links are
//! resolved when they are met (a hard link is the file it links to at that moment).

use std::collections::HashMap;

/// The most path components Docker's resolution goes through (links expanded) before it gives
/// up (`FollowSymlinkInScope`'s `maxIter`).
const MAX_STEPS: usize = 255;

/// A member as the archive holds it.
#[derive(Debug, Clone)]
pub enum Entry<T> {
    Dir,
    File(T),
    /// Target as written.
    Symlink(Vec<u8>),
    /// Target as written, from the archive root.
    Hardlink(Vec<u8>),
    /// A device or FIFO: created by extraction, never read.
    Other,
}

/// What a path holds once extracted.
#[derive(Debug, Clone)]
enum Kind<T> {
    Dir,
    File(T),
    Symlink(Vec<u8>),
    Other,
}

#[derive(Debug)]
struct Node<T> {
    kind: Kind<T>,
    /// The member that made it, as named in the archive.
    member: String,
    /// A directory no member names, made as the parent of one.
    implied: bool,
}

/// Why a member cannot be placed, or a name cannot be read, as `docker load` would.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MemberError {
    #[error(
        "members {first:?} and {second:?} both extract to {path:?}: docker load keeps the later; \
         ocidiff refuses archives whose reading depends on the order of their members"
    )]
    Collision {
        first: String,
        second: String,
        path: String,
    },
    #[error(
        "member {member:?} would replace the directory member {holder:?} extracts into: ocidiff \
         refuses archives whose reading depends on the order of their members"
    )]
    ReplacesDirectory { member: String, holder: String },
    #[error(
        "member {member:?} extracts under {other:?}, which member {other_member:?} made a file"
    )]
    UnderFile {
        member: String,
        other: String,
        other_member: String,
    },
    #[error(
        "member {member:?} is written through the symbolic link {link:?}: docker load writes \
         through it, containerd does not"
    )]
    ThroughLink { member: String, link: String },
    #[error("member {member:?} would replace the archive's root")]
    Root { member: String },
    #[error(
        "member {member:?} is a hard link to {target:?}, which the archive does not hold there"
    )]
    HardlinkToNothing { member: String, target: String },
    #[error("member {member:?} is a hard link to the directory {target:?}")]
    HardlinkToDirectory { member: String, target: String },
    #[error("the archive has no member {name:?}")]
    Missing { name: String },
    #[error("{name:?} leads through links to {path:?}, which the archive does not hold")]
    Dangling { name: String, path: String },
    #[error("{name:?} is {what}, not a file")]
    NotAFile { name: String, what: &'static str },
    #[error(
        "{name:?} goes through the symbolic link {link:?} to the absolute path {target:?}, which \
         docker load resolves from the archive's root and containerd from the link's directory"
    )]
    AbsoluteLink {
        name: String,
        link: String,
        target: String,
    },
    #[error("{name:?} climbs out of the archive")]
    Outside { name: String },
    #[error("{name:?} goes through more than {MAX_STEPS} path components and links")]
    TooManyLinks { name: String },
}

fn show(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}

/// `filepath.Clean` of `name` joined to the root, without the leading `/`: `.` and empty parts
/// dropped, `..` applied, and at the root ignored. The root is the empty path.
pub fn clean(name: &[u8]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in name.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join(&b'/')
}

/// Whether `name` climbs above the root once cleaned (`a/../../b`, `/../b`).
fn climbs(name: &[u8]) -> bool {
    let mut depth = 0usize;
    for part in name.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." if depth == 0 => return true,
            b".." => depth -= 1,
            _ => depth += 1,
        }
    }
    false
}

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if dir.is_empty() {
        name.to_vec()
    } else {
        [dir, b"/", name].concat()
    }
}

/// The members of one archive, placed where extraction puts them.
#[derive(Debug)]
pub struct Members<T> {
    nodes: HashMap<Vec<u8>, Node<T>>,
}

impl<T> Default for Members<T> {
    fn default() -> Self {
        Members {
            nodes: HashMap::new(),
        }
    }
}

/// What a name leads to.
#[derive(Debug)]
pub enum Found<'a, T> {
    File(&'a T),
    /// Nothing, at the path given (links followed).
    Nothing(Vec<u8>),
    Dir,
    Other,
}

impl<T: Clone> Members<T> {
    /// Places the next member of the archive, named `name` as written.
    pub fn insert(&mut self, name: &[u8], entry: Entry<T>) -> Result<(), MemberError> {
        let member = show(name);
        let path = clean(name);
        if path.is_empty() {
            return match entry {
                Entry::Dir => Ok(()),
                _ => Err(MemberError::Root { member }),
            };
        }
        let kind = match entry {
            Entry::Dir => Kind::Dir,
            Entry::File(t) => Kind::File(t),
            Entry::Symlink(target) => Kind::Symlink(target),
            Entry::Other => Kind::Other,
            Entry::Hardlink(target) => self.hardlink(&member, &target)?,
        };
        self.make_parents(&member, &path)?;
        if let Some(existing) = self.nodes.get(&path) {
            return match (&existing.kind, &kind) {
                (Kind::Dir, Kind::Dir) => Ok(()),
                (Kind::Dir, _) if existing.implied => Err(MemberError::ReplacesDirectory {
                    member,
                    holder: existing.member.clone(),
                }),
                _ => Err(MemberError::Collision {
                    first: existing.member.clone(),
                    second: member,
                    path: show(&path),
                }),
            };
        }
        self.nodes.insert(
            path,
            Node {
                kind,
                member,
                implied: false,
            },
        );
        Ok(())
    }

    /// Creates the missing parent directories of `path`, refusing to go through a link or a
    /// file.
    fn make_parents(&mut self, member: &str, path: &[u8]) -> Result<(), MemberError> {
        for (i, _) in path.iter().enumerate().filter(|&(_, &b)| b == b'/') {
            let parent = &path[..i];
            match self.nodes.get(parent).map(|n| (&n.kind, &n.member)) {
                None => {
                    self.nodes.insert(
                        parent.to_vec(),
                        Node {
                            kind: Kind::Dir,
                            member: member.to_owned(),
                            implied: true,
                        },
                    );
                }
                Some((Kind::Dir, _)) => {}
                Some((Kind::Symlink(_), _)) => {
                    return Err(MemberError::ThroughLink {
                        member: member.to_owned(),
                        link: show(parent),
                    });
                }
                Some((_, other_member)) => {
                    return Err(MemberError::UnderFile {
                        member: member.to_owned(),
                        other: show(parent),
                        other_member: other_member.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    /// What a hard link to `target` is: what the target path holds now (a link to a symbolic
    /// link is the symbolic link, as `link(2)` makes it).
    fn hardlink(&self, member: &str, target: &[u8]) -> Result<Kind<T>, MemberError> {
        let (path, node) = self.walk(&show(target), &clean(target), false)?;
        match node.map(|n| &n.kind) {
            None => Err(MemberError::HardlinkToNothing {
                member: member.to_owned(),
                target: show(&path),
            }),
            Some(Kind::Dir) => Err(MemberError::HardlinkToDirectory {
                member: member.to_owned(),
                target: show(&path),
            }),
            Some(kind) => Ok(kind.clone()),
        }
    }
}

impl<T> Members<T> {
    /// What `name` (a path from the archive root, as `manifest.json` gives it) leads to, its
    /// symbolic links followed within the archive as Docker's `FollowSymlinkInScope` follows
    /// them.
    pub fn find(&self, name: &str) -> Result<Found<'_, T>, MemberError> {
        // Docker joins the name to its temporary directory first: what climbs above it is not
        // in the archive.
        if climbs(name.as_bytes()) {
            return Err(MemberError::Outside {
                name: name.to_owned(),
            });
        }
        let (path, node) = self.walk(name, &clean(name.as_bytes()), true)?;
        Ok(match node.map(|n| &n.kind) {
            None => Found::Nothing(path),
            Some(Kind::File(t)) => Found::File(t),
            Some(Kind::Dir) => Found::Dir,
            Some(Kind::Other | Kind::Symlink(_)) => Found::Other,
        })
    }

    /// The file `name` leads to.
    pub fn file(&self, name: &str) -> Result<&T, MemberError> {
        match self.find(name)? {
            Found::File(t) => Ok(t),
            Found::Nothing(path) if path == clean(name.as_bytes()) => Err(MemberError::Missing {
                name: name.to_owned(),
            }),
            Found::Nothing(path) => Err(MemberError::Dangling {
                name: name.to_owned(),
                path: show(&path),
            }),
            Found::Dir => Err(MemberError::NotAFile {
                name: name.to_owned(),
                what: "a directory",
            }),
            Found::Other => Err(MemberError::NotAFile {
                name: name.to_owned(),
                what: "a device or FIFO",
            }),
        }
    }

    /// Resolves the clean path `start` component by component from the root, expanding
    /// symbolic links (the last one only when `follow_last`); `..` climbs the path resolved so
    /// far and stops at the root. Returns the path reached and what is there.
    fn walk(
        &self,
        name: &str,
        start: &[u8],
        follow_last: bool,
    ) -> Result<(Vec<u8>, Option<&Node<T>>), MemberError> {
        // As Docker's loop: the path left to resolve, with a leading `/` that costs a step.
        let mut rest: Vec<u8> = [b"/", start].concat();
        let mut at: Vec<u8> = Vec::new();
        let mut steps = 0;
        while !rest.is_empty() {
            if steps > MAX_STEPS {
                return Err(MemberError::TooManyLinks {
                    name: name.to_owned(),
                });
            }
            steps += 1;
            let (part, tail) = match rest.iter().position(|&b| b == b'/') {
                Some(i) => (rest[..i].to_vec(), rest[i + 1..].to_vec()),
                None => (std::mem::take(&mut rest), Vec::new()),
            };
            rest = tail;
            match &part[..] {
                b"" | b"." => continue,
                b".." => {
                    at = match at.iter().rposition(|&b| b == b'/') {
                        Some(i) => at[..i].to_vec(),
                        None => Vec::new(),
                    };
                    continue;
                }
                _ => {}
            }
            let candidate = join(&at, &part);
            let last = rest.is_empty();
            match self.nodes.get(&candidate).map(|n| &n.kind) {
                Some(Kind::Symlink(target)) if follow_last || !last => {
                    if target.starts_with(b"/") {
                        return Err(MemberError::AbsoluteLink {
                            name: name.to_owned(),
                            link: show(&candidate),
                            target: show(target),
                        });
                    }
                    rest = [&target[..], b"/", &rest[..]].concat();
                }
                _ => at = candidate,
            }
        }
        let node = self.nodes.get(&at);
        Ok((at, node))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(entries: Vec<(&str, Entry<u32>)>) -> Result<Members<u32>, MemberError> {
        let mut m = Members::default();
        for (name, entry) in entries {
            m.insert(name.as_bytes(), entry)?;
        }
        Ok(m)
    }

    fn link(target: &str) -> Entry<u32> {
        Entry::Symlink(target.as_bytes().to_vec())
    }

    fn hard(target: &str) -> Entry<u32> {
        Entry::Hardlink(target.as_bytes().to_vec())
    }

    #[test]
    fn names_clean_as_extraction_cleans_them() {
        for (name, clean_name) in [
            ("a/b", "a/b"),
            ("./a//b/", "a/b"),
            ("/a/b", "a/b"),
            ("../../a", "a"),
            ("x/../a", "a"),
            ("a/./b/../c", "a/c"),
            (".", ""),
            ("/", ""),
        ] {
            assert_eq!(clean(name.as_bytes()), clean_name.as_bytes(), "{name}");
        }
    }

    #[test]
    fn every_spelling_of_a_path_is_that_path() {
        let m = members(vec![("x/../manifest.json", Entry::File(1))]).unwrap();
        for name in [
            "manifest.json",
            "./manifest.json",
            "/manifest.json",
            "a/../manifest.json",
        ] {
            assert_eq!(m.file(name), Ok(&1), "{name}");
        }
        for name in [
            "../manifest.json",
            "/../manifest.json",
            "a/../../manifest.json",
        ] {
            assert!(
                matches!(m.file(name), Err(MemberError::Outside { .. })),
                "{name}"
            );
        }
    }

    #[test]
    fn members_landing_on_one_path_are_refused() {
        for (entries, needle) in [
            (
                vec![
                    ("manifest.json", Entry::File(1)),
                    ("x/../manifest.json", Entry::File(2)),
                ],
                "both extract to \"manifest.json\"",
            ),
            (
                vec![
                    ("L/layer.tar", Entry::File(1)),
                    ("L//layer.tar", Entry::File(2)),
                ],
                "both extract to \"L/layer.tar\"",
            ),
            (
                vec![("a", Entry::File(1)), ("/a", link("b"))],
                "\"a\" and \"/a\"",
            ),
            (
                vec![("d/", Entry::Dir), ("d", Entry::File(1))],
                "both extract to \"d\"",
            ),
            (
                vec![("la/layer.tar", Entry::File(1)), ("la", Entry::File(2))],
                "would replace the directory member \"la/layer.tar\" extracts into",
            ),
            (
                vec![("la", Entry::File(1)), ("la/layer.tar", Entry::File(2))],
                "which member \"la\" made a file",
            ),
            (
                vec![("sl", link("real")), ("sl/layer.tar", Entry::File(1))],
                "written through the symbolic link \"sl\"",
            ),
            (vec![("./", Entry::File(1))], "replace the archive's root"),
        ] {
            let err = members(entries).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
        // Directories merge, the root too (`tar -C dir -c .` writes it first).
        let m = members(vec![
            ("./", Entry::Dir),
            ("d/", Entry::Dir),
            ("d/a", Entry::File(1)),
            ("./d/", Entry::Dir),
        ])
        .unwrap();
        assert_eq!(m.file("d/a"), Ok(&1));
    }

    #[test]
    fn links_resolve_from_the_archive_root() {
        let m = members(vec![
            ("x/layer.tar", Entry::File(1)),
            ("y/layer.tar", link("../x/layer.tar")),
            ("z/layer.tar", link("./../y/layer.tar")),
            ("up/layer.tar", link("../../../../x/layer.tar")),
            ("dir", link("x")),
            ("h", hard("./x/layer.tar")),
            ("loop", link("loop")),
            ("abs", link("/x/layer.tar")),
            ("dangling", link("nothing")),
            ("dev", Entry::Other),
        ])
        .unwrap();
        for name in [
            "y/layer.tar",
            "z/layer.tar",
            "up/layer.tar",
            "dir/layer.tar",
            "h",
        ] {
            assert_eq!(m.file(name), Ok(&1), "{name}");
        }
        assert!(matches!(
            m.file("loop"),
            Err(MemberError::TooManyLinks { .. })
        ));
        // Docker gives up past 255 steps, each component of what is left to resolve one (the
        // leading `/`, and a `.` in a link's target, too): `l` then 253 dots then `f` is 256
        // steps and resolves, one dot more does not.
        let chain = |dots: usize| {
            let target = format!("{}f", "./".repeat(dots));
            members(vec![("f", Entry::File(1)), ("l", link(&target))]).unwrap()
        };
        assert_eq!(chain(253).file("l"), Ok(&1));
        assert!(matches!(
            chain(254).file("l"),
            Err(MemberError::TooManyLinks { .. })
        ));
        assert!(matches!(
            m.file("abs"),
            Err(MemberError::AbsoluteLink { .. })
        ));
        assert_eq!(
            m.file("dangling"),
            Err(MemberError::Dangling {
                name: "dangling".into(),
                path: "nothing".into()
            })
        );
        assert!(matches!(
            m.file("missing"),
            Err(MemberError::Missing { .. })
        ));
        assert!(matches!(m.file("x"), Err(MemberError::NotAFile { .. })));
        assert!(matches!(m.file("dev"), Err(MemberError::NotAFile { .. })));
    }

    #[test]
    fn hard_links_are_what_they_link_to_when_met() {
        let m = members(vec![
            ("a/layer.tar", Entry::File(1)),
            ("a/rel", link("layer.tar")),
            // A hard link to a symbolic link is that link, resolved from where it now is.
            ("b/rel", hard("a/rel")),
            ("b/layer.tar", Entry::File(2)),
        ])
        .unwrap();
        assert_eq!(m.file("a/rel"), Ok(&1));
        assert_eq!(m.file("b/rel"), Ok(&2));
        for (target, needle) in [("nothing", "does not hold"), ("a", "to the directory")] {
            let err = members(vec![("a/f", Entry::File(1)), ("h", hard(target))])
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{err}");
        }
    }
}
