//! Peak memory of queries refused by a limit, measured by a counting allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use tsdb_query::testing::MemQuerier;
use tsdb_query::{Engine, EngineOptions, LimitKind, Limits, QueryError, Series};

/// The system allocator, counting live bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to `System` unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

#[test]
fn a_query_over_the_sample_limit_fails_before_it_allocates_its_steps() {
    // 2 000 series of 360 samples fetched (720 000, under the limit), evaluated at
    // 11 000 steps: 22 M points, over the limit. The points must be counted before
    // they are allocated (about 350 MB), not after.
    let q = MemQuerier::new();
    for k in 0..2_000 {
        q.insert_series(Series {
            labels: tsdb_query::Labels::new([("__name__", "c"), ("i", &k.to_string())]).unwrap(),
            timestamps: (0..360).map(|i| i * 10_000).collect(),
            values: (0..360).map(f64::from).collect(),
        });
    }
    let e = Engine::with_options(
        q,
        EngineOptions {
            cache_entries: 0,
            limits: Limits {
                max_samples: 1_000_000,
                ..Limits::default()
            },
            ..EngineOptions::default()
        },
    );
    // count_values over one series whose value changes at every step: one output
    // series of 4 000 slots per step (256 MB if built before the limit is checked).
    for (query, end) in [
        ("c", 10_999_000),
        ("rate(c[5m])", 10_999_000),
        ("count_values(\"v\", time() + 0 * c{i=\"0\"})", 3_999_000),
    ] {
        let before = LIVE.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        let r = e.range(query, 0, end, 1_000);
        let grown = PEAK.load(Ordering::Relaxed).saturating_sub(before);
        assert!(
            matches!(
                r,
                Err(QueryError::Limit {
                    kind: LimitKind::Samples,
                    ..
                })
            ),
            "{query}: {r:?}"
        );
        assert!(
            grown < 150 << 20,
            "{query}: peak grew by {} MB",
            grown >> 20
        );
    }
}
