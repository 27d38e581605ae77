//! Label groups: the strings of a label set but the first value, as interned symbol
//! ids, stored once however many series share them.
//!
//! A series is spelled by two ids: the symbol of its first label's value (usually the
//! metric name) and its group, the symbols of every other string in order with
//! [`GROUP_HOLE`] in place of that value. Series of one target differ mostly by metric
//! name, so they share one group, whose symbols stay in cache; a label set unlike any
//! other costs one group of its own, about the size of a per-series record.
//!
//! A group is a run of the arena: its symbol count, then the symbols. Its id is its
//! position. Groups are written before they are published (through the interning
//! lock, or the series table's release store) and never change.

use std::sync::atomic::{AtomicU32, Ordering};

use hashbrown::HashTable;
use parking_lot::Mutex;

use crate::arena::U32Arena;

/// Placeholder for the first label's value, which the series stores itself.
pub(crate) const GROUP_HOLE: u32 = u32::MAX;

/// Multiplier of [`group_hash`] (a 64-bit odd constant).
const MUL: u64 = 0x9E37_79B9_7F4A_7C15;

/// The hash of a group's symbols, for interning.
fn group_hash(syms: impl ExactSizeIterator<Item = u32>) -> u64 {
    let mut h = syms.len() as u64;
    for s in syms {
        h = (h ^ u64::from(s)).wrapping_mul(MUL);
        h ^= h >> 29;
    }
    h.wrapping_mul(MUL) ^ (h >> 32)
}

/// The interned label groups.
#[derive(Default)]
pub(crate) struct LabelGroups {
    arena: U32Arena,
    /// Group hash → group id, for interning (creation only).
    table: Mutex<HashTable<u32>>,
}

impl LabelGroups {
    /// The symbols of group `g`.
    #[inline]
    pub(crate) fn get(&self, g: u32) -> Option<&[AtomicU32]> {
        let n = self.arena.slice(g, 1)?.first()?.load(Ordering::Relaxed);
        self.arena.slice(g.checked_add(1)?, n as usize)
    }

    /// Starts loading group `g` (its first two cache lines: a label set of up to
    /// about 30 strings).
    #[inline]
    pub(crate) fn prefetch(&self, g: u32) {
        for pos in [Some(g), g.checked_add(16)] {
            if let Some(s) = pos.and_then(|p| self.arena.slice(p, 1)) {
                crate::bytes::prefetch(s.as_ptr());
            }
        }
    }

    /// The group of `syms`, interning it if needed; `None` when the arena is full
    /// or the group is longer than one arena run.
    pub(crate) fn intern(&self, syms: &[u32]) -> Option<u32> {
        let h = group_hash(syms.iter().copied());
        let eq = |g: &u32| {
            self.get(*g).is_some_and(|s| {
                s.len() == syms.len()
                    && s.iter()
                        .zip(syms)
                        .all(|(a, b)| a.load(Ordering::Relaxed) == *b)
            })
        };
        let mut table = self.table.lock();
        if let Some(&g) = table.find(h, eq) {
            return Some(g);
        }
        let n = u32::try_from(syms.len()).ok()?;
        let g = self
            .arena
            .alloc(syms.len() + 1)
            // Below `u32::MAX − 1`: the series table's tombstone and a removed
            // series' marker pack that group.
            .filter(|g| *g < u32::MAX - 1)?;
        self.arena.write(g, &[n]);
        self.arena.write(g.checked_add(1)?, syms);
        table.insert_unique(h, g, |g| {
            self.get(*g).map_or(0, |s| {
                group_hash(s.iter().map(|a| a.load(Ordering::Relaxed)))
            })
        });
        Some(g)
    }

    /// Bytes held by the groups and the interning table.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.arena.memory_bytes() + self.table.lock().capacity() * (std::mem::size_of::<u32>() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syms(g: &LabelGroups, id: u32) -> Vec<u32> {
        g.get(id)
            .unwrap()
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .collect()
    }

    #[test]
    fn interns_once_and_reads_back() {
        let g = LabelGroups::default();
        let a = g.intern(&[1, GROUP_HOLE, 2, 3]).unwrap();
        let b = g.intern(&[1, GROUP_HOLE, 2, 4]).unwrap();
        let e = g.intern(&[]).unwrap();
        assert_ne!(a, b);
        assert_eq!(g.intern(&[1, GROUP_HOLE, 2, 3]), Some(a));
        assert_eq!(g.intern(&[]), Some(e));
        assert_eq!(syms(&g, a), vec![1, GROUP_HOLE, 2, 3]);
        assert_eq!(syms(&g, b), vec![1, GROUP_HOLE, 2, 4]);
        assert!(syms(&g, e).is_empty());
        for i in 0..5000u32 {
            let s = [i, GROUP_HOLE, i / 7];
            let id = g.intern(&s).unwrap();
            assert_eq!(syms(&g, id), s);
        }
        assert_eq!(g.intern(&[1, GROUP_HOLE, 2, 3]), Some(a));
        assert!(g.memory_bytes() > 0);
        // Longer than one arena run.
        assert_eq!(g.intern(&vec![7; 10_000]), None);
    }
}
