//! Planning: the resolution of a range query, the time range each selector reads
//! and the storage tier it reads from.
//!
//! The evaluator calls [`select_hints`] once per selector; [`Plan`] shows the same
//! decisions without reading data (see [`Engine::plan`](crate::Engine::plan)).

use crate::compat::{SelectHints, Tier};
use crate::eval::Steps;
use crate::parse::Expr;

/// One storage read of a query: a selector, the inclusive time range it fetches
/// and the tier that serves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanStep {
    /// The selector, as its label matchers (`name="value"`, `name=~"re"`, ...).
    pub matchers: Vec<String>,
    /// First timestamp fetched (inclusive).
    pub min_time_ms: i64,
    /// Last timestamp fetched (inclusive).
    pub max_time_ms: i64,
    /// The resolution the read is served from.
    pub tier: Tier,
}

/// The reads a query performs, in evaluation order, and its step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Step of the evaluation in milliseconds (0 for instant queries).
    pub step_ms: i64,
    /// One entry per selector (one `Querier::select` each).
    pub reads: Vec<PlanStep>,
}

/// Resolution of a range query when the caller gives no step: the range divided
/// by `max_points`, rounded up to a whole second (at least 1 s), as Grafana and
/// Prometheus' UI pick it.
pub fn resolution(start_ms: i64, end_ms: i64, max_points: usize) -> i64 {
    let range = end_ms.saturating_sub(start_ms).max(0);
    let per = range / (max_points.max(1) as i64);
    let secs = (per + 999) / 1000;
    secs.max(1) * 1000
}

/// Chooses the storage tier for a read whose evaluation step is `step_ms`.
///
/// The rule is: the coarsest tier whose bucket width is no larger than the step
/// (so every step still sees at least one bucket) and whose retention covers the
/// range. Only [`Tier::Raw`] exists today, so this returns it for every step;
/// when rollup tiers land, this function is the one place that changes (and
/// pushdown of `sum/avg/min/max/count_over_time` and `rate` to bucket fields
/// follows from the tier it returns).
pub fn choose_tier(step_ms: i64) -> Tier {
    let _ = step_ms;
    Tier::Raw
}

/// The hints for one selector read over `[min_time_ms, max_time_ms]` evaluated
/// every `step_ms` (0 for a single instant).
pub(crate) fn select_hints(min_time_ms: i64, max_time_ms: i64, step_ms: i64) -> SelectHints {
    SelectHints {
        min_time_ms,
        max_time_ms,
        tier: choose_tier(step_ms),
    }
}

/// The first and last effective evaluation time of a selector over `steps`.
pub(crate) fn selector_eval_span(at_ms: Option<i64>, offset_ms: i64, steps: Steps) -> (i64, i64) {
    match at_ms {
        Some(at) => (at - offset_ms, at - offset_ms),
        None => (steps.start - offset_ms, steps.end() - offset_ms),
    }
}

/// The inner evaluation steps of a subquery evaluated at `outer` steps, aligned
/// to multiples of `sub_step` as Prometheus does (first step strictly after
/// `start - offset - range`).
pub(crate) fn subquery_steps(
    at_ms: Option<i64>,
    offset_ms: i64,
    range_ms: i64,
    sub_step: i64,
    outer: Steps,
) -> Steps {
    let (s, e) = selector_eval_span(at_ms, offset_ms, outer);
    let lo = s - range_ms;
    let mut start = sub_step * (lo / sub_step);
    if start <= lo {
        start += sub_step;
    }
    let n = if e < start {
        0
    } else {
        usize::try_from((e - start) / sub_step + 1).unwrap_or(usize::MAX)
    };
    Steps {
        start,
        step: sub_step,
        n,
    }
}

/// Walks `e` as the evaluator would and records every read.
pub(crate) fn collect_reads(
    e: &Expr,
    steps: Steps,
    lookback_ms: i64,
    default_sub_step: i64,
    out: &mut Vec<PlanStep>,
) {
    let mut push = |sel: &crate::parse::Selector, back: i64| {
        let (lo, hi) = selector_eval_span(sel.at_ms, sel.offset_ms, steps);
        out.push(PlanStep {
            matchers: sel
                .matchers
                .iter()
                .map(|m| {
                    let op = match m.op() {
                        crate::compat::MatchOp::Equal => "=",
                        crate::compat::MatchOp::NotEqual => "!=",
                        crate::compat::MatchOp::RegexMatch => "=~",
                        crate::compat::MatchOp::RegexNoMatch => "!~",
                    };
                    format!("{}{}{:?}", m.name(), op, m.value())
                })
                .collect(),
            min_time_ms: lo - back + 1,
            max_time_ms: hi,
            tier: choose_tier(steps.eval_step_ms()),
        });
    };
    match e {
        Expr::Number(_) | Expr::Str(_) => {}
        Expr::Selector(sel) => push(sel, lookback_ms),
        Expr::Range { sel, range_ms } => push(sel, *range_ms),
        Expr::Subquery {
            expr,
            range_ms,
            step_ms,
            offset_ms,
            at_ms,
        } => {
            let sub_step = step_ms.unwrap_or(default_sub_step).max(1);
            let sub = subquery_steps(*at_ms, *offset_ms, *range_ms, sub_step, steps);
            collect_reads(expr, sub, lookback_ms, default_sub_step, out);
        }
        Expr::Call { args, .. } => {
            for a in args {
                collect_reads(a, steps, lookback_ms, default_sub_step, out);
            }
        }
        Expr::Aggregate { expr, param, .. } => {
            if let Some(p) = param {
                collect_reads(p, steps, lookback_ms, default_sub_step, out);
            }
            collect_reads(expr, steps, lookback_ms, default_sub_step, out);
        }
        Expr::Binary { lhs, rhs, .. } => {
            collect_reads(lhs, steps, lookback_ms, default_sub_step, out);
            collect_reads(rhs, steps, lookback_ms, default_sub_step, out);
        }
        Expr::Neg(inner) => collect_reads(inner, steps, lookback_ms, default_sub_step, out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_is_the_only_tier_today() {
        for step in [0, 1_000, 300_000, 3_600_000, 86_400_000] {
            assert_eq!(choose_tier(step), Tier::Raw);
        }
    }

    #[test]
    fn resolution_divides_by_max_points() {
        // one day over 11 000 points: 7.85 s -> 8 s
        assert_eq!(resolution(0, 86_400_000, 11_000), 8_000);
        assert_eq!(resolution(0, 1_000, 11_000), 1_000);
        assert_eq!(resolution(10, 0, 11_000), 1_000);
    }

    #[test]
    fn subquery_steps_are_aligned_and_left_open() {
        let outer = Steps {
            start: 600_000,
            step: 1,
            n: 1,
        };
        // range 5m, step 1m at t=10m: inner steps 6m..=10m (5m excluded: left-open)
        let s = subquery_steps(None, 0, 300_000, 60_000, outer);
        assert_eq!((s.start, s.n), (360_000, 5));
        let s = subquery_steps(None, 0, 290_000, 60_000, outer);
        assert_eq!((s.start, s.n), (360_000, 5));
    }
}
