//! The SCIM 2.0 protocol surface under `/scim/v2` (RFC 7643/7644).
//!
//! Handlers only extract, make one directory call and render. Around them, [`guard`]
//! authenticates first ([`auth`] says how) and makes sure every non-success answer is a SCIM
//! error body; the extractors' error handlers below and the default services do the same for
//! routing, query and path failures. What the layer needs from outside — the `Directory`
//! service, the `Authenticator`, and its [`Settings`] — is app data `server.rs` registers.

pub mod auth;
pub mod discovery;
pub mod document;
pub mod error;
pub mod filter;
pub mod groups;
pub mod guard;
pub mod limits;
pub mod patch;
pub mod projection;
pub mod render;
pub mod request;
pub mod schema;
pub mod search;
pub mod users;

use actix_web::{dev, middleware, web, FromRequest, HttpMessage, HttpRequest};

pub use auth::Caller;
pub use error::ScimError;

use crate::directory::{Actor, Directory, DirectoryError, Written};
use crate::store::DbConn;

/// What the SCIM layer takes from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The base URL of `meta.location` (`<PUBLIC_URL>/scim/v2`).
    pub base_url: String,
    /// `SCIM_MAX_PAGE_SIZE`.
    pub max_page: i64,
    /// `SCIM_MAX_BODY_BYTES`.
    pub max_body: usize,
}

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
            .configure(search::routes)
            .default_service(web::to(unknown_route)),
    );
}

/// CPU work on a large request body (normalising it, parsing a PATCH) runs on the blocking
/// pool, not on the async worker: a worker thread serves many connections, and one body must
/// not hold them (issue 13 §3 — 40,000 values once kept a worker busy for seconds; the bounds of
/// [`limits`] make the work linear in a body of at most `SCIM_MAX_BODY_BYTES`, and this keeps
/// even that off the workers). A small body stays on the worker
/// ([`request::ScimBody::process`]): its work costs less than the hand-off.
pub(crate) async fn off_worker<T, E, F>(f: F) -> Result<T, ScimError>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Into<ScimError> + Send + 'static,
{
    match web::block(f).await {
        Ok(r) => r.map_err(Into::into),
        Err(e) => Err(ScimError::Internal(format!(
            "the blocking pool failed: {e}"
        ))),
    }
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
                caller.check_on(c)?;
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
                let who = caller.check_on(c)?;
                Ok(f(c, Actor::scim(&who.name))?)
            })
            .await
    }
}

impl FromRequest for Ctx {
    type Error = ScimError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut dev::Payload) -> Self::Future {
        let missing = |what: &str| ScimError::Internal(format!("{what} is not installed"));
        let ctx = (|| {
            let caller = req
                .extensions()
                .get::<Caller>()
                .cloned()
                .ok_or_else(|| missing("the SCIM guard"))?;
            let dir = req
                .app_data::<web::Data<Directory>>()
                .ok_or_else(|| missing("the directory service"))?;
            let settings = req
                .app_data::<web::Data<Settings>>()
                .ok_or_else(|| missing("the SCIM settings"))?;
            Ok(Ctx {
                dir: dir.get_ref().clone(),
                caller,
                base: settings.base_url.clone(),
                max_page: settings.max_page,
            })
        })();
        std::future::ready(ctx)
    }
}
