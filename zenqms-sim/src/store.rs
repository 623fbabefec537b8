//! The tenant's data in memory and every rule about it: uniqueness of emails (without
//! regard to case) and external ids, role assignment, search, paging, seeding.
//!
//! Users are never deleted (the API disables them), so they live in a `Vec` in creation
//! order, which is the order of every listing; indexes map ids, lower-cased emails and
//! external ids to positions.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::error::{FieldError, SimError};
use crate::input::{NewUser, SearchQuery, UserPatch};
use crate::model::{next_update, DeletedRole, Id, NewRole, Page, Role, StateSnapshot, User};
use crate::seed::{Seed, SeedOutcome};

/// First generated user id, as `1001` or `"u-1001"`.
const FIRST_USER_ID: u64 = 1001;

#[derive(Clone, Debug, Default)]
pub(crate) struct Store {
    string_ids: bool,
    next_user: u64,
    next_role: u64,
    users: Vec<User>,
    roles: Vec<Role>,
    by_id: HashMap<String, usize>,
    by_email: HashMap<String, usize>,
    by_external_id: HashMap<String, usize>,
}

impl Store {
    pub fn new(string_ids: bool) -> Store {
        Store {
            string_ids,
            next_user: FIRST_USER_ID,
            next_role: 1,
            ..Store::default()
        }
    }

    pub fn snapshot(&self) -> StateSnapshot {
        StateSnapshot {
            users: self.users.clone(),
            roles: self.roles.clone(),
        }
    }

    /// The user whose id has this string form (a path segment).
    pub fn user(&self, id: &str) -> Option<&User> {
        self.by_id.get(id).map(|&i| &self.users[i])
    }

    pub fn create_user(
        &mut self,
        new: NewUser,
        role_ids: Vec<Id>,
        id: Option<Id>,
        now: DateTime<Utc>,
    ) -> Result<User, SimError> {
        self.check_unique(&new.email, new.external_id.as_deref(), None)?;
        self.check_roles(&role_ids)?;
        let id = id.unwrap_or_else(|| self.generate_user_id());
        let user = User {
            id,
            email: new.email,
            first_name: new.first_name,
            last_name: new.last_name,
            title: new.title,
            site: new.site,
            supervisor_email: new.supervisor_email,
            external_id: new.external_id,
            status: new.status,
            role_ids: dedup(role_ids),
            created_at: now,
            updated_at: now,
        };
        self.users.push(user.clone());
        self.index(self.users.len() - 1);
        Ok(user)
    }

    pub fn patch_user(
        &mut self,
        id: &str,
        patch: UserPatch,
        now: DateTime<Utc>,
    ) -> Result<User, SimError> {
        let i = self.position(id)?;
        let mut user = self.users[i].clone();
        if let Some(email) = patch.email {
            user.email = email;
        }
        if let Some(first_name) = patch.first_name {
            user.first_name = first_name;
        }
        if let Some(last_name) = patch.last_name {
            user.last_name = last_name;
        }
        if let Some(title) = patch.title {
            user.title = title;
        }
        if let Some(site) = patch.site {
            user.site = site;
        }
        if let Some(supervisor_email) = patch.supervisor_email {
            user.supervisor_email = supervisor_email;
        }
        if let Some(external_id) = patch.external_id {
            user.external_id = external_id;
        }
        if let Some(status) = patch.status {
            user.status = status;
        }
        self.check_unique(&user.email, user.external_id.as_deref(), Some(i))?;
        Ok(self.commit(i, user, now))
    }

    /// Adds roles; all of them must exist (`422 unknown_role`, nothing added). Holding
    /// a role already is a no-op.
    pub fn add_roles(
        &mut self,
        id: &str,
        role_ids: &[Id],
        now: DateTime<Utc>,
    ) -> Result<User, SimError> {
        let i = self.position(id)?;
        self.check_roles(role_ids)?;
        let mut user = self.users[i].clone();
        for role in role_ids {
            if !user.role_ids.contains(role) {
                user.role_ids.push(role.clone());
            }
        }
        Ok(self.commit(i, user, now))
    }

