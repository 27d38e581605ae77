//! Block scan throughput: samples decoded per second from one day of TSBS
//! devops `cpu` data (1 000 series × 8 640 samples, 2 decimals) in twelve 2 h
//! blocks, with 1 and 2 threads splitting the series. Wall time (threads).
//!
//! `cargo bench --bench block_scan -- --warm-up-time 1 --measurement-time 3`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

#[path = "common/devops.rs"]
#[allow(dead_code)]
mod devops;
#[path = "common/tsbs_cpu.rs"]
mod tsbs_cpu;

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tsdb::core::block::{Block, BlockWriter, new_block_id};

const PER_BLOCK: usize = 720;

fn write_day(dir: &std::path::Path) -> Vec<Arc<Block>> {
    let labels = tsbs_cpu::labels();
    let values: Vec<Vec<f64>> = (0..labels.len())
        .map(|k| tsbs_cpu::values(k, tsbs_cpu::DAY_SAMPLES, Some(2)))
        .collect();
    let mut out = Vec::new();
    for b in 0..tsbs_cpu::DAY_SAMPLES / PER_BLOCK {
        let ts = tsbs_cpu::timestamps(b * PER_BLOCK, PER_BLOCK);
        let id = new_block_id();
        let mut w = BlockWriter::create(dir, &id).unwrap();
        for (l, vs) in labels.iter().zip(&values) {
            w.add_samples(l.clone(), &ts, &vs[b * PER_BLOCK..(b + 1) * PER_BLOCK])
                .unwrap();
        }
        w.finish(1, Vec::new()).unwrap();
        out.push(Arc::new(Block::open(dir.join(id)).unwrap()));
    }
    out
}

fn scan(blocks: &[Arc<Block>], threads: usize) -> u64 {
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|k| {
                s.spawn(move || {
                    let (mut ts, mut vs) = (Vec::new(), Vec::new());
                    let mut n = 0u64;
                    for b in blocks {
                        for id in (k..b.num_series()).step_by(threads) {
                            ts.clear();
                            vs.clear();
                            b.read_series(id as u32, i64::MIN, i64::MAX, &mut ts, &mut vs)
                                .unwrap();
                            n += ts.len() as u64;
                        }
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    })
}

fn block_scan(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let blocks = write_day(dir.path());
    let total = (tsbs_cpu::HOSTS * tsbs_cpu::FIELDS * tsbs_cpu::DAY_SAMPLES) as u64;
    let mut g = c.benchmark_group("block_scan");
    g.throughput(Throughput::Elements(total));
    g.sample_size(10);
    for threads in [1, 2] {
        g.bench_function(format!("tsbs_cpu_day_{threads}_threads"), |b| {
            b.iter(|| assert_eq!(scan(&blocks, threads), total));
        });
    }
    g.finish();
}

criterion_group!(benches, block_scan);
criterion_main!(benches);
