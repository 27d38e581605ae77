//! `IndexReader`: zero-copy reads of an immutable index file through `memmap2`.

use std::borrow::Cow;
use std::fs::File;
use std::path::{Path, PathBuf};

use hashbrown::HashSet;
use roaring::RoaringBitmap;

use super::{
    INDEX_FOOTER_LEN, INDEX_FORMAT_V1, INDEX_HEADER_LEN, INDEX_MAGIC, NAME_ENTRY_LEN,
    VALUE_ENTRY_LEN, crc32,
};
use crate::SeriesId;
use crate::error::{IndexError, Result};
use crate::labels::Labels;
use crate::matcher::Matcher;
use crate::postings::{self, PostingsSource};

/// Below this many selected series, label names and values are read from the series
/// entries rather than from every posting list.
const SMALL_SELECTION: u64 = 1024;

enum Backing {
    Mmap(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Backing {
    fn bytes(&self) -> &[u8] {
        match self {
            Backing::Mmap(m) => m,
            Backing::Owned(v) => v,
        }
    }
}

/// Reads an index file written by [`IndexWriter`](crate::IndexWriter), mapped into
/// memory and never loaded whole: opening checks the header, footer and the small
/// tables (symbols, series offsets, postings tables) with their checksums; each series
/// entry and posting list is checked when read.
///
/// A corrupt or truncated file gives [`IndexError::Corrupt`] (file, offset, what) or
/// [`IndexError::ChecksumMismatch`] (expected and found), never a panic.
pub struct IndexReader {
    path: PathBuf,
    data: Backing,
    // Symbols.
    sym_count: usize,
    sym_ends_at: usize,
    sym_data_at: usize,
    // Series.
    series_count: usize,
    ids_at: usize,
    offsets_at: usize,
    entries_at: usize,
    entries_end: usize,
    dense: bool,
    // Postings.
    name_count: usize,
    names_at: usize,
    value_count: usize,
    values_at: usize,
    blob_at: usize,
    blob_end: usize,
}

impl std::fmt::Debug for IndexReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexReader")
            .field("path", &self.path)
            .field("series", &self.series_count)
            .field("symbols", &self.sym_count)
            .finish_non_exhaustive()
    }
}

/// Reads `N` bytes at `at` of `bytes`.
fn array<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}

