//! The write path: resolve series, apply to the head shard by shard, log to the
//! WAL, and (for `Durable`) wait for the group fsync.

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use tsdb_index::{Labels, SeriesId};

use super::Inner;
use crate::api::{BatchResult, BatchSample, Refused, WriteMode};
use crate::error::{Error, Result};
use crate::head::bucket::group_by_key;
use crate::head::{AppendCfg, Appended, Head, SHARDS};
use crate::wal::record::{FrameBuf, SAMPLE_ENTRY_LEN, kind};

/// Samples per WAL `SAMPLES` frame (keeps frames far below the size limit).
const MAX_SAMPLES_PER_FRAME: usize = 1 << 20;

/// Rounds of resolving and applying series that left the head between lookup and
/// apply (see the append path).
const MAX_CREATE_RETRIES: usize = 8;

/// Marks a sample that has no series id (refused, or not resolved yet).
const NO_ID: u32 = u32::MAX;

/// Per-batch tallies, added to the shared counters once.
#[derive(Default)]
struct Tally {
    accepted: u64,
    ooo: u64,
    dup_equal: u64,
    dup_replaced: u64,
    dup_refused: u64,
    too_old: u64,
    out_of_bounds: u64,
    series_refused: u64,
}

impl Tally {
    fn refusal(&mut self, e: &Error) {
        match e {
            Error::DuplicateConflict { .. } => self.dup_refused += 1,
            Error::TooOld { .. } | Error::OutOfOrder { .. } | Error::BelowMinValidTime { .. } => {
                self.too_old += 1
            }
            Error::OutOfBounds { .. } => self.out_of_bounds += 1,
            Error::Cardinality(_) => self.series_refused += 1,
            _ => {}
        }
    }
}

/// Encodes series records for the WAL.
pub(crate) fn series_frame(fb: &mut FrameBuf, series: &[(SeriesId, Labels)]) {
    fb.begin(kind::SERIES);
    fb.put_u32(u32::try_from(series.len()).unwrap_or(0));
    for (id, labels) in series {
        fb.put_u32(id.0);
        fb.put_bytes(&labels.to_bytes());
    }
    fb.end();
}

impl Inner {
    pub(crate) fn append_cfg(&self, replay: bool) -> AppendCfg {
        AppendCfg {
            ooo_window_ms: self.settings.ooo_window_ms,
            policy: self.settings.duplicate_policy,
            chunk_samples: self.settings.chunk_samples,
            // Read again under each shard lock (`apply`).
            min_valid_ms: i64::MIN,
            replay,
        }
    }

