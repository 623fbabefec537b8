//! Every change to the mapping table, each inside the caller's write transaction: it writes
//! the rows, enqueues exactly the users whose roles it alters (`entitlement`), and records
//! an audit entry per mapping with the actor's name.

use std::collections::{BTreeMap, BTreeSet};

use diesel::prelude::*;
use serde_json::json;

use super::entitlement::{self, Entitlement};
use super::error::MappingError;
use super::roles::CachedRole;
use super::table::{self, fold, Row, Target};
use crate::audit::{self, Outcome};
use crate::store::schema::{role_mappings, scim_groups};
use crate::store::{self, DbConn, StoreError};

/// How an admin names the group of a new mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupRef {
    Id(String),
    DisplayName(String),
}

/// Finds the group (by id: it must exist; by name: bound when a group of that name exists,
/// pending otherwise).
pub fn resolve_target(conn: &mut DbConn, group: &GroupRef) -> Result<Target, MappingError> {
    Ok(match group {
        GroupRef::Id(id) => match table::group_by_id(conn, id)? {
            Some(g) => Target::Group {
                id: g.id,
                display_name: g.display_name,
            },
            None => return Err(MappingError::UnknownGroup(id.clone())),
        },
        GroupRef::DisplayName(name) => match table::group_by_name(conn, name)? {
            Some(g) => Target::Group {
                id: g.id,
                display_name: g.display_name,
            },
            None => Target::Pending {
                display_name: name.clone(),
            },
        },
    })
}

fn audit_mapping(
    conn: &mut DbConn,
    actor: &str,
    action: &str,
    mapping_id: &str,
    detail: serde_json::Value,
) -> Result<(), StoreError> {
    audit::record(
        conn,
        &audit::Entry {
            actor,
            action,
            target_type: "role_mapping",
            target_id: Some(mapping_id),
            detail,
            outcome: Outcome::Success,
        },
    )
}

/// The entitlement of each role before a change, to enqueue the difference after it.
struct Tracker {
    before: BTreeMap<String, Entitlement>,
}

impl Tracker {
    fn new<'a>(
        conn: &mut DbConn,
        roles: impl IntoIterator<Item = &'a str>,
    ) -> Result<Tracker, StoreError> {
        let mut before = BTreeMap::new();
        for r in roles {
            if !before.contains_key(r) {
                before.insert(r.to_string(), entitlement::of(conn, r)?);
            }
        }
        Ok(Tracker { before })
    }

    /// Enqueues whom the changes concern, per role; returns the jobs inserted or bumped.
    fn finish(self, conn: &mut DbConn) -> Result<(usize, BTreeMap<String, bool>), StoreError> {
        let mut enqueued = 0;
        let mut managed_after = BTreeMap::new();
        for (role, before) in &self.before {
            let after = entitlement::of(conn, role)?;
            enqueued += entitlement::enqueue(conn, role, before, &after)?;
            managed_after.insert(role.clone(), after.managed);
        }
        Ok((enqueued, managed_after))
    }
}

/// What `create` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Created {
    pub created: Vec<String>,
    /// Pairs that already had a mapping (not duplicated).
    pub existing: Vec<String>,
    pub enqueued: usize,
}

/// Maps one group to these roles (the roles checked against ZenQMS by the caller).
pub fn create(
    conn: &mut DbConn,
    actor: &str,
    group: &GroupRef,
    roles: &[CachedRole],
) -> Result<Created, MappingError> {
    table::lock(conn)?;
    let target = resolve_target(conn, group)?;
    create_for(conn, actor, &target, roles)
}

fn create_for(
    conn: &mut DbConn,
    actor: &str,
    target: &Target,
    roles: &[CachedRole],
) -> Result<Created, MappingError> {
    let tracker = Tracker::new(conn, roles.iter().map(|r| r.id_json.as_str()))?;
    let mut out = Created::default();
    let mut done = BTreeSet::new();
    for role in roles {
        if !done.insert(role.id_json.clone()) {
            continue;
        }
        if let Some(id) = table::find_pair(conn, target, &role.id_json)? {
            out.existing.push(id);
            continue;
        }
        let id = table::insert(conn, target, role, actor).map_err(|e| match e {
            // The group was deleted by a SCIM request that committed after it was looked up.
            StoreError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::ForeignKeyViolation,
                _,
            )) => MappingError::UnknownGroup(target.group_id().unwrap_or_default().to_string()),
            other => MappingError::Store(other),
        })?;
        audit_mapping(
            conn,
            actor,
            "mapping.create",
            &id,
            json!({
                "group_id": target.group_id(),
                "group_display_name": target.display_name(),
                "role_id": role.id,
                "role_name": role.name,
                "status": if target.group_id().is_some() { "active" } else { "pending_group" },
            }),
        )?;
        out.created.push(id);
    }
    let (enqueued, _) = tracker.finish(conn)?;
    out.enqueued = enqueued;
    Ok(out)
}

