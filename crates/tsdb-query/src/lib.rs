//! # tsdb-query (not built yet)
//!
//! Will own PromQL parsing (with the `promql-parser` crate), planning (tier and
//! resolution choice, pushdown to rollups), parallel execution over any
//! `tsdb_core::Querier`, and a bounded result cache.
//!
//! Public API to come, as agreed in the design contract: `Engine::{new, instant, range}`,
//! `Value` (vector, matrix, scalar) and `QueryError`.
#![deny(missing_docs)]
