//! Running one initial sync under its lease: read the source and ZenQMS (one paged search,
//! 100 a call) at once, plan, then apply the plan, several users at a time within the ZenQMS
//! budget, each marked as it goes.
//!
//! Safe to kill at any point. Before a user's call the item is marked `in_flight`; a resumed
//! run that finds an item so marked reads that ZenQMS user before repeating the change (a
//! Standard link is not sent twice). A run killed while reading or planning reads again.
//! ZenQMS unreachable or rate-limited pauses the run in its state (it waits with backoff and
//! tries the same call again); it never fails it. Every call goes through the sync engine's
//! throttle (`sync/throttle.rs`), with `Patience::Verification`: an initial sync is meant to
//! run while sync is paused (push, run Standard, resume), so sync's pause does not stop it.

use std::collections::HashMap;

use tokio::sync::watch;

use super::plan::{self, FullInput, Outcome, Recording, SnapshotApi};
use super::runs::{self, ItemRow, Mode, RunRow, State};
use super::source::{self, SourceError, SourceKind, SourceUser};
use super::InitialSync;
use crate::audit;
use crate::mappings::plan::{prospective, Prospective, SourceGroup};
use crate::store::schema::sync_users;
use crate::store::{self, StoreError};
use crate::sync::backoff;
use crate::sync::reconcile::{self, Api, Outcome as RunOutcome};
use crate::sync::state::{self, Record, SyncState};
use crate::sync::throttle::{DbLinks, Patience, Throttled};
use crate::sync::{directory_view, SyncError};
use crate::zenqms::{
    CallCtx, ErrorClass, RemoteUser, SearchFilters, UserPatch, ZenqmsError, ZenqmsId,
};

/// Why a run stopped before its end.
#[derive(Debug)]
enum Halt {
    /// Cancelled by an admin: the run ends `cancelled`.
    Cancelled,
    /// The process is stopping (or lost the lease): the run stays for the next holder.
    Stopping,
    /// The database was unreachable or busy: the lease is given back and the run is taken up
    /// again (by this process's runner or another) from what was persisted.
    Interrupted(String),
    /// The run cannot go on: it ends `failed` with this.
    Failed(String),
}

impl From<StoreError> for Halt {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() || e.is_contention() {
            return Halt::Interrupted(e.to_string());
        }
        Halt::Failed(format!("database: {e}"))
    }
}

/// ZenQMS users read per search call (the API's maximum).
const PAGE: u32 = 100;

/// Runs `id` (whose lease this process holds) while renewing the lease, until it ends, the
/// lease is lost or `stop` changes (then the lease is given back for the next process).
pub(super) async fn drive(svc: &InitialSync, id: &str, stop: &mut watch::Receiver<bool>) {
    let inner = &svc.inner;
    let heartbeat = async {
        loop {
            tokio::time::sleep(inner.lease / 3).await;
            let (rid, o, lease) = (id.to_string(), inner.owner.clone(), inner.lease);
            match store::run(&inner.pool, move |c| runs::renew(c, &rid, &o, lease)).await {
                Ok(true) => {}
                Ok(false) => return,
                Err::<_, StoreError>(e) => {
                    tracing::warn!(error = %e, "cannot renew the initial sync lease")
                }
            }
        }
    };
    let result = tokio::select! {
        r = execute(svc, id) => r,
        _ = heartbeat => Err(Halt::Stopping),
        _ = stop.changed() => Err(Halt::Stopping),
    };
    let end = match result {
        Ok(()) => None,
        Err(halt @ (Halt::Stopping | Halt::Interrupted(_))) => {
            let (rid, o) = (id.to_string(), inner.owner.clone());
            let _ = store::run(&inner.pool, move |c| runs::release(c, &rid, &o)).await;
            let why = match halt {
                Halt::Interrupted(why) => why,
                _ => "the process is stopping".into(),
            };
            tracing::info!(run = %id, why, "initial sync interrupted; it resumes from its saved progress");
            return;
        }
        Err(Halt::Cancelled) => Some((State::Cancelled, None)),
        Err(Halt::Failed(why)) => Some((State::Failed, Some(why))),
    };
    if let Some((state, error)) = end {
        if let Err(e) = finish(svc, id, state, error.clone()).await {
            tracing::warn!(run = %id, error = %e, "cannot record the end of an initial sync");
        }
    }
}

