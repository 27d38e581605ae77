//! The golden fixture of index format v1: the writer's bytes for a fixed series set
//! must not change unless the format version is bumped.
//!
//! Regenerate (only with a version bump): `TSDB_BLESS_GOLDEN=1 cargo test -p
//! tsdb-index --test it golden`.

use std::path::PathBuf;

use tsdb_index::format::{INDEX_FORMAT_V1, INDEX_MAGIC};
use tsdb_index::{IndexReader, IndexWriter, Matcher, SeriesId};

use crate::common::golden_series;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/index_v1/index")
}

fn golden_bytes() -> Vec<u8> {
    let w: IndexWriter = golden_series().into_iter().collect();
    w.to_bytes().unwrap()
}

#[test]
fn golden_index_v1_bytes_are_stable() {
    let bytes = golden_bytes();
    if std::env::var_os("TSDB_BLESS_GOLDEN").is_some() {
        std::fs::create_dir_all(fixture().parent().unwrap()).unwrap();
        std::fs::write(fixture(), &bytes).unwrap();
    }
    let committed = std::fs::read(fixture()).unwrap();
    assert_eq!(committed.len(), bytes.len(), "fixture length changed");
    assert!(
        committed == bytes,
        "writer output differs from the v1 fixture"
    );
    assert_eq!(committed[..4], INDEX_MAGIC);
    assert_eq!(committed[4..8], INDEX_FORMAT_V1.to_le_bytes());
}

#[test]
fn golden_index_v1_reads_back() {
    let r = IndexReader::open(fixture()).unwrap();
    assert_eq!(r.all_series().unwrap(), golden_series());
    assert_eq!(
        r.select(&[Matcher::equal("zone", "eu")]).unwrap(),
        vec![SeriesId(2), SeriesId(4)]
    );
    assert_eq!(
        r.label_names(&[]).unwrap(),
        vec![
            "__name__",
            "code",
            "host.name",
            "instance",
            "job",
            "mode",
            "zone"
        ]
    );
}
