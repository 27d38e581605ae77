//! The database: opening (recovery), the write path, checkpoints, stats, and
//! the head querier.

mod append;
mod blocks;
mod checkpoint;
mod gc;
mod query;
mod recovery;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;
use tsdb_index::{Labels, MemIndex, SeriesId};

use crate::api::{Appender, BatchResult, BatchSample, DuplicatePolicy, WriteMode};
use crate::error::{Error, Result};
use crate::head::Head;
use crate::metadata::{Catalog, MetricMetadata};
use crate::options::Options;
use crate::storage::Storage;
use crate::wal::Wal;

pub use blocks::MaintenanceReport;
pub use query::HeadQuerier;
pub use recovery::RecoveryReport;

/// Name of the WAL directory inside the database directory.
pub const WAL_DIR: &str = "wal";
/// Name of the lock file that keeps a second [`Db`] off an open directory.
pub const LOCK_FILE: &str = "LOCK";

/// Counters of the write path, as reported by [`Db::stats`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Series in the head: the active ones (head GC drops, at each cut, the
    /// series whose samples all went to blocks; the head's minimum valid
    /// time keeps one that comes back from rewriting them).
    pub series: usize,
    /// Bytes of memory held by the head (series, chunks, bookkeeping).
    pub head_bytes: usize,
    /// Of `head_bytes`, the compressed samples.
    pub head_compressed_bytes: usize,
    /// Bytes of memory held by the series index (labels, postings).
    pub index_bytes: usize,
    /// Samples accepted (bit-equal duplicates included).
    pub samples_accepted: u64,
    /// Accepted samples that were out of order.
    pub samples_out_of_order: u64,
    /// Bit-equal duplicates accepted idempotently.
    pub duplicates_equal: u64,
    /// Conflicting duplicates that replaced the stored value.
    pub duplicates_replaced: u64,
    /// Conflicting duplicates refused.
    pub duplicates_refused: u64,
    /// Samples refused as too old, out of order, or older than the head's
    /// minimum valid time ([`Error::BelowMinValidTime`]).
    pub samples_too_old: u64,
    /// Samples refused for a timestamp outside the accepted range.
    pub samples_out_of_bounds: u64,
    /// Samples refused because their series could not be created.
    pub samples_series_refused: u64,
    /// WAL bytes written since open.
    pub wal_bytes: u64,
    /// WAL segment files on disk.
    pub wal_segments: usize,
    /// WAL fsyncs since open.
    pub wal_fsyncs: u64,
    /// Checkpoints written since open.
    pub checkpoints: u64,
    // blocks: begin
    /// Blocks readers see now.
    pub blocks: usize,
    /// Samples in those blocks.
    pub block_samples: u64,
    /// Bytes on disk of those blocks (chunks and index files).
    pub block_bytes: u64,
    // blocks: end
}

#[derive(Default)]
pub(crate) struct Counters {
    pub accepted: AtomicU64,
    pub ooo: AtomicU64,
    pub dup_equal: AtomicU64,
    pub dup_replaced: AtomicU64,
    pub dup_refused: AtomicU64,
    pub too_old: AtomicU64,
    pub out_of_bounds: AtomicU64,
    pub series_refused: AtomicU64,
    pub checkpoints: AtomicU64,
}

pub(crate) struct Settings {
    pub write_mode: WriteMode,
    pub ooo_window_ms: i64,
    pub duplicate_policy: DuplicatePolicy,
    pub chunk_samples: usize,
    pub min_timestamp_ms: i64,
    pub max_timestamp_ms: i64,
    pub checkpoint_after_bytes: u64,
    pub flush_interval: Duration,
    // blocks: begin
    pub block_span_ms: i64,
    pub retention_ms: i64,
    pub retention_bytes: u64,
    pub compaction_bytes_per_sec: u64,
    pub maintenance_interval: Option<Duration>,
    // blocks: end
}