async fn finish(
    svc: &InitialSync,
    id: &str,
    state: State,
    error: Option<String>,
) -> Result<(), StoreError> {
    let rid = id.to_string();
    store::run(&svc.inner.pool, move |c| {
        store::tx::write(c, |c| {
            let counts = runs::counts(c, &rid)?;
            // A Full run holds its users until it applies them; one that ended early (or
            // any users it did not reach) gives them back to the workers.
            if runs::get(c, &rid)?.is_some_and(|r| r.mode() == Mode::Full) {
                crate::outbox::release_run_holds(c, &rid)?;
            }
            runs::finish(c, &rid, state, error.as_deref())?;
            audit::record(
                c,
                &audit::Entry {
                    actor: &actor_of(&rid),
                    action: "initial_sync.finish",
                    target_type: "initial_sync",
                    target_id: Some(&rid),
                    detail: serde_json::json!({
                        "state": state.as_str(),
                        "error": error,
                        "done": counts.done,
                        "total": counts.total,
                        "counts": counts.by_outcome,
                    }),
                    outcome: if state == State::Failed {
                        audit::Outcome::Failure
                    } else {
                        audit::Outcome::Success
                    },
                },
            )
        })
    })
    .await?;
    tracing::info!(run = %id, state = state.as_str(), "initial sync ended");
    Ok(())
}

/// The audit actor of a run's calls and changes.
fn actor_of(run_id: &str) -> String {
    format!("initial-sync:{run_id}")
}

async fn load(svc: &InitialSync, id: &str) -> Result<RunRow, Halt> {
    let rid = id.to_string();
    store::run(&svc.inner.pool, move |c| runs::get(c, &rid))
        .await?
        .ok_or_else(|| Halt::Failed("the run disappeared".into()))
}

async fn check_cancel(svc: &InitialSync, id: &str) -> Result<(), Halt> {
    let rid = id.to_string();
    if store::run(&svc.inner.pool, move |c| runs::cancel_requested(c, &rid)).await? {
        return Err(Halt::Cancelled);
    }
    Ok(())
}

async fn set_state(svc: &InitialSync, id: &str, s: State) -> Result<(), Halt> {
    let rid = id.to_string();
    Ok(store::run(&svc.inner.pool, move |c| runs::set_state(c, &rid, s)).await?)
}

/// Waits before trying again (`attempt` from 1), unless the run is cancelled meanwhile.
async fn pause(svc: &InitialSync, id: &str, attempt: u32, why: &str) -> Result<(), Halt> {
    check_cancel(svc, id).await?;
    let wait = backoff::delay(attempt, svc.inner.backoff_cap);
    tracing::info!(run = %id, attempt, wait_ms = wait.as_millis() as u64, why, "initial sync paused; will try again");
    tokio::time::sleep(wait).await;
    check_cancel(svc, id).await
}

/// Calls ZenQMS through the throttle (`$api` is a `Throttled`), waiting out an outage, a
/// `429` or a missing connection; evaluates to ZenQMS's answer or its permanent refusal
/// (`Result<T, ZenqmsError>`), or returns the run's `Halt` (cancelled) from the function.
macro_rules! call {
    ($svc:expr, $id:expr, |$api:ident| $body:expr) => {{
        let mut attempt = 0u32;
        loop {
            let Some(conn) = $svc.inner.sync.connected() else {
                attempt += 1;
                pause($svc, $id, attempt, "ZenQMS is not configured").await?;
                continue;
            };
            let $api = Throttled {
                engine: &$svc.inner.sync.inner,
                client: &conn.client,
                patience: Patience::Verification,
            };
            match $body.await {
                Ok(t) => break Ok::<_, ZenqmsError>(t),
                Err(SyncError::Zenqms(e))
                    if matches!(e.class(), ErrorClass::Permanent | ErrorClass::Stale) =>
                {
                    break Err(e)
                }
                Err(e) => {
                    attempt += 1;
                    pause($svc, $id, attempt, &e.to_string()).await?;
                }
            }
        }
    }};
}

async fn execute(svc: &InitialSync, id: &str) -> Result<(), Halt> {
    let run = load(svc, id).await?;
    check_cancel(svc, id).await?;
    match run.state() {
        State::ReadingOkta | State::ReadingZenqms => {
            if plan_run(svc, &run).await? {
                return Ok(());
            }
            apply(svc, &run).await
        }
        State::Applying => apply(svc, &run).await,
        State::Done | State::Failed | State::Cancelled => Ok(()),
    }
}

