//! Integration tests of tsdb-query (one binary, modules by concern).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod db;
mod engine;
mod scripts;
