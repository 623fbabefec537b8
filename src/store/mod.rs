//! Storage: the connection enum, the pool, embedded migrations and the portable schema; the
//! SQL builder (`sql`), write transactions (`tx`) and PostgreSQL's locks (`lock`).

pub mod connection;
pub mod lock;
pub mod schema;
pub mod settings;
pub mod sql;
pub mod tx;

use std::time::Duration;

use chrono::{NaiveDateTime, SubsecRound, Utc};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

pub(crate) use connection::db_run;
pub use connection::{Backend, DatabaseUrl, DbConn};
pub(crate) use lock::lock_rows;

pub type Pool = r2d2::Pool<connection::ConnectionManager>;
pub type PooledConn = r2d2::PooledConnection<connection::ConnectionManager>;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot connect to the database {0}")]
    Connect(String),
    #[error("database pool: {0}")]
    Pool(String),
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("a database task panicked or was cancelled")]
    Canceled,
}

impl From<r2d2::Error> for StoreError {
    fn from(e: r2d2::Error) -> Self {
        StoreError::Pool(e.to_string())
    }
}

impl StoreError {
    /// The database cannot be reached, cannot take a write, or no connection is free: the pool
    /// is exhausted, the connection was lost or the server is shutting down (a restart or
    /// failover), the disk is full — load and outages, not bugs. Retrying the request later can
    /// succeed; retrying on the same connection cannot (a `503` with `Retry-After`, never a
    /// `500`: Okta retries a `503`, and a `500` says the request itself is at fault).
    pub fn is_unavailable(&self) -> bool {
        use diesel::result::DatabaseErrorKind::{ClosedConnection, UnableToSendCommand};
        use diesel::result::Error;
        match self {
            StoreError::Pool(_) | StoreError::Connect(_) => true,
            StoreError::Query(Error::DatabaseError(ClosedConnection | UnableToSendCommand, _)) => {
                true
            }
            // A connection whose transaction could not be rolled back (its server went away
            // mid-transaction); the pool drops it (`connection::has_broken`).
            StoreError::Query(Error::BrokenTransactionManager) => true,
            StoreError::Query(Error::DatabaseError(_, info)) => {
                connection::is_outage_message(info.message())
            }
            _ => false,
        }
    }

    /// Lock contention between transactions: a PostgreSQL serialization failure or deadlock,
    /// or SQLite's lock timeout. A fresh attempt of the same transaction may succeed
    /// (`store::tx::write` makes it).
    pub fn is_contention(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        match self {
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

    /// True when the error is a unique-constraint violation (a lost race on insert).
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            StoreError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }
}

/// Builds the pool. SQLite files are created (with their directory) on first use.
pub fn connect(url: &DatabaseUrl, size: u32) -> Result<Pool, StoreError> {
    if let DatabaseUrl::Sqlite(path) = url {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            private_dir(dir).map_err(|e| {
                StoreError::Connect(format!("cannot create directory {}: {e}", dir.display()))
            })?;
        }
        private_database_files(path)
            .map_err(|e| StoreError::Connect(format!("cannot secure {}: {e}", path.display())))?;
    }
    // Fail fast with the real cause: r2d2 would otherwise retry until its timeout and
    // report only "timed out waiting for connection".
    drop(url.establish()?);
    r2d2::Pool::builder()
        .max_size(size.max(1))
        .connection_timeout(Duration::from_secs(10))
        // No round trip per checkout: a dead PostgreSQL connection is noticed by the query
        // that hits it and dropped when handed back (`connection::has_broken`).
        .test_on_check_out(false)
        .build(connection::ConnectionManager::new(url.clone()))
        .map_err(StoreError::from)
}

/// Creates a directory (and its missing parents) readable by this user only (0700): it holds
/// the database and the secret key.
pub fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// The SQLite database, created empty with mode 0600 before SQLite opens it (SQLite gives its
/// `-wal` and `-shm` files the mode of the database), or brought to 0600 with those files when
/// they already exist: the directory's users, tokens' hashes and audit are this user's only.
fn private_database_files(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if path.as_os_str() == ":memory:" {
        return Ok(());
    }
    if !path.exists() {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            // Another process created it first: secured below like any existing file.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let file = std::path::Path::new(&name);
        if file.exists() {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

/// Applies every pending migration of the connection's backend; returns how many ran.
pub fn run_migrations(conn: &mut DbConn) -> Result<usize, StoreError> {
    let applied = match conn {
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS),
        DbConn::Postgres(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS),
    }
    .map_err(|e| StoreError::Migration(e.to_string()))?;
    Ok(applied.len())
}

/// True when the database has every migration this binary embeds.
pub fn migrations_current(conn: &mut DbConn) -> Result<bool, StoreError> {
    let pending = match conn {
        DbConn::Sqlite(c) => c.has_pending_migration(SQLITE_MIGRATIONS),
        DbConn::Postgres(c) => c.has_pending_migration(POSTGRES_MIGRATIONS),
    }
    .map_err(|e| StoreError::Migration(e.to_string()))?;
    Ok(!pending)
}

/// Now, truncated to microseconds: SQLite would keep nanoseconds and PostgreSQL would not,
/// and `meta.lastModified` must read the same on both.
pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(6)
}

/// How long a request waits for a connection while the pool holds none at all: every one was
/// dropped as lost and none could be opened again — the database is restarting or away. The
/// request is answered `503` after this rather than after the pool's full timeout.
const OUTAGE_WAIT: Duration = Duration::from_secs(1);

/// A pooled connection: the pool's timeout when the database is there (a free connection is
/// only a matter of load), [`OUTAGE_WAIT`] when the pool could keep none.
pub fn checkout(pool: &Pool) -> Result<PooledConn, StoreError> {
    let wait = if pool.state().connections == 0 {
        OUTAGE_WAIT
    } else {
        pool.connection_timeout()
    };
    pool.get_timeout(wait).map_err(StoreError::from)
}

/// Runs a diesel closure on the blocking pool with a pooled connection.
pub async fn run<T, E, F>(pool: &Pool, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    let pool = pool.clone();
    actix_web::web::block(move || {
        let mut conn = checkout(&pool)?;
        f(&mut conn)
    })
    .await
    .map_err(|_| E::from(StoreError::Canceled))?
}
