//! The `zenqms_budget` row: the tenant's call schedule and `429` pause as every bridge process
//! on the database shares them (the logic is `budget.rs`'s). Times are microseconds since the
//! epoch on the database's clock; each statement also returns that clock, read in the same
//! statement, so a process can turn them into its own. One statement per operation, a primary
//! key lookup each: a batch of slots, a pause, a reading.

use diesel::sql_types::BigInt;

use crate::store::sql::{Bind, Sql};
use crate::store::{Backend, DbConn, StoreError};

/// The row's key: one bridge database serves one ZenQMS tenant.
const TENANT: &str = "zenqms";

/// What a statement returns.
#[derive(Debug, Clone, Copy, diesel::QueryableByName)]
pub struct Reading {
    /// The first slot taken ([`take`]; otherwise the next free slot).
    #[diesel(sql_type = BigInt)]
    pub first_us: i64,
    #[diesel(sql_type = BigInt)]
    pub paused_until_us: i64,
    /// The database's clock when the statement ran.
    #[diesel(sql_type = BigInt)]
    pub now_us: i64,
}

/// The database's clock in microseconds — the one real difference between the backends here
/// (SQLite's `'now'` is fixed for the statement; PostgreSQL's `clock_timestamp()` is not
/// delayed by a wait for the row lock, as `now()` would be).
fn now_us(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT",
        Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)",
    }
}

/// `GREATEST` is spelled `max` (with several arguments) in SQLite.
fn greatest(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "GREATEST",
        Backend::Sqlite => "max",
    }
}

/// Takes `n` consecutive slots `step_us` apart: the first is the next free one, but never
/// before now nor inside the pause.
pub fn take(conn: &mut DbConn, n: i64, step_us: i64) -> Result<Reading, StoreError> {
    let backend = conn.backend();
    let (now, max) = (now_us(backend), greatest(backend));
    let span = n.saturating_mul(step_us);
    let mut sql = Sql::new(backend);
    sql.push(&format!(
        "UPDATE zenqms_budget SET next_free_us = {max}(next_free_us, paused_until_us, {now}) + "
    ))
    .bind(Bind::Int(span))
    .push(" WHERE tenant = ")
    .bind(Bind::Text(TENANT.into()))
    .push(" RETURNING next_free_us - ")
    .bind(Bind::Int(span))
    .push(&format!(" AS first_us, paused_until_us, {now} AS now_us"));
    one(sql.load(conn)?)
}

/// Records a `429`: nothing goes before now + `wait_us` (a longer pause in force stays).
pub fn pause(conn: &mut DbConn, wait_us: i64) -> Result<Reading, StoreError> {
    let backend = conn.backend();
    let (now, max) = (now_us(backend), greatest(backend));
    let mut sql = Sql::new(backend);
    sql.push(&format!(
        "UPDATE zenqms_budget SET paused_until_us = {max}(paused_until_us, {now} + "
    ))
    .bind(Bind::Int(wait_us))
    .push(&format!("), next_free_us = {max}(next_free_us, {now} + "))
    .bind(Bind::Int(wait_us))
    .push(") WHERE tenant = ")
    .bind(Bind::Text(TENANT.into()))
    .push(&format!(
        " RETURNING next_free_us AS first_us, paused_until_us, {now} AS now_us"
    ));
    one(sql.load(conn)?)
}

/// The row as it is.
pub fn read(conn: &mut DbConn) -> Result<Reading, StoreError> {
    let backend = conn.backend();
    let mut sql = Sql::new(backend);
    sql.push(&format!(
        "SELECT next_free_us AS first_us, paused_until_us, {} AS now_us \
         FROM zenqms_budget WHERE tenant = ",
        now_us(backend)
    ))
    .bind(Bind::Text(TENANT.into()));
    one(sql.load(conn)?)
}

fn one(rows: Vec<Reading>) -> Result<Reading, StoreError> {
    rows.into_iter()
        .next()
        .ok_or_else(|| StoreError::Migration("the zenqms_budget row is missing".into()))
}