    /// Removes roles; a role the user lacks (or that does not exist) is a no-op.
    pub fn remove_roles(
        &mut self,
        id: &str,
        role_ids: &[Id],
        now: DateTime<Utc>,
    ) -> Result<User, SimError> {
        let i = self.position(id)?;
        let mut user = self.users[i].clone();
        user.role_ids.retain(|r| !role_ids.contains(r));
        Ok(self.commit(i, user, now))
    }

    /// Filters ANDed: `email` exact without regard to case, `external_id` and `id` exact
    /// (by JSON form), `name` a case-insensitive substring of "first last", `status`.
    pub fn search(&self, q: &SearchQuery) -> Page<User> {
        let email = q.email.as_deref().map(str::to_lowercase);
        let name = q.name.as_deref().map(str::to_lowercase);
        let hits: Vec<User> = self
            .users
            .iter()
            .filter(|u| q.id.as_ref().is_none_or(|id| *id == u.id))
            .filter(|u| email.as_ref().is_none_or(|e| *e == u.email.to_lowercase()))
            .filter(|u| {
                q.external_id
                    .as_ref()
                    .is_none_or(|x| u.external_id.as_ref() == Some(x))
            })
            .filter(|u| q.status.is_none_or(|s| s == u.status))
            .filter(|u| {
                name.as_ref().is_none_or(|n| {
                    format!("{} {}", u.first_name, u.last_name)
                        .to_lowercase()
                        .contains(n.as_str())
                })
            })
            .cloned()
            .collect();
        Page::of(&hits, q.page, q.page_size)
    }

    pub fn roles_page(&self, page: u64, page_size: u64) -> Page<Role> {
        Page::of(&self.roles, page, page_size)
    }

    pub fn add_role(&mut self, new: NewRole) -> Result<Role, SimError> {
        if new.name.trim().is_empty() {
            return Err(SimError::Validation(vec![FieldError::new(
                "name",
                "must not be empty",
            )]));
        }
        if let Some(id) = &new.id {
            if self.roles.iter().any(|r| r.id == *id) {
                return Err(SimError::RoleIdTaken {
                    role_id: id.clone(),
                });
            }
        }
        let id = new.id.unwrap_or_else(|| self.generate_role_id());
        let role = Role {
            id,
            name: new.name,
            description: new.description,
        };
        self.roles.push(role.clone());
        Ok(role)
    }

    /// Deletes the role whose id has this string form and takes it off every user
    /// (as when an admin deletes a role in ZenQMS; `updated_at` is left alone).
    pub fn delete_role(&mut self, id: &str) -> Option<DeletedRole> {
        let pos = self.roles.iter().position(|r| r.id.to_string() == id)?;
        let role = self.roles.remove(pos);
        let mut removed_from_users = Vec::new();
        for user in &mut self.users {
            let before = user.role_ids.len();
            user.role_ids.retain(|r| *r != role.id);
            if user.role_ids.len() != before {
                removed_from_users.push(user.id.clone());
            }
        }
        Some(DeletedRole {
            role,
            removed_from_users,
        })
    }

    /// Applies a seed in place; callers apply it to a copy to keep "whole or nothing".
    pub fn apply_seed(&mut self, seed: Seed, now: DateTime<Utc>) -> Result<SeedOutcome, SimError> {
        let mut outcome = SeedOutcome::default();
        for new in seed.roles {
            let existing = new
                .id
                .as_ref()
                .and_then(|id| self.roles.iter().position(|r| r.id == *id));
            let role = match existing {
                Some(pos) => {
                    let role = &mut self.roles[pos];
                    role.name = new.name;
                    role.description = new.description;
                    role.clone()
                }
                None => self.add_role(new)?,
            };
            outcome.roles.push(role);
        }
        for seed_user in seed.users {
            let new = seed_user.input().into_new_user()?;
            let created_at = seed_user.created_at.unwrap_or(now);
            let updated_at = seed_user.updated_at.unwrap_or(created_at);
            let existing = seed_user
                .id
                .as_ref()
                .and_then(|id| self.by_id.get(&id.to_string()).copied());
            let mut user = match existing {
                Some(i) => {
                    self.check_unique(&new.email, new.external_id.as_deref(), Some(i))?;
                    self.check_roles(&seed_user.role_ids)?;
                    let mut user = self.users[i].clone();
                    user.email = new.email;
                    user.first_name = new.first_name;
                    user.last_name = new.last_name;
                    user.title = new.title;
                    user.site = new.site;
                    user.supervisor_email = new.supervisor_email;
                    user.external_id = new.external_id;
                    user.status = new.status;
                    user.role_ids = dedup(seed_user.role_ids);
                    self.replace(i, user.clone());
                    user
                }
                None => self.create_user(new, seed_user.role_ids, seed_user.id, created_at)?,
            };
            user.created_at = seed_user.created_at.unwrap_or(user.created_at);
            user.updated_at = updated_at.max(user.created_at);
            let i = self.by_id[&user.id.to_string()];
            self.users[i] = user.clone();
            outcome.users.push(user);
        }
        Ok(outcome)
    }

