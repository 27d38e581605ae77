//! Deleting series by matchers and time range: gone from reads at once (head
//! and blocks), after a reopen, and for good after compaction rewrites the
//! blocks; samples written afterwards are kept.

use tsdb_core::{Db, Matcher, Options};

use crate::blocks::{Model, SPAN, check_all, put};

fn options() -> Options {
    Options {
        block_span_ms: SPAN,
        ooo_window_ms: 3 * SPAN,
        maintenance_interval: None,
        compaction_bytes_per_sec: 0,
        ..Options::default()
    }
}

#[test]
fn delete_series_in_head_and_blocks_then_compact() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    let mut model = Model::new();
    let mut samples = Vec::new();
    for t in (0..10 * SPAN).step_by(50) {
        for s in 0..4 {
            samples.push((s, t, (t + i64::from(s)) as f64));
        }
    }
    put(&db, &mut model, &samples);
    db.cut_blocks().unwrap(); // blocks below 9 000, the rest in the head
    assert_eq!(db.blocks().len(), 9);

    // s=1 in [2 500, 9 500] (blocks and head), s=2 entirely.
    db.delete_series(&[Matcher::equal("s", "1")], 2_500, 9_500)
        .unwrap();
    db.delete_series(&[Matcher::equal("s", "2")], i64::MIN, i64::MAX)
        .unwrap();
    model
        .get_mut(&1)
        .unwrap()
        .retain(|&t, _| !(2_500..=9_500).contains(&t));
    model.remove(&2);
    check_all(&db, &model);
    // Written after the deletion: kept.
    put(&db, &mut model, &[(1, 9_020, 1.0), (2, 9_990, 2.0)]);
    check_all(&db, &model);
    db.close().unwrap();

    let db = Db::open(dir.path(), options()).unwrap();
    check_all(&db, &model);
    let stones = dir.path().join("blocks").join("tombstones.json");
    assert!(std::fs::read_to_string(&stones).unwrap().contains("\"s\""));
    // Compaction rewrites every block a tombstone names and drops it.
    db.compact_blocks().unwrap();
    check_all(&db, &model);
    let left: serde_json::Value = serde_json::from_slice(&std::fs::read(&stones).unwrap()).unwrap();
    assert_eq!(left["tombstones"].as_array().unwrap().len(), 0, "{left}");
    let samples: u64 = db.blocks().iter().map(|b| b.stats.num_samples).sum();
    let in_blocks: usize = model.values().map(|m| m.range(..9 * SPAN).count()).sum();
    assert_eq!(samples as usize, in_blocks, "deleted samples still on disk");
    let stats = db.stats();
    assert_eq!(stats.block_samples, samples);
    assert_eq!(stats.blocks, db.blocks().len());
    assert!(stats.block_bytes > 0);
    db.close().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    check_all(&db, &model);
}
