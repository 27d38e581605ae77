//! Symbol interning: each distinct label name or value is stored once and referred to
//! by a dense `u32` id.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use hashbrown::HashTable;
use parking_lot::RwLock;

use crate::append_vec::AppendVec;

/// Number of interning shards (a power of two).
const SHARDS: usize = 16;

/// The hash used to find a string in the interning tables.
#[inline]
pub(crate) fn str_hash(s: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(s.as_bytes())
}

/// Strings up to this many bytes are also kept in their slot, so that comparing them
/// reads no other memory.
const INLINE: usize = 16;

/// One interned string.
struct Symbol {
    s: Box<str>,
    /// The first `INLINE` bytes of `s`, zero-padded.
    inline: [u8; INLINE],
}

impl Symbol {
    fn new(s: &str) -> Symbol {
        let mut inline = [0u8; INLINE];
        for (d, b) in inline.iter_mut().zip(s.as_bytes()) {
            *d = *b;
        }
        Symbol {
            s: s.into(),
            inline,
        }
    }

    /// Whether the string is `b`.
    #[inline]
    fn is(&self, b: &[u8]) -> bool {
        let n = self.s.len();
        match self.inline.get(..n) {
            _ if n != b.len() => false,
            Some(short) => crate::bytes::short_eq(short, b),
            None => self.s.as_bytes() == b,
        }
    }
}

/// A concurrent, append-only string interner. Reads of a symbol by id take no lock;
/// finding the id of a string takes one shard's read lock.
#[derive(Default)]
pub(crate) struct SymbolTable {
    strings: AppendVec<Symbol>,
    shards: [RwLock<HashTable<u32>>; SHARDS],
    next: AtomicU32,
    bytes: AtomicUsize,
}

#[inline]
fn shard_of(h: u64) -> usize {
    (h >> 32) as usize % SHARDS
}

impl SymbolTable {
    /// The string of symbol `id`.
    #[inline]
    pub(crate) fn get(&self, id: u32) -> Option<&str> {
        self.strings.get(id).map(|s| &*s.s)
    }

    /// Whether symbol `id` is the string `b` (false if there is no such symbol). A
    /// short string is compared in its slot, without loading the string itself.
    #[inline]
    pub(crate) fn is(&self, id: u32, b: &[u8]) -> bool {
        self.strings.get(id).is_some_and(|s| s.is(b))
    }

    /// The id of `s`, if it was interned.
    pub(crate) fn lookup(&self, s: &str) -> Option<u32> {
        let h = str_hash(s);
        let shard = self.shards.get(shard_of(h))?.read();
        shard.find(h, |&id| self.get(id) == Some(s)).copied()
    }

    /// The id of `s`, interning it if needed. `None` only when the id space is used up.
    pub(crate) fn intern(&self, s: &str) -> Option<u32> {
        let h = str_hash(s);
        let shard_lock = self.shards.get(shard_of(h))?;
        if let Some(&id) = shard_lock.read().find(h, |&id| self.get(id) == Some(s)) {
            return Some(id);
        }
        let mut shard = shard_lock.write();
        if let Some(&id) = shard.find(h, |&id| self.get(id) == Some(s)) {
            return Some(id);
        }
        let id = self
            .next
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_add(1))
            .ok()?;
        self.strings.set(id, Symbol::new(s)).ok()?;
        self.bytes.fetch_add(s.len(), Ordering::Relaxed);
        shard.insert_unique(h, id, |&id| str_hash(self.get(id).unwrap_or("")));
        Some(id)
    }

    /// Number of symbols.
    pub(crate) fn len(&self) -> usize {
        self.next.load(Ordering::Acquire) as usize
    }

    /// Bytes of the interned strings alone.
    pub(crate) fn string_bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Bytes held: the strings, their boxes and the lookup tables.
    pub(crate) fn memory_bytes(&self) -> usize {
        let tables: usize = self
            .shards
            .iter()
            .map(|s| s.read().capacity() * (std::mem::size_of::<u32>() + 1))
            .sum();
        self.strings.memory_bytes() + self.string_bytes() + tables
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_once() {
        let t = SymbolTable::default();
        let a = t.intern("a").unwrap();
        let b = t.intern("b").unwrap();
        assert_ne!(a, b);
        assert_eq!(t.intern("a"), Some(a));
        assert_eq!(t.lookup("b"), Some(b));
        assert_eq!(t.lookup("c"), None);
        assert_eq!(t.get(a), Some("a"));
        assert_eq!(t.len(), 2);
    }
}
