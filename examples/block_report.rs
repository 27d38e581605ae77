//! Block figures on TSBS devops `cpu` data (100 hosts × 10 fields, 10 s, one
//! day = 8.64 M samples): on-disk bytes/sample after cutting the head into
//! blocks and compacting them (chunks + index), block scan throughput (samples
//! decoded per second, 1 and 2 threads), and the time to open a database with
//! 100 blocks.
//!
//! `cargo run --release --example block_report`
//!
//! With `--prometheus-json FILE` (a capture as `codec_report` takes it), instead:
//! the bytes/sample of one block holding the capture's series, and what its
//! chunks would take with every timestamp section in place (chunks file
//! version 1), against sharing the sections a target's series repeat (v2).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "common/datasets.rs"]
mod datasets;
#[path = "../benches/common/devops.rs"]
#[allow(dead_code)]
mod devops;
#[path = "common/prometheus_json.rs"]
mod prometheus_json;
#[path = "../benches/common/tsbs_cpu.rs"]
mod tsbs_cpu;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tsdb::core::block::{Block, BlockWriter, new_block_id};
use tsdb::core::{BatchSample, Db, Options};

fn options() -> Options {
    Options {
        maintenance_interval: None,
        compaction_bytes_per_sec: 0,
        ..Options::default()
    }
}

/// Ingests one day through the WAL and head, cuts every sample into blocks,
/// compacts; returns (samples, bytes of chunks + index, blocks, levels).
fn ingest_cut_compact(dir: &Path, decimals: Option<i32>) -> (u64, u64, usize, Vec<u32>) {
    let labels = tsbs_cpu::labels();
    let n = tsbs_cpu::DAY_SAMPLES;
    let values: Vec<Vec<f64>> = (0..labels.len())
        .map(|k| tsbs_cpu::values(k, n, decimals))
        .collect();
    let ts = tsbs_cpu::timestamps(0, n);
    let db = Db::open(dir, options()).unwrap();
    let started = Instant::now();
    for (i, &t) in ts.iter().enumerate() {
        let batch: Vec<BatchSample> = labels
            .iter()
            .zip(&values)
            .map(|(l, vs)| BatchSample {
                labels: l.clone(),
                t_ms: t,
                value: vs[i],
            })
            .collect();
        db.append_batch(&batch, None).unwrap();
    }
    let ingest = started.elapsed();
    let started = Instant::now();
    db.cut_blocks_before(i64::MAX).unwrap();
    let cut = started.elapsed();
    let started = Instant::now();
    db.compact_blocks().unwrap();
    let compact = started.elapsed();
    let blocks = db.blocks();
    eprintln!(
        "  ingest {:.2} s, cut {:.2} s, compact {:.2} s",
        ingest.as_secs_f64(),
        cut.as_secs_f64(),
        compact.as_secs_f64()
    );
    let samples = blocks.iter().map(|b| b.stats.num_samples).sum();
    let bytes = blocks
        .iter()
        .map(|b| b.stats.chunks_bytes + b.stats.index_bytes)
        .sum();
    let levels = blocks.iter().map(|b| b.compaction.level).collect();
    db.close().unwrap();
    (samples, bytes, blocks.len(), levels)
}

/// CPU time of this thread: the machine is shared, so wall time counts other
/// processes' work too.
fn cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Decodes every series of `blocks`, split over `threads`: samples per
/// wall-clock second, samples per CPU second (per core), samples.
fn scan(blocks: &[Arc<Block>], threads: usize) -> (f64, f64, u64) {
    let started = Instant::now();
    let total = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|k| {
                s.spawn(move || {
                    let cpu = cpu_time();
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
                    (n, cpu_time() - cpu)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .fold((0u64, Duration::ZERO), |(n, c), (m, d)| (n + m, c + d))
    });
    let (total, cpu) = total;
    (
        total as f64 / started.elapsed().as_secs_f64(),
        total as f64 / cpu.as_secs_f64(),
        total,
    )
}

fn open_blocks(dir: &Path) -> Vec<Arc<Block>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir.join("blocks")).unwrap() {
        let p = e.unwrap().path();
        if p.join("meta.json").exists() {
            out.push(Arc::new(Block::open(&p).unwrap()));
        }
    }
    out
}

