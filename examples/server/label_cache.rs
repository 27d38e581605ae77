//! Remote write's cache from a series' encoded labels to its [`Labels`].
//!
//! Prometheus resends every series with every request, byte for byte the
//! same. Building `Labels` for each (UTF-8 checks, sorting check, hashing, three
//! allocations) and then having the head compare the new set's strings with
//! its own cost more than storing the sample. The cache maps a hash of the
//! label fields' raw bytes to the `Labels` built the first time; a hit is
//! verified pair by pair against the request (so a hash collision or a
//! malformed set only falls back to the slow path) and hands the database the
//! same `Labels` value it stored when the series was created from it, which
//! its lookup compares by pointer.
//!
//! Entries are added only for series the head holds after the request, and
//! hold the head's own copy of the set, so the cache holds no more sets than
//! the head plus recent churn, and no set the database did not check.
//!
//! Only labels are cached, never series ids: the database still resolves
//! every sample by labels, so series it drops later (head garbage collection)
//! stay correct; a cached set of a dropped series merely costs memory until it
//! ages out. Two generations bound that: entries not seen for a whole
//! generation ([`GENERATION`], or as many new entries as the capacity given
//! to [`LabelCache::new`]) are dropped.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use tsdb::core::Labels;

/// How long an entry not seen again is kept at least (and at most twice that).
pub const GENERATION: Duration = Duration::from_secs(300);

/// The keys are hashes already: pass them through.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = x;
    }
}

type Map = HashMap<u64, Labels, BuildHasherDefault<PassThrough>>;

struct Generations {
    current: Map,
    previous: Map,
    started: Instant,
}

/// The cache (shared by the remote-write handlers).
pub struct LabelCache {
    inner: RwLock<Generations>,
    capacity: usize,
}

/// The cache key of a series' encoded label fields.
pub fn key(label_bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(label_bytes)
}

/// Whether `Labels::from_utf8_pairs(pairs)` would build exactly `labels`
/// (see [`Labels::matches_utf8_pairs`]).
#[cfg(test)]
pub fn same_labels(pairs: &[(&[u8], &[u8])], labels: &Labels) -> bool {
    labels.matches_utf8_pairs(pairs.iter().map(|p| Ok::<_, ()>(*p)))
}

impl LabelCache {
    /// A cache of at most about `capacity` entries per generation.
    pub fn new(capacity: usize) -> LabelCache {
        LabelCache {
            inner: RwLock::new(Generations {
                current: Map::default(),
                previous: Map::default(),
                started: Instant::now(),
            }),
            capacity: capacity.max(1),
        }
    }

    /// Entries held (both generations).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        let g = self.inner.read();
        g.current.len() + g.previous.len()
    }

    /// Looks up many keys under one read lock: `out[i]` is the cached
    /// `Labels` of `keys[i]` (not yet verified), if any. Hits found only in
    /// the previous generation are pushed to `promote` (indexes into `keys`).
    pub fn get_many(&self, keys: &[Option<u64>], out: &mut Vec<Option<Labels>>) -> Vec<usize> {
        let mut promote = Vec::new();
        let g = self.inner.read();
        out.clear();
        out.extend(keys.iter().enumerate().map(|(i, k)| {
            let k = (*k)?;
            if let Some(l) = g.current.get(&k) {
                return Some(l.clone());
            }
            let l = g.previous.get(&k)?;
            promote.push(i);
            Some(l.clone())
        }));
        promote
    }

    /// Records many entries under one write lock, starting a new generation
    /// first when the current one is old or full.
    pub fn insert_many(&self, entries: impl IntoIterator<Item = (u64, Labels)>) {
        let mut g = self.inner.write();
        let mut old = g.started.elapsed() >= GENERATION;
        let mut retired = Vec::new();
        for (k, l) in entries {
            if old || g.current.len() >= self.capacity {
                let current = std::mem::take(&mut g.current);
                retired.push(std::mem::replace(&mut g.previous, current));
                g.started = Instant::now();
                old = false;
            }
            g.current.insert(k, l);
        }
        drop(g);
        // The retired generations are freed after the lock is released.
        drop(retired);
    }
}
