//! Okta's rate limits: one bucket per endpoint family, each with a limit per window.
//! A window opens with the first request after the previous one closed — so windows are
//! about a minute long and not aligned to the clock — and every answer reports the bucket
//! in `X-Rate-Limit-Limit`, `X-Rate-Limit-Remaining` and `X-Rate-Limit-Reset` (epoch
//! seconds when the window closes, rounded up). Every request counts, refused ones too
//! (as in Okta); over the limit the answer is `429` E0000047.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// The endpoint families with their own bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Family {
    /// `/api/v1/users…`
    Users,
    /// `/api/v1/groups…`
    Groups,
    /// `/api/v1/eventHooks…`
    EventHooks,
    /// `/oauth2/v1/token`
    Token,
    /// `/oauth2/v1/authorize`, `/keys`, `/revoke`
    OAuth,
    /// Any other `/api/v1` path.
    Other,
}

impl Family {
    pub fn of(path: &str) -> Family {
        let seg = |p: &str| path == p || path.starts_with(&format!("{p}/"));
        if seg("/api/v1/users") {
            Family::Users
        } else if seg("/api/v1/groups") {
            Family::Groups
        } else if seg("/api/v1/eventHooks") {
            Family::EventHooks
        } else if path == "/oauth2/v1/token" {
            Family::Token
        } else if path.starts_with("/oauth2/") {
            Family::OAuth
        } else {
            Family::Other
        }
    }
}

/// Limits per family (requests per window; `0` refuses everything) and the window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    pub users: u32,
    pub groups: u32,
    pub event_hooks: u32,
    pub token: u32,
    pub oauth: u32,
    pub other: u32,
    /// Window length in milliseconds (Okta: about a minute). Tests shorten it.
    pub window_ms: u64,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            users: 600,
            groups: 600,
            event_hooks: 600,
            token: 600,
            oauth: 600,
            other: 600,
            window_ms: 60_000,
        }
    }
}

impl RateLimits {
    /// The same limit for every family.
    pub fn uniform(limit: u32) -> Self {
        RateLimits {
            users: limit,
            groups: limit,
            event_hooks: limit,
            token: limit,
            oauth: limit,
            other: limit,
            ..RateLimits::default()
        }
    }

    pub fn limit(&self, f: Family) -> u32 {
        match f {
            Family::Users => self.users,
            Family::Groups => self.groups,
            Family::EventHooks => self.event_hooks,
            Family::Token => self.token,
            Family::OAuth => self.oauth,
            Family::Other => self.other,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        if !(100..=3_600_000).contains(&self.window_ms) {
            return Err("window_ms must be between 100 and 3600000".into());
        }
        Ok(())
    }
}

/// What the three headers say about one answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateHeaders {
    pub limit: u32,
    pub remaining: u32,
    /// Epoch seconds.
    pub reset: i64,
}

#[derive(Debug, Default)]
pub(crate) struct Limiter {
    limits: RateLimits,
    windows: HashMap<Family, (DateTime<Utc>, u32)>,
}

impl Limiter {
    pub fn new(limits: RateLimits) -> Self {
        Limiter {
            limits,
            windows: HashMap::new(),
        }
    }

    pub fn limits(&self) -> &RateLimits {
        &self.limits
    }

    /// New limits; every window starts over.
    pub fn set(&mut self, limits: RateLimits) {
        self.limits = limits;
        self.windows.clear();
    }

    /// Counts a request; `Ok` when it is within the limit. Either way, the headers.
    pub fn admit(&mut self, f: Family, now: DateTime<Utc>) -> Result<RateHeaders, RateHeaders> {
        let limit = self.limits.limit(f);
        let window = TimeDelta::milliseconds(self.limits.window_ms as i64);
        let entry = self.windows.entry(f).or_insert((now, 0));
        if now >= entry.0 + window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        let end = entry.0 + window;
        // Rounded up: waiting until `reset` always finds the new window.
        let reset = end.timestamp() + i64::from(end.timestamp_subsec_millis() > 0);
        let headers = RateHeaders {
            limit,
            remaining: limit.saturating_sub(entry.1),
            reset,
        };
        if entry.1 > limit {
            Err(headers)
        } else {
            Ok(headers)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_windows() {
        assert_eq!(Family::of("/api/v1/users"), Family::Users);
        assert_eq!(Family::of("/api/v1/users/00u1/groups"), Family::Users);
        assert_eq!(Family::of("/api/v1/usersx"), Family::Other);
        assert_eq!(Family::of("/api/v1/groups/00g/users"), Family::Groups);
        assert_eq!(
            Family::of("/api/v1/eventHooks/who1/lifecycle/verify"),
            Family::EventHooks
        );
        assert_eq!(Family::of("/oauth2/v1/token"), Family::Token);
        assert_eq!(Family::of("/oauth2/v1/keys"), Family::OAuth);

        let mut l = Limiter::new(RateLimits {
            users: 2,
            window_ms: 1000,
            ..RateLimits::default()
        });
        let t0 = DateTime::from_timestamp_millis(1_000_000_500).unwrap();
        let a = l.admit(Family::Users, t0).unwrap();
        assert_eq!((a.limit, a.remaining, a.reset), (2, 1, 1_000_002));
        assert_eq!(
            l.admit(Family::Users, t0 + TimeDelta::milliseconds(10))
                .unwrap()
                .remaining,
            0
        );
        let over = l
            .admit(Family::Users, t0 + TimeDelta::milliseconds(20))
            .unwrap_err();
        assert_eq!(over.remaining, 0);
        // Another family has its own bucket.
        assert!(l.admit(Family::Groups, t0).is_ok());
        // The next window opens with the first request after the last one closed.
        let later = t0 + TimeDelta::milliseconds(1700);
        let b = l.admit(Family::Users, later).unwrap();
        assert_eq!((b.remaining, b.reset), (1, 1_000_004));
    }
}
