//! Reads over the head and the blocks: series from several sources merged in
//! time order, duplicates removed (the head wins, then the newer block).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use tsdb_index::{Labels, Matcher};

use super::Block;
use super::tombstones::{self, Tombstone};
use crate::api::{SelectHints, Series};
use crate::db::Inner;
use crate::error::{Error, Result};

/// One source's samples of a series, in time order.
type Part = (Vec<i64>, Vec<f64>);

/// The blocks of `list` overlapping `[min, max]`, oldest id first (the merge
/// priority: a later source wins a duplicate timestamp).
fn overlapping(list: &[Arc<Block>], min: i64, max: i64) -> Vec<&Arc<Block>> {
    let mut out: Vec<&Arc<Block>> = list
        .iter()
        .filter(|b| b.meta().overlaps(min, max))
        .collect();
    out.sort_by(|a, b| a.meta().id.cmp(&b.meta().id));
    out
}

/// Merges parts (in priority order, lowest first) into one time-ordered
/// series without duplicate timestamps.
pub(crate) fn merge_parts(mut parts: Vec<Part>) -> Part {
    parts.retain(|p| !p.0.is_empty());
    if parts.len() <= 1 {
        return parts.pop().unwrap_or_default();
    }
    let total: usize = parts.iter().map(|p| p.0.len()).sum();
    let mut all: Vec<(i64, usize, f64)> = Vec::with_capacity(total);
    for (k, (ts, vs)) in parts.iter().enumerate() {
        all.extend(ts.iter().zip(vs).map(|(&t, &v)| (t, k, v)));
    }
    all.sort_unstable_by_key(|&(t, k, _)| (t, k));
    let mut ts = Vec::with_capacity(total);
    let mut vs = Vec::with_capacity(total);
    for (i, &(t, _, v)) in all.iter().enumerate() {
        // Keep the last (highest priority) of each run of equal timestamps.
        if all.get(i + 1).is_some_and(|n| n.0 == t) {
            continue;
        }
        ts.push(t);
        vs.push(v);
    }
    (ts, vs)
}

impl Inner {
    /// `Querier::select` over the head and the blocks.
    pub(crate) fn select_all(
        &self,
        matchers: &[Matcher],
        hints: &SelectHints,
    ) -> Result<Vec<Series>> {
        let (min, max) = (hints.min_time_ms, hints.max_time_ms);
        let mut by_labels: BTreeMap<Labels, Vec<Part>> = BTreeMap::new();
        // The head first: a cut publishes its block before truncating the head,
        // so samples gone from the head are in the snapshot loaded after.
        let mut head_parts = Vec::new();
        for id in self.index.load().select(matchers).map_err(Error::Query)? {
            if let Some(s) = self.head.read(id, min, max)?
                && !s.timestamps.is_empty()
            {
                head_parts.push((s.labels, (s.timestamps, s.values)));
            }
        }
        // Tombstones before blocks: compaction publishes the rewritten block
        // before it drops the tombstones it applied.
        let stones = self.blocks.tombstones();
        let snapshot = self.blocks.snapshot();
        for block in overlapping(&snapshot, min, max) {
            for id in block.select(matchers)? {
                let (mut ts, mut vs) = (Vec::new(), Vec::new());
                block.read_series(id, min, max, &mut ts, &mut vs)?;
                if ts.is_empty() {
                    continue;
                }
                let labels = block.labels(id)?;
                tombstones::apply(&stones, &block.meta().id, &labels, &mut ts, &mut vs);
                if !ts.is_empty() {
                    by_labels.entry(labels).or_default().push((ts, vs));
                }
            }
        }
        for (labels, part) in head_parts {
            by_labels.entry(labels).or_default().push(part);
        }
        Ok(by_labels
            .into_iter()
            .filter_map(|(labels, parts)| {
                let (timestamps, values) = merge_parts(parts);
                (!timestamps.is_empty()).then_some(Series {
                    labels,
                    timestamps,
                    values,
                })
            })
            .collect())
    }

