//! The lookup table of `MemIndex`: a flat, open-addressing hash table from a label
//! set's [`hash64`](crate::Labels::hash64) to the position of its series record.
//!
//! Each slot is one `u64`: the hash's high 32 bits as a tag and `record position + 1`
//! (0: empty). The home slot of a hash is the tag's top bits, so growing the table
//! moves slots without reading the records; collisions probe linearly. The table is at
//! most half full, so a hit costs one cache line of slots plus one record check.
//!
//! Reads take no lock: they load the current slots through an `ArcSwap` and probe
//! with acquire loads. Writers take a mutex, store a slot with a release store after
//! the record is written, and grow by building a doubled copy and swapping it in;
//! a reader still holding the old copy finds everything inserted before the swap.
//! Entries are never removed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::{ArcSwap, Guard};
use parking_lot::Mutex;

/// log2 of the slots of a new table.
const INITIAL_BITS: u32 = 8;
/// log2 of the largest table: the home slot is taken from the 32-bit tag.
const MAX_BITS: u32 = 32;

/// The slots of one generation of the table (a power of two of them).
struct Slots {
    slots: Box<[AtomicU64]>,
    /// log2 of `slots.len()`.
    bits: u32,
}

impl Slots {
    fn new(bits: u32) -> Slots {
        Slots {
            slots: (0..1usize << bits).map(|_| AtomicU64::new(0)).collect(),
            bits,
        }
    }

    /// The home slot of `tag`.
    #[inline]
    fn home(&self, tag: u32) -> usize {
        // `bits` is in 1..=32, so the shift is in 0..32.
        (u64::from(tag) >> (32 - self.bits)) as usize
    }

    /// Stores `v` (non-zero) in the first empty slot from its home; `false` if full.
    /// Only under the writers' lock.
    fn place(&self, v: u64) -> bool {
        let mask = self.slots.len() - 1;
        let mut i = self.home((v >> 32) as u32);
        for _ in 0..self.slots.len() {
            let Some(slot) = self.slots.get(i) else {
                return false;
            };
            if slot.load(Ordering::Relaxed) == 0 {
                slot.store(v, Ordering::Release);
                return true;
            }
            i = (i + 1) & mask;
        }
        false
    }
}

/// The tag of hash `h`.
#[inline]
fn tag(h: u64) -> u32 {
    (h >> 32) as u32
}

/// The slot value for the record at `pos` of hash `h` (`pos < u32::MAX`).
#[inline]
fn pack(h: u64, pos: u32) -> u64 {
    (h & 0xFFFF_FFFF_0000_0000) | (u64::from(pos) + 1)
}

/// The record position in a non-empty slot value.
#[inline]
fn unpack(v: u64) -> u32 {
    (v as u32).wrapping_sub(1)
}

/// The lookup table. See the module documentation.
pub(crate) struct SeriesTable {
    current: ArcSwap<Slots>,
    /// The number of entries; held while inserting.
    writer: Mutex<usize>,
}

impl Default for SeriesTable {
    fn default() -> Self {
        Self {
            current: ArcSwap::from_pointee(Slots::new(INITIAL_BITS)),
            writer: Mutex::new(0),
        }
    }
}

/// A loaded view of the table for one or more lookups.
pub(crate) struct Snapshot(Guard<Arc<Slots>>);

impl Snapshot {
    /// The record position of the entry with hash `h` for which `eq` holds, probing
    /// the slots whose tag matches.
    #[inline]
    pub(crate) fn find(&self, h: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        let t = &self.0;
        let mask = t.slots.len() - 1;
        let tag = tag(h);
        let mut i = t.home(tag);
        for _ in 0..t.slots.len() {
            let v = t.slots.get(i)?.load(Ordering::Acquire);
            if v == 0 {
                return None;
            }
            if (v >> 32) as u32 == tag && eq(unpack(v)) {
                return Some(unpack(v));
            }
            i = (i + 1) & mask;
        }
        None
    }

    /// The record position in the home slot of `h` if its tag matches: the first
    /// candidate [`Snapshot::find`] would check. For batches, to load the slots of
    /// many lookups before using any.
    #[inline]
    pub(crate) fn home_candidate(&self, h: u64) -> Option<u32> {
        let t = &self.0;
        let v = t.slots.get(t.home(tag(h)))?.load(Ordering::Acquire);
        (v != 0 && (v >> 32) as u32 == tag(h)).then_some(unpack(v))
    }
}

