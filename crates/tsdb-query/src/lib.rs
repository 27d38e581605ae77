//! # tsdb-query
//!
//! The PromQL engine of tsdb. It owns parsing (with the `promql-parser` crate,
//! whose types never leave this crate), planning (the step of a range query,
//! the time range and storage tier of every read), parallel evaluation over any
//! [`Querier`] (rayon, across series and steps), per-query limits and a bounded
//! result cache.
//!
//! ```
//! use std::sync::Arc;
//! use tsdb_query::testing::MemQuerier;
//! use tsdb_query::{Engine, Labels, Value};
//!
//! let db = Arc::new(MemQuerier::new());
//! let labels = Labels::new([("__name__", "http_requests_total"), ("job", "api")]).unwrap();
//! // A counter growing by 10 every 10 s.
//! let samples: Vec<(i64, f64)> = (0..=60).map(|i| (i * 10_000, i as f64 * 10.0)).collect();
//! db.add(&labels, &samples);
//!
//! let engine = Engine::new(db);
//! let v = engine.instant("sum by (job) (rate(http_requests_total[1m]))", 600_000).unwrap();
//! let Value::Vector(samples) = v else { panic!("expected a vector") };
//! assert_eq!(samples.len(), 1);
//! assert!((samples[0].value - 1.0).abs() < 1e-9);
//! assert_eq!(samples[0].labels.get("job"), Some("api"));
//!
//! // Range queries return a matrix with one point per step.
//! let m = engine.range("http_requests_total * 2", 0, 60_000, 30_000).unwrap();
//! assert_eq!(m.as_matrix().unwrap()[0].values, vec![0.0, 60.0, 120.0]);
//! ```
//!
//! Concepts:
//! - [`Engine`]: [`Engine::instant`], [`Engine::range`], [`Engine::range_auto`]
//!   (step = range / max points) and [`Engine::plan`] (what would be read).
//! - [`Value`]: the result (scalar, string, vector of [`Sample`]s, matrix of
//!   [`Series`]).
//! - [`EngineOptions`] and [`Limits`]: lookback, subquery step, series / samples /
//!   time limits, cache size, threads. A hit limit is a [`QueryError::Limit`]
//!   naming its [`LimitKind`].
//! - [`Plan`] / [`choose_tier`]: the planner seam where rollup tiers plug in.
//! - [`testing`]: an in-memory [`Querier`] and the `.test` script runner.
//!
//! Semantics follow Prometheus 3: left-open range selectors `(t - range, t]`,
//! a 5-minute left-open lookback for instant selectors, staleness markers
//! (`0x7ff0000000000002`) end a series, `offset` and `@` (incl. `start()` /
//! `end()`), subqueries aligned to their step, and the metric name dropped by
//! arithmetic, comparisons with `bool` and most functions.
//!
//! Evaluation is "range at once": every node is evaluated once for all steps
//! (one `Querier::select` per selector, over exactly the time range the
//! selector needs); per-series work runs in parallel, aggregations run in
//! parallel over chunks of steps and keep Prometheus' input order inside a
//! step, so sums agree with Prometheus bit for bit.
//!
//! Not supported (a query using them gets [`QueryError::Unsupported`] or a
//! parse error): native histograms and the `histogram_*` functions other than
//! `histogram_quantile`, `limitk` / `limit_ratio`, experimental functions
//! (`sort_by_label*`, `double_exponential_smoothing`, `info`, `ts_of_*`),
//! `fill` modifiers and `or` inside label matchers. Warnings and info
//! annotations are not reported.
#![deny(missing_docs)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

mod cache;
mod compat;
mod engine;
mod error;
mod eval;
mod functions;
mod options;
mod parse;
mod plan;
pub mod testing;
mod value;

pub use cache::{MAX_TTL, MIN_TTL, ttl_for};
pub use compat::{Labels, MatchOp, Matcher, Querier, SelectHints, Series, Tier};
pub use engine::{EVAL_STACK_BYTES, Engine};
pub use error::{LimitKind, QueryError, Result};
pub use eval::{STALE_NAN_BITS, is_stale};
pub use options::{EngineOptions, Limits};
pub use plan::{Plan, PlanStep, choose_tier, resolution};
pub use value::{Sample, Value};
