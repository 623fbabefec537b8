//! Every answer that is not a success, and the one place each kind turns into HTTP:
//! - [`ApiError`]: the management API's (and `/_sim`'s) Okta error body
//!   `{"errorCode","errorSummary","errorLink","errorId","errorCauses"}`; also the `429` of
//!   every rate-limited endpoint, `/oauth2/v1/token` included (Okta answers rate limits
//!   with E0000047 everywhere).
//! - [`OAuthError`]: the OAuth endpoints' `{"error","error_description"}` (RFC 6749 §5.2).
//!
//! Choices where Okta's documentation is silent: an outage answers `503` with E0000009;
//! an unknown route `404` E0000007; a wrong method `405` E0000022; a body over the limit
//! `413` E0000001.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::ids::random_token;

/// Where a bearer-token challenge points (`WWW-Authenticate: Bearer …`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    pub org_url: String,
    /// The scope the endpoint needs.
    pub scope: String,
    /// The request path.
    pub resource: String,
}

impl Challenge {
    fn header(&self, error: &str, description: &str) -> String {
        format!(
            "Bearer authorization_uri=\"{org}/oauth2/v1/authorize\", realm=\"{org}\", \
             scope=\"{scope}\", error=\"{error}\", error_description=\"{description}\", \
             resource=\"{resource}\"",
            org = self.org_url,
            scope = self.scope,
            resource = self.resource,
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// `400 E0000001`: a field is missing or wrong.
    #[error("Api validation failed: {field}")]
    Validation { field: String, causes: Vec<String> },
    /// `400 E0000003`: the body is not JSON (or not the JSON expected).
    #[error("The request body was not well-formed.")]
    Malformed(String),
    /// `400 E0000031`: a `filter`/`search`/`q` the simulator cannot evaluate.
    #[error("Invalid search criteria.")]
    InvalidSearch(String),
    /// `401 E0000011`: no access token, or an unknown, expired or revoked one.
    #[error("Invalid token provided")]
    InvalidToken {
        challenge: Challenge,
        description: String,
    },
    /// `403 E0000006` with `error="insufficient_scope"`.
    #[error("You do not have permission to perform the requested action")]
    InsufficientScope { challenge: Challenge },
    /// `403 E0000006`: the scope is granted but the admin's role does not allow it.
    #[error("You do not have permission to perform the requested action")]
    Forbidden(String),
    /// `404 E0000007`.
    #[error("Not found: Resource not found: {0}")]
    NotFound(String),
    /// `405 E0000022`.
    #[error("The endpoint does not support the provided HTTP method")]
    MethodNotAllowed,
    /// `413 E0000001`.
    #[error("Api validation failed: request body too large")]
    PayloadTooLarge,
    /// `429 E0000047`; the rate-limit headers are the gate's.
    #[error("API call exceeded rate limit due to too many requests.")]
    RateLimited,
    /// `500 E0000009`: an injected fault.
    #[error("Internal Server Error")]
    Internal,
    /// `503 E0000009`: the simulated outage.
    #[error("Service Unavailable")]
    Unavailable,
}

impl ApiError {
    pub(crate) fn validation(field: impl Into<String>, cause: impl Into<String>) -> Self {
        ApiError::Validation {
            field: field.into(),
            causes: vec![cause.into()],
        }
    }

    pub fn error_code(&self) -> &'static str {
        match self {
            ApiError::Validation { .. } | ApiError::PayloadTooLarge => "E0000001",
            ApiError::Malformed(_) => "E0000003",
            ApiError::InvalidSearch(_) => "E0000031",
            ApiError::InvalidToken { .. } => "E0000011",
            ApiError::InsufficientScope { .. } | ApiError::Forbidden(_) => "E0000006",
            ApiError::NotFound(_) => "E0000007",
            ApiError::MethodNotAllowed => "E0000022",
            ApiError::RateLimited => "E0000047",
            ApiError::Internal | ApiError::Unavailable => "E0000009",
        }
    }

    fn causes(&self) -> Vec<String> {
        match self {
            ApiError::Validation { causes, .. } => causes.clone(),
            ApiError::Malformed(cause) | ApiError::InvalidSearch(cause) => vec![cause.clone()],
            ApiError::Forbidden(cause) if !cause.is_empty() => vec![cause.clone()],
            _ => Vec::new(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Validation { .. } | ApiError::Malformed(_) | ApiError::InvalidSearch(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::InvalidToken { .. } => StatusCode::UNAUTHORIZED,
            ApiError::InsufficientScope { .. } | ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        match self {
            ApiError::InvalidToken {
                challenge,
                description,
            } => {
                res.insert_header((
                    header::WWW_AUTHENTICATE,
                    challenge.header("invalid_token", description),
                ));
            }
            ApiError::InsufficientScope { challenge } => {
                res.insert_header((
                    header::WWW_AUTHENTICATE,
                    challenge.header(
                        "insufficient_scope",
                        "The access token provided does not contain the required scopes.",
                    ),
                ));
            }
            _ => {}
        }
        let code = self.error_code();
        let causes: Vec<_> = self
            .causes()
            .into_iter()
            .map(|c| json!({ "errorSummary": c }))
            .collect();
        res.json(json!({
            "errorCode": code,
            "errorSummary": self.to_string(),
            "errorLink": code,
            "errorId": format!("oae{}", random_token(22)),
            "errorCauses": causes,
        }))
    }
}

/// An OAuth endpoint's error (`/oauth2/v1/token`, `/revoke`, and `/authorize` when it
/// cannot redirect).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}: {description}")]
pub struct OAuthError {
    pub status: u16,
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    fn new(status: u16, error: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            status,
            error,
            description: description.into(),
        }
    }

    pub(crate) fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(400, "invalid_request", description)
    }

    pub(crate) fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(401, "invalid_client", description)
    }

    pub(crate) fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(400, "invalid_grant", description)
    }

