//! The processor: a background task per process (`server.rs` spawns it) that claims pending
//! events under a lease (`inbox::claim`), follows each one's user or group from the Okta API
//! as it is **now** (`okta::follow`) and writes what became of the events.
//!
//! - Events are grouped by what they concern: a user (lifecycle, profile and membership
//!   events: `follow_user` re-reads the user and its groups, so a membership event also sets
//!   the memberships) or a group (`group.lifecycle.*`, `group.profile.update`:
//!   `follow_group`). Each user or group of a batch is followed once, in the order of its
//!   oldest event's `published`; several at once ([`CONCURRENCY`]).
//! - Acting on the current state makes order irrelevant: a profile update delivered before
//!   the create, a late deactivation, a duplicate — each re-read converges to what Okta holds.
//! - Applied (the directory holds what Okta holds — written, disabled or deleted), ignored
//!   (outside the scope, or no usable target), failed (the directory refused it, or a
//!   permanent error, kept in `error`), or retried with backoff (Okta or the database
//!   unreachable, busy, rate-limited, the connection not authorized yet): never dropped.
//! - Woken by each delivery this process stores, and every [`POLL`] (deliveries another
//!   process stored, retries coming due, expired leases of a process that died).
//! - Housekeeping: at its start and every [`PRUNE_EVERY`], the task deletes the deliveries and
//!   events processed longer ago than `OKTA_EVENTS_RETAIN_DAYS` (`OktaHooks::prune`).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Duration as ChronoDuration;
use futures_util::StreamExt;
use tokio::sync::watch;

use super::inbox::{self, Claimed, Outcome};
use super::{HooksError, OktaHooks};
use crate::directory::DirectoryError;
use crate::okta::follow::{FollowError, Followed, Follower};
use crate::okta::OktaError;
use crate::store::tx;

/// How often the processor looks for due events without being woken.
pub const POLL: Duration = Duration::from_secs(2);
/// How often processed deliveries and events past the retention are deleted.
pub const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// How long a claim holds its events (a batch that takes longer is taken over).
pub const LEASE: Duration = Duration::from_secs(120);
/// Events claimed at once.
const BATCH: i64 = 200;
/// Users or groups followed at once (each is a few Okta calls and directory writes).
pub const CONCURRENCY: usize = 8;
/// The audit trail's name for these writes.
const ACTOR: &str = "event-hook";

/// What an event concerns.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Subject {
    Group(String),
    User(String),
}

fn subject(e: &Claimed) -> Option<Subject> {
    match e.event_type.as_str() {
        "group.lifecycle.create" | "group.lifecycle.delete" | "group.profile.update" => {
            e.group_id.clone().map(Subject::Group)
        }
        _ => e.user_id.clone().map(Subject::User),
    }
}

