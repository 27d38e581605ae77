//! Authentication and limits.

use std::time::Duration;

use crate::harness::{TestServer, get_json, json, now_ms, remote_read, remote_write, series};

#[test]
fn bearer_token_guards_every_endpoint_but_healthy() {
    let s = TestServer::with(|c| c.auth_token = Some("s3cret".into()));
    let mut c = s.client();
    assert_eq!(c.get("/-/healthy").unwrap().status, 200);
    for path in [
        "/-/ready",
        "/metrics",
        "/api/v1/query?query=1",
        "/api/v1/labels",
    ] {
        let r = c.get(path).unwrap();
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(json(&r)["errorType"], "unauthorized");
    }
    let r = c.post("/write", "text/plain", b"m v=1").unwrap();
    assert_eq!(r.status, 401);
    c.token = Some("wrong".into());
    assert_eq!(c.get("/api/v1/query?query=1").unwrap().status, 401);
    c.token = Some("s3cret".into());
    assert_eq!(c.get("/api/v1/query?query=1").unwrap().status, 200);
    assert_eq!(
        remote_write(
            &mut c,
            vec![series(&[("__name__", "a")], &[(now_ms(), 1.0)])]
        )
        .status,
        204
    );
}

#[test]
fn token_file_is_read_and_trimmed() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("token");
    std::fs::write(&p, "  abc \nignored\n").unwrap();
    assert_eq!(crate::auth::read_token_file(&p).unwrap(), "abc");
    std::fs::write(&p, "\n").unwrap();
    assert!(
        crate::auth::read_token_file(&p)
            .unwrap_err()
            .contains("empty")
    );
}

#[test]
fn request_body_and_snappy_bombs_are_refused() {
    let s = TestServer::with(|c| {
        c.max_body_bytes = 4096;
        c.max_decompressed_bytes = 32 * 1024;
    });
    let mut c = s.client();
    let r = c.post("/write", "text/plain", &vec![b'x'; 8192]).unwrap();
    assert_eq!(r.status, 413);
    // A header declaring 1 GiB: refused before any decompression.
    let mut bomb = vec![0x80, 0x80, 0x80, 0x80, 0x04];
    bomb.extend_from_slice(&[0u8; 64]);
    let r = c
        .request(
            "POST",
            "/api/v1/write",
            &[("Content-Encoding", "snappy")],
            &bomb,
        )
        .unwrap();
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.text().contains("1073741824"), "{}", r.text());
    // A real body that decompresses beyond the limit.
    let big = crate::proto::snappy_compress(&vec![0u8; 60_000]).unwrap();
    assert!(big.len() < 4096);
    let r = c
        .request(
            "POST",
            "/api/v1/write",
            &[("Content-Encoding", "snappy")],
            &big,
        )
        .unwrap();
    assert_eq!(r.status, 413);
    // Gzip bombs for line protocol.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gz, &vec![b'#'; 1 << 20]).unwrap();
    let r = c
        .request(
            "POST",
            "/write",
            &[("Content-Encoding", "gzip")],
            &gz.finish().unwrap(),
        )
        .unwrap();
    assert_eq!(r.status, 413, "{}", r.text());
}

#[test]
fn query_limits_name_the_limit() {
    let s = TestServer::with(|c| c.max_query_series = 1);
    let mut c = s.client();
    let t = now_ms() - 1000;
    remote_write(
        &mut c,
        vec![
            series(&[("__name__", "q"), ("i", "1")], &[(t, 1.0)]),
            series(&[("__name__", "q"), ("i", "2")], &[(t, 1.0)]),
        ],
    );
    let (status, body) = get_json(
        &mut c,
        &format!("/api/v1/query?query=q&time={}", t / 1000 + 1),
    );
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errorType"], "execution");
    assert!(
        body["error"].as_str().unwrap().contains("max_series"),
        "{body}"
    );
    let (status, body) = get_json(&mut c, "/api/v1/series?match[]=q");
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("--max-query-series")
    );
}

#[test]
fn cardinality_and_retention_refusals_are_counted() {
    let s = TestServer::with(|c| {
        c.max_series = 2;
        c.retention = Duration::from_secs(3600);
    });
    let mut c = s.client();
    let t = now_ms() - 1000;
    let r = remote_write(
        &mut c,
        vec![
            series(&[("__name__", "c"), ("i", "1")], &[(t, 1.0)]),
            series(&[("__name__", "c"), ("i", "2")], &[(t, 1.0)]),
            series(&[("__name__", "c"), ("i", "3")], &[(t, 1.0)]),
            series(&[("__name__", "c"), ("i", "1")], &[(t - 7_200_000, 1.0)]),
        ],
    );
    assert_eq!(r.status, 400);
    let text = r.text();
    assert!(text.contains("cardinality_limit=1"), "{text}");
    assert!(text.contains("out_of_bounds=1"), "{text}");
    assert!(text.contains("2 accepted"), "{text}");
}

