//! Lookups when label sets collide: every hash is forced equal, so each lookup walks
//! one probe chain and only the comparison of the labels tells the series apart.

use super::*;

fn l(pairs: &[(&str, &str)]) -> Labels {
    Labels::new(pairs.iter().copied()).unwrap()
}

/// Label sets that share groups, heads, prefixes and string boundaries.
fn tricky() -> Vec<Labels> {
    let mut out = vec![
        l(&[("__name__", "up")]),
        l(&[("__name__", "up"), ("a", "bc")]),
        l(&[("__name__", "up"), ("ab", "c")]),
        l(&[("__name__", "upa"), ("b", "c")]),
        l(&[("__name__", "down"), ("a", "bc")]),
        l(&[("A", "x"), ("__name__", "up")]),
        l(&[("A", "up"), ("__name__", "x")]),
        l(&[("__name__", "a-very-long-metric-name-over-sixteen-bytes")]),
        l(&[("__name__", "a-very-long-metric-name-over-sixteen-bytez")]),
        l(&[("__name__", "up"), ("a", "bc"), ("d", "e")]),
    ];
    for i in 0..300 {
        out.push(l(&[
            ("__name__", &format!("m{}", i % 7)),
            ("host", &format!("h{}", i / 7)),
        ]));
    }
    out
}

#[test]
fn forced_collisions_never_give_a_wrong_id() {
    for h in [0u64, 0xABCD_EF01_2345_6789, u64::MAX] {
        let idx = MemIndex::default();
        let plain = tricky();
        let all: Vec<Labels> = plain.iter().map(|x| x.with_forced_hash(h)).collect();
        let (created, absent) = all.split_at(all.len() / 2);
        let mut ids = Vec::new();
        for x in created {
            let id = idx.get_or_create(x).unwrap();
            assert!(!ids.contains(&id), "{x} reused {id:?}");
            ids.push(id);
        }
        for ((x, id), p) in created.iter().zip(&ids).zip(&plain) {
            assert_eq!(idx.get(x), Some(*id), "{x}");
            assert_eq!(idx.get_or_create(x).unwrap(), *id, "{x}");
            assert_eq!(idx.labels(*id).as_ref(), Some(p));
        }
        for x in absent {
            assert_eq!(idx.get(x), None, "{x}");
        }
        let mut out = Vec::new();
        idx.get_many(&all, &mut out);
        let want: Vec<Option<SeriesId>> = ids
            .iter()
            .map(|id| Some(*id))
            .chain(absent.iter().map(|_| None))
            .collect();
        assert_eq!(out, want);
        assert_eq!(idx.num_series(), created.len());
        // A replayed series under another id conflicts; under its own id it is a no-op.
        let first = created.first().unwrap().clone();
        assert!(idx.insert_with_id(ids[0], first.clone()).is_ok());
        assert!(matches!(
            idx.insert_with_id(SeriesId(9999), first),
            Err(IndexError::SeriesIdConflict { .. })
        ));
    }
}

#[test]
fn empty_label_set_is_a_series_of_its_own() {
    let idx = MemIndex::default();
    let e = Labels::empty();
    let up = l(&[("__name__", "up")]);
    assert!(matches!(
        idx.get_or_create(&e),
        Err(IndexError::MissingMetricName)
    ));
    idx.insert_with_id(SeriesId(3), e.clone()).unwrap();
    let up_id = idx.get_or_create(&up).unwrap();
    assert_eq!(up_id, SeriesId(4));
    assert_eq!(idx.get(&e), Some(SeriesId(3)));
    assert_eq!(idx.labels(SeriesId(3)), Some(e.clone()));
    assert_eq!(idx.labels(SeriesId(0)), None);
    // And when it collides with another.
    let idx = MemIndex::default();
    let (e, up) = (e.with_forced_hash(7), up.with_forced_hash(7));
    idx.insert_with_id(SeriesId(0), e.clone()).unwrap();
    assert_eq!(idx.get(&up), None);
    assert_eq!(idx.get_or_create(&up).unwrap(), SeriesId(1));
    assert_eq!(idx.get(&e), Some(SeriesId(0)));
    assert_eq!(idx.get(&up), Some(SeriesId(1)));
}

#[test]
fn a_groups_series_and_near_misses_checked_by_its_bytes() {
    // One target's series (one label group, many metric names): from the second
    // series on the group keeps its strings as bytes, and lookups compare those.
    // Label sets that differ from them anywhere but in the metric name, or split
    // the same bytes differently, must still be told apart.
    let idx = MemIndex::default();
    let target = [("instance", "h1:9100"), ("job", "node")];
    // Every hash forced equal: each lookup compares its labels with every series.
    const H: u64 = 0x5eed;
    let series = |name: &str, extra: &[(&'static str, &'static str)]| {
        let mut pairs = vec![("__name__", name.to_string())];
        pairs.extend(target.iter().chain(extra).map(|(n, v)| (*n, v.to_string())));
        Labels::new(pairs.iter().map(|(n, v)| (*n, v.as_str())))
            .unwrap()
            .with_forced_hash(H)
    };
    let names: Vec<String> = (0..50).map(|i| format!("metric_{i}")).collect();
    let ids: Vec<SeriesId> = names
        .iter()
        .map(|n| idx.get_or_create(&series(n, &[])).unwrap())
        .collect();
    let forced = |pairs: &[(&str, &str)]| l(pairs).with_forced_hash(H);
    let near_misses = [
        forced(&[
            ("__name__", "metric_3"),
            ("instance", "h1:9101"),
            ("job", "node"),
        ]),
        forced(&[
            ("__name__", "metric_3"),
            ("instance", "h1:9100"),
            ("job", "nodes"),
        ]),
        forced(&[
            ("__name__", "metric_3"),
            ("instance", "h1:910"),
            ("job", "0node"),
        ]),
        forced(&[("__name__", "metric_3"), ("instance", "h1:9100")]),
        series("metric_3", &[("zone", "a")]),
        series("metric_50", &[]),
    ];
    for round in 0..3 {
        for (i, (n, id)) in names.iter().zip(&ids).enumerate() {
            assert_eq!(idx.get(&series(n, &[])), Some(*id), "round {round}, {n}");
            if round > 0 {
                let miss = &near_misses[i % near_misses.len()];
                assert_eq!(idx.get(miss), None, "{miss:?}");
            }
        }
    }
    // A second index, whose first group has the same id (arena position) as the
    // first index's but is another target: group ids mean nothing across indexes.
    let other = MemIndex::default();
    let elsewhere = forced(&[
        ("__name__", "metric_0"),
        ("instance", "h2:9100"),
        ("job", "node"),
    ]);
    let o = other.get_or_create(&elsewhere).unwrap();
    assert_eq!(idx.get(&series("metric_0", &[])), Some(ids[0]));
    assert_eq!(other.get(&series("metric_0", &[])), None);
    assert_eq!(other.get(&elsewhere), Some(o));
    let mut out = Vec::new();
    let batch: Vec<Labels> = names.iter().map(|n| series(n, &[])).collect();
    idx.get_many(&batch, &mut out);
    assert_eq!(out, ids.iter().map(|&i| Some(i)).collect::<Vec<_>>());
}
