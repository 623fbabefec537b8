//! The `role_mappings` table: rows, what a row's status is, the listing, and the small
//! statements the changes are made of. No rule lives here beyond "a pair is never
//! duplicated"; `changes.rs` decides what to write and whom to enqueue.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::roles::CachedRole;
use crate::store::schema::{role_mappings, scim_groups, zenqms_roles};
use crate::store::{self, DbConn, StoreError};

/// Orders role ids as a reader expects: numeric ids by value (7 before 12), then the others.
pub fn role_order(id: &str) -> (u8, String) {
    match id.parse::<u64>() {
        Ok(n) => (0, format!("{n:020}")),
        Err(_) => (1, id.to_string()),
    }
}

/// The bridge's case folding of group names (the same as `scim_groups.display_name_lower`).
pub fn fold(name: &str) -> String {
    name.to_lowercase()
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = role_mappings)]
pub struct Row {
    pub id: String,
    pub group_id: Option<String>,
    pub group_display_name: String,
    pub group_display_name_lower: String,
    pub role_id: String,
    pub role_id_json: String,
    pub created_at: NaiveDateTime,
    pub created_by: String,
    pub bound_at: Option<NaiveDateTime>,
    pub unbound_at: Option<NaiveDateTime>,
}

/// What a mapping does now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Its group's members hold its role.
    Active,
    /// No group yet (or any more) by that name: it binds when Okta pushes one.
    PendingGroup,
    /// ZenQMS no longer lists its role: the bridge leaves that role alone.
    RoleMissing,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::PendingGroup => "pending_group",
            Status::RoleMissing => "role_missing",
        }
    }
}

/// Where a mapping points: a directory group, or a name to bind by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Group { id: String, display_name: String },
    Pending { display_name: String },
}

impl Target {
    pub fn display_name(&self) -> &str {
        match self {
            Target::Group { display_name, .. } | Target::Pending { display_name } => display_name,
        }
    }

    pub fn group_id(&self) -> Option<&str> {
        match self {
            Target::Group { id, .. } => Some(id),
            Target::Pending { .. } => None,
        }
    }
}

/// A directory group, as the mapping editor needs it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct GroupInfo {
    pub id: String,
    pub display_name: String,
    pub member_count: i64,
}

pub fn group_by_id(conn: &mut DbConn, id: &str) -> Result<Option<GroupInfo>, StoreError> {
    Ok(scim_groups::table
        .filter(scim_groups::id.eq(id))
        .select((
            scim_groups::id,
            scim_groups::display_name,
            scim_groups::member_count,
        ))
        .first(conn)
        .optional()?)
}

/// The group with this display name, without regard to case.
pub fn group_by_name(conn: &mut DbConn, name: &str) -> Result<Option<GroupInfo>, StoreError> {
    Ok(scim_groups::table
        .filter(scim_groups::display_name_lower.eq(fold(name)))
        .select((
            scim_groups::id,
            scim_groups::display_name,
            scim_groups::member_count,
        ))
        .first(conn)
        .optional()?)
}

/// The mapping of this (target, role) pair, if there is one.
pub fn find_pair(
    conn: &mut DbConn,
    target: &Target,
    role_id_json: &str,
) -> Result<Option<String>, StoreError> {
    let q = role_mappings::table
        .filter(role_mappings::role_id_json.eq(role_id_json))
        .select(role_mappings::id)
        .into_boxed();
    let q = match target {
        Target::Group { id, .. } => q.filter(role_mappings::group_id.eq(id.clone())),
        Target::Pending { display_name } => q
            .filter(role_mappings::group_id.is_null())
            .filter(role_mappings::group_display_name_lower.eq(fold(display_name))),
    };
    Ok(q.first(conn).optional()?)
}

pub fn insert(
    conn: &mut DbConn,
    target: &Target,
    role: &CachedRole,
    actor: &str,
) -> Result<String, StoreError> {
    insert_as(conn, target, role, actor, false)
}

