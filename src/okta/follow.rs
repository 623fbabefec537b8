//! Following one Okta user or one Okta group: bring the directory level with its **current**
//! state in the Okta API. Event hooks and the periodic re-read both call it; neither trusts an
//! event's content (Okta's events are notifications, not state, and arrive late, twice or out
//! of order — `docs/okta-api.md`), so a re-read converges whatever the order.
//!
//! - [`Follower::follow_user`] reads `GET /api/v1/users/{id}` and `/users/{id}/groups`. A user
//!   Okta no longer has (`404`) is disabled. The scope (`scope_group_ids`; empty: the whole
//!   org) decides: a user in scope is written (created, updated — status ACTIVE, PROVISIONED,
//!   STAGED, RECOVERY, PASSWORD_EXPIRED and LOCKED_OUT are active, SUSPENDED and DEPROVISIONED
//!   disabled) with the same profile as the initial sync (`import::profile`) and made a member
//!   of exactly its Okta groups the directory mirrors (a group not yet in the directory is
//!   written first, when it is one the bridge mirrors); a user outside it is disabled when the
//!   directory has it (it left the scope) and ignored otherwise.
//! - [`Follower::follow_group`] reads `GET /api/v1/groups/{id}` and its members. A group Okta
//!   no longer has is deleted from the directory. A mirrored group (every group, or a scope
//!   group, or one the directory already has by this Okta id) is written with exactly its
//!   members; its members unknown to the directory are followed (they entered the scope), and
//!   with a scope, so are the members who left it (they may have left the scope).
//!
//! - [`Follower::follow_listed_user`] and [`Follower::follow_listed_group`] do the same from
//!   an object an Okta list just returned (the periodic re-read): the user or group is not
//!   read again, and a user's groups only when they decide something.
//!
//! Every write goes through `directory::external`, so the outbox, the audit trail, the role
//! mappings and the reconciler do the ZenQMS side exactly as for a SCIM push — there is no
//! other path to ZenQMS. A write that changes a user releases a Standard initial sync's hold on
//! it ("not touched until Okta changes them", `outbox::enqueue_changed_users`), so a user Okta
//! assigns after a Standard sync is created under the full rules; a re-read that finds nothing
//! changed writes and enqueues nothing.

use std::collections::HashSet;

use super::reader::SnapshotUser;
use super::{Okta, OktaError};
use crate::directory::external::{self, ExternalGroup, Upsert};
use crate::directory::{Actor, Directory, DirectoryError};
use crate::initial_sync::source::OrgUser;
use crate::okta_api::{ErrorCode, OktaApiError, OktaGroup, OktaUser};

/// What following a user or a group did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Followed {
    /// The directory holds what Okta holds; `changed` when this wrote anything.
    Applied { changed: bool },
    /// The user was disabled: Okta no longer has it, or it left the scope (`changed` false
    /// when it already was disabled).
    Disabled { changed: bool },
    /// The group is gone from Okta, and now from the directory.
    Deleted { changed: bool },
    /// Nothing to do, and why: outside the scope and unknown to the directory, or not an Okta id.
    Ignored(String),
    /// The directory refused the write, and why (a `userName` or group name that belongs to a
    /// record linked to another Okta id: reported, never guessed).
    Refused(String),
}

impl Followed {
    /// Whether the directory changed.
    pub fn changed(&self) -> bool {
        matches!(
            self,
            Followed::Applied { changed: true }
                | Followed::Disabled { changed: true }
                | Followed::Deleted { changed: true }
        )
    }

    /// Whether the user or group is one the bridge follows (applied, disabled or deleted),
    /// as opposed to ignored or refused — how event counters count it.
    pub fn applied(&self) -> bool {
        !matches!(self, Followed::Ignored(_) | Followed::Refused(_))
    }
}

/// Following failed; nothing half-done is left (each directory write is its own transaction,
/// and following again converges).
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error(transparent)]
    Okta(#[from] OktaError),
    #[error("writing into the directory: {0}")]
    Directory(#[from] DirectoryError),
}

impl FollowError {
    /// Worth trying again later as it is (Okta or the database unreachable, busy, a `5xx`,
    /// the token refresh held by another process).
    pub fn is_transient(&self) -> bool {
        match self {
            FollowError::Okta(OktaError::Okta(api)) => api.is_transient(),
            FollowError::Okta(OktaError::Busy) => true,
            FollowError::Okta(OktaError::Store(s)) => s.is_unavailable() || s.is_contention(),
            FollowError::Okta(_) => false,
            FollowError::Directory(DirectoryError::Busy) => true,
            FollowError::Directory(DirectoryError::Store(s)) => {
                s.is_unavailable() || s.is_contention()
            }
            FollowError::Directory(e) => e.is_contention(),
        }
    }
}

/// The Okta connection and the directory, to follow users and groups (built once by
/// `server.rs`; the event-hook processor and the periodic re-read share it).
#[derive(Clone)]
pub struct Follower {
    okta: Okta,
    directory: Directory,
}

/// Okta ids are short and alphanumeric (`00u…`, `00g…`); anything else is not followed (an
/// event's target is input).
fn is_okta_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric())
}

