//! The Okta connection's rows: `okta_connection` (one row, id 1) and `okta_authorizations`
//! (authorization requests in flight). Values named `*_sealed` are `crypto::Key::seal`ed; this
//! module never sees them in clear.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::store::lock::lock_rows;
use crate::store::schema::{okta_authorizations, okta_connection};
use crate::store::{DbConn, StoreError};

/// The one row's id.
const ROW: i32 = 1;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = okta_connection)]
pub struct Row {
    pub org_url: String,
    pub client_id: String,
    pub client_secret_sealed: String,
    pub scope_group_ids: String,
    pub state: String,
    pub problem: Option<String>,
    pub refresh_token_sealed: Option<String>,
    pub access_token_sealed: Option<String>,
    pub access_token_expires_at: Option<NaiveDateTime>,
    pub scopes: Option<String>,
    pub authorized_by: Option<String>,
    pub authorized_at: Option<NaiveDateTime>,
    pub token_generation: i64,
    pub refresh_lease_owner: Option<String>,
    pub refresh_lease_until: Option<NaiveDateTime>,
}

impl Row {
    pub fn scope_group_ids(&self) -> Vec<String> {
        serde_json::from_str(&self.scope_group_ids).unwrap_or_default()
    }
}

pub fn load(conn: &mut DbConn) -> Result<Option<Row>, StoreError> {
    Ok(okta_connection::table
        .filter(okta_connection::id.eq(ROW))
        .select(Row::as_select())
        .first(conn)
        .optional()?)
}

/// The row, locked until the transaction ends (PostgreSQL; SQLite's write transaction holds
/// the database).
pub fn load_for_update(conn: &mut DbConn) -> Result<Option<Row>, StoreError> {
    Ok(lock_rows!(
        conn,
        for_update,
        okta_connection::table
            .filter(okta_connection::id.eq(ROW))
            .select(Row::as_select()),
        first
    )
    .optional()?)
}

/// The settings an admin PUTs.
pub struct NewSettings<'a> {
    pub org_url: &'a str,
    pub client_id: &'a str,
    pub client_secret_sealed: &'a str,
    pub scope_group_ids: &'a str,
}

/// Inserts the row, or replaces its settings; `forget_tokens` (the org or the client
/// changed) clears the authorization too.
pub fn save_settings(
    conn: &mut DbConn,
    s: &NewSettings<'_>,
    exists: bool,
    forget_tokens: bool,
) -> Result<(), StoreError> {
    if !exists {
        diesel::insert_into(okta_connection::table)
            .values((
                okta_connection::id.eq(ROW),
                okta_connection::org_url.eq(s.org_url),
                okta_connection::client_id.eq(s.client_id),
                okta_connection::client_secret_sealed.eq(s.client_secret_sealed),
                okta_connection::scope_group_ids.eq(s.scope_group_ids),
                okta_connection::state.eq("needs_authorization"),
                okta_connection::token_generation.eq(0i64),
            ))
            .execute(conn)?;
        return Ok(());
    }
    diesel::update(okta_connection::table.filter(okta_connection::id.eq(ROW)))
        .set((
            okta_connection::org_url.eq(s.org_url),
            okta_connection::client_id.eq(s.client_id),
            okta_connection::client_secret_sealed.eq(s.client_secret_sealed),
            okta_connection::scope_group_ids.eq(s.scope_group_ids),
        ))
        .execute(conn)?;
    if forget_tokens {
        forget(conn, "needs_authorization", None)?;
    }
    Ok(())
}

