//! # tsdb-index
//!
//! The series index of tsdb. This crate owns:
//!
//! - series identity: [`Labels`] (validated, sorted, cheap to clone, with a stable
//!   [`hash64`](Labels::hash64) and a canonical byte form) and dense [`SeriesId`]s;
//! - symbol interning, so each distinct label name or value is stored once;
//! - postings: for every `name=value`, the sorted set of series ids that carry it
//!   (compressed bitmaps);
//! - [`Matcher`]s (`=`, `!=`, `=~`, `!~`) and selection by intersecting and
//!   subtracting postings, with Prometheus semantics;
//! - [`CardinalityLimits`] that refuse a cardinality bomb at the door, and a
//!   [`CardinalityReport`] for a cardinality explorer;
//! - [`MemIndex`], the concurrent in-memory index of the head;
//! - the persisted, immutable index of a block: [`IndexWriter`] serializes a set of
//!   series, [`IndexReader`] reads it through a memory map (see [`format`](mod@format)).
//!
//! ```
//! use tsdb_index::{CardinalityLimits, Labels, MatchOp, Matcher, MemIndex};
//!
//! let idx = MemIndex::new(CardinalityLimits::default());
//! let a = idx.get_or_create(&Labels::new([("__name__", "cpu"), ("host", "a")])?)?;
//! let b = idx.get_or_create(&Labels::new([("__name__", "cpu"), ("host", "b")])?)?;
//! let _ = idx.get_or_create(&Labels::new([("__name__", "mem"), ("host", "a")])?)?;
//!
//! let sel = idx.select(&[
//!     Matcher::equal("__name__", "cpu"),
//!     Matcher::new(MatchOp::RegexMatch, "host", "a|b")?,
//! ])?;
//! assert_eq!(sel, vec![a, b]);
//! assert_eq!(idx.label_values("host", &[])?, vec!["a", "b"]);
//! # Ok::<(), tsdb_index::IndexError>(())
//! ```
//!
//! ## How it is built
//!
//! - **Identity.** Each distinct string is interned once. A series is spelled by two
//!   ids: the symbol of its first label's value (usually the metric name) and an
//!   interned *label group* holding all its other strings, which the series of one
//!   target share. A lookup hashes nothing (the [`Labels`] carry their
//!   [`hash64`](Labels::hash64) inline), takes no lock, probes a flat open-addressing
//!   table whose 16-byte slots hold the series id and those two ids, and always
//!   verifies the whole label set — two label sets never share an id by hash
//!   collision: the first value against its symbol, the rest against the group,
//!   which from its second series on keeps its strings as bytes (two byte-slice
//!   comparisons), and before that string by string against the interned data. A
//!   hit costs one cache line of the table (huge-page mapped once large) plus data
//!   that many series share. [`MemIndex::get_many`] prefetches a batch's slots and
//!   group heads so that their cache misses overlap. [`MemIndex::remove_many`] takes series out (head GC);
//!   their ids are never handed out again.
//! - **Postings.** One [`roaring`] bitmap per `name=value` (just the id while one
//!   series has the value: a label unique to each series costs no bitmap). [`MemIndex::select`]
//!   intersects the matchers that reject `""` smallest first and subtracts the values
//!   rejected by the others; literal alternations (`a|b|c`) become postings lookups,
//!   prefixes (`foo.*`, and the literal head of any regex) narrow the values tested.
//! - **Limits.** A new series passes [`CardinalityLimits`] or is refused with
//!   [`IndexError::CardinalityLimit`] naming the metric and the limit; refusals are
//!   counted per metric and reported by [`MemIndex::cardinality_report`].
//! - **Persisted form.** [`IndexWriter`] writes the immutable index of a block (format
//!   drawn in `docs/format/index.md`); [`IndexReader`] answers the same queries over a
//!   memory map, verifying checksums as it reads.
#![deny(missing_docs)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

mod append_vec;
mod arena;
mod big_alloc;
mod bytes;
mod error;
pub mod format;
mod labels;
mod limits;
mod matcher;
mod mem;
mod postings;
mod report;
mod series_table;
mod sparse_table;
mod symbols;

pub use error::{IndexError, Result};
pub use format::{IndexReader, IndexWriter};
pub use labels::{Labels, METRIC_NAME, is_classic_label_name, is_classic_metric_name};
pub use limits::{CardinalityLimits, LimitKind};
pub use matcher::{MatchOp, Matcher};
pub use mem::MemIndex;
pub use report::{CardinalityReport, LabelNameCardinality, MetricCardinality};

/// The id of a series: dense from 0 within an index (a head or a block).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct SeriesId(pub u32);

impl std::fmt::Display for SeriesId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}
