//! The types this crate uses from the layers below, in one place.

pub use tsdb_core::{
    Error as CoreError, Labels, MatchOp, Matcher, Querier, SelectHints, Series, Tier,
};
pub use tsdb_index::{IndexError, METRIC_NAME};
