//! The `settings` table as a key-value store: small records every process sharing the
//! database follows (the ZenQMS connection, the pause flag, the role list's refresh time, the
//! drift sweep's schedule). Each key is owned by the module that names it.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::settings;
use super::{DbConn, StoreError};

/// The value of `key` and when it was last written.
pub fn get(conn: &mut DbConn, key: &str) -> Result<Option<(String, NaiveDateTime)>, StoreError> {
    Ok(settings::table
        .filter(settings::key.eq(key))
        .select((settings::value, settings::updated_at))
        .first(conn)
        .optional()?)
}

/// Writes `key` (inserted or replaced); returns the time written.
pub fn put(conn: &mut DbConn, key: &str, value: &str) -> Result<NaiveDateTime, StoreError> {
    let now = super::now();
    let row = (
        settings::key.eq(key),
        settings::value.eq(value),
        settings::updated_at.eq(now),
    );
    super::db_run!(conn, |c| diesel::insert_into(settings::table)
        .values(row)
        .on_conflict(settings::key)
        .do_update()
        .set((settings::value.eq(value), settings::updated_at.eq(now)))
        .execute(c))?;
    Ok(now)
}
