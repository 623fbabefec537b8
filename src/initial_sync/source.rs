//! Where an initial sync reads its users from.
//!
//! - **The Okta org**, when one is connected: reached only through the [`OktaOrg`] port, which
//!   `server.rs` plugs the Okta connection into (this module never imports `okta`). The run
//!   reads the org into an [`OrgSnapshot`] and (unless it is a dry run) writes it into the
//!   directory through the port — the same directory service and outbox as SCIM, one record per
//!   Okta user.
//! - **The SCIM push**, without a connection: the users Okta has pushed (push with sync paused,
//!   run Standard, resume). Their Okta id is their SCIM `externalId`, which Okta sets to the
//!   Okta user id on every push.

use std::collections::HashMap;
use std::sync::Arc;

use diesel::prelude::*;
use futures_util::future::BoxFuture;

use crate::store::schema::scim_users;
use crate::store::{DbConn, StoreError};
use crate::sync::directory_view::{self, DirectoryEmail, DirectoryUser};

/// Which source a run used (`source` in its report).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Scim,
    Okta,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Scim => "scim",
            SourceKind::Okta => "okta",
        }
    }
}

/// One Okta user as the org answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgUser {
    pub okta_id: String,
    pub login: String,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub title: Option<String>,
    pub display_name: Option<String>,
    /// Okta's status (`ACTIVE`, `SUSPENDED`, …).
    pub status: String,
}

impl OrgUser {
    /// Okta status → ZenQMS: ACTIVE, PROVISIONED, STAGED, RECOVERY, PASSWORD_EXPIRED and
    /// LOCKED_OUT are active; SUSPENDED and DEPROVISIONED are disabled (docs/initial-sync.md).
    pub fn active(&self) -> bool {
        !matches!(self.status.as_str(), "SUSPENDED" | "DEPROVISIONED")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgGroup {
    pub okta_id: String,
    pub name: String,
}

/// What a run reads from the org: users (all non-deactivated users, or the members of the
/// scope groups), groups and memberships (group Okta id, user Okta id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrgSnapshot {
    pub users: Vec<OrgUser>,
    pub groups: Vec<OrgGroup>,
    pub memberships: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Okta is unreachable or rate-limited: the run waits and tries again (an outage pauses
    /// a run, it does not fail it).
    #[error("Okta is unavailable: {0}")]
    Unavailable(String),
    /// Anything else (the connection needs re-authorization, …): the run fails with this.
    #[error("{0}")]
    Failed(String),
}

/// Counts the users read so far (the run's progress while it reads the org).
pub type Progress<'a> = &'a (dyn Fn(u64) + Send + Sync);

/// The port to a connected Okta org, implemented over the Okta connection in `server.rs`.
pub trait OktaOrg: Send + Sync {
    /// Whether an org is connected (else the run uses the SCIM source).
    fn connected(&self) -> BoxFuture<'_, bool>;
    /// Reads the org, reporting the users read so far.
    fn read<'a>(
        &'a self,
        progress: Progress<'a>,
    ) -> BoxFuture<'a, Result<OrgSnapshot, SourceError>>;
    /// Writes the snapshot into the directory (the directory service and outbox, one record
    /// per Okta user) and returns Okta id → directory user id. Every written user is put on
    /// hold for the run `run_id` in the transaction that writes it (`outbox::hold_users`), so
    /// no sync worker reconciles it while the run does (a Full run releases the holds when it
    /// has planned, and then applies each user itself).
    fn write<'a>(
        &'a self,
        snapshot: &'a OrgSnapshot,
        run_id: &'a str,
    ) -> BoxFuture<'a, Result<HashMap<String, String>, SourceError>>;
}

/// The optional port as the service holds it.
pub type Org = Option<Arc<dyn OktaOrg>>;

/// One user of a run's scope, whatever the source.
#[derive(Debug, Clone)]
pub struct SourceUser {
    /// The directory user (`None` only in a dry run over the Okta source, which writes
    /// nothing into the directory).
    pub user_id: Option<String>,
    /// The Okta user id: the SCIM `externalId` of a pushed user.
    pub okta_id: Option<String>,
    /// The user as the reconciler's projection reads it.
    pub user: DirectoryUser,
}

