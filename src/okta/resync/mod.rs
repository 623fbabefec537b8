//! The periodic re-read of the Okta org, which makes event hooks complete: Okta retries a
//! failed delivery once, so a bridge that was down or unreachable for a while has lost events.
//! Every `OKTA_RESYNC_SECS`, at once when asked ([`Resync::request_now`]: an event hook
//! repaired after failing; `POST /api/v1/okta/resync`), and on start when the last re-read is
//! older than the period, one process reads the users Okta changed since the last re-read and
//! the groups whose membership moved, and follows each (`pass.rs`). What Okta deleted is in
//! none of those lists, so each re-read also follows the directory's groups Okta no longer
//! lists, and every `OKTA_PRESENCE_SECS` its users Okta no longer lists (`presence.rs`).
//!
//! One process runs each re-read: the claim is a compare-and-swap on the `okta_resync` row
//! with a lease the runner renews (`row.rs`; the runner's loop and the renewal are the drift
//! sweep's, `sync::lease`); a process that dies leaves a lease that runs out, and the next look
//! after that runs the re-read again from the same marks. Nothing
//! runs while the Okta org is not connected, or before an initial sync from it completed
//! (there is no starting point); the status says which.

mod pass;
mod presence;
mod row;

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;
use serde::Serialize;
use serde_json::json;
use tokio::sync::watch;

use super::follow::{FollowError, Follower};
use super::OktaError;
use crate::audit::{self, Outcome};
use crate::store::{self, tx, Pool, StoreError};
use crate::sync::lease::{self, chrono_of, RETRY_AFTER_FAILURE};

pub use pass::{okta_time, OVERLAP};

