//! Label groups: the strings of a label set but the first value, stored once however
//! many series share them.
//!
//! A series is spelled by two ids: the symbol of its first label's value (usually the
//! metric name) and its group: its names' [shape](super::shapes) and the symbols of
//! its other values, in order. Series of one target differ mostly by metric name, so
//! they share one group, which stays in cache; a label set unlike any other costs one
//! group of its own, a word per label plus one.
//!
//! A group is a run of the arena: its shape, its [`Others`] number plus one (0 until
//! the group is interned a second time), then the symbols of the values after the first
//! (as many as the shape has names, less one). Its id is its position. Groups are
//! written before they are published (through the interning lock, or the series
//! table's release store) and never change, but for the `Others` number, set once.
//!
//! When a second series joins a group, the group also keeps its strings as plain
//! bytes ([`Others`]), so that checking a label set against it is two byte-slice
//! comparisons instead of one symbol comparison per string. A group of one series
//! (a label set unlike any other: the cardinality bomb) does not pay for the copy.

use std::sync::atomic::{AtomicU32, Ordering};

use hashbrown::HashTable;
use parking_lot::Mutex;

use super::others::Others;
use super::shapes::{Shape, Shapes};
use crate::append_vec::AppendVec;
use crate::arena::U32Arena;
use crate::labels::Labels;
use crate::series_table::OTHERS_REF;

/// Multiplier of [`group_hash`] (a 64-bit odd constant).
const MUL: u64 = 0x9E37_79B9_7F4A_7C15;

/// The hash of a group's key (see `Group::key`), for interning.
fn group_hash(key: impl Iterator<Item = u32>) -> u64 {
    let mut h = 0x2545_F491_4F6C_DD1D;
    for s in key {
        h = (h ^ u64::from(s)).wrapping_mul(MUL);
        h ^= h >> 29;
    }
    h.wrapping_mul(MUL) ^ (h >> 32)
}

/// The interned label groups and their shapes.
#[derive(Default)]
pub(crate) struct LabelGroups {
    arena: U32Arena,
    shapes: Shapes,
    /// The strings of the groups of more than one series, by number.
    others: AppendVec<Others>,
    /// What interning needs (creation only).
    table: Mutex<Interning>,
}

/// The interning state of [`LabelGroups`], under its lock.
#[derive(Default)]
struct Interning {
    /// Group hash → group id.
    groups: HashTable<u32>,
    /// [`Others`] handed out, and their heap bytes.
    others: u32,
    others_bytes: usize,
}

/// A group read back.
pub(crate) struct Group<'a> {
    /// Its names.
    pub(crate) shape: &'a Shape,
    /// Its [`Others`] number plus one (0: none yet).
    others_no: &'a AtomicU32,
    /// The symbols of its values after the first.
    pub(crate) values: &'a [AtomicU32],
}

impl Group<'_> {
    /// The symbols of the group's strings in order (a label set's but its first
    /// value): its interning key.
    fn key(&self) -> impl Iterator<Item = u32> + '_ {
        let values = std::iter::once(None).chain(self.values.iter().map(Some));
        self.shape
            .syms()
            .iter()
            .zip(values)
            .flat_map(|(&n, v)| std::iter::once(n).chain(v.map(|v| v.load(Ordering::Relaxed))))
    }

    /// Calls `f` with the `(name, value)` symbols of each label of the series whose
    /// first value is `head`, in order.
    pub(crate) fn for_each_pair(&self, head: u32, mut f: impl FnMut(u32, u32)) {
        let values =
            std::iter::once(head).chain(self.values.iter().map(|v| v.load(Ordering::Relaxed)));
        for (&n, v) in self.shape.syms().iter().zip(values) {
            f(n, v);
        }
    }
}

