//! Writes from sources that name users and groups by the identity provider's own id — the
//! Okta pull of the initial sync and Okta event hooks — keyed by that id, which is the SCIM
//! `externalId` Okta sets on every push (the Okta user or group id).
//!
//! So a user pushed over SCIM and the same user read from the Okta API are **one** directory
//! record: an upsert finds the live user whose `externalId` is the id; failing that, it adopts
//! the live user with the same `userName` when that user has no `externalId` (or the same one);
//! only then does it create one. A `userName` held by a user linked to *another* id is refused
//! for that user (reported, never guessed), not a failure of the batch.
//!
//! Each function is one write transaction with the same outbox and audit trail as the SCIM
//! front door; [`upsert_users`] writes a whole page of users with a handful of multi-row
//! statements (the initial sync writes 10,000 users in pages of 200). A caller that runs an
//! initial sync passes `hold_for_run`: the written users are put on hold for that run
//! (`outbox::hold_users`) instead of being enqueued, so no worker reconciles them while the
//! run does.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::{json, Value};

use super::groups::{self, listed};
use super::membership::{self, Delta};
use super::users::{complete, diff, map_unique, parse_doc, Fields};
use super::{tx, Actor, DirectoryError, Document, Precondition, Written};
use crate::audit::{self, Outcome};
use crate::outbox;
use crate::store::schema::{group_members, scim_groups, scim_user_emails, scim_users};
use crate::store::{self, db_run, lock_rows, DbConn, StoreError};

/// The top-level attributes an external profile speaks for: an upsert sets them from the
/// profile (and removes those the profile leaves out), and keeps every other attribute a SCIM
/// push may have stored (extensions, `nickName`, …).
pub const PROFILE_ATTRIBUTES: [&str; 7] = [
    "userName",
    "externalId",
    "name",
    "displayName",
    "title",
    "emails",
    "active",
];

/// Rows a multi-row `INSERT` of users carries: 13 parameters a row stays far below SQLite's
/// 32,766 bound parameters.
const USER_INSERT_CHUNK: usize = 500;
/// Six parameters an email row.
const EMAIL_INSERT_CHUNK: usize = 1000;
/// Bounded `IN` lists (both backends' parameter limits).
const IN_CHUNK: usize = 5000;

/// A user as an external source holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalUser {
    /// The source's id (the Okta user id): becomes the document's `externalId`.
    pub external_id: String,
    /// SCIM-shaped profile ([`PROFILE_ATTRIBUTES`]; `userName` required).
    pub doc: Document,
}

/// What an upsert did to one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upsert {
    Created(String),
    Updated(String),
    Unchanged(String),
    /// Not written, and why (the `userName` belongs to a user linked to another id, or the
    /// profile lacks a `userName`).
    Refused(String),
}

impl Upsert {
    /// The directory user, unless refused.
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Upsert::Created(id) | Upsert::Updated(id) | Upsert::Unchanged(id) => Some(id),
            Upsert::Refused(_) => None,
        }
    }
}

/// What a batch of upserts did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imported {
    /// External id → directory user id, for every user written or found unchanged.
    pub map: HashMap<String, String>,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// External id and why, for each user not written.
    pub refused: Vec<(String, String)>,
}

/// A live user as an upsert compares it.
struct Current {
    id: String,
    external_id: Option<String>,
    user_name_lower: Option<String>,
    doc: Document,
    version: i64,
}

type CurrentRow = (String, Option<String>, Option<String>, String, i64);

fn current(row: CurrentRow) -> Result<Current, StoreError> {
    let (id, external_id, user_name_lower, attributes, version) = row;
    let doc = parse_doc(&id, &attributes)?;
    Ok(Current {
        id,
        external_id,
        user_name_lower,
        doc,
        version,
    })
}

