//! The database's block operations (see `crate::block`).

use super::Db;
use crate::block::BlockMeta;
use crate::error::{Error, Result};

impl Db {
    /// Cuts the head's samples older than the newest head sample minus half
    /// a block span (aligned down to the span) into immutable blocks, then
    /// truncates the head and checkpoints (releasing the WAL). Returns the new
    /// blocks' metadata (none when there is nothing old enough).
    pub fn cut_blocks(&self) -> Result<Vec<BlockMeta>> {
        self.inner.check_open()?;
        match self.inner.default_cut_boundary() {
            Some(b) => self.cut_blocks_before(b),
            None => Ok(Vec::new()),
        }
    }

    /// Cuts every head sample older than `boundary_ms` into span-aligned
    /// blocks (see [`Db::cut_blocks`]). Fails on a storage that is not the
    /// real file system (blocks are memory-mapped).
    pub fn cut_blocks_before(&self, boundary_ms: i64) -> Result<Vec<BlockMeta>> {
        self.inner.check_open()?;
        if !self.inner.blocks.enabled() {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "blocks need a file-system storage",
            )));
        }
        self.inner.cut_blocks_before(boundary_ms)
    }

    /// The metadata of the blocks readers see now, by (min time, id).
    pub fn blocks(&self) -> Vec<BlockMeta> {
        self.inner
            .blocks
            .snapshot()
            .iter()
            .map(|b| b.meta().clone())
            .collect()
    }
}
