//! The embedded image store: a content-addressed blob directory and one record per image name,
//! so that an image pulled once costs nothing the next time, with no daemon.
//!
//! Layout under the root:
//! - `blobs/<alg>/<hex>`: every blob, written only after its digest and size were checked;
//! - `refs/<sha256 of the name>.json`: one [`ImageRecord`] per image name;
//! - `listings/<alg>/<hex>`: the listing of a layer blob's entries, kept by the first walk of
//!   it ([`crate::layer::persist`]), so that the next comparison does not read the blob;
//! - `tmp/`: blobs being written (renamed into `blobs/` once verified);
//! - `lock`: a shared lock held by writers ([`Store::lease`]), exclusive while unused blobs are
//!   freed, so that a concurrent pull never loses a blob it wrote but has not yet recorded.
//!
//! Every update is a rename of a complete, fsync'd file: two runs may pull at once and an
//! interrupted run leaves at worst a stray file in `tmp/`, never a partial blob or record.

mod diff_ids;
mod inflight;
mod load;
mod manage;
mod spool;

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use fs4::fs_std::FileExt;
use serde::{Deserialize, Serialize};

pub use diff_ids::DiffIds;
use inflight::InFlight;
pub(crate) use inflight::Publisher;
#[cfg(feature = "daemon")]
pub(crate) use load::copy;
pub use load::load;
#[cfg(feature = "registry")]
pub(crate) use load::platform_of;
use spool::Spool;

use crate::content::{BlobSource, ContentError, KeptFile, Limits};
use crate::image::Image;
use crate::model::{
    Algorithm, Blob, Compression, Descriptor, Digest, Document, DocumentError, Hasher, Platform,
};
use crate::reference::{DockerRef, ImageRef};

/// Environment variable naming the store's root, ahead of the cache directory.
pub const STORE_ENV: &str = "OCIDIFF_STORE";

/// Files in `tmp/` older than this belong to a run that died; freeing space removes them.
const STALE_TMP: Duration = Duration::from_secs(3600);

/// A content-addressed store on disk. Cheap to clone: a path, and the blobs this process is
/// writing into it (readable while they arrive), which clones share.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    inflight: Arc<InFlight>,
}

/// What the store knows of one image name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The normalised name it was pulled or loaded as; `None` for an unnamed loaded image.
    pub name: Option<DockerRef>,
    /// The index or manifest the image starts at.
    pub root: Descriptor,
    /// The platforms whose manifests, configs and layers are in the store.
    pub platforms: Vec<Platform>,
    /// Bytes of all the image's blobs (shared blobs counted for each image).
    pub size: u64,
    /// When it was pulled or loaded.
    pub pulled: jiff::Timestamp,
    /// For an image exported from a container engine: which engine image it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<EngineImage>,
    /// For an image exported from a container engine: the names it was read by (`app:a` for
    /// `docker://app:a`), as typed. A name moves to the newer record when the engine gives it
    /// to another image (a rebuild), so a record left with none is superseded: unnamed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub engine_names: Vec<String>,
    /// For a loaded image: the archive's file name (`standard input` when piped in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loaded_from: Option<String>,
}

impl ImageRecord {
    /// The name as the store keys it: the full reference, the engine image for one exported
    /// from an engine, or the root digest when unnamed.
    pub fn key(&self) -> String {
        match (&self.name, &self.engine) {
            (Some(n), _) => n.to_string(),
            (None, Some(e)) => e.key(),
            (None, None) => self.root.digest.to_string(),
        }
    }

    /// Where the image came from.
    pub fn kind(&self) -> RecordKind {
        match (&self.engine, &self.loaded_from, &self.name) {
            (Some(e), _, _) if e.engine == "podman" => RecordKind::Podman,
            (Some(_), _, _) => RecordKind::Docker,
            // Unnamed records outside engines only come from `load`, also from before
            // `loaded_from` was recorded.
            (None, Some(_), _) | (None, None, None) => RecordKind::Archive,
            (None, None, Some(_)) => RecordKind::Registry,
        }
    }

    /// Whether anything names the image: a registry or archive name, or an engine name no
    /// newer export took. Unnamed images are what `ocidiff prune` removes.
    pub fn is_named(&self) -> bool {
        self.name.is_some() || !self.engine_names.is_empty()
    }

