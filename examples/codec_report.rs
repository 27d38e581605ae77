//! Prints bytes per sample of tsdb's chunk codec against the `tsz` crate (Gorilla)
//! and `pco` (numeric compression), all given the same 120-sample chunks; then
//! encode and decode speed against `tsz`, timed in interleaved rounds so that load
//! from other processes hits both sides alike (medians; the criterion bench
//! `codec` measures the same operations).
//!
//! `cargo run --release --example codec_report`
//!
//! Real series: `codec_report --prometheus-json FILE` reads the response of a
//! Prometheus instant query for raw samples, e.g.
//! `curl -G localhost:9090/api/v1/query --data-urlencode 'query={__name__=~".+"}[30m]'`,
//! cuts every series into 120-sample chunks (a last partial chunk is dropped) and
//! prints the same tables for counters, gauges and everything together.

use std::hint::black_box;
use std::time::Instant;
use tsdb_codec::{Chunk, ChunkEncoder, TimestampEncoding, ValueEncoding};

use tsz::stream::{BufferedReader, BufferedWriter};
use tsz::{DataPoint, Decode, Encode, StdDecoder, StdEncoder};

#[path = "common/datasets.rs"]
mod datasets;
#[path = "common/prometheus_json.rs"]
mod prometheus_json;

fn ours(ts: &[i64], vs: &[f64]) -> Result<Chunk, tsdb_codec::CodecError> {
    let mut enc = ChunkEncoder::new();
    for (&t, &v) in ts.iter().zip(vs) {
        enc.push(t, v)?;
    }
    Ok(enc.finish())
}

fn tsz_encode(ts: &[i64], vs: &[f64]) -> Box<[u8]> {
    let start = ts.first().copied().unwrap_or(0) as u64;
    let mut enc = StdEncoder::new(start, BufferedWriter::new());
    for (&t, &v) in ts.iter().zip(vs) {
        enc.encode(DataPoint::new(t as u64, v));
    }
    enc.close()
}

/// Decodes a tsz chunk, summing its values and dropping its timestamps (less work
/// than our decoding, which fills both columns).
fn tsz_decode(bytes: &[u8]) -> f64 {
    let mut dec = StdDecoder::new(BufferedReader::new(bytes.into()));
    let mut sum = 0.0;
    while let Ok(dp) = dec.next() {
        sum += dp.get_value();
    }
    sum
}

/// Decodes a tsz chunk into timestamp and value columns, as `decode_into` does.
fn tsz_decode_into(bytes: &[u8], ts: &mut Vec<i64>, vs: &mut Vec<f64>) {
    let mut dec = StdDecoder::new(BufferedReader::new(bytes.into()));
    while let Ok(dp) = dec.next() {
        ts.push(dp.get_time() as i64);
        vs.push(dp.get_value());
    }
}

/// A timestamp and a value column that decoders fill, reused from chunk to chunk.
struct Columns {
    ts: Vec<i64>,
    vs: Vec<f64>,
}

impl Columns {
    fn new() -> Self {
        Columns {
            ts: Vec::with_capacity(4096),
            vs: Vec::with_capacity(4096),
        }
    }

    /// Decodes each chunk into the emptied columns.
    fn fill<C>(&mut self, chunks: &[C], mut decode: impl FnMut(&C, &mut Vec<i64>, &mut Vec<f64>)) {
        for chunk in chunks {
            self.ts.clear();
            self.vs.clear();
            decode(chunk, &mut self.ts, &mut self.vs);
            black_box((&self.ts, &self.vs));
        }
    }
}

/// Median samples/s of each closure, timed in alternating rounds.
fn race(samples: usize, rounds: usize, fs: &mut [&mut dyn FnMut()]) -> Vec<f64> {
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); fs.len()];
    for round in 0..rounds {
        for k in 0..fs.len() {
            // Alternate the order so neither side always runs first.
            let k = if round % 2 == 0 { k } else { fs.len() - 1 - k };
            if let (Some(f), Some(r)) = (fs.get_mut(k), rates.get_mut(k)) {
                let t = Instant::now();
                f();
                r.push(samples as f64 / t.elapsed().as_secs_f64());
            }
        }
    }
    rates
        .into_iter()
        .map(|mut r| {
            r.sort_by(f64::total_cmp);
            r.get(r.len() / 2).copied().unwrap_or(0.0)
        })
        .collect()
}

