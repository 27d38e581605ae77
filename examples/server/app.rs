//! The server: configuration, shared state, the router, start and graceful stop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{Semaphore, oneshot, watch};
use tsdb::core::{CardinalityLimits, Db, HeadQuerier, Options, WriteMode};
use tsdb::query::{Engine, EngineOptions, Limits};

use crate::label_cache::LabelCache;
use crate::memory::BufferPool;
use crate::metrics::ServerMetrics;
use crate::prom_json::{ErrorType, error};
use crate::{api, auth, demo, import, influx, remote_write, status};

/// Everything the server is set up with (the command-line flags).
#[derive(Clone, Debug)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Database directory.
    pub data_dir: PathBuf,
    /// Write mode of remote write and line protocol (JSON import is `Durable`
    /// unless it asks otherwise).
    pub write_mode: WriteMode,
    /// Samples older than now minus this are refused at ingest (0: no limit).
    /// Dropping stored data by age waits for blocks (issue 5).
    pub retention: Duration,
    /// Out-of-order window.
    pub ooo_window: Duration,
    /// Largest request body, compressed.
    pub max_body_bytes: usize,
    /// Largest decompressed request body.
    pub max_decompressed_bytes: usize,
    /// Series one query may read.
    pub max_query_series: usize,
    /// Samples one query may read and produce.
    pub max_query_samples: usize,
    /// Queries evaluated at once; more wait up to the query timeout.
    pub max_concurrent_queries: usize,
    /// Wall-clock limit of one query.
    pub query_timeout: Duration,
    /// Wall-clock limit of one request (body included).
    pub request_timeout: Duration,
    /// Bearer token every endpoint but `/-/healthy` requires.
    pub auth_token: Option<String>,
    /// Cardinality limits.
    pub max_series: usize,
    /// Series per metric name.
    pub max_series_per_metric: usize,
    /// Feed the synthetic demo workload.
    pub demo: bool,
    /// Hosts of the demo workload.
    pub demo_hosts: usize,
}

impl Default for Config {
    fn default() -> Self {
        let limits = CardinalityLimits::default();
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 9201)),
            data_dir: PathBuf::from("data"),
            write_mode: WriteMode::Buffered,
            retention: Duration::ZERO,
            ooo_window: Duration::from_millis(tsdb::core::DEFAULT_OOO_WINDOW_MS as u64),
            max_body_bytes: 32 << 20,
            max_decompressed_bytes: 128 << 20,
            max_query_series: 100_000,
            max_query_samples: 50_000_000,
            max_concurrent_queries: 16,
            query_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(120),
            auth_token: None,
            max_series: limits.max_series_total,
            max_series_per_metric: limits.max_series_per_metric,
            demo: false,
            demo_hosts: 20,
        }
    }
}

/// State shared by the handlers.
pub struct AppState {
    /// The database.
    pub db: Arc<Db>,
    /// A querier over it.
    pub querier: HeadQuerier,
    /// The PromQL engine.
    pub engine: Engine<HeadQuerier>,
    /// The server's metrics.
    pub metrics: ServerMetrics,
    /// Remote write's cache of series labels.
    pub label_cache: LabelCache,
    /// Remote write's reusable decompression buffers.
    pub body_buffers: BufferPool,
    /// The configuration.
    pub config: Config,
    /// Permits for concurrent queries (shared, so that a permit can go with the
    /// blocking work it guards).
    pub query_slots: Arc<Semaphore>,
    /// Cleared when shutting down (`/-/ready` answers 503).
    pub ready: AtomicBool,
    /// When the server started.
    pub started: Instant,
}

