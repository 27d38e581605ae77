//! The Prometheus remote-write 1.0 and remote-read protobuf messages
//! (`prompb/types.proto`, `prompb/remote.proto`), hand-written with
//! `prost::Message` (only the fields we read or write), and the snappy block
//! format with a bound on the declared decompressed length.

/// `prometheus.WriteRequest`. The server decodes bodies with
/// [`crate::write_view::WriteView`]; this type is the reference encoding (the
/// load generator and the tests encode with it).
#[allow(dead_code)]
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    /// The series and their samples.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    /// Metric metadata (type, help, unit), sent periodically by Prometheus.
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

/// `prometheus.TimeSeries` (exemplars and native histograms are not read).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Labels, `__name__` included.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Samples in time order.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prometheus.Label`. Name and value are `string`s on the wire; they are
/// decoded as byte slices of the request (no allocation per label) and checked
/// for UTF-8 when the series' labels are built.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    /// Label name.
    #[prost(bytes = "bytes", tag = "1")]
    pub name: prost::bytes::Bytes,
    /// Label value.
    #[prost(bytes = "bytes", tag = "2")]
    pub value: prost::bytes::Bytes,
}

impl Label {
    /// A label from strings.
    pub fn new(name: &str, value: &str) -> Label {
        Label {
            name: prost::bytes::Bytes::copy_from_slice(name.as_bytes()),
            value: prost::bytes::Bytes::copy_from_slice(value.as_bytes()),
        }
    }
}

/// `prometheus.Sample`.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Sample {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// `prometheus.MetricMetadata`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricMetadata {
    /// `MetricType`: 0 unknown, 1 counter, 2 gauge, 3 histogram, 4 gauge
    /// histogram, 5 summary, 6 info, 7 stateset.
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    /// The metric family name.
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    /// Help text.
    #[prost(string, tag = "4")]
    pub help: String,
    /// Unit.
    #[prost(string, tag = "5")]
    pub unit: String,
}

/// `prometheus.ReadRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadRequest {
    /// The queries, answered in order.
    #[prost(message, repeated, tag = "1")]
    pub queries: Vec<Query>,
    /// `ResponseType`s the client accepts: 0 samples, 1 streamed XOR chunks.
    #[prost(int32, repeated, tag = "2")]
    pub accepted_response_types: Vec<i32>,
}

/// `prometheus.Query`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Query {
    /// Start of the range, inclusive, ms.
    #[prost(int64, tag = "1")]
    pub start_timestamp_ms: i64,
    /// End of the range, inclusive, ms.
    #[prost(int64, tag = "2")]
    pub end_timestamp_ms: i64,
    /// The selection.
    #[prost(message, repeated, tag = "3")]
    pub matchers: Vec<LabelMatcher>,
}

/// `prometheus.LabelMatcher`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelMatcher {
    /// 0 `=`, 1 `!=`, 2 `=~`, 3 `!~`.
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    /// Label name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// Value or regex.
    #[prost(string, tag = "3")]
    pub value: String,
}

/// `prometheus.ReadResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadResponse {
    /// One result per query, in order.
    #[prost(message, repeated, tag = "1")]
    pub results: Vec<QueryResult>,
}

/// `prometheus.QueryResult`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct QueryResult {
    /// Matching series with their samples.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// Why a snappy body could not be decompressed.
#[derive(Debug, PartialEq, Eq)]
pub enum SnappyError {
    /// The header's declared length is larger than allowed.
    TooLarge {
        /// Declared decompressed length.
        declared: usize,
        /// The limit.
        limit: usize,
    },
    /// Not valid snappy block format.
    Invalid(String),
}

impl std::fmt::Display for SnappyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SnappyError::TooLarge { declared, limit } => write!(
                f,
                "snappy body declares {declared} decompressed bytes, more than the limit of {limit}"
            ),
            SnappyError::Invalid(e) => write!(f, "body is not valid snappy block format: {e}"),
        }
    }
}

/// Decompresses a snappy block-format body after checking the length its
/// header declares against `limit` (a snappy bomb is refused before any
/// allocation).
pub fn snappy_decompress(body: &[u8], limit: usize) -> Result<Vec<u8>, SnappyError> {
    let mut out = Vec::new();
    snappy_decompress_into(body, limit, &mut out)?;
    Ok(out)
}

/// Like [`snappy_decompress`], into `out` (replacing its contents), so that
/// a caller can reuse one buffer for many bodies: only bytes past the
/// buffer's current length are zeroed before decompressing.
pub fn snappy_decompress_into(
    body: &[u8],
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<(), SnappyError> {
    let declared =
        snap::raw::decompress_len(body).map_err(|e| SnappyError::Invalid(e.to_string()))?;
    if declared > limit {
        return Err(SnappyError::TooLarge { declared, limit });
    }
    if out.len() < declared {
        out.resize(declared, 0);
    }
    let dst = out
        .get_mut(..declared)
        .ok_or_else(|| SnappyError::Invalid("output buffer too short".into()))?;
    let n = snap::raw::Decoder::new()
        .decompress(body, dst)
        .map_err(|e| SnappyError::Invalid(e.to_string()))?;
    out.truncate(n);
    Ok(())
}

/// Compresses `data` in snappy block format.
pub fn snappy_compress(data: &[u8]) -> Result<Vec<u8>, SnappyError> {
    snap::raw::Encoder::new()
        .compress_vec(data)
        .map_err(|e| SnappyError::Invalid(e.to_string()))
}
