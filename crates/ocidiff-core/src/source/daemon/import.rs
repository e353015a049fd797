//! Copying a `docker save` stream into the store as it arrives: every regular member becomes a
//! blob (hashed while written), only the archive's small index files are kept in memory, and at
//! the end the image is rebuilt from them as [`crate::source::docker_archive`] does for a file.
//! Nothing but the blobs themselves is written to disk.
//!
//! Members that may be layers are also walked as they stream by, each on a thread of its own,
//! so that the comparison finds their listings ready instead of reading them again after the
//! export ([`crate::layer::Walked`]): the daemon's export is most of a cold run's
//! time, and the walk then costs nothing on top of it.
//!
//! Where an export is kept as listings ([`Layers::Listings`], `docker://` through an engine's
//! API), a member that looks like a layer is not written to the store at all: its walk writes
//! its listing there instead ([`crate::layer::persist`]), a few bytes per entry, and the
//! engine exports the image again, once, when a run needs the layer's bytes
//! ([`super::Exported`]). A cold run then writes a few megabytes where the daemon exports
//! gigabytes. A layer that cannot be walked fails the import ([`DaemonError::Unlisted`]):
//! its bytes are gone, and the caller exports again keeping them.
//!
//! The layers of Docker's classic export (`<id>/layer.tar`, written by the graph-driver
//! daemons) are not hashed: Docker checks each against its diff ID as it exports it (moby's
//! `roLayer.TarStream` fails the export on a mismatch), and the store takes it under the diff
//! ID the config names. Hashing them again was half of a cold run's CPU on two cores, while
//! the daemon needed the same cores to export. Other members, and the OCI layout of newer
//! exports (whose blobs may come unchecked from containerd's content store), are hashed.

use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use super::DaemonError;
use crate::content::{BlobSource, HEAD_BYTES, Limits, read_json_blob};
use crate::layer::persist::{self, Head};
use crate::layer::tar::{self as tar_reader, Reader, typeflag};
use crate::layer::{self, EntryMeta, FileDigests, Listing, WalkEnd, Walked};
use crate::model::{Algorithm, Blob, Digest, media};
use crate::model::{Compression, Hasher};
use crate::source::SourceError;
use crate::source::docker_archive::{
    ClassicBlob, Saved, SavedMembers, classic_layer_type, malformed, open_saved,
};
use crate::source::members::{self, Entry, Found, Members};
use crate::store::{ListingFile, Store, Unhashed, descriptor};

/// The archive's own index files, read into memory rather than stored as blobs.
const INDEX_FILES: [&str; 4] = ["manifest.json", "index.json", "oci-layout", "repositories"];

/// Members at least this large that are not JSON are walked as they stream by: layers, as far
/// as the name can tell (configs and manifests are far smaller; a small layer is quick to walk
/// later).
const WALK_FROM: u64 = 256 << 10;

/// How many entries the listings walked during one export may hold in all. A listing is kept
/// until the comparison, about a kilobyte per entry: 219 MB for two exports of 100 000 files
/// (BENCHMARKS.md, ninth round). A layer that would pass the bound is not kept; the comparison
/// streams it from the store with the other side's, in a bounded window. The large pair's
/// exports hold 19 000 entries each, and keep their head start.
const KEEP_ENTRIES: usize = 32 << 10;

/// What an import keeps of the members it walks as they stream by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layers {
    /// Their bytes, as every other member's.
    Bytes,
    /// Their listings only, when they look like layers (see the module's documentation).
    Listings,
}

/// A member copied into the store, or listed there.
#[derive(Debug, Clone)]
struct Stored {
    digest: Digest,
    size: u64,
    /// Its first bytes, which tell a compressed layer from a plain one.
    magic: Vec<u8>,
}

/// A classic export's layer, written to the store unhashed (or listed): its digest is the diff
/// ID the config gives it, which the daemon checked while exporting it.
struct Vouched {
    /// The bytes, until they are stored under their digest.
    blob: Option<Unhashed>,
    /// Its listing, written but not yet in place, when the bytes were not kept: an uncompressed
    /// layer's, so the diff ID is its digest.
    listed: Option<persist::Writer<ListingFile>>,
    /// The digest it was stored under.
    digest: Option<Digest>,
    size: u64,
    magic: Vec<u8>,
    listing: Option<Listing>,
}

/// What a regular member of the stream became.
#[derive(Debug, Clone)]
enum Kept {
    Stored(Stored),
    /// A classic layer, by its index among the [`Vouched`] members.
    Vouched(usize),
    /// One of the archive's index files, held in memory.
    Index(Arc<Vec<u8>>),
    /// Docker's v1 metadata for a layer (`<id>/json`, `<id>/VERSION`): nothing refers to it.
    Dropped,
}

/// Copies the `docker save` stream `reader` into the store and returns the image's root, read
/// as [`crate::source::docker_archive`] reads a file (the members placed as `docker load`
/// extracts them; the OCI layout of Docker ≥ 25, checked against `manifest.json`, or a manifest
/// synthesised from `manifest.json`). The root itself is not stored yet. `label` names the
/// stream in errors (`docker://x`). The caller holds a lease on the store. Also returns the
/// layers walked on the way. `vouching`: the stream comes from Docker itself, whose classic
/// layers are taken unhashed (see the module's documentation). `layers`: what is kept of the
/// members walked on the way.
pub fn import(
    store: &Store,
    reader: impl Read,
    label: &str,
    vouching: bool,
    layers: Layers,
) -> Result<(Blob, Walked), SourceError> {
    import_keeping(store, reader, label, vouching, layers, KEEP_ENTRIES)
}

