//! The committed block fixture (`tests/data/block_v1/`) still opens and reads
//! the same, and writing its chunks into a new block today gives the same
//! bytes: the block format v1 has not moved. Rewrite the fixture only with a format
//! version bump: `TSDB_WRITE_GOLDEN=1 cargo test -p tsdb-core --test it golden`.

use std::path::{Path, PathBuf};

use tsdb_core::block::{Block, BlockWriter};
use tsdb_core::{Labels, Matcher};

const ID: &str = "01JDG0G0DEN000000000000001";

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/block_v1")
}

/// The fixture's series, in label order.
fn data() -> Vec<(Labels, Vec<i64>, Vec<f64>)> {
    let base = 1_700_000_000_000i64;
    let mut out = Vec::new();
    let counter: Vec<f64> = (0..300).map(|i| f64::from(i * 3 + i % 7)).collect();
    let gauge: Vec<f64> = (0..300).map(|i| f64::from(i % 50) * 0.25 + 10.5).collect();
    let mut odd: Vec<f64> = (0..1100).map(|i| (f64::from(i) * 0.37).sin()).collect();
    odd[5] = f64::NAN;
    odd[6] = f64::from_bits(0x7ff0_0000_0000_0002);
    odd[7] = -0.0;
    odd[8] = f64::INFINITY;
    for (name, host, vs, step) in [
        ("cpu_seconds_total", "a", counter, 10_000i64),
        ("memory_percent", "a", gauge, 15_000),
        ("weird", "b", odd, 1_000),
    ] {
        let ts: Vec<i64> = (0..vs.len() as i64).map(|i| base + i * step).collect();
        out.push((
            Labels::new([("__name__", name), ("host", host)]).unwrap(),
            ts,
            vs,
        ));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn write(dir: &Path) {
    let mut w = BlockWriter::create(dir, ID).unwrap();
    for (l, ts, vs) in data() {
        w.add_samples(l, &ts, &vs).unwrap();
    }
    w.finish(1, Vec::new()).unwrap();
}

#[test]
fn golden_block_v1_reads_and_rewrites_identically() {
    let golden = fixture_dir();
    if std::env::var_os("TSDB_WRITE_GOLDEN").is_some() {
        let _ = std::fs::remove_dir_all(golden.join(ID));
        std::fs::create_dir_all(&golden).unwrap();
        write(&golden);
    }
    let block = Block::open(golden.join(ID)).unwrap();
    block.verify().unwrap();
    assert_eq!(block.meta().id, ID);
    assert_eq!(block.meta().stats.num_series, 3);
    assert_eq!(block.meta().stats.num_samples, 1700);
    for (id, (l, ts, vs)) in data().into_iter().enumerate() {
        let id = u32::try_from(id).unwrap();
        assert_eq!(block.labels(id).unwrap(), l);
        let (mut gt, mut gv) = (Vec::new(), Vec::new());
        block
            .read_series(id, i64::MIN, i64::MAX, &mut gt, &mut gv)
            .unwrap();
        assert_eq!(gt, ts);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&gv), bits(&vs));
    }
    assert_eq!(
        block.select(&[Matcher::equal("host", "a")]).unwrap(),
        vec![0, 1]
    );
    // The container format: copying the fixture's chunks (codec bytes as
    // stored, whatever the codec would choose today) into a new block gives
    // the same files.
    let fresh = tempfile::tempdir().unwrap();
    let mut w = BlockWriter::create(fresh.path(), ID).unwrap();
    for id in 0..block.num_series() as u32 {
        w.add_chunks(block.labels(id).unwrap(), &block.chunks(id).unwrap())
            .unwrap();
    }
    w.finish(1, Vec::new()).unwrap();
    for file in ["chunks", "index", "meta.json"] {
        let a = std::fs::read(golden.join(ID).join(file)).unwrap();
        let b = std::fs::read(fresh.path().join(ID).join(file)).unwrap();
        assert!(a == b, "{file} differs from the v1 fixture");
    }
}
