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
//!
//! Format version 2 adds two codings of the residuals, flagged in the predictor byte:
//! - *constant* (`0x20`): every residual equals the base, which follows the header
//!   values; nothing else (a fixed scrape interval, a flat line);
//! - *Rice* (`0x40`): `u8 k | 0x40 if a base follows`, `[z-varint base]`,
//!   `[varint multiplier]`, then per slot `zigzag((r − base) / multiplier)` as a Rice
//!   code with parameter `k`. Residuals of real gauges are bell-shaped around zero,
//!   not uniform over a range: fixed-width packing spends the width of the widest
//!   residual on every slot, while a Rice code spends about log2 of the typical one
//!   (within 0.1 bit of the entropy of a Gaussian, ~0.7 bit below the packed width).
//!   It is chosen only when it is smaller, since it decodes slower than packing.
//!
//! Format version 3 keeps the same Rice bits in another order: every slot's low `k`
//! bits first, packed, then the quotients in unary (see [`write_rice`]). The low bits
//! then unpack like any packed stream and the quotients are the gaps between set
//! bits, which decodes faster than codes laid end to end (no chain from a code's length
//! to where the next one starts).
//!
//! Format version 4 adds the *sparse* coding (`0x10`): every residual equals the
//! base but a few exceptions, stored as index gaps and zigzag-mapped differences
//! from the base (divided by a common factor when that is smaller), with no
//! packed slots: `z-varint base | [varint multiplier] | varint (E << 4 | gap
//! width) | if E > 0: u8 width, E gaps × gap width bits, then E × width bits`. A
//! gauge that holds and steps up or down, a level with moves both ways and a
//! counter reset cost a few bits a step and nothing a sample; frame of reference
//! would make a step down as wide as the widest step up, or wrap it into a 64-bit
//! exception.
//! It decodes as packing at width zero does: runs filled, exceptions added.

use crate::bits::{
    ByteReader, LsbWriter, all_equal, pack, pack_slice, packed_len, put_uvarint, unzigzag,
    uvarint_len, zero_padded_prefix, zigzag,
};
use crate::error::{CodecError, Result};
use crate::scratch::Scratch;

/// Set in the predictor byte when a common factor follows the base.
const MULTIPLIER_FLAG: u8 = 0x80;
/// Format v2: set in the predictor byte when the residuals are Rice-coded.
const RICE_FLAG: u8 = 0x40;
/// Format v2: set in the predictor byte when every residual equals the base.
const CONSTANT_FLAG: u8 = 0x20;
/// Format v4: set in the predictor byte when every residual equals the base but
/// a few, listed with their signed differences from it.
const SPARSE_FLAG: u8 = 0x10;
/// Set in a Rice stream's parameter byte when a base follows.
const RICE_BASE_FLAG: u8 = 0x40;
/// Rice parameters above this are "wide": slower to decode (a load per code).
const RICE_WIDE_K: u32 = 24;
/// Wide Rice coding must save at least 1/16 of a packed stream's bytes.
const RICE_WIDE_MIN_GAIN: usize = 16;
/// Largest Rice parameter (six bits of the parameter byte).
const MAX_RICE_K: u32 = 63;
/// A Rice quotient of this many zero bits or more is escaped: the zeros, six bits
/// of `len − 1`, then the value itself in `len` bits. Bounds a slot's cost for an
/// outlier (a counter reset) at 16 + 6 + 64 bits instead of a run of zeros.
pub(crate) const RICE_ESCAPE: u32 = 16;

/// The chunk format version a packed stream is written or read in: each adds
/// codings, and a reader refuses those of later versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Format {
    /// Packing only.
    V1 = 1,
    /// Adds the constant and (interleaved) Rice codings.
    V2 = 2,
    /// Rice codes split into their low bits, packed, and their quotients, unary.
    V3 = 3,
    /// Adds the sparse coding.
    V4 = 4,
}

/// How a plan codes its residuals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Coding {
    /// Frame of reference and fixed-width packing: slots of `width` bits, and
    /// `exc_width` more bits for each patched exception.
    Packed { width: u32, exc_width: u32 },
    /// Every residual equals the base (format v2).
    Constant,
    /// Rice codes with this parameter (format v2).
    Rice(u32),
    /// Every residual equals the base but the exceptions, whose signed
    /// differences from it (zigzag-mapped, divided by the multiplier) are packed
    /// at this width (format v4).
    Sparse(u32),
}

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
    coding: Coding,
    header: [i64; 2],
    base: i64,
    /// Common factor divided out of every offset (1: none).
    multiplier: u64,
    /// Residuals minus base, divided by the multiplier, one per packed slot (for
    /// Rice coding: zigzag-mapped; for sparse coding: each exception's slot and
    /// its zigzag-mapped value, in slot order).
    offsets: Scratch<u64>,
    /// Estimated encoded size in bytes.
    pub(crate) bytes: usize,
}

pub(crate) fn bit_len(v: u64) -> u32 {
    64 - v.leading_zeros()
}

/// Builds the plan for one predictor.
#[cfg(test)]
pub(crate) fn plan(xs: &[i64], predictor: Predictor) -> Plan {
    let mut residuals = Scratch::with_capacity(xs.len());
    let header = residuals_into(xs, predictor, &mut residuals);
    let range = range_of(&residuals);
    plan_residuals(residuals, header, predictor, xs.len(), range)
}

/// Bytes of a stream's predictor byte and header values.
#[inline(always)]
fn prefix_len(predictor: Predictor, header: [i64; 2], n: usize) -> usize {
    let header_bytes: usize = header
        .iter()
        .take(predictor.header_len(n))
        .map(|&h| uvarint_len(zigzag(h)))
        .sum();
    1 + header_bytes
}

/// The smallest and largest of `xs` (`(i64::MAX, i64::MIN)` when empty).
#[inline(always)]
fn range_of(xs: &[i64]) -> (i64, i64) {
    xs.iter()
        .fold((i64::MAX, i64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)))
}

/// Replaces `out` with the residuals of `predictor` over `xs`; returns the header
/// values.
#[inline(always)]
fn residuals_into(xs: &[i64], predictor: Predictor, out: &mut Vec<i64>) -> [i64; 2] {
    let n = xs.len();
    let mut header = [0i64; 2];
    out.clear();
    let first = xs.first().copied().unwrap_or(0);
    match predictor {
        Predictor::None => out.extend_from_slice(xs),
        // Zips of shifted slices rather than windows: counted loops without a
        // match per value, which the compiler vectorizes.
        Predictor::Delta => {
            header[0] = first;
            let next = xs.get(1..).unwrap_or_default();
            out.extend(next.iter().zip(xs).map(|(b, a)| b.wrapping_sub(*a)));
        }
        Predictor::DeltaOfDelta => {
            header[0] = first;
            if let [a, b, ..] = xs {
                header[1] = b.wrapping_sub(*a);
            }
            let (next, after) = (
                xs.get(1..).unwrap_or_default(),
                xs.get(2..).unwrap_or_default(),
            );
            out.extend(
                after
                    .iter()
                    .zip(next)
                    .zip(xs)
                    .map(|((c, b), a)| c.wrapping_sub(*b).wrapping_sub(b.wrapping_sub(*a))),
            );
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
            out.extend(xs.iter().skip(1).map(|&x| {
                pred = pred.wrapping_add(slope);
                x.wrapping_sub(pred)
            }));
        }
    }
    header
}

/// The plan for `residuals` of `predictor` over `n` values; `range` holds the
/// smallest and largest residual.
#[inline(always)]
fn plan_residuals(
    residuals: Scratch<i64>,
    header: [i64; 2],
    predictor: Predictor,
    n: usize,
    range: (i64, i64),
) -> Plan {
    // Frame of reference: the base is the smallest residual, or, when a few residuals
    // sit far below the rest (a counter reset), the smallest of the rest; those few
    // then wrap around and become exceptions.
    let lowest = four_lowest(&residuals);
    let mut bases = [lowest[0]; 4];
    let mut count = 1;
    for (k, pair) in lowest.windows(2).enumerate() {
        let [prev, cand] = *pair else { continue };
        if k + 1 < residuals.len() && bit_len(cand.wrapping_sub(prev) as u64) > 8 {
            if let Some(b) = bases.get_mut(count) {
                *b = cand;
            }
            count += 1;
        }
    }
    let best = best_for_plan(&residuals, bases, count);
    let mut offsets: Scratch<u64> = residuals
        .iter()
        .map(|r| r.wrapping_sub(best.base) as u64)
        .collect();
    // A common factor of the offsets (byte counts in pages, durations in whole
    // seconds, timestamps in seconds) is divided out: each slot then needs
    // log2(factor) fewer bits.
    let multiplier = common_factor(offsets.iter().copied()).max(1);
    let (mut width, mut max_width, mut bits) = (best.width, best.max_width, best.bits);
    if multiplier > 1 {
        let div = ExactDiv::new(multiplier);
        offsets.iter_mut().for_each(|o| *o = div.unsigned(*o));
        let hist = bit_len_hist(&offsets, 0);
        (width, max_width, bits) = cost_from_hist(&hist, offsets.len());
        bits += 8 * uvarint_len(multiplier);
    }
    let prefix = prefix_len(predictor, header, n);
    if max_width == 0 {
        // Every residual equals the base.
        return constant_plan(predictor, header, best.base, n);
    }
    let bytes = prefix + uvarint_len(zigzag(best.base)) + 2 + bits.div_ceil(8);
    // Rice codes pay off on bell-shaped residuals a few bits wide; below two bits
    // per slot packing is as small. Wide codes (a full-precision float's residuals,
    // k > RICE_WIDE_K) decode at well under half the speed of packing and save ~2 %:
    // they must save at least 1/RICE_WIDE_MIN_GAIN of the packed bytes.
    let mut chosen = Plan {
        predictor,
        coding: Coding::Packed {
            width,
            exc_width: max_width - width,
        },
        header,
        base: best.base,
        multiplier,
        offsets,
        bytes,
    };
    // The centres a sparse coding is tried around: zero (the deltas of a series
    // that mostly stands still), and the Rice coding's median when it has one,
    // else packing's base (a level that moves up and down now and then packs at
    // width zero around it, its moves down wrapped into wide exceptions).
    let mut centres = [Some(0), Some(best.base).filter(|&b| b != 0)];
    // Past a common factor, the Rice coding's median is counted among the
    // divided offsets (see [`divided_median`]).
    let median = || {
        (multiplier > 1 && best.base == range.0)
            .then(|| divided_median(&chosen.offsets, range, multiplier))
            .flatten()
    };
    // Packing's factor is the Rice codes' when its base is the smallest residual
    // and nothing wraps (see [`Factor::Known`]).
    let factor = || match multiplier {
        1 => Factor::None,
        g if best.base == range.0 && (range.1.wrapping_sub(range.0) as u64) < 1 << 63 => {
            Factor::Known(g)
        }
        _ => Factor::Search,
    };
    if bits >= 2 * residuals.len()
        && let Some(rice) = rice_plan(&residuals, factor(), range, median())
    {
        centres[1] = Some(rice.base).filter(|&b| b != 0);
        if (prefix + rice.bytes)
            + if rice.k > RICE_WIDE_K {
                (bytes - prefix) / RICE_WIDE_MIN_GAIN
            } else {
                0
            }
            < bytes
        {
            chosen = Plan {
                predictor,
                coding: Coding::Rice(rice.k),
                header,
                base: rice.base,
                multiplier: rice.multiplier,
                offsets: rice.values,
                bytes: prefix + rice.bytes,
            };
        }
    }
    // Every common factor of the differences from a centre divides the common
    // factor of the offsets from the smallest residual: packing's, unless its
    // base is above that one (a low outlier wrapped into an exception).
    let factor = if best.base == range.0 { multiplier } else { 0 };
    for centre in centres.into_iter().flatten() {
        let budget = chosen.bytes - prefix;
        let max = residuals.len() / SPARSE_MAX_SHARE;
        if let Some(sparse) = sparse_plan(&residuals, centre, budget, range, factor, max) {
            chosen = Plan {
                predictor,
                coding: Coding::Sparse(sparse.width),
                header,
                base: centre,
                multiplier: sparse.multiplier,
                offsets: sparse.exceptions,
                bytes: prefix + sparse.bytes,
            };
        }
    }
    chosen
}

/// A sparse coding is tried only where at most one residual in this many is an
/// exception. Each exception decodes at several times the cost of a packed slot:
/// on the real captures, allowing any number saved 0.2 % of the bytes at 2 s for
/// twice the encoding cost of pricing and 2-4 times the decoding cost of the
/// coding (instructions under callgrind).
const SPARSE_MAX_SHARE: usize = 2;

/// A sparse coding of one residual sequence (format v4).
struct SparsePlan {
    multiplier: u64,
    /// Bits of each exception's packed difference.
    width: u32,
    /// Per exception, in slot order: its slot and `zigzag((r − base) /
    /// multiplier)`.
    exceptions: Scratch<u64>,
    /// Bytes after the header values: base, multiplier, count, width, index gaps
    /// and packed differences.
    bytes: usize,
}

x86_64_builds! {
    /// [`sparse_plan_in`], built for each x86-64 level (see [`x86_64_builds`]).
    fn sparse_plan(
        residuals: &[i64],
        base: i64,
        budget: usize,
        range: (i64, i64),
        factor: u64,
        max_exceptions: usize,
    ) -> Option<SparsePlan> = sparse_plan_in;
}

/// Codes `residuals` as `base` but at the exceptions, each listed by its index gap
/// and its signed difference from `base` (with their common factor divided out
/// when that is smaller), if that takes fewer than `budget` bytes. `range` holds
/// the smallest and largest residual, and `factor` the common factor of the
/// residuals' offsets from the smallest (1: none; 0: not known), which every
/// common factor of the differences divides. Not with more than `max_exceptions`
/// exceptions. A series that stands still but for a few steps, up or down, costs a
/// few bits a step and nothing a sample: packing spends a slot on every sample,
/// and frame of reference makes a step down as wide as the widest step up.
#[inline(always)]
fn sparse_plan_in(
    residuals: &[i64],
    base: i64,
    budget: usize,
    (lo, hi): (i64, i64),
    factor: u64,
    max_exceptions: usize,
) -> Option<SparsePlan> {
    let size = |e: usize, gap_width: u32, width: u32, multiplier: u64| {
        uvarint_len(zigzag(base))
            + if multiplier > 1 {
                uvarint_len(multiplier)
            } else {
                0
            }
            + uvarint_len((e as u64) << 4)
            + 1
            + (e * (gap_width + width) as usize).div_ceil(8)
    };
    // The widest zigzag difference is the smallest's or the largest's (zigzag
    // grows with the magnitude). Differences past i64 are not worth coding so.
    let widest = bit_len(zigzag(lo.checked_sub(base)?)).max(bit_len(zigzag(hi.checked_sub(base)?)));
    // Dividing by a common factor of the differences (which divides `factor`)
    // narrows them by at most the factor's length, plus one for the sign.
    let narrowest = match factor {
        0 => 1,
        1 => widest,
        f => widest.saturating_sub(1 + bit_len(f)).max(1),
    };
    // The gaps of two or more exceptions take a bit each at least. Most columns
    // stop after this one counting pass.
    let e = residuals.iter().filter(|&&r| r != base).count();
    if e == 0 || e > max_exceptions || size(e, u32::from(e > 1), narrowest, 1) >= budget {
        return None;
    }
    // The exceptions' slots and differences, then their index gaps' width and
    // their common factor.
    let mut exceptions: Scratch<u64> = Scratch::with_capacity(2 * e);
    for (i, &r) in residuals.iter().enumerate() {
        if r != base {
            exceptions.push(i as u64);
            exceptions.push(r.wrapping_sub(base) as u64);
        }
    }
    let pairs = || (exceptions.chunks_exact(2)).map(|p| (p.first().copied(), p.get(1).copied()));
    let (mut gaps, mut prev) = (0u64, 0u64);
    for (at, _) in pairs() {
        let at = at.unwrap_or(prev);
        gaps |= at - prev;
        prev = at;
    }
    let gap_width = bit_len(gaps);
    // The count carries the gaps' width in four bits (a chunk's gaps need 12).
    if gap_width > 15 {
        return None;
    }
    let diffs = || pairs().map(|(_, d)| d.unwrap_or(0) as i64);
    let (mut multiplier, mut width) = (1, widest);
    // Dividing by 2^63 (i64::MIN) maps a difference of it to 1, not −1: a factor
    // that large is not worth the special case.
    let common = if factor != 1 {
        common_factor(diffs().map(i64::unsigned_abs))
    } else {
        1
    };
    if common > 1 && common < 1 << 63 {
        let div = ExactDiv::new(common);
        let divided = bit_len(diffs().fold(0, |a, d| a | zigzag(div.signed(d))));
        if size(e, gap_width, divided, common) < size(e, gap_width, width, 1) {
            (multiplier, width) = (common, divided);
        }
    }
    let bytes = size(e, gap_width, width, multiplier);
    if bytes >= budget {
        return None;
    }
    // Differences become their packed values, in place.
    let div = ExactDiv::new(multiplier);
    for pair in exceptions.chunks_exact_mut(2) {
        if let [_, d] = pair {
            *d = zigzag(div.signed(*d as i64));
        }
    }
    Some(SparsePlan {
        multiplier,
        width,
        exceptions,
        bytes,
    })
}

/// [`best_plan`] for `n` values equal to `value`, without the column: the
/// constant coding when `predictors` try [`Predictor::None`] (nothing to plan).
pub(crate) fn flat_plan(value: i64, n: usize, predictors: &Predictors) -> Option<Plan> {
    if predictors.common.contains(&Predictor::None) {
        return Some(constant_plan(Predictor::None, [0; 2], value, n));
    }
    best_plan(&vec![value; n], predictors)
}

/// The plan whose residuals all equal `base`.
#[inline(always)]
fn constant_plan(predictor: Predictor, header: [i64; 2], base: i64, n: usize) -> Plan {
    let header_bytes: usize = header
        .iter()
        .take(predictor.header_len(n))
        .map(|&h| uvarint_len(zigzag(h)))
        .sum();
    Plan {
        predictor,
        coding: Coding::Constant,
        header,
        base,
        multiplier: 1,
        offsets: Scratch::new(),
        bytes: 1 + header_bytes + uvarint_len(zigzag(base)),
    }
}

/// A Rice coding of one residual sequence.
struct RicePlan {
    base: i64,
    multiplier: u64,
    k: u32,
    /// `zigzag((r − base) / multiplier)` per slot.
    values: Scratch<u64>,
    /// Bytes after the header values: parameter byte, base, multiplier, codes.
    bytes: usize,
}

/// The four smallest of `xs` in ascending order (`i64::MAX` where there are
/// fewer). Four at a time: one test of their minimum usually clears them.
#[inline(always)]
fn four_lowest(xs: &[i64]) -> [i64; 4] {
    #[inline(always)]
    fn add(lowest: &mut [i64; 4], r: i64) {
        if r < lowest[3] {
            // Insert in order, the largest dropping out.
            let [a, b, c, d] = *lowest;
            *lowest = if r < b {
                if r < a { [r, a, b, c] } else { [a, r, b, c] }
            } else if r < c {
                [a, b, r, c]
            } else {
                [a, b, c, r.min(d)]
            };
        }
    }
    let mut lowest = [i64::MAX; 4];
    let mut quads = xs.chunks_exact(4);
    for q in &mut quads {
        if let &[a, b, c, d] = q
            && a.min(b).min(c.min(d)) < lowest[3]
        {
            q.iter().for_each(|&r| add(&mut lowest, r));
        }
    }
    quads.remainder().iter().for_each(|&r| add(&mut lowest, r));
    lowest
}

x86_64_builds! {
    /// [`lower_median_in`], built for each x86-64 level (see [`x86_64_builds`]).
    fn lower_median(xs: &[i64], range: (i64, i64)) -> Option<i64> = lower_median_in;
}

/// The element of rank `(len − 1) / 2` of `xs`, as sorting would place it
/// (`None` when empty), given the smallest and largest of `xs` (a wrong range
/// costs only speed: the count then refuses and selection decides).
///
/// Residuals worth Rice coding are a few bits wide: when they span fewer than
/// 512 values, a count of each value and a walk up the counts to the middle find
/// it (a third of the instructions of a selection over a copy on the gauge set).
/// Otherwise, when more than half the values are zero (the deltas of a series that
/// mostly stands still) it is zero — a value holding a majority of the sorted
/// positions covers the middle one — and needs only a count; else it is selected.
#[inline(always)]
fn lower_median_in(xs: &[i64], (lo, hi): (i64, i64)) -> Option<i64> {
    let rank = xs.len().checked_sub(1)? / 2;
    let span = hi.wrapping_sub(lo) as u64;
    let counted = match span {
        0..64 => counted_median::<64>(xs, lo, rank),
        64..512 => counted_median::<512>(xs, lo, rank),
        _ => None,
    };
    if counted.is_some() {
        return counted;
    }
    let zeros = xs.iter().fold(0usize, |c, &x| c + usize::from(x == 0));
    if zeros > xs.len() / 2 {
        return Some(0);
    }
    let mut scratch = Scratch::from_slice(xs);
    let (_, &mut median, _) = scratch.get_mut(..)?.select_nth_unstable(rank);
    Some(median)
}

