//! The demo workload.

use crate::demo::Workload;
use crate::harness::{TestServer, enc, get_json, now_ms};

#[test]
fn a_scrape_has_every_series_and_consistent_histograms() {
    let mut w = Workload::new(2);
    let t = 1_700_000_000_000;
    let first = w.scrape(t);
    // Per host: 2 cpus x 4 modes, 2 memory gauges, 3 routes x (2 counters + 8 buckets + sum + count).
    assert_eq!(first.len(), 2 * (8 + 2 + 3 * 12));
    let value = |batch: &[tsdb::core::BatchSample], name: &str, le: Option<&str>| -> f64 {
        batch
            .iter()
            .find(|s| {
                s.labels.metric_name() == Some(name)
                    && s.labels.get("host") == Some("host-000")
                    && s.labels.get("route") == Some("/api/items")
                    && le.is_none_or(|le| s.labels.get("le") == Some(le))
            })
            .map(|s| s.value)
            .unwrap()
    };
    let second = w.scrape(t + 10_000);
    for b in [&first, &second] {
        let buckets: Vec<f64> = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "1", "+Inf"]
            .iter()
            .map(|le| value(b, "http_request_duration_seconds_bucket", Some(le)))
            .collect();
        assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
        assert_eq!(
            buckets[7],
            value(b, "http_request_duration_seconds_count", None)
        );
    }
    assert!(
        value(&second, "http_request_duration_seconds_count", None)
            > value(&first, "http_request_duration_seconds_count", None)
    );
}

#[test]
fn demo_mode_backfills_an_hour_at_start() {
    let s = TestServer::with(|c| {
        c.demo = true;
        c.demo_hosts = 2;
    });
    let mut c = s.client();
    let q = enc("count(count_over_time(node_cpu_seconds_total[2h]))");
    let mut found = serde_json::Value::Null;
    for _ in 0..100 {
        let (status, body) = get_json(
            &mut c,
            &format!("/api/v1/query?query={q}&time={}", now_ms() / 1000),
        );
        assert_eq!(status, 200);
        found = body["data"]["result"][0]["value"][1].clone();
        if found == "16" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(found, "16");
    // An hour of history is there within moments (the backfill runs at start).
    let q = enc("count_over_time(node_memory_used_bytes{host=\"host-000\"}[1h])");
    let mut n = 0.0;
    for _ in 0..200 {
        let (_, body) = get_json(
            &mut c,
            &format!("/api/v1/query?query={q}&time={}", now_ms() / 1000),
        );
        n = body["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        if n >= 300.0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(n >= 300.0, "only {n} points in the last hour");
}
