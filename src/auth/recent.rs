//! Tokens that passed a check in this process a moment ago.
//!
//! A SCIM write checks its token twice when nothing else is known: once on a connection of its
//! own before its body is read, and again on the connection of its write. Under load (Okta
//! pushing a burst of creates with one token) the first check is a database round trip and
//! two thread hand-offs on every request, for an answer the process had a moment ago. For a
//! token that passed a check here within [`FRESH_FOR`], the check before the body is left out
//! and the one on the write's connection decides alone — so a token revoked meanwhile still
//! changes nothing and gets its `401` (the write's check sees the revocation); the only
//! difference is that such a body, at most `SCIM_MAX_BODY_BYTES`, is read first. A token this
//! process has not seen pass recently is still checked before any byte of its body is read.
//!
//! Only SHA-256 digests are kept, never tokens. A revocation in this process forgets every
//! entry at once; one made by another instance is seen by the write's own check.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::Scope;

/// How long a passed check vouches for its token's next bodies.
pub const FRESH_FOR: Duration = Duration::from_secs(2);

/// Past this many entries, expired ones are dropped (and all of them if none had expired):
/// only tokens that passed are kept, so the bound is never reached in practice.
const MAX_ENTRIES: usize = 1024;

/// Digest of a token and the scope it passed for → when it passed.
#[derive(Default)]
pub struct RecentChecks {
    passed: Mutex<HashMap<([u8; 32], Scope), Instant>>,
}

impl RecentChecks {
    /// Remembers that `token` passed a check for `scope` just now.
    pub fn passed(&self, token: &str, scope: Scope) {
        let now = Instant::now();
        let Ok(mut passed) = self.passed.lock() else {
            return;
        };
        if passed.len() >= MAX_ENTRIES {
            passed.retain(|_, at| now.duration_since(*at) < FRESH_FOR);
            if passed.len() >= MAX_ENTRIES {
                passed.clear();
            }
        }
        passed.insert((digest(token), scope), now);
    }

    /// Whether `token` passed a check for `scope` within [`FRESH_FOR`].
    pub fn vouches_for(&self, token: &str, scope: Scope) -> bool {
        let Ok(passed) = self.passed.lock() else {
            return false;
        };
        passed
            .get(&(digest(token), scope))
            .is_some_and(|at| at.elapsed() < FRESH_FOR)
    }

    /// Forgets every token (a token was revoked in this process).
    pub fn forget_all(&self) {
        if let Ok(mut passed) = self.passed.lock() {
            passed.clear();
        }
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vouches_only_for_what_passed_and_forgets_on_revocation() {
        let recent = RecentChecks::default();
        assert!(!recent.vouches_for("zqb_a", Scope::Scim));
        recent.passed("zqb_a", Scope::Scim);
        assert!(recent.vouches_for("zqb_a", Scope::Scim));
        assert!(!recent.vouches_for("zqb_a", Scope::Admin));
        assert!(!recent.vouches_for("zqb_b", Scope::Scim));
        recent.forget_all();
        assert!(!recent.vouches_for("zqb_a", Scope::Scim));
    }

    #[test]
    fn stays_bounded() {
        let recent = RecentChecks::default();
        for i in 0..(MAX_ENTRIES * 3) {
            recent.passed(&format!("zqb_{i}"), Scope::Scim);
        }
        let len = recent.passed.lock().map(|p| p.len()).unwrap_or(usize::MAX);
        assert!(len <= MAX_ENTRIES, "{len} entries");
    }
}
