//! Per-thread memos of recently sealed timestamp and value sections, and of
//! recently decoded timestamp sections.
//!
//! Every series scraped from one target carries the same timestamps: a scrape
//! stamps all its samples with one time. A host that seals those series' chunks
//! one after another (the head cutting every series of a target at the same
//! scrape, a block writer going series by series over a few targets) would plan
//! and pack the same irregular timestamp column once per series, and planning a
//! jittered column is most of the cost of sealing a chunk of real series. A query
//! over those series decodes the same section once per series, and decoding
//! jittered timestamps is most of the cost of decoding real chunks.
//!
//! **Sealing.** Each thread keeps the sections of the last [`ENTRIES`] irregular
//! timestamp columns it sealed, with the columns (or, for streamed chunks, their
//! Gorilla streams), and apart from them those of the last [`ENTRIES`] value
//! columns that were not flat. Value columns repeat across series too: a
//! histogram's buckets hold equal counts while no observation falls between
//! them, and its `+Inf` bucket equals its count (11.8–15.5 % of the value
//! columns that change, in three captures of a Prometheus and a node_exporter:
//! `codec_report --prometheus-json` counts them). A column
//! equal to a kept one (compared in full, bit for bit, where a cheap tag of its
//! length and ends matches) reuses its section. The section written is the one a
//! fresh seal would write: it depends on nothing but the column and whether the
//! chunk was streamed (see [`Key`]), so the memo changes no byte, only the time.
//! Every kept timestamp column was validated (strictly increasing) before it was
//! sealed, so `Chunk::encode` skips validating a column it finds here.
//!
//! **Decoding.** Each thread keeps the timestamps of the last [`ENTRIES`]
//! irregular sections it decoded twice (see [`Decoded`]), keyed by the section's
//! bytes, count, encoding and format version: everything its decoding depends
//! on, so a copy is what decoding would give. Only sections that decoded without
//! error are kept.
//!
//! Bounds: columns longer than [`MAX_SAMPLES`] are not kept, and an entry holds
//! a key and a value of at most 10 bytes a sample each (a column: 8; a Gorilla
//! stream or a section: at most 9 a timestamp and 77 bits a value, and a few
//! bytes of header). Buffers reused for another entry grow to exactly what it
//! needs, never doubling. So a thread holds at most 3 × [`ENTRIES`] × 2 × 10 ×
//! [`MAX_SAMPLES`] bytes — under 1 MiB — and, counting 48 entries of about
//! 1 KiB, about 50 KiB for 120-sample chunks.
//! Eviction is least recently used: a scan over more distinct columns than
//! [`ENTRIES`] (every chunk of a synthetic jittered set) gets no hits. Sealing
//! then pays a tag and a comparison of tags per entry (in full only where they
//! are equal) and a copy of the column; decoding, a fingerprint of the section.

use std::cell::RefCell;

use crate::bits::{BitWriter, refill};
use crate::chunk::{TimestampEncoding, ValueEncoding};
use crate::pack::Format;

/// Columns kept per thread.
pub(crate) const ENTRIES: usize = 16;

/// Longest column kept (a block writer's chunks).
pub(crate) const MAX_SAMPLES: usize = 1024;

/// Longest section kept: [`MAX_SAMPLES`] samples at up to 10 bytes each (a
/// Gorilla stream's widest code: 9 bytes a timestamp, 77 bits a value).
const MAX_SECTION_BYTES: usize = 10 * MAX_SAMPLES;