    /// `Querier::series` over the head and the blocks.
    pub(crate) fn series_all(
        &self,
        matchers: &[Matcher],
        hints: &SelectHints,
    ) -> Result<Vec<Labels>> {
        let (min, max) = (hints.min_time_ms, hints.max_time_ms);
        let mut out = Vec::new();
        for id in self.index.load().select(matchers).map_err(Error::Query)? {
            if let Some(labels) = self.head.labels_if_in_range(id, min, max)? {
                out.push(labels);
            }
        }
        let stones = self.blocks.tombstones();
        let snapshot = self.blocks.snapshot();
        let (mut ts, mut vs) = (Vec::new(), Vec::new());
        for block in overlapping(&snapshot, min, max) {
            for id in block.select(matchers)? {
                ts.clear();
                vs.clear();
                block.read_series(id, min, max, &mut ts, &mut vs)?;
                if ts.is_empty() {
                    continue;
                }
                let labels = block.labels(id)?;
                tombstones::apply(&stones, &block.meta().id, &labels, &mut ts, &mut vs);
                if !ts.is_empty() {
                    out.push(labels);
                }
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// `Querier::label_names` over the head and the blocks. Series deleted
    /// whole are not counted: head GC drops them from the head's index, and a
    /// block's series its tombstones delete whole are skipped.
    pub(crate) fn label_names_all(&self, matchers: &[Matcher]) -> Result<Vec<String>> {
        let head = self
            .index
            .load()
            .label_names(matchers)
            .map_err(Error::Query)?;
        self.with_block_labels(
            head,
            matchers,
            |block| block.label_names(matchers),
            |l| l.iter().map(|(n, _)| n.to_string()).collect(),
            // A series has the name when its value is not empty.
            |n| Matcher::not_equal(n, ""),
        )
    }

    /// `Querier::label_values` over the head and the blocks (series deleted
    /// whole skipped, as for label names).
    pub(crate) fn label_values_all(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>> {
        let head = self
            .index
            .load()
            .label_values(name, matchers)
            .map_err(Error::Query)?;
        self.with_block_labels(
            head,
            matchers,
            |block| block.label_values(name, matchers),
            |l| l.get(name).map(str::to_string).into_iter().collect(),
            |v| Matcher::equal(name, v),
        )
    }

    /// `out` plus the items `list` gives for every block, sorted and unique. An
    /// item that series deleted whole carry (`carried` names a series' items) is
    /// kept only if a live series matching `matchers` and `has(item)` has it too.
    fn with_block_labels(
        &self,
        mut out: Vec<String>,
        matchers: &[Matcher],
        list: impl Fn(&Block) -> Result<Vec<String>>,
        carried: impl Fn(&Labels) -> Vec<String>,
        has: impl Fn(&str) -> Matcher,
    ) -> Result<Vec<String>> {
        let stones = self.blocks.tombstones();
        for block in self.blocks.snapshot().iter() {
            let mut items = list(block)?;
            let gone = self
                .blocks
                .deleted_whole(block, &stones, || deleted_whole(block, &stones))?;
            if !gone.is_empty() {
                let carried = gone_labels(block, &gone, &carried)?;
                let mut keep = Vec::with_capacity(items.len());
                for item in items {
                    if !carried.contains(&item) || any_live(block, matchers, has(&item), &gone)? {
                        keep.push(item);
                    }
                }
                items = keep;
            }
            out.extend(items);
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

/// The series of `block` its tombstones delete whole (no sample left).
/// Empty, without reading a series, when no tombstone names the block.
fn deleted_whole(block: &Block, stones: &[Arc<Tombstone>]) -> Result<HashSet<u32>> {
    let id = &block.meta().id;
    let mut gone = HashSet::new();
    let mut seen = HashSet::new();
    let (mut ts, mut vs) = (Vec::new(), Vec::new());
    for t in stones.iter().filter(|t| t.blocks.iter().any(|b| b == id)) {
        for sid in block.select(&t.matchers)? {
            if !seen.insert(sid) {
                continue;
            }
            ts.clear();
            vs.clear();
            block.read_series(sid, i64::MIN, i64::MAX, &mut ts, &mut vs)?;
            tombstones::apply(stones, id, &block.labels(sid)?, &mut ts, &mut vs);
            if ts.is_empty() {
                gone.insert(sid);
            }
        }
    }
    Ok(gone)
}

/// What `pick` takes from the labels of the series `gone`.
fn gone_labels(
    block: &Block,
    gone: &HashSet<u32>,
    pick: impl Fn(&Labels) -> Vec<String>,
) -> Result<HashSet<String>> {
    let mut out = HashSet::new();
    for &id in gone {
        out.extend(pick(&block.labels(id)?));
    }
    Ok(out)
}

/// Whether a series of `block` matching `matchers` and `extra` is not in
/// `gone` (postings only: no series is read).
fn any_live(
    block: &Block,
    matchers: &[Matcher],
    extra: Matcher,
    gone: &HashSet<u32>,
) -> Result<bool> {
    let mut all = matchers.to_vec();
    all.push(extra);
    Ok(block.select(&all)?.iter().any(|id| !gone.contains(id)))
}

#[cfg(test)]
mod tests {
    use super::merge_parts;

    #[test]
    fn merge_keeps_time_order_and_later_parts_win() {
        let a = (vec![1, 3, 5], vec![1.0, 3.0, 5.0]);
        let b = (vec![2, 3, 6], vec![2.0, 30.0, 6.0]);
        let (ts, vs) = merge_parts(vec![a, b]);
        assert_eq!(ts, [1, 2, 3, 5, 6]);
        assert_eq!(vs, [1.0, 2.0, 30.0, 5.0, 6.0]);
    }
}
