//! `BlockWriter`: streams series, in label order, into a new block directory.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use tsdb_codec::Chunk;
use tsdb_index::{IndexWriter, Labels, SeriesId};

use super::chunks::{self, SHARED_TS, TABLE_ENTRY_LEN};
use super::{
    BLOCK_CHUNK_SAMPLES, BlockCompaction, BlockMeta, BlockStats, CHUNKS_FILE, CHUNKS_FORMAT_V1,
    CHUNKS_FORMAT_V2, INDEX_FILE, META_FILE, META_FORMAT_V1, TMP_SUFFIX, corrupt, index_error,
    sync_dir,
};
use crate::error::Result;

/// Timestamp sections shorter than this are never shared: a reference costs
/// six bytes, and regular timestamps take about as few.
const MIN_SHARED_TS: usize = 16;
/// Bytes a writer spends remembering timestamp sections to find repeats
/// (each section's bytes plus [`REMEMBERED_ENTRY_BYTES`]; past it, new
/// sections are written in place): bounds its memory on blocks whose series
/// share nothing.
const MAX_REMEMBERED_TS: usize = 8 << 20;
/// What a remembered section costs beyond its bytes (its map entry and
/// vector), counted against [`MAX_REMEMBERED_TS`].
const REMEMBERED_ENTRY_BYTES: usize = 64;

/// The timestamp sections a writer has seen, to share those that repeat (one
/// scrape stamps every series of a target with the same times).
#[derive(Default)]
struct SharedTimestamps {
    /// Each section seen: `None` while it was seen once (written in place),
    /// then its number in `table`.
    seen: HashMap<Vec<u8>, Option<u32>>,
    remembered: usize,
    /// The shared sections, each as `len u32` and its bytes.
    table: Vec<u8>,
    count: u32,
}

impl SharedTimestamps {
    /// `chunk` as stored: in place, or, when its timestamp section was seen
    /// before, as a reference to that section in the shared table (see
    /// `docs/format/block.md`).
    fn store<'c>(&mut self, chunk: &'c Chunk) -> Cow<'c, [u8]> {
        let bytes = chunk.as_bytes();
        let [h, t, _] = chunk.as_ref().section_lens();
        if t < MIN_SHARED_TS {
            return Cow::Borrowed(bytes);
        }
        let (Some(header), Some(ts), Some(values), Ok(header_len)) = (
            bytes.get(..h),
            bytes.get(h..h + t),
            bytes.get(h + t..),
            u8::try_from(h),
        ) else {
            return Cow::Borrowed(bytes);
        };
        let number = match self.seen.get_mut(ts) {
            Some(Some(n)) => *n,
            Some(slot) => {
                let (n, Ok(len)) = (self.count, u32::try_from(t)) else {
                    return Cow::Borrowed(bytes);
                };
                self.table.extend_from_slice(&len.to_le_bytes());
                self.table.extend_from_slice(ts);
                self.count += 1;
                *slot = Some(n);
                n
            }
            None => {
                let cost = t + REMEMBERED_ENTRY_BYTES;
                if self.remembered + cost <= MAX_REMEMBERED_TS {
                    self.seen.insert(ts.to_vec(), None);
                    self.remembered += cost;
                }
                return Cow::Borrowed(bytes);
            }
        };
        let mut out = Vec::with_capacity(chunks::SHARED_TS_PREFIX + h + values.len());
        out.push(SHARED_TS);
        out.extend_from_slice(&number.to_le_bytes());
        out.push(header_len);
        out.extend_from_slice(header);
        out.extend_from_slice(values);
        Cow::Owned(out)
    }
}

