//! The chunk: a self-describing, immutable run of samples, and the encoder that
//! builds one.
//!
//! Layout (format versions 1 to 3, see `docs/format/chunk.md`):
//! ```text
//! u8 version (1, 2 or 3) | u8 encodings (timestamp << 4 | value) | varint count
//! | varint timestamp-section length | timestamp section | value section
//! ```
//! Decoding needs nothing but these bytes.

use crate::bits::{ByteReader, all_equal, put_uvarint, uvarint_len, zigzag};
use crate::error::{CodecError, Result};
use crate::gorilla::{
    TimestampWriter, XorWriter, decode_timestamps, decode_xor, timestamp_stream_bits,
    xor_stream_bits,
};
use crate::memo;
use crate::pack::{self, Format, Predictor, Predictors};
use crate::scratch::Scratch;
use crate::values::{Decimal, bits_from_ordered, ordered_from_bits, read_decimal_header};

/// Chunk format version 1, which this build still reads.
pub const CHUNK_FORMAT_V1: u8 = 1;

/// Chunk format version 2, which this build writes (and reads): version 1 plus the
/// constant and Rice codings of packed residuals and a shorter decimal header.
/// Chunks without Rice codes are written in it.
pub const CHUNK_FORMAT_V2: u8 = 2;

/// Chunk format version 3, which this build writes for chunks with Rice codes (and
/// reads): version 2 with each Rice stream split into its low bits, packed, and
/// its quotients, in unary, which decodes faster.
pub const CHUNK_FORMAT_V3: u8 = 3;

/// Chunk format version 4, which this build writes for chunks with sparse codes
/// (and reads): version 3 plus a coding of packed residuals that all equal one
/// value but a few, stored as their positions and signed differences (a gauge
/// that steps now and then, up or down).
pub const CHUNK_FORMAT_V4: u8 = 4;

impl Format {
    /// Every version this build reads, oldest first.
    const ALL: [Format; 4] = [Format::V1, Format::V2, Format::V3, Format::V4];

    /// The chunk's first byte in this version: the one mapping between the two.
    fn byte(self) -> u8 {
        match self {
            Format::V1 => CHUNK_FORMAT_V1,
            Format::V2 => CHUNK_FORMAT_V2,
            Format::V3 => CHUNK_FORMAT_V3,
            Format::V4 => CHUNK_FORMAT_V4,
        }
    }

    /// The version a chunk's first byte names, if this build reads it.
    fn from_byte(b: u8) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.byte() == b)
    }
}

/// Most samples one chunk may hold. Decoders refuse larger counts, which bounds the
/// memory a hostile chunk can make a reader allocate.
pub const MAX_CHUNK_SAMPLES: usize = 4096;

/// A decoder allocates at most this many samples per input byte (on top of the
/// [`MAX_CHUNK_SAMPLES`] cap). The densest possible chunk, a constant series at a
/// fixed interval, needs at least 10 bytes for 4096 samples (410 per byte).
pub const MAX_SAMPLES_PER_BYTE: usize = 512;

/// How a chunk's timestamps are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum TimestampEncoding {
    /// Gorilla delta-of-delta with millisecond buckets (the appendable form).
    DeltaOfDelta = 0,
    /// Predictor + frame-of-reference bit packing with patched exceptions.
    Packed = 1,
    /// A fixed interval (format v2): `t_i = t_0 + i × interval`, stored as the two
    /// numbers. The common case of a scrape target that never missed a beat.
    Regular = 2,
}

/// How a chunk's values are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ValueEncoding {
    /// Gorilla XOR with window reuse (the appendable form).
    Xor = 0,
    /// Decimals scaled to integers, packed; non-decimals kept verbatim.
    Decimal = 1,
    /// Order-preserving integer images of the f64 bits, packed.
    OrderedBits = 2,
}

impl TimestampEncoding {
    fn from_u8(b: u8) -> Result<Self> {
        match b {
            0 => Ok(Self::DeltaOfDelta),
            1 => Ok(Self::Packed),
            2 => Ok(Self::Regular),
            found => Err(CodecError::UnknownEncoding {
                section: "timestamp",
                found,
            }),
        }
    }
}

impl ValueEncoding {
    fn from_u8(b: u8) -> Result<Self> {
        match b {
            0 => Ok(Self::Xor),
            1 => Ok(Self::Decimal),
            2 => Ok(Self::OrderedBits),
            found => Err(CodecError::UnknownEncoding {
                section: "value",
                found,
            }),
        }
    }
}

/// Builds a chunk sample by sample.
///
/// While open, samples are held in the Gorilla streams, so an open chunk costs only
/// its compressed bytes. [`ChunkEncoder::finish`] seals the chunk in whichever
/// encoding is smallest for its data.
#[derive(Clone, Debug, Default)]
pub struct ChunkEncoder {
    ts: TimestampWriter,
    vals: XorWriter,
    count: u32,
    first_t: i64,
}

impl ChunkEncoder {
    /// An empty encoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a sample. `t` must be greater than the previous timestamp.
    #[inline(always)]
    pub fn push(&mut self, t: i64, v: f64) -> Result<()> {
        let n = self.count as usize;
        // One test keeps the common case (a third or later sample, in order, room
        // left) on the straight path; the rest is out of line.
        if !(2..MAX_CHUNK_SAMPLES).contains(&n) || t <= self.ts.last_t {
            return self.push_cold(t, v);
        }
        self.ts.push_next(t);
        self.vals.push_next(v.to_bits());
        self.count += 1;
        Ok(())
    }

    /// [`ChunkEncoder::push`] for the first two samples and for refusals.
    #[cold]
    #[inline(never)]
    fn push_cold(&mut self, t: i64, v: f64) -> Result<()> {
        let n = self.count as usize;
        if n >= MAX_CHUNK_SAMPLES {
            return Err(CodecError::ChunkFull {
                max: MAX_CHUNK_SAMPLES,
            });
        }
        if n > 0 && t <= self.ts.last_t {
            return Err(CodecError::OutOfOrder {
                last: self.ts.last_t,
                t,
            });
        }
        if n == 0 {
            self.first_t = t;
        }
        self.ts.push(n, t);
        self.vals.push(n, v.to_bits());
        self.count += 1;
        Ok(())
    }

    /// Samples pushed so far.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether no sample was pushed yet.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Timestamp of the first sample.
    pub fn first_time(&self) -> Option<i64> {
        (self.count > 0).then_some(self.first_t)
    }

    /// Timestamp of the last sample.
    pub fn last_time(&self) -> Option<i64> {
        (self.count > 0).then_some(self.ts.last_t)
    }

    /// Heap bytes the open encoder holds (its stream buffers' capacity).
    pub fn size_bytes(&self) -> usize {
        self.ts.w.heap_bytes() + self.vals.w.heap_bytes()
    }

    /// A readable copy of the samples so far, in the appendable encoding.
    pub fn snapshot(&self) -> Chunk {
        let mut bytes = Vec::with_capacity(8 + self.ts.w.byte_len() + self.vals.w.byte_len());
        write_header(
            &mut bytes,
            Format::V2,
            TimestampEncoding::DeltaOfDelta,
            ValueEncoding::Xor,
            self.count as usize,
            self.ts.w.byte_len(),
        );
        self.ts.w.copy_to(&mut bytes);
        self.vals.w.copy_to(&mut bytes);
        Chunk::from_trusted(bytes)
    }