/// The element of rank `rank` of `xs`, whose values all lie in `lo..lo + SPAN`,
/// from a count of each value; `None` when one does not (or `xs` is too long for
/// 16-bit counts, which a chunk's column never is).
#[inline(always)]
fn counted_median<const SPAN: usize>(xs: &[i64], lo: i64, rank: usize) -> Option<i64> {
    if xs.len() > usize::from(u16::MAX) {
        return None;
    }
    // Two tables, one for the even positions and one for the odd: a level that
    // holds (a stepping gauge's residuals) bumps one count over and over, and
    // with one table each bump waits for the store of the one before.
    let mut counts = [[0u16; SPAN]; 2];
    let mut outside = 0usize;
    let mut bump = |table: &mut [u16; SPAN], x: i64| {
        // From `lo` up the difference is exact as a u64; below it, or past the
        // counts, the value is outside.
        let slot = (x >= lo)
            .then(|| usize::try_from(x.wrapping_sub(lo) as u64).ok())
            .flatten()
            .and_then(|d| table.get_mut(d));
        match slot {
            Some(c) => *c += 1,
            None => outside += 1,
        }
    };
    let [even, odd] = &mut counts;
    let mut pairs = xs.chunks_exact(2);
    for pair in &mut pairs {
        if let &[a, b] = pair {
            bump(even, a);
            bump(odd, b);
        }
    }
    pairs.remainder().iter().for_each(|&x| bump(even, x));
    if outside > 0 {
        return None;
    }
    // Whole blocks of 32 values are passed over by their sums (which
    // vectorize), then the block holding the median is walked one by one.
    const BLOCK: usize = 32;
    let mut seen = 0usize;
    for (j, (even, odd)) in even.chunks(BLOCK).zip(odd.chunks(BLOCK)).enumerate() {
        let sum: u32 = even
            .iter()
            .zip(odd)
            .map(|(&a, &b)| u32::from(a) + u32::from(b))
            .sum();
        if seen + sum as usize <= rank {
            seen += sum as usize;
            continue;
        }
        for (i, (&a, &b)) in even.iter().zip(odd).enumerate() {
            seen += usize::from(a) + usize::from(b);
            if seen > rank {
                return Some(lo.wrapping_add((j * BLOCK + i) as i64));
            }
        }
    }
    None
}

/// Bits of the Rice code for `v` with parameter `k`.
#[inline(always)]
fn rice_bits(v: u64, k: u32) -> usize {
    let q = v >> k;
    if q < u64::from(RICE_ESCAPE) {
        q as usize + 1 + k as usize
    } else {
        (RICE_ESCAPE + 6 + bit_len(v).max(1)) as usize
    }
}

/// The lower median of the residuals whose `offsets` from the smallest, `lo`,
/// are these, divided by `multiplier` (`hi`: the largest residual). The offsets
/// keep the residuals' order in a span `multiplier` times narrower, so the
/// median is counted among them rather than selected: byte counts in whole
/// pages span a few hundred pages, and over a million bytes.
#[inline(always)]
fn divided_median(offsets: &[u64], (lo, hi): (i64, i64), multiplier: u64) -> Option<i64> {
    let span = hi.wrapping_sub(lo) as u64 / multiplier.max(1);
    let divided: Scratch<i64> = offsets.iter().map(|&o| o as i64).collect();
    let median = lower_median(&divided, (0, span as i64))?;
    Some(lo.wrapping_add((median as u64).wrapping_mul(multiplier) as i64))
}

/// What [`rice_plan`] knows of the common factor of the residuals.
#[derive(Clone, Copy)]
enum Factor {
    /// There is none above 1 (packing found none): not looked for.
    None,
    /// Looked for among the differences from the median.
    Search,
    /// The common factor of the differences from the smallest residual, all of
    /// them below 2^63. The median is one of the residuals, so the differences
    /// from it have the same common factor: each is the difference of two
    /// multiples of it, and it divides the one from the smallest, so it divides
    /// the rest. Below 2^63 the signed differences do not wrap.
    Known(u64),
}

/// Codes `residuals` around their median (robust to a reset), with their common
/// factor divided out (see [`Factor`]) and the cheapest parameter. `range`: the
/// smallest and largest residual; `median`: their lower median, when the caller
/// found it (one of the residuals).
#[inline(always)]
fn rice_plan(
    residuals: &[i64],
    factor: Factor,
    range: (i64, i64),
    median: Option<i64>,
) -> Option<RicePlan> {
    // The centre: the median, robust to a reset.
    let base = match median {
        Some(median) => median,
        None => lower_median(residuals, range)?,
    };
    // The factor must divide every signed difference exactly: computed here
    // unless known, not taken from packing (whose offsets wrap around below its
    // base).
    let multiplier = match factor {
        Factor::None => 1,
        Factor::Known(g) => g,
        Factor::Search => common_factor(
            residuals
                .iter()
                .map(|&r| r.wrapping_sub(base).unsigned_abs()),
        )
        .max(1),
    };
    let values: Scratch<u64> = if multiplier == 1 {
        residuals
            .iter()
            .map(|&r| zigzag(r.wrapping_sub(base)))
            .collect()
    } else if multiplier == 1 << 63 {
        // i64::MIN stands for 2^63 (and dividing by it, never −1, cannot trap);
        // every difference is 0 or i64::MIN, which this quotient maps to 1.
        let div = multiplier as i64;
        residuals
            .iter()
            .map(|&r| zigzag(r.wrapping_sub(base).wrapping_div(div)))
            .collect()
    } else {
        let div = ExactDiv::new(multiplier);
        residuals
            .iter()
            .map(|&r| zigzag(div.signed(r.wrapping_sub(base))))
            .collect()
    };
    let (k, bits) = best_rice_k(&values)?;
    // A median close to zero costs a byte to store and may save less: price the
    // codes around zero at the same parameter.
    if base != 0 && multiplier == 1 && bit_len(zigzag(base)) <= k {
        // A loop, not an adapter's `sum`: that is a generic function of its own,
        // which the compiler did not inline (so it ran the baseline build).
        let mut bits2 = 0usize;
        for &r in residuals {
            bits2 += rice_bits(zigzag(r), k);
        }
        if bits2.div_ceil(8) <= bits.div_ceil(8) + uvarint_len(zigzag(base)) {
            return Some(RicePlan {
                base: 0,
                multiplier,
                k,
                values: residuals.iter().map(|&r| zigzag(r)).collect(),
                bytes: 1 + bits2.div_ceil(8),
            });
        }
    }
    let bytes =
        1 + if base != 0 {
            uvarint_len(zigzag(base))
        } else {
            0
        } + if multiplier > 1 {
            uvarint_len(multiplier)
        } else {
            0
        } + bits.div_ceil(8);
    Some(RicePlan {
        base,
        multiplier,
        k,
        values,
        bytes,
    })
}

/// The cheapest Rice parameter for `values` and the bits it takes. A histogram of
/// bit lengths gives an estimate that outliers (a reset) cannot skew the way they
/// skew a mean; the exact cost then decides among its neighbours.
#[inline(always)]
fn best_rice_k(values: &[u64]) -> Option<(u32, usize)> {
    if values.is_empty() {
        return None;
    }
    let hist = bit_len_hist(values, 0);
    let (k0, _) = estimated_rice_k(&hist, values.len());
    // The exact cost of the estimate and its two neighbours; the first of equal
    // costs wins.
    let ks = [k0.saturating_sub(1), k0, (k0 + 1).min(MAX_RICE_K)];
    ks.into_iter()
        .zip(rice_costs(values, ks, hist.top))
        .min_by_key(|&(_, bits)| bits)
}

/// The Rice parameter whose estimated cost is the least (the smallest of equal
/// ones) and that cost in bits, from the histogram of the bit lengths b of `m`
/// values, in O(1) per k: a value of length b ≤ k costs 1 + k bits; one of length
/// b > k has a quotient of about 1.5 × 2^(b−1−k) — 1, 3, 6 or 12 for
/// b = k + 1 … k + 4 — and from b = k + 5
/// on it is escaped, at RICE_ESCAPE + 6 + b bits.
///
/// The parameters are tried from the largest down, and the search stops where
/// no smaller one can cost as little: below k, every value escaped at k is
/// escaped too and every other costs at least a bit. Wide values (a
/// full-precision float's residuals, some sixty bits long) are then priced at
/// a handful of parameters instead of every one from zero.
#[inline(always)]
fn estimated_rice_k(hist: &LenHist, m: usize) -> (u32, usize) {
    const Q: [usize; 4] = [1, 3, 6, 12];
    const ESCAPE: usize = (RICE_ESCAPE + 6) as usize;
    let count = |b: usize| hist.count(b);
    let top = hist.top.min(MAX_RICE_K);
    let mut k = top as usize;
    // The values of length k + 5 or more (escaped at k) and the sum of their
    // lengths: none at the start, as no value is longer than `top` (nor than
    // 64 when `top` is cut to 63); each k down adds those of length k + 4.
    // The counts of lengths k + 1 … k + 4 slide down with it; the values of
    // length ≤ k + 4 are the m − far not escaped.
    let (mut far, mut far_len) = (0usize, 0usize);
    let [mut c1, mut c2, mut c3, mut c4] = [k + 1, k + 2, k + 3, k + 4].map(count);
    let mut best = (top, usize::MAX);
    loop {
        let near = c1 * Q[0] + c2 * Q[1] + c3 * Q[2] + c4 * Q[3];
        let bits = m.saturating_sub(far) * (1 + k) + near + far * ESCAPE + far_len;
        // Going down, the smallest of equal estimates wins.
        if bits <= best.1 {
            best = (k as u32, bits);
        }
        if k == 0 || far * ESCAPE + far_len + m.saturating_sub(far) > best.1 {
            return best;
        }
        far += c4;
        far_len += c4 * (k + 4);
        k -= 1;
        [c1, c2, c3, c4] = [count(k + 1), c1, c2, c3];
    }
}

/// The exact bits of `values` (the longest `top` bits long) as Rice codes with
/// each parameter of `ks` (in ascending order). Each code is 1 + k bits and its
/// quotient, so the cost is m × (1 + k) + Σ v >> k: one pass without a test sums
/// the quotients for the three. Escaped values (a quotient of [`RICE_ESCAPE`] or
/// more) exist only when `top > ks[0] + 4`; a second pass then corrects those,
/// few, to their escapes' bits. Sums wrap: the escaped quotients taken out again
/// leave the exact total.
#[inline(always)]
fn rice_costs(values: &[u64], ks: [u32; 3], top: u32) -> [usize; 3] {
    let mut sums = [0u64; 3];
    for &v in values {
        for (s, &k) in sums.iter_mut().zip(&ks) {
            *s = s.wrapping_add(v >> k);
        }
    }
    let mut escaped_bits = [0usize; 3];
    if top > ks[0] + 4 {
        // Below 2^(ks[0] + 4) no value escapes at any of the three.
        let escapes_from = 1u64 << (ks[0] + 4);
        for &v in values.iter().filter(|&&v| v >= escapes_from) {
            for ((s, bits), &k) in sums.iter_mut().zip(&mut escaped_bits).zip(&ks) {
                let q = v >> k;
                if q >= u64::from(RICE_ESCAPE) {
                    *s = s.wrapping_sub(q);
                    *bits += rice_bits(v, k) - (1 + k as usize);
                }
            }
        }
    }
    let m = values.len();
    let mut costs = [0usize; 3];
    for (((c, k), s), b) in costs.iter_mut().zip(ks).zip(sums).zip(escaped_bits) {
        *c = m * (1 + k as usize) + s as usize + b;
    }
    costs
}

/// Appends a format v3 Rice stream from its parameter byte on: `values` coded
/// with parameter `k` around `base`, divided by `multiplier`.
///
/// Each value `v` is split into its low `k` bits and its quotient `q = v >> k`.
/// After the parameter byte (and the base and multiplier when present) come every
/// slot's low bits, packed at width `k`; then every slot's quotient in unary,
/// least-significant bit first: `q` zero bits and a one, unless `q` is
/// [`RICE_ESCAPE`] or more (a counter reset): then [`RICE_ESCAPE`] zero bits, six
/// bits of `len − 1`, and `q` in `len` bits. The quotients follow the low bits without
/// padding and end at the next byte boundary. The bits are those of format v2's
/// codes, in another order: the sizes are the same.
///
/// The split decodes faster than codes laid end to end (format v2): the low bits
/// unpack like any packed stream, and finding the quotients is finding the set
/// bits of the unary words, with no chain of shifts from one code to the next.
#[inline(always)]
fn write_rice(values: &[u64], k: u32, base: i64, multiplier: u64, out: &mut Vec<u8>) {
    out.push(k as u8 | if base != 0 { RICE_BASE_FLAG } else { 0 });
    if base != 0 {
        put_uvarint(out, zigzag(base));
    }
    if multiplier > 1 {
        put_uvarint(out, multiplier);
    }
    let mut w = LsbWriter::default().put_all(values, k, out);
    let put_code = |w: &mut LsbWriter, q: u64, out: &mut Vec<u8>| {
        if q < u64::from(RICE_ESCAPE) {
            w.put_unary(q as u32, out);
        } else {
            let len = bit_len(q);
            w.put(0, RICE_ESCAPE, out);
            w.put(u64::from(len - 1), 6, out);
            w.put(q, len, out);
        }
    };
    // Eight quotients at a time when none is escaped (the quotients' union is
    // below the escape, a power of two).
    const _: () = assert!(RICE_ESCAPE.is_power_of_two() && RICE_ESCAPE <= 16);
    let mut eights = values.chunks_exact(8);
    for eight in &mut eights {
        let mut qs = [0u64; 8];
        qs.iter_mut().zip(eight).for_each(|(q, &v)| *q = v >> k);
        if qs.iter().fold(0, |a, &q| a | q) < u64::from(RICE_ESCAPE) {
            w.put_unary8(qs, out);
        } else {
            qs.iter().for_each(|&q| put_code(&mut w, q, out));
        }
    }
    for &v in eights.remainder() {
        put_code(&mut w, v >> k, out);
    }
    w.finish(out);
}

/// Bits [`read_rice`] loads at a time: a byte-aligned 64-bit load shifted by up to 7.
const PEEK: u32 = 56;

/// The decoding window of [`read_rice`]: up to [`PEEK`] unread bits of the stream,
/// least-significant first, topped by a sentinel one bit. The sentinel marks how
/// many bits are valid without a separate count: a code that would shift it out
/// ran past the loaded bits.
#[derive(Clone, Copy)]
struct RiceWindow {
    /// Bit position in the stream of the window's lowest bit when it was loaded.
    pos: usize,
    /// The bits, sentinel included.
    w: u64,
}

impl RiceWindow {
    #[inline(always)]
    fn at(data: &[u8], pos: usize) -> RiceWindow {
        RiceWindow {
            pos,
            w: load_at(data, pos, PEEK, mask_of(PEEK)) | (1 << PEEK),
        }
    }

    /// Bit position of the next unread bit.
    #[inline(always)]
    fn position(self) -> usize {
        // The sentinel sits at bit PEEK − consumed; w ≠ 0 always.
        self.pos + (self.w.leading_zeros() - (63 - PEEK)) as usize
    }
}

/// Decodes the Rice code at bit `pos` from the stream itself (no window): an
/// escape, or a parameter too wide for the window. Returns the value and the
/// position after it.
#[cold]
#[inline(never)]
fn rice_at(data: &[u8], k: u32, low: u64, pos: usize) -> (u64, usize) {
    rice_code_at(data, k, low, pos)
}

/// [`rice_at`], inlined: the loop of a parameter too wide for the window.
#[inline(always)]
fn rice_code_at(data: &[u8], k: u32, low: u64, mut pos: usize) -> (u64, usize) {
    let q = load_at(data, pos, PEEK, mask_of(PEEK)).trailing_zeros();
    if q >= RICE_ESCAPE {
        return rice_escape(data, pos);
    }
    pos += q as usize + 1;
    let rest = load_at(data, pos, k, low);
    pos += k as usize;
    ((u64::from(q) << k) | rest, pos)
}

/// Decodes `m` Rice codes from the start of `data` into slots
/// `finish(base + unzigzag(v) × multiplier)`, or, with `running = Some(x)`, the
/// running sums `finish(x + Σ …)` of those (the delta predictor undone in the
/// same pass); returns the bytes consumed.
///
/// The common code — quotient below the escape, within the loaded bits — is a
/// count of trailing zeros, a shift and a mask ([`rice_run`]); the window is
/// reloaded (one unaligned load) when a code shifts its sentinel out. Escapes and
/// the last bytes of the stream are decoded here, one code at a time.
#[allow(clippy::too_many_arguments)]
fn read_rice<W: Word>(
    data: &[u8],
    m: usize,
    k: u32,
    base: i64,
    multiplier: u64,
    running: Option<i64>,
    out: &mut Vec<W>,
    finish: impl Fn(i64) -> W + Copy,
) -> Result<usize> {
    let low = mask_of(k);
    let start = out.len();
    out.resize_with(start + m, || W::from_i64(0));
    let slots = out.get_mut(start..).unwrap_or_default();
    let mut st = RiceState {
        k,
        low,
        base,
        mul: multiplier as i64,
        x: running.unwrap_or(0),
        win: RiceWindow::at(data, 0),
    };
    // A code below the escape takes at most RICE_ESCAPE + k bits: with k ≤ 40 it
    // always fits a freshly loaded window. Wider parameters (full-precision
    // values) read each code from the stream at its position.
    let windowed = k + RICE_ESCAPE <= PEEK;
    if !windowed {
        let mut pos = 0usize;
        for slot in slots.iter_mut() {
            let (v, next) = rice_code_at(data, k, low, pos);
            pos = next;
            st.emit(v, running.is_some(), slot, finish);
        }
        return rice_end(data, pos);
    }
    let mut i = 0;
    while i < m {
        if windowed {
            let rest = slots.get_mut(i..).unwrap_or_default();
            i += rice_dispatch(data, &mut st, rest, running.is_some(), finish);
            let pos = st.win.position();
            let from = pos >> 3;
            if i < m && from.saturating_add(8) > data.len() {
                // The run stopped at the last bytes: go on over a zero-padded copy
                // of them (bits past the end read as zeros either way).
                let tail: [u8; 32] = zero_padded_prefix(data.get(from..).unwrap_or_default());
                st.win = RiceWindow::at(&tail, pos & 7);
                let rest = slots.get_mut(i..).unwrap_or_default();
                let done = rice_dispatch(&tail, &mut st, rest, running.is_some(), finish);
                st.win = RiceWindow::at(data, from * 8 + st.win.position());
                i += done;
                if done > 0 {
                    continue;
                }
            }
        }
        // An escape (or a parameter too wide for the window): one code from the
        // stream itself.
        let Some(slot) = slots.get_mut(i) else { break };
        let (v, pos) = rice_at(data, k, low, st.win.position());
        st.win = RiceWindow::at(data, pos);
        st.emit(v, running.is_some(), slot, finish);
        i += 1;
    }
    rice_end(data, st.win.position())
}

/// The bytes a Rice stream of `data` ending at bit `pos` consumed. Loads past the
/// end read zeros; a stream that needed them is truncated.
fn rice_end(data: &[u8], pos: usize) -> Result<usize> {
    if pos > data.len() * 8 {
        return Err(CodecError::Truncated {
            bit: data.len() * 8,
        });
    }
    Ok(pos.div_ceil(8))
}

/// What [`read_rice`] carries from code to code.
struct RiceState {
    k: u32,
    low: u64,
    base: i64,
    mul: i64,
    /// The running sum (delta predictor) or the last residual.
    x: i64,
    win: RiceWindow,
}

impl RiceState {
    #[inline(always)]
    fn emit<W: Word>(&mut self, v: u64, sum: bool, slot: &mut W, finish: impl Fn(i64) -> W) {
        let r = self.base.wrapping_add(unzigzag(v).wrapping_mul(self.mul));
        self.x = if sum { self.x.wrapping_add(r) } else { r };
        *slot = finish(self.x);
    }
}

/// [`rice_run`] specialised for a running sum and a multiplier.
#[inline(always)]
fn rice_dispatch<W: Word>(
    buf: &[u8],
    st: &mut RiceState,
    slots: &mut [W],
    sum: bool,
    finish: impl Fn(i64) -> W,
) -> usize {
    match (sum, st.mul != 1) {
        (true, true) => rice_run::<W, true, true>(buf, st, slots, finish),
        (true, false) => rice_run::<W, true, false>(buf, st, slots, finish),
        (false, true) => rice_run::<W, false, true>(buf, st, slots, finish),
        (false, false) => rice_run::<W, false, false>(buf, st, slots, finish),
    }
}