fn is_not_found(e: &OktaError) -> bool {
    matches!(
        e,
        OktaError::Okta(OktaApiError::Api {
            code: ErrorCode::NotFound,
            ..
        })
    )
}

impl Follower {
    pub fn new(okta: Okta, directory: Directory) -> Follower {
        Follower { okta, directory }
    }

    pub fn okta(&self) -> &Okta {
        &self.okta
    }

    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// The scope groups (empty: the whole org).
    async fn scope(&self) -> Result<HashSet<String>, FollowError> {
        let row = self.okta.load().await?.ok_or(OktaError::NotConfigured)?;
        Ok(row.scope_group_ids().into_iter().collect())
    }

    /// Brings the directory level with the Okta user `okta_user_id` as Okta holds it now.
    /// `actor` names the cause in the audit trail (`event-hook`, `okta-resync`).
    pub async fn follow_user(
        &self,
        okta_user_id: &str,
        actor: &str,
    ) -> Result<Followed, FollowError> {
        if !is_okta_id(okta_user_id) {
            return Ok(Followed::Ignored(format!(
                "{okta_user_id:?} is not an Okta user id"
            )));
        }
        let scope = self.scope().await?;
        let path = format!("/api/v1/users/{okta_user_id}");
        // The user and its groups at once: two Okta round trips in the time of one (the
        // groups call of a user Okta no longer has fails too, and is not looked at).
        let (user, groups) = tokio::join!(
            self.okta.get_one::<OktaUser>(&path),
            self.groups_of(okta_user_id)
        );
        let user: OktaUser = match user {
            Ok(u) => u,
            Err(e) if is_not_found(&e) => {
                return self
                    .disable(okta_user_id, actor, "Okta no longer has this user")
                    .await
            }
            Err(e) => return Err(e.into()),
        };
        let groups = groups?;
        self.apply_user(&user, Some(&groups), &scope, actor).await
    }

    /// Brings the directory level with `user` as an Okta list just returned it (the re-read's
    /// `GET /api/v1/users?filter=lastUpdated gt …`): the listed object is the user's current
    /// profile and status, so it is not read again, and its groups are read only when they
    /// decide something — when the directory does not have the user (created with its
    /// memberships, if in scope; a deactivated one is not created and costs no call), or when
    /// the directory shows it in none of the scope groups (it may have entered the scope).
    /// Otherwise (the whole org is the scope, or the directory has it in a scope group) only
    /// its profile and status are written, and its memberships are left to the re-read's
    /// group pass: a membership change moves the group's `lastMembershipUpdated`, not the
    /// user's `lastUpdated`, and a user who left a scope group is followed in full from there.
    pub async fn follow_listed_user(
        &self,
        user: &OktaUser,
        actor: &str,
    ) -> Result<Followed, FollowError> {
        if !is_okta_id(&user.id) {
            return Ok(Followed::Ignored(format!(
                "{:?} is not an Okta user id",
                user.id
            )));
        }
        let scope = self.scope().await?;
        let uid = user.id.clone();
        let in_directory = self
            .directory
            .read(move |c| external::user_group_external_ids(c, &uid))
            .await
            .map_err(DirectoryError::from)?;
        let groups = match in_directory {
            Some(g) if scope.is_empty() || g.iter().any(|id| scope.contains(id)) => None,
            None if user.status == "DEPROVISIONED" => {
                // As the initial sync: a deactivated user the directory never had is not created.
                return Ok(Followed::Ignored(
                    "deactivated in Okta and not in the directory".into(),
                ));
            }
            _ => Some(self.groups_of(&user.id).await?),
        };
        self.apply_user(user, groups.as_deref(), &scope, actor)
            .await
    }

