//! TSBS devops `cpu` data: 100 hosts × 10 `cpu_usage_*` fields, one sample
//! every 10 s, each a random walk clamped to [0, 100] (TSBS's
//! `ClampedRandomWalkDistribution` with N(0, 1) steps), generated from a
//! fixed seed. TSBS writes the values at full precision; exporters usually
//! round them, so a rounding is offered too.

#![allow(dead_code)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tsdb::index::Labels;

/// Hosts.
pub const HOSTS: usize = 100;
/// `cpu` fields per host.
pub const FIELDS: usize = 10;
/// Sample interval.
pub const INTERVAL_MS: i64 = 10_000;
/// One day of samples per series.
pub const DAY_SAMPLES: usize = 8_640;
/// 2023-11-14T22:13:20Z aligned down to a day.
pub const START_MS: i64 = 1_699_920_000_000;

use super::devops::CPU_FIELDS;

/// The 1 000 label sets, in label order.
pub fn labels() -> Vec<Labels> {
    let mut out = Vec::with_capacity(HOSTS * FIELDS);
    for host in 0..HOSTS {
        let base = crate::devops::host_labels(host);
        for f in CPU_FIELDS {
            let mut pairs = base.clone();
            pairs.push(("__name__".into(), format!("cpu_{f}")));
            out.push(Labels::new(pairs).unwrap());
        }
    }
    out.sort();
    out
}

fn normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.r#gen();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Values of series `k` for samples `0..n`: full precision when `decimals`
/// is `None`, else rounded to that many decimals.
pub fn values(k: usize, n: usize, decimals: Option<i32>) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(0x7ab5 ^ k as u64);
    let mut v: f64 = rng.gen_range(0.0..100.0);
    let scale = decimals.map(|d| 10f64.powi(d));
    (0..n)
        .map(|_| {
            v = (v + normal(&mut rng)).clamp(0.0, 100.0);
            match scale {
                Some(s) => (v * s).round() / s,
                None => v,
            }
        })
        .collect()
}

/// Timestamps of samples `from..from + n`.
pub fn timestamps(from: usize, n: usize) -> Vec<i64> {
    (from..from + n)
        .map(|i| START_MS + i as i64 * INTERVAL_MS)
        .collect()
}
