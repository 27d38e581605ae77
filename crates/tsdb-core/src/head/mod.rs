//! The head: the in-memory, writable part of the database. Series live in
//! shards chosen by series id, each behind its own lock, so writers of
//! different series rarely meet and no lock covers the whole head.

mod series;
pub(crate) mod snapshot;

use std::mem::size_of;

use parking_lot::Mutex;
use tsdb_index::{Labels, SeriesId};

use crate::api::Series;
use crate::error::Result;
pub(crate) use series::{AppendCfg, Appended, MemSeries};

/// Number of head shards (a power of two).
pub(crate) const SHARDS: usize = 64;

/// One shard: the series whose id is `slot * SHARDS + shard`.
#[derive(Default)]
pub(crate) struct Shard {
    slots: Vec<Option<MemSeries>>,
    count: usize,
}

impl Shard {
    pub(crate) fn get_mut(&mut self, id: u32) -> Option<&mut MemSeries> {
        self.slots.get_mut(id as usize / SHARDS)?.as_mut()
    }
    pub(crate) fn get(&self, id: u32) -> Option<&MemSeries> {
        self.slots.get(id as usize / SHARDS)?.as_ref()
    }
    fn insert(&mut self, id: u32, series: MemSeries) -> bool {
        let slot = id as usize / SHARDS;
        if self.slots.len() <= slot {
            self.slots.resize_with(slot + 1, || None);
        }
        match self.slots.get_mut(slot) {
            Some(s @ None) => {
                *s = Some(series);
                self.count += 1;
                true
            }
            _ => false,
        }
    }
    /// The series of this shard with their ids.
    pub(crate) fn iter(&self, shard: usize) -> impl Iterator<Item = (u32, &MemSeries)> {
        self.slots.iter().enumerate().filter_map(move |(slot, s)| {
            let id = u32::try_from(slot * SHARDS + shard).ok()?;
            Some((id, s.as_ref()?))
        })
    }
}

/// Memory figures of the head.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct HeadMemory {
    pub series: usize,
    pub total_bytes: usize,
    pub compressed_bytes: usize,
}

/// The head.
pub(crate) struct Head {
    shards: Box<[Mutex<Shard>]>,
}

impl Head {
    pub(crate) fn new() -> Head {
        Head {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
        }
    }

    /// The shard index of a series.
    pub(crate) fn shard_of(id: u32) -> usize {
        id as usize % SHARDS
    }

    /// The lock of shard `i` (`i < SHARDS`).
    pub(crate) fn shard(&self, i: usize) -> Option<&Mutex<Shard>> {
        self.shards.get(i)
    }

    /// Creates a series; false if the id exists already.
    pub(crate) fn create(&self, id: SeriesId, labels: Labels) -> bool {
        self.insert(id.0, MemSeries::new(labels))
    }

    /// Inserts a series restored from a checkpoint; false if the id exists.
    pub(crate) fn insert(&self, id: u32, series: MemSeries) -> bool {
        match self.shard(Self::shard_of(id)) {
            Some(s) => s.lock().insert(id, series),
            None => false,
        }
    }

    /// Whether a series exists.
    pub(crate) fn contains(&self, id: SeriesId) -> bool {
        self.shard(Self::shard_of(id.0))
            .is_some_and(|s| s.lock().get(id.0).is_some())
    }

    /// A series' labels and samples in `[min, max]`; `None` if the series does
    /// not exist.
    pub(crate) fn read(&self, id: SeriesId, min: i64, max: i64) -> Result<Option<Series>> {
        let Some(shard) = self.shard(Self::shard_of(id.0)) else {
            return Ok(None);
        };
        let shard = shard.lock();
        let Some(s) = shard.get(id.0) else {
            return Ok(None);
        };
        let (mut ts, mut vs) = (Vec::new(), Vec::new());
        s.read_range(min, max, &mut ts, &mut vs)?;
        Ok(Some(Series {
            labels: s.labels.clone(),
            timestamps: ts,
            values: vs,
        }))
    }

    /// A series' labels if it has a sample in `[min, max]`.
    pub(crate) fn labels_if_in_range(
        &self,
        id: SeriesId,
        min: i64,
        max: i64,
    ) -> Result<Option<Labels>> {
        let Some(shard) = self.shard(Self::shard_of(id.0)) else {
            return Ok(None);
        };
        let shard = shard.lock();
        match shard.get(id.0) {
            Some(s) if s.has_samples_in(min, max)? => Ok(Some(s.labels.clone())),
            _ => Ok(None),
        }
    }

    /// Memory held by the head (walks every series).
    pub(crate) fn memory(&self) -> HeadMemory {
        let mut m = HeadMemory {
            total_bytes: size_of::<Head>() + SHARDS * size_of::<Mutex<Shard>>(),
            ..HeadMemory::default()
        };
        for (i, shard) in self.shards.iter().enumerate() {
            let shard = shard.lock();
            m.total_bytes += shard.slots.capacity() * size_of::<Option<MemSeries>>();
            for (_, s) in shard.iter(i) {
                m.series += 1;
                // The slot itself is counted above.
                m.total_bytes += s.memory_bytes() - size_of::<MemSeries>();
                m.compressed_bytes += s.compressed_bytes();
            }
        }
        m
    }
}

impl Head {
    /// Applies one WAL `SAMPLES` payload during replay, shard by shard, in log
    /// order within a series; returns how many samples named a series the log
    /// never created.
    pub(crate) fn replay_samples(
        &self,
        payload: &[u8],
        cfg: &AppendCfg,
        scratch: &mut Vec<(u32, i64, f64)>,
    ) -> std::result::Result<(u64, u64), String> {
        let it = crate::wal::record::samples_payload(payload).ok_or("malformed samples record")?;
        scratch.clear();
        scratch.extend(it);
        // Stable: keeps log order within each series.
        scratch.sort_by_key(|s| Self::shard_of(s.0));
        let (mut applied, mut unknown) = (0, 0);
        for group in scratch.chunk_by(|a, b| Self::shard_of(a.0) == Self::shard_of(b.0)) {
            let Some(first) = group.first() else { continue };
            let Some(shard) = self.shard(Self::shard_of(first.0)) else {
                continue;
            };
            let mut shard = shard.lock();
            for &(id, t, v) in group {
                match shard.get_mut(id) {
                    Some(series) => {
                        series
                            .append(t, v, cfg)
                            .map_err(|e| format!("sample of series {id} at {t}: {e}"))?;
                        applied += 1;
                    }
                    None => unknown += 1,
                }
            }
        }
        Ok((applied, unknown))
    }
}
