//! One pair of manifests and everything below them: the manifests' own fields, the configs,
//! the layers, then the closer looks (details, packages) the options ask for.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::documents::values;
use super::{CompareError, Pair, PairSide, Walk, classify};
use crate::finding::{Class, FieldDiff, Finding, Kind};
use crate::layer::{self, Tree};
use crate::model::{Blob, Descriptor, Digest, Manifest, Platform, Side};
use crate::normalize::{Aspect, document};

/// For each differing path of a squashed comparison, the layer that last wrote it and the
/// entry's name there; one map per side.
type Origins = [HashMap<String, (usize, String)>; 2];

/// What the configs of a pair gave.
struct Configs {
    /// The configs' bytes, kept for extraction when a counted difference was found in them.
    kept: [Option<Vec<u8>>; 2],
    diff_ids: [Vec<Digest>; 2],
}

impl Walk<'_> {
    /// Compares the manifests `lm` and `rm`, found at `location` (for `platform`, when chosen
    /// from an index).
    pub(super) fn manifests(
        &self,
        location: String,
        platform: Option<&Platform>,
        lm: Blob,
        rm: Blob,
    ) -> Result<(Pair, Vec<Finding>), CompareError> {
        let mut findings = Vec::new();
        // Root manifests' descriptors were compared as the roots.
        if let (Some(_), Some(ld), Some(rd)) = (platform, &lm.descriptor, &rm.descriptor) {
            findings.extend(self.descriptors(&location, ld, rd));
        }
        let manifests = [
            self.parse_manifest(Side::Lhs, &lm)?,
            self.parse_manifest(Side::Rhs, &rm)?,
        ];
        let docs = [
            self.json_value(Side::Lhs, &lm)?,
            self.json_value(Side::Rhs, &rm)?,
        ];
        findings.extend(values(
            Kind::Manifest,
            &location,
            &docs,
            document::manifests,
            self.rules(),
        ));
        let configs = self.configs(
            &location,
            [&manifests[0].config, &manifests[1].config],
            &mut findings,
        )?;

        let [ll, rl] = [&manifests[0].layers, &manifests[1].layers];
        let squashed = self.rules().flatten || ll.len() != rl.len();
        findings.extend(self.layer_count(&location, [ll.len(), rl.len()]));
        let found = self.layers(
            &location,
            [ll, rl],
            [&configs.diff_ids[0], &configs.diff_ids[1]],
            squashed,
        )?;
        findings.extend(found.findings);
        let origins = match (squashed, &found.trees) {
            (true, Some(trees)) => origins(&location, trees, &findings),
            _ => Origins::default(),
        };
        self.apply_ignore_paths(&mut findings);
        self.details_of(&location, [ll, rl], &origins, &mut findings)?;
        if let (true, Some([lt, rt])) = (self.rules().packages, &found.trees) {
            self.packages(&location, [lt, rt], [ll, rl], &mut findings)?;
        }
        let pair = Pair::new(
            location,
            squashed,
            [lm, rm],
            configs.kept,
            manifests,
            origins,
        );
        Ok((pair, findings))
    }

    /// Compares the config descriptors and, when they differ, the configs; returns what the
    /// layers and the extraction need of them.
    fn configs(
        &self,
        location: &str,
        [lc, rc]: [&Descriptor; 2],
        findings: &mut Vec<Finding>,
    ) -> Result<Configs, CompareError> {
        let config_loc = format!("{location}/config");
        findings.extend(self.descriptors(&config_loc, lc, rc));
        let mut kept = [None, None];
        let bytes = if lc.digest == rc.digest {
            self.verify_both(lc, rc)?;
            let bytes = self.json_blob(Side::Lhs, lc)?;
            [bytes.clone(), bytes]
        } else {
            let bytes = [
                self.json_blob(Side::Lhs, lc)?,
                self.json_blob(Side::Rhs, rc)?,
            ];
            let parsed: [Value; 2] = [
                self.config_as(Side::Lhs, lc, &bytes[0])?,
                self.config_as(Side::Rhs, rc, &bytes[1])?,
            ];
            let found = values(
                Kind::Config,
                &config_loc,
                &parsed,
                |docs, rules| docs.map(|d| document::config(d, rules)),
                self.rules(),
            );
            if found.iter().any(|f| f.counted) {
                kept = bytes.clone().map(Some);
            }
            findings.extend(found);
            bytes
        };
        Ok(Configs {
            kept,
            diff_ids: [
                self.diff_ids(Side::Lhs, lc, &bytes[0])?,
                self.diff_ids(Side::Rhs, rc, &bytes[1])?,
            ],
        })
    }

    /// A different number of layers, a difference of its own: set aside when the file
    /// systems are compared (`flatten`), since then how files are split into layers is not.
    fn layer_count(&self, location: &str, [l, r]: [usize; 2]) -> Option<Finding> {
        if l == r {
            return None;
        }
        let d = FieldDiff::new("count", Some(json!(l)), Some(json!(r)), Class::Layering);
        Some(classify::finding(
            Kind::Manifest,
            location,
            ".layers",
            vec![if self.rules().sets_aside(Aspect::Layering) {
                d.set_aside()
            } else {
                d
            }],
        ))
    }

    /// Sets aside the file findings `--ignore-path` matches.
    fn apply_ignore_paths(&self, findings: &mut [Finding]) {
        for f in findings.iter_mut() {
            if f.kind == Kind::File && self.opts.ignore_paths.matches(&f.name) {
                for field in &mut f.fields {
                    field.counted = false;
                }
                classify::refresh(f);
                f.class = Class::IgnoredPath;
                f.explanation = Class::IgnoredPath.explain(false);
            }
        }
    }

    /// Adds details to the file findings, finding each file in the layer that holds it: the
    /// layer named by the finding's location, or for squashed comparisons its origin.
    fn details_of(
        &self,
        location: &str,
        layers: [&[Descriptor]; 2],
        origins: &Origins,
        findings: &mut [Finding],
    ) -> Result<(), CompareError> {
        let rootfs = format!("{location}/rootfs");
        let layer_prefix = format!("{location}/layers-");
        self.details(
            layers,
            |side, f| {
                if f.location == rootfs {
                    origins[side.i()].get(&f.name).cloned()
                } else {
                    let layer = f.location.strip_prefix(&layer_prefix)?.parse().ok()?;
                    Some((layer, layer::clean(&f.name)))
                }
            },
            findings,
        )
    }
}

/// Where each file finding of a squashed comparison came from on each side.
fn origins(location: &str, trees: &[Tree; 2], findings: &[Finding]) -> Origins {
    let rootfs = format!("{location}/rootfs");
    let mut origins = Origins::default();
    for f in findings.iter().filter(|f| f.location == rootfs) {
        for side in Side::BOTH {
            if let Some(e) = trees[side.i()].get(&layer::clean(&f.name)) {
                origins[side.i()].insert(f.name.clone(), (e.layer, layer::clean(&e.name)));
            }
        }
    }
    origins
}

impl Pair {
    fn new(
        location: String,
        squashed: bool,
        [ml, mr]: [Blob; 2],
        [cl, cr]: [Option<Vec<u8>>; 2],
        [mfl, mfr]: [Manifest; 2],
        [ol, or]: Origins,
    ) -> Pair {
        Pair {
            location,
            squashed,
            sides: [
                PairSide {
                    manifest: ml,
                    config: cl,
                    layers: mfl.layers,
                    origin: ol,
                },
                PairSide {
                    manifest: mr,
                    config: cr,
                    layers: mfr.layers,
                    origin: or,
                },
            ],
        }
    }
}
