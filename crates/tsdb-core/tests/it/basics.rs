//! The write path's rules: ordering, duplicates, bounds, cardinality, NaN,
//! metadata, and the querier.

use std::sync::Arc;

use tsdb_core::storage::MemStorage;
use tsdb_core::{
    CardinalityLimits, DuplicatePolicy, Error, Labels, MatchOp, Matcher, MetricKind,
    MetricMetadata, Querier, SelectHints, WriteMode,
};

use crate::{all, open_mem, sample, series};

#[test]
fn in_order_out_of_order_and_too_old() {
    let mem = MemStorage::new();
    let db = open_mem(&mem, |o| o.ooo_window_ms = 1_500);
    let res = db
        .append_batch(
            &[
                sample(1, 10_000, 1.0),
                sample(1, 12_000, 3.0),
                sample(1, 11_000, 2.0), // out of order, inside the window
                sample(1, 10_500, 1.5), // 12_000 - 1_500: just inside
                sample(1, 10_499, 9.0), // too old
                sample(1, -1, 0.0),     // out of bounds
            ],
            None,
        )
        .unwrap();
    assert_eq!(res.accepted, 4);
    let idx: Vec<usize> = res.refused.iter().map(|r| r.index).collect();
    assert_eq!(idx, vec![4, 5]);
    assert!(matches!(
        res.refused[0].error,
        Error::TooOld {
            t_ms: 10_499,
            min_t_ms: 10_500
        }
    ));
    assert!(matches!(res.refused[1].error, Error::OutOfBounds { .. }));
    assert!(res.refused.iter().all(|r| r.error.is_refusal()));
    let s = all(&db);
    assert_eq!(s[0].timestamps, vec![10_000, 10_500, 11_000, 12_000]);
    assert_eq!(s[0].values, vec![1.0, 1.5, 2.0, 3.0]);
    let st = db.stats();
    assert_eq!(st.samples_out_of_order, 2);
    assert_eq!(st.samples_too_old, 1);
    assert_eq!(st.samples_out_of_bounds, 1);
}

#[test]
fn window_zero_refuses_out_of_order() {
    let mem = MemStorage::new();
    let db = open_mem(&mem, |o| o.ooo_window_ms = 0);
    db.append(&series(1), 2_000, 1.0).unwrap();
    let e = db.append(&series(1), 1_000, 1.0).unwrap_err();
    assert!(
        matches!(
            e,
            Error::OutOfOrder {
                t_ms: 1_000,
                max_t_ms: 2_000
            }
        ),
        "{e}"
    );
}

#[test]
fn duplicates_reject_policy() {
    let mem = MemStorage::new();
    let db = open_mem(&mem, |_| {});
    let stale = f64::from_bits(0x7ff0_0000_0000_0002); // Prometheus' staleness NaN
    db.append(&series(1), 1_000, stale).unwrap();
    db.append(&series(1), 2_000, 2.0).unwrap();
    // Bit-equal duplicates (NaN included) are idempotent, in and out of order.
    db.append(&series(1), 1_000, stale).unwrap();
    db.append(&series(1), 2_000, 2.0).unwrap();
    // Another NaN payload is a different value.
    let e = db.append(&series(1), 1_000, f64::NAN).unwrap_err();
    assert!(
        matches!(e, Error::DuplicateConflict { t_ms: 1_000, .. }),
        "{e}"
    );
    let e = db.append(&series(1), 2_000, 3.0).unwrap_err();
    assert!(matches!(e, Error::DuplicateConflict { t_ms: 2_000, .. }));
    let s = all(&db);
    assert_eq!(s[0].timestamps, vec![1_000, 2_000]);
    assert_eq!(s[0].values[0].to_bits(), stale.to_bits());
    assert_eq!(s[0].values[1], 2.0);
    let st = db.stats();
    assert_eq!((st.duplicates_equal, st.duplicates_refused), (2, 2));
}

