//! `GET /api/v1/groups`, `/groups/{id}`, `/groups/{id}/users`.
//!
//! `filter` allows `id eq`, `type eq` and `created`/`lastUpdated`/`lastMembershipUpdated`
//! with `eq gt ge lt le`; `search` also `profile.name` and `profile.description` with
//! every operator; `q` is a case-insensitive prefix of the name.

use actix_web::{web, HttpRequest, HttpResponse};

use crate::api::paging::{respond, ListQuery};
use crate::error::ApiError;
use crate::filter::Op;
use crate::sim::Simulator;
use crate::state::GroupQuery;

fn filter_allows(attr: &str, op: Op) -> bool {
    match attr {
        "id" | "type" => op == Op::Eq,
        "created" | "lastUpdated" | "lastMembershipUpdated" => op == Op::Eq || op.is_ordering(),
        _ => false,
    }
}

fn search_allows(attr: &str, op: Op) -> bool {
    filter_allows(attr, op) || matches!(attr, "profile.name" | "profile.description")
}

pub(crate) async fn list(
    sim: web::Data<Simulator>,
    req: HttpRequest,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit()?;
    let q = GroupQuery {
        filter: ListQuery::expr(query.filter.as_deref(), &filter_allows)?,
        search: ListQuery::expr(query.search.as_deref(), &search_allows)?,
        q: query.q.clone(),
        after: query.after.clone(),
        limit,
    };
    let page = sim.directory().list_groups(&q);
    let org = sim.org_url();
    let items = page.items.iter().map(|g| g.to_wire(&org)).collect();
    Ok(respond(&sim, &req, items, page.next, limit))
}

pub(crate) async fn get(
    sim: web::Data<Simulator>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let group = sim
        .group(&id)
        .ok_or_else(|| ApiError::NotFound(format!("{id} (UserGroup)")))?;
    Ok(HttpResponse::Ok().json(group.to_wire(&sim.org_url())))
}

pub(crate) async fn members(
    sim: web::Data<Simulator>,
    req: HttpRequest,
    id: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit()?;
    let page = sim
        .directory()
        .group_members(&id, query.after.as_deref(), limit)?;
    let org = sim.org_url();
    let items = page.items.iter().map(|u| u.to_wire(&org)).collect();
    Ok(respond(&sim, &req, items, page.next, limit))
}
