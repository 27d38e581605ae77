//! Reviewer's test (core2 head GC x index2 AppendVec): a rebuilt index keeps
//! the old next id (`reserve_ids`), so its live series have high ids; one
//! such series allocates the whole doubling AppendVec segment holding it.
//! Drop into crates/tsdb-index/tests/it/ and add `mod review_index_sparse;`.
use tsdb_index::{CardinalityLimits, Labels, MemIndex, SeriesId};

#[test]
fn one_series_with_a_high_id_costs_memory_proportional_to_the_id() {
    let l = Labels::new([("__name__", "up")]).unwrap();
    let fresh = MemIndex::new(CardinalityLimits::default());
    fresh.get_or_create(&l).unwrap();
    // What gc_publish / recovery do after 16 M series were ever created.
    let rebuilt = MemIndex::new(CardinalityLimits::default());
    rebuilt.reserve_ids(1 << 24);
    assert_eq!(rebuilt.get_or_create(&l).unwrap(), SeriesId(1 << 24));
    let (a, b) = (fresh.memory_bytes(), rebuilt.memory_bytes());
    eprintln!("one series: fresh index {a} B, index with next id 2^24: {b} B");
    assert!(b < 4 * a, "{b} B vs {a} B for one series");
}
