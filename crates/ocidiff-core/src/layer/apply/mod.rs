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

mod notes;
mod paths;
mod plain;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use super::entry::{EntryMeta, EntryType, Time};
use super::walk::Listing;
pub use notes::{ApplyError, Note, NoteKind, Refusal};
pub use paths::clean;
use paths::{components, go_clean_hash};
pub use plain::Plain;

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";
/// containerd's bound on symlinks followed in one path; the kernel's is 40.
const MAX_LINKS: usize = 255;
const KERNEL_MAX_LINKS: usize = 40;

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
    /// The entries runtimes treat differently, in layer order.
    pub notes: Vec<Note>,
    /// By entry index, for the entries asked about.
    pub effects: HashMap<usize, Effect>,
}

/// An inode: the entry that made it, and the attributes entries set on it since.
#[derive(Debug, Clone)]
struct Inode {
    /// (slot of the layer in [`Tree::layers`], index) of the entry that last wrote it; `None`
    /// for a directory the runtime made for a missing parent, whose mode is the runtime's
    /// (0755, or 0600 in Docker 20.10).
    src: Option<(u32, u32)>,
    kind: EntryType,
    uid: i64,
    gid: i64,
    mode: i64,
    mtime: Time,
    atime: Option<Time>,
    /// Extended attributes when entries other than `src` changed them (a merged directory, a
    /// hard link); `None` means the source entry's.
    xattrs: Option<BTreeMap<String, String>>,
    refs: u32,
}

/// A name in a directory.
#[derive(Debug, Default)]
struct Node {
    name: Box<str>,
    parent: u32,
    /// `NO_INODE` for the root.
    inode: u32,
    /// The layer that last wrote this path.
    layer: u32,
    /// Written by an entry (not created as a missing parent): what an opaque whiteout of the
    /// same layer spares.
    by_entry: bool,
    children: foldhash::HashMap<Box<str>, u32>,
}

const ROOT: u32 = 0;
const NO_INODE: u32 = u32::MAX;

/// A root file system as metadata: a tree of names over inodes, the inodes pointing at the
/// entries of the layers applied (kept, not copied). Node 0 is the root.
#[derive(Debug)]
pub struct Tree {
    layers: Vec<Arc<Listing>>,
    nodes: Vec<Node>,
    free_nodes: Vec<u32>,
    inodes: Vec<Inode>,
    free: Vec<u32>,
}

impl Default for Tree {
    fn default() -> Tree {
        Tree {
            layers: Vec::new(),
            nodes: vec![Node {
                inode: NO_INODE,
                ..Node::default()
            }],
            free_nodes: Vec::new(),
            inodes: Vec::new(),
            free: Vec::new(),
        }
    }
}

/// The state of one layer being applied.
struct LayerState {
    layer: u32,
    /// Hashes of the names as the duplicate check of Docker's and Podman's layer stores sees
    /// them.
    names: HashSet<u64, foldhash::fast::FixedState>,
    seed: foldhash::fast::FixedState,
    name_buf: String,
    /// Positions of directory entries, whose times runtimes set again at the end of the layer.
    dirs: Vec<usize>,
    notes: Vec<Note>,
    /// Applying the layer on its own ([`Tree::apply_alone`]): stop at the first entry whose
    /// effect could depend on the layers below.
    alone: bool,
}

/// Why applying stopped.
enum Stop {
    Refused(ApplyError),
    /// On its own, the layer reached something the layers below could hold.
    Lower,
}

impl From<ApplyError> for Stop {
    fn from(e: ApplyError) -> Stop {
        Stop::Refused(e)
    }
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

/// Clamps a time to what `chtimes` sets: nothing before the epoch.
fn bound(t: Time) -> Time {
    if t.secs < 0 {
        Time { secs: 0, nanos: 0 }
    } else {
        t
    }
}

/// `chown`'s view of an id: the low 32 bits, and all ones meaning "leave it as it is".
// Truncating on purpose: the kernel keeps the low 32 bits.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn owner(requested: i64, current: i64) -> i64 {
    match requested as u32 {
        u32::MAX => current,
        id => i64::from(id),
    }
}

