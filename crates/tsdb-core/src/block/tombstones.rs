//! Tombstones: deletions of series by matchers and time range, kept in
//! `blocks/tombstones.json` against the blocks that existed when the
//! deletion was made, applied at read time and dropped once compaction has
//! rewritten those blocks without the deleted samples.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tsdb_index::{Labels, MatchOp, Matcher};

use super::corrupt;
use crate::error::{Error, Result};

/// Name of the tombstones file inside the blocks directory.
pub const TOMBSTONES_FILE: &str = "tombstones.json";

#[derive(Clone, Debug, Serialize, Deserialize)]
struct StoredMatcher {
    op: String,
    name: String,
    value: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct StoredTombstone {
    matchers: Vec<StoredMatcher>,
    min_time_ms: i64,
    max_time_ms: i64,
    blocks: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredFile {
    version: u32,
    tombstones: Vec<StoredTombstone>,
}

/// One deletion.
#[derive(Clone, Debug)]
pub(crate) struct Tombstone {
    pub matchers: Vec<Matcher>,
    pub min_time_ms: i64,
    pub max_time_ms: i64,
    /// Ids of the blocks it applies to.
    pub blocks: Vec<String>,
}

fn op_str(op: MatchOp) -> &'static str {
    match op {
        MatchOp::Equal => "=",
        MatchOp::NotEqual => "!=",
        MatchOp::RegexMatch => "=~",
        MatchOp::RegexNoMatch => "!~",
    }
}

fn parse_op(s: &str) -> Option<MatchOp> {
    Some(match s {
        "=" => MatchOp::Equal,
        "!=" => MatchOp::NotEqual,
        "=~" => MatchOp::RegexMatch,
        "!~" => MatchOp::RegexNoMatch,
        _ => return None,
    })
}

impl Tombstone {
    /// Whether it deletes samples of `labels` in block `block`.
    pub(crate) fn applies(&self, block: &str, labels: &Labels) -> bool {
        self.blocks.iter().any(|b| b == block)
            && self.matchers.iter().all(|m| m.matches_labels(labels))
    }
}

/// Removes from `ts`/`vs` the samples that `tombstones` delete for `labels` in `block`.
pub(crate) fn apply(
    tombstones: &[Arc<Tombstone>],
    block: &str,
    labels: &Labels,
    ts: &mut Vec<i64>,
    vs: &mut Vec<f64>,
) {
    let ranges: Vec<(i64, i64)> = tombstones
        .iter()
        .filter(|t| t.applies(block, labels))
        .map(|t| (t.min_time_ms, t.max_time_ms))
        .collect();
    if ranges.is_empty() {
        return;
    }
    let mut keep = 0;
    for i in 0..ts.len() {
        let (Some(&t), Some(&v)) = (ts.get(i), vs.get(i)) else {
            break;
        };
        if ranges.iter().any(|&(a, b)| a <= t && t <= b) {
            continue;
        }
        if let (Some(tk), Some(vk)) = (ts.get_mut(keep), vs.get_mut(keep)) {
            *tk = t;
            *vk = v;
        }
        keep += 1;
    }
    ts.truncate(keep);
    vs.truncate(keep);
}

/// Reads the tombstones file of `dir`, keeping only entries for blocks in
/// `existing` (the others were compacted away).
pub(crate) fn load(dir: &Path, existing: &[String]) -> Result<Vec<Arc<Tombstone>>> {
    let path = dir.join(TOMBSTONES_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let file: StoredFile = serde_json::from_slice(&bytes).map_err(|e| {
        corrupt(
            &path,
            u64::try_from(e.column()).unwrap_or(0),
            format!("invalid tombstones (line {}): {e}", e.line()),
        )
    })?;
    let mut out = Vec::new();
    for t in file.tombstones {
        let mut matchers = Vec::new();
        for m in &t.matchers {
            let op = parse_op(&m.op)
                .ok_or_else(|| corrupt(&path, 0, format!("unknown matcher op {:?}", m.op)))?;
            matchers.push(
                Matcher::new(op, &m.name, &m.value)
                    .map_err(|e| corrupt(&path, 0, format!("bad matcher: {e}")))?,
            );
        }
        let blocks: Vec<String> = t
            .blocks
            .into_iter()
            .filter(|b| existing.contains(b))
            .collect();
        if !blocks.is_empty() {
            out.push(Arc::new(Tombstone {
                matchers,
                min_time_ms: t.min_time_ms,
                max_time_ms: t.max_time_ms,
                blocks,
            }));
        }
    }
    Ok(out)
}

/// Writes `list` as the tombstones file of `dir`, atomically (temp file,
/// fsync, rename, fsync of the directory).
pub(crate) fn store(dir: &Path, list: &[Arc<Tombstone>]) -> Result<()> {
    let file = StoredFile {
        version: 1,
        tombstones: list
            .iter()
            .map(|t| StoredTombstone {
                matchers: t
                    .matchers
                    .iter()
                    .map(|m| StoredMatcher {
                        op: op_str(m.op()).into(),
                        name: m.name().into(),
                        value: m.value().into(),
                    })
                    .collect(),
                min_time_ms: t.min_time_ms,
                max_time_ms: t.max_time_ms,
                blocks: t.blocks.clone(),
            })
            .collect(),
    };
    let bytes = serde_json::to_vec_pretty(&file).map_err(|e| Error::Io(e.into()))?;
    let path: PathBuf = dir.join(TOMBSTONES_FILE);
    crate::storage::write_atomic(&crate::storage::FsStorage, &path, &bytes)?;
    Ok(())
}

/// `list` without the blocks in `gone`; entries left with no block dropped.
pub(crate) fn without_blocks(list: &[Arc<Tombstone>], gone: &[String]) -> Vec<Arc<Tombstone>> {
    list.iter()
        .filter_map(|t| {
            if !t.blocks.iter().any(|b| gone.contains(b)) {
                return Some(Arc::clone(t));
            }
            let blocks: Vec<String> = t
                .blocks
                .iter()
                .filter(|b| !gone.contains(b))
                .cloned()
                .collect();
            (!blocks.is_empty()).then(|| {
                Arc::new(Tombstone {
                    blocks,
                    ..(**t).clone()
                })
            })
        })
        .collect()
}