/// Writes one block: add series in strictly increasing label order (each gets
/// the next dense id), then [`BlockWriter::finish`] fsyncs every file and the
/// directory and renames it into place. Dropped unfinished, it removes its
/// temporary directory.
///
/// ```
/// # fn main() -> tsdb_core::Result<()> {
/// use tsdb_core::block::{Block, BlockWriter};
/// use tsdb_core::Labels;
/// let dir = tempfile::tempdir()?;
/// let mut w = BlockWriter::create(dir.path(), &tsdb_core::block::new_block_id())?;
/// let up = Labels::new([("__name__", "up")])?;
/// w.add_samples(up, &[1_000, 2_000], &[1.0, 0.0])?;
/// let meta = w.finish(1, Vec::new())?;
/// let block = Block::open(dir.path().join(&meta.id))?;
/// let (mut ts, mut vs) = (Vec::new(), Vec::new());
/// block.read_series(0, i64::MIN, i64::MAX, &mut ts, &mut vs)?;
/// assert_eq!(ts, [1_000, 2_000]);
/// # Ok(())
/// # }
/// ```
pub struct BlockWriter {
    id: String,
    tmp: PathBuf,
    dest: PathBuf,
    out: BufWriter<File>,
    offset: u64,
    table: Vec<u8>,
    section: Vec<u8>,
    index: IndexWriter,
    last: Option<Labels>,
    stats: BlockStats,
    min_t: i64,
    max_t: i64,
    shared: SharedTimestamps,
    done: bool,
}

