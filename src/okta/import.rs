//! The connected Okta org as the initial sync's source (`initial_sync::OktaOrg`): reads the org
//! through this connection (`reader.rs`) and writes what it read into the directory through
//! the writes keyed by Okta id (`directory::external`) — the same directory service, outbox
//! and audit trail as a SCIM push, and one record per Okta user (a user Okta pushed with
//! `externalId` = its Okta id is that record).
//!
//! Users are written a page at a time (200, the read's page): one transaction of a few
//! multi-row statements each, so 10,000 users cost 50 transactions, not 10,000. Every written
//! user is held for the run (`outbox::hold_users`) instead of enqueued, so no sync worker
//! reconciles a user while the run does.

use std::collections::{BTreeMap, HashMap};

use futures_util::future::BoxFuture;
use serde_json::{json, Value};

use super::{Okta, OktaError};
use crate::directory::external::{self, ExternalGroup, ExternalUser};
use crate::directory::{Actor, Directory, DirectoryError, Document};
use crate::initial_sync::source::{OktaOrg, OrgGroup, OrgSnapshot, OrgUser, Progress, SourceError};

/// Users written per transaction.
pub const WRITE_PAGE: usize = 200;

/// The directory profile of an Okta user: what Okta's SCIM push would send for it (`userName`
/// = login, the email as the primary work email, `active` from the status), so a push and a
/// pull of one user agree.
pub fn profile(u: &OrgUser) -> ExternalUser {
    let mut doc = Document::new();
    doc.insert("userName".into(), json!(u.login));
    let mut name = serde_json::Map::new();
    if let Some(g) = &u.first_name {
        name.insert("givenName".into(), json!(g));
    }
    if let Some(f) = &u.last_name {
        name.insert("familyName".into(), json!(f));
    }
    if !name.is_empty() {
        doc.insert("name".into(), Value::Object(name));
    }
    if let Some(d) = &u.display_name {
        doc.insert("displayName".into(), json!(d));
    }
    if let Some(t) = &u.title {
        doc.insert("title".into(), json!(t));
    }
    if let Some(e) = &u.email {
        doc.insert(
            "emails".into(),
            json!([{"value": e, "type": "work", "primary": true}]),
        );
    }
    doc.insert("active".into(), json!(u.active()));
    ExternalUser {
        external_id: u.okta_id.clone(),
        doc,
    }
}

impl From<&super::SnapshotUser> for OrgUser {
    fn from(u: &super::SnapshotUser) -> OrgUser {
        OrgUser {
            okta_id: u.okta_id.clone(),
            login: u.login.clone(),
            email: u.email.clone(),
            first_name: u.first_name.clone(),
            last_name: u.last_name.clone(),
            title: u.title.clone(),
            display_name: u.display_name.clone(),
            status: u.status.clone(),
        }
    }
}

/// What the run reads, in the port's terms.
fn snapshot_of(read: super::OrgSnapshot) -> OrgSnapshot {
    let mut out = OrgSnapshot {
        users: read.users.iter().map(OrgUser::from).collect(),
        ..OrgSnapshot::default()
    };
    for g in read.groups {
        for m in &g.members {
            out.memberships.push((g.okta_id.clone(), m.clone()));
        }
        out.groups.push(OrgGroup {
            okta_id: g.okta_id,
            name: g.name,
        });
    }
    out
}

/// Okta unreachable, rate-limited or busy refreshing pauses the run; anything else fails it.
fn okta_error(e: OktaError) -> SourceError {
    let transient = match &e {
        OktaError::Okta(api) => api.is_transient(),
        OktaError::Busy => true,
        OktaError::Store(s) => s.is_unavailable() || s.is_contention(),
        _ => false,
    };
    if transient {
        SourceError::Unavailable(e.to_string())
    } else {
        SourceError::Failed(e.to_string())
    }
}

fn directory_error(e: DirectoryError) -> SourceError {
    let transient = e.is_contention()
        || matches!(&e, DirectoryError::Busy)
        || matches!(&e, DirectoryError::Store(s) if s.is_unavailable());
    if transient {
        SourceError::Unavailable(format!("the database: {e}"))
    } else {
        SourceError::Failed(format!("writing the Okta users into the directory: {e}"))
    }
}

