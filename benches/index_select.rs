//! Series selection latency over 1 M TSBS devops-style series.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

#[path = "common/cpu_time.rs"]
mod cpu_time;
#[path = "common/devops.rs"]
mod devops;

use std::hint::black_box;

use cpu_time::CpuTime;
use criterion::{Criterion, criterion_group, criterion_main};
use tsdb::index::{CardinalityLimits, IndexReader, IndexWriter, MatchOp, Matcher, MemIndex};

const SERIES: usize = 1_000_000;

fn select(c: &mut Criterion<CpuTime>) {
    let idx = MemIndex::new(CardinalityLimits::unlimited());
    for l in devops::series(SERIES) {
        idx.get_or_create(&l).unwrap();
    }
    let eq = Matcher::equal;
    let re = |n, v| Matcher::new(MatchOp::RegexMatch, n, v).unwrap();
    let cases: Vec<(&str, Vec<Matcher>)> = vec![
        ("1_host", vec![eq("hostname", "host_4242")]),
        (
            "2_metric_host",
            vec![
                eq("__name__", "cpu_usage_user"),
                eq("hostname", "host_4242"),
            ],
        ),
        (
            "3_metric_region_service",
            vec![
                eq("__name__", "cpu_usage_user"),
                eq("region", "eu-west-1"),
                eq("service", "7"),
            ],
        ),
        (
            "regex_alternation_8_hosts",
            vec![
                eq("__name__", "cpu_usage_user"),
                re(
                    "hostname",
                    "host_1|host_2|host_3|host_4|host_5|host_6|host_7|host_8",
                ),
            ],
        ),
        (
            "regex_general",
            vec![
                eq("__name__", "cpu_usage_user"),
                re("hostname", "host_4[0-9]{2}"),
            ],
        ),
        (
            "regex_prefix",
            vec![re("__name__", "cpu_.*"), eq("hostname", "host_4242")],
        ),
        (
            "not_equal",
            vec![
                eq("__name__", "cpu_usage_user"),
                Matcher::not_equal("region", "eu-west-1"),
            ],
        ),
    ];
    let mut g = c.benchmark_group("index_select_1M");
    for (name, ms) in &cases {
        let n = idx.select(ms).unwrap().len();
        eprintln!("{name}: {n} series");
        g.bench_function(*name, |b| b.iter(|| black_box(idx.select(ms).unwrap())));
    }
    g.finish();

    // The same queries on the persisted form, read through a memory map.
    let path = std::env::temp_dir().join(format!("tsdb-index-bench-{}.index", std::process::id()));
    let w: IndexWriter = idx.all_series().into_iter().collect();
    let t = std::time::Instant::now();
    w.write_file(&path).unwrap();
    eprintln!("write 1M-series index: {:?}", t.elapsed());
    let t = std::time::Instant::now();
    let disk = IndexReader::open(&path).unwrap();
    eprintln!(
        "open: {:?}; file {} bytes = {:.1} bytes/series",
        t.elapsed(),
        disk.file_bytes(),
        disk.file_bytes() as f64 / SERIES as f64
    );
    let mut g = c.benchmark_group("index_select_1M_mmap");
    for (name, ms) in &cases {
        assert_eq!(disk.select(ms).unwrap(), idx.select(ms).unwrap());
        g.bench_function(*name, |b| b.iter(|| black_box(disk.select(ms).unwrap())));
    }
    g.finish();
    drop(disk);
    let _ = std::fs::remove_file(&path);
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(CpuTime);
    targets = select
}
criterion_main!(benches);
