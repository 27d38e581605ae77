//! A sparse table of write-once `u64` slots indexed by any `u32`, with lock-free
//! reads, built from safe parts.
//!
//! `MemIndex` keeps its series by id, and series ids are never reused: a host that
//! drops series rebuilds its index with the live ones under their old ids, so ids
//! grow with every series ever created while only a few may be live. Memory here is
//! therefore proportional to the pages that hold set slots, not to the largest index.
//!
//! Three levels: a root of [`ROOT`] directory pointers, directories of [`DIR`] page
//! pointers, and pages of [`PAGE`] slots. Directories and pages are allocated on the
//! first write into them and never freed or moved. A slot is an `AtomicU64` holding
//! its value, or 0 while empty, so a reader finds slot `i` with three dependent
//! acquire loads (two `OnceLock`s and the slot) and no lock. A dense run of indices
//! costs 8 bytes a slot, plus one page pointer (16 bytes) per page of 1024 slots.
//! Small pages keep the cost of a live id among dead ones low (8 KB at most); a
//! directory (32 KB) covers 2 M ids, and the root (32 KB) is allocated up front.
//!
//! Ordering: a slot is set once, with a release compare-and-swap from 0, and read
//! with an acquire load; whatever the writer wrote before setting the slot (for
//! `MemIndex`, the label group) is visible to a reader that sees the value. The
//! `OnceLock`s publish the zeroed directories and pages in the same way.

use std::num::NonZeroU64;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// log2 of the slots of a page.
const PAGE_BITS: u32 = 10;
/// log2 of the pages of a directory.
const DIR_BITS: u32 = 11;
/// log2 of the directories of the root: together the levels cover every `u32`.
const ROOT_BITS: u32 = 32 - PAGE_BITS - DIR_BITS;

/// Slots in a page.
pub(crate) const PAGE: usize = 1 << PAGE_BITS;
/// Pages in a directory.
pub(crate) const DIR: usize = 1 << DIR_BITS;
/// Directories in the root.
pub(crate) const ROOT: usize = 1 << ROOT_BITS;

/// A page of slots (0: empty).
type Page = [AtomicU64; PAGE];
/// A directory of pages.
type Dir = [OnceLock<Box<Page>>; DIR];

/// The table. See the module documentation.
pub(crate) struct SparseTable {
    root: Box<[OnceLock<Box<Dir>>; ROOT]>,
    /// Directories allocated (for the memory figure).
    dirs: AtomicUsize,
    /// Pages allocated (for the memory figure).
    pages: AtomicUsize,
}

impl Default for SparseTable {
    fn default() -> Self {
        Self {
            root: Box::new([const { OnceLock::new() }; ROOT]),
            dirs: AtomicUsize::new(0),
            pages: AtomicUsize::new(0),
        }
    }
}

/// `(directory, page in directory, slot in page)` of index `i`.
#[inline]
fn locate(i: u32) -> (usize, usize, usize) {
    let i = i as usize;
    (
        i >> (PAGE_BITS + DIR_BITS),
        (i >> PAGE_BITS) & (DIR - 1),
        i & (PAGE - 1),
    )
}

impl SparseTable {
    /// The value in slot `i`, if it was set.
    #[inline]
    pub(crate) fn get(&self, i: u32) -> Option<NonZeroU64> {
        let (d, p, s) = locate(i);
        let page = self.root.get(d)?.get()?.get(p)?.get()?;
        NonZeroU64::new(page.get(s)?.load(Ordering::Acquire))
    }

