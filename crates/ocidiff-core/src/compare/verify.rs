//! Blobs both sides share are not compared, only verified on each side.

use super::jobs::largest_first;
use super::{CompareError, Walk};
use crate::content;
use crate::model::{Descriptor, Side};

impl Walk<'_> {
    /// Both sides name the same blob: it need not be compared, only checked on each side, so
    /// that a source cannot pass off other content under a digest it has not earned.
    pub(super) fn verify_both(&self, ld: &Descriptor, rd: &Descriptor) -> Result<(), CompareError> {
        self.verify_shared(&[(ld, rd)], false)
    }

    /// [`Walk::verify_both`] for many pairs, largest blobs first on rayon's threads. Layers
    /// (`layers`) are also checked to decompress alike in every runtime under each side's
    /// media type ([`content::verify_layer`]).
    pub(super) fn verify_shared(
        &self,
        pairs: &[(&Descriptor, &Descriptor)],
        layers: bool,
    ) -> Result<(), CompareError> {
        let same_source = self.sides[0].blobs.describe() == self.sides[1].blobs.describe();
        let mut jobs = Vec::new();
        for &(ld, rd) in pairs {
            // The same blob of the same source (an image against itself, two tags of one
            // layout) is the same bytes on both sides, whatever they are: reading it could not
            // reveal a difference, so it is only looked up (a layer's first bytes read).
            if ld.digest == rd.digest && same_source {
                for (side, d) in [(Side::Lhs, ld), (Side::Rhs, rd)] {
                    let blobs = &*self.sides[0].blobs;
                    let found = if layers {
                        content::verify_layer(blobs, d, false).map(drop)
                    } else {
                        blobs.open(&d.digest).map(drop)
                    };
                    found.map_err(|e| self.err(side, e))?;
                }
            } else {
                jobs.extend([(Side::Lhs, ld), (Side::Rhs, rd)]);
            }
        }
        largest_first(
            jobs,
            |(_, d)| d.size,
            |(side, d)| {
                let blobs = &*self.image(side).blobs;
                let verified = if layers {
                    content::verify_layer(blobs, d, true).map(drop)
                } else {
                    content::verify_blob(blobs, d)
                };
                verified.map_err(|e| self.err(side, e))
            },
        )
        .map(drop)
    }
}
