//! Corrupt and truncated index files give errors, never panics.

use tsdb_index::{IndexError, IndexReader, Result};

use crate::common::golden_series;

fn good_bytes() -> Vec<u8> {
    let w: tsdb_index::IndexWriter = golden_series().into_iter().collect();
    w.to_bytes().unwrap()
}

/// Opens and reads everything: every series, every label value and every posting list.
fn full_scan(bytes: Vec<u8>) -> Result<()> {
    let r = IndexReader::from_bytes("corrupt.index", bytes)?;
    r.all_series()?;
    for name in r.label_names(&[])? {
        for value in r.label_values(&name, &[])? {
            r.select(&[tsdb_index::Matcher::equal(&name, &value)])?;
        }
    }
    Ok(())
}

fn assert_well_formed(e: &IndexError, len: usize) {
    match e {
        IndexError::Corrupt { file, offset, what } => {
            assert_eq!(file.to_str(), Some("corrupt.index"));
            assert!(
                *offset <= len as u64,
                "offset {offset} past the file ({what})"
            );
            assert!(!what.is_empty());
        }
        IndexError::ChecksumMismatch {
            expected, found, ..
        } => assert_ne!(expected, found),
        other => panic!("unexpected error kind: {other:?}"),
    }
}

#[test]
fn truncated_at_every_offset() {
    let good = good_bytes();
    assert!(full_scan(good.clone()).is_ok());
    for cut in 0..good.len() {
        let e = full_scan(good[..cut].to_vec()).expect_err("a truncated file must be refused");
        assert_well_formed(&e, cut);
    }
}

#[test]
fn bit_flip_at_every_byte_is_detected() {
    let good = good_bytes();
    for at in 0..good.len() {
        for bit in [0u8, 3, 7] {
            let mut bad = good.clone();
            bad[at] ^= 1 << bit;
            let e = full_scan(bad).expect_err("a flipped bit must be detected");
            assert_well_formed(&e, good.len());
        }
    }
}

#[test]
fn corrupted_footer_crc_reports_expected_and_found() {
    let mut bad = good_bytes();
    let n = bad.len();
    bad[n - 20] ^= 0xff; // inside the footer's section offsets
    match full_scan(bad) {
        Err(IndexError::ChecksumMismatch {
            section,
            expected,
            found,
            ..
        }) => {
            assert_eq!(section, "footer");
            assert_ne!(expected, found);
        }
        other => panic!("expected a footer checksum error, got {other:?}"),
    }
}

#[test]
fn corrupted_posting_list_is_caught_on_read() {
    let good = good_bytes();
    // The last posting list ends right before the footer.
    let at = good.len() - tsdb_index::format::INDEX_FOOTER_LEN - 1;
    let mut bad = good.clone();
    bad[at] ^= 0x10;
    // Opening succeeds: posting lists are checked when read.
    let r = IndexReader::from_bytes("corrupt.index", bad.clone()).unwrap();
    assert!(r.all_series().is_ok());
    let e = full_scan(bad).unwrap_err();
    assert!(
        matches!(
            e,
            IndexError::ChecksumMismatch {
                section: "posting list",
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn bad_magic_and_version_say_what() {
    let mut bad = good_bytes();
    bad[0] = b'X';
    let e = full_scan(bad).unwrap_err().to_string();
    assert!(e.contains("magic") && e.contains("corrupt.index"), "{e}");
    let mut bad = good_bytes();
    bad[4] = 9;
    let e = full_scan(bad).unwrap_err().to_string();
    assert!(e.contains("unsupported format version 9"), "{e}");
}

#[test]
fn truncated_file_on_disk_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index");
    let good = good_bytes();
    for cut in [0, 10, good.len() / 2, good.len() - 1] {
        std::fs::write(&path, &good[..cut]).unwrap();
        let e = IndexReader::open(&path).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(path.to_str().unwrap()), "{msg}");
    }
}
