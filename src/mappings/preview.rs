//! What a change to the mapping table would do, computed without writing anything: per role,
//! who would gain it and who would lose it compared with what ZenQMS holds now (as the last
//! answers showed it), by the same rule that decides whom to enqueue.

use std::collections::BTreeMap;

use serde::Serialize;

use super::api::PreviewRequest;
use super::changes;
use super::entitlement::{self, Binding, Effect, UserRef};
use super::error::MappingError;
use super::roles::{self, CachedRole};
use super::table::{self, Row, Status, Target};
use crate::store::{DbConn, StoreError};

/// One change of a preview.
#[derive(Debug, Clone, Serialize)]
pub struct PreviewChange {
    /// `create` or `delete`.
    pub action: &'static str,
    /// The mapping deleted, or the one that already exists for a create.
    pub mapping_id: Option<String>,
    pub group_id: Option<String>,
    pub group_display_name: String,
    pub role_id: String,
    pub role_name: String,
    /// What the mapping would be (create) or is (delete).
    pub status: Status,
    /// A create of a pair that is already mapped changes nothing.
    pub already_exists: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    pub changes: Vec<PreviewChange>,
    pub roles: Vec<RolePreview>,
    /// Always false: a preview writes nothing.
    pub applied: bool,
}

/// One change, as previewed.
#[derive(Debug, Clone)]
pub enum Change {
    Create {
        target: Target,
        role: CachedRole,
        /// Stands for a mapping whose group was deleted (manages its role, grants nothing).
        group_deleted: bool,
    },
    Delete {
        row: Row,
    },
}

impl Change {
    fn role_id_json(&self) -> &str {
        match self {
            Change::Create { role, .. } => &role.id_json,
            Change::Delete { row } => &row.role_id_json,
        }
    }
}

/// One role's side of a preview.
#[derive(Debug, Clone, Serialize)]
pub struct RolePreview {
    pub role_id: String,
    pub role_name: String,
    /// Whether the bridge manages the role now, and would after the change.
    pub managed_before: bool,
    pub managed_after: bool,
    pub gain_count: i64,
    pub lose_count: i64,
    /// The first users who would gain it (by userName).
    pub gain: Vec<UserRef>,
    /// The first users who would lose it (by userName).
    pub lose: Vec<UserRef>,
    /// What the change means for this role, in words.
    pub note: String,
}

/// What a create or a deletion would change (`roles`: the checked roles of a create).
pub fn compute(
    c: &mut DbConn,
    req: PreviewRequest,
    roles: Vec<CachedRole>,
    limit: i64,
) -> Result<Preview, MappingError> {
    let mut changes_out = Vec::new();
    let mut planned = Vec::new();
    match req {
        PreviewRequest::Create(create) => {
            let target = changes::resolve_target(c, &create.group)?;
            let mut seen = std::collections::BTreeSet::new();
            for role in roles {
                if !seen.insert(role.id_json.clone()) {
                    continue;
                }
                let existing = table::find_pair(c, &target, &role.id_json)?;
                changes_out.push(PreviewChange {
                    action: "create",
                    already_exists: existing.is_some(),
                    mapping_id: existing,
                    group_id: target.group_id().map(str::to_string),
                    group_display_name: target.display_name().to_string(),
                    role_id: role.id.clone(),
                    role_name: role.name.clone(),
                    status: if target.group_id().is_some() {
                        Status::Active
                    } else {
                        Status::PendingGroup
                    },
                });
                planned.push(Change::Create {
                    target: target.clone(),
                    role,
                    group_deleted: false,
                });
            }
        }
        PreviewRequest::Delete(ids) => {
            let mut unknown = Vec::new();
            let views = table::views(c, Some(&ids))?;
            for id in &ids {
                match table::get(c, id)? {
                    None => unknown.push(id.clone()),
                    Some(row) => {
                        if let Some(v) = views.iter().find(|v| v.id == row.id) {
                            changes_out.push(PreviewChange {
                                action: "delete",
                                mapping_id: Some(v.id.clone()),
                                group_id: v.group_id.clone(),
                                group_display_name: v.group_display_name.clone(),
                                role_id: v.role_id.clone(),
                                role_name: v.role_name.clone(),
                                status: v.status,
                                already_exists: true,
                            });
                        }
                        planned.push(Change::Delete { row });
                    }
                }
            }
            if !unknown.is_empty() {
                return Err(MappingError::UnknownMappings(unknown));
            }
        }
    }
    Ok(Preview {
        changes: changes_out,
        roles: effects(c, &planned, limit)?,
        applied: false,
    })
}

