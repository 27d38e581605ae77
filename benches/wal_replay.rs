//! WAL replay (recovery on open) of `tsdb-core`: 10 000 series × 120 samples,
//! from raw WAL records and from a checkpoint. The 1 M-series figure comes from
//! `cargo run --release --example replay_report`.
//!
//! `cargo bench --bench wal_replay -- --warm-up-time 1 --measurement-time 3`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tsdb::core::{BatchSample, Db, Labels, Options};

const SERIES: usize = 10_000;
const SAMPLES: i64 = 120;

fn fill(dir: &std::path::Path) {
    let db = Db::open(dir, Options::default()).unwrap();
    let labels: Vec<Labels> = (0..SERIES)
        .map(|i| {
            Labels::new([
                ("__name__", "http_requests_total".to_string()),
                ("instance", format!("host-{i:05}:8080")),
                ("job", "api".to_string()),
            ])
            .unwrap()
        })
        .collect();
    for k in 0..SAMPLES {
        for part in labels.chunks(1_000) {
            let batch: Vec<BatchSample> = part
                .iter()
                .enumerate()
                .map(|(i, l)| BatchSample {
                    labels: l.clone(),
                    t_ms: 1_700_000_000_000 + k * 15_000,
                    value: (k * 3 + i as i64 % 7) as f64,
                })
                .collect();
            db.append_batch(&batch, None).unwrap();
        }
    }
    db.close().unwrap();
}

fn replay(c: &mut Criterion) {
    let mut g = c.benchmark_group("wal_replay");
    g.throughput(Throughput::Elements(SERIES as u64 * SAMPLES as u64));
    g.sample_size(10);
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path());
    g.bench_function("wal_records_10k_series_x120", |b| {
        b.iter(|| {
            let db = Db::open(dir.path(), Options::default()).unwrap();
            assert_eq!(
                db.recovery_report().samples_replayed,
                SERIES as u64 * SAMPLES as u64
            );
            db
        })
    });
    let db = Db::open(dir.path(), Options::default()).unwrap();
    db.checkpoint().unwrap();
    db.close().unwrap();
    g.bench_function("checkpoint_10k_series_x120", |b| {
        b.iter(|| {
            let db = Db::open(dir.path(), Options::default()).unwrap();
            assert_eq!(db.recovery_report().checkpoint_series, SERIES as u64);
            db
        })
    });
    g.finish();
}

criterion_group!(benches, replay);
criterion_main!(benches);
