//! The crate's error type.

use std::path::PathBuf;

use crate::limits::LimitKind;

/// Errors returned by `tsdb-index`.
///
/// Refusals of a single series (bad labels, [`IndexError::CardinalityLimit`]) are their
/// own variants so that a server can map them to a 4xx answer, while storage faults
/// ([`IndexError::Io`], [`IndexError::Corrupt`], [`IndexError::ChecksumMismatch`]) map
/// to a 5xx.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// A label name or value is not valid UTF-8.
    #[error("invalid UTF-8 in label {which} at pair {pair} (byte {byte_offset})")]
    InvalidUtf8 {
        /// `"name"` or `"value"`.
        which: &'static str,
        /// Index of the offending pair in the input.
        pair: usize,
        /// Offset of the first invalid byte inside that name or value.
        byte_offset: usize,
    },
    /// A label name is empty.
    #[error("empty label name")]
    EmptyLabelName,
    /// The same label name appears twice in one label set.
    #[error("duplicate label name {0:?}")]
    DuplicateLabelName(String),
    /// A series was created without a `__name__` label.
    #[error("series has no metric name (label __name__)")]
    MissingMetricName,
    /// A regex matcher did not compile.
    #[error("invalid regex {pattern:?} for label {name:?}: {reason}")]
    InvalidRegex {
        /// The label name of the matcher.
        name: String,
        /// The pattern as given.
        pattern: String,
        /// What the regex engine said.
        reason: String,
    },
    /// A selector whose matchers all match the empty string (it would select every
    /// series).
    #[error("selector needs at least one matcher that does not match the empty string")]
    EmptySelector,
    /// A new series was refused by a cardinality limit. Existing series are unaffected.
    #[error("cardinality limit {limit} (max {max}) refused a new series of metric {metric:?}")]
    CardinalityLimit {
        /// The metric name of the refused series (may be empty if it had none).
        metric: String,
        /// Which limit refused it.
        limit: LimitKind,
        /// The configured maximum.
        max: usize,
    },
    /// A series id is already taken by other labels (or the labels by another id).
    #[error("series id {id} conflicts with an existing series")]
    SeriesIdConflict {
        /// The id that was asked for.
        id: u32,
    },
    /// The 32-bit series id space is used up.
    #[error("series id space exhausted")]
    SeriesIdsExhausted,
    /// The index does not fit the persisted format (a count or size past its field).
    #[error("index too large for the persisted format: {0}")]
    FormatLimit(&'static str),
    /// A canonical label byte form could not be decoded.
    #[error("malformed label bytes at offset {offset}: {what}")]
    MalformedLabels {
        /// Byte offset in the input.
        offset: usize,
        /// What was wrong.
        what: &'static str,
    },
    /// A persisted index file is corrupt or truncated.
    #[error("corrupt index file {file}: at offset {offset}: {what}")]
    Corrupt {
        /// The file.
        file: PathBuf,
        /// Byte offset where the problem was found.
        offset: u64,
        /// What was wrong.
        what: String,
    },
    /// A checksum in a persisted index file did not match.
    #[error(
        "checksum mismatch in {file} ({section}) at offset {offset}: expected {expected:#010x}, found {found:#010x}"
    )]
    ChecksumMismatch {
        /// The file.
        file: PathBuf,
        /// The section whose checksum failed.
        section: &'static str,
        /// Byte offset of the section.
        offset: u64,
        /// The checksum stored in the file.
        expected: u32,
        /// The checksum computed over the bytes.
        found: u32,
    },
    /// An I/O error.
    #[error("index I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Result alias for this crate.
pub type Result<T, E = IndexError> = std::result::Result<T, E>;
