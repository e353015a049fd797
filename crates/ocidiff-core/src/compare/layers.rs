//! The layers of one manifest pair: walked (a blob both sides share from one source, once),
//! checked against the config's `rootfs.diff_ids` as runtimes check them, applied one over
//! another as runtimes apply them, and compared layer by layer or as the file systems they
//! produce.
//!
//! What the layer view sets aside must not hide a difference in what the layers unpack to:
//! labels ("a whiteout that hides nothing", "an entry written again as it was") come from the
//! model's view of each entry's effect, a change of order is counted wherever the order of the
//! entries involved changes what they unpack to, and entries that runtimes unpack differently
//! are counted as `runtime-dependent`.

use std::collections::BTreeMap;

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::sync::Arc;

use serde_json::json;

use super::jobs::largest_first;
use super::{CompareError, InputError, Walk, classify, entries};
use crate::content::{self, ContentError};
use crate::finding::{Class, Detail, FieldDiff, Finding, Kind};
use crate::layer::{
    self, EntryMeta, EntryType, FileDigests, Listing, NoteKind, Tree, apply::Effect,
};
use crate::model::media::{self, MediaKind};
use crate::model::{Algorithm, Compression, Descriptor, Digest, Side, Unit};
use crate::normalize::{self, Aspect, Rules};

/// The progress task of reading layers.
pub(super) const LAYERS_TASK: &str = "reading layers";

/// What the layers of a pair gave.
pub(super) struct Layers {
    pub findings: Vec<Finding>,
    /// Both sides' file systems, when they were built.
    pub trees: Option<[Tree; 2]>,
}

/// A note of one side, where it was found.
struct SideNote {
    layer: usize,
    digest: Digest,
    name: String,
    position: usize,
    kind: NoteKind,
}

