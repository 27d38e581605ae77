//! Starts the server in-process on 127.0.0.1:0 and stops it on drop.

use std::time::{SystemTime, UNIX_EPOCH};

use prost::Message;
use serde_json::Value as Json;

use crate::app::{self, Config, Server};
use crate::client::{Client, Reply};
use crate::proto::{self, Label, Sample, TimeSeries, WriteRequest};

pub struct TestServer {
    pub rt: tokio::runtime::Runtime,
    pub server: Option<Server>,
    pub dir: tempfile::TempDir,
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

impl TestServer {
    pub fn start() -> TestServer {
        Self::with(|_| {})
    }

    pub fn with(f: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        Self::in_dir(dir, f)
    }

    pub fn in_dir(dir: tempfile::TempDir, f: impl FnOnce(&mut Config)) -> TestServer {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().join("data"),
            ..Config::default()
        };
        f(&mut config);
        let server = rt.block_on(app::start(config)).unwrap();
        TestServer {
            rt,
            server: Some(server),
            dir,
        }
    }

    pub fn client(&self) -> Client {
        Client::new(self.server.as_ref().unwrap().addr)
    }

    /// Stops the server (flush and close) and returns its directory.
    pub fn stop(mut self) -> tempfile::TempDir {
        let server = self.server.take().unwrap();
        self.rt.block_on(server.stop()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            let _ = self.rt.block_on(s.stop());
        }
    }
}

pub fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries {
        labels: labels.iter().map(|(n, v)| Label::new(n, v)).collect(),
        samples: samples
            .iter()
            .map(|(t, v)| Sample {
                timestamp: *t,
                value: *v,
            })
            .collect(),
    }
}

pub fn remote_write_body(ts: Vec<TimeSeries>) -> Vec<u8> {
    let req = WriteRequest {
        timeseries: ts,
        metadata: Vec::new(),
    };
    proto::snappy_compress(&req.encode_to_vec()).unwrap()
}

pub fn remote_write(c: &mut Client, ts: Vec<TimeSeries>) -> Reply {
    let body = remote_write_body(ts);
    c.request(
        "POST",
        "/api/v1/write",
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "snappy"),
            ("X-Prometheus-Remote-Write-Version", "0.1.0"),
        ],
        &body,
    )
    .unwrap()
}

/// A remote read of the samples of metric `name` in `[start, end]` (samples
/// response type, snappy-compressed protobuf).
pub fn remote_read(c: &mut Client, name: &str, start: i64, end: i64) -> Reply {
    let req = proto::ReadRequest {
        queries: vec![proto::Query {
            start_timestamp_ms: start,
            end_timestamp_ms: end,
            matchers: vec![proto::LabelMatcher {
                r#type: 0,
                name: "__name__".into(),
                value: name.into(),
            }],
        }],
        accepted_response_types: vec![0],
    };
    let body = proto::snappy_compress(&req.encode_to_vec()).unwrap();
    c.request(
        "POST",
        "/api/v1/read",
        &[
            ("Content-Encoding", "snappy"),
            ("Content-Type", "application/x-protobuf"),
        ],
        &body,
    )
    .unwrap()
}

pub fn json(r: &Reply) -> Json {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.text()))
}

/// URL-encodes a query parameter value.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn get_json(c: &mut Client, path: &str) -> (u16, Json) {
    let r = c.get(path).unwrap();
    (r.status, json(&r))
}
