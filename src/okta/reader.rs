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

/// Group member lists read at once: Okta's buckets count calls per minute, not calls in
/// flight, and each list's pages follow one another by cursor, so a few lists side by side
/// take a few times less latency for the same calls.
const MEMBER_LISTS: usize = 4;

impl Okta {
    /// Reads the org (or its scope groups) into a snapshot, calling `progress` after each page.
    /// The user list (the `users` bucket) and the groups with their members (the `groups`
    /// bucket) are read side by side, and [`MEMBER_LISTS`] member lists at a time.
    pub async fn read_org(
        &self,
        progress: impl FnMut(Progress) + Send,
    ) -> Result<OrgSnapshot, OktaError> {
        use futures_util::stream::{self, StreamExt, TryStreamExt};
        let row = self.load().await?.ok_or(OktaError::NotConfigured)?;
        let scope = row.scope_group_ids();
        let in_scope = !scope.is_empty();
        // Pages come from several lists at once; one tally reports them.
        let tally = std::sync::Mutex::new((
            Progress {
                users: 0,
                groups: 0,
                pages: 0,
            },
            progress,
        ));
        let tick = |users: usize, groups: usize| {
            let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
            t.0.users += users;
            t.0.groups += groups;
            t.0.pages += 1;
            let done = t.0;
            (t.1)(done);
        };
        let tick = &tick;
        let user_list = async {
            let mut all = Vec::new();
            if !in_scope {
                self.each_page::<OktaUser>("/api/v1/users", |page| {
                    all.extend(page.iter().map(SnapshotUser::from));
                    tick(page.len(), 0);
                })
                .await?;
            }
            Ok::<_, OktaError>(all)
        };
        let groups_and_members = async {
            let mut groups: Vec<OktaGroup> = Vec::new();
            if in_scope {
                for id in &scope {
                    let path = format!("/api/v1/groups/{id}");
                    groups.push(self.group(&path).await?);
                    tick(0, 1);
                }
            } else {
                self.each_page::<OktaGroup>("/api/v1/groups", |page| {
                    groups.extend(page.iter().cloned());
                    tick(0, page.len());
                })
                .await?;
            }
            // Owned paths: a stream over borrowed groups is not `Send` for every lifetime.
            let paths: Vec<String> = groups
                .iter()
                .map(|g| format!("/api/v1/groups/{}/users", g.id))
                .collect();
            let members: Vec<Vec<OktaUser>> = stream::iter(paths)
                .map(|path| async move {
                    let mut members = Vec::new();
                    self.each_page::<OktaUser>(&path, |page| {
                        members.extend(page.iter().cloned());
                        // Members of scope groups are the run's users.
                        tick(if in_scope { page.len() } else { 0 }, 0);
                    })
                    .await?;
                    Ok::<_, OktaError>(members)
                })
                .buffered(MEMBER_LISTS)
                .try_collect()
                .await?;
            Ok::<_, OktaError>((groups, members))
        };
        let (listed, (groups, members)) = tokio::try_join!(user_list, groups_and_members)?;
        let mut users: BTreeMap<String, SnapshotUser> =
            listed.into_iter().map(|u| (u.okta_id.clone(), u)).collect();
        let mut out = Vec::with_capacity(groups.len());
        for (g, list) in groups.iter().zip(members) {
            let mut ids = BTreeSet::new();
            for u in &list {
                if in_scope && u.status != "DEPROVISIONED" {
                    users
                        .entry(u.id.clone())
                        .or_insert_with(|| SnapshotUser::from(u));
                }
                ids.insert(u.id.clone());
            }
            out.push(SnapshotGroup {
                okta_id: g.id.clone(),
                name: g.profile.name.clone(),
                description: g.profile.description.clone(),
                members: ids.into_iter().filter(|m| users.contains_key(m)).collect(),
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
