//! Postings (label `name=value` → sorted set of series ids) and selection by
//! intersecting and subtracting them.

use std::borrow::Cow;

use hashbrown::HashMap;
use roaring::{MultiOps, RoaringBitmap};

use crate::error::{IndexError, Result};
use crate::matcher::Matcher;

/// Read access to a postings index, in memory or on disk.
pub(crate) trait PostingsSource {
    /// The postings of `name=value`.
    fn postings(&self, name: &str, value: &str) -> Result<Option<Cow<'_, RoaringBitmap>>>;
    /// The postings of every value of `name` accepted by `pred`. When `prefix` is
    /// given, `pred` is only true for values that start with it, so a source with
    /// sorted values may visit just that range.
    fn values_matching(
        &self,
        name: &str,
        prefix: Option<&str>,
        pred: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Vec<Cow<'_, RoaringBitmap>>>;
}

/// A set of series given as the union of some posting lists, not yet computed.
struct Union<'a> {
    parts: Vec<Cow<'a, RoaringBitmap>>,
    /// Upper bound of the union's size.
    estimate: u64,
}

impl<'a> Union<'a> {
    fn new(parts: Vec<Cow<'a, RoaringBitmap>>) -> Self {
        let estimate = parts.iter().map(|p| p.len()).sum();
        Union { parts, estimate }
    }

    fn into_bitmap(mut self) -> RoaringBitmap {
        match self.parts.len() {
            0 => RoaringBitmap::new(),
            1 => self.parts.pop().map(Cow::into_owned).unwrap_or_default(),
            _ => self.parts.iter().map(|c| c.as_ref()).union(),
        }
    }

    /// `acc ∩ self`. With few parts or a small `acc`, intersects `acc` with each part
    /// instead of building the union first.
    fn intersect(self, mut acc: RoaringBitmap) -> RoaringBitmap {
        match self.parts.as_slice() {
            [] => RoaringBitmap::new(),
            [one] => {
                acc &= one.as_ref();
                acc
            }
            parts if parts.len() <= 64 || acc.len() * 16 < self.estimate => parts
                .iter()
                .map(|p| &acc & p.as_ref())
                .collect::<Vec<_>>()
                .iter()
                .union(),
            _ => {
                acc &= self.into_bitmap();
                acc
            }
        }
    }
}

/// The postings of the values `v` of `m.name()` (never the missing value) for which
/// `m.matches(v) == want`.
fn values_where<'a, S: PostingsSource>(src: &'a S, m: &Matcher, want: bool) -> Result<Union<'a>> {
    // m.matches(v) == want  ⇔  positive_matches(v) == (want XOR negative)
    let positive = want != m.is_negative();
    let name = m.name();
    let parts = if positive {
        if let Some(lits) = m.positive_literals() {
            let mut sets = Vec::with_capacity(lits.len());
            for v in lits.iter().filter(|v| !v.is_empty()) {
                if let Some(p) = src.postings(name, v)? {
                    sets.push(p);
                }
            }
            sets
        } else if let Some(prefix) = m.positive_prefix() {
            src.values_matching(name, Some(prefix), &mut |v| {
                v.starts_with(prefix) && m.positive_matches(v)
            })?
        } else {
            src.values_matching(name, None, &mut |v| m.positive_matches(v))?
        }
    } else {
        src.values_matching(name, None, &mut |v| !m.positive_matches(v))?
    };
    Ok(Union::new(parts))
}

/// The ids of the series that match every matcher, with Prometheus semantics.
///
/// Matchers that do not match `""` contribute the union of their matching values'
/// postings, intersected smallest first; matchers that match `""` subtract the
/// postings of the values they reject. At least one matcher must not match `""`.
pub(crate) fn select<S: PostingsSource>(src: &S, matchers: &[Matcher]) -> Result<RoaringBitmap> {
    if matchers.iter().all(|m| m.matches_empty()) {
        return Err(IndexError::EmptySelector);
    }
    let mut intersect: Vec<Union<'_>> = Vec::with_capacity(matchers.len());
    let mut subtract: Vec<Union<'_>> = Vec::new();
    for m in matchers {
        if m.matches_empty() {
            subtract.push(values_where(src, m, false)?);
        } else {
            let set = values_where(src, m, true)?;
            if set.estimate == 0 {
                return Ok(RoaringBitmap::new());
            }
            intersect.push(set);
        }
    }
    intersect.sort_by_key(|s| s.estimate);
    let mut iter = intersect.into_iter();
    let mut acc = iter.next().map(Union::into_bitmap).unwrap_or_default();
    for s in iter {
        if acc.is_empty() {
            return Ok(acc);
        }
        acc = s.intersect(acc);
    }
    for s in subtract {
        if acc.is_empty() {
            break;
        }
        if s.parts.len() <= 16 {
            for part in &s.parts {
                acc -= part.as_ref();
            }
        } else {
            acc -= s.into_bitmap();
        }
    }
    Ok(acc)
}

/// The series of one `name=value`: the id itself while only one series has the
/// value (every value of a label unique to its series, such as a request or user
/// id, the cardinality bomb), a bitmap from the second series on. An empty
/// bitmap does not stay: the value leaves its map.
pub(crate) enum Posting {
    /// The one series.
    One(u32),
    /// Two series or more.
    Many(RoaringBitmap),
}

impl Posting {
    /// Adds series `id`.
    fn insert(&mut self, id: u32) {
        match self {
            Posting::One(x) if *x == id => {}
            Posting::One(x) => {
                let mut b = RoaringBitmap::new();
                b.insert(*x);
                b.insert(id);
                *self = Posting::Many(b);
            }
            Posting::Many(b) => {
                b.insert(id);
            }
        }
    }

