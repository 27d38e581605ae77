//! Runs one codec operation over a dataset once, for instruction counts: on a
//! shared, noisy machine wall-clock medians of the codec move by ±40 % from run to
//! run, while the instructions a binary executes for the same input do not move at
//! all. Counted with callgrind, only inside the operation's function:
//!
//! ```text
//! cargo build --release --example codec_profile
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*run_seal*' \
//!     target/release/examples/codec_profile seal gauge
//! ```
//! then divide the total by the `samples=` the example prints. Operations (each
//! function is `run_<operation>`): `bulk` (`Chunk::encode` from whole columns),
//! `append` (`ChunkEncoder::push` only), `seal` (`push` then `finish`, as the head
//! does), `decode`. The dataset is a prefix of a name in `codec_report`'s table
//! (empty: all). With `--prometheus-json FILE`, the real series of that file
//! instead (see `codec_report`). With `--repeat N`, the operation runs N times
//! and the fastest pass is printed in ns a sample: wall clock, for comparing two
//! builds run in turns.
//!
//! `codec_profile digest` prints a hash of every chunk both encoders write for each
//! dataset: equal digests from two builds mean the change kept the bytes.
//!
//! With `--chunk N`, each dataset's consecutive chunks are joined and cut again
//! into chunks of `N` samples (a chunk ends early where the next one's
//! timestamps would not increase, as between the series of one target): the
//! time a chunk costs whatever its length, against the time a sample costs,
//! from a line fitted to the ns a chunk takes at several lengths.

use std::hash::{Hash, Hasher};
use std::hint::black_box;

use tsdb_codec::{Chunk, ChunkEncoder};

#[path = "common/datasets.rs"]
mod datasets;
#[path = "common/prometheus_json.rs"]
mod prometheus_json;

#[inline(never)]
fn run_bulk(ds: &datasets::Dataset) -> Result<(), tsdb_codec::CodecError> {
    for (t, v) in &ds.chunks {
        black_box(Chunk::encode(t, v)?);
    }
    Ok(())
}

fn appended(t: &[i64], v: &[f64]) -> Result<ChunkEncoder, tsdb_codec::CodecError> {
    let mut enc = ChunkEncoder::new();
    for (&t, &v) in t.iter().zip(v) {
        enc.push(t, v)?;
    }
    Ok(enc)
}

#[inline(never)]
fn run_append(ds: &datasets::Dataset) -> Result<(), tsdb_codec::CodecError> {
    for (t, v) in &ds.chunks {
        black_box(appended(t, v)?);
    }
    Ok(())
}

#[inline(never)]
fn run_seal(ds: &datasets::Dataset) -> Result<(), tsdb_codec::CodecError> {
    for (t, v) in &ds.chunks {
        black_box(appended(t, v)?.finish());
    }
    Ok(())
}

#[inline(never)]
fn run_decode(chunks: &[Chunk]) -> Result<(), tsdb_codec::CodecError> {
    let (mut ts, mut vs) = (Vec::with_capacity(4096), Vec::with_capacity(4096));
    for c in chunks {
        ts.clear();
        vs.clear();
        c.decode_into(&mut ts, &mut vs)?;
        black_box((&ts, &vs));
    }
    Ok(())
}

/// Runs `run` `repeat` times; past one run, prints the fastest in ns a sample.
fn timed(
    repeat: u32,
    ds: &datasets::Dataset,
    run: &mut dyn FnMut() -> Result<(), tsdb_codec::CodecError>,
) -> Result<(), tsdb_codec::CodecError> {
    let mut fastest = f64::INFINITY;
    for _ in 0..repeat {
        let start = std::time::Instant::now();
        run()?;
        fastest = fastest.min(start.elapsed().as_nanos() as f64);
    }
    if repeat > 1 {
        println!(
            "  fastest of {repeat}: {:.2} ns/sample",
            fastest / ds.samples() as f64
        );
    }
    Ok(())
}

/// The dataset's samples in chunks of up to `n`, cut where timestamps would
/// not increase.
fn rechunked(ds: datasets::Dataset, n: usize) -> datasets::Dataset {
    let mut chunks: Vec<(Vec<i64>, Vec<f64>)> = Vec::new();
    for (t, v) in ds.chunks {
        for (&t, &v) in t.iter().zip(&v) {
            match chunks.last_mut() {
                Some((ts, vs)) if ts.len() < n && ts.last().is_some_and(|&last| last < t) => {
                    ts.push(t);
                    vs.push(v);
                }
                _ => chunks.push((vec![t], vec![v])),
            }
        }
    }
    datasets::Dataset {
        name: ds.name,
        chunks,
    }
}

/// Removes `flag` and the value after it from `args`; the value, if the flag
/// is there (an error if it has none).
fn take_option(args: &mut Vec<String>, flag: &str) -> Result<Option<String>, String> {
    let Some(i) = args.iter().position(|a| a == flag) else {
        return Ok(None);
    };
    let value = args.get(i + 1).cloned();
    args.drain(i..(i + 2).min(args.len()));
    value
        .map(Some)
        .ok_or_else(|| format!("{flag} needs a value"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let real = match take_option(&mut args, "--prometheus-json")? {
        Some(path) => Some(prometheus_json::prometheus_datasets(&path)?),
        None => None,
    };
    // `--repeat N`: run the operation N times and print its fastest pass in ns a
    // sample (wall clock, for two builds run in turns; callgrind counts once).
    let repeat = match take_option(&mut args, "--repeat")? {
        Some(n) => n.parse::<u32>().map_err(|_| "--repeat needs a count")?,
        None => 1,
    };
    // `--chunk N`: the datasets cut again into chunks of `N` samples.
    let chunk = match take_option(&mut args, "--chunk")? {
        Some(n) => Some(
            n.parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or("--chunk needs a sample count")?,
        ),
        None => None,
    };
    let op = args.first().cloned().unwrap_or_default();
    let prefix = args.get(1).cloned().unwrap_or_default();
    let mut sets = real.unwrap_or_else(datasets::all);
    if let Some(n) = chunk {
        sets = sets.into_iter().map(|ds| rechunked(ds, n)).collect();
    }
    for ds in sets.iter().filter(|d| d.name.starts_with(&prefix)) {
        println!("{} samples={}", ds.name, ds.samples());
        match op.as_str() {
            "bulk" => timed(repeat, ds, &mut || run_bulk(ds))?,
            "append" => timed(repeat, ds, &mut || run_append(ds))?,
            "seal" => timed(repeat, ds, &mut || run_seal(ds))?,
            "decode" => {
                // Sealed beforehand only to decode them: sealing fills the
                // seal memos.
                let chunks = ds
                    .chunks
                    .iter()
                    .map(|(t, v)| Chunk::encode(t, v))
                    .collect::<Result<Vec<_>, _>>()?;
                timed(repeat, ds, &mut || run_decode(&chunks))?;
            }
            "digest" => {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                for (t, v) in &ds.chunks {
                    Chunk::encode(t, v)?.as_bytes().hash(&mut h);
                    appended(t, v)?.finish().as_bytes().hash(&mut h);
                }
                println!("  digest {:016x}", h.finish());
            }
            _ => return Err("operation: bulk, append, seal, decode or digest".into()),
        }
    }
    Ok(())
}
