//! Cardinality limits and per-metric accounting.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use hashbrown::HashMap;
use parking_lot::RwLock;

/// Limits that protect the index against a cardinality bomb.
///
/// A new series that would pass one of them is refused with
/// [`IndexError::CardinalityLimit`](crate::IndexError::CardinalityLimit); series that
/// already exist keep working. The default is generous but finite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardinalityLimits {
    /// Maximum number of series in the index.
    pub max_series_total: usize,
    /// Maximum number of series of one metric (one `__name__`).
    pub max_series_per_metric: usize,
    /// Maximum number of labels of one series, `__name__` included.
    pub max_labels_per_series: usize,
    /// Maximum length of a label name in bytes.
    pub max_label_name_len: usize,
    /// Maximum length of a label value in bytes.
    pub max_label_value_len: usize,
}

impl Default for CardinalityLimits {
    fn default() -> Self {
        Self {
            max_series_total: 20_000_000,
            max_series_per_metric: 2_000_000,
            max_labels_per_series: 64,
            max_label_name_len: 1024,
            max_label_value_len: 4096,
        }
    }
}

impl CardinalityLimits {
    /// Limits that never refuse anything (every maximum is `usize::MAX`).
    pub fn unlimited() -> Self {
        Self {
            max_series_total: usize::MAX,
            max_series_per_metric: usize::MAX,
            max_labels_per_series: usize::MAX,
            max_label_name_len: usize::MAX,
            max_label_value_len: usize::MAX,
        }
    }
}

/// Which cardinality limit refused a series.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum LimitKind {
    /// [`CardinalityLimits::max_series_total`].
    SeriesTotal,
    /// [`CardinalityLimits::max_series_per_metric`].
    SeriesPerMetric,
    /// [`CardinalityLimits::max_labels_per_series`].
    LabelsPerSeries,
    /// [`CardinalityLimits::max_label_name_len`].
    LabelNameLength,
    /// [`CardinalityLimits::max_label_value_len`].
    LabelValueLength,
}

impl LimitKind {
    /// The name of the limit, as the field of [`CardinalityLimits`].
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::SeriesTotal => "max_series_total",
            LimitKind::SeriesPerMetric => "max_series_per_metric",
            LimitKind::LabelsPerSeries => "max_labels_per_series",
            LimitKind::LabelNameLength => "max_label_name_len",
            LimitKind::LabelValueLength => "max_label_value_len",
        }
    }
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many metrics that never had a series may be tracked by name for refusals;
/// beyond that refusals are only counted in the total.
const MAX_REFUSED_ONLY_METRICS: usize = 10_000;

/// Counters of one metric.
#[derive(Debug, Default)]
pub(crate) struct MetricStats {
    pub(crate) series: AtomicUsize,
    pub(crate) refused: AtomicU64,
}

/// Per-metric series and refusal counts.
#[derive(Debug, Default)]
pub(crate) struct MetricCounts {
    by_name: RwLock<HashMap<Box<str>, Arc<MetricStats>>>,
    refused_total: AtomicU64,
}

impl MetricCounts {
    /// The stats of `metric`, created if missing.
    pub(crate) fn stats(&self, metric: &str) -> Arc<MetricStats> {
        if let Some(s) = self.by_name.read().get(metric) {
            return Arc::clone(s);
        }
        let mut map = self.by_name.write();
        Arc::clone(map.entry_ref(metric).or_default())
    }

    /// Counts one refusal of a new series of `metric`.
    pub(crate) fn refuse(&self, metric: &str) {
        self.refused_total.fetch_add(1, Ordering::Relaxed);
        if let Some(s) = self.by_name.read().get(metric) {
            s.refused.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut map = self.by_name.write();
        if map.len() >= MAX_REFUSED_ONLY_METRICS && !map.contains_key(metric) {
            return;
        }
        map.entry_ref(metric)
            .or_default()
            .refused
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a refusal already recorded on the metric's own stats.
    pub(crate) fn refuse_counted_total(&self) {
        self.refused_total.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn refused_total(&self) -> u64 {
        self.refused_total.load(Ordering::Relaxed)
    }

    /// `(metric, series, refused)` for every tracked metric.
    pub(crate) fn snapshot(&self) -> Vec<(String, usize, u64)> {
        self.by_name
            .read()
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    v.series.load(Ordering::Relaxed),
                    v.refused.load(Ordering::Relaxed),
                )
            })
            .collect()
    }

    pub(crate) fn get(&self, metric: &str) -> Option<(usize, u64)> {
        self.by_name.read().get(metric).map(|v| {
            (
                v.series.load(Ordering::Relaxed),
                v.refused.load(Ordering::Relaxed),
            )
        })
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        let map = self.by_name.read();
        map.capacity() * (std::mem::size_of::<(Box<str>, Arc<MetricStats>)>() + 1)
            + map
                .iter()
                .map(|(k, _)| k.len() + std::mem::size_of::<MetricStats>() + 16)
                .sum::<usize>()
    }
}
