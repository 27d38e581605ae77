//! Decoding arbitrary bytes must return samples or an error, never panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsdb_codec::ChunkRef;

fuzz_target!(|data: &[u8]| {
    if let Ok(chunk) = ChunkRef::new(data) {
        let (mut ts, mut vs) = (Vec::new(), Vec::new());
        if chunk.decode_into(&mut ts, &mut vs).is_ok() {
            assert_eq!(ts.len(), chunk.len());
            assert!(ts.windows(2).all(|w| w[0] < w[1]));
        }
    }
});