impl Tree {
    /// Every path with what is there, in path order (see [`Tree::get`]). Names of one inode
    /// after the first are hard links to the first.
    pub fn listing(&self) -> Vec<EntryMeta> {
        let mut all = self.paths();
        all.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut first: foldhash::HashMap<u32, String> = foldhash::HashMap::default();
        all.into_iter()
            .map(|(path, node)| {
                let inode = self.nodes[node as usize].inode;
                let mut e = self.meta(inode);
                if self.inodes[inode as usize].refs > 1 {
                    match first.get(&inode) {
                        Some(primary) => {
                            e.kind = EntryType::Hardlink;
                            e.link = Some(primary.clone());
                        }
                        None => {
                            first.insert(inode, path.clone());
                        }
                    }
                }
                e.name = path;
                e
            })
            .collect()
    }

    /// Every path and its node, in no order.
    fn paths(&self) -> Vec<(String, u32)> {
        let mut out = Vec::new();
        let mut stack: Vec<(u32, String)> = vec![(ROOT, String::new())];
        while let Some((dir, prefix)) = stack.pop() {
            for (name, &child) in &self.nodes[dir as usize].children {
                let path = if prefix.is_empty() {
                    name.to_string()
                } else {
                    format!("{prefix}/{name}")
                };
                if !self.nodes[child as usize].children.is_empty() {
                    stack.push((child, path.clone()));
                }
                out.push((path, child));
            }
        }
        out
    }

    /// What is at `path` (clean): the inode's attributes, named and numbered as the entry that
    /// last wrote the inode (`layer`, `position`, `name` as that layer spells it), which is
    /// where its content can be read again. Owner names are not part of a file system
    /// (runtimes apply the numbers): there are none.
    pub fn get(&self, path: &str) -> Option<EntryMeta> {
        self.find(path)
            .map(|n| self.meta(self.nodes[n as usize].inode))
    }

    /// The node at `path` (clean), following no symlink.
    fn find(&self, path: &str) -> Option<u32> {
        if path.is_empty() {
            return None;
        }
        path.split('/').try_fold(ROOT, |dir, c| self.child(dir, c))
    }

    /// Every path with the entry that last wrote its inode, as that entry is in its layer
    /// (directories made for missing parents left out), in path order.
    pub fn sources(&self) -> Vec<(String, &EntryMeta)> {
        let mut out: Vec<(String, &EntryMeta)> = self
            .paths()
            .into_iter()
            .filter_map(|(p, n)| {
                let src = self.inodes[self.nodes[n as usize].inode as usize].src?;
                Some((p, self.entry(src)))
            })
            .collect();
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Number of paths.
    pub fn len(&self) -> usize {
        self.nodes.len() - 1 - self.free_nodes.len()
    }

    /// Whether [`len`](Self::len) is 0: nothing but the root.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn entry(&self, src: (u32, u32)) -> &EntryMeta {
        &self.layers[src.0 as usize].entries[src.1 as usize]
    }

    fn child(&self, dir: u32, name: &str) -> Option<u32> {
        self.nodes[dir as usize].children.get(name).copied()
    }

    fn kind(&self, node: u32) -> EntryType {
        match self.nodes[node as usize].inode {
            NO_INODE => EntryType::Dir,
            i => self.inodes[i as usize].kind,
        }
    }

    fn path_of(&self, mut node: u32) -> String {
        let mut parts = Vec::new();
        while node != ROOT {
            let n = &self.nodes[node as usize];
            parts.push(&*n.name);
            node = n.parent;
        }
        parts.reverse();
        parts.join("/")
    }

    /// The inode as an entry: its source entry with the attributes set since.
    fn meta(&self, inode: u32) -> EntryMeta {
        let i = &self.inodes[inode as usize];
        let mut e = if let Some(src) = i.src {
            self.entry(src).clone()
        } else {
            let mut e = EntryMeta::new("", EntryType::Dir);
            e.implied = true;
            e
        };
        e.kind = i.kind;
        e.uid = i.uid;
        e.gid = i.gid;
        e.mode = i.mode;
        e.mtime = i.mtime;
        e.atime = i.atime;
        e.ctime = None;
        e.uname.clear();
        e.gname.clear();
        if let Some(x) = &i.xattrs {
            e.xattrs = x.clone();
        }
        if i.kind == EntryType::Symlink {
            e.mode = 0o777;
        }
        if let Some((major, minor)) = e.device {
            // Truncating on purpose: the kernel keeps the low 32 bits, as with owner().
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let low = |n: i64| i64::from(n as u32);
            e.device = Some((low(major), low(minor)));
        }
        e
    }

