//! `--demo`: a realistic synthetic workload so a newcomer sees live data at
//! once: hosts with CPU seconds by mode, memory, HTTP request counters (with
//! an occasional restart that resets them) and request-latency histograms.
//! The last hour is backfilled at start, then a scrape is written every 10 s.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tsdb::core::{BatchSample, Labels, MetricKind, MetricMetadata};

use crate::app::{AppState, now_ms};
use crate::ingest::{Outcome, commit, count_refusals};
use crate::metrics::Protocol;

const INTERVAL_MS: i64 = 10_000;
const BACKFILL_MS: i64 = 3_600_000;
const MODES: [&str; 4] = ["user", "system", "iowait", "idle"];
const ROUTES: [(&str, &str); 3] = [
    ("GET", "/api/items"),
    ("POST", "/api/orders"),
    ("GET", "/health"),
];
const LE: [&str; 8] = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "1", "+Inf"];
const LE_F: [f64; 7] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Host {
    name: String,
    cpu: [[f64; 4]; 2],
    requests: [f64; 3],
    buckets: [[f64; 8]; 3],
    sum: [f64; 3],
    mem_total: f64,
    mem_used: f64,
}

/// The demo workload's state.
pub struct Workload {
    hosts: Vec<Host>,
    rng: Rng,
}

fn l(pairs: &[(&str, &str)]) -> Option<Labels> {
    Labels::new(pairs.iter().copied()).ok()
}

impl Workload {
    /// `n` hosts.
    pub fn new(n: usize) -> Workload {
        let hosts = (0..n)
            .map(|i| Host {
                name: format!("host-{i:03}"),
                cpu: [[0.0; 4]; 2],
                requests: [0.0; 3],
                buckets: [[0.0; 8]; 3],
                sum: [0.0; 3],
                mem_total: (8 << (i % 3)) as f64 * 1_073_741_824.0,
                mem_used: 2.0 * 1_073_741_824.0,
            })
            .collect();
        Workload {
            hosts,
            rng: Rng(0x9e37_79b9_7f4a_7c15),
        }
    }

    /// One scrape of every host at `t_ms`.
    pub fn scrape(&mut self, t_ms: i64) -> Vec<BatchSample> {
        let mut out = Vec::new();
        let load = 0.5 + 0.4 * ((t_ms as f64 / 600_000.0).sin());
        let rng = &mut self.rng;
        for h in &mut self.hosts {
            let host = h.name.as_str();
            let mut push = |labels: Option<Labels>, value: f64| {
                if let Some(labels) = labels {
                    out.push(BatchSample {
                        labels,
                        t_ms,
                        value,
                    });
                }
            };
            for (c, cpu) in h.cpu.iter_mut().enumerate() {
                let busy = (load + 0.2 * (rng.next_f64() - 0.5)).clamp(0.0, 1.0);
                let shares = [busy * 0.7, busy * 0.25, busy * 0.05, 1.0 - busy];
                let cpu_name = c.to_string();
                for ((mode, acc), share) in MODES.iter().zip(cpu.iter_mut()).zip(shares) {
                    *acc += share * INTERVAL_MS as f64 / 1000.0;
                    push(
                        l(&[
                            ("__name__", "node_cpu_seconds_total"),
                            ("host", host),
                            ("cpu", &cpu_name),
                            ("mode", mode),
                        ]),
                        *acc,
                    );
                }
            }
            h.mem_used = (h.mem_used + (rng.next_f64() - 0.5) * 1e8).clamp(5e8, h.mem_total * 0.95);
            push(
                l(&[("__name__", "node_memory_used_bytes"), ("host", host)]),
                h.mem_used.round(),
            );
            push(
                l(&[("__name__", "node_memory_total_bytes"), ("host", host)]),
                h.mem_total,
            );
            // A restart now and then resets the process' counters.
            let restart = rng.next_f64() < 0.002;
            for (r, (method, route)) in ROUTES.iter().enumerate() {
                if restart {
                    h.requests = [0.0; 3];
                    h.buckets = [[0.0; 8]; 3];
                    h.sum = [0.0; 3];
                }
                let n = (load * 50.0 * (r as f64 + 1.0) * (0.8 + 0.4 * rng.next_f64())).round();
                let errors = (n * 0.01 * rng.next_f64()).round();
                if let Some(c) = h.requests.get_mut(r) {
                    *c += n;
                }
                let total = h.requests.get(r).copied().unwrap_or(0.0);
                push(
                    l(&[
                        ("__name__", "http_requests_total"),
                        ("host", host),
                        ("method", method),
                        ("route", route),
                        ("status", "200"),
                    ]),
                    total - errors.min(total),
                );
                push(
                    l(&[
                        ("__name__", "http_requests_errors_total"),
                        ("host", host),
                        ("method", method),
                        ("route", route),
                    ]),
                    (total * 0.01).floor(),
                );
                let (Some(buckets), Some(sum)) = (h.buckets.get_mut(r), h.sum.get_mut(r)) else {
                    continue;
                };
                for _ in 0..(n as usize).min(200) {
                    // Log-normal-ish latency around 20 ms, slower under load.
                    let x = 0.02 * (1.0 + load) * (-(rng.next_f64().max(1e-9)).ln()).powf(1.5);
                    *sum += x;
                    for (b, le) in buckets.iter_mut().zip(LE_F.iter().map(Some).chain([None])) {
                        if le.is_none_or(|le| x <= *le) {
                            *b += 1.0;
                        }
                    }
                }
                for (b, le) in buckets.iter().zip(LE) {
                    push(
                        l(&[
                            ("__name__", "http_request_duration_seconds_bucket"),
                            ("host", host),
                            ("route", route),
                            ("le", le),
                        ]),
                        *b,
                    );
                }
                let count = buckets.last().copied().unwrap_or(0.0);
                push(
                    l(&[
                        ("__name__", "http_request_duration_seconds_sum"),
                        ("host", host),
                        ("route", route),
                    ]),
                    *sum,
                );
                push(
                    l(&[
                        ("__name__", "http_request_duration_seconds_count"),
                        ("host", host),
                        ("route", route),
                    ]),
                    count,
                );
            }
        }
        out
    }
}

