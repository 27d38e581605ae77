//! `meta.json`: what a block holds and where it came from.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{META_FORMAT_V1, corrupt};
use crate::error::Result;

/// Counts of what a block holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockStats {
    /// Series with at least one sample.
    pub num_series: u64,
    /// Samples.
    pub num_samples: u64,
    /// Chunks.
    pub num_chunks: u64,
    /// Bytes of the chunks file.
    #[serde(default)]
    pub chunks_bytes: u64,
    /// Bytes of the index file.
    #[serde(default)]
    pub index_bytes: u64,
}

/// Where a block came from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockCompaction {
    /// 1 for a block cut from the head or backfilled, one more than the
    /// highest source for a compacted block.
    pub level: u32,
    /// Ids of the blocks this one replaces (empty at level 1): its direct
    /// sources and, transitively, every block they replaced. Opening a
    /// database deletes any block listed here while this block exists.
    pub sources: Vec<String>,
}

/// The contents of a block's `meta.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockMeta {
    /// Format version of the block ([`META_FORMAT_V1`]).
    pub version: u32,
    /// The block id (a ULID: sorts by creation time), also its directory name.
    pub id: String,
    /// Oldest sample, in milliseconds.
    pub min_time_ms: i64,
    /// Newest sample, in milliseconds (inclusive).
    pub max_time_ms: i64,
    /// Counts.
    pub stats: BlockStats,
    /// Level and sources.
    pub compaction: BlockCompaction,
}

impl BlockMeta {
    /// Whether the block may hold samples in `[min, max]` (inclusive).
    pub fn overlaps(&self, min_ms: i64, max_ms: i64) -> bool {
        self.min_time_ms <= max_ms && min_ms <= self.max_time_ms
    }

    /// Parses and checks `meta.json` bytes read from `file`.
    pub fn from_json(file: &Path, bytes: &[u8]) -> Result<BlockMeta> {
        let meta: BlockMeta = serde_json::from_slice(bytes).map_err(|e| {
            corrupt(
                file,
                u64::try_from(e.column()).unwrap_or(0),
                format!("invalid meta.json (line {}): {e}", e.line()),
            )
        })?;
        if meta.version != META_FORMAT_V1 {
            return Err(corrupt(
                file,
                0,
                format!("unsupported block version {}", meta.version),
            ));
        }
        if meta.min_time_ms > meta.max_time_ms {
            return Err(corrupt(
                file,
                0,
                format!(
                    "min_time_ms {} > max_time_ms {}",
                    meta.min_time_ms, meta.max_time_ms
                ),
            ));
        }
        Ok(meta)
    }

    /// The JSON form written to `meta.json`.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec_pretty(self).map_err(|e| crate::error::Error::Io(e.into()))
    }
}