    /// What `ocidiff images` shows for the image, one entry per name: `alpine:3.18`,
    /// `docker://app:a`, `docker://<none>` for a superseded export, `(loaded app.tar)` for an
    /// unnamed load.
    pub fn display_names(&self) -> Vec<String> {
        if let Some(n) = &self.name {
            return vec![n.familiar()];
        }
        if let Some(e) = &self.engine {
            if self.engine_names.is_empty() {
                return vec![format!("{}://<none>", e.engine)];
            }
            return self
                .engine_names
                .iter()
                .map(|n| format!("{}://{n}", e.engine))
                .collect();
        }
        match &self.loaded_from {
            Some(file) => vec![format!("(loaded {file})")],
            None => vec!["<none>".to_owned()],
        }
    }

    /// The image's ID as `ocidiff images` shows it: the first 12 hex digits of the engine's
    /// image ID for an engine image, of the root digest otherwise.
    pub fn short_id(&self) -> String {
        let full = match &self.engine {
            Some(e) => e.id.rsplit(':').next().unwrap_or(&e.id),
            None => self.root.digest.hex(),
        };
        full.chars().take(12).collect()
    }
}

/// Where a recorded image came from, as `ocidiff images` and `ocidiff info` group them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordKind {
    /// Pulled from a registry.
    Registry,
    /// Exported from the Docker daemon (`docker://`).
    Docker,
    /// Exported from Podman (`podman://`).
    Podman,
    /// Loaded from an archive (`ocidiff load`).
    Archive,
}

impl RecordKind {
    /// `registry`, `docker`, `podman` or `archive`.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Registry => "registry",
            RecordKind::Docker => "docker",
            RecordKind::Podman => "podman",
            RecordKind::Archive => "archive",
        }
    }
}

/// An image as a container engine (the Docker daemon, Podman) knows it. Engine images are
/// recorded by their ID, not their name, so that `docker://alpine` never replaces the registry's
/// `alpine` in the store, and so that a rebuilt image (a new ID) is exported again while an
/// unchanged one is not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineImage {
    /// `docker` or `podman`.
    pub engine: String,
    /// Where the engine was reached (`unix:///var/run/docker.sock`, `podman save`…).
    pub endpoint: String,
    /// The engine's image ID.
    pub id: String,
    /// The platform the export was limited to, when the engine was asked for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

impl EngineImage {
    /// `docker://sha256:…@unix:///var/run/docker.sock[#linux/amd64]`.
    pub fn key(&self) -> String {
        let mut key = format!("{}://{}@{}", self.engine, self.id, self.endpoint);
        if let Some(p) = &self.platform {
            key.push('#');
            key.push_str(&p.to_string());
        }
        key
    }
}

/// Totals for `ocidiff info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreInfo {
    /// Where the store is.
    pub root: PathBuf,
    /// Image records.
    pub images: usize,
    /// Image records nothing names (what `ocidiff prune` removes).
    pub unnamed: usize,
    /// Blobs held, in use or not.
    pub blobs: usize,
    /// The blobs' total size in bytes.
    pub bytes: u64,
    /// The images of each kind present and the distinct blobs they use (a blob shared by
    /// two kinds counts for each), in [`RecordKind`] order.
    pub kinds: Vec<(RecordKind, Usage)>,
    /// Blobs no record uses: freed by `ocidiff prune` (or being written by a running pull).
    pub unused: Usage,
    /// Layer listings held, and their total size in bytes.
    pub listings: (usize, u64),
    /// Of those, the layers whose bytes are not held (engine exports kept as listings).
    pub listed_only: usize,
}

/// Images, blobs and bytes of a part of the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Image records.
    pub images: usize,
    /// Distinct blobs.
    pub blobs: usize,
    /// Their total size in bytes.
    pub bytes: u64,
}

