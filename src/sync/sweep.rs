//! The drift sweep: every `SYNC_DRIFT_SWEEP_SECS`, soon after a role becomes managed, or when
//! an admin asks (`POST /api/v1/sync/sweep`), one process pages `POST /v2/users/search` with no
//! filter (100 users a call: N/100 calls for N users, never one per user) and hands each page
//! to `drift::apply_page`, which enqueues the linked users ZenQMS shows differently from the
//! bridge's last picture. Every call goes through the engine's throttled path: the call budget,
//! the shared `429` pause, and sync's pause.
//!
//! Once across processes, as the role refresh is: the schedule lives in the `settings` table
//! (`sync.drift_sweep`), so every process sees when the last sweep ran. Where the role refresh
//! only compares a timestamp (two processes may both refresh, which is harmless), a sweep is
//! claimed by compare-and-swap of that record with a lease the sweeper renews, because two
//! sweeps would double the calls. A sweeper that dies leaves a lease that runs out; the next
//! process to look after that runs the sweep. The sweeper's loop and the renewal beside the
//! work are `lease.rs`'s, shared with the Okta re-read.

use std::collections::HashSet;
use std::time::Duration;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::watch;

use super::drift::{self, UnlinkedHolder, LISTED_HOLDERS};
use super::engine::Engine;
use super::error::{SweepRefusal, SyncError};
use super::lease::{self, chrono_of, RETRY_AFTER_FAILURE};
use super::settings;
use super::throttle::{Patience, Throttled};
use crate::audit::{self, Outcome};
use crate::store::{self, tx, DbConn, StoreError};
use crate::zenqms::contract::MAX_PAGE_SIZE;
use crate::zenqms::{CallCtx, RemoteUser, SearchFilters};

/// Most pages one sweep reads (a million users): past this the answers are not a user list.
/// (A sweep that failed — ZenQMS down, sync paused — is tried again after
/// `lease::RETRY_AFTER_FAILURE`, or after the interval if that is shorter.)
const MAX_PAGES: u32 = 10_000;

/// The stored record: the sweep running, if any, and the last one that ended.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Record {
    /// When a process first looked: the first periodic sweep is one interval after it.
    since: Option<NaiveDateTime>,
    running: Option<Running>,
    last: Option<Finished>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Running {
    owner: String,
    trigger: String,
    actor: String,
    started_at: NaiveDateTime,
    lease_until: NaiveDateTime,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Finished {
    trigger: String,
    actor: String,
    started_at: NaiveDateTime,
    finished_at: NaiveDateTime,
    /// `completed`, `failed` or `interrupted`.
    outcome: String,
    error: Option<String>,
    #[serde(flatten)]
    totals: Totals,
}

/// What a sweep saw and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub pages: u32,
    /// ZenQMS users read (each once, however the pages shifted).
    pub users_seen: u64,
    /// Of them, linked to a directory user.
    pub linked: u64,
    /// Linked users left to a run already due or just finished.
    pub busy: u64,
    /// Linked users whose picture differed: stored and enqueued.
    pub drifted: u64,
    /// ZenQMS users holding a managed role who match no directory user (reported only).
    pub unlinked_holders: u64,
    pub unlinked_first: Vec<UnlinkedHolder>,
}

impl Totals {
    fn add(&mut self, page: drift::PageOutcome) {
        self.linked += page.linked;
        self.busy += page.busy;
        self.drifted += page.drifted;
        self.unlinked_holders += page.unlinked_holders.len() as u64;
        for h in page.unlinked_holders {
            if self.unlinked_first.len() < LISTED_HOLDERS {
                self.unlinked_first.push(h);
            }
        }
    }
}

impl Record {
    fn parse(text: Option<&str>) -> Record {
        // An unreadable record (a newer version's) is started afresh rather than wedging
        // the schedule: the swap still only succeeds against the text that was read.
        text.and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default()
    }

