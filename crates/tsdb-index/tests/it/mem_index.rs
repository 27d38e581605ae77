//! `MemIndex` identity and lookups.

use tsdb_index::{CardinalityLimits, IndexError, Labels, MemIndex, SeriesId};

use crate::common::l;

#[test]
fn get_or_create_is_idempotent_and_dense() {
    let idx = MemIndex::new(CardinalityLimits::default());
    let a = l(&[("__name__", "up"), ("job", "a")]);
    let b = l(&[("__name__", "up"), ("job", "b")]);
    assert_eq!(idx.get(&a), None);
    assert_eq!(idx.get_or_create(&a).unwrap(), SeriesId(0));
    assert_eq!(idx.get_or_create(&b).unwrap(), SeriesId(1));
    assert_eq!(idx.get_or_create(&a).unwrap(), SeriesId(0));
    // An equal label set built separately finds the same series.
    assert_eq!(
        idx.get(&l(&[("job", "a"), ("__name__", "up")])),
        Some(SeriesId(0))
    );
    assert_eq!(idx.labels(SeriesId(1)), Some(b));
    assert_eq!(idx.labels(SeriesId(2)), None);
    assert_eq!(idx.num_series(), 2);
}

#[test]
fn missing_metric_name_is_refused_on_create() {
    let idx = MemIndex::default();
    let e = idx.get_or_create(&l(&[("job", "a")])).unwrap_err();
    assert!(matches!(e, IndexError::MissingMetricName));
    // An empty metric name is dropped like any empty value.
    let e = idx
        .get_or_create(&l(&[("__name__", ""), ("job", "a")]))
        .unwrap_err();
    assert!(matches!(e, IndexError::MissingMetricName));
    assert_eq!(idx.num_series(), 0);
}

#[test]
fn utf8_metric_names_are_series() {
    let idx = MemIndex::default();
    let a = l(&[("__name__", "http.requests"), ("zone.name", "eu")]);
    let id = idx.get_or_create(&a).unwrap();
    assert_eq!(
        idx.labels(id).unwrap().to_string(),
        r#"{"http.requests", "zone.name"="eu"}"#
    );
}

#[test]
fn insert_with_id_for_replay() {
    let idx = MemIndex::new(CardinalityLimits {
        max_series_total: 1,
        ..CardinalityLimits::default()
    });
    let a = l(&[("__name__", "up"), ("job", "a")]);
    let b = l(&[("__name__", "up"), ("job", "b")]);
    idx.insert_with_id(SeriesId(7), a.clone()).unwrap();
    // No limit check on replay.
    idx.insert_with_id(SeriesId(3), b.clone()).unwrap();
    idx.insert_with_id(SeriesId(7), a.clone()).unwrap();
    assert!(matches!(
        idx.insert_with_id(SeriesId(8), a.clone()),
        Err(IndexError::SeriesIdConflict { id: 8 })
    ));
    assert!(matches!(
        idx.insert_with_id(SeriesId(3), l(&[("__name__", "x")])),
        Err(IndexError::SeriesIdConflict { id: 3 })
    ));
    assert_eq!(idx.get(&a), Some(SeriesId(7)));
    assert_eq!(idx.labels(SeriesId(3)), Some(b));
    // Later ids continue after the max seen, limits apply again.
    let idx2 = MemIndex::default();
    idx2.insert_with_id(SeriesId(7), a).unwrap();
    assert_eq!(
        idx2.get_or_create(&l(&[("__name__", "n")])).unwrap(),
        SeriesId(8)
    );
}

#[test]
fn label_names_and_values() {
    let idx = MemIndex::default();
    for (m, h, z) in [("cpu", "a", "eu"), ("cpu", "b", "us"), ("mem", "a", "")] {
        idx.get_or_create(&l(&[("__name__", m), ("host", h), ("zone", z)]))
            .unwrap();
    }
    assert_eq!(
        idx.label_names(&[]).unwrap(),
        vec!["__name__", "host", "zone"]
    );
    let mem = [tsdb_index::Matcher::equal("__name__", "mem")];
    assert_eq!(idx.label_names(&mem).unwrap(), vec!["__name__", "host"]);
    assert_eq!(idx.label_values("host", &[]).unwrap(), vec!["a", "b"]);
    assert_eq!(
        idx.label_values("zone", &mem).unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        idx.label_values("zone", &[tsdb_index::Matcher::equal("host", "b")])
            .unwrap(),
        vec!["us"]
    );
    assert_eq!(idx.label_values("nope", &[]).unwrap(), Vec::<String>::new());
    assert!(matches!(
        idx.label_values("host", &[tsdb_index::Matcher::equal("x", "")]),
        Err(IndexError::EmptySelector)
    ));
}

#[test]
fn label_names_and_values_large_selection() {
    // Past the small-selection threshold the postings are probed instead.
    let idx = MemIndex::default();
    for i in 0..5000 {
        let odd = if i % 2 == 1 { "yes" } else { "" };
        idx.get_or_create(&l(&[
            ("__name__", "m"),
            ("i", &i.to_string()),
            ("odd", odd),
        ]))
        .unwrap();
    }
    let all = [tsdb_index::Matcher::equal("__name__", "m")];
    assert_eq!(idx.label_names(&all).unwrap(), vec!["__name__", "i", "odd"]);
    assert_eq!(idx.label_values("odd", &all).unwrap(), vec!["yes"]);
    assert_eq!(idx.label_values("i", &all).unwrap().len(), 5000);
}

