//! Blocks: writer/reader round trip, corruption, cutting the head, reads over
//! head + blocks against a model, corrupt blocks moved aside at open.

use std::collections::BTreeMap;
use std::path::Path;

use rand::{Rng, SeedableRng};
use tsdb_core::block::{Block, BlockWriter, new_block_id};
use tsdb_core::{Db, Error, Labels, Matcher, Options, Querier, SelectHints};

use crate::{sample, series};

/// series -> time -> value.
pub type Model = BTreeMap<u32, BTreeMap<i64, f64>>;

pub const SPAN: i64 = 1_000;

pub fn block_options() -> Options {
    Options {
        block_span_ms: SPAN,
        ooo_window_ms: 10 * SPAN,
        ..Options::default()
    }
}

/// Appends `(series, t, v)` to the db and the model.
pub fn put(db: &Db, model: &mut Model, samples: &[(u32, i64, f64)]) {
    let batch: Vec<_> = samples.iter().map(|&(s, t, v)| sample(s, t, v)).collect();
    let res = db.append_batch(&batch, None).unwrap();
    assert!(res.refused.is_empty(), "{:?}", res.refused);
    for &(s, t, v) in samples {
        model.entry(s).or_default().insert(t, v);
    }
}

/// Checks every series in `[min, max]` against the model.
pub fn check_range(q: &impl Querier, model: &Model, min: i64, max: i64) {
    let got = q
        .select(
            &[Matcher::equal("__name__", "m")],
            &SelectHints::range(min, max),
        )
        .unwrap();
    let mut want: Vec<(Labels, Vec<i64>, Vec<u64>)> = model
        .iter()
        .map(|(&s, m)| {
            let r: Vec<(&i64, &f64)> = m.range(min..=max).collect();
            (
                series(s),
                r.iter().map(|(t, _)| **t).collect::<Vec<i64>>(),
                r.iter().map(|(_, v)| v.to_bits()).collect::<Vec<u64>>(),
            )
        })
        .filter(|w| !w.1.is_empty())
        .collect();
    want.sort_by(|a, b| a.0.cmp(&b.0));
    let got: Vec<(Labels, Vec<i64>, Vec<u64>)> = got
        .into_iter()
        .map(|s| {
            let bits = s.values.iter().map(|v| v.to_bits()).collect();
            (s.labels, s.timestamps, bits)
        })
        .collect();
    assert_eq!(got.len(), want.len(), "series count in [{min}, {max}]");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w, "range [{min}, {max}]");
    }
}

pub fn check_all(q: &impl Querier, model: &Model) {
    check_range(q, model, i64::MIN, i64::MAX);
    for (min, max) in [
        (0, SPAN - 1),
        (SPAN / 2, 2 * SPAN + 7),
        (1_234, 1_234),
        (3 * SPAN, 9 * SPAN),
    ] {
        check_range(q, model, min, max);
    }
}

#[test]
fn block_round_trip_and_chunk_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let id = new_block_id();
    let mut w = BlockWriter::create(dir.path(), &id).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut want = Vec::new();
    for s in 0..50u32 {
        let n = rng.gen_range(1..3000);
        let ts: Vec<i64> = (0..n).map(|i| i64::from(s) + i * 10).collect();
        let vs: Vec<f64> = (0..n).map(|_| f64::from(rng.gen_range(0..100u8))).collect();
        want.push((series(s), ts, vs));
    }
    want.sort_by(|a, b| a.0.cmp(&b.0));
    for (l, ts, vs) in &want {
        w.add_samples(l.clone(), ts, vs).unwrap();
    }
    let meta = w.finish(1, Vec::new()).unwrap();
    assert_eq!(meta.stats.num_series, 50);
    let block = Block::open(dir.path().join(&id)).unwrap();
    block.verify().unwrap();
    assert_eq!(block.meta(), &meta);
    for (i, (l, ts, vs)) in want.iter().enumerate() {
        let id = u32::try_from(i).unwrap();
        assert_eq!(&block.labels(id).unwrap(), l);
        let (mut gt, mut gv) = (Vec::new(), Vec::new());
        block
            .read_series(id, 500, 12_345, &mut gt, &mut gv)
            .unwrap();
        let keep: Vec<usize> = (0..ts.len())
            .filter(|&k| (500..=12_345).contains(&ts[k]))
            .collect();
        assert_eq!(gt, keep.iter().map(|&k| ts[k]).collect::<Vec<_>>());
        assert_eq!(gv, keep.iter().map(|&k| vs[k]).collect::<Vec<_>>());
    }
    let ids = block.select(&[Matcher::equal("s", "7")]).unwrap();
    assert_eq!(ids.len(), 1);
    assert_eq!(block.labels(ids[0]).unwrap(), series(7));
}

