//! Synthetic metric datasets shared by the codec report example and the codec
//! benchmarks. Each dataset is a list of 120-sample chunks, generated from a fixed
//! seed so every run measures the same bytes.

#![allow(dead_code)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Samples per chunk, as the head cuts them.
pub const CHUNK: usize = 120;
/// Chunks per dataset.
pub const CHUNKS: usize = 200;
/// 2023-11-14T22:13:20Z, a realistic epoch-milliseconds start.
const START_MS: i64 = 1_700_000_000_000;
const INTERVAL_MS: i64 = 10_000;
/// Series of the scrape target in the shared-timestamps dataset.
const TARGET_SERIES: usize = 10;

/// One named dataset: chunks of (timestamps, values).
pub struct Dataset {
    pub name: &'static str,
    pub chunks: Vec<(Vec<i64>, Vec<f64>)>,
}

impl Dataset {
    pub fn samples(&self) -> usize {
        self.chunks.iter().map(|(t, _)| t.len()).sum()
    }
}

fn normal(rng: &mut StdRng) -> f64 {
    // Box–Muller.
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.r#gen();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn regular_ts(chunk: usize) -> Vec<i64> {
    let base = START_MS + (chunk * CHUNK) as i64 * INTERVAL_MS;
    (0..CHUNK as i64).map(|i| base + i * INTERVAL_MS).collect()
}

fn jittered_ts(rng: &mut StdRng, chunk: usize) -> Vec<i64> {
    regular_ts(chunk)
        .into_iter()
        .map(|t| t + rng.gen_range(-5..=5))
        .collect()
}

fn build(
    name: &'static str,
    seed: u64,
    mut f: impl FnMut(&mut StdRng, usize) -> (Vec<i64>, Vec<f64>),
) -> Dataset {
    let mut rng = StdRng::seed_from_u64(seed);
    Dataset {
        name,
        chunks: (0..CHUNKS).map(|c| f(&mut rng, c)).collect(),
    }
}

/// A gauge with two decimals (e.g. a temperature or a percentage), random walk.
fn gauge_2dp(rng: &mut StdRng, level: &mut f64) -> Vec<f64> {
    (0..CHUNK)
        .map(|_| {
            *level = (*level + normal(rng) * 0.25).clamp(0.0, 100.0);
            (*level * 100.0).round() / 100.0
        })
        .collect()
}

/// All the datasets the codec report prints.
pub fn all() -> Vec<Dataset> {
    let mut level = 50.0;
    let gauge = build("gauge, 2 decimals, 10 s", 1, |rng, c| {
        (regular_ts(c), gauge_2dp(rng, &mut level))
    });

    let mut walk = 1000.0;
    let float = build("float random walk, full precision", 2, |rng, c| {
        let vs = (0..CHUNK)
            .map(|_| {
                walk += normal(rng);
                walk
            })
            .collect();
        (regular_ts(c), vs)
    });

    let mut count = 0.0f64;
    let counter = build("integer counter with resets", 3, |rng, c| {
        let vs = (0..CHUNK)
            .map(|_| {
                if rng.gen_ratio(1, 2000) {
                    count = 0.0;
                }
                // About 40 requests per 10 s, Poisson-like.
                count += (40.0 + normal(rng) * 40f64.sqrt()).round().max(0.0);
                count
            })
            .collect();
        (regular_ts(c), vs)
    });

    let mut level2 = 50.0;
    let jitter = build("jittered timestamps (±5 ms), 2 decimals", 4, |rng, c| {
        let ts = jittered_ts(rng, c);
        (ts, gauge_2dp(rng, &mut level2))
    });

    let constant = build("constant", 5, |_, c| (regular_ts(c), vec![1.0; CHUNK]));

    let random = build("random f64", 6, |rng, c| {
        (
            regular_ts(c),
            (0..CHUNK).map(|_| rng.r#gen::<f64>()).collect(),
        )
    });

    let mut rss = 180_000_000.0f64;
    let bytes = build("memory bytes (page multiples)", 7, |rng, c| {
        let vs = (0..CHUNK)
            .map(|_| {
                // Resident memory moves by whole 4 KiB pages.
                rss += (normal(rng) * 64.0).round() * 4096.0;
                rss
            })
            .collect();
        (regular_ts(c), vs)
    });

    let mut errors = 0.0f64;
    let sparse = build("sparse counter (errors, mostly flat)", 8, |rng, c| {
        let vs = (0..CHUNK)
            .map(|_| {
                if rng.gen_ratio(1, 15) {
                    errors += f64::from(rng.gen_range(1u8..4));
                }
                errors
            })
            .collect();
        (regular_ts(c), vs)
    });

    let mut step = 512.0f64;
    let steps = build("step gauge (changes every ~10 scrapes)", 9, |rng, c| {
        let vs = (0..CHUNK)
            .map(|_| {
                if rng.gen_ratio(1, 10) {
                    step = (step + normal(rng) * 40.0).round().max(0.0);
                }
                step
            })
            .collect();
        (regular_ts(c), vs)
    });

    // One scrape stamps every series of a target with the same time: 10 gauges
    // sharing each window's jittered timestamps, sealed window by window as the
    // head cuts them (all series of the target at the same scrape). 20 windows,
    // more than the codec's memos keep, so a benchmark's next pass over the set
    // finds none of its windows left from the last.
    let mut levels = [50.0; TARGET_SERIES];
    let mut shared_ts = Vec::new();
    let target = build(
        "a target's 10 series, shared jittered timestamps",
        10,
        |rng, c| {
            if c % TARGET_SERIES == 0 {
                shared_ts = jittered_ts(rng, c / TARGET_SERIES);
            }
            let mut vs = Vec::new();
            if let Some(level) = levels.get_mut(c % TARGET_SERIES) {
                vs = gauge_2dp(rng, level);
            }
            (shared_ts.clone(), vs)
        },
    );

    vec![
        gauge, float, counter, jitter, constant, random, bytes, sparse, steps, target,
    ]
}
