//! A zero-copy reader of remote-write `WriteRequest` bodies.
//!
//! Why hand-written rather than prost: prost decodes every series into a
//! `TimeSeries` holding two `Vec`s, and every label into two reference-counted
//! `Bytes`: about 500 bytes in four allocations per series, all freed right
//! after the request. In Prometheus' usual shape (one sample per series per
//! request) that was the largest part of the server's CPU per sample, and the
//! short-lived allocations, interleaved with the head's long-lived ones,
//! fragmented the heap. [`WriteView::decode`] instead walks the message once,
//! checks it, and keeps per series where its label fields are in the
//! decompressed body and its samples in one flat list (a handful of
//! allocations per request); names and values are borrowed from the body.
//!
//! It follows prost's rules for the messages and fields it reads (`proto.rs`
//! stays the reference, and the tests compare the two on prost-encoded and on
//! arbitrary bodies): unknown fields are skipped, a scalar given twice keeps
//! the last value, a known field with the wrong wire type is refused, and so
//! are truncated fields, over-long varints, tag 0 and wire types 6 and 7. It
//! also refuses the deprecated group wire types, which prost would skip and no
//! sender emits. Metric metadata (rare, small) is decoded with prost.
//!
//! Bounded: every element of the lists costs at least two bytes of the body,
//! whose size the server has already limited, and nesting is fixed (request,
//! series, label or sample). Every read is checked: malformed input is an
//! [`DecodeError`] saying what and where, never a panic.

use std::fmt;
use std::ops::Range;

use prost::Message;

use crate::proto::{MetricMetadata, Sample};

/// Wire types (`protobuf` encoding).
const WIRE_VARINT: u8 = 0;
const WIRE_FIXED64: u8 = 1;
const WIRE_LEN: u8 = 2;
const WIRE_START_GROUP: u8 = 3;
const WIRE_END_GROUP: u8 = 4;
const WIRE_FIXED32: u8 = 5;

/// Why a body is not a `WriteRequest`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// Byte offset in the decompressed body.
    pub offset: usize,
    /// What was wrong.
    pub what: &'static str,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.what, self.offset)
    }
}

impl std::error::Error for DecodeError {}

/// Where the labels of a series are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SeriesLabels<'a> {
    /// The series' label fields, contiguous in the message (always, from
    /// Prometheus): already checked, decoded again by [`WriteView::pairs_into`]
    /// (cheaper than keeping every pair of the request in a list), and the
    /// label cache's key.
    Encoded(&'a [u8]),
    /// The pairs of a series whose label fields were interleaved with other
    /// fields, as a range of [`WriteView::scattered`].
    Scattered(Range<usize>),
}

/// One `TimeSeries` of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeriesView<'a> {
    /// Its labels.
    pub labels: SeriesLabels<'a>,
    /// Its samples, as a range of [`WriteView::samples`].
    pub samples: Range<usize>,
}

impl<'a> SeriesView<'a> {
    /// The encoded label fields (the label cache's key), unless scattered or
    /// empty.
    pub fn label_bytes(&self) -> Option<&'a [u8]> {
        match self.labels {
            SeriesLabels::Encoded(b) if !b.is_empty() => Some(b),
            _ => None,
        }
    }
}

/// A decoded `WriteRequest` borrowing from the body.
#[derive(Debug, Default)]
pub struct WriteView<'a> {
    /// The series, in request order.
    pub series: Vec<SeriesView<'a>>,
    /// The `(name, value)` pairs, raw bytes as sent (not yet checked for
    /// UTF-8), of the series whose label fields are not contiguous.
    pub scattered: Vec<(&'a [u8], &'a [u8])>,
    /// The samples of all series, in request order.
    pub samples: Vec<Sample>,
    /// Metric metadata.
    pub metadata: Vec<MetricMetadata>,
}

impl<'a> WriteView<'a> {
    /// Decodes a `WriteRequest` body (already decompressed).
    pub fn decode(body: &'a [u8]) -> Result<WriteView<'a>, DecodeError> {
        // Sized from the body for the usual shapes (a series with one sample
        // takes 100 bytes or more), so the lists rarely grow and copy; each
        // is at most a small multiple of the body.
        let mut view = WriteView {
            series: Vec::with_capacity(body.len() / 128),
            scattered: Vec::new(),
            samples: Vec::with_capacity(body.len() / 128),
            metadata: Vec::new(),
        };
        let mut r = Reader::new(body, 0);
        while !r.is_done() {
            let (tag, wire) = r.key()?;
            match tag {
                1 => {
                    let (at, msg) = r.message(wire)?;
                    view.push_series(msg, at)?;
                }
                3 => {
                    let (at, msg) = r.message(wire)?;
                    let m = MetricMetadata::decode(msg).map_err(|_| DecodeError {
                        offset: at,
                        what: "invalid MetricMetadata",
                    })?;
                    view.metadata.push(m);
                }
                _ => r.skip(wire)?,
            }
        }
        Ok(view)
    }

    /// The `(name, value)` pairs of `s`, in message order.
    pub fn pairs<'v>(&'v self, s: &SeriesView<'a>) -> Pairs<'v, 'a> {
        Pairs(match &s.labels {
            SeriesLabels::Encoded(b) => PairsInner::Encoded(Reader::new(b, 0)),
            SeriesLabels::Scattered(range) => {
                PairsInner::Scattered(self.scattered.get(range.clone()).unwrap_or(&[]).iter())
            }
        })
    }

