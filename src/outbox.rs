//! The outbox: what the services ask of the sync engine, written in the transaction of the
//! change that needs it, so a committed change always has its follow-up (transactional outbox).
//!
//! Directory writes, mapping changes and (next) the Okta pull produce here; `sync` consumes:
//! `sync_jobs` holds at most one pending job per directory user — a new enqueue of a user who
//! has one bumps its `generation` and makes it due now, which tells a worker holding the job
//! that the user changed again while it ran. [`Wakeup`] wakes this process's workers once the
//! enqueuing transaction has committed.

use std::sync::Arc;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Timestamp};
use tokio::sync::Notify;

use crate::store::schema::{group_members, scim_users, sync_jobs, sync_users, zenqms_user_roles};
use crate::store::{self, DbConn, StoreError};

/// Wakes the sync workers of this process after a transaction that enqueued jobs commits,
/// so an idle system reconciles at once instead of on its next poll.
#[derive(Clone, Default)]
pub struct Wakeup(Arc<Notify>);

impl Wakeup {
    pub fn new() -> Wakeup {
        Wakeup::default()
    }

    /// Call after the enqueuing transaction has committed.
    pub fn notify(&self) {
        self.0.notify_waiters();
        // A worker between two waits would miss `notify_waiters`; keep one permit for it.
        self.0.notify_one();
    }

    /// Resolves on the next `notify` (or at once when a permit is stored).
    pub async fn notified(&self) {
        self.0.notified().await
    }
}

/// Inserts one job per row of `$select` (a query of `(user_id, generation, enqueued_at,
/// run_after, attempts)`), or, for a user that already has one, bumps its generation and makes
/// it due now — one statement whatever the number of users. `on_conflict` is not available on
/// the multi-backend connection, hence `db_run!` (the SQL is the same on both).
macro_rules! upsert_jobs {
    ($conn:expr, $select:expr, $now:expr) => {{
        let select = $select;
        let now = $now;
        macro_rules! stmt {
            () => {
                diesel::insert_into(sync_jobs::table)
                    .values(select)
                    .into_columns((
                        sync_jobs::user_id,
                        sync_jobs::generation,
                        sync_jobs::enqueued_at,
                        sync_jobs::run_after,
                        sync_jobs::attempts,
                    ))
                    .on_conflict(sync_jobs::user_id)
                    .do_update()
                    .set((
                        sync_jobs::generation.eq(sync_jobs::generation + 1),
                        sync_jobs::run_after.eq(now),
                        sync_jobs::attempts.eq(0),
                    ))
            };
        }
        crate::store::db_run!($conn, |c| stmt!().execute(c))
    }};
}

type At = diesel::dsl::AsExprOf<chrono::NaiveDateTime, Timestamp>;
/// The constant columns of a new job: generation 1, enqueued and due now, no attempts.
type JobColumns = (
    diesel::dsl::AsExprOf<i64, BigInt>,
    At,
    At,
    diesel::dsl::AsExprOf<i32, Integer>,
);

fn job_columns(now: chrono::NaiveDateTime) -> JobColumns {
    use diesel::IntoSql;
    (
        // Bound values, not SQL literals: a literal makes diesel refuse to cache the
        // prepared statement, and this upsert runs on every directory write.
        1i64.into_sql::<BigInt>(),
        now.into_sql::<Timestamp>(),
        now.into_sql::<Timestamp>(),
        0i32.into_sql::<Integer>(),
    )
}

/// Enqueues these users (ids that are not directory users are ignored). Returns how many
/// jobs were inserted or bumped.
pub fn enqueue_users(conn: &mut DbConn, user_ids: &[String]) -> Result<usize, StoreError> {
    if user_ids.is_empty() {
        return Ok(0);
    }
    let now = store::now();
    let (generation, enqueued_at, run_after, attempts) = job_columns(now);
    let mut total = 0;
    // Bounded IN lists keep every statement under both backends' bind-parameter limits.
    for chunk in user_ids.chunks(5000) {
        let select = scim_users::table
            .filter(scim_users::id.eq_any(chunk))
            .select((scim_users::id, generation, enqueued_at, run_after, attempts));
        total += upsert_jobs!(&mut *conn, select, now)?;
    }
    Ok(total)
}

