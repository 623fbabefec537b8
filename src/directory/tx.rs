//! The directory's write transactions: the shared ones (`store::tx`: `BEGIN IMMEDIATE` on
//! SQLite behind the in-process writer queue, lock contention retried), with contention that
//! outlasts the retries answered as [`DirectoryError::Busy`] (a `503`, never a `500`: Okta
//! and Entra retry a 503, and a 500 would read as a bug).

use super::DirectoryError;
use crate::store::{tx, DbConn};

impl tx::Contention for DirectoryError {
    fn is_contention(&self) -> bool {
        DirectoryError::is_contention(self)
    }
}

/// Runs `f` in a write transaction and commits it, or rolls back on error.
pub fn write<T, F>(conn: &mut DbConn, f: F) -> Result<T, DirectoryError>
where
    F: FnMut(&mut DbConn) -> Result<T, DirectoryError>,
{
    tx::write(conn, f).map_err(|e| {
        if e.is_contention() {
            DirectoryError::Busy
        } else {
            e
        }
    })
}
