//! PromQL query latency: the TSBS devops queries over 100 hosts × 10 cpu fields ×
//! 1 day at 10 s (8.64 M samples, in a `MemQuerier`), `histogram_quantile` over
//! 100 histograms × 12 buckets, and the heavy queries on 1 vs 2 threads.
//!
//! Run briefly: `cargo bench --bench query -- --warm-up-time 1 --measurement-time 3`.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tsdb::core::{Labels, Series};
use tsdb::query::testing::MemQuerier;

#[path = "common/devops.rs"]
#[allow(dead_code)]
mod devops;
use tsdb::query::{Engine, EngineOptions};

const HOSTS: usize = 100;
const INTERVAL_MS: i64 = 10_000;
const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;
const MIN_MS: i64 = 60_000;
const BUCKETS: [&str; 12] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
];

fn host_labels(metric: &str, host: usize) -> Vec<(String, String)> {
    let regions = ["us-east-1", "us-west-1", "eu-west-1", "ap-southeast-1"];
    vec![
        ("__name__".into(), metric.into()),
        ("hostname".into(), format!("host_{host}")),
        ("region".into(), regions[host % regions.len()].into()),
        (
            "datacenter".into(),
            format!("{}a", regions[host % regions.len()]),
        ),
        ("rack".into(), (host % 17).to_string()),
        ("os".into(), "Ubuntu16.04LTS".into()),
        ("service".into(), (host % 20).to_string()),
    ]
}

/// TSBS cpu data: a bounded random walk per (host, field), 1 day at 10 s.
fn devops() -> MemQuerier {
    let q = MemQuerier::new();
    let mut rng = StdRng::seed_from_u64(42);
    let n = (DAY_MS / INTERVAL_MS) as usize;
    let ts: Vec<i64> = (0..n as i64).map(|i| i * INTERVAL_MS).collect();
    for host in 0..HOSTS {
        for field in devops::CPU_FIELDS {
            let mut v: f64 = rng.gen_range(0.0..100.0);
            let values: Vec<f64> = (0..n)
                .map(|_| {
                    v = (v + rng.gen_range(-4.0..4.0)).clamp(0.0, 100.0);
                    (v * 100.0).round() / 100.0
                })
                .collect();
            let labels = Labels::new(host_labels(&format!("cpu_{field}"), host)).unwrap();
            q.insert_series(Series {
                labels,
                timestamps: ts.clone(),
                values,
            });
        }
    }
    // Latency histograms: 100 services × 12 cumulative buckets, last 2 hours.
    let start = DAY_MS - 2 * HOUR_MS;
    let hts: Vec<i64> = (start / INTERVAL_MS..DAY_MS / INTERVAL_MS)
        .map(|i| i * INTERVAL_MS)
        .collect();
    for svc in 0..100 {
        let mut counts = [0f64; 12];
        let mut cols: Vec<Vec<f64>> = (0..12).map(|_| Vec::with_capacity(hts.len())).collect();
        for _ in &hts {
            let mut cum = 0.0;
            for (b, c) in counts.iter_mut().enumerate() {
                cum += rng.gen_range(0.0..10.0) * (1.0 + b as f64 / 4.0);
                *c += cum.floor();
            }
            // keep buckets cumulative
            for b in 1..12 {
                if counts[b] < counts[b - 1] {
                    counts[b] = counts[b - 1];
                }
            }
            for (b, col) in cols.iter_mut().enumerate() {
                col.push(counts[b]);
            }
        }
        for (b, col) in cols.into_iter().enumerate() {
            let labels = Labels::new([
                (
                    "__name__",
                    "http_request_duration_seconds_bucket".to_string(),
                ),
                ("service", format!("svc_{svc}")),
                ("le", BUCKETS[b].to_string()),
            ])
            .unwrap();
            q.insert_series(Series {
                labels,
                timestamps: hts.clone(),
                values: col,
            });
        }
    }
    q
}

