//! Ingest over real HTTP: remote write, line protocol, JSON import, restart.

use std::io::Write as _;

use prost::Message;

use crate::harness::{TestServer, enc, get_json, json, now_ms, remote_read, remote_write, series};
use crate::proto::{self, ReadResponse};

fn instant(c: &mut crate::client::Client, q: &str, t_ms: i64) -> serde_json::Value {
    let (status, body) = get_json(
        c,
        &format!(
            "/api/v1/query?query={}&time={}",
            enc(q),
            t_ms as f64 / 1000.0
        ),
    );
    assert_eq!(status, 200, "{body}");
    body["data"]["result"].clone()
}

#[test]
fn remote_write_stores_samples_and_answers_204() {
    let s = TestServer::start();
    let mut c = s.client();
    let t = now_ms() - 60_000;
    let r = remote_write(
        &mut c,
        vec![
            series(
                &[("__name__", "up"), ("job", "api")],
                &[(t, 1.0), (t + 15_000, 0.0)],
            ),
            series(&[("__name__", "up"), ("job", "db")], &[(t, 1.0)]),
        ],
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let res = instant(&mut c, "up", t + 15_000);
    assert_eq!(res.as_array().unwrap().len(), 2);
    assert_eq!(
        res[0]["metric"],
        serde_json::json!({"__name__": "up", "job": "api"})
    );
    assert_eq!(res[0]["value"][1], "0");
    assert_eq!(res[1]["value"][1], "1");
}

#[test]
fn remote_write_partial_refusal_is_400_and_keeps_the_rest() {
    let s = TestServer::with(|c| c.ooo_window = std::time::Duration::ZERO);
    let mut c = s.client();
    let t = now_ms() - 60_000;
    assert_eq!(
        remote_write(
            &mut c,
            vec![series(&[("__name__", "m"), ("i", "1")], &[(t, 1.0)])]
        )
        .status,
        204
    );
    let r = remote_write(
        &mut c,
        vec![
            // Out of order with the window at 0: refused.
            series(&[("__name__", "m"), ("i", "1")], &[(t - 1_000, 5.0)]),
            // Invalid labels (duplicate name): refused.
            series(&[("__name__", "m"), ("a", "1"), ("a", "2")], &[(t, 1.0)]),
            // Good: kept.
            series(&[("__name__", "m"), ("i", "2")], &[(t, 2.0)]),
        ],
    );
    assert_eq!(r.status, 400, "partial refusals must not be retried");
    let text = r.text();
    assert!(text.contains("1 accepted, 2 refused"), "{text}");
    assert!(
        text.contains("out_of_order=1") && text.contains("bad_labels=1"),
        "{text}"
    );
    let res = instant(&mut c, "m", t);
    assert_eq!(res.as_array().unwrap().len(), 2, "{res}");
    let metrics = c.get("/metrics").unwrap().text();
    assert!(metrics.contains("tsdb_server_refused_samples_total{reason=\"out_of_order\"} 1"));
    assert!(metrics.contains("tsdb_server_ingested_samples_total{protocol=\"remote_write\"} 2"));
}

#[test]
fn remote_write_malformed_bodies_are_4xx() {
    let s = TestServer::start();
    let mut c = s.client();
    let hdrs = [
        ("Content-Encoding", "snappy"),
        ("Content-Type", "application/x-protobuf"),
    ];
    // Not snappy.
    let r = c
        .request("POST", "/api/v1/write", &hdrs, b"\xff\xff\xff\xff\xff\xff")
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("snappy"), "{}", r.text());
    // Snappy, but not a WriteRequest.
    let junk = proto::snappy_compress(b"\x0a\x05\x0a\x03abc\xff").unwrap();
    let r = c.request("POST", "/api/v1/write", &hdrs, &junk).unwrap();
    assert_eq!(r.status, 400);
    assert!(r.text().contains("WriteRequest"), "{}", r.text());
    // Invalid UTF-8 in a label value: the series is refused, and says why.
    let mut ts = series(&[("__name__", "u")], &[(now_ms(), 1.0)]);
    ts.labels.push(proto::Label {
        name: prost::bytes::Bytes::from_static(b"a"),
        value: prost::bytes::Bytes::from_static(b"x\xffy"),
    });
    let r = remote_write(&mut c, vec![ts]);
    assert!(r.text().contains("UTF-8"), "{}", r.text());
    assert_eq!(r.status, 400);
    // Wrong encoding.
    let r = c
        .request(
            "POST",
            "/api/v1/write",
            &[("Content-Encoding", "zstd")],
            b"x",
        )
        .unwrap();
    assert_eq!(r.status, 415);
}

#[test]
fn remote_read_returns_samples() {
    let s = TestServer::start();
    let mut c = s.client();
    let t = now_ms() - 60_000;
    remote_write(
        &mut c,
        vec![
            series(
                &[("__name__", "rr"), ("k", "a")],
                &[(t, 1.0), (t + 1000, 2.0)],
            ),
            series(&[("__name__", "rr"), ("k", "b")], &[(t, 3.0)]),
        ],
    );
    let r = remote_read(&mut c, "rr", t, t + 500);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
    let raw = proto::snappy_decompress(&r.body, 1 << 20).unwrap();
    let resp = ReadResponse::decode(raw.as_slice()).unwrap();
    let ts = &resp.results[0].timeseries;
    assert_eq!(ts.len(), 2);
    assert_eq!(
        ts[0].samples.len(),
        1,
        "the range ends before the second sample"
    );
    assert_eq!(ts[1].samples[0].value, 3.0);
}

