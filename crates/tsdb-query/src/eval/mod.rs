//! The evaluator: every expression is evaluated once over all steps of the query
//! ("range at once"); vector results are per-series arrays with one slot per step.

pub(crate) mod aggregate;
pub(crate) mod binary;
pub(crate) mod calls;
pub(crate) mod dates;
pub(crate) mod histogram;
pub(crate) mod labels;
pub(crate) mod range_fns;
pub(crate) mod stats;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rayon::prelude::*;

use crate::compat::{Labels, METRIC_NAME, Querier, Series};
use crate::error::{LimitKind, QueryError, Result, exec_err};
use crate::options::Limits;
use crate::parse::{Expr, Selector};
use crate::plan;

/// The StaleNaN bit pattern Prometheus writes to end a series.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Whether `v` is a staleness marker.
pub fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// Evaluation timestamps: `start + i * step` for `i in 0..n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Steps {
    pub start: i64,
    pub step: i64,
    pub n: usize,
}

impl Steps {
    pub fn t(&self, i: usize) -> i64 {
        self.start + (i as i64) * self.step
    }
    pub fn end(&self) -> i64 {
        self.t(self.n.saturating_sub(1))
    }
    /// The step between evaluations, 0 for a single instant.
    pub fn eval_step_ms(&self) -> i64 {
        if self.n > 1 { self.step } else { 0 }
    }
    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.n).map(|i| self.t(i))
    }
}

/// A series of an instant-vector expression: one optional value per step.
#[derive(Clone, Debug)]
pub(crate) struct SSeries {
    pub labels: Labels,
    pub vals: Vec<Option<f64>>,
}

/// The value of an expression over all steps.
#[derive(Debug)]
pub(crate) enum EVal {
    Scalar(Vec<f64>),
    Str(String),
    Vector(Vec<SSeries>),
    /// Only produced for instant queries of range vectors (n == 1).
    Matrix(Vec<Series>),
}

/// A range-vector argument: raw series plus how windows are placed.
pub(crate) struct RangeArg {
    pub series: Vec<Series>,
    pub range_ms: i64,
    pub offset_ms: i64,
    pub at_ms: Option<i64>,
}

impl RangeArg {
    /// End of the window evaluated at step time `t` (windows are `(end - range, end]`).
    pub fn window_end(&self, t: i64) -> i64 {
        self.at_ms.unwrap_or(t) - self.offset_ms
    }
}

/// Per-query bookkeeping for limits.
pub(crate) struct Guard {
    pub limits: Limits,
    pub started: Instant,
    pub samples: AtomicU64,
    pub series: AtomicU64,
}

impl Guard {
    pub fn new(limits: Limits) -> Guard {
        Guard {
            limits,
            started: Instant::now(),
            samples: AtomicU64::new(0),
            series: AtomicU64::new(0),
        }
    }

    pub fn check_time(&self) -> Result<()> {
        if let Some(t) = self.limits.timeout {
            let el = self.started.elapsed();
            if el > t {
                return Err(QueryError::Limit {
                    kind: LimitKind::Timeout,
                    limit: u64::try_from(t.as_millis()).unwrap_or(u64::MAX),
                    detail: format!("query ran for {} ms", el.as_millis()),
                });
            }
        }
        Ok(())
    }

    pub fn add_samples(&self, n: usize) -> Result<()> {
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        let total = self
            .samples
            .fetch_add(n, Ordering::Relaxed)
            .saturating_add(n);
        if total > self.limits.max_samples as u64 {
            return Err(QueryError::Limit {
                kind: LimitKind::Samples,
                limit: self.limits.max_samples as u64,
                detail: format!("query loaded at least {total} samples"),
            });
        }
        Ok(())
    }

    pub fn add_series(&self, n: usize) -> Result<()> {
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        let total = self
            .series
            .fetch_add(n, Ordering::Relaxed)
            .saturating_add(n);
        if total > self.limits.max_series as u64 {
            return Err(QueryError::Limit {
                kind: LimitKind::Series,
                limit: self.limits.max_series as u64,
                detail: format!("query selected at least {total} series"),
            });
        }
        Ok(())
    }
}

