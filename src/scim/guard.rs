//! The middleware around every route under `/scim/v2`.
//!
//! 1. Authenticates first, before any body is read: a missing, malformed or wrong token is
//!    `401` (with `WWW-Authenticate: Bearer`), a token of another scope `403`.
//! 2. Catches a panic in a handler ([`catch_panics`], per resource): `500`, cause logged, never
//!    sent (a dropped connection would leave Okta guessing).
//! 3. Turns any error answer that is not SCIM-shaped (from actix itself) into a SCIM error body,
//!    so that every non-success answer under `/scim/v2` is `application/scim+json` with the
//!    RFC 7644 §3.12 fields.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, OnceLock};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError};
use futures_util::FutureExt;

use super::error::{ScimError, CONTENT_TYPE};
use crate::auth::{self, Principal, Scope};

/// A well-formed bearer token whose database check is deferred to the request's first database
/// call (see [`guard`]); `verified` is set once it has been checked.
#[derive(Clone)]
pub struct DeferredToken {
    pub token: String,
    pub verified: Arc<OnceLock<Principal>>,
}

pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // No clone of the request may live across `next.call`: the router below needs to own it.
    //
    // Requests without a body (GET, HEAD, DELETE) have nothing to read before the token is
    // checked, so the check runs on the same database connection and round of the request's
    // own query (`Ctx::read`/`write`) instead of one of its own — on PostgreSQL that saves a
    // pool checkout, a connection test and a round trip per read. Every path still checks the
    // token before it answers anything but a 401: handlers that do not touch the directory
    // A missing or malformed header is refused here; an answer produced without the token
    // having been checked (a 400 before any query, an unknown route) is held back below until
    // it is, and replaced by the 401 or 403 if the token turns out bad.
    let deferrable = matches!(*req.method(), Method::GET | Method::HEAD | Method::DELETE);
    if deferrable {
        match auth::token_from_header(req.headers().get(header::AUTHORIZATION)) {
            Ok(token) => {
                req.extensions_mut().insert(DeferredToken {
                    token,
                    verified: Arc::new(OnceLock::new()),
                });
            }
            Err(e) => return Ok(req.into_response(ScimError::from(e).error_response())),
        }
    } else {
        match auth::require(req.request(), Scope::Scim).await {
            Ok(principal) => {
                req.extensions_mut().insert(principal);
            }
            Err(e) => return Ok(req.into_response(ScimError::from(e).error_response())),
        }
    }
    match next.call(req).await {
        Ok(res) => {
            let unchecked = res
                .request()
                .extensions()
                .get::<DeferredToken>()
                .is_some_and(|d| d.verified.get().is_none());
            if unchecked {
                if let Err(e) = auth::require(res.request(), Scope::Scim).await {
                    let (req, _) = res.into_parts();
                    return Ok(ServiceResponse::new(
                        req,
                        ScimError::from(e).error_response(),
                    ));
                }
            }
            Ok(scim_shaped(res.map_into_boxed_body()))
        }
        Err(e) => {
            let status = e.as_response_error().status_code();
            Err(ScimError::for_status(status, e.to_string()).into())
        }
    }
}

/// Per resource (after routing, where holding a clone of the request is harmless): a panic in a
/// handler becomes a SCIM `500` instead of a dropped connection.
pub async fn catch_panics(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let http = req.request().clone();
    match AssertUnwindSafe(next.call(req)).catch_unwind().await {
        Ok(res) => res.map(ServiceResponse::map_into_boxed_body),
        Err(panic) => {
            let cause = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Ok(ServiceResponse::new(
                http,
                ScimError::Internal(format!("handler panicked: {cause}")).error_response(),
            ))
        }
    }
}

fn scim_shaped(res: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let is_scim = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with(CONTENT_TYPE));
    if is_scim {
        return res;
    }
    let detail = res
        .response()
        .error()
        .map(|e| e.to_string())
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string());
    let (req, _) = res.into_parts();
    ServiceResponse::new(req, ScimError::for_status(status, detail).error_response())
}
