//! The directory: the mirror of what the identity provider pushed — users, groups and their
//! memberships — with the rules that keep it consistent, and the outbox side effects.
//!
//! Every write here runs in one database transaction that also records the audit entry and
//! enqueues the users whose ZenQMS state may have changed (`crate::outbox`), so a committed
//! change always has its trail and its sync job. The front doors above (the SCIM layer today,
//! the Okta pull and event hooks next) speak their protocols; this layer speaks documents
//! (SCIM-shaped JSON with canonical attribute names — the directory's storage format, whatever
//! the source), typed queries, typed errors, and an [`Actor`] that names where a change came
//! from. A new source adds operations here (in `users.rs`, `groups.rs`) and calls them through
//! the same [`Directory`] service, with the same outbox and audit trail.

pub mod admission;
pub mod error;
pub mod groups;
pub mod membership;
pub mod query;
pub mod tx;
pub mod users;

use chrono::NaiveDateTime;

pub use admission::Admission;
pub use error::{DirectoryError, Kind, Reason, Rejection};

use crate::outbox::Wakeup;
use crate::store::{self, DbConn, Pool};

/// A resource as stored: SCIM JSON with canonical attribute names, without `id`, `meta`,
/// `schemas`, computed attributes (`groups`, `members`) and never a password.
pub type Document = serde_json::Map<String, serde_json::Value>;

/// A change to a document computed inside the write transaction from the current state (a
/// PATCH). Implemented by the protocol layer; it must leave the document normalised.
pub trait Edit: Send + Sync {
    fn apply(&self, doc: Document) -> Result<Document, Rejection>;
}

/// The channel a directory change came through; it names the change's audit action
/// (`scim.user.create`). The Okta pull and event hooks add theirs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// A SCIM push (Okta, Entra).
    Scim,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Scim => "scim",
        }
    }
}

/// Who asked for a change, for the audit trail: the channel and the name recorded as the
/// actor — a service account's name for a push, or whatever names a source that holds no
/// token (an Okta connection, `system`).
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub channel: Channel,
    pub name: &'a str,
}

impl<'a> Actor<'a> {
    /// A SCIM client, by its service account's name.
    pub fn scim(name: &'a str) -> Actor<'a> {
        Actor {
            channel: Channel::Scim,
            name,
        }
    }

    /// The audit action of `what` (`user.create`) through this channel.
    pub(crate) fn action(&self, what: &str) -> String {
        format!("{}.{what}", self.channel.as_str())
    }
}

/// `If-Match` (RFC 7644 §3.14, RFC 7232 §3.1) as the directory checks it against the stored
/// version, after the row is locked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Precondition {
    #[default]
    None,
    /// `If-Match: *`: the resource must exist.
    Exists,
    /// One of these versions (an unparseable tag is kept as `None` and never matches).
    Versions(Vec<Option<i64>>),
}

impl Precondition {
    pub fn admits(&self, version: i64) -> bool {
        match self {
            Precondition::None | Precondition::Exists => true,
            Precondition::Versions(v) => v.contains(&Some(version)),
        }
    }

    pub(crate) fn check(&self, kind: Kind, version: i64) -> Result<(), DirectoryError> {
        if self.admits(version) {
            Ok(())
        } else {
            Err(DirectoryError::VersionMismatch {
                kind,
                current: version,
            })
        }
    }
}

/// Server-maintained metadata of a resource (RFC 7643 §3.1 `meta`).
#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    pub version: i64,
    pub created: NaiveDateTime,
    pub last_modified: NaiveDateTime,
}

/// One page of a list, with the exact number of matches.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub total: i64,
    pub items: Vec<T>,
}

/// What a write did: the resource as written, and how many sync jobs it inserted or bumped
/// (a no-op PUT or PATCH neither bumps the version nor enqueues anybody); the service wakes
/// the workers when that is not zero.
#[derive(Debug, Clone)]
pub struct Written<T> {
    pub value: T,
    /// Jobs inserted or bumped for ZenQMS by this write.
    pub enqueued: usize,
}

/// The directory as a service, built once by `server.rs` for every front door: runs each
/// operation (the functions of `users`, `groups`) on the blocking pool and wakes the sync
/// workers once a transaction that enqueued jobs has committed. An operation gets the
/// connection, so a front door may do its own check on it in the same round (the SCIM layer
/// checks a body-less request's token there).
#[derive(Clone)]
pub struct Directory {
    pool: Pool,
    wakeup: Wakeup,
}

impl Directory {
    pub fn new(pool: Pool, wakeup: Wakeup) -> Directory {
        Directory { pool, wakeup }
    }

    /// Runs a read on the blocking pool.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<crate::store::StoreError> + Send + 'static,
    {
        store::run(&self.pool, f).await
    }

    /// Runs a write on the blocking pool; wakes the sync workers if it enqueued anything.
    pub async fn write<T, E, F>(&self, f: F) -> Result<Written<T>, E>
    where
        F: FnOnce(&mut DbConn) -> Result<Written<T>, E> + Send + 'static,
        T: Send + 'static,
        E: From<crate::store::StoreError> + Send + 'static,
    {
        let written = store::run(&self.pool, f).await?;
        if written.enqueued > 0 {
            self.wakeup.notify();
        }
        Ok(written)
    }
}
