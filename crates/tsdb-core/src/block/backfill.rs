//! Backfill: historical samples written straight into new level-1 blocks.

use std::collections::BTreeMap;

use tsdb_index::Labels;

use super::cut::align_down;
use super::{Block, BlockMeta, BlockWriter, new_block_id};
use crate::api::BatchSample;
use crate::db::Inner;
use crate::error::{Error, Result};

impl Inner {
    /// Writes `samples` as new blocks, one per span-aligned window, and
    /// publishes them; compaction later merges them with the blocks they
    /// overlap. Within the batch, the last sample for a (series, time) wins;
    /// against existing data, the head and then newer blocks win.
    pub(crate) fn backfill(&self, samples: &[BatchSample]) -> Result<Vec<BlockMeta>> {
        let span = self.settings.block_span_ms.max(1);
        let (lo, hi) = (
            self.settings.min_timestamp_ms,
            self.settings.max_timestamp_ms,
        );
        // window -> labels -> time -> value
        let mut windows: BTreeMap<i64, BTreeMap<&Labels, BTreeMap<i64, f64>>> = BTreeMap::new();
        for s in samples {
            if s.t_ms < lo || s.t_ms > hi {
                return Err(Error::OutOfBounds {
                    t_ms: s.t_ms,
                    min_ms: lo,
                    max_ms: hi,
                });
            }
            if s.labels.metric_name().is_none() {
                return Err(Error::Cardinality(
                    tsdb_index::IndexError::MissingMetricName,
                ));
            }
            windows
                .entry(align_down(s.t_ms, span))
                .or_default()
                .entry(&s.labels)
                .or_default()
                .insert(s.t_ms, s.value);
        }
        let mut blocks = Vec::new();
        let mut metas = Vec::new();
        for series in windows.values() {
            let mut writer = BlockWriter::create(self.blocks.dir(), &new_block_id())?;
            for (labels, points) in series {
                let ts: Vec<i64> = points.keys().copied().collect();
                let vs: Vec<f64> = points.values().copied().collect();
                writer.add_samples((*labels).clone(), &ts, &vs)?;
            }
            let meta = writer.finish(1, Vec::new())?;
            blocks.push(Block::open(self.blocks.dir().join(&meta.id))?);
            metas.push(meta);
        }
        let _changes = self.blocks.lock_changes();
        self.blocks.replace_locked(&[], blocks)?;
        // As at the next open, which derives it from the block list: the
        // head's lower bound follows the newest block (a no-op for the usual
        // backfill of data older than the head).
        self.advance_min_valid_time();
        Ok(metas)
    }
}
