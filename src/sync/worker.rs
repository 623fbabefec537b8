//! The workers: `SYNC_WORKERS` tasks that claim due jobs with a lease, reconcile the user,
//! and record the verdict in the transaction that finishes the job — so a job disappears
//! only together with the state it led to, and a crash at any point leaves the job (its
//! lease expires, another worker takes it; the reconcile is idempotent).
//!
//! Plus one housekeeping task per process: every half second it re-reads the pause flag and
//! the stored connection and, when a job is due that nobody holds (enqueued by another
//! process, or a backoff that ran out), wakes the workers. Enqueues in this process wake
//! them at once through `Wakeup`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::backoff;
use super::directory_view;
use super::engine::{Connected, Engine};
use super::error::SyncError;
use super::queue::{self, Claimed, Completion};
use super::reconcile::{self, Outcome, Run};
use super::state::{self, Record, SyncState};
use super::throttle::{DbLinks, Throttled};
use crate::store::{self, StoreError};
use crate::zenqms::ZenqmsError;

const HOUSEKEEPING_EVERY: Duration = Duration::from_millis(500);
/// A worker with nothing to do also looks on its own this often (belt and braces).
const IDLE_POLL: Duration = Duration::from_secs(5);
/// How long `stop` lets runs in progress finish before abandoning them (their jobs stay;
/// their leases are released so another process takes them at once).
const STOP_GRACE: Duration = Duration::from_secs(10);

/// The running workers of a process.
pub struct SyncHandle {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    owners: Vec<String>,
    engine: Engine,
}

impl Engine {
    /// Loads the connection, enqueues users nobody looked at yet, and starts the workers.
    pub fn start(&self) -> SyncHandle {
        let (stop, rx) = watch::channel(false);
        let mut tasks = Vec::new();
        let me = self.clone();
        let hk_rx = rx.clone();
        tasks.push(tokio::spawn(async move { me.housekeeping(hk_rx).await }));
        let owners: Vec<String> = (0..self.inner.config.sync_workers)
            .map(|n| format!("{}/{n}", self.inner.process))
            .collect();
        for owner in &owners {
            let me = self.clone();
            let owner = owner.clone();
            let rx = rx.clone();
            tasks.push(tokio::spawn(async move { me.work_loop(owner, rx).await }));
        }
        // The drift sweep: every ZenQMS user read now and then, drift enqueued.
        let me = self.clone();
        let sw_rx = rx.clone();
        tasks.push(tokio::spawn(async move { me.sweep_loop(sw_rx).await }));
        // Role mappings' housekeeping: the periodic role-list refresh and pending bindings.
        let mappings = crate::mappings::Mappings::for_engine(self);
        let mp_rx = rx.clone();
        tasks.push(tokio::spawn(
            async move { mappings.run_periodic(mp_rx).await },
        ));
        SyncHandle {
            stop,
            tasks,
            owners,
            engine: self.clone(),
        }
    }

    async fn housekeeping(&self, mut stop: watch::Receiver<bool>) {
        // The connection first, so the workers and the status know it at once.
        if let Err(e) = self.refresh().await {
            tracing::warn!(error = %e, "cannot read the sync settings");
        }
        if self.connected().is_none() {
            tracing::warn!(
                problem = self.connection_view().problem.unwrap_or_default(),
                "ZenQMS is not connected: SCIM keeps accepting and queueing; nothing is sent"
            );
        }
        match store::run(&self.inner.pool, queue::backfill).await {
            Ok(n) if n > 0 => {
                tracing::info!(users = n, "enqueued directory users that had no sync state")
            }
            Ok(_) => {}
            Err::<_, StoreError>(e) => {
                tracing::warn!(error = %e, "cannot enqueue users without sync state")
            }
        }
        loop {
            if self.runnable() {
                match store::run(&self.inner.pool, queue::any_due).await {
                    Ok(true) => self.inner.wakeup.notify(),
                    Ok(false) => {}
                    Err::<_, StoreError>(e) => {
                        tracing::warn!(error = %e, "cannot look for due sync jobs")
                    }
                }
            }
            self.inner
                .housekeeping_rounds
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tokio::select! {
                _ = tokio::time::sleep(HOUSEKEEPING_EVERY) => {}
                _ = stop.changed() => return,
            }
            if let Err(e) = self.refresh().await {
                tracing::warn!(error = %e, "cannot re-read the sync settings");
            }
        }
    }

