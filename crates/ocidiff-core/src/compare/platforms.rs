//! Which manifests to compare: the image a runtime would run for each platform asked for, or
//! every platform both inputs offer.

use serde_json::{Value, json};

use super::documents::Root;
use super::{CompareError, InputError, Walk, classify};
use crate::finding::{Class, FieldDiff, Finding, Kind};
use crate::model::{Blob, Platform, PlatformChoice, Side};
use crate::source::select::{self, Offered};

/// The manifest pairs to compare, each with the platform it was chosen for.
pub(super) type Chosen = Vec<(Option<Platform>, Blob, Blob)>;

impl Walk<'_> {
    /// Pairs up the manifests to compare: for each platform asked for, the image a runtime
    /// would run from each input; or, for every platform, the images both offer. A run that
    /// would compare nothing is an error: "identical" must never mean "nothing looked at".
    pub(super) fn choose(&self, roots: &[Root; 2]) -> Result<(Chosen, Vec<Finding>), CompareError> {
        let asked = match &self.opts.platforms {
            PlatformChoice::All => return self.pair_all(),
            PlatformChoice::These(_) => true,
            PlatformChoice::Host => false,
        };
        if let ([Root::Manifest(l), Root::Manifest(r)], false) = (roots, asked) {
            return Ok((vec![(None, (**l).clone(), (**r).clone())], vec![]));
        }
        let mut pairs = Vec::new();
        for p in self.opts.platforms.wanted().unwrap_or_default() {
            let [l, r] = Side::BOTH.map(|side| {
                let image = self.image(side);
                let select = if asked {
                    select::select_asked
                } else {
                    select::select
                };
                select(&*image.blobs, &image.root, &p, &self.opts.limits)
                    .map_err(|e| self.err(side, e))
            });
            let (l, r) = (l?, r?);
            // Two images for one platform only, each the one asked for: compared as they are.
            let platform = (l.platform.is_some() || r.platform.is_some()).then_some(p);
            pairs.push((platform, l.manifest, r.manifest));
        }
        Ok((pairs, Vec::new()))
    }

    /// `--all-platforms`: the images of both inputs paired by platform (normalised, so that
    /// `arm64` pairs with `arm64/v8` but `amd64/v3` only with `amd64/v3`), in the order of the
    /// left input; images with no platform at all pair in order. Images in one input only are
    /// a difference of their own.
    fn pair_all(&self) -> Result<(Chosen, Vec<Finding>), CompareError> {
        let offered = |side: Side| {
            let image = self.image(side);
            select::offered(&*image.blobs, &image.root, &self.opts.limits)
                .map_err(|e| self.err(side, e))
        };
        let (lhs, rhs) = (offered(Side::Lhs)?, offered(Side::Rhs)?);
        let mut pairs = Vec::new();
        let mut only_lhs = Vec::new();
        let mut unpaired_rhs: Vec<Option<Offered>> = rhs.into_iter().map(Some).collect();
        for l in lhs {
            let key = l.platform.as_ref().map(Platform::key);
            let hit = unpaired_rhs.iter_mut().find(|r| {
                r.as_ref()
                    .is_some_and(|r| r.platform.as_ref().map(Platform::key) == key)
            });
            match hit.and_then(Option::take) {
                Some(r) => pairs.push((l.platform.clone().or(r.platform), l.manifest, r.manifest)),
                None => only_lhs.push(l),
            }
        }
        let only_rhs: Vec<Offered> = unpaired_rhs.into_iter().flatten().collect();
        if pairs.is_empty() {
            return Err(CompareError {
                side: None,
                reference: String::new(),
                source: Box::new(InputError::NoPair {
                    lhs: self.sides[0].reference.to_string(),
                    lhs_offers: select::describe(&only_lhs),
                    rhs: self.sides[1].reference.to_string(),
                    rhs_offers: select::describe(&only_rhs),
                }),
            });
        }
        let mut findings = Vec::new();
        if !only_lhs.is_empty() || !only_rhs.is_empty() {
            let names =
                |images: &[Offered]| {
                    Value::Array(
                        images
                            .iter()
                            .map(|o| {
                                json!(o.platform.as_ref().map_or_else(
                                    || "(no platform)".to_owned(),
                                    ToString::to_string
                                ))
                            })
                            .collect(),
                    )
                };
            findings.push(classify::finding(
                Kind::Index,
                "index",
                ".manifests",
                vec![FieldDiff::new(
                    "platforms",
                    Some(names(&only_lhs)),
                    Some(names(&only_rhs)),
                    Class::Platform,
                )],
            ));
        }
        Ok((pairs, findings))
    }
}
