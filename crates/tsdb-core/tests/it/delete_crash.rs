//! Crash test for deletion and retention: a child appends `Durable` batches,
//! cuts blocks, deletes whole generations of a second metric, applies
//! retention and compacts (which rewrites blocks tombstones name), and is
//! killed with SIGKILL at random moments. After each kill the database is
//! reopened and checked:
//! - every acknowledged sample newer than the retention horizon is there,
//!   with its value, and nothing is invented;
//! - nothing at or below the newest block an acknowledged retention call
//!   dropped comes back;
//! - a generation whose deletion was acknowledged has no sample and is not
//!   listed by label values or the series listing;
//! - series that go idle (cut away, dropped by head GC) and come back keep
//!   every acknowledged sample.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use tsdb_core::{BatchSample, Db, Labels, Matcher, Options, Querier};

use crate::all_of;
use crate::killed_child::{crash_options, grid_batch, grid_value, numbers, run_and_kill};

const DIR_ENV: &str = "TSDB_DELETE_CRASH_DIR";
const START_ENV: &str = "TSDB_DELETE_CRASH_START";
const MAINTENANCE_ENV: &str = "TSDB_DELETE_CRASH_MAINTENANCE";
const ROUNDS: usize = 20;
const SERIES: u32 = 4;
const PER_BATCH: i64 = 5;
/// Batches per generation of the `dcrash` metric.
const GEN: i64 = 6;
const SPAN: i64 = 20;
const RETENTION: i64 = 200;

fn labels(s: u32) -> Labels {
    Labels::new([("__name__", "rcrash".to_string()), ("s", s.to_string())]).unwrap()
}

fn gen_labels(g: i64) -> Labels {
    Labels::new([("__name__", "dcrash".to_string()), ("g", g.to_string())]).unwrap()
}

/// In every other round the child also runs background maintenance (cut,
/// retention, compaction every 3 ms), so head GC races its appends: a series
/// can come back while the index is rebuilt, or before the checkpoint after
/// GC. (In the other rounds its own retention calls do all the dropping.)
fn options(maintenance: bool) -> Options {
    Options {
        block_span_ms: SPAN,
        retention_ms: RETENTION,
        ooo_window_ms: 0,
        compaction_bytes_per_sec: 0,
        maintenance_interval: maintenance.then(|| Duration::from_millis(3)),
        ..crash_options()
    }
}

/// Batch `b`: timestamps `b*PER_BATCH..(b+1)*PER_BATCH` of every `rcrash`
/// series, and one sample of `dcrash` generation `b / GEN` at `b*PER_BATCH`.
fn batch(b: i64) -> Vec<BatchSample> {
    let mut out = grid_batch(b, PER_BATCH, SERIES, labels);
    out.push(BatchSample {
        labels: gen_labels(b / GEN),
        t_ms: b * PER_BATCH,
        value: grid_value(99, b * PER_BATCH),
    });
    out.push(BatchSample {
        labels: churn_labels(churn_of(b)),
        t_ms: b * PER_BATCH,
        value: grid_value(churn_of(b), b * PER_BATCH),
    });
    out
}

/// The `ccrash` series batch `b` writes to: one of 4, each for 3 batches in
/// turn, so series go idle (cut away, dropped by head GC) and come back.
fn churn_of(b: i64) -> u32 {
    ((b / 3) % 4) as u32
}

fn churn_labels(c: u32) -> Labels {
    Labels::new([("__name__", "ccrash".to_string()), ("c", c.to_string())]).unwrap()
}

