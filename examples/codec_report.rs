//! Prints bytes per sample of tsdb's chunk codec against the `tsz` crate (Gorilla)
//! and `pco` (numeric compression), all given the same 120-sample chunks.
//!
//! `cargo run --release --example codec_report`

use tsdb_codec::{Chunk, ChunkEncoder, TimestampEncoding, ValueEncoding};
use tsz::stream::BufferedWriter;
use tsz::{DataPoint, Encode, StdEncoder};

#[path = "common/datasets.rs"]
mod datasets;

fn ours(ts: &[i64], vs: &[f64]) -> Result<Chunk, tsdb_codec::CodecError> {
    let mut enc = ChunkEncoder::new();
    for (&t, &v) in ts.iter().zip(vs) {
        enc.push(t, v)?;
    }
    Ok(enc.finish())
}

fn tsz_bytes(ts: &[i64], vs: &[f64]) -> usize {
    let start = ts.first().copied().unwrap_or(0) as u64;
    let mut enc = StdEncoder::new(start, BufferedWriter::new());
    for (&t, &v) in ts.iter().zip(vs) {
        enc.encode(DataPoint::new(t as u64, v));
    }
    enc.close().len()
}

fn pco_bytes(ts: &[i64], vs: &[f64]) -> Result<usize, pco::errors::PcoError> {
    let cfg = pco::ChunkConfig::default();
    Ok(pco::standalone::simple_compress(ts, &cfg)?.len()
        + pco::standalone::simple_compress(vs, &cfg)?.len())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!(
        "| dataset | tsdb B/sample | tsz B/sample | pco B/sample | tsdb encodings (ts / values) |"
    );
    println!("|---|---|---|---|---|");
    for ds in datasets::all() {
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
                },
                match r.value_encoding() {
                    ValueEncoding::Xor => "xor",
                    ValueEncoding::Decimal => "decimal",
                    ValueEncoding::OrderedBits => "ordered",
                }
            );
            *encodings.entry(key).or_default() += 1;
            tsz_b += tsz_bytes(ts, vs);
            pco_b += pco_bytes(ts, vs)?;
        }
        let n = ds.samples() as f64;
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
    Ok(())
}
