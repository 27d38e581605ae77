//! The head: the in-memory, writable part of the database. Series live in
//! shards chosen by series id, each behind its own lock, so writers of
//! different series rarely meet and no lock covers the whole head.

pub(crate) mod bucket;
mod refs;
mod series;
pub(crate) mod snapshot;
mod truncate;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasherDefault, Hasher};
use std::mem::size_of;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use parking_lot::Mutex;
use tsdb_index::{Labels, SeriesId};

use crate::api::Series;
use crate::error::Result;
pub(crate) use series::{AppendCfg, Appended, MemSeries};

use refs::SeriesRefs;

/// Number of head shards (a power of two).
pub(crate) const SHARDS: usize = 64;
// Shard numbers travel as `u8` keys of `bucket::group_by_key` (255 = none).
const _: () = assert!(SHARDS < u8::MAX as usize);
/// log2 of `SHARDS`.
const SHARD_BITS: u32 = SHARDS.trailing_zeros();
const _: () = assert!(1 << SHARD_BITS == SHARDS);

/// A hasher for series ids: a multiplicative hash folded so that the low
/// bits (the bucket) depend on every bit of the id (the ids of one shard
/// share their low bits).
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 32)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u32(u32::from(b) ^ (self.0 as u32).rotate_left(8));
        }
    }
    fn write_u32(&mut self, x: u32) {
        self.0 = u64::from(x).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// One shard: the series whose id is `shard` modulo `SHARDS`, by id. A map
/// rather than a table indexed by id: ids are never reused, so under churn a
/// table would keep a slot for every series ever created.
#[derive(Default)]
pub(crate) struct Shard {
    /// Boxed so the map moves pointers when it grows.
    series: HashMap<u32, Box<MemSeries>, BuildHasherDefault<IdHasher>>,
}

impl Shard {
    pub(crate) fn get_mut(&mut self, id: u32) -> Option<&mut MemSeries> {
        self.series.get_mut(&id).map(|s| &mut **s)
    }
    pub(crate) fn get(&self, id: u32) -> Option<&MemSeries> {
        self.series.get(&id).map(|s| &**s)
    }
    fn insert(&mut self, id: u32, series: MemSeries) -> bool {
        match self.series.entry(id) {
            Entry::Vacant(e) => {
                e.insert(Box::new(series));
                true
            }
            Entry::Occupied(_) => false,
        }
    }

    /// Removes every series `drop` says so of (the map shrinks once mostly
    /// empty); returns their ids and labels.
    fn remove_all(&mut self, mut drop: impl FnMut(&mut MemSeries) -> bool) -> Vec<(u32, Labels)> {
        let removed: Vec<(u32, Labels)> = self
            .series
            .extract_if(|_, s| drop(s))
            .map(|(id, s)| (id, s.labels))
            .collect();
        if self.series.capacity() > 4 * self.series.len() + 64 {
            self.series.shrink_to_fit();
        }
        removed
    }

    /// The series of this shard, mutably.
    fn series_mut(&mut self) -> impl Iterator<Item = &mut MemSeries> {
        self.series.values_mut().map(|s| &mut **s)
    }

    /// The series of this shard with their ids (in no particular order).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &MemSeries)> {
        self.series.iter().map(|(&id, s)| (id, &**s))
    }

    /// Bytes held by the map itself (not the series).
    fn table_bytes(&self) -> usize {
        self.series.capacity() * (size_of::<(u32, Box<MemSeries>)>() + 1)
    }
}

/// Memory figures of the head.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct HeadMemory {
    pub series: usize,
    pub total_bytes: usize,
    pub compressed_bytes: usize,
}

/// The head.
pub(crate) struct Head {
    shards: Box<[Mutex<Shard>]>,
    refs: SeriesRefs,
    /// Set when chunks may wait for re-encoding (after replay or a checkpoint
    /// load); cleared by a full `retune_some` pass that finds none.
    retune_pending: AtomicBool,
    retune_cursor: AtomicUsize,
}

impl Head {
    pub(crate) fn new() -> Head {
        Head {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            refs: SeriesRefs::new(),
            retune_pending: AtomicBool::new(false),
            retune_cursor: AtomicUsize::new(0),
        }
    }

    /// The shard index of a series.
    pub(crate) fn shard_of(id: u32) -> usize {
        id as usize % SHARDS
    }

    /// The lock of shard `i` (`i < SHARDS`).
    pub(crate) fn shard(&self, i: usize) -> Option<&Mutex<Shard>> {
        self.shards.get(i)
    }

