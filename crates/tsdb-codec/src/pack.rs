//! Packed integer streams: a predictor (none, delta, delta-of-delta or a straight
//! line through the first and last value), frame-of-reference on the residuals, and
//! fixed-width bit packing with patched exceptions for the few residuals that do not
//! fit (a counter reset, a missed scrape).
//!
//! This is the dense form sealed chunks use for timestamps and for values that map
//! to integers (decimals, ordered float bits). It decodes with one unaligned load per
//! value and no branches on the data, which is what makes decode fast.
//!
//! Layout (all varints LEB128, `z` = zigzag):
//! ```text
//! u8 predictor | z-varint header values (0, 1 or 2 of them) | z-varint base | u8 width
//! | varint exceptions E | if E > 0: u8 exception width, E varint index gaps,
//!   E packed high parts | packed low parts (m × width bits, LSB first)
//! ```

use crate::bits::{ByteReader, pack, packed_len, put_uvarint, unpack, uvarint_len, zigzag};
use crate::error::{CodecError, Result};

/// How values are predicted before their residuals are packed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Predictor {
    /// Residual = value.
    None = 0,
    /// Residual = value − previous value.
    Delta = 1,
    /// Residual = delta − previous delta.
    DeltaOfDelta = 2,
    /// Residual = value − (first + i × slope), slope from the first and last value.
    Linear = 3,
}

impl Predictor {
    pub(crate) const ALL: [Predictor; 4] = [
        Predictor::None,
        Predictor::Delta,
        Predictor::DeltaOfDelta,
        Predictor::Linear,
    ];

    fn from_u8(b: u8) -> Option<Predictor> {
        Predictor::ALL.into_iter().find(|p| *p as u8 == b)
    }

    /// Values carried in the header before the residuals start.
    fn header_len(self, n: usize) -> usize {
        match self {
            Predictor::None => 0,
            Predictor::Delta | Predictor::Linear => {
                n.min(1) + usize::from(n > 1 && self == Predictor::Linear)
            }
            Predictor::DeltaOfDelta => n.min(2),
        }
    }
}

/// A chosen packing for one integer sequence.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    predictor: Predictor,
    header: [i64; 2],
    base: i64,
    width: u32,
    exc_width: u32,
    /// Residuals minus base, one per packed slot.
    offsets: Vec<u64>,
    /// Estimated encoded size in bytes.
    pub(crate) bytes: usize,
}

fn bit_len(v: u64) -> u32 {
    64 - v.leading_zeros()
}

/// Builds the plan for one predictor.
pub(crate) fn plan(xs: &[i64], predictor: Predictor) -> Plan {
    let n = xs.len();
    let mut header = [0i64; 2];
    let mut residuals: Vec<i64> = Vec::with_capacity(n);
    let first = xs.first().copied().unwrap_or(0);
    match predictor {
        Predictor::None => residuals.extend_from_slice(xs),
        Predictor::Delta => {
            header[0] = first;
            residuals.extend(xs.windows(2).map(|w| match w {
                [a, b] => b.wrapping_sub(*a),
                _ => 0,
            }));
        }
        Predictor::DeltaOfDelta => {
            header[0] = first;
            if let [a, b, ..] = xs {
                header[1] = b.wrapping_sub(*a);
            }
            residuals.extend(xs.windows(3).map(|w| match w {
                [a, b, c] => c.wrapping_sub(*b).wrapping_sub(b.wrapping_sub(*a)),
                _ => 0,
            }));
        }
        Predictor::Linear => {
            header[0] = first;
            if n > 1 {
                let last = xs.last().copied().unwrap_or(0);
                let slope = (i128::from(last) - i128::from(first)) / (n as i128 - 1);
                header[1] = slope as i64;
            }
            let slope = header[1];
            let mut pred = first;
            for &x in xs.iter().skip(1) {
                pred = pred.wrapping_add(slope);
                residuals.push(x.wrapping_sub(pred));
            }
        }
    }
    // Frame of reference: the base is the smallest residual, or, when a few residuals
    // sit far below the rest (a counter reset), the smallest of the rest; those few
    // then wrap around and become exceptions.
    let mut lowest = [i64::MAX; 4];
    for &r in &residuals {
        if r < lowest[3] {
            lowest[3] = r;
            lowest.sort_unstable();
        }
    }
    let mut best = for_plan(&residuals, lowest[0]);
    for (k, pair) in lowest.windows(2).enumerate() {
        let [prev, cand] = *pair else { continue };
        if k + 1 < residuals.len() && bit_len(cand.wrapping_sub(prev) as u64) > 8 {
            let p = for_plan(&residuals, cand);
            if p.bits < best.bits {
                best = p;
            }
        }
    }
    let header_bytes: usize = header
        .iter()
        .take(predictor.header_len(n))
        .map(|&h| uvarint_len(zigzag(h)))
        .sum();
    let bytes = 1 + header_bytes + uvarint_len(zigzag(best.base)) + 2 + best.bits.div_ceil(8);
    Plan {
        predictor,
        header,
        base: best.base,
        width: best.width,
        exc_width: best.max_width - best.width,
        offsets: residuals
            .iter()
            .map(|r| r.wrapping_sub(best.base) as u64)
            .collect(),
        bytes,
    }
}