struct Query {
    name: &'static str,
    expr: &'static str,
    /// Range length (0 = instant query at the end of the data).
    range_ms: i64,
    step_ms: i64,
    heavy: bool,
}

const END: i64 = DAY_MS - INTERVAL_MS;

const QUERIES: &[Query] = &[
    Query {
        name: "single-groupby-1-1-1",
        expr: r#"max(max_over_time(cpu_usage_user{hostname="host_7"}[1m]))"#,
        range_ms: HOUR_MS,
        step_ms: MIN_MS,
        heavy: false,
    },
    Query {
        name: "single-groupby-5-1-12",
        expr: r#"max by (field) (max_over_time(label_replace({__name__=~"cpu_(usage_user|usage_system|usage_idle|usage_nice|usage_iowait)", hostname="host_7"}, "field", "$1", "__name__", "cpu_(.*)")[1m:10s]))"#,
        range_ms: 12 * HOUR_MS,
        step_ms: MIN_MS,
        heavy: true,
    },
    Query {
        name: "double-groupby-1",
        expr: "avg by (hostname) (avg_over_time(cpu_usage_user[1h]))",
        range_ms: 12 * HOUR_MS,
        step_ms: HOUR_MS,
        heavy: true,
    },
    Query {
        name: "cpu-max-all-8",
        expr: r#"max by (hostname, field) (max_over_time(label_replace({__name__=~"cpu_.*", hostname=~"host_[1-8]"}, "field", "$1", "__name__", "cpu_(.*)")[1h:10s]))"#,
        range_ms: 8 * HOUR_MS,
        step_ms: HOUR_MS,
        heavy: true,
    },
    Query {
        name: "high-cpu-1",
        expr: r#"cpu_usage_user{hostname="host_7"} > 90"#,
        range_ms: 12 * HOUR_MS,
        step_ms: INTERVAL_MS,
        heavy: false,
    },
    Query {
        name: "lastpoint",
        expr: r#"{__name__=~"cpu_.*"}"#,
        range_ms: 0,
        step_ms: 0,
        heavy: false,
    },
    Query {
        name: "groupby-orderby-limit",
        expr: "max(max_over_time(cpu_usage_user[1m]))",
        range_ms: 5 * MIN_MS,
        step_ms: MIN_MS,
        heavy: false,
    },
    Query {
        name: "histogram_quantile",
        expr: "histogram_quantile(0.99, sum by (service, le) (rate(http_request_duration_seconds_bucket[5m])))",
        range_ms: HOUR_MS,
        step_ms: MIN_MS,
        heavy: true,
    },
];

fn engine(q: &Arc<MemQuerier>, threads: usize) -> Engine<Arc<MemQuerier>> {
    Engine::with_options(
        q.clone(),
        EngineOptions {
            cache_entries: 0,
            threads: Some(threads),
            ..EngineOptions::default()
        },
    )
}

fn run(e: &Engine<Arc<MemQuerier>>, q: &Query) -> usize {
    let v = if q.range_ms == 0 {
        e.instant(q.expr, END)
    } else {
        e.range(q.expr, END - q.range_ms, END, q.step_ms)
    };
    v.unwrap().num_points()
}

fn bench_queries(c: &mut Criterion) {
    let data = Arc::new(devops());
    let two = engine(&data, 2);
    let one = engine(&data, 1);
    for q in QUERIES {
        assert!(run(&two, q) > 0, "{} returned nothing", q.name);
    }
    let mut g = c.benchmark_group("query");
    for q in QUERIES {
        g.bench_function(q.name, |b| b.iter(|| run(&two, q)));
    }
    g.finish();
    let mut g = c.benchmark_group("query_1_thread");
    for q in QUERIES.iter().filter(|q| q.heavy) {
        g.bench_function(q.name, |b| b.iter(|| run(&one, q)));
    }
    g.finish();
}

criterion_group!(benches, bench_queries);
criterion_main!(benches);
