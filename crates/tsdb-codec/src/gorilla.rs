//! The Gorilla streams: delta-of-delta timestamps with variable buckets and XOR
//! floats with leading/trailing-zero window reuse (Pelkonen et al., VLDB 2015).
//!
//! These are the *appendable* forms: an open chunk is always held as these two bit
//! streams, so a head series costs only its compressed bytes. Sealing may transcode
//! to a denser form (see `pack` and `values`).
//!
//! ## Timestamp buckets
//! The paper's buckets (7/9/12/32 bits) are tuned for second timestamps, and
//! Prometheus' (14/17/20/64) spend 16+ bits on any jitter at all. Ours are for
//! milliseconds: scrapes at a fixed interval with a millisecond or two of jitter give
//! delta-of-deltas within ±8 (4 bits), ±5 ms jitter mostly within ±64 (7 bits); a
//! late or missed scrape moves by hundreds of ms or whole intervals (10 and 16 bits).
//! The widths were chosen by measuring bits per timestamp over jitters from 0 to
//! ±100 ms with missed scrapes (`cargo run --release --example codec_report`): about
//! 5.2 bits at ±1 ms against 7.6 (paper) and 13.3 (Prometheus).
//!
//! | prefix   | payload bits | delta-of-delta range   |
//! |----------|--------------|------------------------|
//! | `0`      | 0            | 0                      |
//! | `10`     | 4            | −8 ..= 7               |
//! | `110`    | 7            | −64 ..= 63             |
//! | `1110`   | 10           | −512 ..= 511           |
//! | `11110`  | 16           | −32 768 ..= 32 767     |
//! | `111110` | 32           | −2³¹ ..= 2³¹−1         |
//! | `111111` | 64           | any (wrapping 64-bit)  |

use crate::bits::{BitReader, BitWriter, unzigzag, zigzag};
use crate::error::{CodecError, Result};

/// Payload widths of the buckets after the zero bucket, in prefix order.
pub(crate) const DOD_BUCKET_BITS: [u32; 6] = [4, 7, 10, 16, 32, 64];

/// Length of the all-ones prefix of the last bucket.
const LAST_PREFIX_LEN: u32 = DOD_BUCKET_BITS.len() as u32;

/// Appends timestamps as t0 (zigzag varint), first delta (varint), then
/// delta-of-deltas in buckets.
#[derive(Clone, Debug, Default)]
pub(crate) struct TimestampWriter {
    pub(crate) w: BitWriter,
    /// The last timestamp written (the encoder's order check reads it too).
    pub(crate) last_t: i64,
    last_delta: u64,
    /// Set once a delta differs from the first one: until then the timestamps are
    /// `t0 + i × delta` and sealing needs no decoding to pack them.
    irregular: bool,
}

impl TimestampWriter {
    /// The constant delta between consecutive timestamps, if every delta so far
    /// was the same (needs two or more timestamps).
    pub(crate) fn constant_delta(&self, n: usize) -> Option<i64> {
        (n >= 2 && !self.irregular).then_some(self.last_delta as i64)
    }

    /// Appends `t`; `n` is the number of timestamps already written and `t` must be
    /// greater than the last one (the caller checks).
    #[inline]
    pub(crate) fn push(&mut self, n: usize, t: i64) {
        match n {
            0 => self.w.write_uvarint(zigzag(t)),
            1 => {
                let delta = t.wrapping_sub(self.last_t) as u64;
                self.w.write_uvarint(delta);
                self.last_delta = delta;
            }
            _ => {
                self.push_next(t);
                return;
            }
        }
        self.last_t = t;
    }

    /// Appends `t` after two or more timestamps (`t` greater than the last one).
    #[inline(always)]
    pub(crate) fn push_next(&mut self, t: i64) {
        let delta = t.wrapping_sub(self.last_t) as u64;
        let dod = delta.wrapping_sub(self.last_delta) as i64;
        self.last_delta = delta;
        self.last_t = t;
        if dod == 0 {
            self.w.write_bits(0, 1);
        } else {
            self.irregular = true;
            self.push_dod(dod);
        }
    }

