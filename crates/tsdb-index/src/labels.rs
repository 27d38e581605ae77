//! `Labels`: the identity of a series.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Range;
use std::sync::Arc;

use crate::error::{IndexError, Result};

/// The label that holds the metric name.
pub const METRIC_NAME: &str = "__name__";

/// A validated label set: `name=value` pairs sorted by name, names unique and non-empty,
/// values non-empty (empty values are dropped on construction, as Prometheus does).
///
/// Cloning is cheap (one reference count). The set keeps its
/// [`hash64`](Labels::hash64), computed once, inline next to the pointer to its strings,
/// so looking a series up by its labels neither hashes the strings again nor waits for
/// a heap load to start probing. The handle is two words: the head, the index and
/// the server's caches each hold one per series, so its size is memory per series.
/// A `Labels` may lack `__name__` (query results do); the index refuses to create a
/// series without it.
#[derive(Clone)]
pub struct Labels {
    /// [`Labels::hash64`], inline so that a lookup can start before the strings load.
    hash: u64,
    inner: Arc<Inner>,
}

struct Inner {
    /// Names and values concatenated: `name0 value0 name1 value1 …`.
    data: Box<str>,
    /// End offset in `data` of each name and value, two per pair.
    ends: Box<[u32]>,
}

/// Multiplier of the offset fold in [`Labels::hash64`] (a 64-bit odd constant).
const HASH_FOLD_MUL: u64 = 0x9E37_79B9_7F4A_7C15;

/// The stable 64-bit hash of a label set given its concatenated strings and their end
/// offsets: `xxh3_64(data)`, then each end offset folded in with a multiply–xorshift.
fn hash_parts(data: &[u8], ends: &[u32]) -> u64 {
    let mut h = xxhash_rust::xxh3::xxh3_64(data);
    for &e in ends {
        h = (h ^ u64::from(e)).wrapping_mul(HASH_FOLD_MUL);
        h ^= h >> 29;
    }
    h
}

impl Labels {
    /// Builds a label set from `(name, value)` pairs in any order.
    ///
    /// Refuses empty names ([`IndexError::EmptyLabelName`]) and names given twice
    /// ([`IndexError::DuplicateLabelName`]); drops pairs whose value is empty.
    ///
    /// ```
    /// use tsdb_index::Labels;
    /// let l = Labels::new([("job", "api"), ("__name__", "up"), ("zone", "")]).unwrap();
    /// assert_eq!(l.len(), 2); // the empty-valued `zone` was dropped
    /// assert_eq!(l.to_string(), r#"up{job="api"}"#);
    /// ```
    pub fn new<I, N, V>(pairs: I) -> Result<Labels>
    where
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<str>,
        V: AsRef<str>,
    {
        let mut items: Vec<(N, V)> = pairs.into_iter().collect();
        if items.iter().any(|(n, _)| n.as_ref().is_empty()) {
            return Err(IndexError::EmptyLabelName);
        }
        // Senders usually give labels sorted already (remote write does).
        if !items.is_sorted_by(|a, b| a.0.as_ref() <= b.0.as_ref()) {
            items.sort_unstable_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
        }
        Self::from_sorted_checked(items.iter().map(|(n, v)| (n.as_ref(), v.as_ref())))
    }

