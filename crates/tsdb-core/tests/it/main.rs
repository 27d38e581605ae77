//! Integration tests for tsdb-core.