    /// Removes series `id`; `true` when no series is left.
    fn remove(&mut self, id: u32) -> bool {
        match self {
            Posting::One(x) => *x == id,
            Posting::Many(b) => {
                b.remove(id);
                // Not `len`, which sums every container.
                match (b.min(), b.max()) {
                    (None, _) => true,
                    (Some(a), Some(z)) if a == z => {
                        *self = Posting::One(a);
                        false
                    }
                    _ => false,
                }
            }
        }
    }

    /// Number of series.
    pub(crate) fn len(&self) -> u64 {
        match self {
            Posting::One(_) => 1,
            Posting::Many(b) => b.len(),
        }
    }

    /// Whether none of the series is in `sel`.
    pub(crate) fn is_disjoint(&self, sel: &RoaringBitmap) -> bool {
        match self {
            Posting::One(x) => !sel.contains(*x),
            Posting::Many(b) => b.is_disjoint(sel),
        }
    }

    /// The series as a bitmap (built for a single id).
    pub(crate) fn bitmap(&self) -> Cow<'_, RoaringBitmap> {
        match self {
            Posting::One(x) => Cow::Owned(std::iter::once(*x).collect()),
            Posting::Many(b) => Cow::Borrowed(b),
        }
    }

    /// Bytes of the bitmap beyond the posting itself.
    fn heap_bytes(&self) -> usize {
        match self {
            Posting::One(_) => 0,
            // The serialized size tracks the containers' payload closely; add 16
            // bytes for the bookkeeping of the in-memory form.
            Posting::Many(b) => b.serialized_size() + 16,
        }
    }
}

/// The bitmaps of the postings `parts`: borrowed where they are bitmaps, and the
/// single ids gathered into one bitmap (a regex over a label of unique values
/// selects many of them).
pub(crate) fn bitmaps<'a>(parts: impl Iterator<Item = &'a Posting>) -> Vec<Cow<'a, RoaringBitmap>> {
    let mut out = Vec::new();
    let mut ones = Vec::new();
    for p in parts {
        match p {
            Posting::One(x) => ones.push(*x),
            Posting::Many(b) => out.push(Cow::Borrowed(b)),
        }
    }
    if !ones.is_empty() {
        // In hash order: sorted, they build the bitmap in one pass.
        ones.sort_unstable();
        out.push(Cow::Owned(ones.into_iter().collect()));
    }
    out
}

/// In-memory postings keyed by interned symbol ids.
#[derive(Default)]
pub(crate) struct MemPostings {
    /// Every series.
    pub(crate) all: RoaringBitmap,
    /// name symbol → value symbol → series ids.
    pub(crate) by_name: HashMap<u32, HashMap<u32, Posting>>,
}

impl MemPostings {
    /// Adds series `id` with the `(name, value)` symbol pairs.
    pub(crate) fn add(&mut self, id: u32, pairs: &[u32]) {
        self.all.insert(id);
        for p in pairs.chunks_exact(2) {
            if let [n, v] = p {
                self.by_name
                    .entry(*n)
                    .or_default()
                    .entry(*v)
                    .and_modify(|p| p.insert(id))
                    .or_insert(Posting::One(id));
            }
        }
    }

    /// Removes series `id`, which was added with the `(name, value)` symbol pairs;
    /// a value left without series goes, and a name left without values.
    pub(crate) fn remove(&mut self, id: u32, pairs: &[u32]) {
        self.all.remove(id);
        for p in pairs.chunks_exact(2) {
            let [n, v] = p else { continue };
            let Some(values) = self.by_name.get_mut(n) else {
                continue;
            };
            if values.get_mut(v).is_some_and(|ids| ids.remove(id)) {
                values.remove(v);
            }
            if values.is_empty() {
                self.by_name.remove(n);
            }
        }
    }

    /// Bytes held by the bitmaps and maps.
    pub(crate) fn memory_bytes(&self) -> usize {
        let entry = std::mem::size_of::<(u32, Posting)>() + 1;
        let mut total = self.all.serialized_size()
            + self.by_name.capacity() * (std::mem::size_of::<(u32, HashMap<u32, Posting>)>() + 1);
        for values in self.by_name.values() {
            total += values.capacity() * entry;
            total += values.values().map(Posting::heap_bytes).sum::<usize>();
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_posting_is_one_id_until_a_second_and_again_when_one_is_left() {
        let mut p = Posting::One(7);
        assert_eq!((p.len(), p.heap_bytes()), (1, 0));
        p.insert(7);
        assert!(matches!(p, Posting::One(7)));
        p.insert(9);
        assert!(matches!(p, Posting::Many(_)) && p.len() == 2 && p.heap_bytes() > 0);
        let sel: RoaringBitmap = [9].into_iter().collect();
        assert!(!p.is_disjoint(&sel));
        assert!(!p.remove(7));
        assert!(matches!(p, Posting::One(9)));
        assert!(!p.is_disjoint(&sel) && Posting::One(8).is_disjoint(&sel));
        assert!(!p.remove(8), "another id leaves it");
        assert!(p.remove(9));
        let mut m = Posting::One(1);
        m.insert(2);
        m.insert(3);
        assert!(!m.remove(1) && !m.remove(2));
        assert!(matches!(m, Posting::One(3)));
        assert_eq!(m.bitmap().iter().collect::<Vec<_>>(), vec![3]);
        let mut big = Posting::One(1);
        big.insert(1 << 20);
        assert_eq!(big.bitmap().len(), 2);
        let parts = [Posting::One(5), big, Posting::One(4)];
        let got: Vec<Vec<u32>> = bitmaps(parts.iter())
            .iter()
            .map(|b| b.iter().collect())
            .collect();
        assert_eq!(got, vec![vec![1, 1 << 20], vec![4, 5]]);
    }
}