    /// Refuses duplicate names in pairs sorted by name, drops empty values.
    fn from_sorted_checked<'a>(
        pairs: impl Iterator<Item = (&'a str, &'a str)> + Clone,
    ) -> Result<Labels> {
        let mut prev: Option<&str> = None;
        for (n, _) in pairs.clone() {
            if prev == Some(n) {
                return Err(IndexError::DuplicateLabelName(n.to_string()));
            }
            prev = Some(n);
        }
        Ok(Self::from_sorted(pairs.filter(|(_, v)| !v.is_empty())))
    }

    /// Builds a label set from raw byte pairs, refusing invalid UTF-8 and saying which
    /// pair, whether the name or the value, and at which byte.
    pub fn from_utf8_pairs(pairs: &[(&[u8], &[u8])]) -> Result<Labels> {
        let mut refs = Vec::with_capacity(pairs.len());
        for (i, (n, v)) in pairs.iter().enumerate() {
            let n = std::str::from_utf8(n).map_err(|e| IndexError::InvalidUtf8 {
                which: "name",
                pair: i,
                byte_offset: e.valid_up_to(),
            })?;
            let v = std::str::from_utf8(v).map_err(|e| IndexError::InvalidUtf8 {
                which: "value",
                pair: i,
                byte_offset: e.valid_up_to(),
            })?;
            refs.push((n, v));
        }
        Self::from_refs(&mut refs)
    }

    /// Whether [`Labels::from_utf8_pairs`] would build exactly this set from
    /// `pairs`, decided without building anything (a cache keyed by a request's
    /// encoded labels checks a hit with it). Names must be non-empty, UTF-8 and
    /// strictly increasing — unsorted pairs answer `false`, though building would
    /// sort them — and the pairs with a non-empty value byte-equal to this set's
    /// (empty values are dropped, as building does). An `Err` item answers
    /// `false`. It lives beside `from_utf8_pairs` so the two rules change together.
    pub fn matches_utf8_pairs<'p, E>(
        &self,
        pairs: impl IntoIterator<Item = std::result::Result<(&'p [u8], &'p [u8]), E>>,
    ) -> bool {
        let mut want = self.iter();
        let mut prev: Option<&[u8]> = None;
        for pair in pairs {
            let Ok((n, v)) = pair else {
                return false;
            };
            if n.is_empty() || prev.is_some_and(|p| p >= n) {
                return false;
            }
            prev = Some(n);
            if v.is_empty() {
                // Dropped, but building still refuses a name that is no UTF-8.
                if std::str::from_utf8(n).is_err() {
                    return false;
                }
                continue;
            }
            // Equal bytes to this set's strings: UTF-8 by construction.
            match want.next() {
                Some((wn, wv)) if wn.as_bytes() == n && wv.as_bytes() == v => {}
                _ => return false,
            }
        }
        want.next().is_none()
    }

    fn from_refs(refs: &mut [(&str, &str)]) -> Result<Labels> {
        if refs.iter().any(|(n, _)| n.is_empty()) {
            return Err(IndexError::EmptyLabelName);
        }
        if !refs.is_sorted_by(|a, b| a.0 <= b.0) {
            refs.sort_unstable_by(|a, b| a.0.cmp(b.0));
        }
        Self::from_sorted_checked(refs.iter().copied())
    }

    /// Builds from pairs already sorted by unique non-empty name with non-empty values.
    pub(crate) fn from_sorted<'a>(
        pairs: impl Iterator<Item = (&'a str, &'a str)> + Clone,
    ) -> Labels {
        let (mut bytes, mut count) = (0usize, 0usize);
        for (n, v) in pairs.clone() {
            bytes += n.len() + v.len();
            count += 1;
        }
        let mut data = String::with_capacity(bytes);
        let mut ends = Vec::with_capacity(count * 2);
        for (n, v) in pairs {
            data.push_str(n);
            ends.push(u32::try_from(data.len()).unwrap_or(u32::MAX));
            data.push_str(v);
            ends.push(u32::try_from(data.len()).unwrap_or(u32::MAX));
        }
        let hash = hash_parts(data.as_bytes(), &ends);
        Labels {
            hash,
            inner: Arc::new(Inner {
                data: data.into_boxed_str(),
                ends: ends.into_boxed_slice(),
            }),
        }
    }

    /// A copy claiming hash `h`, to force hash collisions in tests.
    #[cfg(test)]
    pub(crate) fn with_forced_hash(&self, h: u64) -> Labels {
        Labels {
            hash: h,
            ..self.clone()
        }
    }

    /// The empty label set.
    pub fn empty() -> Labels {
        Self::from_sorted(std::iter::empty())
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        // Label sets are small: a linear scan beats a binary search on short strings.
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The metric name (the value of `__name__`), if present.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// The pairs, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + Clone + '_ {
        let data = &*self.inner.data;
        self.pair_ranges()
            .map_while(move |(n, v)| Some((data.get(n)?, data.get(v)?)))
    }

    /// Starts loading the set's record (where its strings are), for batched lookups.
    #[inline]
    pub(crate) fn prefetch(&self) {
        crate::bytes::prefetch(Arc::as_ptr(&self.inner));
    }

    /// The names and values concatenated (`name0 value0 name1 value1 …`) and the end
    /// offset of each in that data, two per pair (for comparisons on the lookup hot
    /// path).
    #[inline]
    pub(crate) fn raw_parts(&self) -> (&[u8], &[u32]) {
        (self.inner.data.as_bytes(), &self.inner.ends)
    }

    /// The byte ranges of each name and value in the concatenated data.
    #[inline]
    fn pair_ranges(&self) -> impl Iterator<Item = (Range<usize>, Range<usize>)> + Clone + '_ {
        self.inner.ends.chunks_exact(2).scan(0usize, |start, w| {
            let [ne, ve] = *w else { return None };
            let (ne, ve) = (ne as usize, ve as usize);
            let pair = (*start..ne, ne..ve);
            *start = ve;
            Some(pair)
        })
    }

    /// The label names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.iter().map(|(n, _)| n)
    }

    /// The number of labels.
    pub fn len(&self) -> usize {
        self.inner.ends.len() / 2
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.inner.ends.is_empty()
    }

    /// A stable 64-bit hash of the label set, the same on every run and platform:
    /// `xxh3_64` of the concatenated names and values, with each string's end offset
    /// folded in so that `a="bc"` and `ab="c"` differ.
    pub fn hash64(&self) -> u64 {
        self.hash
    }

    /// Total bytes of the names and values.
    pub fn byte_len(&self) -> usize {
        self.inner.data.len()
    }

    /// The canonical byte form: `u32 LE` pair count, then for each pair in name order
    /// `u32 LE` name length, the name, `u32 LE` value length, the value.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.len() * 8 + self.byte_len());
        self.write_bytes(&mut out);
        out
    }

    /// Appends the canonical byte form to `out`.
    pub fn write_bytes(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.len() as u32).to_le_bytes());
        for (n, v) in self.iter() {
            out.extend_from_slice(&(n.len() as u32).to_le_bytes());
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(&(v.len() as u32).to_le_bytes());
            out.extend_from_slice(v.as_bytes());
        }
    }

    /// Decodes the canonical byte form written by [`Labels::to_bytes`]. Strict: the
    /// pairs must be sorted with unique non-empty names and non-empty values, and the
    /// input must end after the last pair.
    pub fn from_bytes(b: &[u8]) -> Result<Labels> {
        let mut r = ByteReader { b, pos: 0 };
        let count = r.u32()? as usize;
        let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(count.min(b.len() / 8));
        for _ in 0..count {
            let name = r.str()?;
            let value = r.str()?;
            if name.is_empty() {
                return Err(r.err("empty label name"));
            }
            if value.is_empty() {
                return Err(r.err("empty label value"));
            }
            if let Some((prev, _)) = pairs.last()
                && *prev >= name
            {
                return Err(r.err("label names not strictly sorted"));
            }
            pairs.push((name, value));
        }
        if r.pos != b.len() {
            return Err(r.err("trailing bytes after the last label"));
        }
        Ok(Self::from_sorted(pairs.into_iter()))
    }

    /// A copy with label `name` set to `value`; an empty value removes the label.
    pub fn with(&self, name: &str, value: &str) -> Result<Labels> {
        if name.is_empty() {
            return Err(IndexError::EmptyLabelName);
        }
        let mut pairs: Vec<(&str, &str)> = self.iter().filter(|(n, _)| *n != name).collect();
        if !value.is_empty() {
            let at = pairs.partition_point(|(n, _)| *n < name);
            pairs.insert(at, (name, value));
        }
        Ok(Self::from_sorted(pairs.into_iter()))
    }

    /// A copy without the labels in `names`.
    pub fn without(&self, names: &[&str]) -> Labels {
        Self::from_sorted(self.iter().filter(|(n, _)| !names.contains(n)))
    }

    /// A copy with only the labels in `names`.
    pub fn keep_only(&self, names: &[&str]) -> Labels {
        Self::from_sorted(self.iter().filter(|(n, _)| names.contains(n)))
    }
}

