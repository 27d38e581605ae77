//! Chunk encode and decode throughput, tsdb's codec beside the `tsz` crate (Gorilla)
//! on the same 120-sample chunks in the same run.
//!
//! `cargo bench --bench codec`; throughput is reported in samples/s.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::hint::black_box;

use criterion::{Bencher, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tsdb_codec::{Chunk, ChunkEncoder};
use tsz::stream::{BufferedReader, BufferedWriter};
use tsz::{DataPoint, Decode, Encode, StdDecoder, StdEncoder};

#[path = "../examples/common/datasets.rs"]
mod datasets;

fn encode_ours(ts: &[i64], vs: &[f64]) -> Chunk {
    let mut enc = ChunkEncoder::new();
    for (&t, &v) in ts.iter().zip(vs) {
        enc.push(t, v).unwrap();
    }
    enc.finish()
}

fn encode_tsz(ts: &[i64], vs: &[f64]) -> Box<[u8]> {
    let mut enc = StdEncoder::new(ts[0] as u64, BufferedWriter::new());
    for (&t, &v) in ts.iter().zip(vs) {
        enc.encode(DataPoint::new(t as u64, v));
    }
    enc.close()
}

/// Times decoding every chunk into a timestamp and a value column, both reused
/// from chunk to chunk.
fn into_columns<C>(
    b: &mut Bencher<'_>,
    chunks: &[C],
    mut decode: impl FnMut(&C, &mut Vec<i64>, &mut Vec<f64>),
) {
    let (mut ts, mut vs) = (Vec::with_capacity(4096), Vec::with_capacity(4096));
    b.iter(|| {
        for chunk in chunks {
            ts.clear();
            vs.clear();
            decode(chunk, &mut ts, &mut vs);
            black_box((&ts, &vs));
        }
    })
}

fn bench(c: &mut Criterion) {
    for ds in datasets::all() {
        let samples = ds.samples() as u64;
        let ours: Vec<Chunk> = ds.chunks.iter().map(|(t, v)| encode_ours(t, v)).collect();
        let theirs: Vec<Box<[u8]>> = ds.chunks.iter().map(|(t, v)| encode_tsz(t, v)).collect();

        let mut g = c.benchmark_group(format!("chunk_encode/{}", ds.name));
        g.throughput(Throughput::Elements(samples));
        g.bench_function(BenchmarkId::from_parameter("tsdb"), |b| {
            b.iter(|| {
                for (t, v) in &ds.chunks {
                    black_box(encode_ours(t, v));
                }
            })
        });
        g.bench_function(BenchmarkId::from_parameter("tsdb_bulk"), |b| {
            b.iter(|| {
                for (t, v) in &ds.chunks {
                    black_box(Chunk::encode(t, v).unwrap());
                }
            })
        });
        g.bench_function(BenchmarkId::from_parameter("tsz"), |b| {
            b.iter(|| {
                for (t, v) in &ds.chunks {
                    black_box(encode_tsz(t, v));
                }
            })
        });
        g.finish();

        let mut g = c.benchmark_group(format!("chunk_decode/{}", ds.name));
        g.throughput(Throughput::Elements(samples));
        g.bench_function(BenchmarkId::from_parameter("tsdb"), |b| {
            into_columns(b, &ours, |chunk, ts, vs| chunk.decode_into(ts, vs).unwrap());
        });
        // Into the same columns.
        g.bench_function(BenchmarkId::from_parameter("tsz_columns"), |b| {
            into_columns(b, &theirs, |bytes, ts, vs| {
                let mut dec = StdDecoder::new(BufferedReader::new(bytes.clone()));
                while let Ok(dp) = dec.next() {
                    ts.push(dp.get_time() as i64);
                    vs.push(dp.get_value());
                }
            });
        });
        // Values only, summed (less work than ours: no columns, no timestamps).
        g.bench_function(BenchmarkId::from_parameter("tsz"), |b| {
            b.iter(|| {
                for bytes in &theirs {
                    let mut dec = StdDecoder::new(BufferedReader::new(bytes.clone()));
                    let mut sum = 0.0;
                    while let Ok(dp) = dec.next() {
                        sum += dp.get_value();
                    }
                    black_box(sum);
                }
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
