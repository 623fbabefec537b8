//! Okta event hooks, the service: the hook's record (Okta's id, URI, status, the secret's
//! SHA-256), the check of the secret Okta presents, deliveries received (`receive`: parsed,
//! stored in one transaction, the processor woken), the processor that follows each event's
//! user or group from the Okta API (`process.rs`), and the figures of what was received and
//! processed. The admin routes set and read the record; the receiver (`okta_events.rs`,
//! `POST|GET /okta/events`) checks the secret and hands deliveries over. `docs/event-hooks.md`.

pub mod delivery;
pub mod inbox;
pub mod process;
pub mod registration;
pub mod secret;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;
use serde::Serialize;
use tokio::sync::Notify;

use crate::telemetry::Metrics;

use crate::store::tx::{self, Contention};
use crate::store::{Pool, StoreError};

pub use store::Stats;

/// The event types the bridge subscribes to and follows (`docs/okta-api.md`); any other type
/// a delivery carries is stored as ignored.
pub const EVENT_TYPES: [&str; 12] = [
    "user.lifecycle.create",
    "user.lifecycle.activate",
    "user.lifecycle.deactivate",
    "user.lifecycle.reactivate",
    "user.lifecycle.suspend",
    "user.lifecycle.unsuspend",
    "user.account.update_profile",
    "group.user_membership.add",
    "group.user_membership.remove",
    "group.lifecycle.create",
    "group.lifecycle.delete",
    "group.profile.update",
];

