//! The storage-backend seam: a small file-system trait with a real implementation
//! ([`FsStorage`]) and an in-memory one with fault injection ([`MemStorage`]).
//!
//! Everything the WAL, the checkpoints and the metadata catalog write goes through
//! [`Storage`], so tests can fail an fsync, tear a write or simulate a power loss
//! (keep only what was synced) without touching a disk.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;

/// A file opened for appending. Writes and syncs take `&self` so a group-commit
/// leader can fsync while other writers keep appending.
pub trait StorageFile: Send + Sync {
    /// Appends all of `buf` at the end of the file.
    fn write_all(&self, buf: &[u8]) -> io::Result<()>;
    /// Makes everything written so far durable (`fdatasync`).
    fn sync(&self) -> io::Result<()>;
}

/// The file-system operations the engine needs. Paths are absolute or relative to
/// the process working directory, exactly as given to [`crate::Db::open`].
pub trait Storage: Send + Sync + fmt::Debug {
    /// Creates a directory and its parents.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Names of the entries of `dir` (not sorted).
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// The whole content of a file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Creates (or truncates) a file and opens it for appending.
    fn create(&self, path: &Path) -> io::Result<Box<dyn StorageFile>>;
    /// Cuts a file to `len` bytes and syncs it.
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()>;
    /// Removes a file.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Renames a file, replacing `to` if it exists.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Makes the entries of a directory (creations, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Whether a file exists.
    fn exists(&self, path: &Path) -> bool;
    /// Takes an exclusive lock on `path` (created if missing) for as long as
    /// the returned guard lives; fails with `WouldBlock` if another holder has it.
    fn lock(&self, path: &Path) -> io::Result<Box<dyn LockGuard>>;
    /// Whether paths name real files that can be memory-mapped: blocks are
    /// read through `memmap2` and exist only on such storage (an in-memory
    /// storage keeps everything in the head).
    fn is_file_system(&self) -> bool {
        false
    }
}

/// Holds a lock taken with [`Storage::lock`]; dropping it releases the lock.
pub trait LockGuard: Send + Sync {}

impl LockGuard for File {}

/// How long [`Storage::lock`] on the file system retries a held lock.
const LOCK_RETRY: std::time::Duration = std::time::Duration::from_millis(200);

fn locked(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::WouldBlock,
        format!("{} is locked by another open database", path.display()),
    )
}

/// Writes `bytes` to `path` atomically: a temp file beside it, fsync, rename, fsync
/// of the directory. A crash leaves either the old or the new content.
pub fn write_atomic(storage: &dyn Storage, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = tmp_path(path);
    {
        let file = storage.create(&tmp)?;
        file.write_all(bytes)?;
        file.sync()?;
    }
    storage.rename(&tmp, path)?;
    storage.sync_dir(parent_dir(path))
}

/// `path` with `.tmp` appended to its file name.
pub(crate) fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// The directory holding `path` (`.` for a bare name).
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct FsStorage;

struct FsFile(File);

impl StorageFile for FsFile {
    fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        (&self.0).write_all(buf)
    }
    fn sync(&self) -> io::Result<()> {
        self.0.sync_data()
    }
}

impl Storage for FsStorage {
    fn is_file_system(&self) -> bool {
        true
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            out.push(entry?.file_name().to_string_lossy().into_owned());
        }
        Ok(out)
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }
    fn create(&self, path: &Path) -> io::Result<Box<dyn StorageFile>> {
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(path)?;
        Ok(Box::new(FsFile(file)))
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let file = OpenOptions::new().write(true).open(path)?;
        file.set_len(len)?;
        file.sync_all()
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn LockGuard>> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        // A lock just released can look held for a moment: a child process
        // that another thread is spawning holds a copy of every descriptor, the
        // lock's included, from its fork until its exec closes them. So a
        // held lock is retried for up to LOCK_RETRY before it is reported (a
        // database really open elsewhere is reported that much later).
        let start = std::time::Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Box::new(file)),
                Err(std::fs::TryLockError::WouldBlock) if start.elapsed() < LOCK_RETRY => {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(std::fs::TryLockError::WouldBlock) => return Err(locked(path)),
                Err(std::fs::TryLockError::Error(e)) => return Err(e),
            }
        }
    }
}

#[derive(Default)]
struct MemFileData {
    data: Vec<u8>,
    synced_len: usize,
}

struct MemLock {
    path: PathBuf,
    held: Arc<Mutex<std::collections::BTreeSet<PathBuf>>>,
}

impl LockGuard for MemLock {}

impl Drop for MemLock {
    fn drop(&mut self) {
        self.held.lock().remove(&self.path);
    }
}

#[derive(Default)]
struct Faults {
    fail_sync: AtomicBool,
    fail_write: AtomicBool,
    syncs: AtomicU64,
}

/// An in-memory file system for tests, with fault injection.
///
/// Clones share the same files. [`MemStorage::crash_image`] returns a copy holding
/// only what was synced, as a power loss would.
#[derive(Clone, Default)]
pub struct MemStorage {
    files: Arc<Mutex<BTreeMap<PathBuf, Arc<Mutex<MemFileData>>>>>,
    faults: Arc<Faults>,
    locks: Arc<Mutex<std::collections::BTreeSet<PathBuf>>>,
}

impl fmt::Debug for MemStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemStorage")
            .field("files", &self.files.lock().len())
            .finish()
    }
}

struct MemFile {
    data: Arc<Mutex<MemFileData>>,
    faults: Arc<Faults>,
}

fn injected(what: &str) -> io::Error {
    io::Error::other(format!("injected fault: {what}"))
}

