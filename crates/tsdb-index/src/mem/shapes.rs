//! Label shapes: the names of a label set, interned, with their bytes at hand.
//!
//! A label group (see `mem::groups`) stores its shape's id and its values' symbols,
//! so a group of one series costs a word per label plus one. Shapes are few — one
//! per combination of label names, a few hundred on a large host — so their bytes
//! stay in cache: checking a label set against a group that does not keep its
//! strings as bytes compares the names in place instead of resolving one symbol
//! per name. Reading a series' labels back takes the names' symbols from here.

use hashbrown::HashTable;
use parking_lot::Mutex;

use crate::append_vec::AppendVec;
use crate::bytes::short_eq;

/// The names of a label set, in order.
pub(crate) struct Shape {
    /// The names concatenated.
    bytes: Box<[u8]>,
    /// The end of each name in `bytes`.
    ends: Box<[u32]>,
    /// Each name's symbol.
    syms: Box<[u32]>,
}

impl Shape {
    /// Number of names.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// The names' symbols, in order.
    #[inline]
    pub(crate) fn syms(&self) -> &[u32] {
        &self.syms
    }

    /// Whether the names of the label set whose raw parts are `data` and `ends`
    /// (`name0 value0 name1 …`, two ends per label) are this shape's. The caller
    /// has checked that the set has [`Shape::len`] labels.
    #[inline]
    pub(crate) fn names_eq(&self, data: &[u8], ends: &[u32]) -> bool {
        let (mut q, mut s) = (0usize, 0usize);
        for (pair, &se) in ends.chunks_exact(2).zip(self.ends.iter()) {
            let (ne, ve, se) = match pair {
                [ne, ve] => (*ne as usize, *ve as usize, se as usize),
                _ => return false,
            };
            match (data.get(q..ne), self.bytes.get(s..se)) {
                (Some(a), Some(b)) if short_eq(a, b) => {}
                _ => return false,
            }
            (q, s) = (ve, se);
        }
        true
    }

    /// Whether this shape's names are `names`.
    fn is(&self, names: &[&str]) -> bool {
        self.len() == names.len()
            && names
                .iter()
                .zip(self.names())
                .all(|(a, b)| a.as_bytes() == b)
    }

    /// The names' bytes, in order.
    fn names(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(self.ends.iter())
            .map(|(s, &e)| self.bytes.get(s as usize..e as usize).unwrap_or_default())
    }

    fn memory_bytes(&self) -> usize {
        // The `Shape` itself is in its slot, which `AppendVec` counts.
        self.bytes.len() + 8 * self.ends.len()
    }
}

/// The hash of a list of names, for interning.
fn names_hash<'a>(names: impl Iterator<Item = &'a [u8]>) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3Default::new();
    for n in names {
        h.update(&(n.len() as u32).to_le_bytes());
        h.update(n);
    }
    h.digest()
}

/// The interned shapes. Reads by id take no lock; interning takes a mutex (series
/// creation only).
#[derive(Default)]
pub(crate) struct Shapes {
    list: AppendVec<Shape>,
    table: Mutex<Interning>,
}

/// The interning state of [`Shapes`], under its lock.
#[derive(Default)]
struct Interning {
    /// Names hash → shape id.
    shapes: HashTable<u32>,
    /// Shapes handed out, and their heap bytes.
    next: u32,
    bytes: usize,
}

impl Shapes {
    /// Shape `id`.
    #[inline]
    pub(crate) fn get(&self, id: u32) -> Option<&Shape> {
        self.list.get(id)
    }

    /// The shape of `names` (whose symbols are `syms`), interning it if needed;
    /// `None` when the ids are used up or the names' bytes pass `u32::MAX`.
    pub(crate) fn intern(&self, names: &[&str], syms: &[u32]) -> Option<u32> {
        let h = names_hash(names.iter().map(|n| n.as_bytes()));
        let mut guard = self.table.lock();
        let st = &mut *guard;
        let eq = |id: &u32| self.get(*id).is_some_and(|s| s.is(names));
        if let Some(&id) = st.shapes.find(h, eq) {
            return Some(id);
        }
        let mut bytes = Vec::with_capacity(names.iter().map(|n| n.len()).sum());
        let mut ends = Vec::with_capacity(names.len());
        for n in names {
            bytes.extend_from_slice(n.as_bytes());
            ends.push(u32::try_from(bytes.len()).ok()?);
        }
        let shape = Shape {
            bytes: bytes.into(),
            ends: ends.into(),
            syms: syms.into(),
        };
        let id = st.next;
        let next = id.checked_add(1)?;
        let size = shape.memory_bytes();
        self.list.set(id, shape).ok()?;
        (st.next, st.bytes) = (next, st.bytes + size);
        st.shapes.insert_unique(h, id, |id| {
            self.get(*id).map_or(0, |s| names_hash(s.names()))
        });
        Some(id)
    }

    /// Bytes held by the shapes and the interning table.
    pub(crate) fn memory_bytes(&self) -> usize {
        let st = self.table.lock();
        self.list.memory_bytes()
            + st.bytes
            + st.shapes.capacity() * (std::mem::size_of::<u32>() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Labels;

    #[test]
    fn interns_once_and_compares_names_in_place() {
        let s = Shapes::default();
        let a = s.intern(&["__name__", "host"], &[1, 2]).unwrap();
        let b = s.intern(&["__name__", "hos"], &[1, 3]).unwrap();
        let e = s.intern(&[], &[]).unwrap();
        assert_eq!(s.intern(&["__name__", "host"], &[1, 2]), Some(a));
        assert_eq!(s.intern(&[], &[]), Some(e));
        assert_eq!(
            [a, b, e]
                .iter()
                .collect::<std::collections::HashSet<_>>()
                .len(),
            3
        );
        let sa = s.get(a).unwrap();
        assert_eq!(sa.syms(), &[1, 2]);
        assert_eq!(sa.len(), 2);
        let names_eq = |shape: &Shape, l: &Labels| {
            let (d, e) = l.raw_parts();
            e.len() == 2 * shape.len() && shape.names_eq(d, e)
        };
        let l = |p: &[(&str, &str)]| Labels::new(p.iter().copied()).unwrap();
        assert!(names_eq(sa, &l(&[("__name__", "up"), ("host", "x")])));
        assert!(names_eq(
            sa,
            &l(&[("__name__", "a-long-metric-name"), ("host", "y")])
        ));
        // The same bytes split differently, or another name.
        assert!(!names_eq(sa, &l(&[("__name__", "up"), ("hos", "tx")])));
        assert!(!names_eq(sa, &l(&[("__name__", "up"), ("hosu", "x")])));
        assert!(!names_eq(sa, &l(&[("__nam", "up"), ("host", "x")])));
        assert!(!names_eq(sa, &l(&[("__name__", "up")])));
        assert!(names_eq(s.get(e).unwrap(), &Labels::empty()));
        for i in 0..3000u32 {
            let n = format!("n{i}");
            let id = s.intern(&[&n], &[i]).unwrap();
            assert_eq!(s.get(id).unwrap().syms(), &[i]);
        }
        assert_eq!(s.intern(&["__name__", "hos"], &[1, 3]), Some(b));
        assert!(s.memory_bytes() > 0);
    }
}
