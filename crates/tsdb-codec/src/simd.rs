//! AVX-512 versions of three loops that sealing runs over every value of a
//! column (the extremes of each predictor's residuals, the histograms of bit
//! lengths, and the check that values are exact decimals) and of two that
//! decoding runs (over every Rice code: the quotients and what they make; and
//! over a line of regular timestamps).
//!
//! Each is chosen at run time, where [`has_avx512`] (or [`has_avx512_rice_f`],
//! [`has_avx512_rice`]) finds the features, beside its scalar version
//! (`pack::extremes`, `pack::bit_len_hist`, `values::exact_prefix`,
//! `pack::unary_run` through `pack::rice_kernel`, `pack::push_line`); they give
//! the same results (proptested against one reference), so the bytes sealed and
//! the samples decoded do not depend on the CPU. The Rice quotients have two
//! kernels: with VBMI2 (Ice Lake, Zen 4) and without (Skylake-SP, Cascade Lake),
//! which differ in how they find the set bits of a word. The builds stay
//! baseline x86-64: a binary runs on any x86-64 machine and takes these paths
//! where it can. Sealing's planning is also built for x86-64-v4 and for the
//! integer part of x86-64-v3 (`x86_64_builds!`, [`has_x86_64_v4`],
//! [`has_x86_64_v3`]): the same code, compiled for more.
//!
//! The kernels take registers from arrays (`_mm512_set_*`) and give them back
//! as arrays (`bytemuck::cast`), never through pointers, so they hold no
//! `unsafe`. What is unsafe is calling a function compiled for features the
//! baseline lacks: each caller does it once, right behind the detection, with a
//! `SAFETY` note.

use std::arch::x86_64::{
    __m512d, __m512i, _CMP_GE_OQ, _CMP_LE_OQ, _CMP_LT_OQ, _MM_FROUND_TO_ZERO, _mm_cvtsi64_si128,
    _mm_cvtsi128_si64, _mm512_abs_pd, _mm512_add_epi64, _mm512_add_pd, _mm512_alignr_epi64,
    _mm512_and_si512, _mm512_castpd_si512, _mm512_castsi512_si128, _mm512_cmp_pd_mask,
    _mm512_cmpeq_epi8_mask, _mm512_cmpeq_epi64_mask, _mm512_cmpge_epu64_mask, _mm512_cvtepi64_epi8,
    _mm512_cvtepu8_epi64, _mm512_div_pd, _mm512_lzcnt_epi64, _mm512_mask_add_pd,
    _mm512_mask_mov_pd, _mm512_mask_sub_pd, _mm512_maskz_compress_epi8,
    _mm512_maskz_compress_epi64, _mm512_max_epi64, _mm512_min_epi64, _mm512_mul_pd,
    _mm512_mullo_epi64, _mm512_or_si512, _mm512_permutex_epi64, _mm512_permutexvar_epi64,
    _mm512_reduce_or_epi64, _mm512_roundscale_pd, _mm512_set_epi64, _mm512_set_pd,
    _mm512_set1_epi8, _mm512_set1_epi64, _mm512_set1_pd, _mm512_setzero_si512,
    _mm512_shuffle_i64x2, _mm512_sll_epi64, _mm512_sllv_epi64, _mm512_srli_epi64, _mm512_sub_epi64,
    _mm512_sub_pd, _mm512_xor_si512,
};

use std::sync::atomic::{AtomicU8, Ordering};

use crate::pack::{Bits64, LenHist, Quotients, RICE_ESCAPE, Word, bit_len, word_at};
use crate::values::{
    MAX_EXACT_INT, POW10, ROUNDER, ROUNDER_RANGE, exact_prefix_scalar, rounded_int,
};

