//! Binary operators: arithmetic, comparisons (with and without `bool`), set
//! operators, and vector matching with `on`/`ignoring`/`group_left`/`group_right`.

use std::collections::HashMap;

use super::{EVal, SSeries, Steps, drop_name, merge_same_labels, retain_nonempty};
use crate::compat::{Labels, METRIC_NAME};
use crate::error::{QueryError, Result, exec_err};
use crate::parse::{BinOp, Card, VectorMatching};

/// Applies `op`; returns the value and whether a comparison holds.
fn elem(op: BinOp, l: f64, r: f64) -> (f64, bool) {
    match op {
        BinOp::Add => (l + r, true),
        BinOp::Sub => (l - r, true),
        BinOp::Mul => (l * r, true),
        BinOp::Div => (l / r, true),
        BinOp::Mod => (l % r, true),
        BinOp::Pow => (l.powf(r), true),
        BinOp::Atan2 => (l.atan2(r), true),
        BinOp::Eq => (l, l == r),
        BinOp::Ne => (l, l != r),
        BinOp::Gt => (l, l > r),
        BinOp::Lt => (l, l < r),
        BinOp::Ge => (l, l >= r),
        BinOp::Le => (l, l <= r),
        BinOp::And | BinOp::Or | BinOp::Unless => (f64::NAN, false),
    }
}

fn drops_name(op: BinOp) -> bool {
    !op.is_comparison() && !op.is_set()
}

pub(crate) fn eval_binary(
    op: BinOp,
    l: EVal,
    r: EVal,
    matching: &VectorMatching,
    return_bool: bool,
    steps: Steps,
) -> Result<EVal> {
    match (l, r) {
        (EVal::Scalar(a), EVal::Scalar(b)) => Ok(EVal::Scalar(
            a.into_iter()
                .zip(b)
                .map(|(x, y)| {
                    let (v, keep) = elem(op, x, y);
                    if op.is_comparison() {
                        if keep { 1.0 } else { 0.0 }
                    } else {
                        v
                    }
                })
                .collect(),
        )),
        (EVal::Vector(v), EVal::Scalar(s)) => vector_scalar(op, v, &s, false, return_bool),
        (EVal::Scalar(s), EVal::Vector(v)) => vector_scalar(op, v, &s, true, return_bool),
        (EVal::Vector(a), EVal::Vector(b)) => {
            if op.is_set() {
                set_op(op, a, b, matching, steps)
            } else {
                vector_vector(op, a, b, matching, return_bool, steps)
            }
        }
        _ => exec_err("binary operators apply to scalars and instant vectors only"),
    }
}

fn vector_scalar(
    op: BinOp,
    mut v: Vec<SSeries>,
    s: &[f64],
    swap: bool,
    return_bool: bool,
) -> Result<EVal> {
    let drop = drops_name(op) || return_bool;
    for ser in &mut v {
        if drop {
            ser.labels = drop_name(&ser.labels);
        }
        for (x, sc) in ser.vals.iter_mut().zip(s) {
            let Some(vv) = *x else { continue };
            let (lv, rv) = if swap { (*sc, vv) } else { (vv, *sc) };
            let (mut val, mut keep) = elem(op, lv, rv);
            if op.is_comparison() && swap {
                val = rv;
            }
            if return_bool {
                val = if keep { 1.0 } else { 0.0 };
                keep = true;
            }
            *x = keep.then_some(val);
        }
    }
    retain_nonempty(&mut v);
    if drop {
        v = merge_same_labels(v)?;
    }
    Ok(EVal::Vector(v))
}

/// Interns each series' matching signature; returns one id per series.
fn signatures(sides: [&[SSeries]; 2], m: &VectorMatching) -> (Vec<usize>, Vec<usize>, Vec<Labels>) {
    let names: Vec<&str> = m.labels.iter().map(String::as_str).collect();
    let mut ignore = names.clone();
    ignore.push(METRIC_NAME);
    let mut map: HashMap<Labels, usize> = HashMap::new();
    let mut sigs = Vec::new();
    let mut ids = [Vec::new(), Vec::new()];
    for (side, out) in sides.iter().zip(ids.iter_mut()) {
        for s in side.iter() {
            let key = if m.on {
                s.labels.keep_only(&names)
            } else {
                s.labels.without(&ignore)
            };
            let id = *map.entry(key.clone()).or_insert_with(|| {
                sigs.push(key);
                sigs.len() - 1
            });
            out.push(id);
        }
    }
    let [a, b] = ids;
    (a, b, sigs)
}

