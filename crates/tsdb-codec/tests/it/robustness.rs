//! Decoding hostile bytes: truncated, bit-flipped and random chunks must give
//! samples or an error — never a panic, a hang or an outsized allocation.

use proptest::prelude::*;
use tsdb_codec::{Chunk, ChunkRef, MAX_CHUNK_SAMPLES, MAX_SAMPLES_PER_BYTE};

use crate::encode;

/// Decodes arbitrary bytes through every entry point; checks the invariants that
/// hold even for garbage.
fn decode_garbage(bytes: &[u8]) {
    let Ok(chunk) = ChunkRef::new(bytes) else {
        assert!(Chunk::from_bytes(bytes.to_vec()).is_err());
        return;
    };
    assert!(chunk.len() <= MAX_CHUNK_SAMPLES);
    assert!(chunk.len() <= bytes.len() * MAX_SAMPLES_PER_BYTE);
    let (mut ts, mut vs) = (Vec::new(), Vec::new());
    match chunk.decode_into(&mut ts, &mut vs) {
        Ok(()) => {
            assert_eq!(ts.len(), chunk.len());
            assert_eq!(vs.len(), chunk.len());
            assert!(
                ts.windows(2).all(|w| w[0] < w[1]),
                "timestamps must increase"
            );
        }
        Err(_) => assert!(ts.is_empty() && vs.is_empty(), "nothing appended on error"),
    }
    let _ = chunk.iter().count();
}

/// Chunks of every encoding to mutate.
fn seeds() -> Vec<Vec<u8>> {
    let regular: Vec<(i64, f64)> = (0..120)
        .map(|i| (1_700_000_000_000 + i * 10_000, 20.0 + (i % 9) as f64 * 0.25))
        .collect();
    let jitter: Vec<(i64, f64)> = (0..120)
        .map(|i| (i * 15_000 + (i * 7919) % 11, (i as f64).sin() * 1e3))
        .collect();
    let counter: Vec<(i64, f64)> = (0..120)
        .map(|i| (i * 1000, if i < 60 { i * 40 } else { i - 60 } as f64))
        .collect();
    let special: Vec<(i64, f64)> = (0..40)
        .map(|i| {
            (
                i,
                if i % 5 == 0 {
                    f64::from_bits(0x7ff0_0000_0000_0002)
                } else {
                    1.5
                },
            )
        })
        .collect();
    let random: Vec<(i64, f64)> = (0..120u64)
        .map(|i| {
            (
                i as i64 * 3,
                f64::from_bits(i.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            )
        })
        .collect();
    // Scrapes at a fixed interval, a few late: the line with exceptions, whose
    // order is checked at the exceptions only.
    let late: Vec<(i64, f64)> = (0..120)
        .map(|i| {
            let late = if i % 37 == 5 { 4 * (i % 7 + 1) } else { 0 };
            (1_700_000_000_000 + i * 15_000 + late, 1.0)
        })
        .collect();
    // A random walk of 2-decimal values with bell-shaped steps and a reset: Rice
    // codes (format v3), one of them escaped.
    let mut state = 3u64;
    let mut cents = 5_000i64;
    let walk: Vec<(i64, f64)> = (0..120)
        .map(|i| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            cents += ((state >> 33) % 41) as i64 - 20;
            if i == 70 {
                cents = 12;
            }
            (i * 10_000 + (i * 31) % 7, cents as f64 / 100.0)
        })
        .collect();
    // An error counter: flat, stepping now and then (runs between exceptions).
    let sparse: Vec<(i64, f64)> = (0..120)
        .map(|i| (i * 15_000, [0.0, 1.0, 1.0, 4.0][(i / 35) as usize]))
        .collect();
    // A gauge that holds and steps up or down: sparse codes (format v4).
    let steps: Vec<(i64, f64)> = (0..120)
        .map(|i| (i * 15_000, [512.0, 470.0, 493.0, 77.0][(i / 31) as usize]))
        .collect();
    let mut out: Vec<Vec<u8>> = [
        regular, jitter, counter, special, random, late, walk, sparse, steps,
    ]
    .iter()
    .map(|s| encode(s).as_bytes().to_vec())
    .collect();
    assert!(out.iter().any(|c| c[0] == tsdb_codec::CHUNK_FORMAT_V3));
    assert!(out.iter().any(|c| c[0] == tsdb_codec::CHUNK_FORMAT_V4));
    // The open (Gorilla) form too.
    let mut enc = tsdb_codec::ChunkEncoder::new();
    for i in 0..120 {
        enc.push(i * 10_007, (i as f64) * 1.1).unwrap();
    }
    out.push(enc.snapshot().as_bytes().to_vec());
    out
}

/// A small deterministic PRNG so the sweep is reproducible.
struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn every_truncation_of_every_encoding() {
    for seed in seeds() {
        for len in 0..=seed.len() {
            decode_garbage(&seed[..len]);
        }
    }
}

/// One million mutated chunks: bit flips, byte overwrites, truncations and splices.
#[test]
fn a_million_mutated_chunks() {
    let seeds = seeds();
    let mut rng = XorShift(0x5eed_1234_abcd_ef01);
    let mut buf = Vec::new();
    let mut decoded_ok = 0usize;
    for round in 0..1_000_000usize {
        let seed = &seeds[round % seeds.len()];
        buf.clear();
        buf.extend_from_slice(seed);
        let mutations = 1 + (rng.next() % 4) as usize;
        for _ in 0..mutations {
            let pos = (rng.next() as usize) % buf.len().max(1);
            match rng.next() % 5 {
                0 | 1 => {
                    if let Some(b) = buf.get_mut(pos) {
                        *b ^= 1 << (rng.next() % 8);
                    }
                }
                2 => {
                    if let Some(b) = buf.get_mut(pos) {
                        *b = rng.next() as u8;
                    }
                }
                3 => buf.truncate(pos),
                _ => {
                    let other = &seeds[(rng.next() as usize) % seeds.len()];
                    let from = (rng.next() as usize) % other.len();
                    buf.truncate(pos);
                    buf.extend_from_slice(&other[from..]);
                }
            }
        }
        let (mut ts, mut vs) = (Vec::new(), Vec::new());
        if let Ok(c) = ChunkRef::new(&buf)
            && c.decode_into(&mut ts, &mut vs).is_ok()
        {
            decoded_ok += 1;
            assert!(ts.windows(2).all(|w| w[0] < w[1]));
        }
    }
    // Some mutations (a flipped value bit) still decode; most do not.
    assert!(decoded_ok > 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        decode_garbage(&bytes);
    }

    #[test]
    fn random_bytes_behind_a_valid_header(
        enc in 0u8..3, ts_enc in 0u8..2, count in 0u8..200, body in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut bytes = vec![1, (ts_enc << 4) | enc, count & 0x7f, (body.len() as u8 / 2) & 0x7f];
        bytes.extend_from_slice(&body);
        decode_garbage(&bytes);
    }
}
