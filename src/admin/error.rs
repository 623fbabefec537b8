//! The admin API's error type: JSON `{"error": code, "message": text}` a person can act on.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};

use crate::auth::AuthError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// The path exists under other methods (`allow`).
    #[error("{message}")]
    MethodNotAllowed {
        message: String,
        allow: Vec<&'static str>,
    },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    BadGateway(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl AdminError {
    fn code(&self) -> &'static str {
        match self {
            AdminError::BadRequest(_) => "bad_request",
            AdminError::Unauthorized(_) => "unauthorized",
            AdminError::Forbidden(_) => "forbidden",
            AdminError::NotFound(_) => "not_found",
            AdminError::MethodNotAllowed { .. } => "method_not_allowed",
            AdminError::Conflict(_) => "conflict",
            AdminError::PayloadTooLarge(_) => "payload_too_large",
            AdminError::Unprocessable(_) => "unprocessable",
            AdminError::BadGateway(_) => "upstream_error",
            AdminError::Unavailable(_) => "unavailable",
            AdminError::Internal(_) => "internal",
        }
    }
}

/// The largest admin request body (JSON or not).
pub const MAX_BODY_BYTES: usize = 1 << 20;

impl AdminError {
    /// The admin shape of an answer actix made itself (no message of ours to keep).
    pub fn for_status(status: StatusCode) -> AdminError {
        match status.as_u16() {
            401 => AdminError::Unauthorized("send `Authorization: Bearer <token>`".into()),
            403 => AdminError::Forbidden("this token may not call this endpoint".into()),
            404 => AdminError::NotFound(
                "no such admin endpoint; GET /api/v1/openapi.json describes them all".into(),
            ),
            413 => AdminError::PayloadTooLarge(format!(
                "the request body is larger than the limit of {MAX_BODY_BYTES} bytes"
            )),
            s if s >= 500 => AdminError::Internal(format!("the server answered {status}")),
            _ => AdminError::BadRequest(format!(
                "the request could not be read ({status}); GET /api/v1/openapi.json describes every endpoint"
            )),
        }
    }
}

impl ResponseError for AdminError {
    fn status_code(&self) -> StatusCode {
        match self {
            AdminError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AdminError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AdminError::Forbidden(_) => StatusCode::FORBIDDEN,
            AdminError::NotFound(_) => StatusCode::NOT_FOUND,
            AdminError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            AdminError::Conflict(_) => StatusCode::CONFLICT,
            AdminError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AdminError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AdminError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            AdminError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AdminError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            AdminError::Internal(cause) => {
                tracing::error!(cause = %cause, "admin request failed");
                "the server failed to process the request; the cause has been logged".to_string()
            }
            other => other.to_string(),
        };
        let mut res = HttpResponse::build(self.status_code());
        if self.status_code() == StatusCode::UNAUTHORIZED {
            res.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"zenqms-bridge\""));
        }
        if let AdminError::MethodNotAllowed { allow, .. } = self {
            res.insert_header((header::ALLOW, allow.join(", ")));
        }
        // Every 503 here is a passing condition (a database restart, a full disk, load):
        // say when to come back (RFC 9110 §10.2.3).
        if self.status_code() == StatusCode::SERVICE_UNAVAILABLE {
            res.insert_header((header::RETRY_AFTER, "1"));
        }
        res.json(serde_json::json!({"error": self.code(), "message": message}))
    }
}

impl From<AuthError> for AdminError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Missing | AuthError::Malformed | AuthError::Invalid => {
                AdminError::Unauthorized(e.to_string())
            }
            AuthError::WrongScope { .. } => AdminError::Forbidden(e.to_string()),
            AuthError::Unavailable => AdminError::Unavailable(e.to_string()),
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            e if e.is_unavailable() => {
                tracing::warn!(error = %e, "database busy or unreachable");
                AdminError::Unavailable(
                    "the database is busy or was just unreachable; retry shortly".into(),
                )
            }
            other => AdminError::Internal(other.to_string()),
        }
    }
}

impl From<crate::auth::TokenError> for AdminError {
    fn from(e: crate::auth::TokenError) -> Self {
        use crate::auth::TokenError;
        match e {
            TokenError::NameTaken(_) => AdminError::Conflict(e.to_string()),
            TokenError::NotFound(_) => AdminError::NotFound(e.to_string()),
            TokenError::BadName => AdminError::BadRequest(e.to_string()),
            TokenError::Store(s) => s.into(),
        }
    }
}

