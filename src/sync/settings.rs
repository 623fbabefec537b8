//! The sync engine's rows in the `settings` table: the ZenQMS connection set at run time
//! (its token encrypted with the bridge's key) and the pause flag. Both live in the
//! database so every bridge process sharing it follows them, and they survive restarts.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::store::schema::settings;
use crate::store::{db_run, DbConn, StoreError};

const CONNECTION: &str = "zenqms.connection";
const PAUSED: &str = "sync.paused";
/// When the ZenQMS role list was last read completely (by any process sharing the database).
const ROLES_REFRESHED: &str = "zenqms.roles.refreshed_at";

/// The drift sweep's schedule and last result (JSON, see `sweep.rs`); changed only by
/// compare-and-swap, which is what makes one process the sweeper.
const DRIFT_SWEEP: &str = "sync.drift_sweep";
/// A request for a drift sweep soon (its `updated_at` is when; its value says why).
const DRIFT_SWEEP_REQUESTED: &str = "sync.drift_sweep.requested";

/// The stored connection: never holds the token in clear.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredConnection {
    pub base_url: String,
    /// `Key::encrypt` of the API token.
    pub api_token_encrypted: String,
    pub updated_by: String,
}

fn get(conn: &mut DbConn, key: &str) -> Result<Option<(String, NaiveDateTime)>, StoreError> {
    Ok(settings::table
        .filter(settings::key.eq(key))
        .select((settings::value, settings::updated_at))
        .first(conn)
        .optional()?)
}

fn put(conn: &mut DbConn, key: &str, value: &str) -> Result<NaiveDateTime, StoreError> {
    let now = crate::store::now();
    let row = (
        settings::key.eq(key),
        settings::value.eq(value),
        settings::updated_at.eq(now),
    );
    db_run!(conn, |c| diesel::insert_into(settings::table)
        .values(row)
        .on_conflict(settings::key)
        .do_update()
        .set((settings::value.eq(value), settings::updated_at.eq(now)))
        .execute(c))?;
    Ok(now)
}

/// The connection saved over the admin API, with when it was saved (its version).
pub fn load_connection(
    conn: &mut DbConn,
) -> Result<Option<(StoredConnection, NaiveDateTime)>, StoreError> {
    match get(conn, CONNECTION)? {
        None => Ok(None),
        Some((text, at)) => serde_json::from_str(&text)
            .map(|c| Some((c, at)))
            .map_err(|e| StoreError::Corrupt(format!("setting {CONNECTION}: {e}"))),
    }
}

pub fn save_connection(
    conn: &mut DbConn,
    c: &StoredConnection,
) -> Result<NaiveDateTime, StoreError> {
    let text = serde_json::to_string(c).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    put(conn, CONNECTION, &text)
}

pub fn load_paused(conn: &mut DbConn) -> Result<bool, StoreError> {
    Ok(get(conn, PAUSED)?.is_some_and(|(v, _)| v == "true"))
}

pub fn save_paused(conn: &mut DbConn, paused: bool) -> Result<(), StoreError> {
    put(conn, PAUSED, if paused { "true" } else { "false" })?;
    Ok(())
}

/// Records that the role list was read completely just now.
pub fn save_roles_refreshed(conn: &mut DbConn) -> Result<NaiveDateTime, StoreError> {
    let now = crate::store::now();
    put(conn, ROLES_REFRESHED, &crate::time::rfc3339(&now))
}

/// When the role list was last read completely, by any process; `None`: never.
pub fn load_roles_refreshed(conn: &mut DbConn) -> Result<Option<NaiveDateTime>, StoreError> {
    Ok(get(conn, ROLES_REFRESHED)?.map(|(_, at)| at))
}

/// The drift sweep's record, as stored (the text is the compare-and-swap's expected value).
pub fn load_sweep(conn: &mut DbConn) -> Result<Option<String>, StoreError> {
    Ok(get(conn, DRIFT_SWEEP)?.map(|(v, _)| v))
}

/// Replaces the drift sweep's record only if it still reads `expected` (`None`: absent);
/// `false` when another process changed it first.
pub fn swap_sweep(
    conn: &mut DbConn,
    expected: Option<&str>,
    next: &str,
) -> Result<bool, StoreError> {
    let now = crate::store::now();
    let n = match expected {
        Some(old) => diesel::update(
            settings::table
                .filter(settings::key.eq(DRIFT_SWEEP))
                .filter(settings::value.eq(old)),
        )
        .set((settings::value.eq(next), settings::updated_at.eq(now)))
        .execute(conn)?,
        None => {
            let row = (
                settings::key.eq(DRIFT_SWEEP),
                settings::value.eq(next),
                settings::updated_at.eq(now),
            );
            db_run!(conn, |c| diesel::insert_into(settings::table)
                .values(row)
                .on_conflict_do_nothing()
                .execute(c))?
        }
    };
    Ok(n == 1)
}

/// Asks for a drift sweep soon (call in the transaction of the change that needs it).
pub fn request_sweep(conn: &mut DbConn, why: &str) -> Result<(), StoreError> {
    put(conn, DRIFT_SWEEP_REQUESTED, why)?;
    Ok(())
}

/// The latest request for a sweep: why, and when.
pub fn load_sweep_request(
    conn: &mut DbConn,
) -> Result<Option<(String, NaiveDateTime)>, StoreError> {
    get(conn, DRIFT_SWEEP_REQUESTED)
}