/// The stored document with the profile's attributes put over it.
fn merged(stored: &Document, profile: &Document, external_id: &str) -> Document {
    let mut doc = stored.clone();
    for key in PROFILE_ATTRIBUTES {
        match profile.get(key) {
            Some(v) if !v.is_null() => {
                doc.insert(key.to_string(), v.clone());
            }
            _ => {
                doc.remove(key);
            }
        }
    }
    doc.insert("externalId".into(), Value::String(external_id.to_string()));
    doc
}

/// What to do after a write: enqueue the changed users for ZenQMS, or hold them for a run.
fn follow_up(
    conn: &mut DbConn,
    changed: &[String],
    written: &[String],
    hold_for_run: Option<&str>,
) -> Result<usize, StoreError> {
    match hold_for_run {
        Some(run) => {
            outbox::hold_users(conn, written, run)?;
            Ok(0)
        }
        None => outbox::enqueue_changed_users(conn, changed),
    }
}

/// Upserts one user (see [`upsert_users`]).
pub fn upsert_user(
    conn: &mut DbConn,
    actor: Actor<'_>,
    user: &ExternalUser,
) -> Result<Written<Upsert>, DirectoryError> {
    let written = upsert_users(conn, actor, std::slice::from_ref(user), None)?;
    Ok(one(written, &user.external_id))
}

/// What a batch of one did to its user.
fn one(written: Written<Imported>, external_id: &str) -> Written<Upsert> {
    let imported = written.value;
    let value = match imported.map.get(external_id) {
        Some(id) if imported.created > 0 => Upsert::Created(id.clone()),
        Some(id) if imported.updated > 0 => Upsert::Updated(id.clone()),
        Some(id) => Upsert::Unchanged(id.clone()),
        None => Upsert::Refused(
            imported
                .refused
                .into_iter()
                .next()
                .map(|(_, why)| why)
                .unwrap_or_default(),
        ),
    };
    Written {
        value,
        enqueued: written.enqueued,
    }
}

/// Makes the user with external id `external_id` inactive and keeps the rest of its record:
/// what the source says of a user it deleted (whose profile it no longer has) or that left
/// its scope. Users are never deleted in ZenQMS (the reconciler disables them). `None` when
/// the directory has no such user.
pub fn disable_user(
    conn: &mut DbConn,
    actor: Actor<'_>,
    external_id: &str,
) -> Result<Written<Option<Upsert>>, DirectoryError> {
    tx::write(conn, |c| {
        let row: Option<(String, String)> = scim_users::table
            .filter(scim_users::external_id.eq(external_id))
            .filter(scim_users::deleted_at.is_null())
            .order(scim_users::id.asc())
            .select((scim_users::id, scim_users::attributes))
            .first(c)
            .optional()?;
        let Some((id, attributes)) = row else {
            return Ok(Written {
                value: None,
                enqueued: 0,
            });
        };
        let mut doc = parse_doc(&id, &attributes)?;
        doc.insert("active".into(), Value::Bool(false));
        let user = ExternalUser {
            external_id: external_id.to_string(),
            doc,
        };
        let written = one(upsert_in(c, actor, &[&user], None)?, external_id);
        Ok(Written {
            value: Some(written.value),
            enqueued: written.enqueued,
        })
    })
}

/// The external ids of the members of the group with external id `group` (members without
/// one are left out); empty when there is no such group.
pub fn member_external_ids(conn: &mut DbConn, group: &str) -> Result<Vec<String>, StoreError> {
    let Some(gid) = group_id_by_external_id(conn, group)? else {
        return Ok(Vec::new());
    };
    let ids: Vec<Option<String>> = group_members::table
        .inner_join(scim_users::table.on(scim_users::id.eq(group_members::user_id)))
        .filter(group_members::group_id.eq(&gid))
        .filter(scim_users::deleted_at.is_null())
        .select(scim_users::external_id)
        .load(conn)?;
    Ok(ids.into_iter().flatten().collect())
}