    fn position(&self, id: &str) -> Result<usize, SimError> {
        self.by_id
            .get(id)
            .copied()
            .ok_or_else(|| SimError::user_not_found(id))
    }

    /// Stores `user` at `i`, moving `updated_at` only when something changed.
    fn commit(&mut self, i: usize, mut user: User, now: DateTime<Utc>) -> User {
        if !user.same_content(&self.users[i]) {
            user.updated_at = next_update(user.updated_at, now);
            self.replace(i, user);
        }
        self.users[i].clone()
    }

    fn replace(&mut self, i: usize, user: User) {
        self.unindex(i);
        self.users[i] = user;
        self.index(i);
    }

    fn index(&mut self, i: usize) {
        let user = &self.users[i];
        self.by_id.insert(user.id.to_string(), i);
        self.by_email.insert(user.email.to_lowercase(), i);
        if let Some(x) = &user.external_id {
            self.by_external_id.insert(x.clone(), i);
        }
    }

    fn unindex(&mut self, i: usize) {
        let user = &self.users[i];
        self.by_email.remove(&user.email.to_lowercase());
        if let Some(x) = &user.external_id {
            self.by_external_id.remove(x);
        }
    }

    /// `409` when another user (not the one at `me`) has this email or external id.
    fn check_unique(
        &self,
        email: &str,
        external_id: Option<&str>,
        me: Option<usize>,
    ) -> Result<(), SimError> {
        if let Some(&other) = self.by_email.get(&email.to_lowercase()) {
            if Some(other) != me {
                return Err(SimError::EmailTaken {
                    user_id: self.users[other].id.clone(),
                });
            }
        }
        if let Some(&other) = external_id.and_then(|x| self.by_external_id.get(x)) {
            if Some(other) != me {
                return Err(SimError::ExternalIdTaken {
                    user_id: self.users[other].id.clone(),
                });
            }
        }
        Ok(())
    }

    fn check_roles(&self, role_ids: &[Id]) -> Result<(), SimError> {
        let unknown: Vec<Id> = dedup(
            role_ids
                .iter()
                .filter(|id| !self.roles.iter().any(|r| r.id == **id))
                .cloned()
                .collect(),
        );
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(SimError::UnknownRole { role_ids: unknown })
        }
    }

    fn generate_user_id(&mut self) -> Id {
        loop {
            let n = self.next_user;
            self.next_user += 1;
            let id = if self.string_ids {
                Id::Str(format!("u-{n}"))
            } else {
                Id::Num(n)
            };
            if !self.by_id.contains_key(&id.to_string()) {
                return id;
            }
        }
    }

    fn generate_role_id(&mut self) -> Id {
        loop {
            let n = self.next_role;
            self.next_role += 1;
            let id = if self.string_ids {
                Id::Str(format!("r-{n}"))
            } else {
                Id::Num(n)
            };
            if !self
                .roles
                .iter()
                .any(|r| r.id.to_string() == id.to_string())
            {
                return id;
            }
        }
    }
}

