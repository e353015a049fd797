//! `ocidiff load`: copying an image from any source (an archive, a layout) into the store.

use super::{ImageRecord, Store, StoreError};
use crate::content::{BlobSource, ContentError, Limits, read_json_blob};
use crate::image::Image;
use crate::model::{Descriptor, Document, Platform, media};
use crate::reference::DockerRef;

/// Copies every blob reachable from `image.root` into the store and records the image under
/// each of `names` (or, with none, unnamed under its root digest), as loaded from `from` (the
/// archive's file name, as `ocidiff images` shows it). Manifests an index lists but the source
/// lacks (a multi-platform image saved for one platform) are skipped; a missing config or layer
/// is an error. Returns the records written.
pub fn load(
    store: &Store,
    image: &Image,
    names: &[DockerRef],
    from: &str,
) -> Result<Vec<ImageRecord>, StoreError> {
    let _lease = store.lease()?;
    let copied = copy(store, image)?;
    let pulled = jiff::Timestamp::now();
    let record = |name: Option<DockerRef>| ImageRecord {
        name,
        root: copied.root.clone(),
        platforms: copied.platforms.clone(),
        size: copied.size,
        pulled,
        engine: None,
        engine_names: Vec::new(),
        loaded_from: Some(from.to_owned()),
    };
    let records: Vec<ImageRecord> = if names.is_empty() {
        vec![record(None)]
    } else {
        names.iter().map(|n| record(Some(n.clone()))).collect()
    };
    for r in &records {
        store.put_image(r)?;
    }
    Ok(records)
}

/// What [`copy`] stored: the fields of an [`ImageRecord`] that come from the image itself.
pub(crate) struct Copied {
    pub root: Descriptor,
    pub platforms: Vec<Platform>,
    pub size: u64,
}

/// Copies every blob reachable from `image.root` into the store (blobs already held are not
/// read again); the caller holds a lease.
pub(crate) fn copy(store: &Store, image: &Image) -> Result<Copied, StoreError> {
    let src = image.blobs.as_ref();
    let doc = parse(&image.root.bytes, image.root.descriptor.as_ref())?;
    let root = if let Some(desc) = &image.root.descriptor {
        store.ingest(desc, &image.root.bytes[..])?;
        desc.clone()
    } else {
        let media_type = match &doc {
            Document::Index(i) => i.media_type.as_deref().unwrap_or(media::OCI_INDEX),
            Document::Manifest(m) => m.media_type.as_deref().unwrap_or(media::OCI_MANIFEST),
        };
        store.ingest_bytes(media_type, &image.root.bytes)?
    };
    let mut walk = Walk {
        size: root.size,
        platforms: Vec::new(),
    };
    walk.document(store, src, doc, None)?;
    Ok(Copied {
        root,
        platforms: walk.platforms,
        size: walk.size,
    })
}

fn parse(bytes: &[u8], desc: Option<&Descriptor>) -> Result<Document, StoreError> {
    let declared = desc.map(|d| d.media_type.as_str());
    Document::parse(bytes, declared).map_err(|source| StoreError::Document {
        digest: desc.map_or_else(
            || crate::model::Digest::sha256_of(bytes),
            |d| d.digest.clone(),
        ),
        source,
    })
}

struct Walk {
    size: u64,
    platforms: Vec<Platform>,
}

impl Walk {
    fn document(
        &mut self,
        store: &Store,
        src: &dyn BlobSource,
        doc: Document,
        platform: Option<&Platform>,
    ) -> Result<(), StoreError> {
        match doc {
            Document::Index(index) => {
                for child in &index.manifests {
                    if !matches!(
                        child.kind(),
                        crate::model::MediaKind::Index | crate::model::MediaKind::Manifest
                    ) {
                        continue;
                    }
                    let bytes = match read_json_blob(src, child, Limits::default().json_bytes) {
                        Ok(b) => b,
                        Err(ContentError::NotFound { .. }) => continue,
                        Err(e) => return Err(e.into()),
                    };
                    store.ingest(child, &bytes[..])?;
                    self.size += child.size;
                    let doc = parse(&bytes, Some(child))?;
                    self.document(store, src, doc, child.platform.as_ref())?;
                }
            }
            Document::Manifest(manifest) => {
                let config = read_json_blob(src, &manifest.config, Limits::default().json_bytes)?;
                store.ingest(&manifest.config, &config[..])?;
                self.size += manifest.config.size;
                let platform = platform.cloned().or_else(|| platform_of(&config));
                if let Some(p) = platform {
                    if !self.platforms.contains(&p) {
                        self.platforms.push(p);
                    }
                }
                for layer in &manifest.layers {
                    self.size += layer.size;
                    // A source that holds only a layer's listing (the store itself, for an
                    // engine export kept as listings) has nothing more to copy: the engine
                    // exports the layer again when its bytes are needed.
                    if store.has_blob(&layer.digest) || src.open_listing(&layer.digest).is_some() {
                        continue;
                    }
                    store.ingest(layer, src.open(&layer.digest)?)?;
                }
            }
        }
        Ok(())
    }
}

/// The platform an image config declares, when it declares one.
pub(crate) fn platform_of(config: &[u8]) -> Option<Platform> {
    Platform::of_config(config).ok().flatten()
}
