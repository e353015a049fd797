//! Applying layers one over another as container runtimes do, on metadata alone, so that
//! images split into layers differently can be compared as the file systems they produce.
//!
//! The model follows the appliers that unpack into a full root file system — moby's
//! `UnpackLayer` (Docker's `vfs` and 20.10's layer store) and containerd's `archive.Apply` with
//! its native snapshotter — entry by entry, in stream order: names cleaned and kept inside the
//! root, parent directories created when missing, symlinks in parent paths resolved inside the
//! root, whatever is at a path removed before something else is written there (a directory over
//! a directory merges), whiteouts applied where they stand in the stream, opaque whiteouts
//! sparing what their own layer wrote before them, hard links sharing one inode whose owner,
//! mode, times and extended attributes the link entry sets.
//!
//! Where runtimes disagree (overlay snapshotters, Podman's storage, newer moby; see
//! docs/layers.md) the entry gets a [`Note`]: the comparison reports it as a counted
//! difference of its own class instead of choosing one runtime silently. Where every runtime
//! refuses the layer, applying it fails with a [`Refusal`].
//!
//! Written by hand: the crates that apply layers do so onto a real disk, and a differ must do
//! it on metadata alone, without writing a hostile image anywhere.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::entry::{EntryMeta, EntryType, Time};

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";
/// containerd's bound on symlinks followed in one path; the kernel's is 40.
const MAX_LINKS: usize = 255;
const KERNEL_MAX_LINKS: usize = 40;

/// A path reduced to its components: no leading `/` or `./`, no trailing `/`, no `.`, and
/// `..` resolved without ever climbing above the root (a hostile layer cannot name a path
/// outside it).
pub fn clean(name: &str) -> String {
    components(name).0.join("/")
}

/// The components of `name` as an applier joins it to the root, and whether a `..` tried to
/// climb above the root.
fn components(name: &str) -> (Vec<&str>, bool) {
    let mut parts: Vec<&str> = Vec::new();
    let mut escaped = false;
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => escaped |= parts.pop().is_none(),
            c => parts.push(c),
        }
    }
    (parts, escaped)
}

/// Go's `path.Clean`, which names entries in the duplicate check of Docker's and Podman's
/// layer stores: a leading `/` is kept, so `a` and `/a` are two names there.
fn go_clean(name: &str) -> String {
    let rooted = name.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&p) if p != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            c => parts.push(c),
        }
    }
    match (rooted, parts.is_empty()) {
        (true, _) => format!("/{}", parts.join("/")),
        (false, true) => ".".to_owned(),
        (false, false) => parts.join("/"),
    }
}

fn join(dir: &str, base: &str) -> String {
    if dir.is_empty() {
        base.to_owned()
    } else {
        format!("{dir}/{base}")
    }
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(p, _)| p)
}

/// What an entry does that container runtimes do differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NoteKind {
    DuplicatePath,
    EscapesRoot,
    RootEntry,
    AufsMetadata,
    LowerSymlinkParent,
    SymlinkEscapesRoot,
    ManySymlinks,
    CreatedThroughSymlink,
    LowerFileAsDirectory,
    BareWhiteout,
    WhiteoutOfOwnLayer,
    OpaqueRemovesOwnLayer,
    OpaqueThroughSymlink,
    GlobalHeaderRemoves,
    HardlinkToLowerLayer,
    HardlinkToSymlink,
    CapabilityKept,
    EmptyXattr,
    TrustedXattr,
    SelinuxXattr,
    DeviceOutOfRange,
}

