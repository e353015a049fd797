//! rpm: the sqlite rpmdb (`Packages` table, one header blob per package), read by `sqlite`
//! when the `rpm` feature is on; without it, a database found is named in a note.

#[cfg(feature = "rpm")]
mod sqlite;

#[cfg(feature = "rpm")]
pub(super) use sqlite::{HeaderError, read};

/// Newest location first: where both exist, `var/lib/rpm` is usually a symlink to it.
const DATABASES: [&str; 2] = [
    "usr/lib/sysimage/rpm/rpmdb.sqlite",
    "var/lib/rpm/rpmdb.sqlite",
];
const WAL: &str = "-wal";

/// Formats rpm used before sqlite, which are not read.
const UNSUPPORTED: [&str; 4] = [
    "var/lib/rpm/Packages",
    "var/lib/rpm/Packages.db",
    "usr/lib/sysimage/rpm/Packages",
    "usr/lib/sysimage/rpm/Packages.db",
];

pub(super) fn wants(path: &str) -> bool {
    cfg!(feature = "rpm")
        && DATABASES
            .iter()
            .any(|db| path == *db || path.strip_prefix(db) == Some(WAL))
}

pub(super) fn unsupported(path: &str) -> Option<String> {
    if UNSUPPORTED.contains(&path) {
        return Some(format!(
            "{path}: rpm database in Berkeley DB or ndb format, not read: its packages are \
             not listed and do not own files"
        ));
    }
    (!cfg!(feature = "rpm") && DATABASES.contains(&path)).then(|| {
        format!(
            "{path}: rpm database not read, ocidiff-core was built without the `rpm` feature: \
             its packages are not listed and do not own files"
        )
    })
}