    fn text(&self) -> Result<String, StoreError> {
        serde_json::to_string(self).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    fn live(&self, now: NaiveDateTime) -> Option<&Running> {
        self.running.as_ref().filter(|r| r.lease_until > now)
    }

    /// When the next automatic sweep is due (`None`: automatic sweeps are off).
    fn due_at(
        &self,
        every: Option<Duration>,
        requested: Option<NaiveDateTime>,
        now: NaiveDateTime,
    ) -> Option<NaiveDateTime> {
        let every = every?;
        let last_start = self
            .running
            .as_ref()
            .map(|r| r.started_at)
            .or(self.last.as_ref().map(|l| l.started_at));
        let mut at = last_start.or(self.since).unwrap_or(now) + chrono_of(every);
        if let Some(l) = self.last.as_ref().filter(|l| l.outcome != "completed") {
            at = at.min(l.finished_at + chrono_of(every.min(RETRY_AFTER_FAILURE)));
        }
        // A request made after the last sweep began (one running may have passed its users).
        if let Some(r) = requested.filter(|r| last_start.is_none_or(|s| *r > s)) {
            at = at.min(r);
        }
        Some(at)
    }
}

/// A sweep this process holds: the record as last written (the next swap's expected value).
pub(crate) struct Claim {
    owner: String,
    trigger: String,
    /// Who the calls are made for: an admin's token name, or `system`.
    actor: String,
    started_at: NaiveDateTime,
    current: tokio::sync::Mutex<String>,
}

enum Claimed {
    Yes(Claim),
    Running(Running),
    NotDue,
}

/// Why a sweep was started.
enum Trigger<'a> {
    Schedule,
    Admin(&'a str),
}

/// Claims a sweep if one is due (or, for an admin, unless one is running), in one transaction
/// with its audit entry.
fn claim(
    conn: &mut DbConn,
    owner: &str,
    lease: Duration,
    every: Option<Duration>,
    trigger: &Trigger<'_>,
) -> Result<Claimed, StoreError> {
    if let Trigger::Schedule = trigger {
        // A read-only look first: every process polls each second, and the poll must not take
        // the write lock that SCIM writers need (as the workers' `any_due` does not).
        let now = store::now();
        let rec = Record::parse(settings::load_sweep(conn)?.as_deref());
        let requested = crate::outbox::sweep_request(conn)?.map(|r| r.1);
        if let Some(r) = rec.live(now) {
            return Ok(Claimed::Running(r.clone()));
        }
        if rec.since.is_some() && rec.due_at(every, requested, now).is_none_or(|at| at > now) {
            return Ok(Claimed::NotDue);
        }
    }
    tx::write(conn, |c| {
        let now = store::now();
        let text = settings::load_sweep(c)?;
        let requested = crate::outbox::sweep_request(c)?;
        let mut rec = Record::parse(text.as_deref());
        if let Some(r) = rec.live(now) {
            return Ok(Claimed::Running(r.clone()));
        }
        let (trigger_name, actor) = match trigger {
            Trigger::Admin(actor) => ("admin".to_string(), actor.to_string()),
            Trigger::Schedule => {
                let due = rec.due_at(every, requested.as_ref().map(|r| r.1), now);
                if due.is_none_or(|at| at > now) {
                    if rec.since.is_none() {
                        // The first look starts the schedule.
                        rec.since = Some(now);
                        settings::swap_sweep(c, text.as_deref(), &rec.text()?)?;
                    }
                    return Ok(Claimed::NotDue);
                }
                let last_start = rec.last.as_ref().map(|l| l.started_at);
                let name = match &requested {
                    Some((why, at)) if last_start.is_none_or(|s| *at > s) => why.clone(),
                    _ => "periodic".to_string(),
                };
                (name, audit::SYSTEM.to_string())
            }
        };
        rec.since.get_or_insert(now);
        rec.running = Some(Running {
            owner: owner.to_string(),
            trigger: trigger_name.clone(),
            actor: actor.clone(),
            started_at: now,
            lease_until: now + chrono_of(lease),
        });
        let next = rec.text()?;
        if !settings::swap_sweep(c, text.as_deref(), &next)? {
            // Another process changed the record since it was read: it is sweeping.
            return Ok(Claimed::NotDue);
        }
        audit::record(
            c,
            &audit::Entry {
                actor: &actor,
                action: "sync.sweep.start",
                target_type: "sync",
                target_id: None,
                detail: json!({"trigger": trigger_name, "process": owner}),
                outcome: Outcome::Success,
            },
        )?;
        Ok(Claimed::Yes(Claim {
            owner: owner.to_string(),
            trigger: trigger_name.clone(),
            actor: actor.clone(),
            started_at: now,
            current: tokio::sync::Mutex::new(next),
        }))
    })
}

/// How a sweep ended.
enum End {
    Completed,
    Failed(String),
    /// Stopped by sync's pause or the process stopping: tried again soon.
    Interrupted(String),
}

/// `POST /api/v1/sync/sweep`: what the sweep just started will do.
#[derive(Debug, Clone, Serialize)]
pub struct Started {
    pub started: bool,
    #[serde(serialize_with = "crate::time::serialize_rfc3339")]
    pub started_at: NaiveDateTime,
    /// Directory users linked to a ZenQMS user (each is compared).
    pub linked_users: i64,
    /// Users per `POST /v2/users/search` call: the sweep costs (ZenQMS users ÷ this) calls.
    pub page_size: u32,
    pub will: &'static str,
}

const WILL: &str = "read every ZenQMS user with POST /v2/users/search (100 a call, within the call budget), compare each linked one with what the bridge last saw, and enqueue those that differ so the reconciler restores them; ZenQMS users holding a managed role who match no directory user are reported in the sync status, not changed; GET /api/v1/sync/status shows drift_sweep";

/// `drift_sweep` in `GET /api/v1/sync/status`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SweepView {
    /// `SYNC_DRIFT_SWEEP_SECS`; `null`: automatic sweeps are off.
    pub interval_secs: Option<u64>,
    pub running: bool,
    /// Of the sweep running, else of the last one.
    pub trigger: Option<String>,
    #[serde(serialize_with = "crate::time::serialize_opt_rfc3339")]
    pub last_started_at: Option<NaiveDateTime>,
    #[serde(serialize_with = "crate::time::serialize_opt_rfc3339")]
    pub last_finished_at: Option<NaiveDateTime>,
    /// `completed`, `failed` or `interrupted`.
    pub last_outcome: Option<String>,
    pub last_error: Option<String>,
    /// Of the last sweep that ended: ZenQMS users read, and linked users found changed.
    pub users_seen: Option<u64>,
    pub drifted: Option<u64>,
    pub unlinked_holders: Option<UnlinkedView>,
    /// When the next automatic sweep is due (as this process's clock and settings see it).
    #[serde(serialize_with = "crate::time::serialize_opt_rfc3339")]
    pub next_due_at: Option<NaiveDateTime>,
}

