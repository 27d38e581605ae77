//! The engine over the real storage engine (`tsdb_core::Db`), not just `MemQuerier`.

use tsdb_core::{Db, Options};
use tsdb_query::testing::MemQuerier;
use tsdb_query::{Engine, EngineOptions, Labels};

#[test]
fn same_answers_over_db_and_mem_querier() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let mem = MemQuerier::new();
    for host in 0..4 {
        let labels = Labels::new([
            ("__name__", "requests_total".to_string()),
            ("host", format!("h{host}")),
        ])
        .unwrap();
        let mut samples = Vec::new();
        let mut v = 0.0;
        for i in 0..360i64 {
            // a counter with a reset every 100 samples
            v = if i % 100 == 99 {
                0.0
            } else {
                v + (host + 1) as f64
            };
            samples.push((i * 10_000, v));
        }
        for (t, v) in &samples {
            db.append(&labels, *t, *v).unwrap();
        }
        mem.add(&labels, &samples);
    }
    let opts = || EngineOptions {
        cache_entries: 0,
        ..EngineOptions::default()
    };
    let on_db = Engine::with_options(&db, opts());
    let on_mem = Engine::with_options(&mem, opts());
    for q in [
        "sum(rate(requests_total[5m]))",
        "max by (host) (increase(requests_total[10m]))",
        "requests_total > 100",
        "topk(2, requests_total)",
    ] {
        let a = on_db.range(q, 600_000, 3_000_000, 60_000).unwrap();
        let b = on_mem.range(q, 600_000, 3_000_000, 60_000).unwrap();
        assert_eq!(a, b, "{q}");
        assert!(a.num_points() > 0, "{q}");
    }
}
