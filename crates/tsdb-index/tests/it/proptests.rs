//! Property tests: selection and label queries equal a brute-force filter over every
//! series, in memory and after a write/read of the persisted form.

use proptest::prelude::*;
use tsdb_index::{
    IndexError, IndexReader, IndexWriter, Labels, MatchOp, Matcher, MemIndex, SeriesId,
};

const NAMES: [&str; 4] = ["a", "b", "c", "d.e"];
const VALUES: [&str; 9] = ["", "x", "y", "xy", "yz", "foo", "foobar", "1", "2"];
const METRICS: [&str; 3] = ["m1", "m2", "http.req"];
const PATTERNS: [&str; 14] = [
    "x|y",
    "foo.*",
    ".*",
    ".+",
    "x.*",
    "[xy]+",
    "",
    "fo+.*",
    "1|2|",
    "(?:x|foo)",
    "y",
    "m.",
    "foob?a.*",
    "xy?",
];

fn labels_strategy() -> impl Strategy<Value = Labels> {
    (
        0..METRICS.len(),
        proptest::collection::vec(0..VALUES.len(), NAMES.len()),
    )
        .prop_map(|(m, vs)| {
            let pairs = NAMES
                .iter()
                .zip(vs)
                .map(|(n, v)| (*n, VALUES[v]))
                .chain([("__name__", METRICS[m])]);
            Labels::new(pairs).unwrap()
        })
}

fn matcher_strategy() -> impl Strategy<Value = Matcher> {
    let names: Vec<&str> = NAMES
        .iter()
        .copied()
        .chain(["__name__", "missing"])
        .collect();
    (
        0..4usize,
        0..names.len(),
        0..VALUES.len(),
        0..PATTERNS.len(),
        0..METRICS.len(),
    )
        .prop_map(move |(op, n, v, p, m)| {
            let name = names[n];
            let value = if name == "__name__" {
                METRICS[m]
            } else {
                VALUES[v]
            };
            match op {
                0 => Matcher::new(MatchOp::Equal, name, value).unwrap(),
                1 => Matcher::new(MatchOp::NotEqual, name, value).unwrap(),
                2 => Matcher::new(MatchOp::RegexMatch, name, PATTERNS[p]).unwrap(),
                _ => Matcher::new(MatchOp::RegexNoMatch, name, PATTERNS[p]).unwrap(),
            }
        })
}