pub(crate) struct Inner {
    pub dir: PathBuf,
    pub wal_dir: PathBuf,
    pub storage: Arc<dyn Storage>,
    pub settings: Settings,
    /// The head's series index: head GC removes series from it, and replaces
    /// it whole by a rebuilt one now and then (`Inner::gc_head`).
    pub index: arc_swap::ArcSwap<MemIndex>,
    pub head: Head,
    pub wal: Wal,
    pub catalog: Catalog,
    // blocks: begin
    /// The immutable blocks, as a snapshot list.
    pub blocks: crate::block::set::BlockSet,
    /// The head's minimum valid time (`i64::MIN` while no block exists):
    /// the newest block's newest sample plus one, minus the out-of-order
    /// window. Derived from the block list at open, raised (never lowered)
    /// when blocks are published; appenders read it under the shard lock.
    pub min_valid_ms: AtomicI64,
    // blocks: end
    /// Serializes series creation (index, WAL record, head) and WAL rotation
    /// for checkpoints; never taken on the path of existing series. While
    /// head GC rebuilds the index (without it), it holds the series created
    /// meanwhile, which the rebuilt index takes before it is published.
    pub create_lock: Mutex<Option<Vec<(SeriesId, Labels)>>>,
    /// Series head GC removed from the index since it was last rebuilt (their
    /// strings stay interned until a rebuild); changed under `create_lock`.
    pub removed_since_rebuild: AtomicUsize,
    pub checkpoint_lock: Mutex<()>,
    pub counters: Counters,
    pub report: RecoveryReport,
    pub closed: AtomicBool,
    pub background_error: Mutex<Option<String>>,
    /// The directory lock, held until the database is closed (queriers that
    /// outlive it do not keep it).
    pub lock: Mutex<Option<Box<dyn crate::storage::LockGuard>>>,
}

struct Background {
    stop: mpsc::Sender<()>,
    handle: JoinHandle<()>,
}

/// An open database: the write path (WAL and head), the head querier and the
/// metric metadata catalog. Implements [`Appender`] and
/// [`Querier`](crate::Querier). Dropping it stops the background flusher and
/// syncs the WAL, as [`Db::close`] does (ignoring errors).
pub struct Db {
    inner: Arc<Inner>,
    background: Mutex<Option<Background>>,
    // blocks: begin
    maintenance: Mutex<Option<Background>>,
    // blocks: end
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("dir", &self.inner.dir).finish()
    }
}

impl Db {
    /// Opens (creating if needed) the database in `dir`: loads the newest
    /// checkpoint, replays the WAL after it (cutting off a torn or corrupt tail,
    /// reported by [`Db::recovery_report`]), starts a new WAL segment and the
    /// background flusher.
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<Db> {
        let inner = Arc::new(recovery::open(dir.as_ref(), options)?);
        let db = Db {
            inner,
            background: Mutex::new(None),
            maintenance: Mutex::new(None),
        };
        db.start_background();
        *db.maintenance.lock() = blocks::start_maintenance(&db.inner);
        Ok(db)
    }

    fn start_background(&self) {
        let (stop, rx) = mpsc::channel::<()>();
        let inner = Arc::clone(&self.inner);
        let interval = self.inner.settings.flush_interval;
        let spawned = std::thread::Builder::new()
            .name("tsdb-wal-flusher".into())
            .spawn(move || background_loop(&inner, &rx, interval));
        match spawned {
            Ok(handle) => *self.background.lock() = Some(Background { stop, handle }),
            Err(e) => *self.inner.background_error.lock() = Some(format!("no flusher thread: {e}")),
        }
    }

    /// Appends one sample (see [`Appender::append`]).
    pub fn append(&self, labels: &Labels, t_ms: i64, value: f64) -> Result<()> {
        Appender::append(self, labels, t_ms, value)
    }

    /// Appends a batch (see [`Appender::append_batch`]).
    pub fn append_batch(
        &self,
        batch: &[BatchSample],
        mode: Option<WriteMode>,
    ) -> Result<BatchResult> {
        Appender::append_batch(self, batch, mode)
    }

    /// A querier over the head and the blocks that can outlive this borrow
    /// (it shares the database's state).
    pub fn querier(&self) -> HeadQuerier {
        HeadQuerier::new(Arc::clone(&self.inner))
    }

    /// Makes every acknowledged write durable now (fsyncs the WAL).
    pub fn flush(&self) -> Result<()> {
        self.inner.check_open()?;
        self.inner.wal.sync_all()
    }

    /// Writes a checkpoint of the head and removes the WAL segments it covers,
    /// so replay time stays bounded. Runs in the background on its own once
    /// `Options::checkpoint_after_bytes` of WAL accumulate.
    pub fn checkpoint(&self) -> Result<()> {
        self.inner.check_open()?;
        self.inner.checkpoint()
    }

