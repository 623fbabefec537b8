//! The Okta client's errors: API errors by `errorCode` (never by their text), OAuth errors
//! by `error` (RFC 6749 §5.2), and what went wrong on the way.

/// Okta's `errorCode`s the bridge branches on (`docs/okta-api.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorCode {
    /// E0000004: authentication failed.
    AuthenticationFailed,
    /// E0000006: the token's admin lacks the permission.
    Forbidden,
    /// E0000007: not found.
    NotFound,
    /// E0000009: internal error (historically "timed out, retry with a smaller `limit`").
    Internal,
    /// E0000011: invalid token.
    InvalidToken,
    /// E0000047: rate limit exceeded.
    RateLimited,
    Other(String),
}

impl ErrorCode {
    pub fn parse(code: &str) -> ErrorCode {
        match code {
            "E0000004" => ErrorCode::AuthenticationFailed,
            "E0000006" => ErrorCode::Forbidden,
            "E0000007" => ErrorCode::NotFound,
            "E0000009" => ErrorCode::Internal,
            "E0000011" => ErrorCode::InvalidToken,
            "E0000047" => ErrorCode::RateLimited,
            other => ErrorCode::Other(other.to_string()),
        }
    }
}

/// OAuth 2.0 `error` values of the token endpoint (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OAuthErrorKind {
    /// The code is used or expired, the refresh token revoked or expired, a PKCE or
    /// `redirect_uri` mismatch: a person must authorize again.
    InvalidGrant,
    /// The client id or secret is wrong.
    InvalidClient,
    InvalidScope,
    UnauthorizedClient,
    InvalidRequest,
    Other(String),
}

impl OAuthErrorKind {
    pub fn parse(error: &str) -> OAuthErrorKind {
        match error {
            "invalid_grant" => OAuthErrorKind::InvalidGrant,
            "invalid_client" => OAuthErrorKind::InvalidClient,
            "invalid_scope" => OAuthErrorKind::InvalidScope,
            "unauthorized_client" => OAuthErrorKind::UnauthorizedClient,
            "invalid_request" => OAuthErrorKind::InvalidRequest,
            other => OAuthErrorKind::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            OAuthErrorKind::InvalidGrant => "invalid_grant",
            OAuthErrorKind::InvalidClient => "invalid_client",
            OAuthErrorKind::InvalidScope => "invalid_scope",
            OAuthErrorKind::UnauthorizedClient => "unauthorized_client",
            OAuthErrorKind::InvalidRequest => "invalid_request",
            OAuthErrorKind::Other(s) => s,
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum OktaApiError {
    /// `401` with `WWW-Authenticate: Bearer error="invalid_token"` (or E0000011): the access
    /// token expired or was revoked — refresh once and retry.
    #[error("the Okta access token was refused (expired or revoked)")]
    InvalidToken,
    /// `403` with `error="insufficient_scope"`: the token lacks a scope.
    #[error("the Okta token lacks a scope this call needs{}", .0.as_deref().map(|s| format!(" ({s})")).unwrap_or_default())]
    InsufficientScope(Option<String>),
    /// An Okta API error body.
    #[error("Okta answered {status} {code:?}: {summary}")]
    Api {
        status: u16,
        code: ErrorCode,
        summary: String,
    },
    /// An OAuth error body from the token or revoke endpoint.
    #[error("Okta's token endpoint answered {status} {}: {description}", .kind.as_str())]
    OAuth {
        status: u16,
        kind: OAuthErrorKind,
        description: String,
    },
    /// Still `429` after waiting for the window's reset several times.
    #[error("Okta's rate limit is exhausted (E0000047) and did not recover")]
    RateLimited,
    /// An answer outside the contract (a 5xx without an Okta body, a body that is not the
    /// expected JSON, a `next` link to another host).
    #[error("unexpected answer from Okta: {0}")]
    Unexpected(String),
    #[error("Okta did not answer in time")]
    Timeout,
    #[error("Okta is unreachable: {0}")]
    Unreachable(String),
    #[error("the Okta org URL is not usable: {0}")]
    BadUrl(String),
}

impl OktaApiError {
    /// The metric and audit label of an outcome.
    pub fn outcome(&self) -> &'static str {
        match self {
            OktaApiError::InvalidToken => "invalid_token",
            OktaApiError::InsufficientScope(_) => "insufficient_scope",
            OktaApiError::Api { code, .. } => match code {
                ErrorCode::NotFound => "not_found",
                ErrorCode::Forbidden => "forbidden",
                ErrorCode::RateLimited => "rate_limited",
                ErrorCode::Internal => "server_error",
                _ => "api_error",
            },
            OktaApiError::OAuth { kind, .. } => match kind {
                OAuthErrorKind::InvalidGrant => "invalid_grant",
                OAuthErrorKind::InvalidClient => "invalid_client",
                _ => "oauth_error",
            },
            OktaApiError::RateLimited => "rate_limited",
            OktaApiError::Unexpected(_) => "unexpected",
            OktaApiError::Timeout => "timeout",
            OktaApiError::Unreachable(_) => "unreachable",
            OktaApiError::BadUrl(_) => "bad_url",
        }
    }

    /// Worth retrying later as it is (a transport failure, a timeout, Okta's 5xx).
    pub fn is_transient(&self) -> bool {
        match self {
            OktaApiError::Timeout | OktaApiError::Unreachable(_) | OktaApiError::RateLimited => {
                true
            }
            OktaApiError::Api { status, .. } | OktaApiError::OAuth { status, .. } => *status >= 500,
            OktaApiError::Unexpected(_) => true,
            _ => false,
        }
    }
}
