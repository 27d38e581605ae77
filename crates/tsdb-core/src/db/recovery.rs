//! Opening a database: the newest checkpoint, then the WAL after it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tsdb_index::{Labels, MemIndex, SeriesId};

use super::{Counters, Inner, Settings, WAL_DIR};
use crate::error::{Error, Result};
use crate::head::{AppendCfg, Head, snapshot};
use crate::metadata::Catalog;
use crate::options::Options;
use crate::storage::Storage;
use crate::wal::reader::TailRepair;
use crate::wal::record::{
    CHECKPOINT_MAGIC, Cursor, FILE_HEADER_LEN, Frame, check_file_header, kind, read_frame, read_u64,
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
    let catalog = Catalog::open(Arc::clone(&storage), dir)?;
    let index = MemIndex::new(options.limits);
    let head = Head::new();
    let mut report = RecoveryReport::default();

    let checkpoint = latest_checkpoint(&*storage, &wal_dir)?;
    let after = match &checkpoint {
        Some((n, path)) => {
            report.checkpoint_series = load_checkpoint(&*storage, path, &index, &head)?;
            report.checkpoint = Some(path.clone());
            *n
        }
        None => 0,
    };
    let settings = Settings {
        write_mode: options.write_mode,
        ooo_window_ms: options.ooo_window_ms,
        duplicate_policy: options.duplicate_policy,
        chunk_samples: options.chunk_samples.max(1),
        min_timestamp_ms: options.min_timestamp_ms,
        max_timestamp_ms: options.max_timestamp_ms,
        checkpoint_after_bytes: options.checkpoint_after_bytes,
        flush_interval: options.flush_interval.max(Duration::from_millis(1)),
    };
    // The WAL writer starts after replay, in a segment numbered past every one
    // left on disk.
    let mut pending = Pending {
        index,
        head,
        cfg: AppendCfg {
            ooo_window_ms: settings.ooo_window_ms,
            policy: settings.duplicate_policy,
            chunk_samples: settings.chunk_samples,
            replay: true,
        },
        scratch: Vec::new(),
        series: 0,
        samples: 0,
        unknown: 0,
    };
    let stats = replay_segments(&*storage, &wal_dir, after, |k, payload| {
        pending.apply(k, payload)
    })?;
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
    report.series_replayed = pending.series;
    report.samples_replayed = pending.samples;
    report.unknown_series_samples = pending.unknown;
    report.repair = stats.repair;
    report.duration = started.elapsed();
    Ok(Inner {
        dir: dir.to_path_buf(),
        wal_dir,
        storage,
        settings,
        index: pending.index,
        head: pending.head,
        wal,
        catalog,
        create_lock: Mutex::new(()),
        checkpoint_lock: Mutex::new(()),
        counters: Counters::default(),
        report,
        closed: AtomicBool::new(false),
        background_error: Mutex::new(None),
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

/// Loads a checkpoint into the index and the head; returns its series count.
/// A checkpoint is written whole and renamed into place, so any damage is
/// corruption, not a torn tail.
fn load_checkpoint(
    storage: &dyn Storage,
    path: &Path,
    index: &MemIndex,
    head: &Head,
) -> Result<u64> {
    let bytes = storage.read(path)?;
    check_file_header(&bytes, CHECKPOINT_MAGIC).map_err(|w| corrupt(path, 0, w))?;
    let mut pos = FILE_HEADER_LEN;
    let mut count = 0u64;
    loop {
        let frame = read_frame(&bytes, pos).map_err(|e| corrupt(path, e.offset, e.what))?;
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
                let (id, series) =
                    snapshot::decode(payload).map_err(|w| corrupt(path, pos as u64, w))?;
                index
                    .insert_with_id(SeriesId(id), series.labels.clone())
                    .map_err(|e| corrupt(path, pos as u64, format!("series {id}: {e}")))?;
                if !head.insert(id, series) {
                    return Err(corrupt(path, pos as u64, format!("series {id} twice")));
                }
                count += 1;
            }
            kind::CHECKPOINT_END => {
                let expected = read_u64(payload, 0).unwrap_or(u64::MAX);
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
                return Ok(count);
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

/// Index and head being rebuilt by replay.
struct Pending {
    index: MemIndex,
    head: Head,
    cfg: AppendCfg,
    scratch: Vec<(u32, i64, f64)>,
    series: u64,
    samples: u64,
    unknown: u64,
}

impl Pending {
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
                            return Err(format!(
                                "series {} has the labels of series {}",
                                id.0, existing.0
                            ));
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
                let (applied, unknown) =
                    self.head
                        .replay_samples(payload, &self.cfg, &mut self.scratch)?;
                self.samples += applied;
                self.unknown += unknown;
                Ok(())
            }
            other => Err(format!("unknown record type {other}")),
        }
    }
}