impl Walk<'_> {
    /// Compares the layers `layers` of the pair at `location`; `diff_ids` are each config's.
    pub(super) fn layers(
        &self,
        location: &str,
        layers: [&[Descriptor]; 2],
        diff_ids: [&[Digest]; 2],
        squashed: bool,
    ) -> Result<Layers, CompareError> {
        self.check_layer_lists(layers, diff_ids)?;
        let blobs = layers.map(|list| list.iter().map(|d| d.digest.clone()).collect::<Vec<_>>());
        if let Some(cache) = &self.opts.diff_ids {
            for list in &blobs {
                cache.load_image(list);
            }
        }
        let compared = self.layers_checked(location, layers, diff_ids, squashed)?;
        // Every layer of both images now matches its config's diff ID.
        if let Some(cache) = &self.opts.diff_ids {
            for (list, ids) in blobs.iter().zip(diff_ids) {
                cache.put_image(list, ids);
            }
        }
        Ok(compared)
    }

    /// [`Walk::layers`] once the layer lists are known to be well formed.
    fn layers_checked(
        &self,
        location: &str,
        layers: [&[Descriptor]; 2],
        diff_ids: [&[Digest]; 2],
        squashed: bool,
    ) -> Result<Layers, CompareError> {
        let [ll, rl] = layers;
        let all_shared =
            ll.len() == rl.len() && ll.iter().zip(rl).all(|(l, r)| l.digest == r.digest);
        if all_shared && !squashed && !self.rules().packages {
            return self.layers_all_shared(location, layers, diff_ids);
        }
        let mut findings = Vec::new();
        let mut walked = HashMap::new();
        let files = self.file_digests(layers);
        // Layer by layer: the pairs that differ, compared; the others need walking only for
        // what the entries above them do.
        let mut pairs = None;
        if !squashed {
            let (settled, joined) =
                self.stream_pairs(location, layers, diff_ids, files, &mut walked)?;
            let wanted: Vec<(Side, usize)> = (0..ll.len())
                .filter(|&i| ll[i].digest != rl[i].digest && !settled.contains_key(&i))
                .flat_map(|i| [(Side::Lhs, i), (Side::Rhs, i)])
                .collect();
            self.walk_some(layers, diff_ids, files, &wanted, &mut walked)?;
            let (pair_findings, watch) =
                self.compare_pairs(location, layers, &walked, settled, joined);
            if !self.rules().packages && watch.iter().flatten().all(HashSet::is_empty) {
                if let Some(done) =
                    self.layers_alone(location, layers, diff_ids, &walked, &pair_findings)?
                {
                    return Ok(done);
                }
            }
            pairs = Some((pair_findings, watch));
        }
        let every: Vec<(Side, usize)> = Side::BOTH
            .into_iter()
            .flat_map(|side| (0..layers[side.i()].len()).map(move |i| (side, i)))
            .collect();
        self.walk_some(layers, diff_ids, files, &every, &mut walked)?;
        let listings: [Vec<Arc<Listing>>; 2] = Side::BOTH.map(|side| {
            (0..layers[side.i()].len())
                .map(|i| walked[&(side, i)].clone())
                .collect()
        });
        let (mut pair_findings, watch) = pairs.unwrap_or_else(|| {
            (
                Vec::new(),
                [
                    vec![HashSet::new(); ll.len()],
                    vec![HashSet::new(); rl.len()],
                ],
            )
        });
        let (lt, rt) = rayon::join(
            || self.apply_all(Side::Lhs, &listings[0], ll, &watch[0]),
            || self.apply_all(Side::Rhs, &listings[1], rl, &watch[1]),
        );
        let (lt, rt) = (lt?, rt?);
        let notes = [&lt.notes, &rt.notes];
        if squashed {
            let rootfs = format!("{location}/rootfs");
            let lv = lt.tree.listing();
            let rv = rt.tree.listing();
            findings.extend(entries::compare(&lv, &rv, self.rules(), &rootfs, false));
            findings.extend(runtime_findings(notes, |_| rootfs.clone()));
        } else {
            for (i, found) in pair_findings.iter_mut().enumerate() {
                self.label_without_effect(
                    [&lt.effects[i], &rt.effects[i]],
                    [&listings[0][i], &listings[1][i]],
                    found,
                );
            }
            findings.extend(pair_findings.into_iter().flatten());
            findings.extend(runtime_findings(notes, |layer| {
                format!("{location}/layers-{layer}")
            }));
        }
        Ok(Layers {
            findings,
            trees: Some([lt.tree, rt.tree]),
        })
    }

    /// Checks each side's layer list as runtimes do before reading a layer: every media type
    /// one they unpack, and one diff ID in the config for each layer.
    fn check_layer_lists(
        &self,
        layers: [&[Descriptor]; 2],
        diff_ids: [&[Digest]; 2],
    ) -> Result<(), CompareError> {
        for side in Side::BOTH {
            let (layers, diff_ids) = (layers[side.i()], diff_ids[side.i()]);
            self.check_media_types(side, layers)?;
            if diff_ids.len() != layers.len() {
                return Err(self.err(
                    side,
                    InputError::DiffIdCount {
                        layers: layers.len(),
                        diff_ids: diff_ids.len(),
                    },
                ));
            }
        }
        Ok(())
    }

    /// The layer view when both sides list the same layers: only the descriptors can differ,
    /// and the layers are verified and checked against the diff IDs, not walked.
    fn layers_all_shared(
        &self,
        location: &str,
        layers: [&[Descriptor]; 2],
        diff_ids: [&[Digest]; 2],
    ) -> Result<Layers, CompareError> {
        let [ll, rl] = layers;
        let mut findings = Vec::new();
        for i in 0..ll.len() {
            findings.extend(self.descriptors(&format!("{location}/layers-{i}"), &ll[i], &rl[i]));
        }
        let shared: Vec<usize> = (0..ll.len()).collect();
        self.check_shared(&shared, layers, diff_ids)?;
        Ok(Layers {
            findings,
            trees: None,
        })
    }

    /// The layer view when no entry is on one side only and every differing layer stands
    /// alone (what its entries do does not depend on the layers below:
    /// [`Tree::apply_alone`]): the layers both sides share are verified, not walked. `None`
    /// when a differing layer does not stand alone.
    fn layers_alone(
        &self,
        location: &str,
        [ll, rl]: [&[Descriptor]; 2],
        diff_ids: [&[Digest]; 2],
        walked: &HashMap<(Side, usize), Arc<Listing>>,
        pair_findings: &[Vec<Finding>],
    ) -> Result<Option<Layers>, CompareError> {
        // A pair settled by streaming is plain on both sides: it stands alone and notes
        // nothing (see `layer::Plain`).
        let differing: Vec<(Side, usize)> = (0..ll.len())
            .filter(|&i| ll[i].digest != rl[i].digest)
            .flat_map(|i| [(Side::Lhs, i), (Side::Rhs, i)])
            .filter(|job| walked.contains_key(job))
            .collect();
        let descs = [ll, rl];
        let applied = largest_first(
            differing,
            // Counted in entries, so that under 64 Ki entries in all (`largest_first`'s
            // threshold) the layers are applied on this thread: on rayon's threads the large
            // pair from the store took 100 ms more system time (fresh allocator arenas) for
            // no gain in wall time.
            |&(side, i)| walked[&(side, i)].entries.len() as u64,
            |(side, i)| {
                let desc = &descs[side.i()][i];
                let applied = Tree::apply_alone(i, walked[&(side, i)].clone())
                    .map_err(|e| self.refused(side, i, desc, e))?;
                Ok(applied.map(|a| {
                    let notes: Vec<SideNote> = a
                        .notes
                        .into_iter()
                        .map(|n| SideNote {
                            layer: i,
                            digest: desc.digest.clone(),
                            name: n.name,
                            position: n.position,
                            kind: n.kind,
                        })
                        .collect();
                    (side, notes)
                }))
            },
        )?;
        let Some(applied) = applied.into_iter().collect::<Option<Vec<_>>>() else {
            return Ok(None);
        };
        let shared: Vec<usize> = (0..ll.len())
            .filter(|&i| ll[i].digest == rl[i].digest)
            .collect();
        self.check_shared(&shared, [ll, rl], diff_ids)?;
        let mut notes: [Vec<SideNote>; 2] = [Vec::new(), Vec::new()];
        for (side, found) in applied {
            notes[side.i()].extend(found);
        }
        let mut findings: Vec<Finding> = pair_findings.iter().flatten().cloned().collect();
        findings.extend(runtime_findings([&notes[0], &notes[1]], |layer| {
            format!("{location}/layers-{layer}")
        }));
        Ok(Some(Layers {
            findings,
            trees: None,
        }))
    }

    fn refused(
        &self,
        side: Side,
        index: usize,
        desc: &Descriptor,
        source: layer::ApplyError,
    ) -> CompareError {
        self.err(
            side,
            InputError::Refused {
                index,
                layer: desc.digest.clone(),
                source,
            },
        )
    }

    /// Layer by layer: the findings of each pair (of the pairs that differ, `settled` by
    /// streaming or from their listings in `walked`), and the entries on one side only, whose
    /// effect the model is to report.
    #[allow(clippy::type_complexity)]
    fn compare_pairs(
        &self,
        location: &str,
        [ll, rl]: [&[Descriptor]; 2],
        walked: &HashMap<(Side, usize), Arc<Listing>>,
        mut settled: HashMap<usize, Vec<Finding>>,
        mut joined: HashMap<usize, Vec<Finding>>,
    ) -> (Vec<Vec<Finding>>, [Vec<HashSet<usize>>; 2]) {
        let mut watch = [
            vec![HashSet::new(); ll.len()],
            vec![HashSet::new(); rl.len()],
        ];
        let mut pair_findings = Vec::new();
        for i in 0..ll.len() {
            let here = format!("{location}/layers-{i}");
            let mut found = self.descriptors(&here, &ll[i], &rl[i]);
            if let Some(pair) = settled.remove(&i) {
                found.extend(pair);
            } else if ll[i].digest != rl[i].digest {
                let (l, r) = (
                    &walked[&(Side::Lhs, i)].entries,
                    &walked[&(Side::Rhs, i)].entries,
                );
                let mut pair = joined
                    .remove(&i)
                    .unwrap_or_else(|| entries::compare(l, r, self.rules(), &here, true));
                self.count_order_that_matters([l, r], &mut pair);
                for (side, list) in [(Side::Lhs, l), (Side::Rhs, r)] {
                    watch[side.i()][i] = one_sided(&pair, side, list, self.rules());
                }
                found.extend(pair);
            }
            pair_findings.push(found);
        }
        (pair_findings, watch)
    }

    /// The one check of layer media types, whatever the mode: each must be a type runtimes
    /// unpack without a plugin ([`content::layer_kind`]); how its bytes then decompress is
    /// checked where they are read (the walk, or the verification of a shared layer).
    fn check_media_types(&self, side: Side, layers: &[Descriptor]) -> Result<(), CompareError> {
        for d in layers {
            content::layer_kind(&d.digest, &d.media_type)
                .map_err(|e| self.err(side, ContentError::from(e)))?;
        }
        Ok(())
    }

    /// Layers both sides share that nothing needs to walk: verified as blobs (see
    /// [`Walk::verify_shared`]) and checked against both configs' diff IDs, as a runtime
    /// checks them whatever the other image holds. A diff ID the cache does not know is
    /// computed from one side's blob (and cached); the other side's is then only verified.
    fn check_shared(
        &self,
        shared: &[usize],
        [ll, rl]: [&[Descriptor]; 2],
        diff_ids: [&[Digest]; 2],
    ) -> Result<(), CompareError> {
        #[derive(Clone, Copy)]
        enum Job {
            DiffId(usize),
            Verify(usize),
        }
        let same_source = self.sides[0].blobs.describe() == self.sides[1].blobs.describe();
        let cache = self.opts.diff_ids.as_ref();
        let mut known = Vec::new();
        let mut plain = HashSet::new();
        let mut jobs = Vec::new();
        for &i in shared {
            // A layer the store holds only as a listing: its listing knows the diff ID.
            let listed = || self.sides[0].blobs.listed(&ll[i].digest).map(|(_, id)| id);
            if let Some(id) = cache.and_then(|c| c.get(&ll[i].digest)).or_else(listed) {
                self.check_claims(i, &ll[i], &id, diff_ids)?;
                known.push((&ll[i], &rl[i]));
                // Its own diff ID: its bytes were found uncompressed (a compressed blob
                // cannot hash to what it decompresses to).
                if id == ll[i].digest {
                    plain.insert(&ll[i].digest);
                }
            } else {
                jobs.push(Job::DiffId(i));
                if !same_source {
                    jobs.push(Job::Verify(i));
                }
            }
        }
        let computed = largest_first(
            jobs,
            |job| match *job {
                Job::DiffId(i) | Job::Verify(i) => ll[i].size,
            },
            |job| match job {
                // The same source holds the same bytes on both sides: as for a blob both
                // share there, an uncompressed one is not read only to learn its digest.
                Job::DiffId(i) => {
                    let (id, compression) = content::diff_id(
                        &*self.sides[0].blobs,
                        &ll[i],
                        &self.opts.limits,
                        same_source,
                    )
                    .map_err(|e| self.err(Side::Lhs, e))?;
                    // The same bytes may be typed differently on the right.
                    content::check_walked(&rl[i].digest, &rl[i].media_type, compression)
                        .map_err(|e| self.err(Side::Rhs, ContentError::from(e)))?;
                    Ok(Some((i, id)))
                }
                Job::Verify(i) => content::verify_layer(&*self.sides[1].blobs, &rl[i])
                    .map(|_| None)
                    .map_err(|e| self.err(Side::Rhs, e)),
            },
        )?;
        for (i, id) in computed.into_iter().flatten() {
            if let Some(c) = cache {
                c.put(&ll[i].digest, &id);
            }
            self.check_claims(i, &ll[i], &id, diff_ids)?;
        }
        self.verify_shared(&known, Some(&plain))
    }

    /// Both configs' diff ID for the `index`-th layer, `desc`, against what it is.
    fn check_claims(
        &self,
        index: usize,
        desc: &Descriptor,
        actual: &Digest,
        diff_ids: [&[Digest]; 2],
    ) -> Result<(), CompareError> {
        for side in Side::BOTH {
            let claims = diff_ids[side.i()];
            if claims[index] != *actual {
                return Err(self.diff_id_error(side, index, desc, &claims[index], actual));
            }
        }
        Ok(())
    }

    pub(super) fn diff_id_error(
        &self,
        side: Side,
        index: usize,
        desc: &Descriptor,
        declared: &Digest,
        actual: &Digest,
    ) -> CompareError {
        self.err(
            side,
            InputError::DiffId {
                index,
                layer: desc.digest.clone(),
                declared: declared.clone(),
                actual: actual.clone(),
            },
        )
    }

    /// Streams the large differing pairs (see [`super::stream`]), one after the other (each
    /// reads both sides at once): the findings of the pairs it settles, and of the others the
    /// join ran through, by index; the listings it kept of the others go into `have`. (Two
    /// pairs at once, and walks kept within 4 MiB of each other, made no difference in wall
    /// time on two cores, alternated with the build before, and cost system time: BENCHMARKS.md.)
    #[allow(clippy::type_complexity)]
    fn stream_pairs(
        &self,
        location: &str,
        layers: [&[Descriptor]; 2],
        diff_ids: [&[Digest]; 2],
        files: FileDigests,
        have: &mut HashMap<(Side, usize), Arc<Listing>>,
    ) -> Result<(HashMap<usize, Vec<Finding>>, HashMap<usize, Vec<Finding>>), CompareError> {
        let [ll, rl] = layers;
        let mut settled = HashMap::new();
        let mut joined = HashMap::new();
        if self.rules().packages {
            // The package view reads every layer's files into the file system.
            return Ok((settled, joined));
        }
        let streamed: Vec<usize> = (0..ll.len())
            .filter(|&i| ll[i].digest != rl[i].digest && self.streams(layers, i))
            .collect();
        let read = super::stream::Read {
            done: std::sync::atomic::AtomicU64::new(0),
            total: streamed.iter().map(|&i| ll[i].size + rl[i].size).sum(),
        };
        for &i in &streamed {
            let pair = self.stream_pair(location, i, layers, diff_ids, files, &read)?;
            for (side, kept) in Side::BOTH.into_iter().zip(pair.kept) {
                if let Some(listing) = kept {
                    have.insert((side, i), Arc::new(listing));
                }
            }
            if let Some(found) = pair.joined {
                let into = if pair.settled {
                    &mut settled
                } else {
                    &mut joined
                };
                into.insert(i, found);
            }
        }
        if !streamed.is_empty() {
            self.opts.progress.finish(LAYERS_TASK);
        }
        Ok((settled, joined))
    }

    /// Walks the layers `wanted` names by (side, index) that `have` lacks, in parallel, into
    /// `have`; a blob both sides take from one source is walked once. Each listing is checked
    /// against its diff ID.
    fn walk_some(
        &self,
        layers: [&[Descriptor]; 2],
        diff_ids: [&[Digest]; 2],
        files: FileDigests,
        wanted: &[(Side, usize)],
        have: &mut HashMap<(Side, usize), Arc<Listing>>,
    ) -> Result<(), CompareError> {
        let same_source = self.sides[0].blobs.describe() == self.sides[1].blobs.describe();
        let shared = |i: usize| {
            same_source
                && layers[1]
                    .get(i)
                    .is_some_and(|r| layers[0].get(i).is_some_and(|l| l.digest == r.digest))
        };
        let wanted_set: HashSet<(Side, usize)> = wanted.iter().copied().collect();
        let jobs: Vec<(Side, usize)> = wanted
            .iter()
            .copied()
            .filter(|job| !have.contains_key(job))
            .filter(|&(side, i)| {
                side == Side::Lhs
                    || !shared(i)
                    || !(wanted_set.contains(&(Side::Lhs, i)) || have.contains_key(&(Side::Lhs, i)))
            })
            .collect();
        let total: u64 = jobs.iter().map(|&(side, i)| layers[side.i()][i].size).sum();
        let read = std::sync::atomic::AtomicU64::new(0);
        let walked = largest_first(
            jobs,
            |&(side, i)| layers[side.i()][i].size,
            |(side, i)| {
                let desc = &layers[side.i()][i];
                let listing = self.walk(side, desc, i, files)?;
                let done =
                    read.fetch_add(desc.size, std::sync::atomic::Ordering::Relaxed) + desc.size;
                self.opts
                    .progress
                    .update(LAYERS_TASK, done, Some(total), Unit::Bytes);
                if let Some(c) = &self.opts.diff_ids {
                    c.put(&desc.digest, &listing.diff_id);
                }
                if listing.diff_id != diff_ids[side.i()][i] {
                    return Err(self.diff_id_error(
                        side,
                        i,
                        desc,
                        &diff_ids[side.i()][i],
                        &listing.diff_id,
                    ));
                }
                Ok(((side, i), Arc::new(listing)))
            },
        )?;
        if total > 0 {
            self.opts.progress.finish(LAYERS_TASK);
        }
        have.extend(walked);
        for &(side, i) in wanted {
            if have.contains_key(&(side, i)) {
                continue;
            }
            // Shared with input 0: the same bytes, so the same diff ID must be named.
            let listing = have[&(Side::Lhs, i)].clone();
            if diff_ids[side.i()][i] != listing.diff_id {
                return Err(self.diff_id_error(
                    side,
                    i,
                    &layers[side.i()][i],
                    &diff_ids[side.i()][i],
                    &listing.diff_id,
                ));
            }
            have.insert((side, i), listing);
        }
        Ok(())
    }

    /// The diff ID an earlier run computed from the blob `digest` names, if the cache knows it:
    /// a walk that verifies the blob need not hash what it decompresses to.
    pub(super) fn known_diff_id(&self, digest: &Digest) -> Option<Digest> {
        self.opts.diff_ids.as_ref().and_then(|c| c.get(digest))
    }

    pub(super) fn walk(
        &self,
        side: Side,
        desc: &Descriptor,
        index: usize,
        files: FileDigests,
    ) -> Result<Listing, CompareError> {
        let blobs = &*self.image(side).blobs;
        // A listing the source made while reading the blob stands in for walking it again,
        // when the limits it was made under are no looser than this run's; the store keeps
        // it for the next run.
        if let Some(walked) = self.image(side).walked.get(&desc.digest) {
            if self.opts.limits.covers(&content::Limits::default()) {
                content::check_walked(&desc.digest, &desc.media_type, walked.compression)
                    .map_err(|e| self.err(side, ContentError::from(e)))?;
                layer::persist::keep(blobs, desc, walked, FileDigests::BySize);
                return Ok(walked.as_layer(index));
            }
        }
        let known = self.known_diff_id(&desc.digest);
        layer::list(blobs, desc, index, known.as_ref(), &self.opts.limits, files)
            .map_err(|e| self.err(side, e))
    }

    /// How the files of the pair with `layers` are hashed ([`FileDigests`]): SHA-256 where it
    /// costs next to nothing, i.e. where the CPU hashes a file in the pass that hashes its
    /// layer and every layer's stream is hashed anyway — uncompressed blobs that their source
    /// neither verified on ingest nor walked already (an archive, a layout). Elsewhere
    /// BLAKE3 from 4 KiB: the cheaper where files are hashed on their own.
    fn file_digests(&self, layers: [&[Descriptor]; 2]) -> FileDigests {
        let hashed_anyway = |side: Side, d: &Descriptor| {
            let image = self.image(side);
            d.digest.algorithm() == Algorithm::Sha256
                && media::classify(&d.media_type) == MediaKind::Layer(Compression::None)
                && !image.blobs.is_verified(&d.digest)
                && !image.walked.contains_key(&d.digest)
        };
        let all = Side::BOTH
            .into_iter()
            .all(|side| layers[side.i()].iter().all(|d| hashed_anyway(side, d)));
        if all && ocidiff_sha256::shares_rounds() {
            FileDigests::Sha256
        } else {
            FileDigests::BySize
        }
    }

    /// Applies one side's layers in order.
    fn apply_all(
        &self,
        side: Side,
        listings: &[Arc<Listing>],
        layers: &[Descriptor],
        watch: &[HashSet<usize>],
    ) -> Result<Applied, CompareError> {
        let mut tree = Tree::default();
        let mut notes = Vec::new();
        let mut effects = Vec::new();
        for (i, (listing, desc)) in listings.iter().zip(layers).enumerate() {
            let digest = desc.digest.clone();
            let applied = tree
                .apply(i, listing.clone(), &watch[i])
                .map_err(|e| self.refused(side, i, desc, e))?;
            notes.extend(applied.notes.into_iter().map(|n| SideNote {
                layer: i,
                digest: digest.clone(),
                name: n.name,
                position: n.position,
                kind: n.kind,
            }));
            effects.push(applied.effects);
        }
        Ok(Applied {
            tree,
            notes,
            effects,
        })
    }

    /// Labels findings about entries on one side only whose entry changed nothing in the
    /// file system as the model applies it. They stay counted only when nothing at all is
    /// ignored, as they are real differences between the layers.
    fn label_without_effect(
        &self,
        effects: [&std::collections::HashMap<usize, Effect>; 2],
        listings: [&Listing; 2],
        findings: &mut [Finding],
    ) {
        let rules = self.rules();
        for f in findings.iter_mut() {
            let [field] = f.fields.as_slice() else {
                continue;
            };
            if f.kind != Kind::File || field.field != "entry" {
                continue;
            }
            let side = if field.lhs.is_some() {
                Side::Lhs
            } else {
                Side::Rhs
            };
            let idx: Vec<usize> = listings[side.i()]
                .entries
                .iter()
                .enumerate()
                .filter(|(_, e)| rules.path(&e.name) == f.name)
                .map(|(i, _)| i)
                .collect();
            let mut class = None;
            for i in &idx {
                let (Some(effect), Some(entry)) =
                    (effects[side.i()].get(i), listings[side.i()].entries.get(*i))
                else {
                    class = None;
                    break;
                };
                let this = if effect.structural || effect.noted {
                    None
                } else if is_whiteout(&entry.name) {
                    Some(Class::WhiteoutWithoutEffect)
                } else if entry.kind == EntryType::GlobalHeader {
                    Some(Class::TarFormat)
                } else if let (Some(prior), Some(after)) = (&effect.prior, &effect.after) {
                    without_effect(prior, after, rules).then_some(Class::UnchangedRewrite)
                } else {
                    None
                };
                if class.is_some() && class != this {
                    class = None;
                    break;
                }
                class = this;
                if this.is_none() {
                    break;
                }
            }
            // A mount target left by a builder is a trace only where it replaces nothing but
            // another trace: written over content (an `/etc/hosts` emptied) or over a lower
            // layer's `/etc` or `/run`, it is judged as any other rewrite.
            let rewrote_more = f.class == Class::MountPoint
                && idx.iter().any(|i| {
                    let entry = &listings[side.i()].entries[*i];
                    let prior = effects[side.i()].get(i).and_then(|e| e.prior.as_ref());
                    prior.is_some_and(|prior| {
                        !(normalize::mounted_over(entry) && normalize::mounted_over(prior))
                    })
                });
            if rewrote_more && class.is_none() {
                for field in &mut f.fields {
                    field.class = if side == Side::Lhs {
                        Class::Removed
                    } else {
                        Class::Added
                    };
                    field.counted = true;
                }
                classify::refresh(f);
            }
            if let Some(class) = class {
                let ignorable = rules.sets_aside(if class == Class::TarFormat {
                    Aspect::TarFormat
                } else {
                    Aspect::NoEffect
                });
                for field in &mut f.fields {
                    field.class = class;
                    field.counted = !ignorable;
                }
                classify::refresh(f);
            }
        }
    }

    /// Counts the position of entries whose relative order differs between the sides where
    /// that order changes what the layer unpacks to.
    fn count_order_that_matters(&self, listings: [&[EntryMeta]; 2], findings: &mut [Finding]) {
        let rules = self.rules();
        let reordered = findings
            .iter()
            .any(|f| f.fields.iter().any(|d| d.field == "position" && !d.counted));
        if !rules.sets_aside(Aspect::EntryOrder) || !reordered {
            return;
        }
        let keyed = |list: &[EntryMeta]| -> Vec<(String, usize)> {
            let mut seen: HashMap<&str, usize> = HashMap::new();
            list.iter()
                .map(|e| {
                    let name = rules.path(&e.name);
                    let n = seen.entry(name).or_insert(0);
                    *n += 1;
                    (name.to_owned(), *n - 1)
                })
                .collect()
        };
        let keys = [keyed(listings[0]), keyed(listings[1])];
        let mut sensitive: HashSet<&(String, usize)> = HashSet::new();
        for side in Side::BOTH {
            for i in order_sensitive(listings[side.i()]) {
                sensitive.insert(&keys[side.i()][i]);
            }
        }
        if sensitive.is_empty() {
            return;
        }
        let present: [HashSet<&(String, usize)>; 2] =
            [keys[0].iter().collect(), keys[1].iter().collect()];
        let sequence = |side: Side| -> Vec<&(String, usize)> {
            keys[side.i()]
                .iter()
                .filter(|k| sensitive.contains(k) && present[side.other().i()].contains(k))
                .collect()
        };
        if sequence(Side::Lhs) == sequence(Side::Rhs) {
            return;
        }
        let names: HashSet<&str> = sensitive.iter().map(|(n, _)| n.as_str()).collect();
        for f in findings
            .iter_mut()
            .filter(|f| names.contains(f.name.as_str()))
        {
            let mut changed = false;
            for d in f.fields.iter_mut().filter(|d| d.field == "position") {
                d.counted = true;
                changed = true;
            }
            if changed {
                classify::refresh(f);
                f.detail.get_or_insert_with(Detail::default).note = Some(
                    "these entries act on each other (the same path, a path below a file or \
                     symlink, a whiteout, a hard link): their order changes what the layer \
                     unpacks to"
                        .into(),
                );
            }
        }
    }
}