#[test]
#[ignore = "run by delete_crash::sigkill_during_delete_and_retention as a child process"]
fn delete_crash_child() {
    let Ok(dir) = std::env::var(DIR_ENV) else {
        return;
    };
    let start: i64 = std::env::var(START_ENV).unwrap().parse().unwrap();
    let maintenance = std::env::var_os(MAINTENANCE_ENV).is_some_and(|v| v == "1");
    let db = Db::open(Path::new(&dir), options(maintenance)).unwrap();
    let mut out = std::io::stdout().lock();
    for b in start..start + 1_000_000 {
        let res = db.append_batch(&batch(b), None).unwrap();
        assert!(res.refused.is_empty(), "{:?}", res.refused);
        writeln!(out, "ACK {b}").unwrap();
        out.flush().unwrap();
        if b % 4 == 0 {
            db.cut_blocks().unwrap();
        }
        if b % GEN == GEN - 1 {
            let g = b / GEN;
            db.delete_series(
                &[
                    Matcher::equal("__name__", "dcrash"),
                    Matcher::equal("g", &g.to_string()),
                ],
                i64::MIN,
                i64::MAX,
            )
            .unwrap();
            writeln!(out, "DEL {g}").unwrap();
            out.flush().unwrap();
        }
        let dropped = match b % 5 {
            2 => db.apply_retention().unwrap(),
            4 => db.compact().unwrap().dropped,
            _ => Vec::new(),
        };
        if let Some(m) = dropped.iter().map(|m| m.max_time_ms).max() {
            writeln!(out, "RET {m}").unwrap();
            out.flush().unwrap();
        }
    }
}

/// What the parent knows from the child's output so far.
#[derive(Default)]
struct Known {
    max_acked: Option<i64>,
    deleted: BTreeSet<i64>,
    /// Newest sample time of any block an acknowledged retention dropped.
    retained_below: Option<i64>,
}

/// Checks the reopened database; returns the next batch to write.
fn verify(dir: &Path, known: &Known) -> i64 {
    let db = Db::open(dir, options(false)).unwrap();
    assert!(db.recovery_report().blocks.moved_aside.is_empty());
    let series = all_of(&db, "rcrash");
    let newest = series
        .iter()
        .filter_map(|s| s.timestamps.last().copied())
        .max();
    let horizon = newest.map_or(0, |n| n - RETENTION);
    let floor = known.retained_below.unwrap_or(i64::MIN);
    let mut next = 0;
    for s in &series {
        let id: u32 = s.labels.get("s").unwrap().parse().unwrap();
        let (Some(&lo), Some(&hi)) = (s.timestamps.first(), s.timestamps.last()) else {
            panic!("empty series {id}");
        };
        assert_eq!(
            s.timestamps,
            (lo..=hi).collect::<Vec<_>>(),
            "series {id}: a hole"
        );
        for (&t, &v) in s.timestamps.iter().zip(&s.values) {
            assert_eq!(
                v.to_bits(),
                grid_value(id, t).to_bits(),
                "invented value at {t}"
            );
        }
        assert!(
            lo > floor,
            "series {id}: {lo} came back (dropped ≤ {floor})"
        );
        assert!(
            lo <= horizon.max(0),
            "series {id}: starts at {lo}, retention keeps from {horizon}"
        );
        if let Some(m) = known.max_acked {
            assert!(
                hi >= (m + 1) * PER_BATCH - 1,
                "series {id}: acked batch {m} lost"
            );
        }
        next = next.max((hi + 1 + PER_BATCH - 1) / PER_BATCH);
    }
    if known.max_acked.is_some() {
        assert_eq!(series.len(), SERIES as usize);
    }
    // Generations of `dcrash`.
    let gens = all_of(&db, "dcrash");
    let listed: BTreeSet<i64> = db
        .label_values("g", &[Matcher::equal("__name__", "dcrash")])
        .unwrap()
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    let with_samples: BTreeSet<i64> = gens
        .iter()
        .map(|s| s.labels.get("g").unwrap().parse().unwrap())
        .collect();
    for s in &gens {
        let g: i64 = s.labels.get("g").unwrap().parse().unwrap();
        assert!(
            !known.deleted.contains(&g),
            "deleted generation {g} is back"
        );
        for (&t, &v) in s.timestamps.iter().zip(&s.values) {
            assert_eq!(t / PER_BATCH / GEN, g, "sample {t} in generation {g}");
            assert_eq!(
                v.to_bits(),
                grid_value(99, t).to_bits(),
                "invented value at {t}"
            );
            assert!(t > floor, "generation {g}: {t} came back");
        }
    }
    for g in &known.deleted {
        assert!(!listed.contains(g), "deleted generation {g} still listed");
    }
    assert!(
        listed.iter().all(|g| with_samples.contains(g)),
        "listed {listed:?}, with samples {with_samples:?}"
    );
    // Series that go idle and come back: acknowledged samples newer than
    // the retention horizon are there, nothing is invented.
    let churn = all_of(&db, "ccrash");
    for s in &churn {
        let c: u32 = s.labels.get("c").unwrap().parse().unwrap();
        for (&t, &v) in s.timestamps.iter().zip(&s.values) {
            assert_eq!(churn_of(t / PER_BATCH), c, "sample {t} in ccrash {c}");
            assert_eq!(
                v.to_bits(),
                grid_value(c, t).to_bits(),
                "invented value at {t}"
            );
            assert!(t > floor, "ccrash {c}: {t} came back");
        }
    }
    if let Some(m) = known.max_acked {
        for b in 0..=m {
            let (c, t) = (churn_of(b), b * PER_BATCH);
            if t < horizon {
                continue;
            }
            let s = churn
                .iter()
                .find(|s| s.labels.get("c") == Some(&c.to_string()));
            assert!(
                s.is_some_and(|s| s.timestamps.binary_search(&t).is_ok()),
                "ccrash {c}: acked sample {t} lost"
            );
        }
    }
    if let Some(m) = known.max_acked {
        // Acknowledged and not (possibly) deleted: there, unless retention
        // may have dropped it.
        for b in 0..=m {
            let (g, t) = (b / GEN, b * PER_BATCH);
            let delete_may_have_run = (g + 1) * GEN - 1 <= m;
            if delete_may_have_run || t < horizon {
                continue;
            }
            let s = gens
                .iter()
                .find(|s| s.labels.get("g") == Some(&g.to_string()));
            assert!(
                s.is_some_and(|s| s.timestamps.binary_search(&t).is_ok()),
                "generation {g}: acked sample {t} lost"
            );
        }
    }
    db.close().unwrap();
    next
}