/// What [`Store::remove_images`] and [`Store::free_unused`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removal {
    /// The records deleted.
    pub removed: Vec<ImageRecord>,
    /// Engine names taken off records that keep other names (`docker://app:a`).
    pub untagged: Vec<String>,
    /// Blobs deleted because no remaining image uses them.
    pub freed_blobs: usize,
    /// Bytes those blobs took.
    pub freed_bytes: u64,
}

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file or directory of the store could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// No environment variable says where the default store goes.
    #[error("cannot tell where the image store goes: set {STORE_ENV}, XDG_CACHE_HOME or HOME")]
    NoRoot,
    /// An image record that does not parse: the store was edited or damaged.
    #[error("{path}: corrupt image record: {source}")]
    CorruptRecord {
        /// The record's file.
        path: PathBuf,
        /// The parser's error.
        source: serde_json::Error,
    },
    /// The store has no record of that name.
    #[error("no image named {0} in the store")]
    NoSuchImage(String),
    /// A short ID or digest that starts more than one image's.
    #[error("{0} is ambiguous: it starts the IDs of several images in the store; give more of it")]
    Ambiguous(String),
    /// An index or manifest in the store that does not parse.
    #[error("blob {digest} in the store: {source}")]
    Document {
        /// The blob's digest.
        digest: Digest,
        /// What is wrong with it.
        source: DocumentError,
    },
    /// A blob failed verification or a limit.
    #[error(transparent)]
    Content(#[from] ContentError),
    /// A blob being written into the store could not be read from its source.
    #[error("reading {what}: {source}")]
    Read {
        /// What was being read, as the message names it.
        what: String,
        /// The I/O error.
        source: io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A shared hold on the store: unused blobs are not freed while one exists, so a pull or load
/// holds one from its first blob until its record is written.
#[derive(Debug)]
pub struct Lease {
    _file: File,
}

impl Store {
    /// `$OCIDIFF_STORE`, else `$XDG_CACHE_HOME/ocidiff`, else `~/.cache/ocidiff`.
    pub fn default_root() -> Result<PathBuf, StoreError> {
        root_from(|k| std::env::var_os(k))
    }
    /// Opens the store at `root`, creating its directories.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        for dir in [
            "blobs/sha256",
            "blobs/sha512",
            "listings/sha256",
            "listings/sha512",
            "refs",
            "tmp",
        ] {
            let path = root.join(dir);
            fs::create_dir_all(&path).map_err(io_err(&path))?;
        }
        Ok(Store {
            root: root.to_owned(),
            inflight: Arc::default(),
        })
    }

    /// The directory the store lives in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Takes a shared hold: see [`Lease`]. Do not call [`Store::remove_images`] in the same
    /// process while holding one; it would wait for itself.
    pub fn lease(&self) -> Result<Lease, StoreError> {
        let file = self.lock_file()?;
        FileExt::lock_shared(&file).map_err(io_err(&self.lock_path()))?;
        Ok(Lease { _file: file })
    }

    fn lock_path(&self) -> PathBuf {
        self.root.join("lock")
    }

    fn lock_file(&self) -> Result<File, StoreError> {
        let path = self.lock_path();
        File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err(&path))
    }

    /// Where the blob with `digest` is (or would be) stored: `blobs/<algorithm>/<hex>`.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(digest.hex())
    }

    /// Where the listing of the layer blob `digest` is (or would be) kept.
    fn listing_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("listings")
            .join(digest.algorithm().as_str())
            .join(digest.hex())
    }

    /// Whether the store holds a listing of the layer blob `digest` (not checked).
    pub fn has_listing(&self, digest: &Digest) -> bool {
        self.listing_path(digest).is_file()
    }

    /// Starts a listing in `tmp/`, for a layer whose digest may be learnt only at its end.
    pub fn new_listing(&self) -> Result<ListingFile, StoreError> {
        Ok(ListingFile {
            out: io::BufWriter::with_capacity(64 << 10, self.temp_file()?),
            listings: self.root.join("listings"),
        })
    }

    /// Whether the store holds the blob; it is not verified.
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// A fresh temporary file in `tmp/`, for a blob being written.
    fn temp_file(&self) -> Result<tempfile::NamedTempFile, StoreError> {
        let tmp = self.root.join("tmp");
        tempfile::Builder::new()
            .prefix("ingest-")
            .tempfile_in(&tmp)
            .map_err(io_err(&tmp))
    }

    /// Starts writing a blob that must match `expected`; see [`BlobWriter`]. Readers of the
    /// store may read it while it is written.
    pub fn writer(&self, expected: &Descriptor) -> Result<BlobWriter, StoreError> {
        let publisher = self.announce(&expected.digest);
        self.writer_publishing(expected, publisher)
    }

    /// Says that `digest` will be written soon (by [`Store::writer_publishing`]), so that
    /// readers of the store wait for its bytes instead of finding it missing. `None` when
    /// another writer in this process already announced it.
    pub(crate) fn announce(&self, digest: &Digest) -> Option<Publisher> {
        self.inflight.register(digest)
    }

    /// [`Store::writer`] for a blob announced beforehand.
    pub(crate) fn writer_publishing(
        &self,
        expected: &Descriptor,
        publisher: Option<Publisher>,
    ) -> Result<BlobWriter, StoreError> {
        let file = self.temp_file()?;
        if let Some(p) = &publisher {
            p.attach(file.reopen().map_err(io_err(file.path()))?);
        }
        Ok(BlobWriter {
            publisher,
            file,
            hasher: Hasher::new(expected.digest.algorithm()),
            expected: expected.digest.clone(),
            declared: expected.size,
            seen: 0,
            dest: self.blob_path(&expected.digest),
        })
    }

    /// Copies `reader` into the store, checking it against `expected` (digest and size) as it
    /// streams. Does nothing when the blob is already there. On any failure nothing is left
    /// under the blob's name.
    pub fn ingest(&self, expected: &Descriptor, mut reader: impl Read) -> Result<(), StoreError> {
        if self.has_blob(&expected.digest) {
            return Ok(());
        }
        let mut writer = self.writer(expected)?;
        copy_chunks(
            &mut reader,
            |chunk| writer.write(chunk),
            |e| ContentError::from_io(&expected.digest, e).into(),
        )?;
        writer.commit()
    }

    /// Stores bytes whose digest is not known in advance (a root synthesised by a source).
    pub fn ingest_bytes(&self, media_type: &str, bytes: &[u8]) -> Result<Descriptor, StoreError> {
        let desc = descriptor(media_type, Digest::sha256_of(bytes), bytes.len() as u64);
        self.ingest(&desc, bytes)?;
        Ok(desc)
    }

    /// Copies `reader` into the store under the digest of what it holds, which is learnt only
    /// at its end (a member of a `docker save` stream). The bytes go to a temporary file first,
    /// so nothing half-written ever has a digest's name. `what` names the content in errors.
    pub fn ingest_unknown(
        &self,
        algorithm: Algorithm,
        what: &str,
        mut reader: impl Read,
    ) -> Result<(Digest, u64), StoreError> {
        let mut hasher = Hasher::new(algorithm);
        let Unhashed { file, size } = self.write_temp(what, &mut reader, Some(&mut hasher))?;
        let digest = hasher.finish();
        if !self.has_blob(&digest) {
            persist(file, &self.blob_path(&digest))?;
        }
        Ok((digest, size))
    }

    /// Copies `reader` to a temporary file of the store, through `hasher` when there is one.
    fn write_temp(
        &self,
        what: &str,
        reader: &mut impl Read,
        mut hasher: Option<&mut Hasher>,
    ) -> Result<Unhashed, StoreError> {
        let file = self.temp_file()?;
        let mut spool = Spool::new(file.as_file());
        let mut size = 0u64;
        loop {
            let n = match reader.read(spool.space()) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(StoreError::Read {
                        what: what.to_owned(),
                        source,
                    });
                }
            };
            if let Some(h) = hasher.as_deref_mut() {
                h.update(spool.filled(n));
            }
            spool.commit(n).map_err(io_err(file.path()))?;
            size += n as u64;
        }
        spool.finish().map_err(io_err(file.path()))?;
        Ok(Unhashed { file, size })
    }

    /// Copies `reader` to a temporary file of the store without hashing it, for bytes whose
    /// digest their producer vouches for and names only later (a layer of Docker's classic
    /// export, checked by the daemon as it wrote it); [`Store::settle`] gives it its name.
    /// Dropped unsettled, the file is deleted. `what` names the content in errors.
    pub fn ingest_unhashed(
        &self,
        what: &str,
        mut reader: impl Read,
    ) -> Result<Unhashed, StoreError> {
        self.write_temp(what, &mut reader, None)
    }

    /// Stores an [`Unhashed`] blob under `vouched`, the digest its producer vouched for, or,
    /// without one, under the SHA-256 of what it holds (read back from the file).
    pub fn settle(&self, blob: Unhashed, vouched: Option<&Digest>) -> Result<Digest, StoreError> {
        let digest = if let Some(d) = vouched {
            d.clone()
        } else {
            let path = blob.file.path().to_owned();
            let mut hasher = Hasher::new(Algorithm::Sha256);
            let mut f = fs::File::open(&path).map_err(io_err(&path))?;
            copy_chunks(
                &mut f,
                |chunk| {
                    hasher.update(chunk);
                    Ok(())
                },
                |source| StoreError::Io {
                    path: path.clone(),
                    source,
                },
            )?;
            hasher.finish()
        };
        if !self.has_blob(&digest) {
            persist(blob.file, &self.blob_path(&digest))?;
        }
        Ok(digest)
    }

    /// The record of an engine image, when it was exported before.
    pub fn find_engine_image(
        &self,
        image: &EngineImage,
    ) -> Result<Option<ImageRecord>, StoreError> {
        self.read_record(&self.record_path(&image.key()))
    }

    // A method beside record_path, put_image and open_image, though it needs no field.
    #[allow(clippy::unused_self)]
    fn read_record(&self, path: &Path) -> Result<Option<ImageRecord>, StoreError> {
        match fs::read(path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| StoreError::CorruptRecord {
                        path: path.to_owned(),
                        source: e,
                    })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(path)(e)),
        }
    }

    fn record_path(&self, key: &str) -> PathBuf {
        self.root
            .join("refs")
            .join(format!("{}.json", Digest::sha256_of(key.as_bytes()).hex()))
    }

    /// Records an image under its name, replacing any earlier record of that name.
    pub fn put_image(&self, record: &ImageRecord) -> Result<(), StoreError> {
        let blobs = self
            .root
            .join("blobs")
            .join(record.root.digest.algorithm().as_str());
        // The record must not outlive a crash that loses the renames of its blobs.
        File::open(&blobs)
            .and_then(|d| d.sync_all())
            .map_err(io_err(&blobs))?;
        let path = self.record_path(&record.key());
        let bytes = serde_json::to_vec_pretty(record).map_err(|e| StoreError::CorruptRecord {
            path: path.clone(),
            source: e,
        })?;
        self.write_atomically(&path, &bytes)
    }

    fn write_atomically(&self, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        let tmp = self.root.join("tmp");
        let mut file = tempfile::Builder::new()
            .prefix("record-")
            .tempfile_in(&tmp)
            .map_err(io_err(&tmp))?;
        file.write_all(bytes)
            .and_then(|()| file.as_file().sync_all())
            .map_err(io_err(file.path()))?;
        file.persist(path).map_err(|e| StoreError::Io {
            path: path.to_owned(),
            source: e.error,
        })?;
        Ok(())
    }

    /// Every image record, sorted by name.
    pub fn list_images(&self) -> Result<Vec<ImageRecord>, StoreError> {
        let dir = self.root.join("refs");
        let mut records = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let path = entry.map_err(io_err(&dir))?.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let bytes = match fs::read(&path) {
                Ok(b) => b,
                // Removed by a concurrent `rm` since the directory was read.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(&path)(e)),
            };
            let record: ImageRecord =
                serde_json::from_slice(&bytes).map_err(|e| StoreError::CorruptRecord {
                    path: path.clone(),
                    source: e,
                })?;
            records.push(record);
        }
        records.sort_by_key(ImageRecord::key);
        Ok(records)
    }

    /// The record for `name`: the one recorded under exactly that name or, for a name with a
    /// digest, any record of the same repository whose root has that digest.
    pub fn find_image(&self, name: &DockerRef) -> Result<Option<ImageRecord>, StoreError> {
        if let Some(record) = self.read_record(&self.record_path(&name.to_string()))? {
            return Ok(Some(record));
        }
        let Some(digest) = &name.digest else {
            return Ok(None);
        };
        Ok(self.list_images()?.into_iter().find(|r| {
            &r.root.digest == digest
                && r.name
                    .as_ref()
                    .is_some_and(|n| n.registry == name.registry && n.repository == name.repository)
        }))
    }

    /// Opens a recorded image for the comparison, its blobs served from the store.
    pub fn open_image(&self, record: &ImageRecord) -> Result<Image, StoreError> {
        self.open_root(&record.root, ImageRef::Registry(record.key()))
    }

    /// Opens the image whose root manifest or index is `root`, its blobs served from the
    /// store, also while they are still being written.
    pub fn open_root(&self, root: &Descriptor, reference: ImageRef) -> Result<Image, StoreError> {
        let bytes = crate::content::read_json_blob(self, root, Limits::default().json_bytes)?;
        Ok(Image {
            reference,
            root: Blob {
                descriptor: Some(root.clone()),
                bytes,
            },
            blobs: Box::new(self.clone()),
            walked: Default::default(),
        })
    }

    /// Forgets the named images and frees every blob no other image uses. Fails, removing
    /// nothing, when a name is not in the store.
    pub fn remove_images(&self, names: &[DockerRef]) -> Result<Removal, StoreError> {
        let lock = self.lock_file()?;
        FileExt::lock_exclusive(&lock).map_err(io_err(&self.lock_path()))?;
        let mut doomed = Vec::new();
        for name in names {
            match self.find_image(name)? {
                Some(r) => doomed.push(r),
                None => return Err(StoreError::NoSuchImage(name.familiar())),
            }
        }
        for record in &doomed {
            let path = self.record_path(&record.key());
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&path)(e)),
            }
        }
        let mut removal = self.sweep()?;
        removal.removed = doomed;
        Ok(removal)
    }

    /// Frees the blobs no recorded image uses (and files left in `tmp/` by runs that died).
    pub fn free_unused(&self) -> Result<Removal, StoreError> {
        let lock = self.lock_file()?;
        FileExt::lock_exclusive(&lock).map_err(io_err(&self.lock_path()))?;
        self.sweep()
    }

    /// Mark and sweep; the caller holds the exclusive lock.
    fn sweep(&self) -> Result<Removal, StoreError> {
        let mut live = HashSet::new();
        for record in self.list_images()? {
            self.mark(&record.root, &mut live)?;
        }
        let mut removal = Removal::default();
        for (path, digest, size) in self.blob_files()? {
            if !digest.is_some_and(|d| live.contains(&d)) {
                fs::remove_file(&path).map_err(io_err(&path))?;
                removal.freed_blobs += 1;
                removal.freed_bytes += size;
            }
        }
        for (path, digest, _) in self.files_by_digest("listings")? {
            if !digest.is_some_and(|d| live.contains(&d)) {
                fs::remove_file(&path).map_err(io_err(&path))?;
            }
        }
        let tmp = self.root.join("tmp");
        for entry in fs::read_dir(&tmp).map_err(io_err(&tmp))? {
            let entry = entry.map_err(io_err(&tmp))?;
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .is_some_and(|age| age > STALE_TMP);
            if stale {
                let path = entry.path();
                fs::remove_file(&path).map_err(io_err(&path))?;
            }
        }
        Ok(removal)
    }

    /// Marks `desc` and, for an index or manifest held here, everything it refers to. Blobs
    /// not held (platforms not pulled) are simply not followed.
    fn mark(&self, desc: &Descriptor, live: &mut HashSet<Digest>) -> Result<(), StoreError> {
        if !live.insert(desc.digest.clone()) {
            return Ok(());
        }
        let kind = desc.kind();
        if !matches!(
            kind,
            crate::model::MediaKind::Index | crate::model::MediaKind::Manifest
        ) || !self.has_blob(&desc.digest)
        {
            return Ok(());
        }
        let bytes = crate::content::read_json_blob(self, desc, Limits::default().json_bytes)?;
        let doc = Document::parse(&bytes, Some(&desc.media_type)).map_err(|source| {
            StoreError::Document {
                digest: desc.digest.clone(),
                source,
            }
        })?;
        match doc {
            Document::Index(index) => {
                for child in &index.manifests {
                    self.mark(child, live)?;
                }
            }
            Document::Manifest(manifest) => {
                live.insert(manifest.config.digest.clone());
                for layer in &manifest.layers {
                    live.insert(layer.digest.clone());
                }
            }
        }
        Ok(())
    }

    /// Every file under `blobs/`, with its digest when its name is one, and its size.
    fn blob_files(&self) -> Result<Vec<(PathBuf, Option<Digest>, u64)>, StoreError> {
        self.files_by_digest("blobs")
    }

    /// Every file under `top/<alg>/` (`blobs`, `listings`), with its digest when its name is
    /// one, and its size.
    fn files_by_digest(
        &self,
        top: &str,
    ) -> Result<Vec<(PathBuf, Option<Digest>, u64)>, StoreError> {
        let mut out = Vec::new();
        for alg in ["sha256", "sha512"] {
            let dir = self.root.join(top).join(alg);
            for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
                let entry = entry.map_err(io_err(&dir))?;
                let size = entry.metadata().map_err(io_err(&entry.path()))?.len();
                let name = entry.file_name();
                let digest = name
                    .to_str()
                    .and_then(|hex| format!("{alg}:{hex}").parse::<Digest>().ok());
                out.push((entry.path(), digest, size));
            }
        }
        Ok(out)
    }
}

