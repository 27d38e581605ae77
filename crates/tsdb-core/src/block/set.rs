//! The set of open blocks: a snapshot list readers load without locks, and
//! opening a blocks directory (partial blocks removed, corrupt ones moved
//! aside, sources of finished compactions deleted).

use std::collections::HashSet;
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
                fs::remove_dir_all(&path)?;
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
    /// are dropped afterwards (compaction applied them).
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
        let stones = self.tombstones.load_full();
        if stones
            .iter()
            .any(|t| t.blocks.iter().any(|b| remove.contains(b)))
        {
            let pruned = tombstones::without_blocks(&stones, remove);
            tombstones::store(&self.dir, &pruned)?;
            self.tombstones.store(Arc::new(pruned));
        }
        Ok(())
    }

    /// The tombstones; load them before [`BlockSet::snapshot`].
    pub(crate) fn tombstones(&self) -> Arc<Vec<Arc<Tombstone>>> {
        self.tombstones.load_full()
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
