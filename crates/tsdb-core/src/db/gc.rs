//! Head garbage collection: series whose samples all left the head (cut into
//! blocks, or deleted) and which received nothing since are dropped from the
//! head, its labels lookup and the series index, so memory tracks the active
//! series rather than every series ever seen.
//!
//! The dropped series leave the index in place (`MemIndex::remove_many`:
//! their postings and lookup entries), which costs what they cost, not what
//! the index holds. Their strings and label groups stay interned, so once the
//! series removed since the last rebuild outnumber the live ones, GC rebuilds
//! the index from the head instead, which reclaims them: memory stays within
//! about twice what the live series need, and the rebuild's cost, linear in
//! the live series, is paid at most once per as many removals.
//!
//! Ids are never reused for other labels: the rebuilt index keeps the old
//! one's next id, and checkpoints record it (`CHECKPOINT_END`), because WAL
//! segments not yet covered by a checkpoint may still name a dropped id (a
//! sample applied to the head just before the cut, logged just after). A
//! dropped series that comes back is a new head series under a new id (under
//! its old one if it comes back while the index is rebuilt); its old samples
//! are in blocks, which reads merge by labels. Until a checkpoint covers both
//! lives, the WAL names it under two ids, which replay merges. It also
//! forgets its newest time and value, so its own out-of-order and duplicate
//! checks start afresh; what stops it from taking a sample the blocks hold
//! (which would win over the acknowledged one on reads, and for good after
//! compaction) is the head's minimum valid time, which applies to every
//! series: the cut raises it to the newest block sample plus one, minus the
//! out-of-order window, before it truncates the head and calls GC, and an
//! appender reads it under the shard lock where it finds the series. A
//! series deleted whole (`delete_series`) is dropped too; writing its
//! deleted timestamps again is allowed from the minimum valid time on.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tsdb_index::{MemIndex, SeriesId};

use super::Inner;
use crate::error::{Error, Result};

/// Removals below which GC never rebuilds the index (small indexes).
const REBUILD_MIN_REMOVED: usize = 1024;

/// How head GC takes the dropped series out of the index.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum IndexGc {
    /// Removes them, or rebuilds once removals outnumber the live series.
    Auto,
    /// Rebuilds (tests of the rebuild's races).
    #[cfg(test)]
    Rebuild,
}

impl Inner {
    /// Drops the inactive series from the head and takes them out of the
    /// index; returns how many were dropped. Callers serialize it (they hold
    /// the block change lock) and checkpoint afterwards, which keeps the
    /// dropped series out of the next recovery.
    ///
    /// Series creation waits for the steps under the creation lock: dropping
    /// (a scan of every head series, shard by shard) and removing them from
    /// the index, or, when GC rebuilds it, publishing the rebuilt index — but
    /// not for the rebuild itself: series created meanwhile go to the old
    /// index (a dropped one comes back under its old id) and are logged for
    /// the new one. The old index still counts the dropped series against the
    /// cardinality limits until the new one is published, so creation near a
    /// limit may be refused during a rebuild.
    pub(crate) fn gc_head(&self) -> Result<usize> {
        let (dropped, rebuild) = self.gc_drop(IndexGc::Auto);
        if rebuild {
            let rebuilt = self.rebuild_index();
            if let Err(e) = self.gc_publish(rebuilt) {
                // The old index stays: the dropped series leave it in place, or
                // no later GC would (they are no longer in the head) — but not
                // those created again meanwhile, under their old ids.
                let _created = self.create_lock.lock();
                let gone: Vec<SeriesId> = dropped
                    .into_iter()
                    .filter(|id| !self.head.contains(*id))
                    .collect();
                self.index.load().remove_many(&gone);
                self.removed_since_rebuild
                    .fetch_add(gone.len(), Ordering::Relaxed);
                return Err(e);
            }
            self.removed_since_rebuild.store(0, Ordering::Relaxed);
        }
        Ok(dropped.len())
    }

    /// GC, step 1 (under the creation lock): drops the inactive series from
    /// the head and removes them from the index, or, to rebuild it, starts
    /// logging the series created until step 3. Returns the dropped ids and
    /// whether to rebuild.
    ///
    /// The removal stays under the creation lock, which it holds for one to
    /// two microseconds per dropped series: a dropped series created again
    /// meanwhile would take its old id from the index and then lose it.
    fn gc_drop(&self, how: IndexGc) -> (Vec<SeriesId>, bool) {
        let mut created_log = self.create_lock.lock();
        let dropped: Vec<SeriesId> = self.head.gc().into_iter().map(SeriesId).collect();
        if dropped.is_empty() {
            return (dropped, false);
        }
        let index = self.index.load();
        let removed = self.removed_since_rebuild.load(Ordering::Relaxed) + dropped.len();
        let live = index.num_series().saturating_sub(dropped.len());
        if how == IndexGc::Auto && removed <= live.max(REBUILD_MIN_REMOVED) {
            index.remove_many(&dropped);
            self.removed_since_rebuild.store(removed, Ordering::Relaxed);
            return (dropped, false);
        }
        *created_log = Some(Vec::new());
        (dropped, true)
    }

