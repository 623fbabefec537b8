//! The middleware around every route under `/api/v1`.
//!
//! 1. Authenticates first, before any body is read: a handler's extractors run side by side,
//!    so with the token checked by an extractor a large or malformed body could be refused
//!    (`400`, `413`) before an unknown token was (`401`) — an answer that depended on timing.
//!    Here the token is checked once, before the handler's extractors run at all; the
//!    principal extractors ([`super::principal`]) then only compare scopes.
//! 2. Reads the body once, under the admin limit (a JSON `413` past it), and refuses a NUL
//!    character anywhere — in the path, the query or a JSON string — with a `400`:
//!    PostgreSQL's text cannot hold one, and no name, id or cursor of this API contains one.
//! 3. Any error answer that is not JSON (actix's own: a `400` from a payload error) becomes
//!    the admin error shape `{"error": code, "message": text}`.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, ResponseError};

use futures_util::StreamExt;

use super::error::{AdminError, MAX_BODY_BYTES};
use crate::auth::{AuthError, Authenticator};

/// The one route served without a token (the API's own description).
const PUBLIC: &str = "/api/v1/openapi.json";

pub async fn guard(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let routed = super::allowed_methods(req.path())
        .iter()
        .any(|m| *m == req.method().as_str());
    if routed && req.path() != PUBLIC {
        let authn = req.app_data::<web::Data<Authenticator>>().cloned();
        let checked = match authn {
            Some(a) => {
                let needed = super::needed_scope(req.method(), req.path());
                a.authenticate(req.headers().get(header::AUTHORIZATION), needed)
                    .await
            }
            None => Err(AuthError::Unavailable),
        };
        match checked {
            Ok(principal) => {
                req.extensions_mut().insert(principal);
            }
            Err(e) => return Ok(req.into_response(AdminError::from(e).error_response())),
        }
    }
    if has_nul(req.path()) {
        return Ok(req.into_response(
            AdminError::NotFound("no admin resource has a NUL character in its name or id".into())
                .error_response(),
        ));
    }
    if has_nul(req.query_string()) {
        return Ok(req.into_response(
            AdminError::BadRequest(
                "a NUL character (%00) is not accepted in query parameters".into(),
            )
            .error_response(),
        ));
    }
    if routed && !matches!(*req.method(), Method::GET | Method::HEAD | Method::DELETE) {
        match read_body(&mut req).await {
            Ok(body) => req.set_payload(body.into()),
            Err(e) => return Ok(req.into_response(e.error_response())),
        }
    }
    let res = next.call(req).await?.map_into_boxed_body();
    Ok(json_shaped(res))
}

/// A percent-encoded NUL (`%00`) in a path or query string.
fn has_nul(raw: &str) -> bool {
    raw.as_bytes()
        .windows(3)
        .any(|w| w[0] == b'%' && w[1] == b'0' && w[2] == b'0')
}

/// The whole body, at most [`MAX_BODY_BYTES`], without a NUL in any JSON string.
async fn read_body(req: &mut ServiceRequest) -> Result<web::Bytes, AdminError> {
    let too_large = || {
        AdminError::PayloadTooLarge(format!(
            "the request body is larger than the limit of {MAX_BODY_BYTES} bytes"
        ))
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    let mut payload = req.take_payload();
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| AdminError::BadRequest(format!("the body could not be read: {e}")))?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    // Not JSON: left to the handler's extractor to refuse in its own words.
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
        if holds_nul(&v) {
            return Err(AdminError::BadRequest(
                "a NUL character (\\u0000) is not accepted in any value".into(),
            ));
        }
    }
    Ok(body.freeze())
}

fn holds_nul(v: &serde_json::Value) -> bool {
    use serde_json::Value;
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(m) => m.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// An error answer that is not JSON, rewritten in the admin error shape.
fn json_shaped(res: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return res;
    }
    let (req, _) = res.into_parts();
    let e = AdminError::for_status(status);
    ServiceResponse::new(req, e.error_response())
}
