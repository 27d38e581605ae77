//! Status and catalog endpoints: `/api/v1/metadata`, `/api/v1/status/buildinfo`,
//! `/api/v1/status/tsdb` (the cardinality explorer), and the empty answers
//! Grafana asks for (`query_exemplars`, `rules`, `alerts`: none are stored here).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::Response;
use tsdb::core::{
    DEFAULT_MAX_TIMESTAMP_MS, DEFAULT_MIN_TIMESTAMP_MS, Labels, MatchOp, Matcher, MetricKind,
    Querier, SelectHints,
};

use crate::api::{Params, bad, limit_param, run, storage_error, unwrap_response};
use crate::app::AppState;
use crate::prom_json::{ErrorType, error, push_str, success};

/// `/api/v1/metadata`: `{"<metric>":[{"type":…,"help":…,"unit":…}]}`.
pub async fn metadata(State(state): State<Arc<AppState>>, RawQuery(q): RawQuery) -> Response {
    let p = Params::parse(q.as_deref().unwrap_or(""), None);
    let limit = match limit_param(&p) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let metric = p.get("metric").filter(|m| !m.is_empty());
    let mut out = String::from("{");
    let list = state.db.list_metadata();
    let items = list
        .iter()
        .filter(|m| metric.is_none_or(|name| m.name == name))
        .take(limit);
    for (i, m) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str(&mut out, &m.name);
        out.push_str(":[{\"type\":");
        push_str(
            &mut out,
            match m.kind {
                MetricKind::Counter => "counter",
                MetricKind::Gauge => "gauge",
                MetricKind::Histogram => "histogram",
            },
        );
        out.push_str(",\"help\":");
        push_str(&mut out, &m.description);
        out.push_str(",\"unit\":");
        push_str(&mut out, &m.unit);
        out.push_str("}]");
    }
    out.push('}');
    success(&out)
}

/// `/api/v1/status/buildinfo`. `version` is the Prometheus API level we
/// answer like (Grafana reads it to pick features); ours is `tsdbVersion`.
pub async fn buildinfo(State(state): State<Arc<AppState>>) -> Response {
    let uptime = state.started.elapsed().as_secs();
    success(&format!(
        "{{\"version\":\"2.53.0\",\"revision\":\"\",\"branch\":\"\",\"buildUser\":\"\",\"buildDate\":\"\",\"goVersion\":\"\",\"application\":\"tsdb\",\"tsdbVersion\":\"{}\",\"uptimeSeconds\":{uptime}}}",
        env!("CARGO_PKG_VERSION")
    ))
}

fn push_top(out: &mut String, key: &str, counts: HashMap<String, u64>, limit: usize) {
    let mut v: Vec<(String, u64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    push_str(out, key);
    out.push_str(":[");
    for (i, (name, value)) in v.into_iter().take(limit).enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        push_str(out, &name);
        out.push_str(&format!(",\"value\":{value}}}"));
    }
    out.push(']');
}

/// The cardinality explorer's figures over a set of series.
pub fn tsdb_status_data(series: &[Labels], num_series: usize, limit: usize) -> String {
    let mut by_metric: HashMap<String, u64> = HashMap::new();
    let mut by_pair: HashMap<String, u64> = HashMap::new();
    let mut values: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for l in series {
        if let Some(m) = l.metric_name() {
            *by_metric.entry(m.to_string()).or_default() += 1;
        }
        for (n, v) in l.iter() {
            *by_pair.entry(format!("{n}={v}")).or_default() += 1;
            values.entry(n).or_default().insert(v);
        }
    }
    let value_counts = values
        .iter()
        .map(|(n, v)| (n.to_string(), v.len() as u64))
        .collect();
    let memory = values
        .iter()
        .map(|(n, v)| (n.to_string(), v.iter().map(|s| s.len() as u64).sum()))
        .collect();
    let pairs = by_pair.len();
    let mut out =
        format!("{{\"headStats\":{{\"numSeries\":{num_series},\"numLabelPairs\":{pairs}}},");
    push_top(&mut out, "seriesCountByMetricName", by_metric, limit);
    out.push(',');
    push_top(&mut out, "labelValueCountByLabelName", value_counts, limit);
    out.push(',');
    push_top(&mut out, "memoryInBytesByLabelName", memory, limit);
    out.push(',');
    push_top(&mut out, "seriesCountByLabelValuePair", by_pair, limit);
    out.push('}');
    out
}

/// `/api/v1/status/tsdb`: the cardinality explorer (`?limit=`, default 10).
pub async fn tsdb_status(State(state): State<Arc<AppState>>, RawQuery(q): RawQuery) -> Response {
    let p = Params::parse(q.as_deref().unwrap_or(""), None);
    let limit = match p.get("limit") {
        None | Some("") => 10,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if n > 0 => n.min(10_000),
            _ => return bad("limit", format!("{s:?} is not a positive integer")),
        },
    };
    unwrap_response(
        run(&state, move |s| {
            let all = [Matcher::new(MatchOp::RegexMatch, "__name__", ".+")
                .map_err(|e| error(ErrorType::Internal, &e.to_string()))?];
            let hints = SelectHints::range(DEFAULT_MIN_TIMESTAMP_MS, DEFAULT_MAX_TIMESTAMP_MS);
            let series = s
                .querier
                .series(&all, &hints)
                .map_err(|e| storage_error(&e))?;
            let num = s.db.stats().series;
            Ok(success(&tsdb_status_data(&series, num, limit)))
        })
        .await,
    )
}

/// `/api/v1/query_exemplars`: exemplars are not stored, so always none.
pub async fn exemplars() -> Response {
    success("[]")
}

/// `/api/v1/rules`: recording and alerting rules are not evaluated here (yet).
pub async fn rules() -> Response {
    success("{\"groups\":[]}")
}

/// `/api/v1/alerts`: no alerts.
pub async fn alerts() -> Response {
    success("{\"alerts\":[]}")
}