/// The distinct series in creation order (their ids are their positions).
fn dedup(series: Vec<Labels>) -> Vec<Labels> {
    let mut out: Vec<Labels> = Vec::new();
    for s in series {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

fn brute_select(all: &[Labels], ms: &[Matcher]) -> Result<Vec<SeriesId>, ()> {
    if ms.iter().all(|m| m.matches("")) {
        return Err(());
    }
    Ok(all
        .iter()
        .enumerate()
        .filter(|(_, s)| ms.iter().all(|m| m.matches_labels(s)))
        .map(|(i, _)| SeriesId(i as u32))
        .collect())
}

fn brute_names(all: &[Labels], ids: &[SeriesId]) -> Vec<String> {
    let mut out: Vec<String> = ids
        .iter()
        .flat_map(|id| {
            all[id.0 as usize]
                .names()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

fn brute_values(all: &[Labels], ids: &[SeriesId], name: &str) -> Vec<String> {
    let mut out: Vec<String> = ids
        .iter()
        .filter_map(|id| all[id.0 as usize].get(name).map(str::to_string))
        .collect();
    out.sort();
    out.dedup();
    out
}

fn check<F, G, H>(
    all: &[Labels],
    ms: &[Matcher],
    select: F,
    names: G,
    values: H,
) -> Result<(), TestCaseError>
where
    F: Fn(&[Matcher]) -> tsdb_index::Result<Vec<SeriesId>>,
    G: Fn(&[Matcher]) -> tsdb_index::Result<Vec<String>>,
    H: Fn(&str, &[Matcher]) -> tsdb_index::Result<Vec<String>>,
{
    match brute_select(all, ms) {
        Err(()) => {
            prop_assert!(matches!(select(ms), Err(IndexError::EmptySelector)));
        }
        Ok(want) => {
            prop_assert_eq!(&select(ms).unwrap(), &want, "{:?}", ms);
            prop_assert_eq!(names(ms).unwrap(), brute_names(all, &want));
            for name in NAMES.iter().chain(&["__name__", "missing"]) {
                prop_assert_eq!(values(name, ms).unwrap(), brute_values(all, &want, name));
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn select_matches_brute_force_in_memory_and_on_disk(
        series in proptest::collection::vec(labels_strategy(), 0..40),
        queries in proptest::collection::vec(proptest::collection::vec(matcher_strategy(), 1..4), 1..6),
    ) {
        let all = dedup(series);
        let mem = MemIndex::default();
        for (i, s) in all.iter().enumerate() {
            prop_assert_eq!(mem.get_or_create(s).unwrap(), SeriesId(i as u32));
        }
        let w: IndexWriter = mem.all_series().into_iter().collect();
        let disk = IndexReader::from_bytes("prop.index", w.to_bytes().unwrap()).unwrap();
        prop_assert_eq!(disk.all_series().unwrap(), mem.all_series());
        prop_assert_eq!(mem.label_names(&[]).unwrap(), brute_names(&all, &(0..all.len() as u32).map(SeriesId).collect::<Vec<_>>()));
        prop_assert_eq!(disk.label_names(&[]).unwrap(), mem.label_names(&[]).unwrap());
        for ms in &queries {
            check(&all, ms, |m| mem.select(m), |m| mem.label_names(m), |n, m| mem.label_values(n, m))?;
            check(&all, ms, |m| disk.select(m), |m| disk.label_names(m), |n, m| disk.label_values(n, m))?;
        }
    }

    #[test]
    fn labels_bytes_roundtrip_and_hash_agrees_with_eq(a in labels_strategy(), b in labels_strategy()) {
        prop_assert_eq!(Labels::from_bytes(&a.to_bytes()).unwrap(), a.clone());
        prop_assert_eq!(a == b, a.hash64() == b.hash64());
        prop_assert_eq!(a == b, a.to_bytes() == b.to_bytes());
        prop_assert_eq!(a.cmp(&b), a.iter().cmp(b.iter()));
    }
}

/// Label sets for lookups: metric names that may be missing or not sort first
/// (`A` < `__name__`), and strings whose boundaries shift (`a=bc` / `ab=c`).
fn lookup_labels_strategy() -> impl Strategy<Value = Labels> {
    const LNAMES: [&str; 5] = ["A", "a", "ab", "b", "__name__"];
    const LVALUES: [&str; 8] = [
        "",
        "c",
        "bc",
        "up",
        "upc",
        "x",
        "a-value-over-16-bytes",
        "a-value-over-16-bytez",
    ];
    proptest::collection::vec(0..LVALUES.len(), LNAMES.len())
        .prop_map(|vs| Labels::new(LNAMES.iter().zip(vs).map(|(n, v)| (*n, LVALUES[v]))).unwrap())
}

#[derive(Debug, Clone)]
enum LookupOp {
    Get(Labels),
    GetOrCreate(Labels),
    InsertWithId(u32, Labels),
    Remove(u32),
}

fn lookup_op_strategy() -> impl Strategy<Value = LookupOp> {
    prop_oneof![
        lookup_labels_strategy().prop_map(LookupOp::Get),
        lookup_labels_strategy().prop_map(LookupOp::GetOrCreate),
        (0..64u32, lookup_labels_strategy()).prop_map(|(id, l)| LookupOp::InsertWithId(id, l)),
        (0..16u32).prop_map(LookupOp::Remove),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn lookups_match_brute_force_model(ops in proptest::collection::vec(lookup_op_strategy(), 1..120)) {
        let mem = MemIndex::default();
        // The model: every series with its id.
        let mut model: Vec<(SeriesId, Labels)> = Vec::new();
        let mut next = 0u32;
        // Removed ids stay taken.
        let mut removed = std::collections::HashSet::new();
        let mut probes = Vec::new();
        for op in ops {
            match op {
                LookupOp::Get(l) => {
                    let want = model.iter().find(|(_, m)| *m == l).map(|(id, _)| *id);
                    prop_assert_eq!(mem.get(&l), want);
                    probes.push(l);
                }
                LookupOp::GetOrCreate(l) => {
                    let got = mem.get_or_create(&l);
                    match model.iter().find(|(_, m)| *m == l) {
                        Some((id, _)) => prop_assert_eq!(got.unwrap(), *id),
                        None if l.metric_name().is_none() => {
                            prop_assert!(matches!(got, Err(IndexError::MissingMetricName)), "{:?}", got);
                        }
                        None => {
                            // Ids continue after the largest taken, skipping taken ones.
                            while model.iter().any(|(id, _)| id.0 == next) || removed.contains(&next) {
                                next += 1;
                            }
                            prop_assert_eq!(got.unwrap(), SeriesId(next));
                            model.push((SeriesId(next), l.clone()));
                            next += 1;
                        }
                    }
                    probes.push(l);
                }
                LookupOp::InsertWithId(id, l) => {
                    let got = mem.insert_with_id(SeriesId(id), l.clone());
                    let by_labels = model.iter().find(|(_, m)| *m == l).map(|(i, _)| *i);
                    let by_id = model.iter().any(|(i, _)| i.0 == id) || removed.contains(&id);
                    match by_labels {
                        Some(i) if i.0 == id => prop_assert!(got.is_ok()),
                        Some(_) => prop_assert!(matches!(got, Err(IndexError::SeriesIdConflict { id: _ })), "{:?}", got),
                        None if by_id => prop_assert!(matches!(got, Err(IndexError::SeriesIdConflict { id: _ })), "{:?}", got),
                        None => {
                            prop_assert!(got.is_ok());
                            model.push((SeriesId(id), l.clone()));
                            next = next.max(id + 1);
                        }
                    }
                    probes.push(l);
                }
                LookupOp::Remove(id) => {
                    let at = model.iter().position(|(i, _)| i.0 == id);
                    prop_assert_eq!(mem.remove(SeriesId(id)), at.is_some());
                    if let Some(at) = at {
                        probes.push(model.remove(at).1);
                        removed.insert(id);
                    }
                }
            }
        }
        // Postings follow removals: the values of a name are those of live series.
        for name in ["A", "a", "ab", "b", "__name__"] {
            let mut want: Vec<String> = model
                .iter()
                .filter_map(|(_, l)| l.get(name).map(str::to_string))
                .collect();
            want.sort();
            want.dedup();
            prop_assert_eq!(mem.label_values(name, &[]).unwrap(), want.clone());
            // Each value's series, whether one (kept as the id) or more (a
            // bitmap), after creations and removals.
            for v in want.iter().filter(|v| !v.is_empty()) {
                let mut ids: Vec<SeriesId> = model
                    .iter()
                    .filter(|(_, l)| l.get(name) == Some(v.as_str()))
                    .map(|(id, _)| *id)
                    .collect();
                ids.sort();
                prop_assert_eq!(mem.select(&[Matcher::equal(name, v)]).unwrap(), ids);
            }
        }
        let mut named: Vec<SeriesId> = model
            .iter()
            .filter(|(_, l)| l.metric_name().is_some())
            .map(|(id, _)| *id)
            .collect();
        named.sort();
        let sel = mem
            .select(&[Matcher::new(MatchOp::RegexMatch, "__name__", ".+").unwrap()])
            .unwrap();
        prop_assert_eq!(sel, named);
        let mut out = Vec::new();
        mem.get_many(&probes, &mut out);
        let want: Vec<Option<SeriesId>> = probes
            .iter()
            .map(|l| model.iter().find(|(_, m)| m == l).map(|(id, _)| *id))
            .collect();
        prop_assert_eq!(out, want);
        prop_assert_eq!(mem.num_series(), model.len());
        for (id, l) in &model {
            prop_assert_eq!(mem.labels(*id), Some(l.clone()));
        }
        model.sort_by_key(|(id, _)| *id);
        prop_assert_eq!(mem.all_series(), model);
    }
}