/// Frame-of-reference cost of `residuals` against `base`.
struct ForPlan {
    base: i64,
    width: u32,
    max_width: u32,
    bits: usize,
}

fn for_plan(residuals: &[i64], base: i64) -> ForPlan {
    let mut hist = [0usize; 65];
    for &r in residuals {
        if let Some(h) = hist.get_mut(bit_len(r.wrapping_sub(base) as u64) as usize) {
            *h += 1;
        }
    }
    let max_w = hist.iter().rposition(|&c| c > 0).unwrap_or(0) as u32;
    let m = residuals.len();
    // The width that minimises packed bits + exception cost.
    let (mut best_w, mut best_bits) = (max_w, m * max_w as usize);
    let mut above = 0usize; // values wider than w
    for w in (0..max_w).rev() {
        above += hist.get(w as usize + 1).copied().unwrap_or(0);
        let bits = m * w as usize + usize::from(above > 0) * 8 + above * (8 + (max_w - w) as usize);
        if bits < best_bits {
            best_bits = bits;
            best_w = w;
        }
    }
    ForPlan {
        base,
        width: best_w,
        max_width: max_w,
        bits: best_bits,
    }
}

/// The smallest plan among `predictors`.
pub(crate) fn best_plan(xs: &[i64], predictors: &[Predictor]) -> Option<Plan> {
    predictors
        .iter()
        .map(|&p| plan(xs, p))
        .min_by_key(|p| p.bytes)
}

/// Serializes a plan.
pub(crate) fn write(plan: &Plan, n: usize, out: &mut Vec<u8>) {
    if n == 0 {
        return;
    }
    out.push(plan.predictor as u8);
    for &h in plan.header.iter().take(plan.predictor.header_len(n)) {
        put_uvarint(out, zigzag(h));
    }
    put_uvarint(out, zigzag(plan.base));
    out.push(plan.width as u8);
    let limit = if plan.width >= 64 {
        u64::MAX
    } else {
        (1u64 << plan.width) - 1
    };
    let exceptions: Vec<(usize, u64)> = plan
        .offsets
        .iter()
        .enumerate()
        .filter(|(_, o)| **o > limit)
        .map(|(i, o)| (i, *o))
        .collect();
    put_uvarint(out, exceptions.len() as u64);
    if !exceptions.is_empty() {
        out.push(plan.exc_width as u8);
        let mut prev = 0usize;
        for &(i, _) in &exceptions {
            put_uvarint(out, (i - prev) as u64);
            prev = i;
        }
        let w = plan.width;
        pack(exceptions.iter().map(|&(_, o)| o >> w), plan.exc_width, out);
    }
    pack(plan.offsets.iter().copied(), plan.width, out);
}

fn corrupt(r: &ByteReader<'_>, what: &'static str) -> CodecError {
    CodecError::Corrupt {
        offset: r.position(),
        what,
    }
}

