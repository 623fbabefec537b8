//! `GET /api/v1/zenqms/roles[?refresh=true]` and `POST /api/v1/zenqms/roles/refresh`: the
//! ZenQMS roles for the mapping editor, from the cache, read from ZenQMS on demand.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::{AdminError, AdminPrincipal, ReadPrincipal};
use crate::auth::Scope;
use crate::mappings::Mappings;

#[derive(Deserialize)]
pub struct Query {
    /// Read the list from ZenQMS first (needs the `admin` scope: it calls ZenQMS).
    #[serde(default)]
    refresh: bool,
}

pub async fn list(
    who: ReadPrincipal,
    mappings: web::Data<Mappings>,
    q: web::Query<Query>,
) -> Result<HttpResponse, AdminError> {
    if q.refresh && !who.0.scope.grants(Scope::Admin) {
        return Err(AdminError::Forbidden(
            "`refresh=true` calls ZenQMS and needs a token with the `admin` scope; without it the cached list is returned".into(),
        ));
    }
    // A `read` token never calls ZenQMS (nor writes the cache a call would refresh).
    let may_call = who.0.scope.grants(Scope::Admin);
    let view = mappings.roles(&who.0.name, q.refresh, may_call).await?;
    Ok(HttpResponse::Ok().json(view))
}

pub async fn refresh(
    who: AdminPrincipal,
    mappings: web::Data<Mappings>,
) -> Result<HttpResponse, AdminError> {
    let view = mappings.roles(&who.0.name, true, true).await?;
    Ok(HttpResponse::Ok().json(view))
}
