//! Writing checkpoints: a snapshot of the head that replaces the WAL segments
//! before it.

use std::sync::atomic::Ordering;

use super::Inner;
use crate::error::Result;
use crate::head::{SHARDS, snapshot};
use crate::storage::tmp_path;
use crate::wal::record::{CHECKPOINT_MAGIC, FrameBuf, file_header, kind};
use crate::wal::{checkpoint_name, parse_checkpoint};

impl Inner {
    /// Writes `wal/checkpoint.N` covering segments `..=N` and removes them.
    ///
    /// The WAL is rotated first (under the creation lock, so a series is either
    /// wholly before the cut — record in a covered segment and in the head — or
    /// wholly after it). Samples reach the head before the WAL, so the snapshot
    /// taken after the cut holds everything the covered segments hold; what it
    /// holds beyond that is replayed again from later segments, idempotently.
    /// The end record carries the index's next series id (the high-water
    /// mark of ids, which head GC may leave above every id in the snapshot).
    pub(crate) fn checkpoint(&self) -> Result<()> {
        let _one_at_a_time = self.checkpoint_lock.lock();
        let covered = {
            let _creation = self.create_lock.lock();
            self.wal.rotate()?
        };
        let path = self.wal_dir.join(checkpoint_name(covered));
        let tmp = tmp_path(&path);
        let file = self.storage.create(&tmp)?;
        file.write_all(&file_header(CHECKPOINT_MAGIC))?;
        let mut fb = FrameBuf::default();
        let mut count = 0u64;
        for shard_no in 0..SHARDS {
            let Some(shard) = self.head.shard(shard_no) else {
                continue;
            };
            {
                let shard = shard.lock();
                for (id, series) in shard.iter() {
                    snapshot::encode(id, series, &mut fb);
                    count += 1;
                }
            }
            file.write_all(&fb.bytes)?;
            fb.bytes.clear();
        }
        fb.begin(kind::CHECKPOINT_END);
        fb.put_u64(count);
        // Read after the snapshot: above every id the covered segments and
        // the snapshot name, and every id head GC dropped before it, so
        // stale samples of a dropped series in later segments never meet a
        // new series under its id after a reopen.
        fb.put_u32(self.index.load().next_id());
        fb.end();
        file.write_all(&fb.bytes)?;
        file.sync()?;
        drop(file);
        self.storage.rename(&tmp, &path)?;
        self.storage.sync_dir(&self.wal_dir)?;
        self.wal.remove_segments_upto(covered)?;
        for name in self.storage.list(&self.wal_dir)? {
            if parse_checkpoint(&name).is_some_and(|n| n < covered) {
                self.storage.remove(&self.wal_dir.join(name))?;
            }
        }
        self.storage.sync_dir(&self.wal_dir)?;
        self.counters.checkpoints.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}
