//! The persisted, immutable index format (version 1), drawn in
//! `docs/format/index.md`.
//!
//! One file holds a symbol table, the series (as symbol references), the postings
//! (one compressed bitmap per `name=value`) and a footer of section offsets. Every
//! integer is fixed-width little-endian; `usize` never reaches the disk. Checksums are
//! CRC-32 (IEEE) — the small tables are verified when the file is opened, each series
//! entry and each posting list when it is read, so opening never reads the whole file.

mod reader;
mod writer;

pub use reader::IndexReader;
pub use writer::IndexWriter;

/// Magic bytes at the start and at the very end of an index file.
pub const INDEX_MAGIC: [u8; 4] = *b"TSIX";
/// The format version this crate writes.
pub const INDEX_FORMAT_V1: u32 = 1;
/// Header: magic (4), version `u32` (4), reserved `u64` (8, zero).
pub const INDEX_HEADER_LEN: usize = 16;
/// Footer: six `u64` (offset and length of the symbols, series and postings
/// sections), the footer CRC `u32`, then the magic.
pub const INDEX_FOOTER_LEN: usize = 6 * 8 + 4 + 4;

/// Size of one entry of the postings name table: name symbol, first value entry,
/// value count (`u32` each).
pub(crate) const NAME_ENTRY_LEN: usize = 12;
/// Size of one entry of the postings value table: value symbol `u32`, bitmap CRC
/// `u32`, bitmap offset `u64` (from the start of the bitmap area), bitmap length `u32`.
pub(crate) const VALUE_ENTRY_LEN: usize = 20;

/// CRC-32 (IEEE) of `bytes`.
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}
