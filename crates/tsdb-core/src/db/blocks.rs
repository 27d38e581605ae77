//! The database's block operations (see `crate::block`).

use std::sync::{Arc, mpsc};

use super::{Background, Db, Inner};
use crate::api::BatchSample;
use crate::block::BlockMeta;
use crate::block::set::BlockSet;
use crate::error::{Error, Result};

/// What one round of block maintenance ([`Db::compact`]) did.
#[derive(Clone, Debug, Default)]
pub struct MaintenanceReport {
    /// Blocks cut from the head.
    pub cut: Vec<BlockMeta>,
    /// Blocks written by compaction.
    pub compacted: Vec<BlockMeta>,
    /// Blocks dropped by retention.
    pub dropped: Vec<BlockMeta>,
}

/// The head's minimum valid time once blocks hold samples up to
/// `newest_block_ms` (inclusive): nothing at or before it, less the
/// out-of-order window.
pub(crate) fn min_valid_after(newest_block_ms: i64, ooo_window_ms: i64) -> i64 {
    newest_block_ms
        .saturating_add(1)
        .saturating_sub(ooo_window_ms.max(0))
}

/// The head's minimum valid time the blocks of `blocks` imply (`None`: no
/// block).
pub(crate) fn min_valid_of(blocks: &BlockSet, ooo_window_ms: i64) -> Option<i64> {
    let newest = blocks
        .snapshot()
        .iter()
        .map(|b| b.meta().max_time_ms)
        .max()?;
    Some(min_valid_after(newest, ooo_window_ms))
}

impl Inner {
    /// Raises the head's minimum valid time to what the published blocks
    /// imply. Called after blocks are published and before the head is
    /// truncated and garbage-collected, so a series GC drops and that comes
    /// back is judged against it.
    pub(crate) fn advance_min_valid_time(&self) {
        if let Some(t) = min_valid_of(&self.blocks, self.settings.ooo_window_ms) {
            self.min_valid_ms
                .fetch_max(t, std::sync::atomic::Ordering::AcqRel);
        }
    }

    fn blocks_enabled(&self) -> Result<()> {
        self.check_open()?;
        if self.blocks.enabled() {
            Ok(())
        } else {
            Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "blocks need a file-system storage",
            )))
        }
    }

    /// Cut, compaction, retention.
    pub(crate) fn maintain(&self) -> Result<MaintenanceReport> {
        self.blocks_enabled()?;
        let cut = match self.default_cut_boundary() {
            Some(b) => self.cut_blocks_before(b)?,
            None => Vec::new(),
        };
        let dropped = self.apply_retention()?;
        let compacted = self.compact_blocks()?;
        Ok(MaintenanceReport {
            cut,
            compacted,
            dropped,
        })
    }
}