/// Deletes a mapping. Its role stays managed only if another mapping manages it; if none
/// does, existing assignments stay as they are and nobody is enqueued.
pub fn delete(conn: &mut DbConn, actor: &str, id: &str) -> Result<usize, MappingError> {
    table::lock(conn)?;
    let row = table::get(conn, id)?.ok_or_else(|| MappingError::NotFound(id.to_string()))?;
    delete_row(conn, actor, &row, "mapping.delete")
}

fn delete_row(
    conn: &mut DbConn,
    actor: &str,
    row: &Row,
    action: &str,
) -> Result<usize, MappingError> {
    let tracker = Tracker::new(conn, [row.role_id_json.as_str()])?;
    table::delete(conn, &row.id)?;
    let (enqueued, managed) = tracker.finish(conn)?;
    let still_managed = managed.get(&row.role_id_json).copied().unwrap_or(false);
    audit_mapping(
        conn,
        actor,
        action,
        &row.id,
        json!({
            "group_id": row.group_id,
            "group_display_name": row.group_display_name,
            "role_id": row.role_id,
            "role_still_managed": still_managed,
            "effect": if still_managed {
                "members of this group who are not in another group mapped to the role lose it"
            } else {
                "the role is no longer managed: existing assignments stay"
            },
            "users_enqueued": enqueued,
        }),
    )?;
    Ok(enqueued)
}

// ---- the directory's side: a group arrives, is renamed, or is deleted ---------------------

/// Called by the directory inside the transaction that creates a group or renames it to
/// `display_name`: pending mappings of that name (without regard to case) bind to it, and the
/// users they concern are enqueued. Returns the jobs inserted or bumped.
pub fn on_group_named(
    conn: &mut DbConn,
    actor: &str,
    group_id: &str,
    display_name: &str,
) -> Result<usize, StoreError> {
    let lower = fold(display_name);
    // Bound mappings follow the group's name (for reading and for a later deletion).
    diesel::update(
        role_mappings::table
            .filter(role_mappings::group_id.eq(group_id))
            .filter(role_mappings::group_display_name.ne(display_name)),
    )
    .set((
        role_mappings::group_display_name.eq(display_name),
        role_mappings::group_display_name_lower.eq(&lower),
    ))
    .execute(conn)?;
    let pending: Vec<Row> = role_mappings::table
        .filter(role_mappings::group_id.is_null())
        .filter(role_mappings::group_display_name_lower.eq(&lower))
        .select(table::Row::as_select())
        .load(conn)?;
    if pending.is_empty() {
        return Ok(0);
    }
    let tracker = Tracker::new(conn, pending.iter().map(|r| r.role_id_json.as_str()))?;
    let now = store::now();
    let target = Target::Group {
        id: group_id.to_string(),
        display_name: display_name.to_string(),
    };
    let mut bound = Vec::new();
    for row in &pending {
        if let Some(kept) = table::find_pair(conn, &target, &row.role_id_json)? {
            // The group already has this role mapped: the pending row would duplicate it.
            table::delete(conn, &row.id)?;
            audit_mapping(
                conn,
                actor,
                "mapping.merge",
                &row.id,
                json!({"into": kept, "group_id": group_id, "group_display_name": display_name, "role_id": row.role_id}),
            )?;
            continue;
        }
        diesel::update(role_mappings::table.filter(role_mappings::id.eq(&row.id)))
            .set((
                role_mappings::group_id.eq(group_id),
                role_mappings::group_display_name.eq(display_name),
                role_mappings::group_display_name_lower.eq(&lower),
                role_mappings::bound_at.eq(Some(now)),
                role_mappings::unbound_at.eq(None::<chrono::NaiveDateTime>),
            ))
            .execute(conn)?;
        bound.push(row);
    }
    let (enqueued, _) = tracker.finish(conn)?;
    for row in bound {
        audit_mapping(
            conn,
            actor,
            "mapping.bind",
            &row.id,
            json!({
                "group_id": group_id,
                "group_display_name": display_name,
                "bound_by_name": row.group_display_name,
                "role_id": row.role_id,
                "users_enqueued": enqueued,
            }),
        )?;
    }
    Ok(enqueued)
}

/// Called by the directory inside the transaction that deletes a group, before its members
/// go: its mappings return to pending under the group's last name. They keep managing their
/// roles, so the former members are enqueued and lose what the group granted; a group of
/// that name pushed later binds them again.
pub fn on_group_deleted(
    conn: &mut DbConn,
    actor: &str,
    group_id: &str,
    display_name: &str,
) -> Result<usize, StoreError> {
    let rows: Vec<Row> = role_mappings::table
        .filter(role_mappings::group_id.eq(group_id))
        .select(table::Row::as_select())
        .load(conn)?;
    if rows.is_empty() {
        return Ok(0);
    }
    let tracker = Tracker::new(conn, rows.iter().map(|r| r.role_id_json.as_str()))?;
    let lower = fold(display_name);
    let now = store::now();
    let target = Target::Pending {
        display_name: display_name.to_string(),
    };
    for row in &rows {
        // A pending row of that name cannot normally exist while the group did; if one
        // does (a race), it is merged into this one, which keeps the role managed.
        if let Some(other) = table::find_pair(conn, &target, &row.role_id_json)? {
            table::delete(conn, &other)?;
            audit_mapping(
                conn,
                actor,
                "mapping.merge",
                &other,
                json!({"into": row.id, "group_display_name": display_name, "role_id": row.role_id}),
            )?;
        }
        diesel::update(role_mappings::table.filter(role_mappings::id.eq(&row.id)))
            .set((
                role_mappings::group_id.eq(None::<String>),
                role_mappings::group_display_name.eq(display_name),
                role_mappings::group_display_name_lower.eq(&lower),
                role_mappings::unbound_at.eq(Some(now)),
            ))
            .execute(conn)?;
    }
    let (enqueued, _) = tracker.finish(conn)?;
    for row in &rows {
        audit_mapping(
            conn,
            actor,
            "mapping.unbind",
            &row.id,
            json!({
                "group_id": group_id,
                "group_display_name": display_name,
                "role_id": row.role_id,
                "why": "the group was deleted; the mapping waits for a group of that name and keeps its role managed",
                "users_enqueued": enqueued,
            }),
        )?;
    }
    Ok(enqueued)
}

