//! The committed block fixtures (`tests/data/block_v1/`, and `block_v2/` whose
//! series share timestamp sections) still open and read the same, and writing
//! their chunks into a new block today gives the same bytes: the chunks file
//! formats v1 and v2 have not moved. Rewrite a fixture only with a format
//! version bump, and only that one (the codec's choices have moved since v1
//! was written, so rewriting v1 would change its bytes): the variable names
//! it, e.g. `TSDB_WRITE_GOLDEN=block_v2 cargo test -p tsdb-core --test it golden`.

use std::path::{Path, PathBuf};

use tsdb_core::block::{Block, BlockWriter};
use tsdb_core::{Labels, Matcher};

const ID: &str = "01JDG0G0DEN000000000000001";

fn fixture_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// The v1 fixture's series, in label order (regular timestamps: no section
/// long enough to share).
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

/// The v2 fixture's series, in label order: four series of host `a` scraped
/// together (the same jittered timestamps, 1 100 of them: two chunks each, so
/// two shared sections), and host `b` on its own.
fn data_v2() -> Vec<(Labels, Vec<i64>, Vec<f64>)> {
    let base = 1_700_000_000_000i64;
    // Jitter of ±11 ms from a multiplicative hash: about as random as a scrape's.
    let jitter = |i: i64| ((i.wrapping_mul(2_654_435_761) >> 9) % 23).abs() - 11;
    let shared: Vec<i64> = (0..1100).map(|i| base + i * 15_000 + jitter(i)).collect();
    let own: Vec<i64> = (0..300).map(|i| base + i * 10_000 + (i * 31) % 5).collect();
    let mut out = Vec::new();
    for (k, name) in ["a_bytes", "a_errors", "a_up", "a_usage"]
        .iter()
        .enumerate()
    {
        // Counters that step now and then: values cheaper than timestamps,
        // as in real series.
        let vs: Vec<f64> = (0..1100u32)
            .map(|i| f64::from(i / (20 + 5 * k as u32)))
            .collect();
        out.push((
            Labels::new([("__name__", *name), ("host", "a")]).unwrap(),
            shared.clone(),
            vs,
        ));
    }
    let vs: Vec<f64> = (0..300).map(|i| f64::from(i) * 1.25).collect();
    out.push((
        Labels::new([("__name__", "b_temp"), ("host", "b")]).unwrap(),
        own,
        vs,
    ));
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn write(dir: &Path, data: &[(Labels, Vec<i64>, Vec<f64>)]) {
    let mut w = BlockWriter::create(dir, ID).unwrap();
    for (l, ts, vs) in data {
        w.add_samples(l.clone(), ts, vs).unwrap();
    }
    w.finish(1, Vec::new()).unwrap();
}

/// Whether `TSDB_WRITE_GOLDEN` names fixture `name` to be rewritten.
fn rewrite(name: &str) -> bool {
    std::env::var_os("TSDB_WRITE_GOLDEN").is_some_and(|v| v == name)
}

/// The fixture `name` (written from `data` with `TSDB_WRITE_GOLDEN=name`) opens
/// with chunks file `version`, reads `data` back, and copying its chunks into
/// a new block gives the same files.
fn check_golden_block(name: &str, data: &[(Labels, Vec<i64>, Vec<f64>)], version: u32) {
    let golden = fixture_dir(name);
    if rewrite(name) {
        let _ = std::fs::remove_dir_all(golden.join(ID));
        std::fs::create_dir_all(&golden).unwrap();
        write(&golden, data);
    }
    let chunks = std::fs::read(golden.join(ID).join("chunks")).unwrap();
    assert_eq!(chunks.get(4..8), Some(&version.to_le_bytes()[..]));
    let block = Block::open(golden.join(ID)).unwrap();
    block.verify().unwrap();
    assert_eq!(block.meta().id, ID);
    assert_eq!(block.meta().stats.num_series, data.len() as u64);
    let samples: usize = data.iter().map(|d| d.1.len()).sum();
    assert_eq!(block.meta().stats.num_samples, samples as u64);
    for (id, (l, ts, vs)) in data.iter().enumerate() {
        let id = u32::try_from(id).unwrap();
        assert_eq!(&block.labels(id).unwrap(), l);
        let (mut gt, mut gv) = (Vec::new(), Vec::new());
        block
            .read_series(id, i64::MIN, i64::MAX, &mut gt, &mut gv)
            .unwrap();
        assert_eq!(&gt, ts);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&gv), bits(vs));
    }
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
        assert!(a == b, "{file} differs from the {name} fixture");
    }
}

#[test]
fn golden_block_v1_reads_and_rewrites_identically() {
    check_golden_block("block_v1", &data(), 1);
    let block = Block::open(fixture_dir("block_v1").join(ID)).unwrap();
    assert_eq!(block.meta().stats.num_samples, 1700);
    assert_eq!(
        block.select(&[Matcher::equal("host", "a")]).unwrap(),
        vec![0, 1]
    );
}

/// Chunks file version 2: the timestamp sections host `a`'s series share are
/// stored once.
#[test]
fn golden_block_v2_reads_and_rewrites_identically() {
    let data = data_v2();
    check_golden_block("block_v2", &data, 2);
    // Four series share two sections, so two of the four copies of each go
    // (the first stays in place, the table holds one): the file is smaller
    // than its chunks with every section in place, container aside.
    let dir = fixture_dir("block_v2").join(ID);
    let file = std::fs::metadata(dir.join("chunks")).unwrap().len();
    let block = Block::open(&dir).unwrap();
    let in_place: usize = (0..block.num_series() as u32)
        .flat_map(|id| block.chunks(id).unwrap())
        .map(|(_, _, c)| c.as_bytes().len())
        .sum();
    assert!(file < in_place as u64, "{file} B, {in_place} B in place");
}