    fn runnable(&self) -> bool {
        !self.is_paused() && self.connected().is_some()
    }

    async fn work_loop(&self, owner: String, mut stop: watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                return;
            }
            let conn = self.connected().filter(|_| !self.is_paused());
            let job = match &conn {
                None => None,
                Some(_) => {
                    let (o, lease) = (owner.clone(), self.inner.config.sync_lease);
                    match store::run(&self.inner.pool, move |c| queue::claim(c, &o, lease)).await {
                        Ok(job) => job,
                        Err::<_, StoreError>(e) => {
                            tracing::warn!(error = %e, "cannot claim a sync job");
                            None
                        }
                    }
                }
            };
            match (job, conn) {
                (Some(job), Some(conn)) => self.run_job(&owner, job, conn).await,
                _ => {
                    tokio::select! {
                        _ = self.inner.wakeup.notified() => {}
                        _ = tokio::time::sleep(IDLE_POLL) => {}
                        _ = stop.changed() => {}
                    }
                }
            }
        }
    }

    /// Runs one claimed job while renewing its lease.
    async fn run_job(&self, owner: &str, job: Claimed, conn: Arc<Connected>) {
        let lease = self.inner.config.sync_lease;
        let heartbeat = async {
            loop {
                tokio::time::sleep(lease / 3).await;
                let (u, o) = (job.user_id.clone(), owner.to_string());
                match store::run(&self.inner.pool, move |c| queue::renew(c, &u, &o, lease)).await {
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
            r = self.reconcile_job(owner, &job, &conn) => r,
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
                    self.inner.config.sync_backoff_cap,
                ));
            let message = e.to_string();
            let _ = store::run(&self.inner.pool, move |c| {
                queue::retry_later(c, &j, &o, at, attempts, &message)
            })
            .await;
        }
    }

    async fn reconcile_job(
        &self,
        owner: &str,
        job: &Claimed,
        conn: &Connected,
    ) -> Result<(), SyncError> {
        let uid = job.user_id.clone();
        let (user, link, roles) = store::run(&self.inner.pool, move |c| {
            Ok::<_, StoreError>((
                directory_view::load(c, &uid)?,
                state::load_link(c, &uid)?,
                super::roles::plan_for(c, &uid)?,
            ))
        })
        .await?;
        let Some(user) = user else {
            // The directory row is gone entirely (not a SCIM delete, which keeps it).
            let (j, o) = (job.clone(), owner.to_string());
            store::run(&self.inner.pool, move |c| queue::complete(c, &j, &o)).await?;
            return Ok(());
        };
        let api = Throttled {
            engine: &self.inner,
            client: &conn.client,
        };
        let links = DbLinks {
            pool: &self.inner.pool,
        };
        let run = reconcile::reconcile(
            &api,
            &links,
            &user,
            link,
            self.inner.config.default_title.as_deref(),
            roles,
        )
        .await;
        self.persist(owner, job, run).await
    }

    /// Records a run's verdict and finishes (or reschedules) its job, in one transaction.
    async fn persist(&self, owner: &str, job: &Claimed, run: Run) -> Result<(), SyncError> {
        let cap = self.inner.config.sync_backoff_cap;
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
        let done = store::run(&self.inner.pool, move |c| {
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
                crate::mappings::roles::mark_missing(c, &missing_roles)?;
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
}

impl SyncHandle {
    /// Stops claiming, lets runs in progress finish (for a while), and releases the leases
    /// of any it had to abandon, so that no job waits for a lease to expire.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + STOP_GRACE;
        for mut task in self.tasks {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                task.abort();
                let _ = task.await;
            }
        }
        let owners = self.owners.clone();
        match store::run(&self.engine.inner.pool, move |c| {
            queue::release_all(c, &owners)
        })
        .await
        {
            Ok(n) if n > 0 => {
                tracing::info!(jobs = n, "released the leases of interrupted sync runs")
            }
            Ok(_) => {}
            Err::<_, StoreError>(e) => {
                tracing::warn!(error = %e, "cannot release sync leases; they will expire")
            }
        }
    }
}

fn to_chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::seconds(600))
}
