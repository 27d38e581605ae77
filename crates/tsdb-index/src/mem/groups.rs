//! Label groups: the strings of a label set but the first value, as interned symbol
//! ids, stored once however many series share them.
//!
//! A series is spelled by two ids: the symbol of its first label's value (usually the
//! metric name) and its group, the symbols of every other string in order with
//! [`GROUP_HOLE`] in place of that value. Series of one target differ mostly by metric
//! name, so they share one group, whose symbols stay in cache; a label set unlike any
//! other costs one group of its own, about the size of a per-series record.
//!
//! A group also keeps its **spelling**: the strings themselves (their end offsets and
//! bytes, the first value left out), so that checking a lookup's labels against a
//! candidate series is one comparison of contiguous memory instead of a symbol-table
//! load per string — on a large index, those loads were most of a lookup's time and
//! its last cache miss. Groups are shared, so the copy costs little per series; a
//! group whose spelling would exceed [`MAX_SPELLING_WORDS`] has none and is checked
//! through its symbols.
//!
//! A group is a run of the arena: its symbol count `n`, the spelling's length `s` in
//! words (0: none), the spelling, then the `n` symbols. Its id is its position.
//! Groups are written before they are published (through the interning lock, or the
//! series table's release store) and never change.

use std::sync::atomic::{AtomicU32, Ordering};

use hashbrown::HashTable;
use parking_lot::Mutex;

use crate::arena::U32Arena;

/// Placeholder for the first label's value, which the series stores itself.
pub(crate) const GROUP_HOLE: u32 = u32::MAX;

/// Spellings longer than this many words are not kept (label sets of kilobytes).
pub(crate) const MAX_SPELLING_WORDS: usize = 512;
/// The arena's longest run, in words.
const MAX_RUN: usize = 4096;
/// Cache lines of a group [`LabelGroups::prefetch`] loads.
const PREFETCH_LINES: u32 = 6;

/// The spelling of a label set of `n ≥ 2` strings given as concatenated `data` and
/// end offsets `ends`, the first value (string 1) left out: the `n − 1` end offsets of
/// the remaining strings in their own concatenation, then the first name's bytes
/// zero-padded to a word, then the rest's bytes zero-padded to a word, four bytes a
/// word, little-endian. `None` for fewer than two strings or a spelling longer than
/// [`MAX_SPELLING_WORDS`].
fn spell(data: &[u8], ends: &[u32]) -> Option<Vec<u32>> {
    let (&e0, &e1) = (ends.first()?, ends.get(1)?);
    let (name0, rest) = (data.get(..e0 as usize)?, data.get(e1 as usize..)?);
    let words = ends.len() - 1 + name0.len().div_ceil(4) + rest.len().div_ceil(4);
    if words > MAX_SPELLING_WORDS {
        return None;
    }
    let v0 = e1.checked_sub(e0)?;
    let mut out = Vec::with_capacity(words);
    out.push(e0);
    for &e in ends.get(2..)? {
        out.push(e.checked_sub(v0)?);
    }
    for part in [name0, rest] {
        out.extend(part.chunks(4).map(word));
    }
    Some(out)
}

/// Up to four bytes as a little-endian word, zero-padded.
#[inline(always)]
fn word(b: &[u8]) -> u32 {
    let mut w = [0u8; 4];
    for (d, s) in w.iter_mut().zip(b) {
        *d = *s;
    }
    u32::from_le_bytes(w)
}

/// Whether a group's `spelling` (of `n` strings, see [`spell`]) spells the label
/// set `data`/`ends` but for its first value, which the caller checks. Reads no memory
/// but the two arguments.
#[inline]
pub(crate) fn spelled_eq(n: usize, spelling: &[AtomicU32], data: &[u8], ends: &[u32]) -> bool {
    let (Some(&e0), Some(&e1)) = (ends.first(), ends.get(1)) else {
        return false;
    };
    if n != ends.len() || e1 < e0 {
        return false;
    }
    let v0 = e1 - e0;
    let Some((g_ends, bytes)) = spelling.split_at_checked(n - 1) else {
        return false;
    };
    // The boundaries: string 0's end, then every later end shifted by the first value.
    let mut g = g_ends.iter().map(|a| a.load(Ordering::Relaxed));
    if g.next() != Some(e0) || !g.eq(ends.iter().skip(2).map(|&e| e.wrapping_sub(v0))) {
        return false;
    }
    // The bytes: the first name, then everything after the first value.
    let (Some(name0), Some(rest)) = (data.get(..e0 as usize), data.get(e1 as usize..)) else {
        return false;
    };
    let Some((b0, b1)) = bytes.split_at_checked(name0.len().div_ceil(4)) else {
        return false;
    };
    b1.len() == rest.len().div_ceil(4) && words_eq(b0, name0) && words_eq(b1, rest)
}

