//! Write transactions for layers other than the directory (which has its own, typed to its
//! error): `BEGIN IMMEDIATE` on SQLite, retried on transient lock failures on both backends.

use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::Connection;

use super::{DbConn, StoreError};

const ATTEMPTS: u32 = 4;

/// Errors that may be a failure a fresh attempt of the same transaction could avoid.
pub trait MaybeTransient {
    fn is_transient(&self) -> bool;
}

impl MaybeTransient for StoreError {
    fn is_transient(&self) -> bool {
        is_transient(self)
    }
}

/// A PostgreSQL serialization failure or deadlock, or SQLite's lock timeout.
pub fn is_transient(e: &StoreError) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        StoreError::Query(Error::DatabaseError(kind, info)) => {
            matches!(kind, DatabaseErrorKind::SerializationFailure) || {
                let m = info.message();
                m.contains("deadlock detected")
                    || m.contains("database is locked")
                    || m.contains("database table is locked")
            }
        }
        _ => false,
    }
}

/// Runs `f` in a write transaction and commits it, or rolls back on error; a transient
/// failure runs it again (a few times, with jitter).
///
/// SQLite: a deferred `BEGIN` that reads and then writes can fail with `SQLITE_BUSY` when
/// another writer committed in between (busy_timeout cannot help: the snapshot is stale), so the
/// write lock is taken up front. PostgreSQL: READ COMMITTED, with whatever locks `f` takes.
pub fn write<T, E, F>(conn: &mut DbConn, mut f: F) -> Result<T, E>
where
    F: FnMut(&mut DbConn) -> Result<T, E>,
    E: From<StoreError> + MaybeTransient,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match once(conn, &mut f) {
            Err(e) if attempt < ATTEMPTS && e.is_transient() => {
                std::thread::sleep(backoff(attempt));
            }
            other => return other,
        }
    }
}

fn once<T, E, F>(conn: &mut DbConn, f: &mut F) -> Result<T, E>
where
    F: FnMut(&mut DbConn) -> Result<T, E>,
    E: From<StoreError>,
{
    let begun = match conn {
        DbConn::Postgres(inner) => AnsiTransactionManager::begin_transaction(inner),
        // The multi-connection's transaction manager delegates its state to the inner
        // connection's, so beginning on the inner one and committing through the outer one
        // keeps diesel's bookkeeping consistent (as directory/tx.rs does).
        DbConn::Sqlite(inner) => {
            AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")
        }
    };
    begun.map_err(|e| E::from(StoreError::from(e)))?;
    match f(conn) {
        Ok(value) => match <DbConn as Connection>::TransactionManager::commit_transaction(conn) {
            Ok(()) => Ok(value),
            Err(e) => {
                let _ = <DbConn as Connection>::TransactionManager::rollback_transaction(conn);
                Err(E::from(StoreError::from(e)))
            }
        },
        Err(e) => {
            <DbConn as Connection>::TransactionManager::rollback_transaction(conn)
                .map_err(|r| E::from(StoreError::from(r)))?;
            Err(e)
        }
    }
}

fn backoff(attempt: u32) -> Duration {
    use rand::Rng;
    let base = 5u64 << attempt.min(5);
    Duration::from_millis(base + rand::rng().random_range(0..base))
}
