//! The hook's row (`okta_event_hook`, one row, id 1) and the figures read from the
//! deliveries and events tables.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::store::schema::{okta_event_hook, okta_hook_deliveries, okta_hook_events};
use crate::store::{DbConn, StoreError};

/// The one row's id.
const ROW: i32 = 1;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = okta_event_hook)]
pub struct Row {
    pub okta_hook_id: String,
    pub uri: String,
    pub status: String,
    pub verification_status: String,
    pub secret_sha256: String,
    pub events: String,
    pub problem: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub fn load(conn: &mut DbConn) -> Result<Option<Row>, StoreError> {
    Ok(okta_event_hook::table
        .filter(okta_event_hook::id.eq(ROW))
        .select(Row::as_select())
        .first(conn)
        .optional()?)
}

/// Only the stored hash of the secret (what every request to `/okta/events` reads).
pub fn secret_hash(conn: &mut DbConn) -> Result<Option<String>, StoreError> {
    Ok(okta_event_hook::table
        .filter(okta_event_hook::id.eq(ROW))
        .select(okta_event_hook::secret_sha256)
        .first(conn)
        .optional()?)
}

/// The columns of a write; `secret_sha256` None keeps the stored one.
pub struct Write<'a> {
    pub okta_hook_id: &'a str,
    pub uri: &'a str,
    pub status: &'a str,
    pub verification_status: &'a str,
    pub secret_sha256: Option<&'a str>,
    pub events: &'a str,
    pub problem: Option<&'a str>,
}

/// Inserts the row (`secret_sha256` required) or updates it. `false` when there is no row
/// and no secret to create it with.
pub fn save(conn: &mut DbConn, w: &Write<'_>) -> Result<bool, StoreError> {
    let now = crate::store::now();
    let exists = load(conn)?.is_some();
    if !exists {
        let Some(secret) = w.secret_sha256 else {
            return Ok(false);
        };
        diesel::insert_into(okta_event_hook::table)
            .values((
                okta_event_hook::id.eq(ROW),
                okta_event_hook::okta_hook_id.eq(w.okta_hook_id),
                okta_event_hook::uri.eq(w.uri),
                okta_event_hook::status.eq(w.status),
                okta_event_hook::verification_status.eq(w.verification_status),
                okta_event_hook::secret_sha256.eq(secret),
                okta_event_hook::events.eq(w.events),
                okta_event_hook::problem.eq(w.problem),
                okta_event_hook::created_at.eq(now),
                okta_event_hook::updated_at.eq(now),
            ))
            .execute(conn)?;
        return Ok(true);
    }
    let target = okta_event_hook::table.filter(okta_event_hook::id.eq(ROW));
    diesel::update(target)
        .set((
            okta_event_hook::okta_hook_id.eq(w.okta_hook_id),
            okta_event_hook::uri.eq(w.uri),
            okta_event_hook::status.eq(w.status),
            okta_event_hook::verification_status.eq(w.verification_status),
            okta_event_hook::events.eq(w.events),
            okta_event_hook::problem.eq(w.problem),
            okta_event_hook::updated_at.eq(now),
        ))
        .execute(conn)?;
    if let Some(secret) = w.secret_sha256 {
        diesel::update(target)
            .set(okta_event_hook::secret_sha256.eq(secret))
            .execute(conn)?;
    }
    Ok(true)
}

/// Deletes the row; `true` when there was one.
pub fn delete(conn: &mut DbConn) -> Result<bool, StoreError> {
    let n =
        diesel::delete(okta_event_hook::table.filter(okta_event_hook::id.eq(ROW))).execute(conn)?;
    Ok(n == 1)
}

/// What the receiver and the processor have done, over every delivery kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    pub last_delivery_at: Option<NaiveDateTime>,
    pub deliveries: i64,
    pub events_pending: i64,
    pub events_applied: i64,
    pub events_ignored: i64,
    pub events_failed: i64,
}

pub fn stats(conn: &mut DbConn) -> Result<Stats, StoreError> {
    let last_delivery_at: Option<NaiveDateTime> = okta_hook_deliveries::table
        .select(diesel::dsl::max(okta_hook_deliveries::received_at))
        .first(conn)?;
    let deliveries: i64 = okta_hook_deliveries::table.count().get_result(conn)?;
    let mut stats = Stats {
        last_delivery_at,
        deliveries,
        ..Stats::default()
    };
    for (state, slot) in [
        ("pending", &mut stats.events_pending),
        ("applied", &mut stats.events_applied),
        ("ignored", &mut stats.events_ignored),
        ("failed", &mut stats.events_failed),
    ] {
        *slot = okta_hook_events::table
            .filter(okta_hook_events::state.eq(state))
            .count()
            .get_result(conn)?;
    }
    Ok(stats)
}
