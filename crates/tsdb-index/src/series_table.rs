//! The lookup table of `MemIndex`: a flat, open-addressing hash table from a label
//! set's [`hash64`](crate::Labels::hash64) to the series, stored inline.
//!
//! Each slot is 16 bytes: the hash's high 32 bits as a tag, the series id, and the
//! two ids that together spell the labels (the first label's value symbol and the
//! interned group of all the other strings, see `mem::groups`, or that group's
//! strings as bytes, [`OTHERS_REF`]). A hit thus costs one cache line of slots, and
//! the check of the labels reads only data that series share. The home slot of a hash is a mix of its tag with a random per-table
//! seed (so crafted label sets cannot crowd one stretch), so growing the table moves
//! slots without reading anything else; collisions probe linearly; the table is at
//! most half full.
//!
//! Reads take no lock: they load the current slots through an `ArcSwap` and probe
//! with acquire loads. Writers take a mutex, fill a slot with a release store, and
//! grow by building a doubled copy and swapping it in; a reader still holding the old
//! copy finds everything inserted before the swap.
//!
//! A removed entry leaves a tombstone, which probes step over. A slot's key is written
//! once per generation of the table: tombstones are not refilled in place (a reader
//! could pair a new key with the old value it loaded just before), only dropped when
//! the table is rebuilt — doubled, or at the same size when tombstones fill it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::{ArcSwap, Guard};

use crate::big_alloc::{ZeroedAtomic, ZeroedSlice};
use parking_lot::Mutex;

/// log2 of the slots of a new table.
const INITIAL_BITS: u32 = 6;
/// log2 of the largest table: the home slot is taken from the 32-bit tag.
const MAX_BITS: u32 = 32;

/// One series in the table.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Entry {
    /// The series id.
    pub(crate) id: u32,
    /// The symbol of the first label's value (`u32::MAX` for the empty label set).
    pub(crate) head: u32,
    /// How the rest of the labels are checked: the label group's position, or,
    /// with [`OTHERS_REF`] set, the number of the group's strings as bytes (see
    /// `mem::groups`), one load nearer (`< u32::MAX` either way).
    pub(crate) group: u32,
}

/// Set in [`Entry::group`] when it holds the number of a group's strings as bytes
/// rather than the group's position (which stays below it).
pub(crate) const OTHERS_REF: u32 = 1 << 31;

/// The value of a removed entry's slot. No entry packs to it: that would take the
/// empty label set (`head == u32::MAX`) in group `u32::MAX − 1`, a position label
/// groups never have.
const TOMBSTONE: u64 = u64::MAX;

/// What a probe finds in a slot.
enum Probe {
    Empty,
    Removed,
    Entry(u32, Entry),
}

/// A slot: `tag << 32 | id`, then `head << 32 | group + 1` (0: empty,
/// [`TOMBSTONE`]: removed), written second with release ordering and read first
/// with acquire ordering.
#[derive(Default)]
#[repr(align(16))]
struct Slot {
    key: AtomicU64,
    value: AtomicU64,
}

impl Slot {
    /// The tag and entry in this slot, if it holds one.
    #[inline]
    fn load(&self) -> Probe {
        let value = self.value.load(Ordering::Acquire);
        if value == 0 {
            return Probe::Empty;
        }
        if value == TOMBSTONE {
            return Probe::Removed;
        }
        let key = self.key.load(Ordering::Relaxed);
        Probe::Entry(
            (key >> 32) as u32,
            Entry {
                id: key as u32,
                head: (value >> 32) as u32,
                group: (value as u32).wrapping_sub(1),
            },
        )
    }
}

// SAFETY: a `Slot` is two atomics, valid when zeroed (an empty slot), 16-aligned.
unsafe impl ZeroedAtomic for Slot {}

/// The slots of one generation of the table (a power of two of them).
struct Slots {
    /// Huge-page backed once large (see `big_alloc`): probes land at random.
    slots: ZeroedSlice<Slot>,
    /// log2 of `slots.len()`.
    bits: u32,
    /// Mixed into every home slot, random per table: the stable label hash is
    /// public, so without it a sender could pick label sets whose homes crowd
    /// one stretch of the table and turn probing into linear scans.
    seed: u64,
}

impl Slots {
    fn new(bits: u32, seed: u64) -> Slots {
        Slots {
            slots: ZeroedSlice::new(1usize << bits),
            bits,
            seed,
        }
    }

