//! `histogram_quantile` over classic (`le`-labelled) buckets, as Prometheus'
//! `BucketQuantile` including bucket coalescing and monotonicity fixes.

use std::collections::HashMap;

use super::stats::almost_equal;
use super::{SSeries, Steps};
use crate::compat::{Labels, METRIC_NAME};
use crate::error::Result;

const BUCKET_LABEL: &str = "le";
const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

#[derive(Clone, Copy)]
struct Bucket {
    upper: f64,
    count: f64,
}

fn bucket_quantile(q: f64, buckets: &mut [Bucket]) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| {
        a.upper
            .partial_cmp(&b.upper)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    if !buckets.last().is_some_and(|b| b.upper == f64::INFINITY) {
        return f64::NAN;
    }
    // Coalesce buckets with the same upper bound.
    let mut merged: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for b in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.upper == b.upper => last.count += b.count,
            _ => merged.push(*b),
        }
    }
    // Ensure monotonicity, ignoring tiny deltas.
    if let Some(first) = merged.first() {
        let mut prev = first.count;
        for b in merged.iter_mut().skip(1) {
            let curr = b.count;
            if curr == prev {
                continue;
            }
            if almost_equal(prev, curr, SMALL_DELTA_TOLERANCE) || curr < prev {
                b.count = prev;
                continue;
            }
            prev = curr;
        }
    }
    let n = merged.len();
    if n < 2 {
        return f64::NAN;
    }
    let observations = merged.last().map_or(0.0, |b| b.count);
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let idx = merged
        .get(..n - 1)
        .map_or(0, |s| s.partition_point(|b| b.count < rank));
    if idx == n - 1 {
        return merged.get(n - 2).map_or(f64::NAN, |b| b.upper);
    }
    let Some(bucket) = merged.get(idx) else {
        return f64::NAN;
    };
    if idx == 0 && bucket.upper <= 0.0 {
        return bucket.upper;
    }
    let mut start = 0.0;
    let end = bucket.upper;
    let mut count = bucket.count;
    if let Some(prev) = idx.checked_sub(1).and_then(|i| merged.get(i)) {
        start = prev.upper;
        count -= prev.count;
        rank -= prev.count;
    }
    start + (end - start) * (rank / count)
}

pub(crate) fn histogram_quantile(q: &[f64], v: Vec<SSeries>, steps: Steps) -> Result<Vec<SSeries>> {
    // Group buckets by their labels without `le` and the metric name.
    let mut groups: HashMap<Labels, usize> = HashMap::new();
    let mut members: Vec<(Labels, Vec<(f64, SSeries)>)> = Vec::new();
    for s in v {
        let Some(le) = s
            .labels
            .get(BUCKET_LABEL)
            .and_then(|x| x.trim().parse::<f64>().ok())
        else {
            continue;
        };
        let key = s.labels.without(&[BUCKET_LABEL, METRIC_NAME]);
        let gi = *groups.entry(key.clone()).or_insert_with(|| {
            members.push((key, Vec::new()));
            members.len() - 1
        });
        if let Some(g) = members.get_mut(gi) {
            g.1.push((le, s));
        }
    }
    let mut out = Vec::with_capacity(members.len());
    let mut buckets = Vec::new();
    for (labels, series) in members {
        let vals: Vec<Option<f64>> = (0..steps.n)
            .map(|i| {
                buckets.clear();
                for (le, s) in &series {
                    if let Some(c) = s.vals.get(i).copied().flatten() {
                        buckets.push(Bucket {
                            upper: *le,
                            count: c,
                        });
                    }
                }
                if buckets.is_empty() {
                    return None;
                }
                Some(bucket_quantile(
                    q.get(i).copied().unwrap_or(f64::NAN),
                    &mut buckets,
                ))
            })
            .collect();
        if vals.iter().any(Option::is_some) {
            out.push(SSeries { labels, vals });
        }
    }
    Ok(out)
}
