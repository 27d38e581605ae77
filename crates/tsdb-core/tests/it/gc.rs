//! Head garbage collection: series whose samples all went to blocks (or were
//! deleted) leave the head, so the head tracks the active series under churn;
//! their data stays readable from blocks, a series that comes back is a new
//! head series, and recovery agrees. Label queries skip series deleted whole.

use std::collections::BTreeSet;

use rand::{Rng, SeedableRng};
use tsdb_core::{Db, Labels, Matcher, Options, Querier, SelectHints};

use crate::blocks::{Model, SPAN, check_all, put};

fn options() -> Options {
    Options {
        block_span_ms: SPAN,
        ooo_window_ms: 0,
        maintenance_interval: None,
        compaction_bytes_per_sec: 0,
        ..Options::default()
    }
}

/// Labels `{__name__="m", s=<s>}` values present in the model.
fn model_values(model: &Model) -> Vec<String> {
    let set: BTreeSet<String> = model
        .iter()
        .filter(|(_, m)| !m.is_empty())
        .map(|(s, _)| s.to_string())
        .collect();
    set.into_iter().collect()
}

/// Reads, series listing and label values agree with the model.
fn check_everything(db: &Db, model: &Model) {
    check_all(db, model);
    let mut want = model_values(model);
    let mut got = db.label_values("s", &[]).unwrap();
    got.sort();
    want.sort();
    assert_eq!(got, want, "label values");
    let listed: Vec<String> = db
        .series(
            &[Matcher::equal("__name__", "m")],
            &SelectHints::range(i64::MIN, i64::MAX),
        )
        .unwrap()
        .iter()
        .map(|l| l.get("s").unwrap().to_string())
        .collect();
    let mut listed_sorted = listed.clone();
    listed_sorted.sort();
    assert_eq!(listed_sorted, want, "series listing");
    let names = db.label_names(&[]).unwrap();
    assert_eq!(
        names.contains(&"s".to_string()),
        !want.is_empty(),
        "{names:?}"
    );
}

/// Churn: every generation, `PODS` new series take over from the last ones
/// (pods restarting), next to a few long-lived series. After each cut the
/// head holds only what is active; all data stays readable.
#[test]
fn head_tracks_active_series_under_churn() {
    const PODS: u32 = 200;
    const LONG: u32 = 5;
    const GENERATIONS: i64 = 12;
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    let mut model = Model::new();
    let mut peak = (0, 0);
    let mut most_after_cut = 0;
    for g in 0..GENERATIONS {
        let mut samples = Vec::new();
        for t in (g * SPAN..(g + 1) * SPAN).step_by(100) {
            for s in 0..LONG {
                samples.push((s, t, (t + i64::from(s)) as f64));
            }
            for k in 0..PODS {
                let s = 1_000 + g as u32 * PODS + k;
                samples.push((s, t, t as f64 * 0.5));
            }
        }
        put(&db, &mut model, &samples);
        let before = db.stats();
        peak = (peak.0.max(before.series), peak.1.max(before.head_bytes));
        db.cut_blocks().unwrap();
        most_after_cut = most_after_cut.max(db.stats().series);
    }
    let end = db.stats();
    eprintln!(
        "churn: {} series ever, head before a cut at most {} series / {} B; \
         after the last cut {} series / {} B head, {} B index",
        LONG + PODS * GENERATIONS as u32,
        peak.0,
        peak.1,
        end.series,
        end.head_bytes,
        end.index_bytes
    );
    // After a cut the head holds the active series only: the generation
    // cut away is gone.
    assert!(
        most_after_cut <= (LONG + PODS) as usize,
        "{most_after_cut} head series after a cut"
    );
    check_everything(&db, &model);
    db.close().unwrap();

    // Recovery brings back the same head, not the dropped series.
    let db = Db::open(dir.path(), options()).unwrap();
    assert_eq!(db.stats().series, end.series);
    check_everything(&db, &model);

    // A dropped series comes back: a new head series, its old samples still
    // read from the blocks, and both survive a reopen.
    let t = GENERATIONS * SPAN + 10;
    put(&db, &mut model, &[(1_000, t, 42.0), (1_001, t, 43.0)]);
    assert_eq!(db.stats().series, end.series + 2);
    check_everything(&db, &model);
    db.close().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    check_everything(&db, &model);
    put(&db, &mut model, &[(1_000, t + 1, 44.0), (7, t + 1, 45.0)]);
    check_everything(&db, &model);
    db.compact().unwrap();
    check_everything(&db, &model);
    db.close().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    check_everything(&db, &model);
}