    fn xattrs(&self, inode: u32) -> &BTreeMap<String, String> {
        let i = &self.inodes[inode as usize];
        match (&i.xattrs, i.src) {
            (Some(x), _) => x,
            (None, Some(src)) => &self.entry(src).xattrs,
            (None, None) => {
                static EMPTY: BTreeMap<String, String> = BTreeMap::new();
                &EMPTY
            }
        }
    }

    fn alloc(&mut self, inode: Inode) -> u32 {
        if let Some(i) = self.free.pop() {
            self.inodes[i as usize] = inode;
            i
        } else {
            self.inodes.push(inode);
            u32::try_from(self.inodes.len() - 1).expect("fewer than 4 Gi inodes")
        }
    }

    /// Names `inode` as `name` in `dir` (which holds no such name).
    fn put(&mut self, dir: u32, name: &str, inode: u32, layer: u32, by_entry: bool) -> u32 {
        self.inodes[inode as usize].refs += 1;
        let node = Node {
            name: name.into(),
            parent: dir,
            inode,
            layer,
            by_entry,
            children: foldhash::HashMap::default(),
        };
        let id = if let Some(id) = self.free_nodes.pop() {
            self.nodes[id as usize] = node;
            id
        } else {
            self.nodes.push(node);
            u32::try_from(self.nodes.len() - 1).expect("fewer than 4 Gi paths")
        };
        self.nodes[dir as usize].children.insert(name.into(), id);
        id
    }

    fn release(&mut self, inode: u32) {
        let slot = &mut self.inodes[inode as usize];
        slot.refs -= 1;
        if slot.refs == 0 {
            slot.xattrs = None;
            self.free.push(inode);
        }
    }

    /// Removes `node` and everything below it; whether any of it was written by `layer`.
    fn remove_all(&mut self, node: u32, layer: u32) -> bool {
        if node == ROOT {
            return false;
        }
        let (parent, name) = {
            let n = &self.nodes[node as usize];
            (n.parent, n.name.clone())
        };
        self.nodes[parent as usize].children.remove(&name);
        let mut own = false;
        let mut stack = vec![node];
        while let Some(id) = stack.pop() {
            let n = std::mem::take(&mut self.nodes[id as usize]);
            own |= n.layer == layer;
            stack.extend(n.children.values().copied());
            self.release(n.inode);
            self.free_nodes.push(id);
        }
        own
    }

    /// Resolves the directory `comps` inside the root, following symlinks, creating missing
    /// directories when `create` (as every applier does for an entry's parents); `None` when a
    /// directory is missing and not to be created.
    fn resolve(
        &mut self,
        comps: &[&str],
        create: bool,
        state: &LayerState,
        cur: &mut Current<'_>,
    ) -> Result<Option<u32>, Stop> {
        // The common case, directories all the way: no allocation.
        let mut at = ROOT;
        for (i, c) in comps.iter().enumerate() {
            match self.child(at, c) {
                Some(n) if self.kind(n) == EntryType::Dir => at = n,
                _ => return self.resolve_links(at, &comps[i..], create, state, cur),
            }
        }
        Ok(Some(at))
    }