    /// Writes a non-zero delta-of-delta in the smallest bucket that holds it.
    #[inline]
    fn push_dod(&mut self, dod: i64) {
        match narrow_bucket(dod) {
            Some((plen, bits)) => {
                // Prefix (`plen − 1` ones and a zero) and payload in one write (at
                // most 6 + 32 bits).
                let prefix = (1u64 << plen) - 2;
                let payload = dod as u64 & ((1u64 << bits) - 1);
                self.w.write_bits((prefix << bits) | payload, plen + bits);
            }
            None => {
                // The last bucket's prefix is all ones, with no terminating zero.
                self.w
                    .write_bits((1u64 << LAST_PREFIX_LEN) - 1, LAST_PREFIX_LEN);
                self.w.write(dod as u64, 64);
            }
        }
    }
}

/// The narrowest bucket but the last that holds a non-zero delta-of-delta: its
/// prefix length and payload bits. `None`: only the last one (any value, 64 bits)
/// holds it. The writer and [`timestamp_stream_bits`] both choose by it.
#[inline(always)]
fn narrow_bucket(dod: i64) -> Option<(u32, u32)> {
    let (_, narrower) = DOD_BUCKET_BITS.split_last().unwrap_or((&64, &[]));
    for (plen, &bits) in (2..).zip(narrower) {
        if fits_signed(dod, bits) {
            return Some((plen, bits));
        }
    }
    None
}

/// Bits a non-zero delta-of-delta takes in its bucket: prefix and payload.
#[inline(always)]
fn dod_bits(dod: i64) -> u32 {
    narrow_bucket(dod).map_or(LAST_PREFIX_LEN + 64, |(plen, bits)| plen + bits)
}

x86_64_builds! {
    /// The exact length in bits of the delta-of-delta stream a [`TimestampWriter`]
    /// writes for `ts`, counted without writing it: whole columns compare it with
    /// their packed form and build the stream only when it is the smaller.
    pub(crate) fn timestamp_stream_bits(ts: &[i64]) -> usize = timestamp_stream_bits_in;
}

/// [`timestamp_stream_bits`], inlined into each of its builds.
#[inline(always)]
fn timestamp_stream_bits_in(ts: &[i64]) -> usize {
    let varint_bits = |v: u64| 8 * crate::bits::uvarint_len(v);
    let (Some(&t0), Some(&t1)) = (ts.first(), ts.get(1)) else {
        return ts.first().map_or(0, |&t0| varint_bits(zigzag(t0)));
    };
    let first_delta = t1.wrapping_sub(t0) as u64;
    let mut bits = varint_bits(zigzag(t0)) + varint_bits(first_delta);
    let mut last_delta = first_delta;
    for w in ts.windows(2).skip(1) {
        if let [a, b] = w {
            let delta = b.wrapping_sub(*a) as u64;
            let dod = delta.wrapping_sub(last_delta) as i64;
            last_delta = delta;
            bits += if dod == 0 { 1 } else { dod_bits(dod) as usize };
        }
    }
    bits
}

#[inline(always)]
fn fits_signed(v: i64, bits: u32) -> bool {
    let half = 1i64 << (bits - 1);
    (-half..half).contains(&v)
}

#[inline(always)]
fn sign_extend(v: u64, bits: u32) -> i64 {
    if bits == 64 {
        v as i64
    } else {
        let shift = 64 - bits;
        ((v << shift) as i64) >> shift
    }
}