/// [`import`], keeping walked listings of `keep` entries in all in memory.
fn import_keeping(
    store: &Store,
    reader: impl Read,
    label: &str,
    vouching: bool,
    layers: Layers,
    mut keep: usize,
) -> Result<(Blob, Walked), SourceError> {
    let path = Path::new(label);
    let not_tar = |source: io::Error| -> SourceError {
        DaemonError::Read {
            what: format!("the export of {label}"),
            source,
        }
        .into()
    };
    let limit = Limits::default().json_bytes;
    let mut tar = Reader::new(reader);
    let mut members: Members<Kept> = Members::default();
    let mut walked = Walked::new();
    let mut vouched = Vec::new();
    while let Some(header) = tar.next_header().map_err(|e| not_tar(e.into_io()))? {
        let raw_name = header.name.clone();
        let name = String::from_utf8_lossy(&members::clean(&raw_name)).into_owned();
        let entry = match header.typeflag {
            typeflag::REG => {
                let size = u64::try_from(header.size).unwrap_or(0);
                let kept = if INDEX_FILES.contains(&name.as_str()) {
                    if size > limit {
                        return Err(malformed(
                            path,
                            &name,
                            format!("it is {size} bytes, more than {limit}"),
                        ));
                    }
                    let mut bytes = Vec::new();
                    tar.read_to_end(&mut bytes).map_err(not_tar)?;
                    Kept::Index(Arc::new(bytes))
                } else if name.ends_with("/json") || name.ends_with("/VERSION") {
                    Kept::Dropped
                } else {
                    let member = Member {
                        store,
                        name: &name,
                        size,
                        label,
                        layers,
                    };
                    if vouching && classic_layer(&name) {
                        vouched.push(member.vouch(&mut tar, &mut keep)?);
                        Kept::Vouched(vouched.len() - 1)
                    } else {
                        Kept::Stored(member.store(&mut tar, &mut walked, &mut keep)?)
                    }
                };
                Entry::File(kept)
            }
            typeflag::DIR => Entry::Dir,
            typeflag::SYMLINK => Entry::Symlink(header.linkname.clone()),
            typeflag::LINK => Entry::Hardlink(header.linkname.clone()),
            typeflag::CHAR | typeflag::BLOCK | typeflag::FIFO => Entry::Other,
            typeflag::X_GLOBAL_HEADER => continue,
            other => {
                return Err(malformed(
                    path,
                    &name,
                    format!(
                        "it has tar type {:?}, which docker load refuses",
                        char::from(other)
                    ),
                ));
            }
        };
        members
            .insert(&raw_name, entry)
            .map_err(|e| malformed(path, "export", e.to_string()))?;
    }

    // Tar writers pad past the end-of-archive blocks; a writer whose pipe closed before it
    // wrote them would die of SIGPIPE (`podman save`). What follows the archive is not read.
    let _ = io::copy(&mut tar.into_inner(), &mut io::sink());

    let mut streamed = Streamed {
        store,
        path,
        members: &members,
        vouched,
        walked: &mut walked,
    };
    let (Saved::Layout(root) | Saved::Classic(root)) = open_saved(&mut streamed, None)?;
    Ok((root, walked))
}

