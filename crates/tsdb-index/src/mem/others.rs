//! The strings of a label set but its first value, as plain bytes: what a label
//! group shared by several series keeps (see `mem::groups`), so that checking a
//! label set against it is two byte-slice comparisons and one pass over its string
//! ends instead of one symbol comparison per string.

/// The byte range `e0..e1` of a label set's first value: its other strings are
/// `data[..e0]` (the first name) and `data[e1..]`; `None` for fewer than two
/// strings.
#[inline]
fn split(data: &[u8], ends: &[u32]) -> Option<(usize, usize)> {
    let (&e0, &e1) = (ends.first()?, ends.get(1)?);
    let (e0, e1) = (e0 as usize, e1 as usize);
    (e0 <= e1 && e1 <= data.len()).then_some((e0, e1))
}

/// A label set's strings but its first value (given as raw parts: `data`, the
/// strings concatenated, and `ends`, each string's end in it).
pub(crate) struct Others {
    /// `data[..e0]` then `data[e1..]`.
    bytes: Box<[u8]>,
    /// `e0`, then each end after the first value's, less the first value's length.
    ends: Box<[u32]>,
}

impl Others {
    /// The other strings of `data`/`ends`; `None` for fewer than two strings.
    pub(crate) fn of(data: &[u8], ends: &[u32]) -> Option<Others> {
        let (e0, e1) = split(data, ends)?;
        let shift = (e1 - e0) as u32;
        let mut bytes = Vec::with_capacity(data.len() - (e1 - e0));
        bytes.extend_from_slice(data.get(..e0)?);
        bytes.extend_from_slice(data.get(e1..)?);
        let ends = ends
            .first()
            .into_iter()
            .copied()
            .chain(ends.iter().skip(2).map(|&b| b.wrapping_sub(shift)))
            .collect();
        Some(Others {
            bytes: bytes.into(),
            ends,
        })
    }

