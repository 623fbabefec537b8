//! One worker: claims a due job with a lease, reconciles the user, and records the verdict in
//! the transaction that finishes the job — so a job disappears only together with the state
//! it led to, and a crash at any point leaves the job (its lease expires, another worker takes
//! it; the reconcile is idempotent). `server.rs` runs `SYNC_WORKERS` of them per process; they
//! wake at once through `outbox::Wakeup`, and `housekeeping.rs` wakes them for jobs enqueued
//! by other processes or whose backoff ran out.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::backoff;
use super::directory_view;
use super::engine::{Connected, Engine};
use super::error::SyncError;
use super::queue::{self, Claimed, Completion};
use super::reconcile::{self, Outcome, Run};
use super::state::{self, Record, SyncState};
use super::throttle::{DbLinks, Patience, Throttled};
use crate::store::{self, StoreError};
use crate::zenqms::ZenqmsError;

/// The lease owner names of this process's workers: `<process>/<n>`.
pub fn owners(engine: &Engine) -> Vec<String> {
    (0..engine.inner.config.sync_workers)
        .map(|n| format!("{}/{n}", engine.inner.process))
        .collect()
}

/// Runs one worker, holding leases as `owner`, until `stop` changes. With nothing to do it
/// waits for a wake-up, or `idle_poll` (`Polling::idle_worker`: belt and braces).
pub async fn run(
    engine: Engine,
    owner: String,
    idle_poll: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        let conn = engine.connected().filter(|_| !engine.is_paused());
        let job = match &conn {
            None => None,
            Some(_) => {
                let (o, lease) = (owner.clone(), engine.inner.config.sync_lease);
                match store::run(&engine.inner.pool, move |c| queue::claim(c, &o, lease)).await {
                    Ok(job) => job,
                    Err::<_, StoreError>(e) => {
                        tracing::warn!(error = %e, "cannot claim a sync job");
                        None
                    }
                }
            }
        };
        match (job, conn) {
            (Some(job), Some(conn)) => run_job(&engine, &owner, job, conn).await,
            _ => {
                tokio::select! {
                    _ = engine.inner.wakeup.notified() => {}
                    _ = tokio::time::sleep(idle_poll) => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }
}

/// Gives back the leases these owners still hold (workers a stopping process had to abandon),
/// so that no job waits for a lease to expire.
pub async fn release_leases(engine: &Engine, owners: Vec<String>) {
    match store::run(&engine.inner.pool, move |c| queue::release_all(c, &owners)).await {
        Ok(n) if n > 0 => {
            tracing::info!(jobs = n, "released the leases of interrupted sync runs")
        }
        Ok(_) => {}
        Err::<_, StoreError>(e) => {
            tracing::warn!(error = %e, "cannot release sync leases; they will expire")
        }
    }
}

/// Runs one claimed job while renewing its lease.
async fn run_job(engine: &Engine, owner: &str, job: Claimed, conn: Arc<Connected>) {
    let lease = engine.inner.config.sync_lease;
    let heartbeat = async {
        loop {
            tokio::time::sleep(lease / 3).await;
            let (u, o) = (job.user_id.clone(), owner.to_string());
            match store::run(&engine.inner.pool, move |c| queue::renew(c, &u, &o, lease)).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(user_id = %job.user_id, "lease lost during a run; its result will be dropped");
                    std::future::pending::<()>().await;
                }
                Err::<_, StoreError>(e) => {
                    tracing::warn!(error = %e, "cannot renew a sync lease")
                }
            }
        }
    };
    let result = tokio::select! {
        r = reconcile_job(engine, owner, &job, &conn) => r,
        _ = heartbeat => Ok(()),
    };
    if let Err(e) = result {
        // The database failed us (the ZenQMS outcome is handled inside): back off like
        // any retryable error; if even that fails, the lease expires by itself.
        tracing::warn!(user_id = %job.user_id, error = %e, "sync run failed before its verdict was recorded");
        let (j, o) = (job.clone(), owner.to_string());
        let attempts = job.attempts.saturating_add(1);
        let at = store::now()
            + to_chrono(backoff::delay(
                attempts as u32,
                engine.inner.config.sync_backoff_cap,
            ));
        let message = e.to_string();
        let _ = store::run(&engine.inner.pool, move |c| {
            queue::retry_later(c, &j, &o, at, attempts, &message)
        })
        .await;
    }
}

