//! `POST /api/v1/okta/resync`: re-read the Okta org now for what changed since the last
//! re-read (the service is `crate::okta::resync`; its outcome is `okta.resync` in
//! `GET /api/v1/sync/status`).

use actix_web::{web, HttpResponse};

use super::{AdminError, AdminPrincipal};
use crate::okta::resync::Resync;

pub async fn start(
    who: AdminPrincipal,
    resync: web::Data<Resync>,
) -> Result<HttpResponse, AdminError> {
    Ok(HttpResponse::Accepted().json(resync.start_now(&who.0.name).await?))
}
