//! # tsdb-codec
#![deny(missing_docs)]