/// Clears the tokens and who authorized; sets `state` and `problem`.
pub fn forget(conn: &mut DbConn, state: &str, problem: Option<&str>) -> Result<(), StoreError> {
    diesel::update(okta_connection::table.filter(okta_connection::id.eq(ROW)))
        .set((
            okta_connection::state.eq(state),
            okta_connection::problem.eq(problem),
            okta_connection::refresh_token_sealed.eq(None::<String>),
            okta_connection::access_token_sealed.eq(None::<String>),
            okta_connection::access_token_expires_at.eq(None::<NaiveDateTime>),
            okta_connection::refresh_lease_owner.eq(None::<String>),
            okta_connection::refresh_lease_until.eq(None::<NaiveDateTime>),
            okta_connection::token_generation.eq(okta_connection::token_generation + 1),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn set_problem(conn: &mut DbConn, problem: &str) -> Result<(), StoreError> {
    diesel::update(okta_connection::table.filter(okta_connection::id.eq(ROW)))
        .set(okta_connection::problem.eq(problem))
        .execute(conn)?;
    Ok(())
}

/// A completed authorization.
pub struct Authorized<'a> {
    pub refresh_token_sealed: &'a str,
    pub access_token_sealed: &'a str,
    pub expires_at: NaiveDateTime,
    pub scopes: &'a str,
    pub authorized_by: &'a str,
}

pub fn save_authorization(conn: &mut DbConn, a: &Authorized<'_>) -> Result<(), StoreError> {
    diesel::update(okta_connection::table.filter(okta_connection::id.eq(ROW)))
        .set((
            okta_connection::state.eq("connected"),
            okta_connection::problem.eq(None::<String>),
            okta_connection::refresh_token_sealed.eq(a.refresh_token_sealed),
            okta_connection::access_token_sealed.eq(a.access_token_sealed),
            okta_connection::access_token_expires_at.eq(a.expires_at),
            okta_connection::scopes.eq(a.scopes),
            okta_connection::authorized_by.eq(a.authorized_by),
            okta_connection::authorized_at.eq(crate::store::now()),
            okta_connection::token_generation.eq(okta_connection::token_generation + 1),
            okta_connection::refresh_lease_owner.eq(None::<String>),
            okta_connection::refresh_lease_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(())
}

/// Takes the refresh lease if the tokens are still those of `generation` and no other
/// process holds an unexpired lease. `true` when taken.
pub fn claim_refresh(
    conn: &mut DbConn,
    generation: i64,
    owner: &str,
    until: NaiveDateTime,
) -> Result<bool, StoreError> {
    let now = crate::store::now();
    let n = diesel::update(
        okta_connection::table
            .filter(okta_connection::id.eq(ROW))
            .filter(okta_connection::state.eq("connected"))
            .filter(okta_connection::token_generation.eq(generation))
            .filter(
                okta_connection::refresh_lease_until
                    .is_null()
                    .or(okta_connection::refresh_lease_until.lt(now)),
            ),
    )
    .set((
        okta_connection::refresh_lease_owner.eq(owner),
        okta_connection::refresh_lease_until.eq(until),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Gives the lease back (a refresh that failed for a reason worth retrying).
pub fn release_refresh(conn: &mut DbConn, owner: &str) -> Result<(), StoreError> {
    diesel::update(
        okta_connection::table
            .filter(okta_connection::id.eq(ROW))
            .filter(okta_connection::refresh_lease_owner.eq(owner)),
    )
    .set((
        okta_connection::refresh_lease_owner.eq(None::<String>),
        okta_connection::refresh_lease_until.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?;
    Ok(())
}

/// Stores a refresh's tokens — the rotated refresh token, when there is one, in the same
/// statement as the access token — and gives the lease back. `false` if the lease was lost.
pub fn save_refresh(
    conn: &mut DbConn,
    owner: &str,
    access_token_sealed: &str,
    expires_at: NaiveDateTime,
    rotated_refresh_sealed: Option<&str>,
    scopes: Option<&str>,
) -> Result<bool, StoreError> {
    let target = okta_connection::table
        .filter(okta_connection::id.eq(ROW))
        .filter(okta_connection::refresh_lease_owner.eq(owner));
    let n = diesel::update(target)
        .set((
            okta_connection::access_token_sealed.eq(access_token_sealed),
            okta_connection::access_token_expires_at.eq(expires_at),
            okta_connection::token_generation.eq(okta_connection::token_generation + 1),
            okta_connection::refresh_lease_owner.eq(None::<String>),
            okta_connection::refresh_lease_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    if n == 1 {
        if let Some(rt) = rotated_refresh_sealed {
            diesel::update(okta_connection::table.filter(okta_connection::id.eq(ROW)))
                .set(okta_connection::refresh_token_sealed.eq(rt))
                .execute(conn)?;
        }
        if let Some(scopes) = scopes {
            diesel::update(okta_connection::table.filter(okta_connection::id.eq(ROW)))
                .set(okta_connection::scopes.eq(scopes))
                .execute(conn)?;
        }
    }
    Ok(n == 1)
}

/// A new authorization request.
pub fn insert_authorization(
    conn: &mut DbConn,
    state_hash: &str,
    principal: &str,
    nonce: &str,
    verifier_sealed: &str,
    expires_at: NaiveDateTime,
) -> Result<(), StoreError> {
    let now = crate::store::now();
    // Requests nobody finished are of no use after their expiry.
    diesel::delete(okta_authorizations::table.filter(okta_authorizations::expires_at.lt(now)))
        .execute(conn)?;
    diesel::insert_into(okta_authorizations::table)
        .values((
            okta_authorizations::state_hash.eq(state_hash),
            okta_authorizations::principal.eq(principal),
            okta_authorizations::nonce.eq(nonce),
            okta_authorizations::verifier_sealed.eq(verifier_sealed),
            okta_authorizations::created_at.eq(now),
            okta_authorizations::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

#[derive(Debug, Clone, Queryable)]
pub struct Pending {
    pub principal: String,
    pub nonce: String,
    pub verifier_sealed: String,
}

/// What became of a state presented at the callback.
pub enum Consumed {
    /// Used now, for the first time and in time.
    Fresh(Pending),
    /// Already used once.
    Reused,
    /// Expired (or the request was cleaned up after its expiry).
    Stale,
    Unknown,
}

/// Marks the state used — once: a second use finds it used.
pub fn consume_authorization(conn: &mut DbConn, state_hash: &str) -> Result<Consumed, StoreError> {
    let now = crate::store::now();
    let n = diesel::update(
        okta_authorizations::table
            .filter(okta_authorizations::state_hash.eq(state_hash))
            .filter(okta_authorizations::used_at.is_null())
            .filter(okta_authorizations::expires_at.gt(now)),
    )
    .set(okta_authorizations::used_at.eq(now))
    .execute(conn)?;
    let row: Option<(String, String, String, Option<NaiveDateTime>)> = okta_authorizations::table
        .filter(okta_authorizations::state_hash.eq(state_hash))
        .select((
            okta_authorizations::principal,
            okta_authorizations::nonce,
            okta_authorizations::verifier_sealed,
            okta_authorizations::used_at,
        ))
        .first(conn)
        .optional()?;
    Ok(match (n, row) {
        (1, Some((principal, nonce, verifier_sealed, _))) => Consumed::Fresh(Pending {
            principal,
            nonce,
            verifier_sealed,
        }),
        (_, Some((_, _, _, Some(_)))) => Consumed::Reused,
        (_, Some(_)) => Consumed::Stale,
        (_, None) => Consumed::Unknown,
    })
}
