//! Large zeroed tables in memory that asks the kernel for huge pages.
//!
//! The series lookup table of a million series is tens of megabytes read at random:
//! on 4 KiB pages nearly every probe also misses the TLB, and under virtualisation a
//! TLB miss walks two page tables. Backing such a table with transparent huge pages
//! (`madvise(MADV_HUGEPAGE)`, honoured when the system's THP mode is `madvise` or
//! `always`) turns most of those walks into hits. Small tables stay on the heap.

use std::ops::Deref;
#[cfg(test)]
use std::sync::atomic::AtomicU64;

/// Tables at least this large are mapped and advised; smaller ones are boxed.
const MAP_MIN_BYTES: usize = 2 << 20;
/// The huge page size the mapping is aligned to.
const HUGE_PAGE: usize = 2 << 20;

/// A fixed-length slice of zero-initialised atomics (see [`ZeroedAtomic`]).
pub(crate) struct ZeroedSlice<T: ZeroedAtomic> {
    repr: Repr<T>,
}

enum Repr<T> {
    Heap(Box<[T]>),
    Map {
        _map: memmap2::MmapMut,
        ptr: *const T,
        len: usize,
    },
}

/// Types whose all-zero bit pattern is a valid value and that are only mutated
/// through shared references (atomics), so that a zeroed anonymous mapping can be
/// viewed as a slice of them.
///
/// # Safety
/// Implementors must be valid for all-zero bytes, contain only `UnsafeCell`-based
/// interior mutability (atomics), and have an alignment of at most 4096.
pub(crate) unsafe trait ZeroedAtomic: Default + Sync + Send {}

// SAFETY: zero is a valid `AtomicU64`, mutated only through atomic operations.
#[cfg(test)]
unsafe impl ZeroedAtomic for AtomicU64 {}

// SAFETY: the mapping is owned by the slice and only read and written through
// `&T`, whose mutation is atomic (`ZeroedAtomic`).
unsafe impl<T: ZeroedAtomic> Send for ZeroedSlice<T> {}
// SAFETY: as for `Send`: shared access goes through atomics only.
unsafe impl<T: ZeroedAtomic> Sync for ZeroedSlice<T> {}

impl<T: ZeroedAtomic> ZeroedSlice<T> {
    /// `n` zeroed values.
    pub(crate) fn new(n: usize) -> ZeroedSlice<T> {
        let bytes = n.saturating_mul(std::mem::size_of::<T>());
        if bytes >= MAP_MIN_BYTES
            && let Some(repr) = Self::map(n, bytes)
        {
            return ZeroedSlice { repr };
        }
        ZeroedSlice {
            repr: Repr::Heap((0..n).map(|_| T::default()).collect()),
        }
    }

    /// A huge-page-advised mapping of `n` values, aligned to a huge page; `None` if
    /// the mapping fails (the caller falls back to the heap).
    fn map(n: usize, bytes: usize) -> Option<Repr<T>> {
        let mut map = memmap2::MmapMut::map_anon(bytes.checked_add(HUGE_PAGE)?).ok()?;
        let base = map.as_mut_ptr();
        let skip = (HUGE_PAGE - (base as usize) % HUGE_PAGE) % HUGE_PAGE;
        // Advice is a hint: a kernel without THP keeps 4 KiB pages, still correct.
        #[cfg(target_os = "linux")]
        let _ = map.advise_range(memmap2::Advice::HugePage, skip, bytes);
        // SAFETY: `skip + bytes <= bytes + HUGE_PAGE`, the mapping's length, so the
        // offset pointer stays inside the mapping.
        let ptr = unsafe { base.add(skip) }.cast::<T>();
        Some(Repr::Map {
            _map: map,
            ptr,
            len: n,
        })
    }
}

impl<T: ZeroedAtomic> Deref for ZeroedSlice<T> {
    type Target = [T];

    #[inline]
    fn deref(&self) -> &[T] {
        match &self.repr {
            Repr::Heap(b) => b,
            // SAFETY: `ptr` is aligned (the mapping is page-aligned, `skip` a multiple
            // of the page size, and `T`'s alignment at most 4096), points at `len`
            // zero-initialised values valid as `T` (`ZeroedAtomic`), owned by
            // `_map` which lives as long as `self`, and only ever accessed through
            // shared references whose mutation is atomic.
            Repr::Map { ptr, len, .. } => unsafe { std::slice::from_raw_parts(*ptr, *len) },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn small_and_mapped_tables_are_zeroed_and_writable() {
        for n in [0usize, 1, 1000, (MAP_MIN_BYTES / 8) + 3] {
            let s = ZeroedSlice::<AtomicU64>::new(n);
            assert_eq!(s.len(), n);
            assert!(s.iter().all(|a| a.load(Ordering::Relaxed) == 0));
            if let Some(last) = s.last() {
                last.store(7, Ordering::Relaxed);
                assert_eq!(s[n - 1].load(Ordering::Relaxed), 7);
            }
        }
    }
}