/// ZenQMS users holding a managed role who match no directory user: left alone, listed here
/// for a person to decide (deactivate them in ZenQMS, or push them from Okta).
#[derive(Debug, Clone, Serialize)]
pub struct UnlinkedView {
    pub count: u64,
    pub first: Vec<UnlinkedHolder>,
}

fn sweep_every(engine: &Engine) -> Option<Duration> {
    engine.inner.config.sync_drift_sweep
}

/// This process's sweeper: claims a sweep when one is due (or takes the one an admin
/// started here) and runs it; otherwise looks again every second.
pub async fn run(engine: Engine, stop: watch::Receiver<bool>) {
    let tick = sweep_every(&engine)
        .unwrap_or(Duration::from_secs(1))
        .clamp(Duration::from_millis(200), Duration::from_secs(1));
    lease::run(&Sweeper(&engine), &engine.inner.sweep_handoff, tick, stop).await
}

/// The drift sweep as a leased job.
struct Sweeper<'a>(&'a Engine);

impl lease::Job for Sweeper<'_> {
    type Claim = Claim;
    const NAME: &'static str = "drift sweep";

    async fn claim_due(&self) -> Option<Claim> {
        let engine = self.0;
        if sweep_every(engine).is_none() || engine.is_paused() || engine.connected().is_none() {
            return None;
        }
        match claim_sweep(engine, Trigger::Schedule).await {
            Ok(Claimed::Yes(c)) => Some(c),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(error = %e, "cannot look whether a drift sweep is due");
                None
            }
        }
    }

    async fn execute(&self, claim: &Claim) {
        sweep(self.0, claim).await
    }

    async fn interrupt(&self, claim: &Claim) {
        let why = End::Interrupted("the bridge process stopped".into());
        end_sweep(self.0, claim, &Totals::default(), why).await;
    }
}

