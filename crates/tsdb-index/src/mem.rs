//! `MemIndex`: the mutable in-memory index of the head.

use std::borrow::Cow;
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use parking_lot::{Mutex, RwLock, RwLockReadGuard};
use roaring::RoaringBitmap;

use crate::SeriesId;
use crate::error::{IndexError, Result};
use crate::labels::Labels;
use crate::limits::{CardinalityLimits, LimitKind, MetricCounts};
use crate::matcher::Matcher;
use crate::postings::{self, MemPostings, PostingsSource};
use crate::series_table::{Entry, SeriesTable, Snapshot};
use crate::sparse_table::SparseTable;
use crate::symbols::SymbolTable;

mod groups;
mod ids;
mod others;
mod query;
mod shapes;
#[cfg(test)]
mod tests;

use groups::LabelGroups;

/// The first value's symbol of the empty label set, which has none.
const NO_HEAD: u32 = u32::MAX;

/// Number of creation locks (a power of two).
const CREATE_SHARDS: usize = 64;

/// Below this many selected series, label names and values are read from the series
/// themselves rather than by probing every posting list.
const SMALL_SELECTION: u64 = 2048;

/// One creation lock: creating a series holds the lock of its hash, so that two
/// threads creating the same series agree on one id. Aligned so that the locks do not
/// share cache lines.
#[derive(Default)]
#[repr(align(128))]
struct CreateShard(Mutex<()>);

/// Lookups in flight at once in [`MemIndex::get_many`].
const BATCH: usize = 16;

/// The in-memory index: series identity, postings and cardinality limits.
///
/// All methods take `&self`; the index is `Send + Sync`. Looking up an existing series
/// takes no lock: it probes a lock-free hash table by [`Labels::hash64`] and checks
/// the label set against data its series shares with others (the strings of its
/// label group), so ingest threads do not contend.
/// Creating a series takes one of 64 creation locks chosen by the hash, and the
/// table's and the postings' write locks briefly.
///
/// New series get increasing ids from 0, or from the mark set by
/// [`MemIndex::reserve_ids`] or left by [`MemIndex::insert_with_id`]; ids are never
/// reused, so the live ids of a long-running host may be few and far apart. Memory
/// follows the live series, not the largest id (see [`MemIndex::memory_bytes`]).
///
/// ```
/// use tsdb_index::{CardinalityLimits, Labels, Matcher, MemIndex};
/// let idx = MemIndex::new(CardinalityLimits::default());
/// let l = Labels::new([("__name__", "up"), ("job", "api")]).unwrap();
/// let id = idx.get_or_create(&l).unwrap();
/// assert_eq!(idx.get(&l), Some(id));
/// assert_eq!(idx.select(&[Matcher::equal("job", "api")]).unwrap(), vec![id]);
/// ```
pub struct MemIndex {
    limits: CardinalityLimits,
    symbols: SymbolTable,
    /// The interned label groups (every string of a series but its first value).
    groups: LabelGroups,
    /// Series id → the series' labels, `(first value symbol, group)` packed by
    /// [`pack`]; sparse, as live ids may be scattered over the whole `u32` range.
    series: SparseTable,
    /// `hash64` → the series id and its labels' ids.
    table: SeriesTable,
    /// Serializes the creation of series of equal hash.
    create: Box<[CreateShard]>,
    postings: RwLock<MemPostings>,
    next_id: AtomicU32,
    count: AtomicUsize,
    metrics: MetricCounts,
}

impl std::fmt::Debug for MemIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemIndex")
            .field("series", &self.num_series())
            .field("symbols", &self.symbols.len())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Default for MemIndex {
    fn default() -> Self {
        Self::new(CardinalityLimits::default())
    }
}

/// Read view of the postings under their read lock.
struct MemSource<'a> {
    symbols: &'a SymbolTable,
    p: RwLockReadGuard<'a, MemPostings>,
}

