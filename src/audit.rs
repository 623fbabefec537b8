//! The append-only audit trail: who (token name or `system`), what, on what, before/after
//! detail, and outcome. Writers call [`record`] inside the transaction of the change itself,
//! so a change and its trail commit together.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::store::schema::audit_log;
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
