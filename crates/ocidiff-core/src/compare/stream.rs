//! Large layer pairs compared while they are read: each side's walk hands its entries over in
//! batches, a [`Join`] matches them by name holding only what is not matched yet, and a
//! [`Plain`] check decides in one hash per name whether the layer stands alone. Two layers that
//! list the same entries in the same order then take memory for the distance between the two
//! readers, whatever their length (two layers of a million files: tens of MB, not GB).
//!
//! A pair that is not settled this way — an entry on one side only, a layer that is not plain,
//! hard links reordered — goes to the layer-by-layer comparison with its listings: kept when
//! they are short, read again when they are long (time traded for memory, and only there).

use std::io;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::mpsc;

use super::entries::Join;
use super::{CompareError, Walk};
use crate::finding::Finding;
use crate::layer::{self, EntryMeta, FileDigests, Listing, Plain};
use crate::model::{Descriptor, Digest, Side, Unit};
use crate::normalize::Aspect;

/// Pairs whose blobs together are smaller are walked whole, in parallel with the other small
/// ones: two threads and a join per pair cost more than they save there. (The unit tests
/// stream every pair.)
const STREAM_FROM: u64 = if cfg!(test) { 1 } else { 4 << 20 };
/// Entries of each side kept while streaming, so that a pair that is not settled need not be
/// read again; a side with more keeps none. (Four in the unit tests, which then read again.)
const KEEP: usize = if cfg!(test) { 4 } else { 16 << 10 };
/// Entries in one message from a walk to the join.
const BATCH: usize = 256;
/// Messages a walk may get ahead of the join by.
const AHEAD: usize = 4;

/// What streaming a pair gave.
pub(super) struct Streamed {
    /// The entries' findings, as [`super::entries::compare`] gives them, when both walks were
    /// joined to their ends.
    pub joined: Option<Vec<Finding>>,
    /// Whether those findings are the pair's, as the layer-by-layer comparison would give
    /// them: both sides plain, no entry on one side only, no reordered hard link.
    pub settled: bool,
    /// Each side's listing, when it was short enough to keep.
    pub kept: [Option<Listing>; 2],
}

/// The bytes read so far of the pairs streamed, for progress.
pub(super) struct Read {
    pub done: AtomicU64,
    pub total: u64,
}

/// Values of the flag that stops both walks: no side failed yet (else the side that did), or
/// the join gave up.
const NONE_FAILED: u8 = 2;
const GAVE_UP: u8 = 3;

fn flag(side: Side) -> u8 {
    match side {
        Side::Lhs => 0,
        Side::Rhs => 1,
    }
}

