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
    /// The union of the postings of the values of `name` accepted by `pred`. When
    /// `prefix` is given, `pred` is only true for values that start with it, so a
    /// source with sorted values may visit just that range.
    fn union_values(
        &self,
        name: &str,
        prefix: Option<&str>,
        pred: &mut dyn FnMut(&str) -> bool,
    ) -> Result<RoaringBitmap>;
}

/// Union of a few bitmaps, borrowing when there is just one.
fn union_cows(mut sets: Vec<Cow<'_, RoaringBitmap>>) -> Cow<'_, RoaringBitmap> {
    match sets.len() {
        0 => Cow::Owned(RoaringBitmap::new()),
        1 => sets.pop().unwrap_or(Cow::Owned(RoaringBitmap::new())),
        _ => Cow::Owned(sets.iter().map(|c| c.as_ref()).union()),
    }
}

/// The union of the postings of the values `v` of `m.name()` (never the missing
/// value) for which `m.matches(v) == want`.
fn values_where<'a, S: PostingsSource>(
    src: &'a S,
    m: &Matcher,
    want: bool,
) -> Result<Cow<'a, RoaringBitmap>> {
    // m.matches(v) == want  ⇔  positive_matches(v) == (want XOR negative)
    let positive = want != m.is_negative();
    let name = m.name();
    if positive {
        if let Some(lits) = m.positive_literals() {
            let mut sets = Vec::with_capacity(lits.len());
            for v in lits.iter().filter(|v| !v.is_empty()) {
                if let Some(p) = src.postings(name, v)? {
                    sets.push(p);
                }
            }
            return Ok(union_cows(sets));
        }
        if let Some(prefix) = m.positive_prefix() {
            let set = src.union_values(name, Some(prefix), &mut |v| v.starts_with(prefix))?;
            return Ok(Cow::Owned(set));
        }
        let set = src.union_values(name, None, &mut |v| m.positive_matches(v))?;
        Ok(Cow::Owned(set))
    } else {
        let set = src.union_values(name, None, &mut |v| !m.positive_matches(v))?;
        Ok(Cow::Owned(set))
    }
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
    let mut intersect: Vec<Cow<'_, RoaringBitmap>> = Vec::with_capacity(matchers.len());
    let mut subtract: Vec<Cow<'_, RoaringBitmap>> = Vec::new();
    for m in matchers {
        if m.matches_empty() {
            subtract.push(values_where(src, m, false)?);
        } else {
            let set = values_where(src, m, true)?;
            if set.is_empty() {
                return Ok(RoaringBitmap::new());
            }
            intersect.push(set);
        }
    }
    intersect.sort_by_key(|s| s.len());
    let mut iter = intersect.into_iter();
    let mut acc = iter.next().map(Cow::into_owned).unwrap_or_default();
    for s in iter {
        if acc.is_empty() {
            break;
        }
        acc &= s.as_ref();
    }
    for s in subtract {
        if acc.is_empty() {
            break;
        }
        acc -= s.as_ref();
    }
    Ok(acc)
}

/// In-memory postings keyed by interned symbol ids.
#[derive(Default)]
pub(crate) struct MemPostings {
    pub(crate) all: RoaringBitmap,
    /// name symbol → value symbol → series ids.
    pub(crate) by_name: HashMap<u32, HashMap<u32, RoaringBitmap>>,
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
                    .or_default()
                    .insert(id);
            }
        }
    }

    /// Bytes held by the bitmaps and maps.
    pub(crate) fn memory_bytes(&self) -> usize {
        let entry = std::mem::size_of::<(u32, RoaringBitmap)>() + 1;
        let mut total = self.all.serialized_size() + self.by_name.capacity() * entry;
        for values in self.by_name.values() {
            total += values.capacity() * entry;
            // The serialized size tracks the containers' payload closely; add the
            // per-container bookkeeping of the in-memory form.
            total += values
                .values()
                .map(|b| b.serialized_size() + 16)
                .sum::<usize>();
        }
        total
    }
}
