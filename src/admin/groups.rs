//! `GET /api/v1/groups?name=&after=&limit=`: directory groups for the mapping editor, with
//! member counts and their mappings, in name order.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::{AdminError, ReadPrincipal};
use crate::mappings::Mappings;

#[derive(Deserialize)]
pub struct Query {
    /// Part of the display name, matched without regard to case.
    name: Option<String>,
    /// Cursor: the `next_after` of the previous page.
    after: Option<String>,
    limit: Option<i64>,
}

pub async fn list(
    _who: ReadPrincipal,
    mappings: web::Data<Mappings>,
    q: web::Query<Query>,
) -> Result<HttpResponse, AdminError> {
    let q = q.into_inner();
    let page = mappings.groups(q.name, q.after, q.limit).await?;
    Ok(HttpResponse::Ok().json(page))
}
