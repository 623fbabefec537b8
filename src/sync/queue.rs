//! The transactional outbox: `sync_jobs` holds at most one pending job per directory user.
//! Writers enqueue inside the transaction of the change itself, so a committed change always
//! has its job; the worker claims jobs with a lease and compares `generation` to tell whether
//! the user changed again while it was being reconciled.

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Timestamp};

use crate::store::schema::{group_members, scim_users, sync_jobs};
use crate::store::{self, DbConn, StoreError};

/// Inserts one job per row of `$select` (a query of `(user_id, generation, enqueued_at,
/// run_after, attempts)`), or, for a user that already has one, bumps its generation and makes
/// it due now — one statement whatever the number of users. `on_conflict` is not available on
/// the multi-backend connection, hence the match (the SQL is the same on both).
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
        match $conn {
            DbConn::Sqlite(c) => stmt!().execute(c),
            DbConn::Postgres(c) => stmt!().execute(c),
        }
    }};
}

type At = diesel::dsl::AsExprOf<chrono::NaiveDateTime, Timestamp>;
/// The constant columns of a new job: generation 1, enqueued and due now, no attempts.
type JobColumns = (
    diesel::expression::SqlLiteral<BigInt>,
    At,
    At,
    diesel::expression::SqlLiteral<Integer>,
);

fn job_columns(now: chrono::NaiveDateTime) -> JobColumns {
    use diesel::IntoSql;
    (
        sql::<BigInt>("1"),
        now.into_sql::<Timestamp>(),
        now.into_sql::<Timestamp>(),
        sql::<Integer>("0"),
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
            .select((
                scim_users::id,
                generation.clone(),
                enqueued_at,
                run_after,
                attempts.clone(),
            ));
        total += upsert_jobs!(&mut *conn, select, now)?;
    }
    Ok(total)
}

/// Enqueues every current member of a group (one statement; call it before deleting the
/// group or changing what its membership means).
pub fn enqueue_group_members(conn: &mut DbConn, group_id: &str) -> Result<usize, StoreError> {
    let now = store::now();
    let (generation, enqueued_at, run_after, attempts) = job_columns(now);
    let select = group_members::table
        .filter(group_members::group_id.eq(group_id))
        .select((
            group_members::user_id,
            generation,
            enqueued_at,
            run_after,
            attempts,
        ));
    Ok(upsert_jobs!(conn, select, now)?)
}

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
