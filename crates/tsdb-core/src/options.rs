//! Settings of a database.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tsdb_index::CardinalityLimits;

use crate::api::{DuplicatePolicy, WriteMode};
use crate::storage::{FsStorage, Storage};

/// Smallest timestamp accepted by default: the Unix epoch.
pub const DEFAULT_MIN_TIMESTAMP_MS: i64 = 0;
/// Largest timestamp accepted by default: 9999-12-31T23:59:59.999Z.
pub const DEFAULT_MAX_TIMESTAMP_MS: i64 = 253_402_300_799_999;
/// Default out-of-order window: one hour.
pub const DEFAULT_OOO_WINDOW_MS: i64 = 3_600_000;
/// Samples per head chunk before it is sealed.
pub const DEFAULT_CHUNK_SAMPLES: usize = 120;

/// Settings of a database, given to [`crate::Db::open`].
pub struct Options {
    /// Write mode of batches that do not name one.
    pub write_mode: WriteMode,
    /// How often the background flusher fsyncs `Buffered` writes.
    pub flush_interval: Duration,
    /// Size at which a WAL segment is closed and a new one started.
    pub wal_segment_bytes: u64,
    /// WAL bytes written since the last checkpoint that trigger a new one in the
    /// background (0: only explicit [`crate::Db::checkpoint`] calls).
    pub checkpoint_after_bytes: u64,
    /// How far behind a series' newest sample a sample may be and still be
    /// accepted (0 refuses every out-of-order sample with `OutOfOrder`).
    ///
    /// Independently of the series, the head refuses samples older than its
    /// minimum valid time ([`crate::Db::min_valid_time`]): the newest sample
    /// of any block plus one, minus this window. Without that, a series whose
    /// samples all went to blocks (and which head GC dropped, forgetting its
    /// newest sample) would take any old timestamp. Such samples are refused
    /// with [`crate::Error::BelowMinValidTime`]; older data goes in with
    /// [`crate::Db::backfill`].
    pub ooo_window_ms: i64,
    /// What to do with a conflicting duplicate. Conflicts are found among
    /// the samples still in the head; a timestamp already cut into a block
    /// is protected by the head's minimum valid time when out-of-order is
    /// disabled (with a window, a sample inside it may be written again
    /// behind a block; reads then return the head's value).
    pub duplicate_policy: DuplicatePolicy,
    /// Samples per head chunk before it is sealed (clamped to
    /// `1..=tsdb_codec::MAX_CHUNK_SAMPLES`).
    pub chunk_samples: usize,
    /// Smallest accepted timestamp.
    pub min_timestamp_ms: i64,
    /// Largest accepted timestamp.
    pub max_timestamp_ms: i64,
    /// Cardinality limits applied when a series is created. They count the
    /// head's series: head GC frees the series whose samples all went to
    /// blocks, as in Prometheus.
    pub limits: CardinalityLimits,
    /// Where files go: the real file system unless a test injects another.
    pub storage: Arc<dyn Storage>,
    /// Span of the blocks the head is cut into, in milliseconds (default
    /// [`crate::block::DEFAULT_BLOCK_SPAN_MS`], two hours).
    pub block_span_ms: i64,
    /// Blocks whose newest sample is older than this behind the newest sample
    /// in the database are dropped (0: keep forever). Also caps compacted
    /// blocks at a tenth of it.
    pub retention_ms: i64,
    /// The oldest blocks are dropped while all blocks together are larger
    /// than this (0: no limit).
    pub retention_bytes: u64,
    /// Bytes per second compaction may write (0: unlimited), so it does not
    /// starve ingest.
    pub compaction_bytes_per_sec: u64,
    /// How often the background cuts the head into blocks, compacts and
    /// applies retention (`None`: only explicit [`crate::Db::compact`] calls).
    pub maintenance_interval: Option<Duration>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            write_mode: WriteMode::Buffered,
            flush_interval: Duration::from_millis(100),
            wal_segment_bytes: 128 << 20,
            checkpoint_after_bytes: 256 << 20,
            ooo_window_ms: DEFAULT_OOO_WINDOW_MS,
            duplicate_policy: DuplicatePolicy::Reject,
            chunk_samples: DEFAULT_CHUNK_SAMPLES,
            min_timestamp_ms: DEFAULT_MIN_TIMESTAMP_MS,
            max_timestamp_ms: DEFAULT_MAX_TIMESTAMP_MS,
            limits: CardinalityLimits::default(),
            storage: Arc::new(FsStorage),
            block_span_ms: crate::block::DEFAULT_BLOCK_SPAN_MS,
            retention_ms: 0,
            retention_bytes: 0,
            compaction_bytes_per_sec: 64 << 20,
            maintenance_interval: Some(Duration::from_secs(60)),
        }
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("write_mode", &self.write_mode)
            .field("flush_interval", &self.flush_interval)
            .field("wal_segment_bytes", &self.wal_segment_bytes)
            .field("checkpoint_after_bytes", &self.checkpoint_after_bytes)
            .field("ooo_window_ms", &self.ooo_window_ms)
            .field("duplicate_policy", &self.duplicate_policy)
            .field("chunk_samples", &self.chunk_samples)
            .field("min_timestamp_ms", &self.min_timestamp_ms)
            .field("max_timestamp_ms", &self.max_timestamp_ms)
            .field("storage", &self.storage)
            .field("block_span_ms", &self.block_span_ms)
            .field("retention_ms", &self.retention_ms)
            .field("retention_bytes", &self.retention_bytes)
            .field("compaction_bytes_per_sec", &self.compaction_bytes_per_sec)
            .field("maintenance_interval", &self.maintenance_interval)
            .finish_non_exhaustive()
    }
}
