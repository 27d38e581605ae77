//! The Prometheus HTTP API's wire forms: parsing times and durations, and
//! writing JSON (values as strings, times as unix seconds) in the exact shapes
//! of `/api/v1/*` responses.

use std::fmt::Write as _;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tsdb::core::Labels;
use tsdb::query::Value;

/// Parses a time parameter: RFC 3339 (`2015-07-01T20:10:51.781Z`) or unix
/// seconds with decimals (`1435781451.781`). Returns milliseconds.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let bad = || format!("cannot parse {s:?} to a valid timestamp");
    if let Ok(f) = s.parse::<f64>() {
        if !f.is_finite() {
            return Err(bad());
        }
        let ms = (f * 1000.0).round();
        // Bounded like Prometheus' minTime/maxTime.
        if ms.abs() > 9.2e15 {
            return Err(bad());
        }
        return Ok(ms as i64);
    }
    parse_rfc3339(s).ok_or_else(bad)
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` into milliseconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = s.get(from..from + len)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let sep = |at: usize, c: u8| b.get(at) == Some(&c);
    if !(sep(4, b'-') && sep(7, b'-') && (sep(10, b'T') || sep(10, b't')) && sep(13, b':'))
        || !sep(16, b':')
    {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, min, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut pos = 19;
    let mut frac_ms = 0i64;
    if sep(pos, b'.') {
        pos += 1;
        let start = pos;
        while b.get(pos).is_some_and(|c| c.is_ascii_digit()) {
            pos += 1;
        }
        let digits = s.get(start..pos)?;
        if digits.is_empty() {
            return None;
        }
        let mut padded: String = digits.chars().take(3).collect();
        while padded.len() < 3 {
            padded.push('0');
        }
        frac_ms = padded.parse().ok()?;
    }
    let offset_min = match b.get(pos) {
        Some(b'Z' | b'z') if pos + 1 == b.len() => 0,
        Some(c @ (b'+' | b'-')) if pos + 6 == b.len() && sep(pos + 3, b':') => {
            let m = num(pos + 1, 2)? * 60 + num(pos + 4, 2)?;
            if *c == b'+' { m } else { -m }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec - offset_min * 60;
    Some(secs * 1000 + frac_ms)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses a duration parameter: float seconds (`15`, `0.5`) or a Prometheus
/// duration (`1h30m`, `5m`, `100ms`). Returns milliseconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let bad = || format!("cannot parse {s:?} to a valid duration");
    if let Ok(f) = s.parse::<f64>() {
        if !f.is_finite() || !(0.0..=9.2e12).contains(&f) {
            return Err(bad());
        }
        return Ok((f * 1000.0).round() as i64);
    }
    let mut total: i64 = 0;
    let mut rest = s;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: i64 = rest
            .get(..digits)
            .and_then(|d| d.parse().ok())
            .ok_or_else(bad)?;
        rest = rest.get(digits..).unwrap_or_default();
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = rest.get(..unit_len).unwrap_or_default();
        rest = rest.get(unit_len..).unwrap_or_default();
        let mult = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            _ => return Err(bad()),
        };
        total = n
            .checked_mul(mult)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    Ok(total)
}

/// Appends a JSON string literal.
pub fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends a timestamp as Prometheus writes it: unix seconds, with the
/// milliseconds after a point when not zero (`1435781451.781`, `1435781451`).
pub fn push_time(out: &mut String, t_ms: i64) {
    if t_ms < 0 {
        out.push('-');
    }
    let abs = t_ms.unsigned_abs();
    let (secs, ms) = (abs / 1000, abs % 1000);
    let _ = write!(out, "{secs}");
    if ms != 0 {
        let frac = format!("{ms:03}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
}

/// Appends a sample value as a JSON string the way Prometheus formats it
/// (shortest round-trip digits, no exponent; `NaN`, `+Inf`, `-Inf`).
pub fn push_value(out: &mut String, v: f64) {
    out.push('"');
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        let _ = write!(out, "{v}");
    }
    out.push('"');
}

/// Appends a label set as a JSON object.
pub fn push_labels(out: &mut String, labels: &Labels) {
    out.push('{');
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str(out, name);
        out.push(':');
        push_str(out, value);
    }
    out.push('}');
}

fn push_point(out: &mut String, t_ms: i64, v: f64) {
    out.push('[');
    push_time(out, t_ms);
    out.push(',');
    push_value(out, v);
    out.push(']');
}

/// The `data` object of a query response: `{"resultType":…,"result":…}`.
pub fn query_data(value: &Value) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("{\"resultType\":");
    push_str(&mut out, value.type_name());
    out.push_str(",\"result\":");
    match value {
        Value::Scalar {
            timestamp_ms,
            value,
        } => push_point(&mut out, *timestamp_ms, *value),
        Value::String {
            timestamp_ms,
            value,
        } => {
            out.push('[');
            push_time(&mut out, *timestamp_ms);
            out.push(',');
            push_str(&mut out, value);
            out.push(']');
        }
        Value::Vector(samples) => {
            out.push('[');
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                push_labels(&mut out, &s.labels);
                out.push_str(",\"value\":");
                push_point(&mut out, s.timestamp_ms, s.value);
                out.push('}');
            }
            out.push(']');
        }
        Value::Matrix(series) => {
            out.push('[');
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                push_labels(&mut out, &s.labels);
                out.push_str(",\"values\":[");
                for (j, (t, v)) in s.timestamps.iter().zip(&s.values).enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    push_point(&mut out, *t, *v);
                }
                out.push_str("]}");
            }
            out.push(']');
        }
    }
    out.push('}');
    out
}

/// A JSON array of strings.
pub fn string_array(items: &[String]) -> String {
    let mut out = String::from("[");
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str(&mut out, s);
    }
    out.push(']');
    out
}

/// `{"status":"success","data":<data>}` with HTTP 200.
pub fn success(data: &str) -> Response {
    let mut body = String::with_capacity(data.len() + 32);
    body.push_str("{\"status\":\"success\",\"data\":");
    body.push_str(data);
    body.push('}');
    json_response(StatusCode::OK, body)
}

/// A JSON body with the given status.
pub fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The kinds of API error, as Prometheus names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorType {
    /// 400: a parameter or the query text is wrong.
    BadData,
    /// 422: the query could not be evaluated (or hit a limit).
    Execution,
    /// 503: the query timed out.
    Timeout,
    /// 503: the server is overloaded (too many concurrent queries).
    Unavailable,
    /// 500: a storage fault.
    Internal,
    /// 401: missing or wrong bearer token.
    Unauthorized,
    /// 404: no such endpoint.
    NotFound,
}

impl ErrorType {
    /// The `errorType` string and the HTTP status.
    pub fn parts(self) -> (&'static str, StatusCode) {
        match self {
            ErrorType::BadData => ("bad_data", StatusCode::BAD_REQUEST),
            ErrorType::Execution => ("execution", StatusCode::UNPROCESSABLE_ENTITY),
            ErrorType::Timeout => ("timeout", StatusCode::SERVICE_UNAVAILABLE),
            ErrorType::Unavailable => ("unavailable", StatusCode::SERVICE_UNAVAILABLE),
            ErrorType::Internal => ("internal", StatusCode::INTERNAL_SERVER_ERROR),
            ErrorType::Unauthorized => ("unauthorized", StatusCode::UNAUTHORIZED),
            ErrorType::NotFound => ("not_found", StatusCode::NOT_FOUND),
        }
    }
}

/// `{"status":"error","errorType":…,"error":…}` with the matching HTTP status.
pub fn error(kind: ErrorType, message: &str) -> Response {
    let (name, status) = kind.parts();
    let mut body = String::from("{\"status\":\"error\",\"errorType\":");
    push_str(&mut body, name);
    body.push_str(",\"error\":");
    push_str(&mut body, message);
    body.push('}');
    json_response(status, body)
}
