//! The crate's error type.

use crate::compat::{CoreError, IndexError};

/// Which [`Limits`](crate::Limits) entry a query exceeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LimitKind {
    /// `Limits::max_series`: series fetched by one query.
    Series,
    /// `Limits::max_samples`: samples fetched plus points produced by one query.
    Samples,
    /// `Limits::timeout`: wall-clock time of one query.
    Timeout,
    /// `Limits::max_points_per_series`: steps of a range query (Prometheus: 11 000).
    Resolution,
}

impl std::fmt::Display for LimitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LimitKind::Series => "max_series",
            LimitKind::Samples => "max_samples",
            LimitKind::Timeout => "timeout",
            LimitKind::Resolution => "max_points_per_series",
        })
    }
}

/// Everything that can go wrong while parsing, planning or evaluating a query.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The query text is not valid PromQL.
    #[error("parse error: {0}")]
    Parse(String),
    /// The query is valid PromQL but uses something this engine does not evaluate
    /// (native histograms, `limitk`, `or` inside braces, ...).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The query is well-formed but cannot be evaluated (bad argument, many-to-many
    /// match, duplicate label sets, ...). The message matches Prometheus' wording.
    #[error("execution error: {0}")]
    Execution(String),
    /// Invalid arguments to `instant`/`range` (e.g. end before start, step <= 0).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A configured limit was exceeded.
    #[error("query limit exceeded: {kind} (limit {limit}): {detail}")]
    Limit {
        /// Which limit.
        kind: LimitKind,
        /// The configured value (milliseconds for the timeout).
        limit: u64,
        /// What the query had reached.
        detail: String,
    },
    /// A label matcher or label set was refused by the index layer.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The storage layer failed.
    #[error(transparent)]
    Storage(#[from] CoreError),
}

/// Shorthand for results of this crate.
pub type Result<T, E = QueryError> = std::result::Result<T, E>;

pub(crate) fn exec_err<T>(msg: impl Into<String>) -> Result<T> {
    Err(QueryError::Execution(msg.into()))
}