impl NoteKind {
    /// A short name, for reports.
    pub fn name(self) -> &'static str {
        match self {
            NoteKind::DuplicatePath => "duplicate-path",
            NoteKind::EscapesRoot => "escapes-root",
            NoteKind::RootEntry => "root-entry",
            NoteKind::AufsMetadata => "aufs-metadata",
            NoteKind::LowerSymlinkParent => "lower-symlink-parent",
            NoteKind::SymlinkEscapesRoot => "symlink-escapes-root",
            NoteKind::ManySymlinks => "many-symlinks",
            NoteKind::CreatedThroughSymlink => "created-through-symlink",
            NoteKind::LowerFileAsDirectory => "lower-file-as-directory",
            NoteKind::BareWhiteout => "bare-whiteout",
            NoteKind::WhiteoutOfOwnLayer => "whiteout-of-own-layer",
            NoteKind::OpaqueRemovesOwnLayer => "opaque-removes-own-layer",
            NoteKind::OpaqueThroughSymlink => "opaque-through-symlink",
            NoteKind::GlobalHeaderRemoves => "global-header-removes",
            NoteKind::HardlinkToLowerLayer => "hardlink-to-lower-layer",
            NoteKind::HardlinkToSymlink => "hardlink-to-symlink",
            NoteKind::CapabilityKept => "capability-kept",
            NoteKind::EmptyXattr => "empty-xattr",
            NoteKind::TrustedXattr => "trusted-xattr",
            NoteKind::SelinuxXattr => "selinux-xattr",
            NoteKind::DeviceOutOfRange => "device-out-of-range",
        }
    }

    /// What the runtimes do, in one sentence.
    pub fn explain(self) -> &'static str {
        match self {
            NoteKind::DuplicatePath => {
                "the path is written twice in one layer: Docker and Podman refuse the layer, \
                 containerd keeps the last entry"
            }
            NoteKind::EscapesRoot => {
                "the name climbs above the root: Docker 20.10, containerd and Podman keep it \
                 inside the root, moby 25 and later refuse the layer"
            }
            NoteKind::RootEntry => {
                "the entry sets the root directory's type, owner or mode: Docker 20.10 and \
                 Podman (vfs) apply it (or refuse a non-directory), containerd and moby 25+ \
                 skip it"
            }
            NoteKind::AufsMetadata => {
                "an AUFS metadata name (.wh..wh.*): Docker and Podman (vfs) skip it, \
                 containerd unpacks it"
            }
            NoteKind::LowerSymlinkParent => {
                "written through a symlink of a lower layer: Docker (vfs) and containerd's \
                 native snapshotter follow it, overlay snapshotters replace the symlink with a \
                 directory"
            }
            NoteKind::SymlinkEscapesRoot => {
                "a symlink in the path climbs above the root: most runtimes stop at the root, \
                 moby 25 and later refuse the layer"
            }
            NoteKind::ManySymlinks => {
                "the path follows more than 40 symlinks: the kernel refuses it inside Docker's \
                 chroot, containerd follows up to 255"
            }
            NoteKind::CreatedThroughSymlink => {
                "missing directories are created through a symlink: containerd creates them, \
                 Docker 20.10 refuses the layer"
            }
            NoteKind::LowerFileAsDirectory => {
                "a file of a lower layer is used as a directory: overlay snapshotters shadow it \
                 with a directory, Docker (vfs) and containerd's native snapshotter refuse the \
                 layer"
            }
            NoteKind::BareWhiteout => {
                "a whiteout with no name (.wh., .wh.., .wh...): Docker and Podman (vfs) delete \
                 a directory with it, containerd refuses the layer"
            }
            NoteKind::WhiteoutOfOwnLayer => {
                "a whiteout deletes an entry of its own layer: Docker (vfs) and containerd's \
                 native snapshotter delete it, overlay snapshotters refuse the layer"
            }
            NoteKind::OpaqueRemovesOwnLayer => {
                "an opaque whiteout removes entries its own layer wrote into a lower \
                 directory: Docker (vfs) and native snapshotters remove them, overlay \
                 snapshotters keep them"
            }
            NoteKind::OpaqueThroughSymlink => {
                "an opaque whiteout on a symlink: Docker 20.10 ignores it, containerd empties \
                 the symlink's target, overlay snapshotters replace the symlink"
            }
            NoteKind::GlobalHeaderRemoves => {
                "a PAX global header named like a path of a lower layer: Docker, Podman (vfs) \
                 and containerd's native snapshotter delete that path, overlay snapshotters \
                 keep it"
            }
            NoteKind::HardlinkToLowerLayer => {
                "a hard link to a file of a lower layer: overlay snapshotters refuse the layer"
            }
            NoteKind::HardlinkToSymlink => {
                "a hard link to a symlink: runtimes differ in which of the link entry's times \
                 they set"
            }
            NoteKind::CapabilityKept => {
                "a hard link entry without capabilities over a file that has some: Docker and \
                 containerd drop them (chown), Podman keeps them when the owner is unchanged"
            }
            NoteKind::EmptyXattr => {
                "an extended attribute with an empty value: Docker 20.10 and Podman before \
                 storage 1.55 do not set it, others set it empty"
            }
            NoteKind::TrustedXattr => {
                "a trusted.* extended attribute: containerd skips it, Docker and Podman set it"
            }
            NoteKind::SelinuxXattr => {
                "a security.selinux extended attribute: Podman skips it, Docker and containerd \
                 set it"
            }
            NoteKind::DeviceOutOfRange => {
                "a device number beyond 32 bits: truncated by most runtimes, refused by moby 25 \
                 and later"
            }
        }
    }
}

