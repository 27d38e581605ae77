//! Builds 1 M TSBS devops-style series in a `MemIndex` and reports creation speed,
//! lookup speed and resident bytes per series.
//!
//! `cargo run --release --example index_report [-- SERIES]`
//!
//! With `UNIQUE_GROUPS=1` each series also gets a label `series` of its own
//! value, so no two series share a label group or a label value: the worst case
//! for memory, a label unique to each series (a request or user id).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "../benches/common/devops.rs"]
mod devops;
#[path = "common/resident.rs"]
mod resident;

use std::time::Duration;

use tsdb::index::{CardinalityLimits, IndexReader, IndexWriter, Matcher, MemIndex};

/// CPU time of this thread: the machine is shared, so wall time would count other
/// processes' work.
fn cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let mut all = devops::series(n);
    if std::env::var("UNIQUE_GROUPS").is_ok_and(|v| v == "1") {
        for (i, l) in all.iter_mut().enumerate() {
            let own = i.to_string();
            *l = tsdb::index::Labels::new(l.iter().chain([("series", own.as_str())])).unwrap();
        }
    }
    let rss_before = resident::resident_bytes().unwrap_or(0);
    let idx = MemIndex::new(CardinalityLimits::unlimited());
    let t = cpu_time();
    for l in &all {
        idx.get_or_create(l).unwrap();
    }
    let create = cpu_time() - t;
    let rss_index = resident::resident_bytes()
        .unwrap_or(0)
        .saturating_sub(rss_before);
    let t = cpu_time();
    let mut found = 0usize;
    let stride: usize = std::env::var("STRIDE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7919);
    for i in 0..n {
        found += idx.get(&all[(i * stride) % n]).is_some() as usize;
    }
    let lookup = cpu_time() - t;
    assert_eq!(found, n);
    // The same lookups as a batch (as a request's series arrive).
    let probe: Vec<_> = (0..n).map(|i| all[(i * stride) % n].clone()).collect();
    let mut out = Vec::with_capacity(n);
    let t = cpu_time();
    idx.get_many(&probe, &mut out);
    let batched = cpu_time() - t;
    assert!(out.iter().all(Option::is_some));
    let mem = idx.memory_bytes();
    let strings = idx.symbol_bytes();
    println!("series:               {}", idx.num_series());
    println!(
        "symbols:              {} ({} string bytes)",
        idx.num_symbols(),
        strings
    );
    println!(
        "create (CPU time):     {:.2} M series/s",
        n as f64 / create.as_secs_f64() / 1e6
    );
    println!(
        "lookup (CPU time):     {:.2} M lookups/s one at a time, {:.2} M/s batched \
         (get_many); one pass in scattered order, every label set cold",
        n as f64 / lookup.as_secs_f64() / 1e6,
        n as f64 / batched.as_secs_f64() / 1e6
    );
    println!("memory_bytes:         {mem}");
    println!("bytes/series:         {:.1}", mem as f64 / n as f64);
    println!(
        "resident growth:      {:.1} bytes/series while creating (allocator overhead \
         included; memory_bytes estimates)",
        rss_index as f64 / n as f64
    );
    println!(
        "bytes/series w/o strings: {:.1}",
        (mem - strings) as f64 / n as f64
    );
    let t = cpu_time();
    let w: IndexWriter = idx.all_series().into_iter().collect();
    let bytes = w.to_bytes().unwrap();
    let write = cpu_time() - t;
    let len = bytes.len();
    let t = cpu_time();
    let disk = IndexReader::from_bytes("report.index", bytes).unwrap();
    let open = cpu_time() - t;
    let host = [Matcher::equal("hostname", "host_42")];
    assert_eq!(disk.select(&host).unwrap(), idx.select(&host).unwrap());
    println!(
        "persisted:            {len} bytes ({:.1} bytes/series)",
        len as f64 / n as f64
    );
    println!("persist (CPU time):   {write:?} (all_series + serialize)");
    println!("open+verify (CPU):    {open:?}");
    let r = idx.cardinality_report(3);
    println!("top metrics:          {:?}", r.metrics);
    println!("top label names:      {:?}", r.label_names);
}
