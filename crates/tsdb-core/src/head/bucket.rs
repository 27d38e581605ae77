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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_stably_and_skips_out_of_range() {
        let keys = [2u8, 0, 2, 1, 9, 0];
        let (order, starts) = group_by_key(&keys, 3);
        assert_eq!(order, vec![1, 5, 3, 0, 2]);
        assert_eq!(starts, vec![0, 2, 3, 5]);
    }
}
