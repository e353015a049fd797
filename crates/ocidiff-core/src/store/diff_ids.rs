//! Diff IDs ocidiff has computed, by the digest of the compressed blob they belong to.
//!
//! Checking a layer against its config's `rootfs.diff_ids` means decompressing and hashing it
//! whole, even a layer both images share and nothing else needs to read. What a blob
//! decompresses to never changes, so, as containerd keeps its `containerd.io/uncompressed`
//! label, the answer is kept: a later comparison of the same blob looks it up. Only what
//! ocidiff computed itself from bytes it verified is written, one small file per blob, and a
//! cache that cannot be written is no error: the next run computes again.
//!
//! Once a comparison has checked every layer of an image against its config, the image's whole
//! list is recorded too, under a digest of its layer digests: the next comparison of that image
//! reads one file instead of one per layer (on 120 layers a side, the per-layer files were a
//! third of a warm run).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use crate::model::Digest;

/// The cache: `<dir>/<algorithm>/<hex>` holds a blob's diff ID as text, `<dir>/images/<hex>`
/// an image's, one per line.
#[derive(Debug, Clone)]
pub struct DiffIds {
    dir: PathBuf,
    known: Arc<Mutex<Known>>,
}

/// What this run read or wrote.
#[derive(Debug, Default)]
struct Known {
    ids: HashMap<Digest, Digest>,
    /// The image records read or written, by their file names.
    images: HashSet<Digest>,
}

impl DiffIds {
    /// The cache in the store directory `root` (`diff-ids/` in it), created if missing; `None`
    /// when it cannot be.
    pub fn open(root: &Path) -> Option<DiffIds> {
        let dir = root.join("diff-ids");
        std::fs::create_dir_all(&dir).ok()?;
        Some(DiffIds {
            dir,
            known: Arc::default(),
        })
    }

    fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The name of the record of the image whose layers are `blobs`.
    fn image_key(blobs: &[Digest]) -> Digest {
        Digest::sha256_of(lines(blobs).as_bytes())
    }

    fn image_path(&self, key: &Digest) -> PathBuf {
        self.dir.join("images").join(key.hex())
    }

    /// Reads the record of the image whose layers are `blobs`, if an earlier comparison left
    /// one, so that [`DiffIds::get`] answers for them from memory.
    pub fn load_image(&self, blobs: &[Digest]) {
        let key = DiffIds::image_key(blobs);
        let Ok(text) = std::fs::read_to_string(self.image_path(&key)) else {
            return;
        };
        let ids: Vec<Digest> = text.lines().filter_map(|l| l.parse().ok()).collect();
        if ids.len() == blobs.len() {
            let mut known = self.known();
            known.ids.extend(blobs.iter().cloned().zip(ids));
            known.images.insert(key);
        }
    }

    /// Records that the image whose layers are `blobs` has the diff IDs `diff_ids`, every one
    /// checked against its blob's bytes.
    pub fn put_image(&self, blobs: &[Digest], diff_ids: &[Digest]) {
        if blobs.len() != diff_ids.len() || blobs.is_empty() {
            return;
        }
        let key = DiffIds::image_key(blobs);
        {
            let known = self.known();
            let recorded = blobs
                .iter()
                .zip(diff_ids)
                .all(|(b, d)| known.ids.get(b) == Some(d));
            if recorded && known.images.contains(&key) {
                return;
            }
        }
        write_atomically(&self.image_path(&key), &lines(diff_ids));
        let mut known = self.known();
        known
            .ids
            .extend(blobs.iter().cloned().zip(diff_ids.iter().cloned()));
        known.images.insert(key);
    }

    fn path(&self, blob: &Digest) -> PathBuf {
        self.dir.join(blob.algorithm().as_str()).join(blob.hex())
    }

    /// The diff ID recorded for `blob`; an unreadable or malformed record counts as none.
    pub fn get(&self, blob: &Digest) -> Option<Digest> {
        if let Some(id) = self.known().ids.get(blob) {
            return Some(id.clone());
        }
        let text = std::fs::read_to_string(self.path(blob)).ok()?;
        text.trim().parse().ok()
    }

    /// Records `diff_id` for `blob`, atomically (written aside, then renamed into place).
    pub fn put(&self, blob: &Digest, diff_id: &Digest) {
        if blob == diff_id || self.get(blob).as_ref() == Some(diff_id) {
            return;
        }
        write_atomically(&self.path(blob), &diff_id.to_string());
        self.known().ids.insert(blob.clone(), diff_id.clone());
    }
}

/// One digest per line.
fn lines(digests: &[Digest]) -> String {
    let mut text = String::new();
    for d in digests {
        text.push_str(&d.to_string());
        text.push('\n');
    }
    text
}

/// Writes `text` aside, then renames it into place; a failure leaves nothing.
fn write_atomically(path: &Path, text: &str) {
    let Some(parent) = path.parent() else { return };
    if std::fs::create_dir_all(parent).is_err() {
        return;
    }
    let Ok(mut tmp) = tempfile::NamedTempFile::new_in(parent) else {
        return;
    };
    if std::io::Write::write_all(&mut tmp, text.as_bytes()).is_ok() {
        let _ = tmp.persist(path);
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
        // A damaged record is no record (to a later run, which reads it).
        std::fs::write(cache.path(&blob), "sha256:not-hex").unwrap();
        let cache = DiffIds::open(dir.path()).unwrap();
        assert_eq!(cache.get(&blob), None);
        cache.put(&blob, &id);
        assert_eq!(cache.get(&blob), Some(id));
    }

    #[test]
    fn an_image_record_answers_for_its_layers() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = [Digest::sha256_of(b"gz1"), Digest::sha256_of(b"gz2")];
        let ids = [Digest::sha256_of(b"tar1"), Digest::sha256_of(b"tar2")];
        DiffIds::open(dir.path()).unwrap().put_image(&blobs, &ids);
        let cache = DiffIds::open(dir.path()).unwrap();
        assert_eq!(cache.get(&blobs[1]), None);
        // Another list of layers is another record.
        cache.load_image(&blobs[..1]);
        assert_eq!(cache.get(&blobs[0]), None);
        cache.load_image(&blobs);
        assert_eq!(cache.get(&blobs[1]), Some(ids[1].clone()));
        // A record that does not list one diff ID per layer is no record.
        let key = DiffIds::image_key(&blobs);
        std::fs::write(cache.image_path(&key), format!("{}\n", ids[0])).unwrap();
        let cache = DiffIds::open(dir.path()).unwrap();
        cache.load_image(&blobs);
        assert_eq!(cache.get(&blobs[0]), None);
    }
}
