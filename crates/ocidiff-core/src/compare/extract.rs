//! The second pass behind `--report-dir`: reads again only the layers that hold differing
//! files and hands those files, and the differing JSON documents, to a sink.

use std::collections::BTreeMap;
use std::io;

use super::{CompareError, Outcome};
use crate::content::Limits;
use crate::finding::Kind;
use crate::image::Image;
use crate::layer::{self, EntryKind, EntryType, ExtractSink};
use crate::model::Side;

/// Why extraction stopped: an input failed on the second read, or the sink could not write.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExtractError {
    #[error(transparent)]
    Input(#[from] Box<CompareError>),
    #[error("writing the report: {0}")]
    Write(#[source] io::Error),
}

/// Where to file what is read from one layer, and which entries: clean name in the layer →
/// the name the finding has.
type Wanted<'a> = (String, BTreeMap<String, &'a str>);

impl Outcome {
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
            let here = |kind: Kind| {
                findings
                    .iter()
                    .any(|f| f.kind == kind && f.counted && f.location.starts_with(&pair.location))
            };
            for side in Side::BOTH {
                let ps = &pair.sides[side.i()];
                if here(Kind::Manifest) {
                    sink.document(side, &pair.location, "manifest.json", &ps.manifest.bytes)
                        .map_err(ExtractError::Write)?;
                }
                if let Some(config) = &ps.config {
                    sink.document(side, &pair.location, "config.json", config)
                        .map_err(ExtractError::Write)?;
                }
            }
            // (side, layer index) → (location to file under, clean entry name → finding name)
            let mut wanted: BTreeMap<(Side, usize), Wanted<'_>> = BTreeMap::new();
            let rootfs = format!("{}/rootfs", pair.location);
            let layer_prefix = format!("{}/layers-", pair.location);
            for f in findings
                .iter()
                .filter(|f| f.kind == Kind::File && f.counted)
            {
                for side in Side::BOTH {
                    let at = if pair.squashed {
                        (f.location == rootfs)
                            .then(|| pair.sides[side.i()].origin.get(&f.name).cloned())
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
            for ((side, index), (location, names)) in wanted {
                let Some(desc) = pair.sides[side.i()].layers.get(index) else {
                    continue;
                };
                let mut write_error = None;
                layer::walk(
                    &*images[side.i()].blobs,
                    desc,
                    index,
                    limits,
                    |meta, content| {
                        let Some(&name) = names.get(&layer::clean(&meta.name)) else {
                            return Ok(());
                        };
                        if write_error.is_some() {
                            return Ok(());
                        }
                        let kind = match (meta.kind, meta.link.as_deref()) {
                            (EntryType::File, _) => EntryKind::File,
                            (EntryType::Symlink, Some(t)) => EntryKind::Symlink(t),
                            (EntryType::Hardlink, Some(t)) => EntryKind::Hardlink(t),
                            (EntryType::Dir, _) => EntryKind::Directory,
                            _ => EntryKind::Other,
                        };
                        if let Err(e) = sink.entry(side, &location, name, kind, content) {
                            write_error = Some(e);
                        }
                        Ok(())
                    },
                )
                .map_err(|e| {
                    Box::new(CompareError {
                        side: Some(side),
                        reference: images[side.i()].reference.to_string(),
                        source: Box::new(e.into()),
                    })
                })?;
                if let Some(e) = write_error {
                    return Err(ExtractError::Write(e));
                }
            }
        }
        Ok(())
    }
}
