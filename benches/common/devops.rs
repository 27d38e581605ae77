//! TSBS devops-style label sets, generated deterministically.

use tsdb::index::Labels;

/// Metric names: 100 per host (TSBS devops measurements and fields flattened).
pub const METRICS_PER_HOST: usize = 100;

/// The ten fields of TSBS' `cpu` measurement.
pub const CPU_FIELDS: [&str; 10] = [
    "usage_user",
    "usage_system",
    "usage_idle",
    "usage_nice",
    "usage_iowait",
    "usage_irq",
    "usage_softirq",
    "usage_steal",
    "usage_guest",
    "usage_guest_nice",
];

const MEASUREMENTS: [(&str, &[&str]); 9] = [
    ("cpu", &CPU_FIELDS),
    (
        "diskio",
        &[
            "reads",
            "writes",
            "read_bytes",
            "write_bytes",
            "read_time",
            "write_time",
            "io_time",
        ],
    ),
    (
        "disk",
        &[
            "total",
            "free",
            "used",
            "used_percent",
            "inodes_total",
            "inodes_free",
            "inodes_used",
        ],
    ),
    (
        "kernel",
        &[
            "boot_time",
            "interrupts",
            "context_switches",
            "processes_forked",
            "disk_pages_in",
            "disk_pages_out",
        ],
    ),
    (
        "mem",
        &[
            "total",
            "available",
            "used",
            "free",
            "cached",
            "buffered",
            "used_percent",
            "available_percent",
            "buffered_percent",
        ],
    ),
    (
        "net",
        &[
            "bytes_sent",
            "bytes_recv",
            "packets_sent",
            "packets_recv",
            "err_in",
            "err_out",
            "drop_in",
            "drop_out",
            "interfaces",
        ],
    ),
    (
        "nginx",
        &[
            "accepts", "active", "handled", "reading", "requests", "waiting", "writing",
        ],
    ),
    (
        "postgresl",
        &[
            "numbackends",
            "xact_commit",
            "xact_rollback",
            "blks_read",
            "blks_hit",
            "tup_returned",
            "tup_fetched",
            "tup_inserted",
            "tup_updated",
            "tup_deleted",
            "conflicts",
            "temp_files",
            "temp_bytes",
            "deadlocks",
            "blk_read_time",
            "blk_write_time",
        ],
    ),
    (
        "redis",
        &[
            "uptime_in_seconds",
            "total_connections_received",
            "expired_keys",
            "evicted_keys",
            "keyspace_hits",
            "keyspace_misses",
            "instantaneous_ops_per_sec",
            "instantaneous_input_kbps",
            "instantaneous_output_kbps",
            "connected_clients",
            "used_memory",
            "used_memory_rss",
            "used_memory_peak",
            "used_memory_lua",
            "rdb_changes_since_last_save",
            "sync_full",
            "sync_partial_ok",
            "sync_partial_err",
            "pubsub_channels",
            "pubsub_patterns",
            "latest_fork_usec",
            "connected_slaves",
            "master_repl_offset",
            "repl_backlog_active",
            "repl_backlog_size",
            "repl_backlog_histlen",
            "mem_fragmentation_ratio",
            "used_cpu_sys",
            "used_cpu_user",
        ],
    ),
];

const REGIONS: [&str; 9] = [
    "us-east-1",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "sa-east-1",
];
const OS: [&str; 3] = ["Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10"];
const ARCH: [&str; 2] = ["x64", "x86"];
const TEAM: [&str; 4] = ["SF", "NYC", "LON", "CHI"];
const ENV: [&str; 3] = ["production", "staging", "test"];

/// The 100 metric names.
pub fn metric_names() -> Vec<String> {
    let mut out = Vec::new();
    for (m, fields) in MEASUREMENTS {
        for f in fields {
            out.push(format!("{m}_{f}"));
        }
    }
    out.truncate(METRICS_PER_HOST);
    out
}

fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn pick<'a>(xs: &[&'a str], h: u64, salt: u64) -> &'a str {
    xs[(mix(h ^ salt) % xs.len() as u64) as usize]
}

/// The labels of host `host` without the metric name.
pub fn host_labels(host: usize) -> Vec<(String, String)> {
    let h = host as u64;
    let region = pick(&REGIONS, h, 1);
    let dc = format!("{region}{}", ["a", "b", "c"][(mix(h ^ 2) % 3) as usize]);
    vec![
        ("hostname".into(), format!("host_{host}")),
        ("region".into(), region.into()),
        ("datacenter".into(), dc),
        ("rack".into(), (mix(h ^ 3) % 100).to_string()),
        ("os".into(), pick(&OS, h, 4).into()),
        ("arch".into(), pick(&ARCH, h, 5).into()),
        ("team".into(), pick(&TEAM, h, 6).into()),
        ("service".into(), (mix(h ^ 7) % 20).to_string()),
        ("service_version".into(), (mix(h ^ 8) % 2).to_string()),
        ("service_environment".into(), pick(&ENV, h, 9).into()),
    ]
}

/// `n` series: `n / 100` hosts × 100 metrics, host-major.
pub fn series(n: usize) -> Vec<Labels> {
    let metrics = metric_names();
    let mut out = Vec::with_capacity(n);
    for host in 0..n.div_ceil(METRICS_PER_HOST) {
        let base = host_labels(host);
        for m in &metrics {
            if out.len() == n {
                return out;
            }
            let pairs = base
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .chain([("__name__", m.as_str())]);
            out.push(Labels::new(pairs).expect("valid labels"));
        }
    }
    out
}
