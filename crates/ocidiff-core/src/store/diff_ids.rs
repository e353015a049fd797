//! Diff IDs ocidiff has computed, by the digest of the compressed blob they belong to.
//!
//! Checking a layer against its config's `rootfs.diff_ids` means decompressing and hashing it
//! whole, even a layer both images share and nothing else needs to read. What a blob
//! decompresses to never changes, so, as containerd keeps its `containerd.io/uncompressed`
//! label, the answer is kept: a later comparison of the same blob looks it up. Only what
//! ocidiff computed itself from bytes it verified is written, one small file per blob, and a
//! cache that cannot be written is no error: the next run computes again.

use std::path::{Path, PathBuf};

use crate::model::Digest;

/// The cache: `<dir>/<algorithm>/<hex>` holds the diff ID as text.
#[derive(Debug, Clone)]
pub struct DiffIds {
    dir: PathBuf,
}

impl DiffIds {
    /// The cache in the store directory `root` (`diff-ids/` in it), created if missing; `None`
    /// when it cannot be.
    pub fn open(root: &Path) -> Option<DiffIds> {
        let dir = root.join("diff-ids");
        std::fs::create_dir_all(&dir).ok()?;
        Some(DiffIds { dir })
    }

    fn path(&self, blob: &Digest) -> PathBuf {
        self.dir.join(blob.algorithm().as_str()).join(blob.hex())
    }

    /// The diff ID recorded for `blob`; an unreadable or malformed record counts as none.
    pub fn get(&self, blob: &Digest) -> Option<Digest> {
        let text = std::fs::read_to_string(self.path(blob)).ok()?;
        text.trim().parse().ok()
    }

    /// Records `diff_id` for `blob`, atomically (written aside, then renamed into place).
    pub fn put(&self, blob: &Digest, diff_id: &Digest) {
        if blob == diff_id || self.get(blob).as_ref() == Some(diff_id) {
            return;
        }
        let path = self.path(blob);
        let Some(parent) = path.parent() else { return };
        if std::fs::create_dir_all(parent).is_err() {
            return;
        }
        let Ok(mut tmp) = tempfile::NamedTempFile::new_in(parent) else {
            return;
        };
        if std::io::Write::write_all(&mut tmp, diff_id.to_string().as_bytes()).is_ok() {
            let _ = tmp.persist(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiffIds::open(dir.path()).unwrap();
        let (blob, id) = (Digest::sha256_of(b"gz"), Digest::sha256_of(b"tar"));
        assert_eq!(cache.get(&blob), None);
        cache.put(&blob, &id);
        assert_eq!(cache.get(&blob), Some(id.clone()));
        // A damaged record is no record.
        std::fs::write(cache.path(&blob), "sha256:not-hex").unwrap();
        assert_eq!(cache.get(&blob), None);
        cache.put(&blob, &id);
        assert_eq!(cache.get(&blob), Some(id));
    }
}