    /// Seals the chunk, choosing the smallest encoding for its timestamps and values.
    pub fn finish(self) -> Chunk {
        let n = self.count as usize;
        if n < 3 {
            return self.snapshot();
        }
        let mut ts = Scratch::with_capacity(n);
        let mut vs = Scratch::with_capacity(n);
        // The streams were written by this encoder; decoding them cannot fail. If it
        // ever did, the appendable form is still a correct chunk, built only then.
        let mut ts_section = Scratch::with_capacity(32);
        let mut kept = None;
        let ts_key = memo::Key::Stream { n, w: &self.ts.w };
        // A flat line (most real chunks) needs no bit decoding and no plan. Other
        // value columns are often equal too (a histogram's buckets, a count and
        // its `+Inf` bucket): a stream this thread sealed lately is neither
        // decoded nor planned again.
        let flat = self.vals.flat(n);
        let values = Memoized::values(
            flat.is_none()
                .then_some(memo::Key::Stream { n, w: &self.vals.w }),
        );
        let val_kept = values.kept.is_some();
        let decode_values = |vs: &mut Vec<f64>| {
            if let Some(bits) = flat {
                vs.resize(n, f64::from_bits(bits));
                return Ok(());
            }
            if val_kept {
                return Ok(());
            }
            let mut bytes = Scratch::with_capacity(self.vals.w.byte_len());
            self.vals.w.copy_to(&mut bytes);
            decode_xor(&bytes, n, vs)
        };
        let decoded = match self.ts.constant_delta(n) {
            // Regular timestamps (the common case) need no bit decoding.
            Some(delta) => {
                pack::push_line(&mut ts, self.first_t, delta, n);
                decode_values(&mut vs)
            }
            None => {
                // Series of one scrape target share their timestamps: a stream
                // this thread sealed lately is neither decoded nor planned again.
                kept = memo::lookup(ts_key, &mut ts_section);
                let timestamps = if kept.is_some() {
                    Ok(())
                } else {
                    let mut bytes = Scratch::with_capacity(self.ts.w.byte_len());
                    self.ts.w.copy_to(&mut bytes);
                    decode_timestamps(&bytes, n, &mut ts)
                };
                timestamps.and_then(|()| decode_values(&mut vs))
            }
        };
        if decoded.is_err() {
            return self.snapshot();
        }
        let times = Memoized {
            section: ts_section,
            kept,
            key: Some(ts_key),
        };
        seal(n, (&ts, &vs), Some(&self), times, values).unwrap_or_else(|| self.snapshot())
    }
}

impl Chunk {
    /// Encodes whole columns at once, as compaction and backfill do: the same
    /// choice of encodings as [`ChunkEncoder::finish`], without building the
    /// appendable streams unless they may be the smaller form.
    ///
    /// Errors when the columns differ in length, hold more than
    /// [`MAX_CHUNK_SAMPLES`], or the timestamps do not strictly increase.
    pub fn encode(ts: &[i64], vs: &[f64]) -> Result<Chunk> {
        encode_built(ts, vs)
    }
}

x86_64_builds! {
    /// [`Chunk::encode`], built for each x86-64 level (see [`x86_64_builds`]):
    /// its own passes over the columns (the order and regularity of the
    /// timestamps, whether the values are flat) and sealing's, inlined into it,
    /// run eight lanes wide where the CPU has AVX-512, not two.
    fn encode_built(ts: &[i64], vs: &[f64]) -> Result<Chunk> = encode_in;
}

/// [`Chunk::encode`], inlined into each of its builds.
#[inline(always)]
fn encode_in(ts: &[i64], vs: &[f64]) -> Result<Chunk> {
    if ts.len() != vs.len() {
        return Err(CodecError::LengthMismatch {
            timestamps: ts.len(),
            values: vs.len(),
        });
    }
    if ts.len() > MAX_CHUNK_SAMPLES {
        return Err(CodecError::ChunkFull {
            max: MAX_CHUNK_SAMPLES,
        });
    }
    // Series of one scrape target share their timestamps: a column this
    // thread sealed lately is neither validated nor planned again.
    let mut ts_section = Scratch::with_capacity(32);
    let kept = memo::lookup(memo::Key::Column(ts), &mut ts_section);
    if kept.is_none() {
        // One branch-free pass; the offending pair is looked for only on
        // failure.
        if !strictly_increasing(ts)
            && let Some((last, t)) = ts.windows(2).find_map(|w| match w {
                [a, b] if b <= a => Some((*a, *b)),
                _ => None,
            })
        {
            return Err(CodecError::OutOfOrder { last, t });
        }
        if ts.len() < 3 {
            return Ok(appendable(ts, vs).finish());
        }
    }
    // A flat line needs no plan; another value column this thread sealed
    // lately is not planned again.
    let flat = vs
        .split_first()
        .is_none_or(|(first, rest)| all_equal(rest, first.to_bits(), f64::to_bits));
    let values = Memoized::values((!flat).then_some(memo::Key::Values(vs)));
    let times = Memoized {
        section: ts_section,
        kept,
        key: Some(memo::Key::Column(ts)),
    };
    match seal(ts.len(), (ts, vs), None, times, values) {
        Some(chunk) => Ok(chunk),
        None => Ok(appendable(ts, vs).snapshot()),
    }
}

/// Builds the appendable streams for validated columns.
fn appendable(ts: &[i64], vs: &[f64]) -> ChunkEncoder {
    let mut enc = ChunkEncoder::new();
    // A temporary: room for two bytes a timestamp and nine a value up front
    // rather than growing by doubling.
    enc.ts.w.reserve(2 * ts.len() + 16);
    enc.vals.w.reserve(9 * vs.len() + 16);
    for (&t, &v) in ts.iter().zip(vs) {
        // Validated by the caller: increasing, within the sample limit.
        let _ = enc.push(t, v);
    }
    enc
}

/// Predictors tried for timestamps: fixed intervals give constant deltas; jitter
/// around a fixed interval is smallest as residuals from a line. Delta-of-delta is
/// for an interval that itself changes within the chunk (a scrape interval
/// reconfigured): it is estimated only when the others cost more than
/// [`pack::RARE_PREDICTOR_BITS`] a value. On our synthetic and real data it never
/// won otherwise; a change of interval by less than about 256 ms is where it
/// would, and that chunk's timestamps then cost up to a byte each.
const TIMESTAMP_PREDICTORS: Predictors = Predictors {
    common: &[Predictor::Delta, Predictor::Linear],
    rare: &[Predictor::DeltaOfDelta],
    steps: false,
};
/// Predictors tried for values: levels with noise (none), random walks and
/// counters (delta), steady trends (delta-of-delta).
const VALUE_PREDICTORS: Predictors = Predictors {
    common: &[Predictor::None, Predictor::Delta, Predictor::DeltaOfDelta],
    rare: &[],
    // A level that holds and steps now and then.
    steps: true,
};

/// Packed forms that cost more than this many bits per sample are compared with
/// the Gorilla form when encoding in bulk (below it, Gorilla never wins: its
/// timestamps cost at least 1 bit and its values at least 1 bit per sample, and
/// it only wins on data with long runs of exact repeats).
const BULK_TS_COMPARE_BITS: usize = 8;
const BULK_VALUES_COMPARE_BITS: usize = 24;

/// A column's section as this thread's memo had it (the section written so far,
/// and its outcome), or an empty buffer and `None`; and the key to keep a freshly
/// sealed one under (`None`: not kept).
struct Memoized<'a, S> {
    section: Scratch<u8>,
    kept: Option<S>,
    key: Option<memo::Key<'a>>,
}

impl<'a> Memoized<'a, memo::SealedValues> {
    /// The value section this thread's memo kept for `key`, if any.
    fn values(key: Option<memo::Key<'a>>) -> Self {
        let mut section = Scratch::with_capacity(32);
        let kept = key.and_then(|key| memo::lookup_values(key, &mut section));
        Memoized { section, kept, key }
    }
}

