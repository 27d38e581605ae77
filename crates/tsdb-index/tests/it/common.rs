//! Helpers shared by the test modules.

use tsdb_index::{Labels, MatchOp, Matcher};

pub fn l(pairs: &[(&str, &str)]) -> Labels {
    Labels::new(pairs.iter().copied()).unwrap()
}

pub fn m(op: MatchOp, name: &str, value: &str) -> Matcher {
    Matcher::new(op, name, value).unwrap()
}

/// Brute force: the indices of `series` that every matcher accepts.
pub fn brute(series: &[Labels], matchers: &[Matcher]) -> Vec<u32> {
    series
        .iter()
        .enumerate()
        .filter(|(_, s)| matchers.iter().all(|m| m.matches_labels(s)))
        .map(|(i, _)| i as u32)
        .collect()
}

/// A small, fixed set of series covering classic and UTF-8 names, shared values and
/// labels present on only some series. Used by the golden fixture: changing it
/// changes the fixture.
pub fn golden_series() -> Vec<(tsdb_index::SeriesId, Labels)> {
    let sets: [&[(&str, &str)]; 6] = [
        &[("__name__", "up"), ("job", "api"), ("instance", "a:9100")],
        &[("__name__", "up"), ("job", "api"), ("instance", "b:9100")],
        &[
            ("__name__", "up"),
            ("job", "db"),
            ("instance", "c:9100"),
            ("zone", "eu"),
        ],
        &[
            ("__name__", "http.requests"),
            ("code", "200"),
            ("job", "api"),
        ],
        &[
            ("__name__", "http.requests"),
            ("code", "500"),
            ("job", "api"),
            ("zone", "eu"),
        ],
        &[
            ("__name__", "cpu.usage"),
            ("host.name", "h1"),
            ("mode", "idle"),
        ],
    ];
    sets.iter()
        .enumerate()
        .map(|(i, s)| (tsdb_index::SeriesId(i as u32), l(s)))
        .collect()
}

/// Writes `series` and opens the result from memory.
pub fn roundtrip(series: &[(tsdb_index::SeriesId, Labels)]) -> tsdb_index::IndexReader {
    let w: tsdb_index::IndexWriter = series.iter().cloned().collect();
    tsdb_index::IndexReader::from_bytes("test.index", w.to_bytes().unwrap()).unwrap()
}