impl SeriesTable {
    /// Loads the current slots.
    #[inline]
    pub(crate) fn snapshot(&self) -> Snapshot {
        Snapshot(self.current.load())
    }

    /// Adds the record at `pos` (`< u32::MAX`, written before this call) under hash
    /// `h`. The caller makes sure that no equal entry exists. `false` if the table is
    /// full (more than 2^31 entries).
    pub(crate) fn insert(&self, h: u64, pos: u32) -> bool {
        let mut len = self.writer.lock();
        let cur = self.current.load_full();
        let v = pack(h, pos);
        let placed = if (*len + 1) * 2 > cur.slots.len() && cur.bits < MAX_BITS {
            let next = Slots::new(cur.bits + 1);
            for s in cur.slots.iter() {
                let old = s.load(Ordering::Relaxed);
                if old != 0 {
                    next.place(old);
                }
            }
            let placed = next.place(v);
            self.current.store(Arc::new(next));
            placed
        } else {
            cur.place(v)
        };
        if placed {
            *len += 1;
        }
        placed
    }

    /// The number of entries.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        *self.writer.lock()
    }

    /// Bytes held by the slots.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.current.load().slots.len() * std::mem::size_of::<AtomicU64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Finds `pos` by exact position, as `MemIndex` does by comparing records.
    fn get(t: &SeriesTable, h: u64, pos: u32) -> Option<u32> {
        t.snapshot().find(h, |p| p == pos)
    }

    #[test]
    fn insert_find_and_grow() {
        let t = SeriesTable::default();
        let hs: Vec<u64> = (0..10_000u64)
            .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .collect();
        for (i, h) in hs.iter().enumerate() {
            assert!(t.insert(*h, i as u32));
        }
        assert_eq!(t.len(), hs.len());
        assert!(t.memory_bytes() >= 2 * hs.len() * 8);
        for (i, h) in hs.iter().enumerate() {
            assert_eq!(get(&t, *h, i as u32), Some(i as u32));
            assert_eq!(get(&t, *h, u32::MAX - 1), None);
        }
        let absent = 0x0123_4567_89AB_CDEF;
        assert!(hs.iter().all(|h| tag(*h) != tag(absent)));
        assert_eq!(get(&t, absent, 0), None);
    }

    #[test]
    fn colliding_hashes_are_all_found() {
        // Equal hashes, equal tags and homes: one probe chain, told apart by `eq`.
        let t = SeriesTable::default();
        let snap_before = t.snapshot();
        for pos in 0..1000 {
            assert!(t.insert(0xABCD_0000_0000_0000, pos));
        }
        // Different hashes with the same home slot and tag.
        for pos in 1000..1100 {
            assert!(t.insert(0xABCD_0000_0000_0000 | u64::from(pos), pos));
        }
        for pos in 0..1100 {
            assert_eq!(get(&t, 0xABCD_0000_0000_0000, pos), Some(pos));
        }
        assert_eq!(get(&t, 0xABCD_0000_0000_0000, 5000), None);
        assert_eq!(get(&t, 0xABCE_0000_0000_0000, 0), None);
        // The home slot holds one of them.
        assert!(
            t.snapshot()
                .home_candidate(0xABCD_0000_0000_0000)
                .is_some_and(|p| p < 1100)
        );
        assert_eq!(t.snapshot().home_candidate(0x1111_0000_0000_0000), None);
        // A snapshot taken before the table grew still finds what was inserted into
        // its generation (the first 128 entries), and nothing later.
        for pos in 0..128 {
            assert_eq!(
                snap_before.find(0xABCD_0000_0000_0000, |p| p == pos),
                Some(pos)
            );
        }
        assert_eq!(snap_before.find(0xABCD_0000_0000_0000, |p| p == 500), None);
    }

    #[test]
    fn wraps_around_the_end() {
        let t = SeriesTable::default();
        for pos in 0..50 {
            assert!(t.insert(0xFFFF_FFFF_0000_0000, pos));
        }
        for pos in 0..50 {
            assert_eq!(get(&t, 0xFFFF_FFFF_0000_0000, pos), Some(pos));
        }
    }
}
