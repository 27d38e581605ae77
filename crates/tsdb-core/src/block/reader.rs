//! `Block`: a block directory opened for reading, its chunks file mapped.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use tsdb_codec::{Chunk, ChunkRef};
use tsdb_index::{IndexReader, Labels, Matcher, SeriesId};

use super::chunks::Layout;
use super::{BlockMeta, CHUNKS_FILE, INDEX_FILE, META_FILE, corrupt, index_error};
use crate::error::{Error, Result};

/// An immutable block opened for reading. Opening checks `meta.json`, the
/// chunks file's header, footer and table, and the index's header and small
/// tables; each series' section is checked against its CRC when read.
///
/// A block marked with [`Block::delete_when_unused`] removes its directory
/// when the last reference to it (an `Arc` held by a querier's snapshot) is
/// dropped.
pub struct Block {
    dir: PathBuf,
    meta: BlockMeta,
    index: IndexReader,
    chunks: memmap2::Mmap,
    layout: Layout,
    delete: AtomicBool,
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block")
            .field("dir", &self.dir)
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

impl Block {
    /// Opens the block in `dir`.
    pub fn open(dir: impl AsRef<Path>) -> Result<Block> {
        let dir = dir.as_ref().to_path_buf();
        let meta_path = dir.join(META_FILE);
        let meta = BlockMeta::from_json(&meta_path, &fs::read(&meta_path)?)?;
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if meta.id != name {
            return Err(corrupt(
                &meta_path,
                0,
                format!("block id {} does not match its directory {name}", meta.id),
            ));
        }
        let chunks_path = dir.join(CHUNKS_FILE);
        let file = File::open(&chunks_path)?;
        // SAFETY: block files are immutable once written (a block is written
        // to a temporary directory and renamed into place, never modified, and
        // removed only when no reader holds it); the map is read-only and every
        // read through it is bounds-checked.
        let chunks = unsafe { memmap2::Mmap::map(&file)? };
        let layout = Layout::parse(&chunks_path, &chunks)?;
        let index = IndexReader::open(dir.join(INDEX_FILE)).map_err(index_error)?;
        if index.num_series() != layout.series || layout.series as u64 != meta.stats.num_series {
            return Err(corrupt(
                &chunks_path,
                layout.table_at as u64,
                format!(
                    "series counts disagree: chunks {}, index {}, meta {}",
                    layout.series,
                    index.num_series(),
                    meta.stats.num_series
                ),
            ));
        }
        Ok(Block {
            dir,
            meta,
            index,
            chunks,
            layout,
            delete: AtomicBool::new(false),
        })
    }

    /// The block's metadata.
    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    /// The block's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Number of series.
    pub fn num_series(&self) -> usize {
        self.layout.series
    }

    /// Ids (dense, in label order) of the series matching every matcher.
    pub fn select(&self, matchers: &[Matcher]) -> Result<Vec<u32>> {
        let ids = self.index.select(matchers).map_err(index_error)?;
        Ok(ids.into_iter().map(|id| id.0).collect())
    }

    /// The labels of series `id`.
    pub fn labels(&self, id: u32) -> Result<Labels> {
        self.index
            .labels(SeriesId(id))
            .map_err(index_error)?
            .ok_or_else(|| {
                corrupt(
                    self.index.path(),
                    0,
                    format!("series {id} missing from the index"),
                )
            })
    }

    /// Label names of the series matching `matchers` (all when empty).
    pub fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>> {
        self.index.label_names(matchers).map_err(index_error)
    }

    /// Values of label `name` of the series matching `matchers`.
    pub fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>> {
        self.index.label_values(name, matchers).map_err(index_error)
    }