/// An entry whose effect depends on the runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The entry's name as the layer spells it.
    pub name: String,
    /// The entry's index in its layer.
    pub position: usize,
    pub kind: NoteKind,
}

/// Why every container runtime refuses a layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("its type {0:?} is one no container runtime unpacks (unhandled tar header type {1})")]
    UnknownType(char, u8),
    #[error("it is a hard link to {0}, which does not exist")]
    LinkTargetMissing(String),
    #[error("it is a hard link to {0}, which is a directory")]
    LinkToDirectory(String),
    #[error("{0} is not a directory")]
    NotADirectory(String),
    #[error("it is a whiteout of the root directory")]
    WhiteoutOfRoot,
    #[error("its directory is removed later in the same layer, so its times cannot be set")]
    DirectoryRemoved,
    #[error("it follows more than {MAX_LINKS} symlinks")]
    TooManyLinks,
}

/// A layer every runtime refuses, at the entry that makes it so.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "entry {name:?} (number {position} in the layer): {why}; every container runtime refuses this layer"
)]
pub struct ApplyError {
    pub name: String,
    pub position: usize,
    pub why: Refusal,
}

/// What one entry did, for the entries a caller asked about.
#[derive(Debug, Clone, Default)]
pub struct Effect {
    /// The tree changed in a way beyond the entry's own fields: something was removed, a
    /// missing directory created, a hard link made or broken.
    pub structural: bool,
    /// What was at the entry's path before it, for an entry that is not a whiteout.
    pub prior: Option<EntryMeta>,
    /// What is at the entry's path after it, for an entry that is not a whiteout.
    pub after: Option<EntryMeta>,
    /// The entry has a [`Note`].
    pub noted: bool,
}

/// The outcome of applying one layer.
#[derive(Debug, Default)]
pub struct Applied {
    pub notes: Vec<Note>,
    /// By entry index, for the entries asked about.
    pub effects: HashMap<usize, Effect>,
}

#[derive(Debug, Clone)]
struct Inode {
    meta: EntryMeta,
    /// Created by the runtime for a missing parent: its mode is the runtime's (0755, or 0600
    /// in Docker 20.10), not any layer's.
    implied: bool,
    refs: u32,
}

#[derive(Debug, Clone, Copy)]
struct Node {
    inode: usize,
    /// The layer that last wrote this path.
    layer: usize,
}

/// A root file system as metadata: clean path → inode. The root itself is implicit.
#[derive(Debug, Default)]
pub struct Tree {
    paths: BTreeMap<String, Node>,
    inodes: Vec<Inode>,
    free: Vec<usize>,
}

/// The state of one layer being applied.
#[derive(Default)]
struct LayerState {
    layer: usize,
    /// Paths created or written by this layer (implied directories included).
    written: HashSet<String>,
    /// Paths of this layer's entries other than whiteouts: what an opaque whiteout spares.
    unpacked: HashSet<String>,
    /// Names as the duplicate check of Docker's and Podman's layer stores sees them.
    names: HashSet<String>,
    /// Directory entries (position, name), whose times runtimes set again at the end of the
    /// layer.
    dirs: Vec<(usize, String)>,
    notes: Vec<Note>,
}

/// The current entry, for notes and refusals.
struct Current<'a> {
    entry: &'a EntryMeta,
    noted: BTreeSet<NoteKind>,
    structural: bool,
}

impl Current<'_> {
    fn note(&mut self, kind: NoteKind) {
        self.noted.insert(kind);
    }

    fn refuse(&self, why: Refusal) -> ApplyError {
        ApplyError {
            name: self.entry.name.clone(),
            position: self.entry.position,
            why,
        }
    }
}

/// How a path resolves.
enum Resolved {
    /// An existing path (or the root, `""`).
    Found(String),
    Missing,
}

/// Clamps a time to what `chtimes` sets: nothing before the epoch.
fn bound(t: Time) -> Time {
    if t.secs < 0 {
        Time { secs: 0, nanos: 0 }
    } else {
        t
    }
}