/// Decodes Rice codes into `slots` while they are below the escape and the window
/// can be reloaded from whole 8-byte loads of `buf` (the window's position is
/// relative to `buf`). Returns how many slots it filled; the window then sits at
/// the first code not decoded.
// Not inlined: on its own, each specialisation keeps its loop in registers.
#[inline(never)]
fn rice_run<W: Word, const SUM: bool, const MUL: bool>(
    buf: &[u8],
    st: &mut RiceState,
    slots: &mut [W],
    finish: impl Fn(i64) -> W,
) -> usize {
    let (k, low, base, mul) = (st.k, st.low, st.base, st.mul);
    let mut x = st.x;
    let RiceWindow { mut pos, mut w } = st.win;
    let mut done = 0;
    for slot in slots.iter_mut() {
        let mut q = w.trailing_zeros();
        if q >= RICE_ESCAPE {
            break;
        }
        // The next window straight from this one (the loop's critical path), the
        // low bits beside it.
        let mut next = w.wrapping_shr(q + 1 + k);
        if next == 0 {
            // Past the loaded bits: reload at the next unread bit.
            pos += (w.leading_zeros() - (63 - PEEK)) as usize;
            let byte = pos >> 3;
            let Some(bytes) = buf.get(byte..byte + 8) else {
                w = 1 << PEEK; // nothing loaded at `pos`
                break;
            };
            let mut a = [0u8; 8];
            a.copy_from_slice(bytes);
            w = ((u64::from_le_bytes(a) >> (pos & 7)) & mask_of(PEEK)) | (1 << PEEK);
            q = w.trailing_zeros();
            if q >= RICE_ESCAPE {
                break;
            }
            next = w.wrapping_shr(q + 1 + k);
        }
        let v = (u64::from(q) << k) | ((w >> (q + 1)) & low);
        w = next;
        let d = unzigzag(v);
        let r = base.wrapping_add(if MUL { d.wrapping_mul(mul) } else { d });
        x = if SUM { x.wrapping_add(r) } else { r };
        *slot = finish(x);
        done += 1;
    }
    st.x = x;
    st.win = RiceWindow { pos, w };
    done
}

/// The greatest common divisor of `values` (0 if all are 0), stopping early once
/// it reaches 1. Most values are multiples of the factor found so far: that is
/// tested with a multiplication ([`ExactDiv::divides`]), and only the others pay
/// for a [`gcd`].
#[inline(always)]
fn common_factor(values: impl IntoIterator<Item = u64>) -> u64 {
    let mut g = 0u64;
    let mut div = ExactDiv::new(1);
    for v in values {
        // Zero (the common offset: a slot on the line, a value at the base) is a
        // multiple of anything and leaves the factor as it is.
        if v == 0 || (g != 0 && div.divides(v)) {
            continue;
        }
        g = gcd(g, v);
        if g == 1 {
            return 1;
        }
        div = ExactDiv::new(g);
    }
    g
}

/// Stein's binary algorithm: shifts and subtractions, where Euclid's takes a
/// division (tens of cycles) a step.
fn gcd(mut a: u64, mut b: u64) -> u64 {
    if a == 0 || b == 0 {
        return a | b;
    }
    // The common power of two, then odd numbers only.
    let twos = (a | b).trailing_zeros();
    a >>= a.trailing_zeros();
    loop {
        b >>= b.trailing_zeros();
        if a > b {
            std::mem::swap(&mut a, &mut b);
        }
        b -= a;
        if b == 0 {
            return a << twos;
        }
    }
}

/// Exact division by a fixed divisor: `x / d` for every `x` that `d` divides, as
/// a shift and a multiplication by the inverse of `d`'s odd part modulo 2^64
/// (Granlund & Montgomery) instead of a division per value.
#[derive(Clone, Copy)]
struct ExactDiv {
    shift: u32,
    inverse: u64,
    /// `u64::MAX / odd`, the largest quotient by the odd part `odd` of `d`.
    limit: u64,
}

impl ExactDiv {
    /// For `d ≥ 1`.
    fn new(d: u64) -> ExactDiv {
        let d = d.max(1);
        let shift = d.trailing_zeros();
        let odd = d >> shift;
        // Newton's iteration doubles the correct low bits: 3 → 6 → … → 96.
        let mut inverse = odd;
        for _ in 0..5 {
            inverse = inverse.wrapping_mul(2u64.wrapping_sub(odd.wrapping_mul(inverse)));
        }
        ExactDiv {
            shift,
            inverse,
            limit: u64::MAX / odd,
        }
    }

    /// Whether `d` divides `x`: multiplying by the inverse maps the multiples of
    /// the odd part one to one onto `0..=u64::MAX / odd` (Granlund & Montgomery,
    /// 1994, §9).
    #[inline(always)]
    fn divides(self, x: u64) -> bool {
        let low = (1u64 << self.shift) - 1;
        x & low == 0 && (x >> self.shift).wrapping_mul(self.inverse) <= self.limit
    }

    /// `x / d` for `x` a multiple of `d`.
    #[inline(always)]
    fn unsigned(self, x: u64) -> u64 {
        (x >> self.shift).wrapping_mul(self.inverse)
    }

    /// `x / d` for `x` a multiple of `d` (signed; `d` below 2^63).
    #[inline(always)]
    fn signed(self, x: i64) -> i64 {
        (x >> self.shift).wrapping_mul(self.inverse as i64)
    }
}

/// Frame-of-reference cost of `residuals` against `base`.
struct ForPlan {
    base: i64,
    width: u32,
    max_width: u32,
    bits: usize,
}

#[inline(always)]
fn for_plan(residuals: &[i64], base: i64) -> ForPlan {
    let hist = bit_len_hist(residuals, base as u64);
    for_plan_of(&hist, residuals.len(), base)
}

/// The frame-of-reference plan around `base` from the histogram of the offsets'
/// bit lengths over `m` slots.
#[inline(always)]
fn for_plan_of(hist: &LenHist, m: usize, base: i64) -> ForPlan {
    let (best_w, max_w, best_bits) = cost_from_hist(hist, m);
    ForPlan {
        base,
        width: best_w,
        max_width: max_w,
        bits: best_bits,
    }
}

/// The cheapest of the frame-of-reference plans around the first `count` of
/// `bases` (the first of equal costs wins). Past one base, every base's
/// histogram is counted in the same pass, a table per base, rather than in a
/// pass of [`bit_len_hist`] each: a full-precision float column, whose four
/// smallest residuals lie far apart, tries all four bases (whole columns of the
/// random f64 set: 2.3 % fewer instructions, 6–9 % faster).
#[inline(always)]
fn best_for_plan(residuals: &[i64], bases: [i64; 4], count: usize) -> ForPlan {
    let fused = match count {
        2 => fused_for_plan::<2>(residuals, bases),
        3 => fused_for_plan::<3>(residuals, bases),
        4 => fused_for_plan::<4>(residuals, bases),
        _ => None,
    };
    let [first, ..] = bases;
    fused.unwrap_or_else(|| for_plan(residuals, first))
}

/// [`best_for_plan`] for the first `K` of `bases`, from one pass (`None` only
/// for `K` = 0).
#[inline(always)]
fn fused_for_plan<const K: usize>(xs: &[i64], bases: [i64; 4]) -> Option<ForPlan> {
    let mut tables = [[0u32; 65]; K];
    // The union of each base's offsets: its length is the largest length.
    let mut any = [0u64; K];
    for &x in xs {
        for ((table, any), &base) in tables.iter_mut().zip(&mut any).zip(&bases) {
            let v = x.wrapping_sub(base) as u64;
            *any |= v;
            if let Some(c) = table.get_mut(bit_len(v) as usize) {
                *c += 1;
            }
        }
    }
    (tables.iter().zip(any).zip(&bases))
        .map(|((counts, any), &base)| {
            let hist = LenHist {
                counts: *counts,
                top: bit_len(any),
            };
            for_plan_of(&hist, xs.len(), base)
        })
        .reduce(|best, p| if p.bits < best.bits { p } else { best })
}

/// A histogram of bit lengths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LenHist {
    /// `counts[b]`: how many values are `b` bits long.
    pub(crate) counts: [u32; 65],
    /// The largest length counted (0 when none): no scan for it.
    pub(crate) top: u32,
}

impl LenHist {
    fn count(&self, b: usize) -> usize {
        self.counts.get(b).map_or(0, |&c| c as usize)
    }
}

/// A 64-bit integer whose bits [`bit_len_hist`] measures: the slices it reads are
/// of `i64` (residuals) or `u64` (offsets, codes).
pub(crate) trait Bits64: Copy {
    /// The integer's 64 bits.
    fn bits(self) -> u64;
}

impl Bits64 for i64 {
    #[inline(always)]
    fn bits(self) -> u64 {
        self as u64
    }
}

impl Bits64 for u64 {
    #[inline(always)]
    fn bits(self) -> u64 {
        self
    }
}

/// The histogram of the bit lengths of `x − base` (wrapping) over `xs`: with
/// AVX-512 where the CPU has it, else [`bit_len_hist_scalar`]. Both give the same.
fn bit_len_hist<T: Bits64>(xs: &[T], base: u64) -> LenHist {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx512() {
        // SAFETY: the CPU has the features the function is compiled for,
        // detected just above.
        return unsafe { crate::simd::bit_len_hist(xs, base) };
    }
    bit_len_hist_scalar(xs, base)
}

/// [`bit_len_hist`] one value at a time, counted in four tables, one per lane of
/// four: consecutive values usually have the same length, and with one table
/// each count would wait for the store of the one before.
fn bit_len_hist_scalar<T: Bits64>(xs: &[T], base: u64) -> LenHist {
    let f = |x: T| x.bits().wrapping_sub(base);
    #[inline(always)]
    fn bump(table: &mut [u32; 65], v: u64) {
        if let Some(c) = table.get_mut(bit_len(v) as usize) {
            *c += 1;
        }
    }
    let mut lanes = [[0u32; 65]; 4];
    // The union of the bits: its length is the largest length.
    let mut any = 0u64;
    let mut quads = xs.chunks_exact(4);
    for q in &mut quads {
        if let ([a, b, c, d], [la, lb, lc, ld]) = (q, &mut lanes) {
            let (a, b, c, d) = (f(*a), f(*b), f(*c), f(*d));
            any |= a | b | c | d;
            bump(la, a);
            bump(lb, b);
            bump(lc, c);
            bump(ld, d);
        }
    }
    let [la, ..] = &mut lanes;
    for &x in quads.remainder() {
        let v = f(x);
        any |= v;
        bump(la, v);
    }
    let top = bit_len(any);
    let [l0, l1, l2, l3] = &lanes;
    let mut counts = [0u32; 65];
    // Only the lengths up to the largest were counted.
    let lanes = (counts.iter_mut().zip(l0).zip(l1).zip(l2).zip(l3)).take(top as usize + 1);
    for ((((h, a), b), c), d) in lanes {
        *h = a.wrapping_add(*b).wrapping_add(*c).wrapping_add(*d);
    }
    LenHist { counts, top }
}

/// From a histogram of offset bit lengths over `m` slots: the packed width that
/// minimises packed bits plus exception cost, the widest offset, and that cost.
#[inline(always)]
fn cost_from_hist(hist: &LenHist, m: usize) -> (u32, u32, usize) {
    let max_w = hist.top;
    // The width that minimises packed bits + exception cost.
    let (mut best_w, mut best_bits) = (max_w, m * max_w as usize);
    let mut above = 0usize; // values wider than w
    for w in (0..max_w).rev() {
        above += hist.count(w as usize + 1);
        let flag = usize::from(above > 0) * 8;
        let bits = m * w as usize + flag + above * (8 + (max_w - w) as usize);
        if bits < best_bits {
            best_bits = bits;
            best_w = w;
        }
        // A narrower width w' has a' ≥ above exceptions and, for a' > 0, costs
        // m·w' + 8 + a'·(8 + max_w − w') = 8 + a'·(8 + max_w) + (m − a')·w',
        // at least `flag + above × (8 + max_w)` (a' ≤ m); with none, `above`
        // is 0 and so is the bound. Once that is no less than the best, none
        // is smaller. (Stopping only where the exceptions at w alone reached
        // the best, a full-precision column, whose lengths spread over the top
        // few, tried nearly every width a base: the random f64 set's four
        // bases took 13.7 cycles a sample under rdtsc, 8.8 now.)
        if flag + above * (8 + max_w as usize) >= best_bits {
            break;
        }
    }
    (best_w, max_w, best_bits)
}

/// Calls `f` with each residual of `predictor` over `xs`, without allocating (the
/// reference for [`residuals_into`]).
#[cfg(test)]
fn for_each_residual(xs: &[i64], predictor: Predictor, mut f: impl FnMut(i64)) {
    match predictor {
        Predictor::None => xs.iter().for_each(|&x| f(x)),
        Predictor::Delta => {
            for w in xs.windows(2) {
                if let [a, b] = w {
                    f(b.wrapping_sub(*a));
                }
            }
        }
        Predictor::DeltaOfDelta => {
            for w in xs.windows(3) {
                if let [a, b, c] = w {
                    f(c.wrapping_sub(*b).wrapping_sub(b.wrapping_sub(*a)));
                }
            }
        }
        Predictor::Linear => {
            let (Some(&first), Some(&last)) = (xs.first(), xs.last()) else {
                return;
            };
            let n = xs.len();
            if n < 2 {
                return;
            }
            let slope = ((i128::from(last) - i128::from(first)) / (n as i128 - 1)) as i64;
            let mut pred = first;
            for &x in xs.iter().skip(1) {
                pred = pred.wrapping_add(slope);
                f(x.wrapping_sub(pred));
            }
        }
    }
}

/// The two smallest and the three largest of `residuals` (`i64::MAX` and
/// `i64::MIN` where there are fewer): lane by lane with AVX-512 where the CPU has
/// it, else one by one ([`extremes_scalar`]). Both give the same answer.
fn extremes(residuals: &[i64]) -> (i64, i64, [i64; 3]) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx512() {
        // SAFETY: the CPU has the features the function is compiled for,
        // detected just above.
        return unsafe { crate::simd::extremes(residuals) };
    }
    extremes_scalar(residuals)
}

/// [`extremes`] one residual at a time, for CPUs without AVX-512.
fn extremes_scalar(residuals: &[i64]) -> (i64, i64, [i64; 3]) {
    /// Inserts `r` into the sorted smallest pair and largest triple, keeping
    /// two and three: minima and maxima, which compile to conditional moves. A
    /// branch per comparison mispredicted often, as a wandering level (a random
    /// walk's values) keeps setting new highs or lows.
    #[inline(always)]
    fn add((s0, s1, [h0, h1, h2]): &mut (i64, i64, [i64; 3]), r: i64) {
        *s1 = (*s1).min((*s0).max(r));
        *s0 = (*s0).min(r);
        let below0 = (*h0).min(r);
        *h0 = (*h0).max(r);
        let below1 = (*h1).min(below0);
        *h1 = (*h1).max(below0);
        *h2 = (*h2).max(below1);
    }
    let mut st = (i64::MAX, i64::MAX, [i64::MIN; 3]);
    // Four at a time: a new extreme is rare after the first few residuals, so one
    // test of the four's minimum and maximum usually clears them all; otherwise
    // they are taken one by one, in order, as without the test.
    let mut quads = residuals.chunks_exact(4);
    for q in &mut quads {
        if let &[a, b, c, d] = q {
            let (lo, high) = (a.min(b).min(c.min(d)), a.max(b).max(c.max(d)));
            if lo < st.1 || high > st.2[2] {
                q.iter().for_each(|&r| add(&mut st, r));
            }
        }
    }
    quads.remainder().iter().for_each(|&r| add(&mut st, r));
    st
}

/// Estimated packed bits for one predictor's residuals (and `header_values`
/// header values), from the two smallest and three largest residuals. The base is
/// the smallest residual, or the second smallest when the smallest sits far below
/// (a counter reset: it then wraps around into an exception); up to two of the
/// largest are priced as exceptions rather than widening every slot. Also returns
/// the smallest and largest residual.
#[inline(always)]
fn estimate_bits(residuals: &[i64], header_values: usize) -> (usize, (i64, i64)) {
    let (s0, s1, hi) = extremes(residuals);
    let m = residuals.len();
    let range = (s0, hi[0]);
    if m == 0 {
        return (0, range);
    }
    let low_outlier = m > 1 && bit_len(s1.wrapping_sub(s0) as u64) > 8;
    let base = if low_outlier { s1 } else { s0 };
    let width_of = |r: i64| {
        if r == i64::MIN {
            0
        } else {
            bit_len(r.wrapping_sub(base) as u64) as usize
        }
    };
    let max_w = if low_outlier { 64 } else { width_of(hi[0]) };
    let header = 8 * 5 * header_values;
    let bits = (0..hi.len().min(m))
        .map(|k| {
            // The k largest (and a low outlier) as exceptions, the rest at width w.
            let w = hi.get(k).map_or(0, |&r| width_of(r));
            let e = k + usize::from(low_outlier);
            m * w
                + if e > 0 {
                    8 + e * (8 + max_w.saturating_sub(w))
                } else {
                    0
                }
        })
        .min()
        .unwrap_or(0);
    (bits + header, range)
}

/// A predictor that rarely wins is estimated only when the others estimate more
/// than this many bits a value (header included). This trades bytes for speed:
/// where it would have won below that, the chunk keeps the common predictors'
/// plan, which costs at most this many bits a value — a byte a timestamp, in a
/// chunk whose interval changes by less than about 2^8 ms.
pub(crate) const RARE_PREDICTOR_BITS: usize = 8;

/// The predictors [`best_plan`] tries for a sequence.
pub(crate) struct Predictors {
    /// Always estimated, in this order (the first of equal estimates wins).
    pub(crate) common: &'static [Predictor],
    /// Estimated after them (so a common one wins a tie), only when their best
    /// estimate is above [`RARE_PREDICTOR_BITS`] a value.
    pub(crate) rare: &'static [Predictor],
    /// Whether the delta predictor's sparse code is also priced after the
    /// estimates' choice is planned ([`stepping_plan`]): for values, whose levels
    /// hold and step.
    pub(crate) steps: bool,
}

x86_64_builds! {
    /// The smallest plan among `predictors`: each is estimated cheaply, and only
    /// the most promising is planned exactly (from the residuals its estimate
    /// computed).
    pub(crate) fn best_plan(xs: &[i64], predictors: &Predictors) -> Option<Plan> = best_plan_in;
}

/// [`best_plan`], inlined into each of its builds. Its estimate is a loop, not a
/// closure: a closure, or a generic adapter, is a function of its own, compiled
/// for a build's features only if the compiler inlines it (this one was not);
/// `#[inline(always)]` callees are. `lower_median` and `sparse_plan`, called
/// from inside, have builds of their own (a second detection, a load).
#[inline(always)]
fn best_plan_in(xs: &[i64], predictors: &Predictors) -> Option<Plan> {
    // A constant sequence (a flat gauge, an idle counter: most real chunks) is
    // the `None` predictor's constant coding, which every other predictor's
    // header makes larger: no estimate needed.
    if let Some(&first) = xs.first()
        && predictors.common.contains(&Predictor::None)
        && all_equal(xs, first, |x| x)
    {
        return flat_plan(first, xs.len(), predictors);
    }
    let n = xs.len();
    let (mut scratch, mut kept) = (Scratch::with_capacity(n), Scratch::with_capacity(n));
    // Estimated bits, predictor, header values, range of the residuals.
    type Best = Option<(usize, Predictor, [i64; 2], (i64, i64))>;
    let mut best: Best = None;
    for round in 0..2 {
        let tried = match (round, best) {
            (0, _) => predictors.common,
            (_, Some((b, ..))) if b > RARE_PREDICTOR_BITS * n => predictors.rare,
            _ => &[],
        };
        for &p in tried {
            let header = residuals_into(xs, p, &mut scratch);
            let (bits, range) = estimate_bits(&scratch, p.header_len(n));
            // The first of equal estimates wins.
            let better = match best {
                Some((b, ..)) => bits < b,
                None => true,
            };
            if better {
                best = Some((bits, p, header, range));
                std::mem::swap(&mut scratch, &mut kept);
            }
        }
    }
    let (_, p, header, range) = best?;
    let chosen = plan_residuals(kept, header, p, n, range);
    if predictors.steps
        && let Some(steps) = stepping_plan(xs, &chosen, chosen.bytes)
    {
        return Some(steps);
    }
    Some(chosen)
}

/// A sparse coding of `xs`' deltas around zero, if `chosen` (a [`best_plan`])
/// has another predictor and the coding takes fewer than `budget` bytes. Those
/// estimates price packing only: for a level that holds and steps now and then,
/// the no-predictor estimate wins (the level's range is narrow) while the deltas'
/// sparse code is several times smaller. At most one value in
/// [`SPARSE_MAX_SHARE`] may differ from the one before; most columns stop at
/// counting those.
#[inline(always)]
fn stepping_plan(xs: &[i64], chosen: &Plan, budget: usize) -> Option<Plan> {
    if chosen.predictor == Predictor::Delta {
        return None;
    }
    let max = xs.len().saturating_sub(1) / SPARSE_MAX_SHARE;
    // Counted 16 at a time, to stop as soon as there are too many.
    let next = xs.get(1..).unwrap_or_default();
    let mut changes = 0usize;
    for (b, a) in next.chunks(16).zip(xs.chunks(16)) {
        changes += b
            .iter()
            .zip(a)
            .map(|(b, a)| usize::from(a != b))
            .sum::<usize>();
        if changes > max {
            return None;
        }
    }
    let predictor = Predictor::Delta;
    let mut residuals = Scratch::with_capacity(xs.len());
    let header = residuals_into(xs, predictor, &mut residuals);
    let prefix = prefix_len(predictor, header, xs.len());
    let range = range_of(&residuals);
    let sparse = sparse_plan(&residuals, 0, budget.checked_sub(prefix)?, range, 0, max)?;
    Some(Plan {
        predictor,
        coding: Coding::Sparse(sparse.width),
        header,
        base: 0,
        multiplier: sparse.multiplier,
        offsets: sparse.exceptions,
        bytes: prefix + sparse.bytes,
    })
}

