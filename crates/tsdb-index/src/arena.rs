//! An append-only arena of `u32`s with lock-free reads, built from safe atomics.
//!
//! The arena is a directory of fixed-size segments allocated on first use and never
//! moved. A writer reserves a run of slots with one atomic add, fills them with relaxed
//! stores and publishes the run's position through a lock or a release store; readers
//! that learn the position through that lock or an acquire load see the values.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// log2 of the slots of the first segment. Segments double up to
/// `MAX_SEGMENT_BITS`, then stay at that size, so a small index stays small and a large
/// one wastes at most one segment.
const FIRST_BITS: u32 = 12;
/// log2 of the largest segment (4 MiB of `u32`).
const MAX_SEGMENT_BITS: u32 = 20;
/// Number of doubling segments (`FIRST << 0 ..= FIRST << (DOUBLING - 1)`).
const DOUBLING: usize = (MAX_SEGMENT_BITS - FIRST_BITS + 1) as usize;
/// Position (offset by `FIRST`) where the fixed-size segments begin.
const FIXED_START: u64 = 1 << (MAX_SEGMENT_BITS + 1);
/// Segments in the directory: together they cover every `u32` position.
const SEGMENTS: usize = DOUBLING + (1 << (32 - MAX_SEGMENT_BITS)) + 1;

type Segment = Box<[AtomicU32]>;

pub(crate) struct U32Arena {
    segments: Box<[OnceLock<Segment>]>,
    /// Next free position (a `u64` so that running past `u32::MAX` is detected).
    next: AtomicU64,
}

impl Default for U32Arena {
    fn default() -> Self {
        Self {
            segments: (0..SEGMENTS).map(|_| OnceLock::new()).collect(),
            next: AtomicU64::new(0),
        }
    }
}

/// `(segment, offset)` of position `pos`.
#[inline]
fn split(pos: u32) -> (usize, usize) {
    let j = u64::from(pos) + (1 << FIRST_BITS);
    if j < FIXED_START {
        let seg = 63 - j.leading_zeros() - FIRST_BITS;
        (seg as usize, (j - ((1u64 << FIRST_BITS) << seg)) as usize)
    } else {
        let k = j - FIXED_START;
        (
            DOUBLING + (k >> MAX_SEGMENT_BITS) as usize,
            (k & ((1 << MAX_SEGMENT_BITS) - 1)) as usize,
        )
    }
}

/// Number of slots of segment `seg`.
fn segment_len(seg: usize) -> usize {
    if seg < DOUBLING {
        1 << (FIRST_BITS as usize + seg)
    } else {
        1 << MAX_SEGMENT_BITS
    }
}

impl U32Arena {
    fn segment(&self, seg: usize) -> Option<&Segment> {
        let cell = self.segments.get(seg)?;
        Some(cell.get_or_init(|| (0..segment_len(seg)).map(|_| AtomicU32::new(0)).collect()))
    }

    /// Reserves `len` (≤ the first segment's size) contiguous slots inside one segment and returns
    /// the position of the first; `None` when the arena is full.
    pub(crate) fn alloc(&self, len: usize) -> Option<u32> {
        if len == 0 || len > 1 << FIRST_BITS {
            return None;
        }
        loop {
            let start = self.next.fetch_add(len as u64, Ordering::Relaxed);
            let last = start + len as u64 - 1;
            let (Ok(s), Ok(l)) = (u32::try_from(start), u32::try_from(last)) else {
                return None;
            };
            if split(s).0 == split(l).0 {
                return Some(s);
            }
            // The run would straddle two segments: leave the tail unused and retry
            // (from the next segment on, as `next` has moved past the boundary).
        }
    }

    /// The `len` slots at `pos` (which must not straddle a segment).
    #[inline]
    pub(crate) fn slice(&self, pos: u32, len: usize) -> Option<&[AtomicU32]> {
        let (seg, off) = split(pos);
        self.segments
            .get(seg)?
            .get()?
            .get(off..off.checked_add(len)?)
    }

    /// Writes `values` at `pos` (a run returned by [`U32Arena::alloc`]).
    pub(crate) fn write(&self, pos: u32, values: &[u32]) -> bool {
        let (seg, off) = split(pos);
        let Some(slots) = self
            .segment(seg)
            .and_then(|s| s.get(off..off.checked_add(values.len())?))
        else {
            return false;
        };
        for (slot, v) in slots.iter().zip(values) {
            slot.store(*v, Ordering::Relaxed);
        }
        true
    }

    /// Bytes held by the allocated segments and the directory.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.segments.len() * std::mem::size_of::<OnceLock<Segment>>()
            + self
                .segments
                .iter()
                .filter_map(|s| s.get())
                .map(|s| s.len() * std::mem::size_of::<AtomicU32>())
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_covers_u32_and_is_contiguous() {
        assert_eq!(split(0), (0, 0));
        assert_eq!(split(4095), (0, 4095));
        assert_eq!(split(4096), (1, 0));
        let mut prev = split(0);
        for p in 1..(1u32 << 22) {
            let cur = split(p);
            assert!(
                cur == (prev.0, prev.1 + 1) || cur == (prev.0 + 1, 0),
                "{p}: {prev:?} -> {cur:?}"
            );
            assert!(cur.1 < segment_len(cur.0));
            prev = cur;
        }
        let (seg, off) = split(u32::MAX);
        assert!(seg < SEGMENTS && off < segment_len(seg));
    }

    #[test]
    fn alloc_never_straddles_segments() {
        let a = U32Arena::default();
        assert_eq!(a.alloc(4000), Some(0));
        let p = a.alloc(200).unwrap();
        assert!(p >= 4096);
        assert_eq!(split(p).0, split(p + 199).0);
        assert!(a.write(p, &[1, 2, 3, 4, 5]));
        let s: Vec<u32> = a
            .slice(p, 5)
            .unwrap()
            .iter()
            .map(|x| x.load(Ordering::Relaxed))
            .collect();
        assert_eq!(s, vec![1, 2, 3, 4, 5]);
        assert!(a.alloc(0).is_none());
        assert!(a.alloc(5000).is_none());
    }
}
