//! Functions over range vectors: `rate`, `increase`, `delta`, `irate`, `idelta`,
//! `deriv`, `predict_linear`, `resets`, `changes` and the `*_over_time` family.

use rayon::prelude::*;

use super::stats::{MeanAcc, kahan_inc, linear_regression, quantile};
use super::{RangeArg, SSeries, Steps, drop_name, merge_same_labels};
use crate::error::Result;
use crate::functions::Func;

/// One window: samples with `t` in `(start_ms, end_ms]`.
pub(crate) struct Window<'a> {
    pub ts: &'a [i64],
    pub vs: &'a [f64],
    pub start_ms: i64,
    pub end_ms: i64,
    /// Evaluation time of the step (differs from `end_ms` with offset / `@`).
    pub eval_t: i64,
}

/// Evaluates `func` over every window of every series of `arg`.
/// `param` is the per-step scalar argument (`quantile_over_time`'s φ,
/// `predict_linear`'s duration).
pub(crate) fn eval_range_fn(
    func: Func,
    arg: &RangeArg,
    param: Option<&[f64]>,
    steps: Steps,
) -> Result<Vec<SSeries>> {
    let keep_name = func.keeps_name();
    let out: Vec<SSeries> = arg
        .series
        .par_iter()
        .map(|s| {
            let vals = for_each_window(arg, &s.timestamps, &s.values, steps, |w, i| {
                let p = param.and_then(|p| p.get(i).copied()).unwrap_or(f64::NAN);
                apply(func, &w, p, arg.range_ms)
            });
            SSeries {
                labels: if keep_name {
                    s.labels.clone()
                } else {
                    drop_name(&s.labels)
                },
                vals,
            }
        })
        .filter(|s| s.vals.iter().any(Option::is_some))
        .collect();
    if keep_name {
        Ok(out)
    } else {
        merge_same_labels(out)
    }
}

