//! Reading the org for the initial sync: all users that are not deactivated (Okta leaves
//! DEPROVISIONED users out of an unfiltered list), or the members of the scope groups; the
//! groups; and each group's members — 200 a page, cursor paging (`docs/okta-api.md`).

use std::collections::{BTreeMap, BTreeSet};

use super::{Okta, OktaError};
use crate::okta_api::{OktaGroup, OktaUser, Page};

/// The page size the Users and Groups APIs allow at most.
pub const PAGE: &str = "200";

/// A user as read.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotUser {
    pub okta_id: String,
    pub status: String,
    pub login: String,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub title: Option<String>,
    pub display_name: Option<String>,
}

impl SnapshotUser {
    pub(crate) fn from(u: &OktaUser) -> SnapshotUser {
        let s = |k: &str| u.profile_str(k).map(str::to_string);
        SnapshotUser {
            okta_id: u.id.clone(),
            status: u.status.clone(),
            login: s("login").unwrap_or_else(|| u.id.clone()),
            email: s("email"),
            first_name: s("firstName"),
            last_name: s("lastName"),
            title: s("title"),
            display_name: s("displayName"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotGroup {
    pub okta_id: String,
    pub name: String,
    pub description: Option<String>,
    /// Members' Okta ids (only users in the snapshot).
    pub members: Vec<String>,
}

/// What the org holds, as far as the bridge syncs it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrgSnapshot {
    pub users: Vec<SnapshotUser>,
    pub groups: Vec<SnapshotGroup>,
}

/// Where a read stands (`done` pages of users or groups read so far).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub users: usize,
    pub groups: usize,
    pub pages: usize,
}

impl Okta {
    /// Reads the org (or its scope groups) into a snapshot, calling `progress` after each page.
    pub async fn read_org(
        &self,
        mut progress: impl FnMut(Progress) + Send,
    ) -> Result<OrgSnapshot, OktaError> {
        let row = self.load().await?.ok_or(OktaError::NotConfigured)?;
        let scope = row.scope_group_ids();
        let mut done = Progress {
            users: 0,
            groups: 0,
            pages: 0,
        };
        let mut users: BTreeMap<String, SnapshotUser> = BTreeMap::new();
        let mut groups: Vec<OktaGroup> = Vec::new();
        if scope.is_empty() {
            self.each_page::<OktaUser>("/api/v1/users", |page| {
                for u in page {
                    users.insert(u.id.clone(), SnapshotUser::from(u));
                }
                done.users = users.len();
                done.pages += 1;
                progress(done);
            })
            .await?;
            self.each_page::<OktaGroup>("/api/v1/groups", |page| {
                groups.extend(page.iter().cloned());
                done.groups = groups.len();
                done.pages += 1;
                progress(done);
            })
            .await?;
        } else {
            for id in &scope {
                let path = format!("/api/v1/groups/{id}");
                let group = self.group(&path).await?;
                groups.push(group);
                done.groups = groups.len();
                progress(done);
            }
        }
        let mut out = Vec::new();
        for g in &groups {
            let mut members = BTreeSet::new();
            let in_scope = !scope.is_empty();
            self.each_page::<OktaUser>(&format!("/api/v1/groups/{}/users", g.id), |page| {
                for u in page {
                    if in_scope && u.status != "DEPROVISIONED" {
                        users
                            .entry(u.id.clone())
                            .or_insert_with(|| SnapshotUser::from(u));
                    }
                    members.insert(u.id.clone());
                }
                done.users = users.len();
                done.pages += 1;
                progress(done);
            })
            .await?;
            out.push(SnapshotGroup {
                okta_id: g.id.clone(),
                name: g.profile.name.clone(),
                description: g.profile.description.clone(),
                members: members
                    .into_iter()
                    .filter(|m| users.contains_key(m))
                    .collect(),
            });
        }
        Ok(OrgSnapshot {
            users: users.into_values().collect(),
            groups: out,
        })
    }

    /// One group by its path (`/api/v1/groups/{id}`), refreshing once on `401`.
    async fn group(&self, path: &str) -> Result<OktaGroup, OktaError> {
        self.get_one(path).await
    }

    /// Every page of `path` (200 a page), each handed to `each`.
    pub(crate) async fn each_page<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        mut each: impl FnMut(&[T]),
    ) -> Result<(), OktaError> {
        let mut page: Page<T> = self.first_page(path, &[("limit", PAGE)]).await?;
        loop {
            each(&page.items);
            match page.next.take() {
                Some(next) => page = self.next_page(&next).await?,
                None => return Ok(()),
            }
        }
    }
}

/// Pages of groups the mapping form lists at most (200 each).
const FORM_GROUP_PAGES: usize = 5;

impl Okta {
    /// The org's groups for the mapping form, by name (at most 1,000: the form also takes a
    /// typed name).
    pub async fn group_names(&self) -> Result<Vec<String>, OktaError> {
        let mut page = self
            .first_page::<OktaGroup>("/api/v1/groups", &[("limit", PAGE)])
            .await?;
        let mut names: Vec<String> = page.items.drain(..).map(|g| g.profile.name).collect();
        let mut pages = 1;
        while let Some(next) = page.next.take() {
            if pages >= FORM_GROUP_PAGES {
                break;
            }
            page = self.next_page::<OktaGroup>(&next).await?;
            names.extend(page.items.drain(..).map(|g| g.profile.name));
            pages += 1;
        }
        names.sort_by_key(|n| n.to_lowercase());
        names.dedup();
        Ok(names)
    }
}