/// Evaluation context shared by all nodes of one query.
pub(crate) struct Ctx<'a> {
    pub querier: &'a dyn Querier,
    pub guard: &'a Guard,
    pub lookback_ms: i64,
    pub default_subquery_step_ms: i64,
}

pub(crate) fn drop_name(l: &Labels) -> Labels {
    if l.get(METRIC_NAME).is_some() {
        l.without(&[METRIC_NAME])
    } else {
        l.clone()
    }
}

/// Merges series that share a label set (as Prometheus does when it collects a
/// step's outputs by labels); errors if two of them have a value at the same step.
pub(crate) fn merge_same_labels(series: Vec<SSeries>) -> Result<Vec<SSeries>> {
    let mut seen: HashMap<Labels, usize> = HashMap::with_capacity(series.len());
    let mut out: Vec<SSeries> = Vec::with_capacity(series.len());
    for s in series {
        match seen.get(&s.labels) {
            Some(&k) => {
                let Some(t) = out.get_mut(k) else { continue };
                for (dst, src) in t.vals.iter_mut().zip(s.vals) {
                    if let Some(v) = src {
                        if dst.is_some() {
                            return exec_err(
                                "vector cannot contain metrics with the same labelset",
                            );
                        }
                        *dst = Some(v);
                    }
                }
            }
            None => {
                seen.insert(s.labels.clone(), out.len());
                out.push(s);
            }
        }
    }
    Ok(out)
}

/// Drops series without any value.
pub(crate) fn retain_nonempty(v: &mut Vec<SSeries>) {
    v.retain(|s| s.vals.iter().any(Option::is_some));
}

