//! `MemIndex`: the mutable in-memory index of the head.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use hashbrown::{HashSet, HashTable};
use parking_lot::{RwLock, RwLockReadGuard};
use roaring::{MultiOps, RoaringBitmap};

use crate::SeriesId;
use crate::append_vec::AppendVec;
use crate::error::{IndexError, Result};
use crate::labels::Labels;
use crate::limits::{CardinalityLimits, LimitKind, MetricCounts};
use crate::matcher::Matcher;
use crate::postings::{self, MemPostings, PostingsSource};
use crate::report::{CardinalityReport, LabelNameCardinality, MetricCardinality};
use crate::symbols::SymbolTable;

/// Number of series lookup shards (a power of two).
const SERIES_SHARDS: usize = 64;

/// Below this many selected series, label names and values are read from the series
/// themselves rather than by probing every posting list.
const SMALL_SELECTION: u64 = 2048;

/// One lookup shard: `(hash64, series id)` entries.
type SeriesShard = RwLock<HashTable<(u64, u32)>>;

/// The in-memory index: series identity, postings and cardinality limits.
///
/// All methods take `&self`; the index is `Send + Sync`. Looking up an existing series
/// takes only the read lock of one of 64 shards chosen by [`Labels::hash64`] and reads
/// the interned strings without locking, so ingest threads do not contend. Creating a
/// series takes that shard's write lock and the postings write lock briefly.
///
/// Series ids are allocated densely from 0.
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
    /// Series id → interned `(name, value)` symbol pairs, sorted by name.
    series: AppendVec<Box<[u32]>>,
    /// `hash64` → series id, sharded by hash.
    shards: Box<[SeriesShard]>,
    postings: RwLock<MemPostings>,
    next_id: AtomicU32,
    count: AtomicUsize,
    series_heap_bytes: AtomicUsize,
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
            .map(Cow::Borrowed))
    }

    fn union_values(
        &self,
        name: &str,
        _prefix: Option<&str>,
        pred: &mut dyn FnMut(&str) -> bool,
    ) -> Result<RoaringBitmap> {
        let Some(values) = self
            .symbols
            .lookup(name)
            .and_then(|n| self.p.by_name.get(&n))
        else {
            return Ok(RoaringBitmap::new());
        };
        Ok(values
            .iter()
            .filter(|(v, _)| self.symbols.get(**v).is_some_and(&mut *pred))
            .map(|(_, b)| b)
            .union())
    }
}

