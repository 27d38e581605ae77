//! The example server's tests: its parsers as units, and the server itself
//! over real HTTP (bound to 127.0.0.1:0 in-process, stopped at the end of
//! each test).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::result_large_err,
    dead_code
)]

#[path = "../../examples/server/api.rs"]
mod api;
#[path = "../../examples/server/app.rs"]
mod app;
#[path = "../../examples/server/auth.rs"]
mod auth;
#[path = "../../examples/server/client.rs"]
mod client;
#[path = "../../examples/server/demo.rs"]
mod demo;
#[path = "../../examples/server/import.rs"]
mod import;
#[path = "../../examples/server/influx.rs"]
mod influx;
#[path = "../../examples/server/ingest.rs"]
mod ingest;
#[path = "../../examples/server/label_cache.rs"]
mod label_cache;
#[path = "../../examples/server/line_protocol.rs"]
mod line_protocol;
#[path = "../../examples/server/memory.rs"]
mod memory;
#[path = "../../examples/server/metrics.rs"]
mod metrics;
#[path = "../../examples/server/prom_json.rs"]
mod prom_json;
#[path = "../../examples/server/proto.rs"]
mod proto;
#[path = "../../examples/server/remote_write.rs"]
mod remote_write;
#[path = "../../examples/server/status.rs"]
mod status;
#[path = "../../examples/server/write_view.rs"]
mod write_view;

mod harness;
mod t_api;
mod t_demo;
mod t_ingest;
mod t_line_protocol;
mod t_safety;
mod t_write_view;
