//! The org's directory — users, groups, memberships — and the **one** place that changes
//! it: [`Directory::apply`] takes a [`Change`], enforces Okta's rules for it, and returns
//! the System Log events it produced (which the simulator records and hands to event-hook
//! delivery). Seeds go through [`Directory::import`], which changes the org without
//! events: a seed is the state the org starts from, not something that happened in it.
//!
//! Lifecycle rules (Okta's user lifecycle):
//! - create: `user.lifecycle.create`; unless the new user is STAGED also
//!   `user.lifecycle.activate`, then `suspend`/`deactivate` when created in those states.
//! - activate: STAGED or PROVISIONED → ACTIVE. reactivate: DEPROVISIONED → ACTIVE.
//! - suspend: ACTIVE → SUSPENDED. unsuspend: SUSPENDED → ACTIVE.
//! - deactivate: anything but DEPROVISIONED → DEPROVISIONED (memberships are kept).
//! - delete: deactivates first when needed, then `user.lifecycle.delete.initiated`;
//!   the user leaves every group (without membership events, as in Okta).
//! - A profile update that changes nothing produces no event and keeps `lastUpdated`.
//! - Memberships of the BUILT_IN `Everyone` group are implicit (every user) and cannot be
//!   changed; adding a member twice or removing a non-member is a no-op without event.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::events::{LogEvent, Party};
use crate::filter::{Expr, Field, Record};
use crate::ids::okta_id;
use crate::model::{later_than, Group, GroupProfile, GroupType, User, UserStatus, UserType};

/// The default user type's id (every user has it).
pub const DEFAULT_USER_TYPE: &str = "oty1defaultusertype0";

/// A user to create.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// `login` and `email` are required; any other attribute is kept as given.
    pub profile: Map<String, Value>,
    /// The status to create the user in; ACTIVE when absent.
    #[serde(default)]
    pub status: Option<UserStatus>,
    /// Group ids the user is added to (with membership events).
    #[serde(default, rename = "groupIds")]
    pub group_ids: Vec<String>,
}

/// A group to create. `type` is OKTA_GROUP when absent; BUILT_IN cannot be created.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewGroup {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, rename = "type")]
    pub group_type: Option<GroupType>,
}

/// A user lifecycle operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lifecycle {
    Activate,
    Deactivate,
    Reactivate,
    Suspend,
    Unsuspend,
}

impl Lifecycle {
    pub fn parse(s: &str) -> Option<Lifecycle> {
        Some(match s {
            "activate" => Lifecycle::Activate,
            "deactivate" => Lifecycle::Deactivate,
            "reactivate" => Lifecycle::Reactivate,
            "suspend" => Lifecycle::Suspend,
            "unsuspend" => Lifecycle::Unsuspend,
            _ => return None,
        })
    }
}

/// Every change the org's state can undergo.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    CreateUser(NewUser),
    /// Merges `profile` into the user's (a `null` value removes the attribute).
    UpdateProfile {
        user: String,
        profile: Map<String, Value>,
    },
    Lifecycle {
        user: String,
        op: Lifecycle,
    },
    DeleteUser {
        user: String,
    },
    CreateGroup(NewGroup),
    UpdateGroup {
        group: String,
        name: Option<String>,
        /// `Some(None)` clears the description.
        description: Option<Option<String>>,
    },
    DeleteGroup {
        group: String,
    },
    AddMember {
        group: String,
        user: String,
    },
    RemoveMember {
        group: String,
        user: String,
    },
}

/// What a change left behind.
#[derive(Clone, Debug, PartialEq)]
pub enum Applied {
    User(User),
    Group(Group),
    /// A user or group is gone.
    Deleted,
    /// A membership change; `changed` is false for a no-op.
    Membership {
        changed: bool,
    },
}

/// One page of a listing; `next` is the `after` cursor of the following page.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// A users listing: `filter` and `search` include DEPROVISIONED users, a plain listing
/// (or `q`) leaves them out.
#[derive(Clone, Debug, Default)]
pub struct UserQuery {
    pub filter: Option<Expr>,
    pub search: Option<Expr>,
    /// Prefix of firstName, lastName or email (case-insensitive).
    pub q: Option<String>,
    pub after: Option<String>,
    pub limit: usize,
}