/// Reads the source and ZenQMS and writes the plan. `Ok(true)` when the run has ended
/// (a dry run ends with its plan).
async fn plan_run(svc: &InitialSync, run: &RunRow) -> Result<bool, Halt> {
    let id = run.id.as_str();
    let mode = run.mode();
    set_state(svc, id, State::ReadingOkta).await?;
    // The two reads depend on nothing of each other and spend different budgets (Okta's
    // buckets, ZenQMS's calls per second): read both at once, so the shorter one costs
    // nothing. The state says `reading_zenqms` once the source is read.
    let source = async {
        let read = read_source(svc, run).await?;
        set_state(svc, id, State::ReadingZenqms).await?;
        Ok::<_, Halt>(read)
    };
    let ((users, unwritten), zenqms) = tokio::try_join!(source, read_zenqms(svc, id))?;
    check_cancel(svc, id).await?;
    let zenqms_by_id: HashMap<String, RemoteUser> = zenqms
        .iter()
        .map(|r| (r.id.json_text(), r.clone()))
        .collect();
    let items = match mode {
        Mode::Standard => {
            let owners = store::run(&svc.inner.pool, |c| {
                use diesel::prelude::*;
                Ok::<_, StoreError>(
                    sync_users::table
                        .filter(sync_users::zenqms_id_json.is_not_null())
                        .select((sync_users::zenqms_id_json, sync_users::user_id))
                        .load::<(Option<String>, String)>(c)?
                        .into_iter()
                        .filter_map(|(z, u)| Some((z?, u)))
                        .collect::<HashMap<String, String>>(),
                )
            })
            .await?;
            plan::standard(&users, &zenqms, &owners)
        }
        Mode::Full => {
            let inputs = full_inputs(svc, &users, unwritten.as_ref()).await?;
            let snapshot = SnapshotApi::new(zenqms.clone());
            let links = DbLinks {
                pool: &svc.inner.pool,
            };
            plan::full(
                &users,
                inputs,
                &snapshot,
                &links,
                svc.inner.default_title.as_deref(),
            )
            .await
        }
    };
    let scope: Vec<String> = users.iter().filter_map(|u| u.user_id.clone()).collect();
    let held_states = if mode == Mode::Standard && !run.dry_run {
        held_records(id, &items, &zenqms_by_id)
    } else {
        Vec::new()
    };
    let (rid, dry) = (id.to_string(), run.dry_run);
    let actor = actor_of(id);
    store::run(&svc.inner.pool, move |c| {
        store::tx::write(c, |c| {
            runs::replace_items(c, &rid, &items, dry)?;
            let mut held = 0;
            if !dry {
                match mode {
                    // Linked users are not touched again until Okta changes them.
                    Mode::Standard => {
                        held = crate::outbox::hold_users(c, &scope, &rid)?;
                        for (uid, rec) in &held_states {
                            if state::load_link(c, uid)?.is_none() {
                                state::save(c, uid, rec)?;
                            }
                        }
                    }
                    // Held for this run until each is applied (`reconcile_one` releases
                    // the hold with the user's record): a worker that reconciled a user
                    // first — the start-up backfill of a resumed run enqueues every user
                    // without a record — would leave the run an `unchanged` to report for
                    // a user it never created.
                    Mode::Full => held = crate::outbox::hold_users(c, &scope, &rid)?,
                }
            }
            let counts = runs::counts(c, &rid)?;
            audit::record(
                c,
                &audit::Entry {
                    actor: &actor,
                    action: "initial_sync.plan",
                    target_type: "initial_sync",
                    target_id: Some(&rid),
                    detail: serde_json::json!({
                        "users": counts.total,
                        "counts": counts.by_outcome,
                        "held": held,
                    }),
                    outcome: audit::Outcome::Success,
                },
            )?;
            runs::set_state(c, &rid, State::Applying)
        })
    })
    .await?;
    if run.dry_run {
        finish(svc, id, State::Done, None).await?;
        return Ok(true);
    }
    Ok(false)
}

