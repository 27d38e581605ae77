//! Cutting the head into blocks.
//!
//! 1. Under each shard lock in turn, note the series with samples before the
//!    boundary (the newest time in the head minus half a span, aligned down to
//!    the span).
//! 2. For each span-aligned window before the boundary, write a block of the
//!    head's samples in it (series in label order), fsync'd and renamed into
//!    place, and hash each series' samples as written.
//! 3. Publish the blocks to readers' snapshot list.
//! 4. Truncate the head: a series whose samples before the boundary still
//!    hash the same loses them; one written to meanwhile keeps them (they are
//!    merged at read time and cut again later).
//! 5. Garbage-collect the series left without samples (`Inner::gc_head`),
//!    then checkpoint, which releases the WAL segments holding the cut
//!    samples and keeps the dropped series out of recovery.
//!
//! A crash before 3 leaves a `.tmp` directory (removed at open) or a complete
//! block whose samples are also replayed into the head from the WAL: reads
//! merge duplicates, and the next cut writes them again into a block that
//! compaction merges.

use std::collections::BTreeSet;

use tsdb_index::Labels;

use super::{Block, BlockMeta, BlockWriter, new_block_id};
use crate::db::Inner;
use crate::error::Result;
use crate::head::{Head, SHARDS};

/// Hash and count of a series' samples as written to blocks.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Written {
    hash: u64,
    count: u64,
}

impl Written {
    fn add(&mut self, ts: &[i64], vs: &[f64]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        for (t, v) in ts.iter().zip(vs) {
            self.hash = (self.hash.rotate_left(5) ^ (*t as u64)).wrapping_mul(K);
            self.hash = (self.hash.rotate_left(5) ^ v.to_bits()).wrapping_mul(K);
        }
        self.count += ts.len() as u64;
    }
}

/// A chunk spanning more windows than this has its samples' windows
/// computed one by one.
const MAX_WINDOWS_PER_RANGE: i64 = 64;

/// `t` rounded down to a multiple of `span`.
pub(crate) fn align_down(t: i64, span: i64) -> i64 {
    t.div_euclid(span.max(1)).saturating_mul(span.max(1))
}

impl Inner {
    /// The default boundary of a cut: the newest time in the head minus half
    /// a span, aligned down to the span; `None` while the head is empty.
    pub(crate) fn default_cut_boundary(&self) -> Option<i64> {
        let span = self.settings.block_span_ms;
        self.head_max_time()
            .map(|m| align_down(m.saturating_sub(span / 2), span))
    }

    /// The newest sample time in the head, if any (walks every series).
    pub(crate) fn head_max_time(&self) -> Option<i64> {
        let mut max = None::<i64>;
        for i in 0..SHARDS {
            let Some(shard) = self.head.shard(i) else {
                continue;
            };
            for (_, s) in shard.lock().iter() {
                if !s.is_empty() {
                    max = Some(max.map_or(s.max_t, |m| m.max(s.max_t)));
                }
            }
        }
        max
    }

    /// Cuts the head's samples before `boundary` into span-aligned blocks,
    /// truncates the head and checkpoints. Returns the new blocks' metadata.
    pub(crate) fn cut_blocks_before(&self, boundary: i64) -> Result<Vec<BlockMeta>> {
        let span = self.settings.block_span_ms.max(1);
        let _changes = self.blocks.lock_changes();
        // 1. The series with samples before the boundary.
        let mut todo: Vec<(Labels, u32, i64)> = Vec::new();
        let mut windows = BTreeSet::new();
        for i in 0..SHARDS {
            let Some(shard) = self.head.shard(i) else {
                continue;
            };
            for (id, s) in shard.lock().iter() {
                if let Some(min) = s.min_time().filter(|&m| m < boundary) {
                    todo.push((s.labels.clone(), id, min));
                    let mut wide = Vec::new();
                    s.for_each_range(|a, b| {
                        let (a, b) = (align_down(a, span), align_down(b.min(boundary - 1), span));
                        if a > b {
                            return;
                        }
                        if (b - a) / span <= MAX_WINDOWS_PER_RANGE {
                            windows.extend((0..=(b - a) / span).map(|k| a + k * span));
                        } else {
                            wide.push((a, b));
                        }
                    });
                    // A sparse chunk spanning many windows: only those with samples.
                    for (a, b) in wide {
                        let (mut ts, mut vs) = (Vec::new(), Vec::new());
                        s.read_range(
                            a,
                            b.saturating_add(span - 1).min(boundary - 1),
                            &mut ts,
                            &mut vs,
                        )?;
                        windows.extend(ts.iter().map(|&t| align_down(t, span)));
                    }
                }
            }
        }
        if todo.is_empty() {
            return Ok(Vec::new());
        }
        todo.sort_by(|a, b| a.0.cmp(&b.0));
        let mut written = vec![Written::default(); todo.len()];
        // 2. One block per window.
        let mut blocks = Vec::new();
        let mut metas = Vec::new();
        let (mut ts, mut vs) = (Vec::new(), Vec::new());
        for w in windows {
            let end = w.saturating_add(span).min(boundary).saturating_sub(1);
            let mut writer: Option<BlockWriter> = None;
            for ((labels, sid, min), done) in todo.iter().zip(written.iter_mut()) {
                if *min > end {
                    continue;
                }
                ts.clear();
                vs.clear();
                if let Some(shard) = self.head.shard(Head::shard_of(*sid)) {
                    let shard = shard.lock();
                    if let Some(s) = shard.get(*sid) {
                        s.read_range(w, end, &mut ts, &mut vs)?;
                    }
                }
                done.add(&ts, &vs);
                if !ts.is_empty() {
                    if writer.is_none() {
                        writer = Some(BlockWriter::create(self.blocks.dir(), &new_block_id())?);
                    }
                    if let Some(writer) = writer.as_mut() {
                        writer.add_samples(labels.clone(), &ts, &vs)?;
                    }
                }
            }
            if let Some(writer) = writer {
                let meta = writer.finish(1, Vec::new())?;
                blocks.push(Block::open(self.blocks.dir().join(&meta.id))?);
                metas.push(meta);
            }
        }
        // 3. Publish, and raise the head's minimum valid time before any
        //    series is truncated or dropped (a dropped series that comes
        //    back must not take samples the blocks hold).
        self.blocks.replace_locked(&[], blocks)?;
        self.advance_min_valid_time();
        // 4. Truncate what is unchanged since it was written.
        for ((_, sid, _), done) in todo.iter().zip(&written) {
            let Some(shard) = self.head.shard(Head::shard_of(*sid)) else {
                continue;
            };
            let mut shard = shard.lock();
            let Some(s) = shard.get_mut(*sid) else {
                continue;
            };
            ts.clear();
            vs.clear();
            s.read_range(i64::MIN, boundary.saturating_sub(1), &mut ts, &mut vs)?;
            let mut now = Written::default();
            now.add(&ts, &vs);
            if now == *done {
                s.truncate_before(boundary)?;
            }
        }
        // 5. Drop the series left empty, then release the WAL (the
        //    checkpoint no longer holds them).
        self.gc_head()?;
        self.checkpoint()?;
        Ok(metas)
    }
}
