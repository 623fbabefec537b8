//! Browser sessions of the admin console: a random id in an HttpOnly cookie (only its SHA-256
//! is stored), the scope it was opened with, a CSRF token for its forms, an idle and an
//! absolute expiry, and sign-out that ends it here, not only in the browser.
//!
//! A session opened with a token lives only as long as that token: revoking the service
//! account ends its sessions on their next request.

use base64::Engine;
use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::Scope;
use crate::audit::{self, Outcome};
use crate::store::schema::{console_sessions, service_accounts};
use crate::store::{self, tx, DbConn, Pool, StoreError};

/// `last_seen_at` is written at most this often, so that reading a page stays a read.
const TOUCH_GRANULARITY_SECS: i64 = 30;

/// How a person signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Pasted an `admin` or `read` token; the principal is the service account's name.
    Token,
    /// Signed in with Okta as a member of a console group; the principal is `okta:<login>`.
    Okta,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Token => "token",
            Via::Okta => "okta",
        }
    }
}

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id_hash: String,
    pub principal: String,
    pub scope: Scope,
    pub via: Via,
    pub csrf: String,
}

/// Why a cookie does not open a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// Unknown id, signed out, or its token revoked.
    Unknown,
    /// No request for longer than the idle limit.
    Idle,
    /// Older than the absolute limit.
    Expired,
}

/// The idle and absolute limits (`CONSOLE_SESSION_IDLE_SECS`, `CONSOLE_SESSION_MAX_SECS`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub idle: TimeDelta,
    pub max: TimeDelta,
}

