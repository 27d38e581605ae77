//! Engine-level behaviour: what is fetched, limits, cache, threads, robustness.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tsdb_query::testing::MemQuerier;
use tsdb_query::{
    Engine, EngineOptions, LimitKind, Limits, Matcher, Querier, QueryError, SelectHints, Series,
    Tier, Value,
};

type CoreResult<T> = Result<T, tsdb_core::Error>;

/// One recorded `select`: matchers, min, max, tier.
type Call = (Vec<String>, i64, i64, Tier);

/// A querier that records every `select` call.
struct Recording {
    inner: MemQuerier,
    calls: Mutex<Vec<Call>>,
}

impl Recording {
    fn new(inner: MemQuerier) -> Arc<Self> {
        Arc::new(Recording {
            inner,
            calls: Mutex::new(Vec::new()),
        })
    }
    fn take(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls.lock())
    }
}

impl Querier for Recording {
    fn select(&self, m: &[Matcher], h: &SelectHints) -> CoreResult<Vec<Series>> {
        self.calls.lock().push((
            m.iter()
                .map(|m| format!("{}={}", m.name(), m.value()))
                .collect(),
            h.min_time_ms,
            h.max_time_ms,
            h.tier,
        ));
        self.inner.select(m, h)
    }
    fn series(&self, m: &[Matcher], h: &SelectHints) -> CoreResult<Vec<tsdb_query::Labels>> {
        self.inner.series(m, h)
    }
    fn label_names(&self, m: &[Matcher]) -> CoreResult<Vec<String>> {
        self.inner.label_names(m)
    }
    fn label_values(&self, n: &str, m: &[Matcher]) -> CoreResult<Vec<String>> {
        self.inner.label_values(n, m)
    }
}

const MIN: i64 = 60_000;

fn labels(pairs: &[(&str, &str)]) -> tsdb_query::Labels {
    tsdb_query::Labels::new(pairs.iter().copied()).unwrap()
}

/// `n` counters `c{i="k"}` with a sample every 10 s for an hour.
fn counters(n: usize) -> MemQuerier {
    let q = MemQuerier::new();
    for k in 0..n {
        let ts: Vec<i64> = (0..360).map(|i| i * 10_000).collect();
        let vs: Vec<f64> = (0..360).map(|i| (i * (k + 1)) as f64).collect();
        q.insert_series(Series {
            labels: labels(&[("__name__", "c"), ("i", &k.to_string())]),
            timestamps: ts,
            values: vs,
        });
    }
    q
}

fn no_cache() -> EngineOptions {
    EngineOptions {
        cache_entries: 0,
        ..EngineOptions::default()
    }
}

#[test]
fn one_select_per_selector_with_the_needed_range() {
    let rec = Recording::new(counters(2));
    let e = Engine::with_options(rec.clone(), no_cache());
    e.range("rate(c[5m] offset 1m)", 10 * MIN, 20 * MIN, MIN)
        .unwrap();
    let calls = rec.take();
    assert_eq!(calls.len(), 1);
    // (10m - 1m - 5m, 20m - 1m]
    assert_eq!((calls[0].1, calls[0].2), (4 * MIN + 1, 19 * MIN));
    assert_eq!(calls[0].3, Tier::Raw);

    e.instant("c + c", 30 * MIN).unwrap();
    let calls = rec.take();
    assert_eq!(calls.len(), 2);
    assert!(calls.iter().all(|c| (c.1, c.2) == (25 * MIN + 1, 30 * MIN)));

    // Subquery steps 21m..30m, each looking back 5m.
    e.instant("max_over_time(c[10m:1m])", 30 * MIN).unwrap();
    let calls = rec.take();
    assert_eq!((calls[0].1, calls[0].2), (16 * MIN + 1, 30 * MIN));

    e.instant("c @ 100", 30 * MIN).unwrap();
    let calls = rec.take();
    assert_eq!((calls[0].1, calls[0].2), (100_000 - 5 * MIN + 1, 100_000));
}