/// One block of the series in a Prometheus query response (see
/// `examples/common/prometheus_json.rs`): its chunks file against its chunks
/// with their timestamp sections in place.
fn real_block(path: &str) {
    let mut series: Vec<(tsdb::core::Labels, Vec<i64>, Vec<f64>)> =
        prometheus_json::prometheus_series(path)
            .unwrap()
            .into_iter()
            .map(|(metric, samples)| {
                let (ts, vs) = samples.into_iter().unzip();
                (tsdb::core::Labels::new(metric).unwrap(), ts, vs)
            })
            .collect();
    series.sort_by(|a, b| a.0.cmp(&b.0));
    let dir = tempfile::tempdir().unwrap();
    let mut w = BlockWriter::create(dir.path(), &new_block_id()).unwrap();
    for (l, ts, vs) in &series {
        w.add_samples(l.clone(), ts, vs).unwrap();
    }
    let meta = w.finish(1, Vec::new()).unwrap();
    let block = Block::open(dir.path().join(&meta.id)).unwrap();
    let (mut in_place, mut ts_bytes) = (0usize, 0usize);
    let mut distinct = std::collections::HashSet::new();
    for id in 0..block.num_series() as u32 {
        for (_, _, c) in block.chunks(id).unwrap() {
            let [h, t, _] = c.as_ref().section_lens();
            in_place += c.as_bytes().len();
            ts_bytes += t;
            distinct.insert(c.as_bytes()[h..h + t].to_vec());
        }
    }
    // Version 1 stores the same chunks whole: header, per series a count, 20
    // bytes a chunk and a CRC, a 12-byte table entry, footer.
    let v1 = 16
        + 12 * meta.stats.num_series as usize
        + 8 * meta.stats.num_series as usize
        + 20 * meta.stats.num_chunks as usize
        + in_place
        + 24;
    let version = std::fs::read(dir.path().join(&meta.id).join("chunks")).unwrap()[4];
    let n = meta.stats.num_samples as f64;
    println!(
        "{path}: {} series, {} samples in {} chunks ({} distinct timestamp sections, \
         {:.1} % of the chunk bytes): chunks file version {version} {:.3} B/sample, \
         version 1 (every section in place) {:.3} B/sample ({:+.1} %)",
        meta.stats.num_series,
        meta.stats.num_samples,
        meta.stats.num_chunks,
        distinct.len(),
        100.0 * ts_bytes as f64 / in_place as f64,
        meta.stats.chunks_bytes as f64 / n,
        v1 as f64 / n,
        100.0 * (meta.stats.chunks_bytes as f64 / v1 as f64 - 1.0),
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--prometheus-json") {
        real_block(args.get(i + 1).expect("--prometheus-json needs a file"));
        return;
    }
    println!("TSBS devops cpu: 100 hosts x 10 fields, 10 s interval, 1 day");
    for (name, decimals) in [
        ("full precision (as TSBS writes)", None),
        ("rounded to 1 decimal", Some(1)),
        ("rounded to 2 decimals", Some(2)),
    ] {
        let dir = tempfile::tempdir().unwrap();
        println!("{name}:");
        let (samples, bytes, nblocks, levels) = ingest_cut_compact(dir.path(), decimals);
        println!(
            "  after compaction: {nblocks} blocks (levels {levels:?}), {samples} samples, {bytes} bytes: {:.3} bytes/sample",
            bytes as f64 / samples as f64
        );
        let blocks = open_blocks(dir.path());
        for threads in [1, 2] {
            let (mut wall, mut core) = (0f64, 0f64);
            for _ in 0..5 {
                let (w, c, n) = scan(&blocks, threads);
                assert_eq!(n, samples);
                wall = wall.max(w);
                core = core.max(c);
            }
            println!(
                "  scan, {threads} thread(s): {:.1} M samples/s wall, {:.1} M samples/s per core (CPU time)",
                wall / 1e6,
                core / 1e6
            );
        }
    }

    // 100 blocks of 2 h (1 000 series × 720 samples each) written directly.
    let dir = tempfile::tempdir().unwrap();
    let blocks_dir = dir.path().join("blocks");
    std::fs::create_dir_all(&blocks_dir).unwrap();
    let labels = tsbs_cpu::labels();
    let per = 720;
    let values: Vec<Vec<f64>> = (0..labels.len())
        .map(|k| tsbs_cpu::values(k, per, Some(2)))
        .collect();
    for b in 0..100 {
        let ts = tsbs_cpu::timestamps(b * per, per);
        let mut w = BlockWriter::create(&blocks_dir, &new_block_id()).unwrap();
        for (l, vs) in labels.iter().zip(&values) {
            w.add_samples(l.clone(), &ts, vs).unwrap();
        }
        w.finish(1, Vec::new()).unwrap();
    }
    let mut times = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let db = Db::open(dir.path(), options()).unwrap();
        times.push(started.elapsed());
        assert_eq!(db.blocks().len(), 100);
        db.close().unwrap();
    }
    times.sort();
    println!(
        "open with 100 blocks (1 000 series x 720 samples each): median {:.1} ms, best {:.1} ms",
        times[2].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3
    );
}
