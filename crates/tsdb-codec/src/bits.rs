//! Bit-level I/O: an MSB-first bit writer/reader for the Gorilla streams, byte varints,
//! and LSB-first fixed-width packing for the packed integer streams.
//!
//! Written by hand because the hot loops of the codec live here: the reader refills a
//! 64-bit window with one unaligned load and never indexes past the input.

use crate::error::CodecError;

/// Bytes a bit writer's buffer first holds.
const FIRST_CAPACITY: usize = 16;

/// Appends bits most-significant first. Whole 64-bit words go to `buf`; the
/// unflushed tail lives in `acc`, so an open stream costs 9 bytes beyond its buffer.
/// Two writers are equal when they hold the same bits (`acc` keeps only its `nacc`
/// low bits).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct BitWriter {
    buf: Vec<u8>,
    acc: u64,
    nacc: u32,
}

impl BitWriter {
    /// Writes the low `n` bits of `v` (`n` ≤ 64).
    #[inline]
    pub(crate) fn write(&mut self, v: u64, n: u32) {
        debug_assert!(n <= 64);
        if n == 0 {
            return;
        }
        let v = if n == 64 { v } else { v & ((1u64 << n) - 1) };
        self.write_bits(v, n);
    }

    /// [`BitWriter::write`] for values that need no masking: `1 ≤ n ≤ 64` and `v`
    /// below `2^n` (the callers on the append path compute such values).
    #[inline(always)]
    pub(crate) fn write_bits(&mut self, v: u64, n: u32) {
        debug_assert!((1..=64).contains(&n) && (n == 64 || v >> n == 0));
        let free = 64 - self.nacc;
        if n < free {
            self.acc = (self.acc << n) | v;
            self.nacc += n;
        } else {
            self.spill(v, n, free);
        }
    }

    /// Completes the accumulator's word with the top bits of `v` and starts the
    /// next one with the rest.
    #[inline]
    fn spill(&mut self, v: u64, n: u32, free: u32) {
        let rem = n - free;
        let word = if free == 64 {
            v
        } else {
            (self.acc << free) | (v >> rem)
        };
        if self.buf.capacity() == 0 {
            // Start at 16 rather than doubling up from 8: a reallocation fewer a
            // stream. Words are flushed 8 bytes at a time, so this costs 8 bytes
            // a stream only while it holds one word: a flat, regular series'
            // streams get their second word near their 65th sample. (32 saved a
            // second reallocation, 2 % of sealing's instructions on real series,
            // for 24 bytes a series at 40 samples.)
            self.buf.reserve(FIRST_CAPACITY);
        }
        self.buf.extend_from_slice(&word.to_be_bytes());
        self.acc = if rem == 0 { 0 } else { v & ((1u64 << rem) - 1) };
        self.nacc = rem;
    }

    /// Writes an unsigned LEB128 varint as 8-bit groups (byte-aligned when the stream is).
    pub(crate) fn write_uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.write((v & 0x7f) | 0x80, 8);
            v >>= 7;
        }
        self.write(v, 8);
    }

    /// Makes room for `bytes` more bytes of whole words.
    pub(crate) fn reserve(&mut self, bytes: usize) {
        self.buf.reserve(bytes);
    }

    /// Makes this writer hold `other`'s bits, reusing its buffer (grown to exactly
    /// the length needed, not doubled).
    pub(crate) fn copy_from(&mut self, other: &BitWriter) {
        refill(&mut self.buf, &other.buf);
        (self.acc, self.nacc) = (other.acc, other.nacc);
    }

    /// Number of bits written so far.
    pub(crate) fn bit_len(&self) -> usize {
        self.buf.len() * 8 + self.nacc as usize
    }

    /// Number of bytes the finished stream occupies.
    pub(crate) fn byte_len(&self) -> usize {
        self.bit_len().div_ceil(8)
    }

    /// A cheap digest of the stream (its length, first word and unflushed bits):
    /// equal streams have equal digests.
    pub(crate) fn digest(&self) -> u64 {
        let first = self.buf.first_chunk().map_or(0, |b| u64::from_be_bytes(*b));
        (self.bit_len() as u64) ^ first.rotate_left(17) ^ self.acc.rotate_left(41)
    }

    /// Heap bytes held (capacity of the word buffer) plus the struct itself.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.buf.capacity()
    }

    /// Appends the stream, padded with zero bits to a whole byte, to `out`.
    pub(crate) fn copy_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.buf);
        if self.nacc > 0 {
            let tail = (self.acc << (64 - self.nacc)).to_be_bytes();
            let nbytes = self.nacc.div_ceil(8) as usize;
            out.extend(tail.iter().take(nbytes));
        }
    }
}

