//! The read and write traits a host programs against, and their types.

use std::sync::Arc;

use tsdb_index::{Labels, Matcher};

use crate::error::{Error, Result};

/// Resolution a read is served from. Only [`Tier::Raw`] exists until rollups land.
#[non_exhaustive]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Tier {
    /// Raw samples as written.
    #[default]
    Raw,
    /// Five-minute rollups.
    FiveMinutes,
    /// One-hour rollups.
    OneHour,
    /// One-day rollups.
    OneDay,
}

/// What a select asks for besides its matchers.
#[derive(Clone, Debug)]
pub struct SelectHints {
    /// Start of the time range, inclusive, in ms.
    pub min_time_ms: i64,
    /// End of the time range, inclusive, in ms.
    pub max_time_ms: i64,
    /// The resolution wanted.
    pub tier: Tier,
}

impl SelectHints {
    /// Raw samples in `[min_time_ms, max_time_ms]`.
    pub fn range(min_time_ms: i64, max_time_ms: i64) -> SelectHints {
        SelectHints {
            min_time_ms,
            max_time_ms,
            tier: Tier::Raw,
        }
    }
}

/// One series with its samples in a selected range: timestamps strictly
/// increasing, all inside the range, `timestamps.len() == values.len()`.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// The series' labels.
    pub labels: Labels,
    /// Sample timestamps in ms.
    pub timestamps: Vec<i64>,
    /// Sample values (NaN payloads preserved bit-exactly).
    pub values: Vec<f64>,
}

/// Reads series and labels. The head implements it now; blocks will too, so a
/// block writer can persist the head by reading it.
pub trait Querier: Send + Sync {
    /// Series matching all matchers with their samples in `[min, max]`, sorted
    /// by labels. Series with no sample in range are omitted.
    fn select(&self, matchers: &[Matcher], hints: &SelectHints) -> Result<Vec<Series>>;
    /// Label sets of matching series that have samples in `[min, max]`.
    fn series(&self, matchers: &[Matcher], hints: &SelectHints) -> Result<Vec<Labels>>;
    /// Label names of the matching series (all series when `matchers` is empty).
    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>>;
    /// Values of label `name` among the matching series.
    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>>;
}

impl<Q: Querier + ?Sized> Querier for Arc<Q> {
    fn select(&self, matchers: &[Matcher], hints: &SelectHints) -> Result<Vec<Series>> {
        (**self).select(matchers, hints)
    }
    fn series(&self, matchers: &[Matcher], hints: &SelectHints) -> Result<Vec<Labels>> {
        (**self).series(matchers, hints)
    }
    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>> {
        (**self).label_names(matchers)
    }
    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>> {
        (**self).label_values(name, matchers)
    }
}

impl<Q: Querier + ?Sized> Querier for &Q {
    fn select(&self, matchers: &[Matcher], hints: &SelectHints) -> Result<Vec<Series>> {
        (**self).select(matchers, hints)
    }
    fn series(&self, matchers: &[Matcher], hints: &SelectHints) -> Result<Vec<Labels>> {
        (**self).series(matchers, hints)
    }
    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>> {
        (**self).label_names(matchers)
    }
    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>> {
        (**self).label_values(name, matchers)
    }
}

/// When a write is acknowledged.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum WriteMode {
    /// Acknowledged once in the WAL's OS buffers and the head; a background
    /// flusher fsyncs on an interval. A power loss may drop the last interval; a
    /// crash of the process alone loses nothing acknowledged.
    #[default]
    Buffered,
    /// Acknowledged only after the WAL records are fsync'd. Concurrent durable
    /// writers share fsyncs (group commit).
    Durable,
}

/// What to do with a sample whose series and timestamp exist with another value.
/// Bit-equal values are always accepted idempotently. Only samples still in the
/// head are compared; a sample older than the head's minimum valid time
/// ([`crate::Db::min_valid_time`]) is refused whatever the policy (a bit-equal
/// duplicate of a head sample excepted).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum DuplicatePolicy {
    /// Refuse it with [`Error::DuplicateConflict`].
    #[default]
    Reject,
    /// Replace the stored value. (Two writers racing on the same series and
    /// timestamp have no defined order; recovery replays them in WAL order,
    /// which may differ from the order the head applied them in.)
    LastWriteWins,
}

/// One sample of a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchSample {
    /// The series.
    pub labels: Labels,
    /// Timestamp in ms since the Unix epoch.
    pub t_ms: i64,
    /// The value (any bit pattern, NaN included).
    pub value: f64,
}

/// A sample of a batch that was not taken.
#[derive(Debug)]
pub struct Refused {
    /// Position of the sample in the batch.
    pub index: usize,
    /// Why (a per-sample refusal, see [`Error::is_refusal`]).
    pub error: Error,
}

/// The outcome of [`Appender::append_batch`].
#[derive(Debug, Default)]
pub struct BatchResult {
    /// Samples taken (stored, or bit-equal duplicates of stored samples).
    pub accepted: usize,
    /// Samples refused, in batch order.
    pub refused: Vec<Refused>,
}

/// Writes samples. `Db` implements it; a host can substitute its own.
pub trait Appender: Send + Sync {
    /// Appends one sample with the database's default write mode. A refusal is
    /// returned as the error.
    fn append(&self, labels: &Labels, t_ms: i64, value: f64) -> Result<()>;
    /// Appends a batch. `Ok` means every accepted sample is acknowledged (under
    /// `mode`, or the database's default when `None`); refused samples are listed
    /// and nothing else is lost. `Err` is a storage fault: nothing in the batch
    /// is acknowledged (samples of it may already be visible to readers, and may
    /// or may not survive a crash).
    fn append_batch(&self, batch: &[BatchSample], mode: Option<WriteMode>) -> Result<BatchResult>;
}
