//! The tsdb example server: Prometheus remote write and remote read, InfluxDB
//! line protocol, a JSON import endpoint, the Prometheus HTTP query API (so
//! Grafana's Prometheus data source works unchanged) and its own `/metrics`.
//!
//! ```sh
//! cargo run --release --example server -- --demo
//! curl 'http://127.0.0.1:9201/api/v1/query?query=sum(rate(http_requests_total[1m]))'
//! ```
//!
//! Modules: [`app`] (config, router, start/stop), [`remote_write`] with
//! [`write_view`], [`label_cache`] and [`proto`], [`influx`] and
//! [`line_protocol`], [`import`], [`api`], [`status`] and [`prom_json`],
//! [`metrics`], [`auth`], [`demo`].

// Handlers return `Result<_, Response>`: the error is the HTTP answer itself,
// built once per failed request, so its size does not matter.
#![allow(clippy::result_large_err)]

mod api;
mod app;
mod auth;
mod demo;
mod import;
mod influx;
mod ingest;
mod label_cache;
mod line_protocol;
mod memory;
mod metrics;
mod prom_json;
mod proto;
mod remote_write;
mod status;
mod write_view;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use tsdb::core::WriteMode;

use crate::app::Config;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Mode {
    /// Acknowledge at once; fsync in groups every 100 ms.
    Buffered,
    /// Acknowledge after fsync.
    Durable,
}

/// The tsdb ingest/query server.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on (loopback by default; anything else is reachable by others).
    #[arg(long, default_value = "127.0.0.1:9201")]
    listen: SocketAddr,
    /// Database directory.
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    /// Write mode of remote write and line protocol (JSON import is durable unless `?mode=buffered`).
    #[arg(long, value_enum, default_value = "buffered")]
    write_mode: Mode,
    /// Keep this much data, e.g. `15d`: older blocks are dropped and older samples refused at ingest (0 = keep forever).
    #[arg(long, default_value = "0", value_parser = duration)]
    retention: Duration,
    /// Out-of-order window, e.g. `1h` (0 refuses every out-of-order sample).
    #[arg(long, default_value = "1h", value_parser = duration)]
    out_of_order_window: Duration,
    /// Largest request body in bytes (compressed).
    #[arg(long, default_value_t = 32 << 20)]
    max_body_bytes: usize,
    /// Largest decompressed request body in bytes (checked before decompressing).
    #[arg(long, default_value_t = 128 << 20)]
    max_decompressed_bytes: usize,
    /// Series one query may read.
    #[arg(long, default_value_t = 100_000)]
    max_query_series: usize,
    /// Samples one query may read and produce.
    #[arg(long, default_value_t = 50_000_000)]
    max_query_samples: usize,
    /// Queries evaluated at once.
    #[arg(long, default_value_t = 16)]
    max_concurrent_queries: usize,
    /// Wall-clock limit of one query, e.g. `60s`, and of its wait for a query slot
    /// (so a query may take twice this in all).
    #[arg(long, default_value = "60s", value_parser = duration)]
    query_timeout: Duration,
    /// Wall-clock limit of one request, e.g. `2m`.
    #[arg(long, default_value = "2m", value_parser = duration)]
    request_timeout: Duration,
    /// Series in the database at most.
    #[arg(long)]
    max_series: Option<usize>,
    /// Series per metric name at most.
    #[arg(long)]
    max_series_per_metric: Option<usize>,
    /// File holding a bearer token required by every endpoint but /-/healthy.
    #[arg(long)]
    auth_token_file: Option<PathBuf>,
    /// Feed a synthetic workload (hosts with CPU, memory, request counters, latency histograms).
    #[arg(long)]
    demo: bool,
    /// Hosts of the demo workload.
    #[arg(long, default_value_t = 20)]
    demo_hosts: usize,
}

fn duration(s: &str) -> Result<Duration, String> {
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    prom_json::parse_duration(s).map(|ms| Duration::from_millis(ms as u64))
}

fn config(args: Args) -> Result<Config, String> {
    let defaults = Config::default();
    let auth_token = match &args.auth_token_file {
        Some(p) => Some(auth::read_token_file(p)?),
        None => None,
    };
    Ok(Config {
        listen: args.listen,
        data_dir: args.data_dir,
        write_mode: match args.write_mode {
            Mode::Buffered => WriteMode::Buffered,
            Mode::Durable => WriteMode::Durable,
        },
        retention: args.retention,
        ooo_window: args.out_of_order_window,
        max_body_bytes: args.max_body_bytes,
        max_decompressed_bytes: args.max_decompressed_bytes,
        max_query_series: args.max_query_series,
        max_query_samples: args.max_query_samples,
        max_concurrent_queries: args.max_concurrent_queries,
        query_timeout: args.query_timeout,
        request_timeout: args.request_timeout,
        auth_token,
        max_series: args.max_series.unwrap_or(defaults.max_series),
        max_series_per_metric: args
            .max_series_per_metric
            .unwrap_or(defaults.max_series_per_metric),
        demo: args.demo,
        demo_hosts: args.demo_hosts,
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

async fn serve(config: Config) -> Result<(), String> {
    let demo = config.demo;
    let server = app::start(config).await?;
    let report = server.state.db.recovery_report();
    eprintln!(
        "tsdb server listening on http://{} (data in {}, {} series recovered){}",
        server.addr,
        server.state.db.dir().display(),
        server.state.db.stats().series,
        if demo { ", demo workload on" } else { "" }
    );
    if report.samples_replayed > 0 {
        eprintln!("recovery: {report:?}");
    }
    shutdown_signal().await;
    eprintln!("shutting down: finishing requests, flushing and closing the database");
    server.stop().await?;
    eprintln!("closed");
    Ok(())
}

fn main() -> ExitCode {
    memory::tune_allocator();
    memory::spawn_trimmer();
    let args = Args::parse();
    let result = config(args).and_then(|config| {
        tokio::runtime::Builder::new_multi_thread()
            // Few blocking threads: ingest and queries are CPU-bound, and every
            // extra thread keeps its own allocator arena resident.
            .max_blocking_threads(8)
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the runtime: {e}"))?
            .block_on(serve(config))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
