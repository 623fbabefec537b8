//! Token minting, hashing, listing and revocation.

use base64::Engine;
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{Principal, Scope};
use crate::store::schema::service_accounts;
use crate::store::{self, DbConn, StoreError};

/// Every token starts with this, so leaked tokens are recognisable by secret scanners.
pub const TOKEN_PREFIX: &str = "zqb_";
/// 32 random bytes = 256 bits, base64url without padding.
const RANDOM_BYTES: usize = 32;
const ENCODED_LEN: usize = 43;
/// `last_used_at` is refreshed at most this often, so reads stay reads.
const LAST_USED_GRANULARITY_SECS: i64 = 60;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("a service account named `{0}` already exists")]
    NameTaken(String),
    #[error("no service account named `{0}`")]
    NotFound(String),
    #[error("the name must be 1–64 characters of letters, digits, `.`, `_` or `-`")]
    BadName,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl crate::store::tx::Contention for TokenError {
    fn is_contention(&self) -> bool {
        matches!(self, TokenError::Store(e) if e.is_contention())
    }
}

impl From<diesel::result::Error> for TokenError {
    fn from(e: diesel::result::Error) -> Self {
        TokenError::Store(StoreError::from(e))
    }
}

pub fn looks_like_token(s: &str) -> bool {
    s.len() == TOKEN_PREFIX.len() + ENCODED_LEN
        && s.starts_with(TOKEN_PREFIX)
        && s[TOKEN_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn mint() -> String {
    let mut bytes = [0u8; RANDOM_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[derive(Debug, Clone, Queryable, Serialize)]
pub struct AccountInfo {
    pub name: String,
    pub scope: String,
    /// The first characters of the token, to tell tokens apart.
    pub prefix: String,
    #[serde(serialize_with = "crate::time::serialize_rfc3339")]
    pub created_at: NaiveDateTime,
    #[serde(serialize_with = "crate::time::serialize_opt_rfc3339")]
    pub last_used_at: Option<NaiveDateTime>,
    #[serde(serialize_with = "crate::time::serialize_opt_rfc3339")]
    pub revoked_at: Option<NaiveDateTime>,
}

/// A new account and its token; the only time the token exists in clear.
#[derive(Debug, Serialize)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub account: AccountInfo,
    pub token: String,
}

pub fn create(conn: &mut DbConn, name: &str, scope: Scope) -> Result<CreatedToken, TokenError> {
    if !valid_name(name) {
        return Err(TokenError::BadName);
    }
    let token = mint();
    let now = store::now();
    let prefix: String = token.chars().take(TOKEN_PREFIX.len() + 6).collect();
    let inserted = diesel::insert_into(service_accounts::table)
        .values((
            service_accounts::id.eq(uuid::Uuid::new_v4().to_string()),
            service_accounts::name.eq(name),
            service_accounts::scope.eq(scope.as_str()),
            service_accounts::token_hash.eq(hash(&token)),
            service_accounts::token_prefix.eq(&prefix),
            service_accounts::created_at.eq(now),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => {}
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => return Err(TokenError::NameTaken(name.to_string())),
        Err(e) => return Err(e.into()),
    }
    Ok(CreatedToken {
        account: AccountInfo {
            name: name.to_string(),
            scope: scope.as_str().to_string(),
            prefix,
            created_at: now,
            last_used_at: None,
            revoked_at: None,
        },
        token,
    })
}

pub fn list(conn: &mut DbConn) -> Result<Vec<AccountInfo>, StoreError> {
    Ok(service_accounts::table
        .select((
            service_accounts::name,
            service_accounts::scope,
            service_accounts::token_prefix,
            service_accounts::created_at,
            service_accounts::last_used_at,
            service_accounts::revoked_at,
        ))
        .order(service_accounts::created_at.asc())
        .load(conn)?)
}

/// Revokes the named account's token; takes effect on the next request.
pub fn revoke(conn: &mut DbConn, name: &str) -> Result<(), TokenError> {
    let n = diesel::update(
        service_accounts::table
            .filter(service_accounts::name.eq(name))
            .filter(service_accounts::revoked_at.is_null()),
    )
    .set(service_accounts::revoked_at.eq(store::now()))
    .execute(conn)?;
    if n == 0 {
        let exists: i64 = service_accounts::table
            .filter(service_accounts::name.eq(name))
            .count()
            .get_result(conn)?;
        if exists == 0 {
            return Err(TokenError::NotFound(name.to_string()));
        }
    }
    Ok(())
}

/// The principal owning `token`, unless it is unknown or revoked.
pub fn authenticate(conn: &mut DbConn, token: &str) -> Result<Option<Principal>, StoreError> {
    let row: Option<(String, String, String, Option<NaiveDateTime>)> = service_accounts::table
        .filter(service_accounts::token_hash.eq(hash(token)))
        .filter(service_accounts::revoked_at.is_null())
        .select((
            service_accounts::id,
            service_accounts::name,
            service_accounts::scope,
            service_accounts::last_used_at,
        ))
        .first(conn)
        .optional()?;
    let Some((id, name, scope, last_used)) = row else {
        return Ok(None);
    };
    let Some(scope) = Scope::parse(&scope) else {
        return Err(StoreError::Corrupt(format!(
            "service account {name} has scope {scope}"
        )));
    };
    let now = store::now();
    let stale = last_used.is_none_or(|t| now - t > Duration::seconds(LAST_USED_GRANULARITY_SECS));
    if stale {
        diesel::update(service_accounts::table.filter(service_accounts::id.eq(&id)))
            .set(service_accounts::last_used_at.eq(now))
            .execute(conn)?;
    }
    Ok(Some(Principal { name, scope }))
}

/// Whether `name` is a service account that holds the `admin` scope and is not revoked (an
/// authorization an admin started is honoured only while that admin still is one).
pub fn is_active_admin(conn: &mut DbConn, name: &str) -> Result<bool, StoreError> {
    let scope: Option<String> = service_accounts::table
        .filter(service_accounts::name.eq(name))
        .filter(service_accounts::revoked_at.is_null())
        .select(service_accounts::scope)
        .first(conn)
        .optional()?;
    Ok(scope.as_deref() == Some(Scope::Admin.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_are_recognisable_and_unique() {
        let a = mint();
        let b = mint();
        assert!(looks_like_token(&a), "{a}");
        assert_ne!(a, b);
        assert_eq!(hash(&a).len(), 64);
        assert!(!looks_like_token("zqb_short"));
        assert!(!looks_like_token(&a.replace("zqb_", "xyz_")));
    }

    #[test]
    fn names() {
        assert!(valid_name("okta-prod"));
        assert!(!valid_name(""));
        assert!(!valid_name("has space"));
        assert!(!valid_name(&"x".repeat(65)));
    }
}