/// What a sealed timestamp or value section depends on: the column, and whether
/// the chunk was streamed (a streamed chunk always compares its Gorilla form; a
/// bulk one only when packing is poor, so the two can choose differently).
#[derive(Clone, Copy)]
pub(crate) enum Key<'a> {
    /// A timestamp column sealed in bulk (`Chunk::encode`).
    Column(&'a [i64]),
    /// A value column sealed in bulk, compared bit for bit.
    Values(&'a [f64]),
    /// A streamed column (`ChunkEncoder::finish`), as its Gorilla stream of `n`
    /// timestamps or values: equal streams hold equal columns, and comparing the
    /// stream spares decoding it.
    Stream { n: usize, w: &'a BitWriter },
}

impl Key<'_> {
    fn samples(self) -> usize {
        match self {
            Key::Column(ts) => ts.len(),
            Key::Values(vs) => vs.len(),
            Key::Stream { n, .. } => n,
        }
    }

    /// A cheap digest (the length and the ends): equal keys have equal tags, so
    /// a search compares a key in full only where the tags are equal.
    fn tag(self) -> u64 {
        let ends = |first: Option<u64>, last: Option<u64>| {
            first.unwrap_or(0) ^ last.unwrap_or(0).rotate_left(29)
        };
        let (kind, n, digest) = match self {
            Key::Column(ts) => (
                1,
                ts.len(),
                ends(ts.first().map(|&t| t as u64), ts.last().map(|&t| t as u64)),
            ),
            Key::Values(vs) => (
                2,
                vs.len(),
                ends(
                    vs.first().map(|v| v.to_bits()),
                    vs.last().map(|v| v.to_bits()),
                ),
            ),
            Key::Stream { n, w } => (3, n, w.digest()),
        };
        (digest ^ ((n as u64) << 48) ^ kind).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
}

/// The outcome of sealing a timestamp column.
pub(crate) type Sealed = (TimestampEncoding, Format);

/// The outcome of sealing a value column.
pub(crate) type SealedValues = (ValueEncoding, Format);

/// A kept key.
enum Kept {
    Column(Vec<i64>),
    Values(Vec<u64>),
    Stream { n: usize, w: BitWriter },
}

impl Kept {
    fn matches(&self, key: Key<'_>) -> bool {
        match (self, key) {
            // Called only where the tags (length and ends) are equal already.
            (Kept::Column(kept), Key::Column(ts)) => kept.as_slice() == ts,
            (Kept::Values(kept), Key::Values(vs)) => {
                kept.as_slice() == bytemuck::cast_slice::<f64, u64>(vs)
            }
            (Kept::Stream { n: kn, w: kw }, Key::Stream { n, w }) => *kn == n && kw == w,
            _ => false,
        }
    }

    /// Replaces the kept key with `key`, reusing its buffer when of the same kind.
    fn set(&mut self, key: Key<'_>) {
        match (self, key) {
            (Kept::Column(kept), Key::Column(ts)) => refill(kept, ts),
            (Kept::Values(kept), Key::Values(vs)) => {
                kept.clear();
                kept.reserve_exact(vs.len());
                // The values' bits as they are: a copy of bytes, not a loop.
                kept.extend_from_slice(bytemuck::cast_slice(vs));
            }
            (Kept::Stream { n: kn, w: kw }, Key::Stream { n, w }) => {
                *kn = n;
                kw.copy_from(w);
            }
            (kept, key) => *kept = Kept::from(key),
        }
    }
}

impl From<Key<'_>> for Kept {
    fn from(key: Key<'_>) -> Kept {
        match key {
            Key::Column(ts) => Kept::Column(ts.to_vec()),
            Key::Values(vs) => Kept::Values(bytemuck::cast_slice(vs).to_vec()),
            Key::Stream { n, w } => Kept::Stream { n, w: w.clone() },
        }
    }
}

/// Least-recently-used slots, searched in full (there are at most [`ENTRIES`]).
struct Lru<K, V> {
    slots: Vec<Slot<K, V>>,
    clock: u64,
}

struct Slot<K, V> {
    /// The key's tag ([`Key::tag`]; for decoded sections, their fingerprint).
    tag: u64,
    key: K,
    value: V,
    /// The clock at the last use (least recently used goes first).
    used: u64,
}

impl<K, V> Default for Lru<K, V> {
    fn default() -> Self {
        Lru {
            slots: Vec::new(),
            clock: 0,
        }
    }
}

impl<K, V> Lru<K, V> {
    /// The value of the first key tagged `tag` that `matches`, marked as just
    /// used.
    fn get(&mut self, tag: u64, matches: impl Fn(&K) -> bool) -> Option<&V> {
        self.clock += 1;
        let clock = self.clock;
        let slot = self
            .slots
            .iter_mut()
            .find(|s| s.tag == tag && matches(&s.key))?;
        slot.used = clock;
        Some(&slot.value)
    }

    /// Stores an entry tagged `tag`: `new` while there is room, else `set`
    /// overwrites the least recently used one (reusing its buffers).
    fn put(&mut self, tag: u64, new: impl FnOnce() -> (K, V), set: impl FnOnce(&mut K, &mut V)) {
        let used = self.clock;
        if self.slots.len() < ENTRIES {
            let (key, value) = new();
            self.slots.push(Slot {
                tag,
                key,
                value,
                used,
            });
        } else if let Some(slot) = self.slots.iter_mut().min_by_key(|s| s.used) {
            set(&mut slot.key, &mut slot.value);
            slot.tag = tag;
            slot.used = used;
        }
    }
}

/// Kept sections by the key they were sealed for, with the outcome `S`.
type SealMemo<S> = RefCell<Lru<Kept, (Vec<u8>, S)>>;

thread_local! {
    static SEALED: SealMemo<Sealed> = RefCell::new(Lru::default());
    static SEALED_VALUES: SealMemo<SealedValues> = RefCell::new(Lru::default());
    static DECODED: RefCell<DecodeMemo> = RefCell::new(DecodeMemo::default());
}

/// Runs `f` on this thread's memo. It is unavailable only while the thread is
/// being torn down (or, never expected, re-entered): the caller then works
/// without it.
fn with<T: 'static, R>(
    memo: &'static std::thread::LocalKey<RefCell<T>>,
    f: impl FnOnce(&mut T) -> Option<R>,
) -> Option<R> {
    memo.try_with(|m| f(&mut *m.try_borrow_mut().ok()?))
        .ok()
        .flatten()
}

