//! The role part of one user's desired state, for the reconciler: the managed roles, and
//! those the user's groups map to. Two queries per user, whatever the size of the tables.
//! The sync engine reads it through its `RolePolicy` port (plugged in by `server.rs`).

use std::collections::{BTreeSet, HashMap};

use diesel::prelude::*;

use crate::store::schema::{group_members, role_mappings, scim_groups, zenqms_roles};
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

/// One group as a source is about to write it: its id there (the Okta group id, which the
/// write makes the directory group's `externalId`) and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceGroup {
    pub external_id: String,
    pub display_name: String,
}

/// The role plans users will have once a source's groups are written — for a plan made
/// before the write (an initial sync's dry run writes nothing, yet reports what the real run
/// grants its users, also those not in the directory yet).
///
/// A source group lands on the directory group with its `externalId`, else on the group of
/// its name that has none (`directory::external::upsert_group`), else on a new group; a group
/// of that name binds the mappings pending on it (`changes::on_group_created`). So the group
/// maps to the roles of the mappings bound to the group it lands on, and those of the pending
/// mappings of its name, whose roles become managed once bound.
#[derive(Debug, Clone, Default)]
pub struct Prospective {
    managed: BTreeSet<String>,
    by_group: HashMap<String, BTreeSet<String>>,
}

impl Prospective {
    /// The plan of a user who will be in these groups (source ids); `None` when no role is
    /// managed, as [`for_user`].
    pub fn plan_for<'a>(&self, groups: impl IntoIterator<Item = &'a str>) -> Option<RolePlan> {
        if self.managed.is_empty() {
            return None;
        }
        let mut wanted = BTreeSet::new();
        for g in groups {
            if let Some(roles) = self.by_group.get(g) {
                wanted.extend(roles.iter().cloned());
            }
        }
        let ids = |set: &BTreeSet<String>| -> Vec<ZenqmsId> {
            set.iter()
                .filter_map(|t| ZenqmsId::from_json_text(t))
                .collect()
        };
        Some(RolePlan {
            managed: ids(&self.managed),
            wanted: ids(&wanted),
        })
    }
}

/// Reads what [`Prospective`] needs: the mappings (a small table, read whole), the roles
/// ZenQMS lists, and the directory group each source group lands on.
pub fn prospective(conn: &mut DbConn, groups: &[SourceGroup]) -> Result<Prospective, StoreError> {
    let present: BTreeSet<String> = zenqms_roles::table
        .filter(zenqms_roles::present.eq(true))
        .select(zenqms_roles::id_json)
        .load::<String>(conn)?
        .into_iter()
        .collect();
    let mut managed: BTreeSet<String> = managed_roles(conn)?.into_iter().collect();
    let mappings: Vec<(Option<String>, String, String)> = role_mappings::table
        .select((
            role_mappings::group_id,
            role_mappings::group_display_name_lower,
            role_mappings::role_id_json,
        ))
        .load(conn)?;
    let mut by_group = HashMap::new();
    for g in groups {
        let lower = g.display_name.to_lowercase();
        let landing: Option<String> = match scim_groups::table
            .filter(scim_groups::external_id.eq(&g.external_id))
            .order(scim_groups::id.asc())
            .select(scim_groups::id)
            .first::<String>(conn)
            .optional()?
        {
            Some(id) => Some(id),
            None => scim_groups::table
                .filter(scim_groups::display_name_lower.eq(&lower))
                .filter(scim_groups::external_id.is_null())
                .select(scim_groups::id)
                .first::<String>(conn)
                .optional()?,
        };
        let roles: BTreeSet<String> = mappings
            .iter()
            .filter(|(group_id, name, role)| {
                present.contains(role)
                    && match group_id {
                        Some(id) => landing.as_deref() == Some(id.as_str()),
                        None => *name == lower,
                    }
            })
            .map(|(_, _, role)| role.clone())
            .collect();
        if !roles.is_empty() {
            managed.extend(roles.iter().cloned());
            by_group.insert(g.external_id.clone(), roles);
        }
    }
    Ok(Prospective { managed, by_group })
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

    #[test]
    fn a_prospective_plan_unions_the_groups_roles() {
        let p = Prospective {
            managed: ["1", "2", "3"].map(String::from).into_iter().collect(),
            by_group: HashMap::from([
                ("00ga".to_string(), BTreeSet::from(["1".to_string()])),
                (
                    "00gb".to_string(),
                    BTreeSet::from(["1".to_string(), "2".to_string()]),
                ),
            ]),
        };
        let id = |n: u64| ZenqmsId::from_json(&json!(n)).unwrap();
        let plan = p.plan_for(["00ga", "00gb", "00gc"]).unwrap();
        assert_eq!(plan.wanted, vec![id(1), id(2)]);
        assert_eq!(plan.managed, vec![id(1), id(2), id(3)]);
        assert_eq!(p.plan_for([]).unwrap().wanted, vec![]);
        assert!(Prospective::default().plan_for(["00ga"]).is_none());
    }
}
