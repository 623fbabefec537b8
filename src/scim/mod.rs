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

use actix_web::{dev, middleware, web, FromRequest, HttpMessage, HttpRequest};

pub use auth::ScimPrincipal;
pub use error::ScimError;

use crate::auth::{tokens, AuthError, Principal, Scope};
use crate::directory::{Actor, Directory, DirectoryError, Written};
use crate::server::AppState;
use crate::store::DbConn;

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

/// Who is calling, as far as the guard has established it.
#[derive(Clone)]
enum Caller {
    Verified(Principal),
    /// Checked by the first database call of the request (see `guard::guard`).
    Deferred(guard::DeferredToken),
}

impl Caller {
    /// The principal, checking a deferred token on `conn` — the connection of the request's own
    /// query — if that has not happened yet.
    fn verify(&self, conn: &mut DbConn) -> Result<Principal, ScimError> {
        let d = match self {
            Caller::Verified(p) => return Ok(p.clone()),
            Caller::Deferred(d) => d,
        };
        if let Some(p) = d.verified.get() {
            return Ok(p.clone());
        }
        let principal = tokens::authenticate(conn, &d.token)
            .map_err(|e| {
                tracing::error!(error = %e, "token check failed");
                ScimError::from(AuthError::Unavailable)
            })?
            .ok_or(AuthError::Invalid)?;
        if !principal.scope.grants(Scope::Scim) {
            return Err(AuthError::WrongScope {
                has: principal.scope,
                needs: Scope::Scim,
            }
            .into());
        }
        let _ = d.verified.set(principal.clone());
        Ok(principal)
    }
}

/// What every SCIM handler needs: the directory (reached through [`Ctx::read`] and
/// [`Ctx::write`], which also settle who is calling), the base URL for `meta.location`, and the
/// page size cap.
pub struct Ctx {
    dir: Directory,
    caller: Caller,
    pub base: String,
    pub max_page: i64,
}

impl Ctx {
    /// A directory read, after the caller's token check (same connection, same round).
    pub async fn read<T, F>(&self, f: F) -> Result<T, ScimError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, DirectoryError> + Send + 'static,
        T: Send + 'static,
    {
        let caller = self.caller.clone();
        self.dir
            .read(move |c| {
                caller.verify(c)?;
                Ok(f(c)?)
            })
            .await
    }

    /// A directory write, after the caller's token check; `f` gets the caller for the audit.
    pub async fn write<T, F>(&self, f: F) -> Result<Written<T>, ScimError>
    where
        F: FnOnce(&mut DbConn, Actor<'_>) -> Result<Written<T>, DirectoryError> + Send + 'static,
        T: Send + 'static,
    {
        let caller = self.caller.clone();
        self.dir
            .write(move |c| {
                let who = caller.verify(c)?;
                Ok(f(c, Actor(&who.name))?)
            })
            .await
    }
}

impl FromRequest for Ctx {
    type Error = ScimError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut dev::Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let verified = req.extensions().get::<Principal>().cloned();
        let deferred = req.extensions().get::<guard::DeferredToken>().cloned();
        let principal = match (&verified, &deferred) {
            (None, None) => Some(ScimPrincipal::from_request(req, payload)),
            _ => None,
        };
        Box::pin(async move {
            let state =
                state.ok_or_else(|| ScimError::Internal("application state missing".into()))?;
            let caller = match (verified, deferred, principal) {
                (Some(p), _, _) => Caller::Verified(p),
                (None, Some(d), _) => Caller::Deferred(d),
                (None, None, Some(check)) => Caller::Verified(check.await?.0),
                (None, None, None) => {
                    return Err(ScimError::Unauthorized("not authenticated".into()))
                }
            };
            Ok(Ctx {
                dir: Directory::of(&state),
                caller,
                base: state.config.scim_base_url(),
                max_page: i64::from(state.config.scim_max_page_size),
            })
        })
    }
}