/// Decodes `n` timestamps from a delta-of-delta stream, appending to `out`.
/// Rejects streams whose timestamps do not strictly increase.
pub(crate) fn decode_timestamps(data: &[u8], n: usize, out: &mut Vec<i64>) -> Result<()> {
    if n == 0 {
        return Ok(());
    }
    let mut r = BitReader::new(data);
    let mut t = unzigzag(r.read_uvarint()?);
    out.push(t);
    if n == 1 {
        return Ok(());
    }
    let mut delta = r.read_uvarint()?;
    t = advance(t, delta, r.position())?;
    out.push(t);
    // The position lives in a register from here on; every advance is checked
    // against the length before it is taken.
    let (mut pos, len_bits) = (r.position(), r.len_bits());
    let mut left = n - 2;
    while left > 0 {
        let w = r.peek_at(pos);
        if w >> 63 == 0 {
            // A run of unchanged intervals, one `0` bit each (a regular scrape is
            // mostly runs): the window holds at least 57 bits.
            let run = (w.leading_zeros().min(57) as usize).min(left);
            let avail = run.min(len_bits.saturating_sub(pos));
            if avail == 0 {
                return Err(CodecError::Truncated { bit: pos });
            }
            if delta == 0 {
                return Err(not_increasing(pos + 1));
            }
            let last = delta
                .checked_mul(avail as u64)
                .and_then(|span| t.checked_add_unsigned(span))
                .ok_or_else(|| overflows(pos + avail))?;
            out.extend((1..=avail as u64).map(|k| t.wrapping_add_unsigned(delta.wrapping_mul(k))));
            t = last;
            pos += avail;
            if avail < run {
                return Err(CodecError::Truncated { bit: pos });
            }
            left -= run;
            continue;
        }
        let ones = w.leading_ones().min(LAST_PREFIX_LEN);
        let plen = if ones == LAST_PREFIX_LEN {
            LAST_PREFIX_LEN
        } else {
            ones + 1
        };
        let bits = match DOD_BUCKET_BITS.get(ones as usize - 1) {
            Some(&b) => b,
            None => 64,
        };
        let end = pos + (plen + bits) as usize;
        if end > len_bits {
            return Err(CodecError::Truncated { bit: pos });
        }
        let raw = if plen + bits <= 57 {
            // Prefix and value in this window (every bucket but the 64-bit one).
            (w << plen) >> (64 - bits)
        } else {
            let at = pos + plen as usize;
            (r.peek_at(at) >> 32) << 32 | r.peek_at(at + 32) >> 32
        };
        delta = delta.wrapping_add(sign_extend(raw, bits) as u64);
        pos = end;
        t = advance(t, delta, pos)?;
        out.push(t);
        left -= 1;
    }
    Ok(())
}

#[inline(always)]
fn advance(t: i64, delta: u64, at: usize) -> Result<i64> {
    if delta == 0 {
        return Err(not_increasing(at));
    }
    t.checked_add_unsigned(delta).ok_or_else(|| overflows(at))
}

/// A zero interval, found reading up to bit `at`.
fn not_increasing(at: usize) -> CodecError {
    CodecError::Corrupt {
        offset: at / 8,
        what: "timestamps not strictly increasing",
    }
}

/// A timestamp past `i64::MAX`, found reading up to bit `at`.
fn overflows(at: usize) -> CodecError {
    CodecError::Corrupt {
        offset: at / 8,
        what: "timestamp overflows i64",
    }
}

/// Appends f64 bit patterns as Gorilla XOR.
#[derive(Clone, Debug, Default)]
pub(crate) struct XorWriter {
    pub(crate) w: BitWriter,
    last: u64,
    lead: u8,
    sig: u8,
}

/// Control bits that a new window costs over reusing the previous one.
const NEW_WINDOW_OVERHEAD: u32 = 11;

impl XorWriter {
    /// The bits of every value when all `n` written are equal (`n` ≥ 1): the
    /// stream is then the first value's 64 bits and a 0 bit for each repeat, as
    /// any other value costs 3 bits or more.
    pub(crate) fn flat(&self, n: usize) -> Option<u64> {
        (n >= 1 && self.w.bit_len() == 63 + n).then_some(self.last)
    }

    #[inline]
    pub(crate) fn push(&mut self, n: usize, bits: u64) {
        if n == 0 {
            self.w.write(bits, 64);
            self.last = bits;
            return;
        }
        self.push_next(bits);
    }

    /// Appends a value after the first.
    #[inline(always)]
    pub(crate) fn push_next(&mut self, bits: u64) {
        let x = bits ^ self.last;
        self.last = bits;
        if x == 0 {
            self.w.write_bits(0, 1);
            return;
        }
        let (lead, trail, sig) = window_of(x);
        let (plead, psig) = (u32::from(self.lead), u32::from(self.sig));
        let ptrail = 64 - plead - psig;
        // Control bits and value go out in one write when they fit in 64 bits (the
        // usual case; the bits are the same as writing them one after another).
        if reuses_window(lead, trail, sig, plead, psig) {
            if psig <= 62 {
                self.w.write_bits((0b10 << psig) | (x >> ptrail), psig + 2);
            } else {
                self.w.write(0b10, 2);
                self.w.write(x >> ptrail, psig);
            }
        } else {
            self.lead = lead as u8;
            self.sig = sig as u8;
            let control = (0b11 << 11) | (u64::from(lead) << 6) | u64::from(sig & 63);
            if sig <= 51 {
                self.w.write_bits((control << sig) | (x >> trail), sig + 13);
            } else {
                self.w.write(control, 13);
                self.w.write(x >> trail, sig);
            }
        }
    }
}

