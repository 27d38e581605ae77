//! Ingest throughput of `tsdb-core`: 10 000 series, batches of 1 000 samples,
//! `Buffered` and `Durable` write modes, 1 and 2 writer threads.
//!
//! `cargo bench --bench ingest -- --warm-up-time 1 --measurement-time 3`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tsdb::core::{BatchSample, Db, Labels, Options, WriteMode};

const SERIES: usize = 10_000;
const BATCH: usize = 1_000;

fn labels() -> Vec<Labels> {
    (0..SERIES)
        .map(|i| {
            Labels::new([
                ("__name__", "node_cpu_seconds_total".to_string()),
                ("cpu", (i % 8).to_string()),
                ("instance", format!("host-{:05}.example.org:9100", i / 8)),
                ("job", "node".to_string()),
                ("mode", "user".to_string()),
            ])
            .unwrap()
        })
        .collect()
}

/// One round: every series gets one sample at `t`, in batches of `BATCH`,
/// written by `threads` threads that split the series between them.
fn round(db: &Db, batches: &mut [Vec<BatchSample>], t: i64, mode: WriteMode, threads: usize) {
    for b in batches.iter_mut() {
        for s in b.iter_mut() {
            s.t_ms = t;
            s.value += 1.0;
        }
    }
    let per = batches.len().div_ceil(threads);
    std::thread::scope(|scope| {
        for part in batches.chunks(per) {
            scope.spawn(move || {
                for b in part {
                    let r = db.append_batch(b, Some(mode)).unwrap();
                    assert!(r.refused.is_empty());
                }
            });
        }
    });
}

/// CPU time (user + system) this process used so far.
fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes the struct we pass; zeroed is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid pointer to a rusage struct.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1_000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn ingest(c: &mut Criterion) {
    let all = labels();
    let mut g = c.benchmark_group("ingest");
    g.throughput(Throughput::Elements(SERIES as u64));
    g.sample_size(10);
    for mode in [WriteMode::Buffered, WriteMode::Durable] {
        for threads in [1usize, 2] {
            let dir = tempfile::tempdir().unwrap();
            let db = Db::open(dir.path(), Options::default()).unwrap();
            let mut batches: Vec<Vec<BatchSample>> = all
                .chunks(BATCH)
                .map(|c| {
                    c.iter()
                        .map(|l| BatchSample {
                            labels: l.clone(),
                            t_ms: 0,
                            value: 0.0,
                        })
                        .collect()
                })
                .collect();
            let t = AtomicI64::new(1_700_000_000_000);
            // Create the series outside the measurement.
            round(
                &db,
                &mut batches,
                t.fetch_add(10_000, Ordering::Relaxed),
                mode,
                1,
            );
            let name = format!(
                "{mode:?}/{threads}_writer{}",
                if threads > 1 { "s" } else { "" }
            );
            let (cpu0, rounds) = (cpu_time(), AtomicI64::new(0));
            g.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    let mut spent = Duration::ZERO;
                    for _ in 0..iters {
                        rounds.fetch_add(1, Ordering::Relaxed);
                        let ts = t.fetch_add(10_000, Ordering::Relaxed);
                        let start = Instant::now();
                        round(&db, &mut batches, ts, mode, threads);
                        spent += start.elapsed();
                    }
                    spent
                })
            });
            let cpu = cpu_time().saturating_sub(cpu0);
            let samples = rounds.load(Ordering::Relaxed) as f64 * SERIES as f64;
            eprintln!(
                "  {mode:?} x{threads}: {:.0} ns CPU/sample (process user+sys), {:.2} M samples per CPU-second",
                cpu.as_secs_f64() * 1e9 / samples.max(1.0),
                samples / cpu.as_secs_f64().max(1e-9) / 1e6
            );
            let st = db.stats();
            eprintln!(
                "  {mode:?} x{threads}: {} series, head {} B/series ({} B/series of it compressed samples), index {} B/series, {} fsyncs",
                st.series,
                st.head_bytes / st.series.max(1),
                st.head_compressed_bytes / st.series.max(1),
                st.index_bytes / st.series.max(1),
                st.wal_fsyncs
            );
            db.close().unwrap();
        }
    }
    g.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
