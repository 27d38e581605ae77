//! The chunks file: a header, one CRC-checked section per series (chunk
//! descriptors, then the chunks' bytes), a table of section offsets and a
//! footer (see `docs/format/block.md`).

use std::path::{Path, PathBuf};

use super::{CHUNKS_FORMAT_V1, CHUNKS_MAGIC, corrupt};
use crate::error::Result;

/// Bytes of the header: magic, version, reserved.
pub(crate) const HEADER_LEN: usize = 16;
/// Bytes of the footer: table offset, series count, table CRC, footer CRC, magic.
pub(crate) const FOOTER_LEN: usize = 24;
/// Bytes of one chunk descriptor: min time, max time, length.
pub(crate) const DESC_LEN: usize = 20;
/// Bytes of one table entry: section offset, section length.
pub(crate) const TABLE_ENTRY_LEN: usize = 12;

/// A chunk's place in its section.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ChunkDesc {
    pub min_t: i64,
    pub max_t: i64,
    pub len: u32,
}

pub(crate) fn header() -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(&CHUNKS_MAGIC);
    h[4..8].copy_from_slice(&CHUNKS_FORMAT_V1.to_le_bytes());
    h
}

/// Appends one section (descriptors, chunk bytes, CRC) to `out`.
pub(crate) fn put_section(out: &mut Vec<u8>, chunks: &[(i64, i64, &[u8])]) -> Result<()> {
    let start = out.len();
    let count = u32::try_from(chunks.len())
        .map_err(|_| corrupt(Path::new("chunks"), 0, "too many chunks in one series"))?;
    out.extend_from_slice(&count.to_le_bytes());
    for (min_t, max_t, bytes) in chunks {
        out.extend_from_slice(&min_t.to_le_bytes());
        out.extend_from_slice(&max_t.to_le_bytes());
        let len = u32::try_from(bytes.len())
            .map_err(|_| corrupt(Path::new("chunks"), 0, "chunk larger than 4 GiB"))?;
        out.extend_from_slice(&len.to_le_bytes());
    }
    for (_, _, bytes) in chunks {
        out.extend_from_slice(bytes);
    }
    let crc = crc32c::crc32c(out.get(start..).unwrap_or_default());
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(())
}

pub(crate) fn footer(table_offset: u64, series: u32, table_crc: u32) -> [u8; FOOTER_LEN] {
    let mut f = [0u8; FOOTER_LEN];
    f[..8].copy_from_slice(&table_offset.to_le_bytes());
    f[8..12].copy_from_slice(&series.to_le_bytes());
    f[12..16].copy_from_slice(&table_crc.to_le_bytes());
    let crc = crc32c::crc32c(&f[..16]);
    f[16..20].copy_from_slice(&crc.to_le_bytes());
    f[20..24].copy_from_slice(&CHUNKS_MAGIC);
    f
}

fn array<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}

pub(crate) fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    array(b, at).map(u32::from_le_bytes)
}
pub(crate) fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    array(b, at).map(u64::from_le_bytes)
}
pub(crate) fn i64_at(b: &[u8], at: usize) -> Option<i64> {
    array(b, at).map(i64::from_le_bytes)
}

/// The checked layout of a chunks file.
#[derive(Debug)]
pub(crate) struct Layout {
    pub path: PathBuf,
    pub table_at: usize,
    pub series: usize,
}

