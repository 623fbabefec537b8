//! The record of real-API calls (`/api/v1`, `/oauth2/v1`), so tests assert what a client
//! did: every request is logged when it arrives, whatever its answer, and completed with
//! its status, the client and token it used, and the rate-limit headers it was sent.
//!
//! Counts are keyed `"METHOD /api/v1/route/{template}"`. The log keeps the newest
//! [`MAX_LOG`] entries; `seq` keeps counting across resets.

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{now_ms, okta_ts};
use crate::ratelimit::RateHeaders;

pub const MAX_LOG: usize = 100_000;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    pub seq: u64,
    #[serde(with = "okta_ts")]
    pub at: DateTime<Utc>,
    /// Milliseconds since the simulator started (microsecond resolution).
    pub at_ms: f64,
    pub method: String,
    /// The route template, e.g. `/api/v1/users/{id}`.
    pub endpoint: String,
    pub path: String,
    /// The raw query string (empty when none).
    pub query: String,
    pub status: Option<u16>,
    /// `X-Okta-Request-Id` of the answer.
    pub request_id: String,
    /// The OAuth client: the access token's (API calls) or the authenticated one (token,
    /// revoke) or `client_id` (authorize).
    pub client_id: Option<String>,
    /// The first characters of the access token used (API calls).
    pub token: Option<String>,
    /// The `X-Rate-Limit-*` headers sent.
    pub rate_limit: Option<RateHeaders>,
    /// How long the answer took, in milliseconds (injected latency included).
    pub duration_ms: Option<f64>,
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
    /// Calls to `"METHOD endpoint"`, e.g. `count("GET /api/v1/users")`.
    pub fn count(&self, key: &str) -> u64 {
        self.counts.get(key).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// The logged calls to `"METHOD endpoint"`, oldest first.
    pub fn records<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a CallRecord> + 'a {
        self.log.iter().filter(move |r| r.key() == key)
    }
}

/// What the gate learned about a call by the time it was answered.
#[derive(Clone, Debug, Default)]
pub(crate) struct Outcome {
    pub status: u16,
    pub client_id: Option<String>,
    pub token: Option<String>,
    pub rate_limit: Option<RateHeaders>,
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
    pub fn begin(
        &mut self,
        method: &str,
        endpoint: &str,
        path: &str,
        query: &str,
        request_id: &str,
    ) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
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
            at_ms: self.started.elapsed().as_micros() as f64 / 1000.0,
            method: method.to_owned(),
            endpoint: endpoint.to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            status: None,
            request_id: request_id.to_owned(),
            client_id: None,
            token: None,
            rate_limit: None,
            duration_ms: None,
        });
        seq
    }

    pub fn finish(&mut self, seq: u64, outcome: Outcome) {
        let now_ms = self.started.elapsed().as_micros() as f64 / 1000.0;
        if let Ok(i) = self.log.binary_search_by_key(&seq, |r| r.seq) {
            let r = &mut self.log[i];
            r.status = Some(outcome.status);
            r.client_id = outcome.client_id;
            r.token = outcome.token;
            r.rate_limit = outcome.rate_limit;
            r.duration_ms = Some(now_ms - r.at_ms);
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
        let a = log.begin("GET", "/api/v1/users", "/api/v1/users", "limit=2", "r1");
        let b = log.begin("GET", "/api/v1/users/{id}", "/api/v1/users/00u1", "", "r2");
        log.finish(
            a,
            Outcome {
                status: 200,
                client_id: Some("c".into()),
                ..Outcome::default()
            },
        );
        let snap = log.snapshot();
        assert_eq!(snap.count("GET /api/v1/users"), 1);
        assert_eq!(snap.total(), 2);
        assert_eq!(snap.log[0].status, Some(200));
        assert_eq!(snap.log[0].query, "limit=2");
        assert_eq!(snap.log[1].status, None);
        log.reset();
        log.finish(b, Outcome::default());
        assert_eq!(log.snapshot(), CallsSnapshot::default());
    }
}