/// Reads bits most-significant first from a byte slice.
#[derive(Clone, Debug)]
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// Position in bits from the start of `data`.
    pos: usize,
    len_bits: usize,
    /// The last (up to) 8 bytes of `data` from byte `tail_start`, zero-padded: loads
    /// near the end read here instead of assembling bytes one by one.
    tail: [u8; 16],
    tail_start: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        let tail_start = data.len().saturating_sub(8);
        let tail = zero_padded_prefix(data.get(tail_start..).unwrap_or_default());
        BitReader {
            data,
            pos: 0,
            len_bits: data.len() * 8,
            tail,
            tail_start,
        }
    }

    /// Bits consumed so far.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Loads 8 bytes big-endian at byte `i`, zero-padded past the end.
    #[inline(always)]
    fn load_be(&self, i: usize) -> u64 {
        match self.data.get(i..i + 8) {
            Some(s) => {
                let mut a = [0u8; 8];
                a.copy_from_slice(s);
                u64::from_be_bytes(a)
            }
            // Past the last whole 8 bytes, so i ≥ tail_start; i ≤ len while the
            // position is within the data, so the 8 bytes are within the tail.
            None => {
                let mut a = [0u8; 8];
                let j = i.wrapping_sub(self.tail_start);
                if let Some(s) = self.tail.get(j..j.wrapping_add(8)) {
                    a.copy_from_slice(s);
                }
                u64::from_be_bytes(a)
            }
        }
    }

    /// The next 57 or more bits, left-aligned, without consuming them; bits past the
    /// end read as zero.
    #[inline(always)]
    pub(crate) fn peek_window(&self) -> u64 {
        self.load_be(self.pos >> 3) << (self.pos & 7)
    }

    /// The 57 or more bits from bit `pos`, left-aligned (zeros past the end), for
    /// a decoder that keeps its position in a register.
    #[inline(always)]
    pub(crate) fn peek_at(&self, pos: usize) -> u64 {
        self.load_be(pos >> 3) << (pos & 7)
    }

    /// Length of the data in bits.
    pub(crate) fn len_bits(&self) -> usize {
        self.len_bits
    }

    /// Consumes `n` bits previously seen through `peek_window`.
    #[inline(always)]
    pub(crate) fn consume(&mut self, n: u32) -> Result<(), CodecError> {
        let next = self.pos + n as usize;
        if next > self.len_bits {
            return Err(CodecError::Truncated { bit: self.pos });
        }
        self.pos = next;
        Ok(())
    }

    /// Reads `n` ≤ 64 bits.
    #[inline(always)]
    pub(crate) fn read(&mut self, n: u32) -> Result<u64, CodecError> {
        if n == 0 {
            return Ok(0);
        }
        if n <= 56 {
            let v = self.peek_window() >> (64 - n);
            self.consume(n)?;
            Ok(v)
        } else {
            let hi = self.read(n - 32)?;
            let lo = self.read(32)?;
            Ok((hi << 32) | lo)
        }
    }

    /// Reads an unsigned LEB128 varint written by [`BitWriter::write_uvarint`].
    pub(crate) fn read_uvarint(&mut self) -> Result<u64, CodecError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.read(8)?;
            v |= (byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(CodecError::Corrupt {
            offset: self.pos / 8,
            what: "varint longer than 10 bytes",
        })
    }
}