/// The effect of these changes, per role they touch, in role-id order.
pub fn effects(
    conn: &mut DbConn,
    changes: &[Change],
    limit: i64,
) -> Result<Vec<RolePreview>, StoreError> {
    let mut by_role: BTreeMap<&str, Vec<&Change>> = BTreeMap::new();
    for c in changes {
        by_role.entry(c.role_id_json()).or_default().push(c);
    }
    let mut out = Vec::new();
    for (role, changes) in by_role {
        let state = entitlement::state_of(conn, role)?;
        let before = state.entitlement();
        let mut next = state.clone();
        for c in changes {
            match c {
                Change::Create {
                    target: Target::Group { id, .. },
                    ..
                } => {
                    if !next
                        .bindings
                        .iter()
                        .any(|b| b.group_id.as_deref() == Some(id))
                    {
                        next.bindings.push(Binding {
                            mapping_id: String::new(),
                            group_id: Some(id.clone()),
                            manages: true,
                        });
                    }
                }
                // A pending mapping grants nothing and manages nothing until its group comes;
                // one standing for a deleted group's mapping manages its role.
                Change::Create {
                    target: Target::Pending { .. },
                    group_deleted,
                    ..
                } => {
                    if *group_deleted {
                        next.bindings.push(Binding {
                            mapping_id: String::new(),
                            group_id: None,
                            manages: true,
                        });
                    }
                }
                Change::Delete { row } => next.bindings.retain(|b| b.mapping_id != row.id),
            }
        }
        let after = next.entitlement();
        let Effect {
            gain_count,
            lose_count,
            gain,
            lose,
        } = entitlement::effect(conn, role, &before, &after, limit)?;
        let cached = roles::get(conn, role)?;
        let (role_id, role_name, present) = match &cached {
            Some(c) => (c.id.clone(), c.name.clone(), c.present),
            None => (role.to_string(), String::new(), false),
        };
        let note = note(
            &role_name,
            present,
            before.managed,
            after.managed,
            gain_count,
            lose_count,
        );
        out.push(RolePreview {
            role_id,
            role_name,
            managed_before: before.managed,
            managed_after: after.managed,
            gain_count,
            lose_count,
            gain,
            lose,
            note,
        });
    }
    Ok(out)
}

fn note(name: &str, present: bool, before: bool, after: bool, gain: i64, lose: i64) -> String {
    let role = if name.is_empty() {
        "the role".to_string()
    } else {
        format!("\"{name}\"")
    };
    if !present {
        return format!(
            "ZenQMS no longer lists {role}: the bridge leaves it alone, so nobody gains or loses it"
        );
    }
    match (before, after) {
        (false, false) => format!(
            "{role} is not managed before or after (a pending mapping grants nothing until its group is pushed): nobody gains or loses it"
        ),
        (true, false) => format!(
            "{role} would no longer be managed: existing assignments stay as they are, so nobody loses it and nobody gains it"
        ),
        (false, true) => format!(
            "{role} would become managed: members of the mapped groups gain it ({gain}), and everyone else who holds it in ZenQMS loses it ({lose})"
        ),
        (true, true) => format!(
            "{role} stays managed: {gain} would gain it and {lose} would lose it"
        ),
    }
}
