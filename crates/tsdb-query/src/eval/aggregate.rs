//! Aggregation operators. Group membership is computed once per series; the
//! per-step accumulation runs in parallel over chunks of steps and keeps
//! Prometheus' input order inside each step, so sums match to the last bit.

use std::collections::HashMap;

use rayon::prelude::*;

use super::stats::{MeanAcc, kahan_inc, quantile};
use super::{Ctx, EVal, SSeries, Steps};
use crate::compat::{Labels, METRIC_NAME};
use crate::error::{QueryError, Result, exec_err};
use crate::parse::{AggOp, Expr, Grouping};

/// Steps per parallel task.
const STEP_CHUNK: usize = 64;

fn group_labels(l: &Labels, g: &Grouping) -> Labels {
    let names: Vec<&str> = g.labels.iter().map(String::as_str).collect();
    if g.without {
        let mut n = names;
        n.push(METRIC_NAME);
        l.without(&n)
    } else {
        l.keep_only(&names)
    }
}

/// Assigns each series a group index; returns the groups' labels.
fn assign_groups(v: &[SSeries], g: &Grouping) -> (Vec<usize>, Vec<Labels>) {
    let mut map: HashMap<Labels, usize> = HashMap::new();
    let mut labels = Vec::new();
    let idx = v
        .iter()
        .map(|s| {
            let key = group_labels(&s.labels, g);
            *map.entry(key.clone()).or_insert_with(|| {
                labels.push(key);
                labels.len() - 1
            })
        })
        .collect();
    (idx, labels)
}

#[derive(Clone)]
enum Acc {
    None,
    Sum(f64, f64),
    Mean(MeanAcc),
    Min(f64),
    Max(f64),
    Count(f64),
    Var { count: f64, mean: f64, value: f64 },
    Values(Vec<f64>),
}

impl Acc {
    fn push(&mut self, op: AggOp, f: f64) {
        match self {
            Acc::None => {
                *self = match op {
                    AggOp::Sum => Acc::Sum(f, 0.0),
                    AggOp::Avg => {
                        let mut m = MeanAcc::default();
                        m.push(f);
                        Acc::Mean(m)
                    }
                    AggOp::Min => Acc::Min(f),
                    AggOp::Max => Acc::Max(f),
                    AggOp::Count | AggOp::Group => Acc::Count(1.0),
                    AggOp::Stddev | AggOp::Stdvar => Acc::Var {
                        count: 1.0,
                        mean: f,
                        value: if f.is_finite() { 0.0 } else { f64::NAN },
                    },
                    _ => Acc::Values(vec![f]),
                }
            }
            Acc::Sum(s, c) => (*s, *c) = kahan_inc(f, *s, *c),
            Acc::Mean(m) => m.push(f),
            Acc::Min(m) => {
                if *m > f || m.is_nan() {
                    *m = f;
                }
            }
            Acc::Max(m) => {
                if *m < f || m.is_nan() {
                    *m = f;
                }
            }
            Acc::Count(c) => *c += 1.0,
            Acc::Var { count, mean, value } => {
                *count += 1.0;
                let delta = f - *mean;
                *mean += delta / *count;
                *value += delta * (f - *mean);
            }
            Acc::Values(v) => v.push(f),
        }
    }

    fn finish(&mut self, op: AggOp, param: f64) -> Option<f64> {
        Some(match self {
            Acc::None => return None,
            Acc::Sum(s, c) => *s + *c,
            Acc::Mean(m) => m.value_agg(),
            Acc::Min(m) | Acc::Max(m) => *m,
            Acc::Count(c) => {
                if op == AggOp::Group {
                    1.0
                } else {
                    *c
                }
            }
            Acc::Var { count, value, .. } => {
                let var = *value / *count;
                if op == AggOp::Stddev { var.sqrt() } else { var }
            }
            Acc::Values(v) => quantile(param, v),
        })
    }
}

