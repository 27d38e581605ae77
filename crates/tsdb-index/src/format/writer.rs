//! `IndexWriter`: serializes a set of series into the immutable index format.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use hashbrown::{HashMap, HashSet};
use roaring::RoaringBitmap;

use super::{
    INDEX_FOOTER_LEN, INDEX_FORMAT_V1, INDEX_HEADER_LEN, INDEX_MAGIC, NAME_ENTRY_LEN,
    VALUE_ENTRY_LEN, crc32,
};
use crate::SeriesId;
use crate::error::{IndexError, Result};
use crate::labels::Labels;

/// Collects `(SeriesId, Labels)` pairs and serializes them into one immutable index
/// file, readable with [`IndexReader`](crate::IndexReader).
///
/// Ids must be unique and so must label sets. A block should use dense ids `0..n`:
/// the reader then finds a series by id without a search.
///
/// ```
/// use tsdb_index::{IndexReader, IndexWriter, Labels, Matcher, SeriesId};
/// let mut w = IndexWriter::new();
/// w.add(SeriesId(0), Labels::new([("__name__", "up"), ("job", "a")])?);
/// w.add(SeriesId(1), Labels::new([("__name__", "up"), ("job", "b")])?);
/// let r = IndexReader::from_bytes("mem", w.to_bytes()?)?;
/// assert_eq!(r.select(&[Matcher::equal("job", "b")])?, vec![SeriesId(1)]);
/// # Ok::<(), tsdb_index::IndexError>(())
/// ```
#[derive(Debug, Default, Clone)]
pub struct IndexWriter {
    series: Vec<(SeriesId, Labels)>,
}