/// Starts the background maintenance thread, if the options ask for one and
/// the storage can hold blocks.
pub(super) fn start_maintenance(inner: &Arc<Inner>) -> Option<Background> {
    let interval = inner.settings.maintenance_interval?;
    if !inner.blocks.enabled() {
        return None;
    }
    let (stop, rx) = mpsc::channel::<()>();
    let worker = Arc::clone(inner);
    let handle = std::thread::Builder::new()
        .name("tsdb-maintenance".into())
        .spawn(move || {
            loop {
                match rx.recv_timeout(interval) {
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
                if let Err(e) = worker.maintain() {
                    *worker.background_error.lock() = Some(format!("maintenance: {e}"));
                }
            }
        });
    match handle {
        Ok(handle) => Some(Background { stop, handle }),
        Err(e) => {
            *inner.background_error.lock() = Some(format!("no maintenance thread: {e}"));
            None
        }
    }
}

impl Db {
    /// Cuts the head's samples older than the newest head sample minus half
    /// a block span (aligned down to the span) into immutable blocks, then
    /// raises the head's minimum valid time ([`Db::min_valid_time`]) to
    /// their newest sample plus one, minus the out-of-order window,
    /// truncates the head, drops from it the series left with no sample
    /// (head GC: memory follows the active series; such a series written to
    /// again is a new head series, its old samples read from blocks, and
    /// the minimum valid time refuses it anything older) and checkpoints
    /// (releasing the WAL). Returns the new blocks' metadata (none when
    /// there is nothing old enough).
    pub fn cut_blocks(&self) -> Result<Vec<BlockMeta>> {
        self.inner.blocks_enabled()?;
        match self.inner.default_cut_boundary() {
            Some(b) => self.cut_blocks_before(b),
            None => Ok(Vec::new()),
        }
    }

    /// Cuts every head sample older than `boundary_ms` into span-aligned
    /// blocks (see [`Db::cut_blocks`]). Fails on a storage that is not the
    /// real file system (blocks are memory-mapped).
    pub fn cut_blocks_before(&self, boundary_ms: i64) -> Result<Vec<BlockMeta>> {
        self.inner.blocks_enabled()?;
        self.inner.cut_blocks_before(boundary_ms)
    }

    /// The metadata of the blocks readers see now, by (min time, id).
    pub fn blocks(&self) -> Vec<BlockMeta> {
        self.inner
            .blocks
            .snapshot()
            .iter()
            .map(|b| b.meta().clone())
            .collect()
    }

    /// One round of what the background does every
    /// `Options::maintenance_interval`: cut the head into blocks
    /// ([`Db::cut_blocks`]), drop blocks past retention, then compact until
    /// nothing is left to merge.
    pub fn compact(&self) -> Result<MaintenanceReport> {
        self.inner.maintain()
    }

    /// Merges blocks until the planner finds nothing: overlapping blocks,
    /// then adjacent blocks into 6× and 36× the block span (never above a
    /// tenth of the age retention). Returns the blocks written.
    pub fn compact_blocks(&self) -> Result<Vec<BlockMeta>> {
        self.inner.blocks_enabled()?;
        self.inner.compact_blocks()
    }

    /// Drops whole blocks past the age or size retention; returns them.
    pub fn apply_retention(&self) -> Result<Vec<BlockMeta>> {
        self.inner.blocks_enabled()?;
        self.inner.apply_retention()
    }

    /// Imports historical samples (typically older than the head) as new
    /// blocks, one per span-aligned window, without the WAL or the head; the
    /// call returns once they are durable and visible. They may overlap
    /// existing blocks: reads merge them and compaction folds them in. The
    /// last sample of the batch wins a duplicate (series, time); existing
    /// head samples and newer blocks win over backfilled ones. Cardinality
    /// limits and the head's minimum valid time do not apply; a timestamp
    /// outside the accepted range or a series without a metric name fails
    /// the whole call. Blocks newer than every existing one raise the
    /// minimum valid time as a cut does (as the next open would), so
    /// backfilling recent data makes the head refuse appends older than it.
    pub fn backfill(&self, samples: &[BatchSample]) -> Result<Vec<BlockMeta>> {
        self.inner.blocks_enabled()?;
        self.inner.backfill(samples)
    }
}

impl Db {
    /// Deletes the samples in `[min_time_ms, max_time_ms]` of every series
    /// matching all `matchers`: at once from the head (made durable by a
    /// checkpoint before the call returns), and from blocks through a
    /// tombstone (`blocks/tombstones.json`) that reads apply at once and
    /// compaction applies for good, rewriting the blocks it names. Samples
    /// written after the call are not affected. A series left with no sample
    /// is no longer listed by label names, label values or series queries.
    pub fn delete_series(
        &self,
        matchers: &[tsdb_index::Matcher],
        min_time_ms: i64,
        max_time_ms: i64,
    ) -> Result<()> {
        self.inner.check_open()?;
        self.inner.delete_series(matchers, min_time_ms, max_time_ms)
    }
}

impl Inner {
    fn delete_series(&self, matchers: &[tsdb_index::Matcher], min: i64, max: i64) -> Result<()> {
        if min > max {
            return Ok(());
        }
        let ids = self.index.load().select(matchers).map_err(Error::Query)?;
        let _changes = self.blocks.lock_changes();
        if self.blocks.enabled() {
            let blocks: Vec<String> = self
                .blocks
                .snapshot()
                .iter()
                .filter(|b| b.meta().overlaps(min, max))
                .map(|b| b.meta().id.clone())
                .collect();
            if !blocks.is_empty() {
                self.blocks
                    .add_tombstone_locked(crate::block::tombstones::Tombstone {
                        matchers: matchers.to_vec(),
                        min_time_ms: min,
                        max_time_ms: max,
                        blocks,
                    })?;
            }
        }
        for id in ids {
            let Some(shard) = self.head.shard(crate::head::Head::shard_of(id.0)) else {
                continue;
            };
            if let Some(s) = shard.lock().get_mut(id.0) {
                s.delete_range(min, max)?;
            }
        }
        // Series deleted whole leave the head and its index (so label
        // queries stop listing them); the checkpoint makes it durable.
        self.gc_head()?;
        self.checkpoint()
    }
}
