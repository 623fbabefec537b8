//! The role part of one user's desired state, for the reconciler: the managed roles, and
//! those the user's groups map to. Two queries per user, whatever the size of the tables.
//! The sync engine reads it through its `RolePolicy` port (plugged in by `server.rs`).

use diesel::prelude::*;

use crate::store::schema::{group_members, role_mappings, zenqms_roles};
use crate::store::{DbConn, StoreError};
use crate::zenqms::ZenqmsId;

/// The managed part of a user's roles. Roles outside `managed` are never touched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RolePlan {
    /// Roles that appear in at least one active mapping.
    pub managed: Vec<ZenqmsId>,
    /// Roles mapped from the groups this user belongs to (a subset of `managed`).
    pub wanted: Vec<ZenqmsId>,
}

impl RolePlan {
    /// (to add, to remove) for a user holding `held`.
    pub fn diff(&self, held: &[ZenqmsId]) -> (Vec<ZenqmsId>, Vec<ZenqmsId>) {
        let add = self
            .wanted
            .iter()
            .filter(|r| !held.contains(r))
            .cloned()
            .collect();
        let remove = held
            .iter()
            .filter(|r| self.managed.contains(r) && !self.wanted.contains(r))
            .cloned()
            .collect();
        (add, remove)
    }
}

/// The managed roles (JSON text of their ids): roles ZenQMS still lists that some mapping binds
/// to a group, or did until its group was deleted.
pub fn managed_roles(conn: &mut DbConn) -> Result<Vec<String>, StoreError> {
    Ok(role_mappings::table
        .inner_join(zenqms_roles::table.on(zenqms_roles::id_json.eq(role_mappings::role_id_json)))
        .filter(zenqms_roles::present.eq(true))
        .filter(role_mappings::bound_at.is_not_null())
        .select(role_mappings::role_id_json)
        .distinct()
        .load(conn)?)
}

/// `None` when no role is managed (the reconciler's role step is then a no-op).
///
/// Managed: roles ZenQMS still lists that some mapping binds to a group, or did until its
/// group was deleted. Wanted: those of them mapped from a group the user is a member of.
/// Roles ZenQMS no longer lists are in neither, so the reconciler never asks for them.
/// A role a user is granted, and the mapping (its group) that grants it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Grant {
    pub role_id_json: String,
    pub role_name: String,
    pub role_present: bool,
    pub mapping_id: String,
    pub group_display_name: String,
}

/// Every mapping that grants `user_id` a role (through the groups the user belongs to), by
/// role name.
pub fn grants_for(conn: &mut DbConn, user_id: &str) -> Result<Vec<Grant>, StoreError> {
    let rows: Vec<(String, String, bool, String, String)> = role_mappings::table
        .inner_join(
            group_members::table.on(group_members::group_id
                .nullable()
                .eq(role_mappings::group_id)),
        )
        .inner_join(zenqms_roles::table.on(zenqms_roles::id_json.eq(role_mappings::role_id_json)))
        .filter(group_members::user_id.eq(user_id))
        .select((
            role_mappings::role_id_json,
            zenqms_roles::name,
            zenqms_roles::present,
            role_mappings::id,
            role_mappings::group_display_name,
        ))
        .order((zenqms_roles::name.asc(), role_mappings::id.asc()))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(role_id_json, role_name, role_present, mapping_id, group)| Grant {
                role_id_json,
                role_name,
                role_present,
                mapping_id,
                group_display_name: group,
            },
        )
        .collect())
}

pub fn for_user(conn: &mut DbConn, user_id: &str) -> Result<Option<RolePlan>, StoreError> {
    let managed = managed_roles(conn)?;
    if managed.is_empty() {
        return Ok(None);
    }
    let wanted: Vec<String> = role_mappings::table
        .inner_join(
            group_members::table.on(group_members::group_id
                .nullable()
                .eq(role_mappings::group_id)),
        )
        .inner_join(zenqms_roles::table.on(zenqms_roles::id_json.eq(role_mappings::role_id_json)))
        .filter(group_members::user_id.eq(user_id))
        .filter(zenqms_roles::present.eq(true))
        .select(role_mappings::role_id_json)
        .distinct()
        .load(conn)?;
    let ids = |texts: Vec<String>| -> Vec<ZenqmsId> {
        let mut ids: Vec<ZenqmsId> = texts
            .iter()
            .filter_map(|t| {
                let id = ZenqmsId::from_json_text(t);
                if id.is_none() {
                    tracing::warn!(role_id_json = %t, "a stored role id is not an id; it is ignored");
                }
                id
            })
            .collect();
        ids.sort_by_key(ZenqmsId::json_text);
        ids
    };
    Ok(Some(RolePlan {
        managed: ids(managed),
        wanted: ids(wanted),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn role_plans_touch_only_managed_roles() {
        let id = |n: u64| ZenqmsId::from_json(&json!(n)).unwrap();
        let plan = RolePlan {
            managed: vec![id(1), id(2), id(3)],
            wanted: vec![id(1), id(2)],
        };
        let (add, remove) = plan.diff(&[id(2), id(3), id(9)]);
        assert_eq!(add, vec![id(1)]);
        assert_eq!(remove, vec![id(3)], "9 is not managed");
    }
}
