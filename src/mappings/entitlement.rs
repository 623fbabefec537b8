//! Who a role is for, and who a change of that concerns — the one rule behind both the
//! outbox (whom to enqueue) and the preview (who would gain or lose the role).
//!
//! For one role, the *entitlement* is whether the bridge manages it and which groups grant
//! it. A role is managed when ZenQMS still lists it and at least one mapping names it that is
//! bound to a group — or was, until its group was deleted (so deleting a group in Okta takes
//! the role from its former members; deleting the *mapping* is what stops managing a role).
//! When an entitlement changes from `before` to `after`:
//! - `after` unmanaged: nobody (existing assignments stay, and none are made);
//! - newly managed: the members of its groups (they gain it) and everyone holding it in
//!   ZenQMS as far as the bridge knows (those outside the groups lose it) — and a drift sweep
//!   is requested, to find holders the bridge's pictures do not show;
//! - managed before and after: the members of the groups added or removed.

use std::collections::BTreeSet;

use chrono::NaiveDateTime;
use diesel::dsl::{exists, not};
use diesel::prelude::*;
use serde::Serialize;

use crate::outbox;
use crate::store::schema::{
    group_members, role_mappings, scim_users, sync_users, zenqms_roles, zenqms_user_roles,
};
use crate::store::{DbConn, StoreError};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entitlement {
    pub managed: bool,
    /// Groups whose members are entitled (bound mappings), when managed.
    pub groups: BTreeSet<String>,
}

/// One mapping of a role, as far as entitlement goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub mapping_id: String,
    pub group_id: Option<String>,
    /// Bound now, or until its group was deleted.
    pub manages: bool,
}

/// A role's mappings and whether ZenQMS lists it: what its entitlement is computed from, and
/// what a preview edits in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleState {
    pub present: bool,
    pub bindings: Vec<Binding>,
}

impl RoleState {
    pub fn entitlement(&self) -> Entitlement {
        let managed = self.present && self.bindings.iter().any(|b| b.manages);
        Entitlement {
            managed,
            groups: if managed {
                self.bindings
                    .iter()
                    .filter_map(|b| b.group_id.clone())
                    .collect()
            } else {
                BTreeSet::new()
            },
        }
    }
}

pub fn state_of(conn: &mut DbConn, role_id_json: &str) -> Result<RoleState, StoreError> {
    let present = zenqms_roles::table
        .filter(zenqms_roles::id_json.eq(role_id_json))
        .select(zenqms_roles::present)
        .first::<bool>(conn)
        .optional()?
        .unwrap_or(false);
    let rows: Vec<(String, Option<String>, Option<NaiveDateTime>)> = role_mappings::table
        .filter(role_mappings::role_id_json.eq(role_id_json))
        .select((
            role_mappings::id,
            role_mappings::group_id,
            role_mappings::bound_at,
        ))
        .load(conn)?;
    Ok(RoleState {
        present,
        bindings: rows
            .into_iter()
            .map(|(mapping_id, group_id, bound_at)| Binding {
                manages: group_id.is_some() || bound_at.is_some(),
                mapping_id,
                group_id,
            })
            .collect(),
    })
}

pub fn of(conn: &mut DbConn, role_id_json: &str) -> Result<Entitlement, StoreError> {
    Ok(state_of(conn, role_id_json)?.entitlement())
}

/// Whom a change of one role's entitlement concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Affected {
    Nobody,
    /// Members of these groups (the ones added or removed).
    Members(Vec<String>),
    /// Members of these groups, and everyone who holds the role.
    MembersAndHolders(Vec<String>),
}

pub fn affected(before: &Entitlement, after: &Entitlement) -> Affected {
    if !after.managed {
        Affected::Nobody
    } else if !before.managed {
        Affected::MembersAndHolders(after.groups.iter().cloned().collect())
    } else {
        let changed: Vec<String> = before
            .groups
            .symmetric_difference(&after.groups)
            .cloned()
            .collect();
        if changed.is_empty() {
            Affected::Nobody
        } else {
            Affected::Members(changed)
        }
    }
}

/// Enqueues the users a change of this role's entitlement concerns (call inside the
/// transaction of the change). Returns how many jobs were inserted or bumped.
pub fn enqueue(
    conn: &mut DbConn,
    role_id_json: &str,
    before: &Entitlement,
    after: &Entitlement,
) -> Result<usize, StoreError> {
    Ok(match affected(before, after) {
        Affected::Nobody => 0,
        Affected::Members(groups) => outbox::enqueue_members_of(conn, &groups)?,
        Affected::MembersAndHolders(groups) => {
            // The holders enqueued here are those the bridge saw holding the role; someone
            // given it by hand since their last run is found by a drift sweep, asked for now.
            outbox::request_sweep(conn, &format!("role {role_id_json} became managed"))?;
            outbox::enqueue_members_of(conn, &groups)?
                + outbox::enqueue_role_holders(conn, role_id_json)?
        }
    })
}

/// A user named in a preview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Queryable)]
pub struct UserRef {
    pub scim_id: String,
    pub user_name: String,
}

/// Who would gain and who would lose one role, compared with what ZenQMS holds now (as the
/// last answers showed it): counts, and the first users of each by userName.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Effect {
    pub gain_count: i64,
    pub lose_count: i64,
    pub gain: Vec<UserRef>,
    pub lose: Vec<UserRef>,
}