/// Chooses and writes the smallest encoding of each of `n` samples' columns.
/// `open` holds the appendable streams when they exist already; otherwise they
/// are built only if the packed forms are poor. A column whose section the memo
/// had is not planned, and a streamed chunk (whose Gorilla form is `open`) may
/// pass it empty. A bulk chunk passes both columns, which its Gorilla form is
/// built from. `None` if the result fails to parse (never expected).
#[inline(always)]
fn seal(
    n: usize,
    (ts, vs): (&[i64], &[f64]),
    open: Option<&ChunkEncoder>,
    mut times: Memoized<'_, memo::Sealed>,
    mut values: Memoized<'_, memo::SealedValues>,
) -> Option<Chunk> {
    debug_assert!(open.is_some() || (ts.len() == n && vs.len() == n));
    let gorilla = Appendable {
        open,
        columns: (ts, vs),
        built: std::cell::OnceCell::new(),
    };

    let (ts_enc, ts_format) = match times.kept {
        Some(sealed) => sealed,
        None => seal_timestamps(ts, &gorilla, &mut times.section, times.key)?,
    };
    let (val_enc, val_format) = match values.kept {
        Some(sealed) => sealed,
        None => {
            let sealed = seal_values(vs, &gorilla, &mut values.section);
            if let Some(key) = values.key {
                memo::keep_values(key, &values.section, sealed);
            }
            sealed
        }
    };

    let (ts_section, val_section) = (&times.section, &values.section);
    let format = ts_format.max(val_format).max(Format::V2);
    // The exact length, so that the boxed chunk keeps this allocation.
    let header = 2 + uvarint_len(n as u64) + uvarint_len(ts_section.len() as u64);
    let mut bytes = Vec::with_capacity(header + ts_section.len() + val_section.len());
    write_header(&mut bytes, format, ts_enc, val_enc, n, ts_section.len());
    bytes.extend_from_slice(ts_section);
    bytes.extend_from_slice(val_section);
    Chunk::from_bytes(bytes).ok()
}

/// A chunk's appendable (Gorilla) streams while it is sealed: the open encoder's,
/// or, for whole columns, built only if one of them is chosen. Until then whole
/// columns compare their packed forms with the streams' exact sizes, counted
/// without writing them (building them costs more than planning the packed form
/// of a full-precision float column).
struct Appendable<'a> {
    open: Option<&'a ChunkEncoder>,
    /// The whole columns (unused when `open` is set).
    columns: (&'a [i64], &'a [f64]),
    built: std::cell::OnceCell<ChunkEncoder>,
}

impl Appendable<'_> {
    /// The streams, built from the columns on first use.
    fn streams(&self) -> &ChunkEncoder {
        let (ts, vs) = self.columns;
        self.open
            .unwrap_or_else(|| self.built.get_or_init(|| appendable(ts, vs)))
    }

    /// The bytes of the timestamp stream.
    fn ts_len(&self) -> usize {
        self.stream_len(
            |enc| enc.ts.w.byte_len(),
            || timestamp_stream_bits(self.columns.0).div_ceil(8),
        )
    }

    /// The bytes of the value stream.
    fn vals_len(&self) -> usize {
        self.stream_len(
            |enc| enc.vals.w.byte_len(),
            || xor_stream_bits(self.columns.1).div_ceil(8),
        )
    }

    /// A stream's bytes: `written` of the streams when they exist, else
    /// `counted` from the columns.
    fn stream_len(
        &self,
        written: impl FnOnce(&ChunkEncoder) -> usize,
        counted: impl FnOnce() -> usize,
    ) -> usize {
        self.open.or(self.built.get()).map_or_else(counted, written)
    }
}

/// The common difference of `ts` when there is one (two or more values). A fold
/// over every pair without a branch each, which vectorizes: with a branch a
/// pair, sealing a regular column's timestamps took 1.46 cycles a sample
/// against 0.80 now (two varints and the timer included). Stopping early saves
/// little, as an irregular column is planned next anyway.
#[inline(always)]
fn constant_delta(ts: &[i64]) -> Option<i64> {
    let (&a, &b) = (ts.first()?, ts.get(1)?);
    let d = b.wrapping_sub(a);
    let (prev, next) = (ts.get(..ts.len().saturating_sub(1))?, ts.get(1..)?);
    let other = prev
        .iter()
        .zip(next)
        .fold(0u64, |acc, (&x, &y)| acc | (y.wrapping_sub(x) ^ d) as u64);
    (other == 0).then_some(d)
}

/// Chooses and writes the timestamp section; returns its encoding and the oldest
/// format version that reads it. Irregular columns are kept in this thread's memo
/// under `key`.
#[inline(always)]
fn seal_timestamps(
    ts: &[i64],
    gorilla: &Appendable<'_>,
    ts_section: &mut Vec<u8>,
    key: Option<memo::Key<'_>>,
) -> Option<(TimestampEncoding, Format)> {
    if let Some(delta) = constant_delta(ts)
        && delta > 0
    {
        // A fixed interval packs to a few header bytes: nothing to plan. Only a
        // very short open chunk can be smaller in its Gorilla form.
        put_uvarint(ts_section, zigzag(ts.first().copied().unwrap_or(0)));
        put_uvarint(ts_section, delta as u64);
        return Some(match gorilla.open {
            Some(enc) if enc.ts.w.byte_len() < ts_section.len() => {
                ts_section.clear();
                enc.ts.w.copy_to(ts_section);
                (TimestampEncoding::DeltaOfDelta, Format::V2)
            }
            _ => (TimestampEncoding::Regular, Format::V2),
        });
    }
    let n = ts.len();
    let plan = pack::best_plan(ts, &TIMESTAMP_PREDICTORS)?;
    let streaming = gorilla.open.is_some();
    let compare_ts = streaming || plan.bytes * 8 > n * BULK_TS_COMPARE_BITS;
    let sealed = if compare_ts && gorilla.ts_len() <= plan.bytes {
        gorilla.streams().ts.w.copy_to(ts_section);
        (TimestampEncoding::DeltaOfDelta, Format::V2)
    } else {
        let format = pack::write(&plan, n, ts_section);
        (TimestampEncoding::Packed, format)
    };
    if let Some(key) = key {
        memo::keep(key, ts_section, sealed);
    }
    Some(sealed)
}

/// Chooses and writes the value section into `val_section`; returns its encoding
/// and the oldest format version that reads it.
#[inline(always)]
fn seal_values(
    vs: &[f64],
    gorilla: &Appendable<'_>,
    val_section: &mut Vec<u8>,
) -> memo::SealedValues {
    let n = vs.len();

    let mut best: Option<(usize, ValueEncoding)> = None;
    let decimal = Decimal::analyze(vs).and_then(|d| {
        let plan = match d.flat {
            // A flat line (most real chunks): no column of equal integers.
            Some(k) => pack::flat_plan(k, n, &VALUE_PREDICTORS),
            None => pack::best_plan(&d.ints, &VALUE_PREDICTORS),
        };
        plan.map(|p| (d.header_len() + p.bytes, d, p))
    });
    if let Some((size, _, _)) = &decimal {
        best = Some((*size, ValueEncoding::Decimal));
    }
    // Short decimals almost always beat ordered bits; only try the latter when the
    // values are no clean decimals.
    let clean_decimal = decimal
        .as_ref()
        .is_some_and(|(_, d, _)| d.specials.is_empty());
    let ordered_plan = if clean_decimal {
        None
    } else {
        let ordered: Scratch<i64> = vs.iter().map(|v| ordered_from_bits(v.to_bits())).collect();
        pack::best_plan(&ordered, &VALUE_PREDICTORS)
    };
    if let Some(p) = &ordered_plan
        && best.is_none_or(|(size, _)| p.bytes < size)
    {
        best = Some((p.bytes, ValueEncoding::OrderedBits));
    }
    let compare_vals = gorilla.open.is_some()
        || best.is_none_or(|(size, _)| size * 8 > n * BULK_VALUES_COMPARE_BITS);
    if compare_vals && best.is_none_or(|(size, _)| gorilla.vals_len() <= size) {
        best = None;
    }

    val_section.reserve(best.map_or(0, |(size, _)| size + 16));
    match (best, decimal, ordered_plan) {
        (Some((_, ValueEncoding::Decimal)), Some((_, d, p)), _) => {
            d.write_header(val_section);
            (ValueEncoding::Decimal, pack::write(&p, n, val_section))
        }
        (Some((_, ValueEncoding::OrderedBits)), _, Some(p)) => {
            (ValueEncoding::OrderedBits, pack::write(&p, n, val_section))
        }
        _ => {
            gorilla.streams().vals.w.copy_to(val_section);
            (ValueEncoding::Xor, Format::V2)
        }
    }
}