/// `<64 hex digits>/layer.tar`: where Docker's graph-driver export writes each layer.
fn classic_layer(name: &str) -> bool {
    name.strip_suffix("/layer.tar")
        .is_some_and(|id| id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whether a member whose first bytes are `head` (a tar block's worth, or all of a shorter
/// member) is walked to be kept as a listing: a gzip or zstd stream, or a tar header Go reads.
/// Anything else (a large config, bytes no runtime unpacks) is stored, so that what needs it
/// finds it.
fn looks_like_layer(head: &[u8]) -> bool {
    match crate::content::detected(head) {
        Compression::Gzip | Compression::Zstd => true,
        Compression::None => head
            .try_into()
            .is_ok_and(|block: &[u8; 512]| tar_reader::is_header(block)),
    }
}

/// Reads up to one tar block of `member`, for [`looks_like_layer`].
fn peek(member: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(512);
    member.take(512).read_to_end(&mut head)?;
    Ok(head)
}

/// One regular member of the export, about to be read.
struct Member<'a> {
    store: &'a Store,
    name: &'a str,
    size: u64,
    label: &'a str,
    layers: Layers,
}

impl Member<'_> {
    fn what(&self) -> String {
        format!("{} in the export of {}", self.name, self.label)
    }

    fn unlisted(&self, reason: String) -> SourceError {
        DaemonError::Unlisted {
            label: self.label.to_owned(),
            member: self.name.to_owned(),
            reason,
        }
        .into()
    }

    /// A walker for the member, when it is walked: it may be a layer, and it is listed (kept
    /// as a listing only, when `listable` and the import keeps listings) or large enough (a
    /// small layer is quick to walk later) and within `keep`. A listed member is walked whole,
    /// any other given up past `keep` entries. Small layers are listed too: each stored one
    /// costs an `fsync`, 48 ms for the 240 of two images of 120 layers.
    fn walker(&self, listable: bool, keep: usize, json: bool) -> Option<Walker> {
        if json {
            return None;
        }
        if self.layers == Layers::Listings && listable {
            let file = self.store.new_listing().ok()?;
            let writer = persist::Writer::new(file).ok()?;
            return Walker::start(keep, Some(writer));
        }
        (self.size >= WALK_FROM && keep > 0)
            .then(|| Walker::start(keep, None))
            .flatten()
    }

    /// Copies a classic layer into the store unhashed, walking it on the way, or only lists
    /// it (an uncompressed one: Docker writes no other).
    fn vouch<R: Read>(self, member: &mut R, keep: &mut usize) -> Result<Vouched, SourceError> {
        let head = peek(member).map_err(|e| self.read_error(e))?;
        let plain = crate::content::detected(&head) == Compression::None;
        let mut walker = self.walker(plain && looks_like_layer(&head), *keep, false);
        let mut sniff = Sniff {
            inner: Tee::new(
                io::Cursor::new(head).chain(member),
                walker.as_ref().map(Walker::sender),
            ),
            magic: Vec::with_capacity(HEAD_BYTES),
        };
        if let Some(walker) = walker.take_if(|w| w.lists) {
            let size = io::copy(&mut sniff, &mut io::sink()).map_err(|e| self.read_error(e))?;
            let Sniff { inner, magic } = sniff;
            drop(inner);
            let Walk { listing, file, .. } = walker.finish(keep).map_err(|e| self.unlisted(e))?;
            return Ok(Vouched {
                size,
                blob: None,
                listed: file,
                digest: None,
                magic,
                listing,
            });
        }
        let blob = self
            .store
            .ingest_unhashed(&self.what(), &mut sniff)
            .map_err(SourceError::from)?;
        let Sniff { inner, magic } = sniff;
        drop(inner);
        Ok(Vouched {
            size: blob.size(),
            blob: Some(blob),
            listed: None,
            digest: None,
            magic,
            listing: walker.and_then(|w| w.finish(keep).ok()?.listing),
        })
    }

    /// Copies the member into the store, walking it on the way when it may be a layer, or
    /// hashes and lists it without keeping its bytes.
    // Member names are the exporter's own, matched exactly: `.JSON` is not a config.
    #[allow(clippy::case_sensitive_file_extension_comparisons)]
    fn store<R: Read>(
        self,
        member: &mut R,
        walked: &mut Walked,
        keep: &mut usize,
    ) -> Result<Stored, SourceError> {
        // A layout's blob is named by its digest; anything else is SHA-256'd.
        let named = self
            .name
            .strip_prefix("blobs/")
            .and_then(|rest| rest.split_once('/'))
            .and_then(|(alg, hex)| format!("{alg}:{hex}").parse::<Digest>().ok());
        let algorithm = named.as_ref().map_or(Algorithm::Sha256, Digest::algorithm);
        let head = peek(member).map_err(|e| self.read_error(e))?;
        let walker = self.walker(looks_like_layer(&head), *keep, self.name.ends_with(".json"));
        let mut sniff = Sniff {
            inner: Tee::new(
                io::Cursor::new(head).chain(member),
                walker.as_ref().map(Walker::sender),
            ),
            magic: Vec::with_capacity(HEAD_BYTES),
        };
        let lists = walker.as_ref().is_some_and(|w| w.lists);
        let (digest, size) = if lists {
            hash(algorithm, &mut sniff).map_err(|e| self.read_error(e))?
        } else {
            self.store
                .ingest_unknown(algorithm, &self.what(), &mut sniff)
                .map_err(SourceError::from)?
        };
        let Sniff { inner, magic } = sniff;
        // The walker has seen every byte the digest covers once the member is read to its end.
        drop(inner);
        if let Some(named) = named.filter(|n| *n != digest) {
            return Err(malformed(
                Path::new(self.label),
                self.name,
                format!("its content hashes to {digest}, not {named}"),
            ));
        }
        let walk = match walker.map(|w| w.finish(keep)) {
            Some(Err(reason)) if lists => return Err(self.unlisted(reason)),
            Some(walked) => walked.ok(),
            None => None,
        };
        if let Some(walk) = walk {
            // The walker did not know the digest, which is an uncompressed member's diff ID.
            let diff_id = if walk.end.compression == Compression::None {
                digest.clone()
            } else {
                walk.end.diff_id.clone()
            };
            if let Some(file) = walk.file {
                let head = Head {
                    files: FileDigests::BySize,
                    compression: walk.end.compression,
                    blob_size: size,
                    diff_id: diff_id.clone(),
                };
                keep_listing(file, &head, &digest).map_err(|e| self.unlisted(e.to_string()))?;
            }
            if let Some(mut listing) = walk.listing {
                listing.diff_id = diff_id;
                walked.insert(digest.clone(), Arc::new(listing));
            }
        }
        Ok(Stored {
            digest,
            size,
            magic,
        })
    }

    fn read_error(&self, source: io::Error) -> SourceError {
        DaemonError::Read {
            what: format!("the export of {}", self.label),
            source,
        }
        .into()
    }
}

/// Hashes a member that is not kept, as the store would hash it: its digest and size.
fn hash(algorithm: Algorithm, reader: &mut impl Read) -> io::Result<(Digest, u64)> {
    let mut hasher = Hasher::new(algorithm);
    let mut buf = vec![0; 256 << 10];
    let mut size = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hasher.finish(), size))
}

/// Ends a member's listing and puts it in place under the member's digest.
fn keep_listing(
    file: persist::Writer<ListingFile>,
    head: &Head,
    digest: &Digest,
) -> io::Result<()> {
    file.finish(head)?.keep_as(digest)
}

/// What a walker found.
struct Walk {
    end: WalkEnd,
    /// The listing in memory, when within the bound of entries kept.
    listing: Option<Listing>,
    /// The listing written, when the member is listed rather than stored.
    file: Option<persist::Writer<ListingFile>>,
}

/// Walks one member on a thread of its own, fed the member's bytes as they are stored.
struct Walker {
    to: SyncSender<Vec<u8>>,
    /// The member is listed rather than stored.
    lists: bool,
    thread: JoinHandle<Result<Walk, String>>,
}

