//! AVX-512 versions of three loops that sealing runs over every value of a
//! column: the extremes of each predictor's residuals, the histograms of bit
//! lengths, and the check that values are exact decimals.
//!
//! Each is chosen at run time, where [`has_avx512`] finds the features, by the
//! function that owns its scalar version (`pack::extremes`,
//! `pack::bit_len_hist`, `values::exact_prefix`); the two give the same results
//! (proptested against one reference), so the bytes sealed do not depend on the
//! CPU. The builds stay baseline x86-64: a binary runs on any x86-64 machine and
//! takes these paths where it can.
//!
//! The kernels take registers from arrays (`_mm512_set_*`), never through
//! pointers, so they hold no `unsafe`. What is unsafe is calling a function
//! compiled for features the baseline lacks: each caller does it once, right
//! behind the detection, with a `SAFETY` note.

use std::arch::x86_64::{
    __m512d, __m512i, _CMP_LT_OQ, _mm_cvtsi128_si64, _mm512_abs_pd, _mm512_add_pd,
    _mm512_castpd_si512, _mm512_castsi512_si128, _mm512_cmp_pd_mask, _mm512_cmpeq_epi8_mask,
    _mm512_cmpeq_epi64_mask, _mm512_cvtepi64_epi8, _mm512_div_pd, _mm512_lzcnt_epi64,
    _mm512_max_epi64, _mm512_min_epi64, _mm512_mul_pd, _mm512_or_si512, _mm512_permutex_epi64,
    _mm512_reduce_or_epi64, _mm512_set_epi64, _mm512_set_pd, _mm512_set1_epi8, _mm512_set1_epi64,
    _mm512_set1_pd, _mm512_setzero_si512, _mm512_shuffle_i64x2, _mm512_sllv_epi64,
    _mm512_sub_epi64, _mm512_sub_pd,
};

use crate::pack::{Bits64, LenHist, bit_len};
use crate::values::{ROUNDER, ROUNDER_RANGE, exact_prefix_scalar, narrow_int};

/// Whether this CPU runs the kernels: AVX-512 F, CD (a count of leading zeros of
/// eight words), BW (a compare of 64 bytes) and a population count. Detected
/// once, then a load.
#[inline(always)]
pub(crate) fn has_avx512() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512cd")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("popcnt")
}

/// Eight i64 in one register, lane `j` from `x[j]`.
#[inline]
#[target_feature(enable = "avx512f")]
fn i64x8([a, b, c, d, e, f, g, h]: [i64; 8]) -> __m512i {
    _mm512_set_epi64(h, g, f, e, d, c, b, a)
}

/// Eight f64 in one register, lane `j` from `x[j]`.
#[inline]
#[target_feature(enable = "avx512f")]
fn f64x8([a, b, c, d, e, f, g, h]: [f64; 8]) -> __m512d {
    _mm512_set_pd(h, g, f, e, d, c, b, a)
}

/// `xs` (up to eight) as eight i64 through `f`, the lanes past them `fill`:
/// lane by lane, where a copy of the slice was a call to `memcpy`.
#[inline(always)]
fn padded<T: Copy>(xs: &[T], f: impl Fn(T) -> i64, fill: i64) -> [i64; 8] {
    std::array::from_fn(|j| xs.get(j).map_or(fill, |&x| f(x)))
}

/// `pack::extremes` in eight lanes of one register each: every lane tracks its
/// own smallest pair and largest triple with minima and maxima (seven
/// instructions for eight residuals, no branch), then the lanes are folded into
/// each other. One by one, a new extreme costs a branch and seven conditional
/// moves, and a wandering level (a random walk) sets many.
#[target_feature(enable = "avx512f")]
pub(crate) fn extremes(residuals: &[i64]) -> (i64, i64, [i64; 3]) {
    // Smallest pair `[s0, s1]` and largest triple `[h0, h1, h2]`, lane by lane.
    type Lanes = ([__m512i; 2], [__m512i; 3]);
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn add_low([s0, s1]: &mut [__m512i; 2], r: __m512i) {
        *s1 = _mm512_min_epi64(*s1, _mm512_max_epi64(*s0, r));
        *s0 = _mm512_min_epi64(*s0, r);
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn add_high([h0, h1, h2]: &mut [__m512i; 3], r: __m512i) {
        let below0 = _mm512_min_epi64(*h0, r);
        *h0 = _mm512_max_epi64(*h0, r);
        let below1 = _mm512_min_epi64(*h1, below0);
        *h1 = _mm512_max_epi64(*h1, below0);
        *h2 = _mm512_max_epi64(*h2, below1);
    }
    // Each lane takes in the pair and triple of the lane `swap` puts in its place.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn fold((low, high): &mut Lanes, swap: impl Fn(__m512i) -> __m512i) {
        let ([s0, s1], [h0, h1, h2]) = (*low, *high);
        add_low(low, swap(s0));
        add_low(low, swap(s1));
        add_high(high, swap(h0));
        add_high(high, swap(h1));
        add_high(high, swap(h2));
    }
    let (max, min) = (_mm512_set1_epi64(i64::MAX), _mm512_set1_epi64(i64::MIN));
    let mut lanes: Lanes = ([max; 2], [min; 3]);
    let mut blocks = residuals.chunks_exact(8);
    for block in &mut blocks {
        if let Ok(&block) = <&[i64; 8]>::try_from(block) {
            let r = i64x8(block);
            add_low(&mut lanes.0, r);
            add_high(&mut lanes.1, r);
        }
    }
    let rest = blocks.remainder();
    if !rest.is_empty() {
        // The lanes past the rest take values that add nothing.
        add_low(&mut lanes.0, i64x8(padded(rest, |r| r, i64::MAX)));
        add_high(&mut lanes.1, i64x8(padded(rest, |r| r, i64::MIN)));
    }
    // Lanes four apart, then two, then one: every lane then holds all eight.
    fold(&mut lanes, |v| _mm512_shuffle_i64x2::<0b0100_1110>(v, v));
    fold(&mut lanes, |v| _mm512_shuffle_i64x2::<0b1011_0001>(v, v));
    fold(&mut lanes, |v| _mm512_permutex_epi64::<0b1011_0001>(v));
    let first = |v: __m512i| _mm_cvtsi128_si64(_mm512_castsi512_si128(v));
    let ([s0, s1], [h0, h1, h2]) = lanes;
    (first(s0), first(s1), [first(h0), first(h1), first(h2)])
}

