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
