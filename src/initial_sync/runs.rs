//! The persisted runs and their items (`initial_sync_runs`, `initial_sync_items`): a run's
//! progress survives the process, so another (or the restarted) process resumes it where it
//! stopped. One run at a time across every process: `active_slot` is unique while set.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::plan::{Item, Outcome};
use crate::store::schema::{initial_sync_items, initial_sync_runs};
use crate::store::{self, DbConn, StoreError};
use crate::zenqms::ZenqmsId;

/// The value of `active_slot` while a run is unfinished.
const ACTIVE: &str = "active";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Standard,
    Full,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Standard => "standard",
            Mode::Full => "full",
        }
    }
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "standard" => Some(Mode::Standard),
            "full" => Some(Mode::Full),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    ReadingOkta,
    ReadingZenqms,
    Applying,
    Done,
    Failed,
    Cancelled,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::ReadingOkta => "reading_okta",
            State::ReadingZenqms => "reading_zenqms",
            State::Applying => "applying",
            State::Done => "done",
            State::Failed => "failed",
            State::Cancelled => "cancelled",
        }
    }
    pub fn parse(s: &str) -> Option<State> {
        [
            State::ReadingOkta,
            State::ReadingZenqms,
            State::Applying,
            State::Done,
            State::Failed,
            State::Cancelled,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
    pub fn finished(self) -> bool {
        matches!(self, State::Done | State::Failed | State::Cancelled)
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = initial_sync_runs)]
pub struct RunRow {
    pub id: String,
    pub mode: String,
    pub dry_run: bool,
    pub source: String,
    pub state: String,
    pub requested_by: String,
    pub cancel_requested: bool,
    pub error: Option<String>,
    pub started_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
}

impl RunRow {
    pub fn mode(&self) -> Mode {
        Mode::parse(&self.mode).unwrap_or(Mode::Standard)
    }
    pub fn state(&self) -> State {
        State::parse(&self.state).unwrap_or(State::Failed)
    }
}

/// Inserts a new run in its first state. Another unfinished run makes this fail with a
/// unique violation (`StoreError::is_unique_violation`), which aborts the caller's
/// transaction on PostgreSQL.
pub fn insert(
    conn: &mut DbConn,
    id: &str,
    mode: Mode,
    dry_run: bool,
    source: &str,
    requested_by: &str,
) -> Result<(), StoreError> {
    diesel::insert_into(initial_sync_runs::table)
        .values((
            initial_sync_runs::id.eq(id),
            initial_sync_runs::mode.eq(mode.as_str()),
            initial_sync_runs::dry_run.eq(dry_run),
            initial_sync_runs::source.eq(source),
            initial_sync_runs::state.eq(State::ReadingOkta.as_str()),
            initial_sync_runs::active_slot.eq(Some(ACTIVE)),
            initial_sync_runs::requested_by.eq(requested_by),
            initial_sync_runs::cancel_requested.eq(false),
            initial_sync_runs::started_at.eq(store::now()),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn get(conn: &mut DbConn, id: &str) -> Result<Option<RunRow>, StoreError> {
    Ok(initial_sync_runs::table
        .filter(initial_sync_runs::id.eq(id))
        .select(RunRow::as_select())
        .first(conn)
        .optional()?)
}

/// The unfinished run, if any.
pub fn active(conn: &mut DbConn) -> Result<Option<RunRow>, StoreError> {
    Ok(initial_sync_runs::table
        .filter(initial_sync_runs::active_slot.is_not_null())
        .select(RunRow::as_select())
        .first(conn)
        .optional()?)
}

/// Runs, newest first.
pub fn list(conn: &mut DbConn, limit: i64) -> Result<Vec<RunRow>, StoreError> {
    Ok(initial_sync_runs::table
        .order((
            initial_sync_runs::started_at.desc(),
            initial_sync_runs::id.desc(),
        ))
        .limit(limit)
        .select(RunRow::as_select())
        .load(conn)?)
}

/// Takes the lease of an unfinished run nobody holds (or whose holder died): one statement,
/// so two processes never both take it.
pub fn claim(
    conn: &mut DbConn,
    owner: &str,
    lease: std::time::Duration,
) -> Result<Option<String>, StoreError> {
    let Some(run) = active(conn)? else {
        return Ok(None);
    };
    let now = store::now();
    let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60));
    let n = diesel::update(
        initial_sync_runs::table
            .filter(initial_sync_runs::id.eq(&run.id))
            .filter(initial_sync_runs::active_slot.is_not_null())
            .filter(
                initial_sync_runs::lease_until
                    .is_null()
                    .or(initial_sync_runs::lease_until.lt(now)),
            ),
    )
    .set((
        initial_sync_runs::lease_owner.eq(owner),
        initial_sync_runs::lease_until.eq(until),
    ))
    .execute(conn)?;
    Ok((n == 1).then_some(run.id))
}

/// Extends a lease still held; `false` when it was lost.
pub fn renew(
    conn: &mut DbConn,
    id: &str,
    owner: &str,
    lease: std::time::Duration,
) -> Result<bool, StoreError> {
    let until =
        store::now() + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60));
    let n = diesel::update(
        initial_sync_runs::table
            .filter(initial_sync_runs::id.eq(id))
            .filter(initial_sync_runs::lease_owner.eq(owner))
            .filter(initial_sync_runs::active_slot.is_not_null()),
    )
    .set(initial_sync_runs::lease_until.eq(until))
    .execute(conn)?;
    Ok(n == 1)
}