fn set_op(
    op: BinOp,
    a: Vec<SSeries>,
    b: Vec<SSeries>,
    m: &VectorMatching,
    steps: Steps,
) -> Result<EVal> {
    let (sa, sb, sigs) = signatures([&a, &b], m);
    let mut seen_a = vec![usize::MAX; sigs.len()];
    let mut seen_b = vec![usize::MAX; sigs.len()];
    let mut out_a: Vec<Vec<Option<f64>>> = vec![vec![None; steps.n]; a.len()];
    let mut out_b: Vec<Vec<Option<f64>>> = vec![vec![None; steps.n]; b.len()];
    for i in 0..steps.n {
        for (s, sig) in a.iter().zip(&sa) {
            if s.vals.get(i).copied().flatten().is_some()
                && let Some(x) = seen_a.get_mut(*sig)
            {
                *x = i;
            }
        }
        for (s, sig) in b.iter().zip(&sb) {
            if s.vals.get(i).copied().flatten().is_some()
                && let Some(x) = seen_b.get_mut(*sig)
            {
                *x = i;
            }
        }
        for ((s, sig), o) in a.iter().zip(&sa).zip(out_a.iter_mut()) {
            let Some(v) = s.vals.get(i).copied().flatten() else {
                continue;
            };
            let in_b = seen_b.get(*sig) == Some(&i);
            let keep = match op {
                BinOp::And => in_b,
                BinOp::Unless => !in_b,
                _ => true,
            };
            if keep && let Some(slot) = o.get_mut(i) {
                *slot = Some(v);
            }
        }
        if op == BinOp::Or {
            for ((s, sig), o) in b.iter().zip(&sb).zip(out_b.iter_mut()) {
                let Some(v) = s.vals.get(i).copied().flatten() else {
                    continue;
                };
                if seen_a.get(*sig) != Some(&i)
                    && let Some(slot) = o.get_mut(i)
                {
                    *slot = Some(v);
                }
            }
        }
    }
    let mut out: Vec<SSeries> = a
        .into_iter()
        .zip(out_a)
        .chain(b.into_iter().zip(out_b))
        .map(|(s, vals)| SSeries {
            labels: s.labels,
            vals,
        })
        .collect();
    retain_nonempty(&mut out);
    // `or` can yield one label set from both sides at different steps.
    Ok(EVal::Vector(merge_same_labels(out)?))
}

fn result_labels(
    many: &Labels,
    one: &Labels,
    op: BinOp,
    m: &VectorMatching,
    return_bool: bool,
) -> Result<Labels> {
    let mut l = if drops_name(op) || return_bool {
        drop_name(many)
    } else {
        many.clone()
    };
    let names: Vec<&str> = m.labels.iter().map(String::as_str).collect();
    if m.card == Card::OneToOne {
        l = if m.on {
            l.keep_only(&names)
        } else {
            l.without(&names)
        };
    }
    if let Card::ManyToOne(include) | Card::OneToMany(include) = &m.card {
        for name in include {
            l = l.with(name, one.get(name).unwrap_or(""))?;
        }
    }
    Ok(l)
}

fn vector_vector(
    op: BinOp,
    a: Vec<SSeries>,
    b: Vec<SSeries>,
    m: &VectorMatching,
    return_bool: bool,
    steps: Steps,
) -> Result<EVal> {
    let swapped = matches!(m.card, Card::OneToMany(_));
    let (many, one) = if swapped { (b, a) } else { (a, b) };
    let (s_many, s_one, sigs) = signatures([&many, &one], m);
    let mut out: Vec<SSeries> = Vec::new();
    let mut out_idx: HashMap<(usize, usize), usize> = HashMap::new();
    let mut one_at: Vec<(usize, usize)> = vec![(usize::MAX, 0); sigs.len()];
    let mut matched: Vec<usize> = vec![usize::MAX; sigs.len()];
    let mut out_seen: HashMap<Labels, usize> = HashMap::new();
    let side = if swapped { "left" } else { "right" };
    for i in 0..steps.n {
        // Prometheus short-circuits when either side is empty at this step
        // (no duplicate-match errors then).
        let present = |v: &[SSeries]| v.iter().any(|s| s.vals.get(i).copied().flatten().is_some());
        if !present(&many) || !present(&one) {
            continue;
        }
        for (j, (s, sig)) in one.iter().zip(&s_one).enumerate() {
            if s.vals.get(i).copied().flatten().is_none() {
                continue;
            }
            if let Some(slot) = one_at.get_mut(*sig) {
                if slot.0 == i {
                    let other = one
                        .get(slot.1)
                        .map(|o| o.labels.to_string())
                        .unwrap_or_default();
                    return Err(QueryError::Execution(format!(
                        "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                        sigs.get(*sig).map(|l| l.to_string()).unwrap_or_default(),
                        other,
                        s.labels
                    )));
                }
                *slot = (i, j);
            }
        }
        out_seen.clear();
        for (mi, (s, sig)) in many.iter().zip(&s_many).enumerate() {
            let Some(mv) = s.vals.get(i).copied().flatten() else {
                continue;
            };
            let Some(&(at, oi)) = one_at.get(*sig) else {
                continue;
            };
            if at != i {
                continue;
            }
            let Some(os) = one.get(oi) else { continue };
            let Some(ov) = os.vals.get(i).copied().flatten() else {
                continue;
            };
            // Duplicate matches are an error even when the comparison would
            // filter the sample out (Prometheus checks before filtering).
            if m.card == Card::OneToOne
                && let Some(x) = matched.get_mut(*sig)
            {
                if *x == i {
                    return exec_err(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                    );
                }
                *x = i;
            }
            let (lv, rv) = if swapped { (ov, mv) } else { (mv, ov) };
            let (mut val, keep) = elem(op, lv, rv);
            if return_bool {
                val = if keep { 1.0 } else { 0.0 };
            } else if !keep {
                continue;
            }
            let idx = match out_idx.get(&(mi, oi)) {
                Some(x) => *x,
                None => {
                    let labels = result_labels(&s.labels, &os.labels, op, m, return_bool)?;
                    out.push(SSeries {
                        labels,
                        vals: vec![None; steps.n],
                    });
                    out_idx.insert((mi, oi), out.len() - 1);
                    out.len() - 1
                }
            };
            let Some(o) = out.get_mut(idx) else { continue };
            if m.card != Card::OneToOne && out_seen.insert(o.labels.clone(), idx).is_some() {
                return exec_err(
                    "multiple matches for labels: grouping labels must ensure unique matches",
                );
            }
            if let Some(slot) = o.vals.get_mut(i) {
                *slot = Some(val);
            }
        }
    }
    // Several (many, one) pairs may produce the same labels at different steps.
    let mut merged = merge_same_labels(out)?;
    retain_nonempty(&mut merged);
    Ok(EVal::Vector(merged))
}
