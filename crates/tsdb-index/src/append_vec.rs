//! An append-only vector with lock-free reads, built from safe parts.
//!
//! Slots live in segments of doubling size (`FIRST_SEGMENT << k`) that are allocated
//! once and never moved, so a reader finds slot `i` with two atomic loads and no lock,
//! while writers fill slots concurrently. Each slot is written at most once.
//!
//! For dense indices only (symbol ids, which the table hands out from 0): setting
//! slot `i` allocates the segment holding it, about `i / 2` slots. Indices that may be
//! scattered, such as series ids, use [`SparseTable`](crate::sparse_table::SparseTable).

use std::sync::OnceLock;

/// log2 of the size of the first segment.
const FIRST_SEGMENT_BITS: u32 = 10;
/// Number of slots in the first segment.
const FIRST_SEGMENT: usize = 1 << FIRST_SEGMENT_BITS;
/// Enough segments to hold every `u32` index.
const SEGMENTS: usize = 33 - FIRST_SEGMENT_BITS as usize;

/// One segment: a fixed run of write-once slots.
type Segment<T> = Box<[OnceLock<T>]>;

pub(crate) struct AppendVec<T> {
    segments: Box<[OnceLock<Segment<T>>]>,
}

impl<T> Default for AppendVec<T> {
    fn default() -> Self {
        Self {
            segments: (0..SEGMENTS).map(|_| OnceLock::new()).collect(),
        }
    }
}

/// `(segment, offset in segment)` of slot `i`.
#[inline]
fn locate(i: u32) -> (usize, usize) {
    let j = i as usize + FIRST_SEGMENT;
    let seg = (usize::BITS - 1 - j.leading_zeros()) - FIRST_SEGMENT_BITS;
    let off = j - (FIRST_SEGMENT << seg);
    (seg as usize, off)
}

impl<T> AppendVec<T> {
    /// The value in slot `i`, if it was set.
    #[inline]
    pub(crate) fn get(&self, i: u32) -> Option<&T> {
        let (seg, off) = locate(i);
        self.segments.get(seg)?.get()?.get(off)?.get()
    }

    /// Sets slot `i`; gives the value back if the slot was already set.
    pub(crate) fn set(&self, i: u32, value: T) -> Result<(), T> {
        let (seg, off) = locate(i);
        let Some(segment) = self.segments.get(seg) else {
            return Err(value);
        };
        let slots = segment.get_or_init(|| {
            (0..(FIRST_SEGMENT << seg))
                .map(|_| OnceLock::new())
                .collect()
        });
        match slots.get(off) {
            Some(slot) => slot.set(value),
            None => Err(value),
        }
    }

    /// Bytes held by the allocated segments (not what the values own on the heap).
    pub(crate) fn memory_bytes(&self) -> usize {
        self.segments.len() * std::mem::size_of::<OnceLock<Segment<T>>>()
            + self
                .segments
                .iter()
                .filter_map(|s| s.get())
                .map(|s| s.len() * std::mem::size_of::<OnceLock<T>>())
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_covers_u32() {
        assert_eq!(locate(0), (0, 0));
        assert_eq!(locate(1023), (0, 1023));
        assert_eq!(locate(1024), (1, 0));
        assert_eq!(locate(3071), (1, 2047));
        assert_eq!(locate(3072), (2, 0));
        assert!(locate(u32::MAX).0 < SEGMENTS);
    }

    #[test]
    fn set_get_sparse() {
        let v = AppendVec::default();
        assert!(v.set(5, "a").is_ok());
        assert_eq!(v.set(5, "b"), Err("b"));
        assert!(v.set(100_000, "c").is_ok());
        assert_eq!(v.get(5), Some(&"a"));
        assert_eq!(v.get(6), None);
        assert_eq!(v.get(100_000), Some(&"c"));
        assert_eq!(v.get(u32::MAX), None);
    }
}
