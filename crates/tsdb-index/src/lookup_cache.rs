//! A lossy, lock-free, direct-mapped cache from a label set's hash to its series
//! record, in front of the sharded lookup table.
//!
//! A hit costs one load of one slot instead of a lock and two table probes, and a
//! batch of lookups can issue all its slot loads before using any, so their cache
//! misses overlap. Every hit is verified against the record, so a stale or overwritten
//! slot only costs a miss.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;
use arc_swap::Guard;

/// Slots of a new cache.
const INITIAL_SLOTS: usize = 1 << 12;

pub(crate) struct LookupCache {
    slots: ArcSwap<Vec<AtomicU64>>,
}

fn empty(n: usize) -> Vec<AtomicU64> {
    (0..n).map(|_| AtomicU64::new(0)).collect()
}

impl Default for LookupCache {
    fn default() -> Self {
        Self {
            slots: ArcSwap::from_pointee(empty(INITIAL_SLOTS)),
        }
    }
}

/// The slot value for record `pos` of hash `h`: the hash's high half as a tag, and
/// `pos + 1` so that 0 means empty.
#[inline]
fn pack(h: u64, pos: u32) -> u64 {
    (h & 0xFFFF_FFFF_0000_0000) | (u64::from(pos) + 1)
}

/// A loaded view of the slots, for a batch of lookups.
pub(crate) struct Slots(Guard<Arc<Vec<AtomicU64>>>);

impl Slots {
    /// The record position cached for hash `h`, if its tag matches.
    #[inline]
    pub(crate) fn get(&self, h: u64) -> Option<u32> {
        let len = self.0.len();
        let v = self.0.get(h as usize & (len - 1))?.load(Ordering::Acquire);
        if v == 0 || (v ^ h) >> 32 != 0 {
            return None;
        }
        u32::try_from((v & 0xFFFF_FFFF) - 1).ok()
    }
}

impl LookupCache {
    /// Loads the current slots.
    #[inline]
    pub(crate) fn slots(&self) -> Slots {
        Slots(self.slots.load())
    }

    /// Remembers that hash `h` is the record at `pos` (`pos < u32::MAX`).
    #[inline]
    pub(crate) fn put(&self, h: u64, pos: u32) {
        let slots = self.slots.load();
        let len = slots.len();
        if let Some(slot) = slots.get(h as usize & (len - 1)) {
            slot.store(pack(h, pos), Ordering::Release);
        }
    }

    /// Grows (empty, four times larger) once the index holds more than half as many
    /// series as there are slots.
    pub(crate) fn maybe_grow(&self, series: usize) {
        let len = self.slots.load().len();
        if series.saturating_mul(2) > len && len < 1 << 30 {
            self.slots.store(Arc::new(empty(len * 4)));
        }
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        self.slots.load().len() * std::mem::size_of::<AtomicU64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_and_tag_mismatch() {
        let c = LookupCache::default();
        let h = 0xDEAD_BEEF_0000_0005u64;
        assert_eq!(c.slots().get(h), None);
        c.put(h, 7);
        assert_eq!(c.slots().get(h), Some(7));
        // Same slot, other tag.
        assert_eq!(c.slots().get(0x1234_5678_0000_0005), None);
        c.put(h, 0);
        assert_eq!(c.slots().get(h), Some(0));
        c.maybe_grow(1 << 20);
        assert_eq!(c.slots().get(h), None);
        assert!(c.memory_bytes() >= 4 * INITIAL_SLOTS * 8);
    }
}