/// The port, over this connection and the directory service (`server.rs` builds it).
pub struct OrgSource {
    pub okta: Okta,
    pub directory: Directory,
}

impl OktaOrg for OrgSource {
    fn connected(&self) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            self.okta.is_connected().await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot read the Okta connection");
                false
            })
        })
    }

    fn read<'a>(
        &'a self,
        progress: Progress<'a>,
    ) -> BoxFuture<'a, Result<OrgSnapshot, SourceError>> {
        Box::pin(async move {
            let read = self
                .okta
                .read_org(|p| progress(p.users as u64))
                .await
                .map_err(okta_error)?;
            Ok(snapshot_of(read))
        })
    }

    fn write<'a>(
        &'a self,
        snapshot: &'a OrgSnapshot,
        run_id: &'a str,
    ) -> BoxFuture<'a, Result<HashMap<String, String>, SourceError>> {
        Box::pin(write(&self.directory, snapshot, run_id))
    }
}

/// Writes the snapshot: users a page per transaction, then each group and its members.
async fn write(
    directory: &Directory,
    snapshot: &OrgSnapshot,
    run_id: &str,
) -> Result<HashMap<String, String>, SourceError> {
    let actor = format!("initial-sync:{run_id}");
    let mut ids = HashMap::with_capacity(snapshot.users.len());
    let mut refused = 0usize;
    for page in snapshot.users.chunks(WRITE_PAGE) {
        let batch: Vec<ExternalUser> = page.iter().map(profile).collect();
        let (a, run) = (actor.clone(), run_id.to_string());
        let written = directory
            .write(move |c| external::upsert_users(c, Actor::okta(&a), &batch, Some(&run)))
            .await
            .map_err(directory_error)?;
        for (okta_id, why) in &written.value.refused {
            refused += 1;
            tracing::warn!(run = %run_id, okta_id, why, "Okta user not written into the directory");
        }
        ids.extend(written.value.map);
    }
    let mut members: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (group, user) in &snapshot.memberships {
        members.entry(group).or_default().push(user.clone());
    }
    for g in &snapshot.groups {
        let group = ExternalGroup {
            external_id: g.okta_id.clone(),
            display_name: g.name.clone(),
        };
        let a = actor.clone();
        let upserted = directory
            .write(move |c| external::upsert_group(c, Actor::okta(&a), &group))
            .await;
        match upserted {
            Ok(_) => {}
            // A SCIM-pushed group of that name linked to another Okta id: reported, the rest
            // of the org is still written.
            Err(DirectoryError::Conflict(why)) => {
                tracing::warn!(run = %run_id, okta_id = %g.okta_id, why, "Okta group not written into the directory");
                continue;
            }
            Err(e) => return Err(directory_error(e)),
        }
        let list = members.remove(g.okta_id.as_str()).unwrap_or_default();
        let (a, run, gid) = (actor.clone(), run_id.to_string(), g.okta_id.clone());
        directory
            .write(move |c| {
                external::set_group_members(c, Actor::okta(&a), &gid, &list, Some(&run))
            })
            .await
            .map_err(directory_error)?;
    }
    tracing::info!(run = %run_id, users = ids.len(), refused, groups = snapshot.groups.len(), "Okta org written into the directory");
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_is_what_okta_pushes() {
        let u = OrgUser {
            okta_id: "00u1".into(),
            login: "ada@example.com".into(),
            email: Some("ada@example.com".into()),
            first_name: Some("Ada".into()),
            last_name: None,
            title: None,
            display_name: None,
            status: "SUSPENDED".into(),
        };
        let p = profile(&u);
        assert_eq!(p.external_id, "00u1");
        assert_eq!(p.doc["userName"], "ada@example.com");
        assert_eq!(p.doc["name"], json!({"givenName": "Ada"}));
        assert_eq!(p.doc["emails"][0]["primary"], true);
        assert_eq!(p.doc["active"], false, "SUSPENDED is disabled");
        assert!(!p.doc.contains_key("title"));
    }
}
