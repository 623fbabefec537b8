//! Drift: a ZenQMS user that no longer looks the way the bridge last saw it, because someone
//! changed it in ZenQMS by hand (a mapped role removed, a managed role granted, the user
//! re-enabled, a title edited). The drift sweep (`sweep.rs`) reads every ZenQMS user a page at a
//! time; this module compares each linked one with its stored picture (`sync_users.applied`),
//! and where they differ stores the fresh picture and enqueues the user in one transaction, with
//! a `sync.drift` audit entry. The reconciler then restores the desired state with its usual
//! minimal calls — the sweep itself never writes to ZenQMS.
//!
//! ZenQMS users the bridge has not linked are never touched. Those holding a managed role who
//! match no directory user (by link, `external_id`, email or userName) are reported: revoking
//! their roles would act on accounts the bridge does not own, on the strength of a page read
//! that cannot tell a service account or a break-glass admin from a leftover.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::state;
use crate::audit::{self, Outcome};
use crate::store::schema::{scim_user_emails, scim_users};
use crate::store::{DbConn, StoreError};
use crate::zenqms::{RemoteUser, ZenqmsId};

/// Unlinked holders named in a report (the count covers them all).
pub const LISTED_HOLDERS: usize = 10;

/// What differs between the stored picture and ZenQMS's answer, in the fields the bridge
/// manages. Empty: nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drift {
    /// `(field, before, after)` for email, first_name, last_name, title, external_id, status.
    pub fields: Vec<(&'static str, Value, Value)>,
    /// Roles ZenQMS shows that the picture lacks (granted by hand).
    pub roles_added: Vec<ZenqmsId>,
    /// Roles the picture shows that ZenQMS lacks (removed by hand).
    pub roles_removed: Vec<ZenqmsId>,
    /// There was no usable picture to compare with.
    pub no_picture: bool,
}

impl Drift {
    /// `None` when `fresh` matches `seen` in every managed field. Emails compare without regard
    /// to case (as ZenQMS and the reconciler compare them); roles as sets.
    pub fn between(seen: Option<&RemoteUser>, fresh: &RemoteUser) -> Option<Drift> {
        let Some(seen) = seen.filter(|s| s.id == fresh.id) else {
            return Some(Drift {
                no_picture: true,
                ..Drift::default()
            });
        };
        let mut d = Drift::default();
        let mut text = |field, before: &str, after: &str, same: bool| {
            if !same {
                d.fields.push((field, json!(before), json!(after)));
            }
        };
        text(
            "email",
            &seen.email,
            &fresh.email,
            seen.email.eq_ignore_ascii_case(&fresh.email),
        );
        text(
            "first_name",
            &seen.first_name,
            &fresh.first_name,
            seen.first_name == fresh.first_name,
        );
        text(
            "last_name",
            &seen.last_name,
            &fresh.last_name,
            seen.last_name == fresh.last_name,
        );
        text(
            "title",
            &seen.title,
            &fresh.title,
            seen.title == fresh.title,
        );
        if seen.external_id != fresh.external_id {
            d.fields.push((
                "external_id",
                json!(seen.external_id),
                json!(fresh.external_id),
            ));
        }
        if seen.status != fresh.status {
            d.fields.push((
                "status",
                json!(seen.status.as_str()),
                json!(fresh.status.as_str()),
            ));
        }
        let before: BTreeSet<String> = seen.role_ids.iter().map(ZenqmsId::json_text).collect();
        let after: BTreeSet<String> = fresh.role_ids.iter().map(ZenqmsId::json_text).collect();
        d.roles_added = ids_in(&fresh.role_ids, &after - &before);
        d.roles_removed = ids_in(&seen.role_ids, &before - &after);
        (d != Drift::default()).then_some(d)
    }

    /// The audit detail: before and after of what differed.
    pub fn detail(&self, fresh: &RemoteUser) -> Value {
        let mut changed = serde_json::Map::new();
        for (field, before, after) in &self.fields {
            changed.insert(
                (*field).to_string(),
                json!({"before": before, "after": after}),
            );
        }
        if !self.roles_added.is_empty() || !self.roles_removed.is_empty() {
            changed.insert(
                "role_ids".into(),
                json!({"added": self.roles_added, "removed": self.roles_removed}),
            );
        }
        json!({
            "zenqms_id": fresh.id,
            "changed": changed,
            "no_stored_picture": self.no_picture,
            "after": fresh,
        })
    }
}