impl Tree {
    /// Every path, with the metadata of what is there, in path order. Names of one inode after
    /// the first are hard links to the first.
    pub fn listing(&self) -> Vec<EntryMeta> {
        let mut first: HashMap<usize, &str> = HashMap::new();
        self.paths
            .iter()
            .map(|(path, node)| {
                let inode = &self.inodes[node.inode];
                let mut e = inode.meta.clone();
                e.name = path.clone();
                if inode.refs > 1 {
                    match first.get(&node.inode) {
                        Some(primary) => {
                            e.kind = EntryType::Hardlink;
                            e.link = Some((*primary).to_owned());
                        }
                        None => {
                            first.insert(node.inode, path);
                        }
                    }
                }
                e.implied = inode.implied;
                e
            })
            .collect()
    }

    /// What is at `path` (clean): the metadata of its inode, named and numbered as the entry
    /// that last wrote the inode (`layer`, `position`, `name` as that layer spells it), which is
    /// where its content can be read again.
    pub fn get(&self, path: &str) -> Option<&EntryMeta> {
        self.paths.get(path).map(|n| &self.inodes[n.inode].meta)
    }

    /// Every path with the metadata of its inode (see [`Tree::get`]), in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &EntryMeta)> {
        self.paths
            .iter()
            .map(|(p, n)| (p.as_str(), &self.inodes[n.inode].meta))
    }

    /// Number of paths.
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    fn alloc(&mut self, meta: EntryMeta, implied: bool) -> usize {
        let inode = Inode {
            meta,
            implied,
            refs: 0,
        };
        match self.free.pop() {
            Some(i) => {
                self.inodes[i] = inode;
                i
            }
            None => {
                self.inodes.push(inode);
                self.inodes.len() - 1
            }
        }
    }

    fn put(&mut self, path: String, inode: usize, layer: usize) {
        self.inodes[inode].refs += 1;
        if let Some(old) = self.paths.insert(path, Node { inode, layer }) {
            self.release(old.inode);
        }
    }

    fn release(&mut self, inode: usize) {
        let slot = &mut self.inodes[inode];
        slot.refs -= 1;
        if slot.refs == 0 {
            self.free.push(inode);
        }
    }

    fn descendants(&self, path: &str) -> Vec<String> {
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}/")
        };
        self.paths
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .filter(|k| !k.is_empty())
            .collect()
    }

    /// Removes `path` and everything below it; the paths removed.
    fn remove_all(&mut self, path: &str) -> Vec<String> {
        let mut gone = self.descendants(path);
        if !path.is_empty() && self.paths.contains_key(path) {
            gone.push(path.to_owned());
        }
        for p in &gone {
            if let Some(node) = self.paths.remove(p) {
                self.release(node.inode);
            }
        }
        gone
    }

    /// Resolves the directory `comps` inside the root, following symlinks, creating missing
    /// directories when `create` (as every applier does for an entry's parents).
    fn resolve(
        &mut self,
        comps: &[&str],
        create: bool,
        state: &mut LayerState,
        cur: &mut Current<'_>,
    ) -> Result<Resolved, ApplyError> {
        let mut at: Vec<String> = Vec::new();
        let mut queue: std::collections::VecDeque<String> =
            comps.iter().map(|c| (*c).to_owned()).collect();
        let mut hops = 0;
        let mut via_symlink = false;
        while let Some(c) = queue.pop_front() {
            match c.as_str() {
                "" | "." => continue,
                ".." => {
                    if at.pop().is_none() {
                        cur.note(NoteKind::SymlinkEscapesRoot);
                    }
                    continue;
                }
                _ => {}
            }
            let path = join(&at.join("/"), &c);
            match self.paths.get(&path).copied() {
                None if !create => return Ok(Resolved::Missing),
                None => {
                    if via_symlink {
                        cur.note(NoteKind::CreatedThroughSymlink);
                    }
                    self.create_implied(&path, state);
                    cur.structural = true;
                }
                Some(node) => {
                    let inode = &self.inodes[node.inode];
                    match inode.meta.kind {
                        EntryType::Dir => {}
                        EntryType::Symlink => {
                            hops += 1;
                            if hops > MAX_LINKS {
                                return Err(cur.refuse(Refusal::TooManyLinks));
                            }
                            if hops == KERNEL_MAX_LINKS + 1 {
                                cur.note(NoteKind::ManySymlinks);
                            }
                            if node.layer < state.layer {
                                cur.note(NoteKind::LowerSymlinkParent);
                            }
                            via_symlink = true;
                            let target = inode.meta.link.clone().unwrap_or_default();
                            if target.starts_with('/') {
                                at.clear();
                            }
                            for part in target.split('/').rev() {
                                queue.push_front(part.to_owned());
                            }
                            continue;
                        }
                        _ if node.layer < state.layer && create => {
                            // Overlay snapshotters shadow it with a directory; follow them so
                            // that the rest of the layer can be modelled.
                            cur.note(NoteKind::LowerFileAsDirectory);
                            self.remove_all(&path);
                            self.create_implied(&path, state);
                            cur.structural = true;
                        }
                        _ => return Err(cur.refuse(Refusal::NotADirectory(path))),
                    }
                }
            }
            at.push(c);
        }
        Ok(Resolved::Found(at.join("/")))
    }

    fn create_implied(&mut self, path: &str, state: &mut LayerState) {
        let mut meta = EntryMeta::new(path, EntryType::Dir);
        meta.mode = 0o755;
        meta.layer = state.layer;
        let inode = self.alloc(meta, true);
        self.put(path.to_owned(), inode, state.layer);
        state.written.insert(path.to_owned());
    }

    /// Applies one layer's entries in stream order. `watch` names the entries (by index) whose
    /// [`Effect`] the caller wants.
    pub fn apply(
        &mut self,
        layer: usize,
        entries: &[EntryMeta],
        watch: &HashSet<usize>,
    ) -> Result<Applied, ApplyError> {
        let mut state = LayerState {
            layer,
            ..LayerState::default()
        };
        let mut effects = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            let mut cur = Current {
                entry: e,
                noted: BTreeSet::new(),
                structural: false,
            };
            let (prior, path) = self.apply_entry(e, &mut state, &mut cur)?;
            if watch.contains(&i) {
                effects.insert(
                    i,
                    Effect {
                        structural: cur.structural,
                        prior,
                        after: path.and_then(|p| self.get(&p).cloned()),
                        noted: !cur.noted.is_empty(),
                    },
                );
            }
            for kind in cur.noted {
                state.notes.push(Note {
                    name: e.name.clone(),
                    position: e.position,
                    kind,
                });
            }
        }
        // Runtimes set each directory entry's times once the layer is done, by its name.
        for (position, name) in std::mem::take(&mut state.dirs) {
            let entry = EntryMeta::new(&name, EntryType::Dir);
            let mut cur = Current {
                entry: &entry,
                noted: BTreeSet::new(),
                structural: false,
            };
            let (comps, _) = components(&name);
            if let Resolved::Missing = self.resolve(&comps, false, &mut state, &mut cur)? {
                return Err(ApplyError {
                    name,
                    position,
                    why: Refusal::DirectoryRemoved,
                });
            }
        }
        Ok(Applied {
            notes: state.notes,
            effects,
        })
    }

    /// Applies one entry; for an entry that writes a path, what was there before and the path.
    fn apply_entry(
        &mut self,
        e: &EntryMeta,
        state: &mut LayerState,
        cur: &mut Current<'_>,
    ) -> Result<(Option<EntryMeta>, Option<String>), ApplyError> {
        let (comps, escaped) = components(&e.name);
        if escaped {
            cur.note(NoteKind::EscapesRoot);
        }
        if !state.names.insert(go_clean(&e.name)) {
            cur.note(NoteKind::DuplicatePath);
        }
        let Some((&base, dir_comps)) = comps.split_last() else {
            let default =
                e.kind == EntryType::Dir && e.mode & 0o7777 == 0o755 && e.uid == 0 && e.gid == 0;
            if !default {
                cur.note(NoteKind::RootEntry);
            }
            return Ok((None, None));
        };
        if comps[0].starts_with(".wh..wh.") && !(comps.len() == 1 && base == OPAQUE) {
            cur.note(NoteKind::AufsMetadata);
        }
        let Resolved::Found(dir) = self.resolve(dir_comps, true, state, cur)? else {
            unreachable!("resolving with `create` finds or makes every directory");
        };
        if base == OPAQUE {
            self.opaque(&dir, dir_comps, state, cur)?;
            return Ok((None, None));
        }
        if let Some(target) = base.strip_prefix(WHITEOUT) {
            self.whiteout(&dir, target, state, cur)?;
            return Ok((None, None));
        }
        let path = join(&dir, base);
        let existing = self.paths.get(&path).copied();
        let prior = existing.map(|n| self.inodes[n.inode].meta.clone());
        if let Some(node) = existing {
            let merge =
                self.inodes[node.inode].meta.kind == EntryType::Dir && e.kind == EntryType::Dir;
            if !merge {
                if e.kind == EntryType::GlobalHeader && node.layer < state.layer {
                    cur.note(NoteKind::GlobalHeaderRemoves);
                }
                if self.inodes[node.inode].refs > 1 || !self.descendants(&path).is_empty() {
                    cur.structural = true;
                }
                self.remove_all(&path);
            }
        }
        match e.kind {
            EntryType::GlobalHeader => {
                if existing.is_some() {
                    cur.structural = true;
                }
            }
            EntryType::Other(flag) => {
                return Err(cur.refuse(Refusal::UnknownType(char::from(flag), flag)));
            }
            EntryType::Hardlink => self.hardlink(e, &path, state, cur)?,
            EntryType::Dir
                if existing.is_some_and(|n| self.inodes[n.inode].meta.kind == EntryType::Dir) =>
            {
                let node = existing.expect("checked");
                let inode = node.inode;
                let meta = &mut self.inodes[inode].meta;
                set_attributes(meta, e, true);
                meta.name.clone_from(&e.name);
                meta.position = e.position;
                meta.layer = e.layer;
                meta.format = e.format;
                meta.pax.clone_from(&e.pax);
                self.inodes[inode].implied = false;
                self.paths.insert(
                    path.clone(),
                    Node {
                        inode,
                        layer: state.layer,
                    },
                );
                check_xattrs(e, cur);
            }
            _ => {
                let mut meta = e.clone();
                meta.uid = 0;
                meta.gid = 0;
                meta.xattrs.clear();
                set_attributes(&mut meta, e, false);
                if e.kind == EntryType::Symlink {
                    meta.mode = 0o777;
                }
                if let Some((major, minor)) = e.device {
                    let fits = |n: i64| u32::try_from(n).is_ok();
                    if !fits(major) || !fits(minor) {
                        cur.note(NoteKind::DeviceOutOfRange);
                    }
                    meta.device = Some((i64::from(major as u32), i64::from(minor as u32)));
                }
                check_xattrs(e, cur);
                let inode = self.alloc(meta, false);
                self.put(path.clone(), inode, state.layer);
            }
        }
        state.written.insert(path.clone());
        state.unpacked.insert(path.clone());
        if e.kind == EntryType::Dir {
            state.dirs.push((e.position, e.name.clone()));
        }
        Ok((prior, Some(path)))
    }

    fn hardlink(
        &mut self,
        e: &EntryMeta,
        path: &str,
        state: &mut LayerState,
        cur: &mut Current<'_>,
    ) -> Result<(), ApplyError> {
        cur.structural = true;
        let link = e.link.clone().unwrap_or_default();
        let (comps, escaped) = components(&link);
        if escaped {
            cur.note(NoteKind::EscapesRoot);
        }
        let missing = || Refusal::LinkTargetMissing(clean(&link));
        let Some((&base, dir_comps)) = comps.split_last() else {
            return Err(cur.refuse(Refusal::LinkToDirectory("/".into())));
        };
        let Resolved::Found(dir) = self.resolve(dir_comps, false, state, cur)? else {
            return Err(cur.refuse(missing()));
        };
        let target = join(&dir, base);
        let Some(node) = self.paths.get(&target).copied() else {
            return Err(cur.refuse(missing()));
        };
        let inode = node.inode;
        match self.inodes[inode].meta.kind {
            EntryType::Dir => return Err(cur.refuse(Refusal::LinkToDirectory(target))),
            EntryType::Symlink => cur.note(NoteKind::HardlinkToSymlink),
            _ => {}
        }
        if node.layer < state.layer && !state.written.contains(&target) {
            cur.note(NoteKind::HardlinkToLowerLayer);
        }
        self.put(path.to_owned(), inode, state.layer);
        let meta = &mut self.inodes[inode].meta;
        let had_caps = meta.xattrs.contains_key("security.capability");
        let same_owner = owner(e.uid, meta.uid) == meta.uid && owner(e.gid, meta.gid) == meta.gid;
        if had_caps && same_owner && !e.xattrs.contains_key("security.capability") {
            cur.note(NoteKind::CapabilityKept);
        }
        if meta.kind == EntryType::File {
            // chown drops a regular file's capabilities, and the link entry's chown is no
            // exception.
            meta.xattrs.remove("security.capability");
        }
        let symlink = meta.kind == EntryType::Symlink;
        set_attributes(meta, e, true);
        if symlink {
            meta.mode = 0o777;
        }
        check_xattrs(e, cur);
        Ok(())
    }

    fn whiteout(
        &mut self,
        dir: &str,
        target: &str,
        state: &mut LayerState,
        cur: &mut Current<'_>,
    ) -> Result<(), ApplyError> {
        let victim = match target {
            "" | "." => dir.to_owned(),
            ".." => parent(dir).to_owned(),
            name => join(dir, name),
        };
        if matches!(target, "" | "." | "..") {
            if victim.is_empty() {
                return Err(cur.refuse(Refusal::WhiteoutOfRoot));
            }
            cur.note(NoteKind::BareWhiteout);
        }
        if !self.paths.contains_key(&victim) {
            return Ok(());
        }
        let gone = self.remove_all(&victim);
        if gone.iter().any(|p| state.written.contains(p)) {
            cur.note(NoteKind::WhiteoutOfOwnLayer);
        }
        cur.structural = true;
        Ok(())
    }

    fn opaque(
        &mut self,
        dir: &str,
        dir_comps: &[&str],
        state: &mut LayerState,
        cur: &mut Current<'_>,
    ) -> Result<(), ApplyError> {
        // Does the directory's own name resolve through a symlink?
        if let Some((_, above)) = dir_comps.split_last() {
            let Resolved::Found(above) = self.resolve(above, false, state, cur)? else {
                unreachable!("the directory was just resolved");
            };
            let named = join(&above, dir_comps[dir_comps.len() - 1]);
            if self
                .paths
                .get(&named)
                .is_some_and(|n| self.inodes[n.inode].meta.kind == EntryType::Symlink)
            {
                cur.note(NoteKind::OpaqueThroughSymlink);
            }
        }
        let mut removed: Vec<String> = Vec::new();
        for p in self.descendants(dir) {
            if removed.iter().any(|r| {
                p.len() > r.len() && p.starts_with(r.as_str()) && p.as_bytes()[r.len()] == b'/'
            }) {
                continue;
            }
            if state.unpacked.contains(&p) {
                continue;
            }
            let gone = self.remove_all(&p);
            if gone.iter().any(|g| state.written.contains(g)) {
                cur.note(NoteKind::OpaqueRemovesOwnLayer);
            }
            cur.structural = true;
            removed.push(p);
        }
        Ok(())
    }
}

