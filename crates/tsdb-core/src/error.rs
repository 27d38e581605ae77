//! The crate's error type.
//!
//! Two families: per-sample refusals (the sample was looked at and not taken; the
//! rest of a batch goes on; a server maps them to 4xx) and faults (storage or
//! corruption; the operation failed as a whole; a server maps them to 5xx).
//! [`Error::is_refusal`] tells them apart.

use std::path::PathBuf;

/// Everything that can go wrong in `tsdb-core`.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The sample is older than the series' newest sample and out-of-order
    /// ingestion is disabled (window 0).
    #[error(
        "out of order sample: t={t_ms} ms is before the series' newest sample at {max_t_ms} ms"
    )]
    OutOfOrder {
        /// The refused timestamp.
        t_ms: i64,
        /// The series' newest timestamp.
        max_t_ms: i64,
    },
    /// The sample is older than the out-of-order window allows.
    #[error(
        "sample too old: t={t_ms} ms is before the out-of-order window, which starts at {min_t_ms} ms"
    )]
    TooOld {
        /// The refused timestamp.
        t_ms: i64,
        /// The oldest timestamp the series accepts now.
        min_t_ms: i64,
    },
    /// The sample is older than the head's lower bound (its minimum valid
    /// time): blocks already hold the data up to there, so the head takes
    /// nothing older for any series, new, re-created or existing. Such data
    /// goes in with [`crate::Db::backfill`].
    #[error(
        "sample older than the head's lower bound (t={t_ms} ms < {min_valid_ms} ms, the newest block's end minus the out-of-order window): use backfill"
    )]
    BelowMinValidTime {
        /// The refused timestamp.
        t_ms: i64,
        /// The head's minimum valid time: the oldest timestamp it accepts.
        min_valid_ms: i64,
    },
    /// The timestamp is outside the range the database accepts at all.
    #[error("timestamp {t_ms} ms is outside the accepted range [{min_ms}, {max_ms}]")]
    OutOfBounds {
        /// The refused timestamp.
        t_ms: i64,
        /// Smallest accepted timestamp.
        min_ms: i64,
        /// Largest accepted timestamp.
        max_ms: i64,
    },
    /// A sample with the same series and timestamp exists with another value and
    /// the policy is [`crate::DuplicatePolicy::Reject`].
    #[error(
        "duplicate sample at t={t_ms} ms with a different value (stored {existing}, new {new})"
    )]
    DuplicateConflict {
        /// The timestamp.
        t_ms: i64,
        /// The stored value.
        existing: f64,
        /// The refused value.
        new: f64,
    },
    /// The series could not be created or named: invalid labels or a cardinality
    /// limit (the index error names the limit).
    #[error("series refused: {0}")]
    Cardinality(#[from] tsdb_index::IndexError),
    /// A query's matchers were refused by the index (invalid regex, a selector
    /// that matches every series…).
    #[error("invalid selection: {0}")]
    Query(tsdb_index::IndexError),
    /// Metric metadata failed validation.
    #[error("invalid metric metadata: {0}")]
    InvalidMetadata(String),
    /// A file-system operation failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// A file is damaged where it should not be (not a torn WAL tail, which is
    /// repaired and reported instead).
    #[error("corrupt {file}: at offset {offset}: {what}")]
    Corrupt {
        /// The damaged file.
        file: PathBuf,
        /// Byte offset of the damage.
        offset: u64,
        /// What was wrong.
        what: String,
    },
    /// A chunk failed to decode or encode.
    #[error("chunk codec: {0}")]
    Codec(#[from] tsdb_codec::CodecError),
    /// An earlier fsync of the WAL failed: nothing written since can be promised
    /// durable, so the database refuses writes until it is reopened.
    #[error("write-ahead log unusable after a failed fsync: {0}")]
    WalPoisoned(String),
    /// The database was closed.
    #[error("database is closed")]
    Closed,
}

impl Error {
    /// Whether this is a per-sample refusal (bad or unwanted input) rather than a
    /// fault of the database or its storage.
    pub fn is_refusal(&self) -> bool {
        match self {
            Error::OutOfOrder { .. }
            | Error::TooOld { .. }
            | Error::BelowMinValidTime { .. }
            | Error::OutOfBounds { .. }
            | Error::DuplicateConflict { .. }
            | Error::InvalidMetadata(_) => true,
            Error::Cardinality(e) => !matches!(
                e,
                tsdb_index::IndexError::Io(_)
                    | tsdb_index::IndexError::Corrupt { .. }
                    | tsdb_index::IndexError::ChecksumMismatch { .. }
            ),
            _ => false,
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