/// The ids of `from` whose JSON text is in `keep`, in `from`'s order, once each.
fn ids_in(from: &[ZenqmsId], keep: BTreeSet<String>) -> Vec<ZenqmsId> {
    let mut out: Vec<ZenqmsId> = Vec::new();
    for id in from {
        if keep.contains(&id.json_text()) && !out.contains(id) {
            out.push(id.clone());
        }
    }
    out
}

/// A ZenQMS user holding a managed role who matches no directory user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnlinkedHolder {
    pub zenqms_id: ZenqmsId,
    pub email: String,
    pub external_id: Option<String>,
    pub status: String,
    /// The managed roles it holds.
    pub role_ids: Vec<ZenqmsId>,
}

/// What one page changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageOutcome {
    /// Linked users compared.
    pub linked: u64,
    /// Linked users skipped because a run is due or has just recorded its own picture.
    pub busy: u64,
    pub drifted: u64,
    pub unlinked_holders: Vec<UnlinkedHolder>,
}

/// Compares one page of ZenQMS users with the stored pictures and records the drift (call
/// inside a write transaction). `fetched_at` is when the page was asked for: a row written
/// since holds a picture at least as fresh as the page, and a user with a job is the
/// reconciler's to read — both are left as they are.
pub fn apply_page(
    conn: &mut DbConn,
    page: &[RemoteUser],
    fetched_at: NaiveDateTime,
    managed: &[String],
) -> Result<PageOutcome, StoreError> {
    let ids: Vec<String> = page.iter().map(|u| u.id.json_text()).collect();
    let linked: HashMap<String, state::Linked> = state::linked_for_update(conn, &ids)?
        .into_iter()
        .map(|l| (l.zenqms_id_json.clone(), l))
        .collect();
    let managed: HashSet<&str> = managed.iter().map(String::as_str).collect();
    // Users a Standard initial sync holds are left as they are (`outbox::hold_users`).
    let linked_ids: Vec<String> = linked.values().map(|l| l.user_id.clone()).collect();
    let held: HashSet<String> = crate::outbox::held_among(conn, &linked_ids)?
        .into_iter()
        .collect();
    let mut out = PageOutcome::default();
    let mut enqueue = Vec::new();
    let mut candidates = Vec::new();
    for fresh in page {
        let Some(row) = linked.get(&fresh.id.json_text()) else {
            let held: Vec<ZenqmsId> = fresh
                .role_ids
                .iter()
                .filter(|r| managed.contains(r.json_text().as_str()))
                .cloned()
                .collect();
            if !held.is_empty() {
                candidates.push(UnlinkedHolder {
                    zenqms_id: fresh.id.clone(),
                    email: fresh.email.clone(),
                    external_id: fresh.external_id.clone(),
                    status: fresh.status.as_str().to_string(),
                    role_ids: held,
                });
            }
            continue;
        };
        if held.contains(&row.user_id) {
            continue;
        }
        out.linked += 1;
        if row.has_job || row.updated_at >= fetched_at {
            out.busy += 1;
            continue;
        }
        let Some(drift) = Drift::between(row.applied.as_ref(), fresh) else {
            continue;
        };
        state::store_picture(conn, &row.user_id, fresh)?;
        audit::record(
            conn,
            &audit::Entry {
                actor: audit::SYSTEM,
                action: "sync.drift",
                target_type: "user",
                target_id: Some(&row.user_id),
                detail: drift.detail(fresh),
                outcome: Outcome::Success,
            },
        )?;
        enqueue.push(row.user_id.clone());
        out.drifted += 1;
    }
    crate::outbox::enqueue_users(conn, &enqueue)?;
    out.unlinked_holders = unmatched(conn, candidates)?;
    Ok(out)
}

