//! Crash test for blocks: a child appends `Durable` batches while cutting the
//! head into blocks and compacting them continuously (a background
//! maintenance round every few milliseconds plus explicit rounds), and is
//! killed with SIGKILL at random moments. After each kill the database is
//! reopened: every acknowledged batch must be there exactly once, with the
//! value it was written with, and nothing invented. The child also backfills
//! a second metric (`bhist`) every few batches: every acknowledged backfill
//! must be there after a kill.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use tsdb_core::{BatchSample, Db, Labels, Options};

use crate::killed_child::{
    check_batches, crash_options, grid_batch, grid_value, numbers, run_and_kill,
};

const DIR_ENV: &str = "TSDB_BLOCK_CRASH_DIR";
const START_ENV: &str = "TSDB_BLOCK_CRASH_START";
const ROUNDS: usize = 20;
const SERIES: u32 = 6;
const PER_BATCH: i64 = 5;

fn labels(s: u32) -> Labels {
    Labels::new([("__name__", "bcrash".to_string()), ("s", s.to_string())]).unwrap()
}

fn options(maintenance: bool) -> Options {
    Options {
        block_span_ms: 40,
        ooo_window_ms: 1_000,
        compaction_bytes_per_sec: 0,
        maintenance_interval: maintenance.then(|| Duration::from_millis(3)),
        ..crash_options()
    }
}

fn batch(b: i64) -> Vec<BatchSample> {
    grid_batch(b, PER_BATCH, SERIES, labels)
}

/// Backfill `k`: timestamps `k*PER_BATCH..(k+1)*PER_BATCH` of metric `bhist`.
fn history(k: i64) -> Vec<BatchSample> {
    let mut out = Vec::new();
    for t in k * PER_BATCH..(k + 1) * PER_BATCH {
        for s in 0..2 {
            out.push(BatchSample {
                labels: Labels::new([("__name__", "bhist".to_string()), ("s", s.to_string())])
                    .unwrap(),
                t_ms: t,
                value: grid_value(s, t),
            });
        }
    }
    out
}

#[test]
#[ignore = "run by block_crash::sigkill_during_cut_and_compaction_loses_nothing as a child"]
fn block_crash_child() {
    let Ok(dir) = std::env::var(DIR_ENV) else {
        return;
    };
    let start: i64 = std::env::var(START_ENV).unwrap().parse().unwrap();
    let db = Db::open(Path::new(&dir), options(true)).unwrap();
    let mut out = std::io::stdout().lock();
    for b in start..start + 1_000_000 {
        let res = db.append_batch(&batch(b), None).unwrap();
        assert!(res.refused.is_empty(), "{:?}", res.refused);
        writeln!(out, "ACK {b}").unwrap();
        out.flush().unwrap();
        if b % 7 == 0 {
            db.compact().unwrap();
        }
        if b % 5 == 0 {
            db.backfill(&history(b / 5)).unwrap();
            writeln!(out, "BF {}", b / 5).unwrap();
            out.flush().unwrap();
        }
    }
}

fn verify(dir: &Path, max_acked: Option<i64>, backfills: &[i64]) -> i64 {
    let db = Db::open(dir, options(false)).unwrap();
    assert!(
        db.recovery_report().blocks.moved_aside.is_empty(),
        "{:?}",
        db.recovery_report().blocks
    );
    let series = crate::all_of(&db, "bcrash");
    let next = check_batches(&series, max_acked, PER_BATCH, SERIES as usize);
    let hist = crate::all_of(&db, "bhist");
    for s in &hist {
        let id: u32 = s.labels.get("s").unwrap().parse().unwrap();
        for (&t, &v) in s.timestamps.iter().zip(&s.values) {
            assert_eq!(
                v.to_bits(),
                grid_value(id, t).to_bits(),
                "invented backfill at {t}"
            );
        }
        for &k in backfills {
            for t in k * PER_BATCH..(k + 1) * PER_BATCH {
                assert!(
                    s.timestamps.binary_search(&t).is_ok(),
                    "backfill {k} lost ({t})"
                );
            }
        }
    }
    if !backfills.is_empty() {
        assert_eq!(hist.len(), 2);
    }
    db.close().unwrap();
    next
}

#[test]
fn sigkill_during_cut_and_compaction_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut max_acked: Option<i64> = None;
    let mut next = 0i64;
    let mut total_acks = 0;
    let mut backfills = Vec::new();
    for round in 0..ROUNDS {
        let lines = run_and_kill(
            "block_crash::block_crash_child",
            &[
                (DIR_ENV, dir.path().display().to_string()),
                (START_ENV, next.to_string()),
            ],
        );
        let (acked, filled) = (numbers(&lines, "ACK "), numbers(&lines, "BF "));
        backfills.extend(filled);
        total_acks += acked.len();
        if let Some(&last) = acked.last() {
            max_acked = Some(max_acked.map_or(last, |m| m.max(last)));
        }
        next = verify(dir.path(), max_acked, &backfills);
        if let Some(m) = max_acked {
            assert!(next > m, "round {round}");
        }
    }
    assert!(total_acks > ROUNDS, "the child acknowledged too little");
    assert!(!backfills.is_empty(), "no backfill was acknowledged");
    let blocks = std::fs::read_dir(dir.path().join("blocks"))
        .unwrap()
        .count();
    assert!(blocks > 0, "no block was ever cut");
}
