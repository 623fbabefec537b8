//! The middleware around every route under `/scim/v2`.
//!
//! 0. Admits a write (`POST`, `PUT`, `PATCH`, `DELETE`) only when the directory can take it
//!    (`directory::Admission`): past that, `503` with `Retry-After` at once — before the token
//!    check and the body, which cost database and CPU work an overloaded service has not got.
//! 1. Authenticates first, before any body is read (`auth.rs` says when the token is checked):
//!    a missing, malformed or wrong token is `401` (with `WWW-Authenticate: Bearer`), a token
//!    of another scope `403`.
//! 2. Catches a panic in a handler ([`catch_panics`], per resource): `500`, cause logged, never
//!    sent (a dropped connection would leave Okta guessing).
//! 3. Turns any error answer that is not SCIM-shaped (from actix itself) into a SCIM error body,
//!    so that every non-success answer under `/scim/v2` is `application/scim+json` with the
//!    RFC 7644 §3.12 fields.

use std::panic::AssertUnwindSafe;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, ResponseError};
use futures_util::FutureExt;

use super::auth::Caller;
use super::error::{ScimError, CONTENT_TYPE};
use crate::auth::Authenticator;
use crate::directory::admission::{Admission, Refused};

pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // No clone of the request may live across `next.call`: the router below needs to own it.
    let caller = match Caller::from_header(req.headers().get(header::AUTHORIZATION)) {
        Ok(c) => c,
        Err(e) => return Ok(req.into_response(e.error_response())),
    };
    let writes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    // `POST /.search` is a read with a body; it takes a slot like a write (a flood of
    // searches must not take the pool's read connections either).
    let _slot = if writes {
        match req
            .app_data::<web::Data<Admission>>()
            .map(|a| a.get_ref().clone())
        {
            Some(admission) => match admission.admit().await {
                Ok(slot) => Some(slot),
                Err(Refused) => {
                    return Ok(req.into_response(ScimError::Overloaded.error_response()));
                }
            },
            None => None,
        }
    } else {
        None
    };
    let authn = req.app_data::<web::Data<Authenticator>>().cloned();
    let authn = authn.as_ref().map(|d| d.get_ref());
    let has_body = !matches!(*req.method(), Method::GET | Method::HEAD | Method::DELETE);
    if has_body {
        if let Err(e) = caller.check_before_body(authn).await {
            return Ok(req.into_response(e.error_response()));
        }
    }
    // No resource id contains a NUL (ids are uuids): a `%00` in the path names nothing, and
    // must not reach PostgreSQL, whose text cannot hold one.
    if req.path().as_bytes().windows(3).any(|w| w == b"%00") {
        if let Err(e) = caller.check(authn).await {
            return Ok(req.into_response(e.error_response()));
        }
        return Ok(req.into_response(
            ScimError::NotFound("no SCIM resource has a NUL character in its id".into())
                .error_response(),
        ));
    }
    req.extensions_mut().insert(caller.clone());
    match next.call(req).await {
        Ok(res) => {
            if !caller.is_checked() {
                if let Err(e) = caller.check(authn).await {
                    let (req, _) = res.into_parts();
                    return Ok(ServiceResponse::new(req, e.error_response()));
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
