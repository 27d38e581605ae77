//! Integration tests for tsdb-core (one binary, modules by concern).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

mod basics;
mod block_crash;
mod blocks;
mod compaction;
mod crash;
mod delete_crash;
mod faults;
mod gc;
mod golden;
mod killed_child;
mod min_valid;
mod model;
mod tombstones;
mod torn_tail;

use std::path::Path;
use std::sync::Arc;

use tsdb_core::storage::MemStorage;
use tsdb_core::{BatchSample, Db, Labels, Matcher, Options, Querier, SelectHints, Series};

/// Labels `{__name__="m", s="<s>"}`.
pub fn series(s: u32) -> Labels {
    Labels::new([("__name__", "m".to_string()), ("s", s.to_string())]).unwrap()
}

/// A batch sample.
pub fn sample(s: u32, t_ms: i64, value: f64) -> BatchSample {
    BatchSample {
        labels: series(s),
        t_ms,
        value,
    }
}

/// Options over an in-memory storage.
pub fn mem_options(mem: &MemStorage) -> Options {
    Options {
        storage: Arc::new(mem.clone()),
        ..Options::default()
    }
}

/// Opens a database in `/db` of an in-memory storage.
pub fn open_mem(mem: &MemStorage, tweak: impl FnOnce(&mut Options)) -> Db {
    let mut o = mem_options(mem);
    tweak(&mut o);
    Db::open(Path::new("/db"), o).unwrap()
}

/// Every series of metric `m` over all time.
pub fn all(q: &impl Querier) -> Vec<Series> {
    q.select(
        &[Matcher::equal("__name__", "m")],
        &SelectHints::range(i64::MIN, i64::MAX),
    )
    .unwrap()
}

/// Every series of metric `name` over all time.
pub fn all_of(q: &impl Querier, name: &str) -> Vec<Series> {
    q.select(
        &[Matcher::equal("__name__", name)],
        &SelectHints::range(i64::MIN, i64::MAX),
    )
    .unwrap()
}
