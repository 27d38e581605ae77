//! `MemIndex`: the mutable in-memory index of the head.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use parking_lot::{Mutex, RwLock, RwLockReadGuard};
use roaring::RoaringBitmap;

use crate::SeriesId;
use crate::arena::U32Arena;
use crate::error::{IndexError, Result};
use crate::labels::Labels;
use crate::limits::{CardinalityLimits, LimitKind, MetricCounts};
use crate::matcher::Matcher;
use crate::postings::{self, MemPostings, PostingsSource};
use crate::series_table::SeriesTable;
use crate::symbols::SymbolTable;

mod query;

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

/// Record slots before the label pairs: `hash64` (low, high), label count, series id.
const RECORD_HEADER: usize = 4;

/// Lookups in flight at once in [`MemIndex::get_many`].
const BATCH: usize = 16;

/// The in-memory index: series identity, postings and cardinality limits.
///
/// All methods take `&self`; the index is `Send + Sync`. Looking up an existing series
/// takes no lock: it probes a lock-free hash table by [`Labels::hash64`] and compares
/// the stored series with the interned strings, so ingest threads do not contend.
/// Creating a series takes one of 64 creation locks chosen by the hash, and the
/// table's and the postings' write locks briefly.
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
    /// Series records: label count `n`, then `n` interned `(name, value)` symbol
    /// pairs sorted by name.
    records: U32Arena,
    /// Series id → record position + 1 (0: no such series).
    positions: U32Arena,
    /// `hash64` → record position.
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
        Ok(values
            .iter()
            .filter(|(v, _)| self.symbols.get(**v).is_some_and(&mut *pred))
            .map(|(_, b)| Cow::Borrowed(b))
            .collect())
    }
}

