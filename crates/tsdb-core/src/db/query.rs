//! The head as a [`Querier`].

use std::sync::Arc;

use tsdb_index::{Labels, Matcher};

use super::{Db, Inner};
use crate::api::{Querier, SelectHints, Series};
use crate::error::{Error, Result};

/// A [`Querier`] over the head of a [`Db`], returned by [`Db::querier`]. It
/// shares the database's state, so it sees every write acknowledged before a
/// call. Every [`Tier`](crate::Tier) is served from raw samples until rollups
/// exist.
#[derive(Clone)]
pub struct HeadQuerier {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for HeadQuerier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeadQuerier")
            .field("dir", &self.inner.dir)
            .finish()
    }
}

impl HeadQuerier {
    pub(crate) fn new(inner: Arc<Inner>) -> HeadQuerier {
        HeadQuerier { inner }
    }
}

impl Querier for Inner {
    fn select(&self, matchers: &[Matcher], hints: &SelectHints) -> Result<Vec<Series>> {
        let ids = self.index.select(matchers).map_err(Error::Query)?;
        let mut out = Vec::new();
        for id in ids {
            if let Some(series) = self.head.read(id, hints.min_time_ms, hints.max_time_ms)?
                && !series.timestamps.is_empty()
            {
                out.push(series);
            }
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }

    fn series(&self, matchers: &[Matcher], hints: &SelectHints) -> Result<Vec<Labels>> {
        let ids = self.index.select(matchers).map_err(Error::Query)?;
        let mut out = Vec::new();
        for id in ids {
            if let Some(labels) =
                self.head
                    .labels_if_in_range(id, hints.min_time_ms, hints.max_time_ms)?
            {
                out.push(labels);
            }
        }
        out.sort();
        Ok(out)
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>> {
        self.index.label_names(matchers).map_err(Error::Query)
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>> {
        self.index
            .label_values(name, matchers)
            .map_err(Error::Query)
    }
}

macro_rules! delegate_querier {
    ($t:ty, $inner:ident) => {
        impl Querier for $t {
            fn select(&self, matchers: &[Matcher], hints: &SelectHints) -> Result<Vec<Series>> {
                self.$inner.select(matchers, hints)
            }
            fn series(&self, matchers: &[Matcher], hints: &SelectHints) -> Result<Vec<Labels>> {
                self.$inner.series(matchers, hints)
            }
            fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>> {
                self.$inner.label_names(matchers)
            }
            fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>> {
                self.$inner.label_values(name, matchers)
            }
        }
    };
}

delegate_querier!(HeadQuerier, inner);
delegate_querier!(Db, inner);
