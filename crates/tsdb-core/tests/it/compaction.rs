//! Compaction, retention and backfill: reads equal a model across the head,
//! overlapping blocks and compacted blocks, under random operations and with
//! readers running during compaction; sources of a finished compaction left on
//! disk are deleted at open.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rand::{Rng, SeedableRng};
use tsdb_core::{BatchSample, Db, Options};

use crate::blocks::{Model, SPAN, check_all, check_range, put};
use crate::{sample, series};

/// Every value is a function of (series, time), so duplicates never conflict.
fn val(s: u32, t: i64) -> f64 {
    (t % 97) as f64 * 0.5 + f64::from(s)
}

fn options() -> Options {
    Options {
        block_span_ms: SPAN,
        ooo_window_ms: 3 * SPAN,
        maintenance_interval: None,
        compaction_bytes_per_sec: 0,
        ..Options::default()
    }
}

fn dense(db: &Db, model: &mut Model, series_n: u32, from: i64, to: i64, step: i64) {
    let mut samples = Vec::new();
    for t in (from..to).step_by(step as usize) {
        for s in 0..series_n {
            samples.push((s, t, val(s, t)));
        }
    }
    put(db, model, &samples);
}

#[test]
fn compaction_levels_and_reads_equal_model() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    let mut model = Model::new();
    dense(&db, &mut model, 4, 0, 40 * SPAN, 50);
    let cut = db.cut_blocks().unwrap();
    assert_eq!(cut.len(), 39);
    let compacted = db.compact_blocks().unwrap();
    assert!(!compacted.is_empty());
    let blocks = db.blocks();
    // 0..36 000 is one level-3 block; 36 000..39 000 stay level 1 (their 6 000
    // window is not complete).
    assert_eq!(blocks[0].compaction.level, 3, "{blocks:#?}");
    assert_eq!(blocks[0].min_time_ms, 0);
    assert!(blocks[0].max_time_ms < 36 * SPAN);
    assert_eq!(blocks.len(), 1 + 3);
    check_all(&db, &model);
    for w in 0..40 {
        check_range(&db, &model, w * SPAN - 7, w * SPAN + 13);
    }
    // Compacted sources are gone from disk.
    let on_disk = std::fs::read_dir(dir.path().join("blocks"))
        .unwrap()
        .count();
    assert_eq!(on_disk, blocks.len());
    db.close().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    check_all(&db, &model);
}

#[test]
fn random_operations_equal_model() {
    for seed in 0..3u64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(dir.path(), options()).unwrap();
        let mut model = Model::new();
        let mut now = 20 * SPAN;
        for step in 0..50 {
            match rng.gen_range(0..10) {
                0..=4 => {
                    now += rng.gen_range(0..SPAN);
                    let batch: Vec<BatchSample> = (0..rng.gen_range(1..40))
                        .map(|_| {
                            let s = rng.gen_range(0..5);
                            let t = now - rng.gen_range(0..4 * SPAN);
                            sample(s, t, val(s, t))
                        })
                        .collect();
                    let res = db.append_batch(&batch, None).unwrap();
                    let refused: Vec<usize> = res.refused.iter().map(|r| r.index).collect();
                    for (i, b) in batch.iter().enumerate() {
                        if !refused.contains(&i) {
                            let s: u32 = b.labels.get("s").unwrap().parse().unwrap();
                            model.entry(s).or_default().insert(b.t_ms, b.value);
                        }
                    }
                }
                5 => {
                    db.cut_blocks().unwrap();
                }
                6 => {
                    let b = now - rng.gen_range(0..3 * SPAN);
                    db.cut_blocks_before(b).unwrap();
                }
                7 => {
                    db.compact_blocks().unwrap();
                }
                8 => {
                    let batch: Vec<BatchSample> = (0..rng.gen_range(1..60))
                        .map(|_| {
                            let s = rng.gen_range(0..7);
                            let t = rng.gen_range((now - 8 * SPAN).max(0)..now);
                            sample(s, t, val(s, t))
                        })
                        .collect();
                    db.backfill(&batch).unwrap();
                    for b in &batch {
                        let s: u32 = b.labels.get("s").unwrap().parse().unwrap();
                        model.entry(s).or_default().insert(b.t_ms, b.value);
                    }
                }
                _ => {
                    drop(db);
                    db = Db::open(dir.path(), options()).unwrap();
                }
            }
            for _ in 0..3 {
                let a = rng.gen_range(0..now + SPAN);
                let b = a + rng.gen_range(0..5 * SPAN);
                check_range(&db, &model, a, b);
            }
            if step % 20 == 19 {
                check_all(&db, &model);
            }
        }
        db.compact_blocks().unwrap();
        check_all(&db, &model);
    }
}