fn u32_len(n: usize, what: &'static str) -> Result<u32> {
    u32::try_from(n).map_err(|_| IndexError::FormatLimit(what))
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

impl IndexWriter {
    /// An empty writer.
    pub fn new() -> IndexWriter {
        IndexWriter::default()
    }

    /// Adds a series.
    pub fn add(&mut self, id: SeriesId, labels: Labels) {
        self.series.push((id, labels));
    }

    /// Number of series added.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether no series was added.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Serializes into the format's bytes. Fails on a repeated id or label set
    /// ([`IndexError::SeriesIdConflict`]) or past a size limit of the format.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut series: Vec<&(SeriesId, Labels)> = self.series.iter().collect();
        series.sort_by_key(|(id, _)| *id);
        let mut seen: HashSet<&Labels> = HashSet::with_capacity(series.len());
        for w in series.windows(2) {
            if let [a, b] = w
                && a.0 == b.0
            {
                return Err(IndexError::SeriesIdConflict { id: b.0.0 });
            }
        }
        for (id, l) in &series {
            if !seen.insert(l) {
                return Err(IndexError::SeriesIdConflict { id: id.0 });
            }
        }

        // Symbols, sorted: symbol order is string order.
        let strings: HashSet<&str> = series
            .iter()
            .flat_map(|(_, l)| l.iter().flat_map(|(n, v)| [n, v]))
            .collect();
        let mut symbols: Vec<&str> = strings.into_iter().collect();
        symbols.sort_unstable();
        let sym_of: HashMap<&str, u32> = symbols
            .iter()
            .enumerate()
            .map(|(i, s)| Ok((*s, u32_len(i, "symbol count")?)))
            .collect::<Result<_>>()?;
        let sym = |s: &str| sym_of.get(s).copied().unwrap_or(0);

        let mut out = Vec::with_capacity(INDEX_HEADER_LEN + series.len() * 64);
        out.extend_from_slice(&INDEX_MAGIC);
        put_u32(&mut out, INDEX_FORMAT_V1);
        put_u64(&mut out, 0);

        // Symbols section.
        let symbols_off = out.len();
        put_u32(&mut out, u32_len(symbols.len(), "symbol count")?);
        let mut end = 0usize;
        for s in &symbols {
            end += s.len();
            put_u32(&mut out, u32_len(end, "symbol bytes")?);
        }
        for s in &symbols {
            out.extend_from_slice(s.as_bytes());
        }
        let crc = crc32(out.get(symbols_off..).unwrap_or_default());
        put_u32(&mut out, crc);
        let symbols_len = out.len() - symbols_off;

        // Series section: table, then entries.
        let series_off = out.len();
        put_u32(&mut out, u32_len(series.len(), "series count")?);
        for (id, _) in &series {
            put_u32(&mut out, id.0);
        }
        let mut entries = Vec::with_capacity(series.len() * 48);
        let mut lists: HashMap<(u32, u32), RoaringBitmap> = HashMap::new();
        for (id, l) in &series {
            put_u64(&mut out, entries.len() as u64);
            let start = entries.len();
            put_u32(&mut entries, u32_len(l.len(), "labels per series")?);
            for (n, v) in l.iter() {
                let (ns, vs) = (sym(n), sym(v));
                put_u32(&mut entries, ns);
                put_u32(&mut entries, vs);
                // Ids arrive ascending, so this appends.
                let list = lists.entry((ns, vs)).or_default();
                if list.try_push(id.0).is_err() {
                    list.insert(id.0);
                }
            }
            let crc = crc32(entries.get(start..).unwrap_or_default());
            put_u32(&mut entries, crc);
        }
        let crc = crc32(out.get(series_off..).unwrap_or_default());
        put_u32(&mut out, crc);
        out.extend_from_slice(&entries);
        drop(entries);
        let mut sorted: Vec<((u32, u32), RoaringBitmap)> = lists.into_iter().collect();
        sorted.sort_unstable_by_key(|(k, _)| *k);
        let mut postings: BTreeMap<u32, Vec<(u32, RoaringBitmap)>> = BTreeMap::new();
        for ((n, v), b) in sorted {
            postings.entry(n).or_default().push((v, b));
        }
        let series_len = out.len() - series_off;

        // Postings section: name table, value table, their CRC, then the bitmaps.
        let postings_off = out.len();
        put_u32(&mut out, u32_len(postings.len(), "label names")?);
        let mut first = 0usize;
        for (name, values) in &postings {
            put_u32(&mut out, *name);
            put_u32(&mut out, u32_len(first, "postings lists")?);
            put_u32(&mut out, u32_len(values.len(), "postings lists")?);
            first += values.len();
        }
        debug_assert_eq!(
            out.len(),
            postings_off + 4 + postings.len() * NAME_ENTRY_LEN
        );
        put_u32(&mut out, u32_len(first, "postings lists")?);
        let mut blob = Vec::new();
        for values in postings.values() {
            for (value, bitmap) in values {
                let start = blob.len();
                bitmap.serialize_into(&mut blob)?;
                let bytes = blob.get(start..).unwrap_or_default();
                put_u32(&mut out, *value);
                put_u32(&mut out, crc32(bytes));
                put_u64(&mut out, start as u64);
                put_u32(&mut out, u32_len(bytes.len(), "postings list bytes")?);
            }
        }
        debug_assert_eq!(
            out.len(),
            postings_off + 8 + postings.len() * NAME_ENTRY_LEN + first * VALUE_ENTRY_LEN
        );
        let crc = crc32(out.get(postings_off..).unwrap_or_default());
        put_u32(&mut out, crc);
        out.extend_from_slice(&blob);
        let postings_len = out.len() - postings_off;

        // Footer.
        let footer_off = out.len();
        for v in [
            symbols_off,
            symbols_len,
            series_off,
            series_len,
            postings_off,
            postings_len,
        ] {
            put_u64(&mut out, v as u64);
        }
        let crc = crc32(out.get(footer_off..).unwrap_or_default());
        put_u32(&mut out, crc);
        out.extend_from_slice(&INDEX_MAGIC);
        debug_assert_eq!(out.len() - footer_off, INDEX_FOOTER_LEN);
        Ok(out)
    }

    /// Serializes to a new file at `path` and syncs it to disk. The caller makes the
    /// write atomic (write in a temporary directory, then rename).
    pub fn write_file(&self, path: impl AsRef<Path>) -> Result<()> {
        let bytes = self.to_bytes()?;
        let mut f = std::fs::File::create(path)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        Ok(())
    }
}

impl Extend<(SeriesId, Labels)> for IndexWriter {
    fn extend<I: IntoIterator<Item = (SeriesId, Labels)>>(&mut self, iter: I) {
        self.series.extend(iter);
    }
}

impl FromIterator<(SeriesId, Labels)> for IndexWriter {
    fn from_iter<I: IntoIterator<Item = (SeriesId, Labels)>>(iter: I) -> Self {
        IndexWriter {
            series: iter.into_iter().collect(),
        }
    }
}
