//! `GET /api/v1/users`, `/users/{id}` (id or login), `/users/{id}/groups`.
//!
//! `filter` allows `id eq`, `status eq`, `type.id eq`, `profile.login|email|firstName|lastName eq`
//! and `created`/`lastUpdated`/`statusChanged`/`activated` with `eq gt ge lt le`; `search`
//! allows any of the user's top-level attributes and any `profile.*` attribute with every
//! operator. With either, DEPROVISIONED users are included; without, left out.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use crate::api::paging::{respond, ListQuery};
use crate::error::ApiError;
use crate::filter::{is_time_attr, Op};
use crate::sim::Simulator;
use crate::state::UserQuery;

fn filter_allows(attr: &str, op: Op) -> bool {
    match attr {
        "id" | "status" | "type.id" | "profile.login" | "profile.email" | "profile.firstName"
        | "profile.lastName" => op == Op::Eq,
        "created" | "lastUpdated" | "statusChanged" | "activated" => {
            op == Op::Eq || op.is_ordering()
        }
        _ => false,
    }
}

fn search_allows(attr: &str, _op: Op) -> bool {
    matches!(attr, "id" | "status" | "type.id")
        || is_time_attr(attr)
        || attr
            .strip_prefix("profile.")
            .is_some_and(|k| !k.is_empty() && !k.contains('.'))
}

pub(crate) async fn list(
    sim: web::Data<Simulator>,
    req: HttpRequest,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit()?;
    let q = UserQuery {
        filter: ListQuery::expr(query.filter.as_deref(), &filter_allows)?,
        search: ListQuery::expr(query.search.as_deref(), &search_allows)?,
        q: query.q.clone(),
        after: query.after.clone(),
        limit,
    };
    let page = sim.directory().list_users(&q);
    let org = sim.org_url();
    let items = page.items.iter().map(|u| u.to_wire(&org)).collect();
    Ok(respond(&sim, &req, items, page.next, limit))
}

pub(crate) async fn get(
    sim: web::Data<Simulator>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = sim
        .user(&id)
        .ok_or_else(|| ApiError::NotFound(format!("{id} (User)")))?;
    Ok(HttpResponse::Ok().json(user.to_wire(&sim.org_url())))
}

pub(crate) async fn groups(
    sim: web::Data<Simulator>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let groups = {
        let dir = sim.directory();
        let user = dir
            .user(&id)
            .ok_or_else(|| ApiError::NotFound(format!("{id} (User)")))?;
        dir.groups_of(&user.id.clone())
    };
    let org = sim.org_url();
    let items: Vec<Value> = groups.iter().map(|g| g.to_wire(&org)).collect();
    Ok(respond(
        &sim,
        &req,
        items,
        None,
        crate::api::paging::MAX_LIMIT,
    ))
}