/// ZigZag-maps a signed integer so small magnitudes get small codes.
#[inline(always)]
pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag`].
#[inline(always)]
pub(crate) fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Appends an unsigned LEB128 varint.
pub(crate) fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Encoded length of an unsigned LEB128 varint.
pub(crate) fn uvarint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// A cursor over bytes for byte-aligned sections.
#[derive(Clone, Debug)]
pub(crate) struct ByteReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> ByteReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        ByteReader { data, pos: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn u8(&mut self) -> Result<u8, CodecError> {
        let b = *self
            .data
            .get(self.pos)
            .ok_or(CodecError::Truncated { bit: self.pos * 8 })?;
        self.pos += 1;
        Ok(b)
    }

    pub(crate) fn u64_le(&mut self) -> Result<u64, CodecError> {
        let s = self
            .data
            .get(self.pos..self.pos + 8)
            .ok_or(CodecError::Truncated { bit: self.pos * 8 })?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        self.pos += 8;
        Ok(u64::from_le_bytes(a))
    }

    pub(crate) fn uvarint(&mut self) -> Result<u64, CodecError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(CodecError::Corrupt {
            offset: self.pos,
            what: "varint longer than 10 bytes",
        })
    }

    /// [`ByteReader::uvarint`] with an inlined path for one-byte values (the
    /// index gaps of exceptions).
    #[inline(always)]
    pub(crate) fn small_uvarint(&mut self) -> Result<u64, CodecError> {
        if let Some(&b) = self.data.get(self.pos)
            && b < 0x80
        {
            self.pos += 1;
            return Ok(u64::from(b));
        }
        self.uvarint()
    }

    pub(crate) fn varint(&mut self) -> Result<i64, CodecError> {
        self.uvarint().map(unzigzag)
    }

    /// The bytes not read yet.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or_default()
    }

    /// Takes the next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(CodecError::Truncated { bit: self.pos * 8 })?;
        let s = self
            .data
            .get(self.pos..end)
            .ok_or(CodecError::Truncated { bit: self.pos * 8 })?;
        self.pos = end;
        Ok(s)
    }
}

/// A least-significant-bit-first bit writer appending whole bytes.
#[derive(Default)]
pub(crate) struct LsbWriter {
    /// Bits not yet written out, the oldest lowest; `n` of them are valid.
    acc: u64,
    /// Below 64.
    n: u32,
}

impl LsbWriter {
    /// Appends the low `width` (≤ 64) bits of `v`.
    #[inline(always)]
    pub(crate) fn put(&mut self, v: u64, width: u32, out: &mut Vec<u8>) {
        let v = if width >= 64 {
            v
        } else {
            v & ((1u64 << width) - 1)
        };
        self.acc |= v << self.n;
        let total = self.n + width;
        if total >= 64 {
            out.extend_from_slice(&self.acc.to_le_bytes());
            // The bits of `v` that did not fit (none when the word was empty).
            self.acc = if self.n == 0 { 0 } else { v >> (64 - self.n) };
            self.n = total - 64;
        } else {
            self.n = total;
        }
    }

    /// Appends `zeros` (below 64) zero bits, then a one bit: a unary code. Most
    /// end in the current word: an or and an addition.
    #[inline(always)]
    pub(crate) fn put_unary(&mut self, zeros: u32, out: &mut Vec<u8>) {
        debug_assert!(zeros < 64);
        let at = self.n + zeros;
        if at < 63 {
            self.acc |= 1 << at;
            self.n = at + 1;
        } else {
            (self.acc, self.n) = unary_across(self.acc, at, out);
        }
    }

    /// Appends the low `width` (≤ 64) bits of each of `vals`, as [`put`] one at
    /// a time would. Narrow values are first joined in groups that fill at most a
    /// word (`G` values of `width` bits, at offsets known in advance, so their
    /// shifts do not wait on each other), and each group takes one [`put`]: the
    /// writer's chain of bit counts and its test for a full word then run once a
    /// group instead of once a value (a Rice stream's low bits, packed slots).
    ///
    /// Takes and returns the writer by value, so that its fields stay in
    /// registers in the loops (through `&mut self` they lived on the stack).
    ///
    /// [`put`]: LsbWriter::put
    #[must_use]
    #[inline(always)]
    pub(crate) fn put_all(self, vals: &[u64], width: u32, out: &mut Vec<u8>) -> LsbWriter {
        match width {
            0 => self,
            1..=4 => self.put_groups::<16>(vals, width, out),
            5..=8 => self.put_groups::<8>(vals, width, out),
            9..=16 => self.put_groups::<4>(vals, width, out),
            17..=32 => self.put_groups::<2>(vals, width, out),
            _ => self.put_groups::<1>(vals, width, out),
        }
    }

    /// [`LsbWriter::put_all`] for `width` × `G` ≤ 64 (one value a group: any
    /// width up to 64).
    #[inline(always)]
    fn put_groups<const G: usize>(
        mut self,
        vals: &[u64],
        width: u32,
        out: &mut Vec<u8>,
    ) -> LsbWriter {
        debug_assert!(width as usize * G <= 64);
        if G == 1 {
            vals.iter().for_each(|&v| self.put(v, width, out));
            return self;
        }
        let mask = (1u64 << width) - 1;
        let mut groups = vals.chunks_exact(G);
        for group in &mut groups {
            let joined = (group.iter().enumerate())
                .fold(0u64, |acc, (j, &v)| acc | (v & mask) << (j as u32 * width));
            self.put(joined, width * G as u32, out);
        }
        for &v in groups.remainder() {
            self.put(v, width, out);
        }
        self
    }

    /// Appends eight unary codes, `zeros[i]` zero bits and a one each, every
    /// count below 16: as [`LsbWriter::put_unary`] eight times would. The ones'
    /// offsets are running sums known before any bit is placed, so the eight
    /// shifts are independent; the codes take one [`put`](LsbWriter::put) when
    /// they fit in a word, else two (four codes of at most 16 bits always do).
    #[inline(always)]
    pub(crate) fn put_unary8(&mut self, zeros: [u64; 8], out: &mut Vec<u8>) {
        debug_assert!(zeros.iter().all(|&z| z < 16));
        // at[i]: the offset of code i's one bit from the first code's start.
        let mut at = [0u64; 8];
        let mut sum = 0u64;
        for (i, (a, &z)) in at.iter_mut().zip(&zeros).enumerate() {
            sum += z;
            *a = sum + i as u64;
        }
        // The one bits at offsets `at` (each below 64 from `from`), as a word.
        let ones = |at: &[u64], from: u64| at.iter().fold(0u64, |acc, &a| acc | 1 << (a - from));
        let [.., a3, _, _, _, a7] = at;
        if a7 < 64 {
            self.put(ones(&at, 0), a7 as u32 + 1, out);
        } else {
            // Four codes of at most 16 bits each: either half's offsets from
            // its start are below 64.
            let (low, high) = at.split_at(4);
            self.put(ones(low, 0), a3 as u32 + 1, out);
            self.put(ones(high, a3 + 1), (a7 - a3) as u32, out);
        }
    }

    pub(crate) fn finish(self, out: &mut Vec<u8>) {
        out.extend(
            self.acc
                .to_le_bytes()
                .iter()
                .take(self.n.div_ceil(8) as usize),
        );
    }
}

/// [`LsbWriter::put_unary`] whose one bit lands at bit `at` (63 to 126) of the
/// word `acc`: the word is written out; returns the bits past it, which start the
/// next, and their count. A function of values rather than of the writer, so
/// that the writer's address never leaves the caller and its two fields stay in
/// registers (through `&mut self` they lived on the stack, and every code waited
/// for the store of the one before).
#[cold]
fn unary_across(acc: u64, at: u32, out: &mut Vec<u8>) -> (u64, u32) {
    let word = if at == 63 { acc | 1 << 63 } else { acc };
    out.extend_from_slice(&word.to_le_bytes());
    match at.checked_sub(64) {
        Some(rest) => (1 << rest, rest + 1),
        None => (0, 0),
    }
}

/// Packs `vals` with `width` bits each, least-significant first, appending whole bytes.
pub(crate) fn pack(vals: impl Iterator<Item = u64>, width: u32, out: &mut Vec<u8>) {
    if width == 0 {
        return;
    }
    let mut w = LsbWriter::default();
    for v in vals {
        w.put(v, width, out);
    }
    w.finish(out);
}

/// [`pack`] from a slice, in groups of values that fill a word at most
/// ([`LsbWriter::put_all`]): the same bytes.
#[inline(always)]
pub(crate) fn pack_slice(vals: &[u64], width: u32, out: &mut Vec<u8>) {
    if width == 0 {
        return;
    }
    LsbWriter::default().put_all(vals, width, out).finish(out);
}

/// The first `N` bytes of `bytes` (all of them when fewer) at the start of a
/// zeroed array: loads near the end of a stream read from such a copy, where
/// bits past the end are zeros, instead of assembling bytes one by one.
#[inline(always)]
pub(crate) fn zero_padded_prefix<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    let n = bytes.len().min(N);
    if let (Some(d), Some(s)) = (a.get_mut(..n), bytes.get(..n)) {
        d.copy_from_slice(s);
    }
    a
}

/// Whether every item of `xs` equals `first` by `key`: compared sixteen at a time
/// without a branch per item, stopping at the first sixteen that differ (a
/// sequence that is not flat usually differs at once).
#[inline]
pub(crate) fn all_equal<T: Copy, K: PartialEq>(xs: &[T], first: K, key: impl Fn(T) -> K) -> bool {
    let mut blocks = xs.chunks_exact(16);
    blocks.all(|b| b.iter().fold(true, |same, &x| same & (key(x) == first)))
        && (blocks.remainder().iter()).fold(true, |same, &x| same & (key(x) == first))
}

/// Replaces `buf`'s contents with `from`, keeping its allocation when large
/// enough and growing it to exactly `from`'s length otherwise (not doubling: a
/// buffer reused for one thing after another holds no more than the largest).
pub(crate) fn refill<T: Copy>(buf: &mut Vec<T>, from: &[T]) {
    buf.clear();
    buf.reserve_exact(from.len());
    buf.extend_from_slice(from);
}

/// Bytes that `count` values of `width` bits occupy once packed.
pub(crate) fn packed_len(count: usize, width: u32) -> usize {
    (count * width as usize).div_ceil(8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_equal_finds_a_difference_anywhere() {
        for n in 0..40usize {
            let flat = vec![7i64; n];
            assert!(all_equal(&flat, 7, |x| x));
            for at in 0..n {
                let mut xs = flat.clone();
                xs[at] = 8;
                assert!(!all_equal(&xs, 7, |x| x), "{n} {at}");
            }
        }
    }

    #[test]
    fn unary_codes_are_the_bits_put_writes() {
        // Every offset in the word and every count of zeros up to 63, after
        // values of every width: the same bytes as putting `1 << zeros` wide.
        let (mut a, mut b) = (LsbWriter::default(), LsbWriter::default());
        let (mut out_a, mut out_b) = (Vec::new(), Vec::new());
        for i in 0..4000u32 {
            let (zeros, width) = (i * 7 % 64, i * 13 % 65);
            let v = u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            a.put(v, width, &mut out_a);
            b.put(v, width, &mut out_b);
            a.put_unary(zeros, &mut out_a);
            if zeros < 63 {
                b.put(1 << zeros, zeros + 1, &mut out_b);
            } else {
                b.put(0, zeros, &mut out_b);
                b.put(1, 1, &mut out_b);
            }
        }
        a.finish(&mut out_a);
        b.finish(&mut out_b);
        assert_eq!(out_a, out_b);
    }

    proptest::proptest! {
        /// Values joined in groups ([`LsbWriter::put_all`]) are the bytes of
        /// putting them one by one, at every width and starting offset.
        #[test]
        fn put_all_is_put_one_by_one(
            lead in 0u32..64,
            width in 0u32..=64,
            vals in proptest::collection::vec(proptest::prelude::any::<u64>(), 0..80),
        ) {
            let (mut a, mut b) = (LsbWriter::default(), LsbWriter::default());
            let (mut out_a, mut out_b) = (Vec::new(), Vec::new());
            a.put(u64::MAX, lead, &mut out_a);
            b.put(u64::MAX, lead, &mut out_b);
            a = a.put_all(&vals, width, &mut out_a);
            vals.iter().for_each(|&v| b.put(v, width, &mut out_b));
            a.finish(&mut out_a);
            b.finish(&mut out_b);
            proptest::prop_assert_eq!(out_a, out_b);
        }

        /// Eight unary codes at once ([`LsbWriter::put_unary8`]) are the bytes
        /// of eight [`LsbWriter::put_unary`], whether they fit one word or not.
        #[test]
        fn eight_unary_codes_are_eight_put_unary(
            lead in 0u32..64,
            groups in proptest::collection::vec(proptest::array::uniform8(0u64..16), 1..6),
        ) {
            let (mut a, mut b) = (LsbWriter::default(), LsbWriter::default());
            let (mut out_a, mut out_b) = (Vec::new(), Vec::new());
            a.put(u64::MAX, lead, &mut out_a);
            b.put(u64::MAX, lead, &mut out_b);
            for zeros in groups {
                a.put_unary8(zeros, &mut out_a);
                zeros.iter().for_each(|&z| b.put_unary(z as u32, &mut out_b));
            }
            a.finish(&mut out_a);
            b.finish(&mut out_b);
            proptest::prop_assert_eq!(out_a, out_b);
        }
    }

    #[test]
    fn bits_round_trip_all_widths() {
        let mut w = BitWriter::default();
        for n in 0..=64u32 {
            w.write(u64::MAX.wrapping_mul(n as u64 + 7), n);
        }
        let mut out = Vec::new();
        w.copy_to(&mut out);
        assert_eq!(out.len(), w.byte_len());
        let mut r = BitReader::new(&out);
        for n in 0..=64u32 {
            let v = u64::MAX.wrapping_mul(n as u64 + 7);
            let want = if n == 64 { v } else { v & ((1u64 << n) - 1) };
            assert_eq!(r.read(n).unwrap(), want, "width {n}");
        }
    }

    #[test]
    fn reading_past_end_is_an_error() {
        let mut r = BitReader::new(&[0xff]);
        assert_eq!(r.read(8).unwrap(), 0xff);
        assert!(r.read(1).is_err());
    }

    #[test]
    fn pack_round_trip() {
        for width in 0..=64u32 {
            let vals: Vec<u64> = (0..37u64)
                .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
                .map(|v| {
                    if width == 64 {
                        v
                    } else {
                        v & ((1u64 << width) - 1)
                    }
                })
                .collect();
            let mut out = Vec::new();
            pack(vals.iter().copied(), width, &mut out);
            assert_eq!(out.len(), packed_len(vals.len(), width));
            assert_eq!(out.len(), packed_len(vals.len(), width), "width {width}");
        }
    }

    #[test]
    fn varints() {
        let edges = (1..10).flat_map(|g| [(1u64 << (7 * g)) - 1, 1u64 << (7 * g)]);
        for v in [0u64, 1, 127, 128, 300, u64::MAX].into_iter().chain(edges) {
            let mut out = Vec::new();
            put_uvarint(&mut out, v);
            assert_eq!(out.len(), uvarint_len(v));
            assert_eq!(ByteReader::new(&out).uvarint().unwrap(), v);
            let mut w = BitWriter::default();
            w.write_uvarint(v);
            let mut b = Vec::new();
            w.copy_to(&mut b);
            assert_eq!(b, out);
            assert_eq!(BitReader::new(&b).read_uvarint().unwrap(), v);
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
    }
}
