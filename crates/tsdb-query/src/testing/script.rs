//! A runner for Prometheus-style PromQL test scripts.
//!
//! The format (as Prometheus' `promqltest`):
//!
//! ```text
//! # comment
//! load 5m
//!     http_requests{job="api", instance="0"}  0+10x10
//!     other{a="b"}                            1 _ 3 stale NaN Inf -Inf 1x3 _x2
//!
//! eval instant at 50m sum by (job) (http_requests)
//!     {job="api"} 100
//!
//! eval range from 0 to 10m step 5m http_requests
//!     http_requests{job="api", instance="0"} 0 10 20
//!
//! eval_fail instant at 0m foo + on() group_left bar
//! eval_ordered instant at 50m sort(http_requests)
//!     ...
//! clear
//! ```
//!
//! Values: `a+bxN` / `a-bxN` expand to N+1 values starting at `a`; `axN` repeats
//! `a` N+1 times; `_` is a missing sample and `_xN` N of them; `stale` is the
//! staleness marker. Samples of `load <interval>` sit at `0, interval, 2·interval…`.
//! Expected values compare with a relative tolerance of 1e-6 (NaN equals NaN).

use std::sync::Arc;

use super::MemQuerier;
use crate::compat::{Labels, Series};
use crate::engine::Engine;
use crate::eval::STALE_NAN_BITS;
use crate::eval::stats::almost_equal;
use crate::options::EngineOptions;
use crate::value::Value;

const EPSILON: f64 = 1e-6;

/// What a script run found.
#[derive(Debug, Default)]
pub struct ScriptReport {
    /// Number of `eval*` commands run.
    pub evals: usize,
    /// One message per failed command (`line N: ...`).
    pub failures: Vec<String>,
}

/// One value of the sequence notation; `None` is a missing sample (`_`).
type SeqValue = Option<f64>;

/// Parses a duration such as `5m`, `1h30m`, `250ms` or plain seconds (`90`)
/// into milliseconds.
pub fn parse_duration_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<f64>() {
        return Some((secs * 1000.0).round() as i64);
    }
    let mut total: i64 = 0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let n: i64 = rest.get(..num_len)?.parse().ok()?;
        rest = rest.get(num_len..)?;
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = rest.get(..unit_len)?;
        rest = rest.get(unit_len..)?;
        let mult = match unit {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            "y" => 365 * 86_400_000,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(mult)?)?;
    }
    Some(total)
}

fn parse_number(s: &str) -> Option<f64> {
    match s {
        "stale" => Some(f64::from_bits(STALE_NAN_BITS)),
        "Inf" | "+Inf" | "inf" | "+inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        "NaN" | "nan" => Some(f64::NAN),
        _ => s.parse::<f64>().ok(),
    }
}

/// Expands one token of the value notation.
fn expand_token(tok: &str, out: &mut Vec<SeqValue>) -> Result<(), String> {
    let bad = || format!("bad value {tok:?}");
    if tok == "_" {
        out.push(None);
        return Ok(());
    }
    if let Some(n) = tok.strip_prefix("_x") {
        let n: usize = n.parse().map_err(|_| bad())?;
        out.extend(std::iter::repeat_n(None, n));
        return Ok(());
    }
    if let Some(v) = parse_number(tok) {
        out.push(Some(v));
        return Ok(());
    }
    let (base, times) = tok.rsplit_once('x').ok_or_else(bad)?;
    let times: usize = times.parse().map_err(|_| bad())?;
    // Split `a+b` / `a-b` at the operator that is not a sign or an exponent sign.
    let bytes: Vec<char> = base.chars().collect();
    let mut split = None;
    for (i, c) in bytes.iter().enumerate().skip(1) {
        let prev = bytes.get(i - 1).copied().unwrap_or(' ');
        if (*c == '+' || *c == '-') && prev != 'e' && prev != 'E' {
            split = Some(i);
        }
    }
    match split {
        None => {
            let v = parse_number(base).ok_or_else(bad)?;
            out.extend(std::iter::repeat_n(Some(v), times + 1));
        }
        Some(i) => {
            let start = parse_number(base.get(..i).ok_or_else(bad)?).ok_or_else(bad)?;
            let inc_s = base.get(i..).ok_or_else(bad)?;
            let inc = parse_number(inc_s.trim_start_matches('+')).ok_or_else(bad)?;
            let mut k = start;
            for _ in 0..=times {
                out.push(Some(k));
                k += inc;
            }
        }
    }
    Ok(())
}