/// Starts loading the strings of `labels` (a lookup compares them last) so that the
/// loads overlap the table's.
#[inline]
fn touch(labels: &Labels) {
    let (data, ends) = labels.raw_parts();
    // One load per cache line.
    let d = data.iter().step_by(64).fold(0u8, |a, b| a ^ b);
    let e = ends.iter().step_by(16).fold(0u32, |a, b| a ^ b);
    std::hint::black_box((d, e));
}

impl PostingsSource for MemSource<'_> {
    fn postings(&self, name: &str, value: &str) -> Result<Option<Cow<'_, RoaringBitmap>>> {
        let (Some(n), Some(v)) = (self.symbols.lookup(name), self.symbols.lookup(value)) else {
            return Ok(None);
        };
        Ok(self
            .p
            .by_name
            .get(&n)
            .and_then(|values| values.get(&v))
            .map(postings::Posting::bitmap))
    }

    fn values_matching(
        &self,
        name: &str,
        _prefix: Option<&str>,
        pred: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Vec<Cow<'_, RoaringBitmap>>> {
        let Some(values) = self
            .symbols
            .lookup(name)
            .and_then(|n| self.p.by_name.get(&n))
        else {
            return Ok(Vec::new());
        };
        Ok(postings::bitmaps(
            values
                .iter()
                .filter(|(v, _)| self.symbols.get(**v).is_some_and(&mut *pred))
                .map(|(_, p)| p),
        ))
    }
}

/// A series' `(first value symbol, group)` as one nonzero slot value of
/// [`MemIndex::series`]: `head << 32 | group + 1`. `None` for group `u32::MAX`, which
/// [`LabelGroups::intern`] never hands out.
#[inline]
fn pack(head: u32, group: u32) -> Option<NonZeroU64> {
    NonZeroU64::new(u64::from(head) << 32 | u64::from(group.checked_add(1)?))
}

/// A removed series' slot in [`MemIndex::series`]: its id stays taken. [`pack`]
/// never gives it (its low word would be group `u32::MAX − 1`, which label groups
/// never have).
const REMOVED: NonZeroU64 = NonZeroU64::MAX;

/// The inverse of [`pack`].
#[inline]
fn unpack(v: NonZeroU64) -> (u32, u32) {
    let v = v.get();
    ((v >> 32) as u32, (v as u32).wrapping_sub(1))
}