fn dedup(ids: Vec<Id>) -> Vec<Id> {
    let mut out: Vec<Id> = Vec::with_capacity(ids.len());
    for id in ids {
        if !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::user_input;
    use crate::model::{now_ms, Status};
    use crate::seed::SeedUser;
    use serde_json::json;

    fn new_user(email: &str, external_id: Option<&str>) -> NewUser {
        let mut body =
            json!({"email": email, "first_name": "Ada", "last_name": "Lovelace", "title": "QA"});
        if let Some(x) = external_id {
            body["external_id"] = json!(x);
        }
        user_input(&body).unwrap().into_new_user().unwrap()
    }

    fn store_with_roles() -> Store {
        let mut s = Store::new(false);
        s.add_role(NewRole::new(7, "Document Approver", ""))
            .unwrap();
        s.add_role(NewRole::new(12, "Training Coordinator", ""))
            .unwrap();
        s
    }

    #[test]
    fn ids_are_generated_in_order_and_skip_taken_ones() {
        let mut s = Store::new(false);
        let now = now_ms();
        let a = s
            .create_user(new_user("a@x.com", None), vec![], Some(Id::Num(1002)), now)
            .unwrap();
        let b = s
            .create_user(new_user("b@x.com", None), vec![], None, now)
            .unwrap();
        let c = s
            .create_user(new_user("c@x.com", None), vec![], None, now)
            .unwrap();
        assert_eq!(
            (a.id, b.id, c.id),
            (Id::Num(1002), Id::Num(1001), Id::Num(1003))
        );

        let mut s = Store::new(true);
        let u = s
            .create_user(new_user("a@x.com", None), vec![], None, now)
            .unwrap();
        assert_eq!(u.id, Id::from("u-1001"));
        assert!(s.user("u-1001").is_some());
        assert_eq!(
            s.add_role(NewRole {
                name: "R".into(),
                ..NewRole::default()
            })
            .unwrap()
            .id,
            Id::from("r-1")
        );
    }

    #[test]
    fn uniqueness() {
        let mut s = Store::new(false);
        let now = now_ms();
        let a = s
            .create_user(new_user("Ada@X.com", Some("00u1")), vec![], None, now)
            .unwrap();
        let err = s
            .create_user(new_user("ada@x.COM", None), vec![], None, now)
            .unwrap_err();
        assert!(matches!(err, SimError::EmailTaken { user_id } if user_id == a.id));
        let err = s
            .create_user(new_user("b@x.com", Some("00u1")), vec![], None, now)
            .unwrap_err();
        assert!(matches!(err, SimError::ExternalIdTaken { user_id } if user_id == a.id));

        // Changing one's own email's case is not a clash; the old email is free after a change.
        let patch = UserPatch {
            email: Some("ADA@x.com".into()),
            ..UserPatch::default()
        };
        s.patch_user("1001", patch, now).unwrap();
        let patch = UserPatch {
            email: Some("ada2@x.com".into()),
            ..UserPatch::default()
        };
        s.patch_user("1001", patch, now).unwrap();
        s.create_user(new_user("ada@x.com", None), vec![], None, now)
            .unwrap();
    }

    #[test]
    fn updated_at_moves_only_on_change() {
        let mut s = store_with_roles();
        let now = now_ms();
        let u = s
            .create_user(new_user("a@x.com", None), vec![], None, now)
            .unwrap();
        let same = s.add_roles("1001", &[], now).unwrap();
        assert_eq!(same.updated_at, u.updated_at);
        let added = s.add_roles("1001", &[Id::Num(7)], now).unwrap();
        assert!(added.updated_at > u.updated_at);
        let again = s.add_roles("1001", &[Id::Num(7)], now).unwrap();
        assert_eq!(again.updated_at, added.updated_at);
        let removed = s
            .remove_roles("1001", &[Id::Num(12), Id::Num(99)], now)
            .unwrap();
        assert_eq!(removed.updated_at, added.updated_at);
        let patch = UserPatch {
            title: Some("QA".into()),
            ..UserPatch::default()
        };
        assert_eq!(
            s.patch_user("1001", patch, now).unwrap().updated_at,
            added.updated_at
        );
    }

    #[test]
    fn unknown_roles_add_nothing() {
        let mut s = store_with_roles();
        let now = now_ms();
        s.create_user(new_user("a@x.com", None), vec![], None, now)
            .unwrap();
        let err = s
            .add_roles("1001", &[Id::Num(7), Id::from("7"), Id::Num(99)], now)
            .unwrap_err();
        assert!(
            matches!(&err, SimError::UnknownRole { role_ids } if *role_ids == vec![Id::from("7"), Id::Num(99)])
        );
        assert!(s.user("1001").unwrap().role_ids.is_empty());
        assert!(matches!(
            s.add_roles("1", &[], now),
            Err(SimError::NotFound(_))
        ));
    }

    #[test]
    fn search_filters() {
        let mut s = Store::new(false);
        let now = now_ms();
        for (email, x) in [
            ("ada@x.com", Some("00u1")),
            ("bob@x.com", None),
            ("cy@x.com", None),
        ] {
            s.create_user(new_user(email, x), vec![], None, now)
                .unwrap();
        }
        let patch = UserPatch {
            status: Some(Status::Disabled),
            last_name: Some("Byron".into()),
            ..UserPatch::default()
        };
        s.patch_user("1002", patch, now).unwrap();
        let q = |f: fn(&mut SearchQuery)| {
            let mut q = SearchQuery {
                page: 1,
                page_size: 100,
                ..SearchQuery::default()
            };
            f(&mut q);
            s.search(&q)
                .data
                .into_iter()
                .map(|u| u.id.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(q(|q| q.email = Some("ADA@X.COM".into())), ["1001"]);
        assert_eq!(q(|q| q.external_id = Some("00u1".into())), ["1001"]);
        assert_eq!(
            q(|q| q.external_id = Some("00U1".into())),
            Vec::<String>::new()
        );
        assert_eq!(q(|q| q.id = Some(Id::Num(1003))), ["1003"]);
        assert_eq!(q(|q| q.id = Some(Id::from("1003"))), Vec::<String>::new());
        assert_eq!(q(|q| q.status = Some(Status::Disabled)), ["1002"]);
        assert_eq!(q(|q| q.name = Some("ADA LOVE".into())), ["1001", "1003"]);
        assert_eq!(q(|q| q.name = Some("a by".into())), ["1002"]);
        assert_eq!(
            q(|q| {
                q.name = Some("lovelace".into());
                q.email = Some("cy@x.com".into());
            }),
            ["1003"]
        );
        let page = s.search(&SearchQuery {
            page: 2,
            page_size: 2,
            ..SearchQuery::default()
        });
        assert_eq!((page.data.len(), page.total), (1, 3));
    }

    #[test]
    fn deleting_a_role_takes_it_off_users() {
        let mut s = store_with_roles();
        let now = now_ms();
        s.create_user(
            new_user("a@x.com", None),
            vec![Id::Num(7), Id::Num(12)],
            None,
            now,
        )
        .unwrap();
        s.create_user(new_user("b@x.com", None), vec![Id::Num(12)], None, now)
            .unwrap();
        let deleted = s.delete_role("7").unwrap();
        assert_eq!(deleted.removed_from_users, vec![Id::Num(1001)]);
        assert_eq!(s.user("1001").unwrap().role_ids, vec![Id::Num(12)]);
        assert_eq!(s.roles_page(1, 100).total, 1);
        assert!(s.delete_role("7").is_none());
    }

    #[test]
    fn seeds_merge() {
        let mut s = store_with_roles();
        let now = now_ms();
        let seed = Seed {
            roles: vec![NewRole::new(7, "Approver", "renamed")],
            users: vec![SeedUser {
                id: Some(Id::Num(5)),
                role_ids: vec![Id::Num(7)],
                ..SeedUser::new("a@x.com", "A", "B", "T")
            }],
        };
        let out = s.apply_seed(seed, now).unwrap();
        assert_eq!(out.users[0].id, Id::Num(5));
        assert_eq!(s.roles_page(1, 100).data[0].name, "Approver");
        let replace = Seed {
            users: vec![SeedUser {
                id: Some(Id::Num(5)),
                ..SeedUser::new("A@x.com", "A", "C", "T")
            }],
            ..Seed::default()
        };
        s.apply_seed(replace, now).unwrap();
        assert_eq!(s.user("5").unwrap().last_name, "C");
        assert!(s.user("5").unwrap().role_ids.is_empty());
        let clash = Seed {
            users: vec![SeedUser::new("a@X.com", "A", "B", "T")],
            ..Seed::default()
        };
        assert!(matches!(
            s.apply_seed(clash, now),
            Err(SimError::EmailTaken { .. })
        ));
        let bad_role = Seed {
            users: vec![SeedUser {
                role_ids: vec![Id::Num(99)],
                ..SeedUser::new("z@x.com", "Z", "Z", "T")
            }],
            ..Seed::default()
        };
        assert!(matches!(
            s.apply_seed(bad_role, now),
            Err(SimError::UnknownRole { .. })
        ));
    }
}
