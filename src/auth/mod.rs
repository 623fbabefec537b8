//! Service accounts and their tokens. A token is shown once; only its SHA-256 is stored.

pub mod tokens;

use serde::{Deserialize, Serialize};

pub use tokens::{authenticate, AccountInfo, CreatedToken, TokenError};

/// What a service account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The SCIM API (Okta, Entra).
    Scim,
    /// The admin REST API, read and write.
    Admin,
    /// The admin REST API, read only.
    Read,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Scim => "scim",
            Scope::Admin => "admin",
            Scope::Read => "read",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        match s.trim().to_ascii_lowercase().as_str() {
            "scim" => Some(Scope::Scim),
            "admin" => Some(Scope::Admin),
            "read" => Some(Scope::Read),
            _ => None,
        }
    }

    /// Whether a token of this scope may call an endpoint that needs `needed`.
    /// `admin` includes `read`; `scim` is its own world.
    pub fn grants(self, needed: Scope) -> bool {
        self == needed || (self == Scope::Admin && needed == Scope::Read)
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub scope: Scope,
}

/// Why a request was not authenticated or not authorised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no Authorization header: send `Authorization: Bearer <token>`")]
    Missing,
    #[error("the Authorization header is malformed: send `Authorization: Bearer <token>`")]
    Malformed,
    #[error("the token is not valid (unknown or revoked)")]
    Invalid,
    #[error("this token's scope `{has}` does not allow this endpoint (needs `{needs}`)")]
    WrongScope { has: Scope, needs: Scope },
    #[error("the token could not be checked right now; try again")]
    Unavailable,
}

impl AuthError {
    pub fn status(&self) -> actix_web::http::StatusCode {
        use actix_web::http::StatusCode;
        match self {
            AuthError::Missing | AuthError::Malformed | AuthError::Invalid => {
                StatusCode::UNAUTHORIZED
            }
            AuthError::WrongScope { .. } => StatusCode::FORBIDDEN,
            AuthError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// Extracts the token from `Authorization: Bearer <t>` or a bare `Authorization: <t>`
/// (Okta's "HTTP Header" auth sends whatever the admin typed).
pub fn token_from_header(
    value: Option<&actix_web::http::header::HeaderValue>,
) -> Result<String, AuthError> {
    let raw = value.ok_or(AuthError::Missing)?;
    let text = raw.to_str().map_err(|_| AuthError::Malformed)?.trim();
    let token = match text.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        Some(_) => return Err(AuthError::Malformed),
        None => text,
    };
    if !tokens::looks_like_token(token) {
        return Err(AuthError::Malformed);
    }
    Ok(token.to_string())
}

/// Authenticates the request's token against the database and checks its scope.
pub async fn require(req: &actix_web::HttpRequest, needed: Scope) -> Result<Principal, AuthError> {
    let token = token_from_header(req.headers().get(actix_web::http::header::AUTHORIZATION))?;
    let state = req
        .app_data::<actix_web::web::Data<crate::server::AppState>>()
        .ok_or(AuthError::Unavailable)?
        .clone();
    let principal = crate::store::run(&state.pool, move |conn| authenticate(conn, &token))
        .await
        .map_err(|e: crate::store::StoreError| {
            tracing::error!(error = %e, "token check failed");
            AuthError::Unavailable
        })?
        .ok_or(AuthError::Invalid)?;
    if !principal.scope.grants(needed) {
        return Err(AuthError::WrongScope {
            has: principal.scope,
            needs: needed,
        });
    }
    Ok(principal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    #[test]
    fn header_forms() {
        let tok = "zqb_".to_string() + &"a".repeat(43);
        let bearer = HeaderValue::from_str(&format!("Bearer {tok}")).unwrap();
        assert_eq!(token_from_header(Some(&bearer)).unwrap(), tok);
        let bare = HeaderValue::from_str(&tok).unwrap();
        assert_eq!(token_from_header(Some(&bare)).unwrap(), tok);
        let lower = HeaderValue::from_str(&format!("bearer {tok}")).unwrap();
        assert_eq!(token_from_header(Some(&lower)).unwrap(), tok);
        assert_eq!(token_from_header(None), Err(AuthError::Missing));
        let basic = HeaderValue::from_static("Basic dXNlcjpwYXNz");
        assert_eq!(token_from_header(Some(&basic)), Err(AuthError::Malformed));
        let junk = HeaderValue::from_static("non-token");
        assert_eq!(token_from_header(Some(&junk)), Err(AuthError::Malformed));
    }

    #[test]
    fn scope_grants() {
        assert!(Scope::Admin.grants(Scope::Read));
        assert!(!Scope::Read.grants(Scope::Admin));
        assert!(!Scope::Scim.grants(Scope::Admin));
        assert!(!Scope::Admin.grants(Scope::Scim));
    }
}