    /// Appends the `(name, value)` pairs of `s` to `out`, in message order.
    pub fn pairs_into(
        &self,
        s: &SeriesView<'a>,
        out: &mut Vec<(&'a [u8], &'a [u8])>,
    ) -> Result<(), DecodeError> {
        for p in self.pairs(s) {
            out.push(p?);
        }
        Ok(())
    }

    /// The samples of `s`.
    pub fn samples_of(&self, s: &SeriesView<'a>) -> &[Sample] {
        self.samples.get(s.samples.clone()).unwrap_or(&[])
    }

    /// Decodes one `TimeSeries` message (`base`: its offset in the body).
    fn push_series(&mut self, msg: &'a [u8], base: usize) -> Result<(), DecodeError> {
        // The pairs go to `scattered` while the series is read, and are
        // dropped again when the label fields turn out contiguous.
        let (pairs_start, samples_start) = (self.scattered.len(), self.samples.len());
        // Where the label fields start and end, and whether another field
        // came between two of them.
        let mut span: Option<(usize, usize)> = None;
        let mut other_since_label = false;
        let mut contiguous = true;
        let mut r = Reader::new(msg, base);
        while !r.is_done() {
            let key_at = r.pos;
            let (tag, wire) = r.key()?;
            match tag {
                1 => {
                    let (at, m) = r.message(wire)?;
                    self.scattered.push(decode_label(m, at)?);
                    if span.is_some() && other_since_label {
                        contiguous = false;
                    }
                    other_since_label = false;
                    span = Some((span.map_or(key_at, |(s, _)| s), r.pos));
                }
                2 => {
                    let (at, m) = r.message(wire)?;
                    self.samples.push(decode_sample(m, at)?);
                    other_since_label = true;
                }
                _ => {
                    r.skip(wire)?;
                    other_since_label = true;
                }
            }
        }
        if self.samples.len() == samples_start {
            // No samples: nothing to store, so nothing to keep (an empty series
            // is two bytes on the wire and would cost a view of 40).
            self.scattered.truncate(pairs_start);
            return Ok(());
        }
        let encoded = match span {
            Some((s, e)) if contiguous => msg.get(s..e),
            Some(_) => None,
            None => Some(&[][..]),
        };
        let labels = match encoded {
            Some(b) => {
                self.scattered.truncate(pairs_start);
                SeriesLabels::Encoded(b)
            }
            None => SeriesLabels::Scattered(pairs_start..self.scattered.len()),
        };
        self.series.push(SeriesView {
            labels,
            samples: samples_start..self.samples.len(),
        });
        Ok(())
    }
}

/// The label pairs of one series (see [`WriteView::pairs`]). Encoded label
/// fields are decoded as they are read; `decode` has checked them, so an
/// error (then the end) is not expected.
pub struct Pairs<'v, 'a>(PairsInner<'v, 'a>);

enum PairsInner<'v, 'a> {
    Encoded(Reader<'a>),
    Scattered(std::slice::Iter<'v, (&'a [u8], &'a [u8])>),
    Failed,
}

impl<'a> Iterator for Pairs<'_, 'a> {
    type Item = Result<(&'a [u8], &'a [u8]), DecodeError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            PairsInner::Encoded(r) => {
                if r.is_done() {
                    return None;
                }
                let pair = r
                    .key()
                    .and_then(|(_, wire)| r.message(wire))
                    .and_then(|(at, m)| decode_label(m, at));
                if pair.is_err() {
                    self.0 = PairsInner::Failed;
                }
                Some(pair)
            }
            PairsInner::Scattered(it) => it.next().copied().map(Ok),
            PairsInner::Failed => None,
        }
    }
}

/// Decodes a `Label` message: field 1 name, field 2 value (both `string` on
/// the wire, kept as bytes).
#[inline(always)]
fn decode_label(msg: &[u8], base: usize) -> Result<(&[u8], &[u8]), DecodeError> {
    let (mut name, mut value): (&[u8], &[u8]) = (&[], &[]);
    let mut r = Reader::new(msg, base);
    while !r.is_done() {
        let (tag, wire) = r.key()?;
        match tag {
            1 => name = r.message(wire)?.1,
            2 => value = r.message(wire)?.1,
            _ => r.skip(wire)?,
        }
    }
    Ok((name, value))
}