/// Upserts a batch of users in one transaction: one lookup by external id, one by
/// `userName`, one multi-row insert of the new users and their emails, one `UPDATE` per
/// changed user, one audit insert, and the outbox (or holds) for the batch.
pub fn upsert_users(
    conn: &mut DbConn,
    actor: Actor<'_>,
    batch: &[ExternalUser],
    hold_for_run: Option<&str>,
) -> Result<Written<Imported>, DirectoryError> {
    // One entry per external id (the last one wins, as a later read is newer).
    let mut seen = HashSet::new();
    let mut unique: Vec<&ExternalUser> = Vec::with_capacity(batch.len());
    for u in batch.iter().rev() {
        if seen.insert(u.external_id.as_str()) {
            unique.push(u);
        }
    }
    unique.reverse();
    tx::write(conn, |c| upsert_in(c, actor, &unique, hold_for_run))
}

fn upsert_in(
    c: &mut DbConn,
    actor: Actor<'_>,
    batch: &[&ExternalUser],
    hold_for_run: Option<&str>,
) -> Result<Written<Imported>, DirectoryError> {
    let now = store::now();
    let mut out = Imported::default();
    let columns = (
        scim_users::id,
        scim_users::external_id,
        scim_users::user_name_lower,
        scim_users::attributes,
        scim_users::version,
    );
    // Live users by external id (the oldest first, should a push have made two).
    let ext_ids: Vec<&str> = batch.iter().map(|u| u.external_id.as_str()).collect();
    let mut by_ext: HashMap<String, Current> = HashMap::new();
    for chunk in ext_ids.chunks(IN_CHUNK) {
        let rows: Vec<CurrentRow> = lock_rows!(
            c,
            for_update,
            scim_users::table
                .filter(scim_users::external_id.eq_any(chunk))
                .filter(scim_users::deleted_at.is_null())
                .order(scim_users::id.asc())
                .select(columns),
            load
        )?;
        for row in rows {
            let cur = current(row)?;
            if let Some(ext) = cur.external_id.clone() {
                by_ext.entry(ext).or_insert(cur);
            }
        }
    }
    // Live users by the batch's userNames: adoption, and userNames taken by someone else.
    let mut profiles: Vec<(&ExternalUser, Fields)> = Vec::with_capacity(batch.len());
    for u in batch {
        let doc = merged(&Document::new(), &u.doc, &u.external_id);
        match Fields::of(&doc) {
            Ok(f) => profiles.push((u, f)),
            Err(e) => out.refused.push((u.external_id.clone(), e.detail)),
        }
    }
    let names: Vec<String> = profiles
        .iter()
        .map(|(_, f)| f.user_name.to_lowercase())
        .collect();
    let mut by_name: HashMap<String, Current> = HashMap::new();
    for chunk in names.chunks(IN_CHUNK) {
        let rows: Vec<CurrentRow> = lock_rows!(
            c,
            for_update,
            scim_users::table
                .filter(scim_users::user_name_lower.eq_any(chunk))
                .filter(scim_users::deleted_at.is_null())
                .select(columns),
            load
        )?;
        for row in rows {
            let cur = current(row)?;
            if let Some(name) = cur.user_name_lower.clone() {
                by_name.insert(name, cur);
            }
        }
    }

    let mut creates: Vec<(String, Fields, Document)> = Vec::new();
    let mut changed: Vec<String> = Vec::new();
    let mut written: Vec<String> = Vec::new();
    let mut email_changes: Vec<(String, Fields)> = Vec::new();
    let mut audits: Vec<(String, &'static str, Value)> = Vec::new();
    // userNames this batch gives out, so two profiles never claim one.
    let mut claimed: HashMap<String, String> = HashMap::new();
    for (u, profile) in &profiles {
        let ext = u.external_id.as_str();
        let target = by_ext.get(ext).or_else(|| {
            by_name
                .get(&profile.user_name.to_lowercase())
                .filter(|cur| cur.external_id.as_deref().is_none_or(|e| e == ext))
        });
        let new_doc = match target {
            Some(cur) => merged(&cur.doc, &u.doc, ext),
            None => merged(&Document::new(), &u.doc, ext),
        };
        let fields = match Fields::of(&new_doc) {
            Ok(f) => f,
            Err(e) => {
                out.refused.push((ext.to_string(), e.detail));
                continue;
            }
        };
        let new_doc = complete(new_doc, &fields);
        let name = fields.user_name.to_lowercase();
        let me = target.map(|cur| cur.id.as_str());
        // The userName must be free: not held by another live user, nor by another profile.
        let holder = by_name.get(&name).map(|cur| cur.id.as_str());
        if let Some(holder) = holder.filter(|h| Some(*h) != me) {
            let linked = by_name
                .get(&name)
                .and_then(|cur| cur.external_id.as_deref())
                .unwrap_or("no external id");
            out.refused.push((
                ext.to_string(),
                format!(
                    "userName \"{}\" belongs to directory user {holder} (linked to {linked})",
                    fields.user_name
                ),
            ));
            continue;
        }
        if let Some(other) = claimed.get(&name).filter(|o| o.as_str() != ext) {
            out.refused.push((
                ext.to_string(),
                format!(
                    "userName \"{}\" is also the userName of {other} in the same read",
                    fields.user_name
                ),
            ));
            continue;
        }
        claimed.insert(name, ext.to_string());
        match target {
            None => {
                let id = uuid::Uuid::now_v7().to_string();
                out.map.insert(ext.to_string(), id.clone());
                out.created += 1;
                changed.push(id.clone());
                written.push(id.clone());
                audits.push((
                    id.clone(),
                    "user.create",
                    json!({
                        "userName": fields.user_name,
                        "externalId": ext,
                        "active": fields.active,
                        "attributes": new_doc.keys().collect::<Vec<_>>(),
                    }),
                ));
                creates.push((id, fields, new_doc));
            }
            Some(cur) => {
                out.map.insert(ext.to_string(), cur.id.clone());
                written.push(cur.id.clone());
                let changes = diff(&cur.doc, &new_doc);
                if changes.is_empty() {
                    out.unchanged += 1;
                    continue;
                }
                out.updated += 1;
                update_user(c, cur, &fields, &new_doc, now)?;
                if changes.contains_key("emails") {
                    email_changes.push((cur.id.clone(), fields.clone()));
                }
                changed.push(cur.id.clone());
                audits.push((
                    cur.id.clone(),
                    "user.update",
                    json!({"userName": fields.user_name, "changed": changes}),
                ));
            }
        }
    }
    insert_users(c, &creates, now)?;
    let gone: Vec<&str> = email_changes.iter().map(|(id, _)| id.as_str()).collect();
    for chunk in gone.chunks(IN_CHUNK) {
        diesel::delete(scim_user_emails::table.filter(scim_user_emails::user_id.eq_any(chunk)))
            .execute(c)?;
    }
    let emails = creates
        .iter()
        .map(|(id, f, _)| (id.as_str(), f))
        .chain(email_changes.iter().map(|(id, f)| (id.as_str(), f)));
    insert_emails(c, emails)?;
    let enqueued = follow_up(c, &changed, &written, hold_for_run)?;
    let actions: Vec<String> = audits.iter().map(|(_, a, _)| actor.action(a)).collect();
    let entries: Vec<audit::Entry<'_>> = audits
        .iter()
        .zip(&actions)
        .map(|((id, _, detail), action)| audit::Entry {
            actor: actor.name,
            action,
            target_type: "user",
            target_id: Some(id),
            detail: detail.clone(),
            outcome: Outcome::Success,
        })
        .collect();
    audit::record_many(c, &entries)?;
    Ok(Written {
        value: out,
        enqueued,
    })
}

fn update_user(
    c: &mut DbConn,
    cur: &Current,
    fields: &Fields,
    doc: &Document,
    now: NaiveDateTime,
) -> Result<(), DirectoryError> {
    diesel::update(scim_users::table.filter(scim_users::id.eq(&cur.id)))
        .set((
            scim_users::user_name.eq(&fields.user_name),
            scim_users::user_name_lower.eq(fields.user_name.to_lowercase()),
            scim_users::external_id.eq(fields.external_id.as_deref()),
            scim_users::display_name.eq(fields.display_name.as_deref()),
            scim_users::given_name.eq(fields.given_name.as_deref()),
            scim_users::family_name.eq(fields.family_name.as_deref()),
            scim_users::title.eq(fields.title.as_deref()),
            scim_users::active.eq(fields.active),
            scim_users::attributes.eq(Value::Object(doc.clone()).to_string()),
            scim_users::version.eq(cur.version + 1),
            scim_users::updated_at.eq(now),
        ))
        .execute(c)
        .map_err(|e| map_unique(e, &fields.user_name))?;
    Ok(())
}

fn insert_users(
    c: &mut DbConn,
    creates: &[(String, Fields, Document)],
    now: NaiveDateTime,
) -> Result<(), DirectoryError> {
    let attributes: Vec<String> = creates
        .iter()
        .map(|(_, _, doc)| Value::Object(doc.clone()).to_string())
        .collect();
    let rows: Vec<_> = creates
        .iter()
        .zip(&attributes)
        .map(|((id, f, _), attrs)| {
            (
                scim_users::id.eq(id),
                scim_users::user_name.eq(&f.user_name),
                scim_users::user_name_lower.eq(f.user_name.to_lowercase()),
                scim_users::external_id.eq(f.external_id.as_deref()),
                scim_users::display_name.eq(f.display_name.as_deref()),
                scim_users::given_name.eq(f.given_name.as_deref()),
                scim_users::family_name.eq(f.family_name.as_deref()),
                scim_users::title.eq(f.title.as_deref()),
                scim_users::active.eq(f.active),
                scim_users::attributes.eq(attrs),
                scim_users::version.eq(1i64),
                scim_users::created_at.eq(now),
                scim_users::updated_at.eq(now),
            )
        })
        .collect();
    for chunk in rows.chunks(USER_INSERT_CHUNK) {
        db_run!(c, |conn| diesel::insert_into(scim_users::table)
            .values(chunk)
            .execute(conn))
        .map_err(|e| {
            // The userNames were checked under lock: a violation here is a concurrent
            // insert of the same userName, which the caller may retry.
            let e = DirectoryError::from(e);
            if e.is_unique_violation() {
                DirectoryError::Conflict(
                    "another writer created a user with one of these userNames at the same time; retry"
                        .into(),
                )
            } else {
                e
            }
        })?;
    }
    Ok(())
}

fn insert_emails<'a>(
    c: &mut DbConn,
    users: impl Iterator<Item = (&'a str, &'a Fields)>,
) -> Result<(), StoreError> {
    let rows: Vec<_> = users
        .flat_map(|(id, f)| {
            f.emails.iter().enumerate().map(move |(i, e)| {
                (
                    scim_user_emails::user_id.eq(id),
                    scim_user_emails::position.eq(i as i32),
                    scim_user_emails::value.eq(e.value.as_str()),
                    scim_user_emails::value_lower.eq(e.value.to_lowercase()),
                    scim_user_emails::email_type.eq(e.email_type.as_deref()),
                    scim_user_emails::is_primary.eq(e.primary),
                )
            })
        })
        .collect();
    for chunk in rows.chunks(EMAIL_INSERT_CHUNK) {
        db_run!(c, |conn| diesel::insert_into(scim_user_emails::table)
            .values(chunk)
            .execute(conn))?;
    }
    Ok(())
}

