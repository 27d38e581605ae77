//! What every ingest endpoint shares: the per-request outcome (accepted,
//! refused by reason, the first messages), the retention check and the commit
//! to the database.

use std::fmt::Write as _;
use std::time::Instant;

use tsdb::core::{BatchSample, Error as CoreError, WriteMode};

use crate::app::AppState;
use crate::metrics::{Protocol, Reason};

/// Messages kept per request for the response.
const MAX_MESSAGES: usize = 10;

/// The outcome of one ingest request.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Samples stored.
    pub accepted: usize,
    /// Refusals by reason (indexed as [`Reason::ALL`]).
    pub refused: [usize; Reason::ALL.len()],
    /// The first refusal messages.
    pub messages: Vec<String>,
}

impl Outcome {
    /// Records `n` refusals for `reason`; `msg` is built only while few are kept.
    pub fn refuse(&mut self, reason: Reason, n: usize, msg: impl FnOnce() -> String) {
        if let Some(pos) = Reason::ALL.iter().position(|r| *r == reason)
            && let Some(c) = self.refused.get_mut(pos)
        {
            *c += n;
        }
        if self.messages.len() < MAX_MESSAGES {
            self.messages.push(msg());
        }
    }

    /// Refusals of all reasons but `except`.
    pub fn refused_except(&self, except: &[Reason]) -> usize {
        Reason::ALL
            .iter()
            .zip(&self.refused)
            .filter(|(r, _)| !except.contains(r))
            .map(|(_, n)| n)
            .sum()
    }

    /// All refusals.
    pub fn refused_total(&self) -> usize {
        self.refused.iter().sum()
    }

    /// `out_of_order=3, bad_labels=1`.
    pub fn reasons(&self) -> String {
        let mut s = String::new();
        for (r, n) in Reason::ALL.iter().zip(&self.refused) {
            if *n > 0 {
                if !s.is_empty() {
                    s.push_str(", ");
                }
                let _ = write!(s, "{}={n}", r.as_str());
            }
        }
        s
    }

    /// A one-paragraph summary for a response body.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} accepted, {} refused ({})",
            self.accepted,
            self.refused_total(),
            self.reasons()
        );
        if !self.messages.is_empty() {
            s.push_str("; first errors: ");
            s.push_str(&self.messages.join("; "));
        }
        s
    }

    /// The outcome as a JSON object's members (no braces):
    /// `"accepted":N,"refused":M,"refusals":{…},"errors":[…]`.
    pub fn json_members(&self) -> String {
        let mut s = format!(
            "\"accepted\":{},\"refused\":{},\"refusals\":{{",
            self.accepted,
            self.refused_total()
        );
        let mut first = true;
        for (r, n) in Reason::ALL.iter().zip(&self.refused) {
            if *n > 0 {
                if !first {
                    s.push(',');
                }
                first = false;
                let _ = write!(s, "\"{}\":{n}", r.as_str());
            }
        }
        s.push_str("},\"errors\":");
        s.push_str(&crate::prom_json::string_array(&self.messages));
        s
    }
}

/// Drops samples older than the retention (counting them), then appends the
/// batch and counts the outcome. `Err` is a storage fault (nothing of the
/// batch acknowledged). Blocking: call from `spawn_blocking`.
pub fn commit(
    state: &AppState,
    mut batch: Vec<BatchSample>,
    mode: Option<WriteMode>,
    protocol: Protocol,
    outcome: &mut Outcome,
) -> Result<(), CoreError> {
    let min_t = state.min_ingest_time_ms();
    if min_t > i64::MIN {
        let before = batch.len();
        let mut first_old = None;
        batch.retain(|s| {
            let keep = s.t_ms >= min_t;
            if !keep && first_old.is_none() {
                first_old = Some(s.t_ms);
            }
            keep
        });
        if let Some(t) = first_old {
            let n = before - batch.len();
            outcome.refuse(Reason::OutOfBounds, n, || {
                format!(
                    "sample at t={t} ms is older than the retention (oldest accepted {min_t} ms)"
                )
            });
        }
    }
    if batch.is_empty() {
        count(state, protocol, outcome, 0);
        return Ok(());
    }
    let durable = mode.unwrap_or(state.config.write_mode) == WriteMode::Durable;
    let started = Instant::now();
    let result = state.db.append_batch(&batch, mode)?;
    if durable {
        state
            .metrics
            .durable_write_latency
            .observe(started.elapsed());
    }
    for r in &result.refused {
        let reason = Reason::of(&r.error);
        outcome.refuse(reason, 1, || match batch.get(r.index) {
            Some(s) => format!("{}: {}", s.labels, r.error),
            None => r.error.to_string(),
        });
    }
    count(state, protocol, outcome, result.accepted);
    Ok(())
}

fn count(state: &AppState, protocol: Protocol, outcome: &mut Outcome, accepted: usize) {
    outcome.accepted += accepted;
    state.metrics.ingested(protocol, accepted);
}

/// Counts an outcome's refusals in the server metrics (once per request).
pub fn count_refusals(state: &AppState, outcome: &Outcome) {
    for (r, n) in Reason::ALL.iter().zip(&outcome.refused) {
        if *n > 0 {
            state.metrics.refused(*r, *n);
        }
    }
}