fn write_header(
    out: &mut Vec<u8>,
    format: Format,
    ts: TimestampEncoding,
    vals: ValueEncoding,
    count: usize,
    ts_len: usize,
) {
    out.push(format.byte());
    out.push(((ts as u8) << 4) | vals as u8);
    put_uvarint(out, count as u64);
    put_uvarint(out, ts_len as u64);
}

/// The parsed fixed part of a chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Header {
    /// The format version.
    format: Format,
    ts_enc: TimestampEncoding,
    val_enc: ValueEncoding,
    count: u32,
    ts_start: u32,
    val_start: u32,
}

impl Header {
    fn parse(bytes: &[u8]) -> Result<Header> {
        let mut r = ByteReader::new(bytes);
        let version = r.u8()?;
        let format = Format::from_byte(version).ok_or(CodecError::UnknownVersion {
            found: version,
            supported: CHUNK_FORMAT_V4,
        })?;
        let enc = r.u8()?;
        let ts_enc = TimestampEncoding::from_u8(enc >> 4)?;
        let val_enc = ValueEncoding::from_u8(enc & 0x0f)?;
        let count = r.uvarint()?;
        let max = MAX_CHUNK_SAMPLES.min(bytes.len().saturating_mul(MAX_SAMPLES_PER_BYTE));
        if count > max as u64 {
            return Err(CodecError::Corrupt {
                offset: 2,
                what: "sample count over the limit for this chunk size",
            });
        }
        let ts_len = r.uvarint()?;
        let ts_start = r.position();
        let val_start = (ts_start as u64).saturating_add(ts_len);
        if val_start > bytes.len() as u64 {
            return Err(CodecError::Corrupt {
                offset: ts_start,
                what: "timestamp section runs past the end",
            });
        }
        let too_long = CodecError::Corrupt {
            offset: ts_start,
            what: "chunk sections past 4 GiB",
        };
        Ok(Header {
            format,
            ts_enc,
            val_enc,
            count: count as u32, // ≤ MAX_CHUNK_SAMPLES
            ts_start: u32::try_from(ts_start).map_err(|_| too_long.clone())?,
            val_start: u32::try_from(val_start).map_err(|_| too_long)?,
        })
    }
}

/// Whether every value is greater than the one before. A fold of sign bits (a < b
/// computed from a − b and its overflow, Hacker's Delight 2–12): plain integer
/// operations that vectorize, where 64-bit compares do not on baseline x86-64.
#[inline(always)]
fn strictly_increasing(xs: &[i64]) -> bool {
    let (Some(a), Some(b)) = (xs.get(..xs.len().saturating_sub(1)), xs.get(1..)) else {
        return true;
    };
    let all_less = a.iter().zip(b).fold(-1i64, |acc, (&a, &b)| {
        let d = a.wrapping_sub(b);
        acc & (d ^ ((a ^ b) & (d ^ a)))
    });
    all_less < 0
}

/// Decodes a Gorilla or packed timestamp section, checking packed timestamps
/// increase.
fn decode_irregular(data: &[u8], n: usize, h: Header, out: &mut Vec<i64>) -> Result<()> {
    if h.ts_enc == TimestampEncoding::DeltaOfDelta {
        return decode_timestamps(data, n, out);
    }
    let start = out.len();
    let order = pack::read_timestamps(&mut ByteReader::new(data), n, out, h.format)?;
    let decoded = out.get(start..).unwrap_or_default();
    if order != pack::Order::StrictlyIncreasing && !strictly_increasing(decoded) {
        return Err(CodecError::Corrupt {
            offset: h.ts_start as usize,
            what: "timestamps not strictly increasing",
        });
    }
    Ok(())
}

/// Decodes the regular timestamp section: `z-varint t0 | uvarint interval`.
fn decode_regular(data: &[u8], n: usize, h: Header, out: &mut Vec<i64>) -> Result<()> {
    let corrupt = |what| CodecError::Corrupt {
        offset: h.ts_start as usize,
        what,
    };
    if h.format < Format::V2 {
        return Err(CodecError::UnknownEncoding {
            section: "timestamp",
            found: TimestampEncoding::Regular as u8,
        });
    }
    if n == 0 {
        return Ok(());
    }
    let mut r = ByteReader::new(data);
    let t0 = r.varint()?;
    let delta = i64::try_from(r.uvarint()?).map_err(|_| corrupt("interval over i64"))?;
    if delta == 0 {
        return Err(corrupt("zero interval"));
    }
    pack::line_at(t0, delta, n - 1).ok_or_else(|| corrupt("timestamps overflow"))?;
    // t0 + i × interval is in i64 (checked above).
    pack::push_line(out, t0, delta, n);
    Ok(())
}

/// A sealed chunk over borrowed bytes (e.g. a memory-mapped block file).
#[derive(Clone, Copy, Debug)]
pub struct ChunkRef<'a> {
    bytes: &'a [u8],
    header: Header,
}

impl<'a> ChunkRef<'a> {
    /// Wraps bytes after validating the header.
    pub fn new(bytes: &'a [u8]) -> Result<ChunkRef<'a>> {
        Ok(ChunkRef {
            bytes,
            header: Header::parse(bytes)?,
        })
    }

    /// The chunk's bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.header.count as usize
    }

    /// Whether the chunk holds no sample.
    pub fn is_empty(&self) -> bool {
        self.header.count == 0
    }

    /// The timestamp encoding in use.
    pub fn timestamp_encoding(&self) -> TimestampEncoding {
        self.header.ts_enc
    }

    /// The value encoding in use.
    pub fn value_encoding(&self) -> ValueEncoding {
        self.header.val_enc
    }

    /// The bytes of the header, the timestamp section and the value section, in
    /// that order (they sum to the chunk's length): what each part of a column
    /// costs, e.g. to tell how much of a store its timestamps take.
    pub fn section_lens(&self) -> [usize; 3] {
        let (ts, vs) = (
            self.header.ts_start as usize,
            self.header.val_start as usize,
        );
        // The header parse checked ts ≤ vs ≤ length.
        [
            ts,
            vs.saturating_sub(ts),
            self.bytes.len().saturating_sub(vs),
        ]
    }

    /// Decodes every sample, appending timestamps to `ts` and values to `vs`.
    /// On error nothing is appended.
    pub fn decode_into(&self, ts: &mut Vec<i64>, vs: &mut Vec<f64>) -> Result<()> {
        self.decode_with(ts, vs, true)
    }

    /// [`ChunkRef::decode_into`]; `use_memo`: whether this thread's memo of decoded
    /// timestamp sections is read and filled (false only in tests, for the
    /// decode to compare against).
    fn decode_with(&self, ts: &mut Vec<i64>, vs: &mut Vec<f64>, use_memo: bool) -> Result<()> {
        let (t0, v0) = (ts.len(), vs.len());
        let res = self.decode_inner(ts, vs, use_memo);
        if res.is_err() {
            ts.truncate(t0);
            vs.truncate(v0);
        }
        res
    }

