//! Row and transaction locks, which only PostgreSQL takes: the one place where reads differ
//! between the backends for concurrency's sake.
//!
//! On SQLite a write transaction begins with `BEGIN IMMEDIATE` (`store::tx`), which holds the
//! database's single write lock until commit: no other writer can change what it reads, so
//! the PostgreSQL locks below have nothing to add there and are left out of the SQL (SQLite
//! has no `FOR UPDATE` syntax). On PostgreSQL (READ COMMITTED) they are what makes a
//! read-then-write inside a transaction safe against another process.

use diesel::sql_types::BigInt;
use diesel::RunQueryDsl;

use super::sql::Sql;
use super::{Backend, DbConn, StoreError};

/// Runs a diesel select with a PostgreSQL row lock that lasts until the transaction ends:
/// `lock_rows!(conn, for_update, query, first)` is `query.for_update().first(c)` on
/// PostgreSQL and `query.first(c)` on SQLite (`load` works the same way).
///
/// - `for_update`: the rows are about to be changed; concurrent writers of them queue here.
/// - `for_key_share`: the rows must keep existing (a foreign key will point at them); a
///   concurrent `DELETE` waits for this transaction, an `UPDATE` of other columns does not.
///
/// The query is written once and compiled for each backend, so its select clause may be a
/// `Selectable`'s `as_select()` (whose type names the backend).
macro_rules! lock_rows {
    ($conn:expr, for_update, $query:expr, $run:ident) => {
        match $conn {
            $crate::store::DbConn::Postgres(c) => {
                diesel::RunQueryDsl::$run(diesel::QueryDsl::for_update($query), c)
            }
            $crate::store::DbConn::Sqlite(c) => diesel::RunQueryDsl::$run($query, c),
        }
    };
    ($conn:expr, for_key_share, $query:expr, $run:ident) => {
        match $conn {
            $crate::store::DbConn::Postgres(c) => {
                diesel::RunQueryDsl::$run(diesel::QueryDsl::for_key_share($query), c)
            }
            $crate::store::DbConn::Sqlite(c) => diesel::RunQueryDsl::$run($query, c),
        }
    };
}
pub(crate) use lock_rows;

/// Ends the `SELECT` of a [`Sql`] statement with `FOR UPDATE SKIP LOCKED` on PostgreSQL: the
/// rows it picks are locked, and rows another transaction holds are passed over instead of
/// waited for (several processes' workers claiming jobs never queue behind one another).
pub fn for_update_skip_locked(sql: &mut Sql) {
    if sql.backend() == Backend::Postgres {
        sql.push(" FOR UPDATE SKIP LOCKED");
    }
}

/// Serialises, across processes, the transactions that take the lock `key` (any constant the
/// bridge's processes agree on), until the transaction ends: `pg_advisory_xact_lock`.
pub fn advisory_xact(conn: &mut DbConn, key: i64) -> Result<(), StoreError> {
    if let DbConn::Postgres(c) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<BigInt, _>(key)
            .execute(c)?;
    }
    Ok(())
}
