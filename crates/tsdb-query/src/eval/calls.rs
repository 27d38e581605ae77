//! Function calls: dispatch and the functions over instant vectors.

use super::dates::date_fn;
use super::range_fns::{eval_range_fn, for_each_window};
use super::stats::{go_max, go_min};
use super::{Ctx, EVal, SSeries, Steps, drop_name, histogram, labels, merge_same_labels};
use crate::compat::{Labels, METRIC_NAME, MatchOp};
use crate::error::{Result, exec_err};
use crate::functions::Func;
use crate::parse::Expr;

fn scalar_arg(ctx: &Ctx<'_>, args: &[Expr], i: usize, steps: Steps) -> Result<Option<Vec<f64>>> {
    match args.get(i) {
        Some(e) => Ok(Some(ctx.eval_scalar(e, steps)?)),
        None => Ok(None),
    }
}

fn string_arg(args: &[Expr], i: usize) -> Result<&str> {
    match args.get(i) {
        Some(Expr::Str(s)) => Ok(s),
        _ => exec_err("expected a string literal argument"),
    }
}

fn vector_arg(ctx: &Ctx<'_>, args: &[Expr], steps: Steps) -> Result<Vec<SSeries>> {
    match args.first() {
        Some(e) => ctx.eval_vector(e, steps),
        None => exec_err("missing argument"),
    }
}

/// Maps every value, dropping the metric name.
fn map_values(mut v: Vec<SSeries>, f: impl Fn(f64, usize) -> Option<f64>) -> Result<EVal> {
    for s in &mut v {
        s.labels = drop_name(&s.labels);
        for (i, x) in s.vals.iter_mut().enumerate() {
            if let Some(val) = *x {
                *x = f(val, i);
            }
        }
    }
    super::retain_nonempty(&mut v);
    Ok(EVal::Vector(merge_same_labels(v)?))
}

/// Labels `absent()` / `absent_over_time()` give their result.
fn absent_labels(e: &Expr) -> Result<Labels> {
    let sel = match e {
        Expr::Selector(s) => s,
        Expr::Range { sel, .. } => sel,
        _ => return Ok(Labels::empty()),
    };
    let mut pairs: Vec<(String, Option<String>)> = Vec::new();
    for m in &sel.matchers {
        if m.name() == METRIC_NAME {
            continue;
        }
        match pairs.iter_mut().find(|(n, _)| n == m.name()) {
            Some(p) => p.1 = None,
            None => pairs.push((
                m.name().to_string(),
                (m.op() == MatchOp::Equal).then(|| m.value().to_string()),
            )),
        }
    }
    Ok(Labels::new(
        pairs.into_iter().filter_map(|(n, v)| v.map(|v| (n, v))),
    )?)
}

