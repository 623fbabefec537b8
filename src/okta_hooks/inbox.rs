//! The deliveries and events tables: a delivery and its new events stored in the receiver's
//! one transaction, events claimed by the processor under a lease, and their outcome written
//! back.
//!
//! Retention: events done (applied, ignored, failed) longer ago than `OKTA_EVENTS_RETAIN_DAYS`
//! are deleted, then the processed deliveries left without events (`OktaHooks::prune`, run
//! by the processor's task at its start and hourly). An event's row
//! is what recognises a repeated `uuid`; Okta repeats a delivery within seconds (one retry of a
//! failed one, or an at-least-once duplicate), so a retention of at least a day keeps every
//! repeat recognised. Pending events, and their deliveries, are kept whatever their age.
//!
//! Claiming: pending events that are due and whose lease is free or expired, oldest
//! `published` first, locked with `FOR UPDATE SKIP LOCKED` on PostgreSQL so that two bridge
//! processes never claim the same event (SQLite: one process, and its write transaction
//! holds the database). The outcome is written only by the lease's owner: an event whose lease
//! expired and was taken over is the new owner's to finish.

use std::collections::BTreeSet;

use chrono::{Duration as ChronoDuration, NaiveDateTime};
use diesel::prelude::*;

use super::delivery::Delivery;
use crate::store::schema::{okta_hook_deliveries, okta_hook_events};
use crate::store::{db_run, DbConn, StoreError};

/// Rows per multi-row `INSERT` (14 parameters each, far inside both backends' limits).
const INSERT_CHUNK: usize = 200;

/// What storing a delivery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub delivery_id: String,
    /// Events seen for the first time and to be followed.
    pub pending: usize,
    /// Events seen for the first time, of a type the bridge does not follow.
    pub ignored: usize,
    /// Events already received (in an earlier delivery, or twice in this one).
    pub duplicates: usize,
}

/// Stores the delivery (as received) and its events not seen before, in the caller's
/// transaction.
pub fn store(conn: &mut DbConn, body: &str, d: &Delivery) -> Result<Stored, StoreError> {
    let now = crate::store::now();
    let delivery_id = uuid::Uuid::now_v7().to_string();
    diesel::insert_into(okta_hook_deliveries::table)
        .values((
            okta_hook_deliveries::id.eq(&delivery_id),
            okta_hook_deliveries::okta_event_id.eq(d.event_id.as_deref()),
            okta_hook_deliveries::received_at.eq(now),
            okta_hook_deliveries::body.eq(body),
            okta_hook_deliveries::event_count.eq(i32::try_from(d.events.len()).unwrap_or(i32::MAX)),
        ))
        .execute(conn)?;
    let mut seen = BTreeSet::new();
    let fresh: Vec<_> = d
        .events
        .iter()
        .filter(|e| seen.insert(e.uuid.as_str()))
        .collect();
    let (mut pending, mut ignored) = (0, 0);
    for chunk in fresh.chunks(INSERT_CHUNK) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|e| {
                let followed = super::EVENT_TYPES.contains(&e.event_type.as_str());
                (
                    okta_hook_events::uuid.eq(e.uuid.as_str()),
                    okta_hook_events::published.eq(e.published),
                    okta_hook_events::event_type.eq(e.event_type.as_str()),
                    okta_hook_events::target_user_id.eq(e.user_id.as_deref()),
                    okta_hook_events::target_group_id.eq(e.group_id.as_deref()),
                    okta_hook_events::delivery_id.eq(delivery_id.as_str()),
                    okta_hook_events::state.eq(if followed { "pending" } else { "ignored" }),
                    okta_hook_events::attempts.eq(0),
                    okta_hook_events::error
                        .eq((!followed).then_some("an event type the bridge does not follow")),
                    okta_hook_events::due_at.eq(now),
                    okta_hook_events::received_at.eq(now),
                    okta_hook_events::done_at.eq((!followed).then_some(now)),
                )
            })
            .collect();
        let inserted: Vec<String> =
            db_run!(conn, |c| diesel::insert_into(okta_hook_events::table)
                .values(&rows)
                .on_conflict_do_nothing()
                .returning(okta_hook_events::uuid)
                .get_results(c))?;
        let inserted: BTreeSet<&str> = inserted.iter().map(String::as_str).collect();
        for e in chunk.iter().filter(|e| inserted.contains(e.uuid.as_str())) {
            if super::EVENT_TYPES.contains(&e.event_type.as_str()) {
                pending += 1;
            } else {
                ignored += 1;
            }
        }
    }
    let duplicates = d.events.len() - pending - ignored;
    if pending == 0 {
        close_delivery(conn, &delivery_id, now)?;
    }
    Ok(Stored {
        delivery_id,
        pending,
        ignored,
        duplicates,
    })
}

