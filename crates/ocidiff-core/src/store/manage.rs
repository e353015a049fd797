//! Keeping the store clean: the names of engine images (a rebuilt image takes its name from the
//! older record, which is left unnamed), `ocidiff rm` by whatever `ocidiff images` shows,
//! `ocidiff prune` and the totals of `ocidiff info`.
//!
//! Records are deleted and blobs freed only under the exclusive lock, which waits for every
//! [`Lease`](super::Lease): a run that is writing an image keeps its blobs and its record.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File};
use std::io;

use fs4::fs_std::FileExt;

use super::{
    EngineImage, ImageRecord, RecordKind, Removal, Store, StoreError, StoreInfo, Usage, io_err,
};
use crate::model::Digest;
use crate::reference::DockerRef;

/// Digits a short ID or digest needs, as Docker shows them.
const SHORT_ID: usize = 12;

/// What one selector of `ocidiff rm` does to one record.
struct Doomed {
    record: ImageRecord,
    /// `Some(name)`: take this engine name off; the record goes once it has none left.
    untag: Option<String>,
}

impl Store {
    /// Records that the engine image `key` was read by `name` (`app:a` for
    /// `docker://app:a`): the record is `fresh` (a new export) or, with `None`, the one the
    /// store has for `key`, which gains the name. Every other record of the same engine and
    /// endpoint loses that name, so that a rebuilt image leaves the older one unnamed, for
    /// `ocidiff prune`. Returns the record, or `None` when the store has none for `key`
    /// (removed since it was looked up). The caller holds a [`Lease`](super::Lease).
    pub fn name_engine_image(
        &self,
        key: &EngineImage,
        name: &str,
        fresh: Option<ImageRecord>,
    ) -> Result<Option<ImageRecord>, StoreError> {
        let lock = self.names_lock()?;
        let (mut record, mut changed) = match fresh {
            Some(r) => (r, true),
            None => match self.find_engine_image(key)? {
                Some(r) => (r, false),
                None => return Ok(None),
            },
        };
        if !record
            .engine_names
            .iter()
            .any(|n| same_engine_name(n, name))
        {
            record.engine_names.insert(0, name.to_owned());
            changed = true;
        }
        if !changed {
            // Every record that gains a name takes it from the others under this lock, so a
            // record that already has it is the only one: a warm `docker://` run reads one
            // record, not the whole store.
            return Ok(Some(record));
        }
        self.put_image(&record)?;
        for mut other in self.list_images()? {
            let Some(e) = &other.engine else { continue };
            if e.engine != key.engine || e.endpoint != key.endpoint || e.id == key.id {
                continue;
            }
            let before = other.engine_names.len();
            other.engine_names.retain(|n| !same_engine_name(n, name));
            if other.engine_names.len() != before {
                tracing::debug!(
                    old = e.id,
                    new = key.id,
                    name,
                    "the name moved to a rebuilt image; the older record is now unnamed"
                );
                self.put_image(&other)?;
            }
        }
        drop(lock);
        Ok(Some(record))
    }

