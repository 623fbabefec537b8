//! One connection type over both backends, chosen by the URL scheme.
//!
//! diesel's derived `MultiConnection::establish` tries every backend in turn and opens any
//! unrecognised string as a SQLite file, so the backend is picked here, explicitly.

use diesel::connection::InstrumentationEvent;
use diesel::pg::PgConnection;
use diesel::result::DatabaseErrorKind;
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use std::cell::Cell;
use std::path::PathBuf;

use super::StoreError;

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

/// Runs `$body` with `$c` bound to the backend's own connection, the code written once and
/// compiled for each backend (vaultwarden's `db_run!`): `db_run!(conn, |c| q.execute(c))`.
///
/// For statements whose SQL is the same on both backends but that the multi-backend
/// connection cannot run — upserts (`on_conflict`), multi-row `VALUES`, `RETURNING` after an
/// `ON CONFLICT`, `sql_query`, [`Sql`](super::sql::Sql) — or whose Rust types name the backend.
/// Where the SQL itself differs, the difference has its own home in `store/`: row locks in
/// `store::lock`, the write transaction's `BEGIN` in `store::tx`, migrations in `store`.
macro_rules! db_run {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::store::DbConn::Sqlite($c) => $body,
            $crate::store::DbConn::Postgres($c) => $body,
        }
    };
}
pub(crate) use db_run;

/// Which backend a connection talks to; some statements (upserts, locking) differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl DbConn {
    pub fn backend(&self) -> Backend {
        match self {
            DbConn::Postgres(_) => Backend::Postgres,
            DbConn::Sqlite(_) => Backend::Sqlite,
        }
    }
}

/// A parsed `DATABASE_URL`.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl DatabaseUrl {
    /// `sqlite://PATH`, `sqlite:PATH`, a bare path, or `postgres://…` / `postgresql://…`.
    /// Any other scheme is refused rather than silently opened as a file.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("is empty".into());
        }
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(raw.to_string()));
        }
        if let Some(path) = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err("sqlite URL has no file path (expected sqlite://PATH)".into());
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = raw.split_once("://") {
            return Err(format!(
                "unsupported scheme `{scheme}://` (use sqlite://PATH or postgres://…)"
            ));
        }
        Ok(DatabaseUrl::Sqlite(PathBuf::from(raw)))
    }

    pub fn backend(&self) -> Backend {
        match self {
            DatabaseUrl::Sqlite(_) => Backend::Sqlite,
            DatabaseUrl::Postgres(_) => Backend::Postgres,
        }
    }

    /// The URL with any password replaced, fit for logs.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(p) => format!("sqlite://{}", p.display()),
            DatabaseUrl::Postgres(u) => redact_password(u),
        }
    }

    pub fn establish(&self) -> Result<DbConn, StoreError> {
        match self {
            DatabaseUrl::Postgres(url) => {
                let mut conn = PgConnection::establish(url)
                    .map_err(|e| StoreError::Connect(format!("{}: {e}", self.redacted())))?;
                conn.set_instrumentation(watch_for_lost_connection);
                Ok(DbConn::Postgres(conn))
            }
            DatabaseUrl::Sqlite(path) => {
                let path_str = path.to_string_lossy();
                let mut conn = SqliteConnection::establish(&path_str)
                    .map_err(|e| StoreError::Connect(format!("{}: {e}", self.redacted())))?;
                conn.set_instrumentation(watch_for_lost_connection);
                // WAL lets readers proceed during a write; busy_timeout queues writers instead
                // of failing them with SQLITE_BUSY; foreign keys are off by default in SQLite.
                for pragma in [
                    "PRAGMA busy_timeout = 10000",
                    "PRAGMA journal_mode = WAL",
                    "PRAGMA foreign_keys = ON",
                    "PRAGMA synchronous = NORMAL",
                ] {
                    diesel::connection::SimpleConnection::batch_execute(&mut conn, pragma)?;
                }
                Ok(DbConn::Sqlite(conn))
            }
        }
    }
}

thread_local! {
    /// Set when a query on this thread failed in a way that leaves its connection unfit for
    /// reuse (the PostgreSQL connection is gone, SQLite's file could not be written, a
    /// transaction could not be rolled back); read (and cleared) by the pool when the
    /// connection is handed back.
    static CONNECTION_LOST: Cell<bool> = const { Cell::new(false) };
}