impl BlobSource for Store {
    /// A blob in place is read from its file, one being written by following its writer:
    /// in that order, so that a reader never waits on a second writer of a blob already
    /// stored; a blob put in place between the two looks is found by the second look at
    /// its file.
    fn open(&self, digest: &Digest) -> Result<Box<dyn Read + Send + '_>, ContentError> {
        if let Ok(f) = File::open(self.blob_path(digest)) {
            return Ok(Box::new(f));
        }
        if let Some(follower) = self.inflight.follow(digest) {
            return Ok(Box::new(follower));
        }
        match File::open(self.blob_path(digest)) {
            Ok(f) => Ok(Box::new(f)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(ContentError::NotFound {
                digest: digest.clone(),
                source_name: self.describe(),
            }),
            Err(source) => Err(ContentError::Io {
                digest: digest.clone(),
                source,
            }),
        }
    }

    /// Blobs are checked before they are renamed into place; one being written is read only
    /// up to its last byte once its writer has checked it. So is a layer listed without its
    /// bytes: its listing was made from bytes the daemon
    /// vouched for or that were hashed, and they come back the same way when needed.
    fn is_verified(&self, digest: &Digest) -> bool {
        self.inflight.contains(digest) || self.has_blob(digest) || self.has_listing(digest)
    }

