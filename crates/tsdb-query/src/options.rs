//! Engine configuration: limits, lookback, cache size, thread pool.

use std::time::Duration;

/// Per-query limits. Exceeding one fails the query with
/// [`QueryError::Limit`](crate::QueryError::Limit) naming it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Series fetched from storage by one query, over all selectors.
    pub max_series: usize,
    /// Samples fetched from storage plus points produced by selectors and
    /// range functions, over one query (Prometheus' `query.max-samples` is 50 M).
    pub max_samples: usize,
    /// Points per series of a range query (`(end - start) / step + 1`); 11 000 as Prometheus.
    pub max_points_per_series: usize,
    /// Wall-clock time of one query (`None` = unbounded).
    pub timeout: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_series: 500_000,
            max_samples: 50_000_000,
            max_points_per_series: 11_000,
            timeout: Some(Duration::from_secs(120)),
        }
    }
}

/// Options of an [`Engine`](crate::Engine).
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// Query limits.
    pub limits: Limits,
    /// How far back an instant selector looks for a sample (Prometheus: 5 minutes).
    pub lookback_ms: i64,
    /// Step of subqueries that give none (Prometheus: the evaluation interval, 1 minute).
    pub default_subquery_step_ms: i64,
    /// Entries kept by the result cache (0 disables it).
    pub cache_entries: usize,
    /// Threads of the engine's rayon pool; `None` means one per available core.
    pub threads: Option<usize>,
    /// Round range-query start and end down to multiples of the step before
    /// evaluating and caching (off by default: Prometheus evaluates exactly at
    /// the times given).
    pub align_range_to_step: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            limits: Limits::default(),
            lookback_ms: 5 * 60 * 1000,
            default_subquery_step_ms: 60 * 1000,
            cache_entries: 1024,
            threads: None,
            align_range_to_step: false,
        }
    }
}