impl MemIndex {
    /// An empty index enforcing `limits`.
    pub fn new(limits: CardinalityLimits) -> MemIndex {
        MemIndex {
            limits,
            symbols: SymbolTable::default(),
            records: U32Arena::default(),
            positions: U32Arena::default(),
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

    /// The symbol pairs of the record at `pos`.
    #[inline]
    fn record(&self, pos: u32) -> Option<&[AtomicU32]> {
        let n = self
            .records
            .slice(pos.checked_add(2)?, 1)?
            .first()?
            .load(Ordering::Relaxed);
        self.records
            .slice(pos.checked_add(RECORD_HEADER as u32)?, n as usize * 2)
    }

    /// The `hash64` stored in the record at `pos`.
    #[inline]
    fn record_hash(&self, pos: u32) -> Option<u64> {
        match self.records.slice(pos, 2)? {
            [lo, hi] => Some(
                u64::from(lo.load(Ordering::Relaxed))
                    | (u64::from(hi.load(Ordering::Relaxed)) << 32),
            ),
            _ => None,
        }
    }

    /// The symbol pairs of series `id`.
    fn series_record(&self, id: u32) -> Option<&[AtomicU32]> {
        let pos = self.positions.load(id).checked_sub(1)?;
        self.record(pos)
    }

    /// Whether the record at `pos` holds exactly `labels` (of hash `h`): the stored
    /// hash, the pair count, then each interned string against the query's bytes.
    #[inline]
    fn record_eq(&self, pos: u32, h: u64, labels: &Labels) -> bool {
        let (data, ends) = labels.raw_parts();
        let Some(rec) = self.records.slice(pos, RECORD_HEADER + ends.len()) else {
            return false;
        };
        let Some((header, syms)) = rec.split_at_checked(RECORD_HEADER) else {
            return false;
        };
        let [lo, hi, n, _id] = header else {
            return false;
        };
        if u64::from(lo.load(Ordering::Relaxed)) | (u64::from(hi.load(Ordering::Relaxed)) << 32)
            != h
            || n.load(Ordering::Relaxed) as usize * 2 != ends.len()
        {
            return false;
        }
        let mut start = 0usize;
        for (sym, &end) in syms.iter().zip(ends) {
            let end = end as usize;
            match (
                self.symbols.bytes(sym.load(Ordering::Relaxed)),
                data.get(start..end),
            ) {
                (Some(a), Some(b)) if a == b => {}
                _ => return false,
            }
            start = end;
        }
        true
    }

    /// The series id stored in the record at `pos`.
    #[inline]
    fn record_id(&self, pos: u32) -> Option<u32> {
        let slot = self.records.slice(pos.checked_add(3)?, 1)?.first()?;
        Some(slot.load(Ordering::Relaxed)).filter(|id| *id != u32::MAX)
    }

    /// The id of the series with `labels`, if it exists. This is the ingest hot path:
    /// no lock, one probe of the lookup table (usually one cache line) and one check of
    /// the stored series.
    #[inline]
    pub fn get(&self, labels: &Labels) -> Option<SeriesId> {
        let h = labels.hash64();
        let pos = self.find(h, labels)?;
        self.record_id(pos).map(SeriesId)
    }

    /// [`MemIndex::get`] for many label sets, appending one answer per set to `out`.
    ///
    /// Faster than one `get` after another on a large index: the lookups of a batch
    /// load their table slots and then their stored series before using any of them,
    /// so the memory accesses overlap.
    pub fn get_many(&self, labels: &[Labels], out: &mut Vec<Option<SeriesId>>) {
        out.reserve(labels.len());
        let snap = self.table.snapshot();
        for chunk in labels.chunks(BATCH) {
            let mut cand = [None::<u32>; BATCH];
            for (c, l) in cand.iter_mut().zip(chunk) {
                *c = snap.home_candidate(l.hash64());
            }
            let mut hit = [false; BATCH];
            for ((hit, c), l) in hit.iter_mut().zip(&cand).zip(chunk) {
                *hit = c.is_some_and(|p| self.record_hash(p) == Some(l.hash64()));
            }
            for ((hit, c), l) in hit.iter().zip(&cand).zip(chunk) {
                let h = l.hash64();
                let pos = match c {
                    Some(p) if *hit && self.record_eq(*p, h, l) => Some(*p),
                    _ => snap.find(h, |pos| self.record_eq(pos, h, l)),
                };
                out.push(pos.and_then(|p| self.record_id(p)).map(SeriesId));
            }
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

    /// Interns the labels and stores their record; returns the record position and
    /// the symbol pairs.
    fn store_record(&self, labels: &Labels) -> Result<(u32, Vec<u32>)> {
        let mut rec = Vec::with_capacity(RECORD_HEADER + labels.len() * 2);
        let h = labels.hash64();
        rec.push(h as u32);
        rec.push((h >> 32) as u32);
        rec.push(u32::try_from(labels.len()).map_err(|_| IndexError::FormatLimit("labels"))?);
        rec.push(u32::MAX); // the id, written once allocated
        for (n, v) in labels.iter() {
            rec.push(
                self.symbols
                    .intern(n)
                    .ok_or(IndexError::SeriesIdsExhausted)?,
            );
            rec.push(
                self.symbols
                    .intern(v)
                    .ok_or(IndexError::SeriesIdsExhausted)?,
            );
        }
        let pos = self
            .records
            .alloc(rec.len())
            .filter(|p| *p < u32::MAX)
            .ok_or(IndexError::FormatLimit("series records"))?;
        self.records.write(pos, &rec);
        rec.drain(..RECORD_HEADER);
        Ok((pos, rec))
    }

    /// Indexes series `id` whose record is stored at `pos`.
    /// The caller holds the creation lock of `h`.
    fn publish(&self, id: u32, pos: u32, pairs: &[u32], h: u64) -> Result<()> {
        self.records.write(pos + 3, &[id]);
        self.postings.write().add(id, pairs);
        if self.table.insert(h, pos) {
            Ok(())
        } else {
            Err(IndexError::FormatLimit("series lookup table"))
        }
    }

    /// The record position of the series with `labels` (of hash `h`), if it exists.
    fn find(&self, h: u64, labels: &Labels) -> Option<u32> {
        self.table
            .snapshot()
            .find(h, |pos| self.record_eq(pos, h, labels))
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
        let Some(create_lock) = self.create_lock(h) else {
            return Err(IndexError::SeriesIdsExhausted);
        };
        let _creating = create_lock.lock();
        if let Some(id) = self.find(h, labels).and_then(|pos| self.record_id(pos)) {
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
        let (pos, pairs) = match self.store_record(labels) {
            Ok(r) => r,
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
            // Taken by `insert_with_id`: try the next id.
            if self.positions.set_once(id, pos + 1) {
                break id;
            }
        };
        self.publish(id, pos, &pairs, h)?;
        Ok(SeriesId(id))
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
        if let Some(pos) = self.find(h, &labels) {
            return if self.record_id(pos) == Some(id.0) {
                Ok(())
            } else {
                Err(IndexError::SeriesIdConflict { id: id.0 })
            };
        }
        if self.positions.load(id.0) != 0 {
            return Err(IndexError::SeriesIdConflict { id: id.0 });
        }
        let (pos, pairs) = self.store_record(&labels)?;
        if !self.positions.set_once(id.0, pos + 1) {
            return Err(IndexError::SeriesIdConflict { id: id.0 });
        }
        self.next_id
            .fetch_max(id.0.saturating_add(1), Ordering::AcqRel);
        self.count.fetch_add(1, Ordering::AcqRel);
        self.metrics
            .stats(labels.metric_name().unwrap_or(""))
            .series
            .fetch_add(1, Ordering::AcqRel);
        self.publish(id.0, pos, &pairs, h)
    }

    /// The labels of series `id`.
    pub fn labels(&self, id: SeriesId) -> Option<Labels> {
        let rec = self.series_record(id.0)?;
        let pairs = rec.chunks_exact(2).map(|p| match p {
            [n, v] => (
                self.symbols.get(n.load(Ordering::Relaxed)).unwrap_or(""),
                self.symbols.get(v.load(Ordering::Relaxed)).unwrap_or(""),
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
            + self.records.memory_bytes()
            + self.positions.memory_bytes()
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
