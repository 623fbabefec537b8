//! Why the sync queue is not empty, in one word and one sentence: the status endpoint's
//! `queue.backlog_reason` / `queue.backlog_detail` and the `sync_backlog` metric. An operator
//! watching the queue grow must be able to tell a paused integration, an unreachable or
//! rate-limiting ZenQMS, a slow ZenQMS (the workers wait on its answers) and a plain budget
//! (`ZENQMS_MAX_RPS` is the bound) apart without reading logs.

use std::time::Duration;

use serde::Serialize;

use super::health::Connectivity;

/// The cause that bounds how fast the queue drains now, most decisive first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Nothing is waiting.
    Empty,
    /// `POST /api/v1/sync/pause`: no call is made.
    Paused,
    /// No ZenQMS connection is configured.
    NotConfigured,
    /// ZenQMS refuses the token (401/403).
    Unauthorized,
    /// Calls fail: network, timeouts, 5xx.
    ZenqmsUnreachable,
    /// A `429` pause is in force.
    RateLimited,
    /// ZenQMS answers, slowly: the workers, each waiting on an answer, drain fewer users per
    /// second than the budget allows.
    ZenqmsSlow,
    /// The queue drains at the budget (`ZENQMS_MAX_RPS`).
    Budget,
}

impl Reason {
    pub const ALL: [Reason; 8] = [
        Reason::Empty,
        Reason::Paused,
        Reason::NotConfigured,
        Reason::Unauthorized,
        Reason::ZenqmsUnreachable,
        Reason::RateLimited,
        Reason::ZenqmsSlow,
        Reason::Budget,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Empty => "empty",
            Reason::Paused => "paused",
            Reason::NotConfigured => "not_configured",
            Reason::Unauthorized => "unauthorized",
            Reason::ZenqmsUnreachable => "zenqms_unreachable",
            Reason::RateLimited => "rate_limited",
            Reason::ZenqmsSlow => "zenqms_slow",
            Reason::Budget => "budget",
        }
    }
}

/// What the verdict is drawn from.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub depth: i64,
    pub paused: bool,
    pub configured: bool,
    pub connectivity: Connectivity,
    pub rate_limited: bool,
    /// The mean duration of this process's recent ZenQMS calls.
    pub recent_call: Option<Duration>,
    pub workers: usize,
    pub max_rps: f64,
}

/// The reason and a sentence for a person.
#[derive(Debug, Clone, PartialEq)]
pub struct Backlog {
    pub reason: Reason,
    pub detail: String,
}

pub fn explain(i: &Inputs) -> Backlog {
    let (reason, detail) = if i.depth == 0 {
        (Reason::Empty, "no sync job is waiting".to_string())
    } else if i.paused {
        (
            Reason::Paused,
            "sync is paused: jobs are kept and no call is made; POST /api/v1/sync/resume".into(),
        )
    } else if !i.configured {
        (
            Reason::NotConfigured,
            "ZenQMS is not configured: set ZENQMS_BASE_URL and ZENQMS_API_TOKEN, or PUT /api/v1/settings/zenqms".into(),
        )
    } else if i.rate_limited {
        (
            Reason::RateLimited,
            "ZenQMS answered 429: every worker waits for its Retry-After (zenqms.rate_limited_until)".into(),
        )
    } else if i.connectivity == Connectivity::Unauthorized {
        (
            Reason::Unauthorized,
            "ZenQMS refuses the API token (401/403): jobs wait until the connection is fixed"
                .into(),
        )
    } else if i.connectivity == Connectivity::Unreachable {
        (
            Reason::ZenqmsUnreachable,
            "ZenQMS calls fail (network, timeout or 5xx; see last_error): jobs are retried with backoff".into(),
        )
    } else {
        match i.recent_call.filter(|d| !d.is_zero()) {
            // Each worker makes one call at a time: `workers / call time` calls a second at
            // most. Below the budget, ZenQMS's latency is the bound.
            Some(call) if (i.workers as f64 / call.as_secs_f64()) < i.max_rps => {
                let ms = call.as_millis();
                let rate = i.workers as f64 / call.as_secs_f64();
                (
                    Reason::ZenqmsSlow,
                    format!(
                        "ZenQMS answers slowly ({ms} ms a call on average): {} workers make at most {rate:.2} calls/s, below the budget of {} (SYNC_WORKERS raises it); nothing is lost, jobs wait their turn",
                        i.workers, i.max_rps
                    ),
                )
            }
            _ => (
                Reason::Budget,
                format!(
                    "draining at the ZenQMS budget of {} calls/s (ZENQMS_MAX_RPS)",
                    i.max_rps
                ),
            ),
        }
    };
    Backlog { reason, detail }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> Inputs {
        Inputs {
            depth: 10,
            paused: false,
            configured: true,
            connectivity: Connectivity::Ok,
            rate_limited: false,
            recent_call: Some(Duration::from_millis(50)),
            workers: 4,
            max_rps: 10.0,
        }
    }

    #[test]
    fn names_the_bound() {
        assert_eq!(explain(&inputs()).reason, Reason::Budget);
        let slow = Inputs {
            recent_call: Some(Duration::from_secs(10)),
            ..inputs()
        };
        let b = explain(&slow);
        assert_eq!(b.reason, Reason::ZenqmsSlow);
        assert!(b.detail.contains("10000 ms"), "{}", b.detail);
        assert_eq!(
            explain(&Inputs {
                depth: 0,
                ..slow.clone()
            })
            .reason,
            Reason::Empty
        );
        assert_eq!(
            explain(&Inputs {
                paused: true,
                ..slow.clone()
            })
            .reason,
            Reason::Paused
        );
        assert_eq!(
            explain(&Inputs {
                connectivity: Connectivity::Unreachable,
                ..inputs()
            })
            .reason,
            Reason::ZenqmsUnreachable
        );
        assert_eq!(
            explain(&Inputs {
                rate_limited: true,
                ..inputs()
            })
            .reason,
            Reason::RateLimited
        );
    }
}