/// The window of a non-zero XOR: its leading zeros (at most 31, what the control
/// bits hold), trailing zeros and significant bits.
#[inline(always)]
fn window_of(x: u64) -> (u32, u32, u32) {
    let lead = x.leading_zeros().min(31);
    let trail = x.trailing_zeros();
    (lead, trail, 64 - lead - trail)
}

/// Whether a XOR with this window is written in the previous one (`plead`,
/// `psig`): when it fits in it and doing so is no larger than describing a new
/// window (a refinement of the paper's rule).
#[inline(always)]
fn reuses_window(lead: u32, trail: u32, sig: u32, plead: u32, psig: u32) -> bool {
    // Not short-circuit: one branch on the result, or none where it is counted.
    (psig > 0)
        & (lead >= plead)
        & (trail + plead + psig >= 64)
        & (psig <= sig + NEW_WINDOW_OVERHEAD)
}

x86_64_builds! {
    /// The exact length in bits of the XOR stream an [`XorWriter`] writes for
    /// `values`, counted without writing it: whole columns compare it with their
    /// packed form and build the stream only when it is the smaller.
    pub(crate) fn xor_stream_bits(values: &[f64]) -> usize = xor_stream_bits_in;
}

/// [`xor_stream_bits`], inlined into each of its builds.
#[inline(always)]
fn xor_stream_bits_in(values: &[f64]) -> usize {
    let Some((first, rest)) = values.split_first() else {
        return 0;
    };
    let (mut last, mut plead, mut psig) = (first.to_bits(), 0u32, 0u32);
    let mut bits = 64;
    for v in rest {
        let x = v.to_bits() ^ last;
        last = v.to_bits();
        if x == 0 {
            bits += 1;
            continue;
        }
        let (lead, trail, sig) = window_of(x);
        if reuses_window(lead, trail, sig, plead, psig) {
            bits += psig as usize + 2;
        } else {
            (plead, psig) = (lead, sig);
            bits += sig as usize + 13;
        }
    }
    bits
}

