//! One series in the head: compressed in-order chunks, one open chunk, and a
//! small out-of-order buffer.

use std::mem::size_of;

use tsdb_index::Labels;

use crate::api::DuplicatePolicy;
use crate::chunk::{Chunk, ChunkEncoder, ChunkRef};
use crate::error::{Error, Result};
use tsdb_codec::{TimestampEncoding, ValueEncoding};

/// Samples held in the out-of-order buffer before it is sealed into a chunk.
pub(crate) const OOO_BUFFER_SAMPLES: usize = 32;

/// How an append is judged.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AppendCfg {
    pub ooo_window_ms: i64,
    pub policy: DuplicatePolicy,
    pub chunk_samples: usize,
    /// The head's minimum valid time: a sample older than this is refused
    /// (`Error::BelowMinValidTime`) whatever the series' state, unless it
    /// would change nothing (a bit-equal duplicate of a head sample).
    /// `i64::MIN` while no block exists. Not applied on replay.
    pub min_valid_ms: i64,
    /// WAL replay: every logged sample was accepted once, so no window or
    /// lower-bound check and conflicts replace (they were logged only under
    /// last-write-wins).
    pub replay: bool,
}

impl AppendCfg {
    /// The judgement WAL replay applies: no window or lower bound (every logged
    /// sample was accepted once).
    pub(crate) fn for_replay(
        ooo_window_ms: i64,
        policy: DuplicatePolicy,
        chunk_samples: usize,
    ) -> AppendCfg {
        AppendCfg {
            ooo_window_ms,
            policy,
            chunk_samples,
            min_valid_ms: i64::MIN,
            replay: true,
        }
    }

    /// Refuses `t` if it is older than the head's minimum valid time (never
    /// on replay).
    fn check_min_valid(&self, t: i64) -> Result<()> {
        if !self.replay && t < self.min_valid_ms {
            return Err(Error::BelowMinValidTime {
                t_ms: t,
                min_valid_ms: self.min_valid_ms,
            });
        }
        Ok(())
    }
}

/// What an accepted append did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Appended {
    InOrder,
    OutOfOrder,
    DuplicateEqual,
    Replaced,
}

/// A sealed chunk with its time range.
#[derive(Clone)]
pub(crate) struct TimedChunk {
    pub min_t: i64,
    pub max_t: i64,
    /// The chunk's bytes (validated when stored; the header is re-read on use,
    /// which keeps this entry at 40 bytes).
    pub bytes: Box<[u8]>,
    /// Whether the chunk is in the codec's chosen (smallest) encoding; replay
    /// seals in the cheap appendable form and leaves this to the background.
    pub tuned: bool,
}

impl TimedChunk {
    pub(crate) fn new(min_t: i64, max_t: i64, chunk: &Chunk, tuned: bool) -> TimedChunk {
        TimedChunk {
            min_t,
            max_t,
            bytes: chunk.as_bytes().into(),
            tuned,
        }
    }

    /// The chunk, for reading.
    pub(crate) fn chunk(&self) -> Result<ChunkRef<'_>> {
        ChunkRef::new(&self.bytes).map_err(Error::Codec)
    }

    /// Whether a chunk read back from disk may still be in the appendable form
    /// that sealing would improve on.
    pub(crate) fn looks_tuned(chunk: ChunkRef<'_>) -> bool {
        chunk.len() < 3
            || chunk.timestamp_encoding() != TimestampEncoding::DeltaOfDelta
            || chunk.value_encoding() != ValueEncoding::Xor
    }
}

#[derive(Default)]
pub(crate) struct Ooo {
    /// Sorted by time, unique times; newer than every chunk below.
    pub buf: Vec<(i64, f64)>,
    /// Sealed buffers, oldest first; each sorted, they may overlap each other
    /// and the in-order data. For a time held in several places the newest wins.
    pub chunks: Vec<TimedChunk>,
}

/// One series in the head.
pub(crate) struct MemSeries {
    pub labels: Labels,
    /// In-order chunks, ascending and disjoint in time.
    pub sealed: Vec<TimedChunk>,
    pub open: ChunkEncoder,
    /// Newest timestamp (i64::MIN while empty).
    pub max_t: i64,
    /// Current value at `max_t`.
    pub last_v: f64,
    pub ooo: Option<Box<Ooo>>,
    /// Set by a head GC that found the series without a sample ever: the next
    /// GC drops it if it is still without one (see `Head::gc`).
    pub unsampled_at_gc: bool,
}

