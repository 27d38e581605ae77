//! The server's own metrics, rendered in the Prometheus text format at `/metrics`.

#[path = "../common/resident.rs"]
mod resident;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tsdb::core::{Error as CoreError, Stats};
use tsdb::index::IndexError;

/// Why a sample (or a line, or a field) was not stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Older than the series' newest sample with out-of-order disabled.
    OutOfOrder,
    /// Older than the out-of-order window, or than the head's minimum valid
    /// time (blocks hold the data up to there: use backfill).
    TooOld,
    /// Timestamp outside the accepted range (retention / future).
    OutOfBounds,
    /// Same series and timestamp with another value.
    Duplicate,
    /// A cardinality limit (series total, per metric, labels, lengths).
    CardinalityLimit,
    /// Invalid labels (empty name, duplicate name, missing metric name, UTF-8).
    BadLabels,
    /// A line-protocol line or JSON item that could not be parsed.
    Malformed,
    /// A line-protocol string field (time series hold numbers).
    StringField,
    /// Anything else the storage refused.
    Other,
}

impl Reason {
    /// Every reason, in the order of the counters.
    pub const ALL: [Reason; 9] = [
        Reason::OutOfOrder,
        Reason::TooOld,
        Reason::OutOfBounds,
        Reason::Duplicate,
        Reason::CardinalityLimit,
        Reason::BadLabels,
        Reason::Malformed,
        Reason::StringField,
        Reason::Other,
    ];

    /// The label value of the reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::OutOfOrder => "out_of_order",
            Reason::TooOld => "too_old",
            Reason::OutOfBounds => "out_of_bounds",
            Reason::Duplicate => "duplicate",
            Reason::CardinalityLimit => "cardinality_limit",
            Reason::BadLabels => "bad_labels",
            Reason::Malformed => "malformed",
            Reason::StringField => "string_field",
            Reason::Other => "other",
        }
    }

    /// The reason of a per-sample refusal of the storage.
    pub fn of(e: &CoreError) -> Reason {
        match e {
            CoreError::OutOfOrder { .. } => Reason::OutOfOrder,
            CoreError::TooOld { .. } | CoreError::BelowMinValidTime { .. } => Reason::TooOld,
            CoreError::OutOfBounds { .. } => Reason::OutOfBounds,
            CoreError::DuplicateConflict { .. } => Reason::Duplicate,
            CoreError::Cardinality(IndexError::CardinalityLimit { .. }) => Reason::CardinalityLimit,
            CoreError::Cardinality(_) => Reason::BadLabels,
            _ => Reason::Other,
        }
    }

    fn index(self) -> usize {
        Reason::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

/// Ingest protocols.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Prometheus remote write.
    RemoteWrite,
    /// InfluxDB line protocol.
    Influx,
    /// The JSON import endpoint.
    Json,
    /// The built-in demo workload.
    Demo,
}

impl Protocol {
    const ALL: [Protocol; 4] = [
        Protocol::RemoteWrite,
        Protocol::Influx,
        Protocol::Json,
        Protocol::Demo,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Protocol::RemoteWrite => "remote_write",
            Protocol::Influx => "influx",
            Protocol::Json => "json",
            Protocol::Demo => "demo",
        }
    }

    fn index(self) -> usize {
        Protocol::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }
}