/// The live directory user whose `externalId` is `external_id` (the oldest, should there be
/// two).
pub fn user_id_by_external_id(
    conn: &mut DbConn,
    external_id: &str,
) -> Result<Option<String>, StoreError> {
    Ok(scim_users::table
        .filter(scim_users::external_id.eq(external_id))
        .filter(scim_users::deleted_at.is_null())
        .order(scim_users::id.asc())
        .select(scim_users::id)
        .first(conn)
        .optional()?)
}

/// The directory users of these external ids (unknown ids are left out).
pub fn user_ids_by_external_ids(
    conn: &mut DbConn,
    external_ids: &[String],
) -> Result<HashMap<String, String>, StoreError> {
    let mut out = HashMap::with_capacity(external_ids.len());
    for chunk in external_ids.chunks(IN_CHUNK) {
        let rows: Vec<(Option<String>, String)> = scim_users::table
            .filter(scim_users::external_id.eq_any(chunk))
            .filter(scim_users::deleted_at.is_null())
            .order(scim_users::id.desc())
            .select((scim_users::external_id, scim_users::id))
            .load(conn)?;
        // Descending, so the oldest of duplicates is inserted last and wins.
        for (ext, id) in rows {
            if let Some(ext) = ext {
                out.insert(ext, id);
            }
        }
    }
    Ok(out)
}