    /// [`Tree::resolve`] from directory `start` on, following symlinks.
    fn resolve_links(
        &mut self,
        start: u32,
        comps: &[&str],
        create: bool,
        state: &LayerState,
        cur: &mut Current<'_>,
    ) -> Result<Option<u32>, Stop> {
        if state.alone {
            // A missing parent, or a symlink on the way, is where the layers below matter.
            return Err(Stop::Lower);
        }
        // The directories from the root down to where the walk is, for `..`.
        let mut at: Vec<u32> = Vec::new();
        let mut n = start;
        while n != ROOT {
            at.push(n);
            n = self.nodes[n as usize].parent;
        }
        at.reverse();
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
            let dir = at.last().copied().unwrap_or(ROOT);
            let next = match self.child(dir, &c) {
                None if !create => return Ok(None),
                None => {
                    if via_symlink {
                        cur.note(NoteKind::CreatedThroughSymlink);
                    }
                    cur.structural = true;
                    self.create_implied(dir, &c, state)
                }
                Some(node) => match self.kind(node) {
                    EntryType::Dir => node,
                    EntryType::Symlink => {
                        hops += 1;
                        if hops > MAX_LINKS {
                            return Err(cur.refuse(Refusal::TooManyLinks).into());
                        }
                        if hops == KERNEL_MAX_LINKS + 1 {
                            cur.note(NoteKind::ManySymlinks);
                        }
                        if self.nodes[node as usize].layer < state.layer {
                            cur.note(NoteKind::LowerSymlinkParent);
                        }
                        via_symlink = true;
                        let inode = &self.inodes[self.nodes[node as usize].inode as usize];
                        let src = inode.src.expect("a symlink has an entry");
                        let target = self.entry(src).link.clone().unwrap_or_default();
                        if target.starts_with('/') {
                            at.clear();
                        }
                        for part in target.split('/').rev() {
                            queue.push_front(part.to_owned());
                        }
                        continue;
                    }
                    _ if self.nodes[node as usize].layer < state.layer && create => {
                        // Overlay snapshotters shadow it with a directory; follow them so
                        // that the rest of the layer can be modelled.
                        cur.note(NoteKind::LowerFileAsDirectory);
                        cur.structural = true;
                        self.remove_all(node, state.layer);
                        self.create_implied(dir, &c, state)
                    }
                    _ => {
                        return Err(cur
                            .refuse(Refusal::NotADirectory(self.path_of(node)))
                            .into());
                    }
                },
            };
            at.push(next);
        }
        Ok(Some(at.last().copied().unwrap_or(ROOT)))
    }

    fn create_implied(&mut self, dir: u32, name: &str, state: &LayerState) -> u32 {
        let inode = self.alloc(Inode {
            src: None,
            kind: EntryType::Dir,
            uid: 0,
            gid: 0,
            mode: 0o755,
            mtime: Time::default(),
            atime: None,
            xattrs: None,
            refs: 0,
        });
        self.put(dir, name, inode, state.layer, false)
    }

    /// Applies one layer's entries in stream order as the manifest's `layer`-th layer (layers
    /// are applied in order). `watch` names the entries (by index) whose [`Effect`] the
    /// caller wants.
    pub fn apply<S: std::hash::BuildHasher>(
        &mut self,
        layer: usize,
        listing: Arc<Listing>,
        watch: &HashSet<usize, S>,
    ) -> Result<Applied, ApplyError> {
        match self.apply_layer(layer, listing, watch, false) {
            Ok(applied) => Ok(applied),
            Err(Stop::Refused(e)) => Err(e),
            Err(Stop::Lower) => unreachable!("only a layer applied alone stops there"),
        }
    }

    /// Applies one layer on its own, as the `layer`-th of its manifest: its notes, or `None`
    /// when what an entry does could depend on the layers below — the layer does not name
    /// (before them) the parent directories of its entries as directories, writes through a
    /// symlink or a path twice, holds a PAX global header or hard-links to a file it did not
    /// write. A layer that stands alone is refused, and noted, as it would be over any layers.
    pub fn apply_alone(layer: usize, listing: Arc<Listing>) -> Result<Option<Applied>, ApplyError> {
        let mut tree = Tree::default();
        match tree.apply_layer(layer, listing, &HashSet::<usize>::new(), true) {
            Ok(applied) => Ok(Some(applied)),
            Err(Stop::Refused(e)) => Err(e),
            Err(Stop::Lower) => Ok(None),
        }
    }

    fn apply_layer<S: std::hash::BuildHasher>(
        &mut self,
        layer: usize,
        listing: Arc<Listing>,
        watch: &HashSet<usize, S>,
        alone: bool,
    ) -> Result<Applied, Stop> {
        let slot = u32::try_from(self.layers.len()).expect("fewer than 4 Gi layers");
        self.layers.push(listing);
        let listing = Arc::clone(&self.layers[slot as usize]);
        let mut state = LayerState {
            layer: u32::try_from(layer).expect("fewer than 4 Gi layers"),
            names: HashSet::default(),
            seed: foldhash::fast::FixedState::with_seed(0x6f63_6964),
            name_buf: String::new(),
            dirs: Vec::new(),
            notes: Vec::new(),
            alone,
        };
        let mut effects = HashMap::new();
        for (i, e) in listing.entries.iter().enumerate() {
            let mut cur = Current {
                entry: e,
                noted: BTreeSet::new(),
                structural: false,
            };
            let watched = watch.contains(&i);
            let src = (slot, u32::try_from(i).expect("fewer than 4 Gi entries"));
            let (prior, written) = self.apply_entry(src, e, &mut state, &mut cur, watched)?;
            if watched {
                effects.insert(
                    i,
                    Effect {
                        structural: cur.structural,
                        prior,
                        after: written.map(|n| self.meta(self.nodes[n as usize].inode)),
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
        for index in std::mem::take(&mut state.dirs) {
            let e = &listing.entries[index];
            let mut cur = Current {
                entry: e,
                noted: BTreeSet::new(),
                structural: false,
            };
            let (comps, _) = components(&e.name);
            if self.resolve(&comps, false, &state, &mut cur)?.is_none() {
                return Err(cur.refuse(Refusal::DirectoryRemoved).into());
            }
        }
        Ok(Applied {
            notes: state.notes,
            effects,
        })
    }

    /// Applies the entry `src`; for an entry that writes a path, what was there before (when
    /// `watched`) and the node written.
    fn apply_entry(
        &mut self,
        src: (u32, u32),
        e: &EntryMeta,
        state: &mut LayerState,
        cur: &mut Current<'_>,
        watched: bool,
    ) -> Result<(Option<EntryMeta>, Option<u32>), Stop> {
        let (comps, escaped) = components(&e.name);
        if escaped {
            cur.note(NoteKind::EscapesRoot);
        }
        record_name(e, state, cur)?;
        let Some((&base, dir_comps)) = comps.split_last() else {
            note_root_entry(e, cur);
            return Ok((None, None));
        };
        if comps[0].starts_with(".wh..wh.") && !(comps.len() == 1 && base == OPAQUE) {
            cur.note(NoteKind::AufsMetadata);
        }
        let dir = self
            .resolve(dir_comps, true, state, cur)?
            .expect("resolving with `create` finds or makes every directory");
        if self.whiteout_or_opaque(dir, dir_comps, base, state, cur)? {
            return Ok((None, None));
        }
        if e.kind == EntryType::GlobalHeader && state.alone {
            // It removes whatever the layers below hold at its name.
            return Err(Stop::Lower);
        }
        let existing = self.child(dir, base);
        let prior = existing
            .filter(|_| watched)
            .map(|n| self.meta(self.nodes[n as usize].inode));
        let merge =
            existing.is_some_and(|n| self.kind(n) == EntryType::Dir && e.kind == EntryType::Dir);
        if let (Some(node), false) = (existing, merge) {
            self.replace(node, e, state, cur);
        }
        let written = match e.kind {
            EntryType::GlobalHeader => {
                if existing.is_some() {
                    cur.structural = true;
                }
                None
            }
            EntryType::Other(flag) => {
                return Err(cur
                    .refuse(Refusal::UnknownType(char::from(flag), flag))
                    .into());
            }
            EntryType::Hardlink => Some(self.hardlink(e, dir, base, state, cur)?),
            EntryType::Dir if merge => {
                let node = existing.expect("merging into what exists");
                Some(self.merge_dir(node, src, e, state, cur))
            }
            _ => Some(self.create(dir, base, src, e, state, cur)),
        };
        if e.kind == EntryType::Dir {
            state.dirs.push(src.1 as usize);
        }
        Ok((prior, written))
    }

    /// Removes `node`, which the entry `e` replaces (an entry other than a directory over a
    /// directory).
    fn replace(&mut self, node: u32, e: &EntryMeta, state: &LayerState, cur: &mut Current<'_>) {
        if e.kind == EntryType::GlobalHeader && self.nodes[node as usize].layer < state.layer {
            cur.note(NoteKind::GlobalHeaderRemoves);
        }
        let inode = self.nodes[node as usize].inode;
        if self.inodes[inode as usize].refs > 1 || !self.nodes[node as usize].children.is_empty() {
            cur.structural = true;
        }
        self.remove_all(node, state.layer);
    }

    /// A directory entry over the directory `node`: it stays, with the entry's attributes.
    fn merge_dir(
        &mut self,
        node: u32,
        src: (u32, u32),
        e: &EntryMeta,
        state: &LayerState,
        cur: &mut Current<'_>,
    ) -> u32 {
        let inode = self.nodes[node as usize].inode;
        // A merge keeps the directory's extended attributes and adds the entry's.
        let mut merged = self.xattrs(inode).clone();
        merged.extend(e.xattrs.iter().map(|(k, v)| (k.clone(), v.clone())));
        let slot = &mut self.inodes[inode as usize];
        set_attributes(slot, e);
        slot.src = Some(src);
        slot.xattrs = (merged != e.xattrs).then_some(merged);
        let n = &mut self.nodes[node as usize];
        n.layer = state.layer;
        n.by_entry = true;
        check_xattrs(e, cur);
        node
    }

    /// Applies the entry at `dir/base` if it is an opaque marker or a whiteout; `false` when
    /// it is neither.
    fn whiteout_or_opaque(
        &mut self,
        dir: u32,
        dir_comps: &[&str],
        base: &str,
        state: &LayerState,
        cur: &mut Current<'_>,
    ) -> Result<bool, Stop> {
        if base == OPAQUE {
            self.opaque(dir, dir_comps, state, cur)?;
            return Ok(true);
        }
        if let Some(target) = base.strip_prefix(WHITEOUT) {
            self.whiteout(dir, target, state, cur)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// A new node and inode for the entry `src` at `dir/base`.
    fn create(
        &mut self,
        dir: u32,
        base: &str,
        src: (u32, u32),
        e: &EntryMeta,
        state: &LayerState,
        cur: &mut Current<'_>,
    ) -> u32 {
        let mut inode = Inode {
            src: Some(src),
            kind: e.kind,
            uid: 0,
            gid: 0,
            mode: 0,
            mtime: Time::default(),
            atime: None,
            xattrs: None,
            refs: 0,
        };
        set_attributes(&mut inode, e);
        if let Some((major, minor)) = e.device {
            if u32::try_from(major).is_err() || u32::try_from(minor).is_err() {
                cur.note(NoteKind::DeviceOutOfRange);
            }
        }
        check_xattrs(e, cur);
        let inode = self.alloc(inode);
        self.put(dir, base, inode, state.layer, true)
    }

    fn hardlink(
        &mut self,
        e: &EntryMeta,
        dir: u32,
        base: &str,
        state: &LayerState,
        cur: &mut Current<'_>,
    ) -> Result<u32, Stop> {
        cur.structural = true;
        let link = e.link.clone().unwrap_or_default();
        let (comps, escaped) = components(&link);
        if escaped {
            cur.note(NoteKind::EscapesRoot);
        }
        let missing = |cur: &Current<'_>| {
            if state.alone {
                // The target could be a file of the layers below.
                Stop::Lower
            } else {
                Stop::Refused(cur.refuse(Refusal::LinkTargetMissing(clean(&link))))
            }
        };
        let Some((&target_base, target_dir)) = comps.split_last() else {
            return Err(cur.refuse(Refusal::LinkToDirectory("/".into())).into());
        };
        let Some(target_dir) = self.resolve(target_dir, false, state, cur)? else {
            return Err(missing(cur));
        };
        let Some(target) = self.child(target_dir, target_base) else {
            return Err(missing(cur));
        };
        let kind = self.kind(target);
        match kind {
            EntryType::Dir => {
                return Err(cur
                    .refuse(Refusal::LinkToDirectory(self.path_of(target)))
                    .into());
            }
            EntryType::Symlink => cur.note(NoteKind::HardlinkToSymlink),
            _ => {}
        }
        if self.nodes[target as usize].layer < state.layer {
            cur.note(NoteKind::HardlinkToLowerLayer);
        }
        let inode = self.nodes[target as usize].inode;
        let mut xattrs = self.xattrs(inode).clone();
        let node = self.put(dir, base, inode, state.layer, true);
        let slot = &mut self.inodes[inode as usize];
        let same_owner = owner(e.uid, slot.uid) == slot.uid && owner(e.gid, slot.gid) == slot.gid;
        if xattrs.contains_key("security.capability")
            && same_owner
            && !e.xattrs.contains_key("security.capability")
        {
            cur.note(NoteKind::CapabilityKept);
        }
        if kind == EntryType::File {
            // chown drops a regular file's capabilities, and the link entry's chown is no
            // exception.
            xattrs.remove("security.capability");
        }
        xattrs.extend(e.xattrs.iter().map(|(k, v)| (k.clone(), v.clone())));
        set_attributes(slot, e);
        slot.xattrs = Some(xattrs);
        check_xattrs(e, cur);
        Ok(node)
    }

    fn whiteout(
        &mut self,
        dir: u32,
        target: &str,
        state: &LayerState,
        cur: &mut Current<'_>,
    ) -> Result<(), Stop> {
        let victim = match target {
            "" | "." => Some(dir),
            ".." => Some(if dir == ROOT {
                ROOT
            } else {
                self.nodes[dir as usize].parent
            }),
            name => self.child(dir, name),
        };
        if matches!(target, "" | "." | "..") {
            if victim == Some(ROOT) {
                return Err(cur.refuse(Refusal::WhiteoutOfRoot).into());
            }
            cur.note(NoteKind::BareWhiteout);
        }
        let Some(victim) = victim else {
            return Ok(());
        };
        if self.remove_all(victim, state.layer) {
            cur.note(NoteKind::WhiteoutOfOwnLayer);
        }
        cur.structural = true;
        Ok(())
    }

    fn opaque(
        &mut self,
        dir: u32,
        dir_comps: &[&str],
        state: &LayerState,
        cur: &mut Current<'_>,
    ) -> Result<(), Stop> {
        // Does the directory's own name resolve through a symlink?
        if let Some((last, above)) = dir_comps.split_last() {
            if let Some(above) = self.resolve(above, false, state, cur)? {
                if self
                    .child(above, last)
                    .is_some_and(|n| self.kind(n) == EntryType::Symlink)
                {
                    cur.note(NoteKind::OpaqueThroughSymlink);
                }
            }
        }
        // What this layer wrote stays, and what is below it is looked at in turn.
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            let children: Vec<u32> = self.nodes[d as usize].children.values().copied().collect();
            for child in children {
                let n = &self.nodes[child as usize];
                if n.layer == state.layer && n.by_entry {
                    stack.push(child);
                    continue;
                }
                if self.remove_all(child, state.layer) {
                    cur.note(NoteKind::OpaqueRemovesOwnLayer);
                }
                cur.structural = true;
            }
        }
        Ok(())
    }
}

/// Records the entry's name as the duplicate check of Docker's and Podman's layer stores sees
/// it, noting a name written twice.
fn record_name(e: &EntryMeta, state: &mut LayerState, cur: &mut Current<'_>) -> Result<(), Stop> {
    if !state
        .names
        .insert(go_clean_hash(&e.name, &state.seed, &mut state.name_buf))
    {
        if state.alone {
            return Err(Stop::Lower);
        }
        cur.note(NoteKind::DuplicatePath);
    }
    Ok(())
}

/// Notes an entry for the root itself unless it is the root every runtime makes anyway: a
/// directory 0755 owned by 0:0.
fn note_root_entry(e: &EntryMeta, cur: &mut Current<'_>) {
    let default = e.kind == EntryType::Dir && e.mode & 0o7777 == 0o755 && e.uid == 0 && e.gid == 0;
    if !default {
        cur.note(NoteKind::RootEntry);
    }
}

/// Sets what an applier sets after creating a node, in its order: owner, permission bits,
/// times (extended attributes are the caller's).
fn set_attributes(inode: &mut Inode, e: &EntryMeta) {
    inode.uid = owner(e.uid, inode.uid);
    inode.gid = owner(e.gid, inode.gid);
    inode.mode = e.mode & 0o7777;
    let mtime = bound(e.mtime);
    inode.mtime = mtime;
    inode.atime = Some(bound(e.atime.map_or(mtime, |a| a.max(mtime))));
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
