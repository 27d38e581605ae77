//! Labels → series id for the series in the head: the ingest hot path's
//! lookup. `Labels` carries its hash and compares by pointer first, so a host
//! that reuses its `Labels` values pays one hash-map probe per sample.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::mem::size_of;

use parking_lot::RwLock;
use tsdb_index::Labels;

const REF_SHARDS: usize = 64;

/// A hasher that passes through the precomputed 64-bit label hash.
#[derive(Default)]
pub(crate) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(b) ^ (self.0 >> 56);
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 ^= x;
    }
}

type Map = HashMap<Labels, u32, BuildHasherDefault<PassThrough>>;

/// The series of the head by labels.
pub(crate) struct SeriesRefs {
    shards: Box<[RwLock<Map>]>,
}

impl SeriesRefs {
    pub(crate) fn new() -> SeriesRefs {
        SeriesRefs {
            shards: (0..REF_SHARDS)
                .map(|_| RwLock::new(Map::default()))
                .collect(),
        }
    }

    fn shard_no(labels: &Labels) -> usize {
        // The low bits pick the hash-map bucket; the shard uses high bits.
        (labels.hash64() >> 58) as usize % REF_SHARDS
    }

    fn shard(&self, labels: &Labels) -> Option<&RwLock<Map>> {
        self.shards.get(Self::shard_no(labels))
    }

    /// Looks up many series at once, taking each shard's read lock once:
    /// `ids[i]` is set for every `i` in `idxs` that is found; the others are
    /// pushed to `misses`.
    pub(crate) fn get_many<'a>(
        &self,
        labels_of: impl Fn(usize) -> Option<&'a Labels>,
        idxs: &[usize],
        ids: &mut [u32],
        misses: &mut Vec<usize>,
    ) {
        let keys: Vec<u8> = idxs
            .iter()
            .map(|&i| labels_of(i).map_or(u8::MAX, |l| Self::shard_no(l) as u8))
            .collect();
        let (order, starts) = super::bucket::group_by_key(&keys, REF_SHARDS);
        for (shard_no, bounds) in starts.windows(2).enumerate() {
            let [lo, hi] = *bounds else { continue };
            let (Some(group), Some(shard)) = (order.get(lo..hi), self.shards.get(shard_no)) else {
                continue;
            };
            if group.is_empty() {
                continue;
            }
            let map = shard.read();
            for &k in group {
                let Some(&i) = idxs.get(k as usize) else {
                    continue;
                };
                match labels_of(i).and_then(|l| map.get(l)) {
                    Some(&id) => {
                        if let Some(slot) = ids.get_mut(i) {
                            *slot = id;
                        }
                    }
                    None => misses.push(i),
                }
            }
        }
    }

    /// The label set stored for a head series equal to `labels`.
    pub(crate) fn stored(&self, labels: &Labels) -> Option<Labels> {
        let map = self.shard(labels)?.read();
        map.get_key_value(labels).map(|(k, _)| k.clone())
    }

    /// Records a head series.
    pub(crate) fn insert(&self, labels: Labels, id: u32) {
        if let Some(s) = self.shard(&labels) {
            s.write().insert(labels, id);
        }
    }

    /// Forgets a head series (if `labels` still names `id`).
    pub(crate) fn remove(&self, labels: &Labels, id: u32) {
        if let Some(s) = self.shard(labels) {
            let mut map = s.write();
            if map.get(labels) == Some(&id) {
                map.remove(labels);
                if map.capacity() > 4 * map.len() + 64 {
                    map.shrink_to_fit();
                }
            }
        }
    }

    /// Bytes held by the maps.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().capacity() * (size_of::<(Labels, u32)>() + 1))
            .sum()
    }
}