#[derive(Clone, Debug, Default)]
pub struct GroupQuery {
    pub filter: Option<Expr>,
    pub search: Option<Expr>,
    /// Prefix of the group name (case-insensitive).
    pub q: Option<String>,
    pub after: Option<String>,
    pub limit: usize,
}

/// The whole directory, as `/_sim/state` shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DirectorySnapshot {
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    /// Group id → member user ids (explicit memberships; `Everyone` has every user).
    pub memberships: BTreeMap<String, Vec<String>>,
}

impl DirectorySnapshot {
    pub fn user_by_login(&self, login: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.login().eq_ignore_ascii_case(login))
    }

    pub fn group_by_name(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name() == name)
    }

    /// Member ids of a group (every user for `Everyone`).
    pub fn members(&self, group_id: &str) -> Vec<String> {
        self.memberships.get(group_id).cloned().unwrap_or_default()
    }
}

#[derive(Clone, Debug)]
pub struct Directory {
    rng: StdRng,
    users: BTreeMap<String, User>,
    /// Lower-cased login → id.
    logins: HashMap<String, String>,
    groups: BTreeMap<String, Group>,
    /// Explicit memberships, both ways. `Everyone` is not in them.
    members: HashMap<String, BTreeSet<String>>,
    groups_of: HashMap<String, BTreeSet<String>>,
    everyone: String,
}

impl Record for User {
    fn field(&self, attr: &str) -> Field {
        let time = |t: Option<DateTime<Utc>>| t.map_or(Field::Missing, Field::Time);
        match attr {
            "id" => Field::Str(self.id.clone()),
            "status" => Field::Str(self.status.as_str().into()),
            "created" => Field::Time(self.created),
            "activated" => time(self.activated),
            "statusChanged" => time(self.status_changed),
            "lastLogin" => time(self.last_login),
            "lastUpdated" => Field::Time(self.last_updated),
            "passwordChanged" => time(self.password_changed),
            "type.id" => Field::Str(self.user_type.id.clone()),
            other => match other.strip_prefix("profile.") {
                Some(key) => json_field(self.profile.get(key)),
                None => Field::Missing,
            },
        }
    }
}

impl Record for Group {
    fn field(&self, attr: &str) -> Field {
        match attr {
            "id" => Field::Str(self.id.clone()),
            "type" => Field::Str(self.group_type.as_str().into()),
            "created" => Field::Time(self.created),
            "lastUpdated" => Field::Time(self.last_updated),
            "lastMembershipUpdated" => Field::Time(self.last_membership_updated),
            "profile.name" => Field::Str(self.profile.name.clone()),
            "profile.description" => self
                .profile
                .description
                .clone()
                .map_or(Field::Missing, Field::Str),
            _ => Field::Missing,
        }
    }
}

fn json_field(v: Option<&Value>) -> Field {
    match v {
        Some(Value::String(s)) => Field::Str(s.clone()),
        Some(Value::Bool(b)) => Field::Bool(*b),
        Some(Value::Number(n)) => n.as_f64().map_or(Field::Missing, Field::Num),
        _ => Field::Missing,
    }
}

fn not_found_user(id: &str) -> ApiError {
    ApiError::NotFound(format!("{id} (User)"))
}

fn not_found_group(id: &str) -> ApiError {
    ApiError::NotFound(format!("{id} (UserGroup)"))
}

fn starts_with_ci(value: Option<&str>, prefix: &str) -> bool {
    value.is_some_and(|v| v.to_lowercase().starts_with(prefix))
}

/// `login` and `email` must be non-empty strings with an `@`.
fn check_identity(profile: &Map<String, Value>) -> Result<(), ApiError> {
    for key in ["login", "email"] {
        match profile.get(key).and_then(Value::as_str) {
            Some(v) if v.contains('@') && !v.trim().is_empty() => {}
            _ => {
                return Err(ApiError::validation(
                    key,
                    format!("{key}: must be an email-like, non-empty string"),
                ))
            }
        }
    }
    Ok(())
}

