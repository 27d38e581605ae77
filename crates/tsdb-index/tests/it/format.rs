//! The persisted index: write, open, query.

use tsdb_index::{
    IndexError, IndexReader, IndexWriter, Labels, MatchOp::*, Matcher, MemIndex, SeriesId,
};

use crate::common::{brute, golden_series, l, m, roundtrip};

#[test]
fn roundtrip_labels_and_queries_match_mem_index() {
    let series = golden_series();
    let r = roundtrip(&series);
    let mem = MemIndex::default();
    for (id, labels) in &series {
        mem.insert_with_id(*id, labels.clone()).unwrap();
    }
    assert_eq!(r.num_series(), series.len());
    assert_eq!(r.all_series().unwrap(), series);
    assert_eq!(r.labels(SeriesId(99)).unwrap(), None);
    let all: Vec<Labels> = series.iter().map(|(_, l)| l.clone()).collect();
    let cases = vec![
        vec![m(Equal, "job", "api")],
        vec![m(Equal, "job", "api"), m(Equal, "zone", "")],
        vec![m(RegexMatch, "__name__", "up|cpu.usage")],
        vec![
            m(RegexMatch, "__name__", "http.*"),
            m(NotEqual, "code", "500"),
        ],
        vec![
            m(RegexMatch, "instance", ".*:9100"),
            m(RegexNoMatch, "job", "db"),
        ],
        vec![m(RegexMatch, "host.name", "h.+")],
        vec![m(Equal, "nope", "x")],
    ];
    for ms in &cases {
        let got: Vec<u32> = r.select(ms).unwrap().into_iter().map(|s| s.0).collect();
        assert_eq!(got, brute(&all, ms), "{ms:?}");
        assert_eq!(r.select(ms).unwrap(), mem.select(ms).unwrap());
        assert_eq!(r.label_names(ms).unwrap(), mem.label_names(ms).unwrap());
        for name in ["job", "zone", "__name__", "code", "nope"] {
            assert_eq!(
                r.label_values(name, ms).unwrap(),
                mem.label_values(name, ms).unwrap(),
                "{name} {ms:?}"
            );
        }
    }
    assert_eq!(r.label_names(&[]).unwrap(), mem.label_names(&[]).unwrap());
    assert_eq!(
        r.label_values("job", &[]).unwrap(),
        vec!["api".to_string(), "db".to_string()]
    );
    assert!(matches!(
        r.select(&[m(Equal, "zone", "")]),
        Err(IndexError::EmptySelector)
    ));
}

#[test]
fn sparse_ids_are_found_by_search() {
    let series = vec![
        (SeriesId(3), l(&[("__name__", "a")])),
        (SeriesId(10), l(&[("__name__", "b")])),
        (SeriesId(11), l(&[("__name__", "c"), ("x", "1")])),
    ];
    let r = roundtrip(&series);
    assert_eq!(r.labels(SeriesId(10)).unwrap(), Some(series[1].1.clone()));
    assert_eq!(r.labels(SeriesId(4)).unwrap(), None);
    assert_eq!(
        r.select(&[Matcher::equal("x", "1")]).unwrap(),
        vec![SeriesId(11)]
    );
    assert_eq!(
        r.series_ids().unwrap(),
        vec![SeriesId(3), SeriesId(10), SeriesId(11)]
    );
}

#[test]
fn empty_index_roundtrips() {
    let r = roundtrip(&[]);
    assert_eq!(r.num_series(), 0);
    assert_eq!(r.label_names(&[]).unwrap(), Vec::<String>::new());
    assert_eq!(r.select(&[Matcher::equal("a", "b")]).unwrap(), vec![]);
}

#[test]
fn writer_refuses_duplicates() {
    let mut w = IndexWriter::new();
    w.add(SeriesId(1), l(&[("__name__", "a")]));
    w.add(SeriesId(1), l(&[("__name__", "b")]));
    assert!(matches!(
        w.to_bytes(),
        Err(IndexError::SeriesIdConflict { id: 1 })
    ));
    let mut w = IndexWriter::new();
    w.add(SeriesId(1), l(&[("__name__", "a")]));
    w.add(SeriesId(2), l(&[("__name__", "a")]));
    assert!(matches!(
        w.to_bytes(),
        Err(IndexError::SeriesIdConflict { id: 2 })
    ));
}

#[test]
fn open_from_file_and_large_selection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index");
    let mem = MemIndex::default();
    for i in 0..3000 {
        let odd = if i % 2 == 1 { "yes" } else { "" };
        mem.get_or_create(&l(&[
            ("__name__", "m"),
            ("i", &i.to_string()),
            ("odd", odd),
        ]))
        .unwrap();
    }
    let w: IndexWriter = mem.all_series().into_iter().collect();
    w.write_file(&path).unwrap();
    let r = IndexReader::open(&path).unwrap();
    assert_eq!(r.path(), path.as_path());
    let all = [Matcher::equal("__name__", "m")];
    assert_eq!(r.label_names(&all).unwrap(), mem.label_names(&all).unwrap());
    assert_eq!(r.label_values("odd", &all).unwrap(), vec!["yes"]);
    assert_eq!(r.label_values("i", &all).unwrap().len(), 3000);
    let re = [Matcher::new(RegexMatch, "i", "1.*").unwrap()];
    assert_eq!(r.select(&re).unwrap(), mem.select(&re).unwrap());
    let re = [Matcher::new(RegexMatch, "i", "1[0-9]").unwrap()];
    assert_eq!(r.select(&re).unwrap(), mem.select(&re).unwrap());
}
