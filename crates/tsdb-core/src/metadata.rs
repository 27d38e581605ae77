//! The metric metadata catalog: name, kind, unit, description, owner and
//! creation time of each metric, validated and persisted atomically with the
//! database (`metadata.json`: temp file, fsync, rename, directory fsync).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::storage::{Storage, write_atomic};

/// File name of the catalog in the database directory.
pub const METADATA_FILE: &str = "metadata.json";
/// Version of the catalog's JSON form.
pub const METADATA_FORMAT_VERSION: u32 = 1;
/// Longest metric name, unit or owner accepted, in bytes.
pub const MAX_METADATA_FIELD_LEN: usize = 256;
/// Longest description accepted, in bytes.
pub const MAX_DESCRIPTION_LEN: usize = 4096;

/// What a metric measures, which decides how it is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MetricKind {
    /// A monotonically increasing count (read as rates; resets handled).
    Counter,
    /// A value that goes up and down (read as is).
    Gauge,
    /// Counter buckets labelled `le` (read with `histogram_quantile`).
    Histogram,
}

/// Metadata of one metric.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricMetadata {
    /// The metric name (the `__name__` label value).
    pub name: String,
    /// What the metric measures.
    pub kind: MetricKind,
    /// Unit, e.g. `seconds`, `bytes` (may be empty).
    pub unit: String,
    /// Human description (may be empty).
    pub description: String,
    /// Owning team or person (may be empty).
    pub owner: String,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_at_ms: i64,
}

impl MetricMetadata {
    /// Checks the fields: a non-empty name, no control characters, bounded
    /// lengths, a unit of `[a-zA-Z0-9_/%.]` characters.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(Error::InvalidMetadata(what));
        if self.name.is_empty() {
            return bad("metric name is empty".into());
        }
        for (field, value, max) in [
            ("name", &self.name, MAX_METADATA_FIELD_LEN),
            ("unit", &self.unit, MAX_METADATA_FIELD_LEN),
            ("owner", &self.owner, MAX_METADATA_FIELD_LEN),
            ("description", &self.description, MAX_DESCRIPTION_LEN),
        ] {
            if value.len() > max {
                return bad(format!(
                    "{field} is {} bytes, at most {max} allowed",
                    value.len()
                ));
            }
            if value
                .chars()
                .any(|c| c.is_control() && !(field == "description" && c == '\n'))
            {
                return bad(format!("{field} contains a control character"));
            }
        }
        if let Some(c) = self
            .unit
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '/' | '%' | '.')))
        {
            return bad(format!("unit {:?} contains {c:?}", self.unit));
        }
        if self.created_at_ms < 0 {
            return bad(format!("created_at_ms {} is negative", self.created_at_ms));
        }
        Ok(())
    }
}

#[derive(Serialize, Deserialize)]
struct CatalogFile {
    version: u32,
    metrics: Vec<MetricMetadata>,
}

/// The catalog: kept in memory, written through on every change.
pub(crate) struct Catalog {
    storage: Arc<dyn Storage>,
    path: PathBuf,
    metrics: Mutex<BTreeMap<String, MetricMetadata>>,
}

impl Catalog {
    /// Loads the catalog of the database in `dir` (empty if there is none).
    pub(crate) fn open(storage: Arc<dyn Storage>, dir: &Path) -> Result<Catalog> {
        let path = dir.join(METADATA_FILE);
        let mut metrics = BTreeMap::new();
        if storage.exists(&path) {
            let bytes = storage.read(&path)?;
            let corrupt = |what: String| Error::Corrupt {
                file: path.clone(),
                offset: 0,
                what,
            };
            let file: CatalogFile =
                serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
            if file.version != METADATA_FORMAT_VERSION {
                return Err(corrupt(format!("unsupported version {}", file.version)));
            }
            for m in file.metrics {
                m.validate().map_err(|e| corrupt(e.to_string()))?;
                metrics.insert(m.name.clone(), m);
            }
        }
        Ok(Catalog {
            storage,
            path,
            metrics: Mutex::new(metrics),
        })
    }

    /// Adds or replaces a metric's metadata and persists the catalog. The
    /// change is kept in memory only if it was persisted.
    pub(crate) fn set(&self, meta: MetricMetadata) -> Result<()> {
        meta.validate()?;
        let mut metrics = self.metrics.lock();
        let mut next = metrics.clone();
        next.insert(meta.name.clone(), meta);
        self.persist(&next)?;
        *metrics = next;
        Ok(())
    }

    /// Removes a metric's metadata; returns whether it existed.
    pub(crate) fn remove(&self, name: &str) -> Result<bool> {
        let mut metrics = self.metrics.lock();
        if !metrics.contains_key(name) {
            return Ok(false);
        }
        let mut next = metrics.clone();
        next.remove(name);
        self.persist(&next)?;
        *metrics = next;
        Ok(true)
    }

    fn persist(&self, metrics: &BTreeMap<String, MetricMetadata>) -> Result<()> {
        let file = CatalogFile {
            version: METADATA_FORMAT_VERSION,
            metrics: metrics.values().cloned().collect(),
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| Error::Corrupt {
            file: self.path.clone(),
            offset: 0,
            what: format!("cannot serialize: {e}"),
        })?;
        write_atomic(&*self.storage, &self.path, &bytes)?;
        Ok(())
    }

    /// One metric's metadata.
    pub(crate) fn get(&self, name: &str) -> Option<MetricMetadata> {
        self.metrics.lock().get(name).cloned()
    }

    /// All metadata, sorted by name.
    pub(crate) fn list(&self) -> Vec<MetricMetadata> {
        self.metrics.lock().values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemStorage;

    fn meta(name: &str) -> MetricMetadata {
        MetricMetadata {
            name: name.into(),
            kind: MetricKind::Counter,
            unit: "seconds".into(),
            description: "time spent".into(),
            owner: "team-a".into(),
            created_at_ms: 1,
        }
    }

    #[test]
    fn persists_and_reloads() {
        let mem = MemStorage::new();
        let dir = Path::new("/db");
        let c = Catalog::open(Arc::new(mem.clone()), dir).unwrap();
        c.set(meta("http.requests")).unwrap();
        c.set(meta("b")).unwrap();
        assert!(c.remove("b").unwrap());
        let again = Catalog::open(Arc::new(mem.crash_image()), dir).unwrap();
        assert_eq!(again.list(), vec![meta("http.requests")]);
    }

    #[test]
    fn validation_refuses_bad_fields() {
        let mut m = meta("");
        assert!(m.validate().is_err());
        m.name = "x".into();
        m.unit = "sec onds".into();
        assert!(m.validate().is_err());
        m.unit = "s".into();
        m.owner = "a\u{0}".into();
        assert!(m.validate().is_err());
        m.owner = "o".repeat(MAX_METADATA_FIELD_LEN + 1);
        assert!(m.validate().is_err());
    }

    #[test]
    fn failed_persist_keeps_old_state() {
        let mem = MemStorage::new();
        let c = Catalog::open(Arc::new(mem.clone()), Path::new("/db")).unwrap();
        mem.set_fail_sync(true);
        assert!(c.set(meta("a")).is_err());
        assert!(c.get("a").is_none());
    }

    #[test]
    fn corrupt_catalog_is_an_error() {
        let mem = MemStorage::new();
        mem.put(Path::new("/db/metadata.json"), b"{not json".to_vec());
        assert!(matches!(
            Catalog::open(Arc::new(mem), Path::new("/db")),
            Err(Error::Corrupt { .. })
        ));
    }
}
