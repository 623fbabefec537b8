//! A job one process runs at a time under a lease it renews: the drift sweep (`sweep.rs`) and
//! the periodic Okta re-read (`okta::resync`). Each keeps its own record and its own
//! compare-and-swap (how it claims, renews and ends); what they share lives here — the runner's
//! loop, the hand-off of a claim an admin made to that loop, and the renewal beside the work:
//!
//! - **The loop** ([`run`]): runs a claim handed over, or claims one when due, else looks again
//!   every tick or when woken; when the process stops, the job in progress is ended
//!   `interrupted` (and a claim handed over but not started too), so the next process need not
//!   wait for its lease to run out.
//! - **The renewal** ([`while_held`]): the work runs while the lease is renewed beside it; a
//!   renewal the record refuses (another process took the lease over after it ran out) stops
//!   the work. A renewal that fails (the database away for a moment) is logged and tried again
//!   at the next period: the lease outlasts a few of them.
//!
//! A process that dies leaves a lease that runs out; the next look after that runs the job.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{watch, Notify};

use crate::store::StoreError;

/// A run that failed is tried again after this (or after the job's period, if shorter) — not
/// a whole period later.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);

/// A job with a leased record (implemented by the sweep and the re-read).
pub trait Job {
    /// A run this process holds.
    type Claim;
    /// What the logs call the job ("drift sweep", "Okta re-read").
    const NAME: &'static str;
    /// A run claimed now if one is due and may run here (its own failures logged).
    fn claim_due(&self) -> impl Future<Output = Option<Self::Claim>> + Send;
    /// Runs a claimed run to its end and records the end (typically through [`while_held`]).
    fn execute(&self, claim: &Self::Claim) -> impl Future<Output = ()> + Send;
    /// Records a run ended by the process stopping.
    fn interrupt(&self, claim: &Self::Claim) -> impl Future<Output = ()> + Send;
}

/// A claim an admin made in this process (`POST …`), handed to the process's runner, and the
/// runner's wake-up.
pub struct Handoff<C> {
    claim: Mutex<Option<C>>,
    kick: Notify,
}

impl<C> Default for Handoff<C> {
    fn default() -> Self {
        Handoff {
            claim: Mutex::new(None),
            kick: Notify::new(),
        }
    }
}

impl<C> Handoff<C> {
    /// Hands `claim` to the runner and wakes it.
    pub fn hand(&self, claim: C) {
        *self.claim.lock().unwrap_or_else(|p| p.into_inner()) = Some(claim);
        self.kick.notify_one();
    }

    /// Wakes the runner (a request was recorded: it looks at once).
    pub fn wake(&self) {
        self.kick.notify_one();
    }

    fn take(&self) -> Option<C> {
        self.claim.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// The name of this process's leases: `<pid>-<random>`.
pub fn owner_name() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// `d` as a chrono span (a day when out of range, which no setting reaches).
pub fn chrono_of(d: Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(d).unwrap_or(chrono::TimeDelta::days(1))
}

/// The runner: until `stop` turns true, runs a claim handed over or claims one when due,
/// otherwise looks again every `tick` or when woken.
pub async fn run<J: Job>(
    job: &J,
    handoff: &Handoff<J::Claim>,
    tick: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            return drop_handoff(job, handoff).await;
        }
        let claim = match handoff.take() {
            Some(c) => Some(c),
            None => job.claim_due().await,
        };
        if let Some(claim) = claim {
            tokio::select! {
                _ = job.execute(&claim) => {}
                _ = stop.changed() => {
                    job.interrupt(&claim).await;
                    return;
                }
            }
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = handoff.kick.notified() => {}
            _ = stop.changed() => return drop_handoff(job, handoff).await,
        }
    }
}

/// A run an admin started just as the process stops is ended at once, so that the next
/// process need not wait for its lease to run out.
async fn drop_handoff<J: Job>(job: &J, handoff: &Handoff<J::Claim>) {
    if let Some(claim) = handoff.take() {
        job.interrupt(&claim).await;
    }
}

/// Runs `work` while renewing the lease every `every` with `renew` (`Ok(false)`: the record
/// says the lease is no longer this process's). `None` when the lease was lost: the work is
/// dropped where it stood, and its end is the new holder's to record.
pub async fn while_held<T, R, F>(
    name: &str,
    work: impl Future<Output = T>,
    every: Duration,
    mut renew: R,
) -> Option<T>
where
    R: FnMut() -> F,
    F: Future<Output = Result<bool, StoreError>>,
{
    let keep = async {
        loop {
            tokio::time::sleep(every).await;
            match renew().await {
                Ok(true) => {}
                Ok(false) => return,
                // The database away for a moment: the lease has more chances.
                Err(e) => tracing::warn!(error = %e, job = name, "cannot renew the lease"),
            }
        }
    };
    let result = tokio::select! {
        r = work => Some(r),
        _ = keep => None,
    };
    if result.is_none() {
        tracing::warn!(
            job = name,
            "the lease was lost (another process took it over); stopped"
        );
    }
    result
}
