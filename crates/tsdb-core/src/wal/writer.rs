//! Appending to the WAL: segment rotation and group commit.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::record::{SEGMENT_MAGIC, file_header};
use super::{parse_segment, segment_name};
use crate::error::{Error, Result};
use crate::storage::{Storage, StorageFile};

struct Inner {
    segment: u64,
    file: Arc<dyn StorageFile>,
    segment_len: u64,
    /// Bytes written to the WAL since open (a log sequence number).
    lsn: u64,
    /// Bytes appended since the last checkpoint.
    since_checkpoint: u64,
}

struct SyncState {
    synced: u64,
    syncing: bool,
    failed: Option<String>,
    fsyncs: u64,
}

/// The WAL writer. Appends serialize on a short mutex (one `write` call); fsyncs
/// run outside it, one at a time, each covering every append before it.
pub(crate) struct Wal {
    storage: Arc<dyn Storage>,
    dir: PathBuf,
    segment_bytes: u64,
    inner: Mutex<Inner>,
    sync: Mutex<SyncState>,
    synced_cv: Condvar,
    /// Durable writers that have started a batch but not yet appended it.
    durable_pending: AtomicUsize,
}

/// Longest a group-commit leader waits for in-flight durable writers to
/// append before it fsyncs, so one fsync covers their batches too.
pub(crate) const GROUP_COMMIT_MAX_WAIT: Duration = Duration::from_micros(800);

/// Marks a durable writer between the start of its batch and its WAL append;
/// dropping it (after the append, or on an early return) unmarks it.
pub(crate) struct DurableIntent<'a>(&'a AtomicUsize);

impl Drop for DurableIntent<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Wal {
    /// Starts a new segment after `last_segment` in `dir`.
    pub(crate) fn create(
        storage: Arc<dyn Storage>,
        dir: &Path,
        last_segment: u64,
        segment_bytes: u64,
    ) -> Result<Wal> {
        let segment = last_segment + 1;
        let file = new_segment(&*storage, dir, segment)?;
        Ok(Wal {
            storage,
            dir: dir.to_path_buf(),
            segment_bytes: segment_bytes.max(4096),
            inner: Mutex::new(Inner {
                segment,
                file,
                segment_len: super::record::FILE_HEADER_LEN as u64,
                lsn: 0,
                since_checkpoint: 0,
            }),
            sync: Mutex::new(SyncState {
                synced: 0,
                syncing: false,
                failed: None,
                fsyncs: 0,
            }),
            synced_cv: Condvar::new(),
            durable_pending: AtomicUsize::new(0),
        })
    }

    fn check_poisoned(&self) -> Result<()> {
        match &self.sync.lock().failed {
            Some(why) => Err(Error::WalPoisoned(why.clone())),
            None => Ok(()),
        }
    }

    fn poison(&self, why: String) -> Error {
        let mut st = self.sync.lock();
        st.failed.get_or_insert(why.clone());
        self.synced_cv.notify_all();
        Error::WalPoisoned(why)
    }

    /// Appends encoded frames (written to the OS, not yet synced); returns the
    /// log position to pass to [`Wal::sync_to`].
    pub(crate) fn append(&self, frames: &[u8]) -> Result<u64> {
        self.check_poisoned()?;
        let mut inner = self.inner.lock();
        let len = frames.len() as u64;
        if inner.segment_len > super::record::FILE_HEADER_LEN as u64
            && inner.segment_len + len > self.segment_bytes
        {
            self.rotate_locked(&mut inner)?;
        }
        if let Err(e) = inner.file.write_all(frames) {
            // A partial write may have left a torn frame: nothing after it
            // could be replayed, so the log must not be used any further.
            return Err(self.poison(format!("write failed: {e}")));
        }
        inner.segment_len += len;
        inner.lsn += len;
        inner.since_checkpoint += len;
        Ok(inner.lsn)
    }

    fn rotate_locked(&self, inner: &mut Inner) -> Result<()> {
        if let Err(e) = inner.file.sync() {
            return Err(self.poison(format!("fsync of segment {} failed: {e}", inner.segment)));
        }
        self.sync.lock().fsyncs += 1;
        let next = inner.segment + 1;
        inner.file = new_segment(&*self.storage, &self.dir, next)?;
        inner.segment = next;
        inner.segment_len = super::record::FILE_HEADER_LEN as u64;
        Ok(())
    }

    /// Closes the current segment and starts a new one; returns the number of
    /// the closed segment (everything appended so far is in it or before it).
    pub(crate) fn rotate(&self) -> Result<u64> {
        self.check_poisoned()?;
        let mut inner = self.inner.lock();
        let closed = inner.segment;
        self.rotate_locked(&mut inner)?;
        inner.since_checkpoint = 0;
        Ok(closed)
    }

    /// The position after the last append.
    pub(crate) fn lsn(&self) -> u64 {
        self.inner.lock().lsn
    }

