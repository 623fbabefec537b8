//! Per-user sync state (`sync_users`): the link to the ZenQMS user, the last run's verdict,
//! and the answer it was diffed against. A user with a job in `sync_jobs` reads as
//! `pending` whatever its row says: the row is the outcome of the last finished run.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::reconcile::{Link, Owner};
use crate::store::schema::{
    scim_user_emails, scim_users, sync_jobs, sync_users, zenqms_user_roles,
};
use crate::store::{db_run, lock_rows, DbConn, StoreError};
use crate::zenqms::{RemoteUser, ZenqmsId};

/// The states a user can be in, as the admin API names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncState {
    Synced,
    Pending,
    Skipped,
    Failed,
}

impl SyncState {
    pub const ALL: [SyncState; 4] = [
        SyncState::Synced,
        SyncState::Pending,
        SyncState::Skipped,
        SyncState::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SyncState::Synced => "synced",
            SyncState::Pending => "pending",
            SyncState::Skipped => "skipped",
            SyncState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<SyncState> {
        SyncState::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// What a finished run writes.
#[derive(Debug, Clone)]
pub struct Record {
    pub state: SyncState,
    pub reason: Option<String>,
    pub attempts: i32,
    pub next_attempt_at: Option<NaiveDateTime>,
    pub link: Option<Link>,
}

#[derive(Insertable, AsChangeset)]
#[diesel(table_name = sync_users, treat_none_as_null = true)]
struct Row {
    user_id: String,
    zenqms_id: Option<String>,
    zenqms_id_json: Option<String>,
    state: String,
    reason: Option<String>,
    attempts: i32,
    last_attempt_at: Option<NaiveDateTime>,
    next_attempt_at: Option<NaiveDateTime>,
    applied: Option<String>,
    synced_at: Option<NaiveDateTime>,
    updated_at: NaiveDateTime,
}

/// Writes a run's outcome (insert or replace).
pub fn save(conn: &mut DbConn, user_id: &str, rec: &Record) -> Result<(), StoreError> {
    let now = crate::store::now();
    let previous_synced: Option<Option<NaiveDateTime>> = sync_users::table
        .filter(sync_users::user_id.eq(user_id))
        .select(sync_users::synced_at)
        .first(conn)
        .optional()?;
    let row = Row {
        user_id: user_id.to_string(),
        zenqms_id: rec.link.as_ref().map(|l| l.id.path_form()),
        zenqms_id_json: rec.link.as_ref().map(|l| l.id.json_text()),
        state: rec.state.as_str().to_string(),
        reason: rec.reason.clone(),
        attempts: rec.attempts,
        last_attempt_at: Some(now),
        next_attempt_at: rec.next_attempt_at,
        applied: rec
            .link
            .as_ref()
            .and_then(|l| l.seen.as_ref())
            .and_then(|u| serde_json::to_string(u).ok()),
        synced_at: if rec.state == SyncState::Synced {
            Some(now)
        } else {
            previous_synced.flatten()
        },
        updated_at: now,
    };
    db_run!(conn, |c| diesel::insert_into(sync_users::table)
        .values(&row)
        .on_conflict(sync_users::user_id)
        .do_update()
        .set(&row)
        .execute(c))?;
    if rec.link.is_some() {
        super::creates::forget(conn, user_id)?;
    }
    shadow_roles(
        conn,
        user_id,
        rec.link.as_ref().and_then(|l| l.seen.as_ref()),
    )
}

/// Replaces the stored picture of a linked user with ZenQMS's current answer (the drift
/// sweep's), keeping `zenqms_user_roles` in step. The verdict of the last run stays: the
/// caller enqueues the user, so it reads `pending` until the reconciler has looked.
pub fn store_picture(
    conn: &mut DbConn,
    user_id: &str,
    seen: &RemoteUser,
) -> Result<(), StoreError> {
    let applied = serde_json::to_string(seen).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    diesel::update(sync_users::table.filter(sync_users::user_id.eq(user_id)))
        .set((
            sync_users::applied.eq(Some(applied)),
            sync_users::updated_at.eq(crate::store::now()),
        ))
        .execute(conn)?;
    shadow_roles(conn, user_id, Some(seen))
}

/// A directory user linked to a ZenQMS user, as the drift sweep compares it.
#[derive(Debug, Clone)]
pub struct Linked {
    pub user_id: String,
    pub zenqms_id_json: String,
    /// The stored picture; `None` when absent or unreadable.
    pub applied: Option<RemoteUser>,
    /// When the row was last written (a run's verdict, or a picture).
    pub updated_at: NaiveDateTime,
    /// A job is waiting or running: the reconciler will read or write the picture itself.
    pub has_job: bool,
}

/// The users linked to these ZenQMS ids (JSON text), read for a change: on PostgreSQL the rows
/// are locked (`FOR UPDATE`) until the caller's transaction ends, so a run that records its
/// verdict meanwhile is either seen or waits; SQLite's `BEGIN IMMEDIATE` already excludes it.
pub fn linked_for_update(
    conn: &mut DbConn,
    zenqms_ids_json: &[String],
) -> Result<Vec<Linked>, StoreError> {
    type Row = (String, Option<String>, Option<String>, NaiveDateTime);
    let mut rows: Vec<Row> = Vec::new();
    for chunk in zenqms_ids_json.chunks(1000) {
        let chunk_rows: Vec<Row> = lock_rows!(
            conn,
            for_update,
            sync_users::table
                .filter(sync_users::zenqms_id_json.eq_any(chunk))
                .select((
                    sync_users::user_id,
                    sync_users::zenqms_id_json,
                    sync_users::applied,
                    sync_users::updated_at,
                ))
                .order(sync_users::user_id.asc()),
            load
        )?;
        rows.extend(chunk_rows);
    }
    let ids: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    let mut with_job = std::collections::HashSet::new();
    for chunk in ids.chunks(1000) {
        with_job.extend(
            sync_jobs::table
                .filter(sync_jobs::user_id.eq_any(chunk))
                .select(sync_jobs::user_id)
                .load::<String>(conn)?,
        );
    }
    Ok(rows
        .into_iter()
        .filter_map(|(user_id, id_json, applied, updated_at)| {
            let zenqms_id_json = id_json?;
            let applied = applied.and_then(|a| serde_json::from_str::<RemoteUser>(&a).ok());
            Some(Linked {
                has_job: with_job.contains(&user_id),
                user_id,
                zenqms_id_json,
                applied,
                updated_at,
            })
        })
        .collect())
}

/// How many directory users are linked to a ZenQMS user.
pub fn linked_count(conn: &mut DbConn) -> Result<i64, StoreError> {
    Ok(sync_users::table
        .filter(sync_users::zenqms_id_json.is_not_null())
        .count()
        .get_result(conn)?)
}

/// Keeps `zenqms_user_roles` equal to the role ids of `applied` (the answer just stored), so
/// "who holds role R" stays one indexed query.
fn shadow_roles(
    conn: &mut DbConn,
    user_id: &str,
    seen: Option<&RemoteUser>,
) -> Result<(), StoreError> {
    diesel::delete(zenqms_user_roles::table.filter(zenqms_user_roles::user_id.eq(user_id)))
        .execute(conn)?;
    let mut ids: Vec<String> = seen
        .map(|u| u.role_ids.iter().map(ZenqmsId::json_text).collect())
        .unwrap_or_default();
    ids.sort();
    ids.dedup();
    if !ids.is_empty() {
        let rows: Vec<_> = ids
            .iter()
            .map(|r| {
                (
                    zenqms_user_roles::user_id.eq(user_id),
                    zenqms_user_roles::role_id_json.eq(r),
                )
            })
            .collect();
        db_run!(conn, |c| diesel::insert_into(zenqms_user_roles::table)
            .values(rows)
            .execute(c))?;
    }
    Ok(())
}

/// Drops the link of a (SCIM-deleted) user whose ZenQMS account another user took over.
pub fn hand_over(conn: &mut DbConn, from_user: &str, to_user: &str) -> Result<(), StoreError> {
    diesel::update(sync_users::table.filter(sync_users::user_id.eq(from_user)))
        .set((
            sync_users::zenqms_id.eq(None::<String>),
            sync_users::zenqms_id_json.eq(None::<String>),
            sync_users::applied.eq(None::<String>),
            sync_users::reason.eq(Some(format!(
                "its ZenQMS user was taken over by directory user {to_user}"
            ))),
            sync_users::updated_at.eq(crate::store::now()),
        ))
        .execute(conn)?;
    shadow_roles(conn, from_user, None)
}

/// The stored link of a user, with the last answer (unreadable JSON forces a re-read).
pub fn load_link(conn: &mut DbConn, user_id: &str) -> Result<Option<Link>, StoreError> {
    let row: Option<(Option<String>, Option<String>)> = sync_users::table
        .filter(sync_users::user_id.eq(user_id))
        .select((sync_users::zenqms_id_json, sync_users::applied))
        .first(conn)
        .optional()?;
    let Some((Some(id_json), applied)) = row else {
        return Ok(None);
    };
    let Some(id) = ZenqmsId::from_json_text(&id_json) else {
        return Err(StoreError::Corrupt(format!(
            "sync_users.zenqms_id_json of {user_id} is not an id: {id_json}"
        )));
    };
    let seen = applied
        .and_then(|a| serde_json::from_str::<RemoteUser>(&a).ok())
        .filter(|u| u.id == id);
    Ok(Some(Link { id, seen }))
}

/// The directory user other than `except` linked to this ZenQMS user.
pub fn owner_of(
    conn: &mut DbConn,
    id: &ZenqmsId,
    except: &str,
) -> Result<Option<Owner>, StoreError> {
    let row: Option<(String, String, Option<NaiveDateTime>)> = sync_users::table
        .inner_join(scim_users::table)
        .filter(sync_users::zenqms_id_json.eq(id.json_text()))
        .filter(sync_users::user_id.ne(except))
        .select((
            scim_users::id,
            scim_users::user_name,
            scim_users::deleted_at,
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(|(user_id, user_name, deleted_at)| Owner {
        user_id,
        user_name,
        deleted: deleted_at.is_some(),
    }))
}

/// Users per state (every directory user counts, SCIM-deleted ones too: ZenQMS keeps them).
pub fn counts(conn: &mut DbConn) -> Result<Vec<(SyncState, i64)>, StoreError> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::Text)]
        state: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    // The same rule as `effective`, in two cheap aggregates instead of one three-way join
    // over every user (which cost hundreds of milliseconds at 100,000 users on SQLite): the
    // finished states are counted from `sync_users` alone, over its (state, user_id) index,
    // leaving out users with a job (those are pending whatever their row says); every other
    // directory user is pending. `sync_users` rows cascade with their user, so each one is a
    // directory user.
    const SQL: &str = "SELECT s.state AS state, COUNT(*) AS n FROM sync_users s \
        WHERE s.state <> 'pending' \
        AND NOT EXISTS (SELECT 1 FROM sync_jobs j WHERE j.user_id = s.user_id) GROUP BY s.state";
    let rows: Vec<Count> = db_run!(conn, |c| diesel::sql_query(SQL).load(c))?;
    let total: i64 = scim_users::table.count().get_result(conn)?;
    let finished = |st: SyncState| -> i64 {
        rows.iter()
            .filter(|r| SyncState::parse(&r.state) == Some(st))
            .map(|r| r.n)
            .sum()
    };
    let done: i64 = [SyncState::Synced, SyncState::Skipped, SyncState::Failed]
        .into_iter()
        .map(finished)
        .sum();
    Ok(SyncState::ALL
        .iter()
        .map(|st| {
            let n = match st {
                SyncState::Pending => (total - done).max(0),
                other => finished(*other),
            };
            (*st, n)
        })
        .collect())
}

fn effective(has_job: bool, stored: Option<&str>) -> SyncState {
    if has_job {
        return SyncState::Pending;
    }
    stored
        .and_then(SyncState::parse)
        .unwrap_or(SyncState::Pending)
}

/// One row of `GET /api/v1/sync/users`.
#[derive(Debug, Clone, Serialize)]
pub struct UserView {
    pub scim_id: String,
    pub user_name: String,
    /// As ZenQMS sent it (a number or a string).
    pub zenqms_id: Option<serde_json::Value>,
    pub state: SyncState,
    pub reason: Option<String>,
    pub attempts: i32,
    #[serde(serialize_with = "crate::time::serialize_opt_rfc3339")]
    pub last_attempt_at: Option<NaiveDateTime>,
    #[serde(serialize_with = "crate::time::serialize_opt_rfc3339")]
    pub next_attempt_at: Option<NaiveDateTime>,
    #[serde(serialize_with = "crate::time::serialize_opt_rfc3339")]
    pub synced_at: Option<NaiveDateTime>,
}

type ListRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i32>,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
    Option<String>,
    Option<i32>,
    Option<NaiveDateTime>,
    Option<String>,
);

