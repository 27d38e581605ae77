//! The chunks file: a header, one CRC-checked section per series (chunk
//! descriptors, then the chunks' bytes), in version 2 a table of shared
//! timestamp sections, a table of section offsets and a footer (see
//! `docs/format/block.md`).

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use super::{CHUNKS_FORMAT_V1, CHUNKS_FORMAT_V2, CHUNKS_MAGIC, corrupt};
use crate::error::Result;

/// Bytes of the header: magic, version, reserved.
pub(crate) const HEADER_LEN: usize = 16;
/// Bytes of the footer: table offset, series count, table CRC, footer CRC, magic.
pub(crate) const FOOTER_LEN: usize = 24;
/// Bytes of one chunk descriptor: min time, max time, length.
pub(crate) const DESC_LEN: usize = 20;
/// Bytes of one table entry: section offset, section length.
pub(crate) const TABLE_ENTRY_LEN: usize = 12;
/// Bytes of the version 2 footer: the version 1 fields, then the offset and
/// CRC of the shared timestamp sections.
pub(crate) const FOOTER_V2_LEN: usize = 36;
/// First byte of a stored chunk whose timestamp section is a shared one (no
/// codec chunk starts with it: it is not a chunk format version). Then the
/// shared section's number (u32), the chunk's header length (u8), its header
/// and its value section.
pub(crate) const SHARED_TS: u8 = 0xff;
/// Bytes before a shared-timestamps chunk's header: marker, number, length.
pub(crate) const SHARED_TS_PREFIX: usize = 6;

/// A chunk's place in its section.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ChunkDesc {
    pub min_t: i64,
    pub max_t: i64,
    pub len: u32,
}

