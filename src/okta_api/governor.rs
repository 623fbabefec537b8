//! The `X-Rate-Limit-*` governor. Okta counts requests per endpoint family in windows of
//! about a minute and says, on every answer, the bucket's `Limit`, what `Remaining` and when
//! it `Reset`s (epoch seconds). A well-behaved client slows down as `Remaining` nears zero
//! instead of running into `429`s, and after a `429` (E0000047) waits until `Reset`
//! (`docs/okta-api.md`). One governor is shared by every call of a process to one org.
//!
//! The policy, per family: with more than a fifth of the bucket left, calls go at once; below
//! that, each call waits `(reset − now) / (remaining + 1)`, which spreads what is left over
//! what is left of the window; with nothing left, calls wait until the reset. A call takes
//! its unit from `remaining` before it goes, so concurrent callers do not all see the same
//! last unit; every answer's headers then replace the estimate.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::HeaderMap;

/// The three headers of one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub limit: u32,
    pub remaining: u32,
    /// Epoch seconds.
    pub reset: i64,
}

impl RateLimit {
    pub fn from_headers(headers: &HeaderMap) -> Option<RateLimit> {
        let num = |name: &str| -> Option<i64> {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<i64>().ok())
        };
        Some(RateLimit {
            limit: u32::try_from(num("x-rate-limit-limit")?).ok()?,
            remaining: u32::try_from(num("x-rate-limit-remaining")?.max(0)).ok()?,
            reset: num("x-rate-limit-reset")?,
        })
    }
}

/// Okta's endpoint families, as its rate-limit buckets group them.
pub fn family_of(path: &str) -> &'static str {
    let under = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
    if under("/api/v1/users") {
        "users"
    } else if under("/api/v1/groups") {
        "groups"
    } else if under("/api/v1/eventHooks") {
        "event_hooks"
    } else if path == "/oauth2/v1/token" {
        "token"
    } else if under("/oauth2/v1") {
        "oauth"
    } else {
        "other"
    }
}

/// Below this share of the bucket, calls are spaced out.
const RESERVE_SHARE: u32 = 5;

#[derive(Debug, Default)]
pub struct Governor {
    buckets: Mutex<HashMap<&'static str, RateLimit>>,
}

impl Governor {
    pub fn new() -> Governor {
        Governor::default()
    }

    /// How long a call of `family` should wait before it goes, at `now_ms` (epoch
    /// milliseconds); takes the call's unit from the estimate.
    pub fn delay(&self, family: &'static str, now_ms: i64) -> Duration {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let Some(b) = buckets.get_mut(family) else {
            return Duration::ZERO;
        };
        let reset_ms = b.reset.saturating_mul(1000);
        if now_ms >= reset_ms {
            // The window has turned over: the next answer will say how full the new one is.
            buckets.remove(family);
            return Duration::ZERO;
        }
        let left_ms = (reset_ms - now_ms) as u64;
        let wait = if b.remaining == 0 {
            // Wait for the new window (whose size the first answer in it will tell).
            Duration::from_millis(left_ms)
        } else if b.remaining.saturating_mul(RESERVE_SHARE) <= b.limit {
            Duration::from_millis(left_ms / (u64::from(b.remaining) + 1))
        } else {
            Duration::ZERO
        };
        b.remaining = b.remaining.saturating_sub(1);
        wait
    }

    /// What an answer's headers said. Within one window (same `Reset`) the lower of the
    /// estimate and the answer wins: answers of concurrent calls come back in any order, and
    /// one that left early says more is left than the calls sent since have left — taking
    /// it would hand out units already spent, and the last of them would meet a `429`.
    pub fn observe(&self, family: &'static str, seen: RateLimit) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let merged = match buckets.get(family) {
            Some(known) if known.reset == seen.reset && known.limit == seen.limit => RateLimit {
                remaining: known.remaining.min(seen.remaining),
                ..seen
            },
            _ => seen,
        };
        buckets.insert(family, merged);
    }

    /// A `429`: nothing is left until `reset`.
    pub fn exhausted(&self, family: &'static str, reset: i64, limit: u32) {
        self.observe(
            family,
            RateLimit {
                limit,
                remaining: 0,
                reset,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families() {
        assert_eq!(family_of("/api/v1/users"), "users");
        assert_eq!(family_of("/api/v1/users/00u1/groups"), "users");
        assert_eq!(family_of("/api/v1/usersx"), "other");
        assert_eq!(family_of("/api/v1/groups/00g1/users"), "groups");
        assert_eq!(family_of("/oauth2/v1/token"), "token");
        assert_eq!(family_of("/oauth2/v1/keys"), "oauth");
    }

    #[test]
    fn slows_down_near_the_bottom_and_waits_for_the_reset() {
        let g = Governor::new();
        let now = 1_000_000_000;
        assert_eq!(g.delay("users", now), Duration::ZERO, "nothing known yet");
        let reset = 1_000_060; // 60 s after `now`
        g.observe(
            "users",
            RateLimit {
                limit: 100,
                remaining: 50,
                reset,
            },
        );
        assert_eq!(g.delay("users", now), Duration::ZERO, "plenty left");
        g.observe(
            "users",
            RateLimit {
                limit: 100,
                remaining: 9,
                reset,
            },
        );
        // 60 s left, 9 units: each call waits a tenth of what is left.
        assert_eq!(g.delay("users", now), Duration::from_secs(6));
        g.exhausted("users", reset, 100);
        assert_eq!(g.delay("users", now), Duration::from_secs(60));
        // Another family is not slowed by this one.
        assert_eq!(g.delay("groups", now), Duration::ZERO);
        // After the reset, calls go at once.
        assert_eq!(g.delay("users", reset * 1000 + 1), Duration::ZERO);
    }

    #[test]
    fn a_late_answer_of_the_same_window_does_not_give_back_units() {
        let g = Governor::new();
        let (limit, reset) = (600, 1_000_060);
        let at = |remaining| RateLimit {
            limit,
            remaining,
            reset,
        };
        g.observe("users", at(100));
        g.observe("users", at(103)); // an answer to a call that left earlier
        assert_eq!(g.buckets.lock().unwrap()["users"].remaining, 100);
        g.observe(
            "users",
            RateLimit {
                remaining: 599,
                reset: reset + 60,
                limit,
            },
        );
        assert_eq!(
            g.buckets.lock().unwrap()["users"].remaining,
            599,
            "a new window replaces the old"
        );
    }

    #[test]
    fn headers_are_read_in_any_case() {
        let mut h = HeaderMap::new();
        h.insert("X-Rate-Limit-Limit", "600".parse().unwrap());
        h.insert("x-rate-limit-remaining", "599".parse().unwrap());
        h.insert("X-RATE-LIMIT-RESET", "1700000000".parse().unwrap());
        assert_eq!(
            RateLimit::from_headers(&h),
            Some(RateLimit {
                limit: 600,
                remaining: 599,
                reset: 1_700_000_000
            })
        );
        assert_eq!(RateLimit::from_headers(&HeaderMap::new()), None);
    }
}
