//! Load generator for the example server: N concurrent clients drive
//! Prometheus remote write (protobuf + snappy, keep-alive) for a while, then
//! dashboard-sized range queries are timed; it reports samples/s, query
//! latency percentiles and the server's memory per series (from `/metrics`).
//!
//! ```sh
//! cargo run --release --example server -- --data-dir /tmp/lg &
//! cargo run --release --example loadgen -- --clients 4 --seconds 20
//! ```

#[allow(dead_code)]
#[path = "server/client.rs"]
mod client;
#[allow(dead_code)]
#[path = "server/proto.rs"]
mod proto;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use prost::Message;

use crate::client::Client;
use crate::proto::{Label, Sample, TimeSeries, WriteRequest};

/// Drives the example server with remote write and range queries.
#[derive(Debug, Parser)]
#[command(about)]
struct Args {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1:9201")]
    addr: SocketAddr,
    /// Concurrent writers.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Hosts per writer; each host has `--metrics` series.
    #[arg(long, default_value_t = 250)]
    hosts: usize,
    /// Series per host.
    #[arg(long, default_value_t = 10)]
    metrics: usize,
    /// Samples per series in one request (Prometheus usually sends 1).
    #[arg(long, default_value_t = 10)]
    samples_per_series: usize,
    /// How long to write.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Requests per writer at most (0: no limit, write for `--seconds`); a
    /// fixed amount of data makes memory figures comparable between runs.
    #[arg(long, default_value_t = 0)]
    rounds: u64,
    /// Range queries to time after writing.
    #[arg(long, default_value_t = 200)]
    queries: usize,
    /// The panel query; `{client}` is replaced by a writer's number.
    #[arg(
        long,
        default_value = "sum by (dc) (rate(lg_metric_0{client=\"{client}\"}[5m]))"
    )]
    query: String,
    /// Bearer token, if the server wants one.
    #[arg(long)]
    token: Option<String>,
}

const INTERVAL_MS: i64 = 10_000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn label(n: &str, v: &str) -> Label {
    Label::new(n, v)
}

/// The series of one writer: realistic label sets (seven labels).
fn writer_series(args: &Args, client: usize, run: &str) -> Vec<TimeSeries> {
    let mut out = Vec::with_capacity(args.hosts * args.metrics);
    for h in 0..args.hosts {
        for m in 0..args.metrics {
            out.push(TimeSeries {
                labels: vec![
                    label("__name__", &format!("lg_metric_{m}")),
                    label("client", &client.to_string()),
                    label("dc", &format!("dc-{}", h % 3)),
                    label("host", &format!("host-{client}-{h}")),
                    label(
                        "instance",
                        &format!("10.{client}.{}.{}:9100", h / 250, h % 250),
                    ),
                    label("job", "node"),
                    // Each run writes its own series: a rerun on the same data
                    // is not refused as out of order.
                    label("run", run),
                ],
                samples: Vec::with_capacity(args.samples_per_series),
            });
        }
    }
    out
}

struct Totals {
    samples: AtomicU64,
    requests: AtomicU64,
    errors: AtomicU64,
}

fn writer(args: &Args, id: usize, start_ms: i64, stop: &AtomicBool, totals: &Totals) -> i64 {
    let mut c = Client::new(args.addr);
    c.token = args.token.clone();
    let mut req = WriteRequest {
        timeseries: writer_series(args, id, &(start_ms / 1000).to_string()),
        metadata: Vec::new(),
    };
    let mut t = start_ms;
    let mut x = id as u64 * 7919 + 1;
    let mut sent = 0u64;
    while !stop.load(Ordering::Relaxed) && (args.rounds == 0 || sent < args.rounds) {
        sent += 1;
        for (i, ts) in req.timeseries.iter_mut().enumerate() {
            ts.samples.clear();
            for j in 0..args.samples_per_series {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let v = if i % 2 == 0 {
                    // Counter-like.
                    ((t / INTERVAL_MS) as f64 + j as f64) * 3.0
                } else {
                    ((x >> 40) % 1000) as f64 / 10.0
                };
                ts.samples.push(Sample {
                    value: v,
                    timestamp: t + j as i64 * INTERVAL_MS,
                });
            }
        }
        let body = match proto::snappy_compress(&req.encode_to_vec()) {
            Ok(b) => b,
            Err(_) => break,
        };
        let r = c.request(
            "POST",
            "/api/v1/write",
            &[
                ("Content-Type", "application/x-protobuf"),
                ("Content-Encoding", "snappy"),
                ("X-Prometheus-Remote-Write-Version", "0.1.0"),
            ],
            &body,
        );
        totals.requests.fetch_add(1, Ordering::Relaxed);
        match r {
            Ok(r) if r.status == 204 => {
                let n = req.timeseries.len() * args.samples_per_series;
                totals.samples.fetch_add(n as u64, Ordering::Relaxed);
            }
            Ok(r) => {
                if totals.errors.fetch_add(1, Ordering::Relaxed) < 3 {
                    eprintln!("writer {id}: HTTP {}: {}", r.status, r.text());
                }
            }
            Err(e) => {
                if totals.errors.fetch_add(1, Ordering::Relaxed) < 3 {
                    eprintln!("writer {id}: {e}");
                }
            }
        }
        t += args.samples_per_series as i64 * INTERVAL_MS;
    }
    t
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name) && l.as_bytes().get(name.len()) == Some(&b' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn server_figures(args: &Args) -> Option<String> {
    let mut c = Client::new(args.addr);
    c.token = args.token.clone();
    c.get("/metrics").ok().map(|r| r.text())
}

