//! Any strictly increasing samples round-trip bit-exactly through both encoders.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsdb_codec::{Chunk, ChunkEncoder};

fuzz_target!(|data: &[u8]| {
    let mut ts = Vec::new();
    let mut vs = Vec::new();
    let mut t = 0i64;
    for rec in data.chunks_exact(12).take(tsdb_codec::MAX_CHUNK_SAMPLES) {
        let d = u32::from_le_bytes([rec[0], rec[1], rec[2], rec[3]]);
        let v = f64::from_bits(u64::from_le_bytes(rec[4..12].try_into().unwrap()));
        t = match t.checked_add(i64::from(d) + 1) {
            Some(t) => t,
            None => break,
        };
        ts.push(t);
        vs.push(v);
    }
    let mut enc = ChunkEncoder::new();
    for (&t, &v) in ts.iter().zip(&vs) {
        enc.push(t, v).unwrap();
    }
    for chunk in [enc.finish(), Chunk::encode(&ts, &vs).unwrap()] {
        let (mut dt, mut dv) = (Vec::new(), Vec::new());
        chunk.decode_into(&mut dt, &mut dv).unwrap();
        assert_eq!(dt, ts);
        assert!(dv.iter().zip(&vs).all(|(a, b)| a.to_bits() == b.to_bits()));
    }
});