    /// Writes `user` as Okta holds it: with its `groups` (all of them) the scope is judged
    /// and its memberships set; without, its profile and status only (the caller knows it
    /// is in scope).
    async fn apply_user(
        &self,
        user: &OktaUser,
        groups: Option<&[OktaGroup]>,
        scope: &HashSet<String>,
        actor: &str,
    ) -> Result<Followed, FollowError> {
        let okta_user_id = user.id.as_str();
        if let Some(groups) = groups {
            let in_scope = scope.is_empty() || groups.iter().any(|g| scope.contains(&g.id));
            if !in_scope {
                return self
                    .disable(
                        okta_user_id,
                        actor,
                        "the user is in none of the scope groups",
                    )
                    .await;
            }
        }
        let known = self.is_known(okta_user_id).await?;
        if !known && user.status == "DEPROVISIONED" {
            // As the initial sync: a deactivated user the directory never had is not created.
            return Ok(Followed::Ignored(
                "deactivated in Okta and not in the directory".into(),
            ));
        }
        let profile = super::import::profile(&OrgUser::from(&SnapshotUser::from(user)));
        let name = actor.to_string();
        let upserted = self
            .directory
            .write(move |c| external::upsert_user(c, Actor::okta(&name), &profile))
            .await?;
        let mut changed = match upserted.value {
            Upsert::Created(_) | Upsert::Updated(_) => true,
            Upsert::Unchanged(_) => false,
            Upsert::Refused(why) => {
                tracing::warn!(
                    okta_id = okta_user_id,
                    why,
                    "Okta user not written into the directory"
                );
                return Ok(Followed::Refused(why));
            }
        };
        if let Some(groups) = groups {
            changed |= self.set_groups(okta_user_id, groups, scope, actor).await?;
        }
        tracing::debug!(
            okta_id = okta_user_id,
            changed,
            "Okta user followed into the directory"
        );
        Ok(Followed::Applied { changed })
    }

    /// Brings the directory level with the Okta group `okta_group_id` as Okta holds it now:
    /// the group, its name and its members (see the module's doc). `actor` as for users.
    pub async fn follow_group(
        &self,
        okta_group_id: &str,
        actor: &str,
    ) -> Result<Followed, FollowError> {
        if !is_okta_id(okta_group_id) {
            return Ok(Followed::Ignored(format!(
                "{okta_group_id:?} is not an Okta group id"
            )));
        }
        let path = format!("/api/v1/groups/{okta_group_id}");
        let group: OktaGroup = match self.okta.get_one(&path).await {
            Ok(g) => g,
            Err(e) if is_not_found(&e) => {
                let (name, gid) = (actor.to_string(), okta_group_id.to_string());
                let deleted = self
                    .directory
                    .write(move |c| external::delete_group(c, Actor::okta(&name), &gid))
                    .await?;
                return Ok(Followed::Deleted {
                    changed: deleted.value,
                });
            }
            Err(e) => return Err(e.into()),
        };
        self.follow_listed_group(&group, actor).await
    }

    /// Brings the directory level with `group` as an Okta list just returned it (the
    /// re-read's `GET /api/v1/groups?filter=…`): its record is not read again, its members are.
    pub async fn follow_listed_group(
        &self,
        group: &OktaGroup,
        actor: &str,
    ) -> Result<Followed, FollowError> {
        let okta_group_id = group.id.as_str();
        if !is_okta_id(okta_group_id) {
            return Ok(Followed::Ignored(format!(
                "{okta_group_id:?} is not an Okta group id"
            )));
        }
        let scope = self.scope().await?;
        let gid = okta_group_id.to_string();
        let known = self
            .directory
            .read(move |c| external::group_id_by_external_id(c, &gid))
            .await
            .map_err(DirectoryError::from)?
            .is_some();
        if !(scope.is_empty() || scope.contains(okta_group_id) || known) {
            return Ok(Followed::Ignored(
                "a group outside the scope groups, unknown to the directory".into(),
            ));
        }
        let mut changed = match self.write_group(group, actor).await? {
            Ok(c) => c,
            Err(why) => return Ok(Followed::Refused(why)),
        };
        let mut members: Vec<OktaUser> = Vec::new();
        self.okta
            .each_page::<OktaUser>(&format!("/api/v1/groups/{okta_group_id}/users"), |page| {
                members.extend(page.iter().cloned())
            })
            .await?;
        let gid = okta_group_id.to_string();
        let before: HashSet<String> = self
            .directory
            .read(move |c| external::member_external_ids(c, &gid))
            .await
            .map_err(DirectoryError::from)?
            .into_iter()
            .collect();
        let ids: Vec<String> = members.iter().map(|u| u.id.clone()).collect();
        let (name, gid, list) = (actor.to_string(), okta_group_id.to_string(), ids.clone());
        let written = self
            .directory
            .write(move |c| external::set_group_members(c, Actor::okta(&name), &gid, &list, None))
            .await?;
        changed |= written.value.added + written.value.removed > 0;
        // Members the directory does not have yet entered the scope (or were never read);
        // with a scope, members who left this group may have left the scope, and members who
        // joined a scope group may be entering it again (a user disabled when it left, whose
        // own record in Okta has not changed since, so only this group shows it).
        let now: HashSet<&str> = ids.iter().map(String::as_str).collect();
        let mut follow: Vec<String> = written.value.unknown;
        if !scope.is_empty() {
            if scope.contains(okta_group_id) {
                let joined = ids
                    .iter()
                    .filter(|m| !before.contains(*m) && !follow.contains(m))
                    .cloned()
                    .collect::<Vec<_>>();
                follow.extend(joined);
            }
            follow.extend(before.into_iter().filter(|m| !now.contains(m.as_str())));
        }
        for user in follow {
            changed |= self.follow_user(&user, actor).await?.changed();
        }
        Ok(Followed::Applied { changed })
    }