/// A page of users in id order after `after`, optionally in one state.
pub fn list(
    conn: &mut DbConn,
    state: Option<SyncState>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<UserView>, StoreError> {
    list_where(conn, state, after, None, None, limit)
}

/// The longest search text [`search`] is given (a name or an address, not a document).
pub const MAX_SEARCH_CHARS: usize = 200;

/// Why a search text is refused, in words for whoever typed it (`None`: it is fine).
pub fn search_text_problem(text: &str) -> Option<String> {
    if text.chars().count() > MAX_SEARCH_CHARS {
        return Some(format!(
            "The search text is too long: enter at most {MAX_SEARCH_CHARS} characters of a user name, an email address or a name."
        ));
    }
    // PostgreSQL's text cannot hold one (docs/limits.md).
    text.contains('\0')
        .then(|| "The search text must not contain a NUL character.".to_string())
}

/// [`list`] of the users whose userName, an email, or a name (given, family, display)
/// contains `text`, without regard to case.
pub fn search(
    conn: &mut DbConn,
    text: &str,
    state: Option<SyncState>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<UserView>, StoreError> {
    list_where(conn, state, after, None, Some(text), limit)
}

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>);

/// `%text%` for LIKE, lower-cased, with LIKE's own `%`, `_` and `\` escaped.
fn contains_pattern(text: &str) -> String {
    let mut out = String::from("%");
    for c in text.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// One user's sync state (`None`: no such directory user).
pub fn one(conn: &mut DbConn, user_id: &str) -> Result<Option<UserView>, StoreError> {
    Ok(list_where(conn, None, None, Some(user_id), None, 1)?.pop())
}

/// What the bridge last saw of a user in ZenQMS: the user as ZenQMS answered (JSON), and
/// the role ids (JSON text) ZenQMS showed the user holding.
pub fn held(
    conn: &mut DbConn,
    user_id: &str,
) -> Result<(Option<serde_json::Value>, Vec<String>), StoreError> {
    let applied: Option<Option<String>> = sync_users::table
        .filter(sync_users::user_id.eq(user_id))
        .select(sync_users::applied)
        .first(conn)
        .optional()?;
    let seen = applied
        .flatten()
        .and_then(|t| serde_json::from_str(&t).ok());
    let roles = zenqms_user_roles::table
        .filter(zenqms_user_roles::user_id.eq(user_id))
        .select(zenqms_user_roles::role_id_json)
        .order(zenqms_user_roles::role_id_json.asc())
        .load(conn)?;
    Ok((seen, roles))
}

fn list_where(
    conn: &mut DbConn,
    state: Option<SyncState>,
    after: Option<&str>,
    only: Option<&str>,
    matching: Option<&str>,
    limit: i64,
) -> Result<Vec<UserView>, StoreError> {
    let mut q = scim_users::table
        .left_join(sync_users::table)
        .left_join(sync_jobs::table.on(sync_jobs::user_id.eq(scim_users::id)))
        .select((
            scim_users::id,
            scim_users::user_name,
            sync_users::zenqms_id_json.nullable(),
            sync_users::state.nullable(),
            sync_users::reason.nullable(),
            sync_users::attempts.nullable(),
            sync_users::last_attempt_at.nullable(),
            sync_users::synced_at.nullable(),
            sync_jobs::user_id.nullable(),
            sync_jobs::attempts.nullable(),
            sync_jobs::run_after.nullable(),
            sync_jobs::last_error.nullable(),
        ))
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(scim_users::id.gt(after.to_string()));
    }
    if let Some(id) = only {
        q = q.filter(scim_users::id.eq(id.to_string()));
    }
    if let Some(text) = matching.filter(|t| !t.trim().is_empty()) {
        // Paged like the rest (by id), so a search stops after a page of matches. Any case:
        // `user_name_lower` is stored lower-cased; SQLite's LIKE ignores ASCII case by itself
        // (and its lower() folds nothing more), so only PostgreSQL folds the names — calling
        // lower() four times a row doubled a search's time on SQLite.
        let p = contains_pattern(text);
        let by_email = scim_user_emails::table
            .filter(scim_user_emails::value_lower.like(p.clone()).escape('\\'))
            .select(scim_user_emails::user_id);
        let by_user_name = scim_users::user_name_lower.like(p.clone()).escape('\\');
        let by_email = scim_users::id.eq_any(by_email).nullable();
        q = match conn.backend() {
            crate::store::Backend::Postgres => q.filter(
                by_user_name
                    .or(lower(scim_users::display_name).like(p.clone()).escape('\\'))
                    .or(lower(scim_users::given_name).like(p.clone()).escape('\\'))
                    .or(lower(scim_users::family_name).like(p.clone()).escape('\\'))
                    .or(by_email),
            ),
            crate::store::Backend::Sqlite => q.filter(
                by_user_name
                    .or(scim_users::display_name.like(p.clone()).escape('\\'))
                    .or(scim_users::given_name.like(p.clone()).escape('\\'))
                    .or(scim_users::family_name.like(p.clone()).escape('\\'))
                    .or(by_email),
            ),
        };
    }
    // The state is derived from two tables; filtered in SQL on the same rule as `effective`.
    q = match state {
        None => q,
        Some(SyncState::Pending) => q.filter(
            sync_jobs::user_id
                .nullable()
                .is_not_null()
                .or(sync_users::state.nullable().is_null())
                .or(sync_users::state.nullable().eq("pending")),
        ),
        Some(s) => q
            .filter(sync_jobs::user_id.nullable().is_null())
            .filter(sync_users::state.nullable().eq(s.as_str())),
    };
    let rows: Vec<ListRow> = q.order(scim_users::id.asc()).limit(limit).load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(
                id,
                user_name,
                zid,
                st,
                reason,
                attempts,
                last,
                synced,
                job,
                job_attempts,
                run_after,
                job_error,
            )| {
                let has_job = job.is_some();
                UserView {
                    scim_id: id,
                    user_name,
                    zenqms_id: zid.and_then(|t| serde_json::from_str(&t).ok()),
                    state: effective(has_job, st.as_deref()),
                    reason: if has_job {
                        job_error.or(reason)
                    } else {
                        reason
                    },
                    attempts: if has_job {
                        job_attempts.unwrap_or(0)
                    } else {
                        attempts.unwrap_or(0)
                    },
                    last_attempt_at: last,
                    next_attempt_at: if has_job { run_after } else { None },
                    synced_at: synced,
                }
            },
        )
        .collect())
}

