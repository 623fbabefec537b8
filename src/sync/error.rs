//! The sync layer's error: everything that can stop a reconcile run or an admin action on
//! the sync engine. `AdminError: From<SyncError>` (in `admin/error.rs`) is its one way out
//! to HTTP.

use crate::store::StoreError;
use crate::zenqms::{ErrorClass, ZenqmsError};

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
    /// Admin input naming directory users that do not exist.
    #[error("no directory user with id {}", .0.join(", "))]
    UnknownUsers(Vec<String>),
}

impl From<diesel::result::Error> for SyncError {
    fn from(e: diesel::result::Error) -> Self {
        SyncError::Store(StoreError::from(e))
    }
}

impl SyncError {
    /// True when the run should simply be tried again later (never dropped).
    pub fn is_retryable(&self) -> bool {
        match self {
            SyncError::Zenqms(e) => {
                matches!(e.class(), ErrorClass::Retryable | ErrorClass::RateLimited)
            }
            SyncError::Store(_)
            | SyncError::Paused
            | SyncError::NotConfigured
            | SyncError::Inconsistent(_) => true,
            SyncError::InvalidConnection(_)
            | SyncError::ZenqmsUnreachable(_)
            | SyncError::UnknownUsers(_) => false,
        }
    }
}
