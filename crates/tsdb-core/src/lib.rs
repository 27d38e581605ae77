//! # tsdb-core
//!
//! The tsdb storage engine's write path: the write-ahead log, the in-memory
//! head, write modes, crash recovery and the metric metadata catalog, behind
//! the [`Appender`] and [`Querier`] traits that hosts program against.
//! Blocks, compaction, rollups and retention come next, behind the same traits.
//!
//! ```
//! use tsdb_core::{Appender, BatchSample, Db, Labels, Matcher, Options, Querier, SelectHints, WriteMode};
//!
//! # fn main() -> tsdb_core::Result<()> {
//! let dir = tempfile::tempdir()?;
//! let db = Db::open(dir.path(), Options::default())?;
//! let up = Labels::new([("__name__", "up"), ("job", "api")])?;
//! db.append(&up, 1_000, 1.0)?;
//! let batch = vec![
//!     BatchSample { labels: up.clone(), t_ms: 2_000, value: 1.0 },
//!     BatchSample { labels: up.clone(), t_ms: 1_500, value: 0.0 }, // out of order: accepted
//!     BatchSample { labels: up.clone(), t_ms: -5, value: 0.0 },    // refused: out of bounds
//! ];
//! let res = db.append_batch(&batch, Some(WriteMode::Durable))?;
//! assert_eq!((res.accepted, res.refused.len()), (2, 1));
//!
//! let series = db.select(&[Matcher::equal("__name__", "up")], &SelectHints::range(0, 10_000))?;
//! assert_eq!(series[0].timestamps, vec![1_000, 1_500, 2_000]);
//! db.close()?;
//!
//! // Reopening replays the WAL: every acknowledged sample is back.
//! let db = Db::open(dir.path(), Options::default())?;
//! assert_eq!(db.recovery_report().samples_replayed, 3);
//! # Ok(())
//! # }
//! ```
//!
//! ## Concepts
//! - [`Db`]: an open database; [`Options`] set it up, [`WriteMode`] says when a
//!   write is acknowledged ([`WriteMode::Buffered`] or [`WriteMode::Durable`]).
//! - [`Appender`]: `append` and `append_batch`; a batch returns a
//!   [`BatchResult`] listing each [`Refused`] sample with its reason.
//! - [`Querier`]: select series by [`Matcher`]s over a time range
//!   ([`SelectHints`]), returning [`Series`] in time order.
//! - The WAL ([`wal`]) and its format (`docs/format/wal.md`); [`RecoveryReport`]
//!   says what opening found, including a torn tail cut off ([`TailRepair`]).
//! - [`Stats`]: counters and memory figures of the head.
//! - [`MetricMetadata`]: the metric catalog.
//! - [`storage`]: the file-system seam ([`storage::Storage`]) with an
//!   in-memory, fault-injecting implementation for tests.
//! - [`Error`]: per-sample refusals ([`Error::is_refusal`]) and faults.
//!
//! ## Guarantees and limits
//! - An acknowledged `Durable` batch survives a crash or power loss; an
//!   acknowledged `Buffered` batch survives a crash of the process and, after the
//!   next flusher interval, a power loss. A failed write or fsync makes every
//!   later write fail until the database is reopened.
//! - A sample is visible to readers slightly before it is acknowledged (the
//!   head is written before the WAL); a batch that fails with a fault may be
//!   partly visible and may or may not survive a crash.
//! - The out-of-order window is measured from each series' newest sample.
//! - One process at a time: a `LOCK` file keeps a second [`Db`] off the
//!   directory.
//! - Until blocks land, the head holds all data and each checkpoint writes all
//!   of it; replay time is bounded by `Options::checkpoint_after_bytes` of WAL
//!   after the last checkpoint.
#![deny(missing_docs)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

mod api;
mod db;
mod error;
mod head;
mod metadata;
mod options;
pub mod storage;
pub mod wal;

/// The chunk types the head stores.
mod chunk {
    pub(crate) use tsdb_codec::{Chunk, ChunkEncoder, ChunkRef};
}

pub use api::{
    Appender, BatchResult, BatchSample, DuplicatePolicy, Querier, Refused, SelectHints, Series,
    Tier, WriteMode,
};
pub use db::{Db, HeadQuerier, LOCK_FILE, RecoveryReport, Stats, WAL_DIR};
pub use error::{Error, Result};
pub use metadata::{METADATA_FILE, MetricKind, MetricMetadata};
pub use options::{
    DEFAULT_CHUNK_SAMPLES, DEFAULT_MAX_TIMESTAMP_MS, DEFAULT_MIN_TIMESTAMP_MS,
    DEFAULT_OOO_WINDOW_MS, Options,
};
pub use tsdb_index::{CardinalityLimits, Labels, MatchOp, Matcher, SeriesId};
pub use wal::reader::TailRepair;
