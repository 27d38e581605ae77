//! The set of open blocks: a snapshot list readers load without locks, and
//! opening a blocks directory (partial blocks removed, corrupt ones moved
//! aside, sources of finished compactions deleted).

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use super::tombstones::{self, Tombstone};
use super::ulid::is_block_id;
use super::{Block, CORRUPT_DIR, TMP_SUFFIX, sync_dir};
use crate::error::Result;

/// What opening the blocks directory found.
#[derive(Clone, Debug, Default)]
pub struct OpenReport {
    /// Blocks opened.
    pub blocks_loaded: usize,
    /// Blocks that failed to open, moved into `blocks/corrupt/`, with why.
    pub moved_aside: Vec<(PathBuf, String)>,
    /// Unfinished block directories (`*.tmp`) removed.
    pub partial_removed: Vec<PathBuf>,
    /// Blocks removed because a complete compacted block lists them as sources.
    pub compacted_sources_removed: Vec<String>,
}

/// The open blocks, sorted by (min time, id).
pub(crate) struct BlockSet {
    dir: PathBuf,
    list: ArcSwap<Vec<Arc<Block>>>,
    /// Serializes changes of the list (cut, compaction, retention).
    change: Mutex<()>,
    enabled: bool,
    /// Deletions not yet compacted away; readers load this before the list.
    tombstones: ArcSwap<Vec<Arc<Tombstone>>>,
    /// Per block, the series its tombstones delete whole, for the
    /// tombstones list it was computed with (label queries).
    gone: Mutex<GoneCache>,
}

/// See [`BlockSet::deleted_whole`].
#[derive(Default)]
struct GoneCache {
    /// The tombstones list the entries hold for (kept, so its address is
    /// not reused while it is the key).
    stones: Option<Arc<Vec<Arc<Tombstone>>>>,
    by_block: HashMap<String, Arc<HashSet<u32>>>,
}

fn sort(list: &mut [Arc<Block>]) {
    list.sort_by(|a, b| {
        (a.meta().min_time_ms, &a.meta().id).cmp(&(b.meta().min_time_ms, &b.meta().id))
    });
}

