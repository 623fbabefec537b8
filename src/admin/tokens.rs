//! `GET/POST /api/v1/tokens`, `DELETE /api/v1/tokens/{name}`: service accounts over REST.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::{AdminError, AdminPrincipal, ReadPrincipal};
use crate::audit::{self, Outcome};
use crate::auth::{tokens, Scope};
use crate::server::AppState;
use crate::store;

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
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    let accounts = store::run(&state.pool, tokens::list).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"tokens": accounts})))
}

pub async fn create(
    who: AdminPrincipal,
    state: web::Data<AppState>,
    body: web::Json<CreateBody>,
) -> Result<HttpResponse, AdminError> {
    let body = body.into_inner();
    let scope = Scope::parse(&body.scope).ok_or_else(|| {
        AdminError::BadRequest(format!(
            "`scope` must be scim, admin or read, not `{}`",
            body.scope
        ))
    })?;
    let actor = who.0.name;
    let created = store::run(&state.pool, move |conn| {
        store::tx::write(conn, |conn| {
            let created = tokens::create(conn, &body.name, scope)?;
            audit::record(conn, &audit::Entry {
                actor: &actor,
                action: "token.create",
                target_type: "service_account",
                target_id: Some(&body.name),
                detail: serde_json::json!({"scope": scope.as_str(), "prefix": created.account.prefix}),
                outcome: Outcome::Success,
            })?;
            Ok::<_, tokens::TokenError>(created)
        })
    })
    .await?;
    Ok(HttpResponse::Created().json(created))
}

pub async fn revoke(
    who: AdminPrincipal,
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    let name = name.into_inner();
    let actor = who.0.name;
    store::run(&state.pool, move |conn| {
        store::tx::write(conn, |conn| {
            tokens::revoke(conn, &name)?;
            audit::record(
                conn,
                &audit::Entry {
                    actor: &actor,
                    action: "token.revoke",
                    target_type: "service_account",
                    target_id: Some(&name),
                    detail: serde_json::json!({}),
                    outcome: Outcome::Success,
                },
            )?;
            Ok::<_, tokens::TokenError>(())
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