impl Walker {
    /// `None` when no thread can be had: the layer is then walked later, as any other. In
    /// memory, entries are kept up to `keep`; without a listing `file`, the walk is given up
    /// past it.
    fn start(keep: usize, file: Option<persist::Writer<ListingFile>>) -> Option<Walker> {
        let (to, from) = sync_channel(8);
        let lists = file.is_some();
        let thread = std::thread::Builder::new()
            .name("walk-export".into())
            .spawn(move || {
                let bytes = Chunks {
                    from,
                    chunk: Vec::new(),
                    at: 0,
                };
                // Not necessarily a layer: a member that is not a tar stream is simply not
                // walked here. Errors are dropped with the walk, so the digest they would
                // name does not matter; the comparison walks such a blob itself and reports.
                let unnamed = Digest::sha256_of(b"");
                let mut file = file;
                let mut entries: Option<Vec<EntryMeta>> = Some(Vec::new());
                let mut count = 0;
                // Typed as docker save's layers are: the bytes decide; the comparison checks the
                // listing against the layer's real media type before it uses it.
                let end = layer::walk_stream_each(
                    bytes,
                    &unnamed,
                    media::DOCKER_LAYER,
                    &Limits::default(),
                    |e| {
                        count += 1;
                        if let Some(w) = &mut file {
                            w.push(&e)?;
                        }
                        if count > keep {
                            entries = None;
                            if file.is_none() {
                                return Err(io::Error::other("more entries than are kept"));
                            }
                        } else if let Some(kept) = &mut entries {
                            kept.push(e);
                        }
                        Ok(())
                    },
                )
                .map_err(|e| e.to_string())?;
                let listing = entries.map(|entries| Listing {
                    compression: end.compression,
                    entries,
                    diff_id: end.diff_id.clone(),
                });
                Ok(Walk { end, listing, file })
            })
            .ok()?;
        Some(Walker { to, lists, thread })
    }

    fn sender(&self) -> SyncSender<Vec<u8>> {
        self.to.clone()
    }

    /// What the walk found, once the member's bytes have all been sent (its sender dropped);
    /// the entries kept in memory are taken from `keep`.
    fn finish(self, keep: &mut usize) -> Result<Walk, String> {
        drop(self.to);
        let walk = self
            .thread
            .join()
            .map_err(|_| "the walk stopped".to_owned())??;
        if let Some(listing) = &walk.listing {
            *keep = keep.saturating_sub(listing.entries.len());
        }
        Ok(walk)
    }
}

/// How many bytes the walker is sent at a time. A socket's reads are often a few kilobytes:
/// sent one by one, waking the walker for each was a fifth of a cold `docker://` run's CPU.
const TEE_CHUNK: usize = 1 << 20;

/// Passes bytes through and sends a copy of them to a walker, in chunks of [`TEE_CHUNK`] (the
/// last one when dropped), until it stops listening.
struct Tee<R> {
    inner: R,
    to: Option<SyncSender<Vec<u8>>>,
    pending: Vec<u8>,
}

impl<R> Tee<R> {
    fn new(inner: R, to: Option<SyncSender<Vec<u8>>>) -> Tee<R> {
        Tee {
            inner,
            to,
            pending: Vec::new(),
        }
    }

    fn send(&mut self) {
        if let Some(to) = &self.to {
            let chunk = std::mem::replace(&mut self.pending, Vec::with_capacity(TEE_CHUNK));
            if !chunk.is_empty() && to.send(chunk).is_err() {
                self.to = None;
            }
        }
    }
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.to.is_some() {
            self.pending.extend_from_slice(&buf[..n]);
            if self.pending.len() >= TEE_CHUNK {
                self.send();
            }
        }
        Ok(n)
    }
}

impl<R> Drop for Tee<R> {
    fn drop(&mut self) {
        self.send();
    }
}

/// The walker's side: the chunks received, as one stream that ends when the sender is gone.
struct Chunks {
    from: Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.from.recv() {
                Ok(next) => {
                    self.chunk = next;
                    self.at = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Passes bytes through, keeping the first [`HEAD_BYTES`].
struct Sniff<R> {
    inner: R,
    magic: Vec<u8>,
}

impl<R: Read> Read for Sniff<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let want = HEAD_BYTES.saturating_sub(self.magic.len()).min(n);
        self.magic.extend_from_slice(&buf[..want]);
        Ok(n)
    }
}

/// The members of a `docker save` archive once streamed into the store.
struct Streamed<'a> {
    store: &'a Store,
    path: &'a Path,
    members: &'a Members<Kept>,
    vouched: Vec<Vouched>,
    walked: &'a mut Walked,
}

impl Streamed<'_> {
    /// What the member `name` leads to became.
    fn kept(&self, name: &str) -> Result<&Kept, SourceError> {
        self.members
            .file(name)
            .map_err(|e| malformed(self.path, name, e.to_string()))
    }

    /// The stored member `name` leads to.
    fn stored(&self, name: &str) -> Result<&Stored, SourceError> {
        match self.kept(name)? {
            Kept::Stored(s) => Ok(s),
            Kept::Vouched(_) => Err(malformed(
                self.path,
                name,
                "it leads to a layer, not a config".into(),
            )),
            Kept::Index(_) | Kept::Dropped => Err(malformed(
                self.path,
                name,
                "it leads to one of the archive's own metadata files".into(),
            )),
        }
    }
}

