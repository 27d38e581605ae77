//! Many writers and readers at once.

use std::sync::Arc;
use std::thread;

use tsdb_index::{Matcher, MemIndex};

use crate::common::l;

#[test]
fn concurrent_writers_and_readers_agree() {
    let idx = Arc::new(MemIndex::default());
    let writers = 4;
    let per = 2000;
    let mut handles = Vec::new();
    for w in 0..writers {
        let idx = Arc::clone(&idx);
        handles.push(thread::spawn(move || {
            // Every writer creates the same series (overlapping) plus its own.
            for i in 0..per {
                let shared = l(&[("__name__", "shared"), ("i", &i.to_string())]);
                let own = l(&[
                    ("__name__", "own"),
                    ("w", &w.to_string()),
                    ("i", &i.to_string()),
                ]);
                let a = idx.get_or_create(&shared).unwrap();
                let b = idx.get_or_create(&own).unwrap();
                assert_eq!(idx.get(&shared), Some(a));
                assert_eq!(idx.labels(b), Some(own));
            }
        }));
    }
    for _ in 0..2 {
        let idx = Arc::clone(&idx);
        handles.push(thread::spawn(move || {
            for _ in 0..200 {
                let sel = idx.select(&[Matcher::equal("__name__", "shared")]).unwrap();
                for id in sel.iter().take(20) {
                    let labels = idx.labels(*id).unwrap();
                    assert_eq!(labels.metric_name(), Some("shared"));
                }
                let _ = idx.label_values("w", &[]).unwrap();
            }
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(idx.num_series(), per + writers * per);
    let shared = idx.select(&[Matcher::equal("__name__", "shared")]).unwrap();
    assert_eq!(shared.len(), per);
    // Ids are dense.
    let mut all: Vec<u32> = idx.all_series().into_iter().map(|(id, _)| id.0).collect();
    all.sort_unstable();
    assert_eq!(all, (0..(per + writers * per) as u32).collect::<Vec<_>>());
}

#[test]
fn limits_hold_exactly_under_concurrent_creation() {
    use tsdb_index::{CardinalityLimits, IndexError, LimitKind};
    let idx = Arc::new(MemIndex::new(CardinalityLimits {
        max_series_per_metric: 100,
        max_series_total: 150,
        ..CardinalityLimits::default()
    }));
    let mut handles = Vec::new();
    for w in 0..4 {
        let idx = Arc::clone(&idx);
        handles.push(thread::spawn(move || {
            let mut refused = 0u64;
            for i in 0..100 {
                for metric in ["a", "b"] {
                    let s = l(&[("__name__", metric), ("user", &format!("{w}-{i}"))]);
                    match idx.get_or_create(&s) {
                        Ok(id) => assert_eq!(idx.get(&s), Some(id)),
                        Err(IndexError::CardinalityLimit { limit, .. }) => {
                            assert!(matches!(
                                limit,
                                LimitKind::SeriesPerMetric | LimitKind::SeriesTotal
                            ));
                            assert_eq!(idx.get(&s), None);
                            refused += 1;
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            refused
        }));
    }
    let refused: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(idx.num_series(), 150);
    assert!(idx.metric_series("a") <= 100 && idx.metric_series("b") <= 100);
    assert_eq!(idx.metric_series("a") + idx.metric_series("b"), 150);
    assert_eq!(refused, 800 - 150);
    assert_eq!(idx.refused("a") + idx.refused("b"), refused);
    assert_eq!(idx.cardinality_report(5).refused_total, refused);
    let all =
        idx.select(&[Matcher::new(tsdb_index::MatchOp::RegexMatch, "__name__", "a|b").unwrap()]);
    assert_eq!(all.unwrap().len(), 150);
}