/// The external ids of the groups (those that have one) the live user with external id
/// `user` is a member of; `None` when the directory has no such user.
pub fn user_group_external_ids(
    conn: &mut DbConn,
    user: &str,
) -> Result<Option<Vec<String>>, StoreError> {
    let Some(uid) = user_id_by_external_id(conn, user)? else {
        return Ok(None);
    };
    let ids: Vec<Option<String>> = group_members::table
        .inner_join(scim_groups::table)
        .filter(group_members::user_id.eq(&uid))
        .select(scim_groups::external_id)
        .load(conn)?;
    Ok(Some(ids.into_iter().flatten().collect()))
}

/// The directory group whose `externalId` is `external_id`.
pub fn group_id_by_external_id(
    conn: &mut DbConn,
    external_id: &str,
) -> Result<Option<String>, StoreError> {
    Ok(scim_groups::table
        .filter(scim_groups::external_id.eq(external_id))
        .order(scim_groups::id.asc())
        .select(scim_groups::id)
        .first(conn)
        .optional()?)
}

/// The external ids of the groups that have one: what Okta's re-read looks for in Okta's
/// list of groups (`okta::resync::presence`).
pub fn group_external_ids(conn: &mut DbConn) -> Result<Vec<String>, StoreError> {
    let ids: Vec<Option<String>> = scim_groups::table
        .filter(scim_groups::external_id.is_not_null())
        .select(scim_groups::external_id)
        .load(conn)?;
    Ok(ids.into_iter().flatten().collect())
}