    /// Appends series `id`'s samples in `[min, max]` to `ts`/`vs`, in time
    /// order; chunks outside the range are skipped without decoding.
    pub fn read_series(
        &self,
        id: u32,
        min: i64,
        max: i64,
        ts: &mut Vec<i64>,
        vs: &mut Vec<f64>,
    ) -> Result<()> {
        let section = self.layout.section(&self.chunks, id as usize)?;
        for chunk in section.chunks() {
            let (desc, stored) =
                chunk.map_err(|at| corrupt(&self.layout.path, at, "chunk overruns its section"))?;
            if desc.max_t < min {
                continue;
            }
            if desc.min_t > max {
                break;
            }
            let bytes = self.chunk_bytes(id, &section, stored)?;
            let c = ChunkRef::new(&bytes).map_err(|e| self.chunk_error(id, &section, e))?;
            let start = ts.len();
            c.decode_into(ts, vs)
                .map_err(|e| self.chunk_error(id, &section, e))?;
            if desc.min_t < min || desc.max_t > max {
                trim(ts, vs, start, min, max);
            }
        }
        Ok(())
    }

    /// Series `id`'s chunks as stored: `(min_t, max_t, chunk)` in time order
    /// (for copying them into another block without re-encoding).
    pub fn chunks(&self, id: u32) -> Result<Vec<(i64, i64, Chunk)>> {
        let section = self.layout.section(&self.chunks, id as usize)?;
        let mut out = Vec::new();
        for chunk in section.chunks() {
            let (desc, stored) =
                chunk.map_err(|at| corrupt(&self.layout.path, at, "chunk overruns its section"))?;
            let bytes = self.chunk_bytes(id, &section, stored)?.into_owned();
            let c = Chunk::from_bytes(bytes).map_err(|e| self.chunk_error(id, &section, e))?;
            out.push((desc.min_t, desc.max_t, c));
        }
        Ok(out)
    }

    /// Reads every series' section and chunk, checking CRCs and decoding.
    pub fn verify(&self) -> Result<()> {
        let (mut ts, mut vs) = (Vec::new(), Vec::new());
        for id in 0..self.layout.series {
            ts.clear();
            vs.clear();
            let id = u32::try_from(id).map_err(|_| Error::Closed)?;
            self.read_series(id, i64::MIN, i64::MAX, &mut ts, &mut vs)?;
            self.labels(id)?;
        }
        Ok(())
    }

    /// A stored chunk as the codec reads it (its shared timestamp section put
    /// back in place).
    fn chunk_bytes<'a>(
        &'a self,
        id: u32,
        section: &super::chunks::Section<'_>,
        stored: &'a [u8],
    ) -> Result<std::borrow::Cow<'a, [u8]>> {
        self.layout
            .chunk_bytes(&self.chunks, stored)
            .map_err(|what| {
                corrupt(
                    &self.layout.path,
                    section.file_offset,
                    format!("chunk of series {id}: {what}"),
                )
            })
    }

    fn chunk_error(
        &self,
        id: u32,
        section: &super::chunks::Section<'_>,
        e: tsdb_codec::CodecError,
    ) -> Error {
        corrupt(
            &self.layout.path,
            section.file_offset,
            format!("chunk of series {id}: {e}"),
        )
    }

    /// Marks the block for deletion: its directory is removed when the last
    /// reference to it is dropped.
    pub fn delete_when_unused(&self) {
        self.delete.store(true, Ordering::SeqCst);
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        if self.delete.load(Ordering::SeqCst) {
            // Renamed first (atomic), so a crash mid-removal leaves a `.tmp`
            // directory that opening removes, never a half-deleted block.
            let mut doomed = self.dir.clone().into_os_string();
            doomed.push(super::TMP_SUFFIX);
            let doomed = PathBuf::from(doomed);
            let parent = crate::storage::parent_dir(&self.dir);
            if fs::rename(&self.dir, &doomed).is_ok() {
                let _ = super::sync_dir(parent);
                let _ = fs::remove_dir_all(&doomed);
            }
            let _ = super::sync_dir(parent);
        }
    }
}

/// Keeps only samples in `[min, max]` of `ts[start..]`/`vs[start..]`.
fn trim(ts: &mut Vec<i64>, vs: &mut Vec<f64>, start: usize, min: i64, max: i64) {
    let tail = ts.get(start..).unwrap_or_default();
    let lo = start + tail.partition_point(|&t| t < min);
    let hi = start + tail.partition_point(|&t| t <= max);
    ts.truncate(hi);
    vs.truncate(hi);
    ts.drain(start..lo);
    vs.drain(start..lo);
}