    /// Creates a series; false if the id exists already.
    pub(crate) fn create(&self, id: SeriesId, labels: Labels) -> bool {
        self.insert(id.0, MemSeries::new(labels))
    }

    /// Inserts a series restored from a checkpoint; false if the id exists.
    pub(crate) fn insert(&self, id: u32, series: MemSeries) -> bool {
        let labels = series.labels.clone();
        let inserted = match self.shard(Self::shard_of(id)) {
            Some(s) => s.lock().insert(id, series),
            None => false,
        };
        if inserted {
            self.refs.insert(labels, id);
        }
        inserted
    }

    /// The ids of head series by labels, many at once (the ingest fast path);
    /// see `SeriesRefs::get_many`.
    pub(crate) fn lookup_many<'a>(
        &self,
        labels_of: impl Fn(usize) -> Option<&'a Labels>,
        idxs: &[usize],
        ids: &mut [u32],
        misses: &mut Vec<usize>,
    ) {
        self.refs.get_many(labels_of, idxs, ids, misses);
    }

    /// The head's own copy of a series' label set (see `Db::head_labels`).
    pub(crate) fn stored_labels(&self, labels: &Labels) -> Option<Labels> {
        self.refs.stored(labels)
    }

    /// Whether a series exists.
    pub(crate) fn contains(&self, id: SeriesId) -> bool {
        self.shard(Self::shard_of(id.0))
            .is_some_and(|s| s.lock().get(id.0).is_some())
    }

    /// A series' labels and samples in `[min, max]`; `None` if the series does
    /// not exist.
    pub(crate) fn read(&self, id: SeriesId, min: i64, max: i64) -> Result<Option<Series>> {
        let Some(shard) = self.shard(Self::shard_of(id.0)) else {
            return Ok(None);
        };
        let shard = shard.lock();
        let Some(s) = shard.get(id.0) else {
            return Ok(None);
        };
        let (mut ts, mut vs) = (Vec::new(), Vec::new());
        s.read_range(min, max, &mut ts, &mut vs)?;
        Ok(Some(Series {
            labels: s.labels.clone(),
            timestamps: ts,
            values: vs,
        }))
    }

    /// A series' labels if it has a sample in `[min, max]`.
    pub(crate) fn labels_if_in_range(
        &self,
        id: SeriesId,
        min: i64,
        max: i64,
    ) -> Result<Option<Labels>> {
        let Some(shard) = self.shard(Self::shard_of(id.0)) else {
            return Ok(None);
        };
        let shard = shard.lock();
        match shard.get(id.0) {
            Some(s) if s.has_samples_in(min, max)? => Ok(Some(s.labels.clone())),
            _ => Ok(None),
        }
    }

    /// Garbage-collects the series whose samples are all gone from the head
    /// (cut into blocks, or deleted) and which received nothing since: they
    /// leave their shard and the labels lookup, so memory tracks the active
    /// series. A series that never had a sample is dropped by the second GC
    /// that finds it so: the first only marks it, since its first append may
    /// be on the way (created, not applied yet); one still without a sample a
    /// whole GC interval later had its samples refused (below the minimum
    /// valid time, say), and would otherwise stay listed, with no sample, for
    /// good. Returns the ids of those dropped.
    ///
    /// The caller holds the series-creation lock, so no series is created
    /// meanwhile; an appender that resolved a dropped id finds it gone under
    /// the shard lock and resolves the labels again (a new id).
    pub(crate) fn gc(&self) -> Vec<u32> {
        self.drop_where(Self::collectable)
    }

    /// At the end of recovery, before any appender: drops every series with no
    /// sample in the head. Recovery recreates a series from its logged record
    /// even when none of its samples follow (its first sample was never
    /// logged, or was refused), and [`Head::gc`] keeps a series that never
    /// had a sample until its second pass, so such a series would stay
    /// listed, with no sample, until then; one whose samples a checkpoint saw
    /// deleted is dropped here too, as the next GC would. Returns their ids.
    pub(crate) fn drop_unsampled(&self) -> Vec<u32> {
        self.drop_where(|s| s.min_time().is_none())
    }

    fn drop_where(&self, mut drop: impl FnMut(&mut MemSeries) -> bool) -> Vec<u32> {
        let mut dropped = Vec::new();
        for shard in self.shards.iter() {
            // The labels lookup forgets them while the shard is still locked.
            let mut shard = shard.lock();
            let removed = shard.remove_all(&mut drop);
            for (id, labels) in &removed {
                self.refs.remove(labels, *id);
            }
            dropped.extend(removed.into_iter().map(|(id, _)| id));
        }
        dropped
    }

    /// Whether GC drops a series: it had samples and has none left, or it never
    /// had one and the GC before found it so too (this GC marks it otherwise).
    fn collectable(s: &mut MemSeries) -> bool {
        if s.is_empty() {
            std::mem::replace(&mut s.unsampled_at_gc, true)
        } else {
            s.min_time().is_none()
        }
    }

    /// Every head series' id and labels (the labels share their storage).
    pub(crate) fn all_labels(&self) -> Vec<(u32, Labels)> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let shard = shard.lock();
            out.extend(shard.iter().map(|(id, s)| (id, s.labels.clone())));
        }
        out
    }

    /// Notes that sealed chunks may wait for re-encoding.
    pub(crate) fn mark_retune_pending(&self) {
        self.retune_pending.store(true, Ordering::Relaxed);
    }

    /// Re-encodes up to `max_chunks` chunks sealed in the appendable form
    /// (by replay) into the codec's chosen encoding, one shard lock at a time;
    /// returns how many it did (0 once none are left).
    pub(crate) fn retune_some(&self, max_chunks: usize) -> usize {
        if !self.retune_pending.load(Ordering::Relaxed) {
            return 0;
        }
        let start = self.retune_cursor.load(Ordering::Relaxed) % SHARDS;
        let mut budget = max_chunks.max(1);
        let mut done = 0;
        for step in 0..SHARDS {
            let i = (start + step) % SHARDS;
            let Some(shard) = self.shard(i) else { continue };
            let mut shard = shard.lock();
            for s in shard.series_mut() {
                done += s.retune(&mut budget);
                if budget == 0 {
                    self.retune_cursor.store(i, Ordering::Relaxed);
                    return done;
                }
            }
        }
        if done == 0 {
            self.retune_pending.store(false, Ordering::Relaxed);
        }
        done
    }

    /// Memory held by the head (walks every series).
    pub(crate) fn memory(&self) -> HeadMemory {
        let mut m = HeadMemory {
            total_bytes: size_of::<Head>()
                + SHARDS * size_of::<Mutex<Shard>>()
                + self.refs.memory_bytes(),
            ..HeadMemory::default()
        };
        for shard in self.shards.iter() {
            let shard = shard.lock();
            m.total_bytes += shard.table_bytes();
            for (_, s) in shard.iter() {
                m.series += 1;
                m.total_bytes += s.memory_bytes();
                m.compressed_bytes += s.compressed_bytes();
            }
        }
        m
    }
}

