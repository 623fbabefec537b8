//! The SCIM 2.0 protocol surface under `/scim/v2` (RFC 7643/7644).

pub mod auth;
pub mod error;

use actix_web::{web, HttpRequest};

pub use auth::ScimPrincipal;
pub use error::ScimError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::scope("/scim/v2").default_service(web::to(unknown_route)));
}

/// Unknown routes are SCIM `404`s, never an HTML or empty answer.
async fn unknown_route(
    _who: ScimPrincipal,
    req: HttpRequest,
) -> Result<actix_web::HttpResponse, ScimError> {
    Err(ScimError::NotFound(format!(
        "no SCIM endpoint {} {}",
        req.method(),
        req.path()
    )))
}
