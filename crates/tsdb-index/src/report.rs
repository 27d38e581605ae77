//! The cardinality report behind a cardinality explorer.

/// Which metrics and label names hold the most series.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CardinalityReport {
    /// Series in the index.
    pub total_series: usize,
    /// New series refused by the limits, all metrics together.
    pub refused_total: u64,
    /// Metrics by series count, most first.
    pub metrics: Vec<MetricCardinality>,
    /// Label names by the number of series that have them, most first.
    pub label_names: Vec<LabelNameCardinality>,
}

/// The series count of one metric.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricCardinality {
    /// The metric name.
    pub metric: String,
    /// Its series.
    pub series: usize,
    /// New series of it refused by the limits.
    pub refused: u64,
}

/// How many series carry one label name, and with how many distinct values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelNameCardinality {
    /// The label name.
    pub name: String,
    /// Series that have this label.
    pub series: u64,
    /// Distinct values of the label.
    pub distinct_values: usize,
}