pub fn random() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn hash(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// Opens a session; returns the cookie value (the only time the id exists in clear) and it.
pub fn open(
    conn: &mut DbConn,
    principal: &str,
    scope: Scope,
    via: Via,
) -> Result<(String, Session), StoreError> {
    let id = random();
    let session = Session {
        id_hash: hash(&id),
        principal: principal.to_string(),
        scope,
        via,
        csrf: random(),
    };
    let now = store::now();
    diesel::insert_into(console_sessions::table)
        .values((
            console_sessions::id_hash.eq(&session.id_hash),
            console_sessions::principal.eq(&session.principal),
            console_sessions::scope.eq(scope.as_str()),
            console_sessions::via.eq(via.as_str()),
            console_sessions::csrf.eq(&session.csrf),
            console_sessions::created_at.eq(now),
            console_sessions::last_seen_at.eq(now),
        ))
        .execute(conn)?;
    Ok((id, session))
}

type Row = (
    String,
    String,
    String,
    String,
    NaiveDateTime,
    NaiveDateTime,
    Option<NaiveDateTime>,
);

/// The session the cookie value `id` names, if it is still open; marks it seen.
pub fn resume(conn: &mut DbConn, id: &str, limits: Limits) -> Result<Session, ResumeError> {
    let id_hash = hash(id);
    let row: Option<Row> = console_sessions::table
        .filter(console_sessions::id_hash.eq(&id_hash))
        .select((
            console_sessions::principal,
            console_sessions::scope,
            console_sessions::via,
            console_sessions::csrf,
            console_sessions::created_at,
            console_sessions::last_seen_at,
            console_sessions::ended_at,
        ))
        .first(conn)
        .optional()?;
    let Some((principal, scope, via, csrf, created, seen, ended)) = row else {
        return Err(ResumeError::Closed(Closed::Unknown));
    };
    if ended.is_some() {
        return Err(ResumeError::Closed(Closed::Unknown));
    }
    let now = store::now();
    if now - created > limits.max {
        end(conn, &id_hash)?;
        return Err(ResumeError::Closed(Closed::Expired));
    }
    if now - seen > limits.idle {
        end(conn, &id_hash)?;
        return Err(ResumeError::Closed(Closed::Idle));
    }
    let via = if via == Via::Okta.as_str() {
        Via::Okta
    } else {
        Via::Token
    };
    let scope = match Scope::parse(&scope) {
        Some(s @ (Scope::Admin | Scope::Read)) => s,
        _ => return Err(ResumeError::Closed(Closed::Unknown)),
    };
    if via == Via::Token && !token_active(conn, &principal, scope)? {
        end(conn, &id_hash)?;
        return Err(ResumeError::Closed(Closed::Unknown));
    }
    if (now - seen).num_seconds() >= TOUCH_GRANULARITY_SECS {
        diesel::update(console_sessions::table.filter(console_sessions::id_hash.eq(&id_hash)))
            .set(console_sessions::last_seen_at.eq(now))
            .execute(conn)?;
    }
    Ok(Session {
        id_hash,
        principal,
        scope,
        via,
        csrf,
    })
}

/// Whether `principal` (`okta:<login>`) has an open `admin` session it signed in to with
/// Okta: what lets a person who signed in with Okta act as an admin outside a request (an
/// Okta authorization they started, finished by Okta's redirect).
pub fn okta_admin_open(conn: &mut DbConn, principal: &str) -> Result<bool, StoreError> {
    let n: i64 = console_sessions::table
        .filter(console_sessions::principal.eq(principal))
        .filter(console_sessions::via.eq(Via::Okta.as_str()))
        .filter(console_sessions::scope.eq(Scope::Admin.as_str()))
        .filter(console_sessions::ended_at.is_null())
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Whether the service account a token session was opened with still holds that scope.
fn token_active(conn: &mut DbConn, name: &str, scope: Scope) -> Result<bool, StoreError> {
    let held: Option<String> = service_accounts::table
        .filter(service_accounts::name.eq(name))
        .filter(service_accounts::revoked_at.is_null())
        .select(service_accounts::scope)
        .first(conn)
        .optional()?;
    Ok(held.as_deref() == Some(scope.as_str()))
}

/// Ends a session (sign-out, or expiry found on use). Ending an ended one does nothing.
pub fn end(conn: &mut DbConn, id_hash: &str) -> Result<bool, StoreError> {
    let n = diesel::update(
        console_sessions::table
            .filter(console_sessions::id_hash.eq(id_hash))
            .filter(console_sessions::ended_at.is_null()),
    )
    .set(console_sessions::ended_at.eq(store::now()))
    .execute(conn)?;
    Ok(n > 0)
}

/// Forgets every session that can no longer be resumed: ended (signed out, revoked, or found
/// expired on use), idle longer than `limits.idle`, or older than `limits.max`. They prove
/// nothing the audit trail does not (sign-in and sign-out are audited), and a table that only
/// grows would slow every resume.
pub fn purge(conn: &mut DbConn, now: NaiveDateTime, limits: Limits) -> Result<usize, StoreError> {
    Ok(diesel::delete(
        console_sessions::table.filter(
            console_sessions::ended_at
                .is_not_null()
                .or(console_sessions::created_at.lt(now - limits.max))
                .or(console_sessions::last_seen_at.lt(now - limits.idle)),
        ),
    )
    .execute(conn)?)
}

/// The housekeeping task (spawned by `server.rs`): purges every `every` until `stop` changes.
pub async fn purge_every(
    sessions: Sessions,
    every: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        match sessions.purge().await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(sessions = n, "purged ended and expired console sessions"),
            Err(e) => tracing::warn!(error = %e, "cannot purge console sessions"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    #[error("the session is closed")]
    Closed(Closed),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<diesel::result::Error> for ResumeError {
    fn from(e: diesel::result::Error) -> Self {
        ResumeError::Store(e.into())
    }
}

/// Compares a submitted CSRF token with the session's without leaking where they differ.
pub fn csrf_matches(session: &Session, submitted: &str) -> bool {
    let (a, b) = (session.csrf.as_bytes(), submitted.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Sessions as a service, built once by `server.rs`: opens (with the sign-in's audit entry),
/// resumes and ends them.
#[derive(Clone)]
pub struct Sessions {
    pool: Pool,
    limits: Limits,
}

impl Sessions {
    pub fn new(pool: Pool, limits: Limits) -> Sessions {
        Sessions { pool, limits }
    }

    /// Opens a session for a person who just proved who they are; returns the cookie value.
    pub async fn open(
        &self,
        principal: &str,
        scope: Scope,
        via: Via,
    ) -> Result<String, StoreError> {
        let who = principal.to_string();
        store::run(&self.pool, move |c| {
            tx::write(c, |c| {
                let (id, _) = open(c, &who, scope, via)?;
                audit::record(
                    c,
                    &audit::Entry {
                        actor: &who,
                        action: "console.signin",
                        target_type: "console_session",
                        target_id: None,
                        detail: serde_json::json!({"via": via.as_str(), "scope": scope.as_str()}),
                        outcome: Outcome::Success,
                    },
                )?;
                Ok::<_, StoreError>(id)
            })
        })
        .await
    }

    /// The open session of a cookie value.
    pub async fn resume(&self, id: String) -> Result<Session, ResumeError> {
        let limits = self.limits;
        store::run(&self.pool, move |c| {
            Ok::<_, StoreError>(resume(c, &id, limits))
        })
        .await?
    }

    /// Signs out: ends the session here (with its audit entry).
    pub async fn close(&self, session: Session) -> Result<(), StoreError> {
        store::run(&self.pool, move |c| {
            tx::write(c, |c| {
                if end(c, &session.id_hash)? {
                    audit::record(
                        c,
                        &audit::Entry {
                            actor: &session.principal,
                            action: "console.signout",
                            target_type: "console_session",
                            target_id: None,
                            detail: serde_json::json!({"via": session.via.as_str()}),
                            outcome: Outcome::Success,
                        },
                    )?;
                }
                Ok::<_, StoreError>(())
            })
        })
        .await
    }

    /// Housekeeping: forgets the sessions that can no longer be resumed ([`purge`]).
    pub async fn purge(&self) -> Result<usize, StoreError> {
        let limits = self.limits;
        store::run(&self.pool, move |c| purge(c, store::now(), limits)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_comparison() {
        let s = Session {
            id_hash: "h".into(),
            principal: "p".into(),
            scope: Scope::Read,
            via: Via::Token,
            csrf: "abc".into(),
        };
        assert!(csrf_matches(&s, "abc"));
        assert!(!csrf_matches(&s, "abd"));
        assert!(!csrf_matches(&s, "ab"));
        assert!(!csrf_matches(&s, ""));
    }
}