/// One side's file system and what applying it said.
struct Applied {
    tree: Tree,
    notes: Vec<SideNote>,
    effects: Vec<std::collections::HashMap<usize, Effect>>,
}

/// Whether writing `after` where a lower layer left `prior` changes nothing a container sees:
/// the same type, permission bits, numeric owner, extended attributes and content. A
/// directory's mtime does not count: it changes with anything written below it, and builders
/// re-emit the parents of what they write.
fn without_effect(prior: &EntryMeta, after: &EntryMeta, rules: &Rules) -> bool {
    let dir = prior.kind == EntryType::Dir && after.kind == EntryType::Dir;
    entries::fields(prior, after, rules, false).iter().all(|d| {
        !d.counted
            || d.semantic_sets_aside() && (dir || d.class != Class::Timestamp || d.field != "mtime")
    })
}

fn is_whiteout(name: &str) -> bool {
    let clean = layer::clean(name);
    clean
        .rsplit('/')
        .next()
        .is_some_and(|b| b.starts_with(".wh."))
}

/// Indices of `list` entries named by findings of a pair about an entry on `side` only.
fn one_sided(
    findings: &[Finding],
    side: Side,
    list: &[EntryMeta],
    rules: &crate::normalize::Rules,
) -> HashSet<usize> {
    let names: HashSet<&str> = findings
        .iter()
        .filter(|f| {
            matches!(f.fields.as_slice(), [d] if d.field == "entry" && match side { Side::Lhs => d.lhs.is_some(), Side::Rhs => d.rhs.is_some() })
        })
        .map(|f| f.name.as_str())
        .collect();
    if names.is_empty() {
        return HashSet::new();
    }
    list.iter()
        .enumerate()
        .filter(|(_, e)| names.contains(rules.path(&e.name)))
        .map(|(i, _)| i)
        .collect()
}

