//! The write-ahead log: segmented files of CRC32C-checked records, group commit,
//! replay with torn-tail repair, and checkpoints.
//!
//! Layout in the database directory:
//! `wal/00000001`, `wal/00000002`, … (segments) and `wal/checkpoint.00000005`
//! (a snapshot of the head covering every segment up to and including 5).

pub mod reader;
pub mod record;
pub(crate) mod writer;

pub(crate) use reader::replay_segments;
pub(crate) use writer::Wal;

/// File name of segment `n`.
pub(crate) fn segment_name(n: u64) -> String {
    format!("{n:08}")
}

/// File name of the checkpoint covering segments `..=n`.
pub(crate) fn checkpoint_name(n: u64) -> String {
    format!("checkpoint.{n:08}")
}

/// Parses a segment file name.
pub(crate) fn parse_segment(name: &str) -> Option<u64> {
    if name.len() >= 8 && name.bytes().all(|b| b.is_ascii_digit()) {
        name.parse().ok()
    } else {
        None
    }
}

/// Parses a checkpoint file name (not a `.tmp`).
pub(crate) fn parse_checkpoint(name: &str) -> Option<u64> {
    parse_segment(name.strip_prefix("checkpoint.")?)
}
