//! The query API's JSON shapes, compared with the responses documented for
//! the Prometheus HTTP API, and its error shapes and codes.

use prost::Message;
use serde_json::{Value as Json, json};

use crate::client::Client;
use crate::harness::{TestServer, enc, get_json, json, remote_write, series};
use crate::proto::{self, MetricMetadata, WriteRequest};

/// The data of the documented examples: `up` of two targets around
/// 2015-07-01T20:10:51.781Z.
fn documented_data() -> TestServer {
    let s = TestServer::start();
    let mut c = s.client();
    let base = 1_435_781_430_781i64;
    let r = remote_write(
        &mut c,
        vec![
            series(
                &[
                    ("__name__", "up"),
                    ("job", "prometheus"),
                    ("instance", "localhost:9090"),
                ],
                &[
                    (base, 1.0),
                    (base + 15_000, 1.0),
                    (base + 21_000, 1.0),
                    (base + 30_000, 1.0),
                ],
            ),
            series(
                &[
                    ("__name__", "up"),
                    ("job", "node"),
                    ("instance", "localhost:9091"),
                ],
                &[
                    (base, 0.0),
                    (base + 15_000, 0.0),
                    (base + 21_000, 0.0),
                    (base + 30_000, 1.0),
                ],
            ),
            series(
                &[
                    ("__name__", "process_start_time_seconds"),
                    ("job", "prometheus"),
                    ("instance", "localhost:9090"),
                ],
                &[(base, 1_435_700_000.0)],
            ),
        ],
    );
    assert_eq!(r.status, 204, "{}", r.text());
    s
}

fn sorted_by_metric(mut v: Json) -> Json {
    if let Some(a) = v.as_array_mut() {
        a.sort_by_key(|x| x.get("metric").unwrap_or(x).to_string());
    }
    v
}

#[test]
fn instant_query_matches_the_documented_shape() {
    let s = documented_data();
    let mut c = s.client();
    let (status, body) = get_json(
        &mut c,
        "/api/v1/query?query=up%7Bjob%3D%22prometheus%22%7D&time=2015-07-01T20:10:51.781Z",
    );
    assert_eq!(status, 200);
    let documented = json!({
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [{
                "metric": {"__name__": "up", "job": "prometheus", "instance": "localhost:9090"},
                "value": [1435781451.781, "1"]
            }]
        }
    });
    assert_eq!(body, documented);
}

#[test]
fn range_query_matches_the_documented_shape() {
    let s = documented_data();
    let mut c = s.client();
    let (status, mut body) = get_json(
        &mut c,
        "/api/v1/query_range?query=up&start=2015-07-01T20:10:30.781Z&end=2015-07-01T20:11:00.781Z&step=15s",
    );
    assert_eq!(status, 200, "{body}");
    let documented = json!({
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [
                {
                    "metric": {"__name__": "up", "job": "prometheus", "instance": "localhost:9090"},
                    "values": [[1435781430.781, "1"], [1435781445.781, "1"], [1435781460.781, "1"]]
                },
                {
                    "metric": {"__name__": "up", "job": "node", "instance": "localhost:9091"},
                    "values": [[1435781430.781, "0"], [1435781445.781, "0"], [1435781460.781, "1"]]
                }
            ]
        }
    });
    body["data"]["result"] = sorted_by_metric(body["data"]["result"].take());
    let mut want = documented;
    want["data"]["result"] = sorted_by_metric(want["data"]["result"].take());
    assert_eq!(body, want);
    // The same over a POST form body, with unix-seconds times and a float step.
    let r = c
        .post(
            "/api/v1/query_range",
            "application/x-www-form-urlencoded",
            b"query=up&start=1435781430.781&end=1435781460.781&step=15",
        )
        .unwrap();
    let mut j = json(&r);
    j["data"]["result"] = sorted_by_metric(j["data"]["result"].take());
    assert_eq!(j, want);
}

#[test]
fn scalar_and_string_results() {
    let s = TestServer::start();
    let mut c = s.client();
    let (_, body) = get_json(&mut c, "/api/v1/query?query=1%2B1&time=1435781451.781");
    assert_eq!(
        body,
        json!({"status": "success", "data": {"resultType": "scalar", "result": [1435781451.781, "2"]}})
    );
    let (_, body) = get_json(&mut c, "/api/v1/query?query=%22foo%22&time=1435781451");
    assert_eq!(
        body,
        json!({"status": "success", "data": {"resultType": "string", "result": [1435781451, "foo"]}})
    );
    let (_, body) = get_json(&mut c, "/api/v1/query?query=vector(1)%2F0&time=100");
    assert_eq!(body["data"]["result"][0]["value"], json!([100, "+Inf"]));
}

