//! Time to open a database holding 100 blocks (1 000 TSBS devops `cpu`
//! series × 120 samples each): listing, `meta.json`, mapping and checking
//! each block's chunks and index headers, tables and checksums.
//!
//! `cargo bench --bench block_open -- --warm-up-time 1 --measurement-time 3`
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

use criterion::{Criterion, criterion_group, criterion_main};
use tsdb::core::block::{BlockWriter, new_block_id};
use tsdb::core::{Db, Options};

const BLOCKS: usize = 100;
const PER_BLOCK: usize = 120;

fn block_open(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let blocks_dir = dir.path().join("blocks");
    std::fs::create_dir_all(&blocks_dir).unwrap();
    let labels = tsbs_cpu::labels();
    let values: Vec<Vec<f64>> = (0..labels.len())
        .map(|k| tsbs_cpu::values(k, PER_BLOCK, Some(2)))
        .collect();
    for b in 0..BLOCKS {
        let ts = tsbs_cpu::timestamps(b * PER_BLOCK, PER_BLOCK);
        let mut w = BlockWriter::create(&blocks_dir, &new_block_id()).unwrap();
        for (l, vs) in labels.iter().zip(&values) {
            w.add_samples(l.clone(), &ts, vs).unwrap();
        }
        w.finish(1, Vec::new()).unwrap();
    }
    let options = || Options {
        maintenance_interval: None,
        ..Options::default()
    };
    let mut g = c.benchmark_group("block_open");
    g.sample_size(10);
    g.bench_function("db_with_100_blocks", |b| {
        b.iter(|| {
            let db = Db::open(dir.path(), options()).unwrap();
            assert_eq!(db.blocks().len(), BLOCKS);
            db.close().unwrap();
        });
    });
    g.finish();
}

criterion_group!(benches, block_open);
criterion_main!(benches);