async fn reconcile_job(
    engine: &Engine,
    owner: &str,
    job: &Claimed,
    conn: &Connected,
) -> Result<(), SyncError> {
    let uid = job.user_id.clone();
    let roles = engine.inner.roles.clone();
    let (user, link, plan, held) = store::run(&engine.inner.pool, move |c| {
        Ok::<_, StoreError>((
            directory_view::load(c, &uid)?,
            state::load_link(c, &uid)?,
            roles.plan_for(c, &uid)?,
            crate::outbox::is_held(c, &uid)?,
        ))
    })
    .await?;
    let user = user.filter(|_| !held);
    let Some(user) = user else {
        // The directory row is gone entirely (not a SCIM delete, which keeps it), or a
        // Standard initial sync holds the user (`outbox::hold_users`): nothing to do until
        // the identity provider changes it, which releases the hold and enqueues it again.
        let (j, o) = (job.clone(), owner.to_string());
        store::run(&engine.inner.pool, move |c| queue::complete(c, &j, &o)).await?;
        return Ok(());
    };
    let api = Throttled {
        engine: &engine.inner,
        client: &conn.client,
        patience: Patience::WaitOut,
    };
    let links = DbLinks {
        pool: &engine.inner.pool,
    };
    let run = reconcile::reconcile(
        &api,
        &links,
        &user,
        link,
        engine.inner.config.default_title.as_deref(),
        plan,
    )
    .await;
    persist_until_recorded(engine, owner, job, run).await
}

/// Records a run's verdict, waiting out a database that is away (restarting, failing over, its
/// disk full) instead of giving up: the run may have created the ZenQMS user, and only its
/// record holds the link — a run that gave up here would leave the job to a later run that
/// creates the user again (`409`, then linked: one ZenQMS call too many). The wait ends with
/// the process (the run is then abandoned; the job stays) or when the record is written.
async fn persist_until_recorded(
    engine: &Engine,
    owner: &str,
    job: &Claimed,
    run: Run,
) -> Result<(), SyncError> {
    let mut wait = Duration::from_millis(100);
    loop {
        match persist(engine, owner, job, &run).await {
            Err(SyncError::Store(e)) if e.is_unavailable() || e.is_contention() => {
                tracing::warn!(user_id = %job.user_id, error = %e, "cannot record a sync run's verdict yet; will try again");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(2));
            }
            other => return other,
        }
    }
}

/// Records a run's verdict and finishes (or reschedules) its job, in one transaction.
async fn persist(engine: &Engine, owner: &str, job: &Claimed, run: &Run) -> Result<(), SyncError> {
    let cap = engine.inner.config.sync_backoff_cap;
    let now = store::now();
    let (state, reason, retry_at, attempts) = match &run.outcome {
        Outcome::Synced { note } => (SyncState::Synced, note.clone(), None, 0),
        Outcome::Skipped { reason } => (SyncState::Skipped, Some(reason.clone()), None, 0),
        Outcome::Failed { reason } => (SyncState::Failed, Some(reason.clone()), None, 0),
        Outcome::Retry { error } => {
            let (at, attempts) = match error {
                // Not the user's failure: come back when the pause ends.
                SyncError::Paused => (now, job.attempts),
                SyncError::Zenqms(ZenqmsError::RateLimited { retry_after }) => {
                    (now + to_chrono(*retry_after), job.attempts)
                }
                _ => {
                    let a = job.attempts.saturating_add(1);
                    (now + to_chrono(backoff::delay(a as u32, cap)), a)
                }
            };
            (
                SyncState::Pending,
                Some(error.to_string()),
                Some(at),
                attempts,
            )
        }
    };
    let record = Record {
        state,
        reason: reason.clone(),
        attempts,
        next_attempt_at: retry_at,
        link: run.link.clone(),
    };
    let (j, o, took_over) = (job.clone(), owner.to_string(), run.took_over_from.clone());
    let missing_roles = run.missing_roles.clone();
    let roles = engine.inner.roles.clone();
    let done = store::run(&engine.inner.pool, move |c| {
        store::tx::write(c, |c| {
            let kept = match retry_at {
                Some(at) => queue::retry_later(
                    c,
                    &j,
                    &o,
                    at,
                    attempts,
                    record.reason.as_deref().unwrap_or(""),
                )?,
                None => queue::complete(c, &j, &o)? != Completion::LeaseLost,
            };
            if !kept {
                return Ok::<_, StoreError>(false);
            }
            if let Some(from) = &took_over {
                state::hand_over(c, from, &j.user_id)?;
            }
            roles.mark_missing(c, &missing_roles)?;
            state::save(c, &j.user_id, &record)?;
            Ok(true)
        })
    })
    .await?;
    let outcome = state.as_str();
    if !done {
        tracing::warn!(user_id = %job.user_id, outcome, "lease lost: this run's verdict was not recorded");
    } else if state == SyncState::Pending {
        tracing::info!(user_id = %job.user_id, calls = run.calls, reason = reason.as_deref().unwrap_or(""), "sync will retry");
    } else {
        tracing::info!(user_id = %job.user_id, calls = run.calls, outcome, reason = reason.as_deref().unwrap_or(""), "user reconciled");
    }
    Ok(())
}

fn to_chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::seconds(600))
}
