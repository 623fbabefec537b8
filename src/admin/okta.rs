//! `GET/PUT/DELETE /api/v1/settings/okta` and `POST /api/v1/okta/authorize`: the Okta
//! connection's settings and its authorization; `GET/PUT /api/v1/settings/console/okta-groups`:
//! the Okta groups whose members may sign in to the console (the service is `crate::okta`;
//! the console's Connections page sets the same).

use actix_web::{web, HttpResponse};

use super::{AdminError, AdminPrincipal, ReadPrincipal};
use crate::json_body::Object;
use crate::okta::signin::SigninGroups;
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
    body: web::Json<Object<SettingsInput>>,
) -> Result<HttpResponse, AdminError> {
    Ok(HttpResponse::Ok().json(okta.put_settings(body.into_inner().0, &who.0.name).await?))
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

pub async fn get_signin_groups(
    _who: ReadPrincipal,
    okta: web::Data<Okta>,
) -> Result<HttpResponse, AdminError> {
    Ok(HttpResponse::Ok().json(okta.signin_groups().await?))
}

/// The body of `PUT /api/v1/settings/console/okta-groups`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigninGroupsInput {
    admin_group: Option<String>,
    read_group: Option<String>,
}

pub async fn put_signin_groups(
    who: AdminPrincipal,
    okta: web::Data<Okta>,
    body: web::Json<Object<SigninGroupsInput>>,
) -> Result<HttpResponse, AdminError> {
    let body = body.into_inner().0;
    let groups = SigninGroups {
        admin_group: body.admin_group,
        read_group: body.read_group,
    };
    Ok(HttpResponse::Ok().json(okta.set_signin_groups(groups, &who.0.name).await?))
}