/// A series deleted whole disappears from label names, label values and the
/// series listing at once (head and blocks), before compaction and after a
/// reopen; a series deleted in part stays listed.
#[test]
fn label_queries_skip_series_deleted_whole() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    let zone = Labels::new([("__name__", "m"), ("s", "9"), ("zone", "eu")]).unwrap();
    let mut model = Model::new();
    let mut samples = Vec::new();
    for t in (0..4 * SPAN).step_by(50) {
        for s in 0..3 {
            samples.push((s, t, t as f64));
        }
    }
    put(&db, &mut model, &samples);
    for t in (0..3 * SPAN).step_by(100) {
        db.append(&zone, t, 1.0).unwrap();
    }
    db.cut_blocks().unwrap();
    assert!(!db.blocks().is_empty());
    let names = db.label_names(&[]).unwrap();
    assert!(names.contains(&"zone".to_string()));
    let zone_sel = [Matcher::equal("zone", "eu")];
    // Blocks only (the zone series ended before the boundary).
    db.delete_series(&zone_sel, i64::MIN, i64::MAX).unwrap();
    // Head and blocks, whole; and in part.
    db.delete_series(&[Matcher::equal("s", "2")], i64::MIN, i64::MAX)
        .unwrap();
    db.delete_series(&[Matcher::equal("s", "1")], 0, 2 * SPAN)
        .unwrap();
    model.remove(&2);
    model.get_mut(&1).unwrap().retain(|&t, _| t > 2 * SPAN);
    let check = |db: &Db| {
        assert!(!db.label_names(&[]).unwrap().contains(&"zone".to_string()));
        assert!(db.label_values("zone", &[]).unwrap().is_empty());
        assert_eq!(db.label_values("s", &[]).unwrap(), ["0", "1"]);
        assert_eq!(
            db.label_values("s", &[Matcher::equal("__name__", "m")])
                .unwrap(),
            ["0", "1"]
        );
        assert!(
            db.label_names(&zone_sel).unwrap().is_empty(),
            "{:?}",
            db.label_names(&zone_sel)
        );
        check_everything(db, &model);
    };
    check(&db);
    db.close().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    check(&db);
    db.compact_blocks().unwrap();
    check(&db);
}

/// Random churn, cuts, deletions, compactions and reopens against a model:
/// reads, series listings and label values always agree with it.
#[test]
fn random_churn_cut_delete_reopen_matches_the_model() {
    for seed in 0..4u64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(dir.path(), options()).unwrap();
        let mut model = Model::new();
        let mut t = 0i64;
        for step in 0..60 {
            match rng.gen_range(0..10) {
                0..=4 => {
                    // A few series (from a small pool, so some come back) write a while.
                    let active: Vec<u32> = (0..rng.gen_range(1..4))
                        .map(|_| rng.gen_range(0..8))
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .collect();
                    let mut samples = Vec::new();
                    for _ in 0..rng.gen_range(1..20) {
                        t += rng.gen_range(1..150);
                        for &s in &active {
                            samples.push((s, t, rng.gen_range(0..1000) as f64));
                        }
                    }
                    put(&db, &mut model, &samples);
                }
                5 | 6 => {
                    db.cut_blocks().unwrap();
                }
                7 => {
                    let s = rng.gen_range(0..8u32);
                    let (a, b) = if rng.gen_bool(0.5) {
                        (i64::MIN, i64::MAX)
                    } else {
                        let a = rng.gen_range(0..=t.max(1));
                        (a, a + rng.gen_range(0..3 * SPAN))
                    };
                    db.delete_series(&[Matcher::equal("s", &s.to_string())], a, b)
                        .unwrap();
                    if let Some(m) = model.get_mut(&s) {
                        m.retain(|&x, _| x < a || x > b);
                    }
                }
                8 => {
                    db.compact().unwrap();
                }
                _ => {
                    db.close().unwrap();
                    db = Db::open(dir.path(), options()).unwrap();
                }
            }
            model.retain(|_, m| !m.is_empty());
            let ctx = format!("seed {seed} step {step}");
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                check_everything(&db, &model)
            }))
            .unwrap_or_else(|_| panic!("{ctx}"));
        }
    }
}