/// Calls `f(window, step_index)` for each step; empty windows yield `None`.
pub(crate) fn for_each_window(
    arg: &RangeArg,
    ts: &[i64],
    vs: &[f64],
    steps: Steps,
    mut f: impl FnMut(Window<'_>, usize) -> Option<f64>,
) -> Vec<Option<f64>> {
    let mut out = Vec::with_capacity(steps.n);
    let mut lo = 0usize;
    let mut hi = 0usize;
    for (i, t) in steps.iter().enumerate() {
        let end = arg.window_end(t);
        let start = end - arg.range_ms;
        if arg.at_ms.is_some() {
            // Step-invariant: evaluated once at the first step, then repeated.
            if i > 0 {
                let first = out.first().copied().flatten();
                out.push(first);
                continue;
            }
            lo = ts.partition_point(|x| *x <= start);
            hi = ts.partition_point(|x| *x <= end);
        } else {
            while ts.get(lo).is_some_and(|x| *x <= start) {
                lo += 1;
            }
            if hi < lo {
                hi = lo;
            }
            while ts.get(hi).is_some_and(|x| *x <= end) {
                hi += 1;
            }
        }
        let v = match (ts.get(lo..hi), vs.get(lo..hi)) {
            (Some(wt), Some(wv)) if !wt.is_empty() => f(
                Window {
                    ts: wt,
                    vs: wv,
                    start_ms: start,
                    end_ms: end,
                    eval_t: t,
                },
                i,
            ),
            _ => None,
        };
        out.push(v);
    }
    out
}

fn apply(func: Func, w: &Window<'_>, param: f64, range_ms: i64) -> Option<f64> {
    let vs = w.vs;
    let first = *vs.first()?;
    let last = *vs.last()?;
    Some(match func {
        Func::Rate => extrapolated_rate(w, range_ms, true, true)?,
        Func::Increase => extrapolated_rate(w, range_ms, true, false)?,
        Func::Delta => extrapolated_rate(w, range_ms, false, false)?,
        Func::Irate => instant_value(w, true)?,
        Func::Idelta => instant_value(w, false)?,
        Func::Deriv => {
            if vs.len() < 2 {
                return None;
            }
            linear_regression(w.ts, vs, *w.ts.first()?).0
        }
        Func::PredictLinear => {
            if vs.len() < 2 {
                return None;
            }
            let (slope, intercept) = linear_regression(w.ts, vs, w.eval_t);
            slope * param + intercept
        }
        Func::Resets => vs.windows(2).filter(|p| p.get(1) < p.first()).count() as f64,
        Func::Changes => vs
            .windows(2)
            .filter(|p| match (p.first(), p.get(1)) {
                (Some(a), Some(b)) => !(a == b || (a.is_nan() && b.is_nan())),
                _ => false,
            })
            .count() as f64,
        Func::SumOverTime => {
            let (mut s, mut c) = (0.0, 0.0);
            for v in vs {
                (s, c) = kahan_inc(*v, s, c);
            }
            if s.is_infinite() { s } else { s + c }
        }
        Func::AvgOverTime => {
            let mut m = MeanAcc::default();
            for v in vs {
                m.push(*v);
            }
            m.value()
        }
        Func::CountOverTime => vs.len() as f64,
        Func::MinOverTime => vs
            .iter()
            .fold(first, |m, v| if *v < m || m.is_nan() { *v } else { m }),
        Func::MaxOverTime => vs
            .iter()
            .fold(first, |m, v| if *v > m || m.is_nan() { *v } else { m }),
        Func::QuantileOverTime => quantile(param, &mut vs.to_vec()),
        Func::StddevOverTime => stdvar(vs).sqrt(),
        Func::StdvarOverTime => stdvar(vs),
        Func::MadOverTime => {
            let mut v = vs.to_vec();
            let median = quantile(0.5, &mut v);
            for x in &mut v {
                *x = (*x - median).abs();
            }
            quantile(0.5, &mut v)
        }
        Func::LastOverTime => last,
        Func::FirstOverTime => first,
        Func::PresentOverTime => 1.0,
        _ => return None,
    })
}

fn stdvar(vs: &[f64]) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for f in vs {
        count += 1.0;
        let delta = f - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (f - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

/// Prometheus' `extrapolatedRate` for float samples.
fn extrapolated_rate(
    w: &Window<'_>,
    range_ms: i64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    let n = w.vs.len();
    if n < 2 {
        return None;
    }
    let first_v = *w.vs.first()?;
    let last_v = *w.vs.last()?;
    let first_t = *w.ts.first()?;
    let last_t = *w.ts.last()?;
    let mut result = last_v - first_v;
    if is_counter {
        let mut prev = first_v;
        for v in w.vs.iter().skip(1) {
            if *v < prev {
                result += prev;
            }
            prev = *v;
        }
    }
    let mut to_start = (first_t - w.start_ms) as f64 / 1000.0;
    let mut to_end = (w.end_ms - last_t) as f64 / 1000.0;
    let sampled = (last_t - first_t) as f64 / 1000.0;
    let avg_between = sampled / (n - 1) as f64;
    let threshold = avg_between * 1.1;
    if to_start >= threshold {
        to_start = avg_between / 2.0;
    }
    if is_counter && result > 0.0 && first_v >= 0.0 {
        let to_zero = sampled * (first_v / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg_between / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if is_rate {
        factor /= range_ms as f64 / 1000.0;
    }
    Some(result * factor)
}

/// Prometheus' `instantValue` (`irate` / `idelta`).
fn instant_value(w: &Window<'_>, is_rate: bool) -> Option<f64> {
    let n = w.vs.len();
    if n < 2 {
        return None;
    }
    let last = *w.vs.get(n - 1)?;
    let prev = *w.vs.get(n - 2)?;
    let mut v = if is_rate && last < prev {
        last
    } else {
        last - prev
    };
    let interval = w.ts.get(n - 1)? - w.ts.get(n - 2)?;
    if interval == 0 {
        return None;
    }
    if is_rate {
        v /= interval as f64 / 1000.0;
    }
    Some(v)
}