/// The SCIM source: every directory user not SCIM-deleted, in id order.
pub fn scim_users(conn: &mut DbConn) -> Result<Vec<SourceUser>, StoreError> {
    let ids: Vec<String> = scim_users::table
        .filter(scim_users::deleted_at.is_null())
        .order(scim_users::id.asc())
        .select(scim_users::id)
        .load(conn)?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(user) = directory_view::load(conn, &id)? {
            out.push(SourceUser {
                user_id: Some(user.id.clone()),
                okta_id: user.external_id.clone(),
                user,
            });
        }
    }
    Ok(out)
}

/// The groups (Okta ids) each user (Okta id) of a snapshot is a member of.
pub fn groups_by_user(snapshot: &OrgSnapshot) -> HashMap<&str, Vec<&str>> {
    let mut out: HashMap<&str, Vec<&str>> = HashMap::new();
    for (group, user) in &snapshot.memberships {
        out.entry(user.as_str()).or_default().push(group.as_str());
    }
    out
}

/// The users of a snapshot as the directory would hold them; `ids` maps Okta ids to the
/// directory users the write made (absent in a dry run).
pub fn from_snapshot(
    snapshot: &OrgSnapshot,
    ids: Option<&HashMap<String, String>>,
) -> Vec<SourceUser> {
    snapshot
        .users
        .iter()
        .map(|u| {
            let user_id = ids.and_then(|m| m.get(&u.okta_id)).cloned();
            SourceUser {
                okta_id: Some(u.okta_id.clone()),
                user: DirectoryUser {
                    id: user_id
                        .clone()
                        .unwrap_or_else(|| format!("okta:{}", u.okta_id)),
                    user_name: u.login.clone(),
                    external_id: Some(u.okta_id.clone()),
                    given_name: u.first_name.clone(),
                    family_name: u.last_name.clone(),
                    title: u.title.clone(),
                    active: u.active(),
                    deleted: false,
                    emails: u
                        .email
                        .iter()
                        .map(|e| DirectoryEmail {
                            value: e.clone(),
                            email_type: Some("work".into()),
                            is_primary: true,
                        })
                        .collect(),
                },
                user_id,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org_user(id: &str, status: &str) -> OrgUser {
        OrgUser {
            okta_id: id.into(),
            login: format!("{id}@example.com"),
            email: Some(format!("{id}@example.com")),
            first_name: Some("F".into()),
            last_name: Some("L".into()),
            title: None,
            display_name: None,
            status: status.into(),
        }
    }

    #[test]
    fn okta_statuses_map_to_active_or_disabled() {
        for s in [
            "ACTIVE",
            "PROVISIONED",
            "STAGED",
            "RECOVERY",
            "PASSWORD_EXPIRED",
            "LOCKED_OUT",
        ] {
            assert!(org_user("x", s).active(), "{s}");
        }
        for s in ["SUSPENDED", "DEPROVISIONED"] {
            assert!(!org_user("x", s).active(), "{s}");
        }
    }

    #[test]
    fn a_snapshot_user_is_the_directory_user_okta_would_push() {
        let snap = OrgSnapshot {
            users: vec![org_user("00u1", "ACTIVE"), org_user("00u2", "SUSPENDED")],
            ..OrgSnapshot::default()
        };
        let dry = from_snapshot(&snap, None);
        assert_eq!(dry[0].user_id, None, "a dry run writes no directory user");
        assert_eq!(dry[0].okta_id.as_deref(), Some("00u1"));
        assert_eq!(
            dry[0].user.external_id.as_deref(),
            Some("00u1"),
            "the Okta id is the externalId"
        );
        assert!(!dry[1].user.active);
        let ids = HashMap::from([("00u1".to_string(), "dir-1".to_string())]);
        let written = from_snapshot(&snap, Some(&ids));
        assert_eq!(written[0].user_id.as_deref(), Some("dir-1"));
        assert_eq!(written[0].user.id, "dir-1");
    }
}
