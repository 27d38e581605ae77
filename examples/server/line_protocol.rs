//! InfluxDB line protocol parser: `measurement[,tag=value...] field=value[,...] [timestamp]`.
//!
//! Escaping follows the InfluxDB 2 reference: in measurements `\,` and `\ `;
//! in tag keys, tag values and field keys `\,`, `\=` and `\ `; in string field
//! values `\"` and `\\`. A backslash before any other character is literal.
//! Field values are floats (`1`, `-1.5e3`), integers (`1i`), unsigned integers
//! (`1u`), booleans (`t`, `true`, `True`, `TRUE`, `f`, …) and strings (`"…"`).
//! Lines starting with `#` and blank lines are skipped.

/// A field value.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldValue {
    /// A float (`1`, `1.5`, `-2e3`).
    Float(f64),
    /// A signed integer (`1i`).
    Int(i64),
    /// An unsigned integer (`1u`).
    UInt(u64),
    /// A boolean.
    Bool(bool),
    /// A string (not stored: time series hold numbers).
    Str(String),
}

impl FieldValue {
    /// The numeric value stored for this field, `None` for strings.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            FieldValue::Float(v) => Some(*v),
            FieldValue::Int(v) => Some(*v as f64),
            FieldValue::UInt(v) => Some(*v as f64),
            FieldValue::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            FieldValue::Str(_) => None,
        }
    }
}

/// One parsed line.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// The measurement.
    pub measurement: String,
    /// Tags in the order written.
    pub tags: Vec<(String, String)>,
    /// Fields in the order written (at least one).
    pub fields: Vec<(String, FieldValue)>,
    /// The timestamp in the request's precision, if the line has one.
    pub timestamp: Option<i64>,
}

/// A line that could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number in the body.
    pub line: usize,
    /// What was wrong.
    pub message: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Timestamp precision of a write (`precision=` parameter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Precision {
    /// Nanoseconds (the default).
    #[default]
    Nanoseconds,
    /// Microseconds.
    Microseconds,
    /// Milliseconds.
    Milliseconds,
    /// Seconds.
    Seconds,
    /// Minutes (InfluxDB 1).
    Minutes,
    /// Hours (InfluxDB 1).
    Hours,
}

impl Precision {
    /// Parses the `precision` parameter of InfluxDB 1 (`n`, `u`, `ms`, `s`, `m`, `h`)
    /// and 2 (`ns`, `us`, `ms`, `s`).
    pub fn parse(s: &str) -> Option<Precision> {
        Some(match s {
            "" | "n" | "ns" => Precision::Nanoseconds,
            "u" | "us" | "µ" | "µs" => Precision::Microseconds,
            "ms" => Precision::Milliseconds,
            "s" => Precision::Seconds,
            "m" => Precision::Minutes,
            "h" => Precision::Hours,
            _ => return None,
        })
    }

    /// Converts a timestamp in this precision to milliseconds (floor), `None` on overflow.
    pub fn to_ms(self, t: i64) -> Option<i64> {
        match self {
            Precision::Nanoseconds => Some(t.div_euclid(1_000_000)),
            Precision::Microseconds => Some(t.div_euclid(1_000)),
            Precision::Milliseconds => Some(t),
            Precision::Seconds => t.checked_mul(1_000),
            Precision::Minutes => t.checked_mul(60_000),
            Precision::Hours => t.checked_mul(3_600_000),
        }
    }
}

/// Parses a whole body: the good lines with their 1-based numbers, and the errors.
pub fn parse_lines(body: &str) -> (Vec<(usize, Point)>, Vec<LineError>) {
    let mut points = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in body.split('\n').enumerate() {
        match parse_line(line) {
            Ok(Some(p)) => points.push((i + 1, p)),
            Ok(None) => {}
            Err(message) => errors.push(LineError {
                line: i + 1,
                message,
            }),
        }
    }
    (points, errors)
}

/// Parses one line; `Ok(None)` for a blank line or a comment.
pub fn parse_line(line: &str) -> Result<Option<Point>, String> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let trimmed = line.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(None);
    }
    let mut cur = Cursor {
        b: trimmed.as_bytes(),
        pos: 0,
    };
    let (measurement, mut stop) = cur.token(b", ", b", ")?;
    if measurement.is_empty() {
        return Err("missing measurement".into());
    }
    let mut tags = Vec::new();
    while stop == Some(b',') {
        let (key, s) = cur.token(b"=, ", b",= ")?;
        if s != Some(b'=') {
            return Err(format!("missing tag value after tag key {key:?}"));
        }
        if key.is_empty() {
            return Err("empty tag key".into());
        }
        let (value, s) = cur.token(b", ", b",= ")?;
        if value.is_empty() {
            return Err(format!("missing tag value for tag key {key:?}"));
        }
        tags.push((key, value));
        stop = s;
    }
    if stop != Some(b' ') {
        return Err("missing fields".into());
    }
    cur.skip_spaces();
    let mut fields = Vec::new();
    loop {
        let (key, s) = cur.token(b"=, ", b",= ")?;
        if key.is_empty() {
            return Err("missing field key".into());
        }
        if s != Some(b'=') {
            return Err(format!("missing field value for field key {key:?}"));
        }
        let (value, s) = if cur.peek() == Some(b'"') {
            cur.pos += 1;
            let v = cur.quoted()?;
            let s = cur.next_byte();
            if !matches!(s, None | Some(b',') | Some(b' ')) {
                return Err(format!("unexpected character after string field {key:?}"));
            }
            (FieldValue::Str(v), s)
        } else {
            let (raw, s) = cur.token(b", ", b"")?;
            (parse_field_value(&key, &raw)?, s)
        };
        fields.push((key, value));
        match s {
            Some(b',') => continue,
            _ => {
                stop = s;
                break;
            }
        }
    }
    let timestamp = if stop == Some(b' ') {
        let rest = cur.rest();
        let rest = rest.trim();
        if rest.is_empty() {
            None
        } else {
            Some(
                rest.parse::<i64>()
                    .map_err(|_| format!("invalid timestamp {rest:?}: want an integer"))?,
            )
        }
    } else {
        None
    };
    Ok(Some(Point {
        measurement,
        tags,
        fields,
        timestamp,
    }))
}

