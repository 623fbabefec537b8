//! The one way a SCIM request is authenticated. The guard (`guard.rs`) reads the token from
//! the `Authorization` header before anything else — a missing or malformed one is `401` at
//! once — and puts a [`Caller`] in the request. The token is then checked exactly once, by
//! the same [`Authenticator::check`], at the first of these moments:
//! - before the body is read, for a request that has one (`POST`, `PUT`, `PATCH`): a request
//!   with a bad token must not get its body read or parsed. A token that passed this check in
//!   this process within the last 2 s is not checked here again (`crate::auth::recent`): its
//!   check is the next one, on the write's own connection, which sees a revocation made
//!   meanwhile — the token still changes nothing and gets its `401`;
//! - on the connection of the request's own first directory call, for a body-less request
//!   (`GET`, `HEAD`, `DELETE`), through [`super::Ctx`] — on PostgreSQL that saves a pool
//!   checkout and a round trip per read;
//! - after the handler, before its answer is sent, when the handler made no directory call (a
//!   `400` from a query string, an unknown route): the answer is held back and replaced by the
//!   `401` or `403` if the token is bad.

use std::sync::{Arc, OnceLock};

use actix_web::http::header::HeaderValue;

use super::error::ScimError;
use crate::auth::{self, Authenticator, Principal, Scope};
use crate::store::DbConn;

/// The caller of one SCIM request: its token, and the principal once it has been checked.
#[derive(Clone)]
pub struct Caller {
    token: String,
    checked: Arc<OnceLock<Principal>>,
}

impl Caller {
    /// The token of the `Authorization` header (`401` when missing or malformed).
    pub fn from_header(value: Option<&HeaderValue>) -> Result<Caller, ScimError> {
        Ok(Caller {
            token: auth::token_from_header(value)?,
            checked: Arc::new(OnceLock::new()),
        })
    }

    pub fn is_checked(&self) -> bool {
        self.checked.get().is_some()
    }

    /// The principal, checking the token on a connection of its own if not done yet.
    pub async fn check(&self, authn: Option<&Authenticator>) -> Result<Principal, ScimError> {
        if let Some(p) = self.checked.get() {
            return Ok(p.clone());
        }
        let authn = authn.ok_or(auth::AuthError::Unavailable)?;
        let p = authn.check_token(self.token.clone(), Scope::Scim).await?;
        Ok(self.checked.get_or_init(|| p).clone())
    }

    /// Before the body of a `POST`, `PUT` or `PATCH` is read: checks the token on a connection
    /// of its own, unless it passed that check a moment ago (`crate::auth::recent`); then the
    /// request stays unchecked and the check on its write's connection decides.
    pub async fn check_before_body(&self, authn: Option<&Authenticator>) -> Result<(), ScimError> {
        if authn.is_some_and(|a| a.recently_passed(&self.token, Scope::Scim)) {
            return Ok(());
        }
        self.check(authn).await.map(drop)
    }

    /// The principal, checking the token on `conn` — the connection of the request's own
    /// query — if not done yet.
    pub fn check_on(&self, conn: &mut DbConn) -> Result<Principal, ScimError> {
        if let Some(p) = self.checked.get() {
            return Ok(p.clone());
        }
        let p = Authenticator::check(conn, &self.token, Scope::Scim)?;
        Ok(self.checked.get_or_init(|| p).clone())
    }
}