/// Gives a lease back (a process stopping), so the next process resumes at once.
pub fn release(conn: &mut DbConn, id: &str, owner: &str) -> Result<(), StoreError> {
    diesel::update(
        initial_sync_runs::table
            .filter(initial_sync_runs::id.eq(id))
            .filter(initial_sync_runs::lease_owner.eq(owner)),
    )
    .set((
        initial_sync_runs::lease_owner.eq(None::<String>),
        initial_sync_runs::lease_until.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?;
    Ok(())
}

pub fn set_state(conn: &mut DbConn, id: &str, state: State) -> Result<(), StoreError> {
    diesel::update(initial_sync_runs::table.filter(initial_sync_runs::id.eq(id)))
        .set(initial_sync_runs::state.eq(state.as_str()))
        .execute(conn)?;
    Ok(())
}

/// Ends a run: its final state, its error, and the slot freed for the next run.
pub fn finish(
    conn: &mut DbConn,
    id: &str,
    state: State,
    error: Option<&str>,
) -> Result<(), StoreError> {
    diesel::update(initial_sync_runs::table.filter(initial_sync_runs::id.eq(id)))
        .set((
            initial_sync_runs::state.eq(state.as_str()),
            initial_sync_runs::error.eq(error),
            initial_sync_runs::active_slot.eq(None::<String>),
            initial_sync_runs::lease_owner.eq(None::<String>),
            initial_sync_runs::lease_until.eq(None::<NaiveDateTime>),
            initial_sync_runs::finished_at.eq(Some(store::now())),
        ))
        .execute(conn)?;
    Ok(())
}

/// Asks an unfinished run to stop; `Ok(false)` when it had already finished.
pub fn request_cancel(conn: &mut DbConn, id: &str) -> Result<bool, StoreError> {
    let n = diesel::update(
        initial_sync_runs::table
            .filter(initial_sync_runs::id.eq(id))
            .filter(initial_sync_runs::active_slot.is_not_null()),
    )
    .set(initial_sync_runs::cancel_requested.eq(true))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn cancel_requested(conn: &mut DbConn, id: &str) -> Result<bool, StoreError> {
    Ok(initial_sync_runs::table
        .filter(initial_sync_runs::id.eq(id))
        .select(initial_sync_runs::cancel_requested)
        .first::<bool>(conn)
        .optional()?
        .unwrap_or(true))
}

// ---- items -------------------------------------------------------------------------------

/// Where an item is: planned, a call may be under way (look before repeating it), applied.
pub const PLANNED: &str = "planned";
pub const IN_FLIGHT: &str = "in_flight";
pub const DONE: &str = "done";

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = initial_sync_items)]
pub struct ItemRow {
    #[serde(skip)]
    pub run_id: String,
    pub seq: i64,
    pub user_id: Option<String>,
    pub okta_id: Option<String>,
    pub email: Option<String>,
    pub outcome: String,
    pub zenqms_id: Option<String>,
    #[serde(skip)]
    pub zenqms_id_json: Option<String>,
    pub reason: Option<String>,
    pub status: String,
}

impl ItemRow {
    pub fn zenqms(&self) -> Option<ZenqmsId> {
        self.zenqms_id_json
            .as_deref()
            .and_then(ZenqmsId::from_json_text)
    }
}

/// Replaces a run's items with a plan (a run that restarts planning plans again). Items of
/// a dry run are written `done`: there is nothing to apply.
pub fn replace_items(
    conn: &mut DbConn,
    run_id: &str,
    items: &[Item],
    dry_run: bool,
) -> Result<(), StoreError> {
    diesel::delete(initial_sync_items::table.filter(initial_sync_items::run_id.eq(run_id)))
        .execute(conn)?;
    let status = |i: &Item| {
        // Nothing to apply: outcomes that make no call are done as planned.
        if dry_run
            || matches!(
                i.outcome,
                Outcome::Skip | Outcome::Conflict | Outcome::Unchanged
            )
        {
            DONE
        } else {
            PLANNED
        }
    };
    for (n, chunk) in items.chunks(500).enumerate() {
        let rows: Vec<_> = chunk
            .iter()
            .enumerate()
            .map(|(k, i)| {
                (
                    initial_sync_items::run_id.eq(run_id),
                    initial_sync_items::seq.eq((n * 500 + k + 1) as i64),
                    initial_sync_items::user_id.eq(i.user_id.as_deref()),
                    initial_sync_items::okta_id.eq(i.okta_id.as_deref()),
                    initial_sync_items::email.eq(i.email.as_deref()),
                    initial_sync_items::outcome.eq(i.outcome.as_str()),
                    initial_sync_items::zenqms_id.eq(i.zenqms_id.as_ref().map(ZenqmsId::path_form)),
                    initial_sync_items::zenqms_id_json
                        .eq(i.zenqms_id.as_ref().map(ZenqmsId::json_text)),
                    initial_sync_items::reason.eq(i.reason.as_deref()),
                    initial_sync_items::status.eq(status(i)),
                )
            })
            .collect();
        // Batch inserts are per backend on the multi-backend connection (`db_run!`).
        store::db_run!(conn, |c| diesel::insert_into(initial_sync_items::table)
            .values(&rows)
            .execute(c))?;
    }
    Ok(())
}

/// The next items still to apply, in order.
pub fn pending(conn: &mut DbConn, run_id: &str, limit: i64) -> Result<Vec<ItemRow>, StoreError> {
    Ok(initial_sync_items::table
        .filter(initial_sync_items::run_id.eq(run_id))
        .filter(initial_sync_items::status.ne(DONE))
        .order(initial_sync_items::seq.asc())
        .limit(limit)
        .select(ItemRow::as_select())
        .load(conn)?)
}

pub fn mark_in_flight(conn: &mut DbConn, run_id: &str, seq: i64) -> Result<(), StoreError> {
    diesel::update(
        initial_sync_items::table
            .filter(initial_sync_items::run_id.eq(run_id))
            .filter(initial_sync_items::seq.eq(seq)),
    )
    .set(initial_sync_items::status.eq(IN_FLIGHT))
    .execute(conn)?;
    Ok(())
}

/// Records what applying an item did.
pub fn mark_done(
    conn: &mut DbConn,
    run_id: &str,
    seq: i64,
    outcome: Outcome,
    zenqms_id: Option<&ZenqmsId>,
    reason: Option<&str>,
) -> Result<(), StoreError> {
    diesel::update(
        initial_sync_items::table
            .filter(initial_sync_items::run_id.eq(run_id))
            .filter(initial_sync_items::seq.eq(seq)),
    )
    .set((
        initial_sync_items::status.eq(DONE),
        initial_sync_items::outcome.eq(outcome.as_str()),
        initial_sync_items::zenqms_id.eq(zenqms_id.map(ZenqmsId::path_form)),
        initial_sync_items::zenqms_id_json.eq(zenqms_id.map(ZenqmsId::json_text)),
        initial_sync_items::reason.eq(reason),
    ))
    .execute(conn)?;
    Ok(())
}

/// Items by outcome, and how many are done and in all (one query).
pub fn counts(conn: &mut DbConn, run_id: &str) -> Result<Counts, StoreError> {
    let rows: Vec<(String, String, i64)> = initial_sync_items::table
        .filter(initial_sync_items::run_id.eq(run_id))
        .group_by((initial_sync_items::outcome, initial_sync_items::status))
        .select((
            initial_sync_items::outcome,
            initial_sync_items::status,
            diesel::dsl::count_star(),
        ))
        .load(conn)?;
    let mut c = Counts::default();
    for (outcome, status, n) in rows {
        c.total += n;
        if status == DONE {
            c.done += n;
        }
        if let Some(o) = Outcome::parse(&outcome) {
            *c.by_outcome.entry(o.as_str()).or_default() += n;
        }
    }
    for o in Outcome::ALL {
        c.by_outcome.entry(o.as_str()).or_default();
    }
    Ok(c)
}

#[derive(Debug, Clone, Default)]
pub struct Counts {
    pub done: i64,
    pub total: i64,
    pub by_outcome: std::collections::BTreeMap<&'static str, i64>,
}

/// One page of a run's items (keyset: `seq` after `after`).
/// The first `limit` lines of the report whose user the run refused (`skip`, `conflict`).
pub fn refused(conn: &mut DbConn, run_id: &str, limit: i64) -> Result<Vec<ItemRow>, StoreError> {
    Ok(initial_sync_items::table
        .filter(initial_sync_items::run_id.eq(run_id))
        .filter(
            initial_sync_items::outcome
                .eq_any([Outcome::Skip.as_str(), Outcome::Conflict.as_str()]),
        )
        .order(initial_sync_items::seq.asc())
        .limit(limit)
        .select(ItemRow::as_select())
        .load(conn)?)
}

pub fn items(
    conn: &mut DbConn,
    run_id: &str,
    outcome: Option<Outcome>,
    after: i64,
    limit: i64,
) -> Result<Vec<ItemRow>, StoreError> {
    let mut q = initial_sync_items::table
        .filter(initial_sync_items::run_id.eq(run_id))
        .filter(initial_sync_items::seq.gt(after))
        .into_boxed();
    if let Some(o) = outcome {
        q = q.filter(initial_sync_items::outcome.eq(o.as_str()));
    }
    Ok(q.order(initial_sync_items::seq.asc())
        .limit(limit)
        .select(ItemRow::as_select())
        .load(conn)?)
}