x86_64_builds! {
    /// Serializes a plan; returns the oldest format version that reads it.
    pub(crate) fn write(plan: &Plan, n: usize, out: &mut Vec<u8>) -> Format = write_in;
}

/// [`write()`], inlined into each of its builds.
#[inline(always)]
fn write_in(plan: &Plan, n: usize, out: &mut Vec<u8>) -> Format {
    if n == 0 {
        return Format::V1;
    }
    let has_multiplier = plan.multiplier > 1;
    let flags = match plan.coding {
        Coding::Packed { .. } => 0,
        Coding::Constant => CONSTANT_FLAG,
        Coding::Rice(_) => RICE_FLAG,
        Coding::Sparse(_) => SPARSE_FLAG,
    } | if has_multiplier { MULTIPLIER_FLAG } else { 0 };
    out.push(plan.predictor as u8 | flags);
    for &h in plan.header.iter().take(plan.predictor.header_len(n)) {
        put_uvarint(out, zigzag(h));
    }
    let (width, exc_width) = match plan.coding {
        Coding::Packed { width, exc_width } => (width, exc_width),
        Coding::Sparse(exc_width) => {
            write_sparse(plan, exc_width, out);
            return Format::V4;
        }
        Coding::Constant => {
            put_uvarint(out, zigzag(plan.base));
            return Format::V2;
        }
        Coding::Rice(k) => {
            out.reserve(plan.bytes);
            write_rice(&plan.offsets, k, plan.base, plan.multiplier, out);
            return Format::V3;
        }
    };
    put_uvarint(out, zigzag(plan.base));
    if has_multiplier {
        put_uvarint(out, plan.multiplier);
    }
    out.push(width as u8);
    let limit = if width >= 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    };
    // Offsets above the packed width exist only when the widest is wider. They
    // are few: found again by each pass that writes them rather than collected.
    let is_exception = |o: &u64| *o > limit;
    let count = if exc_width == 0 {
        0
    } else {
        plan.offsets.iter().filter(|o| is_exception(o)).count()
    };
    out.reserve(plan.bytes);
    put_uvarint(out, count as u64);
    if count > 0 {
        out.push(exc_width as u8);
        let mut prev = 0usize;
        for (i, _) in (plan.offsets.iter().enumerate()).filter(|(_, o)| is_exception(o)) {
            put_uvarint(out, (i - prev) as u64);
            prev = i;
        }
        let highs = plan.offsets.iter().filter(|o| is_exception(o));
        pack(highs.map(|o| o >> width), exc_width, out);
    }
    pack_slice(&plan.offsets, width, out);
    Format::V1
}

/// Appends a format v4 sparse stream from its base on: a packed stream of width
/// zero (no width byte, no slots) whose exceptions are signed differences, their
/// index gaps packed ahead of them in one field (the gaps' width rides in the
/// count's low four bits).
#[inline(always)]
fn write_sparse(plan: &Plan, width: u32, out: &mut Vec<u8>) {
    let pairs = plan.offsets.chunks_exact(2);
    let slot = |pair: &[u64]| pair.first().copied().unwrap_or(0);
    let mut prev = 0u64;
    let gaps = pairs.clone().map(move |pair| {
        let gap = slot(pair) - prev;
        prev = slot(pair);
        gap
    });
    let gap_width = bit_len(gaps.clone().fold(0, |a, g| a | g));
    out.reserve(plan.bytes);
    put_uvarint(out, zigzag(plan.base));
    if plan.multiplier > 1 {
        put_uvarint(out, plan.multiplier);
    }
    put_uvarint(out, (pairs.len() as u64) << 4 | u64::from(gap_width));
    out.push(width as u8);
    let mut w = LsbWriter::default();
    for gap in gaps {
        w.put(gap, gap_width, out);
    }
    for pair in pairs {
        w.put(pair.get(1).copied().unwrap_or(0), width, out);
    }
    w.finish(out);
}

fn corrupt(r: &ByteReader<'_>, what: &'static str) -> CodecError {
    CodecError::Corrupt {
        offset: r.position(),
        what,
    }
}

/// Loads the `i`-th `width`-bit value (LSB-first) from `data`; zero past the end.
#[inline(always)]
fn load(data: &[u8], i: usize, width: u32, mask: u64) -> u64 {
    load_at(data, i * width as usize, width, mask)
}

/// Loads the `width`-bit value (LSB-first) starting at bit `bit` of `data`; zero
/// past the end.
#[inline(always)]
fn load_at(data: &[u8], bit: usize, width: u32, mask: u64) -> u64 {
    let byte = bit >> 3;
    let shift = (bit & 7) as u32;
    if width <= 56 {
        (word_at(data, byte) >> shift) & mask
    } else {
        let w = match data.get(byte..byte + 16) {
            Some(s) => {
                let mut a = [0u8; 16];
                a.copy_from_slice(s);
                u128::from_le_bytes(a)
            }
            None => load_tail(data, byte),
        };
        (w >> shift) as u64 & mask
    }
}

#[cold]
fn load_tail(data: &[u8], byte: usize) -> u128 {
    u128::from_le_bytes(zero_padded_prefix(data.get(byte..).unwrap_or_default()))
}

/// Decodes `n` integers written by [`write()`], appending `finish(x)` for each to
/// `out`, as `format` reads them (from version 2 the constant and Rice codings may
/// appear; version 3 lays Rice codes out differently). `finish` (e.g. a decimal's scaling) runs in the last pass over each
/// value, so the caller needs no pass of its own.
pub(crate) fn read<W: Word>(
    r: &mut ByteReader<'_>,
    n: usize,
    out: &mut Vec<W>,
    format: Format,
    finish: impl Fn(i64) -> W + Copy,
) -> Result<()> {
    read_with(r, n, out, format, finish, false).map(|_| ())
}

/// [`read`] for timestamps (appended as they are), also telling what it knows of
/// their order: a line with a few late samples is vouched for as strictly
/// increasing from checks around those samples, so the caller can skip its pass.
pub(crate) fn read_timestamps(
    r: &mut ByteReader<'_>,
    n: usize,
    out: &mut Vec<i64>,
    format: Format,
) -> Result<Order> {
    read_with(r, n, out, format, |t| t, true)
}

/// [`read`], and with `want_order` the order of the integers decoded (before
/// `finish`: only [`read_timestamps`], whose `finish` is the identity, asks).
fn read_with<W: Word>(
    r: &mut ByteReader<'_>,
    n: usize,
    out: &mut Vec<W>,
    format: Format,
    finish: impl Fn(i64) -> W + Copy,
    want_order: bool,
) -> Result<Order> {
    if n == 0 {
        return Ok(Order::Unknown);
    }
    let p = r.u8()?;
    let flags = MULTIPLIER_FLAG
        | if format >= Format::V2 {
            RICE_FLAG | CONSTANT_FLAG
        } else {
            0
        }
        | if format >= Format::V4 { SPARSE_FLAG } else { 0 };
    let predictor =
        Predictor::from_u8(p & !flags).ok_or_else(|| corrupt(r, "unknown predictor"))?;
    let mut header = [0i64; 2];
    let hl = predictor.header_len(n);
    for h in header.iter_mut().take(hl) {
        *h = r.varint()?;
    }
    let m = n - hl.min(n) + usize::from(predictor == Predictor::Linear && n > 1);
    let start = out.len();
    out.reserve(n + DECODE_SLACK);
    for &h in header.iter().take(hl.min(1)) {
        out.push(finish(h));
    }
    let sparse = p & SPARSE_FLAG != 0;
    match (p & RICE_FLAG != 0, p & CONSTANT_FLAG != 0) {
        (false, false) => {}
        _ if sparse => return Err(corrupt(r, "conflicting coding flags")),
        (false, true) if p & MULTIPLIER_FLAG == 0 => {
            let base = r.varint()?;
            if predictor == Predictor::None {
                out.extend(std::iter::repeat_n(finish(base), m));
            } else {
                out.extend(std::iter::repeat_n(W::from_i64(base), m));
                integrate(predictor, header, n, start, out, finish);
            }
            return Ok(Order::Unknown);
        }
        (true, false) => {
            let param = r.u8()?;
            if param & !(0x3f | RICE_BASE_FLAG) != 0 {
                return Err(corrupt(r, "unknown Rice parameter flags"));
            }
            let base = if param & RICE_BASE_FLAG != 0 {
                r.varint()?
            } else {
                0
            };
            let multiplier = if p & MULTIPLIER_FLAG != 0 {
                r.uvarint()?
            } else {
                1
            };
            let k = u32::from(param & 0x3f);
            // The usual predictors (none, delta) are undone while decoding.
            let (fused, running) = match predictor {
                Predictor::None => (true, None),
                Predictor::Delta => (true, Some(header[0])),
                _ => (false, None),
            };
            if format >= Format::V3 {
                let codes = RiceCodes {
                    k,
                    base,
                    multiplier,
                };
                if fused {
                    read_split_rice(r, m, codes, running, out, finish, rice_kernel())?;
                } else {
                    read_split_rice(r, m, codes, None, out, W::from_i64, rice_kernel())?;
                }
            } else {
                let used = if fused {
                    read_rice(r.rest(), m, k, base, multiplier, running, out, finish)?
                } else {
                    read_rice(r.rest(), m, k, base, multiplier, None, out, W::from_i64)?
                };
                r.take(used)?;
            }
            if !fused {
                integrate(predictor, header, n, start, out, finish);
            }
            return Ok(Order::Unknown);
        }
        _ => return Err(corrupt(r, "conflicting coding flags")),
    }
    let base = r.varint()?;
    let multiplier = if p & MULTIPLIER_FLAG != 0 {
        r.uvarint()?
    } else {
        1
    };
    // A sparse stream has no packed slots: every residual is the base but at the
    // exceptions.
    let width = if sparse { 0 } else { u32::from(r.u8()?) };
    if width > 64 {
        return Err(corrupt(r, "packed width over 64"));
    }
    // A sparse stream's count carries the width of its packed index gaps.
    let count = r.uvarint()?;
    let (count, gap_width) = if sparse {
        (count >> 4, (count & 15) as u32)
    } else {
        (count, 0)
    };
    let exc = usize::try_from(count).map_err(|_| corrupt(r, "exception count"))?;
    if exc > m {
        return Err(corrupt(r, "more exceptions than values"));
    }
    // Exceptions, in slot order: varint gaps are validated here and applied after
    // the low parts are unpacked by reading them a second time (no allocation);
    // a sparse stream's packed gaps are validated in the one pass that applies
    // them.
    let mut exceptions = None;
    if exc > 0 {
        let exc_width = u32::from(r.u8()?);
        if width + exc_width > 64 {
            return Err(corrupt(r, "exception width over 64"));
        }
        let (gaps, highs) = if sparse {
            // One field: the gaps, then the differences (exc ≤ m slots of at most
            // 79 bits: no overflow).
            let field = r.take((exc * (gap_width + exc_width) as usize).div_ceil(8))?;
            (Gaps::Packed(gap_width), field)
        } else {
            let gaps = read_gaps(r, exc, m)?;
            (Gaps::Varint(gaps), r.take(packed_len(exc, exc_width))?)
        };
        exceptions = Some(Exceptions {
            gaps,
            count: exc,
            slots: m,
            highs,
            widths: (width, exc_width),
            multiplier,
            signed: sparse,
        });
    }
    let lows = r.take(packed_len(m, width))?;
    let mask = mask_of(width);

    let bad_gaps = |r: &ByteReader<'_>| corrupt(r, "exception index out of order or range");
    if predictor == Predictor::Delta && width == 0 {
        if !push_steps(out, header[0], base, m, exceptions, finish) {
            return Err(bad_gaps(r));
        }
        return Ok(Order::Unknown);
    }
    if predictor == Predictor::Linear && width == 0 {
        // A line whose residuals are all `base` but at the exceptions (real scrape
        // timestamps: regular, a few late): the line is filled in one pass, the
        // exceptions added (their order checked in the same pass), and the values
        // finished in place (a pass that compiles to nothing for timestamps). The
        // same values as the passes below.
        let (slope, first) = (header[1], header[0].wrapping_add(base));
        push_line(out, first.wrapping_add(slope), slope, m);
        let slots = out.get_mut(start + 1..).unwrap_or_default();
        let order =
            patch_line(slots, header, base, exceptions, want_order).ok_or_else(|| bad_gaps(r))?;
        for v in slots {
            *v = finish(v.to_i64());
        }
        return Ok(order);
    }
    // Three tight passes over the output: residuals, patches, then the predictor
    // integrated in place. Each is a simple loop the compiler keeps in registers.
    unpack_into(lows, m, width, mask, base, multiplier, out);
    if let Some(exceptions) = exceptions
        && !patch(out, start + hl.min(1), exceptions)
    {
        return Err(bad_gaps(r));
    }
    integrate(predictor, header, n, start, out, finish);
    Ok(Order::Unknown)
}

/// Validates `count` index gaps of exceptions among `m` slots (each index past the
/// one before, all below `m`) and reads past them; returns a reader at the first,
/// for a second pass that applies them.
fn read_gaps<'a>(r: &mut ByteReader<'a>, count: usize, m: usize) -> Result<ByteReader<'a>> {
    let gaps = r.clone();
    let mut at = 0usize;
    for k in 0..count {
        let gap = usize::try_from(r.small_uvarint()?).map_err(|_| corrupt(r, "exception index"))?;
        at = at
            .checked_add(gap)
            .ok_or_else(|| corrupt(r, "exception index"))?;
        if at >= m || (k > 0 && gap == 0) {
            return Err(corrupt(r, "exception index out of order or range"));
        }
    }
    Ok(gaps)
}

/// `bytes`, or, when they are few, a zero-padded copy of them in `copy`: a few
/// exceptions' fields are a few bytes, and loads near the end of a slice would
/// otherwise assemble their words byte by byte.
fn short_padded<'a>(bytes: &'a [u8], copy: &'a mut [u8; 64]) -> &'a [u8] {
    match zero_padded::<64>(bytes, 16) {
        Some(p) => {
            *copy = p;
            copy.as_slice()
        }
        None => bytes,
    }
}

/// A Rice stream's parameter and how its codes map to residuals:
/// `base + unzigzag(v) × multiplier`.
#[derive(Clone, Copy)]
struct RiceCodes {
    k: u32,
    base: i64,
    multiplier: u64,
}

/// How Rice quotients are decoded: one at a time, or in blocks with AVX-512.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RiceKernel {
    /// One at a time ([`unary_scalar`]): any CPU.
    Scalar,
    /// In blocks, each word's positions a byte at a time (`simd::rice_codes_f`:
    /// AVX-512 F and DQ, as on Skylake-SP and Cascade Lake).
    Avx512F,
    /// In blocks, each word's positions in one instruction (`simd::rice_codes`:
    /// VBMI2 too, as on Ice Lake and Zen 4).
    Avx512Vbmi2,
}

/// The fastest [`RiceKernel`] this CPU runs.
fn rice_kernel() -> RiceKernel {
    #[cfg(target_arch = "x86_64")]
    {
        if crate::simd::has_avx512_rice() {
            return RiceKernel::Avx512Vbmi2;
        }
        if crate::simd::has_avx512_rice_f() {
            return RiceKernel::Avx512F;
        }
    }
    RiceKernel::Scalar
}

/// Decodes the `m` codes of a format v3 Rice stream (laid out as [`write_rice`]
/// writes it) from `r`, positioned after the parameter byte, base and multiplier,
/// into slots `finish(residual)`, or with `running = Some(x)` the running sums
/// `finish(x + Σ residuals)` (the delta predictor undone in the same pass).
///
/// Two passes over the slots: the low bits unpacked as any packed stream; then
/// the quotients, from the positions of the set bits of the unary words, each
/// joined to its low bits and turned into its residual in the same step: in
/// blocks with `kernel`'s (see [`rice_kernel`]), or one at a time (a count of
/// trailing zeros and a clear of the lowest set bit per code: no chain of shifts
/// and reloads from one code's length to the next code).
fn read_split_rice<W: Word>(
    r: &mut ByteReader<'_>,
    m: usize,
    codes: RiceCodes,
    running: Option<i64>,
    out: &mut Vec<W>,
    finish: impl Fn(i64) -> W + Copy,
    kernel: RiceKernel,
) -> Result<()> {
    let RiceCodes {
        k,
        base,
        multiplier,
    } = codes;
    let data = r.rest();
    let lows = r.clone().take(packed_len(m, k))?;
    let start = out.len();
    unpack_with(lows, m, k, mask_of(k), out, |v| W::from_i64(v as i64));
    let slots = out.get_mut(start..).unwrap_or_default();
    let unary = m * k as usize;
    let (mul, x) = (multiplier as i64, running.unwrap_or(0));
    let q = Quotients { data, k, base, mul };
    let end = match (running.is_some(), multiplier != 1) {
        (true, true) => unary_run::<W, true, true>(q, unary, slots, x, finish, kernel),
        (true, false) => unary_run::<W, true, false>(q, unary, slots, x, finish, kernel),
        (false, true) => unary_run::<W, false, true>(q, unary, slots, x, finish, kernel),
        (false, false) => unary_run::<W, false, false>(q, unary, slots, x, finish, kernel),
    }?;
    // `end` counts from `data`, where `r` still is.
    r.take(end.div_ceil(8))?;
    Ok(())
}

/// The quotients of the unary stream from bit `from_bit` of `data` (escapes
/// included), each joined to the low bits already in its slot to make the code
/// `v`, and the slot then set to `finish(base + unzigzag(v) × mul)`, or with `SUM`
/// to the running sum of those from `x`. Returns the bit after the last code.
/// Bits past the end of `data` read as zeros: a stream that needs them is
/// truncated.
///
/// With a kernel of blocks (and a CPU that runs it: see [`rice_kernel`]), eight
/// codes at a time up to each escape, which [`unary_scalar`] takes; else all of
/// them one at a time. All give the same.
fn unary_run<W: Word, const SUM: bool, const MUL: bool>(
    q: Quotients<'_>,
    from_bit: usize,
    slots: &mut [W],
    x: i64,
    finish: impl Fn(i64) -> W + Copy,
    kernel: RiceKernel,
) -> Result<usize> {
    // The kernel asked for, where the CPU runs it (whatever the caller asked).
    #[cfg(target_arch = "x86_64")]
    let blocks = match kernel {
        RiceKernel::Scalar => None,
        RiceKernel::Avx512F => crate::simd::has_avx512_rice_f().then_some(false),
        RiceKernel::Avx512Vbmi2 => crate::simd::has_avx512_rice().then_some(true),
    };
    #[cfg(target_arch = "x86_64")]
    if let Some(vbmi2) = blocks {
        let (mut i, mut bit, mut x) = (0usize, from_bit, x);
        while i < slots.len() {
            let rest = slots.get_mut(i..).unwrap_or_default();
            // SAFETY: the CPU has the features each function is compiled for,
            // detected just above.
            let (n, b, y) = if vbmi2 {
                unsafe { crate::simd::rice_codes::<W, SUM, MUL>(q, bit, rest, x, finish) }
            } else {
                unsafe { crate::simd::rice_codes_f::<W, SUM, MUL>(q, bit, rest, x, finish) }
            };
            (i, bit, x) = (i + n, b, y);
            // An escape (or a run of zeros, or the end) one code at a time;
            // eight if the blocks took fewer than eight, so escapes among a
            // few codes each (crafted, or a noisy stream) cost a block's search
            // every nine codes or more, not every other code.
            let left = slots.len() - i;
            if left == 0 {
                break;
            }
            let take = if n < 8 { left.min(8) } else { 1 };
            let few = slots.get_mut(i..i + take).unwrap_or_default();
            (bit, x) = unary_scalar::<W, SUM, MUL>(q, bit, few, x, finish)?;
            i += take;
        }
        return Ok(bit);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = kernel;
    unary_scalar::<W, SUM, MUL>(q, from_bit, slots, x, finish).map(|(bit, _)| bit)
}

/// A Rice stream's unary quotients (`data`, read from a bit the caller gives)
/// and how each code `v`, its quotient joined to its `k` low bits, maps to a
/// residual: `base + unzigzag(v) × mul`.
#[derive(Clone, Copy)]
pub(crate) struct Quotients<'a> {
    pub(crate) data: &'a [u8],
    pub(crate) k: u32,
    pub(crate) base: i64,
    pub(crate) mul: i64,
}

