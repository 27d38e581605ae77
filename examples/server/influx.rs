//! InfluxDB line protocol ingest (`POST /write`, `POST /api/v2/write`).
//!
//! A field becomes the series `<measurement>_<field>` with the tags as labels.
//! Integers, unsigned integers and booleans (1/0) are stored as floats; string
//! fields are skipped and counted. 204 when everything was stored; 200 with a
//! JSON report when only string fields were skipped; 400 with a JSON report
//! naming the bad lines when lines were malformed or samples refused (the good
//! lines are stored); 500 for a storage fault (nothing stored: retry).

use std::io::Read as _;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tsdb::core::{BatchSample, Labels};

use crate::api::Params;
use crate::app::{AppState, now_ms};
use crate::ingest::{Outcome, commit, count_refusals};
use crate::line_protocol::{Point, Precision, parse_lines};
use crate::metrics::{Protocol, Reason};
use crate::prom_json::{json_response, push_str};

fn influx_error(status: StatusCode, msg: &str, outcome: Option<&Outcome>) -> Response {
    let mut body = String::from("{\"code\":\"invalid\",\"error\":");
    push_str(&mut body, msg);
    body.push_str(",\"message\":");
    push_str(&mut body, msg);
    if let Some(o) = outcome {
        body.push(',');
        body.push_str(&o.json_members());
    }
    body.push('}');
    json_response(status, body)
}

/// Decompresses a gzip body (Telegraf's `influxdb_v2` output default) within
/// `limit`. The error is the status and message; each endpoint shapes its own body.
pub fn maybe_gunzip(
    headers: &HeaderMap,
    body: Bytes,
    limit: usize,
) -> Result<Bytes, (StatusCode, String)> {
    let enc = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity");
    if enc.eq_ignore_ascii_case("identity") || enc.is_empty() {
        return Ok(body);
    }
    if !enc.eq_ignore_ascii_case("gzip") {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("unsupported Content-Encoding {enc:?} (gzip or identity)"),
        ));
    }
    let mut out = Vec::new();
    let mut dec = flate2::read::GzDecoder::new(body.as_ref()).take(limit as u64 + 1);
    dec.read_to_end(&mut out)
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("invalid gzip body: {e}")))?;
    if out.len() > limit {
        return Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("decompressed body is larger than the limit of {limit} bytes"),
        ));
    }
    Ok(Bytes::from(out))
}

/// Turns parsed points into a batch: one sample per numeric field.
pub fn to_batch(
    points: &[(usize, Point)],
    precision: Precision,
    now_ms: i64,
    outcome: &mut Outcome,
) -> Vec<BatchSample> {
    let mut batch = Vec::with_capacity(points.len() * 2);
    for (line, p) in points {
        let t_ms = match p.timestamp {
            None => now_ms,
            Some(t) => match precision.to_ms(t) {
                Some(ms) => ms,
                None => {
                    outcome.refuse(Reason::Malformed, p.fields.len(), || {
                        format!("line {line}: timestamp {t} overflows at precision {precision:?}")
                    });
                    continue;
                }
            },
        };
        for (field, value) in &p.fields {
            let Some(v) = value.as_f64() else {
                outcome.refuse(Reason::StringField, 1, || {
                    format!(
                        "line {line}: string field {field:?} skipped (time series hold numbers)"
                    )
                });
                continue;
            };
            let name = format!("{}_{}", p.measurement, field);
            let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(p.tags.len() + 1);
            pairs.extend(p.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            pairs.push(("__name__", name.as_str()));
            match Labels::new(pairs.iter().copied()) {
                Ok(labels) => batch.push(BatchSample {
                    labels,
                    t_ms,
                    value: v,
                }),
                Err(e) => outcome.refuse(Reason::BadLabels, 1, || {
                    format!("line {line}: field {field:?}: invalid labels: {e}")
                }),
            }
        }
    }
    batch
}

/// `POST /write` (InfluxDB 1) and `POST /api/v2/write` (InfluxDB 2).
pub async fn write(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = Params::parse(query.as_deref().unwrap_or(""), None);
    let precision = match Precision::parse(params.get("precision").unwrap_or("")) {
        Some(p) => p,
        None => {
            return influx_error(
                StatusCode::BAD_REQUEST,
                &format!(
                    "invalid precision {:?}: want ns, us, ms, s (or n, u, m, h)",
                    params.get("precision").unwrap_or("")
                ),
                None,
            );
        }
    };
    let s = Arc::clone(&state);
    let res = tokio::task::spawn_blocking(move || -> Result<Outcome, Response> {
        // Decompressing up to --max-decompressed-bytes is CPU work: off the runtime.
        let body = maybe_gunzip(&headers, body, s.config.max_decompressed_bytes)
            .map_err(|(status, msg)| influx_error(status, &msg, None))?;
        let text = std::str::from_utf8(&body).map_err(|e| {
            influx_error(
                StatusCode::BAD_REQUEST,
                &format!("body is not UTF-8: {e}"),
                None,
            )
        })?;
        let (points, errors) = parse_lines(text);
        let mut outcome = Outcome::default();
        for e in &errors {
            outcome.refuse(Reason::Malformed, 1, || e.to_string());
        }
        let batch = to_batch(&points, precision, now_ms(), &mut outcome);
        commit(&s, batch, None, Protocol::Influx, &mut outcome).map_err(|e| {
            influx_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("storage fault, nothing of this request was stored: {e}"),
                None,
            )
        })?;
        count_refusals(&s, &outcome);
        Ok(outcome)
    })
    .await;
    match res {
        Ok(Ok(o)) if o.refused_total() == 0 => StatusCode::NO_CONTENT.into_response(),
        Ok(Ok(o)) if o.refused_except(&[Reason::StringField]) == 0 => {
            json_response(StatusCode::OK, format!("{{{}}}", o.json_members()))
        }
        Ok(Ok(o)) => influx_error(
            StatusCode::BAD_REQUEST,
            &format!("partial write: {}", o.summary()),
            Some(&o),
        ),
        Ok(Err(r)) => r,
        Err(e) => influx_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string(), None),
    }
}