    fn describe(&self) -> String {
        format!("image store {}", self.root.display())
    }

    fn open_listing(&self, digest: &Digest) -> Option<Box<dyn Read + Send + '_>> {
        let file = File::open(self.listing_path(digest)).ok()?;
        Some(Box::new(file))
    }

    /// From the listing's trailer, for a layer whose bytes are not here.
    fn listed(&self, digest: &Digest) -> Option<(Compression, Digest)> {
        if self.has_blob(digest) {
            return None;
        }
        let head = crate::layer::persist::check(self.open_listing(digest)?).ok()??;
        Some((head.compression, head.diff_id))
    }

    fn keep_listing(&self, digest: &Digest) -> Option<Box<dyn KeptFile + '_>> {
        Some(Box::new(KeptListing {
            store: self,
            digest: digest.clone(),
            file: self.new_listing().ok()?,
        }))
    }
}

/// A listing being written to `tmp/`, put in place under a blob's digest by
/// [`ListingFile::keep_as`].
pub struct ListingFile {
    out: io::BufWriter<tempfile::NamedTempFile>,
    listings: PathBuf,
}

impl ListingFile {
    /// Puts the listing in place as the one of the layer blob `digest`. Renamed without an
    /// `fsync`, unlike a blob: a listing torn by a crash fails its own check and is made again
    /// (or the layer exported again), and syncing one per layer would cost a cold run of many
    /// small layers more than the listings save.
    pub fn keep_as(self, digest: &Digest) -> io::Result<()> {
        let file = self
            .out
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        let dest = self
            .listings
            .join(digest.algorithm().as_str())
            .join(digest.hex());
        file.persist(dest).map(drop).map_err(|e| e.error)
    }
}

