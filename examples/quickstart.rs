//! Quickstart: encode a day of real-looking samples into chunks, decode them back,
//! and print what they cost.
//!
//! `cargo run --release --example quickstart`

use tsdb::codec::{Chunk, ChunkEncoder};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // One day of a CPU temperature gauge (two decimals) and a request counter,
    // scraped every 10 s with a few milliseconds of jitter.
    let start_ms = 1_700_000_000_000i64;
    let n = 8_640usize;
    let ts: Vec<i64> = (0..n as i64)
        .map(|i| start_ms + i * 10_000 + (i * 7_919) % 7 - 3)
        .collect();
    let temperature: Vec<f64> = (0..n)
        .map(|i| {
            ((45.0 + 8.0 * (i as f64 / 900.0).sin() + ((i * 31) % 17) as f64 * 0.03) * 100.0)
                .round()
                / 100.0
        })
        .collect();
    let mut total = 0.0;
    let requests: Vec<f64> = (0..n)
        .map(|i| {
            total += (40 + (i * 7) % 13) as f64;
            total
        })
        .collect();

    for (name, values) in [
        ("cpu_temperature_celsius", &temperature),
        ("http_requests_total", &requests),
    ] {
        let mut chunks: Vec<Chunk> = Vec::new();
        let mut enc = ChunkEncoder::new();
        for (&t, &v) in ts.iter().zip(values.iter()) {
            enc.push(t, v)?;
            if enc.len() == 120 {
                chunks.push(std::mem::take(&mut enc).finish());
            }
        }
        if !enc.is_empty() {
            chunks.push(enc.finish());
        }

        let bytes: usize = chunks.iter().map(|c| c.as_bytes().len()).sum();
        let (mut dt, mut dv) = (Vec::new(), Vec::new());
        for c in &chunks {
            c.decode_into(&mut dt, &mut dv)?;
        }
        let exact = dt == ts
            && dv
                .iter()
                .zip(values.iter())
                .all(|(a, b)| a.to_bits() == b.to_bits());
        println!(
            "{name:<26} {n} samples in {} chunks: {bytes} bytes, {:.3} bytes/sample (raw: 16), round trip exact: {exact}",
            chunks.len(),
            bytes as f64 / n as f64,
        );
        if !exact {
            return Err("round trip mismatch".into());
        }
    }
    Ok(())
}
