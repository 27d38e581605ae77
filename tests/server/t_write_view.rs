//! The zero-copy remote-write decoder against prost, the label cache, and the
//! write endpoint's answers to broken bodies.

use proptest::prelude::*;
use prost::Message;
use tsdb::core::Labels;

use crate::harness::{TestServer, now_ms, remote_write, series};
use crate::ingest::Outcome;
use crate::label_cache::{LabelCache, same_labels};
use crate::memory::BufferPool;
use crate::proto::{self, Label, MetricMetadata, Sample, TimeSeries, WriteRequest};
use crate::remote_write::to_batch;
use crate::write_view::WriteView;

/// What prost decodes, in the decoder's terms: per series, its raw label
/// pairs and its samples (bit patterns, so NaNs compare).
type Flat = Vec<(Vec<(Vec<u8>, Vec<u8>)>, Vec<(i64, u64)>)>;

/// prost's series with at least one sample (the view keeps no others:
/// there is nothing of them to store).
fn flat_prost(req: &WriteRequest) -> Flat {
    req.timeseries
        .iter()
        .filter(|ts| !ts.samples.is_empty())
        .map(|ts| {
            (
                ts.labels
                    .iter()
                    .map(|l| (l.name.to_vec(), l.value.to_vec()))
                    .collect(),
                ts.samples
                    .iter()
                    .map(|s| (s.timestamp, s.value.to_bits()))
                    .collect(),
            )
        })
        .collect()
}

fn flat_view(v: &WriteView<'_>) -> Flat {
    v.series
        .iter()
        .map(|s| {
            let mut pairs = Vec::new();
            v.pairs_into(s, &mut pairs).unwrap();
            (
                pairs
                    .iter()
                    .map(|(n, v)| (n.to_vec(), v.to_vec()))
                    .collect(),
                v.samples_of(s)
                    .iter()
                    .map(|s| (s.timestamp, s.value.to_bits()))
                    .collect(),
            )
        })
        .collect()
}

fn text() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..12),
        "[a-z_]{0,10}".prop_map(String::into_bytes),
    ]
}

fn write_request() -> impl Strategy<Value = WriteRequest> {
    let label = (text(), text()).prop_map(|(n, v)| Label {
        name: n.into(),
        value: v.into(),
    });
    let sample = (any::<i64>(), any::<u64>()).prop_map(|(t, bits)| Sample {
        timestamp: t,
        value: f64::from_bits(bits),
    });
    let ts = (
        proptest::collection::vec(label, 0..8),
        proptest::collection::vec(sample, 0..5),
    )
        .prop_map(|(labels, samples)| TimeSeries { labels, samples });
    let meta = (0i32..8, "[a-z_]{0,8}", "[ -~]{0,12}", "[a-z]{0,4}").prop_map(
        |(r#type, metric_family_name, help, unit)| MetricMetadata {
            r#type,
            metric_family_name,
            help,
            unit,
        },
    );
    (
        proptest::collection::vec(ts, 0..6),
        proptest::collection::vec(meta, 0..3),
    )
        .prop_map(|(timeseries, metadata)| WriteRequest {
            timeseries,
            metadata,
        })
}