/// The external ids of the live, active users that have one: what Okta's re-read looks for
/// in Okta's list of users (an inactive user needs nothing more when its source deletes it).
pub fn active_user_external_ids(conn: &mut DbConn) -> Result<Vec<String>, StoreError> {
    let ids: Vec<Option<String>> = scim_users::table
        .filter(scim_users::external_id.is_not_null())
        .filter(scim_users::deleted_at.is_null())
        .filter(scim_users::active.eq(true))
        .select(scim_users::external_id)
        .load(conn)?;
    Ok(ids.into_iter().flatten().collect())
}

/// A group as an external source holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalGroup {
    /// The source's id (the Okta group id): the group's `externalId`.
    pub external_id: String,
    pub display_name: String,
}

/// Upserts a group by external id: the group with that `externalId`, else the group of the same
/// `displayName` without one (a group pushed over SCIM), else a new group. Returns the
/// directory group id. A `displayName` held by a group linked to another id is a `Conflict`.
pub fn upsert_group(
    conn: &mut DbConn,
    actor: Actor<'_>,
    group: &ExternalGroup,
) -> Result<Written<Upsert>, DirectoryError> {
    tx::write(conn, |c| {
        let found = match group_id_by_external_id(c, &group.external_id)? {
            Some(id) => Some(id),
            None => scim_groups::table
                .filter(scim_groups::display_name_lower.eq(group.display_name.to_lowercase()))
                .filter(scim_groups::external_id.is_null())
                .select(scim_groups::id)
                .first::<String>(c)
                .optional()?,
        };
        let Some(id) = found else {
            let mut doc = Document::new();
            doc.insert("displayName".into(), json!(group.display_name));
            doc.insert("externalId".into(), json!(group.external_id));
            let created = groups::create_in(c, actor, &doc, &[])?;
            return Ok(Written {
                value: Upsert::Created(created.value.id),
                enqueued: created.enqueued,
            });
        };
        let (current, name) = groups::lock(c, &id)?;
        let mut doc = current.doc.clone();
        doc.insert("displayName".into(), json!(group.display_name));
        doc.insert("externalId".into(), json!(group.external_id));
        if doc == current.doc {
            return Ok(Written {
                value: Upsert::Unchanged(id),
                enqueued: 0,
            });
        }
        let written = groups::store_update(
            c,
            actor,
            &actor.action("group.update"),
            current,
            &name,
            doc,
            Delta::default(),
        )?;
        Ok(Written {
            value: Upsert::Updated(id),
            enqueued: written.enqueued,
        })
    })
}