impl Directory {
    /// An empty org with only the `Everyone` group; ids come from `seed` when given.
    pub fn new(seed: Option<u64>, now: DateTime<Utc>) -> Directory {
        let mut rng = match seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_os_rng(),
        };
        let everyone = okta_id("00g", &mut rng);
        let mut groups = BTreeMap::new();
        groups.insert(
            everyone.clone(),
            Group {
                id: everyone.clone(),
                created: now,
                last_updated: now,
                last_membership_updated: now,
                object_class: vec!["okta:user_group".into()],
                group_type: GroupType::BuiltIn,
                profile: GroupProfile {
                    name: "Everyone".into(),
                    description: Some("All users in your organization".into()),
                },
            },
        );
        Directory {
            rng,
            users: BTreeMap::new(),
            logins: HashMap::new(),
            groups,
            members: HashMap::new(),
            groups_of: HashMap::new(),
            everyone,
        }
    }

    // ---- reads ----

    /// By id, or by login (case-insensitive), as `GET /users/{id}` accepts.
    pub fn user(&self, id_or_login: &str) -> Option<&User> {
        self.users.get(id_or_login).or_else(|| {
            self.logins
                .get(&id_or_login.to_lowercase())
                .and_then(|id| self.users.get(id))
        })
    }

    pub fn group(&self, id: &str) -> Option<&Group> {
        self.groups.get(id)
    }

    #[cfg(test)]
    pub fn everyone_id(&self) -> &str {
        &self.everyone
    }

    #[cfg(test)]
    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    pub fn list_users(&self, q: &UserQuery) -> Page<User> {
        let prefix = q.q.as_ref().map(|p| p.to_lowercase());
        let plain = q.filter.is_none() && q.search.is_none();
        let keep = |u: &User| {
            if plain && u.status == UserStatus::Deprovisioned {
                return false;
            }
            if let Some(p) = &prefix {
                if !(starts_with_ci(u.profile_str("firstName"), p)
                    || starts_with_ci(u.profile_str("lastName"), p)
                    || starts_with_ci(u.profile_str("email"), p))
                {
                    return false;
                }
            }
            q.filter.as_ref().is_none_or(|f| f.matches(u))
                && q.search.as_ref().is_none_or(|s| s.matches(u))
        };
        page(range_after(&self.users, q.after.as_deref()), q.limit, keep)
    }

    /// The user's groups, `Everyone` first.
    pub fn groups_of(&self, user_id: &str) -> Vec<Group> {
        let mut out: Vec<Group> = self
            .groups
            .get(&self.everyone)
            .cloned()
            .into_iter()
            .collect();
        if let Some(ids) = self.groups_of.get(user_id) {
            out.extend(ids.iter().filter_map(|g| self.groups.get(g)).cloned());
        }
        out
    }

    pub fn list_groups(&self, q: &GroupQuery) -> Page<Group> {
        let prefix = q.q.as_ref().map(|p| p.to_lowercase());
        let keep = |g: &Group| {
            prefix
                .as_ref()
                .is_none_or(|p| g.profile.name.to_lowercase().starts_with(p))
                && q.filter.as_ref().is_none_or(|f| f.matches(g))
                && q.search.as_ref().is_none_or(|s| s.matches(g))
        };
        page(range_after(&self.groups, q.after.as_deref()), q.limit, keep)
    }

    /// A group's members in id order (all users for `Everyone`, whatever their status).
    pub fn group_members(
        &self,
        group_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<User>, ApiError> {
        if !self.groups.contains_key(group_id) {
            return Err(not_found_group(group_id));
        }
        if group_id == self.everyone {
            return Ok(page(range_after(&self.users, after), limit, |_| true));
        }
        let empty = BTreeSet::new();
        let ids = self.members.get(group_id).unwrap_or(&empty);
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        let iter = ids
            .range::<str, _>((lower, Bound::Unbounded))
            .filter_map(|id| self.users.get(id).map(|u| (id.as_str(), u)));
        Ok(page(iter, limit, |_| true))
    }

    pub fn snapshot(&self) -> DirectorySnapshot {
        let mut memberships: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for g in self.groups.keys() {
            let ids: Vec<String> = if *g == self.everyone {
                self.users.keys().cloned().collect()
            } else {
                self.members
                    .get(g)
                    .map(|m| m.iter().cloned().collect())
                    .unwrap_or_default()
            };
            memberships.insert(g.clone(), ids);
        }
        DirectorySnapshot {
            users: self.users.values().cloned().collect(),
            groups: self.groups.values().cloned().collect(),
            memberships,
        }
    }

    // ---- the one entry point for changes ----

    /// Applies one change: the new object and the events it produced, or the error that
    /// left everything as it was.
    pub fn apply(
        &mut self,
        change: Change,
        actor: &Party,
        now: DateTime<Utc>,
    ) -> Result<(Applied, Vec<LogEvent>), ApiError> {
        let mut events = Vec::new();
        let applied = match change {
            Change::CreateUser(new) => {
                Applied::User(self.create_user(new, actor, now, &mut events)?)
            }
            Change::UpdateProfile { user, profile } => {
                Applied::User(self.update_profile(&user, profile, actor, now, &mut events)?)
            }
            Change::Lifecycle { user, op } => {
                Applied::User(self.lifecycle(&user, op, actor, now, &mut events)?)
            }
            Change::DeleteUser { user } => {
                self.delete_user(&user, actor, now, &mut events)?;
                Applied::Deleted
            }
            Change::CreateGroup(new) => {
                Applied::Group(self.create_group(new, actor, now, &mut events)?)
            }
            Change::UpdateGroup {
                group,
                name,
                description,
            } => Applied::Group(self.update_group(
                &group,
                name,
                description,
                actor,
                now,
                &mut events,
            )?),
            Change::DeleteGroup { group } => {
                self.delete_group(&group, actor, now, &mut events)?;
                Applied::Deleted
            }
            Change::AddMember { group, user } => Applied::Membership {
                changed: self.membership(&group, &user, true, actor, now, &mut events)?,
            },
            Change::RemoveMember { group, user } => Applied::Membership {
                changed: self.membership(&group, &user, false, actor, now, &mut events)?,
            },
        };
        Ok((applied, events))
    }

    fn create_user(
        &mut self,
        new: NewUser,
        actor: &Party,
        now: DateTime<Utc>,
        events: &mut Vec<LogEvent>,
    ) -> Result<User, ApiError> {
        check_identity(&new.profile)?;
        let login = new
            .profile
            .get("login")
            .and_then(Value::as_str)
            .unwrap_or("");
        if self.logins.contains_key(&login.to_lowercase()) {
            return Err(ApiError::validation(
                "login",
                "login: An object with this field already exists in the current organization",
            ));
        }
        for g in &new.group_ids {
            self.member_group(g)?;
        }
        let status = new.status.unwrap_or(UserStatus::Active);
        let id = okta_id("00u", &mut self.rng);
        let activated = (status != UserStatus::Staged).then_some(now);
        let user = User {
            id: id.clone(),
            status,
            created: now,
            activated,
            status_changed: activated,
            last_login: None,
            last_updated: now,
            password_changed: None,
            user_type: UserType {
                id: DEFAULT_USER_TYPE.into(),
            },
            profile: new.profile,
        };
        self.insert_user(user.clone());
        self.touch_everyone(now);
        let me = Party::user(&user);
        events.push(LogEvent::new(
            "user.lifecycle.create",
            now,
            actor,
            vec![me.clone()],
        ));
        if status != UserStatus::Staged {
            events.push(LogEvent::new(
                "user.lifecycle.activate",
                now,
                actor,
                vec![me.clone()],
            ));
        }
        match status {
            UserStatus::Suspended => events.push(LogEvent::new(
                "user.lifecycle.suspend",
                now,
                actor,
                vec![me],
            )),
            UserStatus::Deprovisioned => events.push(LogEvent::new(
                "user.lifecycle.deactivate",
                now,
                actor,
                vec![me],
            )),
            _ => {}
        }
        for g in new.group_ids {
            self.membership(&g, &id, true, actor, now, events)?;
        }
        Ok(user)
    }

    fn update_profile(
        &mut self,
        id: &str,
        changes: Map<String, Value>,
        actor: &Party,
        now: DateTime<Utc>,
        events: &mut Vec<LogEvent>,
    ) -> Result<User, ApiError> {
        let user = self.user(id).cloned().ok_or_else(|| not_found_user(id))?;
        let mut profile = user.profile.clone();
        for (k, v) in changes {
            if v.is_null() {
                profile.remove(&k);
            } else {
                profile.insert(k, v);
            }
        }
        check_identity(&profile)?;
        let old_login = user.login().to_lowercase();
        let new_login = profile
            .get("login")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_lowercase();
        if new_login != old_login && self.logins.contains_key(&new_login) {
            return Err(ApiError::validation(
                "login",
                "login: An object with this field already exists in the current organization",
            ));
        }
        if profile == user.profile {
            return Ok(user);
        }
        let mut updated = user;
        updated.profile = profile;
        updated.last_updated = later_than(updated.last_updated, now);
        self.logins.remove(&old_login);
        self.insert_user(updated.clone());
        events.push(LogEvent::new(
            "user.account.update_profile",
            now,
            actor,
            vec![Party::user(&updated)],
        ));
        Ok(updated)
    }

    fn lifecycle(
        &mut self,
        id: &str,
        op: Lifecycle,
        actor: &Party,
        now: DateTime<Utc>,
        events: &mut Vec<LogEvent>,
    ) -> Result<User, ApiError> {
        use UserStatus::*;
        let user = self.user(id).cloned().ok_or_else(|| not_found_user(id))?;
        let (to, event) = match (op, user.status) {
            (Lifecycle::Activate, Staged | Provisioned) => (Active, "user.lifecycle.activate"),
            (Lifecycle::Reactivate, Deprovisioned) => (Active, "user.lifecycle.reactivate"),
            (Lifecycle::Suspend, Active) => (Suspended, "user.lifecycle.suspend"),
            (Lifecycle::Unsuspend, Suspended) => (Active, "user.lifecycle.unsuspend"),
            (Lifecycle::Deactivate, s) if s != Deprovisioned => {
                (Deprovisioned, "user.lifecycle.deactivate")
            }
            (op, from) => {
                return Err(ApiError::validation(
                    "status",
                    format!("cannot {op:?} a user whose status is {}", from.as_str())
                        .to_lowercase(),
                ))
            }
        };
        let mut updated = user;
        updated.status = to;
        updated.status_changed = Some(now);
        if matches!(op, Lifecycle::Activate | Lifecycle::Reactivate) {
            updated.activated = Some(now);
        }
        updated.last_updated = later_than(updated.last_updated, now);
        self.insert_user(updated.clone());
        events.push(LogEvent::new(
            event,
            now,
            actor,
            vec![Party::user(&updated)],
        ));
        Ok(updated)
    }

    fn delete_user(
        &mut self,
        id: &str,
        actor: &Party,
        now: DateTime<Utc>,
        events: &mut Vec<LogEvent>,
    ) -> Result<(), ApiError> {
        let user = self.user(id).cloned().ok_or_else(|| not_found_user(id))?;
        let user = if user.status != UserStatus::Deprovisioned {
            self.lifecycle(&user.id, Lifecycle::Deactivate, actor, now, events)?
        } else {
            user
        };
        self.users.remove(&user.id);
        self.logins.remove(&user.login().to_lowercase());
        for g in self.groups_of.remove(&user.id).unwrap_or_default() {
            if let Some(m) = self.members.get_mut(&g) {
                m.remove(&user.id);
            }
            if let Some(group) = self.groups.get_mut(&g) {
                group.last_membership_updated = later_than(group.last_membership_updated, now);
            }
        }
        self.touch_everyone(now);
        events.push(LogEvent::new(
            "user.lifecycle.delete.initiated",
            now,
            actor,
            vec![Party::user(&user)],
        ));
        Ok(())
    }

    fn check_group_name(&self, name: &str, except: Option<&str>) -> Result<(), ApiError> {
        if name.trim().is_empty() {
            return Err(ApiError::validation("name", "name: must not be empty"));
        }
        let taken = self
            .groups
            .values()
            .any(|g| Some(g.id.as_str()) != except && g.profile.name.eq_ignore_ascii_case(name));
        if taken {
            return Err(ApiError::validation(
                "name",
                "name: An object with this field already exists in the current organization",
            ));
        }
        Ok(())
    }

    fn create_group(
        &mut self,
        new: NewGroup,
        actor: &Party,
        now: DateTime<Utc>,
        events: &mut Vec<LogEvent>,
    ) -> Result<Group, ApiError> {
        let group_type = new.group_type.unwrap_or(GroupType::OktaGroup);
        if group_type == GroupType::BuiltIn {
            return Err(ApiError::validation(
                "type",
                "type: BUILT_IN groups cannot be created",
            ));
        }
        self.check_group_name(&new.name, None)?;
        let group = Group {
            id: okta_id("00g", &mut self.rng),
            created: now,
            last_updated: now,
            last_membership_updated: now,
            object_class: vec![match group_type {
                GroupType::AppGroup => "okta:windows_security_principal".into(),
                _ => "okta:user_group".into(),
            }],
            group_type,
            profile: GroupProfile {
                name: new.name,
                description: new.description,
            },
        };
        self.groups.insert(group.id.clone(), group.clone());
        events.push(LogEvent::new(
            "group.lifecycle.create",
            now,
            actor,
            vec![Party::group(&group)],
        ));
        Ok(group)
    }

    fn changeable_group(&self, id: &str) -> Result<Group, ApiError> {
        let g = self.groups.get(id).ok_or_else(|| not_found_group(id))?;
        if g.group_type == GroupType::BuiltIn {
            return Err(ApiError::Forbidden(format!(
                "the BUILT_IN group {} cannot be changed",
                g.profile.name
            )));
        }
        Ok(g.clone())
    }

    fn update_group(
        &mut self,
        id: &str,
        name: Option<String>,
        description: Option<Option<String>>,
        actor: &Party,
        now: DateTime<Utc>,
        events: &mut Vec<LogEvent>,
    ) -> Result<Group, ApiError> {
        let mut group = self.changeable_group(id)?;
        let before = group.profile.clone();
        if let Some(name) = name {
            self.check_group_name(&name, Some(id))?;
            group.profile.name = name;
        }
        if let Some(description) = description {
            group.profile.description = description;
        }
        if group.profile == before {
            return Ok(group);
        }
        group.last_updated = later_than(group.last_updated, now);
        self.groups.insert(group.id.clone(), group.clone());
        events.push(LogEvent::new(
            "group.profile.update",
            now,
            actor,
            vec![Party::group(&group)],
        ));
        Ok(group)
    }

    fn delete_group(
        &mut self,
        id: &str,
        actor: &Party,
        now: DateTime<Utc>,
        events: &mut Vec<LogEvent>,
    ) -> Result<(), ApiError> {
        let group = self.changeable_group(id)?;
        self.groups.remove(id);
        for u in self.members.remove(id).unwrap_or_default() {
            if let Some(gs) = self.groups_of.get_mut(&u) {
                gs.remove(id);
            }
        }
        events.push(LogEvent::new(
            "group.lifecycle.delete",
            now,
            actor,
            vec![Party::group(&group)],
        ));
        Ok(())
    }

    /// A group whose members can be changed (not `Everyone`).
    fn member_group(&self, id: &str) -> Result<&Group, ApiError> {
        let g = self.groups.get(id).ok_or_else(|| not_found_group(id))?;
        if g.group_type == GroupType::BuiltIn {
            return Err(ApiError::Forbidden(format!(
                "the members of the BUILT_IN group {} cannot be changed",
                g.profile.name
            )));
        }
        Ok(g)
    }

    fn membership(
        &mut self,
        group_id: &str,
        user: &str,
        add: bool,
        actor: &Party,
        now: DateTime<Utc>,
        events: &mut Vec<LogEvent>,
    ) -> Result<bool, ApiError> {
        let group = self.member_group(group_id)?.clone();
        let user = self
            .user(user)
            .cloned()
            .ok_or_else(|| not_found_user(user))?;
        let set = self.members.entry(group.id.clone()).or_default();
        let changed = if add {
            set.insert(user.id.clone())
        } else {
            set.remove(&user.id)
        };
        if !changed {
            return Ok(false);
        }
        let gs = self.groups_of.entry(user.id.clone()).or_default();
        if add {
            gs.insert(group.id.clone());
        } else {
            gs.remove(&group.id);
        }
        if let Some(g) = self.groups.get_mut(&group.id) {
            g.last_membership_updated = later_than(g.last_membership_updated, now);
        }
        let event = if add {
            "group.user_membership.add"
        } else {
            "group.user_membership.remove"
        };
        events.push(LogEvent::new(
            event,
            now,
            actor,
            vec![Party::user(&user), Party::group(&group)],
        ));
        Ok(true)
    }

    // ---- seeding (no events) ----

    /// A fresh id from the state's generator.
    pub(crate) fn new_id(&mut self, prefix: &str) -> String {
        okta_id(prefix, &mut self.rng)
    }

    /// Adds (or replaces, by id) users, groups and memberships as they are: the seed's
    /// objects are complete. Validated first; applies whole or not at all.
    pub(crate) fn import(
        &mut self,
        users: Vec<User>,
        groups: Vec<Group>,
        memberships: Vec<(String, String)>,
    ) -> Result<(), ApiError> {
        let mut next = self.clone();
        for u in users {
            check_identity(&u.profile)?;
            let login = u.login().to_lowercase();
            if let Some(other) = next.logins.get(&login) {
                if *other != u.id {
                    return Err(ApiError::validation(
                        "login",
                        format!("login: {login} is used by two users"),
                    ));
                }
            }
            if let Some(old) = next.users.get(&u.id) {
                let old_login = old.login().to_lowercase();
                next.logins.remove(&old_login);
            }
            next.insert_user(u);
        }
        for g in groups {
            if g.group_type == GroupType::BuiltIn {
                return Err(ApiError::validation(
                    "type",
                    "type: BUILT_IN groups cannot be seeded",
                ));
            }
            next.check_group_name(&g.profile.name, Some(&g.id))?;
            next.groups.insert(g.id.clone(), g);
        }
        for (group, user) in memberships {
            let gid = next.member_group(&group)?.id.clone();
            let uid = next
                .user(&user)
                .ok_or_else(|| not_found_user(&user))?
                .id
                .clone();
            next.members
                .entry(gid.clone())
                .or_default()
                .insert(uid.clone());
            next.groups_of.entry(uid).or_default().insert(gid);
        }
        *self = next;
        Ok(())
    }

    fn insert_user(&mut self, user: User) {
        self.logins
            .insert(user.login().to_lowercase(), user.id.clone());
        self.users.insert(user.id.clone(), user);
    }

    fn touch_everyone(&mut self, now: DateTime<Utc>) {
        if let Some(g) = self.groups.get_mut(&self.everyone) {
            g.last_membership_updated = later_than(g.last_membership_updated, now);
        }
    }
}

