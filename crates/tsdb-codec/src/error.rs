//! The codec's error type.

/// Everything that can go wrong encoding or decoding a chunk.
///
/// Decoding never panics: any byte string yields samples or one of these.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// A timestamp was not strictly greater than the previous one in the chunk.
    #[error("timestamp {t} is not after the chunk's last timestamp {last}")]
    OutOfOrder {
        /// The last timestamp already in the chunk.
        last: i64,
        /// The refused timestamp.
        t: i64,
    },
    /// Timestamp and value columns of different lengths were given.
    #[error("{timestamps} timestamps but {values} values")]
    LengthMismatch {
        /// Number of timestamps given.
        timestamps: usize,
        /// Number of values given.
        values: usize,
    },
    /// The chunk already holds [`crate::MAX_CHUNK_SAMPLES`] samples.
    #[error("chunk is full ({max} samples)")]
    ChunkFull {
        /// The limit that was reached.
        max: usize,
    },
    /// The chunk's format version byte is not one this build reads.
    #[error("unknown chunk format version {found} (this build reads version {supported})")]
    UnknownVersion {
        /// The version byte found.
        found: u8,
        /// The version this build writes and reads.
        supported: u8,
    },
    /// The encoding byte names an encoding this build does not know.
    #[error("unknown {section} encoding {found}")]
    UnknownEncoding {
        /// `"timestamp"` or `"value"`.
        section: &'static str,
        /// The encoding id found.
        found: u8,
    },
    /// The input ended before the data it announces.
    #[error("chunk truncated at bit {bit}")]
    Truncated {
        /// Bit offset (within the section being read) where the data ran out, or,
        /// in an XOR section, where the code that needed the missing bits starts.
        bit: usize,
    },
    /// The input is structurally invalid.
    #[error("corrupt chunk at byte {offset}: {what}")]
    Corrupt {
        /// Byte offset (within the section being read) of the problem.
        offset: usize,
        /// What was wrong.
        what: &'static str,
    },
}

/// Result alias for codec operations.
pub type Result<T, E = CodecError> = std::result::Result<T, E>;
