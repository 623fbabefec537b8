//! Every answer that is not a success, and the one place that turns it into HTTP:
//! `{"error": {"code", "message", "details"}}` with the status codes of the spec's table.
//!
//! Codes beyond the spec's table (all in the same shape):
//! - `409 external_id_taken` (`details.user_id`): `external_id` is unique per tenant when
//!   set; the spec names no code for a clash, so this one is the simulator's choice.
//! - `409 role_id_taken` (`details.role_id`): `/_sim/roles` only.
//! - `405 method_not_allowed`, `413 payload_too_large`.
//! - `500 internal_error` and `503 service_unavailable`: injected faults and outages.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::{json, Value};

use crate::model::Id;

/// One rejected field of a `422 validation_failed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub(crate) fn new(field: &str, reason: &str) -> Self {
        FieldError {
            field: field.to_owned(),
            reason: reason.to_owned(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("{message}")]
    BadRequest { message: String, details: Value },
    #[error("missing or invalid API token")]
    Unauthorized,
    #[error("this API token lacks the permission for this request")]
    Forbidden,
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed on this endpoint")]
    MethodNotAllowed,
    #[error("another user already has this email")]
    EmailTaken { user_id: Id },
    #[error("another user already has this external_id")]
    ExternalIdTaken { user_id: Id },
    #[error("a role with this id already exists")]
    RoleIdTaken { role_id: Id },
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("{}", describe(.0))]
    Validation(Vec<FieldError>),
    #[error("unknown role ids")]
    UnknownRole { role_ids: Vec<Id> },
    #[error("too many requests; retry after {retry_after_s} s")]
    RateLimited { retry_after_s: u64 },
    #[error("simulated server error")]
    Injected { status: u16 },
    #[error("simulated outage")]
    Outage,
}

fn describe(fields: &[FieldError]) -> String {
    let parts: Vec<String> = fields
        .iter()
        .map(|f| format!("{}: {}", f.field, f.reason))
        .collect();
    format!("validation failed ({})", parts.join("; "))
}

impl SimError {
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        SimError::BadRequest {
            message: message.into(),
            details: json!({}),
        }
    }

    pub(crate) fn bad_fields(message: &str, fields: Vec<String>) -> Self {
        SimError::BadRequest {
            message: format!("{message}: {}", fields.join(", ")),
            details: json!({ "fields": fields }),
        }
    }

    pub(crate) fn user_not_found(id: &str) -> Self {
        SimError::NotFound(format!("no user with id {id}"))
    }

    pub fn code(&self) -> &'static str {
        match self {
            SimError::BadRequest { .. } => "bad_request",
            SimError::Unauthorized => "unauthorized",
            SimError::Forbidden => "forbidden",
            SimError::NotFound(_) => "not_found",
            SimError::MethodNotAllowed => "method_not_allowed",
            SimError::EmailTaken { .. } => "email_taken",
            SimError::ExternalIdTaken { .. } => "external_id_taken",
            SimError::RoleIdTaken { .. } => "role_id_taken",
            SimError::PayloadTooLarge => "payload_too_large",
            SimError::Validation(_) => "validation_failed",
            SimError::UnknownRole { .. } => "unknown_role",
            SimError::RateLimited { .. } => "rate_limited",
            SimError::Injected { status } if *status == 503 => "service_unavailable",
            SimError::Injected { .. } => "internal_error",
            SimError::Outage => "service_unavailable",
        }
    }

    pub fn details(&self) -> Value {
        match self {
            SimError::BadRequest { details, .. } => details.clone(),
            SimError::EmailTaken { user_id } | SimError::ExternalIdTaken { user_id } => {
                json!({ "user_id": user_id })
            }
            SimError::RoleIdTaken { role_id } => json!({ "role_id": role_id }),
            SimError::Validation(fields) => json!({
                "fields": fields.iter().map(|f| f.field.as_str()).collect::<Vec<_>>(),
                "errors": fields,
            }),
            SimError::UnknownRole { role_ids } => json!({ "role_ids": role_ids }),
            SimError::RateLimited { retry_after_s } => json!({ "retry_after": retry_after_s }),
            _ => json!({}),
        }
    }
}

impl ResponseError for SimError {
    fn status_code(&self) -> StatusCode {
        match self {
            SimError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            SimError::Unauthorized => StatusCode::UNAUTHORIZED,
            SimError::Forbidden => StatusCode::FORBIDDEN,
            SimError::NotFound(_) => StatusCode::NOT_FOUND,
            SimError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            SimError::EmailTaken { .. }
            | SimError::ExternalIdTaken { .. }
            | SimError::RoleIdTaken { .. } => StatusCode::CONFLICT,
            SimError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            SimError::Validation(_) | SimError::UnknownRole { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            SimError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            SimError::Injected { status } => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            SimError::Outage => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        match self {
            SimError::RateLimited { retry_after_s } => {
                res.insert_header((header::RETRY_AFTER, retry_after_s.to_string()));
            }
            SimError::Unauthorized => {
                res.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            _ => {}
        }
        res.json(json!({
            "error": {
                "code": self.code(),
                "message": self.to_string(),
                "details": self.details(),
            }
        }))
    }
}

/// Extractor failures (body not JSON, wrong types in a typed body, bad query or path)
/// answer `400 bad_request` in the spec's shape instead of actix's plain text.
pub(crate) fn from_json_error(err: actix_web::error::JsonPayloadError) -> SimError {
    use actix_web::error::JsonPayloadError as E;
    match err {
        E::Overflow { .. } | E::OverflowKnownLength { .. } => SimError::PayloadTooLarge,
        E::ContentType => SimError::bad_request("Content-Type must be application/json"),
        other => SimError::bad_request(format!("body is not valid JSON: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;

    async fn body(err: SimError) -> (u16, Value, Option<String>) {
        let res = err.error_response();
        let status = res.status().as_u16();
        let retry = res
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = to_bytes(res.into_body()).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap(), retry)
    }

    #[actix_web::test]
    async fn shapes() {
        let (status, v, _) = body(SimError::EmailTaken {
            user_id: Id::Num(1001),
        })
        .await;
        assert_eq!(status, 409);
        assert_eq!(v["error"]["code"], "email_taken");
        assert_eq!(v["error"]["details"]["user_id"], 1001);

        let (status, v, _) = body(SimError::Validation(vec![
            FieldError::new("title", "is required"),
            FieldError::new("email", "must not contain non-ASCII characters"),
        ]))
        .await;
        assert_eq!(status, 422);
        assert_eq!(v["error"]["details"]["fields"], json!(["title", "email"]));
        assert!(v["error"]["message"].as_str().unwrap().contains("title"));

        let (status, v, retry) = body(SimError::RateLimited { retry_after_s: 2 }).await;
        assert_eq!(status, 429);
        assert_eq!(v["error"]["code"], "rate_limited");
        assert_eq!(retry.as_deref(), Some("2"));

        let (status, v, _) = body(SimError::Injected { status: 503 }).await;
        assert_eq!(
            (status, v["error"]["code"].as_str()),
            (503, Some("service_unavailable"))
        );
    }
}
