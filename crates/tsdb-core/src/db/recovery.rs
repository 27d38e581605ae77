//! Opening a database: the newest checkpoint, then the WAL after it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tsdb_index::{Labels, MemIndex, SeriesId};

use super::{Counters, Inner, LOCK_FILE, Settings, WAL_DIR};
use crate::error::{Error, Result};
use crate::head::{AppendCfg, Head, ReplayTotals, snapshot};
use crate::metadata::Catalog;
use crate::options::Options;
use crate::storage::Storage;
use crate::wal::reader::TailRepair;
use crate::wal::record::{
    CHECKPOINT_MAGIC, Cursor, FILE_HEADER_LEN, Frame, SAMPLE_ENTRY_LEN, check_file_header, kind,
    read_frame, read_u32, read_u64, samples_payload,
};
use crate::wal::{Wal, parse_checkpoint, replay_segments};

/// What recovery found and did when the database was opened.
#[derive(Clone, Debug, Default)]
pub struct RecoveryReport {
    /// The checkpoint loaded, if any.
    pub checkpoint: Option<PathBuf>,
    /// Series restored from the checkpoint.
    pub checkpoint_series: u64,
    /// WAL segments replayed after it.
    pub segments_replayed: usize,
    /// WAL records replayed.
    pub records_replayed: u64,
    /// WAL bytes replayed.
    pub bytes_replayed: u64,
    /// Series created by replayed records.
    pub series_replayed: u64,
    /// Samples applied from replayed records.
    pub samples_replayed: u64,
    /// Samples in the WAL that named a series it never created (skipped).
    pub unknown_series_samples: u64,
    /// The torn or corrupt tail cut off, if there was one.
    pub repair: Option<TailRepair>,
    /// What opening the blocks found (corrupt blocks moved aside…).
    pub blocks: crate::block::OpenReport,
    /// Wall time of recovery.
    pub duration: Duration,
}

fn corrupt(file: &Path, offset: u64, what: impl Into<String>) -> Error {
    Error::Corrupt {
        file: file.to_path_buf(),
        offset,
        what: what.into(),
    }
}