/// Decodes `n` XOR-encoded values, appending their bit patterns as f64 to `out`.
pub(crate) fn decode_xor(data: &[u8], n: usize, out: &mut Vec<f64>) -> Result<()> {
    if n == 0 {
        return Ok(());
    }
    let mut r = BitReader::new(data);
    let mut v = r.read(64)?;
    out.push(f64::from_bits(v));
    // The position lives in a register from here on; every advance is checked
    // against the length before it is taken.
    let (mut pos, len_bits) = (r.position(), r.len_bits());
    let truncated = |pos: usize| CodecError::Truncated { bit: pos };
    let (mut sig, mut trail) = (64u32, 0u32);
    let mut left = n - 1;
    while left > 0 {
        let w = r.peek_at(pos);
        if w >> 63 == 0 {
            // A run of repeats, one `0` bit each (a step or sparse series is mostly
            // runs): the window holds at least 57 bits.
            let run = (w.leading_zeros().min(57) as usize).min(left);
            if pos + run > len_bits {
                return Err(truncated(pos));
            }
            pos += run;
            out.extend(std::iter::repeat_n(f64::from_bits(v), run));
            left -= run;
            continue;
        }
        // A new window (`11`) or the previous one (`10`), chosen without a branch:
        // which one comes next is data, not a pattern a predictor learns.
        let new_window = (w >> 62) & 1 == 1;
        let lead = ((w >> 57) & 31) as u32;
        let s = match ((w >> 51) & 63) as u32 {
            0 => 64,
            s => s,
        };
        if new_window && lead + s > 64 {
            return Err(CodecError::Corrupt {
                offset: pos / 8,
                what: "XOR window wider than 64 bits",
            });
        }
        trail = if new_window { 64 - lead - s } else { trail };
        sig = if new_window { s } else { sig };
        let ctl = if new_window { 13 } else { 2 };
        let end = pos + (ctl + sig) as usize;
        if end > len_bits {
            return Err(truncated(pos));
        }
        let x = if ctl + sig <= 57 {
            // The value's bits are in the same window (ctl + sig ≤ 57 here).
            (w << ctl) >> (64 - sig)
        } else {
            // Up to 64 bits after the control bits: two windows.
            let at = pos + ctl as usize;
            let hi = sig.saturating_sub(32);
            let lo = sig - hi;
            let high = if hi == 0 {
                0
            } else {
                r.peek_at(at) >> (64 - hi)
            };
            let low = r.peek_at(at + hi as usize) >> (64 - lo);
            (high << lo) | low
        };
        pos = end;
        v ^= x << trail;
        out.push(f64::from_bits(v));
        left -= 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts_round_trip(ts: &[i64]) -> usize {
        let mut w = TimestampWriter::default();
        for (i, &t) in ts.iter().enumerate() {
            w.push(i, t);
        }
        let mut bytes = Vec::new();
        w.w.copy_to(&mut bytes);
        let mut out = Vec::new();
        decode_timestamps(&bytes, ts.len(), &mut out).unwrap();
        assert_eq!(out, ts);
        w.w.bit_len()
    }

    #[test]
    fn each_bucket_boundary_round_trips_with_its_width() {
        // (dod, bits the dod costs: prefix + payload)
        let cases: [(i64, usize); 15] = [
            (0, 1),
            (-8, 6),
            (7, 6),
            (-9, 10),
            (8, 10),
            (-64, 10),
            (63, 10),
            (64, 14),
            (-513, 21),
            (511, 14),
            (32_767, 21),
            (32_768, 38),
            (i32::MIN as i64, 38),
            (i32::MAX as i64 + 1, 70),
            (i32::MIN as i64 - 1, 70),
        ];
        let base = 1_700_000_000_000i64;
        for (dod, cost) in cases {
            let d1 = 1_000_000_000_000i64;
            let ts = [base, base + d1, base + d1 + d1 + dod];
            let header = ts_round_trip(&ts[..2]);
            assert_eq!(ts_round_trip(&ts) - header, cost, "dod {dod}");
        }
    }

    #[test]
    fn extreme_timestamps_round_trip() {
        ts_round_trip(&[i64::MIN, -1, 0, i64::MAX]);
        ts_round_trip(&[i64::MIN, i64::MAX]);
        ts_round_trip(&[i64::MIN, i64::MIN + 1, i64::MAX - 1, i64::MAX]);
    }

    /// The XOR format read one bit at a time, MSB first: what [`decode_xor`] must
    /// agree with on any bytes (values, and whether it fails).
    fn decode_xor_bitwise(data: &[u8], n: usize) -> Option<Vec<u64>> {
        let len = data.len() * 8;
        let mut pos = 0usize;
        let mut bits = |k: u32| -> Option<u64> {
            if pos + k as usize > len {
                return None;
            }
            let mut v = 0u64;
            for _ in 0..k {
                let b = (data[pos / 8] >> (7 - pos % 8)) & 1;
                v = (v << 1) | u64::from(b);
                pos += 1;
            }
            Some(v)
        };
        let mut out = Vec::new();
        if n == 0 {
            return Some(out);
        }
        let mut v = bits(64)?;
        out.push(v);
        let (mut sig, mut trail) = (64u32, 0u32);
        for _ in 1..n {
            if bits(1)? == 1 {
                if bits(1)? == 1 {
                    let lead = bits(5)? as u32;
                    let s = bits(6)? as u32;
                    sig = if s == 0 { 64 } else { s };
                    if lead + sig > 64 {
                        return None;
                    }
                    trail = 64 - lead - sig;
                }
                v ^= bits(sig)? << trail;
            }
            out.push(v);
        }
        Some(out)
    }

    /// The delta-of-delta decoder one field at a time through the bit reader:
    /// what [`decode_timestamps`] must agree with on any bytes.
    fn decode_timestamps_reference(data: &[u8], n: usize, out: &mut Vec<i64>) -> Result<()> {
        if n == 0 {
            return Ok(());
        }
        let mut r = BitReader::new(data);
        let mut t = unzigzag(r.read_uvarint()?);
        out.push(t);
        if n == 1 {
            return Ok(());
        }
        let mut delta = r.read_uvarint()?;
        t = advance(t, delta, r.position())?;
        out.push(t);
        for _ in 2..n {
            let w = r.peek_window();
            if w >> 63 == 0 {
                r.consume(1)?;
            } else {
                let ones = w.leading_ones().min(LAST_PREFIX_LEN);
                let plen = if ones == LAST_PREFIX_LEN {
                    LAST_PREFIX_LEN
                } else {
                    ones + 1
                };
                let bits = match DOD_BUCKET_BITS.get(ones as usize - 1) {
                    Some(&b) => b,
                    None => 64,
                };
                r.consume(plen)?;
                let dod = sign_extend(r.read(bits)?, bits);
                delta = delta.wrapping_add(dod as u64);
            }
            t = advance(t, delta, r.position())?;
            out.push(t);
        }
        Ok(())
    }

    /// Delta-of-deltas for every bucket: mostly none, small, or any at all.
    fn dods() -> impl proptest::strategy::Strategy<Value = Vec<i64>> {
        proptest::collection::vec(
            proptest::prop_oneof![
                3 => proptest::strategy::Just(0i64),
                2 => -8i64..8,
                1 => -100_000i64..100_000,
                1 => proptest::num::i64::ANY,
            ],
            0..150,
        )
    }

    /// The timestamps from `t0` whose first interval is `d0` and which then
    /// change by `dods` (wrapping), written; and the timestamps.
    fn write_dods(t0: i64, d0: i64, dods: &[i64]) -> (TimestampWriter, Vec<i64>) {
        let mut w = TimestampWriter::default();
        let (mut ts, mut t, mut d) = (Vec::new(), t0, d0);
        for (i, dod) in dods.iter().enumerate() {
            w.push(i, t);
            ts.push(t);
            d = d.wrapping_add(*dod);
            t = t.wrapping_add(d);
        }
        (w, ts)
    }

    proptest::proptest! {
        /// Any bytes, and streams written by the encoder then damaged: the decoder
        /// (runs of equal intervals, in-window and two-window values) gives what the
        /// field-by-field reading gives, and fails exactly when it does.
        #[test]
        fn timestamp_decoding_matches_the_reference(
            data in proptest::collection::vec(proptest::num::u8::ANY, 0..120),
            dods in dods(),
            t0 in proptest::num::i64::ANY,
            d0 in 0i64..1_000_000,
            cut in proptest::num::usize::ANY,
            flip in proptest::num::usize::ANY,
            n in 0usize..200,
        ) {
            let (w, _) = write_dods(t0, d0, &dods);
            let mut written = Vec::new();
            w.w.copy_to(&mut written);
            let mut damaged = written.clone();
            if !damaged.is_empty() {
                let at = flip % (damaged.len() * 8);
                damaged[at / 8] ^= 1 << (at % 8);
                damaged.truncate(cut % (damaged.len() + 1));
            }
            for (bytes, n) in [(&data, n), (&written, dods.len()), (&written, n), (&damaged, dods.len())] {
                let (mut want, mut got) = (Vec::new(), Vec::new());
                let w = decode_timestamps_reference(bytes, n, &mut want);
                let g = decode_timestamps(bytes, n, &mut got);
                match (w, g) {
                    (Ok(()), Ok(())) => proptest::prop_assert_eq!(&got, &want),
                    (Err(_), Err(_)) => {}
                    (w, g) => proptest::prop_assert!(false, "{:?} vs {:?}", w, g),
                }
            }
        }
    }

    proptest::proptest! {
        /// The sizes counted without writing are the written streams' lengths, to
        /// the bit: any timestamps (every bucket, wrapping), and values that
        /// repeat, move inside the window, leave it, or are anything at all.
        #[test]
        fn counted_stream_sizes_are_the_written_lengths(
            dods in dods(),
            t0 in proptest::num::i64::ANY,
            d0 in proptest::num::i64::ANY,
            steps in proptest::collection::vec(
                (0u8..4, proptest::num::u64::ANY, 0u32..64),
                0..150,
            ),
        ) {
            let (w, ts) = write_dods(t0, d0, &dods);
            proptest::prop_assert_eq!(timestamp_stream_bits_in(&ts), w.w.bit_len());
            crate::for_each_build(|| {
                proptest::prop_assert_eq!(timestamp_stream_bits(&ts), w.w.bit_len());
                Ok(())
            })?;

            let mut w = XorWriter::default();
            let (mut vs, mut last) = (Vec::new(), 0x4059_0000_0000_0000u64);
            for (i, &(kind, r, shift)) in steps.iter().enumerate() {
                last = match kind {
                    0 => last,
                    1 => last ^ (r >> shift),
                    2 => last ^ (r & ((1 << shift) - 1)),
                    _ => r,
                };
                w.push(i, last);
                vs.push(f64::from_bits(last));
            }
            proptest::prop_assert_eq!(xor_stream_bits_in(&vs), w.w.bit_len());
            crate::for_each_build(|| {
                proptest::prop_assert_eq!(xor_stream_bits(&vs), w.w.bit_len());
                Ok(())
            })?;
        }

        /// `flat` is the value exactly when every value written has the same bits
        /// (runs from a few patterns, NaN payloads and ±0 among them).
        #[test]
        fn a_flat_stream_is_told_by_its_length(
            picks in proptest::collection::vec(0usize..4, 1..200),
            pool in proptest::array::uniform4(proptest::prelude::any::<u64>()),
        ) {
            let pool = [pool[0], 0x7ff8_0000_0000_0001, 0, 1 << 63, pool[1], pool[2], pool[3]];
            for offset in 0..4 {
                let mixed: Vec<u64> = picks.iter().map(|&p| pool[p + offset]).collect();
                let flat = vec![pool[offset]; picks.len()];
                for bits in [mixed, flat] {
                    let mut w = XorWriter::default();
                    for (i, &b) in bits.iter().enumerate() {
                        w.push(i, b);
                    }
                    let all_equal = bits.iter().all(|&b| b == bits[0]);
                    proptest::prop_assert_eq!(w.flat(bits.len()), all_equal.then_some(bits[0]));
                }
            }
        }

        /// Any bytes: the decoder (runs of repeats, in-window and two-window values)
        /// gives what the bit-by-bit reading gives, and fails exactly when it does.
        #[test]
        fn xor_decoding_matches_a_bitwise_reader(
            data in proptest::collection::vec(proptest::num::u8::ANY, 0..120),
            sparse in proptest::collection::vec(0u8..4, 0..120),
            n in 0usize..300,
        ) {
            // Mostly-zero bytes give long runs of repeats.
            let sparse: Vec<u8> = sparse.iter().map(|&b| if b == 0 { 0xa5 } else { 0 }).collect();
            for bytes in [&data, &sparse] {
                let want = decode_xor_bitwise(bytes, n);
                let mut got = Vec::new();
                let res = decode_xor(bytes, n, &mut got);
                let got: Vec<u64> = got.iter().map(|v| v.to_bits()).collect();
                match (want, res) {
                    (Some(w), Ok(())) => proptest::prop_assert_eq!(got, w),
                    (None, Err(_)) => {}
                    (w, r) => proptest::prop_assert!(false, "{:?} vs {:?}", w.is_some(), r),
                }
            }
        }
    }

    #[test]
    fn xor_round_trip_special_values() {
        let vals = [
            0.0,
            -0.0,
            f64::NAN,
            f64::from_bits(0x7ff0_0000_0000_0002),
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE / 2.0,
            f64::MAX,
            f64::MIN,
            1.5,
            1.5,
            -2.25,
        ];
        let mut w = XorWriter::default();
        for (i, v) in vals.iter().enumerate() {
            w.push(i, v.to_bits());
        }
        let mut bytes = Vec::new();
        w.w.copy_to(&mut bytes);
        let mut out = Vec::new();
        decode_xor(&bytes, vals.len(), &mut out).unwrap();
        let a: Vec<u64> = vals.iter().map(|v| v.to_bits()).collect();
        let b: Vec<u64> = out.iter().map(|v| v.to_bits()).collect();
        assert_eq!(a, b);
    }
}