/// What this CPU runs, one bit a path (below), with [`DETECTED`] once known: a
/// load and a test a dispatch, where each feature detected by name is a load,
/// a test of the cache's readiness and a test of its bit, and a path needs up
/// to ten (a sparse column decodes in under a nanosecond a sample, so a chunk
/// paid for them in whole percents).
static PATHS: AtomicU8 = AtomicU8::new(0);
/// Set in [`PATHS`] once the features are detected.
const DETECTED: u8 = 1;
/// [`has_avx512`].
const AVX512: u8 = 2;
/// [`has_x86_64_v4`].
const X86_64_V4: u8 = 4;
/// [`has_avx512_rice_f`].
const RICE_F: u8 = 8;
/// [`has_avx512_rice`].
const RICE_VBMI2: u8 = 16;
/// [`has_x86_64_v3`].
const X86_64_V3: u8 = 32;

/// [`PATHS`], detected on first use (in tests, less what this thread hides:
/// see `tests::with_hidden`).
#[inline(always)]
fn paths() -> u8 {
    let known = detected();
    #[cfg(test)]
    let known = known & !tests::HIDDEN.with(std::cell::Cell::get);
    known
}

/// [`PATHS`], detected on first use.
#[inline(always)]
fn detected() -> u8 {
    match PATHS.load(Ordering::Relaxed) {
        0 => detect(),
        known => known,
    }
}

/// Detects the features each path needs and keeps them in [`PATHS`] (threads
/// that race here store the same value).
#[cold]
fn detect() -> u8 {
    use std::arch::is_x86_feature_detected as has;
    let avx512 = has!("avx512f") && has!("avx512cd") && has!("avx512bw") && has!("popcnt");
    let v4 = avx512
        && has!("avx512dq")
        && has!("avx512vl")
        && has!("avx2")
        && has!("bmi1")
        && has!("bmi2")
        && has!("lzcnt");
    let rice_f = avx512 && has!("avx512dq");
    let rice_vbmi2 = rice_f && has!("avx512vbmi2");
    let v3 = has!("avx2") && has!("bmi1") && has!("bmi2") && has!("lzcnt") && has!("popcnt");
    let paths = DETECTED
        | if avx512 { AVX512 } else { 0 }
        | if v4 { X86_64_V4 } else { 0 }
        | if v3 { X86_64_V3 } else { 0 }
        | if rice_f { RICE_F } else { 0 }
        | if rice_vbmi2 { RICE_VBMI2 } else { 0 };
    PATHS.store(paths, Ordering::Relaxed);
    paths
}

/// Whether this CPU runs the kernels: AVX-512 F, CD (a count of leading zeros of
/// eight words), BW (a compare of 64 bytes) and a population count.
#[inline(always)]
pub(crate) fn has_avx512() -> bool {
    paths() & AVX512 != 0
}

/// Whether this CPU has what [`x86_64_builds`]'s x86-64-v4 build is compiled
/// for: AVX-512 F, CD, BW, DQ and VL, AVX2, BMI1 and 2, LZCNT and POPCNT.
#[inline(always)]
pub(crate) fn has_x86_64_v4() -> bool {
    paths() & X86_64_V4 != 0
}

