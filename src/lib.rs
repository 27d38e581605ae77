//! # tsdb
//!
//! An embeddable time-series database for metrics. This root crate re-exports the
//! layers so a host can depend on one crate; each layer is also usable on its own:
//!
//! - [`codec`]: compressed chunks (Gorilla delta-of-delta timestamps, XOR floats,
//!   and denser encodings chosen per chunk).
//! - [`index`]: series identity, postings, matchers and cardinality limits.
//! - [`core`]: the storage engine (WAL, head, blocks, compaction, retention).
//! - [`query`]: PromQL planning and parallel execution.
//! - [`alert`]: alert rules and notifications.
//! - [`dashboard`]: dashboards and widgets.
#![deny(missing_docs)]

pub use tsdb_alert as alert;
pub use tsdb_codec as codec;
pub use tsdb_core as core;
pub use tsdb_dashboard as dashboard;
pub use tsdb_index as index;
pub use tsdb_query as query;
