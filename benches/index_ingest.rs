//! Series index ingest path: looking up existing series and creating new ones,
//! with TSBS devops-style labels.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

#[path = "common/devops.rs"]
mod devops;

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tsdb::index::{CardinalityLimits, MemIndex};

const SERIES: usize = 1_000_000;
const BATCH: usize = 100_000;

fn lookup(c: &mut Criterion) {
    let all = devops::series(SERIES);
    let idx = MemIndex::new(CardinalityLimits::unlimited());
    for l in &all {
        idx.get_or_create(l).unwrap();
    }
    // A scattered order, as samples of many series arrive interleaved.
    let probe: Vec<_> = (0..BATCH)
        .map(|i| all[(i * 7919) % SERIES].clone())
        .collect();
    let mut g = c.benchmark_group("index_lookup");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("get_existing_1M", |b| {
        b.iter(|| {
            for l in &probe {
                black_box(idx.get(l));
            }
        })
    });
    g.bench_function("get_or_create_existing_1M", |b| {
        b.iter(|| {
            for l in &probe {
                black_box(idx.get_or_create(l).unwrap());
            }
        })
    });
    g.finish();
}

fn create(c: &mut Criterion) {
    let all = devops::series(BATCH);
    let mut g = c.benchmark_group("index_create");
    g.sample_size(10);
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("create_100k", |b| {
        b.iter_batched(
            || MemIndex::new(CardinalityLimits::unlimited()),
            |idx| {
                for l in &all {
                    black_box(idx.get_or_create(l).unwrap());
                }
                idx
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, lookup, create);
criterion_main!(benches);