/// What a membership write did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Members {
    pub added: usize,
    pub removed: usize,
    /// External ids named that are not directory users (left out).
    pub unknown: Vec<String>,
}

/// Makes the members of the group with external id `group` exactly the users with these
/// external ids (ids that are not directory users are left out and reported). Members who join
/// or leave are enqueued (they may gain or lose a role), or held for `hold_for_run`.
pub fn set_group_members(
    conn: &mut DbConn,
    actor: Actor<'_>,
    group: &str,
    user_external_ids: &[String],
    hold_for_run: Option<&str>,
) -> Result<Written<Members>, DirectoryError> {
    tx::write(conn, |c| {
        let id = group_id_by_external_id(c, group)?.ok_or_else(|| DirectoryError::NotFound {
            kind: super::Kind::Group,
            id: group.to_string(),
        })?;
        let (current, _) = groups::lock(c, &id)?;
        let ids = user_ids_by_external_ids(c, user_external_ids)?;
        let unknown: Vec<String> = user_external_ids
            .iter()
            .filter(|e| !ids.contains_key(e.as_str()))
            .cloned()
            .collect();
        let wanted: Vec<String> = user_external_ids
            .iter()
            .filter_map(|e| ids.get(e).cloned())
            .collect();
        let delta = membership::replace(c, &id, &wanted)?;
        let enqueued = write_membership(c, actor, &id, current.meta.version, &delta, hold_for_run)?;
        Ok(Written {
            value: Members {
                added: delta.added.len(),
                removed: delta.removed.len(),
                unknown,
            },
            enqueued,
        })
    })
}

/// The group's count and version after a membership change, the follow-up and the audit.
fn write_membership(
    c: &mut DbConn,
    actor: Actor<'_>,
    group_id: &str,
    version: i64,
    delta: &Delta,
    hold_for_run: Option<&str>,
) -> Result<usize, DirectoryError> {
    if delta.is_empty() {
        return Ok(0);
    }
    diesel::update(scim_groups::table.filter(scim_groups::id.eq(group_id)))
        .set((
            scim_groups::member_count.eq(scim_groups::member_count + delta.count_change()),
            scim_groups::version.eq(version + 1),
            scim_groups::updated_at.eq(store::now()),
        ))
        .execute(c)?;
    let affected = delta.affected();
    let enqueued = follow_up(c, &affected, &affected, hold_for_run)?;
    audit::record(
        c,
        &audit::Entry {
            actor: actor.name,
            action: &actor.action("group.members"),
            target_type: "group",
            target_id: Some(group_id),
            detail: json!({
                "members_added": listed(&delta.added),
                "members_removed": listed(&delta.removed),
            }),
            outcome: Outcome::Success,
        },
    )?;
    Ok(enqueued)
}

