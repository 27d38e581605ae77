//! Property tests: every sealed and open chunk decodes to exactly what was pushed.

use proptest::prelude::*;
use tsdb_codec::{Chunk, ChunkEncoder, CodecError, MAX_CHUNK_SAMPLES};

use crate::{assert_same, decode, encode};

/// f64 values from every bit-pattern class.
fn any_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        any::<u64>().prop_map(f64::from_bits),
        // NaN payloads, including Prometheus' staleness marker.
        (0u64..(1 << 51)).prop_map(|p| f64::from_bits(0x7ff8_0000_0000_0000 | p)),
        Just(f64::from_bits(0x7ff0_0000_0000_0002)),
        (0u64..(1 << 52)).prop_map(|p| f64::from_bits(0x7ff0_0000_0000_0001 | p)),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        Just(-0.0),
        (1u64..(1 << 52)).prop_map(f64::from_bits), // subnormals
        Just(f64::MAX),
        Just(f64::MIN),
        Just(f64::MIN_POSITIVE),
        Just(f64::EPSILON),
        // Short decimals, the common case.
        (-1_000_000i64..1_000_000, 0u32..6).prop_map(|(k, e)| k as f64 / 10f64.powi(e as i32)),
        (0i64..1000).prop_map(|k| k as f64),
    ]
}

/// Runs of similar values, so the dense encodings get picked too.
fn value_runs() -> impl Strategy<Value = Vec<f64>> {
    prop_oneof![
        prop::collection::vec(any_value(), 0..300),
        (any_value(), prop::collection::vec(-3i64..=3, 0..300)).prop_map(|(start, steps)| {
            let mut v = if start.is_finite() { start } else { 1.0 };
            steps
                .into_iter()
                .map(|s| {
                    v += s as f64 * 0.01;
                    (v * 100.0).round() / 100.0
                })
                .collect()
        }),
        (
            0i64..1_000_000,
            prop::collection::vec(0i64..100, 0..300),
            0usize..300
        )
            .prop_map(|(start, incs, reset_at)| {
                let mut c = start;
                incs.into_iter()
                    .enumerate()
                    .map(|(i, d)| {
                        c = if i == reset_at { d } else { c + d };
                        c as f64
                    })
                    .collect()
            }),
    ]
}

/// Strictly increasing timestamps, from regular with jitter to the largest deltas.
fn timestamps(n: usize) -> impl Strategy<Value = Vec<i64>> {
    prop_oneof![
        (any::<i64>(), prop::collection::vec(1u64..u64::MAX, n)).prop_map(
            move |(start, deltas)| {
                let mut t = start;
                let mut out = vec![t];
                for d in deltas {
                    match t.checked_add_unsigned(d) {
                        Some(next) => {
                            t = next;
                            out.push(t);
                        }
                        None => break,
                    }
                }
                out
            }
        ),
        (
            -(1i64 << 50)..(1i64 << 50),
            1i64..100_000,
            prop::collection::vec(-20i64..=20, n)
        )
            .prop_map(|(start, step, jitter)| {
                let mut out: Vec<i64> = Vec::new();
                for (i, j) in jitter.into_iter().enumerate() {
                    let t = start + i as i64 * step * 2 + j.clamp(-step + 1, step - 1);
                    if out.last().is_none_or(|&l| t > l) {
                        out.push(t);
                    }
                }
                out
            }),
        Just(vec![i64::MIN, -1, 0, 1, i64::MAX]),
        // Exactly regular intervals, the common case with its own sealing path.
        (-(1i64 << 50)..(1i64 << 50), 1i64..1_000_000)
            .prop_map(move |(start, step)| (0..n as i64).map(|i| start + i * step).collect()),
    ]
}