/// Decodes `n` integers written by [`write`], appending them to `out`.
/// `scratch` is reused between calls to avoid allocation.
pub(crate) fn read(
    r: &mut ByteReader<'_>,
    n: usize,
    out: &mut Vec<i64>,
    scratch: &mut Vec<u64>,
) -> Result<()> {
    if n == 0 {
        return Ok(());
    }
    let p = r.u8()?;
    let predictor = Predictor::from_u8(p).ok_or_else(|| corrupt(r, "unknown predictor"))?;
    let mut header = [0i64; 2];
    let hl = predictor.header_len(n);
    for h in header.iter_mut().take(hl) {
        *h = r.varint()?;
    }
    let m = n - hl.min(n) + usize::from(predictor == Predictor::Linear && n > 1);
    let base = r.varint()?;
    let width = u32::from(r.u8()?);
    if width > 64 {
        return Err(corrupt(r, "packed width over 64"));
    }
    let exc = usize::try_from(r.uvarint()?).map_err(|_| corrupt(r, "exception count"))?;
    if exc > m {
        return Err(corrupt(r, "more exceptions than values"));
    }
    scratch.clear();
    scratch.resize(m, 0);
    let mut exc_at: Vec<usize> = Vec::new();
    let mut exc_width = 0;
    if exc > 0 {
        exc_width = u32::from(r.u8()?);
        if width + exc_width > 64 {
            return Err(corrupt(r, "exception width over 64"));
        }
        exc_at.reserve(exc);
        let mut at = 0usize;
        for k in 0..exc {
            let gap = usize::try_from(r.uvarint()?).map_err(|_| corrupt(r, "exception index"))?;
            at = at
                .checked_add(gap)
                .ok_or_else(|| corrupt(r, "exception index"))?;
            if at >= m || (k > 0 && gap == 0) {
                return Err(corrupt(r, "exception index out of order or range"));
            }
            exc_at.push(at);
        }
    }
    let highs = r.take(packed_len(exc, exc_width))?;
    let lows = r.take(packed_len(m, width))?;
    unpack(lows, m, width, |i, v| {
        if let Some(s) = scratch.get_mut(i) {
            *s = v;
        }
    });
    unpack(highs, exc, exc_width, |k, v| {
        if let Some(s) = exc_at.get(k).and_then(|&i| scratch.get_mut(i)) {
            *s |= v << width;
        }
    });
    out.reserve(n);
    match predictor {
        Predictor::None => out.extend(scratch.iter().map(|&o| base.wrapping_add(o as i64))),
        Predictor::Delta => {
            let mut x = header[0];
            out.push(x);
            out.extend(scratch.iter().map(|&o| {
                x = x.wrapping_add(base.wrapping_add(o as i64));
                x
            }));
        }
        Predictor::DeltaOfDelta => {
            let mut x = header[0];
            out.push(x);
            if n > 1 {
                let mut d = header[1];
                x = x.wrapping_add(d);
                out.push(x);
                out.extend(scratch.iter().map(|&o| {
                    d = d.wrapping_add(base.wrapping_add(o as i64));
                    x = x.wrapping_add(d);
                    x
                }));
            }
        }
        Predictor::Linear => {
            let (first, slope) = (header[0], header[1]);
            out.push(first);
            let mut pred = first;
            out.extend(scratch.iter().map(|&o| {
                pred = pred.wrapping_add(slope);
                pred.wrapping_add(base.wrapping_add(o as i64))
            }));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(xs: &[i64]) -> usize {
        let mut sizes = Vec::new();
        for p in Predictor::ALL {
            let plan = plan(xs, p);
            let mut out = Vec::new();
            write(&plan, xs.len(), &mut out);
            let mut got = Vec::new();
            let mut r = ByteReader::new(&out);
            read(&mut r, xs.len(), &mut got, &mut Vec::new()).unwrap();
            assert_eq!(got, xs, "{p:?}");
            assert_eq!(r.position(), out.len(), "{p:?} consumed all");
            sizes.push(out.len());
        }
        sizes.into_iter().min().unwrap()
    }

    #[test]
    fn small_sequences() {
        for n in 0..5 {
            round_trip(&(0..n).map(|i| i * 7 - 3).collect::<Vec<_>>());
        }
    }

    #[test]
    fn extremes_round_trip() {
        round_trip(&[i64::MIN, i64::MAX, 0, i64::MIN, -1, i64::MAX]);
        round_trip(&[i64::MAX, i64::MIN]);
    }

    #[test]
    fn regular_sequence_is_tiny() {
        let xs: Vec<i64> = (0..120).map(|i| 1_700_000_000_000 + i * 10_000).collect();
        assert!(round_trip(&xs) <= 16);
    }

    #[test]
    fn a_reset_becomes_one_exception() {
        let mut xs: Vec<i64> = (0..120).map(|i| 5_000 + i * 37 + (i * i) % 11).collect();
        for x in xs.iter_mut().skip(60) {
            *x -= 5_000;
        }
        // 119 deltas of ~4 bits, one exception: well under 2 bytes per value.
        assert!(round_trip(&xs) < 90);
    }
}