impl AppState {
    /// Oldest timestamp accepted at ingest under the retention, in ms.
    pub fn min_ingest_time_ms(&self) -> i64 {
        let r = self.config.retention.as_millis() as i64;
        if r == 0 {
            i64::MIN
        } else {
            now_ms().saturating_sub(r)
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A running server.
pub struct Server {
    /// The bound address (the port chosen when listening on port 0).
    pub addr: SocketAddr,
    /// The shared state.
    pub state: Arc<AppState>,
    stop: oneshot::Sender<()>,
    serve: tokio::task::JoinHandle<std::io::Result<()>>,
    demo: Option<(watch::Sender<bool>, tokio::task::JoinHandle<()>)>,
}

/// Opens the database, binds the listener and starts serving.
pub async fn start(mut config: Config) -> Result<Server, String> {
    config.max_concurrent_queries = config.max_concurrent_queries.max(1);
    let options = Options {
        write_mode: config.write_mode,
        ooo_window_ms: config.ooo_window.as_millis() as i64,
        limits: CardinalityLimits {
            max_series_total: config.max_series,
            max_series_per_metric: config.max_series_per_metric,
            ..CardinalityLimits::default()
        },
        // Blocks older than the retention are dropped whole by the database's
        // maintenance thread; ingest also refuses samples already past it.
        retention_ms: i64::try_from(config.retention.as_millis()).unwrap_or(i64::MAX),
        ..Options::default()
    };
    let dir = config.data_dir.clone();
    let db = tokio::task::spawn_blocking(move || Db::open(&dir, options))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| {
            format!(
                "cannot open the database in {}: {e}",
                config.data_dir.display()
            )
        })?;
    let querier = db.querier();
    let engine = Engine::with_options(
        db.querier(),
        EngineOptions {
            limits: Limits {
                max_series: config.max_query_series,
                max_samples: config.max_query_samples,
                timeout: Some(config.query_timeout),
                ..Limits::default()
            },
            ..EngineOptions::default()
        },
    );
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let state = Arc::new(AppState {
        db: Arc::new(db),
        querier,
        engine,
        metrics: ServerMetrics::default(),
        // The database holds at most `max_series` series: more cached label
        // sets than that per generation can only be churn.
        label_cache: LabelCache::new(config.max_series),
        body_buffers: BufferPool::for_bodies(),
        query_slots: Arc::new(Semaphore::new(config.max_concurrent_queries)),
        config,
        ready: AtomicBool::new(true),
        started: Instant::now(),
    });
    let demo = if state.config.demo {
        let (tx, rx) = watch::channel(false);
        Some((tx, tokio::spawn(demo::run(Arc::clone(&state), rx))))
    } else {
        None
    };
    let app = router(Arc::clone(&state));
    let (stop, stopped) = oneshot::channel::<()>();
    let serve = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    Ok(Server {
        addr,
        state,
        stop,
        serve,
        demo,
    })
}

impl Server {
    /// Stops accepting requests, lets those in flight finish, stops the demo,
    /// then flushes and closes the database.
    pub async fn stop(self) -> Result<(), String> {
        self.state.ready.store(false, Ordering::SeqCst);
        let _ = self.stop.send(());
        let served = match self.serve.await {
            Ok(r) => r.map_err(|e| format!("server error: {e}")),
            Err(e) => Err(format!("server task: {e}")),
        };
        if let Some((tx, handle)) = self.demo {
            let _ = tx.send(true);
            let _ = handle.await;
        }
        // Flush and close even when serving failed: acknowledged writes must
        // not be lost to an error of the listener.
        let state = self.state;
        let closed = tokio::task::spawn_blocking(move || close(state))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r);
        served.and(closed)
    }
}

fn close(state: Arc<AppState>) -> Result<(), String> {
    let db = Arc::clone(&state.db);
    drop(state);
    match Arc::try_unwrap(db) {
        Ok(db) => db.close().map_err(|e| format!("closing the database: {e}")),
        // A request still holds it: make everything durable; the last drop closes it.
        Err(db) => db
            .flush()
            .map_err(|e| format!("flushing the database: {e}")),
    }
}

/// The routes.
pub fn router(state: Arc<AppState>) -> Router {
    let max_body = state.config.max_body_bytes;
    Router::new()
        .route("/-/healthy", get(healthy).head(healthy))
        .route("/-/ready", get(ready).head(ready))
        .route("/metrics", get(metrics))
        .route("/api/v1/write", post(remote_write::write))
        .route("/api/v1/read", post(remote_write::read))
        .route("/write", post(influx::write))
        .route("/api/v2/write", post(influx::write))
        .route("/api/v1/import/json", post(import::json))
        .route("/api/v1/query", get(api::query).post(api::query))
        .route(
            "/api/v1/query_range",
            get(api::query_range).post(api::query_range),
        )
        .route("/api/v1/series", get(api::series).post(api::series))
        .route("/api/v1/labels", get(api::labels).post(api::labels))
        .route("/api/v1/label/{name}/values", get(api::label_values))
        .route("/api/v1/metadata", get(status::metadata))
        .route("/api/v1/status/buildinfo", get(status::buildinfo))
        .route("/api/v1/status/tsdb", get(status::tsdb_status))
        .route(
            "/api/v1/query_exemplars",
            get(status::exemplars).post(status::exemplars),
        )
        .route("/api/v1/rules", get(status::rules))
        .route("/api/v1/alerts", get(status::alerts))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            auth::require_token,
        ))
        .layer(middleware::from_fn_with_state(Arc::clone(&state), guard))
        .with_state(state)
}

/// Bounds every request in time and counts it by status.
async fn guard(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let resp = match tokio::time::timeout(state.config.request_timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => error(
            ErrorType::Unavailable,
            &format!(
                "request timed out after {:?} (--request-timeout)",
                state.config.request_timeout
            ),
        ),
    };
    state.metrics.request(resp.status().as_u16());
    resp
}

async fn healthy() -> &'static str {
    "tsdb is Healthy.\n"
}

async fn ready(State(state): State<Arc<AppState>>) -> Response {
    if state.ready.load(Ordering::SeqCst) {
        "tsdb is Ready.\n".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable\n").into_response()
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let s = Arc::clone(&state);
    let text = tokio::task::spawn_blocking(move || {
        s.metrics
            .render(&s.db.stats(), &crate::metrics::Process::read())
    })
    .await;
    match text {
        Ok(t) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            t,
        )
            .into_response(),
        Err(e) => error(ErrorType::Internal, &e.to_string()),
    }
}

async fn not_found(req: Request) -> Response {
    error(
        ErrorType::NotFound,
        &format!("no endpoint {} {}", req.method(), req.uri().path()),
    )
}
