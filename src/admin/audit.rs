//! `GET /api/v1/audit?since=&after=&limit=`: the audit trail, oldest first.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::{AdminError, ReadPrincipal};
use crate::audit::AuditLog;

const MAX_LIMIT: i64 = 1000;

#[derive(Deserialize)]
pub struct Query {
    /// RFC 3339 timestamp: entries at or after it.
    since: Option<String>,
    /// Cursor: entries with an id greater than this (the `next_after` of the previous page).
    after: Option<i64>,
    limit: Option<i64>,
}

pub async fn list(
    _who: ReadPrincipal,
    log: web::Data<AuditLog>,
    q: web::Query<Query>,
) -> Result<HttpResponse, AdminError> {
    let since = match q.since.as_deref() {
        Some(s) => Some(crate::time::parse_rfc3339(s).ok_or_else(|| {
            AdminError::BadRequest(format!(
                "`since` must be an RFC 3339 timestamp such as 2026-11-22T10:00:00Z, not `{s}`"
            ))
        })?),
        None => None,
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(AdminError::BadRequest(format!(
            "`limit` must be between 1 and {MAX_LIMIT}"
        )));
    }
    let entries = log.list(since, q.after, limit).await?;
    let next_after = (entries.len() as i64 == limit)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    Ok(HttpResponse::Ok().json(serde_json::json!({"entries": entries, "next_after": next_after})))
}
