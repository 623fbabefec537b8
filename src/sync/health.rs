//! What this process knows of ZenQMS's reachability: told about every call of the connection
//! in force (by `calls.rs`).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::zenqms::{CallReport, ZenqmsError};

#[derive(Default)]
pub struct Health {
    state: Mutex<State>,
}

#[derive(Default, Clone)]
struct State {
    last_call: Option<(DateTime<Utc>, Option<ZenqmsError>)>,
    last_success: Option<DateTime<Utc>>,
    last_error: Option<LastError>,
    /// How long the latest calls took (at most [`RECENT`]), newest last.
    recent: VecDeque<Duration>,
}

/// Calls whose duration [`Health::recent_call`] averages.
const RECENT: usize = 32;

/// The most recent failed call.
#[derive(Debug, Clone, Serialize)]
pub struct LastError {
    pub at: String,
    pub endpoint: &'static str,
    pub kind: &'static str,
    pub message: String,
}

/// Connectivity as the status endpoint reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Connectivity {
    /// No call made yet by this process.
    Unknown,
    Ok,
    RateLimited,
    /// 401/403: the token is wrong, inactive or lacks permissions.
    Unauthorized,
    /// Network error, timeout, 5xx, or answers that are not the API's.
    Unreachable,
}

impl Health {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn connectivity(&self) -> Connectivity {
        match &self.lock().last_call {
            None => Connectivity::Unknown,
            Some((_, None)) => Connectivity::Ok,
            Some((_, Some(e))) => match e {
                ZenqmsError::Auth { .. } => Connectivity::Unauthorized,
                ZenqmsError::RateLimited { .. } => Connectivity::RateLimited,
                ZenqmsError::Network(_)
                | ZenqmsError::Timeout(_)
                | ZenqmsError::Server { .. }
                | ZenqmsError::Unexpected { .. } => Connectivity::Unreachable,
                // ZenQMS answered, and in its own terms: it is reachable.
                _ => Connectivity::Ok,
            },
        }
    }

    pub fn last_success(&self) -> Option<DateTime<Utc>> {
        self.lock().last_success
    }

    pub fn last_error(&self) -> Option<LastError> {
        self.lock().last_error.clone()
    }

    /// The mean duration of the latest calls (a timeout counts as its full wait).
    pub fn recent_call(&self) -> Option<Duration> {
        let s = self.lock();
        let n = u32::try_from(s.recent.len()).ok().filter(|n| *n > 0)?;
        Some(s.recent.iter().sum::<Duration>() / n)
    }

    /// Forgets what was learnt about a previous connection.
    pub fn reset(&self) {
        *self.lock() = State::default();
    }
}

impl Health {
    /// Learns from one call of the connection in force.
    pub fn observe(&self, report: &CallReport<'_>) {
        let now = Utc::now();
        let mut s = self.lock();
        s.last_call = Some((now, report.error.cloned()));
        if s.recent.len() == RECENT {
            s.recent.pop_front();
        }
        s.recent.push_back(report.duration);
        match report.error {
            None => s.last_success = Some(now),
            Some(e) => {
                s.last_error = Some(LastError {
                    at: now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    endpoint: report.endpoint.label(),
                    kind: e.outcome(),
                    message: e.to_string(),
                })
            }
        }
    }
}
