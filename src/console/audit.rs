//! The audit trail: filter by time, actor, user (target) and action, a page at a time, and
//! export what the filter selects as CSV or JSON — the REST API's filter and CSV
//! (`admin::audit`), read with the same service.

use actix_web::{web, HttpResponse};
use askama::Template;

use super::error::ConsoleError;
use super::page::{self, Chrome, Notice, Viewer};
use crate::admin::audit::{filter_of, Query};
use crate::audit::{AuditLog, Record};

const PAGE: i64 = 100;
/// Entries in one export (narrow the filter for more; the REST API pages past it).
const EXPORT_MAX: i64 = 50_000;

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    chrome: Chrome,
    notice: Notice,
    q: Form,
    entries: Vec<Record>,
    next: Option<String>,
    export: String,
}

/// The form's values as typed (for the inputs).
struct Form {
    since: String,
    until: String,
    actor: String,
    action: String,
    target_id: String,
}

impl AuditPage {
    fn at(&self, r: &Record) -> String {
        crate::time::rfc3339(&r.at)
    }
}

/// `datetime-local` inputs send `2026-12-05T13:00`: taken as UTC (the page says so).
fn as_rfc3339(v: &Option<String>) -> Option<String> {
    let v = v.as_deref().map(str::trim).filter(|s| !s.is_empty())?;
    if v.len() == 16 && !v.ends_with('Z') {
        Some(format!("{v}:00Z"))
    } else {
        Some(v.to_string())
    }
}

fn normalised(q: &Query) -> Query {
    Query {
        since: as_rfc3339(&q.since),
        until: as_rfc3339(&q.until),
        ..q.clone()
    }
}

/// The query string of the filter (for the next page and the export links).
fn query_string(q: &Query, extra: &[(&str, String)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("since", &q.since),
        ("until", &q.until),
        ("actor", &q.actor),
        ("action", &q.action),
        ("target_id", &q.target_id),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            s.append_pair(k, v);
        }
    }
    for (k, v) in extra {
        s.append_pair(k, v);
    }
    s.finish()
}

pub async fn page(
    who: Viewer,
    q: web::Query<Query>,
    log: web::Data<AuditLog>,
) -> Result<HttpResponse, ConsoleError> {
    let raw = q.into_inner();
    let q = normalised(&raw);
    let form = Form {
        since: raw.since.clone().unwrap_or_default(),
        until: raw.until.clone().unwrap_or_default(),
        actor: raw.actor.clone().unwrap_or_default(),
        action: raw.action.clone().unwrap_or_default(),
        target_id: raw.target_id.clone().unwrap_or_default(),
    };
    let (entries, notice) = match filter_of(&q) {
        Ok(filter) => (log.list(filter, q.after, PAGE).await?, Notice::default()),
        Err(e) => (Vec::new(), Notice::error(&ConsoleError::from(e))),
    };
    let next = (entries.len() as i64 == PAGE)
        .then(|| {
            entries
                .last()
                .map(|e| query_string(&raw, &[("after", e.id.to_string())]))
        })
        .flatten();
    let t = AuditPage {
        chrome: who.chrome("audit"),
        notice,
        export: query_string(&raw, &[]),
        q: form,
        entries,
        next,
    };
    page::html(&t)
}

pub async fn export(
    _who: Viewer,
    q: web::Query<Query>,
    log: web::Data<AuditLog>,
) -> Result<HttpResponse, ConsoleError> {
    let q = normalised(&q);
    let filter = filter_of(&q)?;
    let csv = crate::admin::audit::wants_csv(&q)?;
    let entries = log.list(filter, q.after, EXPORT_MAX).await?;
    let (body, kind, ext) = if csv {
        (
            crate::audit::to_csv(&entries),
            "text/csv; charset=utf-8",
            "csv",
        )
    } else {
        (
            serde_json::to_string_pretty(&serde_json::json!({ "entries": entries }))
                .map_err(ConsoleError::internal)?,
            "application/json",
            "json",
        )
    };
    Ok(HttpResponse::Ok()
        .content_type(kind)
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"audit.{ext}\""),
        ))
        .body(body))
}