fn pco_bytes(ts: &[i64], vs: &[f64]) -> Result<usize, pco::errors::PcoError> {
    let cfg = pco::ChunkConfig::default();
    Ok(pco::standalone::simple_compress(ts, &cfg)?.len()
        + pco::standalone::simple_compress(vs, &cfg)?.len())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let real = match args.iter().position(|a| a == "--prometheus-json") {
        Some(i) => Some(prometheus_json::prometheus_datasets(
            args.get(i + 1).ok_or("--prometheus-json needs a file")?,
        )?),
        None => None,
    };
    println!(
        "| dataset | tsdb B/sample | tsz B/sample | pco B/sample | tsdb encodings (ts / values) |"
    );
    println!("|---|---|---|---|---|");
    let synthetic = if real.is_none() {
        datasets::all()
    } else {
        Vec::new()
    };
    let all: Vec<&datasets::Dataset> = match &real {
        Some(real) => real.iter().collect(),
        None => synthetic.iter().collect(),
    };
    for ds in all.iter().copied() {
        let (mut ours_b, mut tsz_b, mut pco_b) = (0usize, 0usize, 0usize);
        let mut encodings = std::collections::BTreeMap::<String, usize>::new();
        for (ts, vs) in &ds.chunks {
            let chunk = ours(ts, vs)?;
            // Check the round trip while we are at it.
            let (mut dt, mut dv) = (Vec::new(), Vec::new());
            chunk.decode_into(&mut dt, &mut dv)?;
            let same = dt == *ts && dv.iter().zip(vs).all(|(a, b)| a.to_bits() == b.to_bits());
            if !same {
                return Err(format!("{}: round trip mismatch", ds.name).into());
            }
            ours_b += chunk.as_bytes().len();
            let r = chunk.as_ref();
            let key = format!(
                "{}/{}",
                match r.timestamp_encoding() {
                    TimestampEncoding::DeltaOfDelta => "dod",
                    TimestampEncoding::Packed => "packed",
                    TimestampEncoding::Regular => "regular",
                },
                match r.value_encoding() {
                    ValueEncoding::Xor => "xor",
                    ValueEncoding::Decimal => "decimal",
                    ValueEncoding::OrderedBits => "ordered",
                }
            );
            *encodings.entry(key).or_default() += 1;
            tsz_b += tsz_encode(ts, vs).len();
            pco_b += pco_bytes(ts, vs)?;
        }
        let n = ds.samples().max(1) as f64;
        let enc: Vec<String> = encodings.iter().map(|(k, v)| format!("{k}×{v}")).collect();
        println!(
            "| {} | {:.3} | {:.3} | {:.3} | {} |",
            ds.name,
            ours_b as f64 / n,
            tsz_b as f64 / n,
            pco_b as f64 / n,
            enc.join(", ")
        );
    }
    match all.last() {
        Some(ds) if real.is_some() => repeated_values(ds),
        _ => buckets(),
    }
    speed(&all)
}

/// How many value columns that change equal another chunk's, bit for bit (a
/// histogram's buckets while no observation falls between them, a count and its
/// `+Inf` bucket): what the codec's memo of sealed value sections finds.
fn repeated_values(ds: &datasets::Dataset) {
    let mut seen = std::collections::HashSet::new();
    let (mut changing, mut repeats) = (0usize, 0usize);
    for (_, vs) in &ds.chunks {
        let bits: Vec<u64> = vs.iter().map(|v| v.to_bits()).collect();
        if bits.windows(2).all(|w| w.first() == w.last()) {
            continue;
        }
        changing += 1;
        if !seen.insert(bits) {
            repeats += 1;
        }
    }
    println!();
    println!(
        "{}: {repeats} of {changing} value columns that change repeat another's ({:.1} %)",
        ds.name,
        100.0 * repeats as f64 / changing.max(1) as f64
    );
    shared_timestamps(ds);
}

/// How much of the sealed bytes the timestamp sections take, and what storing
/// each distinct section once (a store sharing one scrape's timestamps among a
/// target's series, which this repository's blocks do not do yet) would save.
fn shared_timestamps(ds: &datasets::Dataset) {
    let mut distinct = std::collections::HashSet::new();
    let (mut total, mut ts_bytes, mut ts_distinct) = (0usize, 0usize, 0usize);
    for (ts, vs) in &ds.chunks {
        let Ok(chunk) = ours(ts, vs) else { continue };
        let bytes = chunk.as_bytes();
        let [start, t, _] = chunk.as_ref().section_lens();
        total += bytes.len();
        ts_bytes += t;
        if distinct.insert(bytes.get(start..start + t).unwrap_or_default().to_vec()) {
            ts_distinct += t;
        }
    }
    let n = ds.samples().max(1) as f64;
    println!(
        "{}: timestamp sections are {:.1} % of the bytes ({} distinct of {} chunks); \
         each distinct one stored once: {:.3} B/sample instead of {:.3}",
        ds.name,
        100.0 * ts_bytes as f64 / total.max(1) as f64,
        distinct.len(),
        ds.chunks.len(),
        (total - ts_bytes + ts_distinct) as f64 / n,
        total as f64 / n,
    );
}

