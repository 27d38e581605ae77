//! [`Engine`]: the entry point that parses, plans, evaluates and caches.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::cache::{Key, ResultCache, ttl_for};
use crate::compat::{Labels, Querier, Series};
use crate::error::{LimitKind, QueryError, Result};
use crate::eval::{Ctx, EVal, Guard, Steps};
use crate::options::EngineOptions;
use crate::parse::{Expr, Kind, MAX_ABS_TIME_MS, QueryTimes, parse};
use crate::plan::{Plan, collect_reads, resolution};
use crate::value::{Sample, Value};

/// Stack of each evaluation thread: the evaluator recurses once per nesting
/// level of the query, and queries are bounded to a few hundred levels.
pub const EVAL_STACK_BYTES: usize = 64 << 20;

/// A PromQL engine over a [`Querier`].
///
/// Cheap to share across threads (`&Engine` is `Sync`); every query runs its
/// per-series work on the engine's rayon pool (or the global one).
pub struct Engine<Q> {
    querier: Q,
    opts: EngineOptions,
    cache: ResultCache,
    pool: Option<rayon::ThreadPool>,
}

impl<Q: Querier> Engine<Q> {
    /// An engine with default [`EngineOptions`].
    pub fn new(querier: Q) -> Self {
        Self::with_options(querier, EngineOptions::default())
    }

    /// An engine with the given options. The engine evaluates on its own rayon
    /// pool whose threads have [`EVAL_STACK_BYTES`] of stack (deeply nested
    /// queries recurse); if that pool cannot be built, the global pool is used.
    pub fn with_options(querier: Q, opts: EngineOptions) -> Self {
        let threads = opts.threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .stack_size(EVAL_STACK_BYTES)
            .thread_name(|i| format!("tsdb-query-{i}"))
            .build()
            .ok();
        Engine {
            querier,
            cache: ResultCache::new(opts.cache_entries),
            opts,
            pool,
        }
    }

    /// The underlying querier.
    pub fn querier(&self) -> &Q {
        &self.querier
    }

    /// The engine's options.
    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// Evaluates `expr` at the instant `t_ms` (ms since the Unix epoch).
    ///
    /// Returns a [`Value::Vector`], [`Value::Scalar`], [`Value::String`] or, for a
    /// range-vector expression such as `foo[5m]`, a [`Value::Matrix`].
    pub fn instant(&self, expr: &str, t_ms: i64) -> Result<Value> {
        check_time(t_ms)?;
        let key = Key {
            expr: expr.to_string(),
            start_ms: t_ms,
            end_ms: t_ms,
            step_ms: 0,
        };
        if let Some(v) = self.cache.get(&key) {
            return Ok(v);
        }
        let steps = Steps {
            start: t_ms,
            step: 1,
            n: 1,
        };
        let times = QueryTimes {
            start_ms: t_ms,
            end_ms: t_ms,
        };
        let out = self.parse_and_run(expr, times, steps, |_| Ok(()))?;
        let value = match out {
            EVal::Scalar(v) => Value::Scalar {
                timestamp_ms: t_ms,
                value: v.first().copied().unwrap_or(f64::NAN),
            },
            EVal::Str(s) => Value::String {
                timestamp_ms: t_ms,
                value: s,
            },
            EVal::Matrix(m) => Value::Matrix(m),
            EVal::Vector(v) => Value::Vector(
                v.into_iter()
                    .filter_map(|s| {
                        s.vals.first().copied().flatten().map(|value| Sample {
                            labels: s.labels,
                            timestamp_ms: t_ms,
                            value,
                        })
                    })
                    .collect(),
            ),
        };
        self.cache.put(key, value.clone(), ttl_for(t_ms, now_ms()));
        Ok(value)
    }