async fn claim_sweep(engine: &Engine, trigger: Trigger<'_>) -> Result<Claimed, StoreError> {
    let owner = engine.inner.process.clone();
    let lease = engine.inner.config.sync_lease;
    let every = sweep_every(engine);
    let admin = match trigger {
        Trigger::Admin(a) => Some(a.to_string()),
        Trigger::Schedule => None,
    };
    store::run(&engine.inner.pool, move |c| {
        let t = match &admin {
            Some(a) => Trigger::Admin(a),
            None => Trigger::Schedule,
        };
        claim(c, &owner, lease, every, &t)
    })
    .await
}

/// `POST /api/v1/sync/sweep`: claims a sweep for this process at once (refused while one
/// runs anywhere, ZenQMS is not connected, or sync is paused) and hands it to the sweeper.
pub(super) async fn start_now(engine: &Engine, actor: &str) -> Result<Started, SyncError> {
    if engine.is_paused() {
        return Err(SyncError::SweepRefused(SweepRefusal::Paused));
    }
    if engine.connected().is_none() {
        let why = engine
            .connection_view()
            .problem
            .unwrap_or_else(|| SyncError::NotConfigured.to_string());
        return Err(SyncError::SweepRefused(SweepRefusal::NotConnected(why)));
    }
    let claim = match claim_sweep(engine, Trigger::Admin(actor)).await? {
        Claimed::Yes(c) => c,
        Claimed::Running(r) => {
            return Err(SyncError::SweepRefused(SweepRefusal::Running {
                started_at: Some(crate::time::rfc3339(&r.started_at)),
                trigger: r.trigger,
            }))
        }
        // Lost the swap to another process, which is sweeping now.
        Claimed::NotDue => {
            return Err(SyncError::SweepRefused(SweepRefusal::Running {
                started_at: None,
                trigger: "another process's schedule".into(),
            }))
        }
    };
    let started_at = claim.started_at;
    let linked_users = store::run(&engine.inner.pool, super::state::linked_count).await?;
    engine.inner.sweep_handoff.hand(claim);
    Ok(Started {
        started: true,
        started_at,
        linked_users,
        page_size: MAX_PAGE_SIZE,
        will: WILL,
    })
}

/// Runs a claimed sweep to its end, renewing the lease meanwhile, and records the end.
async fn sweep(engine: &Engine, claim: &Claim) {
    let mut totals = Totals::default();
    let lease = engine.inner.config.sync_lease;
    let held = lease::while_held(
        <Sweeper as lease::Job>::NAME,
        sweep_pages(engine, claim, &mut totals),
        lease / 3,
        || renew(engine, claim, lease),
    )
    .await;
    // `None`: the lease was lost; the process that took it over records the end.
    let Some(result) = held else { return };
    let end = match result {
        Ok(()) => End::Completed,
        Err(SyncError::Paused) => End::Interrupted("sync was paused".into()),
        Err(e) => End::Failed(e.to_string()),
    };
    end_sweep(engine, claim, &totals, end).await;
}

