//! Integration tests for tsdb-codec: round trips, robustness, golden files.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod golden;
mod robustness;
mod roundtrip;

use tsdb_codec::{Chunk, ChunkEncoder};

/// Encodes samples (timestamps must strictly increase) and seals the chunk.
pub fn encode(samples: &[(i64, f64)]) -> Chunk {
    let mut enc = ChunkEncoder::new();
    for &(t, v) in samples {
        enc.push(t, v).unwrap();
    }
    enc.finish()
}

/// Decodes a chunk into samples.
pub fn decode(chunk: &Chunk) -> Vec<(i64, f64)> {
    let (mut ts, mut vs) = (Vec::new(), Vec::new());
    chunk.decode_into(&mut ts, &mut vs).unwrap();
    ts.into_iter().zip(vs).collect()
}

/// Asserts two sample lists are equal bit for bit (NaN payloads, -0.0).
pub fn assert_same(a: &[(i64, f64)], b: &[(i64, f64)]) {
    assert_eq!(a.len(), b.len(), "sample count");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert_eq!(x.0, y.0, "timestamp {i}");
        assert_eq!(
            x.1.to_bits(),
            y.1.to_bits(),
            "value {i}: {} vs {}",
            x.1,
            y.1
        );
    }
}