#[test]
fn series_labels_and_values_match_the_documented_shapes() {
    let s = documented_data();
    let mut c = s.client();
    let (status, body) = get_json(
        &mut c,
        &format!(
            "/api/v1/series?match[]=up&match[]={}&start=2015-07-01T20:10:30.781Z&end=2015-07-01T20:20:00.781Z",
            enc("process_start_time_seconds{job=\"prometheus\"}")
        ),
    );
    assert_eq!(status, 200, "{body}");
    let want = json!([
        {"__name__": "up", "job": "prometheus", "instance": "localhost:9090"},
        {"__name__": "up", "job": "node", "instance": "localhost:9091"},
        {"__name__": "process_start_time_seconds", "job": "prometheus", "instance": "localhost:9090"}
    ]);
    let set = |v: &Json| {
        let mut a: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.to_string())
            .collect();
        a.sort();
        a
    };
    assert_eq!(body["status"], "success");
    assert_eq!(set(&body["data"]), set(&want));

    let (_, body) = get_json(&mut c, "/api/v1/labels");
    assert_eq!(
        body,
        json!({"status": "success", "data": ["__name__", "instance", "job"]})
    );
    let r = c
        .post(
            "/api/v1/labels",
            "application/x-www-form-urlencoded",
            b"match[]=up%7Bjob%3D%22node%22%7D",
        )
        .unwrap();
    assert_eq!(json(&r)["data"], json!(["__name__", "instance", "job"]));
    let (_, body) = get_json(&mut c, "/api/v1/label/job/values");
    assert_eq!(
        body,
        json!({"status": "success", "data": ["node", "prometheus"]})
    );
    let (_, body) = get_json(&mut c, "/api/v1/label/__name__/values?limit=1");
    assert_eq!(body["data"], json!(["process_start_time_seconds"]));
    let (_, body) = get_json(&mut c, "/api/v1/label/nope/values");
    assert_eq!(body, json!({"status": "success", "data": []}));
}

fn expect_error(c: &mut Client, path: &str, status: u16, kind: &str, contains: &str) {
    let r = c.get(path).unwrap();
    assert_eq!(r.status, status, "{path}: {}", r.text());
    let j = json(&r);
    assert_eq!(j["status"], "error", "{j}");
    assert_eq!(j["errorType"], kind, "{j}");
    let msg = j["error"].as_str().unwrap();
    assert!(msg.contains(contains), "{path}: {msg:?} lacks {contains:?}");
}

#[test]
fn errors_have_prometheus_shapes_and_codes() {
    let s = documented_data();
    let mut c = s.client();
    expect_error(
        &mut c,
        "/api/v1/query",
        400,
        "bad_data",
        "invalid parameter \"query\"",
    );
    expect_error(
        &mut c,
        "/api/v1/query?query=sum(",
        400,
        "bad_data",
        "invalid parameter \"query\"",
    );
    expect_error(
        &mut c,
        "/api/v1/query?query=up&time=yesterday",
        400,
        "bad_data",
        "invalid parameter \"time\"",
    );
    expect_error(
        &mut c,
        "/api/v1/query_range?query=up&start=10&end=5&step=1",
        400,
        "bad_data",
        "end timestamp must not be before start time",
    );
    expect_error(
        &mut c,
        "/api/v1/query_range?query=up&start=0&end=5&step=0",
        400,
        "bad_data",
        "zero or negative",
    );
    expect_error(
        &mut c,
        "/api/v1/query_range?query=up&start=0&end=100000&step=1",
        400,
        "bad_data",
        "11,000 points",
    );
    expect_error(
        &mut c,
        "/api/v1/query_range?query=up&end=5&step=1",
        400,
        "bad_data",
        "invalid parameter \"start\"",
    );
    expect_error(
        &mut c,
        "/api/v1/series",
        400,
        "bad_data",
        "no match[] parameter provided",
    );
    expect_error(
        &mut c,
        "/api/v1/series?match[]=sum(up)",
        400,
        "bad_data",
        "not a series selector",
    );
    expect_error(
        &mut c,
        "/api/v1/series?match[]=%7Bjob%3D~%22(%22%7D",
        400,
        "bad_data",
        "match[]",
    );
    expect_error(
        &mut c,
        "/api/v1/query?query=up%20%2B%20on()%20up&time=1435781451.781",
        422,
        "execution",
        "many-to-many",
    );
    expect_error(&mut c, "/api/v1/nope", 404, "not_found", "/api/v1/nope");
}