/// Appends the timestamp section this thread kept for `key` to `out`, if it
/// sealed an equal column lately. Every kept column was validated (strictly
/// increasing) before it was sealed, so a hit is a valid column.
pub(crate) fn lookup(key: Key<'_>, out: &mut Vec<u8>) -> Option<Sealed> {
    lookup_in(&SEALED, key, out)
}

/// Keeps the timestamp `section` sealed for `key`, a validated column, on this
/// thread (when both are within the module's bound).
pub(crate) fn keep(key: Key<'_>, section: &[u8], sealed: Sealed) {
    keep_in(&SEALED, key, section, sealed);
}

/// [`lookup`] for a value column (the values of a histogram's buckets, or of a
/// count and its `+Inf` bucket, are often equal).
pub(crate) fn lookup_values(key: Key<'_>, out: &mut Vec<u8>) -> Option<SealedValues> {
    lookup_in(&SEALED_VALUES, key, out)
}

/// [`keep`] for a value column.
pub(crate) fn keep_values(key: Key<'_>, section: &[u8], sealed: SealedValues) {
    keep_in(&SEALED_VALUES, key, section, sealed);
}

fn lookup_in<S: Copy + 'static>(
    memo: &'static std::thread::LocalKey<SealMemo<S>>,
    key: Key<'_>,
    out: &mut Vec<u8>,
) -> Option<S> {
    if key.samples() > MAX_SAMPLES {
        return None;
    }
    with(memo, |m| {
        let (section, sealed) = m.get(key.tag(), |k| k.matches(key))?;
        out.extend_from_slice(section);
        Some(*sealed)
    })
}

fn keep_in<S: Copy + 'static>(
    memo: &'static std::thread::LocalKey<SealMemo<S>>,
    key: Key<'_>,
    section: &[u8],
    sealed: S,
) {
    if key.samples() > MAX_SAMPLES || section.len() > MAX_SECTION_BYTES {
        return;
    }
    with(memo, |m| {
        m.put(
            key.tag(),
            || (Kept::from(key), (section.to_vec(), sealed)),
            |k, (s, e)| {
                k.set(key);
                refill(s, section);
                *e = sealed;
            },
        );
        Some(())
    });
}

/// A timestamp section as a chunk stores it: what decoding it depends on.
#[derive(Clone, Copy)]
pub(crate) struct SectionRef<'a> {
    pub(crate) format: Format,
    pub(crate) enc: TimestampEncoding,
    pub(crate) n: usize,
    pub(crate) bytes: &'a [u8],
}

/// A kept [`SectionRef`].
struct Section {
    format: Format,
    enc: TimestampEncoding,
    n: usize,
    bytes: Vec<u8>,
}

impl Section {
    fn matches(&self, s: SectionRef<'_>) -> bool {
        // Called only where the fingerprints are equal already.
        self.n == s.n && self.enc == s.enc && self.format == s.format && self.bytes == s.bytes
    }
}

/// Whether a section is small enough to keep, so that an entry stays within the
/// bound the module states.
fn keepable(s: SectionRef<'_>) -> bool {
    s.n <= MAX_SAMPLES && s.bytes.len() <= MAX_SECTION_BYTES
}

/// What [`decoded`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// The timestamps were appended from the memo.
    Copied,
    /// Not kept, but seen lately: decode, then [`keep_decoded`].
    Keep,
    /// Not seen lately: decode only. A section is kept from its second sighting
    /// on, so sections that never repeat (every chunk of a synthetic jittered
    /// set) cost a fingerprint, not a copy of their timestamps.
    Skip,
}

/// The decode memo: kept sections and their timestamps, and the fingerprints
/// of the last sections seen.
struct DecodeMemo {
    lru: Lru<Section, Vec<i64>>,
    seen: [u64; ENTRIES],
    next: usize,
}

impl Default for DecodeMemo {
    fn default() -> Self {
        DecodeMemo {
            lru: Lru::default(),
            seen: [0; ENTRIES],
            next: 0,
        }
    }
}

/// A cheap digest of a section (its length, count, and first and last eight
/// bytes): equal sections have equal fingerprints. Collisions only make a
/// section kept early.
fn fingerprint(s: SectionRef<'_>) -> u64 {
    let word = |b: Option<&[u8; 8]>| b.map_or(0, |b| u64::from_le_bytes(*b));
    let (first, last) = (word(s.bytes.first_chunk()), word(s.bytes.last_chunk()));
    let shape = (s.n as u64) << 40 ^ (s.bytes.len() as u64) << 8 ^ s.enc as u64;
    (first ^ last.rotate_left(29) ^ shape).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1
}

