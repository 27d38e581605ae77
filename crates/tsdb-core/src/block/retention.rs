//! Retention: dropping whole blocks by age and by total size.

use super::BlockMeta;
use crate::db::Inner;
use crate::error::Result;

impl Inner {
    /// Drops blocks whose newest sample is older than the newest time in the
    /// database minus the age retention, then the oldest blocks while the
    /// blocks' total size exceeds the size retention. Returns the dropped
    /// blocks' metadata. Their directories are removed once no reader holds
    /// them.
    pub(crate) fn apply_retention(&self) -> Result<Vec<BlockMeta>> {
        let (age, size) = (self.settings.retention_ms, self.settings.retention_bytes);
        if age <= 0 && size == 0 {
            return Ok(Vec::new());
        }
        let _changes = self.blocks.lock_changes();
        let list = self.blocks.snapshot();
        let newest = list
            .iter()
            .map(|b| b.meta().max_time_ms)
            .chain(self.head_max_time())
            .max()
            .unwrap_or(i64::MIN);
        let mut drop: Vec<BlockMeta> = Vec::new();
        if age > 0 {
            let cutoff = newest.saturating_sub(age);
            drop.extend(
                list.iter()
                    .filter(|b| b.meta().max_time_ms < cutoff)
                    .map(|b| b.meta().clone()),
            );
        }
        if size > 0 {
            let bytes = |m: &BlockMeta| m.stats.chunks_bytes + m.stats.index_bytes;
            let mut total: u64 = list
                .iter()
                .filter(|b| !drop.iter().any(|d| d.id == b.meta().id))
                .map(|b| bytes(b.meta()))
                .sum();
            let mut oldest: Vec<&BlockMeta> = list.iter().map(|b| b.meta()).collect();
            oldest.sort_by_key(|m| (m.max_time_ms, m.min_time_ms));
            for m in oldest {
                if total <= size {
                    break;
                }
                if !drop.iter().any(|d| d.id == m.id) {
                    total = total.saturating_sub(bytes(m));
                    drop.push(m.clone());
                }
            }
        }
        // Not held past the swap: see `BlockSet::replace_locked`.
        std::mem::drop(list);
        if !drop.is_empty() {
            let ids: Vec<String> = drop.iter().map(|m| m.id.clone()).collect();
            self.blocks.replace_locked(&ids, Vec::new())?;
        }
        Ok(drop)
    }
}