/// Enqueues every current member of a group (one statement; call it before deleting the
/// group or changing what its membership means).
pub fn enqueue_group_members(conn: &mut DbConn, group_id: &str) -> Result<usize, StoreError> {
    enqueue_members_of(conn, &[group_id.to_string()])
}

/// Enqueues every member of these groups, once each (one statement per 1,000 groups; a user in
/// two of them is selected once, as PostgreSQL's `ON CONFLICT DO UPDATE` must not meet a row
/// twice in one statement).
pub fn enqueue_members_of(conn: &mut DbConn, group_ids: &[String]) -> Result<usize, StoreError> {
    let now = store::now();
    let mut total = 0;
    for chunk in group_ids.chunks(1000) {
        let (generation, enqueued_at, run_after, attempts) = job_columns(now);
        let select = group_members::table
            .filter(group_members::group_id.eq_any(chunk))
            .select((
                group_members::user_id,
                generation,
                enqueued_at,
                run_after,
                attempts,
            ))
            .distinct();
        total += upsert_jobs!(&mut *conn, select, now)?;
    }
    Ok(total)
}

/// Enqueues every user who holds this role in ZenQMS as their last answer showed it (the
/// `zenqms_user_roles` shadow of `sync_users.applied`): one statement.
pub fn enqueue_role_holders(conn: &mut DbConn, role_id_json: &str) -> Result<usize, StoreError> {
    use crate::store::schema::zenqms_user_roles;
    let now = store::now();
    let (generation, enqueued_at, run_after, attempts) = job_columns(now);
    let select = zenqms_user_roles::table
        .filter(zenqms_user_roles::role_id_json.eq(role_id_json))
        .select((
            zenqms_user_roles::user_id,
            generation,
            enqueued_at,
            run_after,
            attempts,
        ));
    Ok(upsert_jobs!(conn, select, now)?)
}

// ---- the other requests: a fresh read of some users, a drift sweep ---------------------

/// Asks that every linked user in these groups or holding this role (as last seen) be read
/// from ZenQMS on their next run, their stored picture forgotten: for a role that ZenQMS
/// stopped listing and lists again, no stored answer says whether a user still holds it.
/// (Enqueue them as well: this only changes what their next run reads.)
pub fn reread_for_role(
    conn: &mut DbConn,
    role_id_json: &str,
    groups: &[String],
) -> Result<usize, StoreError> {
    let members = group_members::table
        .filter(group_members::group_id.eq_any(groups.to_vec()))
        .select(group_members::user_id);
    let holders = zenqms_user_roles::table
        .filter(zenqms_user_roles::role_id_json.eq(role_id_json.to_string()))
        .select(zenqms_user_roles::user_id);
    Ok(diesel::update(
        sync_users::table.filter(
            sync_users::user_id
                .eq_any(members)
                .or(sync_users::user_id.eq_any(holders)),
        ),
    )
    .set(sync_users::applied.eq(None::<String>))
    .execute(conn)?)
}

/// A request for a drift sweep soon (its `updated_at` is when; its value says why).
const DRIFT_SWEEP_REQUESTED: &str = "sync.drift_sweep.requested";

/// Asks for a drift sweep soon, in the caller's transaction: a role that becomes managed may
/// be held by users the bridge has never seen holding it (granted by hand), whom only a sweep
/// finds. Honoured when automatic sweeps are on (`SYNC_DRIFT_SWEEP_SECS` > 0).
pub fn request_sweep(conn: &mut DbConn, why: &str) -> Result<(), StoreError> {
    store::settings::put(conn, DRIFT_SWEEP_REQUESTED, why)?;
    Ok(())
}

