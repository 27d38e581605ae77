//! Per-thread spare buffers for sealing's temporaries.
//!
//! Sealing a chunk fills about ten short-lived vectors (decoded columns, the
//! residuals of each predictor, offsets, Rice codes, sections) and drops them a
//! few microseconds later. From the allocator each costs a `malloc` and a `free`,
//! about 135 instructions together (glibc's, under callgrind). A [`Scratch`] takes a spare vector from its
//! thread's pool instead and gives it back, cleared, when dropped (callgrind:
//! 1.6–5.4 % fewer instructions encoding whole columns, 1.6–3.3 % through
//! `ChunkEncoder`).
//!
//! Bound: a thread keeps at most [`KEPT`] spare vectors of each element type, of
//! at most [`MAX_KEPT_BYTES`] each (larger ones are freed): at most 4 × 8 × 16 KiB
//! = 512 KiB a thread. For 120-sample chunks a vector holds about 1 KiB and
//! sealing has about ten in use at once: about 10 KiB a thread, 30 KiB at most.

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};
use std::thread::LocalKey;

/// Spare vectors kept per element type and thread.
const KEPT: usize = 8;

/// Vectors with more capacity than this are freed, not kept (2048 samples of 8
/// bytes: twice the columns of the longest chunks sealed in practice).
const MAX_KEPT_BYTES: usize = 16 * 1024;

type Pool<T> = RefCell<Vec<Vec<T>>>;

thread_local! {
    static I64: Pool<i64> = const { RefCell::new(Vec::new()) };
    static U64: Pool<u64> = const { RefCell::new(Vec::new()) };
    static F64: Pool<f64> = const { RefCell::new(Vec::new()) };
    static U8: Pool<u8> = const { RefCell::new(Vec::new()) };
}

/// Element types with a pool.
pub(crate) trait Pooled: Copy + 'static {
    /// This type's pool.
    fn pool() -> &'static LocalKey<Pool<Self>>;
}

macro_rules! pooled {
    ($($t:ty => $pool:ident),*) => {
        $(impl Pooled for $t {
            fn pool() -> &'static LocalKey<Pool<Self>> {
                &$pool
            }
        })*
    };
}
pooled!(i64 => I64, u64 => U64, f64 => F64, u8 => U8);

/// An empty vector with room for `capacity` elements, from this thread's pool.
/// The pool is unavailable only while the thread is torn down (or, never
/// expected, re-entered): a new vector is allocated then.
fn take<T: Pooled>(capacity: usize) -> Vec<T> {
    let spare = T::pool()
        .try_with(|p| p.try_borrow_mut().ok()?.pop())
        .ok()
        .flatten();
    match spare {
        Some(mut v) => {
            // Exactly: doubling a spare could take it past what the pool keeps.
            v.reserve_exact(capacity);
            v
        }
        None => Vec::with_capacity(capacity),
    }
}

/// Gives `v` back to this thread's pool, cleared, if it has room and `v` is not
/// too large; otherwise frees it.
fn give<T: Pooled>(mut v: Vec<T>) {
    if v.capacity() == 0 || v.capacity() * std::mem::size_of::<T>() > MAX_KEPT_BYTES {
        return;
    }
    v.clear();
    let _ = T::pool().try_with(|p| {
        if let Ok(mut p) = p.try_borrow_mut()
            && p.len() < KEPT
        {
            p.push(v);
        }
    });
}

/// A vector from this thread's pool, given back when dropped. Derefs to the
/// `Vec`.
pub(crate) struct Scratch<T: Pooled>(Vec<T>);

impl<T: Pooled> Scratch<T> {
    /// An empty vector without a buffer (none is taken from the pool).
    pub(crate) fn new() -> Scratch<T> {
        Scratch(Vec::new())
    }

    /// An empty vector with room for `capacity` elements.
    pub(crate) fn with_capacity(capacity: usize) -> Scratch<T> {
        Scratch(take(capacity))
    }

    /// A copy of `xs`.
    pub(crate) fn from_slice(xs: &[T]) -> Scratch<T> {
        let mut s = Scratch::with_capacity(xs.len());
        s.extend_from_slice(xs);
        s
    }
}

impl<T: Pooled> Drop for Scratch<T> {
    fn drop(&mut self) {
        give(std::mem::take(&mut self.0));
    }
}

impl<T: Pooled> Deref for Scratch<T> {
    type Target = Vec<T>;
    fn deref(&self) -> &Vec<T> {
        &self.0
    }
}

impl<T: Pooled> DerefMut for Scratch<T> {
    fn deref_mut(&mut self) -> &mut Vec<T> {
        &mut self.0
    }
}

impl<T: Pooled> Clone for Scratch<T> {
    fn clone(&self) -> Scratch<T> {
        Scratch::from_slice(self)
    }
}

impl<T: Pooled + std::fmt::Debug> std::fmt::Debug for Scratch<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<T: Pooled> FromIterator<T> for Scratch<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Scratch<T> {
        let iter = iter.into_iter();
        let mut s = Scratch::with_capacity(iter.size_hint().0);
        s.extend(iter);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spares<T: Pooled>() -> usize {
        T::pool().with(|p| p.borrow().len())
    }

    #[test]
    fn buffers_are_reused_cleared_and_bounded() {
        // A fresh thread: an empty pool.
        std::thread::spawn(|| {
            let mut a = Scratch::<i64>::with_capacity(100);
            a.extend([1, 2, 3]);
            let ptr = a.as_ptr();
            drop(a);
            assert_eq!(spares::<i64>(), 1);
            let b = Scratch::<i64>::with_capacity(50);
            assert_eq!(b.as_ptr(), ptr, "the spare is reused");
            assert!(b.is_empty(), "and cleared");
            assert_eq!(spares::<i64>(), 0);
            drop(b);
            // Too large to keep.
            drop(Scratch::<u8>::with_capacity(MAX_KEPT_BYTES + 1));
            assert_eq!(spares::<u8>(), 0);
            // At most KEPT a type.
            let many: Vec<Scratch<u64>> =
                (0..KEPT + 3).map(|_| Scratch::with_capacity(8)).collect();
            drop(many);
            assert_eq!(spares::<u64>(), KEPT);
        })
        .join()
        .unwrap();
    }
}
