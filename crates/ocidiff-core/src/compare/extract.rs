//! The second pass behind `--report-dir`: reads again only the layers that hold differing
//! files and hands those files, and the differing JSON documents, to a sink.

use std::collections::BTreeMap;
use std::io;

use super::{CompareError, Compared, Pair};
use crate::content::Limits;
use crate::finding::{Finding, Kind};
use crate::image::Image;
use crate::layer::{self, EntryKind, EntryMeta, EntryType, ExtractSink, FileDigests};
use crate::model::{Descriptor, Side};

/// Why extraction stopped: an input failed on the second read, or the sink could not write.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExtractError {
    /// An input failed when read the second time.
    #[error(transparent)]
    Input(#[from] Box<CompareError>),
    /// The sink could not write.
    #[error("writing the report: {0}")]
    Write(#[source] io::Error),
}

/// Where to file what is read from one layer, and which entries: clean name in the layer →
/// the name the finding has.
type Wanted<'a> = (String, BTreeMap<String, &'a str>);

impl Compared {
    /// Hands every differing document and file of `images` (the ones compared) to `sink`.
    pub fn extract(
        &self,
        images: [&Image; 2],
        limits: &Limits,
        sink: &mut dyn ExtractSink,
    ) -> Result<(), ExtractError> {
        let findings = &self.report.findings;
        if findings.iter().any(|f| f.kind == Kind::Index && f.counted) {
            for side in Side::BOTH {
                sink.document(side, "", "index.json", &images[side.i()].root.bytes)
                    .map_err(ExtractError::Write)?;
            }
        }
        for pair in &self.pairs {
            pair.extract_documents(findings, sink)?;
            for ((side, index), wanted) in pair.wanted_files(findings) {
                let Some(desc) = pair.sides[side.i()].layers.get(index) else {
                    continue;
                };
                extract_layer(images[side.i()], side, desc, index, &wanted, limits, sink)?;
            }
        }
        Ok(())
    }
}

impl Pair {
    /// Hands the pair's manifests, when a counted difference is in them, and the configs that
    /// were kept to `sink`.
    fn extract_documents(
        &self,
        findings: &[Finding],
        sink: &mut dyn ExtractSink,
    ) -> Result<(), ExtractError> {
        let manifests_differ = findings.iter().any(|f| {
            f.kind == Kind::Manifest && f.counted && f.location.starts_with(&self.location)
        });
        for side in Side::BOTH {
            let ps = &self.sides[side.i()];
            if manifests_differ {
                sink.document(side, &self.location, "manifest.json", &ps.manifest.bytes)
                    .map_err(ExtractError::Write)?;
            }
            if let Some(config) = &ps.config {
                sink.document(side, &self.location, "config.json", config)
                    .map_err(ExtractError::Write)?;
            }
        }
        Ok(())
    }

    /// The files of the counted file findings of this pair, by the layer of each side they are
    /// read from: the layer named by the finding's location, or for squashed comparisons the
    /// layer that last wrote the file.
    fn wanted_files<'f>(&self, findings: &'f [Finding]) -> BTreeMap<(Side, usize), Wanted<'f>> {
        let mut wanted: BTreeMap<(Side, usize), Wanted<'f>> = BTreeMap::new();
        let rootfs = format!("{}/rootfs", self.location);
        let layer_prefix = format!("{}/layers-", self.location);
        for f in findings
            .iter()
            .filter(|f| f.kind == Kind::File && f.counted)
        {
            for side in Side::BOTH {
                let at = if self.squashed {
                    (f.location == rootfs)
                        .then(|| self.sides[side.i()].origin.get(&f.name).cloned())
                        .flatten()
                } else {
                    f.location
                        .strip_prefix(&layer_prefix)
                        .and_then(|i| i.parse().ok())
                        .map(|layer| (layer, layer::clean(&f.name)))
                };
                if let Some((layer, name)) = at {
                    wanted
                        .entry((side, layer))
                        .or_insert_with(|| (f.location.clone(), BTreeMap::new()))
                        .1
                        .insert(name, f.name.as_str());
                }
            }
        }
        wanted
    }
}

/// Reads the `index`-th layer, `desc`, of `side`'s `image` again and hands the entries
/// `wanted` names to `sink`, filed under its location.
fn extract_layer(
    image: &Image,
    side: Side,
    desc: &Descriptor,
    index: usize,
    (location, names): &Wanted<'_>,
    limits: &Limits,
    sink: &mut dyn ExtractSink,
) -> Result<(), ExtractError> {
    let mut write_error = None;
    // Only the entries' content is wanted: how files are hashed does not matter here.
    layer::walk(
        &*image.blobs,
        desc,
        index,
        None,
        limits,
        FileDigests::BySize,
        |meta, content| {
            let Some(&name) = names.get(&layer::clean(&meta.name)) else {
                return Ok(());
            };
            if write_error.is_some() {
                return Ok(());
            }
            if let Err(e) = sink.entry(side, location, name, entry_kind(meta), content) {
                write_error = Some(e);
            }
            Ok(())
        },
    )
    .map_err(|e| {
        Box::new(CompareError {
            side: Some(side),
            reference: image.reference.to_string(),
            source: Box::new(e.into()),
        })
    })?;
    match write_error {
        Some(e) => Err(ExtractError::Write(e)),
        None => Ok(()),
    }
}

/// What an entry is handed to a sink as.
fn entry_kind(meta: &EntryMeta) -> EntryKind<'_> {
    match (meta.kind, meta.link.as_deref()) {
        (EntryType::File, _) => EntryKind::File,
        (EntryType::Symlink, Some(t)) => EntryKind::Symlink(t),
        (EntryType::Hardlink, Some(t)) => EntryKind::Hardlink(t),
        (EntryType::Dir, _) => EntryKind::Directory,
        _ => EntryKind::Other,
    }
}
