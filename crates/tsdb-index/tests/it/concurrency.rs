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

/// Creators and readers racing across lookup-table growth: every series is
/// created once, found from then on under the same id, and read back.
fn lab(i: u32) -> tsdb_index::Labels {
    tsdb_index::Labels::new([
        ("__name__", format!("m{}", i % 7).as_str()),
        ("job", "j"),
        ("i", i.to_string().as_str()),
    ])
    .unwrap()
}

/// Series of targets of 50 (one label group each, 50 metric names): a group
/// takes its strings as bytes when its second series is created, while readers
/// look its series up.
fn target_lab(i: u32) -> tsdb_index::Labels {
    tsdb_index::Labels::new([
        ("__name__", format!("m{}", i % 50).as_str()),
        ("job", "j"),
        ("target", (i / 50).to_string().as_str()),
    ])
    .unwrap()
}

#[test]
fn concurrent_create_and_lookup_across_growth() {
    race(lab, 3, 60_000);
}

#[test]
fn concurrent_create_and_lookup_in_shared_groups() {
    race(target_lab, 2, 30_000);
}

fn race(lab: fn(u32) -> tsdb_index::Labels, rounds: u32, n: u32) {
    for round in 0..rounds {
        let idx = Arc::new(MemIndex::new(tsdb_index::CardinalityLimits::unlimited()));
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut hs = Vec::new();
        for t in 0..3u32 {
            let idx = Arc::clone(&idx);
            hs.push(std::thread::spawn(move || {
                let mut out = Vec::new();
                // overlapping ranges so the same labels race
                for i in (t * n / 6)..(t * n / 6 + n / 2) {
                    let l = lab(i);
                    let id = idx.get_or_create(&l).unwrap();
                    out.push((i, id));
                    // once created, always found, with the same id
                    assert_eq!(idx.get(&l), Some(id), "round {round} i {i}");
                }
                out
            }));
        }
        let reader = {
            let idx = Arc::clone(&idx);
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                let mut seen = std::collections::HashMap::new();
                let mut k = 0u32;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    let i = k % n;
                    k = k.wrapping_add(7919);
                    if let Some(id) = idx.get(&lab(i)) {
                        if let Some(prev) = seen.insert(i, id) {
                            assert_eq!(prev, id);
                        }
                        assert_eq!(idx.labels(id), Some(lab(i)));
                    }
                }
            })
        };
        let mut all = std::collections::HashMap::new();
        for h in hs {
            for (i, id) in h.join().unwrap() {
                if let Some(prev) = all.insert(i, id) {
                    assert_eq!(prev, id, "two ids for {i}");
                }
            }
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        reader.join().unwrap();
        let ids: std::collections::HashSet<_> = all.values().collect();
        assert_eq!(ids.len(), all.len());
        assert_eq!(idx.num_series(), all.len());
    }
}