/// How long a claim holds without renewal (renewed every quarter of it while running).
const LEASE: Duration = Duration::from_secs(120);
/// How often the background task looks whether a re-read is due, besides being woken.
const TICK: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum ResyncError {
    #[error("the Okta org is not connected ({0}): connect it (PUT /api/v1/settings/okta, then POST /api/v1/okta/authorize) and the re-read runs")]
    NotConnected(String),
    #[error("no initial sync from the Okta org has completed yet, so the re-read has no starting point: run one first (POST /api/v1/initial-sync)")]
    NoBaseline,
    #[error("reading the Okta org: {0}")]
    Okta(#[from] OktaError),
    #[error("{0}")]
    Follow(#[from] FollowError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl tx::Contention for ResyncError {
    fn is_contention(&self) -> bool {
        matches!(self, ResyncError::Store(e) if e.is_contention())
    }
}

/// What one re-read saw and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Totals {
    /// Users Okta listed as changed since the mark (less the overlap).
    pub users_read: i64,
    /// Of them, users the directory changed for (created, updated, memberships, disabled).
    pub users_changed: i64,
    /// Of those, users disabled (deactivated, deleted, or out of the scope).
    pub users_disabled: i64,
    /// Groups whose membership or profile changed since the mark.
    pub groups_read: i64,
    pub groups_changed: i64,
    /// Active directory users Okta no longer lists (followed: deleted or deactivated ones are
    /// disabled); counted only by a re-read that checked the users' presence.
    pub users_missing: i64,
    /// Directory groups Okta no longer lists (followed: deleted ones are deleted).
    pub groups_missing: i64,
    /// Users and groups outside the scope the directory does not have.
    pub ignored: i64,
    /// Users and groups the directory refused (a name held by a record of another Okta id).
    pub errors: i64,
    #[serde(skip)]
    pub problems: Vec<String>,
}

/// `okta.resync` in `GET /api/v1/sync/status`.
#[derive(Debug, Clone, Serialize)]
pub struct ResyncView {
    /// `running`, `idle`, `failed` (the last re-read failed; it is tried again),
    /// `not_connected` or `waiting_for_initial_sync`.
    pub state: &'static str,
    /// `OKTA_RESYNC_SECS`; `null`: no periodic re-read.
    pub interval_secs: Option<u64>,
    /// Why the running (else the last) re-read started: `periodic`, `first`, `admin`, or the
    /// reason it was requested for.
    pub trigger: Option<String>,
    #[serde(serialize_with = "crate::time::serialize_opt_rfc3339")]
    pub last_started_at: Option<NaiveDateTime>,
    #[serde(serialize_with = "crate::time::serialize_opt_rfc3339")]
    pub last_finished_at: Option<NaiveDateTime>,
    /// `completed`, `failed` or `interrupted`.
    pub last_outcome: Option<String>,
    pub users_read: i64,
    pub users_changed: i64,
    pub users_disabled: i64,
    pub groups_read: i64,
    pub groups_changed: i64,
    pub users_missing: i64,
    pub groups_missing: i64,
    pub ignored: i64,
    pub errors: i64,
    /// Why nothing runs, why the last re-read failed, or what it could not apply.
    pub problem: Option<String>,
    /// A re-read is asked for (it starts within a second when the org is connected).
    pub requested: bool,
    /// When the next re-read is due (as this process's settings see it).
    #[serde(serialize_with = "crate::time::serialize_opt_rfc3339")]
    pub next_at: Option<NaiveDateTime>,
    /// The latest `lastUpdated` of a user, and `lastMembershipUpdated` / `lastUpdated` of a
    /// group, that a completed re-read saw (Okta's clock); the next one reads from there less
    /// `overlap_secs`.
    #[serde(serialize_with = "crate::time::serialize_opt_rfc3339")]
    pub users_mark: Option<NaiveDateTime>,
    #[serde(serialize_with = "crate::time::serialize_opt_rfc3339")]
    pub groups_mark: Option<NaiveDateTime>,
    pub overlap_secs: i64,
    /// `OKTA_PRESENCE_SECS`: how often a re-read also lists every user to find those Okta
    /// deleted; `null`: never (groups are compared in every re-read).
    pub presence_interval_secs: Option<u64>,
    /// When a completed re-read last began listing every user.
    #[serde(serialize_with = "crate::time::serialize_opt_rfc3339")]
    pub presence_checked_at: Option<NaiveDateTime>,
}

/// `POST /api/v1/okta/resync`'s answer.
#[derive(Debug, Clone, Serialize)]
pub struct Started {
    /// `false`: a re-read was already running (in this or another process); it was left alone.
    pub started: bool,
    pub message: String,
    pub resync: ResyncView,
}

/// A re-read this process holds.
pub struct Claim {
    run: i64,
    trigger: String,
    actor: String,
    started_at: NaiveDateTime,
}

enum Claimed {
    Yes(Claim),
    Running,
    NotDue,
}

/// The periodic re-read as a service, built once by `server.rs`.
#[derive(Clone)]
pub struct Resync {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    follow: Follower,
    every: Option<Duration>,
    /// How often a re-read compares the users' presence (`None`: never).
    presence: Option<Duration>,
    /// Names this process's leases.
    owner: String,
    /// A re-read an admin just claimed here, for the background task to run; its wake-up.
    handoff: lease::Handoff<Claim>,
}

/// When the next re-read is due: a request, the period after the last start, or a failed
/// re-read's retry (which `row::finish` leaves as a request). Never run: at once.
fn due_at(row: &row::Row, every: Option<Duration>, now: NaiveDateTime) -> Option<NaiveDateTime> {
    let periodic = every.map(|e| match row.last_started_at {
        None => now,
        Some(s) => s + chrono_of(e),
    });
    [row.requested_at, periodic].into_iter().flatten().min()
}

/// Whether this re-read also lists every user: never checked, or last checked `presence`
/// ago or longer (`None`: never).
fn presence_due(row: &row::Row, presence: Option<Duration>, now: NaiveDateTime) -> bool {
    presence.is_some_and(|p| {
        row.presence_checked_at
            .is_none_or(|at| at + chrono_of(p) <= now)
    })
}

impl Resync {
    pub fn new(
        pool: Pool,
        follow: Follower,
        every: Option<Duration>,
        presence: Option<Duration>,
    ) -> Resync {
        Resync {
            inner: Arc::new(Inner {
                pool,
                follow,
                every,
                presence,
                owner: lease::owner_name(),
                handoff: lease::Handoff::default(),
            }),
        }
    }

    /// Asks for a re-read now (persisted: a process that stops before running it leaves the
    /// request to the next), and wakes this process's re-reader. `why` names it in the status
    /// and the audit trail — e.g. `event hook repaired`. Whoever repairs an event hook that
    /// was failing calls this: the events lost meanwhile are found by the re-read.
    pub async fn request_now(&self, why: &str) -> Result<(), ResyncError> {
        let why = why.to_string();
        store::run(&self.inner.pool, move |c| {
            row::request(c, &why, store::now())?;
            Ok::<_, ResyncError>(())
        })
        .await?;
        self.inner.handoff.wake();
        Ok(())
    }

    /// Why a re-read cannot run now, if it cannot.
    async fn blocked(&self) -> Result<Option<ResyncError>, ResyncError> {
        let okta = self.inner.follow.okta();
        let view = okta.view().await?;
        if view.state != super::ConnectionState::Connected {
            let state = serde_json::to_value(view.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            return Ok(Some(ResyncError::NotConnected(state)));
        }
        let baseline = store::run(&self.inner.pool, row::baseline).await?;
        let mark = store::run(&self.inner.pool, row::load).await?.users_mark;
        if baseline.is_none() && mark.is_none() {
            return Ok(Some(ResyncError::NoBaseline));
        }
        Ok(None)
    }

    /// `okta.resync` in the sync status.
    pub async fn view(&self) -> Result<ResyncView, ResyncError> {
        let blocked = self.blocked().await?;
        let row = store::run(&self.inner.pool, row::load).await?;
        let counts = row.counts();
        let now = store::now();
        let running = row.running(now);
        let failed = row
            .last_outcome
            .as_deref()
            .is_some_and(|o| o != "completed");
        let state = match (&blocked, running) {
            (_, true) => "running",
            (Some(ResyncError::NotConnected(_)), _) => "not_connected",
            (Some(_), _) => "waiting_for_initial_sync",
            (None, _) if failed => "failed",
            (None, _) => "idle",
        };
        let problem = match &blocked {
            Some(b) => Some(b.to_string()),
            None => row.last_error.clone(),
        };
        Ok(ResyncView {
            state,
            interval_secs: self.inner.every.map(|d| d.as_secs()),
            trigger: row.run_trigger.clone(),
            last_started_at: row.last_started_at,
            last_finished_at: row.last_finished_at,
            last_outcome: row.last_outcome.clone(),
            users_read: counts.users_read,
            users_changed: counts.users_changed,
            users_disabled: counts.users_disabled,
            groups_read: counts.groups_read,
            groups_changed: counts.groups_changed,
            users_missing: counts.users_missing,
            groups_missing: counts.groups_missing,
            ignored: counts.ignored,
            errors: counts.errors,
            problem,
            requested: row.requested_at.is_some(),
            next_at: if blocked.is_none() && !running {
                due_at(&row, self.inner.every, now).map(|at| at.max(now))
            } else {
                None
            },
            users_mark: row.users_mark,
            groups_mark: row.groups_mark,
            overlap_secs: OVERLAP.num_seconds(),
            presence_interval_secs: self.inner.presence.map(|d| d.as_secs()),
            presence_checked_at: row.presence_checked_at,
        })
    }

    /// Claims a re-read: for an admin unless one is running; on schedule only when due.
    async fn claim(&self, admin: Option<&str>) -> Result<Claimed, ResyncError> {
        let owner = self.inner.owner.clone();
        let every = self.inner.every;
        let admin = admin.map(str::to_string);
        store::run(&self.inner.pool, move |c| {
            if admin.is_none() {
                // A read-only look first: every process looks each second, and the look must
                // not take the write lock SCIM writers need.
                let now = store::now();
                let seen = row::load(c)?;
                if seen.running(now) {
                    return Ok(Claimed::Running);
                }
                if due_at(&seen, every, now).is_none_or(|at| at > now) {
                    return Ok(Claimed::NotDue);
                }
            }
            tx::write(c, |c| {
                let now = store::now();
                let seen = row::load(c)?;
                if seen.running(now) {
                    return Ok(Claimed::Running);
                }
                let (trigger, actor) = match &admin {
                    Some(a) => ("admin".to_string(), a.clone()),
                    None => {
                        if due_at(&seen, every, now).is_none_or(|at| at > now) {
                            return Ok(Claimed::NotDue);
                        }
                        let why = match (&seen.requested_at, &seen.last_started_at) {
                            (Some(r), _) if *r <= now => seen
                                .requested_why
                                .clone()
                                .unwrap_or_else(|| "requested".into()),
                            (_, None) => "first".into(),
                            _ => "periodic".into(),
                        };
                        (why, audit::SYSTEM.to_string())
                    }
                };
                let lease_until = now + chrono_of(LEASE);
                if !row::claim(c, &seen, &owner, &trigger, now, lease_until)? {
                    // Another process started one since the row was read.
                    return Ok(Claimed::Running);
                }
                audit::record(
                    c,
                    &audit::Entry {
                        actor: &actor,
                        action: "okta.resync.start",
                        target_type: "okta",
                        target_id: None,
                        detail: json!({"trigger": trigger, "process": owner, "run": seen.runs + 1}),
                        outcome: Outcome::Success,
                    },
                )?;
                Ok(Claimed::Yes(Claim {
                    run: seen.runs + 1,
                    trigger,
                    actor,
                    started_at: now,
                }))
            })
        })
        .await
    }

    /// `POST /api/v1/okta/resync`: starts a re-read at once (refused while the org is not
    /// connected or has no starting point); a re-read already running is left to finish.
    pub async fn start_now(&self, actor: &str) -> Result<Started, ResyncError> {
        if let Some(why) = self.blocked().await? {
            return Err(why);
        }
        let (started, message) = match self.claim(Some(actor)).await? {
            Claimed::Yes(claim) => {
                self.inner.handoff.hand(claim);
                (true, "started: the users Okta changed since the last re-read and the groups whose membership moved are read and applied; GET /api/v1/sync/status shows okta.resync".to_string())
            }
            _ => (false, "a re-read is already running (in this or another bridge process); it was left to finish — GET /api/v1/sync/status shows okta.resync".to_string()),
        };
        Ok(Started {
            started,
            message,
            resync: self.view().await?,
        })
    }

    /// Runs a claimed re-read to its end, renewing the lease meanwhile, and records the end.
    async fn run_claimed(&self, claim: &Claim) {
        let mut totals = Totals::default();
        let held = lease::while_held(
            <Self as lease::Job>::NAME,
            self.pass(&mut totals),
            LEASE / 4,
            || self.renew(claim.run),
        )
        .await;
        // `None`: the lease was lost; the process that took it over records the end.
        let Some(result) = held else { return };
        let (outcome, error, marks) = match result {
            Ok(marks) => ("completed", None, Some(marks)),
            Err(e) => ("failed", Some(e.to_string()), None),
        };
        self.end(claim, outcome, error, &totals, marks).await;
    }

    async fn pass(&self, totals: &mut Totals) -> Result<pass::Marks, ResyncError> {
        if let Some(why) = self.blocked().await? {
            return Err(why);
        }
        let seen = store::run(&self.inner.pool, row::load).await?;
        let baseline = store::run(&self.inner.pool, row::baseline).await?;
        let users_from = seen
            .users_mark
            .or(baseline)
            .ok_or(ResyncError::NoBaseline)?;
        let start = pass::Start {
            users_from,
            groups_from: seen.groups_mark.or(baseline).unwrap_or(users_from),
            user_presence: presence_due(&seen, self.inner.presence, store::now()),
        };
        pass::run(&self.inner.follow, &start, totals).await
    }

    /// Extends the lease of re-read `run`; `false` when it is no longer this process's.
    async fn renew(&self, run: i64) -> Result<bool, StoreError> {
        let owner = self.inner.owner.clone();
        store::run(&self.inner.pool, move |c| {
            row::renew(c, run, &owner, store::now() + chrono_of(LEASE))
        })
        .await
    }

    async fn end(
        &self,
        claim: &Claim,
        outcome: &'static str,
        error: Option<String>,
        totals: &Totals,
        marks: Option<pass::Marks>,
    ) {
        let problems = totals.problems.clone();
        let error = error.or_else(|| (!problems.is_empty()).then(|| problems.join("; ")));
        let (owner, run, totals_c) = (self.inner.owner.clone(), claim.run, totals.clone());
        let (trigger, actor, started_at) =
            (claim.trigger.clone(), claim.actor.clone(), claim.started_at);
        let retry = (outcome != "completed").then_some(RETRY_AFTER_FAILURE);
        let every = self.inner.every;
        let ended = store::run(&self.inner.pool, move |c| {
            tx::write(c, |c| {
                let now = store::now();
                let retry_at = retry.map(|r| now + chrono_of(every.map_or(r, |e| e.min(r))));
                let ok = row::finish(
                    c,
                    run,
                    &owner,
                    now,
                    &row::Finish {
                        outcome,
                        error: error.as_deref(),
                        totals: &totals_c,
                        marks: marks.as_ref(),
                        retry_at,
                    },
                )?;
                if ok {
                    audit::record(
                        c,
                        &audit::Entry {
                            actor: &actor,
                            action: "okta.resync.finish",
                            target_type: "okta",
                            target_id: None,
                            detail: json!({
                                "trigger": trigger, "run": run, "outcome": outcome, "error": error,
                                "started_at": crate::time::rfc3339(&started_at),
                                "users_read": totals_c.users_read, "users_changed": totals_c.users_changed,
                                "users_disabled": totals_c.users_disabled, "groups_read": totals_c.groups_read,
                                "groups_changed": totals_c.groups_changed, "ignored": totals_c.ignored,
                                "users_missing": totals_c.users_missing, "groups_missing": totals_c.groups_missing,
                                "errors": totals_c.errors,
                            }),
                            outcome: if outcome == "completed" {
                                Outcome::Success
                            } else {
                                Outcome::Failure
                            },
                        },
                    )?;
                }
                Ok::<_, StoreError>(ok)
            })
        })
        .await;
        match ended {
            Ok(true) => tracing::info!(
                outcome,
                users_read = totals.users_read,
                users_changed = totals.users_changed,
                groups_read = totals.groups_read,
                groups_changed = totals.groups_changed,
                users_missing = totals.users_missing,
                groups_missing = totals.groups_missing,
                errors = totals.errors,
                "Okta re-read ended"
            ),
            Ok(false) => tracing::warn!("the Okta re-read ended after its lease was taken over"),
            // The lease runs out and the next look runs the re-read again from the same marks.
            Err(e) => tracing::warn!(error = %e, "cannot record the end of the Okta re-read"),
        }
    }

    /// This process's re-reader: runs a re-read an admin claimed here, or claims one when due
    /// (the org connected and a starting point known); otherwise looks again every second or
    /// when woken. Stops when `stop` turns true (a re-read in progress ends `interrupted`).
    pub async fn run(self, stop: watch::Receiver<bool>) {
        lease::run(&self, &self.inner.handoff, TICK, stop).await
    }
}

impl lease::Job for Resync {
    type Claim = Claim;
    const NAME: &'static str = "Okta re-read";

    async fn claim_due(&self) -> Option<Claim> {
        match self.blocked().await {
            Ok(None) => match self.claim(None).await {
                Ok(Claimed::Yes(c)) => Some(c),
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot look whether an Okta re-read is due");
                    None
                }
            },
            Ok(Some(_)) => None,
            Err(e) => {
                tracing::warn!(error = %e, "cannot look whether an Okta re-read may run");
                None
            }
        }
    }

    async fn execute(&self, claim: &Claim) {
        self.run_claimed(claim).await
    }

    async fn interrupt(&self, claim: &Claim) {
        let why = Some("the bridge process stopped during the re-read".to_string());
        self.end(claim, "interrupted", why, &Totals::default(), None)
            .await;
    }
}
