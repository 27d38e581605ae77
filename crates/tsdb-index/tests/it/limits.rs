//! Cardinality limits.

use tsdb_index::{CardinalityLimits, IndexError, LimitKind, MemIndex};

use crate::common::l;

fn refused_by(e: IndexError) -> (String, LimitKind, usize) {
    match e {
        IndexError::CardinalityLimit { metric, limit, max } => (metric, limit, max),
        other => panic!("expected a cardinality refusal, got {other:?}"),
    }
}

#[test]
fn per_metric_limit_refuses_new_series_only() {
    let idx = MemIndex::new(CardinalityLimits {
        max_series_per_metric: 2,
        ..CardinalityLimits::default()
    });
    let s = |u: &str| l(&[("__name__", "req"), ("user", u)]);
    let a = idx.get_or_create(&s("a")).unwrap();
    idx.get_or_create(&s("b")).unwrap();
    let e = idx.get_or_create(&s("c")).unwrap_err();
    assert_eq!(refused_by(e), ("req".into(), LimitKind::SeriesPerMetric, 2));
    assert!(idx.get_or_create(&s("d")).is_err());
    // Existing series keep working; other metrics are unaffected.
    assert_eq!(idx.get_or_create(&s("a")).unwrap(), a);
    idx.get_or_create(&l(&[("__name__", "other")])).unwrap();
    assert_eq!(idx.refused("req"), 2);
    assert_eq!(idx.refused("other"), 0);
    assert_eq!(idx.metric_series("req"), 2);
    let r = idx.cardinality_report(10);
    assert_eq!(r.refused_total, 2);
    assert_eq!(idx.num_series(), 3);
}

#[test]
fn total_limit() {
    let idx = MemIndex::new(CardinalityLimits {
        max_series_total: 3,
        ..CardinalityLimits::default()
    });
    for i in 0..3 {
        idx.get_or_create(&l(&[("__name__", &format!("m{i}"))]))
            .unwrap();
    }
    let e = idx.get_or_create(&l(&[("__name__", "m9")])).unwrap_err();
    assert_eq!(refused_by(e), ("m9".into(), LimitKind::SeriesTotal, 3));
    assert_eq!(idx.refused("m9"), 1);
    assert_eq!(idx.num_series(), 3);
    assert!(idx.get(&l(&[("__name__", "m9")])).is_none());
}

#[test]
fn shape_limits() {
    let idx = MemIndex::new(CardinalityLimits {
        max_labels_per_series: 2,
        max_label_name_len: 8,
        max_label_value_len: 5,
        ..CardinalityLimits::default()
    });
    let e = idx
        .get_or_create(&l(&[("__name__", "m"), ("a", "1"), ("b", "2")]))
        .unwrap_err();
    assert_eq!(refused_by(e), ("m".into(), LimitKind::LabelsPerSeries, 2));
    let e = idx
        .get_or_create(&l(&[("__name__", "m"), ("longname", "1")]))
        .unwrap();
    let _ = e;
    let e = idx
        .get_or_create(&l(&[("__name__", "m"), ("longnames", "1")]))
        .unwrap_err();
    assert_eq!(refused_by(e), ("m".into(), LimitKind::LabelNameLength, 8));
    let e = idx
        .get_or_create(&l(&[("__name__", "m"), ("a", "123456")]))
        .unwrap_err();
    assert_eq!(refused_by(e), ("m".into(), LimitKind::LabelValueLength, 5));
    let msg = idx
        .get_or_create(&l(&[("__name__", "m"), ("a", "123456")]))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("max_label_value_len") && msg.contains("\"m\""),
        "{msg}"
    );
    assert_eq!(idx.refused("m"), 4);
    assert_eq!(idx.num_series(), 1);
}
