//! The head's minimum valid time: once blocks hold data up to some time,
//! the head refuses older samples for every series (a series head GC
//! dropped and that comes back included), with a counted per-sample
//! refusal; series still in the head keep their out-of-order rules; the
//! bound is derived from the blocks again after a reopen; WAL replay and
//! backfill are not subject to it.

use tsdb_core::{
    BatchSample, Db, DuplicatePolicy, Error, Labels, Matcher, Options, Querier, SelectHints,
};

const SPAN: i64 = 1_000;

fn l(name: &str, s: &str) -> Labels {
    Labels::new([("__name__", name.to_string()), ("s", s.to_string())]).unwrap()
}

fn opts(ooo_window_ms: i64) -> Options {
    Options {
        block_span_ms: SPAN,
        ooo_window_ms,
        duplicate_policy: DuplicatePolicy::Reject,
        maintenance_interval: None,
        compaction_bytes_per_sec: 0,
        ..Options::default()
    }
}

fn read(db: &Db, s: &str) -> Vec<(i64, f64)> {
    db.select(
        &[Matcher::equal("s", s)],
        &SelectHints::range(i64::MIN, i64::MAX),
    )
    .unwrap()
    .iter()
    .flat_map(|x| x.timestamps.iter().copied().zip(x.values.iter().copied()))
    .collect()
}

fn below(res: &Result<(), Error>, t: i64, bound: i64) -> bool {
    matches!(
        res,
        Err(Error::BelowMinValidTime { t_ms, min_valid_ms }) if *t_ms == t && *min_valid_ms == bound
    )
}

/// The reviewer's finding (review_gc.rs): after head GC dropped an idle
/// series, a conflicting value for an acknowledged, already-cut timestamp
/// was accepted with `Reject` and out-of-order disabled, and won over the
/// acknowledged one (also after compaction). It is now refused, counted,
/// and the rest of its batch is kept.
#[test]
fn gc_lets_reject_policy_overwrite_acknowledged_samples() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(0)).unwrap();
    let a = l("m", "a");
    db.append(&a, 10, 1.0).unwrap(); // acknowledged
    db.append(&l("m", "clock"), 10 * SPAN, 0.0).unwrap();
    assert_eq!(db.min_valid_time(), None);
    db.cut_blocks().unwrap();
    assert_eq!(db.stats().series, 1, "a was cut and dropped by head GC");
    // The newest block sample is a@10: nothing at or before it.
    assert_eq!(db.min_valid_time(), Some(11));
    assert_eq!(read(&db, "a"), [(10, 1.0)]);
    // Same series, same timestamp, another value: must be refused.
    let res = db.append(&a, 10, 2.0);
    assert!(below(&res, 10, 11), "{res:?}");
    let msg = res.unwrap_err();
    assert!(msg.is_refusal());
    assert!(msg.to_string().contains("use backfill"), "{msg}");
    let after = read(&db, "a");
    // Also once the conflicting sample is cut and compacted.
    db.append(&l("m", "clock"), 20 * SPAN, 0.0).unwrap();
    db.cut_blocks().unwrap();
    db.compact().unwrap();
    let compacted = read(&db, "a");
    assert!(
        after == [(10, 1.0)] && compacted == [(10, 1.0)],
        "read -> {after:?}; after cut+compact -> {compacted:?}"
    );
    // In a batch: refused and counted per reason, the rest kept.
    let before = db.stats().samples_too_old;
    let bound = db.min_valid_time().unwrap();
    let res = db
        .append_batch(
            &[
                BatchSample {
                    labels: a.clone(),
                    t_ms: 5,
                    value: 3.0,
                },
                BatchSample {
                    labels: a.clone(),
                    t_ms: bound,
                    value: 4.0,
                },
                BatchSample {
                    labels: l("m", "new"),
                    t_ms: bound - 1,
                    value: 5.0,
                },
            ],
            None,
        )
        .unwrap();
    assert_eq!(res.accepted, 1);
    assert_eq!(
        res.refused.iter().map(|r| r.index).collect::<Vec<_>>(),
        [0, 2]
    );
    assert!(
        res.refused
            .iter()
            .all(|r| matches!(r.error, Error::BelowMinValidTime { .. }))
    );
    assert_eq!(db.stats().samples_too_old, before + 2);
    assert_eq!(read(&db, "a"), [(10, 1.0), (bound, 4.0)]);
    assert!(read(&db, "new").is_empty());
}

