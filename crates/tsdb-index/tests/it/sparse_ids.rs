//! Series ids scattered over the whole `u32` range (a host that drops series keeps
//! the survivors' ids and never reuses one): everything round-trips, and memory
//! follows the live series, not the largest id.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use proptest::prelude::*;
use tsdb_index::{CardinalityLimits, IndexError, Labels, MatchOp, MemIndex, SeriesId};

use crate::common::m;

/// The labels of the `k`-th series of a test: unique per `k`.
fn series(k: usize) -> Labels {
    let name = format!("metric_{}", k % 3);
    let key = k.to_string();
    Labels::new([("__name__", name.as_str()), ("k", key.as_str())]).unwrap()
}

/// Upper bound on the bytes a live series may cost in the id table wherever its id
/// lies: its own page (8 KB) and directory (32 KB) of the sparse table, and its share
/// of the postings, symbols and lookup table (a few KB at most for tiny indexes).
const PER_SCATTERED_SERIES: usize = 48 << 10;

#[derive(Debug, Clone)]
enum Op {
    /// Insert the next series under this id.
    InsertWithId(u32),
    /// Raise the id mark.
    Reserve(u32),
    /// Create the next series.
    Create,
}

fn id_strategy() -> impl Strategy<Value = u32> {
    prop_oneof![
        any::<u32>(),
        (0..64u32),
        (0..8u32).prop_map(|d| u32::MAX - d),
        (0..16u32, 0..4u32).prop_map(|(hi, lo)| hi << 28 | lo),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => id_strategy().prop_map(Op::InsertWithId),
        1 => id_strategy().prop_map(Op::Reserve),
        3 => Just(Op::Create),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn scattered_ids_round_trip_and_memory_follows_live_series(
        ops in proptest::collection::vec(op_strategy(), 1..60),
    ) {
        let idx = MemIndex::new(CardinalityLimits::unlimited());
        // What the first series costs anywhere: the first page of the id table, and
        // the first segments of the symbols and label groups.
        let first = MemIndex::new(CardinalityLimits::unlimited());
        first.get_or_create(&series(1_000_000)).unwrap();
        let first = first.memory_bytes();
        // The model: id → series number, and the id mark.
        let mut model: BTreeMap<u32, usize> = BTreeMap::new();
        let mut next = 0u32;
        for (k, op) in ops.iter().enumerate() {
            let l = series(k);
            match *op {
                Op::InsertWithId(id) => {
                    let got = idx.insert_with_id(SeriesId(id), l);
                    match model.entry(id) {
                        Entry::Occupied(_) => prop_assert!(
                            matches!(got, Err(IndexError::SeriesIdConflict { id: c }) if c == id),
                            "{:?}", got
                        ),
                        Entry::Vacant(v) => {
                            prop_assert!(got.is_ok(), "{:?}", got);
                            v.insert(k);
                            next = next.max(id.saturating_add(1));
                        }
                    }
                }
                Op::Reserve(n) => {
                    idx.reserve_ids(n);
                    next = next.max(n);
                }
                Op::Create => {
                    let got = idx.get_or_create(&l);
                    if next == u32::MAX {
                        prop_assert!(matches!(got, Err(IndexError::SeriesIdsExhausted)), "{:?}", got);
                    } else {
                        prop_assert_eq!(got.unwrap(), SeriesId(next));
                        model.insert(next, k);
                        next += 1;
                    }
                }
            }
            prop_assert_eq!(idx.next_id(), next);
        }

        prop_assert_eq!(idx.num_series(), model.len());
        for (&id, &k) in &model {
            let l = series(k);
            prop_assert_eq!(idx.get(&l), Some(SeriesId(id)));
            prop_assert_eq!(idx.labels(SeriesId(id)), Some(l.clone()));
            prop_assert_eq!(
                idx.select(&[m(MatchOp::Equal, "k", &k.to_string())]).unwrap(),
                vec![SeriesId(id)]
            );
            // Neighbouring ids are not taken unless the model says so.
            for other in [id.wrapping_sub(1), id.wrapping_add(1), id ^ (1 << 20)] {
                if !model.contains_key(&other) {
                    prop_assert_eq!(idx.labels(SeriesId(other)), None);
                }
            }
        }
        for metric in 0..3 {
            let want: Vec<(SeriesId, Labels)> = model
                .iter()
                .filter(|(_, k)| **k % 3 == metric)
                .map(|(id, k)| (SeriesId(*id), series(*k)))
                .collect();
            let name = format!("metric_{metric}");
            prop_assert_eq!(
                idx.select_series(&[m(MatchOp::Equal, "__name__", &name)]).unwrap(),
                want
            );
        }
        let all: Vec<(SeriesId, Labels)> =
            model.iter().map(|(id, k)| (SeriesId(*id), series(*k))).collect();
        prop_assert_eq!(idx.all_series(), all);

        // Memory: bounded by the live series, whatever their ids (a table indexed
        // directly by id would take gigabytes for ids near `u32::MAX`).
        let bytes = idx.memory_bytes();
        prop_assert!(
            bytes <= first + model.len() * PER_SCATTERED_SERIES,
            "{} B for {} series (one series at id 0: {} B)", bytes, model.len(), first
        );
    }
}

/// What a host's GC does over and over: keep one series in 1000, rebuild the index
/// with the survivors under their ids, and create new series above the mark.
#[test]
fn rebuilt_index_after_churn_costs_what_its_live_series_cost() {
    let n = 200_000usize;
    let full = MemIndex::new(CardinalityLimits::unlimited());
    for k in 0..n {
        full.get_or_create(&series(k)).unwrap();
    }
    let live: Vec<(SeriesId, Labels)> = full
        .all_series()
        .into_iter()
        .filter(|(id, _)| id.0 % 1000 == 0)
        .collect();
    // The same survivors in a fresh index under dense ids: the reference cost.
    let dense = MemIndex::new(CardinalityLimits::unlimited());
    for (_, l) in &live {
        dense.get_or_create(l).unwrap();
    }
    // Far away, as after many generations of churn.
    let rebuilt = MemIndex::new(CardinalityLimits::unlimited());
    for (id, l) in &live {
        rebuilt
            .insert_with_id(SeriesId(id.0 * 100 + 7), l.clone())
            .unwrap();
    }
    rebuilt.reserve_ids(full.next_id() * 100);
    let fresh = rebuilt.get_or_create(&series(n)).unwrap();
    assert_eq!(fresh, SeriesId(n as u32 * 100));
    assert_eq!(rebuilt.labels(fresh), Some(series(n)));
    for (id, l) in &live {
        let id = SeriesId(id.0 * 100 + 7);
        assert_eq!(rebuilt.get(l), Some(id));
        assert_eq!(rebuilt.labels(id).as_ref(), Some(l));
    }
    let (f, d, r) = (
        full.memory_bytes(),
        dense.memory_bytes(),
        rebuilt.memory_bytes(),
    );
    eprintln!(
        "{} live of {n}: full {f} B, dense ids {d} B, ids up to {}: {r} B",
        live.len(),
        fresh.0
    );
    assert!(
        r <= d + (live.len() + 1) * PER_SCATTERED_SERIES,
        "{r} B vs {d} B"
    );
    assert!(r < f, "{r} B vs {f} B");
}