/// `group_deleted`: a pending row that stands for a mapping whose group was deleted (from an
/// imported document): it manages its role as such a row does.
pub fn insert_as(
    conn: &mut DbConn,
    target: &Target,
    role: &CachedRole,
    actor: &str,
    group_deleted: bool,
) -> Result<String, StoreError> {
    let id = uuid::Uuid::now_v7().to_string();
    let now = store::now();
    let orphan = group_deleted && target.group_id().is_none();
    let name = target.display_name();
    diesel::insert_into(role_mappings::table)
        .values((
            role_mappings::id.eq(&id),
            role_mappings::group_id.eq(target.group_id()),
            role_mappings::group_display_name.eq(name),
            role_mappings::group_display_name_lower.eq(fold(name)),
            role_mappings::role_id.eq(&role.id),
            role_mappings::role_id_json.eq(&role.id_json),
            role_mappings::created_at.eq(now),
            role_mappings::created_by.eq(actor),
            role_mappings::bound_at.eq((target.group_id().is_some() || orphan).then_some(now)),
            role_mappings::unbound_at.eq(orphan.then_some(now)),
        ))
        .execute(conn)?;
    Ok(id)
}

pub fn get(conn: &mut DbConn, id: &str) -> Result<Option<Row>, StoreError> {
    Ok(role_mappings::table
        .filter(role_mappings::id.eq(id))
        .select(Row::as_select())
        .first(conn)
        .optional()?)
}

pub fn all(conn: &mut DbConn) -> Result<Vec<Row>, StoreError> {
    Ok(role_mappings::table
        .select(Row::as_select())
        .order(role_mappings::id.asc())
        .load(conn)?)
}

pub fn delete(conn: &mut DbConn, id: &str) -> Result<bool, StoreError> {
    Ok(diesel::delete(role_mappings::table.filter(role_mappings::id.eq(id))).execute(conn)? == 1)
}

/// How many mappings there are.
pub fn count(conn: &mut DbConn) -> Result<i64, StoreError> {
    Ok(role_mappings::table.count().get_result(conn)?)
}

/// Serialises writers of the mapping table across processes on PostgreSQL for the rest of
/// the transaction (SQLite's `BEGIN IMMEDIATE` already does): two admins changing mappings
/// of one role at once each see the other's row, so each enqueues whom its change concerns.
pub fn lock(conn: &mut DbConn) -> Result<(), StoreError> {
    // 'zqbm' as a number: any constant shared by every bridge process.
    store::lock::advisory_xact(conn, 2053202541)
}

/// A mapping as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MappingView {
    pub id: String,
    /// `null` while pending.
    pub group_id: Option<String>,
    /// The group's current name when bound; the name it binds by while pending.
    pub group_display_name: String,
    pub role_id: String,
    pub role_name: String,
    pub status: Status,
    /// The group's members (0 while pending).
    pub member_count: i64,
    #[serde(serialize_with = "crate::time::serialize_rfc3339")]
    pub created_at: NaiveDateTime,
    pub created_by: String,
    /// When its group was deleted, if it was (it then manages its role while it waits).
    #[serde(serialize_with = "crate::time::serialize_opt_rfc3339")]
    pub group_deleted_at: Option<NaiveDateTime>,
    /// What the mapping does now, in words.
    pub detail: String,
}

type ViewRow = (
    Row,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<bool>,
    Option<NaiveDateTime>,
);

/// The mappings with these ids (all when `None`), by group name then role id — one query.
pub fn views(conn: &mut DbConn, ids: Option<&[String]>) -> Result<Vec<MappingView>, StoreError> {
    let mut q = role_mappings::table
        .left_join(scim_groups::table.on(scim_groups::id.nullable().eq(role_mappings::group_id)))
        .left_join(zenqms_roles::table.on(zenqms_roles::id_json.eq(role_mappings::role_id_json)))
        .select((
            Row::as_select(),
            scim_groups::display_name.nullable(),
            scim_groups::member_count.nullable(),
            zenqms_roles::name.nullable(),
            zenqms_roles::present.nullable(),
            zenqms_roles::missing_since.nullable(),
        ))
        .into_boxed();
    if let Some(ids) = ids {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        q = q.filter(role_mappings::id.eq_any(ids.to_vec()));
    }
    let rows: Vec<ViewRow> = q.load(conn)?;
    let mut out: Vec<MappingView> = rows.into_iter().map(view).collect();
    out.sort_by(|a, b| {
        (fold(&a.group_display_name), role_order(&a.role_id), &a.id).cmp(&(
            fold(&b.group_display_name),
            role_order(&b.role_id),
            &b.id,
        ))
    });
    Ok(out)
}

