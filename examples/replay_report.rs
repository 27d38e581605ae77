//! Write-path report for `tsdb-core`: ingest `SERIES` × 120 samples (default
//! 1 000 000 series, batches of 1 000, `Buffered`), then print ingest rate (wall
//! and CPU), head memory per series, and recovery time from raw WAL records
//! and from a checkpoint.
//!
//! `cargo run --release --example replay_report [-- SERIES]`

use std::error::Error;
use std::time::Instant;

use tsdb::core::{BatchSample, Db, Labels, Options};

const SAMPLES: i64 = 120;
const BATCH: usize = 1_000;

/// CPU seconds (user + system) used by this process so far.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // Fields after the parenthesised command name; utime and stime are the
    // 12th and 13th of them, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        f.get(i)
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn main() -> Result<(), Box<dyn Error>> {
    let series: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    let labels: Vec<Labels> = (0..series)
        .map(|i| {
            Labels::new([
                ("__name__", "http_requests_total".to_string()),
                ("instance", format!("host-{:06}:8080", i / 10)),
                ("job", "api".to_string()),
                ("path", format!("/v1/item/{}", i % 10)),
            ])
        })
        .collect::<Result<_, _>>()?;

    let no_checkpoints = || Options {
        checkpoint_after_bytes: 0,
        ..Options::default()
    };
    let db = Db::open(dir.path(), no_checkpoints())?;
    let mut batch: Vec<BatchSample> = Vec::with_capacity(BATCH);
    let (wall, cpu) = (Instant::now(), cpu_seconds());
    for k in 0..SAMPLES {
        for (c, part) in labels.chunks(BATCH).enumerate() {
            batch.clear();
            batch.extend(part.iter().enumerate().map(|(i, l)| BatchSample {
                labels: l.clone(),
                t_ms: 1_700_000_000_000 + k * 15_000 + (i % 7) as i64,
                value: ((k as usize * 31 + c + i) % 1_000) as f64,
            }));
            let r = db.append_batch(&batch, None)?;
            if !r.refused.is_empty() {
                return Err(format!("refused: {:?}", r.refused.first()).into());
            }
        }
    }
    let samples = series as f64 * SAMPLES as f64;
    let (wall_s, cpu_s) = (wall.elapsed().as_secs_f64(), cpu_seconds() - cpu);
    let st = db.stats();
    db.close()?;
    let per = |b: usize| b as f64 / st.series.max(1) as f64;
    println!("series: {series}, samples: {samples:.0}");
    println!(
        "ingest (Buffered, 1 writer, batches of {BATCH}): {:.2} M samples/s wall, {:.0} ns CPU/sample",
        samples / wall_s / 1e6,
        cpu_s * 1e9 / samples
    );
    println!(
        "head: {:.0} B/series ({:.0} B/series compressed samples, {:.0} B/series overhead); index: {:.0} B/series; WAL: {:.0} MB",
        per(st.head_bytes),
        per(st.head_compressed_bytes),
        per(st.head_bytes - st.head_compressed_bytes),
        per(st.index_bytes),
        st.wal_bytes as f64 / 1e6
    );

    let (t, c) = (Instant::now(), cpu_seconds());
    let db = Db::open(dir.path(), no_checkpoints())?;
    let r = db.recovery_report().clone();
    println!(
        "replay from WAL records: {:.2} s wall, {:.2} s CPU ({} series, {} samples, {} segments)",
        t.elapsed().as_secs_f64(),
        cpu_seconds() - c,
        r.series_replayed,
        r.samples_replayed,
        r.segments_replayed
    );
    let t = Instant::now();
    db.checkpoint()?;
    println!("checkpoint write: {:.2} s", t.elapsed().as_secs_f64());
    db.close()?;
    let (t, c) = (Instant::now(), cpu_seconds());
    let db = Db::open(dir.path(), no_checkpoints())?;
    println!(
        "replay from checkpoint: {:.2} s wall, {:.2} s CPU ({} series)",
        t.elapsed().as_secs_f64(),
        cpu_seconds() - c,
        db.recovery_report().checkpoint_series
    );
    db.close()?;
    Ok(())
}