/// Parses `metric{a="b", c="d"}` at the start of `s`; returns labels and the rest.
fn parse_labels(s: &str) -> Result<(Labels, &str), String> {
    let s = s.trim_start();
    let name_len = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(s.len());
    let name = s.get(..name_len).unwrap_or("");
    let mut rest = s.get(name_len..).unwrap_or("");
    let mut pairs: Vec<(String, String)> = Vec::new();
    if !name.is_empty() {
        pairs.push(("__name__".into(), name.into()));
    }
    if let Some(r) = rest.strip_prefix('{') {
        let mut chars = r.char_indices().peekable();
        let mut cur_name = String::new();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '}' => {
                    end = Some(i + 1);
                    break;
                }
                ',' | ' ' | '\t' => {}
                '=' => {}
                '"' => {
                    let mut val = String::new();
                    loop {
                        match chars.next() {
                            Some((_, '\\')) => match chars.next() {
                                Some((_, 'n')) => val.push('\n'),
                                Some((_, 't')) => val.push('\t'),
                                Some((_, c)) => val.push(c),
                                None => return Err("unterminated string".into()),
                            },
                            Some((_, '"')) => break,
                            Some((_, c)) => val.push(c),
                            None => return Err("unterminated string".into()),
                        }
                    }
                    // A quoted string followed by `=` is a label name.
                    while chars.peek().is_some_and(|(_, c)| *c == ' ') {
                        chars.next();
                    }
                    if cur_name.is_empty() {
                        if chars.peek().is_some_and(|(_, c)| *c == '=') {
                            cur_name = val;
                        } else {
                            pairs.push(("__name__".into(), val));
                        }
                    } else {
                        pairs.push((std::mem::take(&mut cur_name), val));
                    }
                }
                c => cur_name.push(c),
            }
        }
        let end = end.ok_or("unterminated label set")?;
        rest = r.get(end..).unwrap_or("");
    }
    let labels = Labels::new(pairs).map_err(|e| e.to_string())?;
    Ok((labels, rest))
}

enum Expect {
    Series(Labels, Vec<SeqValue>),
    Scalar(f64),
    Str(String),
}

struct EvalCmd {
    line: usize,
    expr: String,
    range: Option<(i64, i64, i64)>,
    at: i64,
    fail: bool,
    ordered: bool,
    expect: Vec<Expect>,
}