    /// What recovery found and did when this database was opened.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.inner.report
    }

    /// Counters and memory figures.
    pub fn stats(&self) -> Stats {
        let inner = &self.inner;
        let c = &inner.counters;
        let mem = inner.head.memory();
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let blocks = inner.blocks.snapshot();
        Stats {
            series: mem.series,
            head_bytes: mem.total_bytes,
            head_compressed_bytes: mem.compressed_bytes,
            index_bytes: inner.index.load().memory_bytes(),
            samples_accepted: load(&c.accepted),
            samples_out_of_order: load(&c.ooo),
            duplicates_equal: load(&c.dup_equal),
            duplicates_replaced: load(&c.dup_replaced),
            duplicates_refused: load(&c.dup_refused),
            samples_too_old: load(&c.too_old),
            samples_out_of_bounds: load(&c.out_of_bounds),
            samples_series_refused: load(&c.series_refused),
            wal_bytes: inner.wal.lsn(),
            wal_segments: inner.wal.segment_count(),
            wal_fsyncs: inner.wal.fsyncs(),
            checkpoints: load(&c.checkpoints),
            blocks: blocks.len(),
            block_samples: blocks.iter().map(|b| b.meta().stats.num_samples).sum(),
            block_bytes: blocks
                .iter()
                .map(|b| b.meta().stats.chunks_bytes + b.meta().stats.index_bytes)
                .sum(),
        }
    }

    /// The head's minimum valid time: samples older than this are refused
    /// for every series with [`Error::BelowMinValidTime`] (blocks hold the
    /// data up to there; use [`Db::backfill`] for older data). It is the
    /// newest sample of any block plus one, minus `Options::ooo_window_ms`;
    /// `None` while there is no block.
    pub fn min_valid_time(&self) -> Option<i64> {
        let t = self.inner.min_valid_ms.load(Ordering::Acquire);
        (t != i64::MIN).then_some(t)
    }

    /// The head's own copy of the label set of the series `labels` names, if
    /// that series is in the head. A host that keeps label sets of its own
    /// (e.g. a cache from a request's encoded labels to [`Labels`]) can hold
    /// this copy instead of its own: cloning shares the memory, and appends
    /// with it are recognised by pointer.
    pub fn head_labels(&self, labels: &Labels) -> Option<Labels> {
        self.inner.head.stored_labels(labels)
    }

    /// The last error of the background flusher or checkpointer, if any.
    pub fn background_error(&self) -> Option<String> {
        self.inner.background_error.lock().clone()
    }

    /// The database directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Adds or replaces a metric's metadata (validated, persisted atomically).
    pub fn set_metadata(&self, meta: MetricMetadata) -> Result<()> {
        self.inner.check_open()?;
        self.inner.catalog.set(meta)
    }

    /// A metric's metadata.
    pub fn metadata(&self, metric: &str) -> Option<MetricMetadata> {
        self.inner.catalog.get(metric)
    }

    /// All metric metadata, sorted by name.
    pub fn list_metadata(&self) -> Vec<MetricMetadata> {
        self.inner.catalog.list()
    }

    /// Removes a metric's metadata; returns whether there was any.
    pub fn remove_metadata(&self, metric: &str) -> Result<bool> {
        self.inner.check_open()?;
        self.inner.catalog.remove(metric)
    }

    /// Stops the background flusher and fsyncs the WAL. Later calls on clones of
    /// its querier still read the head; writes fail with [`Error::Closed`].
    pub fn close(self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&self) -> Result<()> {
        if let Some(bg) = self.background.lock().take() {
            let _ = bg.stop.send(());
            let _ = bg.handle.join();
        }
        if let Some(bg) = self.maintenance.lock().take() {
            let _ = bg.stop.send(());
            let _ = bg.handle.join();
        }
        if self.inner.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let synced = self.inner.wal.sync_all();
        self.inner.lock.lock().take();
        synced
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

impl Inner {
    pub(crate) fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(Error::Closed);
        }
        Ok(())
    }
}

fn background_loop(inner: &Inner, stop: &mpsc::Receiver<()>, interval: Duration) {
    loop {
        match stop.recv_timeout(interval) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        if inner.wal.has_unsynced()
            && let Err(e) = inner.wal.sync_all()
        {
            *inner.background_error.lock() = Some(e.to_string());
        }
        // Re-encode chunks replay sealed in the appendable form, using at most
        // half of each interval so writers keep the rest of the machine.
        let started = std::time::Instant::now();
        while started.elapsed() < interval / 2 && inner.head.retune_some(16) > 0 {}
        let limit = inner.settings.checkpoint_after_bytes;
        if limit > 0
            && inner.wal.bytes_since_checkpoint() >= limit
            && let Err(e) = inner.checkpoint()
        {
            *inner.background_error.lock() = Some(format!("checkpoint: {e}"));
        }
    }
}

impl Appender for Db {
    fn append(&self, labels: &Labels, t_ms: i64, value: f64) -> Result<()> {
        let batch = [BatchSample {
            labels: labels.clone(),
            t_ms,
            value,
        }];
        let mut res = self
            .inner
            .append_batch(&batch, self.inner.settings.write_mode)?;
        match res.refused.pop() {
            Some(r) => Err(r.error),
            None => Ok(()),
        }
    }

    fn append_batch(&self, batch: &[BatchSample], mode: Option<WriteMode>) -> Result<BatchResult> {
        self.inner
            .append_batch(batch, mode.unwrap_or(self.inner.settings.write_mode))
    }
}