/// Every byte of the v2 fixture's chunks file is checked: flipping any one but
/// the header's reserved bytes makes opening or reading the block fail with a
/// corruption error, never a panic or wrong samples.
#[test]
fn every_byte_of_a_v2_chunks_file_is_checked() {
    let golden = fixture_dir("block_v2").join(ID);
    let bytes = std::fs::read(golden.join("chunks")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join(ID);
    std::fs::create_dir_all(&copy).unwrap();
    for file in ["index", "meta.json"] {
        std::fs::copy(golden.join(file), copy.join(file)).unwrap();
    }
    for at in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[at] ^= 0xff;
        std::fs::write(copy.join("chunks"), &bad).unwrap();
        let read = Block::open(&copy).and_then(|b| b.verify());
        match read {
            Ok(()) => assert!((8..16).contains(&at), "byte {at} flipped unnoticed"),
            Err(tsdb_core::Error::Corrupt { .. }) => {}
            Err(e) => panic!("byte {at}: {e:?}"),
        }
    }
}

/// The WAL fixtures (`tests/data/wal_v1/`): `current/` as written today (the
/// checkpoint's end record carries the next series id), `legacy_end/` the
/// same with the 8-byte end record of checkpoints written before head GC.
/// Both still open and read the same. Rewrite them (only with a format
/// version bump) with `TSDB_WRITE_GOLDEN=wal_v1 cargo test -p tsdb-core --test it golden`.
#[test]
fn golden_wal_v1_checkpoints_open_and_read_the_same() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/wal_v1");
    if rewrite("wal_v1") {
        write_wal_fixtures(&root);
    }
    for (name, end_len) in [("current", 12usize), ("legacy_end", 8)] {
        let fixture = root.join(name).join("wal");
        let ckpt = std::fs::read_dir(&fixture)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().contains("checkpoint."))
            .unwrap();
        let bytes = std::fs::read(&ckpt).unwrap();
        // The end record: len, crc, type 4, series u64 [, next id u32].
        let end = &bytes[bytes.len() - (9 + end_len)..];
        assert_eq!(
            u32::from_le_bytes(end[..4].try_into().unwrap()) as usize,
            1 + end_len
        );
        assert_eq!(end[8], 4, "{name}: not an end record");
        assert_eq!(u64::from_le_bytes(end[9..17].try_into().unwrap()), 1);
        if end_len == 12 {
            assert_eq!(u32::from_le_bytes(end[17..21].try_into().unwrap()), 2);
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("wal")).unwrap();
        for e in std::fs::read_dir(&fixture).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), dir.path().join("wal").join(e.file_name())).unwrap();
        }
        let db = tsdb_core::Db::open(dir.path(), tsdb_core::Options::default()).unwrap();
        let r = db.recovery_report();
        assert_eq!(r.checkpoint_series, 1, "{name}");
        assert_eq!(r.series_replayed, 1, "{name}");
        assert_eq!(r.unknown_series_samples, 0, "{name}");
        let got: Vec<(String, Vec<i64>)> = crate::all(&db)
            .into_iter()
            .map(|s| (s.labels.get("s").unwrap().to_string(), s.timestamps))
            .collect();
        assert_eq!(
            got,
            [
                ("0".to_string(), vec![1_000, 2_000, 3_000]),
                ("2".to_string(), vec![4_000])
            ],
            "{name}"
        );
    }
}

fn write_wal_fixtures(root: &Path) {
    use tsdb_core::{Db, Options};
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    for t in [1_000, 2_000, 3_000] {
        db.append(&crate::series(0), t, t as f64).unwrap();
        db.append(&crate::series(1), t, -(t as f64)).unwrap();
    }
    // Series 1 deleted whole: head GC drops it, the checkpoint records next id 2.
    db.delete_series(&[Matcher::equal("s", "1")], i64::MIN, i64::MAX)
        .unwrap();
    db.append(&crate::series(2), 4_000, 4.0).unwrap();
    db.close().unwrap();
    let current = root.join("current").join("wal");
    let _ = std::fs::remove_dir_all(root);
    std::fs::create_dir_all(&current).unwrap();
    for e in std::fs::read_dir(dir.path().join("wal")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), current.join(e.file_name())).unwrap();
    }
    // The same with the end record cut back to `series: u64`.
    let legacy = root.join("legacy_end").join("wal");
    std::fs::create_dir_all(&legacy).unwrap();
    for e in std::fs::read_dir(&current).unwrap() {
        let e = e.unwrap();
        let mut bytes = std::fs::read(e.path()).unwrap();
        if e.file_name().to_string_lossy().starts_with("checkpoint.") {
            let at = bytes.len() - 21;
            let count = bytes[at + 9..at + 17].to_vec();
            bytes.truncate(at);
            let mut body = vec![4u8];
            body.extend_from_slice(&count);
            bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
            bytes.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
            bytes.extend_from_slice(&body);
        }
        std::fs::write(legacy.join(e.file_name()), bytes).unwrap();
    }
}