impl MemIndex {
    /// An empty index enforcing `limits`.
    pub fn new(limits: CardinalityLimits) -> MemIndex {
        MemIndex {
            limits,
            symbols: SymbolTable::default(),
            groups: LabelGroups::default(),
            series: SparseTable::default(),
            table: SeriesTable::default(),
            create: (0..CREATE_SHARDS).map(|_| CreateShard::default()).collect(),
            postings: RwLock::default(),
            next_id: AtomicU32::new(0),
            count: AtomicUsize::new(0),
            metrics: MetricCounts::default(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &CardinalityLimits {
        &self.limits
    }

    fn create_lock(&self, h: u64) -> Option<&Mutex<()>> {
        self.create
            .get((h >> 40) as usize % CREATE_SHARDS)
            .map(|s| &s.0)
    }

    /// Calls `f` with the `(name, value)` symbols of each label of series `id`, in
    /// order; `false` if there is no such series.
    fn for_each_pair(&self, id: u32, f: impl FnMut(u32, u32)) -> bool {
        self.live_packed(id)
            .map(unpack)
            .is_some_and(|(head, group)| self.for_each_pair_of(head, group, f))
    }

    /// [`MemIndex::for_each_pair`] of the series spelled by `head` and `group`.
    fn for_each_pair_of(&self, head: u32, group: u32, f: impl FnMut(u32, u32)) -> bool {
        let Some(g) = self.groups.get(group) else {
            return false;
        };
        g.for_each_pair(head, f);
        true
    }

    /// Whether entry `e` spells exactly `labels`: the first value against the
    /// symbol `e.head`, and the other strings against the group's — as bytes when
    /// the group keeps them (groups of more than one series), otherwise the names
    /// against the group's shape, in place, and the other values against the
    /// group's symbols.
    #[inline]
    fn entry_eq(&self, e: Entry, labels: &Labels) -> bool {
        let (data, ends) = labels.raw_parts();
        if let Some(o) = self.groups.others_of_ref(e.group) {
            return o
                .first_value_if_rest_is(data, ends)
                .is_some_and(|b| self.symbols.is(e.head, b));
        }
        let Some(g) = self.groups.get(e.group) else {
            return false;
        };
        if ends.len() != 2 * g.shape.len() || !g.shape.names_eq(data, ends) {
            return false;
        }
        // Value k spans from name k's end to its own.
        let mut spans = ends.chunks_exact(2).map(|p| match p {
            [n, v] => data.get(*n as usize..*v as usize),
            _ => None,
        });
        if let Some(first) = spans.next()
            && !first.is_some_and(|b| self.symbols.is(e.head, b))
        {
            return false;
        }
        spans
            .zip(g.values)
            .all(|(b, sym)| b.is_some_and(|b| self.symbols.is(sym.load(Ordering::Relaxed), b)))
    }

    /// The table entry of the series with `labels`, if it exists.
    #[inline]
    fn find(&self, labels: &Labels) -> Option<Entry> {
        self.table
            .snapshot()
            .find(labels.hash64(), |e| self.entry_eq(e, labels))
    }

    /// The id of the series with `labels`, if it exists. This is the ingest hot path:
    /// no lock, one probe of the lookup table (usually one cache line, which holds the
    /// id) and one check of the labels against data that series share: the first
    /// label's value (usually the metric name) against its symbol, the rest against
    /// the label group's bytes — two byte-slice comparisons, whatever the order of
    /// the lookups — or, in a group of one series, string by string.
    #[inline]
    pub fn get(&self, labels: &Labels) -> Option<SeriesId> {
        touch(labels);
        self.find(labels).map(|e| SeriesId(e.id))
    }

    /// [`MemIndex::get`] for many label sets, appending one answer per set to `out`.
    ///
    /// Faster than one `get` after another on a large index: the lookups of a batch
    /// start loading their table slots (one batch ahead), then their label groups'
    /// bytes (or the groups' heads) and their label sets' strings, before comparing
    /// any, so their cache misses overlap.
    pub fn get_many(&self, labels: &[Labels], out: &mut Vec<Option<SeriesId>>) {
        out.reserve(labels.len());
        let snap = self.table.snapshot();
        let mut chunks = labels.chunks(BATCH);
        let mut next = chunks.next();
        if let Some(c) = next {
            Self::prefetch_slots(&snap, c);
        }
        while let Some(chunk) = next {
            // Each stage starts the loads a later one reads, for the whole chunk at
            // once: the home slots (issued one chunk ahead), then the candidates'
            // groups and the label sets' strings, then the comparisons.
            let mut cand = [None::<Entry>; BATCH];
            for (c, l) in cand.iter_mut().zip(chunk) {
                *c = snap.home_candidate(l.hash64());
                if let Some(e) = c {
                    self.groups.prefetch_ref(e.group);
                }
            }
            next = chunks.next();
            if let Some(c) = next {
                Self::prefetch_slots(&snap, c);
            }
            for l in chunk {
                touch(l);
            }
            for (c, l) in cand.iter().zip(chunk) {
                let found = match c {
                    Some(e) if self.entry_eq(*e, l) => Some(*e),
                    _ => snap.find(l.hash64(), |e| self.entry_eq(e, l)),
                };
                out.push(found.map(|e| SeriesId(e.id)));
            }
        }
    }

    /// Starts loading the home slots and records of the label sets of `chunk`.
    #[inline]
    fn prefetch_slots(snap: &Snapshot, chunk: &[Labels]) {
        for l in chunk {
            snap.prefetch_home(l.hash64());
            l.prefetch();
        }
    }

    /// Checks the per-series limits (label count and lengths) of a new series.
    fn check_shape(&self, metric: &str, labels: &Labels) -> Result<()> {
        let l = &self.limits;
        let refuse = |limit, max| {
            // Refusals are counted per metric name, which is kept; a name over the
            // value-length limit is only counted in the total.
            if metric.len() > l.max_label_value_len {
                self.metrics.refuse_counted_total();
            } else {
                self.metrics.refuse(metric);
            }
            Err(IndexError::CardinalityLimit {
                metric: metric.to_string(),
                limit,
                max,
            })
        };
        if labels.len() > l.max_labels_per_series {
            return refuse(LimitKind::LabelsPerSeries, l.max_labels_per_series);
        }
        for (n, v) in labels.iter() {
            if n.len() > l.max_label_name_len {
                return refuse(LimitKind::LabelNameLength, l.max_label_name_len);
            }
            if v.len() > l.max_label_value_len {
                return refuse(LimitKind::LabelValueLength, l.max_label_value_len);
            }
        }
        Ok(())
    }

    /// Interns the labels: returns the first value's symbol, the group and the
    /// `(name, value)` symbol pairs.
    fn intern_labels(&self, labels: &Labels) -> Result<(u32, u32, Vec<u32>)> {
        // `let … else` rather than `ok_or`: building and dropping an unused error
        // per string was 5 % of the instructions of creating a series (callgrind).
        let mut pairs = Vec::with_capacity(labels.len() * 2);
        for (n, v) in labels.iter() {
            for s in [n, v] {
                let Some(sym) = self.symbols.intern(s) else {
                    return Err(IndexError::SeriesIdsExhausted);
                };
                pairs.push(sym);
            }
        }
        let head = pairs.get(1).copied().unwrap_or(NO_HEAD);
        let Some(group) = self.groups.intern(labels, &pairs) else {
            return Err(IndexError::FormatLimit("label groups"));
        };
        Ok((head, group, pairs))
    }

    /// Indexes series `id`, whose labels are `head` and `group` and whose id is
    /// already bound. The caller holds the creation lock of `h`.
    fn publish(&self, id: u32, head: u32, group: u32, pairs: &[u32], h: u64) -> Result<()> {
        self.postings.write().add(id, pairs);
        let group = self.groups.entry_ref(group);
        if self.table.insert(h, Entry { id, head, group }) {
            Ok(())
        } else {
            Err(IndexError::FormatLimit("series lookup table"))
        }
    }

    /// The id of the series with `labels`, creating it if needed.
    ///
    /// A new series must have a metric name ([`IndexError::MissingMetricName`]) and
    /// pass the [`CardinalityLimits`] ([`IndexError::CardinalityLimit`], counted per
    /// metric). Existing series are returned without any limit check.
    pub fn get_or_create(&self, labels: &Labels) -> Result<SeriesId> {
        if let Some(id) = self.get(labels) {
            return Ok(id);
        }
        let Some(metric) = labels.metric_name() else {
            return Err(IndexError::MissingMetricName);
        };
        self.check_shape(metric, labels)?;
        let h = labels.hash64();
        let Some(create_lock) = self.create_lock(h) else {
            return Err(IndexError::SeriesIdsExhausted);
        };
        let _creating = create_lock.lock();
        if let Some(e) = self.find(labels) {
            return Ok(SeriesId(e.id));
        }
        let l = &self.limits;
        if self
            .count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| {
                (c < l.max_series_total).then_some(c + 1)
            })
            .is_err()
        {
            self.metrics.refuse(metric);
            return Err(IndexError::CardinalityLimit {
                metric: metric.to_string(),
                limit: LimitKind::SeriesTotal,
                max: l.max_series_total,
            });
        }
        let stats = self.metrics.stats(metric);
        if stats
            .series
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| {
                (c < l.max_series_per_metric).then_some(c + 1)
            })
            .is_err()
        {
            self.count.fetch_sub(1, Ordering::AcqRel);
            stats.refused.fetch_add(1, Ordering::Relaxed);
            self.metrics.refuse_counted_total();
            return Err(IndexError::CardinalityLimit {
                metric: metric.to_string(),
                limit: LimitKind::SeriesPerMetric,
                max: l.max_series_per_metric,
            });
        }
        let undo = || {
            self.count.fetch_sub(1, Ordering::AcqRel);
            stats.series.fetch_sub(1, Ordering::AcqRel);
        };
        let (head, group, pairs) = match self.intern_labels(labels) {
            Ok(r) => r,
            Err(e) => {
                undo();
                return Err(e);
            }
        };
        let Some(packed) = pack(head, group) else {
            undo();
            return Err(IndexError::FormatLimit("label groups"));
        };
        let id = loop {
            let Ok(id) = self
                .next_id
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_add(1))
            else {
                undo();
                return Err(IndexError::SeriesIdsExhausted);
            };
            // Taken by `insert_with_id`: try the next id.
            if self.series.set(id, packed) {
                break id;
            }
        };
        self.publish(id, head, group, &pairs, h)?;
        Ok(SeriesId(id))
    }