/// Bits per timestamp that delta-of-delta bucket sets spend on millisecond
/// timestamps, to show why the codec's widths are what they are. A bucket set is
/// the payload widths after the 1-bit zero bucket; prefixes are unary as in Gorilla.
fn buckets() {
    let sets: [(&str, &[u32]); 3] = [
        ("Gorilla paper (seconds)", &[7, 9, 12, 32]),
        ("Prometheus XOR chunks", &[14, 17, 20, 64]),
        ("tsdb (milliseconds)", &[4, 7, 10, 16, 32, 64]),
    ];
    let cost = |dod: i64, widths: &[u32]| -> u64 {
        if dod == 0 {
            return 1;
        }
        for (i, &w) in widths.iter().enumerate() {
            let half = 1i64 << (w - 1).min(62);
            let last = i + 1 == widths.len();
            if last || (-half..half).contains(&dod) {
                let prefix = if last { widths.len() } else { i + 2 } as u64;
                return prefix + u64::from(w);
            }
        }
        64
    };
    // Scrapes every 10 s with uniform jitter of ±j ms, and one missed scrape in 500.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    println!();
    print!("| jitter |");
    for (name, _) in &sets {
        print!(" {name} bits/ts |");
    }
    println!();
    println!("|---|---|---|---|");
    for jitter in [0i64, 1, 2, 5, 20, 100] {
        let mut ts = Vec::new();
        let mut t = 0i64;
        for _ in 0..100_000 {
            t += if rand() % 500 == 0 { 20_000 } else { 10_000 };
            let j = if jitter == 0 {
                0
            } else {
                (rand() % (2 * jitter as u64 + 1)) as i64 - jitter
            };
            ts.push(t + j);
        }
        let dods: Vec<i64> = ts
            .windows(3)
            .filter_map(|w| match w {
                [a, b, c] => Some((c - b) - (b - a)),
                _ => None,
            })
            .collect();
        print!("| ±{jitter} ms |");
        for (_, widths) in &sets {
            let bits: u64 = dods.iter().map(|&d| cost(d, widths)).sum();
            print!(" {:.2} |", bits as f64 / dods.len() as f64);
        }
        println!();
    }
}

fn speed(sets: &[&datasets::Dataset]) -> Result<(), Box<dyn std::error::Error>> {
    println!();
    println!(
        "| dataset | decode tsdb M/s | decode tsz M/s (columns) | ratio | decode tsz M/s (values summed) | ratio | encode tsdb M/s (push+finish) | encode tsdb M/s (bulk) | encode tsz M/s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for ds in sets.iter().copied() {
        let n = ds.samples();
        let ours_chunks: Vec<Chunk> = ds
            .chunks
            .iter()
            .map(|(t, v)| ours(t, v))
            .collect::<Result<_, _>>()?;
        let tsz_chunks: Vec<Box<[u8]>> = ds.chunks.iter().map(|(t, v)| tsz_encode(t, v)).collect();
        // Both fill a timestamp and a value column, chunk by chunk.
        let mut ours_cols = Columns::new();
        let mut dec_ours = || {
            ours_cols.fill(&ours_chunks, |c, ts, vs| {
                let _ = c.decode_into(ts, vs);
            })
        };
        let mut tsz_cols = Columns::new();
        let mut dec_tsz = || tsz_cols.fill(&tsz_chunks, |b, ts, vs| tsz_decode_into(b, ts, vs));
        // tsz's values only, summed: the figure earlier reports compared with.
        let mut dec_tsz_sum = || {
            for b in &tsz_chunks {
                black_box(tsz_decode(b));
            }
        };
        let dec = race(n, 41, &mut [&mut dec_ours, &mut dec_tsz, &mut dec_tsz_sum]);
        let mut enc_stream = || {
            for (t, v) in &ds.chunks {
                let _ = black_box(ours(t, v));
            }
        };
        let mut enc_bulk = || {
            for (t, v) in &ds.chunks {
                let _ = black_box(Chunk::encode(t, v));
            }
        };
        let mut enc_tsz = || {
            for (t, v) in &ds.chunks {
                black_box(tsz_encode(t, v));
            }
        };
        let enc = race(n, 21, &mut [&mut enc_stream, &mut enc_bulk, &mut enc_tsz]);
        let m = |i: usize, v: &[f64]| v.get(i).copied().unwrap_or(0.0) / 1e6;
        println!(
            "| {} | {:.0} | {:.0} | {:.1}× | {:.0} | {:.1}× | {:.0} | {:.0} | {:.0} |",
            ds.name,
            m(0, &dec),
            m(1, &dec),
            m(0, &dec) / m(1, &dec).max(f64::MIN_POSITIVE),
            m(2, &dec),
            m(0, &dec) / m(2, &dec).max(f64::MIN_POSITIVE),
            m(0, &enc),
            m(1, &enc),
            m(2, &enc)
        );
    }
    Ok(())
}
