//! # tsdb-alert (not built yet)
//!
//! Will own alert rules, the evaluation loop, the state machine
//! (ok → pending → firing → resolved), threshold and 3-sigma anomaly conditions,
//! suppression, notifications through a `Notifier` trait, and the audit log of firings.
//!
//! Public API to come: `Rule`, `Condition::{Threshold, Anomaly}`, `Evaluator`,
//! trait `Notifier`, `AlertEvent`.
#![deny(missing_docs)]
