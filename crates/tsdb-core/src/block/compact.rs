//! Compaction: merging blocks into bigger ones.
//!
//! The planner picks, oldest first: any group of blocks whose time ranges
//! overlap (cut late samples, backfill); else, for each level range after the
//! first (default 2 h → 12 h → 3 d), two or more blocks inside one aligned
//! window of that range once a newer block exists past the window. The merge
//! reads every source series in label order, merges them in time order
//! (duplicates removed, the newer block winning), re-encodes them with
//! `Chunk::encode` and writes a block at one level more than its highest
//! source, listing in `meta.json` the sources and every block they replaced
//! (their own `sources`).
//!
//! Crash safety: the new block is durable (fsync'd, renamed, directory
//! fsync'd) before the sources leave the snapshot list; their directories are
//! removed when the last reader drops them. A crash before the rename leaves a
//! `.tmp` directory (removed at open) and the sources; after it, opening
//! deletes every block a complete block lists as a source. Either the old
//! blocks or the new one are visible, never both, never neither.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tsdb_index::Labels;

use super::cut::align_down;
use super::query::merge_parts;
use super::tombstones::{self, Tombstone};
use super::{Block, BlockMeta, BlockWriter, new_block_id};
use crate::db::Inner;
use crate::error::Result;

/// Level ranges: the cut span, then 6× and 36× it (2 h → 12 h → 3 d by
/// default), none larger than a tenth of the age retention (if any).
pub(crate) fn level_ranges(span: i64, retention_ms: i64) -> Vec<i64> {
    let mut out = vec![span];
    for k in [6, 36] {
        let r = span.saturating_mul(k);
        if retention_ms <= 0 || r <= retention_ms / 10 {
            out.push(r);
        }
    }
    out
}

/// The next group of blocks to merge, if any.
pub(crate) fn plan(
    blocks: &[Arc<Block>],
    ranges: &[i64],
    stones: &[Arc<Tombstone>],
) -> Option<Vec<Arc<Block>>> {
    let planned = plan_merges(blocks, ranges);
    if planned.is_some() {
        return planned;
    }
    // Else rewrite, alone, the first block a tombstone names.
    blocks
        .iter()
        .find(|b| stones.iter().any(|t| t.blocks.contains(&b.meta().id)))
        .map(|b| vec![Arc::clone(b)])
}

fn plan_merges(blocks: &[Arc<Block>], ranges: &[i64]) -> Option<Vec<Arc<Block>>> {
    let mut by_min: Vec<&Arc<Block>> = blocks.iter().collect();
    by_min.sort_by_key(|b| (b.meta().min_time_ms, b.meta().max_time_ms));
    // Overlapping blocks first.
    let mut group: Vec<&Arc<Block>> = Vec::new();
    let mut group_max = i64::MIN;
    for b in &by_min {
        if !group.is_empty() && b.meta().min_time_ms <= group_max {
            group.push(b);
            group_max = group_max.max(b.meta().max_time_ms);
            continue;
        }
        if group.len() > 1 {
            break;
        }
        group = vec![b];
        group_max = b.meta().max_time_ms;
    }
    if group.len() > 1 {
        return Some(group.into_iter().cloned().collect());
    }
    let newest = blocks.iter().map(|b| b.meta().max_time_ms).max()?;
    for &range in ranges.iter().skip(1) {
        let mut current: Vec<&Arc<Block>> = Vec::new();
        let mut window = i64::MIN;
        for b in &by_min {
            let m = b.meta();
            let w = align_down(m.min_time_ms, range);
            let fits = m.max_time_ms < w.saturating_add(range);
            if !fits || w != window {
                if current.len() > 1 && window.saturating_add(range) <= newest {
                    return Some(current.into_iter().cloned().collect());
                }
                current.clear();
                window = w;
            }
            if fits {
                current.push(b);
            }
        }
        if current.len() > 1 && window.saturating_add(range) <= newest {
            return Some(current.into_iter().cloned().collect());
        }
    }
    None
}

/// Paces a writer to `bytes_per_sec` (0: unlimited).
pub(crate) struct Pacer {
    bytes_per_sec: u64,
    started: Instant,
    bytes: u64,
}

impl Pacer {
    pub(crate) fn new(bytes_per_sec: u64) -> Pacer {
        Pacer {
            bytes_per_sec,
            started: Instant::now(),
            bytes: 0,
        }
    }

    /// Counts `bytes` written and sleeps while ahead of the rate.
    pub(crate) fn pace(&mut self, bytes: u64) {
        self.bytes += bytes;
        if self.bytes_per_sec == 0 {
            return;
        }
        let due = Duration::from_secs_f64(self.bytes as f64 / self.bytes_per_sec as f64);
        if let Some(ahead) = due.checked_sub(self.started.elapsed()) {
            std::thread::sleep(ahead);
        }
    }
}