impl Write for ListingFile {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.out.write(bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// A listing a walk of a blob of the store is making.
struct KeptListing<'a> {
    store: &'a Store,
    digest: Digest,
    file: ListingFile,
}

impl Write for KeptListing<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.file.write(bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl KeptFile for KeptListing<'_> {
    /// Kept only beside a blob that is in place: the walk that made it read a blob the store
    /// verified.
    fn keep(self: Box<Self>) -> io::Result<()> {
        if !self.store.has_blob(&self.digest) {
            return Ok(());
        }
        self.file.keep_as(&self.digest)
    }
}

/// Bytes written to the store by [`Store::ingest_unhashed`], not yet under a digest.
#[derive(Debug)]
pub struct Unhashed {
    file: tempfile::NamedTempFile,
    size: u64,
}

impl Unhashed {
    /// How many bytes were written.
    pub fn size(&self) -> u64 {
        self.size
    }
}

/// A blob being written: bytes go to a temporary file in the store and are hashed as they
/// come; [`BlobWriter::commit`] checks digest and size, syncs and renames the file into place.
/// Dropping it without committing deletes the temporary file.
pub struct BlobWriter {
    publisher: Option<Publisher>,
    file: tempfile::NamedTempFile,
    hasher: Hasher,
    expected: Digest,
    declared: u64,
    seen: u64,
    dest: PathBuf,
}

impl BlobWriter {
    /// Appends bytes; fails as soon as they exceed the declared size.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.seen += bytes.len() as u64;
        if self.seen > self.declared {
            return Err(ContentError::SizeMismatch {
                digest: self.expected.clone(),
                declared: self.declared,
                actual: self.seen,
            }
            .into());
        }
        self.hasher.update(bytes);
        self.file
            .write_all(bytes)
            .map_err(|e| io_err(self.file.path())(e))?;
        if let Some(p) = &self.publisher {
            p.advance(self.seen);
        }
        Ok(())
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.seen
    }

