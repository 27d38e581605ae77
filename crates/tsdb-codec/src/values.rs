//! Value transforms that turn f64s into integers the packer compresses well.
//!
//! - **Decimal**: most real gauges are decimals with few digits (72.53, 0.125, 3).
//!   Scaled by 10^e they become small integers; a chunk picks the smallest `e` that
//!   reproduces every value bit-exactly (as VictoriaMetrics and the ALP paper do).
//!   Values that are no such decimal (NaN staleness markers, ±Inf, −0.0, full
//!   precision) are kept verbatim as exceptions so one stale marker does not cost the
//!   whole chunk its encoding.
//! - **Ordered bits**: the f64 bit pattern mapped to an integer with the same order,
//!   so nearby floats are nearby integers; a full-precision random walk packs into
//!   fewer bits than XOR gives.

use crate::bits::{ByteReader, all_equal, put_uvarint};
use crate::error::{CodecError, Result};
use crate::scratch::Scratch;

/// Largest decimal exponent tried: 10^e must be exact in an f64.
pub(crate) const MAX_DECIMAL_EXP: usize = 18;

pub(crate) const POW10: [f64; MAX_DECIMAL_EXP + 1] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18,
];

/// Format v2: set in the exponent byte when a count of special values follows.
const SPECIALS_FLAG: u8 = 0x80;

/// Integers at most this large convert to and from f64 exactly.
pub(crate) const MAX_EXACT_INT: f64 = 9_007_199_254_740_992.0; // 2^53

/// Maps an f64 bit pattern to an i64 with the same total order (−NaN < −Inf < … < +Inf < NaN).
#[inline(always)]
pub(crate) fn ordered_from_bits(bits: u64) -> i64 {
    if bits >> 63 == 1 {
        (!bits ^ (1 << 63)) as i64
    } else {
        bits as i64
    }
}

/// Inverse of [`ordered_from_bits`].
#[inline(always)]
pub(crate) fn bits_from_ordered(o: i64) -> u64 {
    // Negative: !(o ^ sign) = o ^ !sign, all bits but the sign flipped. Branch-free.
    (o as u64) ^ ((o >> 63) as u64 >> 1)
}

#[inline(always)]
fn decimal_int(v: f64, e: usize) -> Option<i64> {
    decimal_int_at(v, *POW10.get(e)?)
}

/// 1.5 × 2^52: adding it to an f64 below 2^51 in magnitude rounds it to an integer
/// held in the low bits of the sum's mantissa.
pub(crate) const ROUNDER: f64 = 6_755_399_441_055_744.0;

/// Below this (2^50), `v × p` rounds to an integer with [`ROUNDER`].
pub(crate) const ROUNDER_RANGE: f64 = 1_125_899_906_842_624.0;

/// The integer `k` with `k / p == v` bit for bit, if `v × p` rounds to one below
/// 2^53. This runs once per value when sealing: below 2^50 the rounding is two
/// additions and the integer is read from the sum's bits, without a conversion
/// instruction. (That rounds half to even where the rest rounds half away from
/// zero; below 2^50 it makes no difference: `v × p` lies within 1/4 of any `k`
/// that passes the check, and an exact half does not.)
#[inline(always)]
fn decimal_int_at(v: f64, p: f64) -> Option<i64> {
    let s = v * p;
    if s.abs() < ROUNDER_RANGE {
        let y = s + ROUNDER;
        return (((y - ROUNDER) / p).to_bits() == v.to_bits()).then(|| rounded_int(y));
    }
    decimal_int_wide(v, p, s)
}

/// The integer held in the low mantissa bits of `y = s + ROUNDER` (`s` below
/// 2^50 in magnitude): what [`decimal_int_at`] finds for `s = v × p`.
#[inline(always)]
pub(crate) fn rounded_int(y: f64) -> i64 {
    (y.to_bits() as i64).wrapping_sub(ROUNDER.to_bits() as i64)
}