impl std::fmt::Debug for BlockWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockWriter")
            .field("dest", &self.dest)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl BlockWriter {
    /// Starts block `id` in `blocks_dir` (written to `<id>.tmp` until finished).
    pub fn create(blocks_dir: &Path, id: &str) -> Result<BlockWriter> {
        let dest = blocks_dir.join(id);
        let tmp = blocks_dir.join(format!("{id}{TMP_SUFFIX}"));
        if tmp.exists() {
            fs::remove_dir_all(&tmp)?;
        }
        fs::create_dir_all(&tmp)?;
        let mut out = BufWriter::with_capacity(1 << 20, File::create(tmp.join(CHUNKS_FILE))?);
        // Version 1 unless a timestamp section gets shared (`finish` then
        // rewrites the version).
        out.write_all(&chunks::header(CHUNKS_FORMAT_V1))?;
        Ok(BlockWriter {
            id: id.to_string(),
            tmp,
            dest,
            out,
            offset: chunks::HEADER_LEN as u64,
            table: Vec::new(),
            section: Vec::new(),
            index: IndexWriter::new(),
            last: None,
            stats: BlockStats::default(),
            min_t: i64::MAX,
            max_t: i64::MIN,
            shared: SharedTimestamps::default(),
            done: false,
        })
    }

    /// Adds a series as encoded chunks `(min_t, max_t, chunk)`, in time order
    /// and disjoint. A series with no chunk is skipped.
    pub fn add_chunks(&mut self, labels: Labels, chunks: &[(i64, i64, Chunk)]) -> Result<()> {
        if chunks.is_empty() {
            return Ok(());
        }
        if self.last.as_ref().is_some_and(|l| *l >= labels) {
            return Err(corrupt(
                &self.tmp,
                self.offset,
                format!("series {labels} added out of label order"),
            ));
        }
        if chunks.windows(2).any(|w| matches!(w, [a, b] if a.1 >= b.0))
            || chunks.iter().any(|c| c.0 > c.1)
        {
            return Err(corrupt(
                &self.tmp,
                self.offset,
                format!("chunks of {labels} overlap or are out of order"),
            ));
        }
        let id = u32::try_from(self.index.len())
            .map_err(|_| corrupt(&self.tmp, self.offset, "more than 2^32 series"))?;
        self.section.clear();
        let stored: Vec<(i64, i64, Cow<'_, [u8]>)> = chunks
            .iter()
            .map(|(a, b, c)| (*a, *b, self.shared.store(c)))
            .collect();
        let refs: Vec<(i64, i64, &[u8])> = stored.iter().map(|(a, b, c)| (*a, *b, &**c)).collect();
        chunks::put_section(&mut self.section, &refs)?;
        self.out.write_all(&self.section)?;
        self.table.extend_from_slice(&self.offset.to_le_bytes());
        let len = u32::try_from(self.section.len())
            .map_err(|_| corrupt(&self.tmp, self.offset, "series section over 4 GiB"))?;
        self.table.extend_from_slice(&len.to_le_bytes());
        self.offset += u64::from(len);
        for (min_t, max_t, c) in chunks {
            self.min_t = self.min_t.min(*min_t);
            self.max_t = self.max_t.max(*max_t);
            self.stats.num_samples += c.len() as u64;
        }
        self.stats.num_chunks += chunks.len() as u64;
        self.stats.num_series += 1;
        self.index.add(SeriesId(id), labels.clone());
        self.last = Some(labels);
        Ok(())
    }

    /// Adds a series from columns (strictly increasing timestamps), encoded in
    /// chunks of up to [`BLOCK_CHUNK_SAMPLES`] with `Chunk::encode`.
    pub fn add_samples(&mut self, labels: Labels, ts: &[i64], vs: &[f64]) -> Result<()> {
        let mut chunks = Vec::with_capacity(ts.len().div_ceil(BLOCK_CHUNK_SAMPLES));
        for (t, v) in ts
            .chunks(BLOCK_CHUNK_SAMPLES)
            .zip(vs.chunks(BLOCK_CHUNK_SAMPLES))
        {
            if let (Some(&a), Some(&b)) = (t.first(), t.last()) {
                chunks.push((a, b, Chunk::encode(t, v)?));
            }
        }
        self.add_chunks(labels, &chunks)
    }

    /// Bytes written to the chunks file so far.
    pub fn bytes_written(&self) -> u64 {
        self.offset
    }

    /// Series added so far.
    pub fn num_series(&self) -> usize {
        self.index.len()
    }

    /// Writes the table, footer, index and `meta.json`, fsyncs them and the
    /// directory, renames the directory into place and fsyncs its parent.
    /// Returns the block's metadata. A block with no series is still written
    /// (with an empty time range at `[0, 0]`), so callers should skip those.
    pub fn finish(mut self, level: u32, sources: Vec<String>) -> Result<BlockMeta> {
        let table_crc = crc32c::crc32c(&self.table);
        let series = u32::try_from(self.table.len() / TABLE_ENTRY_LEN)
            .map_err(|_| corrupt(&self.tmp, self.offset, "more than 2^32 series"))?;
        if self.shared.count == 0 {
            self.out.write_all(&self.table)?;
            self.out
                .write_all(&chunks::footer(self.offset, series, table_crc))?;
            self.out.flush()?;
        } else {
            // The shared timestamp sections (their count, then each), the
            // table and a version 2 footer; the header's version last, before
            // the fsync.
            let shared_at = self.offset;
            let count = self.shared.count.to_le_bytes();
            self.out.write_all(&count)?;
            self.out.write_all(&self.shared.table)?;
            let shared_crc = crc32c::crc32c_append(crc32c::crc32c(&count), &self.shared.table);
            let table_at = shared_at + (count.len() + self.shared.table.len()) as u64;
            self.out.write_all(&self.table)?;
            self.out.write_all(&chunks::footer_v2(
                table_at, series, table_crc, shared_at, shared_crc,
            ))?;
            self.out.flush()?;
            let file = self.out.get_mut();
            file.seek(SeekFrom::Start(4))?;
            file.write_all(&CHUNKS_FORMAT_V2.to_le_bytes())?;
        }
        self.out.get_ref().sync_all()?;
        self.stats.chunks_bytes = self.out.get_ref().metadata()?.len();

        let index_bytes = self.index.to_bytes().map_err(index_error)?;
        self.stats.index_bytes = index_bytes.len() as u64;
        write_synced(&self.tmp.join(INDEX_FILE), &index_bytes)?;

        let (min_time_ms, max_time_ms) = if self.min_t <= self.max_t {
            (self.min_t, self.max_t)
        } else {
            (0, 0)
        };
        let meta = BlockMeta {
            version: META_FORMAT_V1,
            id: self.id.clone(),
            min_time_ms,
            max_time_ms,
            stats: self.stats.clone(),
            compaction: BlockCompaction { level, sources },
        };
        write_synced(&self.tmp.join(META_FILE), &meta.to_json()?)?;
        sync_dir(&self.tmp)?;
        fs::rename(&self.tmp, &self.dest)?;
        self.done = true;
        sync_dir(crate::storage::parent_dir(&self.dest))?;
        Ok(meta)
    }
}

impl Drop for BlockWriter {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_dir_all(&self.tmp);
        }
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}
