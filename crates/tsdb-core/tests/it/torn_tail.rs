//! A torn or corrupt WAL tail is cut off and reported, at every offset of the
//! last segment; opening never fails and never invents data.

use std::path::Path;

use tsdb_core::storage::{MemStorage, Storage};

use crate::{all, open_mem, sample};

const BATCHES: i64 = 60;

/// Writes `BATCHES` single-frame batches (5 samples each) over two segments;
/// returns the storage and the last segment's path.
fn setup() -> (MemStorage, std::path::PathBuf) {
    let mem = MemStorage::new();
    let db = open_mem(&mem, |o| o.wal_segment_bytes = 4096);
    // Create the series first so every later frame is a samples frame.
    db.append_batch(&(0..5).map(|s| sample(s, 0, 0.0)).collect::<Vec<_>>(), None)
        .unwrap();
    for b in 1..=BATCHES {
        let batch: Vec<_> = (0..5).map(|s| sample(s, b, b as f64)).collect();
        db.append_batch(&batch, None).unwrap();
    }
    db.close().unwrap();
    let mut segs: Vec<_> = mem
        .paths()
        .into_iter()
        .filter(|p| p.parent() == Some(Path::new("/db/wal")))
        .collect();
    segs.sort();
    assert!(segs.len() >= 2, "{segs:?}");
    (mem, segs.last().unwrap().clone())
}

/// Batches recovered: the samples must be whole batches 0..n, in order.
fn recovered_batches(mem: &MemStorage) -> (i64, bool) {
    let db = open_mem(mem, |_| {});
    let report = db.recovery_report().clone();
    let s = all(&db);
    assert_eq!(s.len(), 5);
    let n = s[0].timestamps.len() as i64;
    for series in &s {
        assert_eq!(series.timestamps, (0..n).collect::<Vec<_>>());
        assert_eq!(series.values, (0..n).map(|b| b as f64).collect::<Vec<_>>());
    }
    (n - 1, report.repair.is_some())
}

#[test]
fn truncation_at_every_offset_of_the_last_segment() {
    let (mem, last) = setup();
    let full = mem.read(&last).unwrap();
    let frame = 8 + 1 + 4 + 5 * 20;
    let in_last = ((full.len() - 8) / frame) as i64;
    let before = BATCHES - in_last;
    for cut in 0..full.len() {
        let m = mem.crash_image();
        m.put(&last, full[..cut].to_vec());
        let whole = if cut < 8 {
            0
        } else {
            ((cut - 8) / frame) as i64
        };
        let (n, repaired) = recovered_batches(&m);
        assert_eq!(n, before + whole, "cut at {cut}");
        let clean = cut >= 8 && (cut - 8) % frame == 0;
        assert_eq!(repaired, !clean, "cut at {cut}");
        // The repair is durable: a second open is clean and loses nothing more.
        let (n2, repaired2) = recovered_batches(&m);
        assert_eq!((n2, repaired2), (n, false), "cut at {cut}");
    }
}

#[test]
fn corruption_at_every_offset_of_the_last_segment() {
    let (mem, last) = setup();
    let full = mem.read(&last).unwrap();
    let frame = 8 + 1 + 4 + 5 * 20;
    let in_last = ((full.len() - 8) / frame) as i64;
    let before = BATCHES - in_last;
    for at in 0..full.len() {
        let m = mem.crash_image();
        let mut bad = full.clone();
        bad[at] ^= 0x5a;
        m.put(&last, bad);
        let (n, repaired) = recovered_batches(&m);
        assert!(repaired, "flip at {at}");
        let damaged_frame = if at < 8 { 0 } else { ((at - 8) / frame) as i64 };
        assert_eq!(n, before + damaged_frame, "flip at {at}");
    }
}

#[test]
fn torn_tail_on_a_real_directory() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = tsdb_core::Db::open(dir.path(), tsdb_core::Options::default()).unwrap();
        for b in 0..10 {
            db.append_batch(&[sample(1, b, b as f64)], None).unwrap();
        }
        db.close().unwrap();
    }
    let wal = dir.path().join("wal");
    let mut segs: Vec<_> = std::fs::read_dir(&wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segs.sort();
    let seg = segs
        .iter()
        .rev()
        .find(|p| std::fs::metadata(p).unwrap().len() > 8)
        .unwrap();
    let len = std::fs::metadata(seg).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(seg).unwrap();
    f.set_len(len - 3).unwrap();
    drop(f);
    let db = tsdb_core::Db::open(dir.path(), tsdb_core::Options::default()).unwrap();
    let repair = db.recovery_report().repair.clone().unwrap();
    assert_eq!(&repair.file, seg);
    assert!(repair.what.contains("torn"), "{}", repair.what);
    assert_eq!(all(&db)[0].timestamps, (0..9).collect::<Vec<_>>());
}

#[test]
fn a_damaged_checkpoint_is_an_error_not_a_silent_loss() {
    let mem = MemStorage::new();
    let db = open_mem(&mem, |_| {});
    for s in 0..50 {
        db.append_batch(&[sample(s, 1, 1.0), sample(s, 2, 2.0)], None)
            .unwrap();
    }
    db.checkpoint().unwrap();
    db.close().unwrap();
    let ckpt = mem
        .paths()
        .into_iter()
        .find(|p| p.to_string_lossy().contains("checkpoint."))
        .unwrap();
    let good = mem.read(&ckpt).unwrap();
    for at in [0, 9, good.len() / 2, good.len() - 1] {
        let m = mem.crash_image();
        let mut bad = good.clone();
        bad[at] ^= 0x21;
        m.put(&ckpt, bad);
        let mut o = crate::mem_options(&m);
        o.write_mode = tsdb_core::WriteMode::Buffered;
        let e = tsdb_core::Db::open(Path::new("/db"), o).unwrap_err();
        assert!(
            matches!(e, tsdb_core::Error::Corrupt { .. }),
            "flip at {at}: {e}"
        );
    }
    let m = mem.crash_image();
    m.put(&ckpt, good[..good.len() - 5].to_vec());
    let e = tsdb_core::Db::open(Path::new("/db"), crate::mem_options(&m)).unwrap_err();
    assert!(matches!(e, tsdb_core::Error::Corrupt { .. }), "{e}");
    // Untouched, it loads.
    let db = open_mem(&mem.crash_image(), |_| {});
    assert_eq!(db.recovery_report().checkpoint_series, 50);
    assert_eq!(all(&db).len(), 50);
}