impl BlockSet {
    /// Opens every block in `dir` (created if missing).
    pub(crate) fn open(dir: &Path) -> Result<(BlockSet, OpenReport)> {
        fs::create_dir_all(dir)?;
        let mut report = OpenReport::default();
        let mut names: Vec<String> = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if let Ok(name) = entry.file_name().into_string() {
                names.push(name);
            }
        }
        names.sort();
        let mut blocks = Vec::new();
        for name in names {
            let path = dir.join(&name);
            if name.ends_with(TMP_SUFFIX) {
                // A block being written or removed, or the tombstones file
                // being replaced (`tombstones.json.tmp`).
                if fs::symlink_metadata(&path)?.is_dir() {
                    fs::remove_dir_all(&path)?;
                } else {
                    fs::remove_file(&path)?;
                }
                report.partial_removed.push(path);
                continue;
            }
            if !is_block_id(&name) {
                continue;
            }
            match Block::open(&path) {
                Ok(b) => blocks.push(Arc::new(b)),
                Err(e) => {
                    let aside = dir.join(CORRUPT_DIR);
                    fs::create_dir_all(&aside)?;
                    fs::rename(&path, aside.join(&name))?;
                    sync_dir(&aside)?;
                    report.moved_aside.push((path, e.to_string()));
                }
            }
        }
        let replaced: HashSet<String> = blocks
            .iter()
            .flat_map(|b| b.meta().compaction.sources.iter().cloned())
            .collect();
        blocks.retain(|b| {
            if replaced.contains(&b.meta().id) {
                b.delete_when_unused();
                report.compacted_sources_removed.push(b.meta().id.clone());
                false
            } else {
                true
            }
        });
        sort(&mut blocks);
        let ids: Vec<String> = blocks.iter().map(|b| b.meta().id.clone()).collect();
        let stones = tombstones::load(dir, &ids)?;
        sync_dir(dir)?;
        report.blocks_loaded = blocks.len();
        Ok((
            BlockSet {
                dir: dir.to_path_buf(),
                list: ArcSwap::from_pointee(blocks),
                change: Mutex::new(()),
                enabled: true,
                tombstones: ArcSwap::from_pointee(stones),
                gone: Mutex::default(),
            },
            report,
        ))
    }

    /// An empty set that never holds blocks (storage without real files).
    pub(crate) fn disabled(dir: &Path) -> (BlockSet, OpenReport) {
        let set = BlockSet {
            dir: dir.to_path_buf(),
            list: ArcSwap::from_pointee(Vec::new()),
            change: Mutex::new(()),
            enabled: false,
            tombstones: ArcSwap::from_pointee(Vec::new()),
            gone: Mutex::default(),
        };
        (set, OpenReport::default())
    }

    /// Whether blocks can be written (the storage is the real file system).
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    /// The directory of blocks.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The current list; readers keep it (and its blocks) as long as they need.
    pub(crate) fn snapshot(&self) -> Arc<Vec<Arc<Block>>> {
        self.list.load_full()
    }

    /// Holds the change lock (compaction and retention plan under it).
    pub(crate) fn lock_changes(&self) -> parking_lot::MutexGuard<'_, ()> {
        self.change.lock()
    }

    /// Replaces the blocks with ids in `remove` by `add` in one step (the
    /// caller holds [`BlockSet::lock_changes`]); removed blocks are deleted
    /// from disk once no snapshot holds them. Tombstones of removed blocks
    /// are dropped once their directories are gone (compaction applied them):
    /// a directory still on disk comes back after a crash and needs them.
    pub(crate) fn replace_locked(&self, remove: &[String], add: Vec<Block>) -> Result<()> {
        let current = self.list.load_full();
        let mut next: Vec<Arc<Block>> = Vec::with_capacity(current.len() + add.len());
        for b in current.iter() {
            if remove.contains(&b.meta().id) {
                b.delete_when_unused();
            } else {
                next.push(Arc::clone(b));
            }
        }
        next.extend(add.into_iter().map(Arc::new));
        sort(&mut next);
        self.list.store(Arc::new(next));
        // Our reference gone, blocks no reader holds are deleted now.
        drop(current);
        self.prune_tombstones_locked()
    }

    /// Drops, durably, tombstone entries for blocks neither listed nor on disk.
    fn prune_tombstones_locked(&self) -> Result<()> {
        let listed: HashSet<String> = self
            .list
            .load()
            .iter()
            .map(|b| b.meta().id.clone())
            .collect();
        let stones = self.tombstones.load_full();
        let gone: Vec<String> = stones
            .iter()
            .flat_map(|t| t.blocks.iter())
            .filter(|id| !listed.contains(*id) && !self.dir.join(id).exists())
            .cloned()
            .collect::<HashSet<String>>()
            .into_iter()
            .collect();
        if !gone.is_empty() {
            let pruned = tombstones::without_blocks(&stones, &gone);
            tombstones::store(&self.dir, &pruned)?;
            self.tombstones.store(Arc::new(pruned));
        }
        Ok(())
    }

    /// The tombstones; load them before [`BlockSet::snapshot`].
    pub(crate) fn tombstones(&self) -> Arc<Vec<Arc<Tombstone>>> {
        self.tombstones.load_full()
    }

    /// The series of `block` that `stones` (a list from
    /// [`BlockSet::tombstones`]) delete whole, computed by `compute` once
    /// per block and tombstones list.
    pub(crate) fn deleted_whole(
        &self,
        block: &Block,
        stones: &Arc<Vec<Arc<Tombstone>>>,
        compute: impl FnOnce() -> Result<HashSet<u32>>,
    ) -> Result<Arc<HashSet<u32>>> {
        let id = &block.meta().id;
        {
            let mut cache = self.gone.lock();
            if !cache
                .stones
                .as_ref()
                .is_some_and(|s| Arc::ptr_eq(s, stones))
            {
                cache.stones = Some(Arc::clone(stones));
                cache.by_block.clear();
            }
            if let Some(gone) = cache.by_block.get(id) {
                return Ok(Arc::clone(gone));
            }
        }
        let gone = Arc::new(compute()?);
        let mut cache = self.gone.lock();
        if cache
            .stones
            .as_ref()
            .is_some_and(|s| Arc::ptr_eq(s, stones))
        {
            cache.by_block.insert(id.clone(), Arc::clone(&gone));
        }
        Ok(gone)
    }

    /// Adds a tombstone, durably (the caller holds [`BlockSet::lock_changes`]).
    pub(crate) fn add_tombstone_locked(&self, t: Tombstone) -> Result<()> {
        let mut list: Vec<Arc<Tombstone>> = self.tombstones.load_full().as_ref().clone();
        list.push(Arc::new(t));
        tombstones::store(&self.dir, &list)?;
        self.tombstones.store(Arc::new(list));
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::block::{BlockWriter, new_block_id};
    use tsdb_index::{Labels, MatchOp, Matcher};

    /// A block dropped with no replacement (retention, or a compaction whose
    /// output is empty) keeps its directory while a reader holds it; a crash
    /// then brings it back at open, so its tombstones must still be on disk
    /// or deleted samples come back.
    #[test]
    fn tombstones_outlive_the_directory_of_a_removed_block() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = BlockWriter::create(dir.path(), &new_block_id()).unwrap();
        let up = Labels::new([("__name__", "up")]).unwrap();
        w.add_samples(up, &[1_000, 2_000], &[1.0, 0.0]).unwrap();
        let id = w.finish(1, Vec::new()).unwrap().id;
        let (set, _) = BlockSet::open(dir.path()).unwrap();
        let _changes = set.lock_changes();
        set.add_tombstone_locked(Tombstone {
            matchers: vec![Matcher::new(MatchOp::Equal, "__name__", "up").unwrap()],
            min_time_ms: 0,
            max_time_ms: 5_000,
            blocks: vec![id.clone()],
        })
        .unwrap();
        let reader = set.snapshot();
        set.replace_locked(std::slice::from_ref(&id), Vec::new())
            .unwrap();
        assert!(dir.path().join(&id).exists(), "held by the reader");
        // A crash now: the block is opened again, with its tombstone.
        let stones = tombstones::load(dir.path(), std::slice::from_ref(&id)).unwrap();
        assert_eq!(
            stones.len(),
            1,
            "tombstone pruned before its block was deleted"
        );
        drop(reader);
        assert!(!dir.path().join(&id).exists());
        // Once the directory is gone, the next change prunes the tombstone.
        set.replace_locked(&[], Vec::new()).unwrap();
        assert!(set.tombstones().is_empty());
        assert!(tombstones::load(dir.path(), &[]).unwrap().is_empty());
    }
}