#[test]
fn sigkill_during_delete_and_retention() {
    let dir = tempfile::tempdir().unwrap();
    let mut known = Known::default();
    let mut next = 0i64;
    let (mut acks, mut deletes, mut drops) = (0, 0, 0);
    for round in 0..ROUNDS {
        let lines = run_and_kill(
            "delete_crash::delete_crash_child",
            &[
                (DIR_ENV, dir.path().display().to_string()),
                (START_ENV, next.to_string()),
                (MAINTENANCE_ENV, (round % 2).to_string()),
            ],
        );
        let acked = numbers(&lines, "ACK ");
        acks += acked.len();
        if let Some(&last) = acked.last() {
            known.max_acked = Some(known.max_acked.map_or(last, |m| m.max(last)));
        }
        let deleted = numbers(&lines, "DEL ");
        deletes += deleted.len();
        known.deleted.extend(deleted);
        let dropped = numbers(&lines, "RET ");
        drops += dropped.len();
        if let Some(&m) = dropped.iter().max() {
            known.retained_below = Some(known.retained_below.map_or(m, |r| r.max(m)));
        }
        next = verify(dir.path(), &known);
        if let Some(m) = known.max_acked {
            assert!(next > m, "round {round}");
        }
    }
    eprintln!(
        "delete_crash: {acks} batches, {deletes} deletions, {drops} retention drops acknowledged"
    );
    assert!(acks > ROUNDS, "the child acknowledged too little");
    assert!(deletes > 0, "no deletion was acknowledged");
    assert!(drops > 0, "retention never dropped a block");
}