/// Entries of one layer whose relative order changes what the layer unpacks to: several
/// entries at one path (a whiteout counts as writing its target), an entry below a path that
/// the layer writes as something other than a directory, removes or makes opaque, a hard link
/// and the entry it names.
fn order_sensitive(list: &[EntryMeta]) -> HashSet<usize> {
    // What each entry acts on: (path, whether it acts on everything below the path too).
    let mut at: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut covers: Vec<(String, usize)> = Vec::new();
    for (i, e) in list.iter().enumerate() {
        let path = layer::clean(&e.name);
        let (dir, base) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
        let (target, subtree) = if base == ".wh..wh..opq" {
            (dir.to_owned(), true)
        } else if let Some(hidden) = base.strip_prefix(".wh.") {
            (
                if dir.is_empty() {
                    hidden.to_owned()
                } else {
                    format!("{dir}/{hidden}")
                },
                true,
            )
        } else {
            (path.clone(), e.kind != EntryType::Dir)
        };
        if subtree {
            covers.push((target.clone(), i));
        }
        at.entry(target).or_default().push(i);
        if e.kind == EntryType::Hardlink {
            if let Some(link) = &e.link {
                at.entry(layer::clean(link)).or_default().push(i);
            }
        }
    }
    let mut out = HashSet::new();
    for idx in at.values().filter(|v| v.len() > 1) {
        out.extend(idx.iter().copied());
    }
    for (path, i) in covers {
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}/")
        };
        let below: Vec<usize> = at
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(k, _)| !k.is_empty())
            .flat_map(|(_, v)| v.iter().copied())
            .collect();
        if !below.is_empty() {
            out.insert(i);
            out.extend(below);
        }
    }
    out
}

