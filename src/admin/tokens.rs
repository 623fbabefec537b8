//! `GET/POST /api/v1/tokens`, `DELETE /api/v1/tokens/{name}`: service accounts over REST.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::{AdminError, AdminPrincipal, ReadPrincipal};
use crate::auth::{Authenticator, Scope};
use crate::json_body::Object;

/// A misspelt field must not be dropped silently: `{"name": "okta", "scopes": "read"}` is a 400
/// naming `scopes`, not a token made without the scope the admin meant.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    name: String,
    scope: String,
}

pub async fn list(
    _who: ReadPrincipal,
    accounts: web::Data<Authenticator>,
) -> Result<HttpResponse, AdminError> {
    let accounts = accounts.accounts().await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"tokens": accounts})))
}

pub async fn create(
    who: AdminPrincipal,
    accounts: web::Data<Authenticator>,
    body: web::Json<Object<CreateBody>>,
) -> Result<HttpResponse, AdminError> {
    let body = body.into_inner().0;
    let scope = Scope::parse(&body.scope).ok_or_else(|| {
        AdminError::BadRequest(format!(
            "`scope` must be scim, admin or read, not `{}`",
            body.scope
        ))
    })?;
    let created = accounts.create(&who.0.name, &body.name, scope).await?;
    Ok(HttpResponse::Created().json(created))
}

pub async fn revoke(
    who: AdminPrincipal,
    accounts: web::Data<Authenticator>,
    name: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    accounts.revoke(&who.0.name, &name).await?;
    Ok(HttpResponse::NoContent().finish())
}