#[test]
fn readers_during_cut_and_compaction_see_everything() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(dir.path(), options()).unwrap());
    let mut model = Model::new();
    dense(&db, &mut model, 6, 0, 30 * SPAN, 20);
    let model = Arc::new(model);
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (db, model, stop) = (Arc::clone(&db), Arc::clone(&model), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut reads = 0;
                while !stop.load(Ordering::Relaxed) || reads < 3 {
                    check_range(&*db, &model, 0, i64::MAX);
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    for k in 1..=28 {
        db.cut_blocks_before(k * SPAN).unwrap();
        if k % 7 == 0 {
            db.compact_blocks().unwrap();
        }
    }
    db.compact_blocks().unwrap();
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() >= 3);
    }
    check_all(&*db, &model);
}

#[test]
fn retention_by_age_and_size_drops_whole_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || Options {
        retention_ms: 10 * SPAN,
        ..options()
    };
    let db = Db::open(dir.path(), opts()).unwrap();
    let mut model = Model::new();
    dense(&db, &mut model, 2, 0, 30 * SPAN, 100);
    db.cut_blocks().unwrap();
    // Retention caps compaction at a tenth of it: no level above 1.
    assert!(db.compact_blocks().unwrap().is_empty());
    let dropped = db.apply_retention().unwrap();
    // The newest sample is at 29 900: blocks ending before 19 900 go.
    assert_eq!(dropped.len(), 19, "{dropped:#?}");
    let oldest = db.blocks()[0].min_time_ms;
    assert_eq!(oldest, 19 * SPAN);
    for m in model.values_mut() {
        m.retain(|&t, _| t >= oldest);
    }
    check_all(&db, &model);
    assert_eq!(
        std::fs::read_dir(dir.path().join("blocks"))
            .unwrap()
            .count(),
        db.blocks().len()
    );
    drop(db);

    let sized = || Options {
        retention_bytes: 1,
        ..options()
    };
    let db = Db::open(dir.path(), sized()).unwrap();
    let before = db.blocks().len();
    assert!(before > 1);
    let dropped = db.apply_retention().unwrap();
    assert_eq!(dropped.len(), before, "a 1-byte budget drops every block");
    let _ = series(0);
}

#[test]
fn backfill_overlapping_blocks_get_merged() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    let mut model = Model::new();
    dense(&db, &mut model, 3, 10 * SPAN, 20 * SPAN, 100);
    db.cut_blocks().unwrap();
    let mut batch = Vec::new();
    for t in (0..15 * SPAN).step_by(333) {
        for s in 0..4 {
            batch.push(sample(s, t, val(s, t)));
            model.entry(s).or_default().insert(t, val(s, t));
        }
    }
    let metas = db.backfill(&batch).unwrap();
    assert_eq!(metas.len(), 15);
    check_all(&db, &model);
    db.compact_blocks().unwrap();
    let blocks = db.blocks();
    for w in blocks.windows(2) {
        assert!(
            w[0].max_time_ms < w[1].min_time_ms,
            "overlap left: {blocks:#?}"
        );
    }
    check_all(&db, &model);
    let bad = [BatchSample {
        labels: series(0),
        t_ms: -1,
        value: 0.0,
    }];
    assert!(db.backfill(&bad).is_err());
}

