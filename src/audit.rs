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

/// Which entries to list: all of them when every field is empty.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// At or after this time.
    pub since: Option<NaiveDateTime>,
    /// Before this time.
    pub until: Option<NaiveDateTime>,
    /// Exactly this actor (a token's name, `okta:<login>`, `system`).
    pub actor: Option<String>,
    /// This action (`token.create`), or every action under a prefix ending in `.`
    /// (`sync.` matches `sync.pause` and `sync.resume`).
    pub action: Option<String>,
    /// Entries about this object (a user's SCIM id, a token's name, a mapping's id).
    pub target_id: Option<String>,
}

/// Entries in append order, after `after_id`, that `filter` selects.
pub fn list(
    conn: &mut DbConn,
    filter: &Filter,
    after_id: Option<i64>,
    limit: i64,
) -> Result<Vec<Record>, StoreError> {
    let mut q = audit_log::table.into_boxed();
    if let Some(since) = filter.since {
        q = q.filter(audit_log::at.ge(since));
    }
    if let Some(until) = filter.until {
        q = q.filter(audit_log::at.lt(until));
    }
    if let Some(actor) = &filter.actor {
        q = q.filter(audit_log::actor.eq(actor.clone()));
    }
    if let Some(action) = &filter.action {
        q = match action.strip_suffix('.') {
            // A prefix: LIKE with the prefix's own `%` and `_` escaped.
            Some(prefix) => {
                let escaped = prefix
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_");
                q.filter(audit_log::action.like(format!("{escaped}.%")).escape('\\'))
            }
            None => q.filter(audit_log::action.eq(action.clone())),
        };
    }
    if let Some(target) = &filter.target_id {
        q = q.filter(audit_log::target_id.eq(target.clone()));
    }
    if let Some(after) = after_id {
        q = q.filter(audit_log::id.gt(after));
    }
    Ok(q.order(audit_log::id.asc())
        .limit(limit)
        .load::<Record>(conn)?)
}

/// The newest `limit` entries about `target_id`, newest first (a user's page).
pub fn recent_for(
    conn: &mut DbConn,
    target_id: &str,
    limit: i64,
) -> Result<Vec<Record>, StoreError> {
    Ok(audit_log::table
        .filter(audit_log::target_id.eq(target_id))
        .order(audit_log::id.desc())
        .limit(limit)
        .load::<Record>(conn)?)
}

/// Entries as CSV (`crate::csv`): id, at, actor, action, target_type, target_id, outcome,
/// detail (JSON text).
pub fn to_csv(entries: &[Record]) -> String {
    let at: Vec<String> = entries
        .iter()
        .map(|e| crate::time::rfc3339(&e.at))
        .collect();
    let ids: Vec<String> = entries.iter().map(|e| e.id.to_string()).collect();
    crate::csv::table(
        &[
            "id",
            "at",
            "actor",
            "action",
            "target_type",
            "target_id",
            "outcome",
            "detail",
        ],
        entries.iter().enumerate().map(|(n, e)| {
            vec![
                Some(ids[n].as_str()),
                Some(at[n].as_str()),
                Some(e.actor.as_str()),
                Some(e.action.as_str()),
                Some(e.target_type.as_str()),
                e.target_id.as_deref(),
                Some(e.outcome.as_str()),
                Some(e.detail.as_str()),
            ]
        }),
    )
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

    /// Entries in append order, after `after_id`, that `filter` selects.
    pub async fn list(
        &self,
        filter: Filter,
        after_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Record>, StoreError> {
        store::run(&self.pool, move |conn| list(conn, &filter, after_id, limit)).await
    }

    /// The newest `limit` entries about `target_id`, newest first.
    pub async fn recent_for(&self, target_id: &str, limit: i64) -> Result<Vec<Record>, StoreError> {
        let target = target_id.to_string();
        store::run(&self.pool, move |conn| recent_for(conn, &target, limit)).await
    }
}
