//! What a ZenQMS call can end in, typed so the worker can tell "try again later" from
//! "this user needs a person".

use std::time::Duration;

use super::contract::ZenqmsId;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ZenqmsError {
    /// Connection refused, reset, DNS, TLS: retry later.
    #[error("cannot reach ZenQMS: {0}")]
    Network(String),
    /// The connect or request timeout passed: retry later.
    #[error("ZenQMS did not answer within {0:?}")]
    Timeout(Duration),
    /// 5xx (or 408): ZenQMS's own trouble, retry later.
    #[error("ZenQMS answered {status}: {message}")]
    Server { status: u16, message: String },
    /// 429: nothing may be sent before `retry_after`.
    #[error("ZenQMS rate limit reached; retry after {retry_after:?}")]
    RateLimited { retry_after: Duration },
    /// 409: another user holds the email (`email_taken`) or the external id.
    #[error("ZenQMS refused: {message} ({code})")]
    Conflict {
        code: String,
        user_id: Option<ZenqmsId>,
        message: String,
    },
    /// 422 `validation_failed`: these fields were rejected.
    #[error("ZenQMS rejected the fields {}: {message}", .fields.join(", "))]
    Validation {
        fields: Vec<String>,
        message: String,
    },
    /// 422 `unknown_role`: nothing was added.
    #[error("ZenQMS has no roles {}", .role_ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))]
    UnknownRole { role_ids: Vec<ZenqmsId> },
    /// 404 on a call naming a user: the stored id no longer names a ZenQMS user.
    #[error("ZenQMS has no user {0}")]
    NotFound(ZenqmsId),
    /// 401 or 403: the token is wrong, inactive, or lacks the user-management permission.
    #[error("ZenQMS refused the API token ({status}): {message}")]
    Auth { status: u16, message: String },
    /// 400: the request was malformed, which is this program's bug, not the user's.
    #[error("ZenQMS could not parse the request (400): {0}")]
    BadRequest(String),
    /// Any other answer, or one that does not parse (a wrong base URL, a proxy's page).
    #[error("unexpected answer from ZenQMS ({status}): {message}")]
    Unexpected { status: u16, message: String },
}

/// How the worker treats an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Back off and retry; never dropped.
    Retryable,
    /// Wait the `Retry-After` (every worker), then retry.
    RateLimited,
    /// The reconciler's business: the picture it holds may be stale (404, 409).
    Stale,
    /// Needs a change in the directory or an admin: the user becomes `failed`.
    Permanent,
}

impl ZenqmsError {
    pub fn class(&self) -> ErrorClass {
        match self {
            ZenqmsError::Network(_)
            | ZenqmsError::Timeout(_)
            | ZenqmsError::Server { .. }
            | ZenqmsError::Unexpected { .. }
            // A bad token is the tenant's configuration, not this user's: keep retrying
            // (with backoff) so that fixing the token drains the queue by itself.
            | ZenqmsError::Auth { .. } => ErrorClass::Retryable,
            ZenqmsError::RateLimited { .. } => ErrorClass::RateLimited,
            ZenqmsError::Conflict { .. } | ZenqmsError::NotFound(_) => ErrorClass::Stale,
            ZenqmsError::Validation { .. }
            | ZenqmsError::UnknownRole { .. }
            | ZenqmsError::BadRequest(_) => ErrorClass::Permanent,
        }
    }

    /// The `outcome` label of the `zenqms_calls` metric.
    pub fn outcome(&self) -> &'static str {
        match self {
            ZenqmsError::Network(_) => "network_error",
            ZenqmsError::Timeout(_) => "timeout",
            ZenqmsError::Server { .. } => "server_error",
            ZenqmsError::RateLimited { .. } => "rate_limited",
            ZenqmsError::Conflict { .. } => "conflict",
            ZenqmsError::Validation { .. } | ZenqmsError::UnknownRole { .. } => "validation",
            ZenqmsError::NotFound(_) => "not_found",
            ZenqmsError::Auth { .. } => "auth",
            ZenqmsError::BadRequest(_) => "bad_request",
            ZenqmsError::Unexpected { .. } => "unexpected",
        }
    }

    /// The HTTP status, when ZenQMS answered at all.
    pub fn status(&self) -> Option<u16> {
        match self {
            ZenqmsError::Network(_) | ZenqmsError::Timeout(_) => None,
            ZenqmsError::Server { status, .. }
            | ZenqmsError::Auth { status, .. }
            | ZenqmsError::Unexpected { status, .. } => Some(*status),
            ZenqmsError::RateLimited { .. } => Some(429),
            ZenqmsError::Conflict { .. } => Some(409),
            ZenqmsError::Validation { .. } | ZenqmsError::UnknownRole { .. } => Some(422),
            ZenqmsError::NotFound(_) => Some(404),
            ZenqmsError::BadRequest(_) => Some(400),
        }
    }

    pub fn is_email_taken(&self) -> bool {
        matches!(self, ZenqmsError::Conflict { code, .. } if code == super::contract::CODE_EMAIL_TAKEN)
    }
}
