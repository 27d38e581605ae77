//! Test support: an in-memory [`Querier`] and a runner for Prometheus-style
//! `.test` scripts (see [`script`]).

pub mod script;

use std::collections::BTreeMap;

use parking_lot::RwLock;
use rayon::prelude::*;

use crate::compat::{CoreError, Labels, Matcher, Querier, SelectHints, Series};

/// A [`Querier`] over series held in memory, for tests and benchmarks.
#[derive(Default)]
pub struct MemQuerier {
    series: RwLock<BTreeMap<Labels, Samples>>,
}

/// Timestamps and values of one series.
type Samples = (Vec<i64>, Vec<f64>);

impl MemQuerier {
    /// An empty querier.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds samples to the series `labels` (created if new). Samples are merged
    /// by timestamp; a sample at an existing timestamp replaces the old one.
    pub fn add(&self, labels: &Labels, samples: &[(i64, f64)]) {
        let mut g = self.series.write();
        let (ts, vs) = g.entry(labels.clone()).or_default();
        let mut all: BTreeMap<i64, f64> = ts.iter().copied().zip(vs.iter().copied()).collect();
        for (t, v) in samples {
            all.insert(*t, *v);
        }
        *ts = all.keys().copied().collect();
        *vs = all.values().copied().collect();
    }

    /// Adds a whole series whose timestamps are strictly increasing (fast path
    /// for generated data; replaces an existing series with the same labels).
    pub fn insert_series(&self, series: Series) {
        self.series
            .write()
            .insert(series.labels, (series.timestamps, series.values));
    }

    /// Removes every series.
    pub fn clear(&self) {
        self.series.write().clear();
    }

    /// Number of series held.
    pub fn num_series(&self) -> usize {
        self.series.read().len()
    }
}

/// `ts.partition_point(pred)` for a predicate true on a prefix, searched by
/// galloping back from the end: reads near "now" touch only the tail.
fn partition_from_end(ts: &[i64], pred: impl Fn(i64) -> bool) -> usize {
    let n = ts.len();
    let mut width = 1usize;
    // Find a suffix start whose element satisfies `pred` (or the slice start).
    let lo = loop {
        let i = n.saturating_sub(width);
        if i == 0 || ts.get(i).is_some_and(|t| pred(*t)) {
            break i;
        }
        width = width.saturating_mul(2);
    };
    let hi = n.saturating_sub(width / 2).max(lo);
    lo + ts
        .get(lo..hi)
        .map_or(0, |s| s.partition_point(|t| pred(*t)))
}

fn matches(ms: &[Matcher], l: &Labels) -> bool {
    ms.iter().all(|m| m.matches_labels(l))
}

impl Querier for MemQuerier {
    fn select(&self, matchers: &[Matcher], hints: &SelectHints) -> Result<Vec<Series>, CoreError> {
        let g = self.series.read();
        // Match first (cheap), then copy the selected samples in parallel.
        let selected: Vec<(&Labels, &Samples)> =
            g.iter().filter(|(l, _)| matches(matchers, l)).collect();
        let out = selected
            .into_par_iter()
            .filter_map(|(l, (ts, vs))| {
                let lo = partition_from_end(ts, |t| t < hints.min_time_ms);
                let hi = partition_from_end(ts, |t| t <= hints.max_time_ms);
                match (ts.get(lo..hi), vs.get(lo..hi)) {
                    (Some(t), Some(v)) if !t.is_empty() => Some(Series {
                        labels: l.clone(),
                        timestamps: t.to_vec(),
                        values: v.to_vec(),
                    }),
                    _ => None,
                }
            })
            .collect();
        Ok(out)
    }

    fn series(&self, matchers: &[Matcher], hints: &SelectHints) -> Result<Vec<Labels>, CoreError> {
        Ok(self
            .select(matchers, hints)?
            .into_iter()
            .map(|s| s.labels)
            .collect())
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, CoreError> {
        let g = self.series.read();
        let mut names: Vec<String> = g
            .keys()
            .filter(|l| matches(matchers, l))
            .flat_map(|l| l.iter().map(|(n, _)| n.to_string()).collect::<Vec<_>>())
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, CoreError> {
        let g = self.series.read();
        let mut vals: Vec<String> = g
            .keys()
            .filter(|l| matches(matchers, l))
            .filter_map(|l| l.get(name).map(str::to_string))
            .collect();
        vals.sort();
        vals.dedup();
        Ok(vals)
    }
}

#[cfg(test)]
mod tests {
    use super::partition_from_end;

    #[test]
    fn galloping_search_matches_binary_search() {
        for n in 0..40usize {
            let ts: Vec<i64> = (0..n as i64).map(|i| i * 10).collect();
            for x in -5..(n as i64 * 10 + 5) {
                assert_eq!(
                    partition_from_end(&ts, |t| t < x),
                    ts.partition_point(|t| *t < x),
                    "n={n} x={x}"
                );
            }
        }
    }
}