pub(crate) fn eval_call(ctx: &Ctx<'_>, func: Func, args: &[Expr], steps: Steps) -> Result<EVal> {
    if let Some(mi) = func.matrix_arg() {
        let Some(m) = args.get(mi) else {
            return exec_err("missing range-vector argument");
        };
        let arg = ctx.eval_range_arg(m, steps)?;
        if func == Func::AbsentOverTime {
            let mut present = vec![false; steps.n];
            for s in &arg.series {
                let w = for_each_window(&arg, &s.timestamps, &s.values, steps, |_, _| Some(1.0));
                for (p, v) in present.iter_mut().zip(w) {
                    *p |= v.is_some();
                }
            }
            return absent_result(m, present);
        }
        let param_idx = match func {
            Func::QuantileOverTime => Some(0),
            Func::PredictLinear => Some(1),
            _ => None,
        };
        let param = match param_idx {
            Some(i) => scalar_arg(ctx, args, i, steps)?,
            None => None,
        };
        let out = eval_range_fn(func, &arg, param.as_deref(), steps)?;
        ctx.guard.add_samples(out.len() * steps.n)?;
        return Ok(EVal::Vector(out));
    }
    match func {
        Func::Time => Ok(EVal::Scalar(
            steps.iter().map(|t| t as f64 / 1000.0).collect(),
        )),
        Func::Pi => Ok(EVal::Scalar(vec![std::f64::consts::PI; steps.n])),
        Func::Vector => {
            let v = scalar_arg(ctx, args, 0, steps)?.unwrap_or_default();
            Ok(EVal::Vector(vec![SSeries {
                labels: Labels::empty(),
                vals: v.into_iter().map(Some).collect(),
            }]))
        }
        Func::Scalar => {
            let v = vector_arg(ctx, args, steps)?;
            let out = (0..steps.n)
                .map(|i| {
                    let mut it = v.iter().filter_map(|s| s.vals.get(i).copied().flatten());
                    match (it.next(), it.next()) {
                        (Some(x), None) => x,
                        _ => f64::NAN,
                    }
                })
                .collect();
            Ok(EVal::Scalar(out))
        }
        Func::Timestamp => match args.first() {
            Some(Expr::Selector(sel)) => {
                Ok(EVal::Vector(ctx.eval_selector_timestamps(sel, steps)?))
            }
            _ => {
                let v = vector_arg(ctx, args, steps)?;
                map_values(v, |_, i| Some(steps.t(i) as f64 / 1000.0))
            }
        },
        Func::Absent => {
            let Some(e) = args.first() else {
                return exec_err("missing argument");
            };
            let v = ctx.eval_vector(e, steps)?;
            let present = (0..steps.n)
                .map(|i| v.iter().any(|s| s.vals.get(i).copied().flatten().is_some()))
                .collect();
            absent_result(e, present)
        }
        Func::Round => {
            let v = vector_arg(ctx, args, steps)?;
            let to = scalar_arg(ctx, args, 1, steps)?;
            map_values(v, |x, i| {
                let to_nearest = to.as_ref().and_then(|t| t.get(i).copied()).unwrap_or(1.0);
                let inv = 1.0 / to_nearest;
                Some((x * inv + 0.5).floor() / inv)
            })
        }
        Func::Clamp | Func::ClampMin | Func::ClampMax => {
            let v = vector_arg(ctx, args, steps)?;
            let a = scalar_arg(ctx, args, 1, steps)?.unwrap_or_default();
            let b = scalar_arg(ctx, args, 2, steps)?.unwrap_or_default();
            map_values(v, |x, i| {
                let p = a.get(i).copied().unwrap_or(f64::NAN);
                match func {
                    Func::ClampMin => Some(go_max(p, x)),
                    Func::ClampMax => Some(go_min(p, x)),
                    _ => {
                        let max = b.get(i).copied().unwrap_or(f64::NAN);
                        if max < p {
                            None
                        } else {
                            Some(go_max(p, go_min(max, x)))
                        }
                    }
                }
            })
        }
        Func::Sort | Func::SortDesc => {
            let mut v = vector_arg(ctx, args, steps)?;
            if steps.n == 1 {
                let key = |s: &SSeries| s.vals.first().copied().flatten().unwrap_or(f64::NAN);
                v.sort_by(|a, b| {
                    let (x, y) = (key(a), key(b));
                    match (x.is_nan(), y.is_nan()) {
                        (true, true) => std::cmp::Ordering::Equal,
                        (true, false) => std::cmp::Ordering::Greater,
                        (false, true) => std::cmp::Ordering::Less,
                        _ if func == Func::Sort => x.total_cmp(&y),
                        _ => y.total_cmp(&x),
                    }
                });
            }
            Ok(EVal::Vector(v))
        }
        Func::LabelReplace => {
            let v = vector_arg(ctx, args, steps)?;
            let out = labels::label_replace(
                v,
                string_arg(args, 1)?,
                string_arg(args, 2)?,
                string_arg(args, 3)?,
                string_arg(args, 4)?,
            )?;
            Ok(EVal::Vector(out))
        }
        Func::LabelJoin => {
            let v = vector_arg(ctx, args, steps)?;
            let mut srcs = Vec::new();
            for i in 3..args.len() {
                srcs.push(string_arg(args, i)?);
            }
            let out = labels::label_join(v, string_arg(args, 1)?, string_arg(args, 2)?, &srcs)?;
            Ok(EVal::Vector(out))
        }
        Func::HistogramQuantile => {
            let q = scalar_arg(ctx, args, 0, steps)?.unwrap_or_default();
            let Some(e) = args.get(1) else {
                return exec_err("missing argument");
            };
            let v = ctx.eval_vector(e, steps)?;
            Ok(EVal::Vector(histogram::histogram_quantile(&q, v, steps)?))
        }
        Func::Hour
        | Func::Minute
        | Func::Month
        | Func::Year
        | Func::DayOfWeek
        | Func::DayOfMonth
        | Func::DayOfYear
        | Func::DaysInMonth => {
            let v = if args.is_empty() {
                vec![SSeries {
                    labels: Labels::empty(),
                    vals: steps.iter().map(|t| Some(t as f64 / 1000.0)).collect(),
                }]
            } else {
                vector_arg(ctx, args, steps)?
            };
            map_values(v, |x, _| Some(date_fn(func, x)))
        }
        _ => {
            let v = vector_arg(ctx, args, steps)?;
            let f: fn(f64) -> f64 = match func {
                Func::Abs => f64::abs,
                Func::Ceil => f64::ceil,
                Func::Floor => f64::floor,
                Func::Exp => f64::exp,
                Func::Ln => f64::ln,
                Func::Log2 => f64::log2,
                Func::Log10 => f64::log10,
                Func::Sqrt => f64::sqrt,
                Func::Sgn => |x: f64| {
                    if x > 0.0 {
                        1.0
                    } else if x < 0.0 {
                        -1.0
                    } else {
                        x
                    }
                },
                Func::Sin => f64::sin,
                Func::Cos => f64::cos,
                Func::Tan => f64::tan,
                Func::Asin => f64::asin,
                Func::Acos => f64::acos,
                Func::Atan => f64::atan,
                Func::Sinh => f64::sinh,
                Func::Cosh => f64::cosh,
                Func::Tanh => f64::tanh,
                Func::Asinh => f64::asinh,
                Func::Acosh => f64::acosh,
                Func::Atanh => f64::atanh,
                Func::Deg => |x: f64| x * 180.0 / std::f64::consts::PI,
                Func::Rad => |x: f64| x * std::f64::consts::PI / 180.0,
                other => return exec_err(format!("function {} not evaluable here", other.name())),
            };
            map_values(v, |x, _| Some(f(x)))
        }
    }
}

fn absent_result(arg: &Expr, present: Vec<bool>) -> Result<EVal> {
    let vals: Vec<Option<f64>> = present.into_iter().map(|p| (!p).then_some(1.0)).collect();
    if vals.iter().all(Option::is_none) {
        return Ok(EVal::Vector(Vec::new()));
    }
    Ok(EVal::Vector(vec![SSeries {
        labels: absent_labels(arg)?,
        vals,
    }]))
}
