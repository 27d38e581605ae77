//! Opening and fully reading arbitrary bytes as an index file must return data or an
//! error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsdb_index::{IndexReader, Matcher};

fuzz_target!(|data: &[u8]| {
    let Ok(r) = IndexReader::from_bytes("fuzz.index", data.to_vec()) else {
        return;
    };
    let _ = r.all_series();
    if let Ok(names) = r.label_names(&[]) {
        for name in names {
            if let Ok(values) = r.label_values(&name, &[]) {
                for value in values {
                    let _ = r.select(&[Matcher::equal(&name, &value)]);
                }
            }
        }
    }
});