impl Streamed<'_> {
    /// Stores the `i`-th vouched layer, `name`, under `diff_id` and hands its listing over.
    fn settle(
        &mut self,
        name: &str,
        i: usize,
        diff_id: &Digest,
    ) -> Result<ClassicBlob, SourceError> {
        let v = &mut self.vouched[i];
        let media_type = classic_layer_type(&v.magic);
        let plain = media_type == media::DOCKER_LAYER;
        if let Some(blob) = v.blob.take() {
            let digest = self
                .store
                .settle(blob, plain.then_some(diff_id))
                .map_err(SourceError::from)?;
            if let Some(mut listing) = v.listing.take() {
                if plain {
                    listing.diff_id = digest.clone();
                }
                self.walked.insert(digest.clone(), Arc::new(listing));
            }
            v.digest = Some(digest);
        } else if let Some(file) = v.listed.take() {
            // Only uncompressed members are listed: the diff ID is the layer's digest.
            let head = Head {
                files: FileDigests::BySize,
                compression: Compression::None,
                blob_size: v.size,
                diff_id: diff_id.clone(),
            };
            keep_listing(file, &head, diff_id).map_err(|e| DaemonError::Unlisted {
                label: self.path.display().to_string(),
                member: name.to_owned(),
                reason: format!("its listing could not be kept: {e}"),
            })?;
            if let Some(mut listing) = v.listing.take() {
                listing.diff_id = diff_id.clone();
                self.walked.insert(diff_id.clone(), Arc::new(listing));
            }
            v.digest = Some(diff_id.clone());
        }
        let digest = v.digest.clone().expect("settled above");
        if plain && digest != *diff_id {
            return Err(malformed(
                self.path,
                name,
                format!("the config names it both {digest} and {diff_id}"),
            ));
        }
        Ok(ClassicBlob {
            media_type,
            digest,
            size: v.size,
        })
    }
}

impl SavedMembers for Streamed<'_> {
    fn path(&self) -> &Path {
        self.path
    }

    fn contains(&self, name: &str) -> bool {
        !matches!(self.members.find(name), Ok(Found::Nothing(_)))
    }

    fn read_small(&self, name: &str) -> Result<Vec<u8>, SourceError> {
        match self.kept(name)? {
            Kept::Index(bytes) => Ok(bytes.to_vec()),
            Kept::Stored(s) => {
                let desc = descriptor(media::OCI_EMPTY, s.digest.clone(), s.size);
                Ok(read_json_blob(
                    self.store as &dyn BlobSource,
                    &desc,
                    self.json_limit(),
                )?)
            }
            Kept::Dropped => Err(malformed(
                self.path,
                name,
                "it leads to Docker's v1 metadata, which is not kept".into(),
            )),
            Kept::Vouched(_) => Err(malformed(
                self.path,
                name,
                "it leads to a layer, not a JSON document".into(),
            )),
        }
    }

    /// Daemon exports are held to the default limits: `--max-scale` does not reach them.
    fn json_limit(&self) -> u64 {
        Limits::default().json_bytes
    }

    fn config(&mut self, name: &str) -> Result<(Vec<u8>, ClassicBlob), SourceError> {
        let stored = self.stored(name)?;
        let desc = descriptor(media::DOCKER_CONFIG, stored.digest.clone(), stored.size);
        let bytes = read_json_blob(
            self.store as &dyn BlobSource,
            &desc,
            Limits::default().json_bytes,
        )?;
        let blob = ClassicBlob {
            media_type: media::DOCKER_CONFIG,
            digest: stored.digest.clone(),
            size: stored.size,
        };
        Ok((bytes, blob))
    }

    /// The digest is the one computed while storing it; a plain layer whose digest is not its
    /// `diff_id` is left for the comparison to report, as with any inconsistent image. A
    /// classic layer Docker vouched for is stored under `diff_id` now (a compressed one, which
    /// Docker does not write, is hashed instead).
    fn layer(&mut self, name: &str, diff_id: Digest) -> Result<ClassicBlob, SourceError> {
        if let Kept::Vouched(i) = *self.kept(name)? {
            return self.settle(name, i, &diff_id);
        }
        let stored = self.stored(name)?;
        Ok(ClassicBlob {
            media_type: classic_layer_type(&stored.magic),
            digest: stored.digest.clone(),
            size: stored.size,
        })
    }

    fn holds(&self, name: &str, digest: &Digest) -> Result<bool, SourceError> {
        if let Kept::Vouched(i) = *self.kept(name)? {
            return Ok(self.vouched[i].digest.as_ref() == Some(digest));
        }
        Ok(self.stored(name)?.digest == *digest)
    }

    fn layout_blobs(&self) -> &dyn BlobSource {
        self.store
    }
}

#[cfg(test)]
mod tests {
    use ocidiff_testkit::{
        Compression, DockerArchiveForm, Entry, ImageSpec, Layer, docker_archive_bytes,
    };

    use super::*;
    use crate::model::{Document, Manifest};