    /// Held while engine names are read and rewritten, so that two runs naming engine
    /// images at once do not lose each other's names.
    fn names_lock(&self) -> Result<File, StoreError> {
        let path = self.root.join("names.lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        FileExt::lock_exclusive(&file).map_err(io_err(&path))?;
        Ok(file)
    }

    /// The records `selector` names, as `ocidiff rm` takes it: a name (`alpine:3.18`,
    /// `x@sha256:…`), an engine image (`docker://app:a`, `podman://ID`), or a digest or image
    /// ID, whole or its first 12 or more hex digits (`sha256:` optional). Empty when nothing
    /// matches; an error when a short ID starts several images' IDs.
    pub fn select_images(&self, selector: &str) -> Result<Vec<ImageRecord>, StoreError> {
        let records = self.list_images()?;
        Ok(select(&records, selector)?
            .into_iter()
            .map(|d| d.record)
            .collect())
    }

    /// `ocidiff rm`: for each selector (see [`Store::select_images`]), forgets the images it
    /// names (an engine name only comes off its record, which goes once it has none left),
    /// then frees every blob no remaining image uses. Fails, removing nothing, when a
    /// selector names nothing.
    pub fn remove_selected(&self, selectors: &[String]) -> Result<Removal, StoreError> {
        let lock = self.lock_file()?;
        FileExt::lock_exclusive(&lock).map_err(io_err(&self.lock_path()))?;
        let records = self.list_images()?;
        let mut doomed = Vec::new();
        for selector in selectors {
            let found = select(&records, selector)?;
            if found.is_empty() {
                return Err(StoreError::NoSuchImage(selector.clone()));
            }
            doomed.extend(found);
        }
        let mut left: BTreeMap<String, ImageRecord> =
            records.into_iter().map(|r| (r.key(), r)).collect();
        let mut removal = Removal::default();
        for Doomed { record, untag } in doomed {
            let key = record.key();
            let Some(current) = left.get_mut(&key) else {
                continue; // Named twice.
            };
            if let (Some(name), Some(e)) = (untag, &current.engine) {
                let engine = e.engine.clone();
                current.engine_names.retain(|n| !same_engine_name(n, &name));
                if !current.engine_names.is_empty() {
                    self.put_image(current)?;
                    removal.untagged.push(format!("{engine}://{name}"));
                    continue;
                }
            }
            if let Some(gone) = left.remove(&key) {
                self.delete_record(&gone)?;
                removal.removed.push(gone);
            }
        }
        let swept = self.sweep()?;
        removal.freed_blobs = swept.freed_blobs;
        removal.freed_bytes = swept.freed_bytes;
        Ok(removal)
    }

    /// `ocidiff prune`: removes the unnamed images (exports a rebuild superseded, unnamed
    /// loads), or with `all` every image, then frees every blob no remaining image uses.
    /// With `all` the store is left empty: its directories stay.
    pub fn prune(&self, all: bool) -> Result<Removal, StoreError> {
        let lock = self.lock_file()?;
        FileExt::lock_exclusive(&lock).map_err(io_err(&self.lock_path()))?;
        let mut removed = Vec::new();
        for record in self.list_images()? {
            if all || !record.is_named() {
                self.delete_record(&record)?;
                removed.push(record);
            }
        }
        let mut removal = self.sweep()?;
        removal.removed = removed;
        Ok(removal)
    }

    /// Deletes a record's file (only ever a file under `refs/`); one already gone is fine.
    pub(super) fn delete_record(&self, record: &ImageRecord) -> Result<(), StoreError> {
        let path = self.record_path(&record.key());
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// Where the store is and how much it holds, by kind of image.
    pub fn info(&self) -> Result<StoreInfo, StoreError> {
        let blobs = self.blob_files()?;
        let sizes: HashMap<Digest, u64> = blobs
            .iter()
            .filter_map(|(_, d, s)| Some((d.clone()?, *s)))
            .collect();
        let records = self.list_images()?;
        let mut by_kind: BTreeMap<RecordKind, (usize, HashSet<Digest>)> = BTreeMap::new();
        let mut live = HashSet::new();
        for record in &records {
            let (images, used) = by_kind.entry(record.kind()).or_default();
            *images += 1;
            self.mark(&record.root, used)?;
            live.extend(used.iter().cloned());
        }
        let usage = |images: usize, digests: &mut dyn Iterator<Item = &Digest>| {
            let held: Vec<u64> = digests.filter_map(|d| sizes.get(d).copied()).collect();
            Usage {
                images,
                blobs: held.len(),
                bytes: held.iter().sum(),
            }
        };
        let kinds = by_kind
            .iter()
            .map(|(kind, (images, used))| (*kind, usage(*images, &mut used.iter())))
            .collect();
        let unused_blobs: Vec<&(std::path::PathBuf, Option<Digest>, u64)> = blobs
            .iter()
            .filter(|(_, d, _)| !d.as_ref().is_some_and(|d| live.contains(d)))
            .collect();
        let listings = self.files_by_digest("listings")?;
        let listed_only = listings
            .iter()
            .filter(|(_, d, _)| d.as_ref().is_some_and(|d| !sizes.contains_key(d)))
            .count();
        Ok(StoreInfo {
            listings: (listings.len(), listings.iter().map(|(_, _, s)| s).sum()),
            listed_only,
            root: self.root.clone(),
            images: records.len(),
            unnamed: records.iter().filter(|r| !r.is_named()).count(),
            blobs: blobs.len(),
            bytes: blobs.iter().map(|(_, _, s)| s).sum(),
            kinds,
            unused: Usage {
                images: 0,
                blobs: unused_blobs.len(),
                bytes: unused_blobs.iter().map(|(_, _, s)| s).sum(),
            },
        })
    }
}

/// Whether two names of an engine image are the same: as typed, or once normalised as Docker
/// does (`app` is `docker.io/library/app:latest`).
fn same_engine_name(a: &str, b: &str) -> bool {
    a == b
        || matches!(
            (DockerRef::parse(a), DockerRef::parse(b)),
            (Ok(x), Ok(y)) if x.to_string() == y.to_string()
        )
}

/// The lowercase hex digits of a digest or ID, or of the start of one, with or without its
/// `sha256:`; `None` for anything else or fewer than 12 digits.
fn hex_prefix(s: &str) -> Option<&str> {
    let hex = s
        .strip_prefix("sha256:")
        .or_else(|| s.strip_prefix("sha512:"))
        .unwrap_or(s);
    (hex.len() >= SHORT_ID && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .then_some(hex)
}

/// The engine ID's hex digits (`sha256:` dropped).
fn id_hex(e: &EngineImage) -> &str {
    e.id.split_once(':').map_or(e.id.as_str(), |(_, hex)| hex)
}

/// The records `selector` names, see [`Store::select_images`].
fn select(records: &[ImageRecord], selector: &str) -> Result<Vec<Doomed>, StoreError> {
    let whole = |record: &ImageRecord| Doomed {
        record: record.clone(),
        untag: None,
    };
    if let Some((scheme, rest)) = selector.split_once("://") {
        let of_engine = records
            .iter()
            .filter(|r| r.engine.as_ref().is_some_and(|e| e.engine == scheme));
        let by_name: Vec<Doomed> = of_engine
            .clone()
            .filter_map(|r| {
                let name = r.engine_names.iter().find(|n| same_engine_name(n, rest))?;
                Some(Doomed {
                    record: r.clone(),
                    untag: Some(name.clone()),
                })
            })
            .collect();
        if !by_name.is_empty() {
            return Ok(by_name);
        }
        return by_id(selector, rest, of_engine, |r| {
            r.engine.as_ref().map(|e| id_hex(e).to_owned())
        })
        .map(|found| found.into_iter().map(whole).collect());
    }
    if let Ok(name) = DockerRef::parse(selector) {
        let by_name: Vec<Doomed> = records
            .iter()
            .filter(|r| r.name.as_ref().is_some_and(|n| n == &name))
            .map(whole)
            .collect();
        if !by_name.is_empty() {
            return Ok(by_name);
        }
        if let Some(digest) = &name.digest {
            let same_repo = records.iter().filter(|r| {
                &r.root.digest == digest
                    && r.name.as_ref().is_some_and(|n| {
                        n.registry == name.registry && n.repository == name.repository
                    })
            });
            return Ok(same_repo.map(whole).collect());
        }
    }
    // A digest or an ID: an engine image's ID or any image's root digest.
    let found = by_id(selector, selector, records.iter(), |r| {
        Some(r.root.digest.hex().to_owned())
    })?;
    if !found.is_empty() {
        return Ok(found.into_iter().map(whole).collect());
    }
    by_id(selector, selector, records.iter(), |r| {
        r.engine.as_ref().map(|e| id_hex(e).to_owned())
    })
    .map(|found| found.into_iter().map(whole).collect())
}

/// The records whose ID (as `id` gives it) starts with `prefix`'s hex digits; an error when
/// they have different IDs and `prefix` is shorter than an ID.
fn by_id<'a>(
    selector: &str,
    prefix: &str,
    records: impl Iterator<Item = &'a ImageRecord>,
    id: impl Fn(&ImageRecord) -> Option<String>,
) -> Result<Vec<&'a ImageRecord>, StoreError> {
    let Some(hex) = hex_prefix(prefix) else {
        return Ok(Vec::new());
    };
    let found: Vec<(&ImageRecord, String)> = records
        .filter_map(|r| id(r).filter(|i| i.starts_with(hex)).map(|i| (r, i)))
        .collect();
    let ids: HashSet<&String> = found.iter().map(|(_, i)| i).collect();
    if ids.len() > 1 {
        return Err(StoreError::Ambiguous(selector.to_owned()));
    }
    Ok(found.into_iter().map(|(r, _)| r).collect())
}
