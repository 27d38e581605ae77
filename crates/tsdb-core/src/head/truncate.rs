//! Dropping a series' samples older than a boundary once a block holds them.

use super::series::{MemSeries, TimedChunk};
use crate::chunk::{Chunk, ChunkEncoder};
use crate::error::Result;

/// `chunks` without samples before `boundary` (a straddling chunk is
/// re-encoded with what it keeps).
fn truncate_chunks(chunks: &mut Vec<TimedChunk>, boundary: i64) -> Result<()> {
    let mut kept = Vec::with_capacity(chunks.len());
    for c in chunks.drain(..) {
        if c.max_t < boundary {
            continue;
        }
        if c.min_t >= boundary {
            kept.push(c);
            continue;
        }
        let (mut ts, mut vs) = (Vec::new(), Vec::new());
        c.chunk()?.decode_into(&mut ts, &mut vs)?;
        let cut = ts.partition_point(|&t| t < boundary);
        let (ts, vs) = (
            ts.get(cut..).unwrap_or_default(),
            vs.get(cut..).unwrap_or_default(),
        );
        if let (Some(&min_t), Some(&max_t)) = (ts.first(), ts.last()) {
            kept.push(TimedChunk::new(min_t, max_t, &Chunk::encode(ts, vs)?, true));
        }
    }
    *chunks = kept;
    Ok(())
}

impl MemSeries {
    /// The oldest sample's time, if any.
    pub(crate) fn min_time(&self) -> Option<i64> {
        let mut min = self.sealed.first().map(|c| c.min_t);
        let mut take = |t: Option<i64>| {
            if let Some(t) = t {
                min = Some(min.map_or(t, |m: i64| m.min(t)));
            }
        };
        take(self.open.first_time());
        if let Some(ooo) = &self.ooo {
            take(ooo.chunks.iter().map(|c| c.min_t).min());
            take(ooo.buf.first().map(|s| s.0));
        }
        min
    }

    /// Drops every sample before `boundary`. The newest time and value are
    /// kept, so the out-of-order window and duplicate checks at the newest
    /// time still apply as before; a timestamp the drop removed is no longer
    /// checked for a conflicting duplicate here. A series left with no
    /// sample is then dropped by head GC and forgets its newest time and
    /// value as well: what keeps
    /// samples already in blocks from being written again is the head's
    /// minimum valid time, which the cut raises first (`AppendCfg`).
    pub(crate) fn truncate_before(&mut self, boundary: i64) -> Result<()> {
        if self.min_time().is_none_or(|m| m >= boundary) {
            return Ok(());
        }
        truncate_chunks(&mut self.sealed, boundary)?;
        if self.open.first_time().is_some_and(|f| f < boundary) {
            let snap = self.open.snapshot();
            let mut open = ChunkEncoder::new();
            for s in snap.iter() {
                let (t, v) = s?;
                if t >= boundary {
                    open.push(t, v)?;
                }
            }
            self.open = open;
        }
        if let Some(ooo) = &mut self.ooo {
            truncate_chunks(&mut ooo.chunks, boundary)?;
            ooo.buf.retain(|s| s.0 >= boundary);
            if ooo.chunks.is_empty() && ooo.buf.is_empty() {
                self.ooo = None;
            }
        }
        Ok(())
    }
}

impl MemSeries {
    /// Calls `f(min, max)` for the time range of each chunk, the open chunk
    /// and each buffered out-of-order sample.
    pub(crate) fn for_each_range(&self, mut f: impl FnMut(i64, i64)) {
        for c in &self.sealed {
            f(c.min_t, c.max_t);
        }
        if let Some(first) = self.open.first_time() {
            f(first, self.max_t);
        }
        if let Some(ooo) = &self.ooo {
            for c in &ooo.chunks {
                f(c.min_t, c.max_t);
            }
            for s in &ooo.buf {
                f(s.0, s.0);
            }
        }
    }
}

/// `chunks` without samples in `[min, max]` (overlapping chunks re-encoded).
fn delete_in_chunks(chunks: &mut Vec<TimedChunk>, min: i64, max: i64) -> Result<()> {
    let mut kept = Vec::with_capacity(chunks.len());
    for c in chunks.drain(..) {
        if c.max_t < min || c.min_t > max {
            kept.push(c);
            continue;
        }
        let (mut ts, mut vs) = (Vec::new(), Vec::new());
        c.chunk()?.decode_into(&mut ts, &mut vs)?;
        let (ts, vs): (Vec<i64>, Vec<f64>) = ts
            .into_iter()
            .zip(vs)
            .filter(|(t, _)| *t < min || *t > max)
            .unzip();
        if let (Some(&a), Some(&b)) = (ts.first(), ts.last()) {
            kept.push(TimedChunk::new(a, b, &Chunk::encode(&ts, &vs)?, true));
        }
    }
    *chunks = kept;
    Ok(())
}

impl MemSeries {
    /// Deletes every sample in `[min, max]`; the newest time and value are
    /// kept for the out-of-order window and duplicate checks while the
    /// series stays in the head. A series deleted whole is dropped by head
    /// GC and forgets its newest time and value: written to again, it is a
    /// new series, which
    /// takes any timestamp from the head's minimum valid time on (deleted
    /// data is not protected against being written again).
    pub(crate) fn delete_range(&mut self, min: i64, max: i64) -> Result<()> {
        delete_in_chunks(&mut self.sealed, min, max)?;
        if let Some(first) = self.open.first_time()
            && first <= max
            && self.max_t >= min
        {
            let snap = self.open.snapshot();
            let mut open = ChunkEncoder::new();
            for s in snap.iter() {
                let (t, v) = s?;
                if t < min || t > max {
                    open.push(t, v)?;
                }
            }
            self.open = open;
        }
        if let Some(ooo) = &mut self.ooo {
            delete_in_chunks(&mut ooo.chunks, min, max)?;
            ooo.buf.retain(|s| s.0 < min || s.0 > max);
            if ooo.chunks.is_empty() && ooo.buf.is_empty() {
                self.ooo = None;
            }
        }
        Ok(())
    }
}