/// Whether this CPU has what [`x86_64_builds`]'s x86-64-v3 build is compiled
/// for: AVX2, BMI1 and 2, LZCNT and POPCNT.
#[inline(always)]
pub(crate) fn has_x86_64_v3() -> bool {
    paths() & X86_64_V3 != 0
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

/// `pack::bit_len_hist` 128 values at a time (a chunk's column at once): their
/// bit lengths taken eight at a time (a count of leading zeros), narrowed to
/// bytes and gathered in two registers, then each length among them counted
/// with one compare of each register's 64 bytes. One by one, every value costs
/// a count of leading zeros and a load, add and store to its table, and the
/// tables are cleared and summed each call.
#[target_feature(enable = "avx512f,avx512cd,avx512bw,popcnt")]
pub(crate) fn bit_len_hist<T: Bits64>(xs: &[T], base: u64) -> LenHist {
    let (base_v, one) = (_mm512_set1_epi64(base as i64), _mm512_set1_epi64(1));
    let mut counts = [0u32; 65];
    let mut any = 0u64;
    for piece in xs.chunks(128) {
        // The lengths a byte each, 0xFF (no length) where the piece has no value;
        // bit `b` of `present` set where some length is `b` (64 shifts out).
        let mut packed = [u64::MAX; 16];
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
        // The two registers' 64 bytes each.
        let [low, high] = bytemuck::cast::<[u64; 16], [[i64; 8]; 2]>(packed);
        let (low, high) = (i64x8(low), i64x8(high));
        let union = _mm512_reduce_or_epi64(union) as u64;
        any |= union;
        let mut count = |len: u32| {
            let len_v = _mm512_set1_epi8(len as i8);
            let equal = _mm512_cmpeq_epi8_mask(low, len_v).count_ones()
                + _mm512_cmpeq_epi8_mask(high, len_v).count_ones();
            if let Some(c) = counts.get_mut(len as usize) {
                *c += equal;
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
    let rounder_bits = _mm512_set1_epi64(ROUNDER.to_bits() as i64);
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
        // The lanes before the first that fails, their integers read from the
        // rounded sums as the scalar path reads them.
        let exact = (narrow & same).trailing_ones();
        if exact == 8 {
            // All eight: their integers in one subtraction (`rounded_int`'s).
            let block_ints = _mm512_sub_epi64(_mm512_castpd_si512(y), rounder_bits);
            let block_ints: [i64; 8] = bytemuck::cast(block_ints);
            ks.iter_mut().zip(block_ints).for_each(|(k, i)| *k = i);
        } else {
            let ys: [f64; 8] = bytemuck::cast(y);
            (ks.iter_mut().zip(ys))
                .take(exact as usize)
                .for_each(|(k, y)| *k = rounded_int(y));
        }
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

/// Which of eight values are exact decimals at some exponent (bit `j` for
/// `values[j]`): whether `values::smallest_exponent(v, 0)` finds one, for
/// eight lanes at once. Each lane
/// is tested at most twice: at the largest exponent `top` where `v × 10^top` is
/// below 2^50 (a value exact at a smaller exponent is exact there, see
/// `values::narrow_top`), and at `top + 1`, the one exponent where `v × 10^e`
/// can lie from 2^50 to 2^53 (10 > 2^53 / 2^50). The tests are
/// `values::decimal_int_at`'s operations, so their roundings: two divisions for
/// eight values.
#[target_feature(enable = "avx512f")]
pub(crate) fn decimal_somewhere(values: [f64; 8]) -> u8 {
    let v = f64x8(values);
    let a = _mm512_abs_pd(v);
    // `|v| × 10^e` grows with `e`, so a lane's exponents below 2^50 are a
    // prefix `0..=top`: `p` ends at 10^top where there is one, `wide` at
    // 10^(top + 1) (10^0 where there is none); `last` holds the lanes still
    // below 2^50 at the last exponent tried (at 10^18: none above to test).
    let narrow_range = _mm512_set1_pd(ROUNDER_RANGE);
    let one = _mm512_set1_pd(1.0);
    let (mut p, mut wide) = (one, one);
    let (mut any, mut last) = (0u8, 0u8);
    for &pe in &POW10 {
        let pe = _mm512_set1_pd(pe);
        // The lanes whose exponent before this one was below 2^50 take this
        // one as their next.
        wide = _mm512_mask_mov_pd(wide, last, pe);
        last = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(_mm512_mul_pd(a, pe), narrow_range);
        p = _mm512_mask_mov_pd(p, last, pe);
        any |= last;
        if last == 0 {
            break;
        }
    }
    let same = |x: __m512d| _mm512_cmpeq_epi64_mask(_mm512_castpd_si512(x), _mm512_castpd_si512(v));
    // At `top`: the path below 2^50.
    let rounder = _mm512_set1_pd(ROUNDER);
    let y = _mm512_add_pd(_mm512_mul_pd(v, p), rounder);
    let narrow = any & same(_mm512_div_pd(_mm512_sub_pd(y, rounder), p));
    // At `top + 1`, below 2^53 (false for NaN): the wide path's rounding, half
    // away from zero (`s − trunc(s)` and the integer's sums are exact).
    let s = _mm512_mul_pd(v, wide);
    let in_range =
        !last & _mm512_cmp_pd_mask::<_CMP_LT_OQ>(_mm512_abs_pd(s), _mm512_set1_pd(MAX_EXACT_INT));
    let t = _mm512_roundscale_pd::<_MM_FROUND_TO_ZERO>(s);
    let frac = _mm512_sub_pd(s, t);
    let up = _mm512_cmp_pd_mask::<_CMP_GE_OQ>(frac, _mm512_set1_pd(0.5));
    let down = _mm512_cmp_pd_mask::<_CMP_LE_OQ>(frac, _mm512_set1_pd(-0.5));
    let k = _mm512_mask_add_pd(t, up, t, one);
    let k = _mm512_mask_sub_pd(k, down, k, one);
    narrow | (in_range & same(_mm512_div_pd(k, wide)))
}

/// Whether this CPU runs [`rice_codes_f`]: [`has_avx512`] and DQ (a multiply
/// of eight 64-bit lanes).
#[inline(always)]
pub(crate) fn has_avx512_rice_f() -> bool {
    paths() & RICE_F != 0
}

/// Whether this CPU runs [`rice_codes`]: [`has_avx512_rice_f`] and VBMI2 (the
/// set bits' offsets gathered into bytes).
#[inline(always)]
pub(crate) fn has_avx512_rice() -> bool {
    paths() & RICE_VBMI2 != 0
}

/// How many codes [`rice_codes`] finds the positions of before it joins them.
const RICE_BLOCK: usize = 64;

/// Room for the positions of a block: the one before it, [`RICE_BLOCK`], and a
/// word's worth past them. A word's are written from index `found` ≤
/// [`RICE_BLOCK`] on, eight at a time, and end at most 64 past it (the VBMI2
/// version writes ⌈n/8⌉ groups of eight for n set bits; the other writes byte
/// `j`'s group at most `8j` past its start).
const POSITIONS: usize = RICE_BLOCK + 1 + 64;

/// The positions of the set bits of `w` (the word at bit `at` of the unary
/// stream), lowest first, written to `pos` from index `to` eight at a time;
/// returns the index after the last group written (past the last position when
/// `pos` has room for all). The set bits' offsets are gathered into bytes in
/// one instruction (`vpcompressb`, VBMI2), then widened eight at a time.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi2,popcnt")]
fn word_positions_vbmi2(w: u64, at: i64, pos: &mut [i64; POSITIONS], mut to: usize) -> usize {
    let iota = _mm512_set_epi64(
        0x3f3e_3d3c_3b3a_3938,
        0x3736_3534_3332_3130,
        0x2f2e_2d2c_2b2a_2928,
        0x2726_2524_2322_2120,
        0x1f1e_1d1c_1b1a_1918,
        0x1716_1514_1312_1110,
        0x0f0e_0d0c_0b0a_0908,
        0x0706_0504_0302_0100,
    );
    let at = _mm512_set1_epi64(at);
    let n = w.count_ones() as usize;
    let offsets: [u64; 8] = bytemuck::cast(_mm512_maskz_compress_epi8(w, iota));
    for &eight_offsets in offsets.iter().take(n.div_ceil(8)) {
        let Some(eight) = pos.get_mut(to..).and_then(|p| p.first_chunk_mut::<8>()) else {
            break;
        };
        let wide = _mm512_cvtepu8_epi64(_mm_cvtsi64_si128(eight_offsets as i64));
        *eight = bytemuck::cast(_mm512_add_epi64(wide, at));
        to += 8;
    }
    to
}

/// [`word_positions_vbmi2`] with AVX-512 F alone (Skylake-SP, Cascade Lake: no
/// VBMI2): a byte of the word at a time, its set bits' positions gathered from
/// eight 64-bit lanes (`vpcompressq`) and stored whole; the next byte's start
/// where this one's positions end. Eight gathers a word where VBMI2 takes one.
#[inline]
#[target_feature(enable = "avx512f,popcnt")]
fn word_positions_f(w: u64, at: i64, pos: &mut [i64; POSITIONS], mut to: usize) -> usize {
    let iota = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
    for (j, byte) in w.to_le_bytes().into_iter().enumerate() {
        let Some(eight) = pos.get_mut(to..).and_then(|p| p.first_chunk_mut::<8>()) else {
            break;
        };
        let lanes = _mm512_add_epi64(iota, _mm512_set1_epi64(at + 8 * j as i64));
        *eight = bytemuck::cast(_mm512_maskz_compress_epi64(byte, lanes));
        to += byte.count_ones() as usize;
    }
    to
}

/// Defines a [`rice_codes`] kernel compiled for `$features`, finding each
/// word's positions with `$positions`: the same code stamped twice, since the
/// features a function is compiled for are an attribute of it.
macro_rules! rice_kernel {
    ($(#[$attr:meta])* $name:ident, $features:literal, $positions:ident) => {
        $(#[$attr])*
        #[target_feature(enable = $features)]
        pub(crate) fn $name<W: Word, const SUM: bool, const MUL: bool>(
            Quotients { data, k, base, mul }: Quotients<'_>,
            from_bit: usize,
            slots: &mut [W],
            mut x: i64,
            finish: impl Fn(i64) -> W,
        ) -> (usize, usize, i64) {
            let (base_v, mul_v, escape) = (
                _mm512_set1_epi64(base),
                _mm512_set1_epi64(mul),
                _mm512_set1_epi64(i64::from(RICE_ESCAPE)),
            );
            let (one, zero) = (_mm512_set1_epi64(1), _mm512_setzero_si512());
            let shift = _mm_cvtsi64_si128(i64::from(k));
            // `pos[0]` is the bit before the block's first code (the one that
            // ended the code before, or the last low bit); `pos[i + 1]` the one
            // that ends code `i`.
            let mut pos = [0i64; POSITIONS];
            let (mut done, mut bit) = (0usize, from_bit);
            loop {
                let need = (slots.len() - done).min(RICE_BLOCK);
                if need == 0 {
                    break;
                }
                // The positions. Without escapes the block's codes end within
                // `need × (RICE_ESCAPE + 1)` bits: no further word is read (a
                // run of zeros, a long escape or the end of the stream is left
                // to the caller).
                pos[0] = bit as i64 - 1;
                let mut found = 1usize;
                let mut byte = bit / 8;
                let last = byte + need * (RICE_ESCAPE as usize + 1) / 8;
                let mut w = word_at(data, byte) & (u64::MAX << (bit % 8));
                loop {
                    let to = $positions(w, (byte * 8) as i64, &mut pos, found);
                    // `pos` holds room for all of them (`found` ≤ `need`
                    // before), so `to` is never the lower.
                    found = (found + w.count_ones() as usize).min(to);
                    byte += 8;
                    if found > need || byte > last || byte >= data.len() {
                        break;
                    }
                    w = word_at(data, byte);
                }
                // The codes, eight at a time (the last group may be fewer: its
                // lanes past them compute from whatever `pos` holds there, and
                // are dropped).
                let codes = (found - 1).min(need);
                let mut xv = _mm512_set1_epi64(x);
                let mut g = 0usize;
                for group in slots
                    .get_mut(done..done + codes)
                    .unwrap_or_default()
                    .chunks_mut(8)
                {
                    let (Some(prev), Some(cur)) = (
                        pos.get(g..).and_then(|p| p.first_chunk::<8>()),
                        pos.get(g + 1..).and_then(|p| p.first_chunk::<8>()),
                    ) else {
                        break;
                    };
                    let q = _mm512_sub_epi64(_mm512_sub_epi64(i64x8(*cur), i64x8(*prev)), one);
                    let escapes = _mm512_cmpge_epu64_mask(q, escape);
                    // The codes' running sums (`r` itself without `SUM`) from
                    // the low bits `lows`.
                    let sums = |lows: __m512i| {
                        let v = _mm512_or_si512(lows, _mm512_sll_epi64(q, shift));
                        // unzigzag: v >> 1, flipped where v is odd.
                        let sign = _mm512_sub_epi64(zero, _mm512_and_si512(v, one));
                        let mut r = _mm512_xor_si512(_mm512_srli_epi64::<1>(v), sign);
                        if MUL {
                            r = _mm512_mullo_epi64(r, mul_v);
                        }
                        r = _mm512_add_epi64(r, base_v);
                        if SUM {
                            // Running sums across the lanes: each adds the lane
                            // one, two, then four below it (zeros shifted in),
                            // then the sum so far.
                            r = _mm512_add_epi64(r, _mm512_alignr_epi64::<7>(r, zero));
                            r = _mm512_add_epi64(r, _mm512_alignr_epi64::<6>(r, zero));
                            r = _mm512_add_epi64(r, _mm512_alignr_epi64::<4>(r, zero));
                            r = _mm512_add_epi64(r, xv);
                        }
                        r
                    };
                    if escapes == 0
                        && let Ok(slots) = <&mut [W; 8]>::try_from(&mut *group)
                    {
                        let r = sums(i64x8(slots.map(W::to_i64)));
                        let xs: [i64; 8] = bytemuck::cast(r);
                        for (slot, &y) in slots.iter_mut().zip(&xs) {
                            *slot = finish(y);
                        }
                        xv = _mm512_permutexvar_epi64(_mm512_set1_epi64(7), r);
                        done += 8;
                        g += 8;
                        continue;
                    }
                    let r = sums(i64x8(padded(group, W::to_i64, 0)));
                    let xs: [i64; 8] = bytemuck::cast(r);
                    // A last group of fewer, or one with an escape: the codes
                    // before the first escape.
                    let valid = (escapes.trailing_zeros() as usize).min(group.len());
                    for (slot, &y) in group.iter_mut().zip(&xs).take(valid) {
                        *slot = finish(y);
                    }
                    if SUM && valid > 0 {
                        xv = _mm512_permutexvar_epi64(_mm512_set1_epi64(valid as i64 - 1), r);
                    }
                    done += valid;
                    g += valid;
                    break;
                }
                x = _mm_cvtsi128_si64(_mm512_castsi512_si128(xv));
                // The bit after the last code decoded (past the one that ends it).
                bit = pos.get(g).map_or(bit, |&p| (p + 1) as usize);
                if g < need {
                    break;
                }
            }
            (done, bit, x)
        }
    };
}

rice_kernel! {
    /// `pack::unary_run`'s codes in blocks of [`RICE_BLOCK`]. First the
    /// positions of the set bits that end the codes, a word of the unary stream
    /// at a time ([`word_positions_vbmi2`]). Then the codes eight at a time:
    /// each quotient is the distance between two positions, joined to its low
    /// bits, unzigzagged, multiplied, offset and summed in eight lanes. One at a
    /// time, the scalar loop spends about 28 instructions a code, most of them
    /// on finding and joining its bits.
    ///
    /// Takes the codes from `slots[0]` on, the unary stream at bit `from_bit`,
    /// and stops at the first escape (a quotient of [`RICE_ESCAPE`] zeros or
    /// more) or where positions run out (a long run of zeros, or the end of the
    /// stream): the caller's scalar loop goes on from there. Returns how many
    /// codes it decoded, the bit after them and, with `SUM`, the running sum
    /// `x` (else `x` as given).
    rice_codes, "avx512f,avx512bw,avx512dq,avx512vbmi2,popcnt", word_positions_vbmi2
}

rice_kernel! {
    /// [`rice_codes`] for AVX-512 without VBMI2 (F and DQ: Skylake-SP, Cascade
    /// Lake), its positions from [`word_positions_f`].
    rice_codes_f, "avx512f,avx512dq,popcnt", word_positions_f
}

/// `pack::push_line` eight lanes at a time: one store per eight values, where
/// the baseline's four lanes live in four registers and take four stores.
#[target_feature(enable = "avx512f")]
pub(crate) fn push_line<W: Word>(out: &mut Vec<W>, first: i64, step: i64, m: usize) {
    out.reserve(m);
    let mut lanes = i64x8(std::array::from_fn(|i| {
        first.wrapping_add(step.wrapping_mul(i as i64))
    }));
    let step8 = _mm512_set1_epi64(step.wrapping_mul(8));
    for _ in 0..m / 8 {
        let xs: [i64; 8] = bytemuck::cast(lanes);
        out.extend_from_slice(&xs.map(W::from_i64));
        lanes = _mm512_add_epi64(lanes, step8);
    }
    let xs: [i64; 8] = bytemuck::cast(lanes);
    out.extend(xs.into_iter().take(m % 8).map(W::from_i64));
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::arch::is_x86_feature_detected as has;

    #[test]
    fn each_path_is_its_features_detected_by_name() {
        let avx512 = has!("avx512f") && has!("avx512cd") && has!("avx512bw") && has!("popcnt");
        assert_eq!(has_avx512(), avx512);
        assert_eq!(has_avx512_rice_f(), avx512 && has!("avx512dq"));
        assert_eq!(
            has_avx512_rice(),
            has_avx512_rice_f() && has!("avx512vbmi2")
        );
        // The builds' features: what each is compiled for, each present.
        let v3 = has!("avx2") && has!("bmi1") && has!("bmi2") && has!("lzcnt") && has!("popcnt");
        assert_eq!(has_x86_64_v3(), v3);
        assert_eq!(
            has_x86_64_v4(),
            avx512 && has!("avx512dq") && has!("avx512vl") && v3
        );
        assert_ne!(paths() & DETECTED, 0);
        // Hidden paths are not taken, on this thread only; every build this
        // CPU can run is listed, whatever is hidden; a panic shows them again.
        let all = builds();
        assert_eq!(
            all.len(),
            1 + usize::from(v3) + usize::from(has_x86_64_v4())
        );
        with_hidden(X86_64_V4 | X86_64_V3, || {
            assert!(!has_x86_64_v4() && !has_x86_64_v3());
            assert_eq!(has_avx512(), avx512);
            let other = std::thread::spawn(has_x86_64_v3).join().unwrap();
            assert_eq!(other, v3);
            assert_eq!(builds(), all);
        });
        assert_eq!(has_x86_64_v3(), v3);
        let panicked = std::panic::catch_unwind(|| with_hidden(X86_64_V3, || panic!("hidden")));
        assert!(panicked.is_err());
        assert_eq!(has_x86_64_v3(), v3);
    }

    thread_local! {
        /// Paths [`paths`] leaves out on this thread.
        pub(super) static HIDDEN: std::cell::Cell<u8> = const { std::cell::Cell::new(0) };
    }

    /// Runs `f` with the paths in `mask` hidden on this thread, as on a CPU
    /// without their features; they are shown again even if `f` panics (as a
    /// proptest's failing case does before it shrinks on the same thread).
    pub(crate) fn with_hidden<R>(mask: u8, f: impl FnOnce() -> R) -> R {
        struct Restore(u8);
        impl Drop for Restore {
            fn drop(&mut self) {
                HIDDEN.with(|h| h.set(self.0));
            }
        }
        let _restore = Restore(HIDDEN.with(|h| h.replace(mask)));
        f()
    }

    /// Runs `f` with every path hidden on this thread: the baseline build and
    /// the scalar kernels, as on a CPU without AVX-512 or AVX2.
    pub(crate) fn scalar_only<R>(f: impl FnOnce() -> R) -> R {
        with_hidden(AVX512 | X86_64_V4 | RICE_F | RICE_VBMI2 | X86_64_V3, f)
    }

    /// The builds of [`x86_64_builds`] a test can run on this CPU, each as the
    /// mask of paths that chooses it: the baseline, then the x86-64-v3 build and
    /// the x86-64-v4 build where the CPU has their features (whatever this
    /// thread hides).
    pub(crate) fn builds() -> Vec<u8> {
        let paths = detected();
        let mut masks = vec![X86_64_V4 | X86_64_V3];
        if paths & X86_64_V3 != 0 {
            masks.push(X86_64_V4);
        }
        if paths & X86_64_V4 != 0 {
            masks.push(0);
        }
        masks
    }
}