/// The latest request for a sweep: why, and when.
pub fn sweep_request(conn: &mut DbConn) -> Result<Option<(String, NaiveDateTime)>, StoreError> {
    store::settings::get(conn, DRIFT_SWEEP_REQUESTED)
}

// ---- holds: users a Standard initial sync linked (docs/initial-sync.md) ------------------

/// Puts these users on hold for `run_id` and drops their pending jobs, in the caller's
/// transaction: a Standard initial sync links them and changes nothing else, so the
/// reconciler and the drift sweep must leave them alone until the identity provider changes
/// them ([`enqueue_changed_users`] releases the hold). Returns how many are held.
pub fn hold_users(
    conn: &mut DbConn,
    user_ids: &[String],
    run_id: &str,
) -> Result<usize, StoreError> {
    use crate::store::schema::sync_holds;
    let now = store::now();
    let mut held = 0;
    for chunk in user_ids.chunks(1000) {
        diesel::delete(sync_holds::table.filter(sync_holds::user_id.eq_any(chunk)))
            .execute(conn)?;
        diesel::delete(sync_jobs::table.filter(sync_jobs::user_id.eq_any(chunk))).execute(conn)?;
        let existing: Vec<String> = scim_users::table
            .filter(scim_users::id.eq_any(chunk))
            .select(scim_users::id)
            .load(conn)?;
        let rows: Vec<_> = existing
            .iter()
            .map(|id| {
                (
                    sync_holds::user_id.eq(id),
                    sync_holds::run_id.eq(run_id),
                    sync_holds::held_at.eq(now),
                )
            })
            .collect();
        // Batch inserts are per backend on the multi-backend connection (`db_run!`).
        held += store::db_run!(conn, |c| diesel::insert_into(sync_holds::table)
            .values(&rows)
            .execute(c))?;
    }
    Ok(held)
}

/// Releases the holds of these users (a Full run over them, or a change from a front door).
pub fn release_holds(conn: &mut DbConn, user_ids: &[String]) -> Result<usize, StoreError> {
    use crate::store::schema::sync_holds;
    let mut n = 0;
    for chunk in user_ids.chunks(1000) {
        n += diesel::delete(sync_holds::table.filter(sync_holds::user_id.eq_any(chunk)))
            .execute(conn)?;
    }
    Ok(n)
}

/// Releases every hold a run still has (a Full run that ended before applying them all).
pub fn release_run_holds(conn: &mut DbConn, run_id: &str) -> Result<usize, StoreError> {
    use crate::store::schema::sync_holds;
    Ok(diesel::delete(sync_holds::table.filter(sync_holds::run_id.eq(run_id))).execute(conn)?)
}

/// Which of these users are on hold.
pub fn held_among(conn: &mut DbConn, user_ids: &[String]) -> Result<Vec<String>, StoreError> {
    use crate::store::schema::sync_holds;
    let mut out = Vec::new();
    for chunk in user_ids.chunks(1000) {
        out.extend(
            sync_holds::table
                .filter(sync_holds::user_id.eq_any(chunk))
                .select(sync_holds::user_id)
                .load::<String>(conn)?,
        );
    }
    Ok(out)
}

/// Whether this user is on hold.
pub fn is_held(conn: &mut DbConn, user_id: &str) -> Result<bool, StoreError> {
    Ok(!held_among(conn, &[user_id.to_string()])?.is_empty())
}

/// What a front door calls when the identity provider changed these users (a SCIM write; next,
/// an Okta event): releases any hold and enqueues them, in the caller's transaction — "linked
/// users are not touched again until Okta changes them (then the full rules apply)".
pub fn enqueue_changed_users(conn: &mut DbConn, user_ids: &[String]) -> Result<usize, StoreError> {
    release_holds(conn, user_ids)?;
    enqueue_users(conn, user_ids)
}
