//! The append-only audit trail: who (token name or `system`), what, on what, before/after
//! detail, and outcome. Writers call [`record`] inside the transaction of the change itself,
//! so a change and its trail commit together.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::store::schema::audit_log;
use crate::store::sql::{Bind, Sql};
use crate::store::{self, DbConn, Pool, StoreError};

/// Who caused an entry: a service account's name, or the bridge itself.
pub const SYSTEM: &str = "system";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

/// One entry to append.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: Option<&'a str>,
    pub detail: serde_json::Value,
    pub outcome: Outcome,
}

#[derive(Insertable)]
#[diesel(table_name = audit_log)]
struct NewRow<'a> {
    at: NaiveDateTime,
    actor: &'a str,
    action: &'a str,
    target_type: &'a str,
    target_id: Option<&'a str>,
    detail: String,
    outcome: &'a str,
}

/// The audit row of `entry` as the tail of an `INSERT … SELECT` over `from` (the `RETURNING`
/// rows of an earlier part of the same statement), the target's id read from `target_id_sql`:
/// for a writer that makes its change and the trail of it in one statement, so both still
/// commit together (`directory/users/pg_create.rs`). `entry.target_id` is not used.
pub(crate) fn push_insert_select(
    sql: &mut Sql,
    entry: &Entry<'_>,
    at: NaiveDateTime,
    from: &str,
    target_id_sql: &str,
) {
    sql.push(
        "INSERT INTO audit_log (at, actor, action, target_type, target_id, detail, outcome) SELECT ",
    )
    .bind(Bind::Time(at))
    .push(", ")
    .bind(Bind::Text(entry.actor.to_string()))
    .push(", ")
    .bind(Bind::Text(entry.action.to_string()))
    .push(", ")
    .bind(Bind::Text(entry.target_type.to_string()))
    .push(&format!(", {target_id_sql}, "))
    .bind(Bind::Text(entry.detail.to_string()))
    .push(", ")
    .bind(Bind::Text(entry.outcome.as_str().to_string()))
    .push(&format!(" FROM {from}"));
}

pub fn record(conn: &mut DbConn, entry: &Entry<'_>) -> Result<(), StoreError> {
    diesel::insert_into(audit_log::table)
        .values(NewRow {
            at: store::now(),
            actor: entry.actor,
            action: entry.action,
            target_type: entry.target_type,
            target_id: entry.target_id,
            detail: entry.detail.to_string(),
            outcome: entry.outcome.as_str(),
        })
        .execute(conn)?;
    Ok(())
}

/// Appends many entries with one statement per chunk (a batch import writes one entry per
/// changed user without one round trip each).
pub fn record_many(conn: &mut DbConn, entries: &[Entry<'_>]) -> Result<(), StoreError> {
    let at = store::now();
    let details: Vec<String> = entries.iter().map(|e| e.detail.to_string()).collect();
    let rows: Vec<NewRow<'_>> = entries
        .iter()
        .zip(&details)
        .map(|(e, detail)| NewRow {
            at,
            actor: e.actor,
            action: e.action,
            target_type: e.target_type,
            target_id: e.target_id,
            detail: detail.clone(),
            outcome: e.outcome.as_str(),
        })
        .collect();
    // Seven parameters a row: far below either backend's bound-parameter limit.
    for chunk in rows.chunks(1000) {
        store::db_run!(conn, |c| diesel::insert_into(audit_log::table)
            .values(chunk)
            .execute(c))?;
    }
    Ok(())
}

#[derive(Debug, Clone, Queryable, Serialize)]
pub struct Record {
    pub id: i64,
    #[serde(serialize_with = "crate::time::serialize_rfc3339")]
    pub at: NaiveDateTime,
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    #[serde(serialize_with = "serialize_json_text")]
    pub detail: String,
    pub outcome: String,
}

fn serialize_json_text<S: serde::Serializer>(text: &str, s: S) -> Result<S::Ok, S::Error> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => v.serialize(s),
        Err(_) => s.serialize_str(text),
    }
}

/// Entries in append order, starting after `after_id` and at or after `since`.
pub fn list(
    conn: &mut DbConn,
    since: Option<NaiveDateTime>,
    after_id: Option<i64>,
    limit: i64,
) -> Result<Vec<Record>, StoreError> {
    let mut q = audit_log::table.into_boxed();
    if let Some(since) = since {
        q = q.filter(audit_log::at.ge(since));
    }
    if let Some(after) = after_id {
        q = q.filter(audit_log::id.gt(after));
    }
    Ok(q.order(audit_log::id.asc())
        .limit(limit)
        .load::<Record>(conn)?)
}

/// The trail as a read service (`GET /api/v1/audit`), built once by `server.rs`.
#[derive(Clone)]
pub struct AuditLog {
    pool: Pool,
}

impl AuditLog {
    pub fn new(pool: Pool) -> AuditLog {
        AuditLog { pool }
    }

    /// Entries in append order, starting after `after_id` and at or after `since`.
    pub async fn list(
        &self,
        since: Option<NaiveDateTime>,
        after_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Record>, StoreError> {
        store::run(&self.pool, move |conn| list(conn, since, after_id, limit)).await
    }
}
