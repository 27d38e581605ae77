//! Decoding arbitrary bytes as the canonical label form returns labels that re-encode
//! to the same bytes, or an error; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsdb_index::Labels;

fuzz_target!(|data: &[u8]| {
    if let Ok(labels) = Labels::from_bytes(data) {
        assert_eq!(labels.to_bytes(), data);
    }
});
