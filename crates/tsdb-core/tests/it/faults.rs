//! Fault injection through the in-memory storage: failed fsyncs are surfaced
//! and nothing unsynced is acknowledged as durable; a power loss keeps every
//! durable write.

use std::sync::Arc;
use std::thread;

use tsdb_core::storage::MemStorage;
use tsdb_core::{Error, Querier, WriteMode};

use crate::{all, open_mem, sample};

#[test]
fn failed_fsync_is_an_error_and_poisons_the_wal() {
    let mem = MemStorage::new();
    let db = open_mem(&mem, |o| o.write_mode = WriteMode::Durable);
    db.append_batch(&[sample(1, 1_000, 1.0)], None).unwrap();
    mem.set_fail_sync(true);
    let e = db.append_batch(&[sample(1, 2_000, 2.0)], None).unwrap_err();
    assert!(matches!(e, Error::WalPoisoned(_)), "{e}");
    assert!(!e.is_refusal());
    mem.set_fail_sync(false);
    // Nothing more is accepted: durability can no longer be promised.
    assert!(db.append_batch(&[sample(1, 3_000, 3.0)], None).is_err());
    assert!(db.flush().is_err());
    // After a power loss only the acknowledged sample is guaranteed.
    let image = mem.crash_image();
    drop(db);
    let db = open_mem(&image, |_| {});
    let s = all(&db);
    assert_eq!(s[0].timestamps[0], 1_000);
    assert!(s[0].timestamps.iter().all(|&t| t == 1_000 || t == 2_000));
}

#[test]
fn failed_write_is_an_error() {
    let mem = MemStorage::new();
    let db = open_mem(&mem, |_| {});
    db.append(&crate::series(1), 1_000, 1.0).unwrap();
    mem.set_fail_write(true);
    assert!(db.append_batch(&[sample(1, 2_000, 2.0)], None).is_err());
}

#[test]
fn power_loss_keeps_every_durable_batch_from_concurrent_writers() {
    let mem = MemStorage::new();
    let db = Arc::new(open_mem(&mem, |o| o.wal_segment_bytes = 8 << 10));
    let handles: Vec<_> = (0..4u32)
        .map(|w| {
            let db = Arc::clone(&db);
            thread::spawn(move || {
                for b in 0..50i64 {
                    let batch: Vec<_> = (0..5)
                        .map(|k| sample(w * 10 + k, 1_000 + b, b as f64))
                        .collect();
                    db.append_batch(&batch, Some(WriteMode::Durable)).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    // Group commit: writers shared fsyncs (never more than one per batch).
    assert!(db.stats().wal_fsyncs <= 200 + 10);
    // Buffered writes after that may be lost by a power loss; durable ones not.
    db.append_batch(&[sample(99, 1, 1.0)], Some(WriteMode::Buffered))
        .unwrap();
    let image = mem.crash_image();
    let db2 = open_mem(&image, |_| {});
    let s: Vec<_> = all(&db2)
        .into_iter()
        .filter(|s| s.labels.get("s") != Some("99"))
        .collect();
    assert_eq!(s.len(), 20);
    for series in s {
        assert_eq!(series.timestamps, (1_000..1_050).collect::<Vec<_>>());
    }
}

#[test]
fn buffered_writes_are_synced_by_the_flusher() {
    let mem = MemStorage::new();
    let db = open_mem(&mem, |o| {
        o.flush_interval = std::time::Duration::from_millis(5)
    });
    db.append_batch(&[sample(1, 1_000, 1.0)], None).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let image = mem.crash_image();
        let db2 = open_mem(&image, |_| {});
        if all(&db2).len() == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "flusher never synced");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn a_new_series_whose_wal_record_fails_leaves_no_trace_in_the_index() {
    let mem = MemStorage::new();
    let db = open_mem(&mem, |o| o.write_mode = WriteMode::Durable);
    db.append_batch(&[sample(1, 1_000, 1.0)], None).unwrap();
    mem.set_fail_write(true);
    assert!(db.append_batch(&[sample(2, 1_000, 2.0)], None).is_err());
    // Series 2 is neither in the head nor in the index (its values, its count).
    assert_eq!(db.stats().series, 1);
    assert_eq!(db.label_values("s", &[]).unwrap(), ["1"]);
}