#[test]
fn duplicates_last_write_wins_survives_reopen() {
    let mem = MemStorage::new();
    let lww = |o: &mut tsdb_core::Options| o.duplicate_policy = DuplicatePolicy::LastWriteWins;
    {
        let db = open_mem(&mem, lww);
        for t in 1..=300 {
            db.append(&series(1), t * 1_000, t as f64).unwrap();
        }
        db.append(&series(1), 5_000, -5.0).unwrap(); // inside a sealed chunk
        db.append(&series(1), 300_000, -300.0).unwrap(); // the newest sample
        db.append(&series(1), 5_000, -50.0).unwrap(); // replaced twice
        let s = &all(&db)[0];
        assert_eq!(s.timestamps.len(), 300);
        assert_eq!(s.values[4], -50.0);
        assert_eq!(s.values[299], -300.0);
        assert_eq!(db.stats().duplicates_replaced, 3);
        db.close().unwrap();
    }
    let db = open_mem(&mem, lww);
    let s = &all(&db)[0];
    assert_eq!(s.timestamps.len(), 300);
    assert_eq!(s.values[4], -50.0);
    assert_eq!(s.values[299], -300.0);
    // The newest value is what a retry is compared with.
    db.append(&series(1), 300_000, -300.0).unwrap();
}

#[test]
fn bad_labels_and_cardinality_are_per_sample() {
    let mem = MemStorage::new();
    let db = open_mem(&mem, |o| {
        o.limits = CardinalityLimits {
            max_series_per_metric: 2,
            ..CardinalityLimits::default()
        }
    });
    let no_name = Labels::new([("job", "x")]).unwrap();
    let mut batch = vec![
        sample(1, 1_000, 1.0),
        sample(2, 1_000, 2.0),
        sample(3, 1_000, 3.0),
    ];
    batch.push(tsdb_core::BatchSample {
        labels: no_name,
        t_ms: 1_000,
        value: 0.0,
    });
    batch.push(sample(1, 2_000, 1.0));
    let res = db.append_batch(&batch, Some(WriteMode::Durable)).unwrap();
    assert_eq!(res.accepted, 3);
    assert_eq!(
        res.refused.iter().map(|r| r.index).collect::<Vec<_>>(),
        vec![2, 3]
    );
    for r in &res.refused {
        assert!(matches!(r.error, Error::Cardinality(_)), "{}", r.error);
        assert!(r.error.is_refusal());
    }
    assert_eq!(db.stats().samples_series_refused, 2);
    assert_eq!(all(&db).len(), 2);
}

#[test]
fn querier_selects_sorted_and_in_range() {
    let mem = MemStorage::new();
    let db = open_mem(&mem, |_| {});
    for s in (0..5).rev() {
        for t in 0..500 {
            db.append(&series(s), 1_000 + t * 10, f64::from(s)).unwrap();
        }
    }
    let q = db.querier();
    let hits = q
        .select(
            &[
                Matcher::equal("__name__", "m"),
                Matcher::new(MatchOp::RegexMatch, "s", "[13]").unwrap(),
            ],
            &SelectHints::range(1_995, 2_030),
        )
        .unwrap();
    assert_eq!(hits.len(), 2);
    assert!(hits[0].labels < hits[1].labels);
    assert_eq!(hits[0].timestamps, vec![2_000, 2_010, 2_020, 2_030]);
    let none = q
        .series(
            &[Matcher::equal("__name__", "m")],
            &SelectHints::range(0, 999),
        )
        .unwrap();
    assert!(none.is_empty());
    assert_eq!(
        q.series(
            &[Matcher::equal("__name__", "m")],
            &SelectHints::range(5_990, 9_000)
        )
        .unwrap()
        .len(),
        5
    );
    assert_eq!(q.label_names(&[]).unwrap(), vec!["__name__", "s"]);
    assert_eq!(q.label_values("s", &[]).unwrap().len(), 5);
    let arc: Arc<dyn Querier> = Arc::new(db.querier());
    assert_eq!(all(&arc).len(), 5);
    assert!(matches!(
        q.select(&[Matcher::equal("s", "")], &SelectHints::range(0, 1)),
        Err(Error::Query(_))
    ));
}

#[test]
fn metadata_is_validated_and_persisted() {
    let dir = tempfile::tempdir().unwrap();
    let meta = MetricMetadata {
        name: "http.requests".into(),
        kind: MetricKind::Counter,
        unit: "requests".into(),
        description: "Requests served".into(),
        owner: "edge-team".into(),
        created_at_ms: 1_700_000_000_000,
    };
    {
        let db = tsdb_core::Db::open(dir.path(), tsdb_core::Options::default()).unwrap();
        db.set_metadata(meta.clone()).unwrap();
        let mut bad = meta.clone();
        bad.unit = "bad unit".into();
        assert!(matches!(
            db.set_metadata(bad),
            Err(Error::InvalidMetadata(_))
        ));
        db.close().unwrap();
    }
    let db = tsdb_core::Db::open(dir.path(), tsdb_core::Options::default()).unwrap();
    assert_eq!(db.metadata("http.requests"), Some(meta));
    assert_eq!(db.list_metadata().len(), 1);
    assert!(db.remove_metadata("http.requests").unwrap());
    assert!(db.metadata("http.requests").is_none());
}