fn parse_field_value(key: &str, raw: &str) -> Result<FieldValue, String> {
    let bad = || format!("invalid value {raw:?} for field {key:?}");
    if raw.is_empty() {
        return Err(format!("missing field value for field key {key:?}"));
    }
    match raw {
        "t" | "T" | "true" | "True" | "TRUE" => return Ok(FieldValue::Bool(true)),
        "f" | "F" | "false" | "False" | "FALSE" => return Ok(FieldValue::Bool(false)),
        _ => {}
    }
    if let Some(i) = raw.strip_suffix('i') {
        return i.parse::<i64>().map(FieldValue::Int).map_err(|_| bad());
    }
    if let Some(u) = raw.strip_suffix('u') {
        return u.parse::<u64>().map(FieldValue::UInt).map_err(|_| bad());
    }
    if !raw
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'+' | b'-' | b'.' | b'e' | b'E'))
    {
        return Err(bad());
    }
    raw.parse::<f64>().map(FieldValue::Float).map_err(|_| bad())
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn next_byte(&mut self) -> Option<u8> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    fn rest(&self) -> String {
        String::from_utf8_lossy(self.b.get(self.pos..).unwrap_or_default()).into_owned()
    }

    /// Reads up to (and consumes) the first unescaped byte of `stops`, which it
    /// returns (`None` at the end of the line). `\x` for `x` in `escapable`
    /// yields `x`; other backslashes are literal.
    fn token(&mut self, stops: &[u8], escapable: &[u8]) -> Result<(String, Option<u8>), String> {
        let mut out = Vec::new();
        while let Some(c) = self.next_byte() {
            if c == b'\\' {
                if let Some(n) = self.peek()
                    && escapable.contains(&n)
                {
                    out.push(n);
                    self.pos += 1;
                    continue;
                }
                out.push(c);
            } else if stops.contains(&c) {
                return Ok((utf8(out)?, Some(c)));
            } else {
                out.push(c);
            }
        }
        Ok((utf8(out)?, None))
    }

    /// Reads a string field value after its opening quote, up to and including
    /// the closing quote.
    fn quoted(&mut self) -> Result<String, String> {
        let mut out = Vec::new();
        while let Some(c) = self.next_byte() {
            match c {
                b'\\' => match self.peek() {
                    Some(n @ (b'"' | b'\\')) => {
                        out.push(n);
                        self.pos += 1;
                    }
                    _ => out.push(c),
                },
                b'"' => return utf8(out),
                _ => out.push(c),
            }
        }
        Err("unterminated string field value".into())
    }
}

fn utf8(v: Vec<u8>) -> Result<String, String> {
    String::from_utf8(v).map_err(|_| "invalid UTF-8".to_string())
}