impl StorageFile for MemFile {
    fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        if self.faults.fail_write.load(Ordering::SeqCst) {
            return Err(injected("write"));
        }
        self.data.lock().data.extend_from_slice(buf);
        Ok(())
    }
    fn sync(&self) -> io::Result<()> {
        if self.faults.fail_sync.load(Ordering::SeqCst) {
            return Err(injected("fsync"));
        }
        self.faults.syncs.fetch_add(1, Ordering::SeqCst);
        let mut d = self.data.lock();
        d.synced_len = d.data.len();
        Ok(())
    }
}

impl MemStorage {
    /// An empty in-memory file system.
    pub fn new() -> MemStorage {
        MemStorage::default()
    }
    /// Makes every later fsync fail (or succeed again).
    pub fn set_fail_sync(&self, fail: bool) {
        self.faults.fail_sync.store(fail, Ordering::SeqCst);
    }
    /// Makes every later write fail (or succeed again).
    pub fn set_fail_write(&self, fail: bool) {
        self.faults.fail_write.store(fail, Ordering::SeqCst);
    }
    /// How many file fsyncs succeeded so far.
    pub fn sync_count(&self) -> u64 {
        self.faults.syncs.load(Ordering::SeqCst)
    }
    /// A separate file system holding only the synced prefix of every file.
    pub fn crash_image(&self) -> MemStorage {
        let files = self.files.lock();
        let mut out = BTreeMap::new();
        for (path, file) in files.iter() {
            let d = file.lock();
            let data = d.data.get(..d.synced_len).unwrap_or_default().to_vec();
            let synced_len = data.len();
            out.insert(
                path.clone(),
                Arc::new(Mutex::new(MemFileData { data, synced_len })),
            );
        }
        MemStorage {
            files: Arc::new(Mutex::new(out)),
            faults: Arc::new(Faults::default()),
            locks: Arc::default(),
        }
    }
    /// Replaces a file's content (synced), e.g. to corrupt it in a test.
    pub fn put(&self, path: &Path, bytes: Vec<u8>) {
        let synced_len = bytes.len();
        self.files.lock().insert(
            path.to_path_buf(),
            Arc::new(Mutex::new(MemFileData {
                data: bytes,
                synced_len,
            })),
        );
    }
    /// Paths of all files.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.files.lock().keys().cloned().collect()
    }
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, path.display().to_string())
}

impl Storage for MemStorage {
    fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        Ok(self
            .files
            .lock()
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect())
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let files = self.files.lock();
        let file = files.get(path).ok_or_else(|| not_found(path))?;
        Ok(file.lock().data.clone())
    }
    fn create(&self, path: &Path) -> io::Result<Box<dyn StorageFile>> {
        if self.faults.fail_write.load(Ordering::SeqCst) {
            return Err(injected("create"));
        }
        let data = Arc::new(Mutex::new(MemFileData::default()));
        self.files
            .lock()
            .insert(path.to_path_buf(), Arc::clone(&data));
        Ok(Box::new(MemFile {
            data,
            faults: Arc::clone(&self.faults),
        }))
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let files = self.files.lock();
        let file = files.get(path).ok_or_else(|| not_found(path))?;
        let mut d = file.lock();
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        d.data.truncate(len);
        d.synced_len = d.data.len();
        Ok(())
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        self.files
            .lock()
            .remove(path)
            .map(|_| ())
            .ok_or_else(|| not_found(path))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut files = self.files.lock();
        let file = files.remove(from).ok_or_else(|| not_found(from))?;
        files.insert(to.to_path_buf(), file);
        Ok(())
    }
    fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
        if self.faults.fail_sync.load(Ordering::SeqCst) {
            return Err(injected("directory fsync"));
        }
        Ok(())
    }
    fn exists(&self, path: &Path) -> bool {
        self.files.lock().contains_key(path)
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn LockGuard>> {
        if !self.locks.lock().insert(path.to_path_buf()) {
            return Err(locked(path));
        }
        Ok(Box::new(MemLock {
            path: path.to_path_buf(),
            held: Arc::clone(&self.locks),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_image_keeps_only_synced_bytes() {
        let s = MemStorage::new();
        let f = s.create(Path::new("/d/a")).unwrap();
        f.write_all(b"hello").unwrap();
        f.sync().unwrap();
        f.write_all(b" world").unwrap();
        assert_eq!(s.read(Path::new("/d/a")).unwrap(), b"hello world");
        let c = s.crash_image();
        assert_eq!(c.read(Path::new("/d/a")).unwrap(), b"hello");
    }

    #[test]
    fn atomic_write_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.json");
        write_atomic(&FsStorage, &p, b"one").unwrap();
        write_atomic(&FsStorage, &p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert!(!tmp_path(&p).exists());
    }

    #[test]
    fn locks_are_exclusive_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("LOCK");
        let g = FsStorage.lock(&p).unwrap();
        assert_eq!(
            FsStorage.lock(&p).err().map(|e| e.kind()),
            Some(io::ErrorKind::WouldBlock)
        );
        drop(g);
        FsStorage.lock(&p).unwrap();
        let m = MemStorage::new();
        let g = m.lock(&p).unwrap();
        assert!(m.lock(&p).is_err());
        drop(g);
        m.lock(&p).unwrap();
    }

    #[test]
    fn failed_sync_is_reported() {
        let s = MemStorage::new();
        let f = s.create(Path::new("/x")).unwrap();
        s.set_fail_sync(true);
        assert!(f.sync().is_err());
        assert!(write_atomic(&s, Path::new("/y"), b"z").is_err());
    }
}
