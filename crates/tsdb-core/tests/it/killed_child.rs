//! What the SIGKILL crash tests share: running one of this binary's ignored
//! tests as a child process, killing it at a random moment, and checking the
//! batches it acknowledged.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use rand::Rng;
use tsdb_core::{BatchSample, Labels, Options, Series, WriteMode};

/// `Durable` options with small WAL segments and checkpoints, so that kills
/// land in rotations and checkpoints too.
pub fn crash_options() -> Options {
    Options {
        write_mode: WriteMode::Durable,
        wal_segment_bytes: 16 << 10,
        checkpoint_after_bytes: 64 << 10,
        flush_interval: Duration::from_millis(2),
        ..Options::default()
    }
}

/// Batch `b` of a grid: timestamps `b*per_batch..(b+1)*per_batch` of series
/// `0..series`, named by `labels` and valued by `value(series, t)`.
pub fn grid_batch(
    b: i64,
    per_batch: i64,
    series: u32,
    labels: impl Fn(u32) -> Labels,
) -> Vec<BatchSample> {
    let mut out = Vec::new();
    for k in 0..per_batch {
        let t = b * per_batch + k;
        for s in 0..series {
            out.push(BatchSample {
                labels: labels(s),
                t_ms: t,
                value: grid_value(s, t),
            });
        }
    }
    out
}

/// Runs the ignored test `child_test` of this binary with `envs`, kills it with
/// SIGKILL after a random 40–300 ms, and returns every line it printed.
pub fn run_and_kill(child_test: &str, envs: &[(&str, String)]) -> Vec<String> {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", child_test, "--nocapture", "--ignored"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    std::thread::sleep(Duration::from_millis(rand::thread_rng().gen_range(40..300)));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    reader.join().unwrap()
}

/// The numbers after `prefix` on the lines that carry it, in order.
pub fn numbers(lines: &[String], prefix: &str) -> Vec<i64> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix(prefix))
        .map(|n| n.trim().parse::<i64>().unwrap())
        .collect()
}

/// The value a crash child writes for series `s` at `t`: every sample checkable.
pub fn grid_value(s: u32, t: i64) -> f64 {
    (t * 10 + i64::from(s)) as f64
}

/// Checks the series a crash child wrote in batches of `per_batch` timestamps
/// per series (`t = 0, 1, 2, …`, value [`grid_value`]): timestamps run from
/// 0 without a gap, no value is invented, and when batches up to `max_acked`
/// were acknowledged, all `series_count` series hold all of them. Returns the
/// next batch to write.
pub fn check_batches(
    series: &[Series],
    max_acked: Option<i64>,
    per_batch: i64,
    series_count: usize,
) -> i64 {
    let mut next = 0;
    for s in series {
        let id: u32 = s.labels.get("s").unwrap().parse().unwrap();
        let n = s.timestamps.len() as i64;
        assert_eq!(s.timestamps, (0..n).collect::<Vec<_>>(), "series {id}");
        for (&t, &v) in s.timestamps.iter().zip(&s.values) {
            assert_eq!(
                v.to_bits(),
                grid_value(id, t).to_bits(),
                "invented value at {t}"
            );
        }
        if let Some(m) = max_acked {
            assert!(
                n >= (m + 1) * per_batch,
                "series {id}: {n} samples, acked through batch {m}"
            );
        }
        next = next.max((n + per_batch - 1) / per_batch);
    }
    if let Some(m) = max_acked {
        assert_eq!(series.len(), series_count, "acked through batch {m}");
    }
    next
}
