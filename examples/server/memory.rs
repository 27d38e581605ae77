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
//! (measured: no change, and more resident memory). A fixed mmap threshold keeps every large transient buffer out of
//! the arenas (unmapped when freed), and as many arenas as cores is enough
//! for a server whose ingest and query work runs on that many threads.

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
        libc::mallopt(libc::M_ARENA_MAX, cores.max(1));
    }
}

/// Applies the settings (nothing to do off glibc).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn tune_allocator() {}
