//! A stable counting sort into a small number of buckets (shards): cheaper
//! than a comparison sort for grouping a batch's samples by lock.

/// Groups the items `0..keys.len()` by their key, stably. Keys `>= buckets`
/// are left out. Returns the items grouped by key and the `buckets + 1` offsets
/// of each key's group in it.
pub(crate) fn group_by_key(keys: &[u8], buckets: usize) -> (Vec<u32>, Vec<usize>) {
    let mut starts = vec![0usize; buckets + 1];
    for &k in keys {
        if let Some(c) = starts.get_mut(usize::from(k) + 1) {
            *c += 1;
        }
    }
    for k in 1..=buckets {
        let prev = starts.get(k - 1).copied().unwrap_or(0);
        if let Some(c) = starts.get_mut(k) {
            *c += prev;
        }
    }
    let mut fill = starts.clone();
    let mut order = vec![0u32; starts.get(buckets).copied().unwrap_or(0)];
    for (i, &k) in keys.iter().enumerate() {
        if let Some(pos) = fill.get_mut(usize::from(k))
            && usize::from(k) < buckets
            && let Some(slot) = order.get_mut(*pos)
        {
            *slot = u32::try_from(i).unwrap_or(u32::MAX);
            *pos += 1;
        }
    }
    (order, starts)
}

/// Sorts `items` stably by a `u32` key: two 16-bit counting passes (LSD radix),
/// using `scratch` as the second buffer.
pub(crate) fn radix_sort_u32<T: Copy>(
    items: &mut Vec<T>,
    scratch: &mut Vec<T>,
    key: impl Fn(&T) -> u32,
) {
    if items.len() < 2 {
        return;
    }
    for shift in [0u32, 16] {
        let digit = |x: &T| ((key(x) >> shift) & 0xffff) as usize;
        let mut counts = vec![0usize; 1 << 16];
        for x in items.iter() {
            if let Some(c) = counts.get_mut(digit(x)) {
                *c += 1;
            }
        }
        let mut sum = 0;
        for c in counts.iter_mut() {
            let n = *c;
            *c = sum;
            sum += n;
        }
        scratch.clear();
        scratch.extend_from_slice(items);
        for x in items.iter() {
            if let Some(pos) = counts.get_mut(digit(x))
                && let Some(slot) = scratch.get_mut(*pos)
            {
                *slot = *x;
                *pos += 1;
            }
        }
        std::mem::swap(items, scratch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radix_sort_is_stable_and_sorted() {
        let mut items: Vec<(u32, u32)> = (0..5_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) % 70_000, i))
            .collect();
        let mut want = items.clone();
        want.sort_by_key(|x| x.0);
        let mut scratch = Vec::new();
        radix_sort_u32(&mut items, &mut scratch, |x| x.0);
        assert_eq!(items, want);
        let mut hi: Vec<(u32, u32)> = vec![(u32::MAX, 0), (0, 1), (1 << 20, 2), (u32::MAX, 3)];
        radix_sort_u32(&mut hi, &mut scratch, |x| x.0);
        assert_eq!(hi, vec![(0, 1), (1 << 20, 2), (u32::MAX, 0), (u32::MAX, 3)]);
    }

    #[test]
    fn groups_stably_and_skips_out_of_range() {
        let keys = [2u8, 0, 2, 1, 9, 0];
        let (order, starts) = group_by_key(&keys, 3);
        assert_eq!(order, vec![1, 5, 3, 0, 2]);
        assert_eq!(starts, vec![0, 2, 3, 5]);
    }
}
