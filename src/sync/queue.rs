//! The consumer side of the outbox (`crate::outbox` enqueues): `sync_jobs` holds at most one
//! pending job per directory user; the worker claims jobs with a lease and compares
//! `generation` to tell whether the user changed again while it was being reconciled.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer};

use crate::outbox::enqueue_users;
use crate::store::schema::{scim_users, sync_jobs};
use crate::store::sql::{Bind, Sql};
use crate::store::{self, lock, DbConn, StoreError};

/// A pending job as the admin surface and tests see it.
#[derive(Debug, Clone, Queryable)]
pub struct Job {
    pub user_id: String,
    pub generation: i64,
    pub enqueued_at: chrono::NaiveDateTime,
    pub run_after: chrono::NaiveDateTime,
    pub attempts: i32,
    pub lease_owner: Option<String>,
    pub lease_until: Option<chrono::NaiveDateTime>,
    pub last_error: Option<String>,
}

/// The job of one user, if any.
pub fn job_of(conn: &mut DbConn, user_id: &str) -> Result<Option<Job>, StoreError> {
    Ok(sync_jobs::table
        .filter(sync_jobs::user_id.eq(user_id))
        .select((
            sync_jobs::user_id,
            sync_jobs::generation,
            sync_jobs::enqueued_at,
            sync_jobs::run_after,
            sync_jobs::attempts,
            sync_jobs::lease_owner,
            sync_jobs::lease_until,
            sync_jobs::last_error,
        ))
        .first(conn)
        .optional()?)
}

/// Jobs waiting (leased or not).
pub fn depth(conn: &mut DbConn) -> Result<i64, StoreError> {
    Ok(sync_jobs::table.count().get_result(conn)?)
}

// ---- the worker's side: claim with a lease, renew it, finish ---------------------------

/// A job claimed by one worker until `lease_until`.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Claimed {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub user_id: String,
    #[diesel(sql_type = BigInt)]
    pub generation: i64,
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
}

/// Claims the oldest due job whose lease is free or expired. On PostgreSQL the row is
/// picked `FOR UPDATE SKIP LOCKED`, so workers of several processes never wait on, nor
/// take, each other's pick; on SQLite the single statement runs under the database's one
/// write lock, which gives the same guarantee.
pub fn claim(
    conn: &mut DbConn,
    owner: &str,
    lease: std::time::Duration,
) -> Result<Option<Claimed>, StoreError> {
    let now = store::now();
    let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60));
    // The subquery picks the row and `UPDATE … RETURNING` claims it in one statement; diesel's
    // query builder has no scalar subquery to say this in, hence SQL text (still one text for
    // both backends, the statement kept prepared).
    let mut sql = Sql::new(conn.backend());
    sql.push("UPDATE sync_jobs SET lease_owner = ")
        .bind(Bind::Text(owner.to_string()))
        .push(", lease_until = ")
        .bind(Bind::Time(until))
        .push(" WHERE user_id = (SELECT user_id FROM sync_jobs WHERE run_after <= ")
        .bind(Bind::Time(now))
        .push(" AND (lease_until IS NULL OR lease_until < ")
        .bind(Bind::Time(now))
        .push(") ORDER BY run_after, user_id LIMIT 1");
    lock::for_update_skip_locked(&mut sql);
    sql.push(") RETURNING user_id, generation, attempts");
    Ok(sql.load::<Claimed>(conn)?.into_iter().next())
}

/// Extends a lease still held; `false` when it was lost (expired and taken).
pub fn renew(
    conn: &mut DbConn,
    user_id: &str,
    owner: &str,
    lease: std::time::Duration,
) -> Result<bool, StoreError> {
    let until =
        store::now() + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60));
    let n = diesel::update(
        sync_jobs::table
            .filter(sync_jobs::user_id.eq(user_id))
            .filter(sync_jobs::lease_owner.eq(owner)),
    )
    .set(sync_jobs::lease_until.eq(until))
    .execute(conn)?;
    Ok(n == 1)
}

/// How finishing a job went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// The job is gone: the user is reconciled as of the claimed generation.
    Done,
    /// The user changed during the run: the job stays, due at once, lease released.
    ChangedMeanwhile,
    /// The lease expired and another worker holds the job: this run's result is dropped.
    LeaseLost,
}

