//! Applying layers one over another as a container runtime does, so that images split into
//! layers differently can still be compared as the file systems they produce.
//!
//! Written by hand: the crates that apply layers (e.g. for unpacking) do so onto a real disk,
//! and a differ must do it on metadata alone, without writing a hostile image anywhere.

use std::collections::BTreeMap;

use super::layer::{EntryMeta, EntryType};

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

/// A root file system as metadata: clean path → the entry that last wrote it.
#[derive(Debug, Default)]
pub struct Tree {
    pub entries: BTreeMap<String, EntryMeta>,
}

/// A path reduced to its components: no leading `/` or `./`, no trailing `/`, no `.`, and
/// `..` resolved without ever climbing above the root (a hostile layer cannot name a path
/// outside it).
pub fn clean(name: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

fn split(path: &str) -> (&str, &str) {
    match path.rsplit_once('/') {
        Some((dir, base)) => (dir, base),
        None => ("", path),
    }
}

/// What a whiteout entry hides: `Some("dir/name")` for `dir/.wh.name`, `Some("dir/")` (the
/// directory's children) for an opaque `dir/.wh..wh..opq`, `None` for anything else.
pub fn whiteout_target(path: &str) -> Option<String> {
    let (dir, base) = split(path);
    if base == OPAQUE {
        return Some(format!("{dir}/"));
    }
    let hidden = base.strip_prefix(WHITEOUT).filter(|h| !h.is_empty())?;
    Some(if dir.is_empty() {
        hidden.to_owned()
    } else {
        format!("{dir}/{hidden}")
    })
}

impl Tree {
    /// Whether a whiteout of [`whiteout_target`] `target` hides anything in this tree.
    pub fn hides_anything(&self, target: &str) -> bool {
        match target.strip_suffix('/') {
            Some(dir) => {
                let prefix = if dir.is_empty() {
                    String::new()
                } else {
                    format!("{dir}/")
                };
                self.entries
                    .range(prefix.clone()..)
                    .take_while(|(k, _)| k.starts_with(&prefix))
                    .any(|(k, _)| !k.is_empty() && k.as_str() != dir)
            }
            None => self.entries.contains_key(target),
        }
    }

    /// Removes `path`'s descendants (not `path` itself).
    fn remove_below(&mut self, path: &str) {
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}/")
        };
        let doomed: Vec<String> = self
            .entries
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .filter(|k| !k.is_empty())
            .collect();
        for k in doomed {
            self.entries.remove(&k);
        }
    }

    /// Applies one layer. Whiteouts hide what lower layers hold, never what their own layer
    /// holds, so they are applied before the layer's own entries.
    pub fn apply(&mut self, layer: Vec<EntryMeta>) {
        let mut own = Vec::with_capacity(layer.len());
        for mut e in layer {
            let path = clean(&e.name);
            let (dir, base) = split(&path);
            if base == OPAQUE {
                self.remove_below(dir);
            } else if let Some(hidden) = base.strip_prefix(WHITEOUT) {
                if !hidden.is_empty() {
                    let target = if dir.is_empty() {
                        hidden.to_owned()
                    } else {
                        format!("{dir}/{hidden}")
                    };
                    self.remove_below(&target);
                    self.entries.remove(&target);
                }
            } else if !path.is_empty() {
                e.name = path;
                own.push(e);
            }
        }
        for e in own {
            let replaces_dir = self
                .entries
                .get(&e.name)
                .is_some_and(|old| old.kind == EntryType::Dir);
            if replaces_dir && e.kind != EntryType::Dir {
                self.remove_below(&e.name);
            }
            self.entries.insert(e.name.clone(), e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(name: &str, kind: EntryType) -> EntryMeta {
        EntryMeta::new(name, kind)
    }

    fn names(t: &Tree) -> Vec<&str> {
        t.entries.keys().map(String::as_str).collect()
    }

    #[test]
    fn cleans_hostile_paths() {
        assert_eq!(clean("./a//b/"), "a/b");
        assert_eq!(clean("/../../etc/passwd"), "etc/passwd");
        assert_eq!(clean("a/../b"), "b");
        assert_eq!(clean("./"), "");
    }

    #[test]
    fn whiteouts_hide_lower_layers_only() {
        let mut t = Tree::default();
        t.apply(vec![
            e("etc/", EntryType::Dir),
            e("etc/a", EntryType::File),
            e("etc/b/", EntryType::Dir),
            e("etc/b/c", EntryType::File),
        ]);
        t.apply(vec![
            e("etc/.wh.b", EntryType::File),
            e("etc/b", EntryType::File),
        ]);
        assert_eq!(names(&t), ["etc", "etc/a", "etc/b"]);
        assert_eq!(t.entries["etc/b"].kind, EntryType::File);
        t.apply(vec![
            e("etc/new", EntryType::File),
            e("etc/.wh..wh..opq", EntryType::File),
        ]);
        assert_eq!(names(&t), ["etc", "etc/new"]);
    }

    #[test]
    fn file_over_directory_removes_its_children() {
        let mut t = Tree::default();
        t.apply(vec![e("a/", EntryType::Dir), e("a/b", EntryType::File)]);
        t.apply(vec![e("a", EntryType::Symlink)]);
        assert_eq!(names(&t), ["a"]);
        t.apply(vec![e(".wh.", EntryType::File)]);
        assert_eq!(names(&t), ["a"]);
    }
}
