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