impl Walk<'_> {
    /// Whether the `i`-th layer pair (which differs) is streamed: large, and not already
    /// walked by both sources. A side its source walked is read again rather than walked
    /// whole for the other: its source kept it because it was short, the other may not be.
    pub(super) fn streams(&self, [ll, rl]: [&[Descriptor]; 2], i: usize) -> bool {
        ll[i].size.saturating_add(rl[i].size) >= STREAM_FROM
            && !(self.image(Side::Lhs).walked.contains_key(&ll[i].digest)
                && self.image(Side::Rhs).walked.contains_key(&rl[i].digest))
    }

    /// Walks and compares the `i`-th layers of both sides at once (see the module's comment),
    /// checking each against its diff ID.
    pub(super) fn stream_pair(
        &self,
        location: &str,
        i: usize,
        layers: [&[Descriptor]; 2],
        diff_ids: [&[Digest]; 2],
        files: FileDigests,
        read: &Read,
    ) -> Result<Streamed, CompareError> {
        let descs = [&layers[0][i], &layers[1][i]];
        // Which side failed first: its error is the one to report, the other side's walk was
        // only stopped.
        let failed = AtomicU8::new(NONE_FAILED);
        let (outcome, ends) = std::thread::scope(|scope| {
            let mut receivers = Vec::new();
            let mut walkers = Vec::new();
            for side in Side::BOTH {
                let (tx, rx) = mpsc::sync_channel::<Vec<EntryMeta>>(AHEAD);
                receivers.push(rx);
                let (failed, desc) = (&failed, descs[side.i()]);
                walkers.push(scope.spawn(move || {
                    let end = self.walk_into(side, desc, i, files, &tx, failed);
                    if end.is_err() {
                        let _ = failed.compare_exchange(
                            NONE_FAILED,
                            flag(side),
                            Ordering::Relaxed,
                            Ordering::Relaxed,
                        );
                    }
                    read.done.fetch_add(desc.size, Ordering::Relaxed);
                    end
                }));
            }
            let here = format!("{location}/layers-{i}");
            let outcome = self.join_streams(&here, &receivers, &failed);
            drop(receivers);
            let ends: Vec<_> = walkers
                .into_iter()
                .map(|w| w.join().expect("a walk does not panic"))
                .collect();
            (outcome, ends)
        });
        self.opts.progress.update(
            super::layers::LAYERS_TASK,
            read.done.load(Ordering::Relaxed),
            Some(read.total),
            Unit::Bytes,
        );
        let first = failed.load(Ordering::Relaxed);
        let mut finished = [None, None];
        for (side, end) in Side::BOTH.into_iter().zip(ends) {
            match end {
                Ok(end) => finished[side.i()] = Some(end),
                // The other side failed first, or the join gave up: only stopped.
                Err(_) if first != flag(side) => {}
                Err(e) => return Err(self.err(side, e)),
            }
        }
        let not_settled = || Streamed {
            joined: None,
            settled: false,
            kept: [None, None],
        };
        let Some((joined, settled, kept)) = outcome else {
            return Ok(not_settled());
        };
        let mut listings = [None, None];
        for (side, kept) in Side::BOTH.into_iter().zip(kept) {
            let Some(end) = finished[side.i()].take() else {
                return Ok(not_settled());
            };
            let desc = descs[side.i()];
            if let Some(c) = &self.opts.diff_ids {
                c.put(&desc.digest, &end.diff_id);
            }
            let declared = &diff_ids[side.i()][i];
            if end.diff_id != *declared {
                return Err(self.diff_id_error(side, i, desc, declared, &end.diff_id));
            }
            listings[side.i()] = kept.map(|entries| Listing {
                compression: end.compression,
                entries,
                diff_id: end.diff_id,
            });
        }
        Ok(Streamed {
            joined: Some(joined),
            settled,
            kept: listings,
        })
    }

    /// One side's walk, sent to the join in batches; stops when the other side failed.
    fn walk_into(
        &self,
        side: Side,
        desc: &Descriptor,
        i: usize,
        files: FileDigests,
        tx: &mpsc::SyncSender<Vec<EntryMeta>>,
        failed: &AtomicU8,
    ) -> Result<layer::WalkEnd, crate::layer::LayerError> {
        let stopped = || io::Error::other("stopped: the other layer of the pair failed");
        let mut batch = Vec::with_capacity(BATCH);
        let known = self.known_diff_id(&desc.digest);
        let end = layer::list_each(
            &*self.image(side).blobs,
            desc,
            i,
            known.as_ref(),
            &self.opts.limits,
            files,
            |e| {
                if failed.load(Ordering::Relaxed) != NONE_FAILED {
                    return Err(stopped());
                }
                batch.push(e);
                if batch.len() == BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    tx.send(full).map_err(|_| stopped())?;
                }
                Ok(())
            },
        )?;
        // Fails only once the join gave up, which then reads the pair again.
        let _ = tx.send(batch);
        Ok(end)
    }

    /// Feeds both sides' batches, one side's then the other's, to the join and the plain
    /// checks: the findings, whether they settle the pair, and the listings kept. `None` when
    /// the pair can be settled neither here nor from kept listings: given up at once, to be
    /// read again.
    #[allow(clippy::type_complexity)]
    fn join_streams(
        &self,
        here: &str,
        receivers: &[mpsc::Receiver<Vec<EntryMeta>>],
        failed: &AtomicU8,
    ) -> Option<(Vec<Finding>, bool, [Option<Vec<EntryMeta>>; 2])> {
        let mut join = Join::new(self.rules(), here, true);
        let mut plain = [Plain::default(), Plain::default()];
        let mut kept: [Option<Vec<EntryMeta>>; 2] = [Some(Vec::new()), Some(Vec::new())];
        let mut open = [true, true];
        while open.contains(&true) {
            for side in Side::BOTH {
                let s = side.i();
                if !open[s] {
                    continue;
                }
                let Ok(batch) = receivers[s].recv() else {
                    open[s] = false;
                    continue;
                };
                for e in batch {
                    plain[s].push(&e);
                    match &mut kept[s] {
                        Some(k) if k.len() < KEEP => k.push(e.clone()),
                        _ => kept[s] = None,
                    }
                    join.push(side, e);
                }
            }
            if !plain.iter().all(Plain::plain) && kept.iter().any(Option::is_none) {
                let _ = failed.compare_exchange(
                    NONE_FAILED,
                    GAVE_UP,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
                return None;
            }
        }
        let joined = join.finish();
        // In a plain layer only hard links and the files they name act on each other; their
        // order is checked by the layer-by-layer comparison.
        let reordered_links = self.rules().sets_aside(Aspect::EntryOrder)
            && plain.iter().any(Plain::hardlinks)
            && joined
                .findings
                .iter()
                .any(|f| f.fields.iter().any(|d| d.field == "position" && !d.counted));
        let settled = plain.iter().all(Plain::plain) && !joined.one_sided && !reordered_links;
        tracing::debug!(
            pair = here,
            settled,
            plain = ?plain.each_ref().map(Plain::plain),
            one_sided = joined.one_sided,
            reordered_links,
            kept = ?kept.each_ref().map(Option::is_some),
            "streamed"
        );
        Some((joined.findings, settled, kept))
    }
}
