//! # tsdb-codec
//!
//! Compressed chunks of `(timestamp ms, f64)` samples: the bytes every series in
//! tsdb is stored as, in memory and on disk.
//!
//! ```
//! use tsdb_codec::{Chunk, ChunkEncoder};
//!
//! let mut enc = ChunkEncoder::new();
//! for i in 0..120 {
//!     enc.push(1_700_000_000_000 + i * 10_000, 20.0 + (i % 7) as f64 * 0.25)?;
//! }
//! let chunk: Chunk = enc.finish();
//! assert!(chunk.as_bytes().len() < 120); // under one byte per sample
//!
//! let (mut ts, mut vs) = (Vec::new(), Vec::new());
//! Chunk::from_bytes(chunk.as_bytes().to_vec())?.decode_into(&mut ts, &mut vs)?;
//! assert_eq!(ts.len(), 120);
//! assert_eq!(vs[3], 20.75);
//! # Ok::<(), tsdb_codec::CodecError>(())
//! ```
//!
//! ## Concepts
//! - [`ChunkEncoder`] appends samples in the Gorilla streams (delta-of-delta
//!   timestamps with millisecond buckets, XOR values): an open chunk costs only its
//!   compressed bytes and stays readable ([`ChunkEncoder::snapshot`]).
//! - [`ChunkEncoder::finish`] seals a [`Chunk`], transcoding each of its two columns
//!   to whichever encoding is smallest for the data: timestamps stay Gorilla or
//!   become [`TimestampEncoding::Regular`] (a fixed interval: two numbers) or
//!   [`TimestampEncoding::Packed`]; values stay [`ValueEncoding::Xor`], or
//!   become [`ValueEncoding::Decimal`] (short decimals scaled to integers) or
//!   [`ValueEncoding::OrderedBits`] (full-precision floats as ordered integers).
//!   Packed integers are predicted (delta, delta-of-delta, line) and their
//!   residuals bit-packed, Rice-coded when bell-shaped, or, when all but a few
//!   are equal (a gauge that steps now and then), stored as those few. The
//!   header says which, so decoding needs no outside state. This build writes
//!   format [`CHUNK_FORMAT_V4`] for chunks with such sparse codes,
//!   [`CHUNK_FORMAT_V3`] for chunks with Rice codes and [`CHUNK_FORMAT_V2`] for
//!   the rest, and reads [`CHUNK_FORMAT_V1`] too.
//! - Series scraped from one target share their timestamps, and a histogram's
//!   buckets often share their values. Each thread that seals chunks remembers
//!   the sections of the last 16 irregular timestamp columns and of the last 16
//!   value columns that were not flat it sealed, and each thread that decodes
//!   remembers the timestamps of the last 16 irregular sections it decoded more
//!   than once (columns of up to 1024 samples; at most 1 MiB a thread, and by
//!   count about 50 KiB for 120-sample chunks). A column or section equal to one of
//!   them is not planned or decoded again. The bytes and the samples are the same
//!   as without them.
//! - Sealing's short-lived vectors come from a per-thread pool of spares rather
//!   than from the allocator (at most 8 of each element type, of at most 16 KiB
//!   each: 512 KiB a thread at most; by count about 10 KiB for 120-sample
//!   chunks).
//! - [`Chunk`] owns its bytes; [`ChunkRef`] reads borrowed (memory-mapped) bytes.
//! - Decoding any byte string returns samples or a [`CodecError`]: never a panic, an
//!   endless loop, or an allocation beyond [`MAX_CHUNK_SAMPLES`] and
//!   [`MAX_SAMPLES_PER_BYTE`] × the input length.
//!
//! The format is drawn in `docs/format/chunk.md`.
#![deny(missing_docs)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

/// Defines `fn $name($args) -> $ret` that runs `$body` (an `#[inline(always)]`
/// function of the same arguments) compiled for most of x86-64-v4 — AVX-512 F,
/// CD, BW, DQ and VL, AVX2, BMI1 and 2, LZCNT, POPCNT (the list `simd::detect`
/// checks for its path bit; not MOVBE) — where the CPU has those
/// ([`simd::has_x86_64_v4`]); else for the integer part of x86-64-v3 — AVX2,
/// BMI1 and 2, LZCNT, POPCNT — where it has those ([`simd::has_x86_64_v3`]:
/// AMD's Zen 2 and Zen 3, most of Intel's client cores); else for the
/// baseline. Sealing's planning is a dozen short passes over each column; with
/// these features the compiler vectorizes them four or eight lanes wide, counts
/// leading zeros in one instruction and shifts by a register without the `cl`
/// dance. The bytes are the same from every build (integer and bit operations
/// only, and floating point without contraction; proptests run the three).
/// Only what `$body` inlines is compiled thrice: closures and functions it
/// calls get the features only if the compiler inlines them, which
/// `#[inline(always)]` makes sure of (or when they are built thrice
/// themselves). Forcing everything into one such `seal` was no faster: the one
/// function grew too large to compile well, and undid the gain.
macro_rules! x86_64_builds {
    (
        $(#[$attr:meta])*
        $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty = $body:path;
    ) => {
        $(#[$attr])*
        $vis fn $name($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                x86_64_builds!(@build crate::simd::has_x86_64_v4(),
                    "avx512f,avx512cd,avx512bw,avx512dq,avx512vl,avx2,bmi1,bmi2,lzcnt,popcnt",
                    ($($arg: $ty),*) -> $ret = $body);
                x86_64_builds!(@build crate::simd::has_x86_64_v3(),
                    "avx2,bmi1,bmi2,lzcnt,popcnt",
                    ($($arg: $ty),*) -> $ret = $body);
            }
            $body($($arg),*)
        }
    };
    // One build: returns `$body` compiled for `$features` when `$has`.
    (@build $has:expr, $features:literal,
        ($($arg:ident: $ty:ty),*) -> $ret:ty = $body:path) => {
        if $has {
            #[target_feature(enable = $features)]
            fn build($($arg: $ty),*) -> $ret {
                $body($($arg),*)
            }
            // SAFETY: the CPU has the features the function is compiled for,
            // detected just above.
            return unsafe { build($($arg),*) };
        }
    };
}

/// Runs `f` under each build of [`x86_64_builds`] this CPU can run (the
/// others' paths hidden on this thread), stopping at the first error; once
/// elsewhere.
#[cfg(test)]
pub(crate) fn for_each_build<E>(mut f: impl FnMut() -> Result<(), E>) -> Result<(), E> {
    #[cfg(target_arch = "x86_64")]
    for mask in simd::tests::builds() {
        simd::tests::with_hidden(mask, &mut f)?;
    }
    #[cfg(not(target_arch = "x86_64"))]
    f()?;
    Ok(())
}

mod bits;
mod chunk;
mod error;
mod gorilla;
mod memo;
mod pack;
mod scratch;
#[cfg(target_arch = "x86_64")]
mod simd;
mod values;

pub use chunk::{
    CHUNK_FORMAT_V1, CHUNK_FORMAT_V2, CHUNK_FORMAT_V3, CHUNK_FORMAT_V4, Chunk, ChunkEncoder,
    ChunkIter, ChunkRef, MAX_CHUNK_SAMPLES, MAX_SAMPLES_PER_BYTE, TimestampEncoding, ValueEncoding,
};
pub use error::{CodecError, Result};