/// Runs until `stop` changes, then gives back the leases it holds.
pub async fn run(
    hooks: OktaHooks,
    follower: Follower,
    owner: String,
    mut stop: watch::Receiver<bool>,
) {
    let mut prune_at = tokio::time::Instant::now();
    loop {
        if *stop.borrow() {
            break;
        }
        if tokio::time::Instant::now() >= prune_at {
            prune_at = tokio::time::Instant::now() + PRUNE_EVERY;
            tokio::select! {
                r = hooks.prune() => match r {
                    Ok(p) if p.events + p.deliveries > 0 => tracing::info!(
                        events = p.events,
                        deliveries = p.deliveries,
                        "deleted Okta event-hook deliveries and events past their retention"
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot delete old Okta event-hook deliveries; trying again within the hour"),
                },
                _ = stop.changed() => break,
            }
        }
        let worked = tokio::select! {
            r = process_once(&hooks, &follower, &owner) => r,
            _ = stop.changed() => break,
        };
        match worked {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot process Okta events; trying again"),
        }
        tokio::select! {
            _ = hooks.wake.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.changed() => break,
        }
    }
    let o = owner.clone();
    match crate::store::run(&hooks.pool, move |c| inbox::release(c, &o)).await {
        Ok(n) if n > 0 => {
            tracing::info!(events = n, "released the leases of unprocessed Okta events")
        }
        Ok(_) => {}
        Err::<_, crate::store::StoreError>(e) => {
            tracing::warn!(error = %e, "cannot release Okta event leases; they will expire")
        }
    }
}

/// Claims one batch and processes it; returns how many events it claimed.
pub async fn process_once(
    hooks: &OktaHooks,
    follower: &Follower,
    owner: &str,
) -> Result<usize, HooksError> {
    let o = owner.to_string();
    let claimed: Vec<Claimed> = crate::store::run(&hooks.pool, move |c| {
        tx::write(c, |c| {
            Ok::<_, HooksError>(inbox::claim(c, &o, LEASE, BATCH)?)
        })
    })
    .await?;
    let n = claimed.len();
    if n == 0 {
        return Ok(0);
    }
    // Each subject with its events, in the order of its oldest event (the claim's order).
    let mut order: Vec<Subject> = Vec::new();
    let mut events: BTreeMap<Subject, Vec<Claimed>> = BTreeMap::new();
    let mut untargeted = Vec::new();
    for e in claimed {
        match subject(&e) {
            Some(s) => {
                if !events.contains_key(&s) {
                    order.push(s.clone());
                }
                events.entry(s).or_default().push(e);
            }
            None => untargeted.push(e.uuid),
        }
    }
    if !untargeted.is_empty() {
        let outcome = Outcome::Done {
            state: "ignored",
            error: Some("the event names no Okta user or group to follow".into()),
        };
        finish(hooks, owner, untargeted, outcome).await?;
    }
    let work = order.into_iter().map(|s| {
        let list = events.remove(&s).unwrap_or_default();
        async move {
            let followed = match &s {
                Subject::User(id) => follower.follow_user(id, ACTOR).await,
                Subject::Group(id) => follower.follow_group(id, ACTOR).await,
            };
            let attempts = list.iter().map(|e| e.attempts).max().unwrap_or(0);
            let outcome = outcome_of(&s, followed, attempts);
            let uuids = list.into_iter().map(|e| e.uuid).collect();
            finish(hooks, owner, uuids, outcome).await
        }
    });
    let results: Vec<Result<(), HooksError>> = futures_util::stream::iter(work)
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect::<Result<Vec<()>, _>>()?;
    Ok(n)
}

async fn finish(
    hooks: &OktaHooks,
    owner: &str,
    uuids: Vec<String>,
    outcome: Outcome,
) -> Result<(), HooksError> {
    let label = match &outcome {
        Outcome::Done { state, .. } => *state,
        Outcome::Retry { .. } => "retried",
    };
    let o = owner.to_string();
    let written = crate::store::run(&hooks.pool, move |c| {
        tx::write(c, |c| {
            Ok::<_, HooksError>(inbox::finish(c, &o, &uuids, &outcome)?)
        })
    })
    .await?;
    hooks.metrics.record_hook_events(label, written as u64);
    Ok(())
}

/// What following did, as the events' outcome.
fn outcome_of(s: &Subject, followed: Result<Followed, FollowError>, attempts: i32) -> Outcome {
    match followed {
        Ok(Followed::Ignored(why)) => Outcome::Done {
            state: "ignored",
            error: Some(why),
        },
        Ok(Followed::Refused(why)) => {
            tracing::warn!(subject = ?s, why, "an Okta event could not be applied");
            Outcome::Done {
                state: "failed",
                error: Some(why),
            }
        }
        Ok(_) => Outcome::Done {
            state: "applied",
            error: None,
        },
        Err(e) if worth_retrying(&e) || (lost_race(&e) && attempts < RACE_RETRIES) => {
            tracing::info!(subject = ?s, error = %e, attempts, "Okta event to be retried");
            Outcome::Retry {
                error: e.to_string(),
                due_at: crate::store::now() + backoff(attempts),
            }
        }
        Err(e) => {
            tracing::error!(subject = ?s, error = %e, "an Okta event failed for good");
            Outcome::Done {
                state: "failed",
                error: Some(e.to_string()),
            }
        }
    }
}

/// Transient errors, and a connection not (yet, or no longer) authorized: the events wait
/// for it rather than fail — an admin's re-authorization lets them through.
fn worth_retrying(e: &FollowError) -> bool {
    e.is_transient()
        || matches!(
            e,
            FollowError::Okta(
                OktaError::NotConfigured
                    | OktaError::NeedsAuthorization
                    | OktaError::ReauthorizationNeeded(_)
            )
        )
}

/// How often an event whose write lost a race is tried again before it counts as failed.
const RACE_RETRIES: i32 = 5;

/// Two processes following the same user at once (its events claimed by each from different
/// deliveries): the loser's create or update meets the winner's row. Following again reads
/// what the winner wrote and converges.
fn lost_race(e: &FollowError) -> bool {
    match e {
        // Also a group followed at the same moment as one of its members (each is followed
        // once per batch, several at once): a member or group the other write just changed.
        FollowError::Directory(
            DirectoryError::Conflict(_)
            | DirectoryError::VersionMismatch { .. }
            | DirectoryError::NotFound { .. }
            | DirectoryError::UnknownMembers(_),
        ) => true,
        FollowError::Directory(DirectoryError::Store(s)) => s.is_unique_violation(),
        _ => false,
    }
}

/// 1 s, 2 s, 4 s … at most 10 minutes, with up to 25 % jitter (several processes' retries
/// spread out).
fn backoff(attempts: i32) -> ChronoDuration {
    use rand::Rng;
    let secs = 1i64 << attempts.clamp(0, 10);
    let secs = secs.min(600);
    let jitter = rand::rng().random_range(0..=secs * 250);
    ChronoDuration::seconds(secs) + ChronoDuration::milliseconds(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_bounded() {
        assert!(backoff(0) >= ChronoDuration::seconds(1));
        assert!(backoff(0) <= ChronoDuration::milliseconds(1250));
        assert!(backoff(3) >= ChronoDuration::seconds(8));
        assert!(backoff(50) <= ChronoDuration::seconds(750));
        assert!(backoff(-4) >= ChronoDuration::seconds(1));
    }
}