/// How many of `values`, from the first, are exact decimals at scale `p`
/// ([`decimal_int_at`]), with their integers written to the same places of
/// `ints`: the first value here, the rest eight at a time with AVX-512 where the
/// CPU has it (`simd::exact_prefix`), else one at a time. A column of no
/// decimals (full precision) fails at its first value, before any call.
#[inline(always)]
fn exact_prefix(values: &[f64], p: f64, ints: &mut [i64]) -> usize {
    let (Some((slot, ints)), Some((&v, values))) = (ints.split_first_mut(), values.split_first())
    else {
        return 0;
    };
    let Some(k) = decimal_int_at(v, p) else {
        return 0;
    };
    *slot = k;
    // Values at a large exponent (2^50 and up, taken one at a time) come in runs.
    #[cfg(target_arch = "x86_64")]
    if (v * p).abs() < ROUNDER_RANGE && crate::simd::has_avx512() {
        // SAFETY: the CPU has the features the function is compiled for,
        // detected just above.
        return 1 + unsafe { crate::simd::exact_prefix(values, p, ints) };
    }
    1 + exact_prefix_scalar(values, p, ints)
}

/// [`exact_prefix`] one value at a time.
#[inline(always)]
pub(crate) fn exact_prefix_scalar(values: &[f64], p: f64, ints: &mut [i64]) -> usize {
    let mut done = 0;
    for (slot, &v) in ints.iter_mut().zip(values) {
        let Some(k) = decimal_int_at(v, p) else {
            break;
        };
        *slot = k;
        done += 1;
    }
    done
}

/// [`decimal_int_at`] from 2^50 up (and NaN).
#[cold]
#[inline(never)]
fn decimal_int_wide(v: f64, p: f64, s: f64) -> Option<i64> {
    if s.is_nan() || s.abs() >= MAX_EXACT_INT {
        return None;
    }
    // Round half away from zero without a libm call: s − trunc(s) is exact here.
    let t = s as i64;
    let frac = s - t as f64;
    let k = t + i64::from(frac >= 0.5) - i64::from(frac <= -0.5);
    ((k as f64 / p).to_bits() == v.to_bits()).then_some(k)
}

/// The smallest exponent from `from` up at which `v` is an exact decimal, and its
/// integer there. Stops at the first exponent where `v × 10^e` reaches 2^53 (or is
/// not finite): every larger one does too.
///
/// A value exact at an exponent below 2^50 is exact at every larger one below
/// 2^50 (see [`narrow_top`]), so one test at the largest tells whether any of
/// them is: a full-precision value (tried for every value of a float column
/// until it is refused) fails it and skips the rest.
fn smallest_exponent(v: f64, from: usize) -> Option<(usize, i64)> {
    let from = match narrow_top(v) {
        Some((top, p)) if top > from && decimal_int_at(v, p).is_none() => top + 1,
        _ => from,
    };
    smallest_exponent_scan(v, from)
}

/// The largest exponent `e` at which `v × 10^e` is below 2^50 in magnitude (the
/// range of [`decimal_int_at`]'s rounding), and 10^e; `None` if there is none
/// (or `v` is not finite).
///
/// Below 2^50, `v` exact at `e` (`v` is `k / 10^e` rounded) is exact at
/// `e + 1`: `v` lies within half an ulp, 2^−53 × |v|, of `k / 10^e`, so
/// `v × 10^(e+1)` lies within 2^−53 × 2^50 = 1/8 of `10k`, and its product
/// rounds by at most 1/16 more: it rounds to `10k`, and `10k / 10^(e+1)` is
/// the same rational as `k / 10^e`, rounded alike to `v`. (The ulp bound fails
/// for a subnormal `v`, but no decimal `k / 10^e` with `e ≤ 18` is subnormal:
/// `k ≠ 0` gives at least 10^−18, `k = 0` gives +0.)
#[inline(always)]
fn narrow_top(v: f64) -> Option<(usize, f64)> {
    let below = |e: usize| {
        POW10
            .get(e)
            .copied()
            .filter(|&p| (v * p).abs() < ROUNDER_RANGE)
    };
    // |v| < 2^(x + 1) for the binary exponent x: 10^e × 2^(x + 1) ≤ 2^50 for
    // e ≤ (49 − x) × log10(2) (1233 / 4096 rounds it down). Then up or down
    // by one or two.
    let x = ((v.to_bits() >> 52) & 0x7ff) as i64 - 1023;
    let guess = (((49 - x).max(0) * 1233) >> 12).min(MAX_DECIMAL_EXP as i64) as usize;
    let mut top = guess;
    while top < MAX_DECIMAL_EXP && below(top + 1).is_some() {
        top += 1;
    }
    loop {
        if let Some(p) = below(top) {
            return Some((top, p));
        }
        top = top.checked_sub(1)?;
    }
}