async fn sweep_pages(engine: &Engine, claim: &Claim, totals: &mut Totals) -> Result<(), SyncError> {
    let conn = engine.connected().ok_or(SyncError::NotConfigured)?;
    let api = Throttled {
        engine: &engine.inner,
        client: &conn.client,
        patience: Patience::WaitOut,
    };
    let ctx = CallCtx {
        actor: Some(&claim.actor),
        ..CallCtx::default()
    };
    let every_user = SearchFilters::default();
    // Offset paging shifts when users are created meanwhile: a user may come twice
    // (compared once) or be missed (by this sweep; the next one sees it).
    let mut seen: HashSet<String> = HashSet::new();
    for page in 1..=MAX_PAGES {
        let fetched_at = store::now();
        let got = api
            .search_page(ctx, &every_user, page, MAX_PAGE_SIZE)
            .await?;
        let full = got.data.len() >= MAX_PAGE_SIZE as usize;
        let fresh: Vec<RemoteUser> = got
            .data
            .into_iter()
            .filter(|u| seen.insert(u.id.json_text()))
            .collect();
        totals.pages += 1;
        totals.users_seen += fresh.len() as u64;
        if !fresh.is_empty() {
            let roles = engine.inner.roles.clone();
            let out = store::run(&engine.inner.pool, move |c| {
                tx::write(c, |c| {
                    let managed = roles.managed_roles(c)?;
                    drift::apply_page(c, &fresh, fetched_at, &managed)
                })
            })
            .await?;
            if out.drifted > 0 {
                engine.inner.wakeup.notify();
            }
            totals.add(out);
        }
        let listed_all = got
            .total
            .is_some_and(|t| u64::from(page) * u64::from(MAX_PAGE_SIZE) >= t);
        if !full || listed_all {
            return Ok(());
        }
    }
    Err(SyncError::Inconsistent(format!(
        "POST /v2/users/search kept answering full pages past page {MAX_PAGES}; the sweep stopped"
    )))
}

/// Extends the sweep's lease by `lease`; `false` when the record says it is no longer ours.
async fn renew(engine: &Engine, claim: &Claim, lease: Duration) -> Result<bool, StoreError> {
    let mut current = claim.current.lock().await;
    let expected = current.clone();
    let owner = claim.owner.clone();
    let renewed = store::run(&engine.inner.pool, move |c| {
        let mut rec = Record::parse(Some(&expected));
        match rec.running.as_mut() {
            Some(r) if r.owner == owner => {
                r.lease_until = store::now() + chrono_of(lease);
            }
            _ => return Ok::<_, StoreError>(None),
        }
        let next = rec.text()?;
        Ok(settings::swap_sweep(c, Some(&expected), &next)?.then_some(next))
    })
    .await?;
    Ok(match renewed {
        Some(next) => {
            *current = next;
            true
        }
        None => false,
    })
}

/// Records how a sweep ended (and its audit entry) if this process still holds it.
async fn end_sweep(engine: &Engine, claim: &Claim, totals: &Totals, end: End) {
    let current = claim.current.lock().await;
    let expected = current.clone();
    let (outcome, error) = match end {
        End::Completed => ("completed", None),
        End::Failed(e) => ("failed", Some(e)),
        End::Interrupted(e) => ("interrupted", Some(e)),
    };
    let finished = Finished {
        trigger: claim.trigger.clone(),
        actor: claim.actor.clone(),
        started_at: claim.started_at,
        finished_at: store::now(),
        outcome: outcome.to_string(),
        error: error.clone(),
        totals: totals.clone(),
    };
    let written = store::run(&engine.inner.pool, move |c| {
        tx::write(c, |c| {
            let mut rec = Record::parse(Some(&expected));
            rec.running = None;
            rec.last = Some(finished.clone());
            if !settings::swap_sweep(c, Some(&expected), &rec.text()?)? {
                return Ok::<_, StoreError>(false);
            }
            audit::record(
                c,
                &audit::Entry {
                    actor: &finished.actor,
                    action: "sync.sweep",
                    target_type: "sync",
                    target_id: None,
                    detail: json!({
                        "trigger": finished.trigger,
                        "started_at": crate::time::rfc3339(&finished.started_at),
                        "outcome": finished.outcome,
                        "error": finished.error,
                        "pages": finished.totals.pages,
                        "users_seen": finished.totals.users_seen,
                        "linked": finished.totals.linked,
                        "busy": finished.totals.busy,
                        "drifted": finished.totals.drifted,
                        "unlinked_holders": {
                            "count": finished.totals.unlinked_holders,
                            "first": finished.totals.unlinked_first,
                        },
                    }),
                    outcome: if finished.outcome == "completed" {
                        Outcome::Success
                    } else {
                        Outcome::Failure
                    },
                },
            )?;
            Ok(true)
        })
    })
    .await;
    match written {
        Ok(true) => tracing::info!(
            outcome,
            error = error.as_deref().unwrap_or(""),
            pages = totals.pages,
            users_seen = totals.users_seen,
            drifted = totals.drifted,
            unlinked_holders = totals.unlinked_holders,
            "drift sweep ended"
        ),
        Ok(false) => {
            tracing::warn!("the drift sweep's lease was lost; its result was not recorded")
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot record the end of the drift sweep; its lease will run out")
        }
    }
}