/// The decoder agrees with prost: both accept or both refuse, and accepted
/// bodies decode to the same series, samples and metadata.
fn agrees(body: &[u8]) -> Result<(), TestCaseError> {
    let ours = WriteView::decode(body);
    let theirs = WriteRequest::decode(body);
    match (&ours, &theirs) {
        (Ok(v), Ok(req)) => {
            prop_assert_eq!(flat_view(v), flat_prost(req));
            prop_assert_eq!(&v.metadata, &req.metadata);
        }
        (Err(_), Err(_)) => {}
        _ => prop_assert!(false, "ours {:?} prost {:?}", ours.is_ok(), theirs.is_ok()),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// prost-encoded requests decode to what prost decodes, and every
    /// truncation of them is refused or accepted exactly as prost does.
    #[test]
    fn decodes_what_prost_encodes(req in write_request()) {
        let body = req.encode_to_vec();
        let v = WriteView::decode(&body).unwrap();
        prop_assert_eq!(flat_view(&v), flat_prost(&req));
        prop_assert_eq!(&v.metadata, &req.metadata);
        let with_samples = req.timeseries.iter().filter(|ts| !ts.samples.is_empty());
        for (s, ts) in v.series.iter().zip(with_samples) {
            // Labels come first and together from prost: the cache key is there.
            prop_assert_eq!(s.label_bytes().is_some(), !ts.labels.is_empty());
        }
        for cut in 0..body.len() {
            agrees(&body[..cut])?;
        }
    }

    /// Arbitrary bytes: never a panic; whatever the decoder accepts, prost
    /// accepts with the same content (prost also skips groups, which the
    /// decoder refuses).
    #[test]
    fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(v) = WriteView::decode(&b) {
            let req = WriteRequest::decode(b.as_slice());
            prop_assert!(req.is_ok(), "prost refuses what the decoder accepts");
            if let Ok(req) = req {
                prop_assert_eq!(flat_view(&v), flat_prost(&req));
            }
        }
    }

    /// Single-byte corruptions of valid bodies: both decoders agree (unless
    /// the corruption made a group, which only prost skips).
    #[test]
    fn corrupted_bodies_agree_with_prost(req in write_request(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut body = req.encode_to_vec();
        if body.is_empty() {
            return Ok(());
        }
        let i = at.index(body.len());
        body[i] = byte;
        let ours = WriteView::decode(&body);
        if let Err(e) = &ours && e.what == "groups are not supported" {
            return Ok(());
        }
        agrees(&body)?;
    }

    /// When the pair check says a cached set matches, building the labels
    /// from the pairs gives that very set.
    #[test]
    fn same_labels_means_equal(
        pairs in proptest::collection::vec(("[a-c_]{0,2}", "[xy]{0,2}"), 0..5),
        other in proptest::collection::vec(("[a-c_]{1,2}", "[xy]{0,2}"), 0..5),
    ) {
        let raw: Vec<(&[u8], &[u8])> =
            pairs.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())).collect();
        let built = Labels::from_utf8_pairs(&raw);
        if let Ok(l) = &built {
            // Sorted, unique input matches its own labels.
            if raw.windows(2).all(|w| w[0].0 < w[1].0) {
                prop_assert!(same_labels(&raw, l));
            }
        }
        if let Ok(candidate) = Labels::new(other.iter().map(|(n, v)| (n.as_str(), v.as_str())))
            && same_labels(&raw, &candidate)
        {
            prop_assert_eq!(built.ok(), Some(candidate));
        }
    }
}

#[test]
fn same_labels_refuses_what_from_utf8_pairs_would_not_build_alike() {
    let l = Labels::new([("__name__", "m"), ("a", "1")]).unwrap();
    let ok: &[(&[u8], &[u8])] = &[(b"__name__", b"m"), (b"a", b"1")];
    assert!(same_labels(ok, &l));
    // Empty values are dropped, as the labels do.
    assert!(same_labels(
        &[(b"__name__", b"m"), (b"a", b"1"), (b"b", b"")],
        &l
    ));
    // Unsorted (would be sorted by the slow path; not a cache hit).
    assert!(!same_labels(&[(b"a", b"1"), (b"__name__", b"m")], &l));
    // A duplicate name hidden by an empty value is refused by the slow path.
    assert!(!same_labels(
        &[(b"__name__", b"m"), (b"a", b""), (b"a", b"1")],
        &l
    ));
    // An empty name is refused by the slow path.
    assert!(!same_labels(
        &[(b"", b""), (b"__name__", b"m"), (b"a", b"1")],
        &l
    ));
    // Fewer or more pairs.
    assert!(!same_labels(&[(b"__name__", b"m")], &l));
    assert!(!same_labels(
        &[(b"__name__", b"m"), (b"a", b"1"), (b"b", b"2")],
        &l
    ));
}