    fn spec(content: &str) -> ImageSpec {
        ImageSpec::new()
            .layer(Layer::new(vec![
                Entry::dir("etc/"),
                Entry::file("etc/f", content),
            ]))
            .layer(
                Layer::new(vec![Entry::file("shared", "same in every image")])
                    .compression(Compression::Gzip),
            )
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, store)
    }

    /// Files under `tmp/` and `blobs/`, to check that nothing but blobs is left.
    fn files_under(store: &Store, dir: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![store.root().join(dir)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let e = e.unwrap();
                if e.file_type().unwrap().is_dir() {
                    stack.push(e.path());
                } else {
                    out.push(e.file_name().to_string_lossy().into_owned());
                }
            }
        }
        out.sort();
        out
    }

    /// Reads from the same bytes in small pieces, as a socket delivers them.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.0.len()).min(1000);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn manifest(bytes: &[u8]) -> Manifest {
        match Document::parse(bytes, None).unwrap() {
            Document::Manifest(m) => *m,
            Document::Index(_) => panic!("expected a manifest"),
        }
    }

    #[test]
    fn classic_stream_rebuilds_the_archive_manifest() {
        let built = spec("a").build();
        let (tar, _) =
            docker_archive_bytes(&[(vec!["x:1"], spec("a"))], DockerArchiveForm::Classic);
        for vouching in [false, true] {
            classic_stream_is_read(&built, &tar, vouching);
        }
    }

    fn classic_stream_is_read(built: &ocidiff_testkit::BuiltImage, tar: &[u8], vouching: bool) {
        let (_d, store) = store();
        let (root, _) = import(
            &store,
            Trickle(tar),
            "docker://x:1",
            vouching,
            Layers::Bytes,
        )
        .unwrap();
        assert!(root.descriptor.is_none());
        let m = manifest(&root.bytes);
        assert_eq!(m.media_type.as_deref(), Some(media::DOCKER_MANIFEST));
        assert_eq!(m.config.digest.to_string(), built.config.digest);
        assert_eq!(m.layers[0].media_type, media::DOCKER_LAYER);
        assert_eq!(m.layers[1].media_type, media::DOCKER_LAYER_GZIP);
        let digests: Vec<String> = m.layers.iter().map(|l| l.digest.to_string()).collect();
        let expected: Vec<String> = built.layers.iter().map(|l| l.digest.clone()).collect();
        assert_eq!(digests, expected);
        for d in m.layers.iter().map(|l| &l.digest).chain([&m.config.digest]) {
            assert!(store.has_blob(d), "{d}");
        }
        // The same manifest as reading the saved file in place.
        let (_f, file) = crate::source::archive::tests::temp_file(tar);
        let (in_place, _) =
            crate::source::docker_archive::open(&file, None, &Limits::default()).unwrap();
        assert_eq!(in_place.bytes, root.bytes);
        assert!(files_under(&store, "tmp").is_empty());
        assert_eq!(
            files_under(&store, "blobs").len(),
            3,
            "config and two layers"
        );
    }

    /// The export forms, and whether Docker vouches for them.
    const FORMS: [(DockerArchiveForm, bool); 3] = [
        (DockerArchiveForm::Classic, false),
        (DockerArchiveForm::Classic, true),
        (DockerArchiveForm::OciLayout, true),
    ];

    /// A plain and a gzip layer of `noise`, and a small one.
    fn two_large_one_small(noise: Vec<u8>) -> ImageSpec {
        ImageSpec::new()
            .layer(Layer::new(vec![
                Entry::dir("opt/"),
                Entry::file("opt/noise", noise.clone()),
            ]))
            .layer(Layer::new(vec![Entry::file("opt/noise", noise)]).compression(Compression::Gzip))
            .layer(Layer::new(vec![Entry::file("small", "s")]))
    }

    #[test]
    fn layers_are_walked_as_they_stream_by() {
        // Larger than a walker's chunk (1 MiB), so that both full chunks and the rest are sent.
        let big = two_large_one_small(ocidiff_testkit::noise(2_500_000, 7));
        for (form, vouching) in FORMS {
            let (tar, _) = docker_archive_bytes(&[(vec!["x:1"], big.clone())], form);
            let (_d, store) = store();
            let (root, walked) = import(
                &store,
                Trickle(&tar),
                "docker://x:1",
                vouching,
                Layers::Bytes,
            )
            .unwrap();
            let root = match root.descriptor {
                Some(d) => read_json_blob(&store as &dyn BlobSource, &d, 1 << 20).unwrap(),
                None => root.bytes,
            };
            let m = match Document::parse(&root, None).unwrap() {
                Document::Manifest(m) => *m,
                Document::Index(i) => {
                    let bytes = read_json_blob(&store as &dyn BlobSource, &i.manifests[0], 1 << 20)
                        .unwrap();
                    manifest(&bytes)
                }
            };
            // The two large layers, not the small one; each as walking the stored blob lists it.
            assert_eq!(walked.len(), 2, "{form:?}");
            for (i, desc) in m.layers.iter().enumerate().take(2) {
                let listing = walked[&desc.digest].as_layer(i);
                let again = layer::walk(
                    &store,
                    desc,
                    i,
                    None,
                    &Limits::default(),
                    layer::FileDigests::BySize,
                    |_, _| Ok(()),
                )
                .unwrap();
                let names = |l: &Listing| {
                    l.entries
                        .iter()
                        .map(|e| (e.name.clone(), e.digest, e.layer))
                        .collect::<Vec<_>>()
                };
                assert_eq!(names(&listing), names(&again), "{form:?}");
                assert_eq!(listing.compression, again.compression);
            }
        }
    }

    /// The first manifest an import gives, from the root in memory or the store.
    fn imported_manifest(store: &Store, root: Blob) -> Manifest {
        let bytes = match root.descriptor {
            Some(d) => read_json_blob(store as &dyn BlobSource, &d, 1 << 20).unwrap(),
            None => root.bytes,
        };
        match Document::parse(&bytes, None).unwrap() {
            Document::Manifest(m) => *m,
            Document::Index(i) => manifest(
                &read_json_blob(store as &dyn BlobSource, &i.manifests[0], 1 << 20).unwrap(),
            ),
        }
    }

    /// Kept as listings, the layers leave only their listings in the store, which give what
    /// walking their bytes gives, small ones too; everything that is not a layer is stored as
    /// before.
    #[test]
    fn layers_walked_on_the_way_can_be_kept_as_listings_only() {
        let big = two_large_one_small(ocidiff_testkit::noise(600_000, 5));
        for (form, vouching) in FORMS {
            let (tar, _) = docker_archive_bytes(&[(vec!["x:1"], big.clone())], form);
            let (_d, store) = store();
            let (root, walked) = import(
                &store,
                Trickle(&tar),
                "docker://x:1",
                vouching,
                Layers::Listings,
            )
            .unwrap();
            let m = imported_manifest(&store, root);
            let (_b, bytes) = self::store();
            let (root, _) = import(&bytes, &tar[..], "t", vouching, Layers::Bytes).unwrap();
            let kept = imported_manifest(&bytes, root);
            let digests = |m: &Manifest| -> Vec<Digest> {
                m.layers
                    .iter()
                    .chain([&m.config])
                    .map(|d| d.digest.clone())
                    .collect()
            };
            assert_eq!(
                digests(&m),
                digests(&kept),
                "{form:?}: the same image either way"
            );
            // Docker writes no compressed classic layer; one that says it did is hashed and
            // stored, not taken on its word.
            let gzip_listed = !(form == DockerArchiveForm::Classic && vouching);
            for (i, listed) in [(0, true), (1, gzip_listed), (2, true)] {
                let d = &m.layers[i].digest;
                assert_eq!(store.has_listing(d), listed, "{form:?} layer {i}");
                assert_eq!(store.has_blob(d), !listed, "{form:?} layer {i}");
                if !listed {
                    continue;
                }
                let opts = (None, &Limits::default(), layer::FileDigests::BySize);
                let replayed =
                    layer::list(&store, &m.layers[i], i, opts.0, opts.1, opts.2).unwrap();
                let walked_bytes =
                    layer::walk(&bytes, &kept.layers[i], i, None, opts.1, opts.2, |_, _| {
                        Ok(())
                    })
                    .unwrap();
                assert_eq!(replayed.entries, walked_bytes.entries, "{form:?} layer {i}");
                assert_eq!(replayed.diff_id, walked_bytes.diff_id, "{form:?} layer {i}");
                assert_eq!(replayed.compression, walked_bytes.compression);
                // The listing in memory for this run is the same.
                assert_eq!(walked[d].as_layer(i).entries, walked_bytes.entries);
            }
            assert!(store.has_blob(&m.config.digest));
            assert!(files_under(&store, "tmp").is_empty(), "{form:?}");
        }
    }

    /// A member taken for a layer whose walk fails cannot be kept as a listing, and its bytes
    /// went by: the import fails so that the caller exports again keeping them.
    #[test]
    fn a_layer_that_cannot_be_walked_fails_an_import_of_listings() {
        // A tar header Go reads, a file's worth of bytes, then a block that is no header.
        let mut raw =
            Layer::new(vec![Entry::file("big", ocidiff_testkit::noise(400_000, 9))]).tar_bytes();
        let end = raw.len() - 1024;
        raw.truncate(end);
        raw.extend_from_slice(&[b'x'; 1024]);
        let spec = ImageSpec::new().layer(Layer::raw(raw));
        for form in [DockerArchiveForm::Classic, DockerArchiveForm::OciLayout] {
            let (tar, _) = docker_archive_bytes(&[(vec!["x:1"], spec.clone())], form);
            let (_d, store) = store();
            let err = import(&store, &tar[..], "docker://x:1", true, Layers::Listings).unwrap_err();
            assert!(
                matches!(err, SourceError::Daemon(DaemonError::Unlisted { .. })),
                "{form:?}: {err}"
            );
            assert!(err.to_string().contains("could not be walked"), "{err}");
            assert!(files_under(&store, "tmp").is_empty(), "{form:?}");
            assert!(files_under(&store, "listings").is_empty(), "{form:?}");
            // Kept as bytes, the same export is imported, for the comparison to report.
            let (_d, store) = self::store();
            import(&store, &tar[..], "docker://x:1", true, Layers::Bytes).unwrap();
        }
    }

    /// An export keeps the listings of its walks up to a number of entries in all; a layer
    /// that would pass it is left for the comparison to stream.
    #[test]
    fn walks_keep_a_bounded_number_of_entries() {
        let noise = ocidiff_testkit::noise(300_000, 3);
        // Two walked layers, of two entries and of one.
        let spec = ImageSpec::new()
            .layer(Layer::new(vec![
                Entry::dir("opt/"),
                Entry::file("opt/a", noise.clone()),
            ]))
            .layer(Layer::new(vec![Entry::file("b", noise)]));
        let built = spec.build();
        let layers: Vec<Digest> = built
            .layers
            .iter()
            .map(|l| l.digest.parse().unwrap())
            .collect();
        // In stream order: a classic export writes the layers in order; with keep 2 the first
        // takes it all. (An OCI layout's order is its digests', so keep 2 is left out.)
        let classic = [(3, vec![0, 1]), (2, vec![0]), (1, vec![1]), (0, vec![])];
        let layout = [(3, vec![0, 1]), (1, vec![1]), (0, vec![])];
        for (form, cases) in [
            (DockerArchiveForm::Classic, &classic[..]),
            (DockerArchiveForm::OciLayout, &layout[..]),
        ] {
            let (tar, _) = docker_archive_bytes(&[(vec!["x:1"], spec.clone())], form);
            for (keep, kept) in cases {
                let keep = *keep;
                let (_d, store) = store();
                let (_, walked) =
                    import_keeping(&store, &tar[..], "t", true, Layers::Bytes, keep).unwrap();
                let mut got: Vec<usize> = walked
                    .keys()
                    .map(|d| layers.iter().position(|l| l == d).unwrap())
                    .collect();
                got.sort_unstable();
                assert_eq!(&got, kept, "{form:?}, keep {keep}");
            }
        }
    }

    #[test]
    fn classic_stream_follows_layer_links() {
        // The same layer twice: `docker save` writes it once and links the second to it.
        let layer = Layer::new(vec![Entry::file("f", "twice")]);
        let twice = ImageSpec::new().layer(layer.clone()).layer(layer);
        let built = twice.build();
        let (tar, _) = docker_archive_bytes(&[(vec!["x"], twice)], DockerArchiveForm::Classic);
        assert!(
            tar::Archive::new(&tar[..]).entries().unwrap().any(|e| e
                .unwrap()
                .header()
                .entry_type()
                == tar::EntryType::Symlink),
            "the fixture has a link"
        );
        for vouching in [false, true] {
            let (_d, store) = store();
            let m = manifest(
                &import(&store, &tar[..], "t", vouching, Layers::Bytes)
                    .unwrap()
                    .0
                    .bytes,
            );
            assert_eq!(m.layers.len(), 2);
            assert_eq!(m.layers[0].digest, m.layers[1].digest);
            assert_eq!(m.layers[1].digest.to_string(), built.layers[1].digest);
            assert!(store.has_blob(&m.layers[1].digest));
        }
    }

    /// Docker's classic layers are stored under the config's diff ID without being hashed (the
    /// daemon checked them as it exported them); from any other exporter they are hashed, so
    /// bytes that are not what the config names reach the comparison's diff ID check.
    #[test]
    fn classic_layers_are_hashed_unless_docker_vouches_for_them() {
        let (mut tar, _) =
            docker_archive_bytes(&[(vec!["x"], spec("abc"))], DockerArchiveForm::Classic);
        let at = tar.windows(3).position(|w| w == b"abc").unwrap();
        tar[at] = b'X';
        let diff_id = spec("abc").build().layers[0].digest.clone();
        let tampered = spec("Xbc").build().layers[0].digest.clone();
        for (vouching, stored_as) in [(false, &tampered), (true, &diff_id)] {
            let (_d, store) = store();
            let m = manifest(
                &import(&store, &tar[..], "t", vouching, Layers::Bytes)
                    .unwrap()
                    .0
                    .bytes,
            );
            assert_eq!(
                &m.layers[0].digest.to_string(),
                stored_as,
                "vouching: {vouching}"
            );
            assert!(files_under(&store, "tmp").is_empty());
        }
    }

    #[test]
    fn the_stream_is_read_to_its_end() {
        let (mut tar, _) =
            docker_archive_bytes(&[(vec!["x"], spec("a"))], DockerArchiveForm::Classic);
        tar.extend_from_slice(&[0u8; 10240]);
        let (_d, store) = store();
        let mut rest = &tar[..];
        import(&store, &mut rest, "t", false, Layers::Bytes).unwrap();
        assert!(rest.is_empty(), "{} bytes left unread", rest.len());
    }

    #[test]
    fn oci_layout_stream_opens_the_layout_image() {
        let built = spec("a").build();
        let (tar, _) =
            docker_archive_bytes(&[(vec!["x:1"], spec("a"))], DockerArchiveForm::OciLayout);
        let (_d, store) = store();
        let (root, _) = import(&store, Trickle(&tar), "docker://x:1", true, Layers::Bytes).unwrap();
        let desc = root.descriptor.as_ref().unwrap();
        assert_eq!(desc.digest.to_string(), built.manifest.digest);
        assert!(store.has_blob(&desc.digest));
        let m = manifest(&root.bytes);
        for d in m.layers.iter().map(|l| &l.digest).chain([&m.config.digest]) {
            assert!(store.has_blob(d), "{d}");
        }
        assert!(files_under(&store, "tmp").is_empty());
    }

    #[test]
    fn truncated_or_foreign_streams_are_errors_and_leave_nothing_half_written() {
        let (tar, _) = docker_archive_bytes(&[(vec!["x"], spec("a"))], DockerArchiveForm::Classic);
        for (cut, vouching) in [tar.len() / 2, 700, tar.len() - 1024 - 512 + 10]
            .into_iter()
            .flat_map(|cut| [(cut, false), (cut, true)])
        {
            let (_d, store) = store();
            assert!(
                import(&store, &tar[..cut], "t", vouching, Layers::Bytes).is_err(),
                "cut at {cut}"
            );
            assert!(files_under(&store, "tmp").is_empty(), "cut at {cut}");
            // Every blob left is complete: its name is its content's digest.
            for name in files_under(&store, "blobs") {
                let d: Digest = format!("sha256:{name}").parse().unwrap();
                let bytes = std::fs::read(store.blob_path(&d)).unwrap();
                assert_eq!(Digest::sha256_of(&bytes), d);
            }
        }
        let (_d, store) = store();
        let err = import(
            &store,
            &b"not a tar at all"[..],
            "docker://x",
            true,
            Layers::Bytes,
        )
        .unwrap_err();
        assert!(err.to_string().contains("docker://x"), "{err}");
    }

    #[test]
    fn blobs_that_do_not_match_their_names_are_refused() {
        let (mut tar, _) =
            docker_archive_bytes(&[(vec!["x"], spec("a"))], DockerArchiveForm::OciLayout);
        // Flip a byte of the gzip layer's trailer, inside a blobs/ member.
        let gz = spec("a").build().layers[1].bytes.clone();
        let at = tar
            .windows(gz.len())
            .position(|w| w == gz.as_slice())
            .unwrap();
        tar[at + gz.len() - 1] ^= 0xff;
        let (_d, store) = store();
        let err = import(&store, &tar[..], "docker://x", true, Layers::Bytes).unwrap_err();
        assert!(err.to_string().contains("hashes to"), "{err}");
    }
}
