//! The head as a [`Querier`].

use std::sync::Arc;

use tsdb_index::{Labels, Matcher};

use super::{Db, Inner};
use crate::api::{Querier, SelectHints, Series};
use crate::error::Result;

/// A [`Querier`] over the head and the blocks of a [`Db`], returned by
/// [`Db::querier`]. It shares the database's state, so it sees every write
/// acknowledged before a call; each call reads a snapshot of the block list
/// and never waits for writers, cuts or compaction. Every [`Tier`](crate::Tier) is served from raw samples until rollups
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
        self.select_all(matchers, hints)
    }

    fn series(&self, matchers: &[Matcher], hints: &SelectHints) -> Result<Vec<Labels>> {
        self.series_all(matchers, hints)
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>> {
        self.label_names_all(matchers)
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>> {
        self.label_values_all(name, matchers)
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