    fn decode_inner(&self, ts: &mut Vec<i64>, vs: &mut Vec<f64>, use_memo: bool) -> Result<()> {
        let n = self.len();
        let h = self.header;
        let ts_bytes = self
            .bytes
            .get(h.ts_start as usize..h.val_start as usize)
            .unwrap_or_default();
        let val_bytes = self.bytes.get(h.val_start as usize..).unwrap_or_default();
        ts.reserve(n + pack::DECODE_SLACK);
        vs.reserve(n + pack::DECODE_SLACK);
        if h.ts_enc == TimestampEncoding::Regular {
            decode_regular(ts_bytes, n, h, ts)?;
        } else {
            // Series of one scrape target share their timestamps, so a query
            // decodes the same section once per series: a section this thread
            // decoded lately is copied.
            let section = memo::SectionRef {
                format: h.format,
                enc: h.ts_enc,
                n,
                bytes: ts_bytes,
            };
            let seen = match use_memo {
                true => memo::decoded(section, ts),
                false => memo::Decoded::Skip,
            };
            if seen != memo::Decoded::Copied {
                let start = ts.len();
                decode_irregular(ts_bytes, n, h, ts)?;
                if seen == memo::Decoded::Keep {
                    memo::keep_decoded(section, ts.get(start..).unwrap_or_default());
                }
            }
        }
        Self::decode_values(val_bytes, n, h, vs)
    }

    /// Decodes the value section.
    fn decode_values(val_bytes: &[u8], n: usize, h: Header, vs: &mut Vec<f64>) -> Result<()> {
        match h.val_enc {
            ValueEncoding::Xor => decode_xor(val_bytes, n, vs)?,
            ValueEncoding::Decimal => {
                let mut r = ByteReader::new(val_bytes);
                let (p, specials) = read_decimal_header(&mut r, n, h.format >= Format::V2)?;
                let start = vs.len();
                // The scaling runs in the decoder's last pass. x / 1 is x: integer
                // decimals need no division.
                if p == 1.0 {
                    pack::read(&mut r, n, vs, h.format, |x| x as f64)?;
                } else {
                    pack::read(&mut r, n, vs, h.format, |x| x as f64 / p)?;
                }
                if let Some(out) = vs.get_mut(start..) {
                    for (i, bits) in specials {
                        if let Some(v) = out.get_mut(i) {
                            *v = f64::from_bits(bits);
                        }
                    }
                }
            }
            ValueEncoding::OrderedBits => {
                pack::read(&mut ByteReader::new(val_bytes), n, vs, h.format, |o| {
                    f64::from_bits(bits_from_ordered(o))
                })?;
            }
        }
        Ok(())
    }

    /// Iterates the samples in timestamp order. A corrupt chunk yields one error.
    pub fn iter(&self) -> ChunkIter {
        let mut ts = Vec::new();
        let mut vs = Vec::new();
        let error = self.decode_into(&mut ts, &mut vs).err();
        ChunkIter {
            ts: ts.into_iter(),
            vs: vs.into_iter(),
            error,
        }
    }
}

/// An owned, sealed chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    bytes: Box<[u8]>,
    header: Header,
}

impl Chunk {
    /// Takes ownership of encoded bytes after validating the header.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Chunk> {
        let header = Header::parse(&bytes)?;
        Ok(Chunk {
            bytes: bytes.into_boxed_slice(),
            header,
        })
    }

    /// Wraps bytes this crate just wrote. Their header always parses; should that
    /// ever fail, an empty chunk keeps the function total instead of panicking.
    fn from_trusted(bytes: Vec<u8>) -> Chunk {
        Chunk::from_bytes(bytes).unwrap_or_else(|_| Chunk::empty())
    }

    fn empty() -> Chunk {
        let mut bytes = Vec::new();
        write_header(
            &mut bytes,
            Format::V2,
            TimestampEncoding::DeltaOfDelta,
            ValueEncoding::Xor,
            0,
            0,
        );
        Chunk {
            header: Header {
                format: Format::V2,
                ts_enc: TimestampEncoding::DeltaOfDelta,
                val_enc: ValueEncoding::Xor,
                count: 0,
                ts_start: bytes.len() as u32,
                val_start: bytes.len() as u32,
            },
            bytes: bytes.into_boxed_slice(),
        }
    }

    /// A borrowed view with the read methods.
    pub fn as_ref(&self) -> ChunkRef<'_> {
        ChunkRef {
            bytes: &self.bytes,
            header: self.header,
        }
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.header.count as usize
    }

    /// Whether the chunk holds no sample.
    pub fn is_empty(&self) -> bool {
        self.header.count == 0
    }

    /// Decodes every sample, appending to `ts` and `vs`; on error nothing is appended.
    pub fn decode_into(&self, ts: &mut Vec<i64>, vs: &mut Vec<f64>) -> Result<()> {
        self.as_ref().decode_into(ts, vs)
    }

    /// Iterates the samples in timestamp order.
    pub fn iter(&self) -> ChunkIter {
        self.as_ref().iter()
    }
}

/// Iterator over a chunk's samples; see [`ChunkRef::iter`].
#[derive(Debug)]
pub struct ChunkIter {
    ts: std::vec::IntoIter<i64>,
    vs: std::vec::IntoIter<f64>,
    error: Option<CodecError>,
}

