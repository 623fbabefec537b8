//! `GET /api/v1/audit?since=&until=&actor=&action=&target_id=&after=&limit=&format=`: the
//! audit trail, oldest first, filtered, as JSON or CSV.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::{AdminError, ReadPrincipal};
use crate::audit::{AuditLog, Filter};

const MAX_LIMIT: i64 = 1000;

#[derive(Deserialize, Default, Clone)]
pub struct Query {
    /// RFC 3339 timestamp: entries at or after it.
    pub since: Option<String>,
    /// RFC 3339 timestamp: entries before it.
    pub until: Option<String>,
    pub actor: Option<String>,
    /// An action, or a prefix ending in `.` (`sync.`).
    pub action: Option<String>,
    pub target_id: Option<String>,
    /// Cursor: entries with an id greater than this (the `next_after` of the previous page).
    pub after: Option<i64>,
    pub limit: Option<i64>,
    /// `json` (the default) or `csv`.
    pub format: Option<String>,
}

fn time(name: &str, v: Option<&str>) -> Result<Option<chrono::NaiveDateTime>, AdminError> {
    match v.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => crate::time::parse_rfc3339(s).map(Some).ok_or_else(|| {
            AdminError::BadRequest(format!(
                "`{name}` must be an RFC 3339 timestamp such as 2026-11-22T10:00:00Z, not `{s}`"
            ))
        }),
    }
}

/// The filter a query asks for (the console's audit page reads the same parameters).
pub fn filter_of(q: &Query) -> Result<Filter, AdminError> {
    let text = |v: &Option<String>| {
        v.as_ref()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    Ok(Filter {
        since: time("since", q.since.as_deref())?,
        until: time("until", q.until.as_deref())?,
        actor: text(&q.actor),
        action: text(&q.action),
        target_id: text(&q.target_id),
    })
}

/// Whether the answer is CSV.
pub fn wants_csv(q: &Query) -> Result<bool, AdminError> {
    match q.format.as_deref() {
        None | Some("") | Some("json") => Ok(false),
        Some("csv") => Ok(true),
        Some(f) => Err(AdminError::BadRequest(format!(
            "`format` must be json or csv, not `{f}`"
        ))),
    }
}

pub fn limit_of(q: &Query) -> Result<i64, AdminError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(AdminError::BadRequest(format!(
            "`limit` must be between 1 and {MAX_LIMIT}"
        )));
    }
    Ok(limit)
}

/// The API documents `since` and `until` as date-times: an empty one is a mistake of the
/// caller (a template left unfilled), not "no bound". The console's filter form sends its
/// empty fields and reads them as absent through [`filter_of`].
fn refuse_empty_times(q: &Query) -> Result<(), AdminError> {
    for (name, v) in [("since", &q.since), ("until", &q.until)] {
        if v.as_deref().is_some_and(|s| s.trim().is_empty()) {
            return Err(AdminError::BadRequest(format!(
                "`{name}` is empty: leave it out, or give an RFC 3339 timestamp such as 2026-11-22T10:00:00Z"
            )));
        }
    }
    Ok(())
}

pub async fn list(
    _who: ReadPrincipal,
    log: web::Data<AuditLog>,
    q: web::Query<Query>,
) -> Result<HttpResponse, AdminError> {
    refuse_empty_times(&q)?;
    let filter = filter_of(&q)?;
    let csv = wants_csv(&q)?;
    let limit = limit_of(&q)?;
    let entries = log.list(filter, q.after, limit).await?;
    let next_after = (entries.len() as i64 == limit)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    if csv {
        let mut res = HttpResponse::Ok();
        res.content_type("text/csv; charset=utf-8");
        res.insert_header(("Content-Disposition", "attachment; filename=\"audit.csv\""));
        if let Some(n) = next_after {
            // The cursor of the next page, for a client that pages through the CSV.
            res.insert_header(("X-Next-After", n.to_string()));
        }
        return Ok(res.body(crate::audit::to_csv(&entries)));
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({"entries": entries, "next_after": next_after})))
}