    /// Bytes appended since the last [`Wal::rotate`].
    pub(crate) fn bytes_since_checkpoint(&self) -> u64 {
        self.inner.lock().since_checkpoint
    }

    /// How many fsyncs the WAL issued.
    pub(crate) fn fsyncs(&self) -> u64 {
        self.sync.lock().fsyncs
    }

    /// Announces a durable batch on its way to [`Wal::append`]; see
    /// [`GROUP_COMMIT_MAX_WAIT`].
    pub(crate) fn durable_intent(&self) -> DurableIntent<'_> {
        self.durable_pending.fetch_add(1, Ordering::AcqRel);
        DurableIntent(&self.durable_pending)
    }

    /// Blocks until everything up to `lsn` is fsync'd. Concurrent callers share
    /// fsyncs: one leader syncs while the others wait for its result. Before
    /// syncing, the leader briefly waits for durable writers that are about to
    /// append, so that one fsync covers them as well.
    pub(crate) fn sync_to(&self, lsn: u64) -> Result<()> {
        let mut st = self.sync.lock();
        loop {
            if let Some(why) = &st.failed {
                return Err(Error::WalPoisoned(why.clone()));
            }
            if st.synced >= lsn {
                return Ok(());
            }
            if st.syncing {
                self.synced_cv.wait(&mut st);
                continue;
            }
            st.syncing = true;
            drop(st);
            let waited = Instant::now();
            while self.durable_pending.load(Ordering::Acquire) > 0
                && waited.elapsed() < GROUP_COMMIT_MAX_WAIT
            {
                std::thread::sleep(Duration::from_micros(50));
            }
            let (target, file) = {
                let inner = self.inner.lock();
                (inner.lsn, Arc::clone(&inner.file))
            };
            let res = file.sync();
            st = self.sync.lock();
            st.syncing = false;
            match res {
                Ok(()) => {
                    st.fsyncs += 1;
                    st.synced = st.synced.max(target);
                }
                Err(e) => {
                    let why = format!("fsync failed: {e}");
                    st.failed.get_or_insert(why);
                }
            }
            self.synced_cv.notify_all();
        }
    }

    /// Syncs everything appended so far.
    pub(crate) fn sync_all(&self) -> Result<()> {
        let lsn = self.lsn();
        self.sync_to(lsn)
    }

    /// Whether appends exist that are not yet synced.
    pub(crate) fn has_unsynced(&self) -> bool {
        let lsn = self.lsn();
        self.sync.lock().synced < lsn
    }

    /// Removes segments numbered `..=upto` (their data is in a checkpoint).
    pub(crate) fn remove_segments_upto(&self, upto: u64) -> Result<()> {
        for name in self.storage.list(&self.dir)? {
            if parse_segment(&name).is_some_and(|n| n <= upto) {
                self.storage.remove(&self.dir.join(name))?;
            }
        }
        self.storage.sync_dir(&self.dir)?;
        Ok(())
    }

    /// Number of segment files on disk.
    pub(crate) fn segment_count(&self) -> usize {
        self.storage
            .list(&self.dir)
            .map(|names| names.iter().filter(|n| parse_segment(n).is_some()).count())
            .unwrap_or(0)
    }
}

fn new_segment(storage: &dyn Storage, dir: &Path, n: u64) -> Result<Arc<dyn StorageFile>> {
    let file = storage.create(&dir.join(segment_name(n)))?;
    file.write_all(&file_header(SEGMENT_MAGIC))?;
    // Header and directory entry are made durable now: a segment that exists
    // after a crash always has a valid header, so an empty segment followed by
    // later ones is never mistaken for damage.
    file.sync()?;
    storage.sync_dir(dir)?;
    Ok(Arc::from(file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemStorage;

    #[test]
    fn group_commit_and_poisoning() {
        let mem = MemStorage::new();
        let wal = Wal::create(Arc::new(mem.clone()), Path::new("/w"), 0, 1 << 20).unwrap();
        let a = wal.append(b"abc").unwrap();
        let b = wal.append(b"def").unwrap();
        wal.sync_to(b).unwrap();
        wal.sync_to(a).unwrap();
        assert_eq!(wal.fsyncs(), 1);
        mem.set_fail_sync(true);
        let c = wal.append(b"ghi").unwrap();
        assert!(matches!(wal.sync_to(c), Err(Error::WalPoisoned(_))));
        mem.set_fail_sync(false);
        assert!(wal.append(b"x").is_err());
        assert!(wal.sync_to(c).is_err());
    }

    #[test]
    fn rotation_makes_new_segments() {
        let mem = MemStorage::new();
        let wal = Wal::create(Arc::new(mem.clone()), Path::new("/w"), 0, 4096).unwrap();
        for _ in 0..10 {
            wal.append(&[7u8; 1000]).unwrap();
        }
        assert!(wal.segment_count() >= 3);
        let closed = wal.rotate().unwrap();
        wal.remove_segments_upto(closed).unwrap();
        assert_eq!(wal.segment_count(), 1);
    }
}