/// Whether `words` hold `bytes` (four a word, the last zero-padded); the caller has
/// checked the lengths.
#[inline(always)]
fn words_eq(words: &[AtomicU32], bytes: &[u8]) -> bool {
    let mut full = bytes.chunks_exact(4);
    let mut ws = words.iter();
    // `full` first: when it runs out, `zip` has taken nothing from `ws`.
    for (b, w) in full.by_ref().zip(ws.by_ref()) {
        if w.load(Ordering::Relaxed) != word(b) {
            return false;
        }
    }
    let tail = full.remainder();
    tail.is_empty()
        || ws
            .next()
            .is_some_and(|w| w.load(Ordering::Relaxed) == word(tail))
}

/// Multiplier of [`group_hash`] (a 64-bit odd constant).
const MUL: u64 = 0x9E37_79B9_7F4A_7C15;

/// The hash of a group's symbols, for interning.
fn group_hash(syms: impl ExactSizeIterator<Item = u32>) -> u64 {
    let mut h = syms.len() as u64;
    for s in syms {
        h = (h ^ u64::from(s)).wrapping_mul(MUL);
        h ^= h >> 29;
    }
    h.wrapping_mul(MUL) ^ (h >> 32)
}

/// The interned label groups.
#[derive(Default)]
pub(crate) struct LabelGroups {
    arena: U32Arena,
    /// Group hash → group id, for interning (creation only).
    table: Mutex<HashTable<u32>>,
}

impl LabelGroups {
    /// The symbols of group `g`.
    #[inline]
    pub(crate) fn get(&self, g: u32) -> Option<&[AtomicU32]> {
        let [n, s] = self.arena.slice(g, 2)? else {
            return None;
        };
        let (n, s) = (n.load(Ordering::Relaxed), s.load(Ordering::Relaxed));
        self.arena
            .slice(g.checked_add(2)?.checked_add(s)?, n as usize)
    }

    /// The symbol count of group `g` and its spelling, if it has one.
    #[inline]
    pub(crate) fn spelling(&self, g: u32) -> Option<(usize, &[AtomicU32])> {
        let [n, s] = self.arena.slice(g, 2)? else {
            return None;
        };
        let (n, s) = (n.load(Ordering::Relaxed), s.load(Ordering::Relaxed));
        if s == 0 {
            return None;
        }
        Some((n as usize, self.arena.slice(g.checked_add(2)?, s as usize)?))
    }

    /// Starts loading group `g`: the lines a lookup's check reads (the counts and
    /// the spelling of a label set of a few hundred bytes).
    #[inline]
    pub(crate) fn prefetch(&self, g: u32) {
        for k in 0..PREFETCH_LINES {
            if let Some(s) = g.checked_add(k * 16).and_then(|p| self.arena.slice(p, 1)) {
                crate::bytes::prefetch(s.as_ptr());
            }
        }
    }

    /// The group of `syms`, interning it if needed; `data` and `ends` are the label
    /// set's strings as [`Labels::raw_parts`](crate::Labels) gives them, for the
    /// spelling. `None` when the arena is full or the group is longer than one arena
    /// run.
    pub(crate) fn intern(&self, syms: &[u32], data: &[u8], ends: &[u32]) -> Option<u32> {
        let h = group_hash(syms.iter().copied());
        let eq = |g: &u32| {
            self.get(*g).is_some_and(|s| {
                s.len() == syms.len()
                    && s.iter()
                        .zip(syms)
                        .all(|(a, b)| a.load(Ordering::Relaxed) == *b)
            })
        };
        let mut table = self.table.lock();
        if let Some(&g) = table.find(h, eq) {
            return Some(g);
        }
        let n = u32::try_from(syms.len()).ok()?;
        let spelling = spell(data, ends)
            .filter(|sp| sp.len() + syms.len() + 2 <= MAX_RUN)
            .unwrap_or_default();
        let s = u32::try_from(spelling.len()).ok()?;
        let g = self
            .arena
            .alloc(syms.len() + spelling.len() + 2)
            // Below `u32::MAX − 1`: the series table's tombstone packs that group.
            .filter(|g| *g < u32::MAX - 1)?;
        self.arena.write(g, &[n, s]);
        self.arena.write(g.checked_add(2)?, &spelling);
        self.arena.write(g.checked_add(2)?.checked_add(s)?, syms);
        table.insert_unique(h, g, |g| {
            self.get(*g).map_or(0, |s| {
                group_hash(s.iter().map(|a| a.load(Ordering::Relaxed)))
            })
        });
        Some(g)
    }