fn fmt_vals(v: &[SeqValue]) -> String {
    v.iter()
        .map(|x| x.map_or("_".to_string(), |f| f.to_string()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn same(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || almost_equal(a, b, EPSILON)
}

impl EvalCmd {
    fn check(&self, engine: &Engine<Arc<MemQuerier>>) -> Result<(), String> {
        let res = match self.range {
            Some((s, e, st)) => engine.range(&self.expr, s, e, st),
            None => engine.instant(&self.expr, self.at),
        };
        if self.fail {
            return match res {
                Ok(v) => Err(format!("expected an error, got {v:?}")),
                Err(_) => Ok(()),
            };
        }
        let value = res.map_err(|e| format!("unexpected error: {e}"))?;
        // Normalise the result to (labels, values) rows.
        let got: Vec<(Labels, Vec<SeqValue>)> = match (&value, self.range) {
            (Value::Scalar { value, .. }, _) => {
                return match self.expect.as_slice() {
                    [Expect::Scalar(x)] if same(*x, *value) => Ok(()),
                    _ => Err(format!("scalar {value} did not match the expectation")),
                };
            }
            (Value::String { value, .. }, _) => {
                return match self.expect.as_slice() {
                    [Expect::Str(x)] if x == value => Ok(()),
                    _ => Err(format!("string {value:?} did not match the expectation")),
                };
            }
            (Value::Vector(v), _) => v
                .iter()
                .map(|s| (s.labels.clone(), vec![Some(s.value)]))
                .collect(),
            (Value::Matrix(m), Some((s, _, st))) => m
                .iter()
                .map(|ser| (ser.labels.clone(), to_steps(ser, s, st)))
                .collect(),
            (Value::Matrix(m), None) => m
                .iter()
                .map(|ser| {
                    (
                        ser.labels.clone(),
                        ser.values.iter().map(|v| Some(*v)).collect(),
                    )
                })
                .collect(),
        };
        let want: Vec<(&Labels, &Vec<SeqValue>)> = self
            .expect
            .iter()
            .filter_map(|e| match e {
                Expect::Series(l, v) => Some((l, v)),
                Expect::Scalar(_) | Expect::Str(_) => None,
            })
            .collect();
        if want.len() != got.len() {
            return Err(format!(
                "expected {} series, got {}: {}",
                want.len(),
                got.len(),
                got.iter()
                    .map(|(l, v)| format!("{l} {}", fmt_vals(v)))
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
        for (pos, (wl, wv)) in want.iter().enumerate() {
            let found = if self.ordered {
                got.get(pos).filter(|(l, _)| l == *wl)
            } else {
                got.iter().find(|(l, _)| l == *wl)
            };
            let Some((_, gv)) = found else {
                return Err(format!("missing series {wl} (ordered: {})", self.ordered));
            };
            let eq = gv.len() == wv.len()
                && gv.iter().zip(wv.iter()).all(|(a, b)| match (a, b) {
                    (None, None) => true,
                    (Some(x), Some(y)) => same(*x, *y),
                    _ => false,
                });
            if !eq {
                return Err(format!(
                    "series {wl}: expected [{}], got [{}]",
                    fmt_vals(wv),
                    fmt_vals(gv)
                ));
            }
        }
        Ok(())
    }
}

fn to_steps(s: &Series, start: i64, step: i64) -> Vec<SeqValue> {
    let mut out: Vec<SeqValue> = Vec::new();
    for (t, v) in s.timestamps.iter().zip(&s.values) {
        let idx = usize::try_from((t - start) / step).unwrap_or(0);
        if out.len() <= idx {
            out.resize(idx + 1, None);
        }
        if let Some(slot) = out.get_mut(idx) {
            *slot = Some(*v);
        }
    }
    out
}

fn parse_expect_line(line: &str, range: bool) -> Result<Expect, String> {
    let t = line.trim();
    if let Some(q) = t.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        return Ok(Expect::Str(q.to_string()));
    }
    if !range && let Some(v) = parse_number(t) {
        return Ok(Expect::Scalar(v));
    }
    let (labels, rest) = parse_labels(t)?;
    let mut vals = Vec::new();
    for tok in rest.split_whitespace() {
        expand_token(tok, &mut vals)?;
    }
    if range {
        // Trailing missing values are not part of a result series.
        while vals.last().is_some_and(Option::is_none) {
            vals.pop();
        }
    }
    Ok(Expect::Series(labels, vals))
}

/// Runs a script. Returns an error for a script that cannot be parsed; eval
/// mismatches are collected in the report.
pub fn run_script(src: &str) -> Result<ScriptReport, String> {
    let querier = Arc::new(MemQuerier::new());
    let engine = Engine::with_options(
        querier.clone(),
        EngineOptions {
            cache_entries: 0,
            ..EngineOptions::default()
        },
    );
    let mut report = ScriptReport::default();
    let lines: Vec<&str> = src.lines().collect();
    let mut i = 0;
    let is_body = |l: &str| l.starts_with(' ') || l.starts_with('\t');
    while let Some(raw) = lines.get(i) {
        let lineno = i + 1;
        i += 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (cmd, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let rest = rest.trim();
        match cmd {
            "clear" => querier.clear(),
            "load" => {
                let interval =
                    parse_duration_ms(rest).ok_or(format!("line {lineno}: bad interval"))?;
                while let Some(body) = lines.get(i).filter(|l| is_body(l) && !l.trim().is_empty()) {
                    i += 1;
                    if body.trim().starts_with('#') {
                        continue;
                    }
                    let (labels, vals) =
                        parse_labels(body).map_err(|e| format!("line {}: {e}", i))?;
                    let mut seq = Vec::new();
                    for tok in vals.split_whitespace() {
                        expand_token(tok, &mut seq).map_err(|e| format!("line {i}: {e}"))?;
                    }
                    let samples: Vec<(i64, f64)> = seq
                        .into_iter()
                        .enumerate()
                        .filter_map(|(k, v)| v.map(|v| (k as i64 * interval, v)))
                        .collect();
                    querier.add(&labels, &samples);
                }
            }
            c if c.starts_with("eval") => {
                let (fail, ordered) = match c {
                    "eval" | "eval_warn" | "eval_info" => (false, false),
                    "eval_fail" => (true, false),
                    "eval_ordered" => (false, true),
                    other => return Err(format!("line {lineno}: unknown command {other}")),
                };
                let cmd = parse_eval_head(rest, lineno, fail, ordered)?;
                let mut cmd = cmd;
                while let Some(body) = lines.get(i).filter(|l| is_body(l) && !l.trim().is_empty()) {
                    i += 1;
                    let b = body.trim();
                    if b.starts_with('#') || b.starts_with("expected_fail") {
                        continue;
                    }
                    // Prometheus 3 style expectations; annotations are not checked.
                    if let Some(e) = b.strip_prefix("expect ") {
                        match e.split_whitespace().next() {
                            Some("fail") => cmd.fail = true,
                            Some("ordered") => cmd.ordered = true,
                            _ => {}
                        }
                        continue;
                    }
                    cmd.expect.push(
                        parse_expect_line(b, cmd.range.is_some())
                            .map_err(|e| format!("line {i}: {e}"))?,
                    );
                }
                report.evals += 1;
                if let Err(e) = cmd.check(&engine) {
                    report
                        .failures
                        .push(format!("line {}: {}: {e}", cmd.line, cmd.expr));
                }
            }
            other => return Err(format!("line {lineno}: unknown command {other}")),
        }
    }
    Ok(report)
}

fn parse_eval_head(rest: &str, line: usize, fail: bool, ordered: bool) -> Result<EvalCmd, String> {
    let err = |m: &str| format!("line {line}: {m}");
    let mut words = rest.splitn(2, char::is_whitespace);
    let kind = words.next().unwrap_or("");
    let rest = words.next().unwrap_or("").trim();
    let take = |s: &str, kw: &str| -> Result<(String, String), String> {
        let s = s.trim_start();
        let s = s.strip_prefix(kw).ok_or(err(&format!("expected `{kw}`")))?;
        let s = s.trim_start();
        let (a, b) = s
            .split_once(char::is_whitespace)
            .ok_or(err("truncated eval"))?;
        Ok((a.to_string(), b.to_string()))
    };
    match kind {
        "instant" => {
            let (at, expr) = take(rest, "at")?;
            Ok(EvalCmd {
                line,
                expr: expr.trim().to_string(),
                range: None,
                at: parse_duration_ms(&at).ok_or(err("bad time"))?,
                fail,
                ordered,
                expect: Vec::new(),
            })
        }
        "range" => {
            let (from, r) = take(rest, "from")?;
            let (to, r) = take(&r, "to")?;
            let (step, expr) = take(&r, "step")?;
            let d = |s: &str| parse_duration_ms(s).ok_or(err("bad duration"));
            Ok(EvalCmd {
                line,
                expr: expr.trim().to_string(),
                range: Some((d(&from)?, d(&to)?, d(&step)?)),
                at: 0,
                fail,
                ordered,
                expect: Vec::new(),
            })
        }
        _ => Err(err("expected `instant` or `range`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_notation() {
        let mut v = Vec::new();
        for t in ["0+10x3", "1x2", "_", "_x2", "-1-1x1", "stale", "1e3+1e3x1"] {
            expand_token(t, &mut v).unwrap();
        }
        let f: Vec<String> = v.iter().map(|x| format!("{x:?}")).collect();
        assert_eq!(
            f[..14].join(" "),
            "Some(0.0) Some(10.0) Some(20.0) Some(30.0) Some(1.0) Some(1.0) Some(1.0) None None None Some(-1.0) Some(-2.0) Some(NaN) Some(1000.0)"
        );
        assert_eq!(v[12].unwrap().to_bits(), STALE_NAN_BITS);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("1h30m"), Some(5_400_000));
        assert_eq!(parse_duration_ms("250ms"), Some(250));
        assert_eq!(parse_duration_ms("90"), Some(90_000));
        assert_eq!(parse_duration_ms("x"), None);
    }

    #[test]
    fn label_sets() {
        let (l, rest) = parse_labels(r#"foo{a="b", "c.d"="e\"f"} 1 2"#).unwrap();
        assert_eq!(l.get("__name__"), Some("foo"));
        assert_eq!(l.get("c.d"), Some("e\"f"));
        assert_eq!(rest.trim(), "1 2");
        let (l, _) = parse_labels(r#"{"my.metric", a="b"} 1"#).unwrap();
        assert_eq!(l.get("__name__"), Some("my.metric"));
    }
}