/// [`unary_run`] one code at a time; also returns the running sum.
// Not inlined: on its own, each specialisation keeps its loop in registers.
#[inline(never)]
fn unary_scalar<W: Word, const SUM: bool, const MUL: bool>(
    Quotients { data, k, base, mul }: Quotients<'_>,
    from_bit: usize,
    slots: &mut [W],
    mut x: i64,
    finish: impl Fn(i64) -> W,
) -> Result<(usize, i64)> {
    let truncated = || CodecError::Truncated {
        bit: data.len() * 8,
    };
    // `w` holds the unread bits of the 64 from byte `byte`; the current code
    // starts at bit `byte × 8 + rel` (`rel` may be negative: zeros at the end of
    // the words before).
    let mut byte = from_bit / 8;
    let mut rel = (from_bit % 8) as isize;
    let mut w = word_at(data, byte) & (u64::MAX << rel);
    for slot in slots.iter_mut() {
        if w == 0 {
            // The code's zeros run to the end of this word: look one word on. If
            // that one is all zeros too (or past the end), the count of trailing
            // zeros below makes it an escape. So every code reads a bounded number
            // of words, whatever the bytes: a run of zeros is never scanned again
            // for each code that starts in it.
            byte += 8;
            rel -= 64;
            w = word_at(data, byte);
        }
        let one = w.trailing_zeros() as isize;
        let mut q = one.wrapping_sub(rel) as u64;
        if q < u64::from(RICE_ESCAPE) {
            rel = one + 1;
            w &= w - 1;
        } else {
            let next;
            (q, next) = rice_escape(data, (byte * 8).wrapping_add_signed(rel));
            if next > data.len() * 8 {
                return Err(truncated());
            }
            byte = next / 8;
            rel = (next % 8) as isize;
            w = word_at(data, byte) & (u64::MAX << rel);
        }
        let d = unzigzag(slot.to_i64() as u64 | q << k);
        let r = base.wrapping_add(if MUL { d.wrapping_mul(mul) } else { d });
        x = if SUM { x.wrapping_add(r) } else { r };
        *slot = finish(x);
    }
    Ok(((byte * 8).wrapping_add_signed(rel), x))
}

/// The escaped number whose [`RICE_ESCAPE`] zero bits start at bit `at` (the
/// quotient in format v3, the whole value in v2): six bits of its length − 1, then
/// the number. Returns it and the bit after it.
#[cold]
#[inline(never)]
fn rice_escape(data: &[u8], at: usize) -> (u64, usize) {
    let at = at + RICE_ESCAPE as usize;
    let len = load_at(data, at, 6, 63) as u32 + 1;
    let q = load_at(data, at + 6, len, mask_of(len));
    (q, at + 6 + len as usize)
}

/// The 8 bytes of `data` from `byte` as a little-endian word, zeros past the end.
#[inline(always)]
pub(crate) fn word_at(data: &[u8], byte: usize) -> u64 {
    match data.get(byte..byte.saturating_add(8)) {
        Some(&[a, b, c, d, e, f, g, h]) => u64::from_le_bytes([a, b, c, d, e, f, g, h]),
        _ => load_tail(data, byte) as u64,
    }
}

/// What [`read_timestamps`] knows of the order of the timestamps it decoded.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Order {
    /// Not checked.
    Unknown,
    /// Each is greater than the one before.
    StrictlyIncreasing,
}

/// Adds the exceptions to a decoded line (`header = [first, slope]`, `slots` the
/// values after the first: `first + base + j × slope`) and, with `want_order`,
/// tells whether the result strictly increases, from checks made in the same
/// pass: the slope is positive, the unpatched line is exact in `i64` and starts
/// above `first`, and every patched slot lies between its neighbours — the only
/// pairs the line does not order. A few comparisons per exception instead of a
/// pass over every value. None if the exceptions' index gaps are out of order or
/// range.
fn patch_line<W: Word>(
    slots: &mut [W],
    header: [i64; 2],
    base: i64,
    exceptions: Option<Exceptions<'_>>,
    want_order: bool,
) -> Option<Order> {
    let [first, slope] = header;
    let mut ok = want_order
        && slots.len().checked_sub(1).is_none_or(|last| {
            let lo = i64::try_from(i128::from(first) + i128::from(base) + i128::from(slope)).ok();
            slope > 0 && lo.is_some_and(|lo| lo > first && line_at(lo, slope, last).is_some())
        });
    if let Some(exceptions) = exceptions {
        // A patched slot whose right neighbour is not compared yet: it is when the
        // next exception is not that neighbour (else that one's left check does).
        let mut pending: Option<usize> = None;
        let value = |slots: &[W], j: usize| slots.get(j).map(|v| v.to_i64());
        let all = exceptions.for_each(|at, add| {
            let Some(x) = slots.get_mut(at) else {
                ok = false;
                return;
            };
            let v = x.to_i64().wrapping_add(add as i64);
            *x = W::from_i64(v);
            if !ok {
                return;
            }
            if let Some(p) = pending
                && p + 1 != at
            {
                ok = value(slots, p) < value(slots, p + 1);
            }
            let left = if at == 0 {
                Some(first)
            } else {
                value(slots, at - 1)
            };
            ok = ok && left.is_some_and(|l| l < v);
            pending = Some(at);
        });
        if !all {
            return None;
        }
        if let Some(p) = pending {
            ok = ok && value(slots, p + 1).is_none_or(|r| value(slots, p).is_some_and(|v| v < r));
        }
    }
    Some(if ok {
        Order::StrictlyIncreasing
    } else {
        Order::Unknown
    })
}

/// `first + k × step`, if it is in `i64` (exactly: the intermediate product may
/// not be).
pub(crate) fn line_at(first: i64, step: i64, k: usize) -> Option<i64> {
    // |step × k| < 2^127: no i128 overflow.
    i64::try_from(i128::from(first) + i128::from(step) * k as i128).ok()
}

/// Appends `m` values `first`, `first + step`, … (wrapping): eight lanes of one
/// register at a time with AVX-512 where the CPU has it (`simd::push_line`, a
/// store per eight), else [`push_line_scalar`]. Both give the same.
pub(crate) fn push_line<W: Word>(out: &mut Vec<W>, first: i64, step: i64, m: usize) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx512() {
        // SAFETY: the CPU has the features the function is compiled for,
        // detected just above.
        unsafe { crate::simd::push_line(out, first, step, m) };
        return;
    }
    push_line_scalar(out, first, step, m);
}

/// [`push_line`] with four lanes a step apart advanced together, written in
/// place.
fn push_line_scalar<W: Word>(out: &mut Vec<W>, first: i64, step: i64, m: usize) {
    // Appended four at a time, not zero-filled first and then overwritten: the
    // fill's stores cost about as much as the line's.
    out.reserve(m);
    let mut lanes = [0i64, 1, 2, 3].map(|i| first.wrapping_add(step.wrapping_mul(i)));
    let step4 = step.wrapping_mul(4);
    for _ in 0..m / 4 {
        out.extend_from_slice(&lanes.map(W::from_i64));
        lanes = lanes.map(|t| t.wrapping_add(step4));
    }
    out.extend(lanes.into_iter().take(m % 4).map(W::from_i64));
}

/// Adds the exceptions' high parts to their slots of `out` (slot 0 at `slots`).
/// False if their index gaps are out of order or range.
fn patch<W: Word>(out: &mut [W], slots: usize, exceptions: Exceptions<'_>) -> bool {
    exceptions.for_each(|at, add| {
        if let Some(x) = out.get_mut(slots.wrapping_add(at)) {
            *x = W::from_i64(x.to_i64().wrapping_add(add as i64));
        }
    })
}
/// The exceptions of a packed stream: `count` of them, whose index gaps `gaps`
/// reads (varints validated before by [`read_gaps`], packed ones by
/// [`Exceptions::for_each`] as it applies them) and whose high parts `highs`
/// holds, packed at the second of `widths` above slots of the first.
#[derive(Clone)]
struct Exceptions<'a> {
    gaps: Gaps<'a>,
    count: usize,
    /// The slots they fall among: every index is below this.
    slots: usize,
    highs: &'a [u8],
    widths: (u32, u32),
    multiplier: u64,
    /// Format v4's sparse coding: the high parts are zigzag-mapped signed
    /// differences (the packed width is zero).
    signed: bool,
}

/// Where the index gaps of a stream's exceptions are.
#[derive(Clone)]
enum Gaps<'a> {
    /// Varints, this reader at the first (packing's exceptions).
    Varint(ByteReader<'a>),
    /// Packed at this width at the start of the exceptions' field, their
    /// differences after them (format v4's sparse coding).
    Packed(u32),
}

impl Exceptions<'_> {
    /// Calls `f(slot, add)` for each exception in slot order, `add` being what
    /// it adds to its slot's residual (`high << width`, or when signed
    /// `unzigzag(high)`, times the multiplier, wrapping). False if a gap could not
    /// be read, or for packed gaps (validated here, in the pass that applies
    /// them) if a slot is not past the one before or not below `slots`: `f` is
    /// never called with a slot out of range, but may have been called with a
    /// repeated one, so the caller's output is then corrupt.
    fn for_each(self, mut f: impl FnMut(usize, u64)) -> bool {
        let Exceptions {
            gaps,
            count,
            slots,
            highs,
            widths: (width, exc_width),
            multiplier,
            signed,
        } = self;
        let emask = mask_of(exc_width);
        let mut copy = [0u8; 64];
        let highs = short_padded(highs, &mut copy);
        let add = |k: usize, at_bit: usize| {
            let high = load_at(highs, at_bit + k * exc_width as usize, exc_width, emask);
            let high = if signed {
                unzigzag(high) as u64
            } else {
                high.checked_shl(width).unwrap_or(0)
            };
            high.wrapping_mul(multiplier)
        };
        let mut at = 0usize;
        match gaps {
            Gaps::Varint(mut r) => {
                for k in 0..count {
                    let Ok(gap) = r.small_uvarint() else {
                        debug_assert!(false, "exception gaps were validated before");
                        return false;
                    };
                    at = at.wrapping_add(gap as usize);
                    f(at, add(k, 0));
                }
            }
            Gaps::Packed(w) => {
                // The gaps come first in the field, the differences after them.
                let mask = mask_of(w);
                let at_bit = count * w as usize;
                // A gap of zero after the first repeats a slot: told at the end.
                let mut repeat = false;
                for k in 0..count {
                    let gap = load(highs, k, w, mask) as usize;
                    repeat |= (gap == 0) & (k > 0);
                    // Gaps are below 2^15 and `at` below `slots`: no overflow.
                    at = at.wrapping_add(gap);
                    if at >= slots {
                        return false;
                    }
                    f(at, add(k, at_bit));
                }
                return !repeat;
            }
        }
        true
    }
}

/// Appends the `m` values after `first` of a delta-predicted stream whose
/// residuals all equal `base` but at the exceptions (a counter that stands still
/// or climbs steadily, stepping now and then): each run between exceptions is
/// filled as a run (a repeat when `base` is 0, else a line) and finished once per
/// value or, for a repeat, once; each exception then steps the value. The same
/// values as unpacking, patching and integrating. False if the exceptions' index
/// gaps are out of order or range (`out` then holds what was pushed so far).
fn push_steps<W: Word>(
    out: &mut Vec<W>,
    first: i64,
    base: i64,
    m: usize,
    exceptions: Option<Exceptions<'_>>,
    finish: impl Fn(i64) -> W + Copy,
) -> bool {
    if base == 0 {
        return push_levels(out, first, m, exceptions, finish);
    }
    let mut x = first;
    // Appends `count` values from `x` on, stepping by `base`.
    let run = |out: &mut Vec<W>, x: &mut i64, count: usize| {
        let from = out.len();
        push_line(out, x.wrapping_add(base), base, count);
        for v in out.get_mut(from..).unwrap_or_default() {
            *v = finish(v.to_i64());
        }
        *x = x.wrapping_add(base.wrapping_mul(count as i64));
    };
    let mut done = 0usize;
    if let Some(exceptions) = exceptions {
        let valid = exceptions.for_each(|at, add| {
            run(out, &mut x, at.saturating_sub(done));
            x = x.wrapping_add(base).wrapping_add(add as i64);
            out.push(finish(x));
            done = at + 1;
        });
        if !valid {
            return false;
        }
    }
    run(out, &mut x, m.saturating_sub(done));
    true
}

/// [`push_steps`] for a level that holds between its steps (every residual zero
/// but at the exceptions): each step's value is finished once, for its slot and
/// the run that repeats it (a decimal's finishing is a division). Its loop has
/// `push_steps`' shape, kept apart on purpose: folded into that one with the
/// finished value carried through both kinds of run, decoding took 1.1 % more
/// instructions on the 2 s capture and was slower in interleaved rounds.
fn push_levels<W: Word>(
    out: &mut Vec<W>,
    first: i64,
    m: usize,
    exceptions: Option<Exceptions<'_>>,
    finish: impl Fn(i64) -> W + Copy,
) -> bool {
    let (mut x, mut v) = (first, finish(first));
    // Each exception starts a run of its value, to the next one's slot.
    let mut run = 0usize;
    if let Some(exceptions) = exceptions {
        let valid = exceptions.for_each(|at, add| {
            repeat_blocks(out, v, at.saturating_sub(run));
            x = x.wrapping_add(add as i64);
            v = finish(x);
            run = at;
        });
        if !valid {
            return false;
        }
    }
    repeat_blocks(out, v, m.saturating_sub(run));
    true
}

/// Copies [`repeat_blocks`] appends at a time.
const REPEAT_BLOCK: usize = 8;

/// Room the decoders want past a column's last value: [`repeat_blocks`] writes
/// up to a block past the end before cutting back. A caller that reserves it
/// with the column spares the decoder a reallocation.
pub(crate) const DECODE_SLACK: usize = REPEAT_BLOCK;

/// Appends `count` copies of `v` to `out` eight at a time, the last eight cut
/// back to `count`: a run costs a round per eight, where a loop per copy ended
/// at a different count each run and mispredicted its end. Past its capacity,
/// `out` grows as any `Vec`.
#[inline(always)]
fn repeat_blocks<W: Copy>(out: &mut Vec<W>, v: W, count: usize) {
    let end = out.len() + count;
    // Runs are mostly shorter than a block: the first is written untested.
    out.extend_from_slice(&[v; REPEAT_BLOCK]);
    while out.len() < end {
        out.extend_from_slice(&[v; REPEAT_BLOCK]);
    }
    out.truncate(end);
}

/// Turns `out[start..]` — the first header value (already finished), then one
/// residual per slot — into the values, undoing `predictor` in place and finishing
/// each value with `finish`.
fn integrate<W: Word>(
    predictor: Predictor,
    header: [i64; 2],
    n: usize,
    start: usize,
    out: &mut Vec<W>,
    finish: impl Fn(i64) -> W,
) {
    let vals = out.get_mut(start..).unwrap_or_default();
    match predictor {
        Predictor::None => {
            for v in vals.iter_mut() {
                *v = finish(v.to_i64());
            }
        }
        Predictor::Delta => {
            // Two values a step: the running sum is serial, the loop overhead
            // need not be.
            let mut x = header[0];
            let mut pairs = vals.get_mut(1..).unwrap_or_default().chunks_exact_mut(2);
            for pair in &mut pairs {
                if let [a, b] = pair {
                    x = x.wrapping_add(a.to_i64());
                    *a = finish(x);
                    x = x.wrapping_add(b.to_i64());
                    *b = finish(x);
                }
            }
            for v in pairs.into_remainder() {
                x = x.wrapping_add(v.to_i64());
                *v = finish(x);
            }
        }
        Predictor::DeltaOfDelta => {
            // vals = [x0, r0, r1, …] with one slot fewer than values: slot j
            // becomes x_j, and the last value is pushed after the loop.
            let (mut x, mut d) = (header[0], header[1]);
            for v in vals.iter_mut().skip(1) {
                let r = v.to_i64();
                x = x.wrapping_add(d);
                *v = finish(x);
                d = d.wrapping_add(r);
            }
            if n > 1 {
                out.push(finish(x.wrapping_add(d)));
            }
        }
        Predictor::Linear => {
            let slope = header[1];
            let mut pred = header[0];
            for v in vals.iter_mut().skip(1) {
                pred = pred.wrapping_add(slope);
                *v = finish(pred.wrapping_add(v.to_i64()));
            }
        }
    }
}

/// Appends `base + v × multiplier` for each of the `m` packed `width`-bit values
/// `v` in `lows`.
///
/// Dispatches to a loop specialised for the width: eight values fill exactly
/// `width` bytes, so each group of eight is one bounds check and eight loads at
/// constant offsets with constant shifts and masks. Without a common factor the
/// loops are built without the multiply; with one (timestamps whose jitter comes
/// in steps of a few milliseconds, byte counts in pages) they have one multiply
/// more.
fn unpack_into<W: Word>(
    lows: &[u8],
    m: usize,
    width: u32,
    mask: u64,
    base: i64,
    multiplier: u64,
    out: &mut Vec<W>,
) {
    if multiplier == 1 {
        unpack_with(lows, m, width, mask, out, |v| {
            W::from_i64(base.wrapping_add(v as i64))
        });
    } else {
        unpack_with(lows, m, width, mask, out, |v| {
            W::from_i64(base.wrapping_add(v.wrapping_mul(multiplier) as i64))
        });
    }
}

/// [`unpack_into`] with each packed value mapped by `value`.
fn unpack_with<W: Word>(
    lows: &[u8],
    m: usize,
    width: u32,
    mask: u64,
    out: &mut Vec<W>,
    value: impl Fn(u64) -> W + Copy,
) {
    macro_rules! dispatch {
        ($($w:literal)*) => {
            match width {
                0 => out.extend(std::iter::repeat_n(value(0), m)),
                $($w => unpack_width::<W, $w>(lows, m, value, out),)*
                _ => out.extend((0..m).map(|i| value(load(lows, i, width, mask)))),
            }
        };
    }
    dispatch!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28
        29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56);
}

#[inline(always)]
fn unpack_width<W: Word, const WIDTH: usize>(
    lows: &[u8],
    m: usize,
    value: impl Fn(u64) -> W + Copy,
    out: &mut Vec<W>,
) {
    let start = out.len();
    out.resize_with(start + m, || W::from_i64(0));
    let slots = out.get_mut(start..).unwrap_or_default();
    // Whole groups straight from the stream while an 8-byte load past each group's
    // last value stays inside it; the last groups (and any partial one) from a
    // zero-padded copy of the remaining bytes, through the same loop.
    let done = unpack_groups::<W, WIDTH>(lows, slots, value);
    let rest = slots.get_mut(done..).unwrap_or_default();
    let from = done / 8 * WIDTH;
    let tail = lows.get(from..).unwrap_or_default();
    match zero_padded::<TAIL_PAD>(tail, 8) {
        Some(pad) => {
            let rest_len = rest.len();
            let done = unpack_groups::<W, WIDTH>(&pad, rest, value);
            debug_assert_eq!(done, rest_len, "the padded copy holds every group");
        }
        _ => {
            for (i, slot) in rest.iter_mut().enumerate() {
                *slot = value(load(tail, i, WIDTH as u32, (1u64 << WIDTH) - 1));
            }
        }
    }
}

/// `bytes` at the start of a zeroed `N`-byte array, when at least `spare` zero
/// bytes follow them: loads of a few bytes near their end then stay inside it.
#[inline(always)]
fn zero_padded<const N: usize>(bytes: &[u8], spare: usize) -> Option<[u8; N]> {
    (bytes.len().saturating_add(spare) <= N).then(|| zero_padded_prefix(bytes))
}

/// Bytes of the zero-padded copy [`unpack_width`] decodes its last groups from: the
/// bytes left once a group's load would run past the stream are fewer than
/// `WIDTH + 8`, so the groups they hold start before that and their loads end
/// before `2 × WIDTH + 16` ≤ 128.
const TAIL_PAD: usize = 144;

/// Unpacks groups of eight `WIDTH`-bit values from `bytes` into `slots` while each
/// group's bytes and an 8-byte load past them are inside `bytes` (a partial last
/// group too); returns the number of slots filled, a multiple of 8 unless all were.
///
/// Eight values fill exactly `WIDTH` bytes, so each group is one bounds check and
/// eight loads at constant offsets with constant shifts and masks.
#[inline(always)]
fn unpack_groups<W: Word, const WIDTH: usize>(
    bytes: &[u8],
    slots: &mut [W],
    value: impl Fn(u64) -> W,
) -> usize {
    // Value `j` of the group whose bytes start `group`.
    #[inline(always)]
    fn at<const WIDTH: usize>(group: &[u8], j: usize) -> u64 {
        let bit = j * WIDTH;
        (word_at(group, bit / 8) >> (bit % 8)) & ((1u64 << WIDTH) - 1)
    }
    let mut done = 0;
    // Whole groups as arrays of eight: no test per value for a short group.
    let mut groups = slots.chunks_exact_mut(8);
    for (g, group) in (&mut groups).enumerate() {
        let at_byte = g * WIDTH;
        // `WIDTH + 8` bytes: the group's `WIDTH` bytes plus the overhang of the
        // last 8-byte load.
        let (Some(bytes), Ok(group)) = (
            bytes.get(at_byte..at_byte + WIDTH + 8),
            <&mut [W; 8]>::try_from(group),
        ) else {
            return done;
        };
        for (j, slot) in group.iter_mut().enumerate() {
            *slot = value(at::<WIDTH>(bytes, j));
        }
        done += 8;
    }
    let rest = groups.into_remainder();
    let at_byte = done / 8 * WIDTH;
    if let Some(bytes) = bytes.get(at_byte..at_byte + WIDTH + 8) {
        for (j, slot) in rest.iter_mut().enumerate() {
            *slot = value(at::<WIDTH>(bytes, j));
        }
        done += rest.len();
    }
    done
}

