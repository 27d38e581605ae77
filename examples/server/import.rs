//! `POST /api/v1/import/json`: a JSON batch endpoint for acknowledged writes.
//!
//! The body is JSON lines (or one JSON array) of series:
//! `{"metric":{"__name__":"up","job":"api"},"values":[1,0.5,"NaN"],"timestamps":[1700000000000,1700000010000,1700000020000]}`.
//! Timestamps are milliseconds; values are numbers or the strings `NaN`,
//! `+Inf`, `-Inf`. Writes are `Durable` (acknowledged after fsync) unless
//! `?mode=buffered`. 200 with the outcome when everything was stored; 400 with
//! the outcome (good series stored) when anything was refused; 500 on a storage
//! fault (nothing stored).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use tsdb::core::{BatchSample, Labels, WriteMode};

use crate::api::Params;
use crate::app::AppState;
use crate::influx::maybe_gunzip;
use crate::ingest::{Outcome, commit, count_refusals};
use crate::metrics::{Protocol, Reason};
use crate::prom_json::{ErrorType, error, json_response, push_str};

/// One series of the import format.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportSeries {
    /// Labels, `__name__` included.
    pub metric: BTreeMap<String, String>,
    /// Values, as many as timestamps.
    pub values: Vec<serde_json::Value>,
    /// Timestamps in ms.
    pub timestamps: Vec<i64>,
}

fn value_of(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "+Inf" | "Inf" => Some(f64::INFINITY),
            "-Inf" => Some(f64::NEG_INFINITY),
            other => other.parse().ok(),
        },
        _ => None,
    }
}

/// Parses the body into series, refusing (and counting) malformed items.
pub fn parse_body(text: &str, outcome: &mut Outcome) -> Vec<ImportSeries> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        return match serde_json::from_str::<Vec<ImportSeries>>(trimmed) {
            Ok(v) => v,
            Err(e) => {
                outcome.refuse(Reason::Malformed, 1, || format!("invalid JSON array: {e}"));
                Vec::new()
            }
        };
    }
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<ImportSeries>(line) {
            Ok(s) => out.push(s),
            Err(e) => outcome.refuse(Reason::Malformed, 1, || format!("line {}: {e}", i + 1)),
        }
    }
    out
}

/// Turns parsed series into a batch.
pub fn to_batch(series: &[ImportSeries], outcome: &mut Outcome) -> Vec<BatchSample> {
    let mut batch = Vec::new();
    for (i, s) in series.iter().enumerate() {
        if s.values.len() != s.timestamps.len() {
            outcome.refuse(Reason::Malformed, s.values.len().max(1), || {
                format!(
                    "series {}: {} values but {} timestamps",
                    i + 1,
                    s.values.len(),
                    s.timestamps.len()
                )
            });
            continue;
        }
        let labels = match Labels::new(s.metric.iter()) {
            Ok(l) => l,
            Err(e) => {
                outcome.refuse(Reason::BadLabels, s.values.len(), || {
                    format!("series {}: invalid labels: {e}", i + 1)
                });
                continue;
            }
        };
        for (v, t) in s.values.iter().zip(&s.timestamps) {
            match value_of(v) {
                Some(value) => batch.push(BatchSample {
                    labels: labels.clone(),
                    t_ms: *t,
                    value,
                }),
                None => outcome.refuse(Reason::Malformed, 1, || {
                    format!("series {}: value {v} is not a number", i + 1)
                }),
            }
        }
    }
    batch
}

/// A `bad_data` error with `status` (400, 413, 415), with the outcome's members if any.
fn import_error(status: StatusCode, msg: &str, outcome: Option<&Outcome>) -> Response {
    let mut body = String::from("{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":");
    push_str(&mut body, msg);
    if let Some(o) = outcome {
        body.push(',');
        body.push_str(&o.json_members());
    }
    body.push('}');
    json_response(status, body)
}

/// `POST /api/v1/import/json`.
pub async fn json(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = Params::parse(query.as_deref().unwrap_or(""), None);
    let mode = match params.get("mode").unwrap_or("durable") {
        "durable" => WriteMode::Durable,
        "buffered" => WriteMode::Buffered,
        other => {
            return error(
                ErrorType::BadData,
                &format!("invalid mode {other:?}: want durable or buffered"),
            );
        }
    };
    let s = Arc::clone(&state);
    let res = tokio::task::spawn_blocking(move || -> Result<Outcome, Response> {
        // Decompressing up to --max-decompressed-bytes is CPU work: off the runtime.
        let body = maybe_gunzip(&headers, body, s.config.max_decompressed_bytes)
            .map_err(|(status, msg)| import_error(status, &msg, None))?;
        let text = std::str::from_utf8(&body)
            .map_err(|e| error(ErrorType::BadData, &format!("body is not UTF-8: {e}")))?;
        let mut outcome = Outcome::default();
        let series = parse_body(text, &mut outcome);
        let batch = to_batch(&series, &mut outcome);
        commit(&s, batch, Some(mode), Protocol::Json, &mut outcome).map_err(|e| {
            error(
                ErrorType::Internal,
                &format!("storage fault, nothing of this request was stored: {e}"),
            )
        })?;
        count_refusals(&s, &outcome);
        Ok(outcome)
    })
    .await;
    match res {
        Ok(Ok(o)) if o.refused_total() == 0 => json_response(
            StatusCode::OK,
            format!("{{\"status\":\"success\",{}}}", o.json_members()),
        ),
        Ok(Ok(o)) => import_error(
            StatusCode::BAD_REQUEST,
            &format!("partial write: {}", o.summary()),
            Some(&o),
        ),
        Ok(Err(r)) => r,
        Err(e) => error(ErrorType::Internal, &e.to_string()),
    }
}