fn samples() -> impl Strategy<Value = Vec<(i64, f64)>> {
    value_runs().prop_flat_map(|vals| {
        let n = vals.len();
        timestamps(n).prop_map(move |ts| ts.into_iter().zip(vals.clone()).collect::<Vec<_>>())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn sealed_chunk_round_trips(s in samples()) {
        let chunk = encode(&s);
        prop_assert_eq!(chunk.len(), s.len());
        assert_same(&decode(&chunk), &s);
        // And through the bytes, as a block reader would see them.
        let again = Chunk::from_bytes(chunk.as_bytes().to_vec()).unwrap();
        assert_same(&decode(&again), &s);
        let iterated: Vec<(i64, f64)> = again.iter().map(Result::unwrap).collect();
        assert_same(&iterated, &s);
    }

    #[test]
    fn bulk_encode_round_trips(s in samples()) {
        let ts: Vec<i64> = s.iter().map(|x| x.0).collect();
        let vs: Vec<f64> = s.iter().map(|x| x.1).collect();
        let chunk = Chunk::encode(&ts, &vs).unwrap();
        assert_same(&decode(&chunk), &s);
    }

    #[test]
    fn open_chunk_reads_every_prefix(s in samples()) {
        let mut enc = ChunkEncoder::new();
        for (i, &(t, v)) in s.iter().enumerate() {
            enc.push(t, v).unwrap();
            if i % 17 == 0 || i + 1 == s.len() {
                assert_same(&decode(&enc.snapshot()), &s[..=i]);
            }
        }
        prop_assert_eq!(enc.first_time(), s.first().map(|x| x.0));
        prop_assert_eq!(enc.last_time(), s.last().map(|x| x.0));
    }

    #[test]
    fn sealed_is_never_larger_than_open(s in samples()) {
        let mut enc = ChunkEncoder::new();
        for &(t, v) in &s {
            enc.push(t, v).unwrap();
        }
        let open = enc.snapshot().as_bytes().len();
        prop_assert!(enc.finish().as_bytes().len() <= open);
    }
}

#[test]
fn push_refuses_non_increasing_timestamps() {
    let mut enc = ChunkEncoder::new();
    enc.push(10, 1.0).unwrap();
    assert_eq!(
        enc.push(10, 2.0),
        Err(CodecError::OutOfOrder { last: 10, t: 10 })
    );
    assert_eq!(
        enc.push(9, 2.0),
        Err(CodecError::OutOfOrder { last: 10, t: 9 })
    );
    enc.push(11, 2.0).unwrap();
    assert_same(&decode(&enc.finish()), &[(10, 1.0), (11, 2.0)]);
}

#[test]
fn push_refuses_past_the_sample_limit() {
    let mut enc = ChunkEncoder::new();
    for i in 0..MAX_CHUNK_SAMPLES as i64 {
        enc.push(i, 0.0).unwrap();
    }
    assert_eq!(
        enc.push(i64::MAX, 0.0),
        Err(CodecError::ChunkFull {
            max: MAX_CHUNK_SAMPLES
        })
    );
    assert_eq!(decode(&enc.finish()).len(), MAX_CHUNK_SAMPLES);
}

#[test]
fn bulk_encode_refuses_bad_columns() {
    assert_eq!(
        Chunk::encode(&[1, 2], &[1.0]),
        Err(CodecError::LengthMismatch {
            timestamps: 2,
            values: 1
        })
    );
    assert_eq!(
        Chunk::encode(&[1, 3, 3], &[1.0, 2.0, 3.0]),
        Err(CodecError::OutOfOrder { last: 3, t: 3 })
    );
    let many: Vec<i64> = (0..=MAX_CHUNK_SAMPLES as i64).collect();
    let vals = vec![0.0; many.len()];
    assert_eq!(
        Chunk::encode(&many, &vals),
        Err(CodecError::ChunkFull {
            max: MAX_CHUNK_SAMPLES
        })
    );
}

#[test]
fn empty_chunk_round_trips() {
    let chunk = ChunkEncoder::new().finish();
    assert!(chunk.is_empty());
    assert!(decode(&Chunk::from_bytes(chunk.as_bytes().to_vec()).unwrap()).is_empty());
}
