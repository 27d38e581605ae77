//! Series index ingest path: looking up existing series and creating new ones,
//! with TSBS devops-style labels.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

#[path = "common/cpu_time.rs"]
mod cpu_time;
#[path = "common/devops.rs"]
mod devops;

use std::hint::black_box;

use cpu_time::CpuTime;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tsdb::index::{CardinalityLimits, Labels, MemIndex};

const SERIES: usize = 1_000_000;
const BATCH: usize = 100_000;

/// An index of the series `all`.
fn index_of(all: &[Labels]) -> MemIndex {
    let idx = MemIndex::new(CardinalityLimits::unlimited());
    for l in all {
        idx.get_or_create(l).unwrap();
    }
    idx
}

/// A copy of `l` as a request carries it: built from bytes, its strings its own
/// (not a handle to the index's creation input).
fn fresh(l: &Labels) -> Labels {
    Labels::from_bytes(&l.to_bytes()).unwrap()
}

fn lookup(c: &mut Criterion<CpuTime>) {
    let all = devops::series(SERIES);
    let idx = index_of(&all);
    // A scattered order, as samples of many series arrive interleaved.
    let probe: Vec<_> = (0..BATCH)
        .map(|i| all[(i * 7919) % SERIES].clone())
        .collect();
    // The same label sets as a request carries them: built just before the lookup, one
    // after another in memory (a copy each, not a handle to the index's creation input).
    let fresh_probe: Vec<Labels> = probe.iter().map(fresh).collect();
    let mut g = c.benchmark_group("index_lookup");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("get_existing_1M_scattered_fresh_labels", |b| {
        b.iter(|| {
            for l in &fresh_probe {
                black_box(idx.get(l));
            }
        })
    });
    // The same code on an index a tenth the size, whose lookup table (4 MiB) stays
    // in cache: the difference with the row above is the wait for memory.
    let small_all = devops::series(SERIES / 10);
    let small = index_of(&small_all);
    let small_fresh: Vec<Labels> = (0..BATCH)
        .map(|i| fresh(&small_all[(i * 7919) % small_all.len()]))
        .collect();
    g.bench_function("get_existing_100k_scattered_fresh_labels", |b| {
        b.iter(|| {
            for l in &small_fresh {
                black_box(small.get(l));
            }
        })
    });
    drop((small, small_all, small_fresh));
    g.bench_function("get_existing_1M_scattered", |b| {
        b.iter(|| {
            for l in &probe {
                black_box(idx.get(l));
            }
        })
    });
    // Samples arrive per target: a host's series together, hosts in any order.
    let hosts = SERIES / devops::METRICS_PER_HOST;
    let batched: Vec<_> = (0..BATCH)
        .map(|i| {
            let host = (i / devops::METRICS_PER_HOST * 7919) % hosts;
            all[host * devops::METRICS_PER_HOST + i % devops::METRICS_PER_HOST].clone()
        })
        .collect();
    g.bench_function("get_existing_1M_host_batches", |b| {
        b.iter(|| {
            for l in &batched {
                black_box(idx.get(l));
            }
        })
    });
    // The same order with label sets as a request carries them (see `fresh`).
    let batched_fresh: Vec<Labels> = batched.iter().map(fresh).collect();
    g.bench_function("get_existing_1M_host_batches_fresh_labels", |b| {
        b.iter(|| {
            for l in &batched_fresh {
                black_box(idx.get(l));
            }
        })
    });
    // Requests as the server takes them: 1 000 label sets parsed (not timed), then
    // looked up while they are still in cache — a remote-write request's series in
    // its order (target by target) and the same series scattered.
    const REQUEST: usize = 1_000;
    for (name, order) in [("host_order", &batched), ("scattered", &probe)] {
        let mut next = 0usize;
        g.throughput(Throughput::Elements(REQUEST as u64));
        g.bench_function(format!("get_existing_1M_requests_of_1000_{name}"), |b| {
            b.iter_batched_ref(
                || {
                    let req: Vec<Labels> = (0..REQUEST)
                        .map(|i| fresh(&order[(next + i) % order.len()]))
                        .collect();
                    next = (next + REQUEST) % order.len();
                    req
                },
                |req| {
                    for l in req.iter() {
                        black_box(idx.get(l));
                    }
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.throughput(Throughput::Elements(BATCH as u64));
    let mut out = Vec::with_capacity(BATCH);
    g.bench_function("get_many_1M_scattered", |b| {
        b.iter(|| {
            out.clear();
            idx.get_many(&probe, &mut out);
            black_box(&out);
        })
    });
    g.bench_function("get_many_1M_scattered_fresh_labels", |b| {
        b.iter(|| {
            out.clear();
            idx.get_many(&fresh_probe, &mut out);
            black_box(&out);
        })
    });
    g.bench_function("get_many_1M_host_batches", |b| {
        b.iter(|| {
            out.clear();
            idx.get_many(&batched, &mut out);
            black_box(&out);
        })
    });
    // The full hot path of a sample whose labels arrive as strings.
    let raw: Vec<Vec<(String, String)>> = probe
        .iter()
        .take(BATCH / 10)
        .map(|l| {
            l.iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        })
        .collect();
    g.throughput(Throughput::Elements(raw.len() as u64));
    g.bench_function("labels_new", |b| {
        b.iter(|| {
            for pairs in &raw {
                black_box(Labels::new(pairs.iter().map(|(n, v)| (n, v))).unwrap());
            }
        })
    });
    g.bench_function("labels_new_and_get_1M", |b| {
        b.iter(|| {
            for pairs in &raw {
                let l = Labels::new(pairs.iter().map(|(n, v)| (n, v))).unwrap();
                black_box(idx.get(&l));
            }
        })
    });
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("get_or_create_existing_1M", |b| {
        b.iter(|| {
            for l in &probe {
                black_box(idx.get_or_create(l).unwrap());
            }
        })
    });
    g.finish();
}

fn create(c: &mut Criterion<CpuTime>) {
    let all = devops::series(BATCH);
    let mut g = c.benchmark_group("index_create");
    g.sample_size(10);
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("create_100k", |b| {
        b.iter_batched(
            || MemIndex::new(CardinalityLimits::unlimited()),
            |idx| {
                for l in &all {
                    black_box(idx.get_or_create(l).unwrap());
                }
                idx
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();

    // Head GC: half the series of a 200 k index leave it, in one batch.
    let all = devops::series(2 * BATCH);
    let mut g = c.benchmark_group("index_remove");
    g.sample_size(10);
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("remove_many_100k_of_200k", |b| {
        b.iter_batched(
            || {
                let idx = MemIndex::new(CardinalityLimits::unlimited());
                let ids: Vec<_> = all.iter().map(|l| idx.get_or_create(l).unwrap()).collect();
                let gone: Vec<_> = ids.into_iter().step_by(2).collect();
                (idx, gone)
            },
            |(idx, gone)| {
                assert_eq!(idx.remove_many(&gone), gone.len());
                idx
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

/// The machine's floor for a lookup in random order: one load that depends on the
/// previous one, at random in 32 MiB (the size of the lookup table of 1 M series), on
/// 4 KiB pages and on transparent huge pages (as the lookup table is mapped). A single
/// lookup makes two such loads (its table slot, then its label group).
fn memory_latency(c: &mut Criterion<CpuTime>) {
    const SLOTS: usize = 4 << 20;
    const STEPS: usize = 100_000;
    const HUGE: usize = 2 << 20;
    let mut g = c.benchmark_group("memory_latency");
    g.throughput(Throughput::Elements(STEPS as u64));
    for huge in [false, true] {
        // Room to start the cycle on a huge-page boundary; advised before first touch.
        let mut buf: Vec<u64> = Vec::with_capacity(SLOTS + HUGE / 8);
        let addr = buf.as_mut_ptr() as usize;
        let skip = (HUGE - addr % HUGE) % HUGE / 8;
        #[cfg(target_os = "linux")]
        if huge {
            let page = addr.next_multiple_of(4096);
            // SAFETY: advice on pages inside `buf`'s allocation; no memory is accessed.
            unsafe {
                libc::madvise(page as *mut libc::c_void, SLOTS * 8, libc::MADV_HUGEPAGE);
            }
        }
        buf.resize(skip, 0);
        buf.extend(0..SLOTS as u64);
        let next = &mut buf[skip..];
        // One random cycle through every slot (Sattolo's shuffle, a fixed LCG).
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for i in (1..SLOTS).rev() {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let j = (x >> 33) as usize % i;
            next.swap(i, j);
        }
        let name = if huge && cfg!(target_os = "linux") {
            "huge_pages"
        } else if huge {
            continue;
        } else {
            "4KiB_pages"
        };
        let mut at = 0usize;
        g.bench_function(format!("dependent_load_32MiB_{name}"), |b| {
            b.iter(|| {
                for _ in 0..STEPS {
                    at = next[at] as usize;
                }
                black_box(at)
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(CpuTime);
    targets = lookup, create, memory_latency
}
criterion_main!(benches);