/// The holders that no directory user would link to (by `external_id`, email or userName): a
/// directory user that matches one is the reconciler's to link, and its sync state says why
/// it has not. Few per page (usually none): three small indexed queries.
fn unmatched(
    conn: &mut DbConn,
    holders: Vec<UnlinkedHolder>,
) -> Result<Vec<UnlinkedHolder>, StoreError> {
    if holders.is_empty() {
        return Ok(holders);
    }
    let emails: Vec<String> = holders.iter().map(|h| h.email.to_lowercase()).collect();
    let external_ids: Vec<String> = holders
        .iter()
        .filter_map(|h| h.external_id.clone())
        .collect();
    let mut emails_known: HashSet<String> = scim_user_emails::table
        .filter(scim_user_emails::value_lower.eq_any(&emails))
        .select(scim_user_emails::value_lower)
        .load::<String>(conn)?
        .into_iter()
        .collect();
    emails_known.extend(
        scim_users::table
            .filter(scim_users::user_name_lower.eq_any(&emails))
            .select(scim_users::user_name_lower.assume_not_null())
            .load::<String>(conn)?,
    );
    let external_known: HashSet<String> = if external_ids.is_empty() {
        HashSet::new()
    } else {
        scim_users::table
            .filter(scim_users::external_id.eq_any(&external_ids))
            .select(scim_users::external_id.assume_not_null())
            .load::<String>(conn)?
            .into_iter()
            .collect()
    };
    Ok(holders
        .into_iter()
        .filter(|h| !emails_known.contains(&h.email.to_lowercase()))
        .filter(|h| {
            h.external_id
                .as_ref()
                .is_none_or(|x| !external_known.contains(x))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zenqms::RemoteStatus;

    fn id(n: u64) -> ZenqmsId {
        ZenqmsId::from_json(&json!(n)).unwrap()
    }

    fn user(roles: &[u64]) -> RemoteUser {
        RemoteUser {
            id: id(1042),
            email: "ada@example.com".into(),
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            title: "QA".into(),
            external_id: Some("00u1".into()),
            status: RemoteStatus::Active,
            role_ids: roles.iter().map(|r| id(*r)).collect(),
            updated_at: Some("2026-11-02T10:00:00Z".into()),
        }
    }

    #[test]
    fn the_same_user_is_no_drift() {
        let seen = user(&[7, 12]);
        let mut fresh = user(&[12, 7]);
        fresh.updated_at = Some("2026-12-01T00:00:00Z".into());
        fresh.email = "Ada@Example.com".into();
        assert_eq!(Drift::between(Some(&seen), &fresh), None);
    }

    #[test]
    fn roles_fields_and_status_are_told_apart() {
        let seen = user(&[7, 12]);
        let mut fresh = user(&[12, 21]);
        fresh.title = "Boss".into();
        fresh.status = RemoteStatus::Disabled;
        let d = Drift::between(Some(&seen), &fresh).expect("drift");
        assert_eq!(d.roles_added, vec![id(21)]);
        assert_eq!(d.roles_removed, vec![id(7)]);
        assert_eq!(
            d.fields,
            vec![
                ("title", json!("QA"), json!("Boss")),
                ("status", json!("active"), json!("disabled"))
            ]
        );
        let detail = d.detail(&fresh);
        assert_eq!(
            detail["changed"]["title"],
            json!({"before": "QA", "after": "Boss"})
        );
        assert_eq!(
            detail["changed"]["role_ids"],
            json!({"added": [21], "removed": [7]})
        );
        assert_eq!(detail["no_stored_picture"], false);
    }

    #[test]
    fn string_and_number_ids_differ_and_no_picture_is_drift() {
        let seen = user(&[7]);
        let mut fresh = user(&[]);
        fresh.role_ids = vec![ZenqmsId::from_json(&json!("7")).unwrap()];
        let d = Drift::between(Some(&seen), &fresh).expect("7 is not \"7\"");
        assert_eq!(d.roles_removed, vec![id(7)]);
        assert!(Drift::between(None, &fresh).is_some_and(|d| d.no_picture));
        // A picture of another ZenQMS user is no picture.
        let mut other = user(&[7]);
        other.id = id(1);
        assert!(Drift::between(Some(&other), &seen).is_some_and(|d| d.no_picture));
    }
}