fn view(
    (row, group_name, member_count, role_name, present, missing_since): ViewRow,
) -> MappingView {
    let role_name = role_name.unwrap_or_default();
    let role = if role_name.is_empty() {
        format!("role {}", row.role_id)
    } else {
        format!("role {} ({role_name})", row.role_id)
    };
    let bound = row.group_id.is_some() && group_name.is_some();
    let name = group_name.unwrap_or_else(|| row.group_display_name.clone());
    let status = if present != Some(true) {
        Status::RoleMissing
    } else if !bound {
        Status::PendingGroup
    } else {
        Status::Active
    };
    let members = member_count.unwrap_or(0);
    let detail = match status {
        Status::RoleMissing => format!(
            "ZenQMS no longer lists {role}{}: the bridge leaves that role alone until it is listed again",
            missing_since
                .as_ref()
                .map(|t| format!(" (missing since {})", crate::time::rfc3339(t)))
                .unwrap_or_default()
        ),
        Status::PendingGroup if row.bound_at.is_some() => format!(
            "its group was deleted{}: {role} stays managed (the group's former members lose it) and the mapping binds again when a group named \"{name}\" is pushed; delete the mapping to stop managing the role",
            row.unbound_at
                .as_ref()
                .map(|t| format!(" at {}", crate::time::rfc3339(t)))
                .unwrap_or_default()
        ),
        Status::PendingGroup => format!(
            "waits for Okta to push a group named \"{name}\" (matched without regard to case); until then it grants nothing and does not manage {role}"
        ),
        Status::Active => format!("the {members} members of \"{name}\" hold {role}"),
    };
    MappingView {
        id: row.id,
        group_id: row.group_id.filter(|_| bound),
        group_display_name: name,
        role_id: row.role_id,
        role_name,
        status,
        member_count: if bound { members } else { 0 },
        created_at: row.created_at,
        created_by: row.created_by,
        group_deleted_at: row.unbound_at,
        detail,
    }
}

/// Mapping counts per status, and the missing roles with how many mappings name each.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub active: i64,
    pub pending_group: i64,
    pub role_missing: i64,
    pub missing_roles: Vec<MissingRoleView>,
    /// When the role list was last read completely; `null`: never.
    #[serde(serialize_with = "crate::time::serialize_opt_rfc3339")]
    pub roles_refreshed_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MissingRoleView {
    pub role_id: String,
    pub role_name: String,
    #[serde(serialize_with = "crate::time::serialize_opt_rfc3339")]
    pub missing_since: Option<NaiveDateTime>,
    pub mappings: i64,
}

/// For `GET /api/v1/sync/status`.
pub fn summary(conn: &mut DbConn) -> Result<Summary, StoreError> {
    let views = views(conn, None)?;
    let mut s = Summary {
        roles_refreshed_at: super::roles::refreshed_at(conn)?,
        ..Summary::default()
    };
    let mut missing: HashMap<String, MissingRoleView> = HashMap::new();
    for v in &views {
        match v.status {
            Status::Active => s.active += 1,
            Status::PendingGroup => s.pending_group += 1,
            Status::RoleMissing => {
                s.role_missing += 1;
                missing
                    .entry(v.role_id.clone())
                    .or_insert_with(|| MissingRoleView {
                        role_id: v.role_id.clone(),
                        role_name: v.role_name.clone(),
                        missing_since: None,
                        mappings: 0,
                    })
                    .mappings += 1;
            }
        }
    }
    if !missing.is_empty() {
        let ids: Vec<String> = missing.keys().cloned().collect();
        let since: Vec<(String, Option<NaiveDateTime>)> = zenqms_roles::table
            .filter(zenqms_roles::id.eq_any(&ids))
            .filter(zenqms_roles::present.eq(false))
            .select((zenqms_roles::id, zenqms_roles::missing_since))
            .load(conn)?;
        for (id, at) in since {
            if let Some(m) = missing.get_mut(&id) {
                m.missing_since = at;
            }
        }
    }
    s.missing_roles = missing.into_values().collect();
    s.missing_roles.sort_by(|a, b| a.role_id.cmp(&b.role_id));
    Ok(s)
}