/// What the sync state of a held user says until Okta changes it (Standard): a user already
/// linked in ZenQMS is `synced` with that link; one that was not linked says why. Written
/// only for users with no link of their own yet (links are written as they are applied).
fn held_records(
    run_id: &str,
    items: &[plan::Item],
    zenqms: &HashMap<String, RemoteUser>,
) -> Vec<(String, Record)> {
    items
        .iter()
        .filter_map(|i| {
            let uid = i.user_id.clone()?;
            let why = i.reason.clone().unwrap_or_default();
            let (state, link) = match i.outcome {
                Outcome::Unchanged => (
                    SyncState::Synced,
                    i.zenqms_id.as_ref().map(|z| reconcile::Link {
                        id: z.clone(),
                        seen: zenqms.get(&z.json_text()).cloned(),
                    }),
                ),
                Outcome::Skip => (SyncState::Skipped, None),
                Outcome::Conflict => (SyncState::Failed, None),
                _ => return None,
            };
            Some((
                uid,
                Record {
                    state,
                    reason: Some(format!(
                        "held by initial sync {run_id} until Okta changes the user: {why}"
                    )),
                    attempts: 0,
                    next_attempt_at: None,
                    link,
                },
            ))
        })
        .collect()
}

/// The run's users; with them, in a dry run over the Okta source, the snapshot it did not
/// write (its groups and memberships give the role plans of users not in the directory).
async fn read_source(
    svc: &InitialSync,
    run: &RunRow,
) -> Result<(Vec<SourceUser>, Option<source::OrgSnapshot>), Halt> {
    if run.source != SourceKind::Okta.as_str() {
        return Ok((store::run(&svc.inner.pool, source::scim_users).await?, None));
    }
    let Some(org) = svc.inner.org.clone() else {
        return Err(Halt::Failed(
            "the run's source is the Okta org, which is no longer connected".into(),
        ));
    };
    let id = run.id.as_str();
    let mut attempt = 0u32;
    let snapshot = loop {
        match org.read(&|_| {}).await {
            Ok(s) => break s,
            Err(SourceError::Unavailable(why)) => {
                attempt += 1;
                pause(svc, id, attempt, &why).await?;
            }
            Err(SourceError::Failed(why)) => return Err(Halt::Failed(why)),
        }
    };
    if run.dry_run {
        return Ok((source::from_snapshot(&snapshot, None), Some(snapshot)));
    }
    let mut attempt = 0u32;
    let ids = loop {
        match org.write(&snapshot, id).await {
            Ok(ids) => break ids,
            Err(SourceError::Unavailable(why)) => {
                attempt += 1;
                pause(svc, id, attempt, &why).await?;
            }
            Err(SourceError::Failed(why)) => return Err(Halt::Failed(why)),
        }
    };
    let written = source::from_snapshot(&snapshot, Some(&ids));
    // The directory's own view of the written users (a SCIM push may have said more).
    store::run(&svc.inner.pool, move |c| {
        let mut out = Vec::with_capacity(written.len());
        for mut u in written {
            if let Some(uid) = &u.user_id {
                if let Some(d) = directory_view::load(c, uid)? {
                    u.user = d;
                }
            }
            out.push(u);
        }
        Ok::<_, StoreError>(out)
    })
    .await
    .map(|users| (users, None))
    .map_err(Halt::from)
}

/// Every ZenQMS user: one paged search, 100 a call.
async fn read_zenqms(svc: &InitialSync, id: &str) -> Result<Vec<RemoteUser>, Halt> {
    let actor = actor_of(id);
    let mut all = Vec::new();
    let mut page = 1u32;
    loop {
        let filters = SearchFilters::default();
        let ctx = CallCtx {
            actor: Some(&actor),
            ..CallCtx::default()
        };
        let got = call!(svc, id, |api| api.search_page(ctx, &filters, page, PAGE))
            .map_err(|e| Halt::Failed(format!("ZenQMS refused the user search: {e}")))?;
        let n = got.data.len();
        all.extend(got.data);
        if n == 0 || got.total.is_some_and(|t| all.len() as u64 >= t) || n < PAGE as usize {
            return Ok(all);
        }
        page += 1;
    }
}

