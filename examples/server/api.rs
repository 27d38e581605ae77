//! The Prometheus HTTP query API: `/api/v1/query`, `query_range`, `series`,
//! `labels`, `label/<name>/values`, `metadata`, `status/buildinfo` and
//! `status/tsdb`, with GET parameters or POST form bodies.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use tsdb::core::{
    DEFAULT_MAX_TIMESTAMP_MS, DEFAULT_MIN_TIMESTAMP_MS, MatchOp, Matcher, Querier, SelectHints,
};
use tsdb::query::{LimitKind, QueryError};

use crate::app::{AppState, now_ms};
use crate::prom_json::{
    ErrorType, error, parse_duration, parse_time, push_labels, query_data, string_array, success,
};

/// Request parameters from a form body and the query string, in that order.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(c),
                }
            }
            _ => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Params {
    /// Parses a query string and an optional `application/x-www-form-urlencoded`
    /// body. Body values come first, so they win in [`Params::get`] as in Go's
    /// `Request.FormValue` (what Prometheus uses).
    pub fn parse(query: &str, form: Option<&str>) -> Params {
        let mut v = Vec::new();
        for part in [form, Some(query)].into_iter().flatten() {
            for pair in part.split('&').filter(|p| !p.is_empty()) {
                let (k, val) = pair.split_once('=').unwrap_or((pair, ""));
                v.push((percent_decode(k), percent_decode(val)));
            }
        }
        Params(v)
    }

    /// From a request: the query string, plus the body when it is a form.
    pub fn from_request(query: Option<String>, headers: &HeaderMap, body: &Bytes) -> Params {
        let is_form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let form = if is_form {
            std::str::from_utf8(body).ok()
        } else {
            None
        };
        Params::parse(query.as_deref().unwrap_or(""), form)
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

pub fn bad(param: &str, msg: impl std::fmt::Display) -> Response {
    error(
        ErrorType::BadData,
        &format!("invalid parameter {param:?}: {msg}"),
    )
}

fn time_param(p: &Params, name: &str, default: i64) -> Result<i64, Response> {
    match p.get(name) {
        None | Some("") => Ok(default),
        Some(s) => parse_time(s).map_err(|e| bad(name, e)),
    }
}

pub fn limit_param(p: &Params) -> Result<usize, Response> {
    match p.get("limit") {
        None | Some("") => Ok(usize::MAX),
        Some(s) => match s.parse::<i64>() {
            Ok(n) if n <= 0 => Ok(usize::MAX),
            Ok(n) => Ok(n as usize),
            Err(_) => Err(bad("limit", format!("cannot parse {s:?} to an integer"))),
        },
    }
}

/// Maps a query error to the Prometheus error type and message.
pub fn query_error(e: &QueryError) -> Response {
    let kind = match e {
        QueryError::Parse(_) | QueryError::BadRequest(_) | QueryError::Unsupported(_) => {
            ErrorType::BadData
        }
        QueryError::Index(_) => ErrorType::BadData,
        QueryError::Execution(_) => ErrorType::Execution,
        QueryError::Limit {
            kind: LimitKind::Timeout,
            ..
        } => ErrorType::Timeout,
        QueryError::Limit {
            kind: LimitKind::Resolution,
            ..
        } => ErrorType::BadData,
        QueryError::Limit { .. } => ErrorType::Execution,
        QueryError::Storage(s) if s.is_refusal() || matches!(s, tsdb::core::Error::Query(_)) => {
            ErrorType::BadData
        }
        _ => ErrorType::Internal,
    };
    if let QueryError::Parse(m) = e {
        return bad("query", m);
    }
    error(kind, &e.to_string())
}

/// Runs blocking query work under a query slot (`--max-concurrent-queries`),
/// waiting at most `--query-timeout` for one to free up. The slot goes with the
/// work: a request dropped meanwhile (the client gone, `--request-timeout`) does
/// not free it while the work still runs. `busy` builds the answer when no slot
/// freed up, `failed` the one for work that panicked: the caller's error format.
pub async fn run_with<T: Send + 'static>(
    state: &Arc<AppState>,
    busy: impl FnOnce(String) -> Response,
    failed: impl FnOnce(String) -> Response,
    work: impl FnOnce(&AppState) -> Result<T, Response> + Send + 'static,
) -> Result<T, Response> {
    let slot = tokio::time::timeout(
        state.config.query_timeout,
        Arc::clone(&state.query_slots).acquire_owned(),
    )
    .await;
    // The semaphore is never closed: no slot means the wait timed out.
    let Ok(Ok(permit)) = slot else {
        return Err(busy(format!(
            "too many concurrent queries (--max-concurrent-queries {}); try again later",
            state.config.max_concurrent_queries
        )));
    };
    let s = Arc::clone(state);
    let res = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        work(&s)
    })
    .await;
    res.map_err(|e| failed(e.to_string()))?
}