/// Binds pending mappings whose group exists after all (a group created on PostgreSQL while
/// an admin created a pending mapping of its name, each transaction blind to the other).
/// Run periodically; returns the jobs inserted or bumped.
pub fn sweep_pending(conn: &mut DbConn) -> Result<usize, StoreError> {
    let mut enqueued = 0;
    for (id, name) in pending_matches(conn)? {
        enqueued += on_group_named(conn, audit::SYSTEM, &id, &name)?;
    }
    Ok(enqueued)
}

/// Groups that pending mappings would bind to: `(group id, display name)` (read-only).
pub fn pending_matches(conn: &mut DbConn) -> Result<Vec<(String, String)>, StoreError> {
    Ok(role_mappings::table
        .inner_join(
            scim_groups::table
                .on(scim_groups::display_name_lower.eq(role_mappings::group_display_name_lower)),
        )
        .filter(role_mappings::group_id.is_null())
        .select((scim_groups::id, scim_groups::display_name))
        .distinct()
        .load(conn)?)
}

// ---- a whole document: the table made equal to it --------------------------------------

/// What importing a document changes.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// (where, role, whether it stands for a mapping whose group was deleted).
    pub create: Vec<(Target, CachedRole, bool)>,
    pub remove: Vec<Row>,
    pub unchanged: Vec<Row>,
}

/// A pair's identity: the group when bound, the folded name while pending.
fn key_of_target(target: &Target, role_id_json: &str) -> (String, String) {
    match target {
        Target::Group { id, .. } => (format!("g:{id}"), role_id_json.to_string()),
        Target::Pending { display_name } => (
            format!("n:{}", fold(display_name)),
            role_id_json.to_string(),
        ),
    }
}

fn key_of_row(row: &Row) -> (String, String) {
    match &row.group_id {
        Some(id) => (format!("g:{id}"), row.role_id_json.clone()),
        None => (
            format!("n:{}", row.group_display_name_lower),
            row.role_id_json.clone(),
        ),
    }
}

/// Compares the table with the wanted pairs (read-only).
pub fn plan(
    conn: &mut DbConn,
    wanted: Vec<(Target, CachedRole, bool)>,
) -> Result<Plan, StoreError> {
    let current = table::all(conn)?;
    let mut wanted_keys = BTreeSet::new();
    let mut create = Vec::new();
    let current_keys: BTreeSet<(String, String)> = current.iter().map(key_of_row).collect();
    for (target, role, deleted) in wanted {
        let key = key_of_target(&target, &role.id_json);
        if !wanted_keys.insert(key.clone()) {
            continue;
        }
        if !current_keys.contains(&key) {
            create.push((target, role, deleted));
        }
    }
    let (unchanged, remove) = current
        .into_iter()
        .partition(|row| wanted_keys.contains(&key_of_row(row)));
    Ok(Plan {
        create,
        remove,
        unchanged,
    })
}

/// Applies a plan made in this transaction: removals first, then creations.
pub fn apply(conn: &mut DbConn, actor: &str, plan: &Plan) -> Result<usize, MappingError> {
    let roles = plan
        .remove
        .iter()
        .map(|r| r.role_id_json.as_str())
        .chain(plan.create.iter().map(|(_, r, _)| r.id_json.as_str()));
    let tracker = Tracker::new(conn, roles)?;
    for row in &plan.remove {
        table::delete(conn, &row.id)?;
        audit_mapping(
            conn,
            actor,
            "mapping.delete",
            &row.id,
            json!({
                "group_id": row.group_id,
                "group_display_name": row.group_display_name,
                "role_id": row.role_id,
                "by": "import",
            }),
        )?;
    }
    for (target, role, deleted) in &plan.create {
        let id = table::insert_as(conn, target, role, actor, *deleted)?;
        audit_mapping(
            conn,
            actor,
            "mapping.create",
            &id,
            json!({
                "group_id": target.group_id(),
                "group_display_name": target.display_name(),
                "role_id": role.id,
                "role_name": role.name,
                "by": "import",
            }),
        )?;
    }
    let (enqueued, _) = tracker.finish(conn)?;
    Ok(enqueued)
}