/// `drift_sweep` of the status (read in the status's own query closure).
pub(super) fn view(engine: &Engine, conn: &mut DbConn) -> Result<SweepView, StoreError> {
    let now = store::now();
    let rec = Record::parse(settings::load_sweep(conn)?.as_deref());
    let requested = crate::outbox::sweep_request(conn)?.map(|r| r.1);
    let live = rec.live(now);
    let last = rec.last.as_ref();
    Ok(SweepView {
        interval_secs: sweep_every(engine).map(|d| d.as_secs()),
        running: live.is_some(),
        trigger: live
            .map(|r| r.trigger.clone())
            .or(last.map(|l| l.trigger.clone())),
        last_started_at: live.map(|r| r.started_at).or(last.map(|l| l.started_at)),
        last_finished_at: last.map(|l| l.finished_at),
        last_outcome: last.map(|l| l.outcome.clone()),
        last_error: last.and_then(|l| l.error.clone()),
        users_seen: last.map(|l| l.totals.users_seen),
        drifted: last.map(|l| l.totals.drifted),
        unlinked_holders: last.map(|l| UnlinkedView {
            count: l.totals.unlinked_holders,
            first: l.totals.unlinked_first.clone(),
        }),
        next_due_at: rec.due_at(sweep_every(engine), requested, now),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000 + s, 0)
            .unwrap()
            .naive_utc()
    }

    fn finished(start: i64, end: i64, outcome: &str) -> Finished {
        Finished {
            started_at: at(start),
            finished_at: at(end),
            outcome: outcome.into(),
            ..Finished::default()
        }
    }

    #[test]
    fn when_the_next_sweep_is_due() {
        let hour = Some(Duration::from_secs(3600));
        let fresh = Record {
            since: Some(at(0)),
            ..Record::default()
        };
        // The first is one interval after the first look; off is never.
        assert_eq!(fresh.due_at(hour, None, at(5)), Some(at(3600)));
        assert_eq!(fresh.due_at(None, Some(at(1)), at(5)), None);
        // A request (a role became managed) brings it forward.
        assert_eq!(fresh.due_at(hour, Some(at(10)), at(5)), Some(at(10)));
        let done = Record {
            since: Some(at(0)),
            last: Some(finished(100, 160, "completed")),
            ..Record::default()
        };
        assert_eq!(done.due_at(hour, None, at(200)), Some(at(3700)));
        // A request older than the last start was served by it.
        assert_eq!(done.due_at(hour, Some(at(50)), at(200)), Some(at(3700)));
        assert_eq!(done.due_at(hour, Some(at(150)), at(200)), Some(at(150)));
        // A failed sweep is tried again within a minute, not an hour.
        let failed = Record {
            last: Some(finished(100, 160, "failed")),
            ..done.clone()
        };
        assert_eq!(failed.due_at(hour, None, at(200)), Some(at(220)));
        assert_eq!(
            failed.due_at(Some(Duration::from_secs(10)), None, at(200)),
            Some(at(110))
        );
    }

    #[test]
    fn a_lease_that_ran_out_is_not_running() {
        let rec = Record {
            running: Some(Running {
                owner: "p".into(),
                trigger: "periodic".into(),
                actor: "system".into(),
                started_at: at(0),
                lease_until: at(60),
            }),
            ..Record::default()
        };
        assert!(rec.live(at(59)).is_some());
        assert!(rec.live(at(60)).is_none());
        let text = rec.text().unwrap();
        assert_eq!(Record::parse(Some(&text)).text().unwrap(), text);
        assert!(Record::parse(Some("not json")).running.is_none());
    }
}
