//! The directory's one error type. Protocol-relevant outcomes (missing, uniqueness, bad value,
//! version mismatch) travel as typed variants out of the transaction; the SCIM layer converts
//! them to RFC 7644 §3.12 answers in one place.

use crate::store::StoreError;

/// Which kind of resource an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    Group,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::User => "User",
            Kind::Group => "Group",
        })
    }
}

/// Why a request's content was refused (maps onto RFC 7644 §3.12 `scimType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    InvalidValue,
    InvalidPath,
    NoTarget,
    Mutability,
    InvalidSyntax,
    InvalidFilter,
    /// More than a documented bound allows (RFC 7644 §3.12 `tooMany`).
    TooMany,
}

/// A refused value, with a detail the administrator can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct Rejection {
    pub reason: Reason,
    pub detail: String,
}

impl Rejection {
    pub fn new(reason: Reason, detail: impl Into<String>) -> Rejection {
        Rejection {
            reason,
            detail: detail.into(),
        }
    }
    pub fn invalid_value(detail: impl Into<String>) -> Rejection {
        Self::new(Reason::InvalidValue, detail)
    }
    pub fn invalid_path(detail: impl Into<String>) -> Rejection {
        Self::new(Reason::InvalidPath, detail)
    }
    pub fn invalid_filter(detail: impl Into<String>) -> Rejection {
        Self::new(Reason::InvalidFilter, detail)
    }
    pub fn too_many(detail: impl Into<String>) -> Rejection {
        Self::new(Reason::TooMany, detail)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("{kind} {id} not found")]
    NotFound { kind: Kind, id: String },
    /// A case-insensitive uniqueness rule (userName, group displayName) was violated.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// Group members that are not (or no longer) users of this directory.
    #[error("{}", unknown_members_detail(.0))]
    UnknownMembers(Vec<String>),
    #[error("the {kind} was modified: its current version is W/\"{current}\"")]
    VersionMismatch { kind: Kind, current: i64 },
    /// Lock contention that outlasted the retries; the client should retry.
    #[error("the directory is busy")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn unknown_members_detail(ids: &[String]) -> String {
    const SHOWN: usize = 10;
    let listed: Vec<&str> = ids.iter().take(SHOWN).map(String::as_str).collect();
    let more = ids.len().saturating_sub(SHOWN);
    let tail = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!(
        "members must be existing users: no user with id {}{tail}",
        listed.join(", ")
    )
}

impl From<diesel::result::Error> for DirectoryError {
    fn from(e: diesel::result::Error) -> Self {
        DirectoryError::Store(StoreError::Query(e))
    }
}

impl DirectoryError {
    /// A failure that a fresh attempt of the same transaction may not hit: a PostgreSQL
    /// serialization failure or deadlock, or SQLite's lock timeout.
    pub fn is_contention(&self) -> bool {
        matches!(self, DirectoryError::Store(e) if e.is_contention())
    }

    pub fn is_unique_violation(&self) -> bool {
        matches!(self, DirectoryError::Store(e) if e.is_unique_violation())
    }
}