/// An output word of [`read`]: `i64` itself, or an `f64` slot carrying the integer's
/// bits until the caller converts it in place (saves a scratch buffer).
pub(crate) trait Word: Copy {
    fn from_i64(x: i64) -> Self;
    fn to_i64(self) -> i64;
}

impl Word for i64 {
    #[inline(always)]
    fn from_i64(x: i64) -> Self {
        x
    }
    #[inline(always)]
    fn to_i64(self) -> i64 {
        self
    }
}

impl Word for f64 {
    #[inline(always)]
    fn from_i64(x: i64) -> Self {
        f64::from_bits(x as u64)
    }
    #[inline(always)]
    fn to_i64(self) -> i64 {
        self.to_bits() as i64
    }
}

fn mask_of(width: u32) -> u64 {
    if width >= 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `plan` for `n` values and reads it back: the values, the bytes
    /// read and the bytes written.
    fn write_read(plan: &Plan, n: usize) -> (Vec<i64>, usize, usize) {
        let mut out = Vec::new();
        let format = write(plan, n, &mut out);
        let mut got: Vec<i64> = Vec::new();
        let mut r = ByteReader::new(&out);
        read(&mut r, n, &mut got, format, |x| x).unwrap();
        (got, r.position(), out.len())
    }

    fn round_trip(xs: &[i64]) -> usize {
        let mut sizes = Vec::new();
        for p in Predictor::ALL {
            let (got, read, written) = write_read(&plan(xs, p), xs.len());
            assert_eq!(got, xs, "{p:?}");
            assert_eq!(read, written, "{p:?} consumed all");
            sizes.push(written);
        }
        sizes.into_iter().min().unwrap()
    }

    proptest::proptest! {
        #[test]
        fn divisibility_test_equals_remainder(d in 1u64.., x: u64, shift in 0u32..64, k in 0u64..1000) {
            let d = (d >> shift).max(1);
            let div = ExactDiv::new(d);
            proptest::prop_assert_eq!(div.divides(x), x % d == 0);
            let m = k.wrapping_mul(d);
            proptest::prop_assert_eq!(div.divides(m), m % d == 0);
        }

        #[test]
        fn common_factor_is_the_gcd(xs in proptest::collection::vec(0u64..1 << 20, 0..40), f in 1u64..5000) {
            let xs: Vec<u64> = xs.iter().map(|x| x * f).collect();
            let want = xs.iter().fold(0, |g, &x| euclid(g, x));
            proptest::prop_assert_eq!(common_factor(xs.iter().copied()), want);
        }

        #[test]
        fn binary_gcd_is_euclids(a: u64, b: u64, shifts in (0u32..64, 0u32..64), f in 0u64..1 << 20) {
            // Any pair, pairs with common powers of two, multiples of one factor.
            let pairs = [(a, b), (a << shifts.0, b << shifts.1), (a % 1000 * f, b % 1000 * f), (0, b), (a, 0), (0, 0)];
            for (a, b) in pairs {
                proptest::prop_assert_eq!(gcd(a, b), euclid(a, b), "{} {}", a, b);
            }
        }

        #[test]
        fn exact_division_equals_division(d in 1u64.., q: u64, shift in 0u32..64) {
            let d = (d >> shift).max(1);
            let x = q.wrapping_mul(d);
            // Only multiples that do not wrap are exact multiples.
            if x / d == q || d == 1 {
                proptest::prop_assert_eq!(ExactDiv::new(d).unsigned(x), x / d);
            }
            let xs = (q as i64) >> (d.leading_zeros().min(63) as i64).min(63);
            let xs = xs.wrapping_mul(d as i64);
            if d < 1 << 63 && xs.checked_div(d as i64).is_some_and(|q| q.wrapping_mul(d as i64) == xs) {
                proptest::prop_assert_eq!(ExactDiv::new(d).signed(xs), xs / d as i64);
            }
        }
    }

    #[test]
    fn exact_division_edges() {
        for d in [1u64, 2, 3, 4096, 1000, (1 << 63) - 1, 1 << 62, u64::MAX] {
            let div = ExactDiv::new(d);
            for q in [0u64, 1, 2, 7, u64::MAX / d] {
                if q > u64::MAX / d {
                    continue;
                }
                assert_eq!(div.unsigned(q * d), q, "{q} × {d}");
            }
            if d < 1 << 63 {
                let max_q = i64::MAX / d as i64;
                for q in [0i64, 1, -1, max_q, -max_q] {
                    assert_eq!(div.signed(q * d as i64), q, "{q} × {d}");
                }
            }
        }
        assert_eq!(ExactDiv::new(1 << 63).unsigned(1 << 63), 1);
    }

    /// The extremes taking every residual through the tracking, one at a time (no
    /// four-at-a-time test): the reference for [`extremes`].
    fn extremes_reference(residuals: &[i64]) -> (i64, i64, [i64; 3]) {
        let (mut s0, mut s1) = (i64::MAX, i64::MAX);
        let mut hi = [i64::MIN; 3];
        for &r in residuals {
            if r < s1 {
                (s0, s1) = if r < s0 { (r, s0) } else { (s0, r) };
            }
            if r > hi[2] {
                hi[2] = r;
                hi.sort_unstable_by(|a, b| b.cmp(a));
            }
        }
        (s0, s1, hi)
    }

    proptest::proptest! {
        /// Histograms of bit lengths over columns longer than one pass of the
        /// AVX-512 kernel (128 values) and of any length around it, against
        /// counting one by one.
        #[test]
        fn bit_length_histograms_of_long_columns_are_counts(
            xs in proptest::collection::vec(
                proptest::prop_oneof![proptest::prelude::any::<u64>(), 0u64..300],
                0..400,
            ),
            base in proptest::prop_oneof![0u64..300, proptest::prelude::any::<u64>()],
        ) {
            let mut counts = [0u32; 65];
            xs.iter().for_each(|&x| counts[bit_len(x.wrapping_sub(base)) as usize] += 1);
            let top = xs.iter().map(|&x| bit_len(x.wrapping_sub(base))).max().unwrap_or(0);
            let hist = bit_len_hist(&xs, base);
            proptest::prop_assert_eq!(hist.counts, counts);
            proptest::prop_assert_eq!(hist.top, top);
            proptest::prop_assert_eq!(&bit_len_hist_scalar(&xs, base), &hist);
        }

        #[test]
        fn residuals_and_extremes_match_the_references(
            xs in proptest::collection::vec(proptest::prelude::any::<i64>(), 0..40),
            small in proptest::collection::vec(-50i64..50, 0..130),
            edges in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just(i64::MIN),
                    proptest::strategy::Just(i64::MAX),
                    -2i64..2,
                ],
                0..40,
            ),
        ) {
            for xs in [&xs, &small, &edges] {
                // Both ways of taking the extremes, over the values themselves
                // (the ends of i64 among them: the empty slots' values).
                proptest::prop_assert_eq!(extremes(xs), extremes_reference(xs));
                proptest::prop_assert_eq!(extremes_scalar(xs), extremes_reference(xs));
                for p in Predictor::ALL {
                    let mut res = Vec::new();
                    let _ = residuals_into(xs, p, &mut res);
                    let mut want = Vec::new();
                    for_each_residual(xs, p, |r| want.push(r));
                    proptest::prop_assert_eq!(&res, &want);
                    proptest::prop_assert_eq!(extremes(&res), extremes_reference(&res));
                    proptest::prop_assert_eq!(extremes_scalar(&res), extremes_reference(&res));
                    if !res.is_empty() {
                        proptest::prop_assert_eq!(estimate_bits(&res, 0).1, range_of(&res));
                    }
                    // The histogram of bit lengths against counting one by one.
                    let hist = bit_len_hist(&res, 0);
                    let mut counts = [0u32; 65];
                    res.iter().for_each(|&r| counts[bit_len(r as u64) as usize] += 1);
                    proptest::prop_assert_eq!(hist.counts, counts);
                    let top = res.iter().map(|&r| bit_len(r as u64)).max().unwrap_or(0);
                    proptest::prop_assert_eq!(hist.top, top);
                    // Both ways of counting (AVX-512 where the CPU has it), around
                    // other bases, over i64 and u64.
                    let unsigned: Vec<u64> = res.iter().map(|&r| r as u64).collect();
                    for base in [0, res.first().map_or(7, |&r| r as u64), i64::MIN as u64] {
                        let mut counts = [0u32; 65];
                        res.iter().for_each(|&r| counts[bit_len((r as u64).wrapping_sub(base)) as usize] += 1);
                        let hist = bit_len_hist(&res, base);
                        proptest::prop_assert_eq!(hist.counts, counts);
                        proptest::prop_assert_eq!(&bit_len_hist_scalar(&res, base), &hist);
                        proptest::prop_assert_eq!(&bit_len_hist(&unsigned, base), &hist);
                    }
                    // The cheapest width against trying every one, widest first
                    // (the widest of equal costs wins).
                    let m = res.len();
                    let mut want = (top, m * top as usize);
                    for w in (0..top).rev() {
                        let above = res.iter().filter(|&&r| bit_len(r as u64) > w).count();
                        let bits = m * w as usize
                            + if above > 0 { 8 + above * (8 + (top - w) as usize) } else { 0 };
                        if bits < want.1 {
                            want = (w, bits);
                        }
                    }
                    proptest::prop_assert_eq!(cost_from_hist(&hist, m), (want.0, top, want.1));
                }
            }
        }
    }

    #[test]
    fn a_wrong_range_does_not_wrap_into_the_counts() {
        // Past i64::MAX from `lo`, the smallest values would wrap into the counts.
        let xs = [i64::MIN, i64::MIN + 1, i64::MAX];
        assert_eq!(
            lower_median(&xs, (i64::MAX - 10, i64::MAX)),
            Some(i64::MIN + 1)
        );
    }

    proptest::proptest! {
        /// Both versions of a line append `first + i × step` (wrapping) after
        /// what the output held, over any length (whole blocks of eight and of
        /// four, and tails) and any step.
        #[test]
        fn lines_match_one_value_at_a_time(
            first in proptest::prelude::any::<i64>(),
            step in proptest::prop_oneof![-3i64..3, proptest::prelude::any::<i64>()],
            m in 0usize..70,
            held in 0usize..3,
        ) {
            let before: Vec<i64> = (0..held as i64).collect();
            let mut want = before.clone();
            want.extend((0..m as i64).map(|i| first.wrapping_add(step.wrapping_mul(i))));
            let (mut dispatched, mut scalar) = (before.clone(), before);
            push_line(&mut dispatched, first, step, m);
            push_line_scalar(&mut scalar, first, step, m);
            proptest::prop_assert_eq!(&dispatched, &want);
            proptest::prop_assert_eq!(&scalar, &want);
            let mut floats: Vec<f64> = Vec::new();
            push_line(&mut floats, first, step, m);
            let bits: Vec<i64> = floats.iter().map(|f| f.to_bits() as i64).collect();
            proptest::prop_assert_eq!(&bits, want.get(held..).unwrap_or_default());
        }

        #[test]
        fn lower_median_matches_sorting(
            xs in proptest::collection::vec(-3i64..3, 0..200),
            zeros in 0usize..200,
            spread in proptest::sample::select(vec![1i64, 50, 102, 103, 1 << 40]),
            shift in proptest::prop_oneof![
                proptest::prelude::Just(0i64),
                -1000i64..1000,
                proptest::prelude::any::<i64>(),
            ],
        ) {
            // Mostly zeros (the shortcut) or not, odd and even lengths; spans
            // below and above the counted one (5 × 102 < 512 < 5 × 103), anywhere
            // in i64.
            let mut xs: Vec<i64> = xs
                .iter()
                .map(|&x| x.wrapping_mul(spread).wrapping_add(shift))
                .collect();
            xs.extend(std::iter::repeat_n(0, zeros));
            let mut sorted = xs.clone();
            sorted.sort_unstable();
            let want = sorted.get(sorted.len().saturating_sub(1) / 2).copied();
            proptest::prop_assert_eq!(lower_median_in(&xs, range_of(&xs)), want);
            // Every build of the median, and of the sparse plan around it and zero.
            crate::for_each_build(|| {
                proptest::prop_assert_eq!(lower_median(&xs, range_of(&xs)), want);
                if let Some(median) = want {
                    let range = range_of(&xs);
                    let max = xs.len() / SPARSE_MAX_SHARE;
                    for centre in [median, 0] {
                        let plans = [
                            sparse_plan(&xs, centre, usize::MAX, range, 0, max),
                            sparse_plan_in(&xs, centre, usize::MAX, range, 0, max),
                        ]
                        .map(|p| p.map(|p| (p.multiplier, p.width, p.exceptions.to_vec(), p.bytes)));
                        proptest::prop_assert_eq!(&plans[0], &plans[1]);
                    }
                }
                Ok(())
            })?;
            // A wrong range only slows it down.
            let (lo, hi) = range_of(&xs);
            for wrong in [(lo.wrapping_add(1), hi), (i64::MAX - 10, i64::MAX), (hi, lo)] {
                proptest::prop_assert_eq!(lower_median(&xs, wrong), want);
            }
        }

        /// The one-pass plans around several bases are the cheapest of the
        /// plans around each, the first of equal costs winning.
        #[test]
        fn fused_frame_of_reference_plans_equal_one_pass_per_base(
            wide in proptest::collection::vec(proptest::prelude::any::<i64>(), 1..60),
            narrow in proptest::collection::vec(-3000i64..3000, 1..300),
            picks in proptest::array::uniform4(proptest::prelude::any::<proptest::sample::Index>()),
            count in 1usize..=4,
        ) {
            for xs in [&wide, &narrow] {
                // Bases among the values (as the smallest few are), or not.
                let mut bases = picks.map(|i| *i.get(xs));
                bases[1] = bases[1].wrapping_add(1);
                let want = bases
                    .iter()
                    .take(count)
                    .map(|&b| for_plan(xs, b))
                    .reduce(|best, p| if p.bits < best.bits { p } else { best });
                let want = want.map(|p| (p.base, p.width, p.max_width, p.bits));
                let got = best_for_plan(xs, bases, count);
                proptest::prop_assert_eq!(Some((got.base, got.width, got.max_width, got.bits)), want);
            }
        }

        /// The median counted among offsets divided by their common factor is
        /// the residuals' lower median, wherever they lie in i64.
        #[test]
        fn the_divided_median_is_the_median(
            steps in proptest::collection::vec(0u64..700, 1..200),
            multiplier in 1u64..1 << 20,
            lo in proptest::prelude::any::<i64>(),
        ) {
            let xs: Vec<i64> = steps
                .iter()
                .map(|&s| lo.wrapping_add(s.wrapping_mul(multiplier) as i64))
                .collect();
            let Some(&top) = steps.iter().max() else { return Ok(()) };
            let hi = lo.wrapping_add(top.wrapping_mul(multiplier) as i64);
            let mut sorted = steps.clone();
            sorted.sort_unstable();
            let want = sorted
                .get((sorted.len() - 1) / 2)
                .map(|&s| lo.wrapping_add(s.wrapping_mul(multiplier) as i64));
            proptest::prop_assert_eq!(divided_median(&steps, (lo, hi), multiplier), want);
            // The same as selecting among the residuals when they do not wrap.
            if lo.checked_add_unsigned(top.wrapping_mul(multiplier)).is_some() {
                proptest::prop_assert_eq!(want, lower_median(&xs, (lo, hi)));
            }
        }

        /// Rice codes given packing's common factor are those that look for
        /// it among the differences from the median: multiples of a factor
        /// above the smallest residual, spanning less than 2^63.
        #[test]
        fn a_known_factor_is_the_one_searched_for(
            steps in proptest::collection::vec(0u64..5_000, 2..200),
            multiplier in 2u64..1 << 20,
            lo in i64::MIN..i64::MAX - (1 << 33),
        ) {
            let xs: Vec<i64> = steps
                .iter()
                .map(|&s| lo + (s * multiplier) as i64)
                .collect();
            let range = range_of(&xs);
            let offsets = xs.iter().map(|&x| x.wrapping_sub(range.0) as u64);
            let g = common_factor(offsets);
            proptest::prop_assume!(g > 1);
            let plan = |factor| {
                rice_plan(&xs, factor, range, None).map(|r| (r.base, r.multiplier, r.k, r.values.to_vec(), r.bytes))
            };
            proptest::prop_assert_eq!(plan(Factor::Known(g)), plan(Factor::Search));
        }

        /// A counter reset far below a level of multiples of an odd factor, at
        /// a distance that makes its wrapped offset a multiple too: packing
        /// finds the factor around its base above the reset, but the
        /// differences from the median do not share it, so the Rice codes look
        /// for their own (see [`Factor::Known`]; packing's would round-trip too,
        /// through the modular inverse, but it is not what a search finds, and
        /// the bytes would change). Every plan round-trips.
        #[test]
        fn a_factor_found_past_a_reset_is_not_the_rice_codes(
            half_factor in 1u64..500,
            level in -(1i64 << 40)..1 << 40,
            ks in proptest::collection::vec([-6i64..=6, -6..=6, -6..=6, -6..=6], 60..150),
            t in 1u64..1000,
        ) {
            let g = 2 * half_factor + 1;
            // d ≡ 2^64 (mod g): the reset's offset from the level wraps to a multiple.
            let d = (u64::MAX % g + 1) % g + g * (256 + t);
            let mut xs = vec![level - d as i64];
            // Bell-shaped multiples (sums of four), which Rice codes take.
            xs.extend(ks.iter().map(|k| level + k.iter().sum::<i64>() * g as i64));
            round_trip(&xs);
            let p = plan(&xs, Predictor::None);
            if let Coding::Rice(_) = p.coding {
                proptest::prop_assert!(!p.multiplier.is_multiple_of(g), "Rice codes took packing's factor {g}");
            }
        }

        #[test]
        fn four_lowest_match_sorting(
            wide in proptest::collection::vec(proptest::prelude::any::<i64>(), 0..60),
            narrow in proptest::collection::vec(-40i64..40, 0..300),
        ) {
            for xs in [&wide, &narrow] {
                let mut sorted = xs.clone();
                sorted.sort_unstable();
                let mut lowest = [i64::MAX; 4];
                for (l, s) in lowest.iter_mut().zip(&sorted) {
                    *l = *s;
                }
                proptest::prop_assert_eq!(four_lowest(xs), lowest);
            }
        }
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
    fn constant_residuals_take_no_width_or_exceptions() {
        for (first, delta, n) in [
            (1_700_000_000_000i64, 10_000i64, 120usize),
            (-5, 1, 3),
            (0, i64::MAX / 4, 4),
        ] {
            let xs: Vec<i64> = (0..n as i64).map(|i| first + i * delta).collect();
            let plan = plan(&xs, Predictor::Delta);
            assert_eq!(plan.coding, Coding::Constant);
            let mut out = Vec::new();
            write(&plan, n, &mut out);
            // Predictor byte, first value, delta: nothing else.
            assert_eq!(
                out.len(),
                1 + uvarint_len(zigzag(first)) + uvarint_len(zigzag(delta))
            );
            assert_eq!(plan.bytes, out.len());
            round_trip(&xs);
        }
    }

    #[test]
    fn bell_shaped_residuals_are_rice_coded() {
        // A random walk with roughly Gaussian steps (σ ≈ 25) and one reset.
        let mut state = 7u64;
        let mut x = 5_000i64;
        let mut xs = Vec::new();
        for i in 0..1000 {
            let mut step = 0i64;
            for _ in 0..4 {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                step += ((state >> 33) % 44) as i64 - 22;
            }
            x += step;
            xs.push(if i == 500 { -(1 << 40) } else { x });
        }
        let plan = plan(&xs, Predictor::Delta);
        assert!(
            matches!(plan.coding, Coding::Rice(4..=6)),
            "{:?}",
            plan.coding
        );
        let size = round_trip(&xs);
        // ~6.9 bits per value; fixed-width packing needs 8 plus exceptions.
        assert!(size * 8 < 7 * xs.len(), "{size} bytes");
        let mut out = Vec::new();
        write(&plan, xs.len(), &mut out);
        assert_eq!(plan.bytes, out.len());
        // Every truncation is an error, never a panic or a wrong answer.
        for cut in 0..out.len() {
            let mut got: Vec<i64> = Vec::new();
            let res = read(
                &mut ByteReader::new(&out[..cut]),
                xs.len(),
                &mut got,
                Format::V3,
                |x| x,
            );
            assert!(res.is_err() || got != xs, "cut at {cut}");
        }
        // Version 1 never had Rice codes.
        let mut got: Vec<i64> = Vec::new();
        assert!(
            read(
                &mut ByteReader::new(&out),
                xs.len(),
                &mut got,
                Format::V1,
                |x| x
            )
            .is_err()
        );
    }

    fn forced_rice(xs: &[i64], p: Predictor) -> Plan {
        let packed = plan(xs, p);
        let mut residuals = Vec::new();
        for_each_residual(xs, p, |r| residuals.push(r));
        let Some(rice) = rice_plan(&residuals, Factor::Search, range_of(&residuals), None) else {
            return packed; // no residual slots
        };
        Plan {
            coding: Coding::Rice(rice.k),
            base: rice.base,
            multiplier: rice.multiplier,
            offsets: rice.values,
            ..packed
        }
    }

    proptest::proptest! {
        /// Any sequence, any predictor, Rice-coded whether or not it is smaller:
        /// decodes to itself and consumes exactly its bytes.
        #[test]
        fn rice_round_trips_any_sequence(
            xs in proptest::collection::vec(proptest::num::i64::ANY, 2..300),
            small in proptest::collection::vec(-300i64..300, 2..300),
        ) {
            for seq in [&xs, &small] {
                for p in Predictor::ALL {
                    let (got, read, written) = write_read(&forced_rice(seq, p), seq.len());
                    proptest::prop_assert_eq!(&got, seq);
                    proptest::prop_assert_eq!(read, written);
                }
            }
        }
    }

    /// Bits `at .. at + n` of `data`, least-significant first (zeros past the end).
    fn bits_at(data: &[u8], at: usize, n: u32) -> u64 {
        let bit = |i: usize| data.get(i / 8).map_or(0, |b| u64::from(b >> (i % 8)) & 1);
        (0..n as usize).fold(0u64, |v, j| v | bit(at + j) << j)
    }

    /// One unary part read bit by bit at `pos`: `q` zero bits and a one, or, after
    /// [`RICE_ESCAPE`] zero bits, an escape carrying a number in the stream (six
    /// bits of its length − 1, then the number). Returns the quotient or the
    /// escaped number, whether it was escaped, and the position after it.
    fn unary_bitwise(data: &[u8], pos: usize) -> (u64, bool, usize) {
        let zeros = (0..RICE_ESCAPE as usize)
            .take_while(|&j| bits_at(data, pos + j, 1) == 0)
            .count();
        if zeros < RICE_ESCAPE as usize {
            return (zeros as u64, false, pos + zeros + 1);
        }
        let at = pos + RICE_ESCAPE as usize;
        let len = bits_at(data, at, 6) as u32 + 1;
        (bits_at(data, at + 6, len), true, at + 6 + len as usize)
    }

    /// The slots of decoded codes `vs` (residuals `base + unzigzag(v) ×
    /// multiplier`, summed from `running` when given) and the bytes read up to
    /// bit `pos`.
    fn bitwise_slots(
        data: &[u8],
        vs: Vec<u64>,
        codes: RiceCodes,
        running: Option<i64>,
        pos: usize,
    ) -> Result<(Vec<i64>, usize)> {
        let mut x = running.unwrap_or(0);
        let mut out = Vec::new();
        for v in vs {
            let r = (codes.base).wrapping_add(unzigzag(v).wrapping_mul(codes.multiplier as i64));
            x = if running.is_some() {
                x.wrapping_add(r)
            } else {
                r
            };
            out.push(x);
        }
        Ok((out, rice_end(data, pos)?))
    }

    /// Rice codes read one bit at a time, as format v2 lays them out (each code's
    /// unary part, then its low bits) or as v3 does (every code's low bits, then
    /// the unary parts): what [`read_rice`] and [`read_split_rice`] must agree
    /// with on any bytes.
    fn read_rice_bitwise(
        data: &[u8],
        m: usize,
        codes: RiceCodes,
        running: Option<i64>,
        format: Format,
    ) -> Result<(Vec<i64>, usize)> {
        let k = codes.k;
        let split = format >= Format::V3;
        let mut pos = if split { m * k as usize } else { 0 };
        let mut vs = Vec::new();
        for j in 0..m {
            let (q, escaped, next) = unary_bitwise(data, pos);
            pos = next;
            vs.push(if split {
                bits_at(data, j * k as usize, k) | q << k
            } else if escaped {
                q
            } else {
                let low = bits_at(data, pos, k);
                pos += k as usize;
                (q << k) | low
            });
        }
        bitwise_slots(data, vs, codes, running, pos)
    }

    /// Both Rice decoders on `data` against their bit-by-bit readings: the same
    /// values and bytes read, or an error from both.
    fn check_rice_decoders(
        data: &[u8],
        m: usize,
        codes: RiceCodes,
        running: Option<i64>,
    ) -> std::result::Result<(), String> {
        let RiceCodes {
            k,
            base,
            multiplier,
        } = codes;
        let mut got = Vec::new();
        let v2 =
            read_rice(data, m, k, base, multiplier, running, &mut got, |x| x).map(|n| (got, n));
        // v3 with each kernel (those this CPU lacks read one code at a time).
        let v3 = |kernel| {
            let mut got = Vec::new();
            let mut r = ByteReader::new(data);
            read_split_rice(&mut r, m, codes, running, &mut got, |x| x, kernel)
                .map(|()| (got, r.position()))
        };
        let cases = [
            ("v2", Format::V2, v2),
            ("v3, VBMI2 blocks", Format::V3, v3(RiceKernel::Avx512Vbmi2)),
            ("v3, AVX-512 F blocks", Format::V3, v3(RiceKernel::Avx512F)),
            ("v3 one at a time", Format::V3, v3(RiceKernel::Scalar)),
        ];
        for (label, format, got) in cases {
            match (read_rice_bitwise(data, m, codes, running, format), got) {
                (Ok(want), Ok(got)) if want == got => {}
                (Err(_), Err(_)) => {}
                (want, got) => {
                    return Err(format!(
                        "{label}, {} bytes, m {m}, k {k}: {:?} vs {:?}",
                        data.len(),
                        want.map(|w| w.1),
                        got.map(|g| g.1)
                    ));
                }
            }
        }
        Ok(())
    }

    proptest::proptest! {
        /// Any bytes, any parameter: the fast decoders give what the bit-by-bit
        /// readings give, errors included — v2's windows, reloads, padded tail and
        /// escapes; v3's unpacked low bits, set bits of the unary words, look-ahead,
        /// escapes and end of the data.
        #[test]
        fn rice_decoding_matches_a_bitwise_reader(
            data in proptest::collection::vec(proptest::num::u8::ANY, 0..400),
            dense in proptest::collection::vec(proptest::num::u8::ANY, 0..400),
            m in 0usize..600,
            k in 0u32..64,
            base in -3i64..3,
            multiplier in 1u64..4,
            running in proptest::option::of(-5i64..5),
        ) {
            // Mostly-set bytes give short quotients; raw bytes give escapes.
            let dense: Vec<u8> = dense.iter().map(|b| b | 0x55).collect();
            for bytes in [&data, &dense] {
                for k in [k, k % 8] {
                    let codes = RiceCodes { k, base, multiplier };
                    let checked = check_rice_decoders(bytes, m, codes, running);
                    proptest::prop_assert!(checked.is_ok(), "{:?}", checked);
                }
            }
        }
    }

    #[test]
    fn rice_zero_runs_read_as_the_bitwise_reader_reads_them() {
        // All zeros: escapes whose length and quotient read as zeros (the stream
        // ends within the data here, past it there); a long run of zeros before
        // one set byte, which every code starting in the run must not scan again.
        let mut long = vec![0u8; 64 * 1024];
        long.push(0xff);
        for (data, m) in [
            (vec![0u8; 3], 1),
            (vec![0u8; 3], 2),
            (vec![0u8; 2], 1),
            (long.clone(), 4096),
            (long, 1),
        ] {
            for k in [0, 3] {
                let codes = RiceCodes {
                    k,
                    base: 0,
                    multiplier: 1,
                };
                check_rice_decoders(&data, m, codes, None).unwrap();
            }
        }
    }

    #[test]
    fn rice_quotients_shifted_past_the_top_read_as_the_bitwise_reader_reads_them() {
        // With the widest parameters a quotient of a few bits already reaches past
        // bit 63 (only corrupt streams hold one): its high bits drop out of the
        // code exactly as the bitwise reader drops them. Low bits all ones, then
        // quotients 15, 3, 2, 1 and 0 in unary.
        for k in 56..64u32 {
            let m = 5;
            let mut bits: Vec<bool> = vec![true; m * k as usize];
            for q in [15, 3, 2, 1, 0] {
                bits.extend(std::iter::repeat_n(false, q));
                bits.push(true);
            }
            let mut data = vec![0u8; bits.len().div_ceil(8)];
            for (i, _) in bits.iter().enumerate().filter(|(_, b)| **b) {
                data[i / 8] |= 1 << (i % 8);
            }
            for running in [None, Some(1)] {
                let codes = RiceCodes {
                    k,
                    base: 1,
                    multiplier: 1,
                };
                check_rice_decoders(&data, m, codes, running).unwrap();
            }
        }
    }

    #[test]
    fn rice_codes_of_every_width_round_trip() {
        // Large parameters take the two-load path; escapes carry up to 64 bits.
        for shift in [0u32, 8, 30, 39, 40, 41, 50, 60, 62] {
            let mut state = u64::from(shift) + 1;
            let xs: Vec<i64> = (0..300)
                .map(|i| {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1);
                    let r = (state >> 1) as i64 >> (63 - shift.max(1)).min(62);
                    if i % 97 == 5 { i64::MIN + i } else { r }
                })
                .collect();
            for p in Predictor::ALL {
                let rice = rice_plan(&xs, Factor::Search, range_of(&xs), None).unwrap();
                let mut plan = plan(&xs, p);
                if p == Predictor::None {
                    // Force the Rice coding to cover it whatever is smaller.
                    plan = Plan {
                        predictor: p,
                        coding: Coding::Rice(rice.k),
                        header: [0; 2],
                        base: rice.base,
                        multiplier: rice.multiplier,
                        offsets: rice.values,
                        bytes: 0,
                    };
                }
                let (got, read, written) = write_read(&plan, xs.len());
                assert_eq!(got, xs, "shift {shift} {p:?}");
                assert_eq!(read, written);
            }
        }
    }

    /// Euclid's algorithm, the reference for [`gcd`].
    fn euclid(mut a: u64, mut b: u64) -> u64 {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    }

    proptest::proptest! {
        #[test]
        fn rice_costs_are_the_sums_of_the_code_lengths(
            small in proptest::collection::vec(0u64..5_000, 0..200),
            wide in proptest::collection::vec(proptest::prelude::any::<u64>(), 0..20),
            k in 0u32..=MAX_RICE_K,
        ) {
            // Mostly short codes with some escapes, at every parameter.
            let mut values = small;
            values.extend(wide);
            let ks = [k.saturating_sub(1), k, (k + 1).min(MAX_RICE_K)];
            let want = ks.map(|k| values.iter().map(|&v| rice_bits(v, k)).sum::<usize>());
            let top = values.iter().map(|&v| bit_len(v)).max().unwrap_or(0);
            proptest::prop_assert_eq!(rice_costs(&values, ks, top), want);
        }

        #[test]
        fn the_rice_estimate_prices_each_value_by_its_length(
            small in proptest::collection::vec(0u64..5_000, 0..200),
            wide in proptest::collection::vec(proptest::prelude::any::<u64>(), 0..20),
            shift in 0u32..60,
        ) {
            // Each value priced on its own, at every parameter up to the
            // longest (the first of equal estimates wins).
            let mut values: Vec<u64> = small.iter().map(|&v| v << shift).collect();
            values.extend(wide);
            let top = values.iter().map(|&v| bit_len(v)).max().unwrap_or(0);
            let price = |v: u64, k: usize| match (bit_len(v) as usize).checked_sub(k + 1) {
                None => 1 + k,
                Some(d @ 0..4) => [1, 3, 6, 12][d] + 1 + k,
                Some(_) => RICE_ESCAPE as usize + 6 + bit_len(v) as usize,
            };
            let mut want = (0, 0);
            for k in 0..=top.min(MAX_RICE_K) {
                let bits = values.iter().map(|&v| price(v, k as usize)).sum::<usize>();
                if k == 0 || bits < want.1 {
                    want = (k, bits);
                }
            }
            proptest::prop_assert_eq!(estimated_rice_k(&bit_len_hist(&values, 0), values.len()), want);
        }
    }

    #[test]
    fn common_factor_with_exceptions() {
        // Page-sized steps with a reset: multiplier 4096 and a wrapped exception.
        let mut xs: Vec<i64> = (0..120).map(|i| (1_000 + (i * 7) % 13) * 4096).collect();
        xs[40] = -(1 << 40) * 4096;
        xs[41] = 1 << 50;
        round_trip(&xs);
        let plan = plan(&xs, Predictor::None);
        assert!(plan.multiplier > 1, "multiplier {}", plan.multiplier);
    }

    #[test]
    fn packed_multiples_of_every_width_round_trip() {
        // Uniform quotients pack (Rice is no smaller on them), times a factor: the
        // width-specialised loops with the multiply, and the generic one above 56.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for width in 1..=60u32 {
            for factor in [3i64, 4, 1000] {
                if width + 64 - factor.leading_zeros() > 62 {
                    continue;
                }
                let xs: Vec<i64> = (0..123)
                    .map(|_| {
                        state = state
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        ((state >> 4) & mask_of(width)) as i64 * factor
                    })
                    .collect();
                let plan = plan(&xs, Predictor::None);
                assert_eq!(plan.multiplier % factor as u64, 0, "width {width}");
                assert!(
                    matches!(plan.coding, Coding::Packed { .. }),
                    "width {width}"
                );
                let (got, _, _) = write_read(&plan, xs.len());
                assert_eq!(got, xs, "width {width} × {factor}");
            }
        }
    }

    #[test]
    fn packed_tails_of_every_length_round_trip() {
        // Every width at lengths around whole groups of eight: the last groups and a
        // partial one are unpacked from a zero-padded copy of the stream's end.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for width in 1..=56u32 {
            for m in [
                1usize, 2, 7, 8, 9, 15, 16, 17, 31, 63, 64, 65, 119, 120, 121,
            ] {
                let xs: Vec<i64> = (0..m)
                    .map(|i| {
                        state = state
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        // The top bit set in the first value fixes the width.
                        let top = if i == 0 { 1 << (width - 1) } else { 0 };
                        (((state >> 8) & mask_of(width)) | top) as i64
                    })
                    .collect();
                // Packed at this width whatever the planner would pick (it may
                // prefer Rice codes): the packed unpacking is what is tested.
                let plan = Plan {
                    predictor: Predictor::None,
                    coding: Coding::Packed {
                        width,
                        exc_width: 0,
                    },
                    header: [0; 2],
                    base: 0,
                    multiplier: 1,
                    offsets: xs.iter().map(|&x| x as u64).collect(),
                    bytes: 0,
                };
                let (got, read_len, written) = write_read(&plan, m);
                assert_eq!(got, xs, "width {width}, {m} values, {:?}", plan.coding);
                assert_eq!(read_len, written);
            }
        }
    }

    #[test]
    fn a_line_is_trusted_as_increasing_only_when_it_is() {
        use Order::{StrictlyIncreasing as Up, Unknown};
        // first 100, slope 10: the line 110, 120, …, 150.
        let line = || -> Vec<i64> { (1..=5).map(|j| 100 + 10 * j).collect() };
        // Patches (slot, amount) as exceptions: index gaps, 64-bit high parts.
        let order = |header: [i64; 2], base: i64, slots: &mut [i64], patches: &[(usize, i64)]| {
            let (mut gaps, mut highs, mut prev) = (Vec::new(), Vec::new(), 0);
            for &(at, add) in patches {
                put_uvarint(&mut gaps, (at - prev) as u64);
                highs.extend_from_slice(&add.to_le_bytes());
                prev = at;
            }
            let exceptions = (!patches.is_empty()).then(|| Exceptions {
                gaps: Gaps::Varint(ByteReader::new(&gaps)),
                count: patches.len(),
                slots: slots.len(),
                highs: &highs,
                widths: (0, 64),
                multiplier: 1,
                signed: false,
            });
            patch_line(slots, header, base, exceptions, true).unwrap()
        };
        for (patch, want) in [
            (0, Up),
            (9, Up),
            (-9, Up),
            (10, Unknown),
            (-10, Unknown),
            (i64::MIN / 2, Unknown),
            (i64::MAX, Unknown),
        ] {
            let mut v = line();
            assert_eq!(
                order([100, 10], 0, &mut v, &[(2, patch)]),
                want,
                "patch {patch}"
            );
            assert_eq!(v[2], 130i64.wrapping_add(patch), "patched");
        }
        // Neighbouring patches: each pair is compared once both are patched.
        for (patches, want) in [
            (vec![(2, 3), (3, 6)], Up),
            (vec![(2, 9), (3, -9)], Unknown),
            (vec![(1, 9), (2, 9), (3, 9), (4, 9)], Up),
            (vec![(1, 9), (2, -9)], Unknown),
            (vec![(0, -9), (4, 9)], Up),
            (vec![(3, 9), (4, -15)], Unknown),
            // A patched slot above the line slot after it, the next patch further on.
            (vec![(1, 15), (4, 0)], Unknown),
        ] {
            assert_eq!(
                order([100, 10], 0, &mut line(), &patches),
                want,
                "{patches:?}"
            );
        }
        // The first slot patched is checked against the first value.
        assert_eq!(order([100, 10], 0, &mut line(), &[(0, -10)]), Unknown);
        // Flat, falling, starting at or below the first value, or past i64.
        assert_eq!(order([100, 0], 0, &mut [100, 100], &[]), Unknown);
        assert_eq!(order([100, -1], 0, &mut [99, 98], &[]), Unknown);
        assert_eq!(order([100, 10], -10, &mut [100, 110], &[]), Unknown);
        let mut top = [i64::MAX - 5, (i64::MAX - 5).wrapping_add(10)];
        assert_eq!(order([i64::MAX - 15, 10], 0, &mut top, &[]), Unknown);
        assert_eq!(order([100, 10], 0, &mut [], &[]), Up);
        assert_eq!(order([100, 10], 0, &mut [110, 120], &[]), Up);
        // Not asked: not checked.
        assert_eq!(
            patch_line(&mut line(), [100, 10], 0, None, false),
            Some(Unknown)
        );
    }

    /// `first`, then each value the one before plus `base`, except at `steps`
    /// (slot, extra): the shape [`push_steps`] decodes.
    fn steps(first: i64, base: i64, n: usize, steps: &[(usize, i64)]) -> Vec<i64> {
        let mut xs = vec![first];
        for slot in 0..n - 1 {
            let extra = steps.iter().find(|s| s.0 == slot).map_or(0, |s| s.1);
            let last = *xs.last().unwrap();
            xs.push(last.wrapping_add(base).wrapping_add(extra));
        }
        xs
    }

    #[test]
    fn counters_that_step_now_and_then_decode_as_runs() {
        let cases = [
            // Stands still, steps up (an error counter), by page multiples, and
            // steps at the first and last slots.
            steps(7, 0, 120, &[(10, 3), (11, 1), (80, 40)]),
            steps(0, 0, 120, &[(0, 4096 * 3), (60, 4096), (118, 4096 * 9)]),
            // Climbs steadily, with jumps (and a reset, i.e. a step down).
            steps(1_000, 5, 120, &[(30, 900), (70, -1_300)]),
            // No exception at all.
            steps(-5, 0, 50, &[]),
        ];
        for xs in cases {
            let plan = plan(&xs, Predictor::Delta);
            assert!(
                matches!(
                    plan.coding,
                    Coding::Packed { width: 0, .. } | Coding::Sparse(_) | Coding::Constant
                ),
                "{:?}",
                plan.coding
            );
            let (got, read_len, written) = write_read(&plan, xs.len());
            assert_eq!(got, xs);
            assert_eq!(read_len, written);
            // The finishing step runs once per value of a run, as elsewhere.
            assert_finish_runs(&plan, &xs);
        }
    }

    /// A finishing step that is not the identity (halving) applied to every value
    /// `plan`'s bytes decode to.
    fn assert_finish_runs(plan: &Plan, xs: &[i64]) {
        let mut bytes = Vec::new();
        let format = write(plan, xs.len(), &mut bytes);
        let mut halves: Vec<f64> = Vec::new();
        read(
            &mut ByteReader::new(&bytes),
            xs.len(),
            &mut halves,
            format,
            |x| x as f64 / 2.0,
        )
        .unwrap();
        let want: Vec<f64> = xs.iter().map(|&x| x as f64 / 2.0).collect();
        assert_eq!(halves, want);
    }

    proptest::proptest! {
        /// Any runs and steps (any base, any extras, wrapping): the runs path
        /// decodes what was encoded.
        #[test]
        fn stepping_sequences_round_trip(
            first: i64,
            base in proptest::prop_oneof![proptest::strategy::Just(0i64), -3i64..3, proptest::num::i64::ANY],
            at in proptest::collection::btree_map(0usize..200, proptest::num::i64::ANY, 0..6),
            n in 2usize..200,
        ) {
            let at: Vec<(usize, i64)> = at.into_iter().collect();
            let xs = steps(first, base, n, &at);
            let plan = plan(&xs, Predictor::Delta);
            let (got, read_len, written) = write_read(&plan, xs.len());
            proptest::prop_assert_eq!(got, xs);
            proptest::prop_assert_eq!(read_len, written);
        }
    }

    proptest::proptest! {
        /// Every build of the planners and the writer (x86-64-v4 and v3, where
        /// the CPU has them, and the baseline) chooses the same plans and writes
        /// the same bytes: levels with noise, random walks, steps, resets, any
        /// integers, for values' and timestamps' predictors.
        #[test]
        fn every_build_plans_and_writes_the_same_bytes(
            kind in 0u8..4,
            seeds in proptest::collection::vec(proptest::prelude::any::<i64>(), 0..200),
            small in proptest::collection::vec(-40i64..40, 0..200),
        ) {
            let xs: Vec<i64> = match kind {
                0 => small.clone(),
                1 => small.iter().scan(1_000i64, |x, d| { *x += d; Some(*x) }).collect(),
                2 => small.iter().map(|&d| if d.abs() < 36 { 5 } else { d * 1_000 }).collect(),
                _ => seeds,
            };
            let predictors = [
                Predictors { common: &[Predictor::None, Predictor::Delta, Predictor::DeltaOfDelta], rare: &[], steps: true },
                Predictors { common: &[Predictor::Delta, Predictor::Linear], rare: &[Predictor::DeltaOfDelta], steps: false },
            ];
            for p in &predictors {
                crate::for_each_build(|| {
                    let (built, base) = (best_plan(&xs, p), best_plan_in(&xs, p));
                    proptest::prop_assert_eq!(built.is_some(), base.is_some());
                    if let (Some(built), Some(base)) = (built, base) {
                        let (mut a, mut b) = (Vec::new(), Vec::new());
                        proptest::prop_assert_eq!(write(&built, xs.len(), &mut a), write_in(&base, xs.len(), &mut b));
                        proptest::prop_assert_eq!(built.bytes, base.bytes);
                        proptest::prop_assert_eq!(a, b);
                    }
                    Ok(())
                })?;
            }
        }
    }

    #[test]
    fn a_rare_predictor_is_estimated_only_when_the_common_ones_are_poor() {
        use Predictor::{Delta, DeltaOfDelta, Linear};
        let all = Predictors {
            common: &[Delta, DeltaOfDelta, Linear],
            rare: &[],
            steps: false,
        };
        let timestamps = Predictors {
            common: &[Delta, Linear],
            rare: &[DeltaOfDelta],
            steps: false,
        };
        // The scrape interval doubles halfway, exactly or with a few ms of jitter:
        // deltas in two levels cost about 14 bits a value, delta-of-deltas one
        // exception (and the jitter's few bits).
        for jitter in [0i64, 3] {
            let mut t = 1_700_000_000_000i64;
            let ts: Vec<i64> = (0..120i64)
                .map(|i| {
                    t += if i < 60 { 15_000 } else { 30_000 };
                    t + (i * 7919 % (2 * jitter + 1)) - jitter
                })
                .collect();
            let plan = best_plan(&ts, &timestamps).unwrap();
            assert_eq!(plan.predictor, DeltaOfDelta, "jitter {jitter}");
            assert_eq!(plan.bytes, best_plan(&ts, &all).unwrap().bytes);
            assert_eq!(write_read(&plan, ts.len()).0, ts);
        }
        // Jitter around one interval: the common ones code it in a few bits.
        let ts: Vec<i64> = (0..120i64)
            .map(|i| 1_700_000_000_000 + i * 15_000 + (i * 7919 % 11) - 5)
            .collect();
        let plan = best_plan(&ts, &timestamps).unwrap();
        assert_ne!(plan.predictor, DeltaOfDelta);
        assert!(plan.bytes * 8 <= RARE_PREDICTOR_BITS * ts.len());
        // The trade: an interval that changes by 100 ms halfway costs the common
        // predictors under 8 bits a value, so delta-of-delta is not estimated,
        // though it would be smaller. The chunk stays within the bound.
        let mut t = 1_700_000_000_000i64;
        let ts: Vec<i64> = (0..120i64)
            .map(|i| {
                t += if i < 60 { 100 } else { 200 };
                t
            })
            .collect();
        let plan = best_plan(&ts, &timestamps).unwrap();
        assert_ne!(plan.predictor, DeltaOfDelta);
        assert_eq!(best_plan(&ts, &all).unwrap().predictor, DeltaOfDelta);
        assert!(best_plan(&ts, &all).unwrap().bytes < plan.bytes);
        assert!(plan.bytes * 8 <= RARE_PREDICTOR_BITS * ts.len());
        assert_eq!(write_read(&plan, ts.len()).0, ts);
    }

    #[test]
    fn late_scrapes_are_a_line_with_exceptions() {
        // Scrapes every 15 s, two late by multiples of 4 ms:
        // the line predictor, width 0, the late ones as exceptions — decoded by
        // filling the line, then patching.
        let mut xs: Vec<i64> = (0..120).map(|i| 1_700_000_000_000 + i * 15_000).collect();
        for (i, late) in [(50, 4), (90, 12)] {
            xs[i] += late;
        }
        let plan = plan(&xs, Predictor::Linear);
        // Sparse: packing at width zero less its width byte (dividing by 4 would
        // save no byte: two exceptions of 5 bits against 3 and the factor's).
        assert_eq!(plan.coding, Coding::Sparse(5), "zigzag(12) = 24");
        assert_eq!(plan.multiplier, 1);
        let (got, read_len, written) = write_read(&plan, xs.len());
        assert_eq!(got, xs);
        assert_eq!(read_len, written);
        // The order `read` reports for a plan's bytes, and the values.
        let order_of = |plan: &Plan| {
            let mut bytes = Vec::new();
            let format = write(plan, xs.len(), &mut bytes);
            let mut got: Vec<i64> = Vec::new();
            let order = read_timestamps(&mut ByteReader::new(&bytes), xs.len(), &mut got, format);
            (order, got)
        };
        // Its order is vouched for at the exceptions, so the caller skips a pass.
        assert_eq!(order_of(&plan).0, Ok(Order::StrictlyIncreasing));
        // A late sample moved past the next one (as damage could): not vouched for.
        let mut bad = plan.clone();
        let exc = bad.offsets[0] as usize;
        bad.offsets[1] = zigzag(15_000 * 2);
        bad.coding = Coding::Sparse(16);
        let (order, moved) = order_of(&bad);
        assert_eq!(order, Ok(Order::Unknown));
        assert!(moved[exc + 1] > moved[exc + 2], "the damage is there");
        // A finishing step that is not the identity runs after the patches.
        assert_finish_runs(&plan, &xs);
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

    /// `xs`'s plan for `p` coded sparsely around `centre` whether or not that is
    /// smaller (`None` where it cannot be: no exception, or differences past i64).
    fn forced_sparse(xs: &[i64], p: Predictor, centre: i64) -> Option<Plan> {
        let packed = plan(xs, p);
        let mut residuals = Vec::new();
        for_each_residual(xs, p, |r| residuals.push(r));
        let range = range_of(&residuals);
        let factor = common_factor(residuals.iter().map(|r| r.wrapping_sub(range.0) as u64));
        let sparse = sparse_plan(&residuals, centre, usize::MAX, range, factor, usize::MAX)?;
        let prefix = prefix_len(p, packed.header, xs.len());
        Some(Plan {
            coding: Coding::Sparse(sparse.width),
            base: centre,
            multiplier: sparse.multiplier,
            offsets: sparse.exceptions,
            bytes: prefix + sparse.bytes,
            ..packed
        })
    }

    /// A level `base` with a few slots `at` moved by any amount, up or down.
    fn level_with_moves(base: i64, n: usize, at: &[(usize, i64)]) -> Vec<i64> {
        let mut xs = vec![base; n];
        for &(i, d) in at {
            if let Some(x) = xs.get_mut(i % n) {
                *x = x.wrapping_add(d);
            }
        }
        xs
    }

    #[test]
    fn a_gauge_stepping_up_and_down_is_sparse() {
        // A step gauge: holds, then moves by tens, up or down, every ~10 scrapes.
        let moves: Vec<(usize, i64)> = (0..12)
            .map(|k| (k * 10 + 3, [37, -41, 12][k % 3]))
            .collect();
        let xs = steps(512, 0, 120, &moves);
        let plan = plan(&xs, Predictor::Delta);
        assert_eq!(plan.coding, Coding::Sparse(7), "widest: zigzag(-41) = 81");
        let (got, read_len, written) = write_read(&plan, xs.len());
        assert_eq!(got, xs);
        assert_eq!(read_len, written);
        assert_eq!(written, plan.bytes);
        // Predictor, first value, base, count and gap width, width, then 12
        // steps of a 4-bit gap (3, then 10s) and 7 bits: 24 bytes, a third of
        // packing them at 7 bits a slot.
        assert_eq!(
            written,
            1 + 2 + 1 + 2 + 1 + (12 * (4 + 7) as usize).div_ceil(8)
        );
        // A multiple of a page: the factor is divided out.
        let pages: Vec<i64> = xs.iter().map(|x| x * 4096).collect();
        let plan = super::plan(&pages, Predictor::Delta);
        assert_eq!((plan.coding, plan.multiplier), (Coding::Sparse(7), 4096));
        assert_eq!(write_read(&plan, pages.len()).0, pages);
        // A counter reset (a step down by its whole value) no longer wraps into
        // a 64-bit exception.
        let reset = steps(90_000, 0, 120, &[(20, 3), (50, -90_003), (90, 5)]);
        let plan = super::plan(&reset, Predictor::Delta);
        assert!(
            matches!(plan.coding, Coding::Sparse(_)),
            "{:?}",
            plan.coding
        );
        assert_eq!(write_read(&plan, reset.len()).0, reset);
        assert_finish_runs(&plan, &reset);
    }

    #[test]
    fn a_level_that_moves_both_ways_is_sparse_around_it() {
        // A level with a few moves up and down (no predictor): packing's base is
        // the lowest move, so every slot at the level costs the moves' width, or
        // packing at width zero around the level wraps the moves down into 64-bit
        // exceptions. Sparse around the level: a few bits a move.
        let moves = [(7, 300), (40, -2), (41, -700), (90, 5)];
        for level in [0, 1_000_000, -37] {
            let xs = level_with_moves(level, 120, &moves);
            let plan = plan(&xs, Predictor::None);
            assert_eq!((plan.coding, plan.base), (Coding::Sparse(11), level));
            let (got, _, written) = write_read(&plan, xs.len());
            assert_eq!(got, xs);
            assert_eq!(written, plan.bytes);
            assert_finish_runs(&plan, &xs);
        }
        // Two moves: packing around the level at width zero, the move down wrapped
        // into a 64-bit exception, is cheap enough that Rice coding is not priced:
        // the sparse code is tried around packing's base.
        for level in [1_000_000, -37] {
            let xs = level_with_moves(level, 120, &[(7, 300), (41, -700)]);
            let plan = plan(&xs, Predictor::None);
            // In hundreds: zigzag(-7) = 13.
            assert_eq!((plan.coding, plan.base), (Coding::Sparse(4), level));
            assert_eq!(plan.multiplier, 100);
            assert_eq!(write_read(&plan, xs.len()).0, xs);
        }
        // Around the median when Rice coding is priced: half the slots wander a
        // little, the rest hold a level (the deltas: mostly zero, a few moves).
        let mut xs = level_with_moves(50, 120, &[]);
        for (i, x) in xs.iter_mut().enumerate().take(8) {
            *x += [3, -2, 1, -1, 2, -3, 1, 2][i];
        }
        let plan = plan(&xs, Predictor::Delta);
        assert!(
            matches!(plan.coding, Coding::Sparse(_)),
            "{:?}",
            plan.coding
        );
        assert_eq!(write_read(&plan, xs.len()).0, xs);
    }

    #[test]
    fn mostly_exceptions_are_not_sparse_even_when_smaller() {
        // 70 of 120 wide values, zero elsewhere: smaller as a sparse stream, but
        // decoding 70 exceptions costs more than unpacking 120 slots.
        let mut state = 7u64;
        let xs: Vec<i64> = (0..120)
            .map(|i| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                if i % 12 < 7 { (state >> 4) as i64 } else { 0 }
            })
            .collect();
        let chosen = plan(&xs, Predictor::None);
        assert!(
            !matches!(chosen.coding, Coding::Sparse(_)),
            "{:?}",
            chosen.coding
        );
        let sparse = forced_sparse(&xs, Predictor::None, 0).unwrap();
        assert!(
            sparse.bytes < chosen.bytes,
            "{} vs {}",
            sparse.bytes,
            chosen.bytes
        );
        assert_eq!(write_read(&sparse, xs.len()).0, xs);
    }

    #[test]
    fn packed_gaps_are_checked_for_order_and_range() {
        // Gaps packed LSB first at `width` bits.
        let field = |gaps: &[u64], width: u32| {
            let mut out = Vec::new();
            pack(gaps.iter().copied(), width, &mut out);
            out
        };
        // Applied as exceptions of zero width among `m` slots: every slot
        // seen must be in range, and the pass must refuse them if invalid.
        let ok = |gaps: &[u64], width: u32, m: usize| {
            let field = field(gaps, width);
            let exceptions = Exceptions {
                gaps: Gaps::Packed(width),
                count: gaps.len(),
                slots: m,
                highs: &field,
                widths: (0, 0),
                multiplier: 1,
                signed: true,
            };
            exceptions.for_each(|at, _| assert!(at < m, "slot {at} of {m} applied"))
        };
        // Slots 0, 1 and 2: in range for 3 slots, not for 2.
        assert!(ok(&[0, 1, 1], 1, 3));
        assert!(!ok(&[0, 1, 1], 1, 2));
        // A first gap of zero is slot 0; a later one repeats a slot.
        assert!(ok(&[0, 5], 3, 6));
        assert!(!ok(&[3, 0], 2, 10));
        assert!(!ok(&[3, 2, 0, 1], 2, 10));
        // The last slot bounds them all: 7 + 7 + 7 = 21 is past 20 slots.
        assert!(ok(&[7, 7, 6], 3, 21));
        assert!(!ok(&[7, 7, 7], 3, 21));
        assert!(ok(&[], 4, 0));
    }

    #[test]
    fn sparse_streams_whose_slots_repeat_or_overrun_are_refused() {
        // Each decoder of sparse streams: runs of a level (delta), a line with
        // late samples (linear) and patches in place (none).
        let cases = [
            (
                Predictor::Delta,
                steps(512, 0, 120, &[(10, 40), (50, -40), (90, 7)]),
            ),
            (Predictor::Linear, {
                let mut xs: Vec<i64> = (0..120).map(|i| 1_000 + 10 * i).collect();
                xs[30] += 3;
                xs[70] += 5;
                xs[100] -= 2;
                xs
            }),
            (Predictor::None, {
                let mut xs = vec![42i64; 120];
                xs[5] = 40;
                xs[60] = 47;
                xs[119] = 41;
                xs
            }),
        ];
        for (predictor, xs) in cases {
            let good = plan(&xs, predictor);
            assert!(matches!(good.coding, Coding::Sparse(_)), "{predictor:?}");
            assert_eq!(write_read(&good, xs.len()).0, xs, "{predictor:?}");
            // The offsets are (slot, difference) pairs: a slot past the last
            // (here 1 000 gaps on), and a slot repeated (a gap of zero).
            let last = good.offsets.len() - 2;
            let mut overrun = good.clone();
            overrun.offsets[last] += 1_000;
            let mut repeat = good.clone();
            repeat.offsets[2] = repeat.offsets[0];
            for (what, bad) in [("overrun", overrun), ("repeat", repeat)] {
                let mut bytes = Vec::new();
                assert_eq!(write(&bad, xs.len(), &mut bytes), Format::V4);
                let refused = read_as(&bytes, xs.len(), Format::V4);
                assert!(refused.is_err(), "{predictor:?} {what}");
            }
        }
    }

    /// Reads `n` integers from `bytes` as `format` reads them.
    fn read_as(bytes: &[u8], n: usize, format: Format) -> Result<Vec<i64>> {
        let mut got = Vec::new();
        read(&mut ByteReader::new(bytes), n, &mut got, format, |x| x).map(|_| got)
    }

    #[test]
    fn sparse_streams_are_refused_before_format_v4() {
        let xs = steps(512, 0, 120, &[(10, 40), (50, -40)]);
        let plan = plan(&xs, Predictor::Delta);
        let mut bytes = Vec::new();
        assert_eq!(write(&plan, xs.len(), &mut bytes), Format::V4);
        for old in [Format::V1, Format::V2, Format::V3] {
            assert!(read_as(&bytes, xs.len(), old).is_err(), "{old:?}");
        }
        // Sparse with Rice or constant is no coding at all.
        for flag in [RICE_FLAG, CONSTANT_FLAG] {
            let mut both = bytes.clone();
            both[0] |= flag;
            assert!(read_as(&both, xs.len(), Format::V4).is_err(), "{flag:#x}");
        }
    }

    proptest::proptest! {
        /// Levels and steps with a few moves of any size, in every predictor:
        /// sparse codes round-trip (forced, around zero and around the median),
        /// their size is what the plan says, and the planner's choice is never
        /// larger than the sparse code around zero.
        #[test]
        fn sparse_codes_round_trip_and_are_chosen_when_smaller(
            base in proptest::prop_oneof![proptest::strategy::Just(0i64), -50i64..50, proptest::num::i64::ANY],
            at in proptest::collection::vec((0usize..300, proptest::prop_oneof![-100i64..100, proptest::num::i64::ANY]), 0..12),
            factor in proptest::prop_oneof![proptest::strategy::Just(1i64), 1i64..5000],
            n in 2usize..300,
            stepped: bool,
        ) {
            let at: Vec<(usize, i64)> = at.iter().map(|&(i, d)| (i % n, d.wrapping_mul(factor))).collect();
            let xs = if stepped {
                steps(base, 0, n, &at)
            } else {
                level_with_moves(base, n, &at)
            };
            for p in Predictor::ALL {
                let chosen = plan(&xs, p);
                let (got, read_len, written) = write_read(&chosen, xs.len());
                proptest::prop_assert_eq!(&got, &xs);
                proptest::prop_assert_eq!(read_len, written);
                let mut residuals = Vec::new();
                for_each_residual(&xs, p, |r| residuals.push(r));
                let median = lower_median(&residuals, range_of(&residuals));
                for centre in [Some(0), median].into_iter().flatten() {
                    let Some(forced) = forced_sparse(&xs, p, centre) else { continue };
                    let (got, read_len, written) = write_read(&forced, xs.len());
                    proptest::prop_assert_eq!(&got, &xs, "{:?} around {}", p, centre);
                    proptest::prop_assert_eq!(read_len, written);
                    proptest::prop_assert_eq!(written, forced.bytes, "{:?} around {}", p, centre);
                    // Zero is always tried; the second centre is a median only
                    // when Rice coding was priced (else packing's base). Only
                    // where at most one residual in SPARSE_MAX_SHARE is off it.
                    let off = residuals.iter().filter(|&&r| r != centre).count();
                    let tried = centre == 0 && off * SPARSE_MAX_SHARE <= residuals.len();
                    proptest::prop_assert!(
                        !tried || chosen.bytes <= forced.bytes,
                        "{:?}: chose {:?} ({} bytes) over sparse around {} ({} bytes)",
                        p, chosen.coding, chosen.bytes, centre, forced.bytes
                    );
                }
            }
            // The values' planner: never larger than without the stepping plan,
            // nor than the deltas' sparse code around zero where at most one
            // delta in SPARSE_MAX_SHARE is off it.
            use Predictor::{Delta, DeltaOfDelta, None};
            let values = |steps| Predictors { common: &[None, Delta, DeltaOfDelta], rare: &[], steps };
            let (Some(chosen), Some(estimated)) = (best_plan(&xs, &values(true)), best_plan(&xs, &values(false))) else {
                return Err(proptest::test_runner::TestCaseError::fail("no plan"));
            };
            let (got, read_len, written) = write_read(&chosen, xs.len());
            proptest::prop_assert_eq!(&got, &xs);
            proptest::prop_assert_eq!(read_len, written, "{:?}", chosen.coding);
            if let Coding::Sparse(_) = chosen.coding {
                proptest::prop_assert_eq!(written, chosen.bytes);
            }
            proptest::prop_assert!(chosen.bytes <= estimated.bytes);
            let deltas: Vec<i64> = xs.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
            let off = deltas.iter().filter(|&&d| d != 0).count();
            if let Some(forced) = forced_sparse(&xs, Delta, 0)
                && off * SPARSE_MAX_SHARE <= deltas.len()
            {
                proptest::prop_assert!(
                    chosen.bytes <= forced.bytes,
                    "chose {:?} {:?} ({} bytes) over sparse deltas ({} bytes)",
                    chosen.predictor, chosen.coding, chosen.bytes, forced.bytes
                );
            }
        }
    }
}