/// Totals of samples applied by replay.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ReplayTotals {
    pub applied: u64,
    /// Samples naming a series the log never created.
    pub unknown: u64,
    /// Samples the head could not take (a codec failure; never expected).
    pub failed: u64,
}

impl Head {
    /// Applies replayed samples. They are first sorted (stably, so each
    /// series keeps its log order) by shard and then by series, so every series'
    /// state is brought into cache once per call instead of once per sample:
    /// with many series, replay is bound by those cache misses.
    pub(crate) fn replay_group(
        &self,
        samples: &mut Vec<(u32, i64, f64)>,
        scratch: &mut Vec<(u32, i64, f64)>,
        cfg: &AppendCfg,
        totals: &mut ReplayTotals,
    ) {
        bucket::radix_sort_u32(samples, scratch, |s| Self::replay_key(s.0));
        for group in samples.chunk_by(|a, b| Self::shard_of(a.0) == Self::shard_of(b.0)) {
            let Some(first) = group.first() else { continue };
            let Some(shard) = self.shard(Self::shard_of(first.0)) else {
                continue;
            };
            let mut shard = shard.lock();
            // One lookup per run of a series' samples (the sort made them adjacent).
            for run in group.chunk_by(|a, b| a.0 == b.0) {
                let Some(&(id, _, _)) = run.first() else {
                    continue;
                };
                let Some(series) = shard.get_mut(id) else {
                    totals.unknown += run.len() as u64;
                    continue;
                };
                for &(_, t, v) in run {
                    match series.append(t, v, cfg) {
                        Ok(_) => totals.applied += 1,
                        Err(_) => totals.failed += 1,
                    }
                }
            }
        }
    }

    /// Sort key of a series for replay: its shard in the top bits, its slot in
    /// the shard below (ids are `u32` and `SHARDS` is 64, so this is exact).
    fn replay_key(id: u32) -> u32 {
        let shard = id % SHARDS as u32;
        let slot = id / SHARDS as u32;
        (shard << (32 - SHARD_BITS)) | slot
    }
}