/// The file header of `version`.
pub(crate) fn header(version: u32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(&CHUNKS_MAGIC);
    h[4..8].copy_from_slice(&version.to_le_bytes());
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

/// The version 2 footer: [`footer`]'s first 16 bytes, the offset and CRC of
/// the shared timestamp sections, the CRC of the 28 bytes before it, magic.
pub(crate) fn footer_v2(
    table_offset: u64,
    series: u32,
    table_crc: u32,
    shared_offset: u64,
    shared_crc: u32,
) -> [u8; FOOTER_V2_LEN] {
    let mut f = [0u8; FOOTER_V2_LEN];
    f[..8].copy_from_slice(&table_offset.to_le_bytes());
    f[8..12].copy_from_slice(&series.to_le_bytes());
    f[12..16].copy_from_slice(&table_crc.to_le_bytes());
    f[16..24].copy_from_slice(&shared_offset.to_le_bytes());
    f[24..28].copy_from_slice(&shared_crc.to_le_bytes());
    let crc = crc32c::crc32c(&f[..28]);
    f[28..32].copy_from_slice(&crc.to_le_bytes());
    f[32..36].copy_from_slice(&CHUNKS_MAGIC);
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
    /// Where the series' sections end: the table, or in version 2 the
    /// shared timestamp sections.
    sections_end: usize,
    /// Where each shared timestamp section lies in the file (version 2).
    shared: Vec<(usize, usize)>,
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
        let footer_len = match version {
            CHUNKS_FORMAT_V1 => FOOTER_LEN,
            CHUNKS_FORMAT_V2 if len >= HEADER_LEN + FOOTER_V2_LEN => FOOTER_V2_LEN,
            CHUNKS_FORMAT_V2 => {
                return Err(corrupt(path, len as u64, "file too short for its footer"));
            }
            _ => return Err(corrupt(path, 4, format!("unsupported version {version}"))),
        };
        let f = len - footer_len;
        let crc_at = footer_len - 8;
        if b.get(f + footer_len - 4..) != Some(&CHUNKS_MAGIC[..]) {
            return Err(corrupt(
                path,
                (f + footer_len - 4) as u64,
                "bad magic in footer",
            ));
        }
        let stored = u32_at(b, f + crc_at).unwrap_or(0);
        let computed = crc32c::crc32c(b.get(f..f + crc_at).unwrap_or_default());
        if stored != computed {
            return Err(corrupt(
                path,
                (f + crc_at) as u64,
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
        let (sections_end, shared) = match version {
            CHUNKS_FORMAT_V2 => Self::parse_shared(path, b, f, table_at)?,
            _ => (table_at, Vec::new()),
        };
        Ok(Layout {
            path: path.to_path_buf(),
            table_at,
            series,
            sections_end,
            shared,
        })
    }

    /// The shared timestamp sections of a version 2 file whose footer is at
    /// `f`: from the footer's offset up to the table, `count u32`, then each
    /// as `len u32` and its bytes; checked against the footer's CRC. Returns
    /// where they start and where each lies.
    fn parse_shared(
        path: &Path,
        b: &[u8],
        f: usize,
        table_at: usize,
    ) -> Result<(usize, Vec<(usize, usize)>)> {
        let at = u64_at(b, f + 16)
            .and_then(|a| usize::try_from(a).ok())
            .filter(|&a| a >= HEADER_LEN && a.saturating_add(4) <= table_at);
        let Some(at) = at else {
            return Err(corrupt(
                path,
                f as u64,
                "shared timestamps offset out of range",
            ));
        };
        let region = b.get(at..table_at).unwrap_or_default();
        let stored = u32_at(b, f + 24).unwrap_or(0);
        let computed = crc32c::crc32c(region);
        if stored != computed {
            return Err(corrupt(
                path,
                at as u64,
                format!(
                    "shared timestamps checksum mismatch: expected {stored:#010x}, found {computed:#010x}"
                ),
            ));
        }
        let count = u32_at(region, 0).unwrap_or(0) as usize;
        // Each takes at least its 4-byte length: bounds the table by the file.
        if count > region.len() / 4 {
            return Err(corrupt(
                path,
                at as u64,
                format!("bad shared timestamps count {count}"),
            ));
        }
        let mut shared = Vec::with_capacity(count);
        let mut pos = 4;
        for i in 0..count {
            let len = u32_at(region, pos).map(|l| l as usize);
            let end = len
                .and_then(|l| (pos + 4).checked_add(l))
                .filter(|&e| e <= region.len());
            let (Some(len), Some(end)) = (len, end) else {
                return Err(corrupt(
                    path,
                    (at + pos) as u64,
                    format!("shared timestamps section {i} overruns its table"),
                ));
            };
            shared.push((at + pos + 4, len));
            pos = end;
        }
        if pos != region.len() {
            return Err(corrupt(
                path,
                (at + pos) as u64,
                "bytes after the shared timestamps",
            ));
        }
        Ok((at, shared))
    }

    /// A stored chunk as the codec reads it: itself, or, for one that names a
    /// shared timestamp section, its header, that section and its values put
    /// back together. `Err(what)` when the reference is malformed.
    pub(crate) fn chunk_bytes<'a>(
        &self,
        b: &'a [u8],
        stored: &'a [u8],
    ) -> std::result::Result<Cow<'a, [u8]>, String> {
        if stored.first() != Some(&SHARED_TS) {
            return Ok(Cow::Borrowed(stored));
        }
        let number = u32_at(stored, 1).map(|n| n as usize);
        let header_len = stored.get(5).map(|&h| usize::from(h));
        let (Some(number), Some(header_len)) = (number, header_len) else {
            return Err("shared-timestamps chunk too short".into());
        };
        let Some(&(at, len)) = self.shared.get(number) else {
            return Err(format!(
                "shared timestamps section {number} of {} named",
                self.shared.len()
            ));
        };
        let rest = stored.get(SHARED_TS_PREFIX..).unwrap_or_default();
        let (Some(header), Some(values), Some(ts)) = (
            rest.get(..header_len),
            rest.get(header_len..),
            b.get(at..at + len),
        ) else {
            return Err("shared-timestamps chunk shorter than its header".into());
        };
        let mut bytes = Vec::with_capacity(header.len() + ts.len() + values.len());
        bytes.extend_from_slice(header);
        bytes.extend_from_slice(ts);
        bytes.extend_from_slice(values);
        Ok(Cow::Owned(bytes))
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
            Some(s) if start >= HEADER_LEN && end <= self.sections_end && s.len() >= 8 => s,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(shared: Vec<(usize, usize)>) -> Layout {
        Layout {
            path: PathBuf::from("chunks"),
            table_at: 0,
            series: 0,
            sections_end: 0,
            shared,
        }
    }

    #[test]
    fn a_shared_timestamps_chunk_is_put_back_together_or_refused() {
        // The file holds the shared section [7, 8, 9] at offset 2.
        let file = [0u8, 0, 7, 8, 9, 0];
        let l = layout(vec![(2, 3)]);
        let chunk = [SHARED_TS, 0, 0, 0, 0, 2, 0xa, 0xb, 0xc];
        assert_eq!(
            l.chunk_bytes(&file, &chunk).unwrap().as_ref(),
            [0xa, 0xb, 7, 8, 9, 0xc]
        );
        // A chunk in place is itself, not a copy.
        let plain = [3u8, 0x21, 5];
        assert!(matches!(l.chunk_bytes(&file, &plain), Ok(Cow::Borrowed(b)) if b == plain));
        for bad in [
            &[SHARED_TS, 0, 0][..],                    // too short
            &[SHARED_TS, 1, 0, 0, 0, 2, 0xa, 0xb][..], // section 1 of 1
            &[SHARED_TS, 0, 0, 0, 0, 9, 0xa, 0xb][..], // header past the end
        ] {
            assert!(l.chunk_bytes(&file, bad).is_err(), "{bad:?}");
        }
        // A section that lies past the file.
        let l = layout(vec![(4, 3)]);
        assert!(l.chunk_bytes(&file, &chunk).is_err());
    }
}