#[test]
fn a_slow_body_times_out() {
    use std::io::{Read, Write};
    let s = TestServer::with(|c| c.request_timeout = Duration::from_millis(300));
    let addr = s.server.as_ref().unwrap().addr;
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // Promise 100 bytes, send 3, then stall.
    conn.write_all(b"POST /write HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc")
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = vec![0u8; 4096];
    let n = conn.read(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("timed out"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn json_import_body_errors_have_the_prometheus_error_shape() {
    let s = TestServer::with(|c| c.max_decompressed_bytes = 32 * 1024);
    let mut c = s.client();
    // An unknown encoding: 415, but the JSON import's own error shape.
    let r = c
        .request(
            "POST",
            "/api/v1/import/json",
            &[("Content-Encoding", "br")],
            b"{}",
        )
        .unwrap();
    assert_eq!(r.status, 415, "{}", r.text());
    let j = json(&r);
    assert_eq!(j["status"], "error", "{}", r.text());
    assert_eq!(j["errorType"], "bad_data", "{}", r.text());
    // A gzip bomb: 413 in the same shape.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gz, &vec![b' '; 1 << 20]).unwrap();
    let r = c
        .request(
            "POST",
            "/api/v1/import/json",
            &[("Content-Encoding", "gzip")],
            &gz.finish().unwrap(),
        )
        .unwrap();
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(json(&r)["status"], "error", "{}", r.text());
    // Line protocol keeps the InfluxDB shape.
    let r = c
        .request("POST", "/write", &[("Content-Encoding", "br")], b"m v=1")
        .unwrap();
    assert_eq!(r.status, 415);
    assert_eq!(json(&r)["code"], "invalid", "{}", r.text());
}

#[test]
fn bearer_scheme_is_case_insensitive() {
    // RFC 7235 §2.1: the auth scheme is case-insensitive.
    let s = TestServer::with(|c| c.auth_token = Some("s3cret".into()));
    let mut c = s.client();
    for h in ["bearer s3cret", "BEARER s3cret", "Bearer s3cret"] {
        let r = c
            .request("GET", "/api/v1/labels", &[("Authorization", h)], b"")
            .unwrap();
        assert_eq!(r.status, 200, "{h}: {}", r.text());
    }
    for h in ["Basic s3cret", "Bearers3cret", "bearer wrong"] {
        let r = c
            .request("GET", "/api/v1/labels", &[("Authorization", h)], b"")
            .unwrap();
        assert_eq!(r.status, 401, "{h}");
    }
}

#[test]
fn queries_and_remote_reads_beyond_the_slots_are_told_to_come_back() {
    let s = TestServer::with(|c| {
        c.max_concurrent_queries = 1;
        c.query_timeout = Duration::from_millis(200);
    });
    let mut c = s.client();
    let t = now_ms() - 60_000;
    remote_write(&mut c, vec![series(&[("__name__", "busy")], &[(t, 1.0)])]);
    // The only slot is taken (as by a long query): a read and a query wait for
    // the query timeout, then are refused with 503, not parked.
    let slots = &s.server.as_ref().unwrap().state.query_slots;
    let held = std::sync::Arc::clone(slots).try_acquire_owned().unwrap();
    let started = std::time::Instant::now();
    let r = remote_read(&mut c, "busy", t - 1, t + 1);
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(
        r.text().contains("too many concurrent queries"),
        "{}",
        r.text()
    );
    assert!(started.elapsed() >= Duration::from_millis(200));
    let (status, j) = get_json(&mut c, "/api/v1/query?query=busy");
    assert_eq!(status, 503, "{j}");
    assert_eq!(j["errorType"], "unavailable", "{j}");
    // Freed, the same requests are answered.
    drop(held);
    assert_eq!(remote_read(&mut c, "busy", t - 1, t + 1).status, 200);
    let (status, j) = get_json(&mut c, "/api/v1/query?query=busy");
    assert_eq!(status, 200, "{j}");
    assert_eq!(j["data"]["result"][0]["value"][1], "1", "{j}");
}