    /// The home slot of `tag`.
    #[inline]
    fn home(&self, tag: u32) -> usize {
        // A keyed multiplicative mix; `bits` is in 1..=32, so the shift is in 32..64.
        ((u64::from(tag) ^ self.seed).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - self.bits))
            as usize
    }

    /// Stores the entry in the first empty slot from its home; `false` if full. Only
    /// under the writers' lock.
    fn place(&self, tag: u32, e: Entry) -> bool {
        let mask = self.slots.len() - 1;
        let mut i = self.home(tag);
        for _ in 0..self.slots.len() {
            let Some(slot) = self.slots.get(i) else {
                return false;
            };
            if slot.value.load(Ordering::Relaxed) == 0 {
                slot.key
                    .store(u64::from(tag) << 32 | u64::from(e.id), Ordering::Relaxed);
                slot.value.store(
                    u64::from(e.head) << 32 | u64::from(e.group.wrapping_add(1)),
                    Ordering::Release,
                );
                return true;
            }
            i = (i + 1) & mask;
        }
        false
    }
}

/// A random 64-bit seed from the standard library's per-process hasher keys.
fn random_seed() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(0x7473_6462u64)
}

/// The tag of hash `h`.
#[inline]
fn tag(h: u64) -> u32 {
    (h >> 32) as u32
}

/// The lookup table. See the module documentation.
pub(crate) struct SeriesTable {
    current: ArcSwap<Slots>,
    /// The counts of the current slots; held while inserting or removing.
    writer: Mutex<Counts>,
}

/// Occupied slots of the current generation.
#[derive(Default)]
struct Counts {
    live: usize,
    removed: usize,
}

impl Default for SeriesTable {
    fn default() -> Self {
        Self {
            current: ArcSwap::from_pointee(Slots::new(INITIAL_BITS, random_seed())),
            writer: Mutex::new(Counts::default()),
        }
    }
}

/// A loaded view of the table for one or more lookups.
pub(crate) struct Snapshot(Guard<Arc<Slots>>);

impl Snapshot {
    /// The entry of hash `h` for which `eq` holds, probing the slots whose tag
    /// matches.
    #[inline]
    pub(crate) fn find(&self, h: u64, mut eq: impl FnMut(Entry) -> bool) -> Option<Entry> {
        let t = &self.0;
        let mask = t.slots.len() - 1;
        let tag = tag(h);
        let mut i = t.home(tag);
        for _ in 0..t.slots.len() {
            match t.slots.get(i)?.load() {
                Probe::Empty => return None,
                Probe::Entry(t_tag, e) if t_tag == tag && eq(e) => return Some(e),
                _ => {}
            }
            i = (i + 1) & mask;
        }
        None
    }

    /// Starts loading the home slot of `h`.
    #[inline]
    pub(crate) fn prefetch_home(&self, h: u64) {
        if let Some(slot) = self.0.slots.get(self.0.home(tag(h))) {
            crate::bytes::prefetch(slot);
        }
    }

    /// The entry in the home slot of `h` if its tag matches: the first candidate
    /// [`Snapshot::find`] would check. For batches, to load the slots of many lookups
    /// before using any.
    #[inline]
    pub(crate) fn home_candidate(&self, h: u64) -> Option<Entry> {
        let t = &self.0;
        match t.slots.get(t.home(tag(h)))?.load() {
            Probe::Entry(t_tag, e) if t_tag == tag(h) => Some(e),
            _ => None,
        }
    }
}

impl SeriesTable {
    /// Loads the current slots.
    #[inline]
    pub(crate) fn snapshot(&self) -> Snapshot {
        Snapshot(self.current.load())
    }

    /// Adds entry `e` (`e.group < u32::MAX`, its group written before this call)
    /// under hash `h`. The caller makes sure that no equal entry exists. `false` if the
    /// table is full (more than 2^31 entries).
    pub(crate) fn insert(&self, h: u64, e: Entry) -> bool {
        let mut counts = self.writer.lock();
        let cur = self.current.load_full();
        let used = counts.live + counts.removed;
        // Past half full, rebuild without the tombstones: doubled, or at the same
        // size when tombstones are what fills the table.
        let grow = (counts.live + 1) * 4 > cur.slots.len() && cur.bits < MAX_BITS;
        let placed = if (used + 1) * 2 > cur.slots.len() && (grow || counts.removed > 0) {
            let next = Slots::new(cur.bits + u32::from(grow), cur.seed);
            for s in cur.slots.iter() {
                if let Probe::Entry(t, old) = s.load() {
                    next.place(t, old);
                }
            }
            let placed = next.place(tag(h), e);
            self.current.store(Arc::new(next));
            counts.removed = 0;
            placed
        } else {
            cur.place(tag(h), e)
        };
        if placed {
            counts.live += 1;
        }
        placed
    }

    /// Removes the entry of series `id` stored under hash `h`; `false` if there is
    /// none. A reader that loaded the entry before may still return it.
    pub(crate) fn remove(&self, h: u64, id: u32) -> bool {
        let mut counts = self.writer.lock();
        let cur = self.current.load();
        let mask = cur.slots.len() - 1;
        let mut i = cur.home(tag(h));
        for _ in 0..cur.slots.len() {
            let Some(slot) = cur.slots.get(i) else {
                return false;
            };
            match slot.load() {
                Probe::Empty => return false,
                Probe::Entry(t, e) if t == tag(h) && e.id == id => {
                    slot.value.store(TOMBSTONE, Ordering::Release);
                    counts.live -= 1;
                    counts.removed += 1;
                    return true;
                }
                _ => {}
            }
            i = (i + 1) & mask;
        }
        false
    }

