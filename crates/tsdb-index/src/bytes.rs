//! Byte-string comparisons and memory prefetches for the lookup hot path.

/// Asks the CPU to start loading the cache line at `p`, without waiting for it:
/// a batch of lookups issues the loads of every lookup first, so their cache
/// misses overlap instead of following one another. A no-op off x86-64.
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that never faults and has no effect on
    // memory, whatever the address.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// `a == b` for short strings (the usual label name or value), inlined as one or two
/// overlapping word compares instead of a call to `memcmp`.
#[inline]
pub(crate) fn short_eq(a: &[u8], b: &[u8]) -> bool {
    fn words<const N: usize>(a: &[u8], b: &[u8]) -> bool {
        a.first_chunk::<N>() == b.first_chunk::<N>() && a.last_chunk::<N>() == b.last_chunk::<N>()
    }
    match a.len() {
        n if n != b.len() => false,
        0..4 => a.iter().zip(b).all(|(x, y)| x == y),
        4..8 => words::<4>(a, b),
        8..=16 => words::<8>(a, b),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_slice_eq() {
        let s = b"abcdefghijklmnopqrstuvwxyz";
        for i in 0..s.len() {
            for j in i..=s.len() {
                let a = &s[i..j];
                for (k, l) in [(i, j), (0, j - i), (i, j.saturating_sub(1).max(i))] {
                    let b = &s[k..l];
                    assert_eq!(short_eq(a, b), a == b, "{a:?} {b:?}");
                }
                let mut c = a.to_vec();
                if let Some(x) = c.get_mut((j - i) / 2) {
                    *x ^= 1;
                    assert!(!short_eq(a, &c));
                }
            }
        }
    }
}