pub(super) fn open(dir: &Path, options: Options) -> Result<Inner> {
    let started = Instant::now();
    let storage = Arc::clone(&options.storage);
    let wal_dir = dir.join(WAL_DIR);
    storage.create_dir_all(&wal_dir)?;
    storage.sync_dir(dir)?;
    let lock = storage.lock(&dir.join(LOCK_FILE))?;
    let catalog = Catalog::open(Arc::clone(&storage), dir)?;
    let index = MemIndex::new(options.limits);
    let head = Head::new();
    let mut report = RecoveryReport::default();

    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_REPLAY_WORKERS);
    let checkpoint = latest_checkpoint(&*storage, &wal_dir)?;
    let after = match &checkpoint {
        Some((n, path)) => {
            let (series, next_id) = load_checkpoint(&*storage, path, &index, &head, workers)?;
            report.checkpoint_series = series;
            // Ids head GC dropped stay taken: later segments may still name them.
            index.reserve_ids(next_id.unwrap_or(0));
            report.checkpoint = Some(path.clone());
            *n
        }
        None => 0,
    };
    let settings = Settings {
        write_mode: options.write_mode,
        ooo_window_ms: options.ooo_window_ms,
        duplicate_policy: options.duplicate_policy,
        chunk_samples: options
            .chunk_samples
            .clamp(1, tsdb_codec::MAX_CHUNK_SAMPLES),
        min_timestamp_ms: options.min_timestamp_ms,
        max_timestamp_ms: options.max_timestamp_ms,
        checkpoint_after_bytes: options.checkpoint_after_bytes,
        flush_interval: options.flush_interval.max(Duration::from_millis(1)),
        block_span_ms: options.block_span_ms.max(1),
        retention_ms: options.retention_ms.max(0),
        retention_bytes: options.retention_bytes,
        compaction_bytes_per_sec: options.compaction_bytes_per_sec,
        maintenance_interval: options.maintenance_interval,
    };
    let (blocks, blocks_report) = if storage.is_file_system() {
        crate::block::set::BlockSet::open(&dir.join(crate::block::BLOCKS_DIR))?
    } else {
        crate::block::set::BlockSet::disabled(&dir.join(crate::block::BLOCKS_DIR))
    };
    report.blocks = blocks_report;
    // The head's lower bound comes from the blocks (nothing new persisted):
    // the newest block's end minus the out-of-order window. Replay does not
    // apply it (every logged sample was acknowledged).
    let min_valid_ms =
        super::blocks::min_valid_of(&blocks, settings.ooo_window_ms).unwrap_or(i64::MIN);
    // The WAL writer starts after replay, in a segment numbered past every one
    // left on disk.
    let cfg = AppendCfg::for_replay(
        settings.ooo_window_ms,
        settings.duplicate_policy,
        settings.chunk_samples,
    );
    // Samples are applied by worker threads, each owning a fixed subset of the
    // head shards (so a series' samples stay in log order); series records are
    // applied here, before any later record is read.
    let (stats, series_created, totals) = std::thread::scope(|scope| -> Result<_> {
        let mut senders = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (tx, rx) = mpsc::sync_channel::<Vec<(u32, i64, f64)>>(64);
            let head = &head;
            handles.push(scope.spawn(move || {
                let mut totals = ReplayTotals::default();
                let (mut pending, mut scratch) = (Vec::new(), Vec::new());
                for group in rx {
                    if pending.is_empty() {
                        pending = group;
                    } else {
                        pending.extend_from_slice(&group);
                    }
                    if pending.len() >= REPLAY_GROUP_SAMPLES {
                        head.replay_group(&mut pending, &mut scratch, &cfg, &mut totals);
                        pending.clear();
                    }
                }
                head.replay_group(&mut pending, &mut scratch, &cfg, &mut totals);
                totals
            }));
            senders.push(tx);
        }
        let mut pending = Pending {
            index: &index,
            head: &head,
            senders,
            series: 0,
            aliases: HashMap::new(),
        };
        let stats = replay_segments(&*storage, &wal_dir, after, |k, payload| {
            pending.apply(k, payload)
        });
        let series_created = pending.series;
        drop(pending);
        let mut totals = ReplayTotals::default();
        for h in handles {
            let t = h.join().map_err(|_| Error::Corrupt {
                file: wal_dir.clone(),
                offset: 0,
                what: "a replay worker panicked".into(),
            })?;
            totals.applied += t.applied;
            totals.unknown += t.unknown;
            totals.failed += t.failed;
        }
        Ok((stats?, series_created, totals))
    })?;
    // Series left with no sample leave the head and the index (see
    // `Head::drop_unsampled`); their ids stay taken.
    let unsampled: Vec<SeriesId> = head.drop_unsampled().into_iter().map(SeriesId).collect();
    index.remove_many(&unsampled);
    // Replay and checkpoints may leave chunks in the appendable form.
    head.mark_retune_pending();
    let last = stats.last_segment.max(after);
    let wal = Wal::create(
        Arc::clone(&storage),
        &wal_dir,
        last,
        options.wal_segment_bytes,
    )?;
    report.segments_replayed = stats.segments;
    report.records_replayed = stats.records;
    report.bytes_replayed = stats.bytes;
    report.series_replayed = series_created;
    report.samples_replayed = totals.applied;
    report.unknown_series_samples = totals.unknown + totals.failed;
    report.repair = stats.repair;
    report.duration = started.elapsed();
    Ok(Inner {
        dir: dir.to_path_buf(),
        wal_dir,
        storage,
        settings,
        index: arc_swap::ArcSwap::from_pointee(index),
        head,
        wal,
        catalog,
        blocks,
        min_valid_ms: std::sync::atomic::AtomicI64::new(min_valid_ms),
        create_lock: Mutex::new(None),
        removed_since_rebuild: AtomicUsize::new(unsampled.len()),
        checkpoint_lock: Mutex::new(()),
        counters: Counters::default(),
        report,
        closed: AtomicBool::new(false),
        background_error: Mutex::new(None),
        lock: Mutex::new(Some(lock)),
    })
}