    /// The group's name in the directory; `Err(why)` when a group linked to another Okta id
    /// holds the name.
    async fn write_group(
        &self,
        group: &OktaGroup,
        actor: &str,
    ) -> Result<Result<bool, String>, FollowError> {
        let g = ExternalGroup {
            external_id: group.id.clone(),
            display_name: group.profile.name.clone(),
        };
        let name = actor.to_string();
        match self
            .directory
            .write(move |c| external::upsert_group(c, Actor::okta(&name), &g))
            .await
        {
            Ok(w) => Ok(Ok(!matches!(w.value, Upsert::Unchanged(_)))),
            Err(DirectoryError::Conflict(why)) => {
                tracing::warn!(okta_id = %group.id, why, "Okta group not written into the directory");
                Ok(Err(why))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Makes the user a member of exactly its Okta groups that the directory mirrors, writing
    /// first the mirrored groups the directory does not have yet. Whether anything changed.
    async fn set_groups(
        &self,
        okta_user_id: &str,
        groups: &[OktaGroup],
        scope: &HashSet<String>,
        actor: &str,
    ) -> Result<bool, FollowError> {
        let ids: Vec<String> = groups.iter().map(|g| g.id.clone()).collect();
        let mut written = self.write_memberships(okta_user_id, &ids, actor).await?;
        let mut changed = written.added + written.removed > 0;
        let missing: Vec<&OktaGroup> = groups
            .iter()
            .filter(|g| written.unknown.contains(&g.id))
            .filter(|g| scope.is_empty() || scope.contains(&g.id))
            .collect();
        if missing.is_empty() {
            return Ok(changed);
        }
        for g in missing {
            changed |= self.write_group(g, actor).await?.unwrap_or(false);
        }
        written = self.write_memberships(okta_user_id, &ids, actor).await?;
        Ok(changed || written.added + written.removed > 0)
    }

    async fn write_memberships(
        &self,
        okta_user_id: &str,
        ids: &[String],
        actor: &str,
    ) -> Result<external::Members, FollowError> {
        let (name, uid, ids) = (actor.to_string(), okta_user_id.to_string(), ids.to_vec());
        Ok(self
            .directory
            .write(move |c| external::set_user_groups(c, Actor::okta(&name), &uid, &ids))
            .await?
            .value)
    }

    async fn is_known(&self, okta_user_id: &str) -> Result<bool, FollowError> {
        let uid = okta_user_id.to_string();
        Ok(self
            .directory
            .read(move |c| external::user_id_by_external_id(c, &uid))
            .await
            .map_err(DirectoryError::from)?
            .is_some())
    }

    /// Disables the user if the directory has it; ignored otherwise.
    async fn disable(
        &self,
        okta_user_id: &str,
        actor: &str,
        why: &str,
    ) -> Result<Followed, FollowError> {
        let (name, uid) = (actor.to_string(), okta_user_id.to_string());
        let written = self
            .directory
            .write(move |c| external::disable_user(c, Actor::okta(&name), &uid))
            .await?;
        Ok(match written.value {
            None => Followed::Ignored(format!("{why}, and the directory does not have it")),
            Some(Upsert::Refused(why)) => Followed::Refused(why),
            Some(u) => {
                tracing::info!(
                    okta_id = okta_user_id,
                    why,
                    "Okta user disabled in the directory"
                );
                Followed::Disabled {
                    changed: !matches!(u, Upsert::Unchanged(_)),
                }
            }
        })
    }

    /// Every group the Okta user belongs to (`GET /api/v1/users/{id}/groups`, all pages).
    async fn groups_of(&self, okta_user_id: &str) -> Result<Vec<OktaGroup>, FollowError> {
        let mut all = Vec::new();
        self.okta
            .each_page::<OktaGroup>(&format!("/api/v1/users/{okta_user_id}/groups"), |page| {
                all.extend(page.iter().cloned())
            })
            .await?;
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_okta_ids_are_followed() {
        assert!(is_okta_id("00u1abcDEF"));
        assert!(!is_okta_id(""));
        assert!(!is_okta_id("00u1/../groups"));
        assert!(!is_okta_id(&"a".repeat(65)));
    }

    #[test]
    fn applied_and_changed() {
        assert!(Followed::Applied { changed: false }.applied());
        assert!(!Followed::Applied { changed: false }.changed());
        assert!(Followed::Disabled { changed: true }.changed());
        assert!(!Followed::Ignored("x".into()).applied());
        assert!(!Followed::Refused("x".into()).applied());
    }
}