    /// Evaluates `expr` at `start_ms, start_ms + step_ms, …` up to `end_ms`
    /// (inclusive). Returns a [`Value::Matrix`] sorted by labels.
    ///
    /// With [`EngineOptions::align_range_to_step`], `start_ms` and `end_ms` are
    /// first rounded down to multiples of the step (as Grafana and query
    /// front-ends do), so repeated dashboard refreshes share cache entries.
    pub fn range(&self, expr: &str, start_ms: i64, end_ms: i64, step_ms: i64) -> Result<Value> {
        if step_ms <= 0 {
            return Err(QueryError::BadRequest(
                "zero or negative query resolution step widths are not accepted".into(),
            ));
        }
        check_time(start_ms)?;
        check_time(end_ms)?;
        if end_ms < start_ms {
            return Err(QueryError::BadRequest(
                "end timestamp must not be before start time".into(),
            ));
        }
        let (start_ms, end_ms) = if self.opts.align_range_to_step {
            (
                start_ms.div_euclid(step_ms) * step_ms,
                end_ms.div_euclid(step_ms) * step_ms,
            )
        } else {
            (start_ms, end_ms)
        };
        let points = (end_ms - start_ms) / step_ms + 1;
        let max = self.opts.limits.max_points_per_series;
        if points > max as i64 {
            return Err(QueryError::Limit {
                kind: LimitKind::Resolution,
                limit: max as u64,
                detail: format!(
                    "exceeded maximum resolution of {max} points per timeseries ({points}). Try decreasing the query resolution (?step=XX)"
                ),
            });
        }
        let key = Key {
            expr: expr.to_string(),
            start_ms,
            end_ms,
            step_ms,
        };
        if let Some(v) = self.cache.get(&key) {
            return Ok(v);
        }
        let steps = Steps {
            start: start_ms,
            step: step_ms,
            n: usize::try_from(points).unwrap_or(0),
        };
        let check_kind = |e: &Expr| {
            if matches!(e.kind(), Kind::Scalar | Kind::Vector) {
                return Ok(());
            }
            let kind = if e.kind() == Kind::Matrix {
                "range vector"
            } else {
                "string"
            };
            Err(QueryError::BadRequest(format!(
                "invalid expression type \"{kind}\" for range query, must be Scalar or instant Vector"
            )))
        };
        let out = self.parse_and_run(expr, QueryTimes { start_ms, end_ms }, steps, check_kind)?;
        let mut series: Vec<Series> = match out {
            EVal::Scalar(v) => vec![Series {
                labels: Labels::empty(),
                timestamps: steps.iter().collect(),
                values: v,
            }],
            EVal::Vector(v) => v
                .into_iter()
                .map(|s| {
                    let mut out = Series {
                        labels: s.labels,
                        timestamps: Vec::new(),
                        values: Vec::new(),
                    };
                    for (t, x) in steps.iter().zip(s.vals) {
                        if let Some(x) = x {
                            out.timestamps.push(t);
                            out.values.push(x);
                        }
                    }
                    out
                })
                .filter(|s| !s.timestamps.is_empty())
                .collect(),
            _ => {
                return Err(QueryError::BadRequest(
                    "range query must yield a vector or scalar".into(),
                ));
            }
        };
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        let value = Value::Matrix(series);
        self.cache
            .put(key, value.clone(), ttl_for(end_ms, now_ms()));
        Ok(value)
    }

    /// [`Engine::range`] with the step chosen as the range divided by
    /// `Limits::max_points_per_series` (see [`resolution`](crate::resolution)).
    pub fn range_auto(&self, expr: &str, start_ms: i64, end_ms: i64) -> Result<Value> {
        let step = resolution(start_ms, end_ms, self.opts.limits.max_points_per_series);
        self.range(expr, start_ms, end_ms, step)
    }

    /// The reads a range query (or, with `start == end`, an instant query) would
    /// make: one per selector, with its time range and tier. Reads no data.
    pub fn plan(&self, expr: &str, start_ms: i64, end_ms: i64, step_ms: i64) -> Result<Plan> {
        check_time(start_ms)?;
        check_time(end_ms)?;
        let step = step_ms.max(1);
        let n = usize::try_from((end_ms - start_ms).max(0) / step + 1).unwrap_or(usize::MAX);
        let (lookback, sub_step) = (self.opts.lookback_ms, self.opts.default_subquery_step_ms);
        let reads = self.in_pool(move || {
            let (e, _) = parse(expr, QueryTimes { start_ms, end_ms })?;
            let mut reads = Vec::new();
            let steps = Steps {
                start: start_ms,
                step,
                n,
            };
            collect_reads(&e, steps, lookback, sub_step, &mut reads);
            Ok::<_, QueryError>(reads)
        })?;
        Ok(Plan {
            step_ms: if start_ms == end_ms { 0 } else { step },
            reads,
        })
    }

    /// Runs `f` on the engine's pool (big stacks), or here without one.
    fn in_pool<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        match &self.pool {
            Some(p) => p.install(f),
            None => f(),
        }
    }

    /// Parses `expr`, checks it with `check`, and evaluates it over `steps`;
    /// all on the engine's pool, as parsing and evaluation recurse.
    fn parse_and_run(
        &self,
        expr: &str,
        times: QueryTimes,
        steps: Steps,
        check: impl Fn(&Expr) -> Result<()> + Send + Sync,
    ) -> Result<EVal> {
        let guard = Guard::new(self.opts.limits.clone());
        let ctx = Ctx {
            querier: &self.querier,
            guard: &guard,
            lookback_ms: self.opts.lookback_ms,
            default_subquery_step_ms: self.opts.default_subquery_step_ms,
        };
        self.in_pool(|| {
            let (e, _) = parse(expr, times)?;
            check(&e)?;
            ctx.eval(&e, steps)
        })
    }
}

fn check_time(t_ms: i64) -> Result<()> {
    if t_ms.unsigned_abs() > MAX_ABS_TIME_MS.unsigned_abs() {
        return Err(QueryError::BadRequest(format!(
            "timestamp {t_ms} ms is out of the supported range (±{MAX_ABS_TIME_MS} ms)"
        )));
    }
    Ok(())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