#[test]
fn plan_names_reads_and_tiers() {
    let e = Engine::new(counters(1));
    let p = e
        .plan("sum(rate(c{i=\"0\"}[5m])) / sum(c)", 0, 60 * MIN, MIN)
        .unwrap();
    assert_eq!(p.step_ms, MIN);
    assert_eq!(p.reads.len(), 2);
    assert_eq!(p.reads[0].min_time_ms, -5 * MIN + 1);
    assert_eq!(p.reads[0].max_time_ms, 60 * MIN);
    assert!(p.reads[0].matchers.iter().any(|m| m.contains("i=")));
    assert!(p.reads.iter().all(|r| r.tier == Tier::Raw));
}

#[test]
fn limits_name_what_was_hit() {
    let q = Arc::new(counters(3));
    let strict = |limits: Limits| {
        Engine::with_options(
            q.clone(),
            EngineOptions {
                limits,
                cache_entries: 0,
                ..EngineOptions::default()
            },
        )
    };
    let kind = |r: tsdb_query::Result<Value>| match r {
        Err(QueryError::Limit { kind, .. }) => kind,
        other => panic!("expected a limit error, got {other:?}"),
    };
    let e = strict(Limits {
        max_series: 2,
        ..Limits::default()
    });
    assert_eq!(kind(e.instant("c", 10 * MIN)), LimitKind::Series);
    assert!(e.instant("c{i=\"0\"}", 10 * MIN).is_ok());

    let e = strict(Limits {
        max_samples: 100,
        ..Limits::default()
    });
    assert_eq!(kind(e.instant("rate(c[1h])", 60 * MIN)), LimitKind::Samples);

    let e = strict(Limits {
        timeout: Some(Duration::ZERO),
        ..Limits::default()
    });
    assert_eq!(kind(e.instant("c", 10 * MIN)), LimitKind::Timeout);

    let e = strict(Limits::default());
    assert_eq!(kind(e.range("c", 0, 60 * MIN, 100)), LimitKind::Resolution);
    let msg = e.range("c", 0, 60 * MIN, 100).unwrap_err().to_string();
    assert!(msg.contains("max_points_per_series"), "{msg}");
}

#[test]
fn cache_serves_repeats_and_keys_on_step() {
    let rec = Recording::new(counters(1));
    let e = Engine::new(rec.clone());
    let a = e.range("sum(c)", 0, 30 * MIN, MIN).unwrap();
    let b = e.range("sum(c)", 0, 30 * MIN, MIN).unwrap();
    assert_eq!(a, b);
    assert_eq!(rec.take().len(), 1);
    e.range("sum(c)", 0, 30 * MIN, 2 * MIN).unwrap();
    assert_eq!(rec.take().len(), 1);
}

#[test]
fn one_and_two_threads_agree() {
    let q = Arc::new(counters(64));
    let mk = |threads| {
        Engine::with_options(
            q.clone(),
            EngineOptions {
                threads: Some(threads),
                cache_entries: 0,
                ..EngineOptions::default()
            },
        )
    };
    for expr in [
        "sum(rate(c[5m]))",
        "avg by (i) (c)",
        "topk(3, c)",
        "quantile(0.9, irate(c[1m]))",
        "c / on(i) group_left c",
    ] {
        let a = mk(1).range(expr, 10 * MIN, 50 * MIN, 30_000).unwrap();
        let b = mk(2).range(expr, 10 * MIN, 50 * MIN, 30_000).unwrap();
        assert_eq!(a, b, "{expr}");
    }
}

#[test]
fn range_auto_picks_the_resolution() {
    let e = Engine::new(counters(1));
    let m = e.range_auto("c", 0, 3_600_000).unwrap();
    // 1 h / 11 000 points rounds up to 1 s.
    assert_eq!(m.as_matrix().unwrap()[0].timestamps[1], 1_000);
    assert_eq!(tsdb_query::resolution(0, 86_400_000, 11_000), 8_000);
}

#[test]
fn scalar_range_query_is_one_unlabelled_series() {
    let e = Engine::new(counters(1));
    let m = e.range("time() * 2", 0, 2 * MIN, MIN).unwrap();
    let m = m.as_matrix().unwrap();
    assert_eq!(m.len(), 1);
    assert!(m[0].labels.is_empty());
    assert_eq!(m[0].values, vec![0.0, 120.0, 240.0]);
}