/// The stored link and the role plan of each user (Full). A user not in the directory (a dry
/// run over the Okta source writes nothing) has no link, and the roles the groups of
/// `unwritten` will give it once written: the plan shows what the real run grants.
async fn full_inputs(
    svc: &InitialSync,
    users: &[SourceUser],
    unwritten: Option<&source::OrgSnapshot>,
) -> Result<Vec<FullInput>, Halt> {
    let ids: Vec<Option<String>> = users.iter().map(|u| u.user_id.clone()).collect();
    let groups_of = unwritten.map(source::groups_by_user).unwrap_or_default();
    let prospects: Vec<Vec<String>> = users
        .iter()
        .map(|u| {
            u.okta_id
                .as_deref()
                .and_then(|o| groups_of.get(o))
                .map(|gs| gs.iter().map(|g| g.to_string()).collect())
                .unwrap_or_default()
        })
        .collect();
    let source_groups: Vec<SourceGroup> = unwritten
        .map(|s| {
            s.groups
                .iter()
                .map(|g| SourceGroup {
                    external_id: g.okta_id.clone(),
                    display_name: g.name.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    let roles = svc.inner.sync.inner.roles.clone();
    let from_snapshot = unwritten.is_some();
    Ok(store::run(&svc.inner.pool, move |c| {
        let prospective = if from_snapshot {
            prospective(c, &source_groups)?
        } else {
            Prospective::default()
        };
        let mut out = Vec::with_capacity(ids.len());
        for (id, groups) in ids.into_iter().zip(prospects) {
            out.push(match id {
                Some(uid) => FullInput {
                    link: state::load_link(c, &uid)?,
                    roles: roles.plan_for(c, &uid)?,
                },
                None => FullInput {
                    link: None,
                    roles: prospective.plan_for(groups.iter().map(String::as_str)),
                },
            });
        }
        Ok::<_, StoreError>(out)
    })
    .await?)
}

/// Applies the plan, many users at a time: one user's call waits on ZenQMS's latency and
/// on the database around it, so the budget is used only if enough users are under way that
/// one of them is always ready for the next slot. [`in_flight`] users at once, their calls
/// paced by the shared throttle, from one list of what is left to apply (read once: a line
/// is a few hundred bytes), so no user waits for the slowest of a batch before it.
async fn apply(svc: &InitialSync, run: &RunRow) -> Result<(), Halt> {
    use futures_util::stream::{self, TryStreamExt};
    let id = run.id.as_str();
    let config = &svc.inner.sync.inner.config;
    let workers = in_flight(config.sync_workers, config.zenqms_max_rps);
    let rid = id.to_string();
    let left = store::run(&svc.inner.pool, move |c| runs::pending(c, &rid, i64::MAX)).await?;
    // The first halt (cancel, stop) drops the users under way: each is marked `in_flight`
    // and looked at before its call is repeated on resume.
    stream::iter(left.iter().map(Ok))
        .try_for_each_concurrent(workers, |item| async move {
            check_cancel(svc, id).await?;
            match run.mode() {
                Mode::Standard => link_one(svc, id, item).await,
                Mode::Full => reconcile_one(svc, id, item).await,
            }
        })
        .await?;
    finish(svc, id, State::Done, None).await?;
    Ok(())
}

/// Users under way at once while applying: enough for 0.4 s of the ZenQMS budget (a user
/// takes one call of ZenQMS's latency plus a few database round trips, well under that),
/// at most [`MAX_IN_FLIGHT`], and at least `SYNC_WORKERS`. At 20 calls/s: 8.
fn in_flight(sync_workers: usize, max_rps: f64) -> usize {
    let budgeted = (max_rps * 0.4).ceil();
    let budgeted = if budgeted.is_finite() && budgeted >= 1.0 {
        (budgeted as usize).min(MAX_IN_FLIGHT)
    } else {
        1
    };
    budgeted.max(sync_workers).max(1)
}

/// Beyond this many users under way, more only wait for the budget (and hold connections).
const MAX_IN_FLIGHT: usize = 16;

async fn mark_in_flight(svc: &InitialSync, id: &str, seq: i64) -> Result<(), Halt> {
    let rid = id.to_string();
    Ok(store::run(&svc.inner.pool, move |c| runs::mark_in_flight(c, &rid, seq)).await?)
}

async fn done(
    svc: &InitialSync,
    id: &str,
    item: &ItemRow,
    outcome: Outcome,
    zenqms: Option<ZenqmsId>,
    reason: Option<String>,
    record: Option<Record>,
) -> Result<(), Halt> {
    let (rid, seq, uid) = (id.to_string(), item.seq, item.user_id.clone());
    Ok(store::run(&svc.inner.pool, move |c| {
        store::tx::write(c, |c| {
            if let (Some(uid), Some(rec)) = (&uid, &record) {
                state::save(c, uid, rec)?;
            }
            runs::mark_done(c, &rid, seq, outcome, zenqms.as_ref(), reason.as_deref())
        })
    })
    .await?)
}

/// Standard: sets `external_id` on the matched ZenQMS user (one call), and records the link
/// so that the reconciler, once Okta changes the user, diffs against this picture.
async fn link_one(svc: &InitialSync, id: &str, item: &ItemRow) -> Result<(), Halt> {
    let (Some(zid), Some(okta)) = (item.zenqms(), item.okta_id.clone()) else {
        return done(
            svc,
            id,
            item,
            Outcome::Skip,
            None,
            Some("nothing to link".into()),
            None,
        )
        .await;
    };
    let actor = actor_of(id);
    let uid = item.user_id.clone();
    let ctx = |before| CallCtx {
        scim_user_id: uid.as_deref(),
        before,
        actor: Some(&actor),
    };
    let linked = |r: RemoteUser| Record {
        state: SyncState::Synced,
        reason: Some(format!(
            "linked by initial sync {id}; held until Okta changes the user"
        )),
        attempts: 0,
        next_attempt_at: None,
        link: Some(reconcile::Link {
            id: r.id.clone(),
            seen: Some(r),
        }),
    };
    if item.status == runs::IN_FLIGHT {
        // A call may have been made before the process stopped: look before repeating it.
        let filters = SearchFilters {
            id: Some(zid.clone()),
            ..SearchFilters::default()
        };
        let seen = call!(svc, id, |api| api.search(ctx(None), &filters));
        if let Ok(Some(r)) = seen.map(|v| v.into_iter().next()) {
            if r.external_id.as_deref() == Some(okta.as_str()) {
                let reason = Some("linked by email".to_string());
                return done(
                    svc,
                    id,
                    item,
                    Outcome::Link,
                    Some(zid),
                    reason,
                    Some(linked(r)),
                )
                .await;
            }
        }
    }
    mark_in_flight(svc, id, item.seq).await?;
    let patch = UserPatch {
        external_id: Some(okta.clone()),
        ..UserPatch::default()
    };
    let answer = call!(svc, id, |api| api.update_user(ctx(None), &zid, &patch));
    match answer {
        Ok(r) => {
            let reason = Some("linked by email".to_string());
            done(
                svc,
                id,
                item,
                Outcome::Link,
                Some(zid),
                reason,
                Some(linked(r)),
            )
            .await
        }
        Err(e @ ZenqmsError::Conflict { .. }) => {
            let reason = format!(
                "ZenQMS refused external_id {okta} on user {zid}: {e} (another ZenQMS user holds this Okta id or email)"
            );
            done(
                svc,
                id,
                item,
                Outcome::Conflict,
                Some(zid),
                Some(reason),
                None,
            )
            .await
        }
        Err(e) => {
            let reason = format!("ZenQMS refused the link: {e}");
            done(svc, id, item, Outcome::Skip, Some(zid), Some(reason), None).await
        }
    }
}

/// An [`Api`] that names the run as the actor of every call (the audit trail).
struct AsRun<'a, A> {
    inner: &'a A,
    actor: &'a str,
}

impl<A: Api> Api for AsRun<'_, A> {
    async fn search(
        &self,
        ctx: CallCtx<'_>,
        f: &SearchFilters,
    ) -> Result<Vec<RemoteUser>, SyncError> {
        self.inner
            .search(
                CallCtx {
                    actor: Some(self.actor),
                    ..ctx
                },
                f,
            )
            .await
    }
    async fn create_user(
        &self,
        ctx: CallCtx<'_>,
        u: &crate::zenqms::NewUser,
    ) -> Result<RemoteUser, SyncError> {
        self.inner
            .create_user(
                CallCtx {
                    actor: Some(self.actor),
                    ..ctx
                },
                u,
            )
            .await
    }
    async fn update_user(
        &self,
        ctx: CallCtx<'_>,
        id: &ZenqmsId,
        p: &UserPatch,
    ) -> Result<RemoteUser, SyncError> {
        self.inner
            .update_user(
                CallCtx {
                    actor: Some(self.actor),
                    ..ctx
                },
                id,
                p,
            )
            .await
    }
    async fn add_roles(
        &self,
        ctx: CallCtx<'_>,
        id: &ZenqmsId,
        r: &[ZenqmsId],
    ) -> Result<RemoteUser, SyncError> {
        self.inner
            .add_roles(
                CallCtx {
                    actor: Some(self.actor),
                    ..ctx
                },
                id,
                r,
            )
            .await
    }
    async fn remove_roles(
        &self,
        ctx: CallCtx<'_>,
        id: &ZenqmsId,
        r: &[ZenqmsId],
    ) -> Result<RemoteUser, SyncError> {
        self.inner
            .remove_roles(
                CallCtx {
                    actor: Some(self.actor),
                    ..ctx
                },
                id,
                r,
            )
            .await
    }
}

/// Full: the reconciler's run for one user, recorded like a worker's.
async fn reconcile_one(svc: &InitialSync, id: &str, item: &ItemRow) -> Result<(), Halt> {
    let Some(uid) = item.user_id.clone() else {
        let reason = Some("not in the directory".to_string());
        return done(svc, id, item, Outcome::Skip, None, reason, None).await;
    };
    mark_in_flight(svc, id, item.seq).await?;
    let actor = actor_of(id);
    let mut attempt = 0u32;
    loop {
        let Some(conn) = svc.inner.sync.connected() else {
            attempt += 1;
            pause(svc, id, attempt, "ZenQMS is not configured").await?;
            continue;
        };
        let (u, roles) = (uid.clone(), svc.inner.sync.inner.roles.clone());
        let (user, link, plan) = store::run(&svc.inner.pool, move |c| {
            Ok::<_, StoreError>((
                directory_view::load(c, &u)?,
                state::load_link(c, &u)?,
                roles.plan_for(c, &u)?,
            ))
        })
        .await?;
        let Some(user) = user else {
            let reason = Some("no longer in the directory".to_string());
            return done(svc, id, item, Outcome::Skip, None, reason, None).await;
        };
        let throttled = Throttled {
            engine: &svc.inner.sync.inner,
            client: &conn.client,
            patience: Patience::Verification,
        };
        let as_run = AsRun {
            inner: &throttled,
            actor: &actor,
        };
        let rec = Recording::new(&as_run);
        let links = DbLinks {
            pool: &svc.inner.pool,
        };
        let had_link = link.is_some();
        let run = reconcile::reconcile(
            &rec,
            &links,
            &user,
            link,
            svc.inner.default_title.as_deref(),
            plan,
        )
        .await;
        let Some((mut outcome, mut reason)) = plan::outcome_of(had_link, &rec, &run) else {
            attempt += 1;
            let why = match &run.outcome {
                RunOutcome::Retry { error } => error.to_string(),
                _ => String::new(),
            };
            pause(svc, id, attempt, &why).await?;
            continue;
        };
        // A create this run sent before its process stopped, whose answer was lost with it:
        // the resumed run finds the user it created (by its Okta id) with nothing left to
        // change. It is the run's create, not a user that was already right.
        if item.status == runs::IN_FLIGHT
            && item.outcome == Outcome::Create.as_str()
            && outcome == Outcome::Unchanged
            && !had_link
            && run.link.is_some()
        {
            outcome = Outcome::Create;
            reason = Some(match reason {
                Some(r) => format!("created before the run was interrupted; {r}"),
                None => "created before the run was interrupted".into(),
            });
        }
        let sync_state = match &run.outcome {
            RunOutcome::Synced { .. } => SyncState::Synced,
            RunOutcome::Skipped { .. } => SyncState::Skipped,
            _ => SyncState::Failed,
        };
        let record = Record {
            state: sync_state,
            reason: reason.clone(),
            attempts: 0,
            next_attempt_at: None,
            link: run.link.clone(),
        };
        let zid = run.link.as_ref().map(|l| l.id.clone());
        let (rid, seq, took_over) = (id.to_string(), item.seq, run.took_over_from.clone());
        let missing = run.missing_roles.clone();
        let roles = svc.inner.sync.inner.roles.clone();
        store::run(&svc.inner.pool, move |c| {
            store::tx::write(c, |c| {
                if let Some(from) = &took_over {
                    state::hand_over(c, from, &uid)?;
                }
                roles.mark_missing(c, &missing)?;
                state::save(c, &uid, &record)?;
                // Applied: from now on the user is the workers' again.
                crate::outbox::release_holds(c, std::slice::from_ref(&uid))?;
                runs::mark_done(c, &rid, seq, outcome, zid.as_ref(), reason.as_deref())
            })
        })
        .await?;
        return Ok(());
    }
}