impl Ctx<'_> {
    pub fn eval(&self, e: &Expr, steps: Steps) -> Result<EVal> {
        self.guard.check_time()?;
        match e {
            Expr::Number(n) => Ok(EVal::Scalar(vec![*n; steps.n])),
            Expr::Str(s) => Ok(EVal::Str(s.clone())),
            Expr::Selector(sel) => Ok(EVal::Vector(self.eval_selector(sel, steps)?)),
            Expr::Range { .. } | Expr::Subquery { .. } => {
                if steps.n != 1 {
                    return exec_err(
                        "range vectors can only be evaluated at a single instant or as function arguments",
                    );
                }
                let arg = self.eval_range_arg(e, steps)?;
                let end = arg.window_end(steps.start);
                let start = end - arg.range_ms;
                let mut out = Vec::with_capacity(arg.series.len());
                for s in arg.series {
                    let lo = s.timestamps.partition_point(|t| *t <= start);
                    let hi = s.timestamps.partition_point(|t| *t <= end);
                    let (Some(ts), Some(vs)) = (s.timestamps.get(lo..hi), s.values.get(lo..hi))
                    else {
                        continue;
                    };
                    if !ts.is_empty() {
                        out.push(Series {
                            labels: s.labels,
                            timestamps: ts.to_vec(),
                            values: vs.to_vec(),
                        });
                    }
                }
                Ok(EVal::Matrix(out))
            }
            Expr::Call { func, args } => calls::eval_call(self, *func, args, steps),
            Expr::Aggregate {
                op,
                expr,
                param,
                grouping,
            } => aggregate::eval_aggregate(self, *op, expr, param.as_deref(), grouping, steps),
            Expr::Binary {
                op,
                lhs,
                rhs,
                matching,
                return_bool,
            } => {
                // Both operands are independent: evaluate them in parallel.
                let (l, r) = rayon::join(|| self.eval(lhs, steps), || self.eval(rhs, steps));
                let (l, r) = (l?, r?);
                binary::eval_binary(*op, l, r, matching, *return_bool, steps)
            }
            Expr::Neg(inner) => match self.eval(inner, steps)? {
                EVal::Scalar(v) => Ok(EVal::Scalar(v.into_iter().map(|x| -x).collect())),
                EVal::Vector(mut v) => {
                    for s in &mut v {
                        s.labels = drop_name(&s.labels);
                        for x in s.vals.iter_mut().flatten() {
                            *x = -*x;
                        }
                    }
                    Ok(EVal::Vector(merge_same_labels(v)?))
                }
                _ => exec_err("unary minus applies to scalars and instant vectors only"),
            },
        }
    }

    pub fn eval_scalar(&self, e: &Expr, steps: Steps) -> Result<Vec<f64>> {
        match self.eval(e, steps)? {
            EVal::Scalar(v) => Ok(v),
            _ => exec_err("expected a scalar argument"),
        }
    }

    pub fn eval_vector(&self, e: &Expr, steps: Steps) -> Result<Vec<SSeries>> {
        match self.eval(e, steps)? {
            EVal::Vector(v) => Ok(v),
            _ => exec_err("expected an instant vector argument"),
        }
    }

    /// Fetches a selector's series over `[min, max]` (one `Querier::select`).
    pub fn fetch(
        &self,
        sel: &Selector,
        min_time_ms: i64,
        max_time_ms: i64,
        steps: Steps,
    ) -> Result<Vec<Series>> {
        let hints = plan::select_hints(min_time_ms, max_time_ms, steps.eval_step_ms());
        let series = self.querier.select(&sel.matchers, &hints)?;
        self.guard.add_series(series.len())?;
        self.guard
            .add_samples(series.iter().map(|s| s.timestamps.len()).sum())?;
        self.guard.check_time()?;
        Ok(series)
    }

    /// Evaluates an instant-vector selector at every step (lookback + staleness).
    pub fn eval_selector(&self, sel: &Selector, steps: Steps) -> Result<Vec<SSeries>> {
        let (lo_t, hi_t) = plan::selector_eval_span(sel.at_ms, sel.offset_ms, steps);
        let series = self.fetch(sel, lo_t - self.lookback_ms + 1, hi_t, steps)?;
        let lookback = self.lookback_ms;
        let out: Vec<SSeries> = series
            .into_par_iter()
            .map(|s| {
                let vals = lookback_values(&s, sel, steps, lookback, |_, v| v);
                SSeries {
                    labels: s.labels,
                    vals,
                }
            })
            .filter(|s| s.vals.iter().any(Option::is_some))
            .collect();
        self.guard
            .add_samples(out.iter().map(|s| s.vals.len()).sum())?;
        Ok(out)
    }

    /// Like [`Ctx::eval_selector`] but yields each looked-back sample's timestamp in
    /// seconds (for `timestamp()` over a selector).
    pub fn eval_selector_timestamps(&self, sel: &Selector, steps: Steps) -> Result<Vec<SSeries>> {
        let (lo_t, hi_t) = plan::selector_eval_span(sel.at_ms, sel.offset_ms, steps);
        let series = self.fetch(sel, lo_t - self.lookback_ms + 1, hi_t, steps)?;
        let out: Vec<SSeries> = series
            .into_iter()
            .map(|s| {
                let vals =
                    lookback_values(&s, sel, steps, self.lookback_ms, |t, _| t as f64 / 1000.0);
                SSeries {
                    labels: drop_name(&s.labels),
                    vals,
                }
            })
            .filter(|s| s.vals.iter().any(Option::is_some))
            .collect();
        merge_same_labels(out)
    }

    /// Evaluates a range selector or subquery into raw series plus window placement.
    pub fn eval_range_arg(&self, e: &Expr, steps: Steps) -> Result<RangeArg> {
        match e {
            Expr::Range { sel, range_ms } => {
                let (lo_t, hi_t) = plan::selector_eval_span(sel.at_ms, sel.offset_ms, steps);
                let mut series = self.fetch(sel, lo_t - range_ms + 1, hi_t, steps)?;
                series.par_iter_mut().for_each(|s| {
                    if s.values.iter().any(|v| is_stale(*v)) {
                        let (ts, vs): (Vec<i64>, Vec<f64>) = s
                            .timestamps
                            .iter()
                            .zip(&s.values)
                            .filter(|(_, v)| !is_stale(**v))
                            .unzip();
                        s.timestamps = ts;
                        s.values = vs;
                    }
                });
                series.retain(|s| !s.timestamps.is_empty());
                Ok(RangeArg {
                    series,
                    range_ms: *range_ms,
                    offset_ms: sel.offset_ms,
                    at_ms: sel.at_ms,
                })
            }
            Expr::Subquery {
                expr,
                range_ms,
                step_ms,
                offset_ms,
                at_ms,
            } => {
                let sub_step = step_ms.unwrap_or(self.default_subquery_step_ms).max(1);
                let sub = plan::subquery_steps(*at_ms, *offset_ms, *range_ms, sub_step, steps);
                // Inner steps count as points (and bound the allocation).
                self.guard.add_samples(sub.n)?;
                let inner = match self.eval(expr, sub)? {
                    EVal::Vector(v) => v,
                    EVal::Scalar(v) => vec![SSeries {
                        labels: Labels::empty(),
                        vals: v.into_iter().map(Some).collect(),
                    }],
                    _ => return exec_err("subquery is only allowed on instant vector"),
                };
                let series = inner
                    .into_par_iter()
                    .map(|s| {
                        let mut out = Series {
                            labels: s.labels,
                            timestamps: Vec::new(),
                            values: Vec::new(),
                        };
                        for (t, v) in sub.iter().zip(s.vals) {
                            if let Some(v) = v {
                                out.timestamps.push(t);
                                out.values.push(v);
                            }
                        }
                        out
                    })
                    .filter(|s| !s.timestamps.is_empty())
                    .collect();
                Ok(RangeArg {
                    series,
                    range_ms: *range_ms,
                    offset_ms: *offset_ms,
                    at_ms: *at_ms,
                })
            }
            _ => exec_err("expected a range vector argument"),
        }
    }
}