    pub(crate) fn append_batch(
        &self,
        batch: &[BatchSample],
        mode: WriteMode,
    ) -> Result<BatchResult> {
        self.check_open()?;
        let intent = (mode == WriteMode::Durable).then(|| self.wal.durable_intent());
        let mut tally = Tally::default();
        let mut refused = Vec::new();
        let mut ids = vec![NO_ID; batch.len()];
        let mut misses = Vec::new();
        let mut valid = Vec::with_capacity(batch.len());
        let (min_ms, max_ms) = (
            self.settings.min_timestamp_ms,
            self.settings.max_timestamp_ms,
        );
        for (i, s) in batch.iter().enumerate() {
            if s.t_ms < min_ms || s.t_ms > max_ms {
                refused.push(Refused {
                    index: i,
                    error: Error::OutOfBounds {
                        t_ms: s.t_ms,
                        min_ms,
                        max_ms,
                    },
                });
            } else {
                valid.push(i);
            }
        }
        self.head.lookup_many(
            |i| batch.get(i).map(|s| &s.labels),
            &valid,
            &mut ids,
            &mut misses,
        );
        misses.sort_unstable();
        if !misses.is_empty() {
            self.create_series(batch, &misses, &mut ids, &mut refused)?;
        }
        let mut entries = Vec::with_capacity(batch.len() * SAMPLE_ENTRY_LEN);
        let cfg = self.append_cfg(false);
        let retry = self.apply(
            batch,
            &valid,
            &ids,
            &cfg,
            &mut entries,
            &mut refused,
            &mut tally,
        );
        // Series missing from the head: another writer is creating them (wait for
        // it on the creation lock, or create them if it failed), or head GC dropped
        // them between lookup and apply (resolve them again). A series just created
        // is empty and GC never takes an empty series, so this ends at once in
        // practice; the bound only guards against a pathological race.
        let mut pending = retry;
        for _ in 0..MAX_CREATE_RETRIES {
            if pending.is_empty() {
                break;
            }
            self.create_series(batch, &pending, &mut ids, &mut refused)?;
            pending = self.apply(
                batch,
                &pending,
                &ids,
                &cfg,
                &mut entries,
                &mut refused,
                &mut tally,
            );
        }
        for i in pending {
            refused.push(Refused {
                index: i,
                error: Error::Corrupt {
                    file: "<head>".into(),
                    offset: 0,
                    what: "series kept leaving the head while being written (retry)".into(),
                },
            });
        }
        if !entries.is_empty() {
            let mut fb = FrameBuf::default();
            for part in entries.chunks(MAX_SAMPLES_PER_FRAME * SAMPLE_ENTRY_LEN) {
                fb.begin(kind::SAMPLES);
                fb.put_u32(u32::try_from(part.len() / SAMPLE_ENTRY_LEN).unwrap_or(0));
                fb.bytes.extend_from_slice(part);
                fb.end();
            }
            let lsn = self.wal.append(&fb.bytes)?;
            drop(intent);
            if mode == WriteMode::Durable {
                self.wal.sync_to(lsn)?;
            }
        }
        refused.sort_by_key(|r| r.index);
        for r in &refused {
            tally.refusal(&r.error);
        }
        let c = &self.counters;
        c.accepted.fetch_add(tally.accepted, Ordering::Relaxed);
        c.ooo.fetch_add(tally.ooo, Ordering::Relaxed);
        c.dup_equal.fetch_add(tally.dup_equal, Ordering::Relaxed);
        c.dup_replaced
            .fetch_add(tally.dup_replaced, Ordering::Relaxed);
        c.dup_refused
            .fetch_add(tally.dup_refused, Ordering::Relaxed);
        c.too_old.fetch_add(tally.too_old, Ordering::Relaxed);
        c.out_of_bounds
            .fetch_add(tally.out_of_bounds, Ordering::Relaxed);
        c.series_refused
            .fetch_add(tally.series_refused, Ordering::Relaxed);
        Ok(BatchResult {
            accepted: usize::try_from(tally.accepted).unwrap_or(usize::MAX),
            refused,
        })
    }

    /// Resolves (creating where needed, under the creation lock) the series of
    /// the samples at `idxs`. A new series is logged to the WAL before it is
    /// added to the head, so no sample of it can reach the WAL before its record.
    fn create_series(
        &self,
        batch: &[BatchSample],
        idxs: &[usize],
        ids: &mut [u32],
        refused: &mut Vec<Refused>,
    ) -> Result<()> {
        let mut created_log = self.create_lock.lock();
        // Under the creation lock: head GC swaps the index under it too.
        let index = self.index.load();
        let mut new = Vec::new();
        let mut seen = HashSet::new();
        for &i in idxs {
            let (Some(s), Some(id)) = (batch.get(i), ids.get_mut(i)) else {
                continue;
            };
            match index.get_or_create(&s.labels) {
                Ok(sid) => {
                    *id = sid.0;
                    if !self.head.contains(sid) && seen.insert(sid) {
                        new.push((sid, s.labels.clone()));
                    }
                }
                Err(e) => {
                    *id = NO_ID;
                    refused.push(Refused {
                        index: i,
                        error: Error::Cardinality(e),
                    });
                }
            }
        }
        if new.is_empty() {
            return Ok(());
        }
        let mut fb = FrameBuf::default();
        for part in new.chunks(1 << 16) {
            series_frame(&mut fb, part);
        }
        if let Err(e) = self.wal.append(&fb.bytes) {
            // Not in the head and not logged: out of the index too, so they do
            // not count against the limits (a retry creates them afresh).
            let ids: Vec<_> = new.iter().map(|(id, _)| *id).collect();
            index.remove_many(&ids);
            return Err(e);
        }
        for (id, labels) in new {
            if let Some(log) = created_log.as_mut() {
                log.push((id, labels.clone()));
            }
            self.head.create(id, labels);
        }
        Ok(())
    }

