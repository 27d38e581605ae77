//! Label names and values and the cardinality report of a `MemIndex`.

use hashbrown::HashSet;

use super::{MemIndex, SMALL_SELECTION};
use crate::error::Result;
use crate::matcher::Matcher;
use crate::postings::Posting;
use crate::report::{CardinalityReport, LabelNameCardinality, MetricCardinality};

impl MemIndex {
    fn resolve_sorted(&self, syms: impl Iterator<Item = u32>) -> Vec<String> {
        let mut out: Vec<String> = syms
            .filter_map(|s| self.symbols.get(s).map(str::to_string))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The label names of the series matching `matchers` (of all series when empty),
    /// sorted.
    pub fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>> {
        if matchers.is_empty() {
            let p = self.postings.read();
            let names: Vec<u32> = p
                .by_name
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(n, _)| *n)
                .collect();
            drop(p);
            return Ok(self.resolve_sorted(names.into_iter()));
        }
        let sel = self.select_bitmap(matchers)?;
        let mut names: HashSet<u32> = HashSet::new();
        if sel.len() <= SMALL_SELECTION {
            for id in &sel {
                self.for_each_pair(id, |n, _| {
                    names.insert(n);
                });
            }
        } else {
            let p = self.postings.read();
            for (n, values) in &p.by_name {
                if values.values().any(|b| !b.is_disjoint(&sel)) {
                    names.insert(*n);
                }
            }
        }
        Ok(self.resolve_sorted(names.into_iter()))
    }

    /// The values of label `name` among the series matching `matchers` (of all series
    /// when empty), sorted.
    pub fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>> {
        let Some(n) = self.symbols.lookup(name) else {
            // Still validate the selector.
            if !matchers.is_empty() {
                self.select_bitmap(matchers)?;
            }
            return Ok(Vec::new());
        };
        if matchers.is_empty() {
            let p = self.postings.read();
            let values: Vec<u32> = p
                .by_name
                .get(&n)
                // A value's posting is never empty: it leaves the map with its
                // last series.
                .map(|m| m.keys().copied().collect())
                .unwrap_or_default();
            drop(p);
            return Ok(self.resolve_sorted(values.into_iter()));
        }
        let sel = self.select_bitmap(matchers)?;
        let mut values: HashSet<u32> = HashSet::new();
        if sel.len() <= SMALL_SELECTION {
            for id in &sel {
                self.for_each_pair(id, |sn, sv| {
                    if sn == n {
                        values.insert(sv);
                    }
                });
            }
        } else {
            let p = self.postings.read();
            if let Some(m) = p.by_name.get(&n) {
                values.extend(
                    m.iter()
                        .filter(|(_, b)| !b.is_disjoint(&sel))
                        .map(|(v, _)| *v),
                );
            }
        }
        Ok(self.resolve_sorted(values.into_iter()))
    }

    /// The number of series of `metric`.
    pub fn metric_series(&self, metric: &str) -> usize {
        self.metrics.get(metric).map_or(0, |(s, _)| s)
    }

    /// How many new series of `metric` the limits refused.
    pub fn refused(&self, metric: &str) -> u64 {
        self.metrics.get(metric).map_or(0, |(_, r)| r)
    }

    /// The cardinality explorer: the `top_n` metrics and label names holding the most
    /// series, plus totals.
    pub fn cardinality_report(&self, top_n: usize) -> CardinalityReport {
        let mut metrics: Vec<MetricCardinality> = self
            .metrics
            .snapshot()
            .into_iter()
            // A metric whose series were all removed, and never refused, is gone.
            .filter(|(_, series, refused)| *series > 0 || *refused > 0)
            .map(|(metric, series, refused)| MetricCardinality {
                metric,
                series,
                refused,
            })
            .collect();
        metrics.sort_by(|a, b| {
            b.series
                .cmp(&a.series)
                .then(b.refused.cmp(&a.refused))
                .then(a.metric.cmp(&b.metric))
        });
        metrics.truncate(top_n);
        let p = self.postings.read();
        let mut names: Vec<LabelNameCardinality> = p
            .by_name
            .iter()
            .map(|(n, values)| LabelNameCardinality {
                name: self.symbols.get(*n).unwrap_or("").to_string(),
                series: values.values().map(Posting::len).sum(),
                distinct_values: values.len(),
            })
            .collect();
        drop(p);
        names.sort_by(|a, b| {
            b.series
                .cmp(&a.series)
                .then(b.distinct_values.cmp(&a.distinct_values))
                .then(a.name.cmp(&b.name))
        });
        names.truncate(top_n);
        CardinalityReport {
            total_series: self.num_series(),
            refused_total: self.metrics.refused_total(),
            metrics,
            label_names: names,
        }
    }
}