/// An event claimed for processing.
#[derive(Debug, Clone, Queryable)]
pub struct Claimed {
    pub uuid: String,
    pub published: NaiveDateTime,
    pub event_type: String,
    pub user_id: Option<String>,
    pub group_id: Option<String>,
    pub delivery_id: String,
    pub attempts: i32,
}

/// Claims up to `limit` due events for `owner` until `now + lease`.
pub fn claim(
    conn: &mut DbConn,
    owner: &str,
    lease: std::time::Duration,
    limit: i64,
) -> Result<Vec<Claimed>, StoreError> {
    let now = crate::store::now();
    let until = now + ChronoDuration::from_std(lease).unwrap_or(ChronoDuration::minutes(2));
    let query = okta_hook_events::table
        .filter(okta_hook_events::state.eq("pending"))
        .filter(okta_hook_events::due_at.le(now))
        .filter(
            okta_hook_events::lease_until
                .is_null()
                .or(okta_hook_events::lease_until.lt(now)),
        )
        .order((okta_hook_events::published, okta_hook_events::uuid))
        .limit(limit)
        .select((
            okta_hook_events::uuid,
            okta_hook_events::published,
            okta_hook_events::event_type,
            okta_hook_events::target_user_id,
            okta_hook_events::target_group_id,
            okta_hook_events::delivery_id,
            okta_hook_events::attempts,
        ));
    let claimed: Vec<Claimed> = match conn {
        DbConn::Postgres(c) => query.for_update().skip_locked().load(c)?,
        DbConn::Sqlite(c) => query.load(c)?,
    };
    if claimed.is_empty() {
        return Ok(claimed);
    }
    let ids: Vec<&str> = claimed.iter().map(|c| c.uuid.as_str()).collect();
    diesel::update(okta_hook_events::table.filter(okta_hook_events::uuid.eq_any(&ids)))
        .set((
            okta_hook_events::lease_owner.eq(owner),
            okta_hook_events::lease_until.eq(until),
        ))
        .execute(conn)?;
    Ok(claimed)
}

/// What became of claimed events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done for good: `applied`, `ignored` or `failed`, with why (ignored, failed).
    Done {
        state: &'static str,
        error: Option<String>,
    },
    /// To be tried again at `due_at` (a transient failure, kept in `error`).
    Retry {
        error: String,
        due_at: NaiveDateTime,
    },
}

/// Writes the outcome of `uuids` (those `owner` still holds); closes the deliveries whose
/// events are all done. Returns how many events were written.
pub fn finish(
    conn: &mut DbConn,
    owner: &str,
    uuids: &[String],
    outcome: &Outcome,
) -> Result<usize, StoreError> {
    let now = crate::store::now();
    let target = okta_hook_events::table
        .filter(okta_hook_events::uuid.eq_any(uuids))
        .filter(okta_hook_events::lease_owner.eq(owner));
    let lease_free = (
        okta_hook_events::lease_owner.eq(None::<String>),
        okta_hook_events::lease_until.eq(None::<NaiveDateTime>),
        okta_hook_events::attempts.eq(okta_hook_events::attempts + 1),
    );
    let written = match outcome {
        Outcome::Done { state, error } => diesel::update(target)
            .set((
                lease_free,
                okta_hook_events::state.eq(*state),
                okta_hook_events::error.eq(error.as_deref()),
                okta_hook_events::done_at.eq(now),
            ))
            .execute(conn)?,
        Outcome::Retry { error, due_at } => diesel::update(target)
            .set((
                lease_free,
                okta_hook_events::error.eq(error.as_str()),
                okta_hook_events::due_at.eq(*due_at),
            ))
            .execute(conn)?,
    };
    if matches!(outcome, Outcome::Done { .. }) {
        let deliveries: Vec<String> = okta_hook_events::table
            .filter(okta_hook_events::uuid.eq_any(uuids))
            .select(okta_hook_events::delivery_id)
            .distinct()
            .load(conn)?;
        for id in deliveries {
            let open: i64 = okta_hook_events::table
                .filter(okta_hook_events::delivery_id.eq(&id))
                .filter(okta_hook_events::state.eq("pending"))
                .count()
                .get_result(conn)?;
            if open == 0 {
                close_delivery(conn, &id, now)?;
            }
        }
    }
    Ok(written)
}