    /// Removes series `id` (head GC, deletion); `false` if there is no such series.
    /// See [`MemIndex::remove_many`].
    pub fn remove(&self, id: SeriesId) -> bool {
        self.remove_many(&[id]) == 1
    }

    /// Removes the series `ids` (head GC, deletion); returns how many were there.
    /// They leave the lookup table, the postings and the counts; their ids stay
    /// taken (never handed out again, and [`MemIndex::insert_with_id`] refuses them).
    /// Their strings and label groups stay interned (shared with other series, they
    /// are not counted per series): a host that removes most of its series over time
    /// rebuilds the index to reclaim them.
    ///
    /// A lookup racing the removal, including the lock-free first step of
    /// [`MemIndex::get_or_create`], may still return a removed id; a host that must
    /// not see one serializes creation with removal, as tsdb-core does.
    pub fn remove_many(&self, ids: &[SeriesId]) -> usize {
        // Step 1, per series under the creation lock of its labels: check that the
        // id still spells the labels read before taking the lock, and take it out of
        // the lookup table (a new series with these labels gets a new id from here).
        let mut gone: Vec<(u32, NonZeroU64, Vec<u32>, Labels)> = Vec::with_capacity(ids.len());
        for &SeriesId(id) in ids {
            let Some(packed) = self.live_packed(id) else {
                continue;
            };
            let (head, group) = unpack(packed);
            let mut pairs = Vec::new();
            if !self.for_each_pair_of(head, group, |n, v| pairs.extend([n, v])) {
                continue;
            }
            let labels = self.labels_of_pairs(&pairs);
            let h = labels.hash64();
            let Some(create_lock) = self.create_lock(h) else {
                continue;
            };
            let _creating = create_lock.lock();
            if self.series.get(id) != Some(packed) || !self.table.remove(h, id) {
                continue; // removed meanwhile
            }
            gone.push((id, packed, pairs, labels));
        }
        // Step 2: the postings, under one write lock.
        {
            let mut postings = self.postings.write();
            for (id, _, pairs, _) in &gone {
                postings.remove(*id, pairs);
            }
        }
        // Step 3: the id is marked removed last, so that until the postings are
        // gone `insert_with_id` finds it taken and cannot bind it to other labels.
        let decrement = |c: &AtomicUsize| {
            let _ = c.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        };
        let mut removed = 0;
        for (id, packed, _, labels) in &gone {
            if self.series.replace(*id, *packed, REMOVED) {
                removed += 1;
                decrement(&self.count);
                decrement(
                    &self
                        .metrics
                        .stats(labels.metric_name().unwrap_or(""))
                        .series,
                );
            }
        }
        removed
    }