    /// Applies the samples at `idxs` shard by shard (one lock per shard), in
    /// batch order within a series. Accepted samples are encoded into
    /// `entries`; returns the indices whose series is not in the head yet.
    #[allow(clippy::too_many_arguments)]
    fn apply(
        &self,
        batch: &[BatchSample],
        idxs: &[usize],
        ids: &[u32],
        cfg: &AppendCfg,
        entries: &mut Vec<u8>,
        refused: &mut Vec<Refused>,
        tally: &mut Tally,
    ) -> Vec<usize> {
        let mut retry = Vec::new();
        let keys: Vec<u8> = idxs
            .iter()
            .map(|&i| match ids.get(i) {
                Some(&id) if id != NO_ID => Head::shard_of(id) as u8,
                _ => u8::MAX,
            })
            .collect();
        let (order, starts) = group_by_key(&keys, SHARDS);
        // Shards another writer holds are skipped and taken last, so writers
        // sweeping the shards in the same order do not queue behind each other.
        let mut busy = Vec::new();
        for pass in 0..2 {
            let shard_nos: Vec<usize> = if pass == 0 {
                (0..SHARDS).collect()
            } else {
                std::mem::take(&mut busy)
            };
            for shard_no in shard_nos {
                let (Some(&lo), Some(&hi)) = (starts.get(shard_no), starts.get(shard_no + 1))
                else {
                    continue;
                };
                let (Some(group), Some(lock)) = (order.get(lo..hi), self.head.shard(shard_no))
                else {
                    continue;
                };
                if group.is_empty() {
                    continue;
                }
                let mut shard = if pass == 0 {
                    match lock.try_lock() {
                        Some(g) => g,
                        None => {
                            busy.push(shard_no);
                            continue;
                        }
                    }
                } else {
                    lock.lock()
                };
                // Read under the shard lock: a cut raises the bound before it
                // truncates the head and GC drops series, so a series found
                // here (possibly re-created since) is judged against the
                // bound of every cut that emptied its earlier life.
                let cfg = AppendCfg {
                    min_valid_ms: self.min_valid_ms.load(Ordering::Acquire),
                    ..*cfg
                };
                let cfg = &cfg;
                for &k in group {
                    let Some(&i) = idxs.get(k as usize) else {
                        continue;
                    };
                    let (Some(s), Some(&id)) = (batch.get(i), ids.get(i)) else {
                        continue;
                    };
                    let Some(series) = shard.get_mut(id) else {
                        retry.push(i);
                        continue;
                    };
                    match series.append(s.t_ms, s.value, cfg) {
                        Ok(outcome) => {
                            tally.accepted += 1;
                            match outcome {
                                Appended::InOrder => {}
                                Appended::OutOfOrder => tally.ooo += 1,
                                Appended::DuplicateEqual => tally.dup_equal += 1,
                                Appended::Replaced => tally.dup_replaced += 1,
                            }
                            entries.extend_from_slice(&id.to_le_bytes());
                            entries.extend_from_slice(&s.t_ms.to_le_bytes());
                            entries.extend_from_slice(&s.value.to_bits().to_le_bytes());
                        }
                        Err(e) => refused.push(Refused { index: i, error: e }),
                    }
                }
            }
        }
        retry
    }
}
