//! Golden files for chunk formats v1 to v4: chunks written by earlier builds must
//! decode to the same samples forever. A change to the format means a new format
//! version and a new fixture directory, never a rewrite of these files. The encoder
//! may choose differently over time, but never worse: re-encoding a fixture's
//! samples must not produce more bytes than the fixture holds.

use std::path::PathBuf;

use tsdb_codec::{Chunk, ChunkEncoder, TimestampEncoding, ValueEncoding};

use crate::{assert_same, decode, encode};

fn dir(version: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/chunk_{version}"))
}

/// A 2-decimal random walk (σ = 0.25 per step): the residuals are bell-shaped, so
/// format v2 Rice-codes them.
fn walk_gauge(t0: i64) -> Vec<(i64, f64)> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut level = 5_000i64;
    (0..120)
        .map(|i| {
            // Sum of four uniforms: roughly Gaussian steps.
            let mut step = 0i64;
            for _ in 0..4 {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                step += ((state >> 33) % 44) as i64 - 22;
            }
            level += step;
            (t0 + i * 10_000, level as f64 / 100.0)
        })
        .collect()
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

/// Cases added with format v2 (their v1 encodings were never pinned).
fn cases_v2() -> Vec<Case> {
    let t0 = 1_700_000_000_000i64;
    vec![(
        "walk_gauge",
        walk_gauge(t0),
        TimestampEncoding::Packed, // a fixed interval: Regular in v2
        ValueEncoding::Decimal,
    )]
}

/// Cases added with format v3: Rice codes in the split layout, on values, on
/// jittered timestamps, and with an escaped quotient (a reset).
fn cases_v3() -> Vec<Case> {
    let t0 = 1_700_000_000_000i64;
    let walk = walk_gauge(t0);
    let jittered = walk
        .iter()
        .enumerate()
        .map(|(i, &(t, v))| (t + (i as i64 * 7_919) % 11 - 5, v))
        .collect();
    // In cents, so that the values stay exact decimals.
    let cents = |v: f64| (v * 100.0).round() as i64;
    let reset = walk
        .iter()
        .enumerate()
        .map(|(i, &(t, v))| {
            let c = if i < 60 {
                cents(v)
            } else {
                cents(v) - cents(walk[59].1) + 50
            };
            (t, c as f64 / 100.0)
        })
        .collect();
    vec![
        (
            "walk_gauge",
            walk,
            TimestampEncoding::Regular,
            ValueEncoding::Decimal,
        ),
        (
            "jittered_walk",
            jittered,
            TimestampEncoding::Packed,
            ValueEncoding::Decimal,
        ),
        (
            "walk_reset",
            reset,
            TimestampEncoding::Regular,
            ValueEncoding::Decimal,
        ),
    ]
}

fn check_fixtures(version: &str, cases: Vec<Case>) {
    let regenerate = std::env::var_os("TSDB_REGENERATE_GOLDEN").is_some();
    for (name, samples, ts_enc, val_enc) in cases {
        let path = dir(version).join(format!("{name}.bin"));
        let chunk = encode(&samples);
        if regenerate && !path.exists() {
            std::fs::create_dir_all(dir(version)).unwrap();
            std::fs::write(&path, chunk.as_bytes()).unwrap();
        }
        let golden = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let parsed = Chunk::from_bytes(golden.clone()).unwrap();
        assert_same(&decode(&parsed), &samples);
        assert_eq!(parsed.as_ref().timestamp_encoding(), ts_enc, "{name}");
        assert_eq!(parsed.as_ref().value_encoding(), val_enc, "{name}");
        assert!(
            chunk.as_bytes().len() <= golden.len(),
            "{version}/{name}: encoder got worse: {} bytes, fixture {}",
            chunk.as_bytes().len(),
            golden.len()
        );
    }
}

#[test]
fn chunk_v1_fixtures_decode_and_never_grow() {
    check_fixtures("v1", cases());
}

#[test]
fn chunk_v2_fixtures_decode_and_never_grow() {
    let mut all = cases();
    all.extend(cases_v2());
    for (name, samples, ts_enc, val_enc) in all.iter_mut() {
        // Two alternating values Rice-code to a third of their XOR form in v2.
        if *name == "irregular_xor" {
            *val_enc = ValueEncoding::OrderedBits;
        }
        // A fixed interval is its own encoding in v2.
        let interval = samples[1].0 - samples[0].0;
        if *ts_enc == TimestampEncoding::Packed
            && samples.windows(2).all(|w| w[1].0 - w[0].0 == interval)
        {
            *ts_enc = TimestampEncoding::Regular;
        }
    }
    check_fixtures("v2", all);
}

#[test]
fn v2_fixtures_use_the_v2_codings() {
    // Regular timestamps: the constant coding (no width, no exception count).
    let golden = std::fs::read(dir("v2").join("decimal_gauge.bin")).unwrap();
    assert_eq!(golden[0], tsdb_codec::CHUNK_FORMAT_V2);
    let v1 = std::fs::read(dir("v1").join("decimal_gauge.bin")).unwrap();
    assert!(golden.len() < v1.len(), "{} vs {}", golden.len(), v1.len());
    // The random-walk gauge: Rice codes beat fixed-width packing by > 5 %.
    let walk = std::fs::read(dir("v2").join("walk_gauge.bin")).unwrap();
    assert!(walk.len() * 8 < 120 * 8, "{} bytes", walk.len());
}