    /// The first value of the label set `data`/`ends` if its other strings are
    /// these (the same bytes with the same string boundaries); `None` otherwise.
    #[inline]
    pub(crate) fn first_value_if_rest_is<'d>(
        &self,
        data: &'d [u8],
        ends: &[u32],
    ) -> Option<&'d [u8]> {
        let (e0, e1) = split(data, ends)?;
        let (Some((&m0, kept)), Some(q)) = (self.ends.split_first(), ends.get(2..)) else {
            return None;
        };
        if kept.len() != q.len() || m0 as usize != e0 || self.bytes.len() + (e1 - e0) != data.len()
        {
            return None;
        }
        // The ends after the first value as kept, `b − shift` for each query end
        // `b`: an OR-fold, eight at a time so that it compiles to vector code.
        let shift = (e1 - e0) as u32;
        let diff = |acc: u32, (&a, &b): (&u32, &u32)| acc | (b.wrapping_sub(shift) ^ a);
        let (kc, kr) = kept.as_chunks::<8>();
        let (qc, qr) = q.as_chunks::<8>();
        let mut acc = kr.iter().zip(qr).fold(0, diff);
        for (a, b) in kc.iter().zip(qc) {
            acc = a.iter().zip(b).fold(acc, diff);
        }
        let same = acc == 0
            && crate::bytes::short_eq(
                self.bytes.get(..e0).unwrap_or_default(),
                data.get(..e0).unwrap_or_default(),
            )
            && self.bytes.get(e0..) == data.get(e1..);
        if same { data.get(e0..e1) } else { None }
    }

    /// Starts loading the bytes and the ends (their first cache lines).
    #[inline]
    pub(crate) fn prefetch(&self) {
        crate::bytes::prefetch(self.bytes.as_ptr());
        crate::bytes::prefetch(self.ends.as_ptr());
    }

    /// Bytes held on the heap.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.bytes.len() + 4 * self.ends.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Labels;

    #[test]
    fn only_the_same_other_strings_match() {
        let l = |p: &[(&str, &str)]| Labels::new(p.iter().copied()).unwrap();
        let a = l(&[("__name__", "cpu"), ("host", "h1"), ("dc", "x")]);
        let (d, e) = a.raw_parts();
        let o = Others::of(d, e).unwrap();
        assert_eq!(o.first_value_if_rest_is(d, e), Some(&b"cpu"[..]));
        // Another first value (metric name) of the same other strings.
        let b = l(&[("__name__", "memory"), ("host", "h1"), ("dc", "x")]);
        let (d2, e2) = b.raw_parts();
        assert_eq!(o.first_value_if_rest_is(d2, e2), Some(&b"memory"[..]));
        for other in [
            l(&[("__name__", "cpu"), ("host", "h2"), ("dc", "x")]),
            l(&[("__name__", "cpu"), ("host", "h1"), ("dc", "xx")]),
            l(&[("__name__", "cpu"), ("host", "h1")]),
            l(&[("__name__", "cpu"), ("host", "h1"), ("dc", "x"), ("z", "1")]),
            // The same bytes split differently between the strings.
            l(&[("__name__", "cpu"), ("host", "h1d"), ("c", "x")]),
            l(&[("__name__", "cpu"), ("hos", "th1"), ("dc", "x")]),
            l(&[("__nam", "cpu"), ("e__host", "h1"), ("dc", "x")]),
            // The same other bytes, and the same ends after the first value;
            // only the first name's end differs ("__name_" then "_dc").
            l(&[("__name_", "cpu"), ("_dc", "x"), ("host", "h1")]),
            Labels::empty(),
        ] {
            let (d3, e3) = other.raw_parts();
            assert_eq!(o.first_value_if_rest_is(d3, e3), None, "{other:?}");
        }
        assert!(Others::of(&[], &[]).is_none());
        assert!(o.heap_bytes() > 0);
    }

    /// Label sets from few names and values whose bytes run into each other
    /// (`a`+`bc` against `ab`+`c`), so that near misses are common.
    fn small_labels() -> impl proptest::strategy::Strategy<Value = Labels> {
        use proptest::prelude::*;
        const NAMES: [&str; 7] = ["A", "_a", "a", "ab", "b", "__name__", "__name_"];
        const VALUES: [&str; 6] = ["", "c", "bc", "x", "cx", "a-value-over-16-bytes"];
        proptest::collection::vec(0..VALUES.len(), NAMES.len())
            .prop_map(|vs| Labels::new(NAMES.iter().zip(vs).map(|(n, v)| (*n, VALUES[v]))).unwrap())
    }

    /// A label set's strings in order, as owned strings.
    fn strings(l: &Labels) -> Vec<String> {
        l.iter()
            .flat_map(|(n, v)| [n.to_string(), v.to_string()])
            .collect()
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_comparing_the_strings(
            a in small_labels(),
            other in small_labels(),
            same_rest in proptest::bool::ANY,
            first in "[a-c]{1,3}",
        ) {
            // Half the time `a` with another first value: the case that matches.
            let b = if same_rest {
                let mut pairs: Vec<(String, String)> =
                    a.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
                if let Some(p) = pairs.first_mut() {
                    p.1 = first;
                }
                Labels::new(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))).unwrap()
            } else {
                other
            };
            let (da, ea) = a.raw_parts();
            let (db, eb) = b.raw_parts();
            let (sa, sb) = (strings(&a), strings(&b));
            // The brute-force answer: the same strings but the first value.
            let rest = |s: &[String]| {
                let mut s = s.to_vec();
                if s.len() > 1 {
                    s.remove(1);
                }
                s
            };
            let want = (sa.len() >= 2 && sb.len() == sa.len() && rest(&sa) == rest(&sb))
                .then(|| sb[1].clone());
            let got = Others::of(da, ea).and_then(|o| {
                o.first_value_if_rest_is(db, eb)
                    .map(|v| String::from_utf8(v.to_vec()).unwrap())
            });
            proptest::prop_assert_eq!(got, want);
        }
    }
}