#[test]
fn writer_refuses_series_out_of_label_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = BlockWriter::create(dir.path(), &new_block_id()).unwrap();
    w.add_samples(series(2), &[1], &[1.0]).unwrap();
    assert!(w.add_samples(series(1), &[1], &[1.0]).is_err());
    drop(w);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "tmp dir removed"
    );
}

fn write_small_block(dir: &Path) -> String {
    let id = new_block_id();
    let mut w = BlockWriter::create(dir, &id).unwrap();
    for s in 0..4 {
        let ts: Vec<i64> = (0..200).collect();
        let vs: Vec<f64> = ts.iter().map(|&t| (t * i64::from(s + 1)) as f64).collect();
        w.add_samples(series(s), &ts, &vs).unwrap();
    }
    w.finish(1, Vec::new()).unwrap();
    id
}

#[test]
fn corrupt_section_is_reported_with_file_offset_and_checksums() {
    let dir = tempfile::tempdir().unwrap();
    let id = write_small_block(dir.path());
    let chunks = dir.path().join(&id).join("chunks");
    let mut bytes = std::fs::read(&chunks).unwrap();
    bytes[40] ^= 0x55; // inside the first series' section
    std::fs::write(&chunks, &bytes).unwrap();
    let block = Block::open(dir.path().join(&id)).unwrap();
    let (mut ts, mut vs) = (Vec::new(), Vec::new());
    let err = block
        .read_series(0, i64::MIN, i64::MAX, &mut ts, &mut vs)
        .unwrap_err();
    match err {
        Error::Corrupt { file, offset, what } => {
            assert_eq!(file, chunks);
            assert_eq!(offset, 16);
            assert!(
                what.contains("expected") && what.contains("found"),
                "{what}"
            );
        }
        e => panic!("unexpected {e}"),
    }
    assert!(block.verify().is_err());
    // Other series still read.
    block
        .read_series(1, i64::MIN, i64::MAX, &mut ts, &mut vs)
        .unwrap();
    assert_eq!(ts.len(), 200);
}

#[test]
fn truncated_chunks_file_fails_to_open_at_every_length() {
    let dir = tempfile::tempdir().unwrap();
    let id = write_small_block(dir.path());
    let chunks = dir.path().join(&id).join("chunks");
    let bytes = std::fs::read(&chunks).unwrap();
    for len in (0..bytes.len()).step_by(7) {
        std::fs::write(&chunks, &bytes[..len]).unwrap();
        assert!(Block::open(dir.path().join(&id)).is_err(), "len {len}");
    }
}

#[test]
fn cut_head_into_blocks_and_read_across_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = Model::new();
    let db = Db::open(dir.path(), block_options()).unwrap();
    let mut samples = Vec::new();
    for t in (0..5 * SPAN).step_by(10) {
        for s in 0..5 {
            samples.push((s, t + i64::from(s), (t as f64) * 0.5 + f64::from(s)));
        }
    }
    put(&db, &mut model, &samples);
    let metas = db.cut_blocks().unwrap();
    // Newest sample ~4990: boundary = align(4990 - 500) = 4000: blocks 0..4.
    assert_eq!(metas.len(), 4, "{metas:?}");
    for (k, m) in metas.iter().enumerate() {
        assert_eq!(m.min_time_ms, k as i64 * SPAN);
        assert!(m.max_time_ms < (k as i64 + 1) * SPAN);
        assert_eq!(m.stats.num_series, 5);
        assert_eq!(m.stats.num_samples, 500);
    }
    assert_eq!(db.blocks().len(), 4);
    check_all(&db, &model);
    // Late samples below the boundary stay in the head, then get cut again
    // into overlapping blocks; a conflicting... equal duplicate is idempotent.
    put(
        &db,
        &mut model,
        &[(0, 3_005, 1.5), (9, 2_222, 7.0), (1, 4_503, 2.0)],
    );
    check_all(&db, &model);
    let again = db.cut_blocks_before(4_000).unwrap();
    assert_eq!(again.len(), 2, "{again:?}");
    check_all(&db, &model);
    let blocks_before = db.blocks().len();
    db.close().unwrap();

    let db = Db::open(dir.path(), block_options()).unwrap();
    assert_eq!(db.blocks().len(), blocks_before);
    assert!(db.recovery_report().blocks.moved_aside.is_empty());
    check_all(&db, &model);
    // The WAL was released by the cut's checkpoint: replay is the head only.
    assert!(
        db.recovery_report().samples_replayed < 200,
        "{:?}",
        db.recovery_report()
    );
    // label queries see block-only series.
    let vals = db.label_values("s", &[]).unwrap();
    assert!(vals.contains(&"9".to_string()));
    assert!(db.label_names(&[]).unwrap().contains(&"s".to_string()));
    let ls = db
        .series(
            &[Matcher::equal("s", "9")],
            &SelectHints::range(0, 10 * SPAN),
        )
        .unwrap();
    assert_eq!(ls, vec![series(9)]);
}