    /// The packed labels of series `id`, unless there is none or it was removed.
    #[inline]
    fn live_packed(&self, id: u32) -> Option<NonZeroU64> {
        self.series.get(id).filter(|p| *p != REMOVED)
    }

    /// The label set of `(name, value)` symbol pairs.
    fn labels_of_pairs(&self, pairs: &[u32]) -> Labels {
        Labels::from_sorted(pairs.chunks_exact(2).filter_map(|p| match p {
            [n, v] => Some((
                self.symbols.get(*n).unwrap_or(""),
                self.symbols.get(*v).unwrap_or(""),
            )),
            _ => None,
        }))
    }

    /// Inserts a series under a given id (WAL replay, loading a block): no limit check
    /// and no metric-name requirement. Ids allocated later continue after the largest
    /// id seen. Inserting the same pair again is a no-op; an id or label set already
    /// bound to something else gives [`IndexError::SeriesIdConflict`].
    pub fn insert_with_id(&self, id: SeriesId, labels: Labels) -> Result<()> {
        let h = labels.hash64();
        let Some(create_lock) = self.create_lock(h) else {
            return Err(IndexError::SeriesIdsExhausted);
        };
        let _creating = create_lock.lock();
        if let Some(e) = self.find(&labels) {
            return if e.id == id.0 {
                Ok(())
            } else {
                Err(IndexError::SeriesIdConflict { id: id.0 })
            };
        }
        if self.series.get(id.0).is_some() {
            return Err(IndexError::SeriesIdConflict { id: id.0 });
        }
        let (head, group, pairs) = self.intern_labels(&labels)?;
        let Some(packed) = pack(head, group) else {
            return Err(IndexError::FormatLimit("label groups"));
        };
        if !self.series.set(id.0, packed) {
            return Err(IndexError::SeriesIdConflict { id: id.0 });
        }
        self.next_id
            .fetch_max(id.0.saturating_add(1), Ordering::AcqRel);
        self.count.fetch_add(1, Ordering::AcqRel);
        self.metrics
            .stats(labels.metric_name().unwrap_or(""))
            .series
            .fetch_add(1, Ordering::AcqRel);
        self.publish(id.0, head, group, &pairs, h)
    }

