//! The sync engine's rows in the `settings` table: the ZenQMS connection set at run time
//! (its token encrypted with the bridge's key) and the pause flag. Both live in the
//! database so every bridge process sharing it follows them, and they survive restarts.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::store::schema::settings;
use crate::store::settings::{get, put};
use crate::store::{db_run, DbConn, StoreError};

const CONNECTION: &str = "zenqms.connection";
const PAUSED: &str = "sync.paused";

/// The drift sweep's schedule and last result (JSON, see `sweep.rs`); changed only by
/// compare-and-swap, which is what makes one process the sweeper.
const DRIFT_SWEEP: &str = "sync.drift_sweep";

/// The stored connection: never holds the token in clear.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredConnection {
    pub base_url: String,
    /// `Key::seal(TOKEN_PURPOSE, base_url, token)` (or, saved by an older version, the
    /// unbound `Key::encrypt`, re-sealed bound when next loaded).
    pub api_token_encrypted: String,
    pub updated_by: String,
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

/// The purpose the API token is sealed for (`crypto.rs`); it is bound to the base URL.
pub const TOKEN_PURPOSE: &str = "zenqms.api_token";

/// Replaces the stored connection with `next` only if it still is `expected`, keeping its
/// version (`updated_at`): re-sealing a token changes how it is stored, not the connection.
pub fn reseal_connection(
    conn: &mut DbConn,
    expected: &StoredConnection,
    next: &StoredConnection,
) -> Result<bool, StoreError> {
    let text = serde_json::to_string(next).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    crate::store::tx::write(conn, |c| {
        let Some((raw, _)) = get(c, CONNECTION)? else {
            return Ok(false);
        };
        if serde_json::from_str::<StoredConnection>(&raw).ok().as_ref() != Some(expected) {
            return Ok(false);
        }
        // Conditional on the text read: a connection saved meanwhile is never overwritten.
        let n = diesel::update(
            settings::table
                .filter(settings::key.eq(CONNECTION))
                .filter(settings::value.eq(&raw)),
        )
        .set(settings::value.eq(&text))
        .execute(c)?;
        Ok(n == 1)
    })
}

pub fn load_paused(conn: &mut DbConn) -> Result<bool, StoreError> {
    Ok(get(conn, PAUSED)?.is_some_and(|(v, _)| v == "true"))
}

pub fn save_paused(conn: &mut DbConn, paused: bool) -> Result<(), StoreError> {
    put(conn, PAUSED, if paused { "true" } else { "false" })?;
    Ok(())
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
