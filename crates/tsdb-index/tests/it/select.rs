//! `select` semantics against a brute-force filter.

use tsdb_index::{IndexError, Labels, MatchOp::*, Matcher, MemIndex, SeriesId};

use crate::common::{brute, l, m};

fn fixture() -> (MemIndex, Vec<Labels>) {
    let idx = MemIndex::default();
    let mut all = Vec::new();
    for (name, host, zone, env) in [
        ("cpu", "a", "eu", "prod"),
        ("cpu", "b", "us", "prod"),
        ("cpu", "c", "", "dev"),
        ("mem", "a", "eu", ""),
        ("mem", "bb", "us", "dev"),
        ("http.requests", "a", "eu", "prod"),
        ("disk", "foo1", "ap", "prod"),
        ("disk", "foo2", "ap", "x\ny"),
    ] {
        let s = l(&[
            ("__name__", name),
            ("host", host),
            ("zone", zone),
            ("env", env),
        ]);
        assert_eq!(idx.get_or_create(&s).unwrap(), SeriesId(all.len() as u32));
        all.push(s);
    }
    (idx, all)
}

fn check(idx: &MemIndex, all: &[Labels], ms: &[Matcher]) {
    let got: Vec<u32> = idx.select(ms).unwrap().into_iter().map(|s| s.0).collect();
    assert_eq!(got, brute(all, ms), "{ms:?}");
}

#[test]
fn prometheus_semantics() {
    let (idx, all) = fixture();
    let name = |v| m(Equal, "__name__", v);
    let cases: Vec<Vec<Matcher>> = vec![
        vec![name("cpu")],
        vec![name("cpu"), m(Equal, "zone", "")],
        vec![name("cpu"), m(NotEqual, "zone", "")],
        vec![name("cpu"), m(NotEqual, "host", "a")],
        vec![m(RegexMatch, "host", "a|b|bb")],
        vec![m(RegexMatch, "host", "foo.*")],
        vec![m(RegexMatch, "host", "fo+[0-9]")],
        vec![m(RegexMatch, "host", "b")],
        vec![name("mem"), m(RegexMatch, "env", "|dev")],
        vec![name("mem"), m(RegexNoMatch, "env", "dev")],
        vec![name("cpu"), m(RegexNoMatch, "host", "a|b")],
        vec![m(RegexMatch, "env", ".+"), m(RegexNoMatch, "env", "prod")],
        vec![m(RegexMatch, "env", "x.y")],
        vec![m(RegexMatch, "__name__", r"http\.requests")],
        vec![m(RegexMatch, "__name__", ".*"), m(Equal, "host", "a")],
        vec![name("nope")],
        vec![m(RegexMatch, "missing", ".+")],
        vec![name("cpu"), m(RegexNoMatch, "missing", ".+")],
        vec![name("cpu"), name("mem")],
    ];
    for c in &cases {
        check(&idx, &all, c);
    }
}

#[test]
fn empty_selectors_are_refused() {
    let (idx, _) = fixture();
    for ms in [
        vec![],
        vec![m(Equal, "foo", "")],
        vec![m(RegexMatch, "host", ".*")],
        vec![m(NotEqual, "host", "a"), m(RegexNoMatch, "zone", "eu")],
    ] {
        assert!(
            matches!(idx.select(&ms), Err(IndexError::EmptySelector)),
            "{ms:?}"
        );
    }
}

#[test]
fn one_host_among_many() {
    let idx = MemIndex::default();
    for h in 0..200 {
        for metric in ["cpu", "mem", "disk"] {
            idx.get_or_create(&l(&[("__name__", metric), ("host", &format!("host_{h}"))]))
                .unwrap();
        }
    }
    let sel = idx.select(&[Matcher::equal("host", "host_42")]).unwrap();
    assert_eq!(sel.len(), 3);
    for id in sel {
        assert_eq!(idx.labels(id).unwrap().get("host"), Some("host_42"));
    }
}

#[test]
fn many_valued_labels_take_the_union_and_lazy_paths() {
    let idx = MemIndex::default();
    let mut all = Vec::new();
    for i in 0..3000 {
        let opt = if i % 5 == 0 {
            String::new()
        } else {
            (i % 11).to_string()
        };
        let s = l(&[
            ("__name__", "m"),
            ("i", &i.to_string()),
            ("j", &(i % 7).to_string()),
            ("opt", &opt),
        ]);
        idx.get_or_create(&s).unwrap();
        all.push(s);
    }
    let w: tsdb_index::IndexWriter = idx.all_series().into_iter().collect();
    let disk = tsdb_index::IndexReader::from_bytes("x", w.to_bytes().unwrap()).unwrap();
    let cases: Vec<Vec<Matcher>> = vec![
        vec![m(RegexMatch, "i", "1.*"), m(Equal, "j", "3")],
        vec![m(Equal, "j", "3"), m(RegexMatch, "i", ".+")],
        vec![m(Equal, "j", "3"), m(RegexMatch, "i", "[12][0-9]*")],
        vec![m(RegexMatch, "j", "3|4"), m(RegexNoMatch, "i", "1.*")],
        vec![m(RegexMatch, "j", "3|4"), m(RegexNoMatch, "i", "[0-9]*5")],
        vec![m(Equal, "j", "3"), m(Equal, "opt", "")],
        vec![m(Equal, "__name__", "m"), m(RegexNoMatch, "opt", "1|2|3")],
        vec![
            m(RegexMatch, "i", ".*"),
            m(RegexMatch, "opt", ".+"),
            m(NotEqual, "j", "0"),
        ],
    ];
    for ms in &cases {
        check(&idx, &all, ms);
        let got: Vec<u32> = disk.select(ms).unwrap().into_iter().map(|s| s.0).collect();
        assert_eq!(got, brute(&all, ms), "disk {ms:?}");
    }
}