/// The runtime-dependent entries of both sides as counted findings, located by `location`
/// (from the layer index). A note both sides have, in the same layer blob at the same entry,
/// is the same bytes read the same way on both sides and is left out.
fn runtime_findings(
    notes: [&Vec<SideNote>; 2],
    location: impl Fn(usize) -> String,
) -> Vec<Finding> {
    let key = |n: &SideNote| (n.digest.clone(), n.position, n.kind);
    let both: HashSet<_> = notes[0]
        .iter()
        .map(key)
        .filter(|k| notes[1].iter().any(|n| key(n) == *k))
        .collect();
    // (location, name) → kinds on each side, in order.
    let mut grouped: BTreeMap<(String, String), [Vec<NoteKind>; 2]> = BTreeMap::new();
    for side in Side::BOTH {
        for n in notes[side.i()].iter().filter(|n| !both.contains(&key(n))) {
            let slot = grouped
                .entry((location(n.layer), layer::clean(&n.name)))
                .or_default();
            if !slot[side.i()].contains(&n.kind) {
                slot[side.i()].push(n.kind);
            }
        }
    }
    grouped
        .into_iter()
        .map(|((location, name), kinds)| {
            let value = |k: &[NoteKind]| {
                (!k.is_empty())
                    .then(|| json!(k.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")))
            };
            let mut f = classify::finding(
                Kind::File,
                &location,
                &name,
                vec![FieldDiff::new(
                    "runtime",
                    value(&kinds[0]),
                    value(&kinds[1]),
                    Class::RuntimeDependent,
                )],
            );
            let mut all: Vec<NoteKind> = kinds.iter().flatten().copied().collect();
            all.sort();
            all.dedup();
            f.detail = Some(Detail {
                note: Some(
                    all.iter()
                        .map(|k| k.explain())
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
                ..Detail::default()
            });
            f
        })
        .collect()
}
