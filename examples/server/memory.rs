//! The allocator settings of the server process.
//!
//! Why: with glibc's defaults the server's resident memory was about three
//! times what the head, the index and the requests in flight hold (3.2 KB
//! per series at 100 k series against 0.7 KB). Each remote-write request
//! allocates a few buffers of megabytes for a moment (the decompressed body,
//! the decoded series and samples, the batch, the WAL record). glibc maps such
//! a buffer on its own at first, but its adaptive threshold then rises past
//! their size and they are carved from the per-thread arenas (up to eight per
//! core); the head's small, long-lived allocations made in between land in
//! the freed space, so the arenas' pages stay resident half empty. Neither
//! a periodic `malloc_trim` nor mimalloc as the global allocator helped
//! (measured: no change, and more resident memory). A fixed mmap threshold
//! keeps every large transient buffer out of the arenas (unmapped when
//! freed), and two arenas per core instead of eight hold less half-empty
//! space. (One arena per core saved another 60 bytes per series at 100 k
//! series but about doubled the 90th percentile of dashboard queries, whose
//! parallel evaluation then waits on the arena locks.) What queries leave free
//! in the arenas is handed back by a periodic trim ([`spawn_trimmer`]).

/// Buffers this large or larger are mapped on their own and unmapped when
/// freed (glibc's default starts at 128 KiB and adapts upwards).
pub const MMAP_THRESHOLD_BYTES: usize = 1 << 20;

/// Applies the settings. Call once, first thing in `main`, before any
/// thread starts.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn tune_allocator() {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let cores = libc::c_int::try_from(cores).unwrap_or(libc::c_int::MAX);
    let threshold = libc::c_int::try_from(MMAP_THRESHOLD_BYTES).unwrap_or(libc::c_int::MAX);
    // SAFETY: `mallopt` only changes glibc's allocator parameters; it is
    // called before other threads exist and takes no pointers. A refused
    // setting (return value 0) leaves glibc's default, which is harmless.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, threshold);
        libc::mallopt(libc::M_ARENA_MAX, cores.saturating_mul(2).max(1));
    }
}

/// Applies the settings (nothing to do off glibc).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn tune_allocator() {}

/// How often [`spawn_trimmer`] hands free arena pages back to the kernel.
pub const TRIM_PERIOD: std::time::Duration = std::time::Duration::from_secs(30);

/// Starts a thread that calls glibc's `malloc_trim` every [`TRIM_PERIOD`].
///
/// Why: a burst of dashboard queries decodes megabytes of samples in many
/// small buffers from every arena; freed, they stay resident. Measured at
/// 100 k series after 100 panel queries over 2 500 series each: 125 MB
/// resident, 111 MB after one trim (the head and index hold the same either
/// way). During steady ingest a trim releases next to nothing (see above), so
/// the period can be long; a trim holds each arena's lock for a moment.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn spawn_trimmer() {
    let spawned = std::thread::Builder::new()
        .name("malloc-trim".into())
        .spawn(|| {
            loop {
                std::thread::sleep(TRIM_PERIOD);
                // SAFETY: `malloc_trim` only returns free memory of glibc's
                // own arenas to the kernel; it takes no pointers of ours.
                unsafe {
                    libc::malloc_trim(0);
                }
            }
        });
    if let Err(e) = spawned {
        eprintln!("memory trimming thread not started: {e}");
    }
}

/// Starts nothing off glibc.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn spawn_trimmer() {}

/// A few reusable byte buffers (remote write's decompressed bodies): a body
/// of megabytes decompressed into a fresh buffer faults its pages in anew
/// every request under the fixed mmap threshold (measured: 5–8 % of the CPU
/// per sample in the one-sample-per-series shape). At most `max_kept` buffers of
/// at most `max_bytes` each are kept, so the pool holds a bounded amount.
pub struct BufferPool {
    bufs: parking_lot::Mutex<Vec<Vec<u8>>>,
    max_kept: usize,
    max_bytes: usize,
}

impl BufferPool {
    /// A pool keeping at most `max_kept` buffers of at most `max_bytes`.
    pub fn new(max_kept: usize, max_bytes: usize) -> BufferPool {
        BufferPool {
            bufs: parking_lot::Mutex::new(Vec::new()),
            max_kept,
            max_bytes,
        }
    }

    /// Remote write's pool: one buffer of up to 16 MiB. (One per core saved
    /// a few percent more CPU, within the noise of the measurement, for one
    /// more resident body-sized buffer: 4 MB, 40 bytes per series at 100 k
    /// series sending 25 k-series requests.)
    pub fn for_bodies() -> BufferPool {
        BufferPool::new(1, 16 << 20)
    }

    /// A buffer (its contents are whatever it held last).
    pub fn take(&self) -> Vec<u8> {
        self.bufs.lock().pop().unwrap_or_default()
    }

    /// Gives a buffer back; kept only if the pool has room and it is not too big.
    pub fn give(&self, buf: Vec<u8>) {
        if buf.capacity() > self.max_bytes {
            return;
        }
        let mut bufs = self.bufs.lock();
        if bufs.len() < self.max_kept {
            bufs.push(buf);
        }
    }

    /// Buffers held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.bufs.lock().len()
    }
}