/// The newest complete checkpoint; removes leftovers (`.tmp`, older ones).
fn latest_checkpoint(storage: &dyn Storage, wal_dir: &Path) -> Result<Option<(u64, PathBuf)>> {
    let names = storage.list(wal_dir)?;
    let mut found: Vec<u64> = names.iter().filter_map(|n| parse_checkpoint(n)).collect();
    found.sort_unstable();
    let mut changed = false;
    for name in &names {
        if name.starts_with("checkpoint.") && name.ends_with(".tmp") {
            storage.remove(&wal_dir.join(name))?;
            changed = true;
        }
    }
    let newest = found.last().copied();
    for &n in found.iter().filter(|&&n| Some(n) != newest) {
        storage.remove(&wal_dir.join(crate::wal::checkpoint_name(n)))?;
        changed = true;
    }
    if changed {
        storage.sync_dir(wal_dir)?;
    }
    Ok(newest.map(|n| (n, wal_dir.join(crate::wal::checkpoint_name(n)))))
}

/// Loads a checkpoint into the index and the head; returns its series count
/// and the next series id it records (absent in checkpoints written before
/// head GC).
/// A checkpoint is written whole and renamed into place, so any damage is
/// corruption, not a torn tail.
fn load_checkpoint(
    storage: &dyn Storage,
    path: &Path,
    index: &MemIndex,
    head: &Head,
    workers: usize,
) -> Result<(u64, Option<u32>)> {
    let bytes = storage.read(path)?;
    check_file_header(&bytes, CHECKPOINT_MAGIC).map_err(|w| corrupt(path, 0, w))?;
    // This thread checks the frames; workers decode the series and add them to
    // the index and the head (series are independent of each other).
    std::thread::scope(|scope| {
        let mut senders = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for _ in 0..workers.max(1) {
            let (tx, rx) = mpsc::sync_channel::<SeriesPart<'_>>(16);
            handles.push(scope.spawn(move || -> Result<()> {
                for part in rx {
                    for (pos, payload) in part {
                        load_series(path, pos, payload, index, head)?;
                    }
                }
                Ok(())
            }));
            senders.push(tx);
        }
        let scanned = scan_checkpoint(path, &bytes, &senders);
        drop(senders);
        for h in handles {
            h.join()
                .map_err(|_| corrupt(path, 0, "a loader thread panicked"))??;
        }
        scanned
    })
}

/// Checkpoint series records as (offset, payload), handed to a loader.
type SeriesPart<'a> = Vec<(usize, &'a [u8])>;

/// Adds one `SERIES_SNAPSHOT` (at `pos`) to the index and the head.
fn load_series(
    path: &Path,
    pos: usize,
    payload: &[u8],
    index: &MemIndex,
    head: &Head,
) -> Result<()> {
    let (id, series) = snapshot::decode(payload).map_err(|w| corrupt(path, pos as u64, w))?;
    index
        .insert_with_id(SeriesId(id), series.labels.clone())
        .map_err(|e| corrupt(path, pos as u64, format!("series {id}: {e}")))?;
    if !head.insert(id, series) {
        return Err(corrupt(path, pos as u64, format!("series {id} twice")));
    }
    Ok(())
}

/// Checks a checkpoint's frames, handing series to the loaders in parts;
/// returns the series count the end record confirms and the next series id
/// it records, if any.
fn scan_checkpoint<'a>(
    path: &Path,
    bytes: &'a [u8],
    loaders: &[mpsc::SyncSender<SeriesPart<'a>>],
) -> Result<(u64, Option<u32>)> {
    const PART: usize = 512;
    let mut pos = FILE_HEADER_LEN;
    let mut count = 0u64;
    let mut part = Vec::with_capacity(PART);
    let mut next_loader = 0usize;
    let mut send = |part: &mut SeriesPart<'a>| -> Result<()> {
        if part.is_empty() {
            return Ok(());
        }
        let Some(tx) = loaders.get(next_loader % loaders.len().max(1)) else {
            return Err(corrupt(path, 0, "no loader thread"));
        };
        next_loader += 1;
        tx.send(std::mem::take(part))
            .map_err(|_| corrupt(path, 0, "a loader thread stopped early"))
    };
    loop {
        let frame = read_frame(bytes, pos).map_err(|e| corrupt(path, e.offset, e.what))?;
        let Some(Frame {
            kind: k,
            payload,
            next,
        }) = frame
        else {
            return Err(corrupt(path, pos as u64, "checkpoint has no end record"));
        };
        match k {
            kind::SERIES_SNAPSHOT => {
                part.push((pos, payload));
                if part.len() >= PART {
                    send(&mut part)?;
                }
                count += 1;
            }
            kind::CHECKPOINT_END => {
                send(&mut part)?;
                let expected = read_u64(payload, 0).unwrap_or(u64::MAX);
                let next_id = match payload.len() {
                    8 => None,
                    12 => read_u32(payload, 8),
                    n => {
                        return Err(corrupt(
                            path,
                            pos as u64,
                            format!("end record of {n} bytes"),
                        ));
                    }
                };
                if expected != count {
                    return Err(corrupt(
                        path,
                        pos as u64,
                        format!("end record says {expected} series, found {count}"),
                    ));
                }
                if next != bytes.len() {
                    return Err(corrupt(path, next as u64, "bytes after the end record"));
                }
                return Ok((count, next_id));
            }
            other => {
                return Err(corrupt(
                    path,
                    pos as u64,
                    format!("unknown record type {other}"),
                ));
            }
        }
        pos = next;
    }
}

