//! Write transactions, for every layer: `BEGIN IMMEDIATE` on SQLite behind this process's
//! writer queue, retried on lock contention on both backends. Each layer turns the
//! contention that outlasted the retries into its own "busy" answer (a `503`, never a `500`).

use std::sync::{Condvar, Mutex};
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::Connection;

use super::{DbConn, StoreError};

const ATTEMPTS: u32 = 4;

/// The queue of this process's SQLite writers (see [`write`]).
static SQLITE_WRITERS: WriterQueue = WriterQueue::new();

/// One SQLite writer of this process at a time; a waiting urgent writer ([`write_urgent`])
/// goes before every waiting ordinary one.
struct WriterQueue {
    state: Mutex<Queue>,
    freed: Condvar,
}

struct Queue {
    busy: bool,
    urgent_waiting: usize,
}

impl WriterQueue {
    const fn new() -> WriterQueue {
        WriterQueue {
            state: Mutex::new(Queue {
                busy: false,
                urgent_waiting: 0,
            }),
            freed: Condvar::new(),
        }
    }

    /// Waits for this writer's turn.
    fn enter(&self, urgent: bool) -> Turn<'_> {
        let mut q = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if urgent {
            q.urgent_waiting += 1;
        }
        while q.busy || (!urgent && q.urgent_waiting > 0) {
            q = self.freed.wait(q).unwrap_or_else(|p| p.into_inner());
        }
        if urgent {
            q.urgent_waiting -= 1;
        }
        q.busy = true;
        Turn(self)
    }
}

/// A writer's turn; dropping it lets the next one in.
struct Turn<'a>(&'a WriterQueue);

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut q = self.0.state.lock().unwrap_or_else(|p| p.into_inner());
        q.busy = false;
        drop(q);
        // Every waiter re-checks: an urgent one may be among them, and it goes first.
        self.0.freed.notify_all();
    }
}

/// Errors of a layer that may carry lock contention ([`StoreError::is_contention`]): the
/// failures that a fresh attempt of the same transaction could avoid, so [`write`] retries them.
pub trait Contention {
    fn is_contention(&self) -> bool;
}

impl Contention for StoreError {
    fn is_contention(&self) -> bool {
        StoreError::is_contention(self)
    }
}

/// Runs `f` in a write transaction and commits it, or rolls back on error; contention runs it
/// again (a few times, with jitter). Contention returned from here means the attempts ran
/// out: callers map it to their layer's "busy". A lost connection is not retried here (the
/// same connection cannot recover): it reaches the caller as [`StoreError::is_unavailable`].
///
/// SQLite: a deferred `BEGIN` that reads and then writes can fail with `SQLITE_BUSY` when
/// another writer committed in between (busy_timeout cannot help: the snapshot is stale), so the
/// write lock is taken up front with `BEGIN IMMEDIATE`. SQLite has one writer at a time anyway;
/// this process's writers queue on an in-process lock first, because writers left to SQLite's
/// busy handler sleep in steps of up to 100 ms and turn a 1 ms wait into a 100 ms one (the
/// busy_timeout still covers other processes, such as the CLI). `f` must not start another
/// write transaction on another connection: the queue is not re-entrant.
/// PostgreSQL: READ COMMITTED plus whatever row locks `f` takes (`FOR UPDATE` on the resource);
/// a deadlock or serialization failure is retried.
pub fn write<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnMut(&mut DbConn) -> Result<T, E>,
    E: From<StoreError> + Contention + std::fmt::Display,
{
    write_queued(conn, false, f)
}

/// [`write`] for a short transaction that someone is waiting on and that must not queue
/// behind background work: on SQLite it takes the write lock before any ordinary writer of
/// this process that is waiting (PostgreSQL: the same as [`write`]). Used by the event-hook
/// receiver, whose answer Okta waits for (`okta_hooks::OktaHooks::receive`).
pub fn write_urgent<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnMut(&mut DbConn) -> Result<T, E>,
    E: From<StoreError> + Contention + std::fmt::Display,
{
    write_queued(conn, true, f)
}

fn write_queued<T, E, F>(conn: &mut DbConn, urgent: bool, mut f: F) -> Result<T, E>
where
    F: FnMut(&mut DbConn) -> Result<T, E>,
    E: From<StoreError> + Contention + std::fmt::Display,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match once(conn, urgent, &mut f) {
            Err(e) if attempt < ATTEMPTS && e.is_contention() => {
                tracing::debug!(error = %e, attempt, "retrying a write transaction");
                std::thread::sleep(backoff(attempt));
            }
            Err(e) if e.is_contention() => {
                tracing::warn!(error = %e, attempt, "a write transaction gave up on lock contention");
                return Err(e);
            }
            other => return other,
        }
    }
}

fn once<T, E, F>(conn: &mut DbConn, urgent: bool, f: &mut F) -> Result<T, E>
where
    F: FnMut(&mut DbConn) -> Result<T, E>,
    E: From<StoreError>,
{
    let _writer = match conn {
        DbConn::Postgres(inner) => {
            AnsiTransactionManager::begin_transaction(inner).map_err(begin_failed::<E>)?;
            None
        }
        DbConn::Sqlite(inner) => {
            let queued = SQLITE_WRITERS.enter(urgent);
            // The multi-connection's transaction manager delegates its state to the inner
            // connection's, so beginning on the inner one and committing through the outer one
            // keeps diesel's bookkeeping consistent.
            AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")
                .map_err(begin_failed::<E>)?;
            Some(queued)
        }
    };
    match f(conn) {
        Ok(value) => match <DbConn as Connection>::TransactionManager::commit_transaction(conn) {
            Ok(()) => Ok(value),
            Err(e) => {
                if <DbConn as Connection>::TransactionManager::rollback_transaction(conn).is_err() {
                    super::connection::mark_broken();
                }
                Err(E::from(StoreError::from(e)))
            }
        },
        Err(e) => {
            if let Err(r) = <DbConn as Connection>::TransactionManager::rollback_transaction(conn) {
                // diesel refuses every later `BEGIN` on this connection: the pool must drop
                // it. The transaction's own error is the one worth reporting (a lost
                // connection, a full disk), not the rollback's.
                super::connection::mark_broken();
                tracing::debug!(error = %r, "rollback failed; the connection is dropped");
            }
            Err(e)
        }
    }
}

/// A `BEGIN` that failed because the connection is left in a transaction or its transaction
/// manager is broken will fail the same way on every later use: the pool must drop it.
fn begin_failed<E: From<StoreError>>(e: diesel::result::Error) -> E {
    use diesel::result::Error;
    if matches!(
        e,
        Error::BrokenTransactionManager | Error::AlreadyInTransaction
    ) {
        super::connection::mark_broken();
    }
    E::from(StoreError::from(e))
}

fn backoff(attempt: u32) -> Duration {
    use rand::Rng;
    let base = 5u64 << attempt.min(5);
    Duration::from_millis(base + rand::rng().random_range(0..base))
}