impl MemIndex {
    /// An empty index enforcing `limits`.
    pub fn new(limits: CardinalityLimits) -> MemIndex {
        MemIndex {
            limits,
            symbols: SymbolTable::default(),
            series: AppendVec::default(),
            shards: (0..SERIES_SHARDS).map(|_| RwLock::default()).collect(),
            postings: RwLock::default(),
            next_id: AtomicU32::new(0),
            count: AtomicUsize::new(0),
            series_heap_bytes: AtomicUsize::new(0),
            metrics: MetricCounts::default(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &CardinalityLimits {
        &self.limits
    }

    #[inline]
    fn shard(&self, h: u64) -> Option<&SeriesShard> {
        self.shards.get((h >> 40) as usize % SERIES_SHARDS)
    }

    /// Whether series `id` has exactly `labels`.
    #[inline]
    fn series_eq(&self, id: u32, labels: &Labels) -> bool {
        let Some(syms) = self.series.get(id) else {
            return false;
        };
        syms.len() == labels.len() * 2
            && syms
                .chunks_exact(2)
                .zip(labels.iter())
                .all(|(p, (n, v))| match p {
                    [sn, sv] => {
                        self.symbols.get(*sn) == Some(n) && self.symbols.get(*sv) == Some(v)
                    }
                    _ => false,
                })
    }

    /// The id of the series with `labels`, if it exists. This is the ingest hot path.
    #[inline]
    pub fn get(&self, labels: &Labels) -> Option<SeriesId> {
        let h = labels.hash64();
        let shard = self.shard(h)?.read();
        shard
            .find(h, |&(eh, id)| eh == h && self.series_eq(id, labels))
            .map(|&(_, id)| SeriesId(id))
    }

    /// Checks the per-series limits (label count and lengths) of a new series.
    fn check_shape(&self, metric: &str, labels: &Labels) -> Result<()> {
        let l = &self.limits;
        let refuse = |limit, max| {
            self.metrics.refuse(metric);
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

    fn intern_pairs(&self, labels: &Labels) -> Result<Box<[u32]>> {
        let mut syms = Vec::with_capacity(labels.len() * 2);
        for (n, v) in labels.iter() {
            syms.push(
                self.symbols
                    .intern(n)
                    .ok_or(IndexError::SeriesIdsExhausted)?,
            );
            syms.push(
                self.symbols
                    .intern(v)
                    .ok_or(IndexError::SeriesIdsExhausted)?,
            );
        }
        Ok(syms.into_boxed_slice())
    }

    /// Indexes series `id` whose record is already stored.
    fn publish(&self, id: u32, h: u64, shard: &mut HashTable<(u64, u32)>) {
        if let Some(syms) = self.series.get(id) {
            self.series_heap_bytes
                .fetch_add(syms.len() * 4 + 16, Ordering::Relaxed);
            self.postings.write().add(id, syms);
        }
        shard.insert_unique(h, (h, id), |&(eh, _)| eh);
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
        let metric = labels.metric_name().ok_or(IndexError::MissingMetricName)?;
        self.check_shape(metric, labels)?;
        let h = labels.hash64();
        let Some(shard_lock) = self.shard(h) else {
            return Err(IndexError::SeriesIdsExhausted);
        };
        let mut shard = shard_lock.write();
        if let Some(&(_, id)) = shard.find(h, |&(eh, id)| eh == h && self.series_eq(id, labels)) {
            return Ok(SeriesId(id));
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
        let mut syms = match self.intern_pairs(labels) {
            Ok(s) => s,
            Err(e) => {
                undo();
                return Err(e);
            }
        };
        let id = loop {
            let Ok(id) = self
                .next_id
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_add(1))
            else {
                undo();
                return Err(IndexError::SeriesIdsExhausted);
            };
            match self.series.set(id, syms) {
                Ok(()) => break id,
                // Taken by `insert_with_id`: try the next id.
                Err(back) => syms = back,
            }
        };
        self.publish(id, h, &mut shard);
        Ok(SeriesId(id))
    }

    /// Inserts a series under a given id (WAL replay, loading a block): no limit check
    /// and no metric-name requirement. Ids allocated later continue after the largest
    /// id seen. Inserting the same pair again is a no-op; an id or label set already
    /// bound to something else gives [`IndexError::SeriesIdConflict`].
    pub fn insert_with_id(&self, id: SeriesId, labels: Labels) -> Result<()> {
        let h = labels.hash64();
        let Some(shard_lock) = self.shard(h) else {
            return Err(IndexError::SeriesIdsExhausted);
        };
        let mut shard = shard_lock.write();
        if let Some(&(_, existing)) =
            shard.find(h, |&(eh, e)| eh == h && self.series_eq(e, &labels))
        {
            return if existing == id.0 {
                Ok(())
            } else {
                Err(IndexError::SeriesIdConflict { id: id.0 })
            };
        }
        let syms = self.intern_pairs(&labels)?;
        if self.series.set(id.0, syms).is_err() {
            return Err(IndexError::SeriesIdConflict { id: id.0 });
        }
        self.next_id
            .fetch_max(id.0.saturating_add(1), Ordering::AcqRel);
        self.count.fetch_add(1, Ordering::AcqRel);
        self.metrics
            .stats(labels.metric_name().unwrap_or(""))
            .series
            .fetch_add(1, Ordering::AcqRel);
        self.publish(id.0, h, &mut shard);
        Ok(())
    }

    /// The labels of series `id`.
    pub fn labels(&self, id: SeriesId) -> Option<Labels> {
        let syms = self.series.get(id.0)?;
        let pairs = syms.chunks_exact(2).map(|p| match p {
            [n, v] => (
                self.symbols.get(*n).unwrap_or(""),
                self.symbols.get(*v).unwrap_or(""),
            ),
            _ => ("", ""),
        });
        Some(Labels::from_sorted(pairs))
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

    fn resolve_sorted(&self, syms: impl Iterator<Item = u32>) -> Vec<String> {
        let mut out: Vec<String> = syms
            .filter_map(|s| self.symbols.get(s).map(str::to_string))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The label names of the series matching `matchers` (of all series when empty),
    /// sorted.
    pub fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>> {
        if matchers.is_empty() {
            let p = self.postings.read();
            let names: Vec<u32> = p
                .by_name
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(n, _)| *n)
                .collect();
            drop(p);
            return Ok(self.resolve_sorted(names.into_iter()));
        }
        let sel = self.select_bitmap(matchers)?;
        let mut names: HashSet<u32> = HashSet::new();
        if sel.len() <= SMALL_SELECTION {
            for id in &sel {
                if let Some(syms) = self.series.get(id) {
                    names.extend(syms.iter().step_by(2).copied());
                }
            }
        } else {
            let p = self.postings.read();
            for (n, values) in &p.by_name {
                if values.values().any(|b| !b.is_disjoint(&sel)) {
                    names.insert(*n);
                }
            }
        }
        Ok(self.resolve_sorted(names.into_iter()))
    }

    /// The values of label `name` among the series matching `matchers` (of all series
    /// when empty), sorted.
    pub fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>> {
        let Some(n) = self.symbols.lookup(name) else {
            // Still validate the selector.
            if !matchers.is_empty() {
                self.select_bitmap(matchers)?;
            }
            return Ok(Vec::new());
        };
        if matchers.is_empty() {
            let p = self.postings.read();
            let values: Vec<u32> = p
                .by_name
                .get(&n)
                .map(|m| {
                    m.iter()
                        .filter(|(_, b)| !b.is_empty())
                        .map(|(v, _)| *v)
                        .collect()
                })
                .unwrap_or_default();
            drop(p);
            return Ok(self.resolve_sorted(values.into_iter()));
        }
        let sel = self.select_bitmap(matchers)?;
        let mut values: HashSet<u32> = HashSet::new();
        if sel.len() <= SMALL_SELECTION {
            for id in &sel {
                if let Some(syms) = self.series.get(id) {
                    values.extend(syms.chunks_exact(2).filter_map(|p| match p {
                        [sn, sv] if *sn == n => Some(*sv),
                        _ => None,
                    }));
                }
            }
        } else {
            let p = self.postings.read();
            if let Some(m) = p.by_name.get(&n) {
                values.extend(
                    m.iter()
                        .filter(|(_, b)| !b.is_disjoint(&sel))
                        .map(|(v, _)| *v),
                );
            }
        }
        Ok(self.resolve_sorted(values.into_iter()))
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
        let shards: usize = self
            .shards
            .iter()
            .map(|s| s.read().capacity() * (std::mem::size_of::<(u64, u32)>() + 1))
            .sum();
        self.symbols.memory_bytes()
            + self.series.memory_bytes()
            + self.series_heap_bytes.load(Ordering::Relaxed)
            + shards
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

    /// The number of series of `metric`.
    pub fn metric_series(&self, metric: &str) -> usize {
        self.metrics.get(metric).map_or(0, |(s, _)| s)
    }

    /// How many new series of `metric` the limits refused.
    pub fn refused(&self, metric: &str) -> u64 {
        self.metrics.get(metric).map_or(0, |(_, r)| r)
    }

    /// The cardinality explorer: the `top_n` metrics and label names holding the most
    /// series, plus totals.
    pub fn cardinality_report(&self, top_n: usize) -> CardinalityReport {
        let mut metrics: Vec<MetricCardinality> = self
            .metrics
            .snapshot()
            .into_iter()
            .map(|(metric, series, refused)| MetricCardinality {
                metric,
                series,
                refused,
            })
            .collect();
        metrics.sort_by(|a, b| {
            b.series
                .cmp(&a.series)
                .then(b.refused.cmp(&a.refused))
                .then(a.metric.cmp(&b.metric))
        });
        metrics.truncate(top_n);
        let p = self.postings.read();
        let mut names: Vec<LabelNameCardinality> = p
            .by_name
            .iter()
            .map(|(n, values)| LabelNameCardinality {
                name: self.symbols.get(*n).unwrap_or("").to_string(),
                series: values.values().map(RoaringBitmap::len).sum(),
                distinct_values: values.len(),
            })
            .collect();
        drop(p);
        names.sort_by(|a, b| {
            b.series
                .cmp(&a.series)
                .then(b.distinct_values.cmp(&a.distinct_values))
                .then(a.name.cmp(&b.name))
        });
        names.truncate(top_n);
        CardinalityReport {
            total_series: self.num_series(),
            refused_total: self.metrics.refused_total(),
            metrics,
            label_names: names,
        }
    }
}
