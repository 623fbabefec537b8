//! `GET/PUT/DELETE /api/v1/settings/okta` and `POST /api/v1/okta/authorize`: the Okta
//! connection's settings and its authorization (the service is `crate::okta`).

use actix_web::{web, HttpResponse};

use super::{AdminError, AdminPrincipal, ReadPrincipal};
use crate::okta::{Okta, SettingsInput};

pub async fn get_settings(
    _who: ReadPrincipal,
    okta: web::Data<Okta>,
) -> Result<HttpResponse, AdminError> {
    Ok(HttpResponse::Ok().json(okta.view().await?))
}

pub async fn put_settings(
    who: AdminPrincipal,
    okta: web::Data<Okta>,
    body: web::Json<SettingsInput>,
) -> Result<HttpResponse, AdminError> {
    Ok(HttpResponse::Ok().json(okta.put_settings(body.into_inner(), &who.0.name).await?))
}

pub async fn delete_settings(
    who: AdminPrincipal,
    okta: web::Data<Okta>,
) -> Result<HttpResponse, AdminError> {
    Ok(HttpResponse::Ok().json(okta.disconnect(&who.0.name).await?))
}

pub async fn authorize(
    who: AdminPrincipal,
    okta: web::Data<Okta>,
) -> Result<HttpResponse, AdminError> {
    let url = okta.start_authorization(&who.0.name).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"authorize_url": url})))
}
