//! The SCIM 2.0 protocol surface under `/scim/v2` (RFC 7643/7644).
//!
//! Handlers only extract, make one directory call and render. Around them, [`guard`]
//! authenticates first and makes sure every non-success answer is a SCIM error body; the
//! extractors' error handlers below and the default services do the same for routing, query
//! and path failures.

pub mod auth;
pub mod discovery;
pub mod document;
pub mod error;
pub mod filter;
pub mod groups;
pub mod guard;
pub mod patch;
pub mod projection;
pub mod render;
pub mod request;
pub mod schema;
pub mod users;

use std::future::Future;
use std::pin::Pin;

use actix_web::{dev, middleware, web, FromRequest, HttpRequest};

pub use auth::ScimPrincipal;
pub use error::ScimError;

use crate::directory::Directory;
use crate::server::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/scim/v2")
            .wrap(middleware::from_fn(guard::guard))
            // Path segments are plain strings: any id is looked up, a miss is a SCIM 404.
            .app_data(
                web::PathConfig::default().error_handler(|e, _| {
                    ScimError::NotFound(format!("no such resource: {e}")).into()
                }),
            )
            .app_data(web::QueryConfig::default().error_handler(|e, _| {
                ScimError::invalid_value(format!("the query string is invalid: {e}")).into()
            }))
            // Bodies are read by `request::ScimBody` (content type, size limit and JSON
            // errors as SCIM answers); these cover any built-in extractor used later.
            .app_data(web::JsonConfig::default().error_handler(|e, _| {
                ScimError::invalid_syntax(format!("the body is not valid JSON: {e}")).into()
            }))
            .app_data(web::PayloadConfig::default())
            .configure(users::routes)
            .configure(groups::routes)
            .configure(discovery::routes)
            .default_service(web::to(unknown_route)),
    );
}

/// Unknown routes are SCIM `404`s, never an HTML or empty answer.
async fn unknown_route(req: HttpRequest) -> Result<actix_web::HttpResponse, ScimError> {
    Err(ScimError::NotFound(format!(
        "no SCIM endpoint {} {}",
        req.method(),
        req.path()
    )))
}

/// A wrong method on a known resource: `405` with `Allow`.
pub(crate) fn method_not_allowed(
    allow: &'static str,
) -> impl Fn(HttpRequest) -> std::future::Ready<Result<actix_web::HttpResponse, ScimError>> + Clone
{
    move |req: HttpRequest| {
        std::future::ready(Err(ScimError::MethodNotAllowed {
            allow,
            detail: format!(
                "{} is not allowed on {}; allowed: {allow}",
                req.method(),
                req.path()
            ),
        }))
    }
}

/// What every SCIM handler needs: the directory, the base URL for `meta.location`, the
/// caller's name for the audit trail, and the page size cap.
pub struct Ctx {
    pub dir: Directory,
    pub base: String,
    pub actor: String,
    pub max_page: i64,
}

impl FromRequest for Ctx {
    type Error = ScimError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut dev::Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let principal = ScimPrincipal::from_request(req, payload);
        Box::pin(async move {
            let state =
                state.ok_or_else(|| ScimError::Internal("application state missing".into()))?;
            let who = principal.await?;
            Ok(Ctx {
                dir: Directory::of(&state),
                base: state.config.scim_base_url(),
                actor: who.0.name,
                max_page: i64::from(state.config.scim_max_page_size),
            })
        })
    }
}