/// The effect of a change of entitlement, in SQL (four indexed queries, however large the
/// groups; nothing is written). Gainers are the concerned users in the groups of `after` who
/// do not hold the role and will have a ZenQMS account (linked, or active); losers are the
/// concerned holders outside those groups.
pub fn effect(
    conn: &mut DbConn,
    role_id_json: &str,
    before: &Entitlement,
    after: &Entitlement,
    limit: i64,
) -> Result<Effect, StoreError> {
    let (concerned, holders_too) = match affected(before, after) {
        Affected::Nobody => return Ok(Effect::default()),
        Affected::Members(groups) => (groups, false),
        Affected::MembersAndHolders(groups) => (groups, true),
    };
    let entitled: Vec<String> = after.groups.iter().cloned().collect();
    let role = role_id_json.to_string();

    let gainers = || {
        let held = exists(
            zenqms_user_roles::table
                .filter(zenqms_user_roles::user_id.eq(scim_users::id))
                .filter(zenqms_user_roles::role_id_json.eq(role.clone())),
        );
        let linked = exists(
            sync_users::table
                .filter(sync_users::user_id.eq(scim_users::id))
                .filter(sync_users::zenqms_id_json.is_not_null()),
        );
        let mut q = scim_users::table
            .filter(
                scim_users::id.eq_any(
                    group_members::table
                        .filter(group_members::group_id.eq_any(entitled.clone()))
                        .select(group_members::user_id),
                ),
            )
            .filter(not(held))
            .filter(
                scim_users::active
                    .eq(true)
                    .and(scim_users::deleted_at.is_null())
                    .or(linked),
            )
            .into_boxed();
        if !holders_too {
            q = q.filter(
                scim_users::id.eq_any(
                    group_members::table
                        .filter(group_members::group_id.eq_any(concerned.clone()))
                        .select(group_members::user_id),
                ),
            );
        }
        q
    };
    let losers = || {
        let mut q = zenqms_user_roles::table
            .inner_join(scim_users::table.on(scim_users::id.eq(zenqms_user_roles::user_id)))
            .filter(zenqms_user_roles::role_id_json.eq(role.clone()))
            .filter(not(zenqms_user_roles::user_id.eq_any(
                group_members::table
                    .filter(group_members::group_id.eq_any(entitled.clone()))
                    .select(group_members::user_id),
            )))
            .into_boxed();
        if !holders_too {
            q = q.filter(
                zenqms_user_roles::user_id.eq_any(
                    group_members::table
                        .filter(group_members::group_id.eq_any(concerned.clone()))
                        .select(group_members::user_id),
                ),
            );
        }
        q
    };
    let gain_count: i64 = gainers().count().get_result(conn)?;
    let gain: Vec<UserRef> = if gain_count > 0 && limit > 0 {
        gainers()
            .select((scim_users::id, scim_users::user_name))
            .order((scim_users::user_name.asc(), scim_users::id.asc()))
            .limit(limit)
            .load(conn)?
    } else {
        Vec::new()
    };
    let lose_count: i64 = losers().count().get_result(conn)?;
    let lose: Vec<UserRef> = if lose_count > 0 && limit > 0 {
        losers()
            .select((scim_users::id, scim_users::user_name))
            .order((scim_users::user_name.asc(), scim_users::id.asc()))
            .limit(limit)
            .load(conn)?
    } else {
        Vec::new()
    };
    Ok(Effect {
        gain_count,
        lose_count,
        gain,
        lose,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ent(managed: bool, groups: &[&str]) -> Entitlement {
        Entitlement {
            managed,
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn who_a_change_concerns() {
        // Unmanaged after: nobody, whatever came before (a deleted mapping leaves roles be).
        assert_eq!(
            affected(&ent(true, &["a"]), &ent(false, &[])),
            Affected::Nobody
        );
        // Newly managed: members and holders.
        assert_eq!(
            affected(&ent(false, &[]), &ent(true, &["a"])),
            Affected::MembersAndHolders(vec!["a".into()])
        );
        // Managed throughout: the groups that came or went.
        assert_eq!(
            affected(&ent(true, &["a", "b"]), &ent(true, &["b", "c"])),
            Affected::Members(vec!["a".into(), "c".into()])
        );
        assert_eq!(
            affected(&ent(true, &["a"]), &ent(true, &["a"])),
            Affected::Nobody
        );
    }

    #[test]
    fn deleted_groups_keep_their_role_managed() {
        let state = RoleState {
            present: true,
            bindings: vec![Binding {
                mapping_id: "m".into(),
                group_id: None,
                manages: true,
            }],
        };
        assert_eq!(state.entitlement(), ent(true, &[]));
        let pending = RoleState {
            present: true,
            bindings: vec![Binding {
                mapping_id: "m".into(),
                group_id: None,
                manages: false,
            }],
        };
        assert_eq!(pending.entitlement(), ent(false, &[]));
        let missing = RoleState {
            present: false,
            bindings: vec![Binding {
                mapping_id: "m".into(),
                group_id: Some("g".into()),
                manages: true,
            }],
        };
        assert_eq!(
            missing.entitlement(),
            ent(false, &[]),
            "a missing role is left alone"
        );
    }
}