impl IndexReader {
    /// Opens and maps the index file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<IndexReader> {
        let path = path.as_ref().to_path_buf();
        let file = File::open(&path)?;
        let len = file.metadata()?.len();
        if len < (INDEX_HEADER_LEN + INDEX_FOOTER_LEN) as u64 {
            return Err(IndexError::Corrupt {
                file: path,
                offset: len,
                what: "file too short for header and footer".into(),
            });
        }
        // SAFETY: index files are immutable once written (blocks are written to a
        // temporary directory and renamed into place, never modified); the map is
        // read-only. Every read through it is bounds-checked.
        let map = unsafe { memmap2::Mmap::map(&file)? };
        Self::parse(path, Backing::Mmap(map))
    }

    /// Reads an index from bytes in memory; `name` stands for the file in errors.
    pub fn from_bytes(name: impl Into<PathBuf>, bytes: Vec<u8>) -> Result<IndexReader> {
        Self::parse(name.into(), Backing::Owned(bytes))
    }

    /// The file this reader reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn bytes(&self) -> &[u8] {
        self.data.bytes()
    }

    fn corrupt(&self, offset: usize, what: impl Into<String>) -> IndexError {
        IndexError::Corrupt {
            file: self.path.clone(),
            offset: offset as u64,
            what: what.into(),
        }
    }

    fn u32_at(&self, at: usize, what: &str) -> Result<u32> {
        array(self.bytes(), at)
            .map(u32::from_le_bytes)
            .ok_or_else(|| self.corrupt(at, format!("truncated {what}")))
    }

    fn u64_at(&self, at: usize, what: &str) -> Result<u64> {
        array(self.bytes(), at)
            .map(u64::from_le_bytes)
            .ok_or_else(|| self.corrupt(at, format!("truncated {what}")))
    }

    /// `len` bytes at `at`, all inside `[.., limit)`.
    fn slice(&self, at: usize, len: usize, limit: usize, what: &str) -> Result<&[u8]> {
        let end = at
            .checked_add(len)
            .filter(|e| *e <= limit)
            .ok_or_else(|| self.corrupt(at, format!("{what} runs past its section")))?;
        self.bytes()
            .get(at..end)
            .ok_or_else(|| self.corrupt(at, format!("truncated {what}")))
    }

    /// Checks the CRC stored at `crc_at` against the bytes `[from, crc_at)`.
    fn check_crc(&self, section: &'static str, from: usize, crc_at: usize) -> Result<()> {
        let expected = self.u32_at(crc_at, section)?;
        let found = crc32(self.slice(from, crc_at.saturating_sub(from), crc_at, section)?);
        if expected != found {
            return Err(IndexError::ChecksumMismatch {
                file: self.path.clone(),
                section,
                offset: from as u64,
                expected,
                found,
            });
        }
        Ok(())
    }

    fn usize_of(&self, v: u64, at: usize, what: &str) -> Result<usize> {
        usize::try_from(v).map_err(|_| self.corrupt(at, format!("{what} out of range")))
    }

    fn parse(path: PathBuf, data: Backing) -> Result<IndexReader> {
        let mut r = IndexReader {
            path,
            data,
            sym_count: 0,
            sym_ends_at: 0,
            sym_data_at: 0,
            series_count: 0,
            ids_at: 0,
            offsets_at: 0,
            entries_at: 0,
            entries_end: 0,
            dense: false,
            name_count: 0,
            names_at: 0,
            value_count: 0,
            values_at: 0,
            blob_at: 0,
            blob_end: 0,
        };
        let len = r.bytes().len();
        if len < INDEX_HEADER_LEN + INDEX_FOOTER_LEN {
            return Err(r.corrupt(len, "file too short for header and footer"));
        }
        if array::<4>(r.bytes(), 0) != Some(INDEX_MAGIC) {
            return Err(r.corrupt(0, "bad magic at start"));
        }
        let version = r.u32_at(4, "version")?;
        if version != INDEX_FORMAT_V1 {
            return Err(r.corrupt(4, format!("unsupported format version {version}")));
        }
        if r.u64_at(8, "reserved header bytes")? != 0 {
            return Err(r.corrupt(8, "reserved header bytes are not zero"));
        }
        let footer = len - INDEX_FOOTER_LEN;
        if array::<4>(r.bytes(), len - 4) != Some(INDEX_MAGIC) {
            return Err(r.corrupt(len - 4, "bad magic at end (truncated file?)"));
        }
        r.check_crc("footer", footer, len - 8)?;
        let mut sections = [0usize; 6];
        for (i, s) in sections.iter_mut().enumerate() {
            let at = footer + i * 8;
            *s = r.usize_of(r.u64_at(at, "footer")?, at, "section offset")?;
        }
        let [sym_off, sym_len, ser_off, ser_len, post_off, post_len] = sections;
        let layout_ok = sym_off == INDEX_HEADER_LEN
            && sym_off.checked_add(sym_len) == Some(ser_off)
            && ser_off.checked_add(ser_len) == Some(post_off)
            && post_off.checked_add(post_len) == Some(footer);
        if !layout_ok {
            return Err(r.corrupt(footer, "section offsets do not tile the file"));
        }
        r.parse_symbols(sym_off, ser_off)?;
        r.parse_series(ser_off, post_off)?;
        r.parse_postings(post_off, footer)?;
        Ok(r)
    }

    fn parse_symbols(&mut self, off: usize, end: usize) -> Result<()> {
        let crc_at = end
            .checked_sub(4)
            .filter(|c| *c >= off + 4)
            .ok_or_else(|| self.corrupt(off, "symbol section too short"))?;
        self.check_crc("symbols", off, crc_at)?;
        let count = self.u32_at(off, "symbol count")? as usize;
        self.sym_count = count;
        self.sym_ends_at = off + 4;
        let table_len = count
            .checked_mul(4)
            .ok_or_else(|| self.corrupt(off, "symbol count too large"))?;
        self.slice(self.sym_ends_at, table_len, crc_at, "symbol table")?;
        self.sym_data_at = self.sym_ends_at + table_len;
        let data_len = crc_at - self.sym_data_at;
        let mut prev: Option<&str> = None;
        let mut start = 0usize;
        for i in 0..count {
            let at = self.sym_ends_at + i * 4;
            let e = self.u32_at(at, "symbol end")? as usize;
            if e < start || e > data_len {
                return Err(self.corrupt(at, "symbol end out of order or out of range"));
            }
            let bytes = self.slice(self.sym_data_at + start, e - start, crc_at, "symbol")?;
            let s = std::str::from_utf8(bytes)
                .map_err(|_| self.corrupt(self.sym_data_at + start, "symbol is not UTF-8"))?;
            if prev.is_some_and(|p| p >= s) {
                return Err(self.corrupt(at, "symbols not strictly sorted"));
            }
            prev = Some(s);
            start = e;
        }
        if start != data_len {
            return Err(self.corrupt(self.sym_data_at + start, "bytes after the last symbol"));
        }
        Ok(())
    }

    fn parse_series(&mut self, off: usize, end: usize) -> Result<()> {
        let count = self.u32_at(off, "series count")? as usize;
        self.series_count = count;
        self.ids_at = off + 4;
        let ids_len = count
            .checked_mul(4)
            .ok_or_else(|| self.corrupt(off, "series count too large"))?;
        self.offsets_at = self.ids_at + ids_len;
        let crc_at = count
            .checked_mul(8)
            .and_then(|o| self.offsets_at.checked_add(o))
            .filter(|c| c.checked_add(4).is_some_and(|e| e <= end))
            .ok_or_else(|| self.corrupt(off, "series table runs past its section"))?;
        self.check_crc("series table", off, crc_at)?;
        self.entries_at = crc_at + 4;
        self.entries_end = end;
        let entries_len = end - self.entries_at;
        let (mut prev_id, mut prev_off) = (None::<u32>, 0u64);
        let mut dense = true;
        for i in 0..count {
            let id = self.u32_at(self.ids_at + i * 4, "series id")?;
            if prev_id.is_some_and(|p| p >= id) {
                return Err(self.corrupt(self.ids_at + i * 4, "series ids not strictly ascending"));
            }
            dense &= id as usize == i;
            prev_id = Some(id);
            let o = self.u64_at(self.offsets_at + i * 8, "series offset")?;
            if o < prev_off || o >= entries_len as u64 {
                return Err(self.corrupt(self.offsets_at + i * 8, "series offset out of range"));
            }
            prev_off = o;
        }
        self.dense = dense;
        Ok(())
    }

    fn parse_postings(&mut self, off: usize, end: usize) -> Result<()> {
        self.name_count = self.u32_at(off, "label name count")? as usize;
        self.names_at = off + 4;
        let names_len = self
            .name_count
            .checked_mul(NAME_ENTRY_LEN)
            .ok_or_else(|| self.corrupt(off, "label name count too large"))?;
        self.slice(self.names_at, names_len, end, "postings name table")?;
        let vc_at = self.names_at + names_len;
        self.value_count = self.u32_at(vc_at, "postings count")? as usize;
        self.values_at = vc_at + 4;
        let crc_at = self
            .value_count
            .checked_mul(VALUE_ENTRY_LEN)
            .and_then(|l| self.values_at.checked_add(l))
            .filter(|c| c.checked_add(4).is_some_and(|e| e <= end))
            .ok_or_else(|| self.corrupt(vc_at, "postings table runs past its section"))?;
        self.check_crc("postings tables", off, crc_at)?;
        self.blob_at = crc_at + 4;
        self.blob_end = end;
        let blob_len = (end - self.blob_at) as u64;
        let mut next_first = 0usize;
        let mut prev_name = None::<u32>;
        for i in 0..self.name_count {
            let at = self.names_at + i * NAME_ENTRY_LEN;
            let (name, first, n) = self.name_entry_at(i)?;
            if prev_name.is_some_and(|p| p >= name) || name as usize >= self.sym_count {
                return Err(self.corrupt(at, "label names not sorted or unknown symbol"));
            }
            prev_name = Some(name);
            if first != next_first || n == 0 {
                return Err(self.corrupt(at, "postings name entry out of sequence"));
            }
            next_first = first
                .checked_add(n)
                .filter(|f| *f <= self.value_count)
                .ok_or_else(|| self.corrupt(at, "postings name entry out of range"))?;
            let mut prev_value = None::<u32>;
            for j in first..next_first {
                let vat = self.values_at + j * VALUE_ENTRY_LEN;
                let (value, _, boff, blen) = self.value_entry_at(j)?;
                if prev_value.is_some_and(|p| p >= value) || value as usize >= self.sym_count {
                    return Err(self.corrupt(vat, "label values not sorted or unknown symbol"));
                }
                prev_value = Some(value);
                if boff
                    .checked_add(u64::from(blen))
                    .is_none_or(|e| e > blob_len)
                {
                    return Err(self.corrupt(vat, "posting list out of range"));
                }
            }
        }
        if next_first != self.value_count {
            return Err(self.corrupt(vc_at, "postings count does not match the name table"));
        }
        Ok(())
    }

    /// `(name symbol, first value entry, value count)` of name entry `i`.
    fn name_entry_at(&self, i: usize) -> Result<(u32, usize, usize)> {
        let at = self.names_at + i * NAME_ENTRY_LEN;
        Ok((
            self.u32_at(at, "name entry")?,
            self.u32_at(at + 4, "name entry")? as usize,
            self.u32_at(at + 8, "name entry")? as usize,
        ))
    }

    /// `(value symbol, crc, bitmap offset, bitmap length)` of value entry `j`.
    fn value_entry_at(&self, j: usize) -> Result<(u32, u32, u64, u32)> {
        let at = self.values_at + j * VALUE_ENTRY_LEN;
        Ok((
            self.u32_at(at, "value entry")?,
            self.u32_at(at + 4, "value entry")?,
            self.u64_at(at + 8, "value entry")?,
            self.u32_at(at + 16, "value entry")?,
        ))
    }

    /// The string of symbol `id`.
    fn symbol(&self, id: u32) -> Result<&str> {
        let i = id as usize;
        if i >= self.sym_count {
            return Err(self.corrupt(self.sym_ends_at, format!("unknown symbol {id}")));
        }
        let start = match i.checked_sub(1) {
            Some(p) => self.u32_at(self.sym_ends_at + p * 4, "symbol end")? as usize,
            None => 0,
        };
        let end = self.u32_at(self.sym_ends_at + i * 4, "symbol end")? as usize;
        let at = self.sym_data_at + start;
        let bytes = self.slice(at, end.saturating_sub(start), usize::MAX, "symbol")?;
        std::str::from_utf8(bytes).map_err(|_| self.corrupt(at, "symbol is not UTF-8"))
    }

    /// First symbol index in `[0, count)` for which `below(symbol)` is false.
    fn symbol_partition(&self, below: impl Fn(&str) -> bool) -> Result<usize> {
        let (mut lo, mut hi) = (0usize, self.sym_count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if below(self.symbol(mid as u32)?) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// The id of symbol `s`.
    fn find_symbol(&self, s: &str) -> Result<Option<u32>> {
        let i = self.symbol_partition(|x| x < s)?;
        if i < self.sym_count && self.symbol(i as u32)? == s {
            return Ok(Some(i as u32));
        }
        Ok(None)
    }

    /// `(first value entry, value count)` of label name `name`.
    fn name_values(&self, name: &str) -> Result<Option<(usize, usize)>> {
        let Some(sym) = self.find_symbol(name)? else {
            return Ok(None);
        };
        let (mut lo, mut hi) = (0usize, self.name_count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (n, first, count) = self.name_entry_at(mid)?;
            match n.cmp(&sym) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(Some((first, count))),
            }
        }
        Ok(None)
    }

    /// First value entry in `[first, first + count)` whose symbol is `>= sym`.
    fn value_partition(&self, first: usize, count: usize, sym: u32) -> Result<usize> {
        let (mut lo, mut hi) = (first, first + count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.value_entry_at(mid)?.0 < sym {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// Decodes and checks the posting list of value entry `j`.
    fn bitmap(&self, j: usize) -> Result<RoaringBitmap> {
        let (_, expected, off, len) = self.value_entry_at(j)?;
        let at = self
            .usize_of(off, self.values_at + j * VALUE_ENTRY_LEN, "posting offset")?
            .checked_add(self.blob_at)
            .ok_or_else(|| self.corrupt(self.blob_at, "posting offset overflow"))?;
        let bytes = self.slice(at, len as usize, self.blob_end, "posting list")?;
        let found = crc32(bytes);
        if found != expected {
            return Err(IndexError::ChecksumMismatch {
                file: self.path.clone(),
                section: "posting list",
                offset: at as u64,
                expected,
                found,
            });
        }
        let mut cursor = bytes;
        let bm = RoaringBitmap::deserialize_from(&mut cursor)
            .map_err(|e| self.corrupt(at, format!("bad posting list: {e}")))?;
        if !cursor.is_empty() {
            return Err(self.corrupt(at, "bytes after a posting list"));
        }
        Ok(bm)
    }
}

mod query;
