//! The record of `/v2` calls, so tests assert what a client did rather than what it
//! logged. Every `/v2` request is counted and logged when it arrives, whatever its answer
//! (`401`, `429` and injected `5xx` included); its status is filled in when it is answered
//! and stays `null` for one whose client went away first (a hang past its timeout).
//!
//! Counts are keyed `"METHOD /v2/route/{template}"`. The log keeps the newest
//! [`MAX_LOG`] entries; `seq` keeps counting across [`CallLog::reset`].

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{now_ms, rfc3339_ms};

pub const MAX_LOG: usize = 100_000;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    pub seq: u64,
    #[serde(with = "rfc3339_ms")]
    pub at: DateTime<Utc>,
    /// Milliseconds since the simulator started (microsecond resolution).
    pub at_ms: f64,
    pub method: String,
    /// The route template, e.g. `/v2/users/{id}`.
    pub endpoint: String,
    pub path: String,
    pub status: Option<u16>,
    /// When it was answered (same clock as `at_ms`); `null` until then.
    #[serde(default)]
    pub answered_ms: Option<f64>,
}

impl CallRecord {
    /// `"METHOD endpoint"`, the key of [`CallsSnapshot::counts`].
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.endpoint)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CallsSnapshot {
    pub counts: BTreeMap<String, u64>,
    pub log: Vec<CallRecord>,
}

impl CallsSnapshot {
    /// Calls to `"METHOD endpoint"`, e.g. `count("PATCH /v2/users/{id}")`.
    pub fn count(&self, key: &str) -> u64 {
        self.counts.get(key).copied().unwrap_or(0)
    }

    /// All `/v2` calls counted.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// The logged calls to `"METHOD endpoint"`, oldest first.
    pub fn records<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a CallRecord> + 'a {
        self.log.iter().filter(move |r| r.key() == key)
    }
}

#[derive(Debug)]
pub(crate) struct CallLog {
    started: Instant,
    next_seq: u64,
    counts: BTreeMap<String, u64>,
    log: VecDeque<CallRecord>,
}

impl Default for CallLog {
    fn default() -> Self {
        CallLog {
            started: Instant::now(),
            next_seq: 1,
            counts: BTreeMap::new(),
            log: VecDeque::new(),
        }
    }
}

impl CallLog {
    /// Counts and logs an arriving request; returns its `seq` for [`CallLog::finish`].
    pub fn begin(&mut self, method: &str, endpoint: &str, path: &str) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        let elapsed_us = self.started.elapsed().as_micros() as f64;
        *self
            .counts
            .entry(format!("{method} {endpoint}"))
            .or_insert(0) += 1;
        if self.log.len() >= MAX_LOG {
            self.log.pop_front();
        }
        self.log.push_back(CallRecord {
            seq,
            at: now_ms(),
            at_ms: elapsed_us / 1000.0,
            method: method.to_owned(),
            endpoint: endpoint.to_owned(),
            path: path.to_owned(),
            status: None,
            answered_ms: None,
        });
        seq
    }

    /// Records the status a request was answered with.
    pub fn finish(&mut self, seq: u64, status: u16) {
        if let Ok(i) = self.log.binary_search_by_key(&seq, |r| r.seq) {
            self.log[i].status = Some(status);
            self.log[i].answered_ms = Some(self.started.elapsed().as_micros() as f64 / 1000.0);
        }
    }

    pub fn reset(&mut self) {
        self.counts.clear();
        self.log.clear();
    }

    pub fn snapshot(&self) -> CallsSnapshot {
        CallsSnapshot {
            counts: self.counts.clone(),
            log: self.log.iter().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_log_and_finish() {
        let mut log = CallLog::default();
        let a = log.begin("POST", "/v2/users", "/v2/users");
        let b = log.begin("PATCH", "/v2/users/{id}", "/v2/users/1001");
        let c = log.begin("POST", "/v2/users", "/v2/users");
        log.finish(b, 200);
        log.finish(a, 429);
        let snap = log.snapshot();
        assert_eq!(snap.count("POST /v2/users"), 2);
        assert_eq!(snap.count("PATCH /v2/users/{id}"), 1);
        assert_eq!(snap.count("GET /v2/roles"), 0);
        assert_eq!(snap.total(), 3);
        let statuses: Vec<_> = snap.log.iter().map(|r| (r.seq, r.status)).collect();
        assert_eq!(statuses, [(a, Some(429)), (b, Some(200)), (c, None)]);
        assert!(snap.log[0].at_ms <= snap.log[2].at_ms);
        assert_eq!(snap.records("POST /v2/users").count(), 2);

        log.reset();
        assert_eq!(log.snapshot(), CallsSnapshot::default());
        log.finish(c, 200); // answered after the reset: nothing to update, no panic
        assert_eq!(log.begin("GET", "/v2/roles", "/v2/roles"), c + 1);
    }
}
