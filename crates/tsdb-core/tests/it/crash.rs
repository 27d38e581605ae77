//! Crash test: a child process appends `Durable` batches and is killed with
//! SIGKILL at random moments; after each kill the database is reopened and every
//! acknowledged batch must be there, in order, with nothing invented.

use std::io::Write;
use std::path::Path;

use tsdb_core::{BatchSample, Db, Labels, Options};

use crate::killed_child::{check_batches, crash_options, grid_batch, numbers, run_and_kill};

const DIR_ENV: &str = "TSDB_CRASH_DIR";
const START_ENV: &str = "TSDB_CRASH_START";
const ROUNDS: usize = 20;
const SERIES: u32 = 8;
const PER_BATCH: i64 = 4;

fn labels(s: u32) -> Labels {
    Labels::new([("__name__", "crash".to_string()), ("s", s.to_string())]).unwrap()
}

fn options() -> Options {
    crash_options()
}

/// Batch `b` holds timestamps `b*PER_BATCH .. (b+1)*PER_BATCH` of every series.
fn batch(b: i64) -> Vec<BatchSample> {
    grid_batch(b, PER_BATCH, SERIES, labels)
}

/// The child: appends batches from `$TSDB_CRASH_START` until killed, printing
/// `ACK <b>` once each is acknowledged.
#[test]
#[ignore = "run by crash::sigkill_loses_no_acknowledged_batch as a child process"]
fn crash_child() {
    let Ok(dir) = std::env::var(DIR_ENV) else {
        return;
    };
    let start: i64 = std::env::var(START_ENV).unwrap().parse().unwrap();
    let db = Db::open(Path::new(&dir), options()).unwrap();
    let mut out = std::io::stdout().lock();
    for b in start..start + 1_000_000 {
        let res = db.append_batch(&batch(b), None).unwrap();
        assert!(res.refused.is_empty(), "{:?}", res.refused);
        writeln!(out, "ACK {b}").unwrap();
        out.flush().unwrap();
    }
}

/// Checks the reopened database: batches `0..=max_acked` complete, every sample
/// the formula's, timestamps consecutive from 0. Returns the next batch to write.
fn verify(dir: &Path, max_acked: Option<i64>) -> i64 {
    let db = Db::open(dir, options()).unwrap();
    let series = crate::all_of(&db, "crash");
    let next = check_batches(&series, max_acked, PER_BATCH, SERIES as usize);
    db.close().unwrap();
    next
}

#[test]
fn sigkill_loses_no_acknowledged_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut max_acked: Option<i64> = None;
    let mut next = 0i64;
    let mut total_acks = 0;
    for round in 0..ROUNDS {
        let lines = run_and_kill(
            "crash::crash_child",
            &[
                (DIR_ENV, dir.path().display().to_string()),
                (START_ENV, next.to_string()),
            ],
        );
        let acked = numbers(&lines, "ACK ");
        total_acks += acked.len();
        if let Some(&last) = acked.last() {
            assert!(acked.windows(2).all(|w| w[1] == w[0] + 1), "round {round}");
            max_acked = Some(max_acked.map_or(last, |m| m.max(last)));
        }
        next = verify(dir.path(), max_acked);
        if let Some(m) = max_acked {
            assert!(next > m, "round {round}");
        }
    }
    assert!(
        total_acks > ROUNDS,
        "the child acknowledged too little to test anything"
    );
}