/// [`smallest_exponent`] trying each exponent in turn.
fn smallest_exponent_scan(v: f64, from: usize) -> Option<(usize, i64)> {
    for (e, &p) in POW10.iter().enumerate().skip(from) {
        let s = v * p;
        if s.is_nan() || s.abs() >= MAX_EXACT_INT {
            return None;
        }
        if let Some(k) = decimal_int_at(v, p) {
            return Some((e, k));
        }
    }
    None
}

/// Whether more than `max_specials` of `values` are exact decimals at no
/// exponent, counted eight at a time ([`crate::simd::decimal_somewhere`]):
/// each is a special whatever the column's exponent, so the analysis would
/// refuse the column. A full-precision column is refused so after a few
/// blocks of two divisions each (three on most of the float random walk's
/// chunks, four to ten on random f64's), where the analysis took up to three or
/// four divisions for each value it refused. The count stops, with `false`, once
/// fewer than one value in eight is such a value (a decimal column with a
/// special or two), and at once without AVX-512.
#[inline(always)]
fn refused_by_bound(values: &[f64], max_specials: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx512() {
        let (mut seen, mut nowhere) = (0usize, 0usize);
        for block in values.chunks_exact(8) {
            let Ok(&block) = <&[f64; 8]>::try_from(block) else {
                return false;
            };
            // SAFETY: the CPU has the features the function is compiled for,
            // detected just above.
            let somewhere = unsafe { crate::simd::decimal_somewhere(block) };
            nowhere += somewhere.count_zeros() as usize;
            seen += 8;
            if nowhere > max_specials {
                return true;
            }
            if nowhere * 8 < seen {
                return false;
            }
        }
    }
    false
}

/// The most values of `n` that may be specials for the decimal encoding to be
/// tried: past them it does not pay off.
fn max_specials(n: usize) -> usize {
    n / 8
}

x86_64_builds! {
    /// [`Decimal::analyze_in`], built for each x86-64 level (see
    /// [`x86_64_builds`]).
    fn analyze_built(values: &[f64]) -> Option<Decimal> = Decimal::analyze_in;
}

/// A chunk's values as scaled decimals: `value = int / 10^exp`, except at `specials`.
#[derive(Debug)]
pub(crate) struct Decimal {
    pub(crate) exp: u8,
    /// Every value's integer, or none when [`Decimal::flat`] holds the one.
    pub(crate) ints: Scratch<i64>,
    /// The integer of a flat line (every value the same), kept once.
    pub(crate) flat: Option<i64>,
    pub(crate) specials: Vec<(usize, u64)>,
}

impl Decimal {
    /// Finds the smallest exponent that represents the values; `None` when too many
    /// values are no short decimal for this encoding to pay off.
    pub(crate) fn analyze(values: &[f64]) -> Option<Decimal> {
        analyze_built(values)
    }

    /// [`Decimal::analyze`], inlined into each of its builds.
    #[inline(always)]
    fn analyze_in(values: &[f64]) -> Option<Decimal> {
        Decimal::analyze_with(values, true)
    }