#[test]
fn sources_left_by_a_crash_after_compaction_are_deleted_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let blocks_dir = dir.path().join("blocks");
    let mut model = Model::new();
    let saved = tempfile::tempdir().unwrap();
    {
        let db = Db::open(dir.path(), options()).unwrap();
        dense(&db, &mut model, 2, 0, 8 * SPAN, 100);
        db.cut_blocks().unwrap();
        for e in std::fs::read_dir(&blocks_dir).unwrap() {
            let e = e.unwrap();
            copy_dir(&e.path(), &saved.path().join(e.file_name()));
        }
        assert!(!db.compact_blocks().unwrap().is_empty());
    }
    // As if the process died before removing the sources.
    let mut restored = 0;
    for e in std::fs::read_dir(saved.path()).unwrap() {
        let e = e.unwrap();
        if !blocks_dir.join(e.file_name()).exists() {
            copy_dir(&e.path(), &blocks_dir.join(e.file_name()));
            restored += 1;
        }
    }
    assert!(restored >= 2);
    let db = Db::open(dir.path(), options()).unwrap();
    let r = &db.recovery_report().blocks;
    assert_eq!(r.compacted_sources_removed.len(), restored, "{r:?}");
    check_all(&db, &model);
    drop(db);
    let left: BTreeMap<_, _> = std::fs::read_dir(&blocks_dir)
        .unwrap()
        .map(|e| (e.unwrap().file_name(), ()))
        .collect();
    assert_eq!(
        left.len(),
        Db::open(dir.path(), options()).unwrap().blocks().len()
    );
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// A compaction chain A + B → X, then X + C → Y, with A's directory
/// outliving X's (a reader held it when a crash came): opening must delete
/// A, or its samples come back next to Y's, including samples deleted
/// before Y was written.
#[test]
fn a_source_of_a_source_left_by_a_crash_is_deleted_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let blocks_dir = dir.path().join("blocks");
    let saved = tempfile::tempdir().unwrap();
    let mut model = Model::new();
    let fill = |db: &Db, model: &mut Model, s: u32, from: i64, to: i64| {
        let mut batch = Vec::new();
        for t in (from..to).step_by(50) {
            batch.push(sample(s, t, val(s, t)));
            model.entry(s).or_default().insert(t, val(s, t));
        }
        let metas = db.backfill(&batch).unwrap();
        assert_eq!(metas.len(), 1);
        metas[0].id.clone()
    };
    let db = Db::open(dir.path(), options()).unwrap();
    let a = fill(&db, &mut model, 0, 0, 600);
    copy_dir(&blocks_dir.join(&a), &saved.path().join(&a));
    let b = fill(&db, &mut model, 0, 300, 900);
    let x = db.compact_blocks().unwrap();
    assert_eq!(x.len(), 1);
    assert_eq!(x[0].compaction.sources, {
        let mut v = vec![a.clone(), b.clone()];
        v.sort();
        v
    });
    db.delete_series(&[tsdb_core::Matcher::equal("s", "0")], 0, 200)
        .unwrap();
    model.get_mut(&0).unwrap().retain(|&t, _| t > 200);
    let c = fill(&db, &mut model, 1, 100, 700);
    let y = db.compact_blocks().unwrap();
    assert_eq!(y.len(), 1);
    let mut lineage = vec![a.clone(), b, c, x[0].id.clone()];
    lineage.sort();
    assert_eq!(y[0].compaction.sources, lineage);
    check_all(&db, &model);
    db.close().unwrap();
    // As if A's directory had survived a crash.
    copy_dir(&saved.path().join(&a), &blocks_dir.join(&a));
    let db = Db::open(dir.path(), options()).unwrap();
    let r = &db.recovery_report().blocks;
    assert_eq!(
        r.compacted_sources_removed,
        std::slice::from_ref(&a),
        "{r:?}"
    );
    assert_eq!(db.blocks().len(), 1);
    check_all(&db, &model);
    drop(db);
    assert!(!blocks_dir.join(&a).exists());
}