    /// Bytes held by the groups and the interning table.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.arena.memory_bytes() + self.table.lock().capacity() * (std::mem::size_of::<u32>() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syms(g: &LabelGroups, id: u32) -> Vec<u32> {
        g.get(id)
            .unwrap()
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .collect()
    }

    /// `spelled_eq` of the spelling of `a` against `b`.
    fn spelled(a: &[(&str, &str)], b: &[(&str, &str)]) -> bool {
        let a = crate::Labels::new(a.iter().copied()).unwrap();
        let b = crate::Labels::new(b.iter().copied()).unwrap();
        let (data, ends) = a.raw_parts();
        let words: Vec<AtomicU32> = spell(data, ends)
            .unwrap()
            .into_iter()
            .map(AtomicU32::new)
            .collect();
        let (data, ends) = b.raw_parts();
        spelled_eq(a.len() * 2, &words, data, ends)
    }

    #[test]
    fn spelling_tells_label_sets_apart_but_for_the_first_value() {
        let base = [("__name__", "up"), ("host", "h-1"), ("zone", "eu")];
        assert!(spelled(&base, &base));
        // The first value is the caller's to check.
        assert!(spelled(
            &base,
            &[("__name__", "down"), ("host", "h-1"), ("zone", "eu")]
        ));
        for other in [
            &[("__name__", "up"), ("host", "h-2"), ("zone", "eu")][..],
            &[("__name__", "up"), ("hos", "th-1"), ("zone", "eu")],
            &[("__name__", "up"), ("host", "h-1z"), ("one", "eu")],
            &[("__name__", "up"), ("host", "h-1"), ("zone", "e")],
            &[
                ("__name__", "up"),
                ("host", "h-1"),
                ("zone", "eu"),
                ("zz", "1"),
            ],
            &[("__name__", "up"), ("host", "h-1")],
            &[("__nam", "e__up"), ("host", "h-1"), ("zone", "eu")],
            &[("__name__", "up")],
        ] {
            assert!(!spelled(&base, other), "{other:?}");
            assert!(!spelled(other, &base), "{other:?}");
        }
        // Every length mod 4 of the first name and of the rest.
        for i in 0..9 {
            let n = "a".repeat(i + 1);
            let v = "v".repeat(i);
            let a = [(n.as_str(), "x"), ("b", v.as_str())];
            assert!(spelled(&a, &a));
            let mut w = v.clone();
            w.push('w');
            assert!(!spelled(&a, &[(n.as_str(), "x"), ("b", w.as_str())]));
        }
        // Too long to spell.
        let long = "x".repeat(4 * MAX_SPELLING_WORDS);
        let l = crate::Labels::new([("__name__", "up"), ("a", long.as_str())]).unwrap();
        let (data, ends) = l.raw_parts();
        assert!(spell(data, ends).is_none());
    }

    #[test]
    fn interns_once_and_reads_back() {
        let g = LabelGroups::default();
        let a = g.intern(&[1, GROUP_HOLE, 2, 3], &[], &[]).unwrap();
        let b = g.intern(&[1, GROUP_HOLE, 2, 4], &[], &[]).unwrap();
        let e = g.intern(&[], &[], &[]).unwrap();
        assert_ne!(a, b);
        assert_eq!(g.intern(&[1, GROUP_HOLE, 2, 3], &[], &[]), Some(a));
        assert_eq!(g.intern(&[], &[], &[]), Some(e));
        assert_eq!(syms(&g, a), vec![1, GROUP_HOLE, 2, 3]);
        assert_eq!(syms(&g, b), vec![1, GROUP_HOLE, 2, 4]);
        assert!(syms(&g, e).is_empty());
        for i in 0..5000u32 {
            let s = [i, GROUP_HOLE, i / 7];
            let id = g.intern(&s, &[], &[]).unwrap();
            assert_eq!(syms(&g, id), s);
        }
        assert_eq!(g.intern(&[1, GROUP_HOLE, 2, 3], &[], &[]), Some(a));
        assert!(g.memory_bytes() > 0);
        // Longer than one arena run.
        assert_eq!(g.intern(&vec![7; 10_000], &[], &[]), None);
    }
}
