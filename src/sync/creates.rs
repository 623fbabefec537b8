//! The record of ZenQMS creates sent whose answer is not recorded yet.
//!
//! A run that creates a ZenQMS user learns its id from the answer, and the link lives only in
//! the run until its verdict is written. When that write cannot happen — the database restarted
//! or its disk filled between the call and the verdict, or the process died — the next run
//! would find no link and create the user again: ZenQMS answers `409` (its email and
//! `external_id` are unique) and the holder is then linked, one call too many. So a create is
//! written down here before it is sent (no database, no create), the next run that finds it
//! looks the user up first, and the verdict that records the link removes it
//! (`state::save`, same transaction).

use diesel::prelude::*;

use crate::store::schema::zenqms_creates_sent;
use crate::store::{self, db_run, DbConn, StoreError};

/// Records that a create for `user_id` is about to be sent; returns whether one was sent
/// before without its link being recorded since (then the user may already exist in ZenQMS).
pub fn note(conn: &mut DbConn, user_id: &str) -> Result<bool, StoreError> {
    let earlier = zenqms_creates_sent::table
        .filter(zenqms_creates_sent::user_id.eq(user_id))
        .select(zenqms_creates_sent::user_id)
        .first::<String>(conn)
        .optional()?
        .is_some();
    if !earlier {
        let row = (
            zenqms_creates_sent::user_id.eq(user_id),
            zenqms_creates_sent::sent_at.eq(store::now()),
        );
        // Upserts are not available through the multi-backend connection (`db_run!`).
        db_run!(conn, |c| diesel::insert_into(zenqms_creates_sent::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c))?;
    }
    Ok(earlier)
}

/// The link of `user_id` is recorded: no create of it is unaccounted for any more.
pub fn forget(conn: &mut DbConn, user_id: &str) -> Result<(), StoreError> {
    diesel::delete(zenqms_creates_sent::table.filter(zenqms_creates_sent::user_id.eq(user_id)))
        .execute(conn)?;
    Ok(())
}