#[test]
fn metadata_buildinfo_and_tsdb_status() {
    let s = documented_data();
    let mut c = s.client();
    let req = WriteRequest {
        timeseries: Vec::new(),
        metadata: vec![MetricMetadata {
            r#type: 1,
            metric_family_name: "http_requests_total".into(),
            help: "Requests served.".into(),
            unit: "".into(),
        }],
    };
    let body = proto::snappy_compress(&req.encode_to_vec()).unwrap();
    let r = c
        .request(
            "POST",
            "/api/v1/write",
            &[("Content-Encoding", "snappy")],
            &body,
        )
        .unwrap();
    assert_eq!(r.status, 204);
    let (_, body) = get_json(&mut c, "/api/v1/metadata");
    assert_eq!(
        body,
        json!({"status": "success", "data": {"http_requests_total": [{"type": "counter", "help": "Requests served.", "unit": ""}]}})
    );
    let (_, body) = get_json(&mut c, "/api/v1/metadata?metric=other");
    assert_eq!(body, json!({"status": "success", "data": {}}));

    let (_, body) = get_json(&mut c, "/api/v1/status/buildinfo");
    for key in [
        "version",
        "revision",
        "branch",
        "buildUser",
        "buildDate",
        "goVersion",
    ] {
        assert!(body["data"][key].is_string(), "{key} in {body}");
    }

    // What Grafana asks for besides queries: answered, empty.
    let (_, body) = get_json(&mut c, "/api/v1/query_exemplars?query=up&start=0&end=1");
    assert_eq!(body, json!({"status": "success", "data": []}));
    let (_, body) = get_json(&mut c, "/api/v1/rules");
    assert_eq!(body, json!({"status": "success", "data": {"groups": []}}));

    let (status, body) = get_json(&mut c, "/api/v1/status/tsdb?limit=2");
    assert_eq!(status, 200);
    let d = &body["data"];
    assert_eq!(d["headStats"]["numSeries"], 3);
    assert_eq!(
        d["seriesCountByMetricName"],
        json!([{"name": "up", "value": 2}, {"name": "process_start_time_seconds", "value": 1}])
    );
    assert_eq!(
        d["labelValueCountByLabelName"][0],
        json!({"name": "__name__", "value": 2})
    );
    assert_eq!(
        d["seriesCountByLabelValuePair"].as_array().unwrap().len(),
        2
    );
    assert!(d["memoryInBytesByLabelName"].is_array());
}

#[test]
fn health_ready_and_metrics() {
    let s = TestServer::start();
    let mut c = s.client();
    let r = c.get("/-/healthy").unwrap();
    assert_eq!((r.status, r.text().contains("Healthy")), (200, true));
    let r = c.get("/-/ready").unwrap();
    assert_eq!((r.status, r.text().contains("Ready")), (200, true));
    c.get("/api/v1/query?query=1").unwrap();
    let r = c.get("/metrics").unwrap();
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = r.text();
    for needle in [
        "# TYPE tsdb_server_ingested_samples_total counter",
        "tsdb_server_refused_samples_total{reason=\"cardinality_limit\"} 0",
        "tsdb_head_series 0",
        "tsdb_wal_fsyncs_total",
        "tsdb_server_query_duration_seconds_count 1",
        "tsdb_server_query_duration_seconds_bucket{le=\"+Inf\"} 1",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[test]
fn form_body_parameters_take_precedence_over_the_query_string() {
    // Like Go's Request.FormValue, which Prometheus uses.
    let s = TestServer::start();
    let mut c = s.client();
    let r = c
        .post(
            "/api/v1/query?query=1&time=1000",
            "application/x-www-form-urlencoded",
            b"query=2",
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let j = json(&r);
    assert_eq!(j["data"]["result"], json!([1000, "2"]), "{}", r.text());
}
