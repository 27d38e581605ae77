//! # tsdb-index (in progress)
#![deny(missing_docs)]
