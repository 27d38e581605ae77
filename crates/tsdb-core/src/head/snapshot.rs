//! A series' head data as a checkpoint record (`SERIES_SNAPSHOT`, drawn in
//! `docs/format/wal.md`): chunks are stored compressed as they are in memory, so
//! loading a checkpoint does not re-encode samples.

use tsdb_index::Labels;

use super::series::{MemSeries, Ooo, TimedChunk};
use crate::chunk::{ChunkEncoder, ChunkRef};
use crate::wal::record::{Cursor, FrameBuf, kind};

/// Appends `series` (id `id`) as one `SERIES_SNAPSHOT` frame.
pub(crate) fn encode(id: u32, series: &MemSeries, fb: &mut FrameBuf) {
    fb.begin(kind::SERIES_SNAPSHOT);
    fb.put_u32(id);
    fb.put_bytes(&series.labels.to_bytes());
    fb.put_i64(series.max_t);
    fb.put_u64(series.last_v.to_bits());
    put_chunks(fb, &series.sealed);
    if series.open.is_empty() {
        fb.put_bytes(&[]);
    } else {
        fb.put_bytes(series.open.snapshot().as_bytes());
    }
    match &series.ooo {
        Some(ooo) => {
            put_chunks(fb, &ooo.chunks);
            fb.put_u32(u32::try_from(ooo.buf.len()).unwrap_or(0));
            for &(t, v) in &ooo.buf {
                fb.put_i64(t);
                fb.put_u64(v.to_bits());
            }
        }
        None => {
            fb.put_u32(0);
            fb.put_u32(0);
        }
    }
    fb.end();
}

fn put_chunks(fb: &mut FrameBuf, chunks: &[TimedChunk]) {
    fb.put_u32(u32::try_from(chunks.len()).unwrap_or(0));
    for c in chunks {
        fb.put_i64(c.min_t);
        fb.put_i64(c.max_t);
        fb.put_bytes(&c.bytes);
    }
}

fn get_chunks(c: &mut Cursor<'_>) -> Result<Vec<TimedChunk>, String> {
    let n = c.u32().ok_or("truncated chunk count")? as usize;
    let mut out = Vec::with_capacity(n.min(1 << 16));
    for _ in 0..n {
        let min_t = c.i64().ok_or("truncated chunk")?;
        let max_t = c.i64().ok_or("truncated chunk")?;
        let bytes = c.bytes().ok_or("truncated chunk bytes")?;
        let chunk = ChunkRef::new(bytes).map_err(|e| format!("bad chunk: {e}"))?;
        if min_t > max_t {
            return Err(format!("chunk time range {min_t} > {max_t}"));
        }
        out.push(TimedChunk {
            min_t,
            max_t,
            bytes: bytes.into(),
            tuned: TimedChunk::looks_tuned(chunk),
        });
    }
    Ok(out)
}

/// Decodes a `SERIES_SNAPSHOT` payload into its id and series.
pub(crate) fn decode(payload: &[u8]) -> Result<(u32, MemSeries), String> {
    let mut c = Cursor::new(payload);
    let id = c.u32().ok_or("truncated id")?;
    let labels = Labels::from_bytes(c.bytes().ok_or("truncated labels")?)
        .map_err(|e| format!("bad labels: {e}"))?;
    let max_t = c.i64().ok_or("truncated max time")?;
    let last_v = f64::from_bits(c.u64().ok_or("truncated last value")?);
    let sealed = get_chunks(&mut c)?;
    let open_bytes = c.bytes().ok_or("truncated open chunk")?;
    let mut open = ChunkEncoder::new();
    if !open_bytes.is_empty() {
        let chunk = ChunkRef::new(open_bytes).map_err(|e| format!("bad open chunk: {e}"))?;
        for s in chunk.iter() {
            let (t, v) = s.map_err(|e| format!("bad open chunk: {e}"))?;
            open.push(t, v)
                .map_err(|e| format!("bad open chunk: {e}"))?;
        }
    }
    let ooo_chunks = get_chunks(&mut c)?;
    let n = c.u32().ok_or("truncated ooo count")? as usize;
    let mut buf = Vec::with_capacity(n.min(1 << 16));
    for _ in 0..n {
        let t = c.i64().ok_or("truncated ooo sample")?;
        let v = f64::from_bits(c.u64().ok_or("truncated ooo sample")?);
        buf.push((t, v));
    }
    if !c.is_empty() {
        return Err(format!("{} trailing bytes", c.rest().len()));
    }
    if !buf.windows(2).all(|w| matches!(w, [a, b] if a.0 < b.0)) {
        return Err("ooo buffer not sorted".into());
    }
    let ooo = (!ooo_chunks.is_empty() || !buf.is_empty()).then(|| {
        Box::new(Ooo {
            buf,
            chunks: ooo_chunks,
        })
    });
    Ok((
        id,
        MemSeries {
            labels,
            sealed,
            open,
            max_t,
            last_v,
            ooo,
            unsampled_at_gc: false,
        },
    ))
}
