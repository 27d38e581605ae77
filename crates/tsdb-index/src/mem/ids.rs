//! The series id high-water mark of a `MemIndex`, so a host that drops series
//! (and rebuilds its index without them) never hands out an id again.

use std::sync::atomic::Ordering;

use super::MemIndex;

impl MemIndex {
    /// The id the next new series would get: one more than the largest id
    /// ever allocated or inserted (or reserved with [`MemIndex::reserve_ids`]).
    pub fn next_id(&self) -> u32 {
        self.next_id.load(Ordering::Acquire)
    }

    /// Makes every id below `next` taken: series created later get `next` or
    /// more. Lowering the mark is a no-op. A host that rebuilds its index
    /// without some series calls this with the old index's
    /// [`MemIndex::next_id`], so ids still named by its logs are not reused.
    ///
    /// ```
    /// use tsdb_index::{CardinalityLimits, Labels, MemIndex, SeriesId};
    /// let idx = MemIndex::new(CardinalityLimits::default());
    /// idx.reserve_ids(10);
    /// idx.reserve_ids(3);
    /// let l = Labels::new([("__name__", "up")]).unwrap();
    /// assert_eq!(idx.get_or_create(&l).unwrap(), SeriesId(10));
    /// assert_eq!(idx.next_id(), 11);
    /// ```
    pub fn reserve_ids(&self, next: u32) {
        self.next_id.fetch_max(next, Ordering::AcqRel);
    }
}