#[test]
fn chunk_v3_fixtures_decode_and_never_grow() {
    check_fixtures_in("v3", cases_v3(), tsdb_codec::CHUNK_FORMAT_V3);
}

/// [`check_fixtures`], and every fixture is in the format version byte `byte`.
fn check_fixtures_in(version: &str, cases: Vec<Case>, byte: u8) {
    let names: Vec<&str> = cases.iter().map(|c| c.0).collect();
    check_fixtures(version, cases);
    for name in names {
        let golden = std::fs::read(dir(version).join(format!("{name}.bin"))).unwrap();
        assert_eq!(golden[0], byte, "{version}/{name}");
    }
}

#[test]
fn v3_rice_codes_are_v2_bits_in_another_order() {
    // The same samples, Rice-coded in both: the same size, one version byte apart.
    let v2 = std::fs::read(dir("v2").join("walk_gauge.bin")).unwrap();
    let v3 = std::fs::read(dir("v3").join("walk_gauge.bin")).unwrap();
    assert_eq!(v2.len(), v3.len());
    assert_ne!(v2[1..], v3[1..]);
    let (v2, v3) = (
        Chunk::from_bytes(v2).unwrap(),
        Chunk::from_bytes(v3).unwrap(),
    );
    assert_eq!(decode(&v2), decode(&v3));
    // Chunks without Rice or sparse codes are still written as version 2 (a
    // counter climbing steadily: constant deltas).
    let steady: Vec<(i64, f64)> = (0..120).map(|i| (i * 10_000, (i * 5) as f64)).collect();
    assert_eq!(encode(&steady).as_bytes()[0], tsdb_codec::CHUNK_FORMAT_V2);
    // A step now and then is sparse, version 4.
    let steps: Vec<(i64, f64)> = (0..120).map(|i| (i * 10_000, (i / 30) as f64)).collect();
    assert_eq!(encode(&steps).as_bytes()[0], tsdb_codec::CHUNK_FORMAT_V4);
}

/// Cases added with format v4: sparse codes, for values that step both ways
/// (deltas), for a level with moves both ways (no predictor), for timestamps
/// with a few late scrapes (a line), and for a counter reset.
fn cases_v4() -> Vec<Case> {
    let t0 = 1_700_000_000_000i64;
    let levels = [512.25, 470.5, 493.0, 77.75];
    let steps = (0..120)
        .map(|i| (t0 + i * 15_000, levels[(i / 31) as usize]))
        .collect();
    let moves = (0..120)
        .map(|i| {
            let v = match i {
                7 => 300.0,
                40 => -2.0,
                41 => -700.0,
                _ => 0.0,
            };
            (t0 + i * 15_000, 1_000.0 + v)
        })
        .collect();
    let late = (0..120)
        .map(|i| {
            let late = [(17, 3), (60, 250), (61, -4)]
                .iter()
                .find(|l| l.0 == i)
                .map_or(0, |l| l.1);
            (t0 + i * 15_000 + late, 1.0)
        })
        .collect();
    let reset = (0..120)
        .map(|i| {
            let count = match i {
                0..40 => 90_000,
                40..70 => 90_004,
                _ => 3,
            };
            (t0 + i * 15_000, f64::from(count))
        })
        .collect();
    vec![
        (
            "steps_both_ways",
            steps,
            TimestampEncoding::Regular,
            ValueEncoding::Decimal,
        ),
        (
            "level_moves",
            moves,
            TimestampEncoding::Regular,
            ValueEncoding::Decimal,
        ),
        (
            "late_scrapes",
            late,
            TimestampEncoding::Packed,
            ValueEncoding::Decimal,
        ),
        (
            "counter_reset",
            reset,
            TimestampEncoding::Regular,
            ValueEncoding::Decimal,
        ),
    ]
}

#[test]
fn chunk_v4_fixtures_decode_and_never_grow() {
    check_fixtures_in("v4", cases_v4(), tsdb_codec::CHUNK_FORMAT_V4);
}

fn open_samples() -> ChunkEncoder {
    let mut enc = ChunkEncoder::new();
    for i in 0..10 {
        enc.push(1000 + i * 1000, i as f64 * 0.5).unwrap();
    }
    enc
}

#[test]
fn open_form_fixture() {
    let enc = open_samples();
    let path = dir("v2").join("open_gorilla.bin");
    if std::env::var_os("TSDB_REGENERATE_GOLDEN").is_some() && !path.exists() {
        std::fs::create_dir_all(dir("v2")).unwrap();
        std::fs::write(&path, enc.snapshot().as_bytes()).unwrap();
    }
    let golden = std::fs::read(&path).unwrap();
    // The appendable form is fully determined by the format: byte for byte.
    assert_eq!(enc.snapshot().as_bytes(), &golden[..]);
    // The v1 fixture of the same samples still decodes to them.
    let v1 = Chunk::from_bytes(std::fs::read(dir("v1").join("open_gorilla.bin")).unwrap()).unwrap();
    assert_eq!(decode(&v1), decode(&enc.snapshot()));
}
