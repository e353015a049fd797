//! The comparison engine: walks two images level by level — index, manifests (per platform),
//! config, layers, tar entries — and returns every difference as a [`Finding`].
//!
//! Blobs with the same digest on both sides are verified (hashed) but never decompressed or
//! walked; layer pairs are walked in parallel, each side of a pair on its own thread.
//!
//! [`Finding`]: crate::finding::Finding

mod advice;
mod capture;
mod classify;
mod descriptors;
mod details;
mod documents;
mod entries;
mod error;
mod extract;
mod jobs;
mod json;
mod layers;
mod manifest;
mod packages;
mod platforms;
mod stream;
mod verify;

use std::collections::HashMap;

pub use error::{CompareError, InputError};
pub use extract::ExtractError;

use crate::content::Limits;
use crate::finding::{self, Comparison, Findings, Input, Kind, Summary, Verdict};
use crate::image::Image;
pub use crate::model::PlatformChoice;
use crate::model::{Blob, Descriptor, Side};
use crate::normalize::{PathFilter, Rules, document};
use crate::store::DiffIds;
use documents::{Root, values};

/// How to compare.
#[derive(Debug, Clone, Default)]
pub struct CompareOptions {
    /// What the ignore rules set aside.
    pub rules: Rules,
    /// Which platforms of multi-platform images to compare.
    pub platforms: PlatformChoice,
    /// Bounds on what either image may make the walk read.
    pub limits: Limits,
    /// Paths whose differences are set aside (`--ignore-path`).
    pub ignore_paths: PathFilter,
    /// Where diff IDs computed by earlier runs are kept (see [`DiffIds`]); `None` computes
    /// every one that is needed.
    pub diff_ids: Option<DiffIds>,
    /// Look closer at every file whose content differs — unified diffs of text files, ELF
    /// sections — not only at archives. It reads those files' layers again, so it is worth it
    /// only when a report will show the details.
    pub details: bool,
    /// Told how reading the layers progresses.
    pub progress: crate::model::Reporter,
}

/// The report plus what a second pass needs to extract the differing files.
pub struct Compared {
    /// Every difference found, and the verdict.
    pub report: Findings,
    pairs: Vec<Pair>,
}

/// One compared pair of manifests, kept for extraction.
struct Pair {
    location: String,
    sides: [PairSide; 2],
    squashed: bool,
}

struct PairSide {
    manifest: Blob,
    config: Option<Vec<u8>>,
    layers: Vec<Descriptor>,
    /// For squashed comparisons: for each differing path, the layer that last wrote it and the
    /// name the entry has there.
    origin: HashMap<String, (usize, String)>,
}

/// Compares two images.
pub fn compare(lhs: &Image, rhs: &Image, opts: &CompareOptions) -> Result<Compared, CompareError> {
    Walk {
        sides: [lhs, rhs],
        opts,
    }
    .run()
}

struct Walk<'a> {
    sides: [&'a Image; 2],
    opts: &'a CompareOptions,
}

impl<'a> Walk<'a> {
    /// The image of input `side`.
    fn image(&self, side: Side) -> &'a Image {
        self.sides[side.i()]
    }

    fn err(&self, side: Side, e: impl Into<InputError>) -> CompareError {
        CompareError {
            side: Some(side),
            reference: self.image(side).reference.to_string(),
            source: Box::new(e.into()),
        }
    }

    fn rules(&self) -> &Rules {
        &self.opts.rules
    }

    fn run(&self) -> Result<Compared, CompareError> {
        let mut findings = Vec::new();
        let [l, r] = self.sides;
        if let (Some(ld), Some(rd)) = (&l.root.descriptor, &r.root.descriptor) {
            findings.extend(self.descriptors("root", ld, rd));
        }
        let roots = [self.root(Side::Lhs)?, self.root(Side::Rhs)?];
        if let [Root::Index(ld), Root::Index(rd)] = &roots {
            findings.extend(values(
                Kind::Index,
                "index",
                [ld, rd].map(|d| (*d).clone()),
                |docs, rules| docs.map(|d| document::index(d, rules)),
                self.rules(),
            ));
        }
        let (pairs_to_compare, platform_findings) = self.choose(&roots)?;
        findings.extend(platform_findings);
        let mut comparisons = Vec::new();
        let mut pairs = Vec::new();
        for (i, (platform, lm, rm)) in pairs_to_compare.into_iter().enumerate() {
            let location = format!("manifests-{i}");
            let digests = [
                lm.descriptor.as_ref().map(|d| d.digest.clone()),
                rm.descriptor.as_ref().map(|d| d.digest.clone()),
            ];
            let (pair, found, created) =
                self.manifests(location.clone(), platform.as_ref(), lm, rm)?;
            comparisons.push(Comparison {
                location,
                platform,
                digests,
                created,
            });
            findings.extend(found);
            pairs.push(pair);
        }
        let mut report = Findings {
            schema_version: finding::SCHEMA_VERSION,
            tool: finding::Tool {
                name: "ocidiff".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                commit: "unknown".into(),
            },
            inputs: [input(l), input(r)],
            rules: *self.rules(),
            ignore_paths: self.opts.ignore_paths.patterns().to_vec(),
            config_file: None,
            comparisons,
            summary: Summary::of(&findings),
            verdict: Verdict::of(&findings),
            findings,
        };
        advice::fill(&mut report);
        Ok(Compared { report, pairs })
    }
}

fn input(image: &Image) -> Input {
    Input {
        reference: image.reference.to_string(),
        transport: image.reference.transport().to_owned(),
        digest: image.root.descriptor.as_ref().map(|d| d.digest.clone()),
    }
}

#[cfg(test)]
mod tests;
