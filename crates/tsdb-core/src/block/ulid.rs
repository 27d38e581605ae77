//! Block ids: ULIDs (48-bit milliseconds since the epoch, 80 random bits,
//! Crockford base32), so ids sort by creation time.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A new block id: 26 characters, sorting after every id made earlier in
/// this process (a counter breaks ties within a millisecond).
pub fn new_block_id() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(count);
    h.write_u128(ms);
    h.write_u32(std::process::id());
    let random = h.finish();
    // 48 bits of time, 32 bits of counter, 48 bits of randomness.
    let value: u128 = ((ms & 0xFFFF_FFFF_FFFF) << 80)
        | (u128::from(count as u32) << 48)
        | u128::from(random & 0xFFFF_FFFF_FFFF);
    encode(value)
}

fn encode(value: u128) -> String {
    (0..26)
        .map(|i| {
            let shift = 5 * (25 - i);
            let digit = ((value >> shift) & 31) as usize;
            ALPHABET.get(digit).map_or('0', |&b| char::from(b))
        })
        .collect()
}

/// Whether `name` looks like a block id.
pub(crate) fn is_block_id(name: &str) -> bool {
    name.len() == 26 && name.bytes().all(|b| ALPHABET.contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_creation_and_are_valid() {
        let a = new_block_id();
        let b = new_block_id();
        assert!(a < b, "{a} < {b}");
        assert!(is_block_id(&a));
        assert!(!is_block_id("x"));
    }
}