    /// [`Decimal::analyze_in`]; with `bound`, a column is refused at its
    /// first special when [`refused_by_bound`] shows it would be (the same
    /// outcome, sooner).
    #[inline(always)]
    fn analyze_with(values: &[f64], mut bound: bool) -> Option<Decimal> {
        let n = values.len();
        let max_specials = max_specials(n);
        // A flat line (most real chunks): one value to analyze.
        if let Some((&first, rest)) = values.split_first()
            && all_equal(rest, first.to_bits(), f64::to_bits)
        {
            let (e, k) = smallest_exponent(first, 0)?;
            return Some(Decimal {
                exp: e as u8,
                ints: Scratch::new(),
                flat: Some(k),
                specials: Vec::new(),
            });
        }
        let mut ints = Scratch::with_capacity(n);
        ints.resize(n, 0);
        let mut d = Decimal {
            exp: 0,
            ints,
            flat: None,
            specials: Vec::new(),
        };
        // One pass: the exponent only grows, so a value that needs a larger one
        // rescales the integers so far (at most 18 times, in practice within the
        // first few values); one that no longer fits at the larger exponent becomes
        // a special.
        let mut i = 0;
        while i < n {
            // The common case: a run of values exact at the current exponent.
            let p = POW10.get(usize::from(d.exp)).copied().unwrap_or(1.0);
            let slots = d.ints.get_mut(i..).unwrap_or_default();
            i += exact_prefix(values.get(i..).unwrap_or_default(), p, slots);
            let Some(&v) = values.get(i) else { break };
            let bits = v.to_bits();
            let mut k = None;
            if let Some((e, at_e)) = smallest_exponent(v, usize::from(d.exp) + 1) {
                // A value exact at a smaller exponent may overflow 2^53 at this
                // one: it becomes a special.
                d.exp = e as u8;
                d.specials.clear();
                for (j, &b) in values.iter().enumerate().take(i) {
                    d.set(j, decimal_int(b, e), b.to_bits());
                }
                k = Some(at_e);
            }
            d.set(i, k, bits);
            if d.specials.len() > max_specials {
                return None;
            }
            // At the first special, whether the column can be refused at
            // once (full precision), not one value at a time.
            if bound && k.is_none() {
                bound = false;
                if refused_by_bound(values, max_specials) {
                    return None;
                }
            }
            i += 1;
        }
        Some(d)
    }

    /// Sets value `j` to its integer `k`, or, when it has none, records it as a
    /// special whose slot repeats the previous integer.
    #[inline(always)]
    fn set(&mut self, j: usize, k: Option<i64>, bits: u64) {
        let k = k.unwrap_or_else(|| {
            // Room for as many as `analyze` allows, at once: a column of full
            // precision fills it before it is refused, and growing by doubling
            // took three reallocations a chunk.
            if self.specials.capacity() == 0 {
                self.specials
                    .reserve_exact(max_specials(self.ints.len()) + 1);
            }
            self.specials.push((j, bits));
            j.checked_sub(1)
                .and_then(|prev| self.ints.get(prev))
                .copied()
                .unwrap_or(0)
        });
        if let Some(slot) = self.ints.get_mut(j) {
            *slot = k;
        }
    }

    /// Writes the exponent and the specials (format v2: the count only when there
    /// are any, flagged in the exponent byte); the integers follow as a packed stream.
    pub(crate) fn write_header(&self, out: &mut Vec<u8>) {
        if self.specials.is_empty() {
            out.push(self.exp);
            return;
        }
        out.push(self.exp | SPECIALS_FLAG);
        put_uvarint(out, self.specials.len() as u64);
        let mut prev = 0usize;
        for &(i, bits) in &self.specials {
            put_uvarint(out, (i - prev) as u64);
            prev = i;
            out.extend_from_slice(&bits.to_le_bytes());
        }
    }

