//! Golden files for chunk format v1: chunks written by earlier builds must decode
//! to the same samples forever. A change to the format means a new format version
//! and a new fixture directory, never a rewrite of these files. The encoder may
//! choose differently over time, but never worse: re-encoding a fixture's samples
//! must not produce more bytes than the fixture holds.

use std::path::PathBuf;

use tsdb_codec::{Chunk, ChunkEncoder, TimestampEncoding, ValueEncoding};

use crate::{assert_same, decode, encode};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/chunk_v1")
}

/// The fixtures: name, samples, and the encodings the sealed chunk must use.
type Case = (
    &'static str,
    Vec<(i64, f64)>,
    TimestampEncoding,
    ValueEncoding,
);

fn cases() -> Vec<Case> {
    let t0 = 1_700_000_000_000i64;
    vec![
        (
            "decimal_gauge",
            (0..120)
                .map(|i| (t0 + i * 10_000, 40.0 + ((i * 37) % 23) as f64 * 0.01))
                .collect(),
            TimestampEncoding::Packed,
            ValueEncoding::Decimal,
        ),
        (
            "counter_reset",
            (0..120)
                .map(|i| {
                    (
                        t0 + i * 15_000 + (i * 13) % 5,
                        if i < 70 { i * 97 } else { (i - 70) * 95 } as f64,
                    )
                })
                .collect(),
            TimestampEncoding::Packed,
            ValueEncoding::Decimal,
        ),
        (
            "float_walk",
            (0..120)
                .map(|i| (t0 + i * 10_000, 1000.0 + (i as f64 * 0.7).sin() * 3.3))
                .collect(),
            TimestampEncoding::Packed,
            ValueEncoding::OrderedBits,
        ),
        (
            "irregular_xor",
            (0..60)
                .map(|i| {
                    (
                        t0 + i * i * 1_000 + (i % 3) * 700,
                        if (i / 10) % 2 == 0 {
                            std::f64::consts::PI
                        } else {
                            f64::from_bits(0x7ff0_0000_0000_0002)
                        },
                    )
                })
                .collect(),
            TimestampEncoding::Packed,
            ValueEncoding::Xor,
        ),
        (
            "page_bytes",
            (0..120)
                .map(|i| {
                    (
                        t0 + i * 30_000,
                        (1_000_000 + (i * i * 7) % 500) as f64 * 4096.0,
                    )
                })
                .collect(),
            TimestampEncoding::Packed,
            ValueEncoding::Decimal,
        ),
        (
            "two_samples",
            vec![(t0, 1.5), (t0 + 15_000, -0.0)],
            TimestampEncoding::DeltaOfDelta,
            ValueEncoding::Xor,
        ),
    ]
}

#[test]
fn chunk_v1_fixtures_decode_and_never_grow() {
    let regenerate = std::env::var_os("TSDB_REGENERATE_GOLDEN").is_some();
    for (name, samples, ts_enc, val_enc) in cases() {
        let path = dir().join(format!("{name}.bin"));
        let chunk = encode(&samples);
        if regenerate && !path.exists() {
            std::fs::create_dir_all(dir()).unwrap();
            std::fs::write(&path, chunk.as_bytes()).unwrap();
        }
        let golden = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let parsed = Chunk::from_bytes(golden.clone()).unwrap();
        assert_same(&decode(&parsed), &samples);
        assert_eq!(parsed.as_ref().timestamp_encoding(), ts_enc, "{name}");
        assert_eq!(parsed.as_ref().value_encoding(), val_enc, "{name}");
        assert!(
            chunk.as_bytes().len() <= golden.len(),
            "{name}: encoder got worse: {} bytes, fixture {}",
            chunk.as_bytes().len(),
            golden.len()
        );
    }
}

#[test]
fn open_form_fixture() {
    let mut enc = ChunkEncoder::new();
    for i in 0..10 {
        enc.push(1000 + i * 1000, i as f64 * 0.5).unwrap();
    }
    let path = dir().join("open_gorilla.bin");
    if std::env::var_os("TSDB_REGENERATE_GOLDEN").is_some() && !path.exists() {
        std::fs::create_dir_all(dir()).unwrap();
        std::fs::write(&path, enc.snapshot().as_bytes()).unwrap();
    }
    let golden = std::fs::read(&path).unwrap();
    // The appendable form is fully determined by the format: byte for byte.
    assert_eq!(enc.snapshot().as_bytes(), &golden[..]);
}