#[derive(Debug, thiserror::Error)]
pub enum HooksError {
    #[error("{0}")]
    Invalid(String),
    /// A delivery that cannot be read (`400`; Okta does not send it again).
    #[error(transparent)]
    Malformed(delivery::ParseError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Contention for HooksError {
    fn is_contention(&self) -> bool {
        matches!(self, HooksError::Store(s) if s.is_contention())
    }
}

/// The hook as recorded (never the secret, nor its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hook {
    pub okta_hook_id: String,
    pub uri: String,
    pub status: String,
    pub verification_status: String,
    pub events: Vec<String>,
    pub problem: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl From<store::Row> for Hook {
    fn from(r: store::Row) -> Hook {
        Hook {
            events: serde_json::from_str(&r.events).unwrap_or_default(),
            okta_hook_id: r.okta_hook_id,
            uri: r.uri,
            status: r.status,
            verification_status: r.verification_status,
            problem: r.problem,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// What [`OktaHooks::set_hook`] records. `secret`: the plaintext secret just given to Okta
/// (stored as its SHA-256), or `None` to keep the stored one (a status change); a first
/// record needs one.
#[derive(Clone)]
pub struct HookRecord {
    pub okta_hook_id: String,
    pub uri: String,
    pub status: String,
    pub verification_status: String,
    pub events: Vec<String>,
    pub problem: Option<String>,
    pub secret: Option<String>,
}

// The secret stays out of logs, also through `{:?}`.
impl std::fmt::Debug for HookRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookRecord")
            .field("okta_hook_id", &self.okta_hook_id)
            .field("uri", &self.uri)
            .field("status", &self.status)
            .field("verification_status", &self.verification_status)
            .field("events", &self.events)
            .field("problem", &self.problem)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// The event-hook service, built once by `server.rs` and registered as app data.
#[derive(Clone)]
pub struct OktaHooks {
    pool: Pool,
    metrics: Metrics,
    /// Wakes this process's processor after a delivery committed.
    wake: Arc<Notify>,
    /// How long processed deliveries and events are kept (`OKTA_EVENTS_RETAIN_DAYS`).
    retain: Duration,
}

impl OktaHooks {
    pub fn new(pool: Pool, metrics: Metrics, retain: Duration) -> OktaHooks {
        OktaHooks {
            pool,
            metrics,
            wake: Arc::new(Notify::new()),
            retain,
        }
    }

    /// Deletes the events done and the deliveries processed longer ago than the retention
    /// (`inbox`'s module comment says why that keeps duplicates recognised), a batch per
    /// transaction; what it deleted.
    pub async fn prune(&self) -> Result<inbox::Pruned, HooksError> {
        let span = chrono::TimeDelta::from_std(self.retain).unwrap_or(chrono::TimeDelta::days(30));
        let before = crate::store::now() - span;
        let mut pruned = inbox::Pruned::default();
        loop {
            let n = crate::store::run(&self.pool, move |c| {
                tx::write(c, |c| Ok::<_, HooksError>(inbox::prune_events(c, before)?))
            })
            .await?;
            pruned.events += n;
            if n == 0 {
                break;
            }
        }
        let mut after: Option<inbox::PruneCursor> = None;
        loop {
            let from = after.clone();
            let (n, last) = crate::store::run(&self.pool, move |c| {
                tx::write(c, |c| {
                    Ok::<_, HooksError>(inbox::prune_deliveries(c, before, from.as_ref())?)
                })
            })
            .await?;
            pruned.deliveries += n;
            match last {
                Some(cursor) => after = Some(cursor),
                None => break,
            }
        }
        Ok(pruned)
    }

    /// Reads a delivery's body and stores it with its events not seen before, in one
    /// transaction (parsed off the async threads: a body may be megabytes); wakes the
    /// processor. Nothing calls Okta here.
    pub async fn receive(&self, body: Vec<u8>) -> Result<inbox::Stored, HooksError> {
        let stored = crate::store::run(&self.pool, move |conn| {
            let parsed = delivery::parse(&body).map_err(HooksError::Malformed)?;
            // `parse` read it as JSON, so it is UTF-8.
            let text = String::from_utf8_lossy(&body);
            // Okta waits for the answer: this short transaction goes before the
            // processor's and the sync workers' writes waiting for SQLite's write lock.
            tx::write_urgent(conn, |c| {
                Ok::<_, HooksError>(inbox::store(c, &text, &parsed)?)
            })
        })
        .await?;
        self.metrics
            .record_hook_events("duplicate", stored.duplicates as u64);
        self.metrics
            .record_hook_events("ignored", stored.ignored as u64);
        if stored.pending > 0 {
            self.wake.notify_one();
        }
        Ok(stored)
    }

    /// Records the hook (creates or replaces the one row).
    pub async fn set_hook(&self, record: HookRecord) -> Result<Hook, HooksError> {
        if record.secret.as_deref().is_some_and(str::is_empty) {
            return Err(HooksError::Invalid("the hook's secret is empty".into()));
        }
        let events = serde_json::to_string(&record.events)
            .map_err(|e| HooksError::Invalid(e.to_string()))?;
        let hashed = record.secret.as_deref().map(secret::hash);
        crate::store::run(&self.pool, move |conn| {
            tx::write(conn, |c| {
                let saved = store::save(
                    c,
                    &store::Write {
                        okta_hook_id: &record.okta_hook_id,
                        uri: &record.uri,
                        status: &record.status,
                        verification_status: &record.verification_status,
                        secret_sha256: hashed.as_deref(),
                        events: &events,
                        problem: record.problem.as_deref(),
                    },
                )?;
                if !saved {
                    return Err(HooksError::Invalid(
                        "no hook is recorded yet: the first record needs its secret".into(),
                    ));
                }
                store::load(c)?.map(Hook::from).ok_or_else(|| {
                    HooksError::Store(StoreError::Corrupt("hook row vanished".into()))
                })
            })
        })
        .await
    }

    /// The hook recorded, if any.
    pub async fn hook(&self) -> Result<Option<Hook>, HooksError> {
        crate::store::run(&self.pool, |conn| Ok(store::load(conn)?.map(Hook::from))).await
    }

    /// Forgets the hook (its secret no longer opens `/okta/events`); `true` when there was one.
    /// Deliveries and events already received stay, and are still processed.
    pub async fn forget_hook(&self) -> Result<bool, HooksError> {
        crate::store::run(&self.pool, |conn| {
            tx::write(conn, |c| Ok(store::delete(c)?))
        })
        .await
    }

    /// Whether `presented` (the `Authorization` header's value as sent) is the hook's secret.
    /// `false` when no hook is recorded.
    pub async fn secret_matches(&self, presented: &str) -> Result<bool, HooksError> {
        let presented = presented.to_string();
        crate::store::run(&self.pool, move |conn| {
            Ok(
                store::secret_hash(conn)?
                    .is_some_and(|stored| secret::matches(&presented, &stored)),
            )
        })
        .await
    }

    /// Deliveries received and events processed, of those kept (`OKTA_EVENTS_RETAIN_DAYS`).
    pub async fn stats(&self) -> Result<Stats, HooksError> {
        crate::store::run(&self.pool, |conn| Ok(store::stats(conn)?)).await
    }
}