    /// GC, step 3 (under the creation lock): adds the series created since
    /// step 1 to the rebuilt index and publishes it with the old next id.
    fn gc_publish(&self, rebuilt: Result<MemIndex>) -> Result<()> {
        let mut created_log = self.create_lock.lock();
        let created = created_log.take().unwrap_or_default();
        let index = rebuilt?;
        for (id, labels) in created {
            // A no-op for a series the rebuild saw already.
            index
                .insert_with_id(id, labels)
                .map_err(|e| rebuild_error(id.0, &e))?;
        }
        // Read under the creation lock: no id is allocated meanwhile.
        index.reserve_ids(self.index.load().next_id());
        self.index.store(Arc::new(index));
        Ok(())
    }

    /// GC, step 2 (no lock): a new index holding the head's series.
    fn rebuild_index(&self) -> Result<MemIndex> {
        let index = MemIndex::new(self.index.load().limits().clone());
        for (id, labels) in self.head.all_labels() {
            index
                .insert_with_id(SeriesId(id), labels)
                .map_err(|e| rebuild_error(id, &e))?;
        }
        Ok(index)
    }
}

fn rebuild_error(id: u32, e: &tsdb_index::IndexError) -> Error {
    Error::Corrupt {
        file: "<head>".into(),
        offset: 0,
        what: format!("head series {id} in the rebuilt index: {e}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    use tsdb_index::{Labels, Matcher, SeriesId};

    use crate::api::{DuplicatePolicy, Querier, SelectHints};
    use crate::db::Db;
    use crate::db::append::series_frame;
    use crate::head::{AppendCfg, MemSeries, snapshot};
    use crate::options::Options;
    use crate::storage::MemStorage;
    use crate::wal::record::{CHECKPOINT_MAGIC, FrameBuf, SEGMENT_MAGIC, file_header, kind};

    fn labels(s: u32) -> Labels {
        Labels::new([("__name__", "m".to_string()), ("s", s.to_string())]).unwrap()
    }

    fn open(mem: &MemStorage) -> Db {
        let options = Options {
            storage: Arc::new(mem.clone()),
            ..Options::default()
        };
        Db::open(Path::new("/db"), options).unwrap()
    }

    fn samples_frame(fb: &mut FrameBuf, samples: &[(u32, i64, f64)]) {
        fb.begin(kind::SAMPLES);
        fb.put_u32(samples.len() as u32);
        for &(id, t, v) in samples {
            fb.put_u32(id);
            fb.put_i64(t);
            fb.put_u64(v.to_bits());
        }
        fb.end();
    }

    fn read(db: &Db, s: u32) -> Vec<(i64, f64)> {
        let got = db
            .select(
                &[Matcher::equal("s", &s.to_string())],
                &SelectHints::range(i64::MIN, i64::MAX),
            )
            .unwrap();
        got.iter()
            .flat_map(|x| x.timestamps.iter().copied().zip(x.values.iter().copied()))
            .collect()
    }

    fn id_of(db: &Db, s: u32) -> Option<u32> {
        db.inner.index.load().get(&labels(s)).map(|id| id.0)
    }

    /// A sample applied to the head just before its series was dropped, and
    /// logged just after the checkpoint, names a dropped id: after a reopen
    /// that id must not be handed to a new series (replay would give it the
    /// stale sample).
    #[test]
    fn dropped_ids_stay_taken_across_reopen() {
        let mem = MemStorage::new();
        let db = open(&mem);
        db.append(&labels(0), 10, 1.0).unwrap();
        db.append(&labels(1), 10, 2.0).unwrap();
        assert_eq!((id_of(&db, 0), id_of(&db, 1)), (Some(0), Some(1)));
        db.delete_series(&[Matcher::equal("s", "1")], i64::MIN, i64::MAX)
            .unwrap();
        assert_eq!(db.stats().series, 1, "deleted whole: dropped");
        assert_eq!(id_of(&db, 1), None);
        let mut fb = FrameBuf::default();
        samples_frame(&mut fb, &[(1, 20, 99.0)]);
        db.inner.wal.append(&fb.bytes).unwrap();
        db.close().unwrap();

        let db = open(&mem);
        assert_eq!(db.recovery_report().unknown_series_samples, 1);
        db.append(&labels(2), 30, 3.0).unwrap();
        assert_eq!(id_of(&db, 2), Some(2), "id 1 reused");
        db.close().unwrap();
        let db = open(&mem);
        assert_eq!(read(&db, 2), [(30, 3.0)]);
        assert!(read(&db, 1).is_empty());
        assert_eq!(read(&db, 0), [(10, 1.0)]);
    }

    /// Before a checkpoint covers it, the WAL can name one series under two
    /// ids (dropped by GC, then back under a new id); in either order (the
    /// newer id in a checkpoint, the older in a segment after it) replay
    /// makes them one series, and new series get ids past both.
    #[test]
    fn replay_merges_a_series_logged_under_two_ids() {
        let mem = MemStorage::new();
        let mut seg = file_header(SEGMENT_MAGIC).to_vec();
        let mut fb = FrameBuf::default();
        series_frame(
            &mut fb,
            &[(SeriesId(0), labels(0)), (SeriesId(1), labels(1))],
        );
        samples_frame(&mut fb, &[(0, 1, 1.0), (1, 1, 10.0)]);
        series_frame(&mut fb, &[(SeriesId(5), labels(0))]);
        samples_frame(&mut fb, &[(5, 2, 2.0), (0, 3, 3.0), (1, 2, 11.0)]);
        seg.extend_from_slice(&fb.bytes);
        mem.put(Path::new("/db/wal/00000001"), seg);
        let db = open(&mem);
        assert_eq!(db.stats().series, 2);
        assert_eq!(read(&db, 0), [(1, 1.0), (2, 2.0), (3, 3.0)]);
        assert_eq!(read(&db, 1), [(1, 10.0), (2, 11.0)]);
        db.append(&labels(2), 5, 5.0).unwrap();
        assert_eq!(id_of(&db, 2), Some(6));
        drop(db);

        // A checkpoint written before head GC (an 8-byte end record) holds
        // the newer id; a segment after it the older one.
        let mem = MemStorage::new();
        let cfg = AppendCfg::for_replay(0, DuplicatePolicy::Reject, 120);
        let mut series = MemSeries::new(labels(0));
        series.append(7, 7.0, &cfg).unwrap();
        let mut ckpt = file_header(CHECKPOINT_MAGIC).to_vec();
        let mut fb = FrameBuf::default();
        snapshot::encode(9, &series, &mut fb);
        fb.begin(kind::CHECKPOINT_END);
        fb.put_u64(1);
        fb.end();
        ckpt.extend_from_slice(&fb.bytes);
        mem.put(Path::new("/db/wal/checkpoint.00000001"), ckpt);
        let mut seg = file_header(SEGMENT_MAGIC).to_vec();
        let mut fb = FrameBuf::default();
        series_frame(&mut fb, &[(SeriesId(3), labels(0))]);
        samples_frame(&mut fb, &[(3, 8, 8.0), (9, 9, 9.0)]);
        seg.extend_from_slice(&fb.bytes);
        mem.put(Path::new("/db/wal/00000002"), seg);
        let db = open(&mem);
        assert_eq!(db.recovery_report().checkpoint_series, 1);
        assert_eq!(db.stats().series, 1);
        assert_eq!(read(&db, 0), [(7, 7.0), (8, 8.0), (9, 9.0)]);
        db.append(&labels(1), 5, 5.0).unwrap();
        assert_eq!(id_of(&db, 1), Some(10));
        // A checkpoint now records the next id, and reads back.
        db.checkpoint().unwrap();
        db.close().unwrap();
        let db = open(&mem);
        assert_eq!(db.inner.index.load().next_id(), 11);
        assert_eq!(read(&db, 0), [(7, 7.0), (8, 8.0), (9, 9.0)]);
        assert_eq!(read(&db, 1), [(5, 5.0)]);
    }

    /// Below the rebuild threshold, GC removes the dropped series from the
    /// live index in place; past it, it rebuilds and starts counting afresh.
    #[test]
    fn gc_removes_from_the_index_in_place_until_removals_outnumber_the_live() {
        let mem = MemStorage::new();
        let db = open(&mem);
        db.append(&labels(0), 10, 1.0).unwrap();
        db.append(&labels(1), 10, 2.0).unwrap();
        let inner = &db.inner;
        let before = inner.index.load_full();
        db.delete_series(&[Matcher::equal("s", "1")], i64::MIN, i64::MAX)
            .unwrap();
        assert!(Arc::ptr_eq(&before, &inner.index.load_full()), "rebuilt");
        assert_eq!(inner.removed_since_rebuild.load(Ordering::Relaxed), 1);
        assert_eq!(id_of(&db, 1), None);
        assert_eq!(db.label_values("s", &[]).unwrap(), ["0"]);
        assert_eq!(inner.index.load().num_series(), 1);
        // Back under a new id.
        db.append(&labels(1), 20, 3.0).unwrap();
        assert_eq!(id_of(&db, 1), Some(2));
        // Past the threshold: a rebuild, which resets the count.
        inner
            .removed_since_rebuild
            .store(super::REBUILD_MIN_REMOVED, Ordering::Relaxed);
        db.delete_series(&[Matcher::equal("s", "1")], i64::MIN, i64::MAX)
            .unwrap();
        assert!(
            !Arc::ptr_eq(&before, &inner.index.load_full()),
            "not rebuilt"
        );
        assert_eq!(inner.removed_since_rebuild.load(Ordering::Relaxed), 0);
        assert_eq!(db.label_values("s", &[]).unwrap(), ["0"]);
        assert_eq!(inner.index.load().next_id(), 3);
    }

    /// Series created while the index is rebuilt (a new one, and a dropped
    /// one coming back under its old id) are in the published index.
    #[test]
    fn series_created_during_the_rebuild_reach_the_new_index() {
        let mem = MemStorage::new();
        let db = open(&mem);
        db.append(&labels(0), 10, 1.0).unwrap();
        db.append(&labels(1), 10, 2.0).unwrap();
        db.delete_series(&[Matcher::equal("s", "1")], i64::MIN, i64::MAX)
            .unwrap();
        db.append(&labels(1), 20, 3.0).unwrap();
        assert_eq!(id_of(&db, 1), Some(2));
        // s=1 again, and s=0, deleted whole: both dropped.
        let inner = &db.inner;
        for id in [0, 2] {
            let shard = inner.head.shard(crate::head::Head::shard_of(id)).unwrap();
            shard
                .lock()
                .get_mut(id)
                .unwrap()
                .delete_range(i64::MIN, i64::MAX)
                .unwrap();
        }
        let (dropped, rebuild) = inner.gc_drop(super::IndexGc::Rebuild);
        assert_eq!((dropped.len(), rebuild), (2, true));
        let rebuilt = inner.rebuild_index();
        db.append(&labels(0), 30, 4.0).unwrap(); // back, under its old id
        db.append(&labels(3), 30, 5.0).unwrap(); // new
        inner.gc_publish(rebuilt).unwrap();
        db.checkpoint().unwrap(); // as the callers of `gc_head` do
        assert_eq!(id_of(&db, 0), Some(0));
        assert_eq!(id_of(&db, 3), Some(3));
        assert_eq!(id_of(&db, 1), None);
        assert_eq!(inner.index.load().next_id(), 4);
        assert!(inner.create_lock.lock().is_none());
        db.append(&labels(4), 30, 6.0).unwrap();
        assert_eq!(id_of(&db, 4), Some(4));
        let check = |db: &Db| {
            assert_eq!(read(db, 0), [(30, 4.0)]);
            assert!(read(db, 1).is_empty());
            assert_eq!(read(db, 3), [(30, 5.0)]);
            assert_eq!(db.label_values("s", &[]).unwrap(), ["0", "3", "4"]);
        };
        check(&db);
        db.close().unwrap();
        check(&open(&mem));
    }

    /// A crash after head GC but before the checkpoint that follows it,
    /// with the dropped series back under a new id meanwhile: the WAL names
    /// it under two ids, and recovery makes them one series (its samples
    /// from before the drop come back too: they are in blocks, which reads
    /// merge with them, and the next cut writes them again).
    #[test]
    fn crash_between_gc_and_checkpoint_recovers_one_series() {
        let mem = MemStorage::new();
        let options = Options {
            storage: Arc::new(mem.clone()),
            write_mode: crate::api::WriteMode::Durable,
            ..Options::default()
        };
        let db = Db::open(Path::new("/db"), options).unwrap();
        db.append(&labels(0), 10, 1.0).unwrap();
        db.append(&labels(1), 10, 2.0).unwrap();
        let inner = &db.inner;
        let shard = inner.head.shard(crate::head::Head::shard_of(1)).unwrap();
        // As a cut does once the samples are in a block.
        shard
            .lock()
            .get_mut(1)
            .unwrap()
            .truncate_before(11)
            .unwrap();
        assert_eq!(inner.gc_head().unwrap(), 1);
        db.append(&labels(1), 20, 3.0).unwrap();
        assert_eq!(id_of(&db, 1), Some(2));
        let image = mem.crash_image();
        drop(db);
        let db = open(&image);
        assert_eq!(db.stats().series, 2);
        assert_eq!(read(&db, 1), [(10, 2.0), (20, 3.0)]);
        assert_eq!(id_of(&db, 1), Some(1));
        db.append(&labels(1), 30, 4.0).unwrap();
        db.append(&labels(5), 30, 5.0).unwrap();
        assert_eq!(id_of(&db, 5), Some(3));
        db.close().unwrap();
        let db = open(&image);
        assert_eq!(read(&db, 1), [(10, 2.0), (20, 3.0), (30, 4.0)]);
        assert_eq!(read(&db, 5), [(30, 5.0)]);
    }
}
