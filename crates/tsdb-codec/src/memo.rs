//! A per-thread memo of recently sealed timestamp sections.
//!
//! Every series scraped from one target carries the same timestamps: a scrape
//! stamps all its samples with one time. A host that seals those series' chunks
//! one after another (the head cutting every series of a target at the same
//! scrape, a block writer going series by series over a few targets) would plan
//! and pack the same irregular timestamp column once per series, and planning a
//! jittered column is most of the cost of sealing a chunk of real series.
//!
//! So each thread keeps the sections of the last [`ENTRIES`] irregular columns
//! it sealed, with the columns themselves. A column equal to one of them (compared
//! in full, not by a hash) reuses its section. The section written is the one a
//! fresh seal would write: it depends on nothing but the column and whether the
//! chunk was streamed (see [`Key`]), so the memo changes no byte, only the time.
//! Every kept column was validated (strictly increasing) before it was sealed, so
//! `Chunk::encode` skips validating a column it finds here.
//!
//! Bounds: columns longer than [`MAX_SAMPLES`] are not kept, so a thread holds at
//! most [`ENTRIES`] × ([`MAX_SAMPLES`] × 8 bytes + a section) — under 300 KiB,
//! and about 18 KiB for 120-sample chunks. Eviction is least recently used: a
//! scan over more distinct columns than [`ENTRIES`] (every chunk of a synthetic
//! jittered set) gets no hits and pays one comparison of first and last
//! timestamps per entry and one copy of the column.

use std::cell::RefCell;

use crate::chunk::TimestampEncoding;
use crate::pack::Format;

/// Columns kept per thread.
pub(crate) const ENTRIES: usize = 16;

/// Longest column kept (a block writer's chunks).
pub(crate) const MAX_SAMPLES: usize = 1024;

/// What a sealed timestamp section depends on: the column, and whether the chunk
/// was streamed (a streamed chunk always compares its Gorilla form; a bulk one
/// only when packing is poor, so the two can choose differently).
#[derive(Clone, Copy)]
pub(crate) struct Key<'a> {
    pub(crate) ts: &'a [i64],
    pub(crate) streaming: bool,
}

/// The outcome of sealing a timestamp column.
pub(crate) type Sealed = (TimestampEncoding, Format);

struct Entry {
    ts: Vec<i64>,
    streaming: bool,
    section: Vec<u8>,
    sealed: Sealed,
    /// The memo's clock at the last use (least recently used goes first).
    used: u64,
}

impl Entry {
    fn matches(&self, key: Key<'_>) -> bool {
        // First and last timestamps tell columns of different targets and chunks
        // apart: the full comparison runs almost only on a hit.
        self.streaming == key.streaming
            && self.ts.len() == key.ts.len()
            && self.ts.first() == key.ts.first()
            && self.ts.last() == key.ts.last()
            && self.ts == key.ts
    }
}

#[derive(Default)]
struct Memo {
    entries: Vec<Entry>,
    clock: u64,
}

impl Memo {
    /// Appends the section kept for `key` to `out`, if there is one.
    fn lookup(&mut self, key: Key<'_>, out: &mut Vec<u8>) -> Option<Sealed> {
        self.clock += 1;
        let clock = self.clock;
        let e = self.entries.iter_mut().find(|e| e.matches(key))?;
        e.used = clock;
        out.extend_from_slice(&e.section);
        Some(e.sealed)
    }

    /// Keeps `section` for `key`, in place of the least recently used entry when
    /// full (reusing its buffers).
    fn insert(&mut self, key: Key<'_>, section: &[u8], sealed: Sealed) {
        let used = self.clock;
        if self.entries.len() < ENTRIES {
            self.entries.push(Entry {
                ts: key.ts.to_vec(),
                streaming: key.streaming,
                section: section.to_vec(),
                sealed,
                used,
            });
        } else if let Some(e) = self.entries.iter_mut().min_by_key(|e| e.used) {
            e.ts.clear();
            e.ts.extend_from_slice(key.ts);
            e.section.clear();
            e.section.extend_from_slice(section);
            (e.streaming, e.sealed, e.used) = (key.streaming, sealed, used);
        }
    }
}

thread_local! {
    static MEMO: RefCell<Memo> = RefCell::new(Memo::default());
}