/// Marks the connection in use on this thread as unfit for reuse: the pool drops it when it is
/// handed back and opens a fresh one when one is needed (`store::tx` calls this when a
/// rollback fails — diesel's transaction manager then refuses every later `BEGIN`).
pub(crate) fn mark_broken() {
    CONNECTION_LOST.with(|lost| lost.set(true));
}

/// Instrumentation on every connection: notices a dead or failing connection from the error
/// of the query that hit it, so the pool can drop it without testing every checkout with a
/// round trip (`SELECT 1` per checkout cost about a third of PostgreSQL read throughput).
/// A connection is used and handed back on one blocking thread (`store::run`), so the flag
/// set by its failing query is the one its return reads.
fn watch_for_lost_connection(event: InstrumentationEvent<'_>) {
    if let InstrumentationEvent::FinishQuery {
        error: Some(diesel::result::Error::DatabaseError(kind, info)),
        ..
    } = event
    {
        let lost = matches!(
            kind,
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand
        ) || is_outage_message(info.message());
        if lost {
            mark_broken();
        }
    }
}

/// The messages of a database that is away or cannot take writes — a server shutting down
/// or restarting (PostgreSQL's SQLSTATE classes 08, 57P and 53, whose codes diesel does not
/// expose), a standby after a failover, a full disk — as opposed to a statement at fault.
pub fn is_outage_message(message: &str) -> bool {
    const OUTAGE: &[&str] = &[
        // PostgreSQL: 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now.
        "terminating connection due to",
        "the database system is",
        // libpq: the server closed the socket or cannot be reached.
        "server closed the connection",
        "no connection to the server",
        "could not receive data from server",
        "could not send data to server",
        "connection to server",
        "SSL SYSCALL error",
        "SSL connection has been closed",
        // 53300 too_many_connections, 53100 disk_full, 25006 read-only (a standby).
        "too many clients",
        "No space left on device",
        "read-only transaction",
        // SQLite: SQLITE_FULL, SQLITE_IOERR, SQLITE_CANTOPEN, SQLITE_READONLY.
        "database or disk is full",
        "disk I/O error",
        "unable to open database file",
        "attempt to write a readonly database",
    ];
    OUTAGE.iter().any(|m| message.contains(m))
}

fn redact_password(url: &str) -> String {
    // libpq takes a password in the authority (postgres://user:password@host/db) and as a
    // query parameter (…/db?password=…); both become ***.
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = base.to_string();
    if let Some((scheme, rest)) = base.split_once("://") {
        if let Some((creds, host)) = rest.rsplit_once('@') {
            if let Some((user, _)) = creds.split_once(':') {
                out = format!("{scheme}://{user}:***@{host}");
            }
        }
    }
    if let Some(q) = query {
        let params: Vec<String> = q
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => p.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

/// r2d2 manager that opens the backend named by the URL.
pub struct ConnectionManager {
    url: DatabaseUrl,
}

impl ConnectionManager {
    pub fn new(url: DatabaseUrl) -> Self {
        ConnectionManager { url }
    }
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = DbConn;
    type Error = StoreError;

    fn connect(&self) -> Result<DbConn, StoreError> {
        self.url.establish()
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        diesel::connection::SimpleConnection::batch_execute(conn, "SELECT 1")?;
        Ok(())
    }

    fn has_broken(&self, _conn: &mut DbConn) -> bool {
        // A fresh SQLite connection is cheap, and one whose write failed on a full disk may
        // hold a transaction state SQLite already rolled back: drop it on either backend.
        CONNECTION_LOST.with(|lost| lost.replace(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_schemes() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/x.db").ok(),
            Some(DatabaseUrl::Sqlite("data/x.db".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("./x.db").ok(),
            Some(DatabaseUrl::Sqlite("./x.db".into()))
        );
        assert!(matches!(
            DatabaseUrl::parse("postgresql://u@h/db"),
            Ok(DatabaseUrl::Postgres(_))
        ));
        assert!(DatabaseUrl::parse("mysql://h/db").is_err());
        assert!(DatabaseUrl::parse("").is_err());
    }

    #[test]
    fn redacts_password() {
        let url = DatabaseUrl::parse("postgres://bob:s3cret@db:5432/app").unwrap();
        assert_eq!(url.redacted(), "postgres://bob:***@db:5432/app");
        assert!(!format!("{url:?}").contains("s3cret"));
        let url =
            DatabaseUrl::parse("postgres://bob@db/app?sslmode=require&PASSWORD=s3cret").unwrap();
        assert_eq!(
            url.redacted(),
            "postgres://bob@db/app?sslmode=require&PASSWORD=***"
        );
    }
}