/// Backfill writes blocks, not the head: it still takes data older than the
/// bound, for a series head GC dropped as for any other.
#[test]
fn backfill_still_takes_old_data() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(0)).unwrap();
    let a = l("m", "a");
    db.append(&a, 10, 1.0).unwrap();
    db.append(&l("m", "clock"), 10 * SPAN, 0.0).unwrap();
    db.cut_blocks().unwrap();
    assert!(db.append(&a, 5, 0.5).is_err());
    db.backfill(&[
        BatchSample {
            labels: a.clone(),
            t_ms: 5,
            value: 0.5,
        },
        BatchSample {
            labels: l("m", "old"),
            t_ms: 7,
            value: 7.0,
        },
    ])
    .unwrap();
    // Older than the bound already: it does not move.
    assert_eq!(db.min_valid_time(), Some(11));
    assert_eq!(read(&db, "a"), [(5, 0.5), (10, 1.0)]);
    assert_eq!(read(&db, "old"), [(7, 7.0)]);
    db.compact().unwrap();
    assert_eq!(read(&db, "a"), [(5, 0.5), (10, 1.0)]);
}

/// Outcome of an append, comparable across databases.
fn outcome(res: Result<(), Error>) -> String {
    match res {
        Ok(()) => "ok".into(),
        Err(e) => e.to_string(),
    }
}

/// A series still in the head after a cut (it has samples past the cut
/// boundary) judges appends exactly as before: the same probes give the same
/// outcomes (accepted, or the same refusal) as on a twin database that was
/// never cut, with out-of-order disabled and with a window. A series created
/// after the cut takes anything from the bound on and nothing older.
///
/// With a window reaching behind the cut boundary (1 500 here), timestamps
/// the cut moved to blocks are probed only between samples: a conflicting
/// value at a cut timestamp is judged without the block's value (the head
/// dropped it at the cut), which is how truncation behaved before head GC.
#[test]
fn series_still_in_the_head_keep_their_rules() {
    for window in [0, 300, 800, 1_500] {
        let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let cut = Db::open(d1.path(), opts(window)).unwrap();
        let twin = Db::open(d2.path(), opts(window)).unwrap();
        let live = l("m", "live");
        for db in [&cut, &twin] {
            for t in (0..=2 * SPAN).step_by(100) {
                db.append(&live, t, t as f64).unwrap();
            }
        }
        // Boundary: align_down(2000 - 500) = 1000; blocks hold 0..=900.
        let metas = cut.cut_blocks().unwrap();
        assert_eq!(metas.len(), 1);
        let bound = 901 - window;
        assert_eq!(cut.min_valid_time(), Some(bound), "window {window}");
        assert_eq!(twin.min_valid_time(), None);
        assert_eq!(cut.stats().series, 1, "live stays in the head");
        let probes = (0..=2 * SPAN + 100)
            .step_by(50)
            .filter(|t| window <= SPAN || t % 100 == 50 || *t >= SPAN);
        for t in probes {
            for v in [t as f64, -1.0] {
                let (a, b) = (
                    outcome(cut.append(&live, t, v)),
                    outcome(twin.append(&live, t, v)),
                );
                assert_eq!(a, b, "window {window}, t {t}, v {v}");
            }
        }
        assert_eq!(read(&cut, "live"), read(&twin, "live"), "window {window}");
        // A new series: the bound applies whatever its own state.
        if bound > 0 {
            let fresh = l("m", "fresh");
            let res = cut.append(&fresh, bound - 1, 1.0);
            assert!(below(&res, bound - 1, bound), "{res:?}");
            cut.append(&fresh, bound, 1.0).unwrap();
            assert!(twin.append(&fresh, bound - 1, 1.0).is_ok());
        }
    }
}

/// The bound is not persisted: it is derived from the block list at open and
/// comes back the same; a series head GC dropped is still refused after a
/// reopen, and its acknowledged sample still reads back.
#[test]
fn min_valid_time_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let a = l("m", "a");
    let bound = {
        let db = Db::open(dir.path(), opts(0)).unwrap();
        db.append(&a, 10, 1.0).unwrap();
        db.append(&l("m", "clock"), 10 * SPAN, 0.0).unwrap();
        db.cut_blocks().unwrap();
        let bound = db.min_valid_time().unwrap();
        db.close().unwrap();
        bound
    };
    assert_eq!(bound, 11);
    let db = Db::open(dir.path(), opts(0)).unwrap();
    assert_eq!(db.min_valid_time(), Some(bound));
    let res = db.append(&a, 10, 2.0);
    assert!(below(&res, 10, bound), "{res:?}");
    assert_eq!(read(&db, "a"), [(10, 1.0)]);
    db.close().unwrap();
    // With a window, the same block list gives the bound less the window.
    let db = Db::open(dir.path(), opts(5)).unwrap();
    assert_eq!(db.min_valid_time(), Some(bound - 5));
    assert!(db.append(&a, 5, 2.0).is_err());
    db.append(&a, 6, 2.0).unwrap();
    assert_eq!(read(&db, "a"), [(6, 2.0), (10, 1.0)]);
}