/// Appends the section this thread kept for `key` to `out`, if it sealed an equal
/// column lately. Every kept column was validated (strictly increasing) before it
/// was sealed, so a hit is a valid column.
pub(crate) fn lookup(key: Key<'_>, out: &mut Vec<u8>) -> Option<Sealed> {
    if key.ts.len() > MAX_SAMPLES {
        return None;
    }
    // The memo is unavailable only while the thread is being torn down (or, never
    // expected, re-entered): the column is then sealed without it.
    MEMO.try_with(|m| m.try_borrow_mut().ok()?.lookup(key, out))
        .ok()
        .flatten()
}

/// Keeps the `section` sealed for `key`, a validated column, on this thread.
pub(crate) fn keep(key: Key<'_>, section: &[u8], sealed: Sealed) {
    if key.ts.len() > MAX_SAMPLES {
        return;
    }
    let _ = MEMO.try_with(|m| {
        if let Ok(mut m) = m.try_borrow_mut() {
            m.insert(key, section, sealed);
        }
    });
}

/// Empties this thread's memo (tests compare against fresh seals).
#[cfg(test)]
pub(crate) fn clear() {
    let _ = MEMO.try_with(|m| {
        if let Ok(mut m) = m.try_borrow_mut() {
            *m = Memo::default();
        }
    });
}

/// Columns this thread keeps.
#[cfg(test)]
pub(crate) fn kept() -> usize {
    MEMO.try_with(|m| m.try_borrow().map_or(0, |m| m.entries.len()))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ts: &[i64], streaming: bool) -> Key<'_> {
        Key { ts, streaming }
    }

    /// Seals `key` through the memo as a caller does: the kept section, or a
    /// fresh one (`tag`) that is then kept. Also says whether it was sealed.
    fn seal_with(key: Key<'_>, tag: u8) -> (Vec<u8>, Option<Sealed>, bool) {
        let mut out = Vec::new();
        if let Some(sealed) = lookup(key, &mut out) {
            return (out, Some(sealed), false);
        }
        out.push(tag);
        let sealed = (TimestampEncoding::Packed, Format::V1);
        keep(key, &out, sealed);
        (out, Some(sealed), true)
    }

    #[test]
    fn an_equal_column_reuses_its_section_and_a_different_one_does_not() {
        clear();
        let a: Vec<i64> = vec![0, 1_001, 1_999, 3_002];
        let (out, _, called) = seal_with(key(&a, false), 1);
        assert!(called);
        assert_eq!(out, [1]);
        // The same column: the kept section, without sealing.
        let (out, sealed, called) = seal_with(key(&a, false), 2);
        assert!(!called);
        assert_eq!(out, [1]);
        assert_eq!(sealed, Some((TimestampEncoding::Packed, Format::V1)));
        // Same length, first and last, one timestamp different: sealed afresh.
        let mut b = a.clone();
        b[2] += 1;
        assert!(seal_with(key(&b, false), 3).2);
        // The same column streamed is another key.
        assert!(seal_with(key(&a, true), 4).2);
        assert_eq!(seal_with(key(&a, true), 5).0, [4]);
        // A prefix is another column.
        assert!(seal_with(key(&a[..3], false), 6).2);
    }

    #[test]
    fn the_least_recently_used_column_goes_first_and_the_memo_is_bounded() {
        clear();
        let col = |i: i64| -> Vec<i64> { vec![i, i + 1_000, i + 2_003] };
        for i in 0..ENTRIES as i64 {
            assert!(seal_with(key(&col(i), false), 0).2);
        }
        // Column 0 used again: column 1 is now the oldest.
        assert!(!seal_with(key(&col(0), false), 0).2);
        assert!(seal_with(key(&col(100), false), 0).2);
        assert_eq!(kept(), ENTRIES);
        assert!(!seal_with(key(&col(0), false), 0).2);
        assert!(seal_with(key(&col(1), false), 0).2);
        // Too long to keep.
        let long: Vec<i64> = (0..MAX_SAMPLES as i64 + 1)
            .map(|i| i * 1_000 + i % 3)
            .collect();
        assert!(seal_with(key(&long, false), 0).2);
        assert!(seal_with(key(&long, false), 0).2);
    }
}
