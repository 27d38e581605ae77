//! Reading the WAL back on open, repairing a torn or corrupt tail.

use std::path::{Path, PathBuf};

use super::parse_segment;
use super::record::{
    FILE_HEADER_LEN, Frame, SEGMENT_MAGIC, check_file_header, file_header, read_frame,
};
use crate::error::Result;
use crate::storage::Storage;

/// What replay cut off because it was torn or corrupt. Everything before
/// `offset` in `file` was replayed; the rest of that file and every later
/// segment was removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TailRepair {
    /// The segment where the damage starts.
    pub file: PathBuf,
    /// Offset of the first damaged frame; the file was truncated there (below
    /// the 8-byte header: the file was reset to an empty segment).
    pub offset: u64,
    /// What was wrong.
    pub what: String,
    /// Bytes dropped, later segments included.
    pub bytes_dropped: u64,
    /// Segments removed because they followed the damage.
    pub segments_removed: Vec<PathBuf>,
}

/// Totals of one replay.
#[derive(Clone, Debug, Default)]
pub(crate) struct ReplayStats {
    pub segments: usize,
    pub records: u64,
    pub bytes: u64,
    pub repair: Option<TailRepair>,
    /// The highest segment number seen (0 if none).
    pub last_segment: u64,
}

/// Replays every segment numbered above `after`, in order, passing each frame's
/// type and payload to `apply`. A frame that is torn, fails its checksum, or that
/// `apply` refuses (returns `Err(what)`) ends replay: the file is truncated
/// there, later segments are removed, and the repair is reported. Segments
/// numbered `..=after` (already in a checkpoint) are removed.
pub(crate) fn replay_segments(
    storage: &dyn Storage,
    dir: &Path,
    after: u64,
    mut apply: impl FnMut(u8, &[u8]) -> std::result::Result<(), String>,
) -> Result<ReplayStats> {
    let mut segs: Vec<u64> = storage
        .list(dir)?
        .iter()
        .filter_map(|n| parse_segment(n))
        .collect();
    segs.sort_unstable();
    let mut stats = ReplayStats::default();
    let mut removed_old = false;
    for &n in segs.iter().filter(|&&n| n <= after) {
        storage.remove(&dir.join(super::segment_name(n)))?;
        removed_old = true;
    }
    segs.retain(|&n| n > after);
    stats.last_segment = segs.last().copied().unwrap_or(after).max(after);

    let mut damage: Option<(usize, u64, String)> = None;
    let mut expected = None;
    for (i, &n) in segs.iter().enumerate() {
        if let Some(e) = expected
            && n != e
        {
            // A gap: what follows it cannot be trusted to be complete.
            damage = Some((i, u64::MAX, format!("segment {e:08} is missing")));
            break;
        }
        expected = Some(n + 1);
        let path = dir.join(super::segment_name(n));
        let bytes = storage.read(&path)?;
        stats.segments += 1;
        if let Err(what) = check_file_header(&bytes, SEGMENT_MAGIC) {
            damage = Some((i, 0, what));
            break;
        }
        let mut pos = FILE_HEADER_LEN;
        loop {
            match read_frame(&bytes, pos) {
                Ok(None) => break,
                Ok(Some(Frame {
                    kind,
                    payload,
                    next,
                })) => {
                    if let Err(what) = apply(kind, payload) {
                        damage = Some((i, pos as u64, what));
                        break;
                    }
                    stats.records += 1;
                    stats.bytes += (next - pos) as u64;
                    pos = next;
                }
                Err(e) => {
                    damage = Some((i, e.offset, e.what));
                    break;
                }
            }
        }
        if damage.is_some() {
            break;
        }
    }

    if let Some((i, offset, what)) = damage {
        let mut dropped = 0u64;
        let mut removed = Vec::new();
        let mut first_file = None;
        // The last segment kept: later segments must continue its numbering,
        // or the next open would see a gap and drop them.
        let mut last_kept = if i == 0 {
            after
        } else {
            segs.get(i - 1).copied().unwrap_or(after)
        };
        for (j, &n) in segs.iter().enumerate().skip(i) {
            let path = dir.join(super::segment_name(n));
            let len = storage.read(&path).map(|b| b.len() as u64).unwrap_or(0);
            if j == i && offset != u64::MAX {
                if offset >= FILE_HEADER_LEN as u64 {
                    dropped += len.saturating_sub(offset);
                    storage.truncate(&path, offset)?;
                } else {
                    // Even the header is damaged: keep an empty, valid segment.
                    dropped += len;
                    let file = storage.create(&path)?;
                    file.write_all(&file_header(SEGMENT_MAGIC))?;
                    file.sync()?;
                }
                last_kept = n;
            } else {
                dropped += len;
                storage.remove(&path)?;
                if j != i || offset == u64::MAX {
                    removed.push(path.clone());
                }
            }
            first_file.get_or_insert(path);
        }
        storage.sync_dir(dir)?;
        stats.last_segment = last_kept.max(after);
        stats.repair = Some(TailRepair {
            file: first_file.unwrap_or_default(),
            offset: if offset == u64::MAX { 0 } else { offset },
            what,
            bytes_dropped: dropped,
            segments_removed: removed,
        });
    } else if removed_old {
        storage.sync_dir(dir)?;
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemStorage;
    use crate::wal::record::{FrameBuf, kind};
    use std::sync::Arc;

    fn frames(n: u32) -> Vec<u8> {
        let mut fb = FrameBuf::default();
        for i in 0..n {
            fb.begin(kind::SAMPLES);
            fb.put_u32(1);
            fb.put_u32(i);
            fb.put_i64(i64::from(i));
            fb.put_u64(0);
            fb.end();
        }
        fb.bytes
    }

    #[test]
    fn torn_tail_is_truncated_at_every_offset() {
        let body = frames(3);
        let mut full = file_header(SEGMENT_MAGIC).to_vec();
        full.extend_from_slice(&body);
        let one = FILE_HEADER_LEN + body.len() / 3;
        for cut in 0..full.len() {
            let mem = MemStorage::new();
            let dir = Path::new("/w");
            mem.put(&dir.join("00000001"), full.clone());
            mem.put(&dir.join("00000002"), full[..cut].to_vec());
            let mut n = 0;
            let stats = replay_segments(&mem, dir, 0, |_, _| {
                n += 1;
                Ok(())
            })
            .unwrap();
            let whole = if cut < FILE_HEADER_LEN {
                0
            } else {
                (cut - FILE_HEADER_LEN) / (one - FILE_HEADER_LEN)
            };
            assert_eq!(n, 3 + whole, "cut {cut}");
            let clean = cut >= FILE_HEADER_LEN
                && (cut - FILE_HEADER_LEN).is_multiple_of(one - FILE_HEADER_LEN);
            assert_eq!(stats.repair.is_none(), clean, "cut {cut}");
            // A second replay finds a clean log with the same records.
            let mut m = 0;
            let again = replay_segments(&mem, dir, 0, |_, _| {
                m += 1;
                Ok(())
            })
            .unwrap();
            assert!(again.repair.is_none());
            assert_eq!(m, n);
        }
        let _ = Arc::new(0);
    }

    #[test]
    fn corruption_in_middle_drops_later_segments() {
        let mut full = file_header(SEGMENT_MAGIC).to_vec();
        full.extend_from_slice(&frames(2));
        let mem = MemStorage::new();
        let dir = Path::new("/w");
        let mut bad = full.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        mem.put(&dir.join("00000001"), bad);
        mem.put(&dir.join("00000002"), full.clone());
        let stats = replay_segments(&mem, dir, 0, |_, _| Ok(())).unwrap();
        let r = stats.repair.unwrap();
        assert_eq!(r.segments_removed.len(), 1);
        assert!(r.what.contains("checksum"));
        assert_eq!(stats.records, 1);
    }
}