fn metadata() -> Vec<MetricMetadata> {
    let m = |name: &str, kind, unit: &str, help: &str| MetricMetadata {
        name: name.into(),
        kind,
        unit: unit.into(),
        description: help.into(),
        owner: "demo".into(),
        created_at_ms: now_ms(),
    };
    vec![
        m(
            "node_cpu_seconds_total",
            MetricKind::Counter,
            "seconds",
            "Seconds the CPUs spent in each mode.",
        ),
        m(
            "node_memory_used_bytes",
            MetricKind::Gauge,
            "bytes",
            "Memory in use.",
        ),
        m(
            "node_memory_total_bytes",
            MetricKind::Gauge,
            "bytes",
            "Memory installed.",
        ),
        m(
            "http_requests_total",
            MetricKind::Counter,
            "",
            "HTTP requests served.",
        ),
        m(
            "http_requests_errors_total",
            MetricKind::Counter,
            "",
            "HTTP requests that failed.",
        ),
        m(
            "http_request_duration_seconds",
            MetricKind::Histogram,
            "seconds",
            "HTTP request latency.",
        ),
    ]
}

fn write(state: &AppState, batch: Vec<BatchSample>) {
    let mut outcome = Outcome::default();
    if let Err(e) = commit(state, batch, None, Protocol::Demo, &mut outcome) {
        eprintln!("demo: write failed: {e}");
    }
    count_refusals(state, &outcome);
}

/// Runs the demo until `stop` turns true.
pub async fn run(state: Arc<AppState>, mut stop: watch::Receiver<bool>) {
    let hosts = state.config.demo_hosts;
    let s = Arc::clone(&state);
    let backfill = tokio::task::spawn_blocking(move || {
        for m in metadata() {
            if s.db.metadata(&m.name).is_none() {
                let _ = s.db.set_metadata(m);
            }
        }
        let mut w = Workload::new(hosts);
        if s.db.stats().series > 0 {
            // Data from an earlier run: no backfill over it.
            return w;
        }
        let now = now_ms();
        let mut t = now - BACKFILL_MS;
        t -= t.rem_euclid(INTERVAL_MS);
        while t <= now {
            write(&s, w.scrape(t));
            t += INTERVAL_MS;
        }
        w
    })
    .await;
    let Ok(mut workload) = backfill else { return };
    let mut tick = tokio::time::interval(Duration::from_millis(INTERVAL_MS as u64));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let batch = workload.scrape(now_ms());
        let s = Arc::clone(&state);
        if tokio::task::spawn_blocking(move || write(&s, batch))
            .await
            .is_err()
        {
            return;
        }
    }
}
