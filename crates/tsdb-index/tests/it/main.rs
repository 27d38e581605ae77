//! Integration tests for tsdb-index (one binary, modules by concern).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
mod concurrency;
mod corruption;
mod format;
mod golden;
mod limits;
mod mem_index;
mod proptests;
mod review_index_sparse;
mod select;
mod sparse_ids;