#[test]
fn memory_and_report() {
    let idx = MemIndex::default();
    for i in 0..100 {
        idx.get_or_create(&l(&[("__name__", "a"), ("i", &i.to_string())]))
            .unwrap();
    }
    for i in 0..10 {
        idx.get_or_create(&l(&[("__name__", "b"), ("j", &i.to_string())]))
            .unwrap();
    }
    assert!(idx.memory_bytes() > idx.symbol_bytes());
    let r = idx.cardinality_report(1);
    assert_eq!(r.total_series, 110);
    assert_eq!(r.metrics.len(), 1);
    assert_eq!(r.metrics[0].metric, "a");
    assert_eq!(r.metrics[0].series, 100);
    assert_eq!(r.label_names[0].name, "__name__");
    assert_eq!(r.label_names[0].series, 110);
    let r = idx.cardinality_report(10);
    let i = r.label_names.iter().find(|n| n.name == "i").unwrap();
    assert_eq!((i.series, i.distinct_values), (100, 100));
    assert_eq!(idx.metric_series("b"), 10);
    let all = idx.all_series();
    assert_eq!(all.len(), 110);
    assert_eq!(all[5].1, idx.labels(all[5].0).unwrap());
    let _ = Labels::empty();
}

#[test]
fn get_many_agrees_with_get() {
    // 66,667 series: the lookup table (4 MiB) is large enough to be huge-page mapped.
    const N: usize = 100_000;
    let idx = MemIndex::default();
    let mut probes = Vec::new();
    for i in 0..N {
        let s = l(&[("__name__", "m"), ("i", &i.to_string())]);
        if i % 3 != 0 {
            idx.get_or_create(&s).unwrap();
        }
        probes.push(s);
    }
    assert!(idx.memory_bytes() > 4 << 20);
    // Scattered, with repeats, absent series and a partial last batch.
    let probes: Vec<Labels> = (0..N + N / 2 + 1)
        .map(|k| probes[(k * 7919) % N].clone())
        .collect();
    let mut out = vec![None];
    idx.get_many(&probes, &mut out);
    assert_eq!(out.len(), probes.len() + 1);
    for (p, got) in probes.iter().zip(&out[1..]) {
        assert_eq!(*got, idx.get(p));
        assert_eq!(
            got.is_some(),
            p.get("i").unwrap().parse::<u32>().unwrap() % 3 != 0
        );
        if let Some(id) = got {
            assert_eq!(idx.labels(*id).as_ref(), Some(p));
        }
    }
}

#[test]
fn lookups_of_stable_series_never_miss_while_others_churn() {
    let idx = std::sync::Arc::new(MemIndex::default());
    let stable: Vec<(SeriesId, Labels)> = (0..2_000)
        .map(|i| {
            let s = l(&[("__name__", "stable"), ("i", &i.to_string())]);
            (idx.get_or_create(&s).unwrap(), s)
        })
        .collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let (idx, stop) = (idx.clone(), stop.clone());
        std::thread::spawn(move || {
            // Create and remove, so tombstones pile up and the table is rebuilt.
            for round in 0..40 {
                let ids: Vec<SeriesId> = (0..1_000)
                    .map(|i| {
                        let s = l(&[("__name__", "churn"), ("i", &format!("{round}-{i}"))]);
                        idx.get_or_create(&s).unwrap()
                    })
                    .collect();
                for id in ids {
                    assert!(idx.remove(id));
                }
            }
            stop.store(true, std::sync::atomic::Ordering::Release);
        })
    };
    let mut checks = 0usize;
    while !stop.load(std::sync::atomic::Ordering::Acquire) || checks == 0 {
        for (id, s) in &stable {
            assert_eq!(idx.get(s), Some(*id));
            checks += 1;
        }
    }
    churn.join().unwrap();
    assert!(checks > 0);
    assert_eq!(idx.num_series(), stable.len());
    assert_eq!(idx.metric_series("churn"), 0);
    assert_eq!(idx.label_values("__name__", &[]).unwrap(), vec!["stable"]);
}

#[test]
fn removed_ids_stay_taken() {
    let idx = MemIndex::default();
    let a = l(&[("__name__", "m"), ("i", "a")]);
    let b = l(&[("__name__", "m"), ("i", "b")]);
    let c = l(&[("__name__", "n"), ("i", "c")]);
    let (ia, ib) = (
        idx.get_or_create(&a).unwrap(),
        idx.get_or_create(&b).unwrap(),
    );
    // Duplicates and unknown ids count once and not at all.
    assert_eq!(idx.remove_many(&[ia, ia, SeriesId(77)]), 1);
    assert!(!idx.remove(ia));
    assert_eq!(idx.labels(ia), None);
    assert_eq!(idx.get(&a), None);
    // The id cannot be bound to other labels, nor handed out again.
    assert!(matches!(
        idx.insert_with_id(ia, c.clone()),
        Err(IndexError::SeriesIdConflict { .. })
    ));
    let ia2 = idx.get_or_create(&a).unwrap();
    assert!(ia2 != ia && ia2 != ib);
    assert_eq!(idx.num_series(), 2);
    assert_eq!(idx.metric_series("m"), 2);
    assert_eq!(
        idx.select(&[tsdb_index::Matcher::equal("__name__", "m")])
            .unwrap(),
        vec![ib, ia2]
    );
    assert_eq!(idx.all_series(), vec![(ib, b), (ia2, a)]);
    // A metric whose series all went leaves the cardinality report.
    let ic = idx.get_or_create(&c).unwrap();
    let metrics = |idx: &MemIndex| -> Vec<String> {
        idx.cardinality_report(10)
            .metrics
            .into_iter()
            .map(|m| m.metric)
            .collect()
    };
    assert_eq!(metrics(&idx), ["m", "n"]);
    assert!(idx.remove(ic));
    assert_eq!(metrics(&idx), ["m"]);
}