    /// The labels of series `id`.
    pub fn labels(&self, id: SeriesId) -> Option<Labels> {
        let mut pairs = Vec::new();
        let found = self.for_each_pair(id.0, |n, v| pairs.extend([n, v]));
        found.then(|| self.labels_of_pairs(&pairs))
    }

    fn source(&self) -> MemSource<'_> {
        MemSource {
            symbols: &self.symbols,
            p: self.postings.read(),
        }
    }

    /// The ids of the series matching all `matchers`, ascending, as a bitmap.
    pub fn select_bitmap(&self, matchers: &[Matcher]) -> Result<RoaringBitmap> {
        postings::select(&self.source(), matchers)
    }

    /// The ids of the series matching all `matchers`, ascending.
    ///
    /// Prometheus semantics: regexes are anchored, a missing label matches as `""`,
    /// and at least one matcher must not match `""` ([`IndexError::EmptySelector`]).
    pub fn select(&self, matchers: &[Matcher]) -> Result<Vec<SeriesId>> {
        Ok(self.select_bitmap(matchers)?.iter().map(SeriesId).collect())
    }

    /// The matching series with their labels, ascending by id.
    pub fn select_series(&self, matchers: &[Matcher]) -> Result<Vec<(SeriesId, Labels)>> {
        Ok(self
            .select_bitmap(matchers)?
            .iter()
            .filter_map(|id| Some((SeriesId(id), self.labels(SeriesId(id))?)))
            .collect())
    }

    /// Number of series.
    pub fn num_series(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Number of distinct interned strings.
    pub fn num_symbols(&self) -> usize {
        self.symbols.len()
    }

    /// Bytes of the interned strings alone (each distinct string counted once).
    pub fn symbol_bytes(&self) -> usize {
        self.symbols.string_bytes()
    }

    /// Estimated resident bytes of the whole index.
    pub fn memory_bytes(&self) -> usize {
        self.symbols.memory_bytes()
            + self.groups.memory_bytes()
            + self.series.memory_bytes()
            + self.table.memory_bytes()
            + self.postings.read().memory_bytes()
            + self.metrics.memory_bytes()
    }

    /// Every series with its labels, ascending by id (for persisting the index).
    pub fn all_series(&self) -> Vec<(SeriesId, Labels)> {
        let p = self.postings.read().all.clone();
        p.iter()
            .filter_map(|id| Some((SeriesId(id), self.labels(SeriesId(id))?)))
            .collect()
    }
}