pub(crate) fn eval_aggregate(
    ctx: &Ctx<'_>,
    op: AggOp,
    expr: &Expr,
    param: Option<&Expr>,
    grouping: &Grouping,
    steps: Steps,
) -> Result<EVal> {
    if op == AggOp::CountValues {
        let label = match param {
            Some(Expr::Str(s)) => s.clone(),
            _ => return exec_err("count_values needs a string parameter"),
        };
        if label.is_empty() {
            return exec_err(format!("invalid label name {label:?}"));
        }
        let v = ctx.eval_vector(expr, steps)?;
        return count_values(&label, v, grouping, steps);
    }
    let params = match param {
        Some(p) => Some(ctx.eval_scalar(p, steps)?),
        None => None,
    };
    let v = ctx.eval_vector(expr, steps)?;
    if matches!(op, AggOp::Topk | AggOp::Bottomk) {
        return topk(op, v, params.as_deref().unwrap_or(&[]), grouping, steps);
    }
    let (idx, labels) = assign_groups(&v, grouping);
    let ngroups = labels.len();
    let chunks: Vec<Vec<Vec<Option<f64>>>> = (0..steps.n)
        .collect::<Vec<_>>()
        .par_chunks(STEP_CHUNK)
        .map(|chunk| {
            let mut accs = vec![Acc::None; ngroups];
            let mut out = vec![Vec::with_capacity(chunk.len()); ngroups];
            for &i in chunk {
                for (s, g) in v.iter().zip(&idx) {
                    if let (Some(Some(f)), Some(a)) = (s.vals.get(i), accs.get_mut(*g)) {
                        a.push(op, *f);
                    }
                }
                let p = params
                    .as_ref()
                    .and_then(|p| p.get(i).copied())
                    .unwrap_or(f64::NAN);
                for (a, o) in accs.iter_mut().zip(out.iter_mut()) {
                    o.push(a.finish(op, p));
                    *a = Acc::None;
                }
            }
            out
        })
        .collect();
    let mut series: Vec<SSeries> = labels
        .into_iter()
        .map(|l| SSeries {
            labels: l,
            vals: Vec::with_capacity(steps.n),
        })
        .collect();
    for chunk in chunks {
        for (s, part) in series.iter_mut().zip(chunk) {
            s.vals.extend(part);
        }
    }
    super::retain_nonempty(&mut series);
    Ok(EVal::Vector(series))
}

fn topk(
    op: AggOp,
    v: Vec<SSeries>,
    params: &[f64],
    grouping: &Grouping,
    steps: Steps,
) -> Result<EVal> {
    let (idx, labels) = assign_groups(&v, grouping);
    let mut out: Vec<SSeries> = v
        .iter()
        .map(|s| SSeries {
            labels: s.labels.clone(),
            vals: vec![None; steps.n],
        })
        .collect();
    // For instant queries, the output order: groups in order, sorted within.
    let mut order: Vec<usize> = Vec::new();
    for i in 0..steps.n {
        let p = params.get(i).copied().unwrap_or(f64::NAN);
        if p.is_nan() {
            return Err(QueryError::Execution(format!(
                "Parameter value is NaN for {}",
                if op == AggOp::Topk { "topk" } else { "bottomk" }
            )));
        }
        let k = if p >= usize::MAX as f64 {
            usize::MAX
        } else {
            p.max(0.0) as usize
        };
        if k < 1 {
            continue;
        }
        let mut per_group: Vec<Vec<(usize, f64)>> = vec![Vec::new(); labels.len()];
        for (j, (s, g)) in v.iter().zip(&idx).enumerate() {
            if let (Some(Some(f)), Some(m)) = (s.vals.get(i), per_group.get_mut(*g)) {
                m.push((j, *f));
            }
        }
        for mut members in per_group {
            // Best first; NaN is always the least preferred.
            members.sort_by(|a, b| match (a.1.is_nan(), b.1.is_nan()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => std::cmp::Ordering::Greater,
                (false, true) => std::cmp::Ordering::Less,
                _ if op == AggOp::Topk => b.1.total_cmp(&a.1),
                _ => a.1.total_cmp(&b.1),
            });
            members.truncate(k);
            for (j, f) in members {
                if let Some(Some(slot)) = out.get_mut(j).map(|s| s.vals.get_mut(i)) {
                    *slot = Some(f);
                }
                if steps.n == 1 {
                    order.push(j);
                }
            }
        }
    }
    if steps.n == 1 {
        let mut sorted = Vec::with_capacity(order.len());
        for j in order {
            if let Some(s) = out.get_mut(j) {
                sorted.push(std::mem::replace(
                    s,
                    SSeries {
                        labels: Labels::empty(),
                        vals: Vec::new(),
                    },
                ));
            }
        }
        return Ok(EVal::Vector(sorted));
    }
    super::retain_nonempty(&mut out);
    let _ = labels;
    Ok(EVal::Vector(out))
}

/// Formats a value as Go's `strconv.FormatFloat(f, 'f', -1, 64)`.
pub(crate) fn format_go_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f == f64::INFINITY {
        "+Inf".into()
    } else if f == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{f}")
    }
}

fn count_values(label: &str, v: Vec<SSeries>, grouping: &Grouping, steps: Steps) -> Result<EVal> {
    let (idx, labels) = assign_groups(&v, grouping);
    let mut map: HashMap<Labels, usize> = HashMap::new();
    let mut out: Vec<SSeries> = Vec::new();
    for i in 0..steps.n {
        for (s, g) in v.iter().zip(&idx) {
            let Some(Some(f)) = s.vals.get(i) else {
                continue;
            };
            let Some(gl) = labels.get(*g) else { continue };
            let key = gl.with(label, &format_go_float(*f))?;
            let oi = *map.entry(key.clone()).or_insert_with(|| {
                out.push(SSeries {
                    labels: key,
                    vals: vec![None; steps.n],
                });
                out.len() - 1
            });
            if let Some(Some(slot)) = out.get_mut(oi).map(|s| s.vals.get_mut(i)) {
                *slot = Some(slot.unwrap_or(0.0) + 1.0);
            }
        }
    }
    Ok(EVal::Vector(out))
}