struct ByteReader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> ByteReader<'a> {
    fn err(&self, what: &'static str) -> IndexError {
        IndexError::MalformedLabels {
            offset: self.pos,
            what,
        }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or_else(|| self.err("length overflow"))?;
        let s = self
            .b
            .get(self.pos..end)
            .ok_or_else(|| self.err("truncated"))?;
        self.pos = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32> {
        let s = self.take(4)?;
        let a: [u8; 4] = s.try_into().map_err(|_| self.err("truncated"))?;
        Ok(u32::from_le_bytes(a))
    }
    fn str(&mut self) -> Result<&'a str> {
        let n = self.u32()? as usize;
        let at = self.pos;
        let s = self.take(n)?;
        std::str::from_utf8(s).map_err(|_| IndexError::MalformedLabels {
            offset: at,
            what: "invalid UTF-8",
        })
    }
}

impl PartialEq for Labels {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
            || (self.hash == other.hash
                && self.inner.ends == other.inner.ends
                && self.inner.data == other.inner.data)
    }
}

impl Eq for Labels {}

impl Hash for Labels {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Labels {
    /// Pairwise: by name, then value, pair after pair; a prefix sorts first.
    fn cmp(&self, other: &Self) -> Ordering {
        self.iter().cmp(other.iter())
    }
}

impl Default for Labels {
    fn default() -> Self {
        Self::empty()
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Whether `s` is a classic metric name `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_classic_metric_name(s: &str) -> bool {
    let mut chars = s.bytes();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_' || c == b':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

/// Whether `s` is a classic label name `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_classic_label_name(s: &str) -> bool {
    let mut chars = s.bytes();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

fn write_quoted(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        match c {
            '\\' => f.write_str("\\\\")?,
            '"' => f.write_str("\\\"")?,
            '\n' => f.write_str("\\n")?,
            c => fmt::Write::write_char(f, c)?,
        }
    }
    f.write_str("\"")
}

impl fmt::Display for Labels {
    /// Prometheus 3 form: `metric{a="b", c="d"}`; a metric name that is not classic
    /// goes quoted inside the braces (`{"http.requests", a="b"}`) and non-classic label
    /// names are quoted (`"my.label"="x"`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let metric = self.metric_name();
        let mut first = true;
        match metric {
            Some(m) if is_classic_metric_name(m) => {
                f.write_str(m)?;
                f.write_str("{")?;
            }
            Some(m) => {
                f.write_str("{")?;
                write_quoted(f, m)?;
                first = false;
            }
            None => f.write_str("{")?,
        }
        for (n, v) in self.iter().filter(|(n, _)| *n != METRIC_NAME) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            if is_classic_label_name(n) {
                f.write_str(n)?;
            } else {
                write_quoted(f, n)?;
            }
            f.write_str("=")?;
            write_quoted(f, v)?;
        }
        f.write_str("}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_utf8_pairs_agrees_with_building() {
        let l = Labels::new([("__name__", "m"), ("job", "a")]).unwrap();
        let m =
            |pairs: &[(&[u8], &[u8])]| l.matches_utf8_pairs(pairs.iter().map(|p| Ok::<_, ()>(*p)));
        assert!(m(&[(b"__name__", b"m"), (b"job", b"a")]));
        // An empty value is dropped, as building does.
        assert!(m(&[(b"__name__", b"m"), (b"empty", b""), (b"job", b"a")]));
        // Building refuses these, so they must not match.
        assert!(!m(&[(b"__name__", b"m"), (b"job", b"a"), (b"\xff", b"")]));
        assert!(!m(&[(b"", b"x"), (b"__name__", b"m"), (b"job", b"a")]));
        assert!(!m(&[(b"__name__", b"m"), (b"job", b"a"), (b"job", b"a")]));
        // Other sets, and unsorted pairs (left to the building path).
        assert!(!m(&[(b"__name__", b"m")]));
        assert!(!m(&[(b"__name__", b"m"), (b"job", b"b")]));
        assert!(!m(&[(b"job", b"a"), (b"__name__", b"m")]));
        assert!(!l.matches_utf8_pairs([Err::<(&[u8], &[u8]), ()>(())]));
    }

    #[test]
    fn sorts_drops_empty_values_and_refuses_bad_names() {
        let l = Labels::new([("b", "2"), ("a", "1"), ("c", "")]).unwrap();
        assert_eq!(l.iter().collect::<Vec<_>>(), vec![("a", "1"), ("b", "2")]);
        assert!(matches!(
            Labels::new([("a", "1"), ("a", "2")]),
            Err(IndexError::DuplicateLabelName(n)) if n == "a"
        ));
        assert!(matches!(
            Labels::new([("", "1")]),
            Err(IndexError::EmptyLabelName)
        ));
    }

    #[test]
    fn invalid_utf8_says_which() {
        let e = Labels::from_utf8_pairs(&[(b"a", b"ok"), (b"b", b"x\xffy")]).unwrap_err();
        assert!(matches!(
            e,
            IndexError::InvalidUtf8 {
                which: "value",
                pair: 1,
                byte_offset: 1
            }
        ));
        let e = Labels::from_utf8_pairs(&[(b"\xc3", b"v")]).unwrap_err();
        assert!(matches!(
            e,
            IndexError::InvalidUtf8 {
                which: "name",
                pair: 0,
                ..
            }
        ));
    }

    #[test]
    fn hash_is_stable_and_distinguishes_boundaries() {
        let a = Labels::new([("a", "bc")]).unwrap();
        let b = Labels::new([("ab", "c")]).unwrap();
        assert_ne!(a.hash64(), b.hash64());
        assert_ne!(a, b);
        // Pinned value: the hash is part of the persisted contract.
        let l = Labels::new([("__name__", "up"), ("job", "api")]).unwrap();
        assert_eq!(
            l.hash64(),
            Labels::new([("job", "api"), ("__name__", "up")])
                .unwrap()
                .hash64()
        );
        assert_eq!(Labels::empty().hash64(), hash_parts(b"", &[]));
        assert_eq!(l.hash64(), 0x4de8_7a44_1b19_96d0);
    }

    #[test]
    fn hash_has_no_collisions_on_similar_sets() {
        let mut hs = std::collections::HashSet::new();
        for h in 0..200 {
            for m in 0..100 {
                let l = Labels::new([
                    ("__name__", format!("m{m}")),
                    ("hostname", format!("host_{h}")),
                    ("rack", (h % 100).to_string()),
                ])
                .unwrap();
                hs.insert(l.hash64());
            }
        }
        assert_eq!(hs.len(), 20_000);
    }

    #[test]
    fn bytes_roundtrip_and_strictness() {
        let l = Labels::new([("__name__", "http.requests"), ("host", "h1")]).unwrap();
        assert_eq!(Labels::from_bytes(&l.to_bytes()).unwrap(), l);
        let mut b = l.to_bytes();
        b.push(0);
        assert!(Labels::from_bytes(&b).is_err());
        let b = l.to_bytes();
        for cut in 0..b.len() {
            assert!(Labels::from_bytes(&b[..cut]).is_err());
        }
        assert!(Labels::from_bytes(&[9, 9, 9, 9]).is_err());
    }

    #[test]
    fn with_without_keep_only() {
        let l = Labels::new([("__name__", "up"), ("a", "1"), ("b", "2")]).unwrap();
        assert_eq!(l.with("c", "3").unwrap().get("c"), Some("3"));
        assert_eq!(l.with("a", "").unwrap().get("a"), None);
        assert_eq!(l.with("a", "9").unwrap().get("a"), Some("9"));
        assert_eq!(l.without(&["a"]).len(), 2);
        assert_eq!(
            l.keep_only(&["a"]).iter().collect::<Vec<_>>(),
            vec![("a", "1")]
        );
        assert!(l.with("", "x").is_err());
    }

    #[test]
    fn display_quotes_like_prometheus_3() {
        let l = Labels::new([
            ("__name__", "http.requests"),
            ("my.label", "a\"b"),
            ("job", "x"),
        ])
        .unwrap();
        assert_eq!(
            l.to_string(),
            r#"{"http.requests", job="x", "my.label"="a\"b"}"#
        );
        let l = Labels::new([("__name__", "up"), ("job", "x")]).unwrap();
        assert_eq!(l.to_string(), r#"up{job="x"}"#);
        assert_eq!(Labels::empty().to_string(), "{}");
    }

    #[test]
    fn ordering_is_pairwise() {
        let a = Labels::new([("a", "1")]).unwrap();
        let b = Labels::new([("a", "1"), ("b", "1")]).unwrap();
        let c = Labels::new([("a", "2")]).unwrap();
        assert!(a < b && b < c);
    }
}