#[test]
fn closed_db_refuses_writes() {
    let mem = MemStorage::new();
    let db = open_mem(&mem, |_| {});
    let q = db.querier();
    db.append(&series(1), 1, 1.0).unwrap();
    db.close().unwrap();
    assert_eq!(all(&q).len(), 1);
}

#[test]
fn memory_is_accounted() {
    let mem = MemStorage::new();
    let db = open_mem(&mem, |_| {});
    for s in 0..1_000 {
        db.append(&series(s), 1_000, 1.0).unwrap();
    }
    let st = db.stats();
    assert_eq!(st.series, 1_000);
    assert!(st.head_bytes > st.head_compressed_bytes);
    assert!(st.head_bytes / 1_000 < 1_024, "{st:?}");
    assert!(st.index_bytes > 0);
}

#[test]
fn a_second_open_of_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = tsdb_core::Db::open(dir.path(), tsdb_core::Options::default()).unwrap();
    let e = tsdb_core::Db::open(dir.path(), tsdb_core::Options::default()).unwrap_err();
    assert!(
        matches!(&e, Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock),
        "{e}"
    );
    drop(db);
    tsdb_core::Db::open(dir.path(), tsdb_core::Options::default()).unwrap();
}

#[test]
fn checkpoint_removes_covered_segments_and_bounds_replay() {
    let mem = MemStorage::new();
    let db = open_mem(&mem, |o| o.wal_segment_bytes = 4096);
    for t in 0..400 {
        let batch: Vec<_> = (0..4).map(|s| sample(s, t, t as f64)).collect();
        db.append_batch(&batch, None).unwrap();
    }
    assert!(db.stats().wal_segments > 5);
    db.checkpoint().unwrap();
    assert_eq!(db.stats().wal_segments, 1);
    assert_eq!(db.stats().checkpoints, 1);
    db.append_batch(&[sample(0, 400, 400.0)], None).unwrap();
    db.close().unwrap();
    let db = open_mem(&mem, |_| {});
    let r = db.recovery_report();
    assert!(r.checkpoint.is_some());
    assert_eq!(r.checkpoint_series, 4);
    assert_eq!(r.samples_replayed, 1);
    assert!(r.repair.is_none());
    let s = all(&db);
    assert_eq!(s[0].timestamps.len(), 401);
    assert_eq!(s[3].timestamps, (0..400).collect::<Vec<_>>());
}

#[test]
fn background_checkpoints_run_on_their_own() {
    let mem = MemStorage::new();
    let db = open_mem(&mem, |o| {
        o.wal_segment_bytes = 4096;
        o.checkpoint_after_bytes = 8 << 10;
        o.flush_interval = std::time::Duration::from_millis(2);
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut t = 0;
    while db.stats().checkpoints == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no background checkpoint"
        );
        db.append_batch(&(0..4).map(|s| sample(s, t, 1.0)).collect::<Vec<_>>(), None)
            .unwrap();
        t += 1;
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert!(db.background_error().is_none());
}

#[test]
fn close_releases_the_directory_even_with_live_queriers() {
    let dir = tempfile::tempdir().unwrap();
    let db = tsdb_core::Db::open(dir.path(), tsdb_core::Options::default()).unwrap();
    db.append(&series(1), 1, 1.0).unwrap();
    let q = db.querier();
    db.close().unwrap();
    let db = tsdb_core::Db::open(dir.path(), tsdb_core::Options::default()).unwrap();
    assert_eq!(all(&db).len(), 1);
    assert_eq!(all(&q).len(), 1);
}

#[test]
fn head_labels_hands_out_the_heads_own_copy() {
    let mem = MemStorage::new();
    let db = open_mem(&mem, |_| {});
    assert!(db.head_labels(&series(1)).is_none());
    db.append(&series(1), 1_000, 1.0).unwrap();
    // An equal set built anew gets the head's copy back, which appends take.
    let stored = db.head_labels(&series(1)).unwrap();
    assert_eq!(stored, series(1));
    assert!(db.head_labels(&series(2)).is_none());
    db.append(&stored, 2_000, 2.0).unwrap();
    assert_eq!(all(&db).len(), 1);
    // After a restart the head's sets come from the WAL.
    drop(db);
    let db = open_mem(&mem, |_| {});
    assert_eq!(db.head_labels(&series(1)), Some(series(1)));
}