#[test]
fn label_bytes_are_the_contiguous_label_fields() {
    let ts = series(&[("__name__", "m"), ("a", "1")], &[(1, 2.0)]);
    let body = WriteRequest {
        timeseries: vec![ts.clone()],
        metadata: Vec::new(),
    }
    .encode_to_vec();
    let v = WriteView::decode(&body).unwrap();
    let labels_only = TimeSeries {
        labels: ts.labels.clone(),
        samples: Vec::new(),
    }
    .encode_to_vec();
    assert_eq!(v.series[0].label_bytes(), Some(labels_only.as_slice()));
    assert!(v.scattered.is_empty());

    // A sample between two labels: no key (the series takes the slow path).
    let mut interleaved = Vec::new();
    prost::encoding::message::encode(1, &ts.labels[0], &mut interleaved);
    prost::encoding::message::encode(2, &ts.samples[0], &mut interleaved);
    prost::encoding::message::encode(1, &ts.labels[1], &mut interleaved);
    let mut body = Vec::new();
    prost::encoding::bytes::encode(1, &interleaved, &mut body);
    let v = WriteView::decode(&body).unwrap();
    assert_eq!(v.series[0].label_bytes(), None);
    assert_eq!(v.scattered.len(), 2);
    assert_eq!(flat_view(&v)[0].0.len(), 2);
    let mut outcome = Outcome::default();
    let batch = to_batch(&v, &LabelCache::new(16), &mut Vec::new(), &mut outcome);
    assert_eq!(batch.len(), 1);
    assert_eq!(batch[0].labels.to_string(), r#"m{a="1"}"#);
}

#[test]
fn errors_say_what_and_where() {
    // A series whose label is cut short.
    let e = WriteView::decode(b"\x0a\x05\x0a\x03abc\xff").unwrap_err();
    assert!(e.to_string().contains("at byte"), "{e}");
    // Tag 0.
    assert_eq!(
        WriteView::decode(b"\x00").unwrap_err().what,
        "invalid tag 0"
    );
    // An eleven-byte varint (in an unknown field 5).
    let e = WriteView::decode(b"\x28\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01").unwrap_err();
    assert_eq!(e.what, "invalid varint");
    // Samples field with the wrong wire type.
    let e = WriteView::decode(b"\x0a\x02\x10\x01").unwrap_err();
    assert_eq!(e.what, "wrong wire type for a known field");
    // A length past the end.
    let e = WriteView::decode(b"\x0a\x7f").unwrap_err();
    assert_eq!((e.offset, e.what), (2, "truncated field"));
}

#[test]
fn cache_hits_reuse_the_labels_and_refuse_impostors() {
    let cache = LabelCache::new(100);
    let body = WriteRequest {
        timeseries: vec![
            series(&[("__name__", "m"), ("a", "1")], &[(1, 1.0)]),
            series(&[("__name__", "m"), ("a", "2")], &[(1, 1.0), (2, 2.0)]),
        ],
        metadata: Vec::new(),
    }
    .encode_to_vec();
    let v = WriteView::decode(&body).unwrap();
    let mut outcome = Outcome::default();
    let mut pending = Vec::new();
    let first = to_batch(&v, &cache, &mut pending, &mut outcome);
    assert_eq!(pending.len(), 2);
    cache.insert_many(pending.drain(..));
    assert_eq!(cache.len(), 2);
    let second = to_batch(&v, &cache, &mut pending, &mut outcome);
    assert!(pending.is_empty(), "hits add nothing");
    assert_eq!(first, second);
    assert_eq!(second.len(), 3);
    assert_eq!(second[1].labels, second[2].labels);
    assert_eq!(outcome.refused_total(), 0);

    // Invalid labels are never cached and always refused.
    let bad = WriteRequest {
        timeseries: vec![series(
            &[("__name__", "m"), ("a", "1"), ("a", "2")],
            &[(1, 1.0)],
        )],
        metadata: Vec::new(),
    }
    .encode_to_vec();
    let v = WriteView::decode(&bad).unwrap();
    for _ in 0..2 {
        let mut outcome = Outcome::default();
        assert!(to_batch(&v, &cache, &mut pending, &mut outcome).is_empty());
        assert_eq!(outcome.refused_total(), 1);
        assert!(pending.is_empty());
    }
    assert_eq!(cache.len(), 2);
}

#[test]
fn cache_generations_are_bounded() {
    let cache = LabelCache::new(3);
    let l = Labels::new([("__name__", "m")]).unwrap();
    cache.insert_many((0..3).map(|k| (k, l.clone())));
    assert_eq!(cache.len(), 3);
    // The fourth entry starts a new generation; the old one is kept once.
    cache.insert_many([(3, l.clone())]);
    assert_eq!(cache.len(), 4);
    let mut out = Vec::new();
    let promote = cache.get_many(&[Some(0), Some(3), None, Some(99)], &mut out);
    assert_eq!(promote, vec![0]);
    assert!(out[0].is_some() && out[1].is_some() && out[2].is_none() && out[3].is_none());
    cache.insert_many((10..13).map(|k| (k, l.clone())));
    // Two rotations later only recent entries are left.
    cache.insert_many((20..23).map(|k| (k, l.clone())));
    assert!(cache.len() <= 6, "{}", cache.len());
}

#[test]
fn broken_bodies_over_http_are_400_with_a_message() {
    let s = TestServer::start();
    let mut c = s.client();
    let t = now_ms() - 60_000;
    let req = WriteRequest {
        timeseries: vec![
            series(&[("__name__", "m"), ("i", "1")], &[(t, 1.0)]),
            series(&[("__name__", "m"), ("i", "2")], &[(t, 2.0)]),
        ],
        metadata: vec![MetricMetadata {
            r#type: 2,
            metric_family_name: "m".into(),
            help: "a gauge".into(),
            unit: String::new(),
        }],
    };
    let body = req.encode_to_vec();
    let hdrs = [
        ("Content-Encoding", "snappy"),
        ("Content-Type", "application/x-protobuf"),
    ];
    for cut in 1..body.len() {
        let part = &body[..cut];
        let expect_ok = WriteRequest::decode(part).is_ok();
        let r = c
            .request(
                "POST",
                "/api/v1/write",
                &hdrs,
                &proto::snappy_compress(part).unwrap(),
            )
            .unwrap();
        if expect_ok {
            assert!(r.status == 204 || r.status == 400, "{cut}: {}", r.status);
        } else {
            assert_eq!(r.status, 400, "{cut}: {}", r.text());
            assert!(r.text().contains("WriteRequest"), "{}", r.text());
        }
    }
    // The whole body: stored with its metadata; a resend hits the label
    // cache and is taken as a duplicate (idempotent).
    let full = proto::snappy_compress(&body).unwrap();
    for _ in 0..2 {
        let r = c.request("POST", "/api/v1/write", &hdrs, &full).unwrap();
        assert_eq!(r.status, 204, "{}", r.text());
    }
    let meta = c.get("/api/v1/metadata").unwrap().text();
    assert!(meta.contains("a gauge"), "{meta}");
    let r = remote_write(
        &mut c,
        vec![series(&[("__name__", "m"), ("i", "1")], &[(t, 1.5)])],
    );
    assert_eq!(
        r.status,
        400,
        "a conflicting value is still refused: {}",
        r.text()
    );
}

#[test]
fn buffer_pool_is_bounded() {
    let pool = BufferPool::new(2, 1 << 10);
    let a = pool.take();
    assert!(a.is_empty());
    pool.give(vec![1; 10]);
    pool.give(vec![2; 10]);
    pool.give(vec![3; 10]);
    assert_eq!(pool.len(), 2, "at most max_kept buffers");
    pool.give(Vec::with_capacity(2 << 10));
    assert_eq!(pool.len(), 2, "too big: dropped");
    let _ = pool.take();
    let _ = pool.take();
    assert_eq!(pool.len(), 0);
    pool.give(Vec::with_capacity(2 << 10));
    assert_eq!(pool.len(), 0, "too big: dropped");
}

#[test]
fn snappy_into_a_reused_buffer_keeps_only_the_new_body() {
    let mut buf = Vec::new();
    let long = proto::snappy_compress(&[7u8; 5000]).unwrap();
    proto::snappy_decompress_into(&long, 1 << 20, &mut buf).unwrap();
    assert_eq!(buf, vec![7u8; 5000]);
    let short = proto::snappy_compress(b"abc").unwrap();
    proto::snappy_decompress_into(&short, 1 << 20, &mut buf).unwrap();
    assert_eq!(buf, b"abc");
    // The declared length is checked before any allocation.
    let e = proto::snappy_decompress_into(&long, 100, &mut Vec::new()).unwrap_err();
    assert!(matches!(
        e,
        proto::SnappyError::TooLarge {
            declared: 5000,
            limit: 100
        }
    ));
    assert!(proto::snappy_decompress_into(b"\xff\xff\xff", 1 << 20, &mut buf).is_err());
}

#[test]
fn series_past_the_limits_are_not_cached() {
    let s = TestServer::with(|c| c.max_series = 1);
    let mut c = s.client();
    let t = now_ms() - 60_000;
    let r = remote_write(
        &mut c,
        vec![
            series(&[("__name__", "m"), ("i", "1")], &[(t, 1.0)]),
            series(&[("__name__", "m"), ("i", "2")], &[(t, 2.0)]),
        ],
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("cardinality"), "{}", r.text());
    // Only the series the head took is cached, not the refused one.
    let state = &s.server.as_ref().unwrap().state;
    assert_eq!(state.label_cache.len(), 1);
    let r = remote_write(
        &mut c,
        vec![series(&[("__name__", "m"), ("i", "1")], &[(t + 1, 1.0)])],
    );
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(state.label_cache.len(), 1);
}

#[test]
fn series_whose_samples_were_all_dropped_are_not_cached() {
    // Samples past the retention never reach the database, so their label
    // sets were never checked against its limits: the cache must not keep them.
    let s = TestServer::with(|c| {
        c.max_series = 10;
        c.retention = std::time::Duration::from_secs(3600);
    });
    let mut c = s.client();
    let old = now_ms() - 10 * 3_600_000;
    let many: Vec<_> = (0..20)
        .map(|i| series(&[("__name__", "m"), ("i", &i.to_string())], &[(old, 1.0)]))
        .collect();
    let r = remote_write(&mut c, many);
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(s.server.as_ref().unwrap().state.label_cache.len(), 0);
}

#[test]
fn a_cache_hit_still_refuses_a_non_utf8_name_with_an_empty_value() {
    let l = Labels::new([("__name__", "m")]).unwrap();
    let ok: [(&[u8], &[u8]); 1] = [(b"__name__", b"m")];
    assert!(same_labels(&ok, &l));
    // Sorted (0xff after '_'), so only the UTF-8 check can refuse it.
    let bad: [(&[u8], &[u8]); 2] = [(b"__name__", b"m"), (b"\xff", b"")];
    assert!(!same_labels(&bad, &l));
}