impl LabelGroups {
    /// Group `g`.
    #[inline]
    pub(crate) fn get(&self, g: u32) -> Option<Group<'_>> {
        let [shape, others_no] = self.arena.slice(g, 2)? else {
            return None;
        };
        let shape = self.shapes.get(shape.load(Ordering::Relaxed))?;
        let values = self
            .arena
            .slice(g.checked_add(2)?, shape.len().saturating_sub(1))?;
        Some(Group {
            shape,
            others_no,
            values,
        })
    }

    /// The number of group `g`'s strings as bytes, if it has them.
    #[inline]
    fn others_no(&self, g: u32) -> Option<u32> {
        // Acquire: the `Others` were set before their number was stored.
        let n = self
            .arena
            .slice(g.checked_add(1)?, 1)?
            .first()?
            .load(Ordering::Acquire);
        n.checked_sub(1)
    }

    /// How a series table entry refers to group `g`: by the number of its strings
    /// as bytes with [`OTHERS_REF`] set when it has them (a lookup then skips the
    /// load of the group's head), otherwise by its position.
    #[inline]
    pub(crate) fn entry_ref(&self, g: u32) -> u32 {
        self.others_no(g).map_or(g, |n| n | OTHERS_REF)
    }

    /// The strings as bytes that an [`entry_ref`](Self::entry_ref) leads to, if
    /// any: directly, or through the group's head.
    #[inline]
    pub(crate) fn others_of_ref(&self, r: u32) -> Option<&Others> {
        let n = if r & OTHERS_REF != 0 {
            r & !OTHERS_REF
        } else {
            self.others_no(r)?
        };
        self.others.get(n)
    }

    /// Starts loading what checking a label set against an
    /// [`entry_ref`](Self::entry_ref) reads first: the strings as bytes it refers
    /// to, or the group's head.
    #[inline]
    pub(crate) fn prefetch_ref(&self, r: u32) {
        if r & OTHERS_REF != 0 {
            if let Some(o) = self.others.get(r & !OTHERS_REF) {
                o.prefetch();
            }
        } else if let Some(s) = self.arena.slice(r, 1) {
            crate::bytes::prefetch(s.as_ptr());
        }
    }

    /// The group of `labels`, whose `(name, value)` symbols are `pairs`, interning
    /// it (and its shape) if needed; `None` when the arena is full, the group is
    /// longer than one arena run or the shapes are used up.
    ///
    /// The second time a group is asked for (its second series, or a series
    /// created again), it also keeps its strings as bytes ([`Others`]), once.
    pub(crate) fn intern(&self, labels: &Labels, pairs: &[u32]) -> Option<u32> {
        // Keyed by the symbols of the strings but the first value (see
        // `Group::key`), so that finding an existing group does not intern its
        // shape.
        let key = || {
            pairs
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != 1)
                .map(|(_, s)| *s)
        };
        let h = group_hash(key());
        let eq = |g: &u32| self.get(*g).is_some_and(|grp| grp.key().eq(key()));
        let mut guard = self.table.lock();
        let st = &mut *guard;
        if let Some(&g) = st.groups.find(h, eq) {
            // Under the lock: the number is only stored here.
            if let Some(grp) = self.get(g)
                && grp.others_no.load(Ordering::Relaxed) == 0
                && let Some(next) = st.others.checked_add(1).filter(|n| *n < OTHERS_REF - 1)
                && let (data, ends) = labels.raw_parts()
                && let Some(o) = Others::of(data, ends)
            {
                let size = o.heap_bytes();
                if self.others.set(st.others, o).is_ok() {
                    st.others = next;
                    st.others_bytes += size;
                    // Release: readers that load the number find the `Others` set.
                    grp.others_no.store(next, Ordering::Release);
                }
            }
            return Some(g);
        }
        let name_syms: Vec<u32> = pairs.iter().step_by(2).copied().collect();
        let names: Vec<&str> = labels.names().collect();
        let shape = self.shapes.intern(&names, &name_syms)?;
        let mut words = Vec::with_capacity(names.len() + 1);
        words.extend([shape, 0]);
        // The values after the first: the odd positions from 3.
        words.extend(pairs.iter().skip(3).step_by(2));
        let g = self
            .arena
            .alloc(words.len())
            // Below `OTHERS_REF`, which marks a series table entry that refers
            // to a group's bytes instead (and so below the tombstone's and a
            // removed series' packings).
            .filter(|g| *g < OTHERS_REF)?;
        if !self.arena.write(g, &words) {
            return None;
        }
        st.groups.insert_unique(h, g, |g| {
            self.get(*g).map_or(0, |grp| group_hash(grp.key()))
        });
        Some(g)
    }

    /// Bytes held by the groups, their shapes and the interning table.
    pub(crate) fn memory_bytes(&self) -> usize {
        let st = self.table.lock();
        self.arena.memory_bytes()
            + self.shapes.memory_bytes()
            + self.others.memory_bytes()
            + st.others_bytes
            + st.groups.capacity() * (std::mem::size_of::<u32>() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A label set with these names (in order), for its names only.
    fn named(names: &[&str]) -> Labels {
        Labels::new(names.iter().map(|n| (*n, "v"))).unwrap()
    }

    fn pairs(g: &LabelGroups, id: u32, head: u32) -> Vec<u32> {
        let mut out = Vec::new();
        g.get(id)
            .unwrap()
            .for_each_pair(head, |n, v| out.extend([n, v]));
        out
    }

    #[test]
    fn interns_once_and_reads_back() {
        let g = LabelGroups::default();
        let a = g.intern(&named(&["a", "b"]), &[1, 9, 2, 3]).unwrap();
        let b = g.intern(&named(&["a", "b"]), &[1, 8, 2, 4]).unwrap();
        let c = g.intern(&named(&["a", "c"]), &[1, 9, 5, 3]).unwrap();
        let e = g.intern(&named(&[]), &[]).unwrap();
        assert_eq!(
            [a, b, c, e]
                .iter()
                .collect::<std::collections::HashSet<_>>()
                .len(),
            4
        );
        // Only the first value differs: the same group.
        assert_eq!(g.intern(&named(&["a", "b"]), &[1, 7, 2, 3]), Some(a));
        assert_eq!(g.intern(&named(&[]), &[]), Some(e));
        assert_eq!(pairs(&g, a, 9), vec![1, 9, 2, 3]);
        assert_eq!(pairs(&g, b, 8), vec![1, 8, 2, 4]);
        assert_eq!(pairs(&g, c, 6), vec![1, 6, 5, 3]);
        assert!(pairs(&g, e, u32::MAX).is_empty());
        for i in 0..5000u32 {
            let p = [i, 1, i / 7, 2];
            let (n0, n1) = (format!("x{i}"), format!("y{}", i / 7));
            let id = g.intern(&named(&[&n0, &n1]), &p).unwrap();
            assert_eq!(pairs(&g, id, 1), p);
        }
        assert_eq!(g.intern(&named(&["a", "b"]), &[1, 9, 2, 3]), Some(a));
        assert!(g.memory_bytes() > 0);
        // Longer than one arena run.
        let names: Vec<String> = (0..10_000).map(|i| format!("n{i:05}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_eq!(g.intern(&named(&names), &vec![7; 20_000]), None);
    }
}
