//! Write transactions: `BEGIN IMMEDIATE` on SQLite, retried on transient lock failures.

use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::Connection;

use super::DirectoryError;
use crate::store::DbConn;

const ATTEMPTS: u32 = 4;

/// The queue of this process's SQLite writers (see [`write`]).
static SQLITE_WRITER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `f` in a write transaction and commits it, or rolls back on error.
///
/// SQLite: a deferred `BEGIN` that reads and then writes can fail with `SQLITE_BUSY` when
/// another writer committed in between (busy_timeout cannot help: the snapshot is stale), so the
/// write lock is taken up front with `BEGIN IMMEDIATE`. SQLite has one writer at a time anyway;
/// this process's writers queue on an in-process lock first, because writers left to SQLite's
/// busy handler sleep in steps of up to 100 ms and turn a 1 ms wait into a 100 ms one (the
/// busy_timeout still covers other processes, such as the CLI).
/// PostgreSQL: READ COMMITTED plus explicit row locks taken by the callers (`FOR UPDATE` on
/// the resource); a deadlock or serialization failure is retried with jitter. Contention that
/// outlasts the attempts becomes [`DirectoryError::Busy`] (a `503`, never a `500`).
pub fn write<T, F>(conn: &mut DbConn, mut f: F) -> Result<T, DirectoryError>
where
    F: FnMut(&mut DbConn) -> Result<T, DirectoryError>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = once(conn, &mut f);
        match result {
            Err(e) if e.is_transient() => {
                if attempt >= ATTEMPTS {
                    tracing::warn!(error = %e, attempt, "directory write gave up on lock contention");
                    return Err(DirectoryError::Busy);
                }
                tracing::debug!(error = %e, attempt, "retrying directory write");
                std::thread::sleep(backoff(attempt));
            }
            other => return other,
        }
    }
}

fn once<T, F>(conn: &mut DbConn, f: &mut F) -> Result<T, DirectoryError>
where
    F: FnMut(&mut DbConn) -> Result<T, DirectoryError>,
{
    match conn {
        DbConn::Postgres(_) => conn.transaction(|c| f(c)),
        DbConn::Sqlite(inner) => {
            let _writer = SQLITE_WRITER
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            // The multi-connection's transaction manager delegates its state to the inner
            // connection's, so beginning on the inner one and committing through the outer one
            // keeps diesel's bookkeeping consistent.
            AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")?;
            match f(conn) {
                Ok(value) => {
                    match <DbConn as Connection>::TransactionManager::commit_transaction(conn) {
                        Ok(()) => Ok(value),
                        Err(e) => {
                            let _ =
                                <DbConn as Connection>::TransactionManager::rollback_transaction(
                                    conn,
                                );
                            Err(e.into())
                        }
                    }
                }
                Err(e) => {
                    <DbConn as Connection>::TransactionManager::rollback_transaction(conn)?;
                    Err(e)
                }
            }
        }
    }
}

fn backoff(attempt: u32) -> Duration {
    use rand::Rng;
    let base = 5u64 << attempt.min(5);
    Duration::from_millis(base + rand::rng().random_range(0..base))
}
