//! Real series for the codec examples: a Prometheus query response for raw samples
//! (`curl -G localhost:9090/api/v1/query --data-urlencode 'query={__name__=~".+"}[30m]'`)
//! cut into 120-sample chunks per series (a last partial chunk is dropped), as
//! counters, gauges and the rest, and everything together.

#![allow(dead_code)]

use std::collections::BTreeMap;

use super::datasets;

/// One series of a capture: its labels and samples (milliseconds, values).
pub type RealSeries = (BTreeMap<String, String>, Vec<(i64, f64)>);

/// The series of a Prometheus query response (`resultType: matrix`), in the
/// response's order; samples whose value does not parse are skipped.
pub fn prometheus_series(path: &str) -> Result<Vec<RealSeries>, Box<dyn std::error::Error>> {
    #[derive(serde::Deserialize)]
    struct Response {
        data: Data,
    }
    #[derive(serde::Deserialize)]
    struct Data {
        result: Vec<Series>,
    }
    #[derive(serde::Deserialize)]
    struct Series {
        metric: BTreeMap<String, String>,
        values: Vec<(f64, String)>,
    }
    let resp: Response =
        serde_json::from_reader(std::io::BufReader::new(std::fs::File::open(path)?))?;
    Ok(resp
        .data
        .result
        .into_iter()
        .map(|s| {
            let samples = s
                .values
                .iter()
                .filter_map(|(t, v)| Some(((t * 1000.0).round() as i64, v.parse::<f64>().ok()?)))
                .collect();
            (s.metric, samples)
        })
        .collect())
}

/// Series of a Prometheus query response as datasets of 120-sample chunks:
/// counters (names ending `_total`, `_count`, `_sum`, `_bucket`), the other
/// series (mostly gauges), and all of them.
pub fn prometheus_datasets(
    path: &str,
) -> Result<Vec<datasets::Dataset>, Box<dyn std::error::Error>> {
    let (mut counters, mut gauges) = (Vec::new(), Vec::new());
    for (metric, samples) in prometheus_series(path)? {
        let name = metric.get("__name__").cloned().unwrap_or_default();
        let is_counter = ["_total", "_count", "_sum", "_bucket"]
            .iter()
            .any(|suffix| name.ends_with(suffix));
        for chunk in samples.chunks_exact(datasets::CHUNK) {
            let cols = chunk.iter().copied().unzip();
            if is_counter {
                counters.push(cols);
            } else {
                gauges.push(cols);
            }
        }
    }
    let all: Vec<_> = counters.iter().chain(&gauges).cloned().collect();
    Ok(vec![
        datasets::Dataset {
            name: "real: counters",
            chunks: counters,
        },
        datasets::Dataset {
            name: "real: gauges and the rest",
            chunks: gauges,
        },
        datasets::Dataset {
            name: "real: all series",
            chunks: all,
        },
    ])
}