    /// Sets slot `i` to `value`; `false` (and nothing changes) if the slot was
    /// already set.
    pub(crate) fn set(&self, i: u32, value: NonZeroU64) -> bool {
        let (d, p, s) = locate(i);
        let Some(dir) = self.root.get(d) else {
            return false;
        };
        let dir = dir.get_or_init(|| {
            self.dirs.fetch_add(1, Ordering::Relaxed);
            Box::new([const { OnceLock::new() }; DIR])
        });
        let Some(page) = dir.get(p) else {
            return false;
        };
        let page = page.get_or_init(|| {
            self.pages.fetch_add(1, Ordering::Relaxed);
            Box::new([const { AtomicU64::new(0) }; PAGE])
        });
        page.get(s).is_some_and(|slot| {
            slot.compare_exchange(0, value.get(), Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        })
    }

    /// Sets slot `i` to `new` if it holds `old`; `false` (and nothing changes)
    /// otherwise.
    pub(crate) fn replace(&self, i: u32, old: NonZeroU64, new: NonZeroU64) -> bool {
        let (d, p, s) = locate(i);
        let slot = self
            .root
            .get(d)
            .and_then(|dir| dir.get()?.get(p)?.get()?.get(s));
        slot.is_some_and(|slot| {
            slot.compare_exchange(old.get(), new.get(), Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        })
    }

    /// Pages allocated so far.
    #[cfg(test)]
    pub(crate) fn pages(&self) -> usize {
        self.pages.load(Ordering::Relaxed)
    }

    /// Bytes held by the root, the directories and the pages.
    pub(crate) fn memory_bytes(&self) -> usize {
        std::mem::size_of::<[OnceLock<Box<Dir>>; ROOT]>()
            + self.dirs.load(Ordering::Relaxed) * std::mem::size_of::<Dir>()
            + self.pages.load(Ordering::Relaxed) * std::mem::size_of::<Page>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(x: u64) -> NonZeroU64 {
        NonZeroU64::new(x).unwrap()
    }

    #[test]
    fn locate_covers_u32() {
        assert_eq!(locate(0), (0, 0, 0));
        assert_eq!(locate(PAGE as u32 - 1), (0, 0, PAGE - 1));
        assert_eq!(locate(PAGE as u32), (0, 1, 0));
        assert_eq!(locate((PAGE * DIR) as u32), (1, 0, 0));
        assert_eq!(locate(u32::MAX), (ROOT - 1, DIR - 1, PAGE - 1));
    }

    #[test]
    fn set_get_sparse() {
        let t = SparseTable::default();
        let empty = t.memory_bytes();
        assert!(t.set(5, v(1)));
        assert!(!t.set(5, v(2)));
        assert!(t.set(100_000, v(3)));
        assert!(t.set(u32::MAX, v(u64::MAX)));
        assert!(t.set(1 << 24, v(4)));
        assert_eq!(t.get(5), Some(v(1)));
        assert_eq!(t.get(6), None);
        assert_eq!(t.get(100_000), Some(v(3)));
        assert_eq!(t.get(u32::MAX), Some(v(u64::MAX)));
        assert_eq!(t.get(u32::MAX - 1), None);
        assert_eq!(t.get(1 << 24), Some(v(4)));
        assert_eq!(t.get(1 << 23), None);
        assert_eq!(t.pages(), 4);
        // Four pages in three directories: far below one slot per index.
        assert_eq!(
            t.memory_bytes() - empty,
            4 * std::mem::size_of::<Page>() + 3 * std::mem::size_of::<Dir>()
        );
        assert!(t.memory_bytes() < 300 << 10);
    }

    #[test]
    fn dense_costs_eight_bytes_a_slot() {
        let t = SparseTable::default();
        for i in 0..(1u32 << 20) {
            assert!(t.set(i, v(u64::from(i) + 1)));
        }
        for i in 0..(1u32 << 20) {
            assert_eq!(t.get(i), Some(v(u64::from(i) + 1)));
        }
        assert_eq!(t.get(1 << 20), None);
        let per_slot = t.memory_bytes() as f64 / f64::from(1u32 << 20);
        assert!(per_slot < 8.1, "{per_slot} B per slot");
    }

    #[test]
    fn concurrent_writers_and_readers() {
        let t = SparseTable::default();
        std::thread::scope(|s| {
            for w in 0..4u32 {
                let t = &t;
                s.spawn(move || {
                    for k in 0..20_000u32 {
                        // Writers race on the same pages; each index is claimed once.
                        let i = k.wrapping_mul(2_654_435_761) % (1 << 22);
                        if t.set(i, v(u64::from(i) + 1)) {
                            assert_eq!(t.get(i), Some(v(u64::from(i) + 1)));
                        }
                        let _ = w;
                    }
                });
            }
            s.spawn(|| {
                for k in 0..20_000u32 {
                    let i = k.wrapping_mul(2_654_435_761) % (1 << 22);
                    if let Some(x) = t.get(i) {
                        assert_eq!(x.get(), u64::from(i) + 1);
                    }
                }
            });
        });
    }
}
