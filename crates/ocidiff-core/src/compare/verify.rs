//! Blobs both sides share are not compared, only verified on each side.

use super::jobs::largest_first;
use super::{CompareError, Walk};
use foldhash::HashSet;

use crate::content::{self, ContentError};
use crate::model::{Compression, Descriptor, Digest, Side};

/// How a shared layer's compression is learnt: from its first bytes, or already known.
enum Seen {
    Head(Vec<u8>),
    Known(Compression),
}

impl Walk<'_> {
    /// Both sides name the same blob: it need not be compared, only checked on each side, so
    /// that a source cannot pass off other content under a digest it has not earned.
    pub(super) fn verify_both(&self, ld: &Descriptor, rd: &Descriptor) -> Result<(), CompareError> {
        self.verify_shared(&[(ld, rd)], None)
    }

    /// [`Walk::verify_both`] for many pairs, largest blobs first on rayon's threads. Layers
    /// (`layers` given) are also checked to decompress alike in every runtime under each
    /// side's media type ([`content::verify_layer`]); `layers` holds the digests of those
    /// known not to be compressed (an earlier run found each its own diff ID).
    pub(super) fn verify_shared(
        &self,
        pairs: &[(&Descriptor, &Descriptor)],
        layers: Option<&HashSet<&Digest>>,
    ) -> Result<(), CompareError> {
        let same_source = self.sides[0].blobs.describe() == self.sides[1].blobs.describe();
        let mut jobs = Vec::new();
        for &(ld, rd) in pairs {
            // The same blob of the same source (an image against itself, two tags of one
            // layout) is the same bytes on both sides, whatever they are: reading it could not
            // reveal a difference, so it is only looked up (a layer's first bytes read once,
            // or not at all when they are known to be plain, for each side's media type).
            if ld.digest == rd.digest && same_source {
                let blobs = &*self.sides[0].blobs;
                let Some(plain) = layers else {
                    // There, once: both sides read this one source.
                    blobs.open(&ld.digest).map_err(|e| self.err(Side::Lhs, e))?;
                    continue;
                };
                // Known without reading: plain, or as found when the layer was listed.
                let known = if plain.contains(&ld.digest) {
                    Some(Compression::None)
                } else {
                    blobs.listed(&ld.digest).map(|(compression, _)| compression)
                };
                let seen = match known {
                    Some(compression) => Seen::Known(compression),
                    None => Seen::Head(
                        content::layer_head(blobs, &ld.digest)
                            .map_err(|e| self.err(Side::Lhs, e))?,
                    ),
                };
                for (side, d) in [(Side::Lhs, ld), (Side::Rhs, rd)] {
                    match &seen {
                        Seen::Head(head) => {
                            content::compression_of(&d.digest, &d.media_type, head).map(drop)
                        }
                        Seen::Known(walked) => {
                            content::check_walked(&d.digest, &d.media_type, *walked)
                        }
                    }
                    .map_err(|e| self.err(side, ContentError::from(e)))?;
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
                let verified = if layers.is_some() {
                    content::verify_layer(blobs, d).map(drop)
                } else {
                    content::verify_blob(blobs, d)
                };
                verified.map_err(|e| self.err(side, e))
            },
        )
        .map(drop)
    }
}