/// [`run_with`], answering in the query API's error format.
pub async fn run<T: Send + 'static>(
    state: &Arc<AppState>,
    work: impl FnOnce(&AppState) -> Result<T, Response> + Send + 'static,
) -> Result<T, Response> {
    run_with(
        state,
        |m| error(ErrorType::Unavailable, &m),
        |m| error(ErrorType::Internal, &m),
        work,
    )
    .await
}

pub fn unwrap_response(r: Result<Response, Response>) -> Response {
    r.unwrap_or_else(|e| e)
}

/// `/api/v1/query`.
pub async fn query(
    State(state): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = Params::from_request(q, &headers, &body);
    unwrap_response(
        async {
            let expr = p
                .get("query")
                .filter(|s| !s.is_empty())
                .ok_or_else(|| bad("query", "parameter missing"))?
                .to_string();
            let t = time_param(&p, "time", now_ms())?;
            let started = Instant::now();
            let value = run(&state, move |s| {
                s.engine.instant(&expr, t).map_err(|e| query_error(&e))
            })
            .await?;
            let resp = success(&query_data(&value));
            state.metrics.query_latency.observe(started.elapsed());
            Ok(resp)
        }
        .await,
    )
}

/// `/api/v1/query_range`.
pub async fn query_range(
    State(state): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = Params::from_request(q, &headers, &body);
    unwrap_response(async {
        let expr = p
            .get("query")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad("query", "parameter missing"))?
            .to_string();
        let need = |name: &str| -> Result<i64, Response> {
            let v = p.get(name).ok_or_else(|| bad(name, "parameter missing"))?;
            parse_time(v).map_err(|e| bad(name, e))
        };
        let (start, end) = (need("start")?, need("end")?);
        if end < start {
            return Err(bad("end", "end timestamp must not be before start time"));
        }
        let step = p.get("step").ok_or_else(|| bad("step", "parameter missing"))?;
        let step = parse_duration(step).map_err(|e| bad("step", e))?;
        if step <= 0 {
            return Err(bad(
                "step",
                "zero or negative query resolution step widths are not accepted. Try a positive integer",
            ));
        }
        if (end - start) / step > 11_000 {
            return Err(error(
                ErrorType::BadData,
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
            ));
        }
        let started = Instant::now();
        let value = run(&state, move |s| {
            s.engine
                .range(&expr, start, end, step)
                .map_err(|e| query_error(&e))
        })
        .await?;
        let resp = success(&query_data(&value));
        state.metrics.range_query_latency.observe(started.elapsed());
        Ok(resp)
    }
    .await)
}

/// Parses a series selector (`up{job="api"}`, `{__name__=~"http_.*"}`) into matchers.
pub fn parse_selector(s: &str) -> Result<Vec<Matcher>, String> {
    use promql_parser::label::MatchOp as P;
    use promql_parser::parser::Expr;
    let owned = s.to_string();
    let parsed = std::panic::catch_unwind(move || promql_parser::parser::parse(&owned))
        .map_err(|_| format!("cannot parse {s:?}: parser failure"))?
        .map_err(|e| e.to_string())?;
    let Expr::VectorSelector(vs) = parsed else {
        return Err(format!("{s:?} is not a series selector"));
    };
    if !vs.matchers.or_matchers.is_empty() {
        return Err(format!("{s:?}: 'or' inside a selector is not supported"));
    }
    let mut out = Vec::new();
    if let Some(name) = &vs.name {
        out.push(Matcher::equal("__name__", name));
    }
    for m in &vs.matchers.matchers {
        let op = match &m.op {
            P::Equal => MatchOp::Equal,
            P::NotEqual => MatchOp::NotEqual,
            P::Re(_) => MatchOp::RegexMatch,
            P::NotRe(_) => MatchOp::RegexNoMatch,
        };
        out.push(Matcher::new(op, &m.name, &m.value).map_err(|e| e.to_string())?);
    }
    Ok(out)
}