/// Decodes a `Sample` message: field 1 value (`double`), field 2 timestamp
/// (`int64`).
fn decode_sample(msg: &[u8], base: usize) -> Result<Sample, DecodeError> {
    let mut s = Sample {
        value: 0.0,
        timestamp: 0,
    };
    let mut r = Reader::new(msg, base);
    while !r.is_done() {
        let (tag, wire) = r.key()?;
        match tag {
            1 => {
                r.expect_wire(wire, WIRE_FIXED64)?;
                s.value = f64::from_bits(r.fixed64()?);
            }
            2 => {
                r.expect_wire(wire, WIRE_VARINT)?;
                // `int64` is two's complement on the wire (not zigzag).
                s.timestamp = r.varint()? as i64;
            }
            _ => r.skip(wire)?,
        }
    }
    Ok(s)
}

/// A cursor over one message's bytes.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Offset of `buf` in the body, for error messages.
    base: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], base: usize) -> Reader<'a> {
        Reader { buf, pos: 0, base }
    }

    fn is_done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn err(&self, at: usize, what: &'static str) -> DecodeError {
        DecodeError {
            offset: self.base.saturating_add(at),
            what,
        }
    }

    /// A base-128 varint of at most 10 bytes (the 10th may only be 0 or 1).
    #[inline(always)]
    fn varint(&mut self) -> Result<u64, DecodeError> {
        // Keys and the lengths of names and values: almost always one byte.
        if let Some(&b) = self.buf.get(self.pos)
            && b < 0x80
        {
            self.pos += 1;
            return Ok(u64::from(b));
        }
        self.varint_slow()
    }

    #[inline(never)]
    fn varint_slow(&mut self) -> Result<u64, DecodeError> {
        let start = self.pos;
        let mut v = 0u64;
        for i in 0..10u32 {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(self.err(start, "truncated varint"));
            };
            self.pos += 1;
            if i == 9 && b > 1 {
                return Err(self.err(start, "invalid varint"));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(self.err(start, "invalid varint"))
    }

    /// A field key: (tag, wire type).
    #[inline(always)]
    fn key(&mut self) -> Result<(u32, u8), DecodeError> {
        let at = self.pos;
        let key = self.varint()?;
        let key = u32::try_from(key).map_err(|_| self.err(at, "invalid key"))?;
        let wire = (key & 7) as u8;
        if wire > WIRE_FIXED32 {
            return Err(self.err(at, "invalid wire type"));
        }
        let tag = key >> 3;
        if tag == 0 {
            return Err(self.err(at, "invalid tag 0"));
        }
        Ok((tag, wire))
    }

    fn expect_wire(&self, wire: u8, want: u8) -> Result<(), DecodeError> {
        if wire == want {
            Ok(())
        } else {
            Err(self.err(self.pos, "wrong wire type for a known field"))
        }
    }

    #[inline(always)]
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let start = self.pos;
        let end = start
            .checked_add(n)
            .ok_or_else(|| self.err(start, "length overflow"))?;
        let s = self
            .buf
            .get(start..end)
            .ok_or_else(|| self.err(start, "truncated field"))?;
        self.pos = end;
        Ok(s)
    }

    fn fixed64(&mut self) -> Result<u64, DecodeError> {
        let s = self.take(8)?;
        let a: [u8; 8] = s
            .try_into()
            .map_err(|_| self.err(self.pos, "truncated field"))?;
        Ok(u64::from_le_bytes(a))
    }

    /// A length-delimited field of wire type `wire`: (its offset in the body, its bytes).
    #[inline(always)]
    fn message(&mut self, wire: u8) -> Result<(usize, &'a [u8]), DecodeError> {
        self.expect_wire(wire, WIRE_LEN)?;
        let len_at = self.pos;
        let n = self.varint()?;
        let n = usize::try_from(n).map_err(|_| self.err(len_at, "length overflow"))?;
        let at = self.base.saturating_add(self.pos);
        Ok((at, self.take(n)?))
    }

    /// Skips a field of an unknown tag.
    fn skip(&mut self, wire: u8) -> Result<(), DecodeError> {
        match wire {
            WIRE_VARINT => self.varint().map(drop),
            WIRE_FIXED64 => self.take(8).map(drop),
            WIRE_FIXED32 => self.take(4).map(drop),
            WIRE_LEN => self.message(wire).map(drop),
            WIRE_START_GROUP | WIRE_END_GROUP => {
                Err(self.err(self.pos, "groups are not supported"))
            }
            _ => Err(self.err(self.pos, "invalid wire type")),
        }
    }
}
