//! `--ignore-mount-points`: empty directories and empty files at the paths container runtimes
//! mount over. BuildKit, buildah and Podman create them as mount targets while a `RUN` step
//! runs and leave them in the layer; the classic builder does not. A container does not see
//! them: the runtime's mount hides them, or the runtime makes the same directory.
//!
//! Who mounts what (`docs/builders.md` has the sources):
//! - `/proc`, `/sys`, `/dev` and everything below them: Docker, Podman, containerd, CRI-O and
//!   so Kubernetes mount proc, sysfs and a tmpfs there (with `/dev/pts`, `/dev/shm`,
//!   `/dev/mqueue`, Kubernetes' `/dev/termination-log` below). Any empty directory or file
//!   there is hidden, whatever its mode and owner.
//! - `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf`: bind-mounted by Docker, Podman,
//!   CRI-O and the kubelet; hidden as above.
//! - `/etc` and `/run`, the parents of mount targets, which runtimes create (0755, root) when
//!   an image lacks them: `/etc` for the files above, `/run` for Podman's and CRI-O's
//!   `/run/.containerenv` (containerd's default spec mounts a tmpfs on `/run`). Such a
//!   directory is only a trace where the other image has nothing at that path and it is what
//!   the runtime would make: a directory, 0755, owned by root. Docker mounts nothing on
//!   `/run`, so there the image with it has an empty `/run` the other lacks.

use super::{Aspect, Rule};
use crate::layer::{EntryMeta, EntryType, clean};

pub(super) const RULE: Rule = Rule::new(
    "ignore-mount-points",
    "Ignore empty directories and empty files where runtimes mount (/proc, /sys, /dev, \
     /etc/hosts, /etc/hostname, /etc/resolv.conf, /run).",
    |r| &mut r.ignore_mount_points,
)
.setting_aside(&[Aspect::MountPoint]);

/// Mounted over, with everything below them.
const TREES: [&str; 3] = ["proc", "sys", "dev"];

/// Mounted over themselves; what is below them is not.
const FILES: [&str; 3] = ["etc/hosts", "etc/hostname", "etc/resolv.conf"];

/// Parents of mount targets, which runtimes create where missing.
const PARENTS: [&str; 2] = ["etc", "run"];

/// Whether `entry` is an empty directory or an empty regular file at a path runtimes mount
/// over in every container: what a builder leaves of a mount target. A link, a device or any
/// content counts.
pub fn mounted_over(entry: &EntryMeta) -> bool {
    let empty = match entry.kind {
        EntryType::Dir => true,
        EntryType::File => entry.size == 0,
        _ => false,
    };
    empty && is_mount_point(&clean(&entry.name))
}

/// Whether `entry` is the directory a runtime creates for a mount target below it, where an
/// image has none: to be set aside only where the other image has nothing at that path.
pub fn made_for_mounts(entry: &EntryMeta) -> bool {
    entry.kind == EntryType::Dir
        && entry.mode & 0o7777 == 0o755
        && entry.uid == 0
        && entry.gid == 0
        && PARENTS.contains(&clean(&entry.name).as_str())
}

/// Whether the cleaned path `path` is mounted over in every container.
fn is_mount_point(path: &str) -> bool {
    FILES.contains(&path)
        || TREES.iter().any(|tree| {
            path.strip_prefix(tree)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, kind: EntryType, size: u64) -> EntryMeta {
        EntryMeta {
            size,
            ..EntryMeta::new(name, kind)
        }
    }

    #[test]
    fn empty_entries_at_mount_points_only() {
        for name in [
            "dev/",
            "./proc",
            "/sys/",
            "dev/pts/",
            "dev/shm",
            "etc/hosts",
            "./etc/hostname",
            "etc/resolv.conf",
        ] {
            assert!(mounted_over(&entry(name, EntryType::Dir, 0)), "{name}");
        }
        for name in ["etc/hosts", "dev/termination-log"] {
            assert!(mounted_over(&entry(name, EntryType::File, 0)), "{name}");
            assert!(!mounted_over(&entry(name, EntryType::File, 1)), "{name}");
        }
        for name in [
            "devices/",
            "etc/",
            "run/",
            "etc/hosts.allow",
            "run/.containerenv",
            "var/run/",
            "procfs",
        ] {
            assert!(!mounted_over(&entry(name, EntryType::Dir, 0)), "{name}");
        }
        assert!(!mounted_over(&entry("dev/null", EntryType::Char, 0)));
        assert!(!mounted_over(&entry(
            "etc/resolv.conf",
            EntryType::Symlink,
            0
        )));
    }

    #[test]
    fn parents_only_as_a_runtime_makes_them() {
        let dir = |name: &str, mode: i64, uid: i64| EntryMeta {
            mode,
            uid,
            ..EntryMeta::new(name, EntryType::Dir)
        };
        assert!(made_for_mounts(&dir("etc/", 0o755, 0)));
        assert!(made_for_mounts(&dir("./run", 0o40755, 0)));
        assert!(!made_for_mounts(&dir("run/", 0o1777, 0)));
        assert!(!made_for_mounts(&dir("etc/", 0o755, 1000)));
        assert!(!made_for_mounts(&dir("var/", 0o755, 0)));
        assert!(!made_for_mounts(&entry("etc", EntryType::File, 0)));
    }
}