/// `from + ts[from..].partition_point(|t| *t <= x)`, found by galloping forward
/// from `from`: evaluation steps move forward a few samples at a time, so this
/// touches a handful of cache lines instead of a full binary search.
fn advance_to(ts: &[i64], from: usize, x: i64) -> usize {
    let rest = ts.get(from..).unwrap_or(&[]);
    let mut bound = 1usize;
    while bound < rest.len() && rest.get(bound).is_some_and(|t| *t <= x) {
        bound = bound.saturating_mul(2);
    }
    let lo = bound / 2;
    let hi = bound.min(rest.len()).max(lo);
    from + lo
        + rest
            .get(lo..hi)
            .map_or(0, |s| s.partition_point(|t| *t <= x))
}

/// For each step, the looked-back sample of `s` mapped through `f(t, v)`:
/// the newest sample in `(t - lookback, t]`, absent if it is a staleness marker.
fn lookback_values(
    s: &Series,
    sel: &Selector,
    steps: Steps,
    lookback: i64,
    f: impl Fn(i64, f64) -> f64,
) -> Vec<Option<f64>> {
    let one = |t_eff: i64, from: usize| -> (Option<f64>, usize) {
        let idx = advance_to(&s.timestamps, from, t_eff);
        let v = match idx.checked_sub(1) {
            Some(j) => match (s.timestamps.get(j), s.values.get(j)) {
                (Some(t), Some(v)) if *t > t_eff - lookback && !is_stale(*v) => Some(f(*t, *v)),
                _ => None,
            },
            None => None,
        };
        (v, idx.saturating_sub(1))
    };
    if let Some(at) = sel.at_ms {
        let (v, _) = one(at - sel.offset_ms, 0);
        return vec![v; steps.n];
    }
    let mut out = Vec::with_capacity(steps.n);
    let mut from = 0;
    for t in steps.iter() {
        let (v, next) = one(t - sel.offset_ms, from);
        from = next;
        out.push(v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::advance_to;

    #[test]
    fn advance_to_matches_partition_point() {
        for n in 0..30usize {
            let ts: Vec<i64> = (0..n as i64).map(|i| i * 10).collect();
            for from in 0..=n {
                for x in -5..(n as i64 * 10 + 5) {
                    let want = from + ts[from..].partition_point(|t| *t <= x);
                    assert_eq!(advance_to(&ts, from, x), want, "n={n} from={from} x={x}");
                }
            }
        }
    }
}