#[test]
fn corrupt_and_partial_blocks_are_moved_aside_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = Model::new();
    {
        let db = Db::open(dir.path(), block_options()).unwrap();
        let samples: Vec<_> = (0..4 * SPAN)
            .step_by(50)
            .map(|t| (0, t, t as f64))
            .collect();
        put(&db, &mut model, &samples);
        assert_eq!(db.cut_blocks_before(3 * SPAN).unwrap().len(), 3);
        db.close().unwrap();
    }
    let blocks = dir.path().join("blocks");
    let mut names: Vec<String> = std::fs::read_dir(&blocks)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    // Damage the middle block's footer; leave a partial block behind.
    let chunks = blocks.join(&names[1]).join("chunks");
    let len = std::fs::metadata(&chunks).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&chunks)
        .unwrap();
    f.set_len(len - 3).unwrap();
    std::fs::create_dir_all(blocks.join(format!("{}.tmp", new_block_id()))).unwrap();

    let db = Db::open(dir.path(), block_options()).unwrap();
    let r = &db.recovery_report().blocks;
    assert_eq!(r.moved_aside.len(), 1, "{r:?}");
    assert!(r.moved_aside[0].1.contains("chunks"), "{r:?}");
    assert_eq!(r.partial_removed.len(), 1);
    assert_eq!(r.blocks_loaded, 2);
    assert!(blocks.join("corrupt").join(&names[1]).exists());
    // Everything else is there.
    model
        .get_mut(&0)
        .unwrap()
        .retain(|&t, _| !(SPAN..2 * SPAN).contains(&t));
    check_all(&db, &model);
}

mod prop {
    use proptest::prelude::*;
    use tsdb_core::block::{Block, BlockWriter, new_block_id};

    use crate::series;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// Any set of series written to a block reads back bit-exactly, in
        /// full and over any range.
        #[test]
        fn block_reads_equal_what_was_written(
            data in prop::collection::btree_map(
                0u32..40,
                prop::collection::btree_map(-5_000i64..5_000, any::<u64>(), 1..600),
                1..8,
            ),
            lo in -6_000i64..6_000,
            len in 0i64..8_000,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let id = new_block_id();
            let mut w = BlockWriter::create(dir.path(), &id).unwrap();
            let mut want: Vec<_> = data.iter().map(|(s, m)| (series(*s), m)).collect();
            want.sort_by(|a, b| a.0.cmp(&b.0));
            for (l, m) in &want {
                let ts: Vec<i64> = m.keys().copied().collect();
                let vs: Vec<f64> = m.values().map(|b| f64::from_bits(*b)).collect();
                w.add_samples(l.clone(), &ts, &vs).unwrap();
            }
            w.finish(1, Vec::new()).unwrap();
            let block = Block::open(dir.path().join(&id)).unwrap();
            for (i, (l, m)) in want.iter().enumerate() {
                let i = u32::try_from(i).unwrap();
                prop_assert_eq!(&block.labels(i).unwrap(), l);
                let (mut ts, mut vs) = (Vec::new(), Vec::new());
                block.read_series(i, lo, lo + len, &mut ts, &mut vs).unwrap();
                let exp: Vec<(i64, u64)> = m.range(lo..=lo + len).map(|(t, v)| (*t, *v)).collect();
                let got: Vec<(i64, u64)> = ts.iter().zip(&vs).map(|(t, v)| (*t, v.to_bits())).collect();
                prop_assert_eq!(got, exp);
            }
        }
    }
}