    /// The number of entries.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.writer.lock().live
    }

    /// Bytes held by the slots.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.current.load().slots.len() * std::mem::size_of::<Slot>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(pos: u32) -> Entry {
        Entry {
            id: pos,
            head: pos ^ 0x5555,
            group: pos.wrapping_mul(3),
        }
    }

    fn insert(t: &SeriesTable, h: u64, pos: u32) -> bool {
        t.insert(h, entry(pos))
    }

    /// Finds series `pos` by its exact entry, as `MemIndex` does by comparing labels.
    fn get(t: &SeriesTable, h: u64, pos: u32) -> Option<u32> {
        t.snapshot().find(h, |e| e == entry(pos)).map(|e| e.id)
    }

    #[test]
    fn insert_find_and_grow() {
        let t = SeriesTable::default();
        let hs: Vec<u64> = (0..10_000u64)
            .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .collect();
        for (i, h) in hs.iter().enumerate() {
            assert!(insert(&t, *h, i as u32));
        }
        assert_eq!(t.len(), hs.len());
        assert!(t.memory_bytes() >= 2 * hs.len() * 16);
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
            assert!(insert(&t, 0xABCD_0000_0000_0000, pos));
        }
        // Different hashes with the same home slot and tag.
        for pos in 1000..1100 {
            assert!(insert(&t, 0xABCD_0000_0000_0000 | u64::from(pos), pos));
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
                .is_some_and(|e| e.id < 1100 && e == entry(e.id))
        );
        assert_eq!(t.snapshot().home_candidate(0x1111_0000_0000_0000), None);
        // A snapshot taken before the table grew still finds what was inserted into
        // its generation (the first 32 entries), and nothing later.
        for pos in 0..32 {
            assert_eq!(
                snap_before.find(0xABCD_0000_0000_0000, |e| e.id == pos),
                Some(entry(pos))
            );
        }
        assert_eq!(
            snap_before.find(0xABCD_0000_0000_0000, |e| e.id == 500),
            None
        );
    }

    #[test]
    fn wraps_around_the_end() {
        let t = SeriesTable::default();
        // A tag whose home is the last slot under this table's seed.
        let h = {
            let cur = t.current.load();
            let last = cur.slots.len() - 1;
            let tag = (0u32..).find(|&g| cur.home(g) == last).unwrap();
            u64::from(tag) << 32
        };
        for pos in 0..50 {
            assert!(insert(&t, h, pos));
        }
        for pos in 0..50 {
            assert_eq!(get(&t, h, pos), Some(pos));
        }
    }

    #[test]
    fn removal_leaves_the_rest_of_a_chain_reachable_and_tombstones_are_rebuilt_away() {
        let t = SeriesTable::default();
        // One probe chain: every entry under the same hash.
        let h = 0x1234_5678_9abc_def0;
        for pos in 0..20 {
            assert!(insert(&t, h, pos));
        }
        for pos in (0..20).step_by(2) {
            assert!(t.remove(h, pos));
            assert!(!t.remove(h, pos), "removed twice");
        }
        assert!(!t.remove(h ^ (1 << 40), 1), "wrong hash");
        for pos in 0..20 {
            assert_eq!(get(&t, h, pos), (pos % 2 == 1).then_some(pos));
        }
        assert_eq!(t.len(), 10);
        // Churn: the table stays at the size its live entries need.
        let size = t.memory_bytes();
        for round in 0..2_000u32 {
            let hr = u64::from(round.wrapping_mul(0x9e37_79b9)) << 32 | u64::from(round);
            assert!(insert(&t, hr, 1000 + round));
            assert!(t.remove(hr, 1000 + round));
        }
        assert_eq!(t.len(), 10);
        assert_eq!(t.memory_bytes(), size);
        for pos in 0..20 {
            assert_eq!(get(&t, h, pos), (pos % 2 == 1).then_some(pos));
        }
    }

    #[test]
    fn crafted_tags_do_not_crowd_one_stretch() {
        // Tags sharing their top 12 bits all had one home region when the home
        // was the tag's top bits; the seeded mix spreads them.
        let (cur, o) = (Slots::new(20, random_seed()), Slots::new(20, random_seed()));
        let homes: std::collections::HashSet<usize> =
            (0..512u32).map(|i| cur.home(0xABC0_0000 | i)).collect();
        assert!(homes.len() > 500, "{} distinct homes of 512", homes.len());
        // Another table mixes differently.
        assert!((0..64u32).any(|i| o.home(0xABC0_0000 | i) != cur.home(0xABC0_0000 | i)));
    }
}
