//! One pair of manifests and everything below them: the manifests' own fields, the configs,
//! the layers, then the closer looks (details, packages) the options ask for.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::documents::values;
use super::{CompareError, Pair, PairSide, Walk, classify};
use crate::finding::{Class, FieldDiff, Finding, Kind};
use crate::layer::{self, FileDigests, Tree};
use crate::model::{Blob, Config, Descriptor, Digest, Manifest, Platform, Side};
use crate::normalize::{Aspect, document};

/// For each differing path of a squashed comparison, the layer that last wrote it and the
/// entry's name there; one map per side.
type Origins = [HashMap<String, (usize, String)>; 2];

/// What the configs of a pair gave.
struct Configs {
    /// The configs' bytes, kept for extraction when a counted difference was found in them.
    kept: [Option<Vec<u8>>; 2],
    diff_ids: [Vec<Digest>; 2],
    /// Their `created`, where they have one (for the advice's package snapshot).
    created: [Option<String>; 2],
}

/// What one pair of manifests gave: the pair kept for extraction, the findings, and the
/// configs' `created`.
pub(super) type PairFound = (Pair, Vec<Finding>, [Option<String>; 2]);

impl Walk<'_> {
    /// Compares the manifests `lm` and `rm`, found at `location` (for `platform`, when chosen
    /// from an index).
    pub(super) fn manifests(
        &self,
        location: String,
        platform: Option<&Platform>,
        lm: Blob,
        rm: Blob,
    ) -> Result<PairFound, CompareError> {
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
            docs,
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
        let count_at = findings.len();
        let found = self.layers(
            &location,
            [ll, rl],
            [&configs.diff_ids[0], &configs.diff_ids[1]],
            squashed,
        )?;
        // After the layers' own checks, before their findings.
        if let Some(count) = self.layer_count(&location, [ll, rl])? {
            findings.insert(count_at, count);
        }
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
        Ok((pair, findings, configs.created))
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
        // Each config is checked against Go's reading once (`config_as`); the fields the walk
        // needs come from the JSON values a differing pair is diffed as.
        let configs: [Config; 2] = if lc.digest == rc.digest {
            self.verify_both(lc, rc)?;
            let bytes = self.json_blob(Side::Lhs, lc)?;
            let config: Config = self.config_as(Side::Lhs, lc, &bytes)?;
            [config.clone(), config]
        } else {
            let bytes = [
                self.json_blob(Side::Lhs, lc)?,
                self.json_blob(Side::Rhs, rc)?,
            ];
            let parsed: [Value; 2] = [
                self.config_as(Side::Lhs, lc, &bytes[0])?,
                self.config_as(Side::Rhs, rc, &bytes[1])?,
            ];
            let configs = [
                self.config_from(Side::Lhs, lc, &parsed[0])?,
                self.config_from(Side::Rhs, rc, &parsed[1])?,
            ];
            let found = values(
                Kind::Config,
                &config_loc,
                parsed,
                |docs, rules| docs.map(|d| document::config(d, rules)),
                self.rules(),
            );
            if found.iter().any(|f| f.counted) {
                kept = bytes.map(Some);
            }
            findings.extend(found);
            configs
        };
        let [l, r] = configs;
        Ok(Configs {
            created: [l.created, r.created],
            kept,
            diff_ids: [
                l.rootfs.map(|r| r.diff_ids).unwrap_or_default(),
                r.rootfs.map(|r| r.diff_ids).unwrap_or_default(),
            ],
        })
    }

    /// A different number of layers, a difference of its own (the file systems are then
    /// compared, not the layers): set aside when the file systems are what is compared
    /// (`flatten`), and under any ignore rule when the layers one side has more of hold no
    /// entries (BuildKit writes one for a `WORKDIR`, the classic builder none): those change
    /// nothing.
    fn layer_count(
        &self,
        location: &str,
        layers: [&[Descriptor]; 2],
    ) -> Result<Option<Finding>, CompareError> {
        let [l, r] = layers.map(<[Descriptor]>::len);
        if l == r {
            return Ok(None);
        }
        let rules = self.rules();
        let only_empty = self.only_empty_layers_differ(layers)?;
        let d = FieldDiff::new("count", Some(json!(l)), Some(json!(r)), Class::Layering);
        let d = if rules.sets_aside(Aspect::Layering)
            || (only_empty && rules.sets_aside(Aspect::NoEffect))
        {
            d.set_aside()
        } else {
            d
        };
        let mut f = classify::finding(Kind::Manifest, location, ".layers", vec![d]);
        if only_empty {
            f.detail.get_or_insert_with(Default::default).note = Some(
                "the layers one image has more of hold no entries: they change nothing (set aside \
                 under any ignore option), and the file systems the layers produce are compared"
                    .into(),
            );
        }
        Ok(Some(f))
    }

    /// Whether both sides have as many layers with entries: what one has more of is empty.
    fn only_empty_layers_differ(&self, layers: [&[Descriptor]; 2]) -> Result<bool, CompareError> {
        // An empty tar is a few 512-byte blocks, compressed a few dozen bytes: only layers
        // this small are read to find out.
        const EMPTY_AT_MOST: u64 = 64 << 10;
        let mut holding = [0usize; 2];
        for side in Side::BOTH {
            for (i, d) in layers[side.i()].iter().enumerate() {
                let empty = d.size <= EMPTY_AT_MOST
                    && self
                        .walk(side, d, i, FileDigests::BySize)?
                        .entries
                        .is_empty();
                if !empty {
                    holding[side.i()] += 1;
                }
            }
        }
        Ok(holding[0] == holding[1])
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
