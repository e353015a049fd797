//! What container runtimes do differently with an entry ([`NoteKind`]), and why all of them
//! refuse a layer ([`Refusal`]): the words the comparison reports them in.

use super::MAX_LINKS;

/// What an entry does that container runtimes do differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NoteKind {
    /// One layer writes the same path twice.
    DuplicatePath,
    /// A name that climbs above the root (`../x`).
    EscapesRoot,
    /// An entry for the root directory itself.
    RootEntry,
    /// An AUFS metadata name (`.wh..wh.*`).
    AufsMetadata,
    /// Written through a symlink a lower layer made.
    LowerSymlinkParent,
    /// A path through a symlink that climbs above the root.
    SymlinkEscapesRoot,
    /// A path that follows more than 40 symlinks.
    ManySymlinks,
    /// Missing parent directories that would be created through a symlink.
    CreatedThroughSymlink,
    /// A lower layer's file used as a directory.
    LowerFileAsDirectory,
    /// A whiteout with no name after its prefix.
    BareWhiteout,
    /// A whiteout that deletes an entry of its own layer.
    WhiteoutOfOwnLayer,
    /// An opaque whiteout that removes what its own layer wrote.
    OpaqueRemovesOwnLayer,
    /// An opaque whiteout on a symlink.
    OpaqueThroughSymlink,
    /// A PAX global header named like a path of a lower layer.
    GlobalHeaderRemoves,
    /// A hard link to a file of a lower layer.
    HardlinkToLowerLayer,
    /// A hard link to a symlink.
    HardlinkToSymlink,
    /// A hard link without capabilities over a file that has some.
    CapabilityKept,
    /// An extended attribute with an empty value.
    EmptyXattr,
    /// A `trusted.*` extended attribute.
    TrustedXattr,
    /// A `security.selinux` extended attribute.
    SelinuxXattr,
    /// A device number beyond 32 bits.
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
    /// What the runtimes do differently with it.
    pub kind: NoteKind,
}

/// Why every container runtime refuses a layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A tar type no runtime unpacks: the type as a character, and its byte.
    #[error("its type {0:?} is one no container runtime unpacks (unhandled tar header type {1})")]
    UnknownType(char, u8),
    /// A hard link to a path that does not exist (the target).
    #[error("it is a hard link to {0}, which does not exist")]
    LinkTargetMissing(String),
    /// A hard link to a directory (the target).
    #[error("it is a hard link to {0}, which is a directory")]
    LinkToDirectory(String),
    /// A file (the path named) the entry's path goes through as if it were a directory.
    #[error("{0} is not a directory")]
    NotADirectory(String),
    /// A whiteout of `/`.
    #[error("it is a whiteout of the root directory")]
    WhiteoutOfRoot,
    /// An entry whose directory is removed later in the same layer.
    #[error("its directory is removed later in the same layer, so its times cannot be set")]
    DirectoryRemoved,
    /// A path that follows more than 255 symlinks, where containerd gives up.
    #[error("it follows more than {MAX_LINKS} symlinks")]
    TooManyLinks,
}

/// A layer every runtime refuses, at the entry that makes it so.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "entry {name:?} (number {position} in the layer): {why}; every container runtime refuses this layer"
)]
pub struct ApplyError {
    /// The entry's name as the layer spells it.
    pub name: String,
    /// The entry's index in its layer.
    pub position: usize,
    /// Why the runtimes refuse it.
    pub why: Refusal,
}
