//! The sync layer's error: everything that can stop a reconcile run or an admin action on
//! the sync engine. `AdminError: From<SyncError>` (in `admin/error.rs`) is its one way out
//! to HTTP.

use crate::store::StoreError;
use crate::zenqms::ZenqmsError;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Zenqms(#[from] ZenqmsError),
    /// Sync is paused: the call was not made.
    #[error("sync is paused; no call was made")]
    Paused,
    #[error("ZenQMS is not configured: set ZENQMS_BASE_URL and ZENQMS_API_TOKEN, or PUT /api/v1/settings/zenqms")]
    NotConfigured,
    /// A ZenQMS connection given at run time was refused before it was saved.
    #[error("{0}")]
    InvalidConnection(String),
    /// ZenQMS could not be reached to verify a connection given at run time.
    #[error("{0}")]
    ZenqmsUnreachable(String),
    /// ZenQMS answered with pictures that kept contradicting each other.
    #[error("{0}")]
    Inconsistent(String),
    /// A drift sweep cannot start now (`POST /api/v1/sync/sweep`).
    #[error("{0}")]
    SweepRefused(SweepRefusal),
    /// Admin input naming directory users that do not exist.
    #[error("no directory user with id {}", .0.join(", "))]
    UnknownUsers(Vec<String>),
}

/// Why a drift sweep was not started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SweepRefusal {
    /// One is running (in this process or another).
    Running {
        started_at: Option<String>,
        trigger: String,
    },
    NotConnected(String),
    Paused,
}

impl std::fmt::Display for SweepRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SweepRefusal::Running { started_at: Some(at), trigger } => write!(
                f,
                "a drift sweep is already running (started at {at}, {trigger}); GET /api/v1/sync/status shows when it ends"
            ),
            SweepRefusal::Running { started_at: None, trigger } => write!(
                f,
                "a drift sweep has just been started by {trigger}; GET /api/v1/sync/status shows when it ends"
            ),
            SweepRefusal::NotConnected(why) => {
                write!(f, "ZenQMS is not connected, so no sweep can read it: {why}")
            }
            SweepRefusal::Paused => f.write_str(
                "sync is paused, so no call is made to ZenQMS; resume with POST /api/v1/sync/resume",
            ),
        }
    }
}

impl From<diesel::result::Error> for SyncError {
    fn from(e: diesel::result::Error) -> Self {
        SyncError::Store(StoreError::from(e))
    }
}

impl crate::store::tx::Contention for SyncError {
    fn is_contention(&self) -> bool {
        matches!(self, SyncError::Store(e) if e.is_contention())
    }
}