/// Marks a delivery processed, with what became of its events.
fn close_delivery(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> Result<(), StoreError> {
    let mut parts = Vec::new();
    for state in ["applied", "ignored", "failed"] {
        let n: i64 = okta_hook_events::table
            .filter(okta_hook_events::delivery_id.eq(id))
            .filter(okta_hook_events::state.eq(state))
            .count()
            .get_result(conn)?;
        parts.push(format!("{n} {state}"));
    }
    diesel::update(
        okta_hook_deliveries::table
            .filter(okta_hook_deliveries::id.eq(id))
            .filter(okta_hook_deliveries::processed_at.is_null()),
    )
    .set((
        okta_hook_deliveries::processed_at.eq(now),
        okta_hook_deliveries::outcome.eq(parts.join(", ")),
    ))
    .execute(conn)?;
    Ok(())
}

/// Gives back the leases `owner` still holds (a stopping process), so that no event waits
/// for its lease to expire.
pub fn release(conn: &mut DbConn, owner: &str) -> Result<usize, StoreError> {
    Ok(diesel::update(
        okta_hook_events::table
            .filter(okta_hook_events::lease_owner.eq(owner))
            .filter(okta_hook_events::state.eq("pending")),
    )
    .set((
        okta_hook_events::lease_owner.eq(None::<String>),
        okta_hook_events::lease_until.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?)
}

/// Rows deleted per statement when pruning (a short write transaction each: SQLite's one
/// writer, and the receiver behind it, wait at most one batch).
const PRUNE_BATCH: i64 = 1_000;

/// What [`prune`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub events: usize,
    pub deliveries: usize,
}

/// Deletes one batch of the events done before `before`; how many.
pub fn prune_events(conn: &mut DbConn, before: NaiveDateTime) -> Result<usize, StoreError> {
    let uuids: Vec<String> = okta_hook_events::table
        .filter(okta_hook_events::state.ne("pending"))
        .filter(okta_hook_events::done_at.lt(before))
        .select(okta_hook_events::uuid)
        .limit(PRUNE_BATCH)
        .load(conn)?;
    if uuids.is_empty() {
        return Ok(0);
    }
    Ok(
        diesel::delete(okta_hook_events::table.filter(okta_hook_events::uuid.eq_any(&uuids)))
            .execute(conn)?,
    )
}

/// Where [`prune_deliveries`] goes on from: the last delivery it looked at, by
/// `(processed_at, id)`.
pub type PruneCursor = (NaiveDateTime, String);

/// Deletes, of the next batch of deliveries processed before `before` (in `(processed_at,
/// id)` order, after `after`; `None`: from the start), those that hold no event any more: how
/// many, and the last one looked at (`None`: none left to look at). Walking by `processed_at`
/// lets its index find the batch: by id alone, SQLite reads every delivery kept.
pub fn prune_deliveries(
    conn: &mut DbConn,
    before: NaiveDateTime,
    after: Option<&PruneCursor>,
) -> Result<(usize, Option<PruneCursor>), StoreError> {
    let (from_at, from_id) = match after {
        Some((at, last)) => (*at, last.as_str()),
        // 1970: before any delivery, and a timestamp both backends store.
        None => (NaiveDateTime::default(), ""),
    };
    let rows: Vec<(Option<NaiveDateTime>, String)> = okta_hook_deliveries::table
        .filter(okta_hook_deliveries::processed_at.lt(before))
        .filter(okta_hook_deliveries::processed_at.ge(from_at))
        .filter(
            okta_hook_deliveries::processed_at
                .gt(from_at)
                .or(okta_hook_deliveries::id.gt(from_id)),
        )
        .order((okta_hook_deliveries::processed_at, okta_hook_deliveries::id))
        .select((okta_hook_deliveries::processed_at, okta_hook_deliveries::id))
        .limit(PRUNE_BATCH)
        .load(conn)?;
    let last = rows
        .last()
        .and_then(|(at, last)| at.map(|at| (at, last.clone())));
    let Some(last) = last else {
        return Ok((0, None));
    };
    let ids: Vec<String> = rows.into_iter().map(|(_, d)| d).collect();
    let holding: BTreeSet<String> = okta_hook_events::table
        .filter(okta_hook_events::delivery_id.eq_any(&ids))
        .select(okta_hook_events::delivery_id)
        .distinct()
        .load::<String>(conn)?
        .into_iter()
        .collect();
    let empty: Vec<&String> = ids.iter().filter(|id| !holding.contains(*id)).collect();
    let deleted = if empty.is_empty() {
        0
    } else {
        diesel::delete(okta_hook_deliveries::table.filter(okta_hook_deliveries::id.eq_any(empty)))
            .execute(conn)?
    };
    Ok((deleted, Some(last)))
}