/// Directory users whose last run failed and who have no job.
pub fn failed_user_ids(conn: &mut DbConn) -> Result<Vec<String>, StoreError> {
    Ok(sync_users::table
        .left_join(sync_jobs::table.on(sync_jobs::user_id.eq(sync_users::user_id)))
        .filter(sync_users::state.eq(SyncState::Failed.as_str()))
        .filter(sync_jobs::user_id.nullable().is_null())
        .select(sync_users::user_id)
        .load(conn)?)
}

/// Which of these ids are not directory users.
pub fn unknown_users(conn: &mut DbConn, ids: &[String]) -> Result<Vec<String>, StoreError> {
    let mut known = std::collections::HashSet::new();
    for chunk in ids.chunks(5000) {
        known.extend(
            scim_users::table
                .filter(scim_users::id.eq_any(chunk))
                .select(scim_users::id)
                .load::<String>(conn)?,
        );
    }
    Ok(ids
        .iter()
        .filter(|i| !known.contains(*i))
        .cloned()
        .collect())
}

/// Forgets the stored ZenQMS picture of these linked users (all linked users when `None`), so
/// their next run reads them from ZenQMS. Returns the users whose picture was dropped.
pub fn forget_pictures(
    conn: &mut DbConn,
    user_ids: Option<&[String]>,
) -> Result<Vec<String>, StoreError> {
    let linked = sync_users::table
        .filter(sync_users::zenqms_id_json.is_not_null())
        .select(sync_users::user_id);
    let ids: Vec<String> = match user_ids {
        None => linked.load(conn)?,
        Some(ids) => {
            let mut out = Vec::new();
            for chunk in ids.chunks(5000) {
                out.extend(
                    linked
                        .filter(sync_users::user_id.eq_any(chunk))
                        .load::<String>(conn)?,
                );
            }
            out
        }
    };
    for chunk in ids.chunks(5000) {
        diesel::update(sync_users::table.filter(sync_users::user_id.eq_any(chunk)))
            .set(sync_users::applied.eq(None::<String>))
            .execute(conn)?;
    }
    Ok(ids)
}