/// Appends the timestamps this thread decoded lately from an equal section to
/// `out` ([`Decoded::Copied`]), or says whether the caller should keep them
/// once decoded.
pub(crate) fn decoded(s: SectionRef<'_>, out: &mut Vec<i64>) -> Decoded {
    if !keepable(s) {
        return Decoded::Skip;
    }
    with(&DECODED, |m| {
        let f = fingerprint(s);
        if let Some(ts) = m.lru.get(f, |k| k.matches(s)) {
            out.extend_from_slice(ts);
            return Some(Decoded::Copied);
        }
        if m.seen.contains(&f) {
            return Some(Decoded::Keep);
        }
        let next = m.next;
        if let Some(slot) = m.seen.get_mut(next) {
            *slot = f;
        }
        m.next = (next + 1) % ENTRIES;
        Some(Decoded::Skip)
    })
    .unwrap_or(Decoded::Skip)
}

/// Keeps the timestamps `ts` decoded from `s` on this thread.
pub(crate) fn keep_decoded(s: SectionRef<'_>, ts: &[i64]) {
    if !keepable(s) {
        return;
    }
    with(&DECODED, |m| {
        m.lru.put(
            fingerprint(s),
            || {
                let key = Section {
                    format: s.format,
                    enc: s.enc,
                    n: s.n,
                    bytes: s.bytes.to_vec(),
                };
                (key, ts.to_vec())
            },
            |k, v| {
                (k.format, k.enc, k.n) = (s.format, s.enc, s.n);
                refill(&mut k.bytes, s.bytes);
                refill(v, ts);
            },
        );
        Some(())
    });
}

/// Empties this thread's memos (tests compare against fresh seals and decodes).
#[cfg(test)]
pub(crate) fn clear() {
    with(&SEALED, |m| {
        *m = Lru::default();
        Some(())
    });
    with(&SEALED_VALUES, |m| {
        *m = Lru::default();
        Some(())
    });
    with(&DECODED, |m| {
        *m = DecodeMemo::default();
        Some(())
    });
}

/// Columns this thread keeps sealed.
#[cfg(test)]
pub(crate) fn kept() -> usize {
    with(&SEALED, |m| Some(m.slots.len())).unwrap_or(0)
}

/// Value columns this thread keeps sealed.
#[cfg(test)]
pub(crate) fn kept_values() -> usize {
    with(&SEALED_VALUES, |m| Some(m.slots.len())).unwrap_or(0)
}

/// Columns this thread keeps decoded.
#[cfg(test)]
pub(crate) fn kept_decoded() -> usize {
    with(&DECODED, |m| Some(m.lru.slots.len())).unwrap_or(0)
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
        // Each column sealed with its own tag, so a reused slot that kept a stale
        // section would show.
        let tag = |i: i64| (i % 251) as u8;
        for i in 0..ENTRIES as i64 {
            assert!(seal_with(key(&col(i)), tag(i)).2);
        }
        // Column 0 used again: column 1 is now the oldest.
        assert_eq!(seal_with(key(&col(0)), 0).0, [tag(0)]);
        assert!(seal_with(key(&col(100)), tag(100)).2);
        assert_eq!(kept(), ENTRIES);
        assert_eq!(seal_with(key(&col(100)), 0).0, [tag(100)]);
        assert!(!seal_with(key(&col(0)), 0).2);
        assert!(seal_with(key(&col(1)), tag(1)).2);
        // A stream replaces a column in a reused slot, and a column a stream.
        let w = stream(&col(7));
        assert!(seal_with(Key::Stream { n: 3, w: &w }, 200).2);
        assert_eq!(seal_with(Key::Stream { n: 3, w: &w }, 0).0, [200]);
        for i in 200..200 + ENTRIES as i64 {
            assert!(seal_with(key(&col(i)), tag(i)).2);
        }
        assert_eq!(kept(), ENTRIES);
        assert!(seal_with(Key::Stream { n: 3, w: &w }, 201).2);
        assert_eq!(seal_with(Key::Stream { n: 3, w: &w }, 0).0, [201]);
        // It took the oldest slot, column 200's; the others kept their sections.
        assert!(seal_with(key(&col(200)), tag(200)).2);
        for i in 202..200 + ENTRIES as i64 {
            assert_eq!(seal_with(key(&col(i)), 0).0, [tag(i)], "column {i}");
        }
        // Too long to keep.
        let long: Vec<i64> = (0..MAX_SAMPLES as i64 + 1)
            .map(|i| i * 1_000 + i % 3)
            .collect();
        assert!(seal_with(key(&long), 0).2);
        assert!(seal_with(key(&long), 0).2);
    }
}
