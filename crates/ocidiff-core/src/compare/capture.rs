//! Reading the content of a few chosen entries again, for what needs more than metadata: the
//! package databases of `--packages`, and a closer look at files whose content differs.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;

use rayon::prelude::*;

use super::{CompareError, Walk};
use crate::layer::{self, FileDigests};
use crate::model::{Descriptor, Side};

/// Content read from a layer, cut at a bound.
#[derive(Debug, Clone)]
pub struct Captured {
    pub bytes: Vec<u8>,
    /// The entry was longer than the bound.
    pub truncated: bool,
}

impl Walk<'_> {
    /// The content of the entries named in `wanted` (layer index → clean paths) of one side's
    /// `layers`, keyed by (layer index, clean path), each read up to `max` bytes. Only the
    /// layers named are read, in parallel.
    pub(super) fn capture(
        &self,
        side: Side,
        layers: &[Descriptor],
        wanted: &BTreeMap<usize, BTreeSet<String>>,
        max: u64,
    ) -> Result<HashMap<(usize, String), Captured>, CompareError> {
        let per_layer: Vec<Vec<((usize, String), Captured)>> = wanted
            .par_iter()
            .filter_map(|(&index, names)| layers.get(index).map(|d| (index, d, names)))
            .map(|(index, desc, names)| {
                let mut found = Vec::new();
                // Only the content is wanted: how files are hashed does not matter here.
                layer::walk(
                    &*self.image(side).blobs,
                    desc,
                    index,
                    None,
                    &self.opts.limits,
                    FileDigests::BySize,
                    |meta, content| {
                        let name = layer::clean(&meta.name);
                        if names.contains(&name) {
                            let mut bytes = Vec::new();
                            content.take(max).read_to_end(&mut bytes)?;
                            let truncated = meta.size > max;
                            found.push(((index, name), Captured { bytes, truncated }));
                        }
                        Ok(())
                    },
                )
                .map_err(|e| self.err(side, e))?;
                Ok(found)
            })
            .collect::<Result<_, CompareError>>()?;
        Ok(per_layer.into_iter().flatten().collect())
    }
}