/// `chown`'s view of an id: the low 32 bits, and all ones meaning "leave it as it is".
fn owner(requested: i64, current: i64) -> i64 {
    match requested as u32 {
        u32::MAX => current,
        id => i64::from(id),
    }
}

/// Sets what an applier sets after creating a node, in its order: owner, extended attributes
/// (added to what a merged directory or linked inode has), permission bits, times. Owner
/// names are not part of a file system: runtimes apply the numbers.
fn set_attributes(meta: &mut EntryMeta, e: &EntryMeta, keep_xattrs: bool) {
    meta.uid = owner(e.uid, meta.uid);
    meta.gid = owner(e.gid, meta.gid);
    meta.uname.clear();
    meta.gname.clear();
    if !keep_xattrs {
        meta.xattrs.clear();
    }
    for (k, v) in &e.xattrs {
        meta.xattrs.insert(k.clone(), v.clone());
    }
    meta.mode = e.mode & 0o7777;
    let mtime = bound(e.mtime);
    meta.mtime = mtime;
    meta.atime = Some(bound(e.atime.map_or(mtime, |a| a.max(mtime))));
    meta.ctime = None;
}

fn check_xattrs(e: &EntryMeta, cur: &mut Current<'_>) {
    for (k, v) in &e.xattrs {
        if v.is_empty() {
            cur.note(NoteKind::EmptyXattr);
        }
        if k.starts_with("trusted.") {
            cur.note(NoteKind::TrustedXattr);
        }
        if k == "security.selinux" {
            cur.note(NoteKind::SelinuxXattr);
        }
    }
}

#[cfg(test)]
mod tests;