#[test]
fn hostile_queries_return_errors_not_panics() {
    let e = Engine::with_options(counters(2), no_cache());
    let queries = [
        "",
        "(((",
        "c[",
        "c[5m",
        "sum by (a) (c) offset",
        "c @ 1e30",
        "c @ -1e30",
        "c[1000000000y]",
        "c offset 1000000000y",
        "max_over_time(c[1000000000y:1ms])",
        "max_over_time(c[5m:100ms])",
        "rate(c[0s])",
        "topk(NaN, c)",
        "topk(1e300, c)",
        "quantile(NaN, c)",
        "histogram_quantile(0.5, c)",
        "label_replace(c, \"a\", \"$99\", \"i\", \"(\")",
        "label_replace(c, \"a\", \"${\", \"i\", \".*\")",
        "count_values(\"\", c)",
        "count_values(\"x\", c)",
        "-{__name__=~\".*\"}",
        "{__name__=~\".*\"} / on() {__name__=~\".*\"}",
        "c / ignoring(i) c",
        "absent(nonexistent{a=\"b\", a=\"c\"})",
        "round(c, 0)",
        "clamp(c, NaN, NaN)",
        "1 % 0",
        "vector(1) @ start()",
        "\"\\xff\"",
        "sort_desc(sort(c))",
        "timestamp(timestamp(c))",
        "days_in_month(vector(1e300))",
        "year(vector(-1e300))",
        "hour(vector(NaN))",
    ];
    for q in queries {
        let _ = e.instant(q, 30 * MIN);
        let _ = e.range(q, 0, 30 * MIN, MIN);
    }
    assert!(e.instant("c", i64::MAX).is_err());
    assert!(e.range("c", i64::MIN, 0, 1).is_err());
    assert!(e.range("c", 0, 10, 0).is_err());
    assert!(e.range("c", 10, 0, 1).is_err());
}

#[test]
fn deeply_nested_or_huge_queries_are_refused() {
    let e = Engine::with_options(counters(1), no_cache());
    let deep = format!("{}c{}", "(".repeat(100_000), ")".repeat(100_000));
    assert!(matches!(e.instant(&deep, 0), Err(QueryError::Parse(_))));
    let unary = format!("{}1", "-".repeat(100_000));
    let _ = e.instant(&unary, 0);
    let unary = format!("{}c", "-".repeat(100_000));
    let _ = e.instant(&unary, 0);
    let chain = vec!["c"; 50_000].join(" + ");
    assert!(matches!(e.instant(&chain, 0), Err(QueryError::Parse(_))));
    let chain = vec!["c"; 50_000].join(" or ");
    assert!(matches!(e.instant(&chain, 0), Err(QueryError::Parse(_))));
    // Just under the limits still evaluates without exhausting the stack.
    let chain = vec!["c"; 900].join(" + ");
    assert!(e.instant(&chain, 30 * MIN).is_ok());
    let unary = format!("{}c", "-".repeat(990));
    assert!(e.instant(&unary, 30 * MIN).is_ok());
    let nested = format!("{}c{}", "abs(".repeat(190), ")".repeat(190));
    assert!(e.instant(&nested, 30 * MIN).is_ok());
    let long = format!("c{{i=\"{}\"}}", "x".repeat(1 << 20));
    assert!(matches!(e.instant(&long, 0), Err(QueryError::Parse(_))));
    // Brackets inside strings do not count.
    let quoted = format!(
        "label_replace(c, \"a\", \"{}\", \"i\", \".*\")",
        "(".repeat(500)
    );
    assert!(e.instant(&quoted, 30 * MIN).is_ok());
    let ok = format!("{}c{}", "(".repeat(50), ")".repeat(50));
    assert!(e.instant(&ok, 30 * MIN).is_ok());
}

#[test]
fn aligned_ranges_share_cache_entries() {
    let rec = Recording::new(counters(1));
    let e = Engine::with_options(
        rec.clone(),
        EngineOptions {
            align_range_to_step: true,
            ..EngineOptions::default()
        },
    );
    let a = e
        .range("sum(c)", 10 * MIN + 5_000, 30 * MIN + 7_000, MIN)
        .unwrap();
    let b = e
        .range("sum(c)", 10 * MIN + 9_000, 30 * MIN + 1_000, MIN)
        .unwrap();
    assert_eq!(a, b);
    assert_eq!(rec.take().len(), 1);
    let m = a.as_matrix().unwrap();
    assert_eq!(m[0].timestamps.first(), Some(&(10 * MIN)));
    assert_eq!(m[0].timestamps.last(), Some(&(30 * MIN)));
}