#[test]
fn line_protocol_good_lines_kept_bad_lines_reported() {
    let s = TestServer::start();
    let mut c = s.client();
    let t_s = now_ms() / 1000 - 30;
    let body = format!(
        "cpu,host=a usage_idle=90,cores=4i,on=true,name=\"x\" {t_s}\n\
         cpu,host=b usage_idle=80 notatime\n\
         cpu,host=c usage_idle=70 {t_s}\n\
         mem,host=a used=12u {t_s}\n"
    );
    let r = c
        .post(
            "/api/v2/write?org=o&bucket=b&precision=s",
            "text/plain",
            body.as_bytes(),
        )
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    let j = json(&r);
    assert_eq!(j["code"], "invalid");
    assert_eq!(j["accepted"], 5);
    assert_eq!(j["refusals"]["malformed"], 1);
    assert_eq!(j["refusals"]["string_field"], 1);
    assert!(
        j["message"]
            .as_str()
            .unwrap()
            .contains("line 2: invalid timestamp"),
        "{j}"
    );
    let t = t_s * 1000;
    assert_eq!(
        instant(&mut c, "cpu_usage_idle", t)
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(instant(&mut c, "cpu_cores", t)[0]["value"][1], "4");
    assert_eq!(instant(&mut c, "cpu_on", t)[0]["value"][1], "1");
    assert_eq!(instant(&mut c, "mem_used", t)[0]["metric"]["host"], "a");
    // Everything good: 204; only string fields skipped: 200 with the count.
    let r = c
        .post(
            "/write?precision=ms",
            "text/plain",
            format!("d v=1 {t}").as_bytes(),
        )
        .unwrap();
    assert_eq!(r.status, 204, "{}", r.text());
    let r = c
        .post(
            "/write?precision=ms",
            "text/plain",
            format!("d v=2,s=\"x\" {}", t + 1).as_bytes(),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(json(&r)["refusals"]["string_field"], 1);
    // Bad precision.
    let r = c
        .post("/write?precision=d", "text/plain", b"d v=1")
        .unwrap();
    assert_eq!(r.status, 400);
    assert!(r.text().contains("precision"));
}

#[test]
fn line_protocol_gzip_and_default_timestamp() {
    let s = TestServer::start();
    let mut c = s.client();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(b"g,host=z v=7\n").unwrap();
    let body = gz.finish().unwrap();
    let r = c
        .request(
            "POST",
            "/api/v2/write",
            &[("Content-Encoding", "gzip")],
            &body,
        )
        .unwrap();
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(instant(&mut c, "g_v", now_ms())[0]["value"][1], "7");
}

#[test]
fn json_import_is_durable_and_reports_refusals() {
    let s = TestServer::start();
    let mut c = s.client();
    let t = now_ms() - 10_000;
    let body = format!(
        "{{\"metric\":{{\"__name__\":\"orders_total\",\"shop\":\"eu\"}},\"values\":[1,2,\"NaN\"],\"timestamps\":[{t},{},{}]}}\n",
        t + 1000,
        t + 2000
    );
    let r = c
        .post("/api/v1/import/json", "application/json", body.as_bytes())
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let j = json(&r);
    assert_eq!(j["status"], "success");
    assert_eq!(j["accepted"], 3);
    let metrics = c.get("/metrics").unwrap().text();
    assert!(
        metrics.contains("tsdb_server_durable_write_duration_seconds_count 1"),
        "{metrics}"
    );
    let bad = format!(
        "{{\"metric\":{{\"__name__\":\"x\"}},\"values\":[1],\"timestamps\":[{t}]}}\nnot json\n{{\"metric\":{{\"__name__\":\"x\"}},\"values\":[1,2],\"timestamps\":[{t}]}}\n"
    );
    let r = c
        .post(
            "/api/v1/import/json?mode=buffered",
            "application/json",
            bad.as_bytes(),
        )
        .unwrap();
    assert_eq!(r.status, 400);
    let j = json(&r);
    assert_eq!(
        (j["status"].as_str(), j["errorType"].as_str()),
        (Some("error"), Some("bad_data"))
    );
    assert_eq!(j["accepted"], 1);
    assert!(
        j["errors"][0].as_str().unwrap().starts_with("line 2"),
        "{j}"
    );
    let r = c
        .post(
            "/api/v1/import/json?mode=eventually",
            "application/json",
            b"",
        )
        .unwrap();
    assert_eq!(r.status, 400);
}

#[test]
fn restart_keeps_acknowledged_samples() {
    let s = TestServer::start();
    let mut c = s.client();
    let t = now_ms() - 5_000;
    assert_eq!(
        remote_write(
            &mut c,
            vec![series(&[("__name__", "persist")], &[(t, 42.0)])]
        )
        .status,
        204
    );
    drop(c);
    let dir = s.stop();
    let s = TestServer::in_dir(dir, |_| {});
    let mut c = s.client();
    assert_eq!(instant(&mut c, "persist", t)[0]["value"][1], "42");
}
