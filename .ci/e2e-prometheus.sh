#!/usr/bin/env bash
# End-to-end check against a real Prometheus (Debian's package): Prometheus
# scrapes the example server's /metrics and remote-writes what it scraped into
# the server; then the same queries go to both, and the series and values must
# be equal. Exits non-zero on any mismatch. Takes about a minute once built.
set -euo pipefail
cd "$(dirname "$0")/.."

SERVER_PORT="${SERVER_PORT:-19201}"
PROM_PORT="${PROM_PORT:-19090}"

if ! command -v prometheus >/dev/null 2>&1; then
    echo "== installing prometheus (Debian package)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
prometheus --version 2>&1 | head -1

echo "== building the server"
cargo build --example server
SERVER_BIN="target/debug/examples/server"

WORK="$(mktemp -d)"
SERVER_PID=""
PROM_PID=""
cleanup() {
    [ -n "$PROM_PID" ] && kill "$PROM_PID" 2>/dev/null && wait "$PROM_PID" 2>/dev/null || true
    [ -n "$SERVER_PID" ] && kill -TERM "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

wait_for() { # url, what
    for _ in $(seq 1 100); do
        if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
        sleep 0.2
    done
    echo "FAIL: $2 did not come up at $1" >&2
    return 1
}

echo "== starting the server on 127.0.0.1:$SERVER_PORT"
"$SERVER_BIN" --listen "127.0.0.1:$SERVER_PORT" --data-dir "$WORK/tsdb" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
wait_for "http://127.0.0.1:$SERVER_PORT/-/ready" "the server" || { cat "$WORK/server.log"; exit 1; }

cat >"$WORK/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: tsdb
    static_configs:
      - targets: ['127.0.0.1:$SERVER_PORT']
remote_write:
  - url: http://127.0.0.1:$SERVER_PORT/api/v1/write
    queue_config:
      batch_send_deadline: 1s
      min_backoff: 100ms
      max_backoff: 1s
YAML

echo "== starting prometheus on 127.0.0.1:$PROM_PORT"
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prom" \
    --web.listen-address="127.0.0.1:$PROM_PORT" >"$WORK/prometheus.log" 2>&1 &
PROM_PID=$!
wait_for "http://127.0.0.1:$PROM_PORT/-/ready" "prometheus" || { tail -20 "$WORK/prometheus.log"; exit 1; }

echo "== letting it scrape and remote-write for 26 s"
sleep 26
# Compare up to a time a few seconds back, so remote write has delivered it,
# and from one whose 5 s rate windows begin well after the first scrapes:
# Prometheus' remote write skips samples appended before its WAL watcher
# started, so the first scrape or two can exist locally and never be sent
# (seen once: the first three points of a 5 s rate differed, the rest equal).
T_END=$(( $(date +%s) - 4 ))
T_START=$(( T_END - 10 ))
sleep 3

python3 - "$SERVER_PORT" "$PROM_PORT" "$T_START" "$T_END" <<'PY'
import json, sys, urllib.parse, urllib.request

server, prom, t_start, t_end = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

def get(port, path, params):
    url = f"http://127.0.0.1:{port}{path}?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=30) as r:
        body = json.load(r)
    if body.get("status") != "success":
        sys.exit(f"FAIL: {url}: {body}")
    return body["data"]

def canon(data):
    if isinstance(data, dict) and "result" in data:
        res = sorted(data["result"], key=lambda x: json.dumps(x.get("metric"), sort_keys=True))
        return {"resultType": data["resultType"], "result": res}
    if isinstance(data, list):
        return sorted(data, key=lambda x: json.dumps(x, sort_keys=True))
    return data

checks = [
    ("/api/v1/series", {"match[]": '{job="tsdb"}', "start": t_start, "end": t_end}),
    ("/api/v1/query", {"query": '{job="tsdb"}', "time": t_end}),
    ("/api/v1/query", {"query": '{job="tsdb"}', "time": t_end - 5.5}),
    ("/api/v1/query_range", {"query": 'tsdb_server_ingested_samples_total', "start": t_start, "end": t_end, "step": 1}),
    ("/api/v1/query_range", {"query": 'sum by (code) (rate(tsdb_server_http_requests_total[5s]))', "start": t_start, "end": t_end, "step": 1}),
    ("/api/v1/query", {"query": 'count by (job) (up)', "time": t_end}),
    ("/api/v1/label/__name__/values", {"match[]": '{job="tsdb"}', "start": t_start, "end": t_end}),
]
failed = 0
for path, params in checks:
    a = canon(get(prom, path, params))
    b = canon(get(server, path, params))
    n = len(a["result"]) if isinstance(a, dict) else len(a)
    if n == 0:
        print(f"FAIL: {path} {params}: Prometheus returned nothing to compare")
        failed += 1
    elif a != b:
        failed += 1
        print(f"FAIL: {path} {params} differs")
        sa, sb = json.dumps(a, sort_keys=True), json.dumps(b, sort_keys=True)
        print("  prometheus:", sa[:1500])
        print("  tsdb:      ", sb[:1500])
    else:
        print(f"ok: {path} {params.get('query', params.get('match[]'))}: {n} results equal")
if failed:
    sys.exit(f"{failed} of {len(checks)} comparisons differ")
print(f"{len(checks)} passed, 0 failed")
PY