    /// Gives up, telling readers of the blob why.
    pub fn abandon(mut self, reason: String) {
        if let Some(p) = self.publisher.take() {
            p.finish(Err(reason));
        }
    }

    /// Checks the content and moves it under its digest's name.
    pub fn commit(mut self) -> Result<(), StoreError> {
        let publisher = self.publisher.take();
        let outcome = self.check_and_persist(publisher.as_ref());
        if let Some(p) = publisher {
            p.finish(outcome.as_ref().map(drop).map_err(ToString::to_string));
        }
        outcome
    }

    fn check_and_persist(self, publisher: Option<&Publisher>) -> Result<(), StoreError> {
        if self.seen != self.declared {
            return Err(ContentError::SizeMismatch {
                digest: self.expected,
                declared: self.declared,
                actual: self.seen,
            }
            .into());
        }
        let actual = self.hasher.finish();
        if actual != self.expected {
            return Err(ContentError::DigestMismatch {
                expected: self.expected,
                actual,
            }
            .into());
        }
        if let Some(p) = publisher {
            p.verified();
        }
        persist(self.file, &self.dest)
    }
}

/// Feeds everything `reader` holds to `sink`, in large chunks.
fn copy_chunks(
    reader: &mut impl Read,
    mut sink: impl FnMut(&[u8]) -> Result<(), StoreError>,
    read_error: impl Fn(io::Error) -> StoreError,
) -> Result<(), StoreError> {
    let mut buf = vec![0u8; 256 << 10];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => sink(&buf[..n])?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(read_error(e)),
        }
    }
}