/// Merges `sources` into a new block in the same directory, without the
/// samples `stones` delete; returns the source ids and the new block opened
/// (`None` when nothing is left). The sources are not touched.
pub(crate) fn merge(
    sources: &[Arc<Block>],
    stones: &[Arc<Tombstone>],
    pacer: &mut Pacer,
) -> Result<(Vec<String>, Option<Block>)> {
    let Some(first) = sources.first() else {
        return Ok((Vec::new(), None));
    };
    let dir = crate::storage::parent_dir(first.dir()).to_path_buf();
    // Priority: older id first, so the newer block wins a duplicate.
    let mut sources: Vec<&Arc<Block>> = sources.iter().collect();
    sources.sort_by(|a, b| a.meta().id.cmp(&b.meta().id));
    let mut all: Vec<(Labels, usize, u32)> = Vec::new();
    for (k, b) in sources.iter().enumerate() {
        for id in 0..u32::try_from(b.num_series()).unwrap_or(u32::MAX) {
            all.push((b.labels(id)?, k, id));
        }
    }
    all.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    let level = sources
        .iter()
        .map(|b| b.meta().compaction.level)
        .max()
        .unwrap_or(0)
        .saturating_add(1);
    let ids: Vec<String> = sources.iter().map(|b| b.meta().id.clone()).collect();
    let mut writer = BlockWriter::create(&dir, &new_block_id())?;
    let mut i = 0;
    let mut paced = 0u64;
    while let Some((labels, _, _)) = all.get(i) {
        let mut parts = Vec::new();
        let mut j = i;
        while let Some((_, k, id)) = all.get(j).filter(|e| e.0 == *labels) {
            let (mut ts, mut vs) = (Vec::new(), Vec::new());
            if let Some(b) = sources.get(*k) {
                b.read_series(*id, i64::MIN, i64::MAX, &mut ts, &mut vs)?;
                tombstones::apply(stones, &b.meta().id, labels, &mut ts, &mut vs);
            }
            parts.push((ts, vs));
            j += 1;
        }
        let (ts, vs) = merge_parts(parts);
        if !ts.is_empty() {
            writer.add_samples(labels.clone(), &ts, &vs)?;
        }
        let written = writer.bytes_written();
        pacer.pace(written.saturating_sub(paced));
        paced = written;
        i = j.max(i + 1);
    }
    if writer.num_series() == 0 {
        return Ok((ids, None));
    }
    let meta: BlockMeta = writer.finish(level, lineage(&sources))?;
    Ok((ids, Some(Block::open(dir.join(&meta.id))?)))
}

/// Every block the merge of `sources` replaces: the sources and, from their
/// own `meta.json`, every block they replaced, sorted. Listing the whole
/// lineage lets opening delete a block that a compaction chain (A → X → Y)
/// replaced even when its directory outlived X's (a reader held it across
/// a crash): with only X listed in Y, A would come back next to Y.
fn lineage(sources: &[&Arc<Block>]) -> Vec<String> {
    let mut ids: Vec<String> = sources
        .iter()
        .flat_map(|b| {
            std::iter::once(b.meta().id.clone()).chain(b.meta().compaction.sources.iter().cloned())
        })
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

impl Inner {
    /// Runs compaction until the planner finds nothing; returns the new
    /// blocks' metadata.
    pub(crate) fn compact_blocks(&self) -> Result<Vec<BlockMeta>> {
        let ranges = level_ranges(self.settings.block_span_ms, self.settings.retention_ms);
        let mut out = Vec::new();
        loop {
            if self.check_open().is_err() {
                return Ok(out);
            }
            // Held through the merge, so no tombstone, cut or retention
            // change lands between planning and publishing (readers never
            // take it).
            let _changes = self.blocks.lock_changes();
            let stones = self.blocks.tombstones();
            let Some(group) = plan(&self.blocks.snapshot(), &ranges, &stones) else {
                return Ok(out);
            };
            let mut pacer = Pacer::new(self.settings.compaction_bytes_per_sec);
            let (sources, block) = merge(&group, &stones, &mut pacer)?;
            // Not held past the swap, so the sources' directories go (and
            // their tombstones with them) when no reader holds them.
            drop(group);
            drop(stones);
            if sources.is_empty() {
                return Ok(out);
            }
            let meta = block.as_ref().map(|b| b.meta().clone());
            self.blocks
                .replace_locked(&sources, block.into_iter().collect())?;
            out.extend(meta);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_ranges_respect_retention() {
        assert_eq!(level_ranges(2, 0), vec![2, 12, 72]);
        assert_eq!(level_ranges(2, 200), vec![2, 12]);
        assert_eq!(level_ranges(2, 100), vec![2]);
    }

    #[test]
    fn pacer_holds_the_rate() {
        let mut p = Pacer::new(1_000_000);
        let t = Instant::now();
        p.pace(50_000);
        assert!(t.elapsed() >= Duration::from_millis(45));
        let mut free = Pacer::new(0);
        let t = Instant::now();
        free.pace(u64::MAX / 2);
        assert!(t.elapsed() < Duration::from_millis(45));
    }
}
