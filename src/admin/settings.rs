//! `GET/PUT /api/v1/settings/zenqms`: the ZenQMS connection. A `PUT` is verified with one
//! `GET /v2/roles` before it is saved; the token is stored encrypted and never returned.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::{AdminError, AdminPrincipal, ReadPrincipal};
use crate::json_body::Object;
use crate::sync::Engine;

pub async fn get_zenqms(
    _who: ReadPrincipal,
    sync: web::Data<Engine>,
) -> Result<HttpResponse, AdminError> {
    Ok(HttpResponse::Ok().json(sync.connection_view()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZenqmsBody {
    base_url: String,
    api_token: String,
}

pub async fn put_zenqms(
    who: AdminPrincipal,
    sync: web::Data<Engine>,
    body: web::Json<Object<ZenqmsBody>>,
) -> Result<HttpResponse, AdminError> {
    let body = body.into_inner().0;
    if body.base_url.trim().is_empty() || body.api_token.trim().is_empty() {
        return Err(AdminError::BadRequest(
            "send both `base_url` (e.g. https://public-api.zenqms.com) and `api_token`".into(),
        ));
    }
    let view = sync
        .set_connection(&body.base_url, &body.api_token, &who.0.name)
        .await?;
    Ok(HttpResponse::Ok().json(view))
}
