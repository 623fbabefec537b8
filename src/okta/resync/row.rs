//! The re-read's one row (`okta_resync`, id 1): the lease, the request flag, the marks and the
//! last outcome. A claim is a compare-and-swap on `runs` (the number of re-reads started), so of
//! two processes that both find a re-read due, one starts it and the other sees it running.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::store::schema::{initial_sync_runs, okta_resync};
use crate::store::{DbConn, StoreError};

const ROW: i32 = 1;

#[derive(Debug, Clone, Default, Queryable, Selectable)]
#[diesel(table_name = okta_resync)]
pub struct Row {
    pub runs: i64,
    pub lease_until: Option<NaiveDateTime>,
    pub run_trigger: Option<String>,
    pub requested_at: Option<NaiveDateTime>,
    pub requested_why: Option<String>,
    pub last_started_at: Option<NaiveDateTime>,
    pub last_finished_at: Option<NaiveDateTime>,
    pub users_mark: Option<NaiveDateTime>,
    pub groups_mark: Option<NaiveDateTime>,
    pub last_outcome: Option<String>,
    pub last_error: Option<String>,
    pub last_counts: Option<String>,
    pub presence_checked_at: Option<NaiveDateTime>,
}

impl Row {
    /// The last re-read's counts (none yet: zeros).
    pub fn counts(&self) -> super::Totals {
        self.last_counts
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default()
    }

    /// The re-read running now (its lease not run out).
    pub fn running(&self, now: NaiveDateTime) -> bool {
        self.lease_until.is_some_and(|u| u > now)
    }
}

/// The row (the migration inserts it; a missing one reads as never run, and claims fail).
pub fn load(conn: &mut DbConn) -> Result<Row, StoreError> {
    Ok(okta_resync::table
        .filter(okta_resync::id.eq(ROW))
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .unwrap_or_default())
}

/// Where the first re-read starts: when the last completed initial sync from the Okta org
/// began reading it (changes after that moment may not be in what it read).
pub fn baseline(conn: &mut DbConn) -> Result<Option<NaiveDateTime>, StoreError> {
    Ok(initial_sync_runs::table
        .filter(initial_sync_runs::source.eq("okta"))
        .filter(initial_sync_runs::state.eq(crate::initial_sync::runs::DONE))
        .filter(initial_sync_runs::dry_run.eq(false))
        .select(diesel::dsl::max(initial_sync_runs::started_at))
        .first::<Option<NaiveDateTime>>(conn)?)
}

/// Starts re-read number `row.runs + 1` for `owner` if the row still reads `row.runs`.
pub fn claim(
    conn: &mut DbConn,
    seen: &Row,
    owner: &str,
    trigger: &str,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        okta_resync::table
            .filter(okta_resync::id.eq(ROW))
            .filter(okta_resync::runs.eq(seen.runs)),
    )
    .set((
        okta_resync::runs.eq(seen.runs + 1),
        okta_resync::lease_owner.eq(Some(owner)),
        okta_resync::lease_until.eq(Some(lease_until)),
        okta_resync::run_trigger.eq(Some(trigger)),
        okta_resync::last_started_at.eq(Some(now)),
        // A request made from now on asks for the next re-read (this one may be past it).
        okta_resync::requested_at.eq(None::<NaiveDateTime>),
        okta_resync::requested_why.eq(None::<String>),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Extends the lease of re-read `run` held by `owner`; `false` when it is no longer theirs.
pub fn renew(
    conn: &mut DbConn,
    run: i64,
    owner: &str,
    lease_until: NaiveDateTime,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        okta_resync::table
            .filter(okta_resync::id.eq(ROW))
            .filter(okta_resync::runs.eq(run))
            .filter(okta_resync::lease_owner.eq(owner)),
    )
    .set(okta_resync::lease_until.eq(Some(lease_until)))
    .execute(conn)?;
    Ok(n == 1)
}

/// What a finished re-read writes.
pub struct Finish<'a> {
    pub outcome: &'a str,
    pub error: Option<&'a str>,
    pub totals: &'a super::Totals,
    /// The new marks, only after a completed re-read (a failed one keeps the old ones).
    pub marks: Option<&'a super::pass::Marks>,
    /// Ask for another re-read at this time (after a failure).
    pub retry_at: Option<NaiveDateTime>,
}

/// Ends re-read `run` held by `owner`; `false` when it is no longer theirs.
pub fn finish(
    conn: &mut DbConn,
    run: i64,
    owner: &str,
    now: NaiveDateTime,
    f: &Finish<'_>,
) -> Result<bool, StoreError> {
    let target = okta_resync::table
        .filter(okta_resync::id.eq(ROW))
        .filter(okta_resync::runs.eq(run))
        .filter(okta_resync::lease_owner.eq(owner));
    let counts = serde_json::to_string(f.totals).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let n = diesel::update(target)
        .set((
            okta_resync::lease_owner.eq(None::<String>),
            okta_resync::lease_until.eq(None::<NaiveDateTime>),
            okta_resync::last_finished_at.eq(Some(now)),
            okta_resync::last_outcome.eq(Some(f.outcome)),
            okta_resync::last_error.eq(f.error),
            okta_resync::last_counts.eq(Some(counts)),
        ))
        .execute(conn)?;
    if n == 1 {
        if let Some(marks) = f.marks {
            diesel::update(okta_resync::table.filter(okta_resync::id.eq(ROW)))
                .set((
                    okta_resync::users_mark.eq(Some(marks.users)),
                    okta_resync::groups_mark.eq(Some(marks.groups)),
                ))
                .execute(conn)?;
            if let Some(at) = marks.presence {
                diesel::update(okta_resync::table.filter(okta_resync::id.eq(ROW)))
                    .set(okta_resync::presence_checked_at.eq(Some(at)))
                    .execute(conn)?;
            }
        }
        if let Some(at) = f.retry_at {
            request(conn, "retry after a failed re-read", at)?;
        }
    }
    Ok(n == 1)
}

/// Asks for a re-read at `at` (a request already standing keeps its time and reason).
pub fn request(conn: &mut DbConn, why: &str, at: NaiveDateTime) -> Result<(), StoreError> {
    diesel::update(
        okta_resync::table
            .filter(okta_resync::id.eq(ROW))
            .filter(okta_resync::requested_at.is_null()),
    )
    .set((
        okta_resync::requested_at.eq(Some(at)),
        okta_resync::requested_why.eq(Some(why)),
    ))
    .execute(conn)?;
    Ok(())
}