impl Layout {
    /// Checks the header, footer and table of `bytes` (the file at `path`).
    pub(crate) fn parse(path: &Path, b: &[u8]) -> Result<Layout> {
        let len = b.len();
        if len < HEADER_LEN + FOOTER_LEN {
            return Err(corrupt(
                path,
                len as u64,
                "file too short for header and footer",
            ));
        }
        if b.get(..4) != Some(&CHUNKS_MAGIC[..]) {
            return Err(corrupt(path, 0, "bad magic in header"));
        }
        let version = u32_at(b, 4).unwrap_or(0);
        if version != CHUNKS_FORMAT_V1 {
            return Err(corrupt(path, 4, format!("unsupported version {version}")));
        }
        let f = len - FOOTER_LEN;
        if b.get(f + 20..) != Some(&CHUNKS_MAGIC[..]) {
            return Err(corrupt(path, (f + 20) as u64, "bad magic in footer"));
        }
        let stored = u32_at(b, f + 16).unwrap_or(0);
        let computed = crc32c::crc32c(b.get(f..f + 16).unwrap_or_default());
        if stored != computed {
            return Err(corrupt(
                path,
                (f + 16) as u64,
                format!(
                    "footer checksum mismatch: expected {stored:#010x}, found {computed:#010x}"
                ),
            ));
        }
        let table_at = u64_at(b, f).unwrap_or(0);
        let series = u32_at(b, f + 8).unwrap_or(0) as usize;
        let table_len = series.checked_mul(TABLE_ENTRY_LEN);
        let table_at = usize::try_from(table_at)
            .ok()
            .filter(|&t| t >= HEADER_LEN && table_len.and_then(|l| t.checked_add(l)) == Some(f));
        let Some(table_at) = table_at else {
            return Err(corrupt(
                path,
                f as u64,
                "table offset or series count out of range",
            ));
        };
        let stored = u32_at(b, f + 12).unwrap_or(0);
        let computed = crc32c::crc32c(b.get(table_at..f).unwrap_or_default());
        if stored != computed {
            return Err(corrupt(
                path,
                table_at as u64,
                format!("table checksum mismatch: expected {stored:#010x}, found {computed:#010x}"),
            ));
        }
        Ok(Layout {
            path: path.to_path_buf(),
            table_at,
            series,
        })
    }

    /// The checked section of series `id`: its descriptors and the offset of
    /// its first chunk's bytes.
    pub(crate) fn section<'a>(&self, b: &'a [u8], id: usize) -> Result<Section<'a>> {
        if id >= self.series {
            return Err(corrupt(
                &self.path,
                self.table_at as u64,
                format!("series {id} not in table of {}", self.series),
            ));
        }
        let entry = self.table_at + id * TABLE_ENTRY_LEN;
        let (Some(off), Some(len)) = (u64_at(b, entry), u32_at(b, entry + 8)) else {
            return Err(corrupt(&self.path, entry as u64, "truncated table entry"));
        };
        let start = usize::try_from(off).unwrap_or(usize::MAX);
        let end = start.saturating_add(len as usize);
        let bytes = match b.get(start..end) {
            Some(s) if start >= HEADER_LEN && end <= self.table_at && s.len() >= 8 => s,
            _ => {
                return Err(corrupt(
                    &self.path,
                    entry as u64,
                    format!("section {start}..{end} of series {id} out of range"),
                ));
            }
        };
        let body = bytes.get(..bytes.len() - 4).unwrap_or_default();
        let stored = u32_at(bytes, bytes.len() - 4).unwrap_or(0);
        let computed = crc32c::crc32c(body);
        if stored != computed {
            return Err(corrupt(
                &self.path,
                off,
                format!(
                    "section of series {id}: checksum mismatch: expected {stored:#010x}, found {computed:#010x}"
                ),
            ));
        }
        let count = u32_at(body, 0).unwrap_or(0) as usize;
        let data_at = count
            .checked_mul(DESC_LEN)
            .and_then(|d| d.checked_add(4))
            .filter(|&d| d <= body.len());
        let Some(data_at) = data_at else {
            return Err(corrupt(
                &self.path,
                off,
                format!("series {id}: bad chunk count {count}"),
            ));
        };
        Ok(Section {
            body,
            count,
            data_at,
            file_offset: off,
        })
    }
}

/// One series' section, checksum verified.
pub(crate) struct Section<'a> {
    body: &'a [u8],
    count: usize,
    data_at: usize,
    pub file_offset: u64,
}

impl<'a> Section<'a> {
    /// The chunks: descriptor and bytes, in time order; `Err(offset)` where a
    /// chunk overruns the section.
    pub(crate) fn chunks(&self) -> impl Iterator<Item = Result<(ChunkDesc, &'a [u8]), u64>> + '_ {
        let mut at = self.data_at;
        (0..self.count).map(move |i| {
            let d = 4 + i * DESC_LEN;
            let desc = match (
                i64_at(self.body, d),
                i64_at(self.body, d + 8),
                u32_at(self.body, d + 16),
            ) {
                (Some(min_t), Some(max_t), Some(len)) => ChunkDesc { min_t, max_t, len },
                _ => return Err(self.file_offset + d as u64),
            };
            let end = at.saturating_add(desc.len as usize);
            let bytes = self.body.get(at..end).ok_or(self.file_offset + at as u64)?;
            at = end;
            Ok((desc, bytes))
        })
    }
}
