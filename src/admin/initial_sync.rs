//! `POST /api/v1/initial-sync`, `GET /api/v1/initial-sync`, `GET /api/v1/initial-sync/{id}`,
//! `GET /api/v1/initial-sync/{id}/items?outcome=&after=&limit=&format=`,
//! `POST /api/v1/initial-sync/{id}/cancel`, `POST /api/v1/zenqms/unlink` (docs/initial-sync.md).

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::{AdminError, AdminPrincipal, ReadPrincipal};
use crate::initial_sync::{runs::ItemRow, InitialSync, Mode, Outcome};
use crate::json_body::{present, Object};

const MAX_LIMIT: i64 = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    /// `standard` (the default) or `full`.
    #[serde(default, deserialize_with = "present")]
    mode: Option<String>,
    #[serde(default)]
    dry_run: bool,
}

pub async fn start(
    who: AdminPrincipal,
    svc: web::Data<InitialSync>,
    body: web::Json<Object<StartBody>>,
) -> Result<HttpResponse, AdminError> {
    let body = body.into_inner().0;
    let mode = match body.mode.as_deref() {
        None => Mode::Standard,
        Some(m) => Mode::parse(m).ok_or_else(|| {
            AdminError::BadRequest(format!(
                "`mode` must be \"standard\" or \"full\", not `{m}`"
            ))
        })?,
    };
    let run = svc.start(&who.0.name, mode, body.dry_run).await?;
    Ok(HttpResponse::Accepted().json(run))
}

#[derive(Deserialize)]
pub struct ListQuery {
    limit: Option<i64>,
}

pub async fn list(
    _who: ReadPrincipal,
    svc: web::Data<InitialSync>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, AdminError> {
    let limit = limit(q.limit, 50)?;
    let runs = svc.list(limit).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "runs": runs })))
}

pub async fn get(
    _who: ReadPrincipal,
    svc: web::Data<InitialSync>,
    id: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    Ok(HttpResponse::Ok().json(svc.get(&id).await?))
}

#[derive(Deserialize)]
pub struct ItemsQuery {
    outcome: Option<String>,
    /// Cursor: the `next_after` of the previous page.
    after: Option<i64>,
    limit: Option<i64>,
    /// `json` (the default) or `csv`.
    format: Option<String>,
}

pub async fn items(
    _who: ReadPrincipal,
    svc: web::Data<InitialSync>,
    id: web::Path<String>,
    q: web::Query<ItemsQuery>,
) -> Result<HttpResponse, AdminError> {
    let q = q.into_inner();
    let outcome = match q.outcome.as_deref() {
        None | Some("") => None,
        Some(o) => Some(Outcome::parse(o).ok_or_else(|| {
            AdminError::BadRequest(format!(
                "`outcome` must be one of link, create, update, unchanged, skip, conflict, not `{o}`"
            ))
        })?),
    };
    let csv = match q.format.as_deref() {
        None | Some("") | Some("json") => false,
        Some("csv") => true,
        Some(f) => {
            return Err(AdminError::BadRequest(format!(
                "`format` must be json or csv, not `{f}`"
            )))
        }
    };
    let limit = limit(q.limit, 100)?;
    let after = q.after.unwrap_or(0);
    let items = svc.items(&id, outcome, after, limit).await?;
    let next_after = (items.len() as i64 == limit)
        .then(|| items.last().map(|i| i.seq))
        .flatten();
    if csv {
        let mut res = HttpResponse::Ok();
        res.content_type("text/csv; charset=utf-8");
        res.insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"initial-sync-{id}.csv\""),
        ));
        if let Some(n) = next_after {
            // The cursor of the next page, for a client that pages through the CSV.
            res.insert_header(("X-Next-After", n.to_string()));
        }
        return Ok(res.body(to_csv(&items)));
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({"items": items, "next_after": next_after})))
}

fn limit(given: Option<i64>, default: i64) -> Result<i64, AdminError> {
    let limit = given.unwrap_or(default);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(AdminError::BadRequest(format!(
            "`limit` must be between 1 and {MAX_LIMIT}"
        )));
    }
    Ok(limit)
}

/// The rows as CSV (`crate::csv`), one line each.
pub fn to_csv(items: &[ItemRow]) -> String {
    crate::csv::table(
        &[
            "okta_id",
            "email",
            "outcome",
            "zenqms_id",
            "reason",
            "user_id",
        ],
        items.iter().map(|i| {
            vec![
                i.okta_id.as_deref(),
                i.email.as_deref(),
                Some(i.outcome.as_str()),
                i.zenqms_id.as_deref(),
                i.reason.as_deref(),
                i.user_id.as_deref(),
            ]
        }),
    )
}

pub async fn cancel(
    who: AdminPrincipal,
    svc: web::Data<InitialSync>,
    id: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    Ok(HttpResponse::Accepted().json(svc.cancel(&id, &who.0.name).await?))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct UnlinkBody {
    #[serde(default)]
    dry_run: bool,
}

pub async fn unlink(
    who: AdminPrincipal,
    svc: web::Data<InitialSync>,
    body: web::Json<Object<UnlinkBody>>,
) -> Result<HttpResponse, AdminError> {
    Ok(HttpResponse::Ok().json(svc.unlink(&who.0.name, body.into_inner().0.dry_run).await?))
}
