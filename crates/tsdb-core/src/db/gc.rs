//! Head garbage collection: series whose samples all left the head (cut into
//! blocks, or deleted) and which received nothing since are dropped from the
//! head, its labels lookup and the series index, so memory tracks the active
//! series rather than every series ever seen.
//!
//! Ids are never reused: the rebuilt index keeps the old one's next id, and
//! checkpoints record it (`CHECKPOINT_END`), because WAL segments not yet
//! covered by a checkpoint may still name a dropped id (a sample applied to
//! the head just before the cut, logged just after). A dropped series that
//! comes back is a new series with a new id; its old samples are in blocks,
//! which reads merge by labels. It also forgets its newest time, so it takes
//! samples as any new series does.

use std::sync::Arc;

use tsdb_index::{MemIndex, SeriesId};

use super::Inner;
use crate::error::{Error, Result};

impl Inner {
    /// Drops the inactive series from the head and rebuilds the index
    /// without them; returns how many were dropped. Runs under the
    /// series-creation lock, so no series is created meanwhile. Callers
    /// checkpoint afterwards, which keeps the dropped series out of the next
    /// recovery.
    pub(crate) fn gc_head(&self) -> Result<usize> {
        let _creation = self.create_lock.lock();
        let dropped = self.head.gc();
        if dropped.is_empty() {
            return Ok(0);
        }
        let old = self.index.load_full();
        let index = MemIndex::new(old.limits().clone());
        for (id, labels) in self.head.all_labels() {
            index
                .insert_with_id(SeriesId(id), labels)
                .map_err(|e| Error::Corrupt {
                    file: "<head>".into(),
                    offset: 0,
                    what: format!("head series {id} in the rebuilt index: {e}"),
                })?;
        }
        index.reserve_ids(old.next_id());
        self.index.store(Arc::new(index));
        Ok(dropped.len())
    }
}