/// A histogram with fixed buckets, in seconds.
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_us: AtomicU64,
    count: AtomicU64,
}

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_us: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            if secs <= *bound {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.sum_us.fetch_add(
            d.as_micros().min(u64::MAX as u128) as u64,
            Ordering::Relaxed,
        );
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let sum = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

/// The server's counters and histograms.
pub struct ServerMetrics {
    ingested: [AtomicU64; 4],
    refused: [AtomicU64; 9],
    requests_ok: AtomicU64,
    requests_client_error: AtomicU64,
    requests_server_error: AtomicU64,
    /// Latency of `/api/v1/query`.
    pub query_latency: Histogram,
    /// Latency of `/api/v1/query_range`.
    pub range_query_latency: Histogram,
    /// Latency of `Durable` writes (their WAL fsync included).
    pub durable_write_latency: Histogram,
}

impl Default for ServerMetrics {
    fn default() -> Self {
        ServerMetrics {
            ingested: Default::default(),
            refused: Default::default(),
            requests_ok: AtomicU64::new(0),
            requests_client_error: AtomicU64::new(0),
            requests_server_error: AtomicU64::new(0),
            query_latency: Histogram::new(LATENCY_BUCKETS),
            range_query_latency: Histogram::new(LATENCY_BUCKETS),
            durable_write_latency: Histogram::new(LATENCY_BUCKETS),
        }
    }
}

impl ServerMetrics {
    /// Counts stored samples.
    pub fn ingested(&self, p: Protocol, n: usize) {
        if let Some(c) = self.ingested.get(p.index()) {
            c.fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    /// Counts refusals.
    pub fn refused(&self, r: Reason, n: usize) {
        if let Some(c) = self.refused.get(r.index()) {
            c.fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    /// Samples stored through `p` so far.
    pub fn ingested_total(&self, p: Protocol) -> u64 {
        self.ingested
            .get(p.index())
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Counts a finished request by its status code.
    pub fn request(&self, status: u16) {
        let c = match status {
            500.. => &self.requests_server_error,
            400..=499 => &self.requests_client_error,
            _ => &self.requests_ok,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// The text exposition, storage figures included.
    pub fn render(&self, stats: &Stats, process: &Process) -> String {
        let mut out = String::with_capacity(4096);
        let mut head = |name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        head(
            "tsdb_server_ingested_samples_total",
            "counter",
            "Samples stored, by ingest protocol.",
        );
        for p in Protocol::ALL {
            let _ = writeln!(
                out,
                "tsdb_server_ingested_samples_total{{protocol=\"{}\"}} {}",
                p.as_str(),
                self.ingested_total(p)
            );
        }
        let _ = writeln!(
            out,
            "# HELP tsdb_server_refused_samples_total Samples, lines or fields not stored, by reason.\n# TYPE tsdb_server_refused_samples_total counter"
        );
        for (r, c) in Reason::ALL.iter().zip(&self.refused) {
            let _ = writeln!(
                out,
                "tsdb_server_refused_samples_total{{reason=\"{}\"}} {}",
                r.as_str(),
                c.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP tsdb_server_http_requests_total HTTP requests answered, by status class.\n# TYPE tsdb_server_http_requests_total counter"
        );
        for (class, c) in [
            ("2xx", &self.requests_ok),
            ("4xx", &self.requests_client_error),
            ("5xx", &self.requests_server_error),
        ] {
            let _ = writeln!(
                out,
                "tsdb_server_http_requests_total{{code=\"{class}\"}} {}",
                c.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP process_cpu_seconds_total CPU time of the process.\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total {}",
            process.cpu_seconds.unwrap_or(0.0)
        );
        let resident_bytes = process.resident_bytes;
        let gauges: [(&str, &str, &str, u64); 11] = [
            (
                "tsdb_head_series",
                "gauge",
                "Series in the head.",
                stats.series as u64,
            ),
            (
                "tsdb_head_bytes",
                "gauge",
                "Memory held by the head.",
                stats.head_bytes as u64,
            ),
            (
                "tsdb_head_compressed_bytes",
                "gauge",
                "Compressed samples in the head.",
                stats.head_compressed_bytes as u64,
            ),
            (
                "tsdb_index_bytes",
                "gauge",
                "Memory held by the series index.",
                stats.index_bytes as u64,
            ),
            (
                "tsdb_samples_accepted_total",
                "counter",
                "Samples accepted by the storage.",
                stats.samples_accepted,
            ),
            (
                "tsdb_samples_out_of_order_total",
                "counter",
                "Out-of-order samples accepted.",
                stats.samples_out_of_order,
            ),
            (
                "tsdb_wal_bytes_total",
                "counter",
                "WAL bytes written since start.",
                stats.wal_bytes,
            ),
            (
                "tsdb_wal_segments",
                "gauge",
                "WAL segment files.",
                stats.wal_segments as u64,
            ),
            (
                "tsdb_wal_fsyncs_total",
                "counter",
                "WAL fsyncs since start.",
                stats.wal_fsyncs,
            ),
            (
                "tsdb_checkpoints_total",
                "counter",
                "Checkpoints written since start.",
                stats.checkpoints,
            ),
            (
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory of the process.",
                resident_bytes.unwrap_or(0),
            ),
        ];
        for (name, kind, help, v) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        }
        for (name, help, h) in [
            (
                "tsdb_server_query_duration_seconds",
                "Latency of /api/v1/query.",
                &self.query_latency,
            ),
            (
                "tsdb_server_range_query_duration_seconds",
                "Latency of /api/v1/query_range.",
                &self.range_query_latency,
            ),
            (
                "tsdb_server_durable_write_duration_seconds",
                "Latency of Durable writes, WAL fsync included.",
                &self.durable_write_latency,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
            h.render(&mut out, name, "");
        }
        out
    }
}

/// Figures of this process (Linux `/proc`; `None` elsewhere).
#[derive(Clone, Copy, Debug, Default)]
pub struct Process {
    /// Resident memory in bytes.
    pub resident_bytes: Option<u64>,
    /// User plus system CPU time in seconds.
    pub cpu_seconds: Option<f64>,
}

impl Process {
    /// Reads `/proc/self/statm` and `/proc/self/stat`.
    pub fn read() -> Process {
        Process {
            resident_bytes: resident::resident_bytes(),
            cpu_seconds: cpu_seconds(),
        }
    }
}

fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields, in clock ticks of 1/100 s (USER_HZ).
    let rest = stat.rsplit_once(')')?.1;
    let mut f = rest.split_whitespace().skip(11);
    let utime: u64 = f.next()?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}