/// `pack::bit_len_hist` 64 values at a time: their bit lengths taken eight at a
/// time (a count of leading zeros), narrowed to bytes and gathered in one
/// register, then each length among them counted with one compare of the 64
/// bytes. One by one, every value costs a count of leading zeros and a load, add
/// and store to its table, and the tables are cleared and summed each call.
#[target_feature(enable = "avx512f,avx512cd,avx512bw,popcnt")]
pub(crate) fn bit_len_hist<T: Bits64>(xs: &[T], base: u64) -> LenHist {
    let (base_v, one) = (_mm512_set1_epi64(base as i64), _mm512_set1_epi64(1));
    let mut counts = [0u32; 65];
    let mut any = 0u64;
    for piece in xs.chunks(64) {
        // The lengths a byte each, 0xFF (no length) where the piece has no value;
        // bit `b` of `present` set where some length is `b` (64 shifts out).
        let mut packed = [u64::MAX; 8];
        let (mut union, mut present) = (_mm512_setzero_si512(), _mm512_setzero_si512());
        let mut add = |v: __m512i| -> u64 {
            let offsets = _mm512_sub_epi64(v, base_v);
            union = _mm512_or_si512(union, offsets);
            let len = _mm512_sub_epi64(_mm512_set1_epi64(64), _mm512_lzcnt_epi64(offsets));
            present = _mm512_or_si512(present, _mm512_sllv_epi64(one, len));
            _mm_cvtsi128_si64(_mm512_cvtepi64_epi8(len)) as u64
        };
        let mut blocks = piece.chunks_exact(8);
        let mut slots = packed.iter_mut();
        // Blocks first: a slot is taken only for a block.
        for (block, slot) in (&mut blocks).zip(&mut slots) {
            *slot = add(i64x8(padded(block, |x| x.bits() as i64, 0)));
        }
        let rest = blocks.remainder();
        if let Some(slot) = slots.next()
            && !rest.is_empty()
        {
            // The lanes past the rest take `base` (offset zero) and their bytes
            // no length.
            let v = i64x8(padded(rest, |x| x.bits() as i64, base as i64));
            *slot = add(v) | u64::MAX << (8 * rest.len());
        }
        let bytes = i64x8(packed.map(|p| p as i64));
        let union = _mm512_reduce_or_epi64(union) as u64;
        any |= union;
        let mut count = |len: u32| {
            let equal = _mm512_cmpeq_epi8_mask(bytes, _mm512_set1_epi8(len as i8));
            if let Some(c) = counts.get_mut(len as usize) {
                *c += equal.count_ones();
            }
        };
        let mut present = _mm512_reduce_or_epi64(present) as u64;
        while present != 0 {
            count(present.trailing_zeros());
            present &= present - 1;
        }
        if bit_len(union) == 64 {
            count(64);
        }
    }
    LenHist {
        counts,
        top: bit_len(any),
    }
}

/// `values::exact_prefix` past its first value, eight values at a time (eight
/// divisions in one instruction, where one at a time each waits its turn at the
/// divider): each lane computes what `values::decimal_int_at`'s path below 2^50
/// computes (the same operations, so the same roundings). A block stops the run
/// at its first lane that fails below 2^50 (the scalar test fails it too); from a
/// value of 2^50 or more (where only the scalar path decides) and for a tail of
/// fewer than eight, the run goes on one value at a time.
#[target_feature(enable = "avx512f")]
pub(crate) fn exact_prefix(values: &[f64], p: f64, ints: &mut [i64]) -> usize {
    let (pv, rounder, range) = (
        _mm512_set1_pd(p),
        _mm512_set1_pd(ROUNDER),
        _mm512_set1_pd(ROUNDER_RANGE),
    );
    let mut done = 0;
    for (vs, ks) in values.chunks_exact(8).zip(ints.chunks_exact_mut(8)) {
        let Ok(&block) = <&[f64; 8]>::try_from(vs) else {
            break;
        };
        let v = f64x8(block);
        let s = _mm512_mul_pd(v, pv);
        // Below 2^50 (false for NaN), as the scalar path tests.
        let narrow = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(_mm512_abs_pd(s), range);
        let y = _mm512_add_pd(s, rounder);
        let back = _mm512_div_pd(_mm512_sub_pd(y, rounder), pv);
        let same = _mm512_cmpeq_epi64_mask(_mm512_castpd_si512(back), _mm512_castpd_si512(v));
        // The lanes before the first that fails, their integers as the scalar
        // path has them.
        let exact = (narrow & same).trailing_ones();
        (ks.iter_mut().zip(vs))
            .take(exact as usize)
            .for_each(|(k, &v)| *k = narrow_int(v, p));
        done += exact as usize;
        if exact < 8 {
            if narrow >> exact & 1 == 1 {
                return done;
            }
            break;
        }
    }
    let (values, ints) = (
        values.get(done..).unwrap_or_default(),
        ints.get_mut(done..).unwrap_or_default(),
    );
    done + exact_prefix_scalar(values, p, ints)
}