    /// Bytes of the header written by [`Decimal::write_header`].
    pub(crate) fn header_len(&self) -> usize {
        if self.specials.is_empty() {
            return 1;
        }
        let mut prev = 0usize;
        1 + crate::bits::uvarint_len(self.specials.len() as u64)
            + self
                .specials
                .iter()
                .map(|&(i, _)| {
                    let gap = crate::bits::uvarint_len((i - prev) as u64);
                    prev = i;
                    gap + 8
                })
                .sum::<usize>()
    }
}

/// Reads a decimal header: the exponent's divisor and the specials. `v2`: format
/// version 2, where the specials count is present only when flagged.
pub(crate) fn read_decimal_header(
    r: &mut ByteReader<'_>,
    n: usize,
    v2: bool,
) -> Result<(f64, Vec<(usize, u64)>)> {
    let byte = r.u8()?;
    let exp = if v2 { byte & !SPECIALS_FLAG } else { byte };
    let p = *POW10.get(exp as usize).ok_or(CodecError::Corrupt {
        offset: r.position(),
        what: "decimal exponent out of range",
    })?;
    let count = if v2 && byte & SPECIALS_FLAG == 0 {
        0
    } else {
        usize::try_from(r.uvarint()?).unwrap_or(usize::MAX)
    };
    if count > n {
        return Err(CodecError::Corrupt {
            offset: r.position(),
            what: "more special values than values",
        });
    }
    let mut specials = Vec::with_capacity(count);
    let mut at = 0usize;
    for k in 0..count {
        let gap = usize::try_from(r.uvarint()?).unwrap_or(usize::MAX);
        at = at.saturating_add(gap);
        if at >= n || (k > 0 && gap == 0) {
            return Err(CodecError::Corrupt {
                offset: r.position(),
                what: "special value index out of order or range",
            });
        }
        specials.push((at, r.u64_le()?));
    }
    Ok((p, specials))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::Strategy as _;

    #[test]
    fn ordered_mapping_round_trips_and_keeps_order() {
        let vals = [
            f64::NEG_INFINITY,
            -2.5,
            -0.0,
            0.0,
            1e-300,
            1.0,
            2.5,
            f64::INFINITY,
        ];
        let mut prev = i64::MIN;
        for v in vals {
            let o = ordered_from_bits(v.to_bits());
            assert!(o > prev || prev == i64::MIN);
            prev = o;
            assert_eq!(bits_from_ordered(o), v.to_bits());
        }
        for bits in [0u64, u64::MAX, 1 << 63, 0x7ff8_0000_0000_0001] {
            assert_eq!(bits_from_ordered(ordered_from_bits(bits)), bits);
        }
    }

    #[test]
    fn picks_the_smallest_exponent() {
        let d = Decimal::analyze(&[72.53, 0.1, 3.0, -12.5]).unwrap();
        assert_eq!(d.exp, 2);
        assert_eq!(*d.ints, vec![7253, 10, 300, -1250]);
        assert!(d.specials.is_empty());
    }

    #[test]
    fn specials_are_kept_verbatim() {
        let stale = 0x7ff0_0000_0000_0002u64;
        let mut vals: Vec<f64> = (0..16).map(|i| i as f64 * 0.5).collect();
        vals[5] = f64::from_bits(stale);
        let d = Decimal::analyze(&vals).unwrap();
        assert_eq!(d.specials, vec![(5, stale)]);
        assert_eq!(d.exp, 1);
    }

    /// Values at scale `p` for [`exact_prefixes_match_one_at_a_time`]: mostly
    /// decimals, with wide ones (2^50 and up, exact only one at a time), any f64
    /// and the special values among them.
    fn mostly_decimals(p: f64) -> impl proptest::strategy::Strategy<Value = Vec<f64>> {
        proptest::collection::vec(
            proptest::prop_oneof![
                40 => (-1_000_000i64..1_000_000).prop_map(move |k| k as f64 / p),
                2 => ((1i64 << 50)..(1 << 53)).prop_map(move |k| k as f64 / p),
                1 => proptest::prelude::any::<f64>(),
                1 => proptest::sample::select(vec![f64::NAN, -0.0, f64::INFINITY, 0.1 + 0.2]),
            ],
            0..60,
        )
    }

    proptest::proptest! {
        /// Exact prefixes taken eight at a time (AVX-512, where the CPU has it)
        /// are those taken one at a time.
        #[test]
        fn exact_prefixes_match_one_at_a_time(
            (p, values) in proptest::prelude::Strategy::prop_flat_map(0usize..4, |e| {
                (proptest::strategy::Just(POW10[e]), mostly_decimals(POW10[e]))
            }),
        ) {
            let (mut fast, mut slow) = (vec![0i64; values.len()], vec![0i64; values.len()]);
            let n = exact_prefix(&values, p, &mut fast);
            proptest::prop_assert_eq!(n, exact_prefix_scalar(&values, p, &mut slow));
            proptest::prop_assert_eq!(&fast[..n], &slow[..n]);
        }
    }

    proptest::proptest! {
        /// Every build of the analysis (x86-64-v4 and v3, where the CPU has
        /// them, and the baseline) finds the same exponent, integers and
        /// specials.
        #[test]
        fn every_build_analyzes_alike(
            (_, values) in proptest::prelude::Strategy::prop_flat_map(0usize..4, |e| {
                (proptest::strategy::Just(e), mostly_decimals(POW10[e]))
            }),
        ) {
            let base = format!("{:?}", Decimal::analyze_in(&values));
            crate::for_each_build(|| {
                proptest::prop_assert_eq!(&format!("{:?}", Decimal::analyze(&values)), &base);
                Ok(())
            })?;
        }
    }

    /// Decimals at every scale (some near 2^50 and 2^53, where the one test's
    /// range ends), any f64 and the special values.
    fn any_scale() -> impl proptest::strategy::Strategy<Value = f64> {
        proptest::prop_oneof![
            (-1_000_000i64..1_000_000, 0usize..=MAX_DECIMAL_EXP)
                .prop_map(|(k, e)| k as f64 / POW10[e]),
            // k from 2^40 to 2^53 (v × 10^e is about k): across 2^50,
            // where the one test's range ends, and an exponent up across
            // 2^53, where the scan's does.
            (
                (40u32..53).prop_flat_map(|b| (1i64 << b)..(1i64 << (b + 1))),
                0usize..=MAX_DECIMAL_EXP,
                proptest::prelude::any::<bool>(),
            )
                .prop_map(|(k, e, negative)| {
                    let v = k as f64 / POW10[e];
                    if negative { -v } else { v }
                }),
            proptest::prelude::any::<f64>(),
            proptest::sample::select(vec![0.0, -0.0, f64::NAN, f64::INFINITY, 5e-324, 0.1 + 0.2]),
        ]
    }

    proptest::proptest! {
        /// The smallest exponent found with one test below 2^50 is the one
        /// trying every exponent finds, for decimals at every scale (some near
        /// 2^50 and 2^53, where the test's range ends) and for any f64.
        #[test]
        fn the_smallest_exponent_is_found_with_one_test_below_2_50(
            v in any_scale(),
            from in 0usize..=MAX_DECIMAL_EXP + 1,
        ) {
            proptest::prop_assert_eq!(smallest_exponent(v, from), smallest_exponent_scan(v, from));
            // The one test is at the largest exponent below 2^50: a smaller
            // one would skip less, a larger one skip exponents it must not.
            let largest = (0..=MAX_DECIMAL_EXP)
                .rev()
                .find(|&e| (v * POW10[e]).abs() < ROUNDER_RANGE);
            proptest::prop_assert_eq!(narrow_top(v).map(|(e, _)| e), largest);
        }
    }

    /// Whether `v` is an exact decimal at some exponent: what
    /// [`crate::simd::decimal_somewhere`] finds for eight values at once.
    fn decimal_somewhere(v: f64) -> bool {
        smallest_exponent(v, 0).is_some()
    }

    /// Columns about as often refused as not: decimals at one scale with a
    /// share (up to two in five) of full-precision values, NaNs and values
    /// exact only at a larger exponent.
    fn near_the_specials_bound() -> impl proptest::strategy::Strategy<Value = Vec<f64>> {
        use proptest::prelude::Strategy;
        (0usize..4, 0u32..40).prop_flat_map(|(e, share)| {
            let p = POW10[e];
            proptest::collection::vec(
                (
                    0u32..100,
                    -1_000_000i64..1_000_000,
                    0.0f64..1000.0,
                    0usize..4,
                )
                    .prop_map(move |(roll, k, x, kind)| {
                        match (roll < share, kind) {
                            (false, _) => k as f64 / p,
                            (true, 0) => f64::NAN,
                            (true, 1) => k as f64 / POW10[e + 9],
                            _ => x,
                        }
                    }),
                0..130,
            )
        })
    }

    proptest::proptest! {
        /// Eight values at a time (AVX-512), the values that are exact
        /// decimals at some exponent are those found one at a time. (On a CPU
        /// without AVX-512 there is no kernel to check.)
        #[test]
        fn decimals_somewhere_eight_at_a_time_match_one_at_a_time(
            values in proptest::collection::vec(any_scale(), 8),
        ) {
            let block: [f64; 8] = values.try_into().unwrap_or_default();
            #[cfg(target_arch = "x86_64")]
            if crate::simd::has_avx512() {
                // SAFETY: the CPU has the features, detected just above.
                let fast = unsafe { crate::simd::decimal_somewhere(block) };
                for (j, &v) in block.iter().enumerate() {
                    proptest::prop_assert_eq!(
                        fast >> j & 1 == 1,
                        decimal_somewhere(v),
                        "lane {} of {:?}", j, block
                    );
                }
            }
        }

        /// A column refused by the bound at its first special is one the
        /// analysis refuses value by value, and every other column is
        /// analyzed alike. (Without AVX-512 the bound refuses nothing: the
        /// two analyses are then the same loop.)
        #[test]
        fn the_bound_refuses_only_what_the_analysis_refuses(
            values in proptest::prop_oneof![
                near_the_specials_bound(),
                proptest::collection::vec(any_scale(), 0..130),
            ],
        ) {
            proptest::prop_assert_eq!(
                format!("{:?}", Decimal::analyze_with(&values, true)),
                format!("{:?}", Decimal::analyze_with(&values, false))
            );
        }
    }

    /// As many values exact at no exponent as the specials allowed, first: the
    /// bound must not refuse the column (the analysis keeps it); one more, and
    /// it is refused.
    #[test]
    fn the_bound_refuses_past_the_specials_allowed() {
        for nowhere in [8, 9] {
            // 1 + j ulps: 17 significant digits, more than an exponent gives
            // below 2^53.
            let mut values: Vec<f64> = (1..100)
                .map(|j| 1.0 + j as f64 * f64::EPSILON)
                .filter(|&v| smallest_exponent(v, 0).is_none())
                .take(nowhere)
                .collect();
            assert_eq!(values.len(), nowhere);
            values.extend((nowhere..64).map(|i| i as f64 / 100.0));
            assert_eq!(max_specials(values.len()), 8);
            let analyzed = Decimal::analyze_with(&values, false);
            assert_eq!(analyzed.is_some(), nowhere == 8);
            assert_eq!(
                format!("{:?}", Decimal::analyze_with(&values, true)),
                format!("{analyzed:?}")
            );
        }
    }

    #[test]
    fn full_precision_is_refused() {
        let vals: Vec<f64> = (1..50).map(|i| 1.0 / i as f64 + 0.123456789).collect();
        assert!(Decimal::analyze(&vals).is_none());
    }
}