fn selectors(p: &Params, required: bool) -> Result<Vec<Vec<Matcher>>, Response> {
    let raw = p.all("match[]");
    if raw.is_empty() && required {
        return Err(error(ErrorType::BadData, "no match[] parameter provided"));
    }
    raw.into_iter()
        .map(|s| parse_selector(s).map_err(|e| bad("match[]", e)))
        .collect()
}

pub fn storage_error(e: &tsdb::core::Error) -> Response {
    if e.is_refusal() || matches!(e, tsdb::core::Error::Query(_)) {
        error(ErrorType::BadData, &e.to_string())
    } else {
        error(ErrorType::Internal, &e.to_string())
    }
}

fn range_hints(p: &Params) -> Result<SelectHints, Response> {
    let start = time_param(p, "start", DEFAULT_MIN_TIMESTAMP_MS)?;
    let end = time_param(p, "end", DEFAULT_MAX_TIMESTAMP_MS)?;
    if end < start {
        return Err(bad("end", "end timestamp must not be before start time"));
    }
    Ok(SelectHints::range(start, end))
}

/// `/api/v1/series`.
pub async fn series(
    State(state): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = Params::from_request(q, &headers, &body);
    unwrap_response(async {
        let sels = selectors(&p, true)?;
        let hints = range_hints(&p)?;
        let limit = limit_param(&p)?;
        let labels = run(&state, move |s| {
            let mut all = BTreeSet::new();
            for m in &sels {
                for l in s.querier.series(m, &hints).map_err(|e| storage_error(&e))? {
                    all.insert(l);
                    if all.len() > s.config.max_query_series {
                        return Err(error(
                            ErrorType::Execution,
                            &format!(
                                "more than {} series match (--max-query-series); narrow the selector",
                                s.config.max_query_series
                            ),
                        ));
                    }
                }
            }
            Ok(all)
        })
        .await?;
        let mut out = String::from("[");
        for (i, l) in labels.iter().take(limit).enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_labels(&mut out, l);
        }
        out.push(']');
        Ok(success(&out))
    }
    .await)
}

/// `/api/v1/labels`.
pub async fn labels(
    State(state): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = Params::from_request(q, &headers, &body);
    union_over_selectors(&state, &p, |s, m| s.querier.label_names(m)).await
}

/// `/api/v1/label/<name>/values`.
pub async fn label_values(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    // Prometheus 3 allows `U__` escaped names; plain names are the common case.
    let p = Params::parse(q.as_deref().unwrap_or(""), None);
    union_over_selectors(&state, &p, move |s, m| s.querier.label_values(&name, m)).await
}

/// The sorted union of what `list` returns for each `match[]` selector (for all
/// series when there is none), cut at `limit`: the answer of `/labels` and
/// `/label/<name>/values`.
async fn union_over_selectors<F>(state: &Arc<AppState>, p: &Params, list: F) -> Response
where
    F: Fn(&AppState, &[Matcher]) -> tsdb::core::Result<Vec<String>> + Send + 'static,
{
    unwrap_response(
        async {
            let sels = selectors(p, false)?;
            range_hints(p)?;
            let limit = limit_param(p)?;
            let names = run(state, move |s| {
                let sels = if sels.is_empty() {
                    vec![Vec::new()]
                } else {
                    sels
                };
                let mut all = BTreeSet::new();
                for m in &sels {
                    all.extend(list(s, m).map_err(|e| storage_error(&e))?);
                }
                Ok(all.into_iter().take(limit).collect::<Vec<_>>())
            })
            .await?;
            Ok(success(&string_array(&names)))
        }
        .await,
    )
}