/// Most threads applying replayed samples.
const MAX_REPLAY_WORKERS: usize = 4;
/// Samples a replay worker gathers before it sorts and applies them (about
/// 100 MB per worker, freed after replay): the larger, the more samples of a
/// series are applied while its state is in cache.
const REPLAY_GROUP_SAMPLES: usize = 4 << 20;

/// Replay state: series records are applied to the index and head directly,
/// samples are handed to the worker owning their shard.
struct Pending<'a> {
    index: &'a MemIndex,
    head: &'a Head,
    senders: Vec<mpsc::SyncSender<Vec<(u32, i64, f64)>>>,
    series: u64,
    /// Ids whose `SERIES` record named labels already known under another
    /// id (head GC dropped a series and it came back): their samples go to
    /// that series.
    aliases: HashMap<u32, u32>,
}

impl Pending<'_> {
    fn apply(&mut self, k: u8, payload: &[u8]) -> std::result::Result<(), String> {
        match k {
            kind::SERIES => {
                let mut c = Cursor::new(payload);
                let n = c.u32().ok_or("truncated series record")?;
                for _ in 0..n {
                    let id = SeriesId(c.u32().ok_or("truncated series record")?);
                    let labels = Labels::from_bytes(c.bytes().ok_or("truncated series record")?)
                        .map_err(|e| format!("series {}: bad labels: {e}", id.0))?;
                    match self.index.get(&labels) {
                        Some(existing) if existing == id => {}
                        Some(existing) => {
                            // The labels came back under a new id after head
                            // GC dropped them (or the other way round, the
                            // checkpoint holding the newer id): one series.
                            self.aliases.insert(id.0, existing.0);
                            self.index.reserve_ids(id.0.saturating_add(1));
                            continue;
                        }
                        None => self
                            .index
                            .insert_with_id(id, labels.clone())
                            .map_err(|e| format!("series {}: {e}", id.0))?,
                    }
                    if self.head.create(id, labels) {
                        self.series += 1;
                    }
                }
                if !c.is_empty() {
                    return Err("trailing bytes in series record".into());
                }
                Ok(())
            }
            kind::SAMPLES => {
                let samples = samples_payload(payload).ok_or("malformed samples record")?;
                let aliases = &self.aliases;
                let samples = samples.map(|(id, t, v)| {
                    if aliases.is_empty() {
                        return (id, t, v);
                    }
                    (aliases.get(&id).copied().unwrap_or(id), t, v)
                });
                let n = self.senders.len().max(1);
                let mut groups: Vec<Vec<(u32, i64, f64)>> = (0..n)
                    .map(|_| Vec::with_capacity(payload.len() / SAMPLE_ENTRY_LEN / n + 1))
                    .collect();
                for s in samples {
                    if let Some(g) = groups.get_mut(Head::shard_of(s.0) % n) {
                        g.push(s);
                    }
                }
                for (group, tx) in groups.into_iter().zip(&self.senders) {
                    if !group.is_empty() {
                        tx.send(group)
                            .map_err(|_| "replay worker stopped".to_string())?;
                    }
                }
                Ok(())
            }
            other => Err(format!("unknown record type {other}")),
        }
    }
}