fn range_after<'a, T>(
    map: &'a BTreeMap<String, T>,
    after: Option<&'a str>,
) -> impl Iterator<Item = (&'a str, &'a T)> + 'a {
    let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
    map.range::<str, _>((lower, Bound::Unbounded))
        .map(|(k, v)| (k.as_str(), v))
}

/// Up to `limit` kept items; `next` is set only when another kept item follows.
fn page<'a, T: Clone + 'a>(
    iter: impl Iterator<Item = (&'a str, &'a T)>,
    limit: usize,
    keep: impl Fn(&T) -> bool,
) -> Page<T> {
    let mut items = Vec::new();
    let mut last = None;
    for (id, item) in iter.filter(|(_, item)| keep(item)) {
        if items.len() == limit {
            return Page { items, next: last };
        }
        last = Some(id.to_owned());
        items.push(item.clone());
    }
    Page { items, next: None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::now_ms;
    use serde_json::json;

    fn actor() -> Party {
        Party {
            id: "00uadmin000000000000".into(),
            kind: "User".into(),
            alternate_id: "admin@example.com".into(),
            display_name: "Admin".into(),
            detail_entry: None,
        }
    }

    fn profile(login: &str) -> Map<String, Value> {
        let Value::Object(m) =
            json!({"login": login, "email": login, "firstName": "A", "lastName": "B"})
        else {
            unreachable!()
        };
        m
    }

    fn types(events: &[LogEvent]) -> Vec<&str> {
        events.iter().map(|e| e.event_type.as_str()).collect()
    }

    #[test]
    fn changes_produce_events_and_follow_the_lifecycle() {
        let mut d = Directory::new(Some(1), now_ms());
        let a = actor();
        let (g, ev) = d
            .apply(
                Change::CreateGroup(NewGroup {
                    name: "Eng".into(),
                    description: None,
                    group_type: None,
                }),
                &a,
                now_ms(),
            )
            .unwrap();
        assert_eq!(types(&ev), ["group.lifecycle.create"]);
        let Applied::Group(g) = g else { panic!() };
        let (u, ev) = d
            .apply(
                Change::CreateUser(NewUser {
                    profile: profile("ada@example.com"),
                    status: Some(UserStatus::Suspended),
                    group_ids: vec![g.id.clone()],
                }),
                &a,
                now_ms(),
            )
            .unwrap();
        assert_eq!(
            types(&ev),
            [
                "user.lifecycle.create",
                "user.lifecycle.activate",
                "user.lifecycle.suspend",
                "group.user_membership.add"
            ]
        );
        assert_eq!(ev[3].target[0].kind, "User");
        assert_eq!(ev[3].target[1].kind, "UserGroup");
        let Applied::User(u) = u else { panic!() };
        // Suspended users cannot be suspended again; unsuspend works.
        let bad = d.apply(
            Change::Lifecycle {
                user: u.id.clone(),
                op: Lifecycle::Suspend,
            },
            &a,
            now_ms(),
        );
        assert!(bad.is_err());
        let (_, ev) = d
            .apply(
                Change::Lifecycle {
                    user: "ADA@example.com".into(),
                    op: Lifecycle::Unsuspend,
                },
                &a,
                now_ms(),
            )
            .unwrap();
        assert_eq!(types(&ev), ["user.lifecycle.unsuspend"]);
        // A no-op profile update: no event, lastUpdated kept.
        let before = d.user(&u.id).unwrap().last_updated;
        let (_, ev) = d
            .apply(
                Change::UpdateProfile {
                    user: u.id.clone(),
                    profile: profile("ada@example.com"),
                },
                &a,
                now_ms(),
            )
            .unwrap();
        assert!(ev.is_empty());
        assert_eq!(d.user(&u.id).unwrap().last_updated, before);
        // Everyone cannot be changed; adding twice is a no-op.
        let everyone = d.everyone_id().to_owned();
        assert!(d
            .apply(
                Change::AddMember {
                    group: everyone,
                    user: u.id.clone()
                },
                &a,
                now_ms()
            )
            .is_err());
        let (r, ev) = d
            .apply(
                Change::AddMember {
                    group: g.id.clone(),
                    user: u.id.clone(),
                },
                &a,
                now_ms(),
            )
            .unwrap();
        assert_eq!((r, ev.len()), (Applied::Membership { changed: false }, 0));
        let (_, ev) = d
            .apply(Change::DeleteUser { user: u.id.clone() }, &a, now_ms())
            .unwrap();
        assert_eq!(
            types(&ev),
            [
                "user.lifecycle.deactivate",
                "user.lifecycle.delete.initiated"
            ]
        );
        assert!(d.snapshot().members(&g.id).is_empty());
    }

    #[test]
    fn paging_skips_deprovisioned_unless_filtered() {
        let mut d = Directory::new(Some(2), now_ms());
        let a = actor();
        for i in 0..5 {
            let status = (i == 2).then_some(UserStatus::Deprovisioned);
            d.apply(
                Change::CreateUser(NewUser {
                    profile: profile(&format!("u{i}@example.com")),
                    status,
                    group_ids: vec![],
                }),
                &a,
                now_ms(),
            )
            .unwrap();
        }
        let mut q = UserQuery {
            limit: 2,
            ..UserQuery::default()
        };
        let mut seen = Vec::new();
        loop {
            let p = d.list_users(&q);
            assert!(p.items.len() <= 2);
            seen.extend(p.items.into_iter().map(|u| u.id));
            match p.next {
                Some(n) => q.after = Some(n),
                None => break,
            }
        }
        assert_eq!(seen.len(), 4);
        let all = d.list_users(&UserQuery {
            filter: Some(crate::filter::parse(r#"status eq "DEPROVISIONED""#).unwrap()),
            limit: 200,
            ..UserQuery::default()
        });
        assert_eq!(all.items.len(), 1);
    }
}
