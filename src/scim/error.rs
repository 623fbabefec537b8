//! The SCIM error type and its one conversion into an HTTP answer (RFC 7644 §3.12).
//! Every failure under `/scim/v2` — including routing, body parsing and auth — ends here.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::auth::AuthError;
use crate::directory::{DirectoryError, Reason, Rejection};
use crate::store::StoreError;

pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const CONTENT_TYPE: &str = "application/scim+json";

/// `scimType` values of RFC 7644 §3.12, Table 9.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimType {
    InvalidFilter,
    TooMany,
    Uniqueness,
    Mutability,
    InvalidSyntax,
    InvalidPath,
    NoTarget,
    InvalidValue,
    InvalidVers,
    Sensitive,
}

impl ScimType {
    pub fn as_str(self) -> &'static str {
        match self {
            ScimType::InvalidFilter => "invalidFilter",
            ScimType::TooMany => "tooMany",
            ScimType::Uniqueness => "uniqueness",
            ScimType::Mutability => "mutability",
            ScimType::InvalidSyntax => "invalidSyntax",
            ScimType::InvalidPath => "invalidPath",
            ScimType::NoTarget => "noTarget",
            ScimType::InvalidValue => "invalidValue",
            ScimType::InvalidVers => "invalidVers",
            ScimType::Sensitive => "sensitive",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScimError {
    /// 400 with a `scimType`.
    #[error("{detail}")]
    BadRequest { scim_type: ScimType, detail: String },
    /// 400 without a `scimType` (RFC 7644 §3.12 has none for e.g. a bad query parameter).
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// 405, with the methods the resource allows (RFC 7231 §6.5.5 `Allow`).
    #[error("{detail}")]
    MethodNotAllowed { allow: &'static str, detail: String },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    NotImplemented(String),
    #[error("the service is busy; retry shortly")]
    Unavailable,
    /// Write admission refused the request before any work (`directory::Admission`).
    #[error("too many writes are in progress; retry after the Retry-After delay")]
    Overloaded,
    /// 500: the cause is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
    /// Any other status (the safety net that turns a non-SCIM error answer into a SCIM one).
    #[error("{detail}")]
    Status { status: StatusCode, detail: String },
}

impl ScimError {
    pub fn bad(scim_type: ScimType, detail: impl Into<String>) -> Self {
        ScimError::BadRequest {
            scim_type,
            detail: detail.into(),
        }
    }
    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::InvalidFilter, detail)
    }
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::InvalidValue, detail)
    }
    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::InvalidSyntax, detail)
    }

    /// The SCIM error for a bare status (used where only a status is known).
    pub fn for_status(status: StatusCode, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        match status.as_u16() {
            404 => ScimError::NotFound(detail),
            413 => ScimError::PayloadTooLarge(detail),
            415 => ScimError::UnsupportedMediaType(detail),
            500 => ScimError::Internal(detail),
            _ => ScimError::Status { status, detail },
        }
    }

    fn scim_type(&self) -> Option<ScimType> {
        match self {
            ScimError::BadRequest { scim_type, .. } => Some(*scim_type),
            ScimError::Conflict(_) => Some(ScimType::Uniqueness),
            _ => None,
        }
    }

    /// What the client is told; internal causes are replaced.
    fn public_detail(&self) -> String {
        match self {
            ScimError::Internal(_) => {
                "the server failed to process the request; it has been logged".to_string()
            }
            other => other.to_string(),
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    schemas: [&'a str; 1],
    status: String,
    #[serde(rename = "scimType", skip_serializing_if = "Option::is_none")]
    scim_type: Option<&'static str>,
    detail: String,
}

impl ResponseError for ScimError {
    fn status_code(&self) -> StatusCode {
        match self {
            ScimError::BadRequest { .. } | ScimError::Invalid(_) => StatusCode::BAD_REQUEST,
            ScimError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ScimError::Forbidden(_) => StatusCode::FORBIDDEN,
            ScimError::NotFound(_) => StatusCode::NOT_FOUND,
            ScimError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ScimError::Conflict(_) => StatusCode::CONFLICT,
            ScimError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ScimError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ScimError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ScimError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            ScimError::Unavailable | ScimError::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            ScimError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ScimError::Status { status, .. } => *status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if let ScimError::Internal(cause) = self {
            tracing::error!(cause = %cause, "SCIM request failed");
        }
        let body = Body {
            schemas: [ERROR_SCHEMA],
            status: status.as_u16().to_string(),
            scim_type: self.scim_type().map(ScimType::as_str),
            detail: self.public_detail(),
        };
        let mut res = HttpResponse::build(status);
        res.insert_header((header::CONTENT_TYPE, CONTENT_TYPE));
        if status == StatusCode::UNAUTHORIZED {
            res.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"zenqms-bridge\""));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            res.insert_header((header::RETRY_AFTER, "1"));
        }
        if let ScimError::MethodNotAllowed { allow, .. } = self {
            res.insert_header((header::ALLOW, *allow));
        }
        res.body(serde_json::to_string(&body).unwrap_or_default())
    }
}

impl From<AuthError> for ScimError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Missing | AuthError::Malformed | AuthError::Invalid => {
                ScimError::Unauthorized(e.to_string())
            }
            AuthError::WrongScope { .. } => ScimError::Forbidden(e.to_string()),
            AuthError::Unavailable => ScimError::Unavailable,
        }
    }
}

impl From<StoreError> for ScimError {
    fn from(e: StoreError) -> Self {
        match e {
            // Pool exhaustion or a lost database connection: a retryable 503, not a 500.
            e if e.is_unavailable() => {
                tracing::warn!(error = %e, "database busy");
                ScimError::Unavailable
            }
            other => ScimError::Internal(other.to_string()),
        }
    }
}

impl From<diesel::result::Error> for ScimError {
    fn from(e: diesel::result::Error) -> Self {
        ScimError::from(StoreError::from(e))
    }
}

impl From<Rejection> for ScimError {
    fn from(r: Rejection) -> Self {
        let scim_type = match r.reason {
            Reason::InvalidValue => ScimType::InvalidValue,
            Reason::InvalidPath => ScimType::InvalidPath,
            Reason::NoTarget => ScimType::NoTarget,
            Reason::Mutability => ScimType::Mutability,
            Reason::InvalidSyntax => ScimType::InvalidSyntax,
            Reason::InvalidFilter => ScimType::InvalidFilter,
            Reason::TooMany => ScimType::TooMany,
        };
        ScimError::bad(scim_type, r.detail)
    }
}

/// The one place directory outcomes become protocol answers.
impl From<DirectoryError> for ScimError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::NotFound { .. } => ScimError::NotFound(e.to_string()),
            DirectoryError::Conflict(detail) => ScimError::Conflict(detail),
            DirectoryError::Rejected(r) => r.into(),
            // RFC 7644 §3.12: invalidValue — "the value specified was not compatible".
            DirectoryError::UnknownMembers(_) => ScimError::invalid_value(e.to_string()),
            // RFC 7644 §3.14: 412 when If-Match does not match the current version.
            DirectoryError::VersionMismatch { .. } => ScimError::PreconditionFailed(e.to_string()),
            DirectoryError::Busy => ScimError::Unavailable,
            DirectoryError::Store(s) => s.into(),
        }
    }
}
