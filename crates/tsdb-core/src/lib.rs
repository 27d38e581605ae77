//! # tsdb-core (in progress)
#![deny(missing_docs)]