/// Writers keep creating, abandoning and reviving series while cuts (and
/// head GC) run in a loop: no sample is refused or lost, before and after a
/// reopen. The writers stay within a round of each other: a cut follows the
/// newest sample, and the head refuses samples older than its blocks (the
/// minimum valid time), so a writer left far behind would be refused by design.
#[test]
fn writers_racing_head_gc_lose_nothing() {
    use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
    /// Marks a writer finished (also when it panics), so the other stops waiting.
    struct Finished<'a>(&'a AtomicI64);
    impl Drop for Finished<'_> {
        fn drop(&mut self) {
            self.0.store(i64::MAX, Ordering::Release);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    let stop = AtomicBool::new(false);
    let rounds = [AtomicI64::new(0), AtomicI64::new(0)];
    let models: Vec<Model> = std::thread::scope(|scope| {
        let cutter = scope.spawn(|| {
            let mut cuts = 0;
            while !stop.load(Ordering::Relaxed) {
                cuts += db.cut_blocks().unwrap().len();
            }
            cuts
        });
        let writers: Vec<_> = (0..2u32)
            .map(|w| {
                let (db, rounds) = (&db, &rounds);
                scope.spawn(move || {
                    let (mine, other) = (&rounds[w as usize], &rounds[1 - w as usize]);
                    let _finished = Finished(mine);
                    let mut rng = rand::rngs::StdRng::seed_from_u64(u64::from(w));
                    let mut model = Model::new();
                    for round in 0..1_000i64 {
                        mine.store(round, Ordering::Release);
                        while other.load(Ordering::Acquire) < round - 1 {
                            std::thread::yield_now();
                        }
                        // A window of 4 series out of 12 moves along: series
                        // leave, and come back after GC dropped them.
                        let first = (round / 10) as u32 % 12;
                        let mut samples = Vec::new();
                        for k in 0..4 {
                            let s = w * 100 + (first + k) % 12;
                            let t = round * 50 + rng.gen_range(0..50);
                            samples.push((s, t, (t * 7 + i64::from(s)) as f64));
                        }
                        put(db, &mut model, &samples);
                    }
                    model
                })
            })
            .collect();
        // Stop the cutter before a writer's panic is passed on (else the
        // scope would wait for the cutter forever).
        let joined: Vec<_> = writers.into_iter().map(|h| h.join()).collect();
        stop.store(true, Ordering::Relaxed);
        let models = joined.into_iter().map(|r| r.unwrap()).collect();
        assert!(cutter.join().unwrap() > 0, "no cut ran");
        models
    });
    let mut model = Model::new();
    for m in models {
        model.extend(m);
    }
    check_everything(&db, &model);
    db.cut_blocks().unwrap();
    // Only the series of the last rounds are active.
    assert!(db.stats().series <= 10, "{} head series", db.stats().series);
    check_everything(&db, &model);
    db.close().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    check_everything(&db, &model);
}