/// Makes the user with external id `user` a member of exactly the groups with these external
/// ids, among the groups that have an external id: groups known only from a SCIM push (no
/// `externalId`) are the push's to manage and are left alone. Unknown group ids are reported.
pub fn set_user_groups(
    conn: &mut DbConn,
    actor: Actor<'_>,
    user: &str,
    group_external_ids: &[String],
) -> Result<Written<Members>, DirectoryError> {
    tx::write(conn, |c| {
        let uid = user_id_by_external_id(c, user)?.ok_or_else(|| DirectoryError::NotFound {
            kind: super::Kind::User,
            id: user.to_string(),
        })?;
        let wanted: HashMap<String, String> = scim_groups::table
            .filter(scim_groups::external_id.eq_any(group_external_ids))
            .select((scim_groups::id, scim_groups::external_id))
            .load::<(String, Option<String>)>(c)?
            .into_iter()
            .filter_map(|(id, ext)| Some((id, ext?)))
            .collect();
        let known: HashSet<&str> = wanted.values().map(String::as_str).collect();
        let unknown: Vec<String> = group_external_ids
            .iter()
            .filter(|e| !known.contains(e.as_str()))
            .cloned()
            .collect();
        let current: Vec<String> = group_members::table
            .inner_join(scim_groups::table)
            .filter(group_members::user_id.eq(&uid))
            .filter(scim_groups::external_id.is_not_null())
            .select(scim_groups::id)
            .load(c)?;
        let current: HashSet<String> = current.into_iter().collect();
        let mut result = Members {
            unknown,
            ..Members::default()
        };
        let mut enqueued = 0;
        let mut touched: Vec<&String> = wanted.keys().chain(current.iter()).collect();
        touched.sort();
        touched.dedup();
        // Group by group, in id order (a stable lock order against concurrent writers).
        for gid in touched {
            let (join, leave) = (wanted.contains_key(gid), current.contains(gid));
            if join == leave {
                continue;
            }
            let (group, _) = groups::lock(c, gid)?;
            let delta = match (join, leave) {
                (true, false) => Delta {
                    added: membership::add(c, gid, std::slice::from_ref(&uid))?,
                    removed: Vec::new(),
                },
                (false, true) => Delta {
                    added: Vec::new(),
                    removed: membership::remove(c, gid, std::slice::from_ref(&uid))?,
                },
                _ => continue,
            };
            result.added += delta.added.len();
            result.removed += delta.removed.len();
            enqueued += write_membership(c, actor, gid, group.meta.version, &delta, None)?;
        }
        Ok(Written {
            value: result,
            enqueued,
        })
    })
}

/// Deletes the group with external id `group` (its members are enqueued: they may lose a
/// role). `false` when no such group exists (already deleted: an event may come twice).
pub fn delete_group(
    conn: &mut DbConn,
    actor: Actor<'_>,
    group: &str,
) -> Result<Written<bool>, DirectoryError> {
    tx::write(conn, |c| {
        let Some(id) = group_id_by_external_id(c, group)? else {
            return Ok(Written {
                value: false,
                enqueued: 0,
            });
        };
        let deleted = groups::delete_in(c, actor, &id, &Precondition::None)?;
        Ok(Written {
            value: true,
            enqueued: deleted.enqueued,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(v: Value) -> Document {
        match v {
            Value::Object(m) => m,
            _ => Document::new(),
        }
    }

    #[test]
    fn a_profile_replaces_its_attributes_and_keeps_the_others() {
        let stored = doc(json!({
            "userName": "ada@example.com",
            "title": "Engineer",
            "nickName": "ada",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"}
        }));
        let profile = doc(json!({"userName": "ada@example.com", "name": {"givenName": "Ada"}}));
        let m = merged(&stored, &profile, "00u1");
        assert_eq!(m["externalId"], "00u1");
        assert_eq!(
            m["nickName"], "ada",
            "an attribute the profile does not speak for stays"
        );
        assert!(
            !m.contains_key("title"),
            "a profile attribute left out is removed"
        );
        assert_eq!(m["name"]["givenName"], "Ada");
        assert!(m.contains_key("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"));
    }
}
