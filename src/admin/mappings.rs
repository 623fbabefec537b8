//! `GET/POST /api/v1/role-mappings`, `DELETE /api/v1/role-mappings/{id}`,
//! `POST /api/v1/role-mappings/preview`: the group→role table (rules in `crate::mappings`).

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::{AdminError, AdminPrincipal, ReadPrincipal};
use crate::json_body::Object;
use crate::mappings::{MappingBody, Mappings};

pub async fn list(
    _who: ReadPrincipal,
    mappings: web::Data<Mappings>,
) -> Result<HttpResponse, AdminError> {
    let mappings = mappings.list().await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "mappings": mappings })))
}

/// `201` with the rows created (and the pairs that already existed); `200` when every pair
/// already had its mapping (nothing was created).
pub async fn create(
    who: AdminPrincipal,
    mappings: web::Data<Mappings>,
    body: web::Json<Object<MappingBody>>,
) -> Result<HttpResponse, AdminError> {
    let out = mappings.create(&who.0.name, body.into_inner().0).await?;
    Ok(if out.mappings.is_empty() {
        HttpResponse::Ok().json(out)
    } else {
        HttpResponse::Created().json(out)
    })
}

pub async fn delete(
    who: AdminPrincipal,
    mappings: web::Data<Mappings>,
    id: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    mappings.delete(&who.0.name, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
pub struct PreviewQuery {
    /// Users listed per role and direction (default 20, at most 1000).
    limit: Option<i64>,
}

/// A read token may preview: reviewing a change is not making it. It is answered from the
/// cached role list only (a `read` token never calls ZenQMS); an admin's preview reads the
/// list again when a role is not in it.
pub async fn preview(
    who: ReadPrincipal,
    mappings: web::Data<Mappings>,
    q: web::Query<PreviewQuery>,
    body: web::Json<Object<MappingBody>>,
) -> Result<HttpResponse, AdminError> {
    let preview = mappings
        .preview(
            &who.0.name,
            body.into_inner().0,
            q.limit,
            who.0.scope.grants(crate::auth::Scope::Admin),
        )
        .await?;
    Ok(HttpResponse::Ok().json(preview))
}