    pub(crate) fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new(400, "invalid_scope", description)
    }

    pub(crate) fn unauthorized_client(description: impl Into<String>) -> Self {
        Self::new(400, "unauthorized_client", description)
    }

    pub(crate) fn unsupported_grant_type(description: impl Into<String>) -> Self {
        Self::new(400, "unsupported_grant_type", description)
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST)
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code())
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"))
            .json(json!({ "error": self.error, "error_description": self.description }))
    }
}

/// Extractor failures on JSON bodies answer in Okta's shape instead of actix's text.
pub(crate) fn from_json_error(err: actix_web::error::JsonPayloadError) -> ApiError {
    use actix_web::error::JsonPayloadError as E;
    match err {
        E::Overflow { .. } | E::OverflowKnownLength { .. } => ApiError::PayloadTooLarge,
        other => ApiError::Malformed(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;
    use serde_json::Value;

    #[actix_web::test]
    async fn shapes() {
        let challenge = Challenge {
            org_url: "http://127.0.0.1:1".into(),
            scope: "okta.users.read".into(),
            resource: "/api/v1/users".into(),
        };
        let res = ApiError::InsufficientScope { challenge }.error_response();
        assert_eq!(res.status(), 403);
        let www = res
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert!(www.contains("error=\"insufficient_scope\""), "{www}");
        let body: Value =
            serde_json::from_slice(&to_bytes(res.into_body()).await.unwrap()).unwrap();
        assert_eq!(body["errorCode"], "E0000006");
        assert!(body["errorId"].as_str().unwrap().starts_with("oae"));
        assert_eq!(body["errorCauses"], json!([]));

        let res = OAuthError::invalid_grant("used").error_response();
        assert_eq!(res.status(), 400);
        let body: Value =
            serde_json::from_slice(&to_bytes(res.into_body()).await.unwrap()).unwrap();
        assert_eq!(
            body,
            json!({"error": "invalid_grant", "error_description": "used"})
        );
    }
}
