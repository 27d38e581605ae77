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

use crate::bits::BitWriter;
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
pub(crate) enum Key<'a> {
    /// A column sealed in bulk (`Chunk::encode`).
    Column(&'a [i64]),
    /// A streamed column (`ChunkEncoder::finish`), as its Gorilla stream of `n`
    /// timestamps: equal streams hold equal columns, and comparing the stream
    /// spares decoding it.
    Stream { n: usize, w: &'a BitWriter },
}

impl Key<'_> {
    fn samples(self) -> usize {
        match self {
            Key::Column(ts) => ts.len(),
            Key::Stream { n, .. } => n,
        }
    }
}

/// The outcome of sealing a timestamp column.
pub(crate) type Sealed = (TimestampEncoding, Format);

/// A kept key.
enum Kept {
    Column(Vec<i64>),
    Stream { n: usize, w: BitWriter },
}

impl Kept {
    fn matches(&self, key: Key<'_>) -> bool {
        match (self, key) {
            // First and last timestamps tell columns of different targets and
            // chunks apart: the full comparison runs almost only on a hit.
            (Kept::Column(kept), Key::Column(ts)) => {
                kept.len() == ts.len()
                    && kept.first() == ts.first()
                    && kept.last() == ts.last()
                    && kept.as_slice() == ts
            }
            (Kept::Stream { n: kn, w: kw }, Key::Stream { n, w }) => {
                *kn == n && kw.bit_len() == w.bit_len() && kw == w
            }
            _ => false,
        }
    }

    /// Replaces the kept key with `key`, reusing its buffer when of the same kind.
    fn set(&mut self, key: Key<'_>) {
        match (self, key) {
            (Kept::Column(kept), Key::Column(ts)) => {
                kept.clear();
                kept.extend_from_slice(ts);
            }
            (Kept::Stream { n: kn, w: kw }, Key::Stream { n, w }) => {
                *kn = n;
                kw.clone_from(w);
            }
            (kept, key) => *kept = Kept::from(key),
        }
    }
}

impl From<Key<'_>> for Kept {
    fn from(key: Key<'_>) -> Kept {
        match key {
            Key::Column(ts) => Kept::Column(ts.to_vec()),
            Key::Stream { n, w } => Kept::Stream { n, w: w.clone() },
        }
    }
}

struct Entry {
    key: Kept,
    section: Vec<u8>,
    sealed: Sealed,
    /// The memo's clock at the last use (least recently used goes first).
    used: u64,
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
        let e = self.entries.iter_mut().find(|e| e.key.matches(key))?;
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
                key: Kept::from(key),
                section: section.to_vec(),
                sealed,
                used,
            });
        } else if let Some(e) = self.entries.iter_mut().min_by_key(|e| e.used) {
            e.key.set(key);
            e.section.clear();
            e.section.extend_from_slice(section);
            (e.sealed, e.used) = (sealed, used);
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
    if key.samples() > MAX_SAMPLES {
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
    if key.samples() > MAX_SAMPLES {
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

    fn key(ts: &[i64]) -> Key<'_> {
        Key::Column(ts)
    }

    /// A stand-in stream for `ts` (the memo only compares streams).
    fn stream(ts: &[i64]) -> BitWriter {
        let mut w = BitWriter::default();
        ts.iter().for_each(|&t| w.write(t as u64, 64));
        w
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
        let (out, _, called) = seal_with(key(&a), 1);
        assert!(called);
        assert_eq!(out, [1]);
        // The same column: the kept section, without sealing.
        let (out, sealed, called) = seal_with(key(&a), 2);
        assert!(!called);
        assert_eq!(out, [1]);
        assert_eq!(sealed, Some((TimestampEncoding::Packed, Format::V1)));
        // Same length, first and last, one timestamp different: sealed afresh.
        let mut b = a.clone();
        b[2] += 1;
        assert!(seal_with(key(&b), 3).2);
        // The same column streamed is another key, its stream.
        let w = stream(&a);
        let streamed = Key::Stream { n: a.len(), w: &w };
        assert!(seal_with(streamed, 4).2);
        assert_eq!(seal_with(streamed, 5).0, [4]);
        assert_eq!(seal_with(key(&a), 5).0, [1]);
        // Another stream, or the same bits for another count, is another key.
        let mut w2 = stream(&a);
        w2.write(1, 1);
        assert!(seal_with(Key::Stream { n: a.len(), w: &w2 }, 6).2);
        assert!(seal_with(Key::Stream { n: 3, w: &w }, 7).2);
        let wb = stream(&b);
        assert_eq!(wb.bit_len(), w.bit_len());
        assert!(seal_with(Key::Stream { n: b.len(), w: &wb }, 8).2);
        // A prefix is another column.
        assert!(seal_with(key(&a[..3]), 6).2);
    }

    #[test]
    fn the_least_recently_used_column_goes_first_and_the_memo_is_bounded() {
        clear();
        let col = |i: i64| -> Vec<i64> { vec![i, i + 1_000, i + 2_003] };
        for i in 0..ENTRIES as i64 {
            assert!(seal_with(key(&col(i)), 0).2);
        }
        // Column 0 used again: column 1 is now the oldest.
        assert!(!seal_with(key(&col(0)), 0).2);
        assert!(seal_with(key(&col(100)), 0).2);
        assert_eq!(kept(), ENTRIES);
        assert!(!seal_with(key(&col(0)), 0).2);
        assert!(seal_with(key(&col(1)), 0).2);
        // Too long to keep.
        let long: Vec<i64> = (0..MAX_SAMPLES as i64 + 1)
            .map(|i| i * 1_000 + i % 3)
            .collect();
        assert!(seal_with(key(&long), 0).2);
        assert!(seal_with(key(&long), 0).2);
    }
}
