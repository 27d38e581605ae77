//! Immutable blocks: time-partitioned directories holding a chunks file, a
//! persisted index (tsdb-index format) and `meta.json`, written atomically and
//! read through `memmap2`. The format is drawn in `docs/format/block.md`.
//!
//! - [`BlockWriter`] (the serializer) writes a block into a temporary
//!   directory and renames it into place once every file is fsync'd.
//! - [`Block`] (the reader) maps the files; each series' chunk section is
//!   checked against its CRC when read.
//! - [`BlockMeta`] is `meta.json`.

mod backfill;
mod chunks;
pub(crate) mod compact;
pub(crate) mod cut;
mod meta;
pub(crate) mod query;
mod reader;
mod retention;
pub(crate) mod set;
pub(crate) mod tombstones;
mod ulid;
mod writer;

use std::path::Path;

pub use meta::{BlockCompaction, BlockMeta, BlockStats};
pub use reader::Block;
pub use set::OpenReport;
pub use tombstones::TOMBSTONES_FILE;
pub use ulid::new_block_id;
pub use writer::BlockWriter;

use crate::error::Error;

/// Name of the directory of blocks inside the database directory.
pub const BLOCKS_DIR: &str = "blocks";
/// Directory inside [`BLOCKS_DIR`] where corrupt or partial blocks are moved.
pub const CORRUPT_DIR: &str = "corrupt";
/// Suffix of a block directory still being written.
pub const TMP_SUFFIX: &str = ".tmp";
/// Name of a block's chunks file.
pub const CHUNKS_FILE: &str = "chunks";
/// Name of a block's index file.
pub const INDEX_FILE: &str = "index";
/// Name of a block's metadata file.
pub const META_FILE: &str = "meta.json";
/// Magic bytes at the start and end of a chunks file.
pub const CHUNKS_MAGIC: [u8; 4] = *b"TSBC";
/// Version of the chunks file format.
pub const CHUNKS_FORMAT_V1: u32 = 1;
/// Version 2 of the chunks file: version 1 plus a table of timestamp sections
/// shared by chunks of several series (written only when a section repeats).
pub const CHUNKS_FORMAT_V2: u32 = 2;
/// Version of `meta.json`.
pub const META_FORMAT_V1: u32 = 1;
/// Default span of a block cut from the head: two hours.
pub const DEFAULT_BLOCK_SPAN_MS: i64 = 2 * 3_600_000;
/// Most samples per chunk written to a block.
pub const BLOCK_CHUNK_SAMPLES: usize = 1024;

pub(crate) fn corrupt(file: &Path, offset: u64, what: impl Into<String>) -> Error {
    Error::Corrupt {
        file: file.to_path_buf(),
        offset,
        what: what.into(),
    }
}

/// Maps an index error to a core error, keeping corruption's file and offset.
pub(crate) fn index_error(e: tsdb_index::IndexError) -> Error {
    use tsdb_index::IndexError;
    match e {
        IndexError::Corrupt { file, offset, what } => Error::Corrupt { file, offset, what },
        IndexError::ChecksumMismatch {
            file,
            section,
            offset,
            expected,
            found,
        } => Error::Corrupt {
            file,
            offset,
            what: format!(
                "checksum mismatch in {section}: expected {expected:#010x}, found {found:#010x}"
            ),
        },
        IndexError::Io(e) => Error::Io(e),
        other => Error::Query(other),
    }
}

/// fsyncs a directory (its entries).
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}
