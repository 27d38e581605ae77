//! Prometheus remote write 1.0 (`POST /api/v1/write`) and remote read
//! (`POST /api/v1/read`, samples response type).
//!
//! Status codes follow Prometheus' retry rules: 204 when every sample was
//! stored; 400 when the request is malformed or some samples were refused (the
//! others are stored, so a sender must not retry the batch); 413 for a body
//! too large; 500 for a storage fault (nothing of the batch acknowledged: the
//! sender retries).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prost::Message;
use tsdb::core::{
    BatchSample, DEFAULT_MAX_TIMESTAMP_MS, Labels, MatchOp, Matcher, MetricKind, MetricMetadata,
    Querier, SelectHints,
};

use crate::app::{AppState, now_ms};
use crate::ingest::{Outcome, commit, count_refusals};
use crate::label_cache::{self, LabelCache};
use crate::metrics::{Protocol, Reason};
use crate::proto::{self, QueryResult, ReadRequest, ReadResponse, SnappyError, TimeSeries};
use crate::write_view::WriteView;

fn text(status: StatusCode, msg: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        msg,
    )
        .into_response()
}

/// Checks the encoding header.
fn check_encoding(headers: &HeaderMap) -> Result<(), Response> {
    if let Some(enc) = headers.get(header::CONTENT_ENCODING) {
        let enc = enc.to_str().unwrap_or("");
        if !enc.eq_ignore_ascii_case("snappy") {
            return Err(text(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("unsupported Content-Encoding {enc:?}: remote write bodies are snappy"),
            ));
        }
    }
    Ok(())
}