fn codec(e: tsdb_codec::CodecError) -> Error {
    Error::Codec(e)
}

impl MemSeries {
    pub(crate) fn new(labels: Labels) -> MemSeries {
        MemSeries {
            labels,
            sealed: Vec::new(),
            open: ChunkEncoder::new(),
            max_t: i64::MIN,
            last_v: 0.0,
            ooo: None,
            unsampled_at_gc: false,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.max_t == i64::MIN
    }

    /// Appends one sample, or says why not. The series' own rules (order,
    /// window, duplicates) are judged first, so their refusals read as
    /// before; a sample they would store is then refused if older than the
    /// head's minimum valid time.
    pub(crate) fn append(&mut self, t: i64, v: f64, cfg: &AppendCfg) -> Result<Appended> {
        if self.is_empty() || t > self.max_t {
            cfg.check_min_valid(t)?;
            self.push_in_order(t, v, cfg)?;
            return Ok(Appended::InOrder);
        }
        let existing = if t == self.max_t {
            Some(self.last_v)
        } else {
            if !cfg.replay {
                if cfg.ooo_window_ms <= 0 {
                    return Err(Error::OutOfOrder {
                        t_ms: t,
                        max_t_ms: self.max_t,
                    });
                }
                let min_t = self.max_t.saturating_sub(cfg.ooo_window_ms);
                if t < min_t {
                    return Err(Error::TooOld {
                        t_ms: t,
                        min_t_ms: min_t,
                    });
                }
            }
            self.value_at(t)?
        };
        match existing {
            Some(e) if e.to_bits() == v.to_bits() => Ok(Appended::DuplicateEqual),
            Some(e) => {
                if cfg.policy == DuplicatePolicy::Reject && !cfg.replay {
                    return Err(Error::DuplicateConflict {
                        t_ms: t,
                        existing: e,
                        new: v,
                    });
                }
                cfg.check_min_valid(t)?;
                self.ooo_insert(t, v)?;
                if t == self.max_t {
                    self.last_v = v;
                }
                Ok(Appended::Replaced)
            }
            None => {
                cfg.check_min_valid(t)?;
                self.ooo_insert(t, v)?;
                Ok(Appended::OutOfOrder)
            }
        }
    }

    fn push_in_order(&mut self, t: i64, v: f64, cfg: &AppendCfg) -> Result<()> {
        self.open.push(t, v).map_err(codec)?;
        self.max_t = t;
        self.last_v = v;
        if self.open.len() >= cfg.chunk_samples.max(1) {
            let enc = std::mem::take(&mut self.open);
            let min_t = enc.first_time().unwrap_or(t);
            // Replay seals in the appendable form (a copy of the encoder's
            // bytes); the background re-encodes it later (`retune`).
            let (chunk, tuned) = if cfg.replay {
                (enc.snapshot(), false)
            } else {
                (enc.finish(), true)
            };
            grow_gently(&mut self.sealed);
            self.sealed.push(TimedChunk::new(min_t, t, &chunk, tuned));
        }
        Ok(())
    }

    /// Re-encodes up to `budget` sealed chunks not yet in their chosen
    /// encoding; returns how many it did.
    pub(crate) fn retune(&mut self, budget: &mut usize) -> usize {
        let mut done = 0;
        for c in self.sealed.iter_mut().filter(|c| !c.tuned) {
            if *budget == 0 {
                break;
            }
            let (mut ts, mut vs) = (Vec::new(), Vec::new());
            if let Ok(chunk) = c.chunk()
                && chunk.decode_into(&mut ts, &mut vs).is_ok()
                && let Ok(better) = Chunk::encode(&ts, &vs)
                && better.len() == ts.len()
            {
                c.bytes = better.as_bytes().into();
            }
            c.tuned = true;
            *budget -= 1;
            done += 1;
        }
        done
    }

    fn ooo_insert(&mut self, t: i64, v: f64) -> Result<()> {
        let ooo = self.ooo.get_or_insert_with(Box::default);
        match ooo.buf.binary_search_by_key(&t, |s| s.0) {
            Ok(i) => {
                if let Some(s) = ooo.buf.get_mut(i) {
                    s.1 = v;
                }
            }
            Err(i) => ooo.buf.insert(i, (t, v)),
        }
        if ooo.buf.len() >= OOO_BUFFER_SAMPLES {
            let mut enc = ChunkEncoder::new();
            for &(t, v) in &ooo.buf {
                enc.push(t, v).map_err(codec)?;
            }
            let (Some(min_t), Some(max_t)) = (enc.first_time(), enc.last_time()) else {
                return Ok(());
            };
            grow_gently(&mut ooo.chunks);
            ooo.chunks
                .push(TimedChunk::new(min_t, max_t, &enc.finish(), true));
            ooo.buf.clear();
        }
        Ok(())
    }

    /// The current value at `t`, if a sample exists there.
    pub(crate) fn value_at(&self, t: i64) -> Result<Option<f64>> {
        if let Some(ooo) = &self.ooo {
            if let Ok(i) = ooo.buf.binary_search_by_key(&t, |s| s.0) {
                return Ok(ooo.buf.get(i).map(|s| s.1));
            }
            for c in ooo.chunks.iter().rev() {
                if c.min_t <= t
                    && t <= c.max_t
                    && let Some(v) = find_in(c.chunk()?, t)?
                {
                    return Ok(Some(v));
                }
            }
        }
        if t == self.max_t && !self.is_empty() {
            return Ok(Some(self.last_v));
        }
        let i = self.sealed.partition_point(|c| c.max_t < t);
        if let Some(c) = self.sealed.get(i)
            && c.min_t <= t
        {
            return find_in(c.chunk()?, t);
        }
        if self.open.first_time().is_some_and(|f| f <= t) {
            return find_in(self.open.snapshot().as_ref(), t);
        }
        Ok(None)
    }

    /// Appends the samples in `[min, max]` to `ts`/`vs` in time order, out-of-order
    /// data merged in (the newest write wins for a time held twice).
    pub(crate) fn read_range(
        &self,
        min: i64,
        max: i64,
        ts: &mut Vec<i64>,
        vs: &mut Vec<f64>,
    ) -> Result<()> {
        if self.is_empty() || min > max {
            return Ok(());
        }
        let start = ts.len();
        let first = self.sealed.partition_point(|c| c.max_t < min);
        for c in self.sealed.iter().skip(first) {
            if c.min_t > max {
                break;
            }
            decode_range(c.chunk()?, c.min_t, c.max_t, min, max, ts, vs)?;
        }
        if let Some(f) = self.open.first_time()
            && f <= max
            && self.max_t >= min
        {
            decode_range(
                self.open.snapshot().as_ref(),
                f,
                self.max_t,
                min,
                max,
                ts,
                vs,
            )?;
        }
        let Some(ooo) = &self.ooo else {
            return Ok(());
        };
        // (time, recency, value): higher recency wins a tie.
        let mut extra: Vec<(i64, u32, f64)> = Vec::new();
        let (mut ct, mut cv) = (Vec::new(), Vec::new());
        for (k, c) in ooo.chunks.iter().enumerate() {
            if c.max_t < min || c.min_t > max {
                continue;
            }
            ct.clear();
            cv.clear();
            decode_range(c.chunk()?, c.min_t, c.max_t, min, max, &mut ct, &mut cv)?;
            let k = u32::try_from(k).unwrap_or(u32::MAX - 1);
            extra.extend(ct.iter().zip(cv.iter()).map(|(&t, &v)| (t, k, v)));
        }
        extra.extend(
            ooo.buf
                .iter()
                .filter(|s| s.0 >= min && s.0 <= max)
                .map(|&(t, v)| (t, u32::MAX, v)),
        );
        if extra.is_empty() {
            return Ok(());
        }
        extra.sort_by_key(|e| (e.0, e.1));
        let in_t = ts.split_off(start);
        let in_v = vs.split_off(start);
        let (mut i, mut j) = (0, 0);
        while i < in_t.len() || j < extra.len() {
            // The newest out-of-order entry for this time is the last of its run.
            let ext = extra.get(j).map(|e| {
                let mut k = j;
                while extra.get(k + 1).is_some_and(|n| n.0 == e.0) {
                    k += 1;
                }
                (e.0, k)
            });
            match (in_t.get(i), ext) {
                (Some(&ti), Some((te, k))) if te <= ti => {
                    if let Some(e) = extra.get(k) {
                        ts.push(te);
                        vs.push(e.2);
                    }
                    if te == ti {
                        i += 1;
                    }
                    j = k + 1;
                }
                (Some(&ti), _) => {
                    ts.push(ti);
                    vs.push(in_v.get(i).copied().unwrap_or(f64::NAN));
                    i += 1;
                }
                (None, Some((te, k))) => {
                    if let Some(e) = extra.get(k) {
                        ts.push(te);
                        vs.push(e.2);
                    }
                    j = k + 1;
                }
                (None, None) => break,
            }
        }
        Ok(())
    }

    /// Whether any sample lies in `[min, max]`.
    pub(crate) fn has_samples_in(&self, min: i64, max: i64) -> Result<bool> {
        if self.is_empty() || min > max {
            return Ok(false);
        }
        let first = self.sealed.first().map_or(i64::MAX, |c| c.min_t);
        let first = first.min(self.open.first_time().unwrap_or(i64::MAX));
        if first >= min && first <= max || self.max_t >= min && self.max_t <= max {
            return Ok(true);
        }
        let (mut ts, mut vs) = (Vec::new(), Vec::new());
        self.read_range(min, max, &mut ts, &mut vs)?;
        Ok(!ts.is_empty())
    }

    /// Bytes held by compressed samples (sealed and open chunks, OOO chunks).
    pub(crate) fn compressed_bytes(&self) -> usize {
        let ooo = self.ooo.as_ref().map_or(0, |o| {
            o.chunks.iter().map(|c| c.bytes.len()).sum::<usize>()
                + o.buf.capacity() * size_of::<(i64, f64)>()
        });
        self.sealed.iter().map(|c| c.bytes.len()).sum::<usize>() + self.open.size_bytes() + ooo
    }

    /// Bytes held by this series in memory: the struct, bookkeeping and samples
    /// (the labels are interned by the index and counted there).
    pub(crate) fn memory_bytes(&self) -> usize {
        let ooo = self.ooo.as_ref().map_or(0, |o| {
            size_of::<Ooo>() + o.chunks.capacity() * size_of::<TimedChunk>()
        });
        size_of::<MemSeries>()
            + self.sealed.capacity() * size_of::<TimedChunk>()
            + ooo
            + self.compressed_bytes()
    }
}

/// Grows a per-series list by a quarter (at least one) instead of doubling:
/// most series hold few chunks, and spare capacity is paid per series.
fn grow_gently<T>(v: &mut Vec<T>) {
    if v.len() == v.capacity() {
        v.reserve_exact((v.len() / 4).max(1));
    }
}

fn find_in(chunk: ChunkRef<'_>, t: i64) -> Result<Option<f64>> {
    for s in chunk.iter() {
        let (st, sv) = s.map_err(codec)?;
        if st == t {
            return Ok(Some(sv));
        }
        if st > t {
            break;
        }
    }
    Ok(None)
}

fn decode_range(
    chunk: ChunkRef<'_>,
    cmin: i64,
    cmax: i64,
    min: i64,
    max: i64,
    ts: &mut Vec<i64>,
    vs: &mut Vec<f64>,
) -> Result<()> {
    if cmin >= min && cmax <= max {
        return chunk.decode_into(ts, vs).map_err(codec);
    }
    for s in chunk.iter() {
        let (t, v) = s.map_err(codec)?;
        if t > max {
            break;
        }
        if t >= min {
            ts.push(t);
            vs.push(v);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Labels {
        Labels::new([("__name__", "m")]).unwrap()
    }

    #[test]
    fn replay_seals_cheaply_and_retune_keeps_the_samples() {
        let cfg = AppendCfg::for_replay(0, DuplicatePolicy::Reject, 120);
        let mut s = MemSeries::new(labels());
        for t in 0..600 {
            s.append(t * 15_000, (t % 17) as f64 * 0.5, &cfg).unwrap();
        }
        assert_eq!(s.sealed.len(), 5);
        assert!(s.sealed.iter().all(|c| !c.tuned));
        let (mut t0, mut v0) = (Vec::new(), Vec::new());
        s.read_range(i64::MIN, i64::MAX, &mut t0, &mut v0).unwrap();
        let before = s.compressed_bytes();
        let mut budget = 3;
        assert_eq!(s.retune(&mut budget), 3);
        let mut budget = 10;
        assert_eq!(s.retune(&mut budget), 2);
        assert!(s.sealed.iter().all(|c| c.tuned));
        assert!(s.compressed_bytes() <= before);
        let (mut t1, mut v1) = (Vec::new(), Vec::new());
        s.read_range(i64::MIN, i64::MAX, &mut t1, &mut v1).unwrap();
        assert_eq!((t0, v0), (t1, v1));
    }

    #[test]
    fn per_series_bookkeeping_is_small() {
        // The head's budget is 1 KiB per series plus compressed samples.
        assert!(size_of::<MemSeries>() <= 256, "{}", size_of::<MemSeries>());
        assert!(size_of::<TimedChunk>() <= 40, "{}", size_of::<TimedChunk>());
    }
}