/// Syncs a complete, checked temporary file and renames it to `dest`: what is under a blob's
/// name is always whole.
fn persist(file: tempfile::NamedTempFile, dest: &Path) -> Result<(), StoreError> {
    file.as_file().sync_all().map_err(io_err(file.path()))?;
    file.persist(dest).map_err(|e| StoreError::Io {
        path: dest.to_owned(),
        source: e.error,
    })?;
    Ok(())
}

/// [`Store::default_root`] over any environment, so that tests need not change the process's.
fn root_from(env: impl Fn(&str) -> Option<std::ffi::OsString>) -> Result<PathBuf, StoreError> {
    let non_empty = |k: &str| env(k).filter(|v| !v.is_empty());
    if let Some(dir) = non_empty(STORE_ENV) {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = non_empty("XDG_CACHE_HOME") {
        return Ok(PathBuf::from(dir).join("ocidiff"));
    }
    match non_empty("HOME") {
        Some(home) => Ok(PathBuf::from(home).join(".cache").join("ocidiff")),
        None => Err(StoreError::NoRoot),
    }
}

/// A descriptor with only the fields a store needs.
pub(crate) fn descriptor(media_type: &str, digest: Digest, size: u64) -> Descriptor {
    Descriptor::new(media_type, digest, size)
}

#[cfg(test)]
mod tests;