impl From<crate::sync::SyncError> for AdminError {
    fn from(e: crate::sync::SyncError) -> Self {
        use crate::sync::SyncError;
        match e {
            SyncError::Store(s) => s.into(),
            SyncError::InvalidConnection(m) => AdminError::Unprocessable(m),
            SyncError::ZenqmsUnreachable(m) => AdminError::BadGateway(m),
            SyncError::UnknownUsers(_) => AdminError::Unprocessable(e.to_string()),
            SyncError::NotConfigured => AdminError::Unavailable(e.to_string()),
            // The bridge's own state keeps it from sweeping: the admin must change it or wait.
            SyncError::SweepRefused(_) => AdminError::Conflict(e.to_string()),
            other => AdminError::Internal(other.to_string()),
        }
    }
}

impl From<crate::mappings::MappingError> for AdminError {
    fn from(e: crate::mappings::MappingError) -> Self {
        use crate::mappings::{MappingError, Unavailable};
        match e {
            MappingError::Store(s) => s.into(),
            MappingError::Invalid(m) => AdminError::BadRequest(m),
            MappingError::NotFound(_) => AdminError::NotFound(e.to_string()),
            MappingError::UnknownRoles(_)
            | MappingError::NotCached(_)
            | MappingError::MissingRoles(_)
            | MappingError::AmbiguousRole { .. }
            | MappingError::UnknownGroup(_)
            | MappingError::UnknownMappings(_) => AdminError::Unprocessable(e.to_string()),
            MappingError::Busy => AdminError::Unavailable(e.to_string()),
            MappingError::ZenqmsUnavailable { ref why, .. } => match why {
                // The bridge's own state keeps it from asking: the admin must change it.
                Unavailable::NotConfigured(_) | Unavailable::Paused => {
                    AdminError::Conflict(e.to_string())
                }
                Unavailable::RateLimited(_) => AdminError::Unavailable(e.to_string()),
                Unavailable::Unreachable(_) | Unavailable::Refused(_) => {
                    AdminError::BadGateway(e.to_string())
                }
            },
        }
    }
}

impl From<crate::initial_sync::InitialSyncError> for AdminError {
    fn from(e: crate::initial_sync::InitialSyncError) -> Self {
        use crate::initial_sync::InitialSyncError;
        match e {
            InitialSyncError::Store(s) => s.into(),
            InitialSyncError::NotFound(_) => AdminError::NotFound(e.to_string()),
            // The bridge's state prevents it: the admin must wait, cancel or configure.
            InitialSyncError::Busy(_)
            | InitialSyncError::NotConfigured
            | InitialSyncError::Finished(_) => AdminError::Conflict(e.to_string()),
            InitialSyncError::Sync(s) => s.into(),
        }
    }
}

/// Body/query/path extraction failures, in the admin error shape.
pub fn json_error(
    err: actix_web::error::JsonPayloadError,
    _: &actix_web::HttpRequest,
) -> actix_web::Error {
    use actix_web::error::JsonPayloadError;
    let e = match &err {
        JsonPayloadError::ContentType => AdminError::BadRequest(
            "send the body as JSON with Content-Type: application/json".into(),
        ),
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            AdminError::PayloadTooLarge(format!(
                "the request body is larger than the limit of {MAX_BODY_BYTES} bytes"
            ))
        }
        other => AdminError::BadRequest(format!("the request body is not valid: {other}")),
    };
    e.into()
}

pub fn query_error(
    err: actix_web::error::QueryPayloadError,
    _: &actix_web::HttpRequest,
) -> actix_web::Error {
    AdminError::BadRequest(format!("invalid query parameters: {err}")).into()
}

pub fn path_error(
    err: actix_web::error::PathError,
    _: &actix_web::HttpRequest,
) -> actix_web::Error {
    AdminError::BadRequest(format!("invalid path: {err}")).into()
}

impl From<crate::okta::OktaError> for AdminError {
    fn from(e: crate::okta::OktaError) -> Self {
        use crate::okta::OktaError;
        match e {
            OktaError::Store(s) => s.into(),
            OktaError::NotConfigured => AdminError::NotFound(e.to_string()),
            OktaError::Invalid(m) => AdminError::BadRequest(m),
            OktaError::NeedsAuthorization | OktaError::ReauthorizationNeeded(_) => {
                AdminError::Conflict(e.to_string())
            }
            OktaError::Busy => AdminError::Unavailable(e.to_string()),
            OktaError::Okta(_) => AdminError::BadGateway(e.to_string()),
        }
    }
}

impl From<crate::okta::resync::ResyncError> for AdminError {
    fn from(e: crate::okta::resync::ResyncError) -> Self {
        use crate::okta::resync::ResyncError;
        match e {
            ResyncError::NotConnected(_) | ResyncError::NoBaseline => {
                AdminError::Conflict(e.to_string())
            }
            ResyncError::Okta(o) => o.into(),
            ResyncError::Store(s) => s.into(),
            ResyncError::Follow(_) => AdminError::BadGateway(e.to_string()),
        }
    }
}
