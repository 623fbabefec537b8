//! Service accounts and their tokens. A token is shown once; only its SHA-256 is stored.

pub mod recent;
pub mod sessions;
pub mod tokens;

use actix_web::http::header::HeaderValue;
use serde::{Deserialize, Serialize};

pub use tokens::{authenticate, AccountInfo, CreatedToken, TokenError};

use crate::audit::{self, Outcome};
use crate::store::{self, tx, DbConn, Pool, StoreError};

/// Whether `principal` may still act as an admin: an `admin` service account not revoked,
/// or a person signed in to the console with Okta whose `admin` session is still open.
pub fn is_active_admin(conn: &mut DbConn, principal: &str) -> Result<bool, StoreError> {
    Ok(tokens::is_active_admin(conn, principal)? || sessions::okta_admin_open(conn, principal)?)
}

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
pub fn token_from_header(value: Option<&HeaderValue>) -> Result<String, AuthError> {
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

/// Service accounts as a service, built once by `server.rs` and registered as app data:
/// authenticates bearer tokens (the admin extractors and the SCIM guard ask it), and creates,
/// lists and revokes accounts with their audit entries.
#[derive(Clone)]
pub struct Authenticator {
    pool: Pool,
    recent: std::sync::Arc<recent::RecentChecks>,
}

impl Authenticator {
    pub fn new(pool: Pool) -> Authenticator {
        Authenticator {
            pool,
            recent: Default::default(),
        }
    }

    /// Whether `token` passed [`Authenticator::check_token`] for `needed` in this process a
    /// moment ago ([`recent`] says what this may spare, and what it may not).
    pub fn recently_passed(&self, token: &str, needed: Scope) -> bool {
        self.recent.vouches_for(token, needed)
    }

    /// The principal whose token the `Authorization` header carries, if its scope grants
    /// `needed`.
    pub async fn authenticate(
        &self,
        header: Option<&HeaderValue>,
        needed: Scope,
    ) -> Result<Principal, AuthError> {
        let token = token_from_header(header)?;
        self.check_token(token, needed).await
    }

    /// [`Authenticator::check`] on a connection of its own.
    /// A pass is remembered for [`Authenticator::recently_passed`].
    pub async fn check_token(&self, token: String, needed: Scope) -> Result<Principal, AuthError> {
        let recent = self.recent.clone();
        store::run(&self.pool, move |conn| {
            let checked = Self::check(conn, &token, needed);
            if checked.is_ok() {
                recent.passed(&token, needed);
            }
            Ok(checked)
        })
        .await
        .unwrap_or_else(|e: StoreError| Err(unavailable(e)))
    }

    /// Checks a well-formed token and its scope on `conn` — one that the caller holds anyway
    /// (the SCIM layer checks a body-less request on the connection of its own query).
    pub fn check(conn: &mut DbConn, token: &str, needed: Scope) -> Result<Principal, AuthError> {
        let principal = authenticate(conn, token)
            .map_err(unavailable)?
            .ok_or(AuthError::Invalid)?;
        if !principal.scope.grants(needed) {
            return Err(AuthError::WrongScope {
                has: principal.scope,
                needs: needed,
            });
        }
        Ok(principal)
    }

    /// Every service account (never their tokens).
    pub async fn accounts(&self) -> Result<Vec<AccountInfo>, StoreError> {
        store::run(&self.pool, tokens::list).await
    }

    /// Creates an account; its token is in the answer, the only time it exists in clear.
    pub async fn create(
        &self,
        actor: &str,
        name: &str,
        scope: Scope,
    ) -> Result<CreatedToken, TokenError> {
        let (actor, name) = (actor.to_string(), name.to_string());
        store::run(&self.pool, move |conn| {
            tx::write(conn, |conn| {
                let created = tokens::create(conn, &name, scope)?;
                audit::record(
                    conn,
                    &audit::Entry {
                        actor: &actor,
                        action: "token.create",
                        target_type: "service_account",
                        target_id: Some(&name),
                        detail: serde_json::json!({"scope": scope.as_str(), "prefix": created.account.prefix}),
                        outcome: Outcome::Success,
                    },
                )?;
                Ok::<_, TokenError>(created)
            })
        })
        .await
    }

    /// Revokes an account's token; effective on the next request.
    pub async fn revoke(&self, actor: &str, name: &str) -> Result<(), TokenError> {
        let (actor, name) = (actor.to_string(), name.to_string());
        let recent = self.recent.clone();
        let revoked = store::run(&self.pool, move |conn| {
            tx::write(conn, |conn| {
                tokens::revoke(conn, &name)?;
                audit::record(
                    conn,
                    &audit::Entry {
                        actor: &actor,
                        action: "token.revoke",
                        target_type: "service_account",
                        target_id: Some(&name),
                        detail: serde_json::json!({}),
                        outcome: Outcome::Success,
                    },
                )?;
                Ok::<_, TokenError>(())
            })
        })
        .await;
        // Whichever token it was, none is vouched for any more: its next body waits for a
        // check again.
        recent.forget_all();
        revoked
    }
}

fn unavailable(e: StoreError) -> AuthError {
    tracing::error!(error = %e, "token check failed");
    AuthError::Unavailable
}

#[cfg(test)]
mod tests {
    use super::*;

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
