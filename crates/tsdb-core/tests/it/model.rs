//! The head read equals a brute-force model (a BTreeMap per series) under
//! random in-order, out-of-order and duplicate appends, and still does after a
//! checkpoint and a reopen (WAL replay).

use std::collections::BTreeMap;

use proptest::prelude::*;
use tsdb_core::storage::MemStorage;
use tsdb_core::{BatchSample, Db, DuplicatePolicy, Error, Querier, SelectHints};

use crate::{open_mem, sample};

const WINDOW: i64 = 40;
const SERIES: u32 = 3;

#[derive(Clone, Debug)]
enum Op {
    Batch(Vec<(u32, i64, u8)>),
    Checkpoint,
    Reopen,
}

/// Values from a small set so duplicates collide; includes two NaN payloads.
fn val(k: u8) -> f64 {
    match k % 6 {
        0 => f64::NAN,
        1 => f64::from_bits(0x7ff0_0000_0000_0002),
        2 => -0.0,
        k => f64::from(k),
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => prop::collection::vec((0..SERIES, 0i64..300, any::<u8>()), 1..20).prop_map(Op::Batch),
        1 => Just(Op::Checkpoint),
        1 => Just(Op::Reopen),
    ]
}

#[derive(Default)]
struct Model {
    series: BTreeMap<u32, BTreeMap<i64, u64>>,
}

impl Model {
    /// Applies one sample; returns whether it is accepted.
    fn append(&mut self, s: u32, t: i64, v: f64, policy: DuplicatePolicy) -> bool {
        let m = self.series.entry(s).or_default();
        let max = m.keys().next_back().copied();
        if let Some(max) = max
            && t < max
            && t < max - WINDOW
        {
            return false;
        }
        match m.get(&t) {
            Some(&bits) if bits == v.to_bits() => true,
            Some(_) if policy == DuplicatePolicy::Reject => false,
            _ => {
                m.insert(t, v.to_bits());
                true
            }
        }
    }
}

fn check(db: &Db, model: &Model, lo: i64, hi: i64, stage: &str) {
    let got = db
        .select(
            &[tsdb_core::Matcher::equal("__name__", "m")],
            &SelectHints::range(lo, hi),
        )
        .unwrap();
    let want: Vec<(String, Vec<(i64, u64)>)> = model
        .series
        .iter()
        .map(|(s, m)| {
            (
                s.to_string(),
                m.range(lo..=hi).map(|(&t, &v)| (t, v)).collect::<Vec<_>>(),
            )
        })
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let got: Vec<(String, Vec<(i64, u64)>)> = got
        .iter()
        .map(|s| {
            (
                s.labels.get("s").unwrap().to_string(),
                s.timestamps
                    .iter()
                    .zip(&s.values)
                    .map(|(&t, v)| (t, v.to_bits()))
                    .collect(),
            )
        })
        .collect();
    let mut want = want;
    want.sort();
    assert_eq!(got, want, "{stage}: range [{lo}, {hi}]");
}

fn run(ops: Vec<Op>, policy: DuplicatePolicy, lo: i64, hi: i64) {
    let mem = MemStorage::new();
    let tweak = |o: &mut tsdb_core::Options| {
        o.ooo_window_ms = WINDOW;
        o.duplicate_policy = policy;
        o.chunk_samples = 7;
        o.wal_segment_bytes = 4096;
    };
    let mut db = open_mem(&mem, tweak);
    let mut model = Model::default();
    for op in ops {
        match op {
            Op::Batch(samples) => {
                let batch: Vec<BatchSample> = samples
                    .iter()
                    .map(|&(s, t, k)| sample(s, t, val(k)))
                    .collect();
                let res = db.append_batch(&batch, None).unwrap();
                let mut refused = res.refused.iter().map(|r| r.index).peekable();
                for (i, &(s, t, k)) in samples.iter().enumerate() {
                    let ok = model.append(s, t, val(k), policy);
                    let db_ok = refused.peek() != Some(&i);
                    if !db_ok {
                        let r = &res.refused.iter().find(|r| r.index == i).unwrap().error;
                        assert!(
                            matches!(r, Error::TooOld { .. } | Error::DuplicateConflict { .. }),
                            "{r}"
                        );
                        refused.next();
                    }
                    assert_eq!(ok, db_ok, "sample {i} ({s}, {t}, {:?})", val(k));
                }
            }
            Op::Checkpoint => db.checkpoint().unwrap(),
            Op::Reopen => {
                db.close().unwrap();
                db = open_mem(&mem, tweak);
                assert!(db.recovery_report().repair.is_none());
            }
        }
    }
    check(&db, &model, i64::MIN, i64::MAX, "live");
    check(&db, &model, lo, hi, "live");
    db.close().unwrap();
    let db = open_mem(&mem.crash_image(), tweak);
    check(&db, &model, i64::MIN, i64::MAX, "reopened");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn head_matches_model_reject(ops in prop::collection::vec(op(), 1..25), lo in 0i64..300, len in 0i64..200) {
        run(ops, DuplicatePolicy::Reject, lo, lo + len);
    }

    #[test]
    fn head_matches_model_last_write_wins(ops in prop::collection::vec(op(), 1..25), lo in 0i64..300, len in 0i64..200) {
        run(ops, DuplicatePolicy::LastWriteWins, lo, lo + len);
    }
}

#[test]
fn model_smoke() {
    run(
        vec![Op::Batch(vec![(0, 5, 3)]), Op::Checkpoint],
        DuplicatePolicy::Reject,
        0,
        10,
    );
    run(
        vec![Op::Batch(vec![(0, 5, 3)]), Op::Reopen],
        DuplicatePolicy::Reject,
        0,
        10,
    );
    run(
        vec![Op::Batch(vec![(0, 5, 3)]), Op::Checkpoint, Op::Reopen],
        DuplicatePolicy::Reject,
        0,
        10,
    );
}