impl Iterator for ChunkIter {
    type Item = Result<(i64, f64)>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.error.take() {
            return Some(Err(e));
        }
        Some(Ok((self.ts.next()?, self.vs.next()?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_densest_chunk_is_within_the_allocation_bound() {
        let ts: Vec<i64> = (0..MAX_CHUNK_SAMPLES as i64).collect();
        let vs = vec![0.0; MAX_CHUNK_SAMPLES];
        let chunk = Chunk::encode(&ts, &vs).unwrap();
        assert_eq!(chunk.as_bytes().len(), 10);
        assert!(MAX_CHUNK_SAMPLES <= chunk.as_bytes().len() * MAX_SAMPLES_PER_BYTE);
        let (mut t, mut v) = (Vec::new(), Vec::new());
        chunk.decode_into(&mut t, &mut v).unwrap();
        assert_eq!((t, v), (ts, vs));
    }

    #[test]
    fn section_lens_split_the_chunk_where_its_header_says() {
        // A regular chunk: 4 header bytes, 2 timestamp bytes (the first time
        // and the interval, a byte each), 3 value bytes.
        let bytes = regular_chunk(2, 5, -3, 10);
        let chunk = ChunkRef::new(&bytes).unwrap();
        assert_eq!(chunk.section_lens(), [4, 2, 3]);
        // Equal timestamp columns under other values: equal timestamp sections.
        let ts: Vec<i64> = (0..50).map(|i| 1000 * i + (i * 7) % 5).collect();
        let sections: Vec<Vec<u8>> = [1.5, 2.25]
            .iter()
            .map(|&step| {
                let vs: Vec<f64> = (0..50).map(|i| f64::from(i) * step).collect();
                let chunk = Chunk::encode(&ts, &vs).unwrap();
                let [h, t, v] = chunk.as_ref().section_lens();
                assert_eq!(h + t + v, chunk.as_bytes().len());
                chunk.as_bytes()[h..h + t].to_vec()
            })
            .collect();
        assert_eq!(sections[0], sections[1]);
        assert!(!sections[0].is_empty());
    }

    #[test]
    fn a_streamed_stepping_level_is_sealed_as_sparse_deltas_not_xor() {
        // A level in a narrow band that holds for ten scrapes and steps up or
        // down: the no-predictor estimate (7 bits a value) beats the delta
        // predictor's packing estimate, and loses to the Gorilla form, whose
        // repeats cost a bit each. The deltas' sparse code is smaller still.
        let steps = [0, 37, -52, 18, 41, -9, -60, 25, 44, -31, 12, -20];
        let mut level = 512i64;
        let samples: Vec<(i64, f64)> = (0..120)
            .map(|i| {
                if i % 10 == 0 {
                    level += steps[i / 10];
                }
                (1_000 * i as i64, level as f64)
            })
            .collect();
        let mut enc = ChunkEncoder::new();
        for &(t, v) in &samples {
            enc.push(t, v).unwrap();
        }
        let xor_bytes = enc.vals.w.byte_len();
        let chunk = enc.finish();
        assert_eq!(chunk.as_ref().value_encoding(), ValueEncoding::Decimal);
        let [_, _, values] = chunk.as_ref().section_lens();
        assert!(
            values < xor_bytes,
            "{values} bytes against XOR's {xor_bytes}"
        );
        assert_eq!(chunk.as_bytes()[0], CHUNK_FORMAT_V4);
        let (mut t, mut v) = (Vec::new(), Vec::new());
        chunk.decode_into(&mut t, &mut v).unwrap();
        assert_eq!(t.into_iter().zip(v).collect::<Vec<_>>(), samples);
        // Bulk encoding plans the same column the same way.
        let (ts, vs): (Vec<i64>, Vec<f64>) = samples.iter().copied().unzip();
        assert_eq!(
            Chunk::encode(&ts, &vs).unwrap().as_bytes(),
            chunk.as_bytes()
        );
        // The same level in full-precision floats: ordered bits, stepping the
        // same way, exact to the bit.
        let vs: Vec<f64> = vs.iter().map(|v| v * std::f64::consts::PI).collect();
        let chunk = Chunk::encode(&ts, &vs).unwrap();
        assert_eq!(chunk.as_ref().value_encoding(), ValueEncoding::OrderedBits);
        assert_eq!(chunk.as_bytes()[0], CHUNK_FORMAT_V4);
        let (mut t, mut v) = (Vec::new(), Vec::new());
        chunk.decode_into(&mut t, &mut v).unwrap();
        assert_eq!(t, ts);
        assert!(v.iter().zip(&vs).all(|(a, b)| a.to_bits() == b.to_bits()));
    }

    /// A v2 chunk of `n` samples with a regular timestamp section `t0, interval`
    /// and constant decimal values.
    fn regular_chunk(version: u8, n: u64, t0: i64, interval: u64) -> Vec<u8> {
        let mut ts = Vec::new();
        put_uvarint(&mut ts, zigzag(t0));
        put_uvarint(&mut ts, interval);
        let mut bytes = vec![version, 0x21];
        put_uvarint(&mut bytes, n);
        put_uvarint(&mut bytes, ts.len() as u64);
        bytes.extend_from_slice(&ts);
        bytes.extend_from_slice(&[0, 0x20, 0]); // exponent 0, constant 0
        bytes
    }

    #[test]
    fn every_version_byte_is_read_or_refused_by_name() {
        for b in 0..=u8::MAX {
            let mut bytes = regular_chunk(2, 3, -5, 7);
            bytes[0] = b;
            match Chunk::from_bytes(bytes) {
                Ok(chunk) => {
                    let f = chunk.as_ref().header.format;
                    assert_eq!(f.byte(), b);
                    assert!(
                        [
                            CHUNK_FORMAT_V1,
                            CHUNK_FORMAT_V2,
                            CHUNK_FORMAT_V3,
                            CHUNK_FORMAT_V4
                        ]
                        .contains(&b)
                    );
                }
                Err(e) => {
                    assert_eq!(
                        e,
                        CodecError::UnknownVersion {
                            found: b,
                            supported: CHUNK_FORMAT_V4
                        }
                    );
                    assert!(Format::from_byte(b).is_none());
                }
            }
        }
        for f in Format::ALL {
            assert_eq!(Format::from_byte(f.byte()), Some(f));
        }
    }

    #[test]
    fn regular_timestamps_are_validated() {
        let decode = |bytes: Vec<u8>| {
            let (mut t, mut v) = (Vec::new(), Vec::new());
            Chunk::from_bytes(bytes)?.decode_into(&mut t, &mut v)?;
            Ok::<_, CodecError>(t)
        };
        assert_eq!(decode(regular_chunk(2, 3, -5, 7)).unwrap(), vec![-5, 2, 9]);
        // The span (2 × 2^62 = 2^63) is past i64, the last timestamp is not.
        let from = i64::MIN + 1;
        assert_eq!(
            decode(regular_chunk(2, 3, from, 1 << 62)).unwrap(),
            vec![from, from + (1 << 62), 1]
        );
        let wide = [from, from + (1 << 62), 1];
        let chunk = Chunk::encode(&wide, &[1.0; 3]).unwrap();
        let (mut t, mut v) = (Vec::new(), Vec::new());
        chunk.decode_into(&mut t, &mut v).unwrap();
        assert_eq!(t, wide);
        let refused = [
            regular_chunk(2, 3, 0, 0),             // zero interval
            regular_chunk(2, 3, i64::MAX - 10, 6), // overflows at the last sample
            regular_chunk(2, 3, 0, u64::MAX),      // interval past i64
            regular_chunk(1, 3, 0, 10),            // not in format v1
        ];
        for bytes in refused {
            assert!(decode(bytes.clone()).is_err(), "{bytes:?}");
        }
        // Every truncation fails cleanly.
        let good = regular_chunk(2, 3, 1_700_000_000_000, 10_000);
        for cut in 0..good.len() {
            assert!(decode(good[..cut].to_vec()).is_err(), "cut {cut}");
        }
    }

    #[test]
    fn increasing_check_is_exact_at_the_extremes() {
        let cases: [(&[i64], bool); 9] = [
            (&[], true),
            (&[5], true),
            (&[1, 2, 3], true),
            (&[1, 1], false),
            (&[2, 1], false),
            (&[i64::MIN, i64::MAX], true),
            (&[i64::MAX, i64::MIN], false),
            (&[i64::MIN, -1, 0, i64::MAX], true),
            (&[-1, i64::MAX, i64::MAX], false),
        ];
        for (xs, want) in cases {
            assert_eq!(strictly_increasing(xs), want, "{xs:?}");
            assert_eq!(xs.windows(2).all(|w| w[0] < w[1]), want, "{xs:?}");
        }
        let edges = [
            i64::MIN,
            i64::MIN + 1,
            -2,
            -1,
            0,
            1,
            2,
            i64::MAX - 1,
            i64::MAX,
        ];
        for a in edges {
            for b in edges {
                assert_eq!(strictly_increasing(&[a, b]), a < b, "{a} {b}");
            }
        }
    }

    #[test]
    fn decimals_decode_exactly_far_from_zero() {
        // Integers up to 2^53 in magnitude, each scaled by each exponent: the
        // decoder's k as f64 / 10^e, bit for bit.
        let ints: Vec<i64> = vec![
            0,
            1,
            -1,
            7253,
            -(1 << 51),
            (1 << 51) - 1,
            1 << 51,
            -(1 << 51) - 1,
            (1 << 53) - 1,
            -(1 << 53) + 1,
        ];
        for e in [0, 1, 2, 6] {
            let p = 10f64.powi(e);
            let vs: Vec<f64> = ints.iter().map(|&k| k as f64 / p).collect();
            let ts: Vec<i64> = (0..vs.len() as i64).collect();
            let chunk = Chunk::encode(&ts, &vs).unwrap();
            let (mut t, mut v) = (Vec::new(), Vec::new());
            chunk.decode_into(&mut t, &mut v).unwrap();
            for (a, b) in vs.iter().zip(&v) {
                assert_eq!(a.to_bits(), b.to_bits(), "{a} at 10^{e}");
            }
            // The same magnitudes in chunks the decimal encoding wins (small steps
            // from each integer toward zero), so the decoder's scaling runs.
            for &k in &ints {
                let vs: Vec<f64> = (0..120i64)
                    .map(|i| (k - k.signum() * i) as f64 / p)
                    .collect();
                let ts: Vec<i64> = (0..120).collect();
                let chunk = Chunk::encode(&ts, &vs).unwrap();
                if k.unsigned_abs() <= 1 << 51 {
                    assert_eq!(
                        chunk.as_ref().value_encoding(),
                        ValueEncoding::Decimal,
                        "{k} at 10^{e}"
                    );
                }
                let (mut t, mut v) = (Vec::new(), Vec::new());
                chunk.decode_into(&mut t, &mut v).unwrap();
                for (a, b) in vs.iter().zip(&v) {
                    assert_eq!(a.to_bits(), b.to_bits(), "{a} at 10^{e}");
                }
            }
        }
    }

    /// Seals `ts` with values from `seed`, in bulk or streamed: 2-decimal values,
    /// or (a seed of 6 modulo 8) values that are no short decimals, or (a seed of
    /// 0) a flat line.
    fn seal_with(ts: &[i64], seed: u64, streamed: bool) -> Vec<u8> {
        let vs: Vec<f64> = (0..ts.len() as u64)
            .map(|i| match seed {
                0 => 4.5,
                _ if seed % 8 == 6 => (seed.wrapping_mul(i + 7) % 1_000) as f64 / 7.0,
                _ => (seed.wrapping_mul(i + 7) % 1_000) as f64 / 100.0,
            })
            .collect();
        let chunk = if streamed {
            let mut enc = ChunkEncoder::new();
            ts.iter()
                .zip(&vs)
                .for_each(|(&t, &v)| enc.push(t, v).unwrap());
            enc.finish()
        } else {
            Chunk::encode(ts, &vs).unwrap()
        };
        chunk.as_bytes().to_vec()
    }

    proptest::proptest! {
        /// Every build of whole-column encoding (x86-64-v4 and v3, where the CPU
        /// has them, and the baseline), and the baseline with the scalar
        /// kernels instead of the AVX-512 ones, give the same chunk or the same
        /// error: regular, jittered and out-of-order timestamps; flat, decimal
        /// and full-precision values.
        #[test]
        fn every_build_encodes_alike(
            start in -(1i64 << 40)..1 << 40,
            steps in proptest::collection::vec(
                proptest::prop_oneof![8 => proptest::strategy::Just(10_000i64), 2 => 9_990i64..10_010, 1 => -5i64..5],
                0..150,
            ),
            kind in 0u8..4,
            seed in proptest::prelude::any::<u64>(),
        ) {
            let ts: Vec<i64> = std::iter::once(start)
                .chain(steps.iter().scan(start, |t, &d| {
                    *t += d;
                    Some(*t)
                }))
                .collect();
            let vs: Vec<f64> = (0..ts.len() as u64)
                .map(|i| {
                    let r = seed.rotate_left(i as u32 % 64) ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
                    match kind {
                        0 => 42.5,
                        1 => (r % 100_000) as f64 / 100.0,
                        2 => f64::from_bits(r >> 12 | 0x4000_0000_0000_0000),
                        _ => (r % 1_000) as f64,
                    }
                })
                .collect();
            let encoded = || {
                memo::clear();
                format!("{:?}", Chunk::encode(&ts, &vs).map(|c| c.as_bytes().to_vec()))
            };
            let base = encoded();
            crate::for_each_build(|| {
                proptest::prop_assert_eq!(&encoded(), &base);
                Ok(())
            })?;
            #[cfg(target_arch = "x86_64")]
            proptest::prop_assert_eq!(&crate::simd::tests::scalar_only(encoded), &base);
        }
    }

    proptest::proptest! {
        /// Series sharing a few timestamp columns (and, from a few seeds, value
        /// columns), sealed in any order, in bulk or streamed: every chunk is the
        /// one a seal without the memos writes.
        #[test]
        fn memoized_sections_are_the_sections_a_fresh_seal_writes(
            columns in proptest::collection::vec(
                (
                    0i64..1 << 40,
                    1i64..60_000,
                    0i64..20,
                    // Columns of equal length share value columns (from equal
                    // seeds) under other timestamps.
                    proptest::prop_oneof![
                        proptest::collection::vec(-2_000i64..2_000, 120),
                        proptest::collection::vec(-2_000i64..2_000, 3..150),
                    ],
                ),
                1..24,
            ),
            seals in proptest::collection::vec((0usize..24, proptest::prop_oneof![0u64..8, proptest::prelude::any::<u64>()], proptest::prelude::any::<bool>()), 1..48),
        ) {
            // Up to 24 columns, more than the memo keeps, so entries are evicted
            // and reused. Jitter around an interval that may change halfway (by
            // `step` ms: a column that bulk and streamed seals encode
            // differently); every step is positive, so all columns are valid
            // (out-of-order columns: `series_sharing_timestamps_seal_them_once`).
            let columns: Vec<Vec<i64>> = columns
                .iter()
                .map(|(t0, interval, step, jitter)| {
                    let mut t = *t0;
                    let half = jitter.len() / 2;
                    jitter
                        .iter()
                        .enumerate()
                        .map(|(i, j)| {
                            t += interval
                                + if i > half { *step } else { 0 }
                                + if j.abs() < 1_500 { 0 } else { j % interval };
                            t
                        })
                        .collect()
                })
                .filter(|c: &Vec<i64>| strictly_increasing(c))
                .collect();
            proptest::prop_assume!(!columns.is_empty());
            memo::clear();
            let sealed: Vec<(usize, u64, bool, Vec<u8>)> = seals
                .iter()
                .map(|&(c, seed, streamed)| {
                    let c = c % columns.len();
                    (c, seed, streamed, seal_with(&columns[c], seed, streamed))
                })
                .collect();
            for (c, seed, streamed, bytes) in sealed {
                memo::clear();
                proptest::prop_assert_eq!(seal_with(&columns[c], seed, streamed), bytes);
            }
        }
    }

    /// Decodes `bytes` with or without this thread's memo; values as their bits
    /// (a changed byte can decode to NaN, which equals nothing).
    fn decode_bytes(bytes: &[u8], use_memo: bool) -> Option<Result<(Vec<i64>, Vec<u64>)>> {
        let chunk = ChunkRef::new(bytes).ok()?;
        let (mut t, mut v) = (Vec::new(), Vec::new());
        let decoded = chunk.decode_with(&mut t, &mut v, use_memo);
        Some(decoded.map(|()| (t, v.iter().map(|x| x.to_bits()).collect())))
    }

    proptest::proptest! {
        /// Chunks sharing a few timestamp columns, some with a byte changed,
        /// decoded in any order: every result (samples or error) is the one a
        /// decode without the memo gives.
        #[test]
        fn memoized_decodes_are_fresh_decodes(
            columns in proptest::collection::vec((0i64..1 << 40, 1i64..60_000, proptest::collection::vec(-9i64..10, 3..150)), 1..24),
            decodes in proptest::collection::vec((0usize..24, proptest::prelude::any::<u64>(), proptest::prelude::any::<bool>(), proptest::option::of((proptest::prelude::any::<usize>(), 1u8..=255)), 1usize..4), 1..48),
        ) {
            // Up to 24 columns, more than the memo keeps; each chunk is decoded one
            // to three times in a row, so a changed section can be seen twice and
            // fail both times (and must not be kept).
            let columns: Vec<Vec<i64>> = columns
                .iter()
                .map(|(t0, interval, jitter)| {
                    (0i64..).zip(jitter).map(|(i, j)| t0 + i * interval + j).collect::<Vec<i64>>()
                })
                .filter(|c| strictly_increasing(c))
                .collect();
            proptest::prop_assume!(!columns.is_empty());
            memo::clear();
            let mut chunks = Vec::new();
            for &(c, seed, streamed, flip, times) in &decodes {
                let mut bytes = seal_with(&columns[c % columns.len()], seed, streamed);
                if let Some((at, x)) = flip {
                    let at = at % bytes.len();
                    bytes[at] ^= x;
                }
                for _ in 0..times {
                    let got = decode_bytes(&bytes, true);
                    chunks.push((bytes.clone(), got));
                }
            }
            for (bytes, got) in chunks {
                proptest::prop_assert_eq!(got, decode_bytes(&bytes, false));
            }
        }
    }

    #[test]
    fn queries_decode_a_shared_timestamp_section_once_seen_twice() {
        memo::clear();
        let ts: Vec<i64> = (0..120i64).map(|i| i * 15_000 + (i * 7919) % 11).collect();
        let chunks: Vec<Vec<u8>> = (1..5).map(|seed| seal_with(&ts, seed, false)).collect();
        // Kept from the second sighting on; copied from the third.
        for (i, c) in chunks.iter().enumerate() {
            let (t, _) = decode_bytes(c, true).unwrap().unwrap();
            assert_eq!(t, ts);
            assert_eq!(memo::kept_decoded(), usize::from(i >= 1));
        }
        // The version is part of the key: a Rice-coded section (format v3) kept,
        // then the same bytes labelled v2 (whose Rice codes are interleaved) are
        // decoded afresh, to other samples or an error.
        let bell: Vec<i64> = (0..120i64)
            .map(|i| i * 15_000 + [7, 11, 13, 17].iter().map(|p| (i * 7919) % p).sum::<i64>())
            .collect();
        let rice = seal_with(&bell, 1, false);
        assert_eq!(rice[0], CHUNK_FORMAT_V3);
        for _ in 0..3 {
            decode_bytes(&rice, true).unwrap().unwrap();
        }
        let mut other = rice.clone();
        other[0] = CHUNK_FORMAT_V2;
        let fresh = decode_bytes(&other, false);
        assert_ne!(fresh, decode_bytes(&rice, false));
        assert_eq!(decode_bytes(&other, true), fresh);
        // Sealing decodes neither read nor fill the memo: streamed seals of an
        // irregular column (the appendable form is decoded to plan it).
        memo::clear();
        for seed in 1..4 {
            seal_with(&ts, seed, true);
        }
        assert_eq!(memo::kept_decoded(), 0);
    }

    #[test]
    fn series_sharing_values_seal_them_once() {
        memo::clear();
        let regular: Vec<i64> = (0..120i64).map(|i| i * 15_000).collect();
        let shifted: Vec<i64> = regular.iter().map(|t| t + 1).collect();
        // Rice-coded timestamps: format v3, where the regular ones are v2.
        let jittered: Vec<i64> = (0..120i64)
            .map(|i| i * 15_000 + [7, 11, 13, 17].iter().map(|p| (i * 7919) % p).sum::<i64>())
            .collect();
        let section = |b: &[u8]| {
            let h = Header::parse(b).unwrap();
            b[h.val_start as usize..].to_vec()
        };
        let mut reused = Vec::new();
        for streamed in [false, true] {
            // Series with the same values (a histogram's buckets): one value
            // section kept per way of sealing; other timestamps reuse it.
            let first = seal_with(&regular, 5, streamed);
            let kept = memo::kept_values();
            let second = seal_with(&shifted, 5, streamed);
            let third = seal_with(&jittered, 5, streamed);
            assert_eq!(memo::kept_values(), kept);
            assert_eq!(section(&first), section(&second));
            assert_eq!(third[0], CHUNK_FORMAT_V3);
            reused.push((streamed, second, third));
            // Another column, and the same column in the other way of sealing,
            // are sealed afresh.
            seal_with(&regular, 7, streamed);
            assert_eq!(memo::kept_values(), kept + 1);
        }
        assert_eq!(memo::kept_values(), 4);
        // A flat line is not planned, so not kept; values that differ only in
        // a bit are another column.
        seal_with(&regular, 0, false);
        assert_eq!(memo::kept_values(), 4);
        let vs: Vec<f64> = (0..120).map(|i| f64::from(i - 60) / 4.0).collect();
        // 0.0 == -0.0, but they are other bits.
        let mut other = vs.clone();
        other[60] = -0.0;
        let a = Chunk::encode(&regular, &vs).unwrap();
        let b = Chunk::encode(&regular, &other).unwrap();
        let (mut t, mut v) = (Vec::new(), Vec::new());
        b.decode_into(&mut t, &mut v).unwrap();
        assert_eq!(v[60].to_bits(), (-0.0f64).to_bits());
        assert_ne!(a.as_bytes(), b.as_bytes());
        // The chunks that reused a section are the ones fresh seals write.
        for (streamed, second, third) in reused {
            memo::clear();
            assert_eq!(seal_with(&shifted, 5, streamed), second);
            memo::clear();
            assert_eq!(seal_with(&jittered, 5, streamed), third);
        }
    }

    #[test]
    fn series_sharing_timestamps_seal_them_once() {
        memo::clear();
        let ts: Vec<i64> = (0..120i64).map(|i| i * 15_000 + (i * 7919) % 11).collect();
        let first = seal_with(&ts, 1, false);
        assert_eq!(memo::kept(), 1);
        let second = seal_with(&ts, 2, false);
        assert_eq!(memo::kept(), 1);
        // The two chunks carry the same timestamp section.
        let section = |b: &[u8]| {
            let h = Header::parse(b).unwrap();
            b[h.ts_start as usize..h.val_start as usize].to_vec()
        };
        assert_eq!(section(&first), section(&second));
        // Streamed columns whose Gorilla streams are as long but differ (one
        // timestamp 3 or 4 ms late) each get their own section.
        for late in [3, 4] {
            let ts: Vec<i64> = (0..120i64)
                .map(|i| i * 15_000 + if i == 50 { late } else { 0 })
                .collect();
            let (mut t, mut v) = (Vec::new(), Vec::new());
            Chunk::from_bytes(seal_with(&ts, 1, true))
                .unwrap()
                .decode_into(&mut t, &mut v)
                .unwrap();
            assert_eq!(t, ts);
        }
        // A column found in the memo skips validation; one that differs from a
        // kept column, out of order, is still refused.
        let mut swapped = ts.clone();
        swapped.swap(50, 51);
        assert!(matches!(
            Chunk::encode(&swapped, &vec![0.0; 120]),
            Err(CodecError::OutOfOrder { .. })
        ));
        // An interval that changes halfway (10 s → 10.007 s): in bulk, packed deltas are
        // kept without a look at the Gorilla form (under a byte a timestamp);
        // streamed, the Gorilla form is compared and is smaller. The memo keeps
        // the two apart.
        let ts: Vec<i64> = (0..120i64)
            .map(|i| i * 10_000 + (i - 60).max(0) * 7)
            .collect();
        let enc = |b: &[u8]| ChunkRef::new(b).unwrap().timestamp_encoding();
        let bulk = seal_with(&ts, 1, false);
        let streamed = seal_with(&ts, 1, true);
        assert_eq!(enc(&bulk), TimestampEncoding::Packed);
        assert_eq!(enc(&streamed), TimestampEncoding::DeltaOfDelta);
        let (bulk2, streamed2) = (seal_with(&ts, 2, false), seal_with(&ts, 2, true));
        assert_eq!(enc(&bulk2), TimestampEncoding::Packed);
        assert_eq!(section(&bulk2), section(&bulk));
        assert_eq!(enc(&streamed2), TimestampEncoding::DeltaOfDelta);
        assert_eq!(section(&streamed2), section(&streamed));
        // Regular timestamps are not planned, so not kept.
        memo::clear();
        let regular: Vec<i64> = (0..120i64).map(|i| i * 15_000).collect();
        seal_with(&regular, 1, false);
        seal_with(&regular, 1, true);
        assert_eq!(memo::kept(), 0);
    }
}
