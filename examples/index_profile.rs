//! Looks up existing series once, for instruction counts (see `codec_profile`: on a
//! shared machine wall-clock figures move between runs, the instructions a binary
//! executes for the same input do not). Counted with callgrind, only inside the
//! lookups:
//!
//! ```text
//! cargo build --release --example index_profile
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*run_get*' \
//!     target/release/examples/index_profile host
//! ```
//! then divide the total by the `lookups=` the example prints. Orders: `host` (a
//! target's series one after another, as a scrape or a remote-write request carries
//! them) or `scattered`; label sets are built from bytes just before, as a request's
//! are. `--series N` sizes the index (default 100 000 TSBS devops series);
//! `--batched` looks them up with `get_many` (count `*run_get_many*`).

// The bench's generator: test code, which indexes and expects.
#[allow(clippy::expect_used, clippy::indexing_slicing)]
#[path = "../benches/common/devops.rs"]
mod devops;

use std::hint::black_box;

use tsdb::index::{CardinalityLimits, Labels, MemIndex};

/// Label sets looked up.
const LOOKUPS: usize = 20_000;

#[inline(never)]
fn run_get(idx: &MemIndex, labels: &[Labels]) -> usize {
    labels
        .iter()
        .filter(|l| black_box(idx.get(l)).is_some())
        .count()
}

#[inline(never)]
fn run_get_many(idx: &MemIndex, labels: &[Labels]) -> usize {
    let mut out = Vec::with_capacity(labels.len());
    idx.get_many(labels, &mut out);
    black_box(&out).iter().filter(|x| x.is_some()).count()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let order = args.first().map(String::as_str).unwrap_or("host");
    let series = match args.iter().position(|a| a == "--series") {
        Some(i) => args.get(i + 1).ok_or("--series needs a number")?.parse()?,
        None => 100_000,
    };
    let all = devops::series(series);
    let idx = MemIndex::new(CardinalityLimits::unlimited());
    for l in &all {
        idx.get_or_create(l)?;
    }
    let hosts = (series / devops::METRICS_PER_HOST).max(1);
    let pick = |i: usize| match order {
        "host" => {
            let host = (i / devops::METRICS_PER_HOST * 7919) % hosts;
            Ok((host * devops::METRICS_PER_HOST + i % devops::METRICS_PER_HOST) % series)
        }
        "scattered" => Ok((i * 7919) % series),
        _ => Err("order: host or scattered"),
    };
    let mut labels = Vec::with_capacity(LOOKUPS);
    for i in 0..LOOKUPS {
        let l = all.get(pick(i)?).ok_or("no series")?;
        labels.push(Labels::from_bytes(&l.to_bytes())?);
    }
    println!("{order} series={series} lookups={LOOKUPS}");
    let found = if args.iter().any(|a| a == "--batched") {
        run_get_many(&idx, &labels)
    } else {
        run_get(&idx, &labels)
    };
    if found != LOOKUPS {
        return Err(format!("found {found} of {LOOKUPS}").into());
    }
    Ok(())
}