/// WAL replay does not apply the bound: a sample acknowledged in the head
/// before a backfilled block raised the bound past it comes back after a
/// reopen (from the WAL), although a new append at that time is refused.
#[test]
fn replay_keeps_acknowledged_samples_below_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let x = l("m", "x");
    {
        let db = Db::open(dir.path(), opts(0)).unwrap();
        db.append(&x, 500, 5.0).unwrap();
        db.backfill(&[BatchSample {
            labels: l("m", "y"),
            t_ms: 900,
            value: 9.0,
        }])
        .unwrap();
        // As the next open will derive it from the blocks.
        assert_eq!(db.min_valid_time(), Some(901));
        let res = db.append(&x, 600, 6.0);
        assert!(below(&res, 600, 901), "{res:?}");
        db.close().unwrap();
    }
    let db = Db::open(dir.path(), opts(0)).unwrap();
    let report = db.recovery_report();
    assert_eq!(report.samples_replayed, 1);
    assert_eq!(report.unknown_series_samples, 0);
    assert_eq!(db.min_valid_time(), Some(901));
    assert_eq!(read(&db, "x"), [(500, 5.0)]);
    // Through a checkpoint too.
    db.checkpoint().unwrap();
    db.close().unwrap();
    let db = Db::open(dir.path(), opts(0)).unwrap();
    assert_eq!(read(&db, "x"), [(500, 5.0)]);
    // A bit-equal duplicate of a head sample changes nothing: still taken.
    db.append(&x, 500, 5.0).unwrap();
    let res = db.append(&x, 700, 7.0);
    assert!(below(&res, 700, 901), "{res:?}");
    db.append(&x, 901, 9.5).unwrap();
    assert_eq!(read(&db, "x"), [(500, 5.0), (901, 9.5)]);
}

/// The values of label `s` among the series named `m`.
fn values(db: &Db) -> Vec<String> {
    db.label_values("s", &[Matcher::equal("__name__", "m")])
        .unwrap()
}

/// Cuts a block (so the head has a minimum valid time), then creates series
/// `new` with a sample below it, refused; returns the bound.
fn refuse_the_only_sample_of_a_new_series(db: &Db) -> i64 {
    db.append(&l("m", "a"), 10, 1.0).unwrap();
    db.append(&l("m", "clock"), 10 * SPAN, 0.0).unwrap();
    db.cut_blocks().unwrap();
    let bound = db.min_valid_time().unwrap();
    let res = db.append(&l("m", "new"), bound - 1, 5.0);
    assert!(below(&res, bound - 1, bound), "{res:?}");
    bound
}

/// A series whose only sample was refused has a logged record and no sample.
/// Recovery recreated it, and head GC then kept a series that never had a
/// sample, so after a reopen it was listed, with no sample, for good (found by
/// the delete crash test: a child killed between a new series' record and its
/// first sample). Recovery now drops the series it leaves without a sample (and
/// head GC such a series at its second pass: the next test).
#[test]
fn a_series_left_without_samples_is_not_listed_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Db::open(dir.path(), opts(0)).unwrap();
        let bound = refuse_the_only_sample_of_a_new_series(&db);
        // And one that keeps its sample, in the head.
        db.append(&l("m", "live"), bound, 2.0).unwrap();
        db.close().unwrap();
    }
    let db = Db::open(dir.path(), opts(0)).unwrap();
    assert_eq!(values(&db), ["a", "clock", "live"]);
    assert!(read(&db, "new").is_empty());
    assert_eq!(read(&db, "live").len(), 1);
    // The labels come back under a new series when they get a sample.
    let bound = db.min_valid_time().unwrap();
    db.append(&l("m", "new"), bound + 1, 6.0).unwrap();
    assert_eq!(read(&db, "new"), [(bound + 1, 6.0)]);
    assert_eq!(values(&db), ["a", "clock", "live", "new"]);
    db.close().unwrap();
    let db = Db::open(dir.path(), opts(0)).unwrap();
    assert_eq!(read(&db, "new"), [(bound + 1, 6.0)]);
}

/// Without a reopen: a new series whose only sample is refused holds no
/// sample, so head GC drops it — at the second GC that finds it so, since the
/// first cannot tell it from a series whose first append is on the way.
#[test]
fn a_series_whose_only_sample_was_refused_leaves_at_the_second_gc() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(0)).unwrap();
    refuse_the_only_sample_of_a_new_series(&db);
    assert_eq!(values(&db), ["a", "clock", "new"]);
    // Each cut ends with a head GC.
    db.append(&l("m", "clock"), 20 * SPAN, 0.0).unwrap();
    assert!(!db.cut_blocks().unwrap().is_empty());
    assert_eq!(values(&db), ["a", "clock", "new"], "kept by the first GC");
    db.append(&l("m", "clock"), 30 * SPAN, 0.0).unwrap();
    assert!(!db.cut_blocks().unwrap().is_empty());
    assert_eq!(values(&db), ["a", "clock"], "dropped by the second");
    assert!(read(&db, "new").is_empty());
    // The labels come back under a new series when they get a sample.
    let bound = db.min_valid_time().unwrap();
    db.append(&l("m", "new"), bound + 1, 6.0).unwrap();
    assert_eq!(read(&db, "new"), [(bound + 1, 6.0)]);
    assert_eq!(values(&db), ["a", "clock", "new"]);
}