/// Finishes a run that reached a verdict (synced, skipped, failed).
pub fn complete(conn: &mut DbConn, job: &Claimed, owner: &str) -> Result<Completion, StoreError> {
    let deleted = diesel::delete(
        sync_jobs::table
            .filter(sync_jobs::user_id.eq(&job.user_id))
            .filter(sync_jobs::generation.eq(job.generation))
            .filter(sync_jobs::lease_owner.eq(owner)),
    )
    .execute(conn)?;
    if deleted == 1 {
        return Ok(Completion::Done);
    }
    Ok(if release(conn, &job.user_id, owner)? {
        Completion::ChangedMeanwhile
    } else {
        Completion::LeaseLost
    })
}

/// Puts a job back for a later attempt; `false` when the lease was lost.
pub fn retry_later(
    conn: &mut DbConn,
    job: &Claimed,
    owner: &str,
    run_after: chrono::NaiveDateTime,
    attempts: i32,
    error: &str,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        sync_jobs::table
            .filter(sync_jobs::user_id.eq(&job.user_id))
            .filter(sync_jobs::lease_owner.eq(owner)),
    )
    .set((
        sync_jobs::attempts.eq(attempts),
        sync_jobs::run_after.eq(run_after),
        sync_jobs::lease_owner.eq(None::<String>),
        sync_jobs::lease_until.eq(None::<chrono::NaiveDateTime>),
        sync_jobs::last_error.eq(error),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Gives a job back untouched (due as it was); `false` when the lease was not ours.
pub fn release(conn: &mut DbConn, user_id: &str, owner: &str) -> Result<bool, StoreError> {
    let n = diesel::update(
        sync_jobs::table
            .filter(sync_jobs::user_id.eq(user_id))
            .filter(sync_jobs::lease_owner.eq(owner)),
    )
    .set((
        sync_jobs::lease_owner.eq(None::<String>),
        sync_jobs::lease_until.eq(None::<chrono::NaiveDateTime>),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Releases every lease held by these owners (a stopping process's workers).
pub fn release_all(conn: &mut DbConn, owners: &[String]) -> Result<usize, StoreError> {
    Ok(
        diesel::update(sync_jobs::table.filter(sync_jobs::lease_owner.eq_any(owners)))
            .set((
                sync_jobs::lease_owner.eq(None::<String>),
                sync_jobs::lease_until.eq(None::<chrono::NaiveDateTime>),
            ))
            .execute(conn)?,
    )
}

/// Whether some job is due and not leased (read-only: the idle poll must not take the
/// write lock SCIM writers need).
pub fn any_due(conn: &mut DbConn) -> Result<bool, StoreError> {
    let now = store::now();
    let due: i64 = sync_jobs::table
        .filter(sync_jobs::run_after.le(now))
        .filter(
            sync_jobs::lease_until
                .is_null()
                .or(sync_jobs::lease_until.lt(now)),
        )
        .count()
        .get_result(conn)?;
    Ok(due > 0)
}

/// Queue figures for the status endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueStats {
    pub depth: i64,
    pub leased: i64,
    pub oldest_enqueued: Option<chrono::NaiveDateTime>,
}

pub fn stats(conn: &mut DbConn) -> Result<QueueStats, StoreError> {
    let now = store::now();
    let depth = depth(conn)?;
    let leased: i64 = sync_jobs::table
        .filter(sync_jobs::lease_until.ge(now))
        .count()
        .get_result(conn)?;
    let oldest_enqueued = sync_jobs::table
        .select(diesel::dsl::min(sync_jobs::enqueued_at))
        .first::<Option<chrono::NaiveDateTime>>(conn)?;
    Ok(QueueStats {
        depth,
        leased,
        oldest_enqueued,
    })
}

/// Enqueues directory users that have neither a sync state nor a job (pushed before the
/// sync tables existed, or lost to a bug): level-triggered means every user is looked at.
pub fn backfill(conn: &mut DbConn) -> Result<usize, StoreError> {
    use crate::store::schema::sync_users;
    let missing: Vec<String> = scim_users::table
        .left_join(sync_users::table.on(sync_users::user_id.eq(scim_users::id)))
        .left_join(sync_jobs::table.on(sync_jobs::user_id.eq(scim_users::id)))
        .filter(sync_users::user_id.is_null())
        .filter(sync_jobs::user_id.is_null())
        .select(scim_users::id)
        .load(conn)?;
    enqueue_users(conn, &missing)
}

/// Makes every job waiting out a backoff due now (after the connection is fixed).
pub fn make_all_due(conn: &mut DbConn) -> Result<usize, StoreError> {
    let now = store::now();
    Ok(
        diesel::update(sync_jobs::table.filter(sync_jobs::run_after.gt(now)))
            .set(sync_jobs::run_after.eq(now))
            .execute(conn)?,
    )
}