fn snappy_error(e: SnappyError) -> Response {
    match e {
        SnappyError::TooLarge { .. } => text(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
        SnappyError::Invalid(_) => text(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

/// Decompresses (snappy, bounded) and checks the encoding header.
fn decompress(headers: &HeaderMap, body: &[u8], limit: usize) -> Result<Vec<u8>, Response> {
    check_encoding(headers)?;
    proto::snappy_decompress(body, limit).map_err(snappy_error)
}

/// Turns a decoded write request into a batch, refusing series with invalid
/// labels. Series whose encoded labels are in `cache` (and equal to the cached
/// set, checked pair by pair) reuse its `Labels`; for the others the labels
/// are built, and the entries to add to the cache are pushed to `pending`
/// (added by the caller once the database has taken the series).
pub fn to_batch(
    view: &WriteView<'_>,
    cache: &LabelCache,
    pending: &mut Vec<(u64, Labels)>,
    outcome: &mut Outcome,
) -> Vec<BatchSample> {
    let mut batch = Vec::with_capacity(view.samples.len());
    let keys: Vec<Option<u64>> = view
        .series
        .iter()
        .map(|s| {
            if s.samples.is_empty() {
                None
            } else {
                s.label_bytes().map(label_cache::key)
            }
        })
        .collect();
    let mut cached = Vec::with_capacity(keys.len());
    let mut promote = cache.get_many(&keys, &mut cached).into_iter().peekable();
    let mut pairs = Vec::new();
    for (i, ((series, hit), key)) in view.series.iter().zip(cached).zip(&keys).enumerate() {
        let samples = view.samples_of(series);
        if samples.is_empty() {
            continue;
        }
        let from_previous = promote.next_if_eq(&i).is_some();
        let labels = match hit.filter(|l| l.matches_utf8_pairs(view.pairs(series))) {
            Some(l) => {
                if let (true, Some(k)) = (from_previous, key) {
                    pending.push((*k, l.clone()));
                }
                l
            }
            None => {
                pairs.clear();
                if let Err(e) = view.pairs_into(series, &mut pairs) {
                    // Not expected: `WriteView::decode` checked the label fields.
                    outcome.refuse(Reason::BadLabels, samples.len(), || {
                        format!("series with malformed labels: {e}")
                    });
                    continue;
                }
                match Labels::from_utf8_pairs(&pairs) {
                    Ok(l) => {
                        if let Some(k) = key {
                            pending.push((*k, l.clone()));
                        }
                        l
                    }
                    Err(e) => {
                        outcome.refuse(Reason::BadLabels, samples.len(), || {
                            let name = pairs
                                .iter()
                                .find(|(n, _)| *n == b"__name__")
                                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
                                .unwrap_or_default();
                            format!("series {name:?}: invalid labels: {e}")
                        });
                        continue;
                    }
                }
            }
        };
        // The last sample takes the labels themselves: one reference-count
        // update less per series (most series have one sample).
        if let Some((last, rest)) = samples.split_last() {
            for s in rest {
                batch.push(BatchSample {
                    labels: labels.clone(),
                    t_ms: s.timestamp,
                    value: s.value,
                });
            }
            batch.push(BatchSample {
                labels,
                t_ms: last.timestamp,
                value: last.value,
            });
        }
    }
    batch
}

/// `POST /api/v1/write`.
pub async fn write(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let s = Arc::clone(&state);
    let res = tokio::task::spawn_blocking(move || -> Result<Outcome, Response> {
        check_encoding(&headers)?;
        let mut raw = s.body_buffers.take();
        let res = proto::snappy_decompress_into(&body, s.config.max_decompressed_bytes, &mut raw);
        drop(body);
        if let Err(e) = res {
            s.body_buffers.give(raw);
            return Err(snappy_error(e));
        }
        let req = WriteView::decode(&raw).map_err(|e| {
            text(
                StatusCode::BAD_REQUEST,
                format!("body is not a remote-write WriteRequest: {e}"),
            )
        });
        let mut req = match req {
            Ok(req) => req,
            Err(e) => {
                s.body_buffers.give(raw);
                return Err(e);
            }
        };
        let mut outcome = Outcome::default();
        let mut pending = Vec::new();
        let batch = to_batch(&req, &s.label_cache, &mut pending, &mut outcome);
        // The decoded lists and the body are done with: free them before the
        // database work.
        let metadata = std::mem::take(&mut req.metadata);
        drop(req);
        s.body_buffers.give(raw);
        commit(&s, batch, None, Protocol::RemoteWrite, &mut outcome).map_err(|e| {
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("storage fault, nothing of this request was stored: {e}"),
            )
        })?;
        // Cache only label sets the head holds, and the head's own copy: a set
        // refused (limits, bad labels) or whose samples were all dropped (past
        // retention) never passed the database's checks and must not fill the
        // cache; after a restart the head's sets come from the WAL, so keeping
        // its copy means one set in memory, not two.
        // (The head is asked before the cache's lock is taken.)
        let held: Vec<(u64, Labels)> = pending
            .into_iter()
            .filter_map(|(k, l)| s.db.head_labels(&l).map(|h| (k, h)))
            .collect();
        if !held.is_empty() {
            s.label_cache.insert_many(held);
        }
        store_metadata(&s, &metadata);
        count_refusals(&s, &outcome);
        Ok(outcome)
    })
    .await;
    match res {
        Ok(Ok(outcome)) if outcome.refused_total() == 0 => StatusCode::NO_CONTENT.into_response(),
        Ok(Ok(outcome)) => text(
            StatusCode::BAD_REQUEST,
            format!("partial write: {}", outcome.summary()),
        ),
        Ok(Err(resp)) => resp,
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// Records metric metadata sent with a write when it differs from the catalog.
fn store_metadata(state: &AppState, metadata: &[proto::MetricMetadata]) {
    for m in metadata {
        let kind = match m.r#type {
            1 => MetricKind::Counter,
            2 => MetricKind::Gauge,
            3 => MetricKind::Histogram,
            _ => continue,
        };
        let existing = state.db.metadata(&m.metric_family_name);
        if existing
            .as_ref()
            .is_some_and(|e| e.kind == kind && e.description == m.help && e.unit == m.unit)
        {
            continue;
        }
        let meta = MetricMetadata {
            name: m.metric_family_name.clone(),
            kind,
            unit: m.unit.clone(),
            description: m.help.clone(),
            owner: existing.map(|e| e.owner).unwrap_or_default(),
            created_at_ms: now_ms(),
        };
        // Metadata is advisory: an invalid entry is skipped, not an error of the write.
        let _ = state.db.set_metadata(meta);
    }
}

/// Converts remote-read matchers.
pub fn matchers(m: &[proto::LabelMatcher]) -> Result<Vec<Matcher>, String> {
    m.iter()
        .map(|m| {
            let op = match m.r#type {
                0 => MatchOp::Equal,
                1 => MatchOp::NotEqual,
                2 => MatchOp::RegexMatch,
                3 => MatchOp::RegexNoMatch,
                t => return Err(format!("unknown matcher type {t}")),
            };
            Matcher::new(op, &m.name, &m.value).map_err(|e| e.to_string())
        })
        .collect()
}

/// `POST /api/v1/read`: samples response type, snappy-compressed protobuf.
pub async fn read(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    // Remote read shares the queries' slots, and their bounded wait: a burst of
    // reads is told to come back, not parked until a slot frees up.
    let busy = |m| text(StatusCode::SERVICE_UNAVAILABLE, m);
    let failed = |m| text(StatusCode::INTERNAL_SERVER_ERROR, m);
    let res = crate::api::run_with(
        &state,
        busy,
        failed,
        move |s| -> Result<Vec<u8>, Response> {
            let raw = decompress(&headers, &body, s.config.max_decompressed_bytes)?;
            let req = ReadRequest::decode(raw.as_slice()).map_err(|e| {
                text(
                    StatusCode::BAD_REQUEST,
                    format!("body is not a remote-read ReadRequest: {e}"),
                )
            })?;
            let mut resp = ReadResponse::default();
            let (mut series_left, mut samples_left) =
                (s.config.max_query_series, s.config.max_query_samples);
            for q in &req.queries {
                let ms = matchers(&q.matchers).map_err(|e| text(StatusCode::BAD_REQUEST, e))?;
                let hints = SelectHints::range(
                    q.start_timestamp_ms.max(0),
                    q.end_timestamp_ms.min(DEFAULT_MAX_TIMESTAMP_MS),
                );
                let found = s.querier.select(&ms, &hints).map_err(|e| {
                    let code = if e.is_refusal() || matches!(e, tsdb::core::Error::Query(_)) {
                        StatusCode::BAD_REQUEST
                    } else {
                        StatusCode::INTERNAL_SERVER_ERROR
                    };
                    text(code, e.to_string())
                })?;
                let mut result = QueryResult::default();
                for series in found {
                    series_left = series_left.checked_sub(1).ok_or_else(|| {
                        text(
                            StatusCode::BAD_REQUEST,
                            format!(
                                "remote read exceeds {} series (--max-query-series)",
                                s.config.max_query_series
                            ),
                        )
                    })?;
                    samples_left =
                        samples_left
                            .checked_sub(series.values.len())
                            .ok_or_else(|| {
                                text(
                                    StatusCode::BAD_REQUEST,
                                    format!(
                                        "remote read exceeds {} samples (--max-query-samples)",
                                        s.config.max_query_samples
                                    ),
                                )
                            })?;
                    result.timeseries.push(TimeSeries {
                        labels: series
                            .labels
                            .iter()
                            .map(|(n, v)| proto::Label::new(n, v))
                            .collect(),
                        samples: series
                            .timestamps
                            .iter()
                            .zip(&series.values)
                            .map(|(t, v)| proto::Sample {
                                value: *v,
                                timestamp: *t,
                            })
                            .collect(),
                    });
                }
                resp.results.push(result);
            }
            proto::snappy_compress(&resp.encode_to_vec())
                .map_err(|e| text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
        },
    )
    .await;
    match res {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, "application/x-protobuf"),
                (header::CONTENT_ENCODING, "snappy"),
            ],
            body,
        )
            .into_response(),
        Err(resp) => resp,
    }
}