fn main() -> ExitCode {
    let args = Arc::new(Args::parse());
    let series = args.clients * args.hosts * args.metrics;
    // Start far enough back that the run stays mostly in the past.
    let start_ms = now_ms() - 30 * 86_400_000;
    println!(
        "writing {series} series ({} clients x {} hosts x {} metrics), {} samples/series/request, for {} s",
        args.clients, args.hosts, args.metrics, args.samples_per_series, args.seconds
    );
    let stop = Arc::new(AtomicBool::new(false));
    let totals = Arc::new(Totals {
        samples: AtomicU64::new(0),
        requests: AtomicU64::new(0),
        errors: AtomicU64::new(0),
    });
    let cpu_before = server_figures(&args).and_then(|t| metric(&t, "process_cpu_seconds_total"));
    let started = Instant::now();
    let handles: Vec<_> = (0..args.clients)
        .map(|id| {
            let (args, stop, totals) = (Arc::clone(&args), Arc::clone(&stop), Arc::clone(&totals));
            std::thread::spawn(move || writer(&args, id, start_ms, &stop, &totals))
        })
        .collect();
    let deadline = started + Duration::from_secs(args.seconds);
    let mut last = (Instant::now(), 0u64);
    while Instant::now() < deadline && !handles.iter().all(|h| h.is_finished()) {
        // Polled often, so that a run limited by `--rounds` ends on time.
        std::thread::sleep(
            Duration::from_millis(100).min(deadline.saturating_duration_since(Instant::now())),
        );
        if last.0.elapsed() < Duration::from_secs(5) {
            continue;
        }
        let n = totals.samples.load(Ordering::Relaxed);
        let dt = last.0.elapsed().as_secs_f64();
        println!("  {:>6.0} k samples/s", (n - last.1) as f64 / dt / 1e3);
        last = (Instant::now(), n);
    }
    stop.store(true, Ordering::Relaxed);
    let ends: Vec<i64> = handles.into_iter().filter_map(|h| h.join().ok()).collect();
    let elapsed = started.elapsed().as_secs_f64();
    let samples = totals.samples.load(Ordering::Relaxed);
    println!(
        "ingest: {samples} samples in {elapsed:.1} s = {:.0} samples/s ({} requests, {} errors)",
        samples as f64 / elapsed,
        totals.requests.load(Ordering::Relaxed),
        totals.errors.load(Ordering::Relaxed)
    );

    let cpu_after = server_figures(&args).and_then(|t| metric(&t, "process_cpu_seconds_total"));
    if let (Some(a), Some(b)) = (cpu_before, cpu_after)
        && samples > 0
    {
        let us = (b - a) * 1e6 / samples as f64;
        println!(
            "server CPU: {:.1} s for {samples} samples = {us:.2} us/sample -> {:.2} M samples/s per core of server CPU",
            b - a,
            1.0 / us
        );
    }

    // Dashboard-sized range queries: one panel = one writer's hosts, 1 h at a
    // 15 s step; the end moves each time so the result cache does not answer.
    let end = ends.iter().copied().min().unwrap_or(start_ms) - INTERVAL_MS;
    let mut c = Client::new(args.addr);
    c.token = args.token.clone();
    let mut lat = Vec::with_capacity(args.queries);
    let mut points = 0usize;
    for i in 0..args.queries {
        let q = enc(&args
            .query
            .replace("{client}", &(i % args.clients.max(1)).to_string()));
        // A distinct end each time, so the result cache cannot answer.
        let e = end - i as i64 * 7_001;
        let path = format!(
            "/api/v1/query_range?query={q}&start={}&end={}&step=15",
            (e - 3_600_000) as f64 / 1000.0,
            e as f64 / 1000.0
        );
        let t = Instant::now();
        match c.get(&path) {
            Ok(r) if r.status == 200 => {
                lat.push(t.elapsed());
                points += r.body.iter().filter(|b| **b == b'[').count();
            }
            Ok(r) => {
                eprintln!("query: HTTP {}: {}", r.status, r.text());
                break;
            }
            Err(e) => {
                eprintln!("query: {e}");
                break;
            }
        }
    }
    lat.sort();
    println!(
        "range queries ({:?}, 1 h at 15 s over {} series each, {} queries, ~{} points/answer): p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms",
        args.query,
        args.hosts,
        lat.len(),
        points / lat.len().max(1),
        percentile(&lat, 0.5).as_secs_f64() * 1e3,
        percentile(&lat, 0.9).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3
    );
    match c.get("/metrics") {
        Ok(r) => {
            let text = r.text();
            let rss = metric(&text, "process_resident_memory_bytes").unwrap_or(0.0);
            let n = metric(&text, "tsdb_head_series").unwrap_or(0.0).max(1.0);
            let head = metric(&text, "tsdb_head_bytes").unwrap_or(0.0);
            let index = metric(&text, "tsdb_index_bytes").unwrap_or(0.0);
            let compressed = metric(&text, "tsdb_head_compressed_bytes").unwrap_or(0.0);
            println!(
                "memory: {n:.0} series, RSS {:.1} MiB = {:.0} B/series; head+index {:.0} B/series of which compressed samples {:.0} B/series",
                rss / 1048576.0,
                rss / n,
                (head + index) / n,
                compressed / n
            );
        }
        Err(e) => eprintln!("metrics: {e}"),
    }
    if totals.errors.load(Ordering::Relaxed) > 0 {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
