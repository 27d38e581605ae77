//! A label group a thread's lookups verified, with the strings that spell it.
//!
//! Samples arrive target by target: a scrape, or a remote-write request built from
//! one, carries a target's series together, and they differ mostly by metric name —
//! the first value, the one string a series does not share with its label group.
//! Checking a candidate series against the query compares every string of the
//! group with the interned symbols (two dozen symbol lookups for a typical label
//! set). Once lookups have done that, this memo keeps the query's strings other
//! than the first value: a later lookup whose candidate is in the same group and
//! whose other strings are those same bytes only checks its first value.
//!
//! The bytes are kept when two full comparisons in a row (memo hits and misses in
//! between do not count) matched in one group, and stay until another such pair
//! replaces them: in a scattered order (no two neighbours from one target) a
//! lookup pays for a note of its group, not for a copy of its strings.
//!
//! Label groups are immutable and never reused, and each index has its own memo key
//! ([`next_key`]), so a memo can only be stale by being of no use.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

/// Hands out memo keys: one per index, never reused in the process.
pub(crate) fn next_key() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// What one thread remembers: the index, the group, and the query's strings but
/// its first value, as bytes and the ends of each string within them.
struct GroupMemo {
    /// The index's [`next_key`] and the group of the strings kept; key 0: none.
    key: u64,
    group: u32,
    bytes: Vec<u8>,
    ends: Vec<u32>,
    /// The index and group of the last match that was not kept.
    last: (u64, u32),
}

thread_local! {
    static MEMO: RefCell<GroupMemo> = const {
        RefCell::new(GroupMemo {
            key: 0,
            group: 0,
            bytes: Vec::new(),
            ends: Vec::new(),
            last: (0, 0),
        })
    };
}

/// The byte range `e0..e1` of a label set's first value: its other strings are
/// `data[..e0]` (the first name) and `data[e1..]`; `None` for fewer than two
/// strings.
#[inline]
pub(crate) fn split(data: &[u8], ends: &[u32]) -> Option<(usize, usize)> {
    let (&e0, &e1) = (ends.first()?, ends.get(1)?);
    let (e0, e1) = (e0 as usize, e1 as usize);
    (e0 <= e1 && e1 <= data.len()).then_some((e0, e1))
}

/// Whether the thread's memo says that the strings of `data`/`ends` (a label set's
/// raw parts) but the first value are those of group `group` of index `key`.
#[inline]
pub(crate) fn verified(key: u64, group: u32, data: &[u8], ends: &[u32]) -> bool {
    let Some((e0, e1)) = split(data, ends) else {
        return false;
    };
    let shift = (e1 - e0) as u32;
    MEMO.try_with(|m| {
        let Ok(m) = m.try_borrow() else {
            return false;
        };
        if m.key != key || m.group != group {
            return false;
        }
        // The ends after the first value as the memo keeps them, `b − shift` for
        // each query end `b`: one OR-fold over slices of equal length.
        let same_ends = match (m.ends.split_first(), ends.get(2..)) {
            (Some((&m0, rest)), Some(q)) if rest.len() == q.len() && m0 as usize == e0 => {
                rest.iter()
                    .zip(q)
                    .fold(0u32, |acc, (&a, &b)| acc | (b.wrapping_sub(shift) ^ a))
                    == 0
            }
            _ => false,
        };
        same_ends
            && m.bytes.len() + (e1 - e0) == data.len()
            && m.bytes.get(..e0) == data.get(..e0)
            && m.bytes.get(e0..) == data.get(e1..)
    })
    .unwrap_or(false)
}

/// Records that the strings of `data`/`ends` but the first value are those of
/// group `group` of index `key`: kept if the last match was in that group too,
/// otherwise only noted.
pub(crate) fn remember(key: u64, group: u32, data: &[u8], ends: &[u32]) {
    let Some((e0, e1)) = split(data, ends) else {
        return;
    };
    let shift = (e1 - e0) as u32;
    let _ = MEMO.try_with(|m| {
        let Ok(mut m) = m.try_borrow_mut() else {
            return;
        };
        if m.last != (key, group) {
            m.last = (key, group);
            return;
        }
        m.last = (0, 0);
        m.key = key;
        m.group = group;
        m.bytes.clear();
        m.bytes
            .extend_from_slice(data.get(..e0).unwrap_or_default());
        m.bytes
            .extend_from_slice(data.get(e1..).unwrap_or_default());
        m.ends.clear();
        m.ends.extend(ends.first());
        m.ends
            .extend(ends.iter().skip(2).map(|&b| b.wrapping_sub(shift)));
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Labels;

    fn parts(l: &Labels) -> (Vec<u8>, Vec<u32>) {
        let (d, e) = l.raw_parts();
        (d.to_vec(), e.to_vec())
    }

    #[test]
    fn only_the_same_other_strings_of_the_same_group_and_index_match() {
        let key = next_key();
        let a = Labels::new([("__name__", "cpu"), ("host", "h1"), ("dc", "x")]).unwrap();
        let (d, e) = parts(&a);
        assert!(!verified(key, 7, &d, &e), "nothing remembered yet");
        remember(key, 7, &d, &e);
        assert!(!verified(key, 7, &d, &e), "one match is only noted");
        remember(key, 6, &d, &e);
        remember(key, 7, &d, &e);
        assert!(!verified(key, 7, &d, &e), "two matches, not in a row");
        remember(key, 7, &d, &e);
        assert!(verified(key, 7, &d, &e), "two in a row are kept");
        // Another metric name of the same target: its first value differs.
        let b = Labels::new([("__name__", "memory"), ("host", "h1"), ("dc", "x")]).unwrap();
        let (d2, e2) = parts(&b);
        assert!(verified(key, 7, &d2, &e2));
        assert!(!verified(key, 8, &d2, &e2), "another group");
        assert!(!verified(next_key(), 7, &d2, &e2), "another index");
        for other in [
            Labels::new([("__name__", "cpu"), ("host", "h2"), ("dc", "x")]).unwrap(),
            Labels::new([("__name__", "cpu"), ("host", "h1"), ("dc", "xx")]).unwrap(),
            Labels::new([("__name__", "cpu"), ("host", "h1")]).unwrap(),
            Labels::new([("__name__", "cpu"), ("host", "h1"), ("dc", "x"), ("z", "1")]).unwrap(),
            // The same bytes split differently between the strings.
            Labels::new([("__name__", "cpu"), ("host", "h1d"), ("c", "x")]).unwrap(),
            Labels::new([("__name__", "cpu"), ("hos", "th1"), ("dc", "x")]).unwrap(),
            Labels::new([("__nam", "cpu"), ("e__host", "h1"), ("dc", "x")]).unwrap(),
            // The same other bytes, and the same ends after the first value; only
            // the first name's end differs ("__name_" then "_dc").
            Labels::new([("__name_", "cpu"), ("_dc", "x"), ("host", "h1")]).unwrap(),
        ] {
            let (d3, e3) = parts(&other);
            assert!(!verified(key, 7, &d3, &e3), "{other:?}");
        }
    }
}
