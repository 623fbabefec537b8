//! Reconciling one directory user: find (or create) its ZenQMS user, then send only what
//! differs. Level-triggered and idempotent: a second run with nothing changed makes no call.
//!
//! Calls per run, in the usual cases:
//! - new user: `POST /v2/users` (1). Both `email` and `external_id` are unique in a tenant,
//!   so a create succeeds exactly when the spec's lookups (by `external_id`, then by email)
//!   would have found nobody; on `409` the holder is looked up and linked. This saves the
//!   two searches that a look-before-create would spend on every new user.
//! - changed user (linked, with the last answer stored): one `PATCH` with the changed fields
//!   (1). The stored answer is the picture diffed against, so no read is needed.
//! - unchanged user: nothing (0).
//!
//! A stale picture is re-read: `404` on a linked id drops the link and looks again; `409`
//! naming the user itself re-reads it; `409` naming someone else fails with a reason.

use super::desired::{unsent, Desired, RolePlan};
use super::directory_view::DirectoryUser;
use super::error::SyncError;
use crate::zenqms::{
    CallCtx, ErrorClass, NewUser, RemoteUser, SearchFilters, UserPatch, WriteStatus, ZenqmsError,
    ZenqmsId,
};

/// The ZenQMS calls the reconciler makes (throttled and pausable in the worker; a fake or
/// the simulator in tests).
#[allow(async_fn_in_trait)]
pub trait Api {
    async fn search(
        &self,
        ctx: CallCtx<'_>,
        f: &SearchFilters,
    ) -> Result<Vec<RemoteUser>, SyncError>;
    async fn create_user(&self, ctx: CallCtx<'_>, u: &NewUser) -> Result<RemoteUser, SyncError>;
    async fn update_user(
        &self,
        ctx: CallCtx<'_>,
        id: &ZenqmsId,
        p: &UserPatch,
    ) -> Result<RemoteUser, SyncError>;
    async fn add_roles(
        &self,
        ctx: CallCtx<'_>,
        id: &ZenqmsId,
        r: &[ZenqmsId],
    ) -> Result<RemoteUser, SyncError>;
    async fn remove_roles(
        &self,
        ctx: CallCtx<'_>,
        id: &ZenqmsId,
        r: &[ZenqmsId],
    ) -> Result<RemoteUser, SyncError>;
}

/// Another directory user linked to a ZenQMS user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub user_id: String,
    pub user_name: String,
    pub deleted: bool,
}

/// Who else holds a link (the bridge's own table).
#[allow(async_fn_in_trait)]
pub trait Links {
    async fn owner_of(&self, id: &ZenqmsId, except: &str) -> Result<Option<Owner>, SyncError>;
}

/// The stored link of a directory user.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub id: ZenqmsId,
    /// The ZenQMS user as the last call answered; `None` forces a read.
    pub seen: Option<RemoteUser>,
}

#[derive(Debug)]
pub enum Outcome {
    /// ZenQMS matches the directory (or there is nothing to do); `note` says what is odd.
    Synced { note: Option<String> },
    /// A required field is missing: retried when a push supplies it.
    Skipped { reason: String },
    /// Needs a change in the directory or an admin's retry.
    Failed { reason: String },
    /// Try again later (backoff, `Retry-After`, pause).
    Retry { error: SyncError },
}

#[derive(Debug)]
pub struct Run {
    /// The link after the run (a new one, the old one, or none), with the last answer.
    pub link: Option<Link>,
    pub outcome: Outcome,
    /// A SCIM-deleted directory user whose link this run took over.
    pub took_over_from: Option<String>,
    /// Calls made (for the benchmark's calls per user, and the tests).
    pub calls: u32,
}

/// How often a run may start again after learning its picture was stale.
const MAX_RESTARTS: usize = 3;

pub async fn reconcile<A: Api, L: Links>(
    api: &A,
    links: &L,
    user: &DirectoryUser,
    link: Option<Link>,
    default_title: Option<&str>,
    roles: Option<RolePlan>,
) -> Run {
    let desired = Desired::project(user, default_title, roles);
    let mut r = Runner {
        api,
        links,
        me: &user.id,
        desired,
        link,
        took_over_from: None,
        notes: Vec::new(),
        calls: 0,
    };
    let outcome = r.run().await;
    Run {
        link: r.link,
        outcome,
        took_over_from: r.took_over_from,
        calls: r.calls,
    }
}

struct Runner<'a, A, L> {
    api: &'a A,
    links: &'a L,
    me: &'a str,
    desired: Desired,
    link: Option<Link>,
    took_over_from: Option<String>,
    notes: Vec<String>,
    calls: u32,
}

/// What one pass ended in.
enum Pass {
    Done(Outcome),
    /// The picture was stale; start again from what is now known.
    Restart,
}

/// What looking for an unlinked user's ZenQMS account ended in.
enum Found {
    User(RemoteUser),
    Done(Outcome),
}

impl<A: Api, L: Links> Runner<'_, A, L> {
    fn ctx<'b>(&'b self, before: Option<&'b RemoteUser>) -> CallCtx<'b> {
        CallCtx {
            scim_user_id: Some(self.me),
            before,
        }
    }

    async fn run(&mut self) -> Outcome {
        for _ in 0..MAX_RESTARTS {
            match self.pass().await {
                Ok(Pass::Done(outcome)) => return outcome,
                Ok(Pass::Restart) => continue,
                Err(e) => return self.classify(e),
            }
        }
        Outcome::Retry {
            error: SyncError::Inconsistent(
                "ZenQMS's answers kept contradicting the stored picture; will look again".into(),
            ),
        }
    }

    fn classify(&self, e: SyncError) -> Outcome {
        match &e {
            SyncError::Zenqms(z) if z.class() == ErrorClass::Permanent => Outcome::Failed {
                reason: z.to_string(),
            },
            // A conflict or not-found that the passes did not resolve: a person must look.
            SyncError::Zenqms(z) if z.class() == ErrorClass::Stale => Outcome::Failed {
                reason: z.to_string(),
            },
            _ => Outcome::Retry { error: e },
        }
    }

    async fn pass(&mut self) -> Result<Pass, SyncError> {
        let remote = match self.current().await? {
            Some(r) => r,
            None => match self.find_or_create().await? {
                Found::User(r) => r,
                Found::Done(outcome) => return Ok(Pass::Done(outcome)),
            },
        };
        self.converge(remote).await
    }

    /// The linked ZenQMS user: the stored answer, else read by id.
    async fn current(&mut self) -> Result<Option<RemoteUser>, SyncError> {
        let Some(link) = &self.link else {
            return Ok(None);
        };
        if let Some(seen) = &link.seen {
            return Ok(Some(seen.clone()));
        }
        let id = link.id.clone();
        let found = self
            .search(SearchFilters {
                id: Some(id.clone()),
                ..SearchFilters::default()
            })
            .await?;
        match found {
            Some(r) => {
                self.link = Some(Link {
                    id,
                    seen: Some(r.clone()),
                });
                Ok(Some(r))
            }
            None => {
                self.notes.push(format!(
                    "the linked ZenQMS user {id} no longer exists; looked again"
                ));
                self.link = None;
                Ok(None)
            }
        }
    }

    async fn search(&mut self, filters: SearchFilters) -> Result<Option<RemoteUser>, SyncError> {
        self.calls += 1;
        let hits = self.api.search(self.ctx(None), &filters).await?;
        Ok(hits.into_iter().next())
    }

    /// Looks up an unlinked user by `external_id`, then by email.
    async fn lookup(&mut self) -> Result<Option<RemoteUser>, SyncError> {
        if let Some(x) = self.desired.external_id.clone() {
            if let Some(r) = self
                .search(SearchFilters {
                    external_id: Some(x),
                    ..SearchFilters::default()
                })
                .await?
            {
                return Ok(Some(r));
            }
        }
        if let Some(e) = self.desired.email.clone() {
            return self
                .search(SearchFilters {
                    email: Some(e),
                    ..SearchFilters::default()
                })
                .await;
        }
        Ok(None)
    }

    async fn find_or_create(&mut self) -> Result<Found, SyncError> {
        let active = self.desired.status == WriteStatus::Active;
        let mut conflict: Option<ZenqmsError> = None;
        if active {
            if let Some(new) = self.desired.new_user() {
                self.calls += 1;
                match self.api.create_user(self.ctx(None), &new).await {
                    Ok(r) => {
                        self.link = Some(Link {
                            id: r.id.clone(),
                            seen: Some(r.clone()),
                        });
                        return Ok(Found::User(r));
                    }
                    Err(SyncError::Zenqms(e @ ZenqmsError::Conflict { .. })) => conflict = Some(e),
                    Err(e) => return Err(e),
                }
            }
        }
        // The create met a holder (a lost answer of an earlier create, or an account that
        // predates the bridge), or no create was possible: find the account.
        let holder = match &conflict {
            Some(ZenqmsError::Conflict {
                user_id: Some(id), ..
            }) => {
                let id = id.clone();
                match self
                    .search(SearchFilters {
                        id: Some(id),
                        ..SearchFilters::default()
                    })
                    .await?
                {
                    Some(r) => Some(r),
                    None => self.lookup().await?,
                }
            }
            _ => self.lookup().await?,
        };
        match holder {
            Some(r) => self.adopt(r).await,
            None if !active => Ok(Found::Done(Outcome::Synced {
                note: Some("inactive and not in ZenQMS: nothing to create or disable".into()),
            })),
            None if conflict.is_some() => Err(SyncError::Inconsistent(format!(
                "ZenQMS refused the create ({}) but no user matches this email or external_id; will look again",
                conflict.map(|c| c.to_string()).unwrap_or_default()
            ))),
            None => Ok(Found::Done(Outcome::Skipped {
                reason: self.desired.problems_text(),
            })),
        }
    }

    /// Links a ZenQMS user found by external_id or email, unless it is someone else's.
    async fn adopt(&mut self, r: RemoteUser) -> Result<Found, SyncError> {
        let active = self.desired.status == WriteStatus::Active;
        let owner = self.links.owner_of(&r.id, self.me).await?;
        let refusal = match &owner {
            // A SCIM-deleted user's account goes to the directory user that now has its
            // email or Okta id (a re-hire keeps its ZenQMS history).
            Some(o) if o.deleted => None,
            Some(o) => Some(format!(
                "ZenQMS user {} ({}) is already linked to directory user {} ({})",
                r.id, r.email, o.user_name, o.user_id
            )),
            None => match (&r.external_id, &self.desired.external_id) {
                (Some(theirs), Some(ours)) if theirs != ours => Some(format!(
                    "ZenQMS user {} ({}) belongs to another identity: its external_id is {theirs}, this user's externalId is {ours}",
                    r.id, r.email
                )),
                _ => None,
            },
        };
        if let Some(reason) = refusal {
            return Ok(Found::Done(if active {
                Outcome::Failed { reason }
            } else {
                // Nothing of ours to disable; the account is someone else's.
                Outcome::Synced {
                    note: Some(format!("inactive; not linked: {reason}")),
                }
            }));
        }
        if let Some(o) = owner {
            self.notes.push(format!(
                "took over the ZenQMS user of deleted directory user {}",
                o.user_name
            ));
            self.took_over_from = Some(o.user_id);
        }
        self.link = Some(Link {
            id: r.id.clone(),
            seen: Some(r.clone()),
        });
        Ok(Found::User(r))
    }

    /// Sends what differs, then the role changes.
    async fn converge(&mut self, mut remote: RemoteUser) -> Result<Pass, SyncError> {
        let patch = self.desired.patch_against(&remote);
        if !patch.is_empty() {
            remote = match self.update(&remote, &patch).await? {
                Ok(r) => r,
                Err(pass) => return Ok(pass),
            };
            // The answer shows ZenQMS's whole user: a field we did not send that differs
            // from the directory was changed in ZenQMS (drift). Okta is the source of truth.
            let drift = unsent(self.desired.patch_against(&remote), &patch);
            if !drift.is_empty() {
                self.notes.push(format!(
                    "corrected drift in ZenQMS: {}",
                    drift.fields().join(", ")
                ));
                remote = match self.update(&remote, &drift).await? {
                    Ok(r) => r,
                    Err(pass) => return Ok(pass),
                };
            }
        }
        if let Some(plan) = self.desired.roles.clone() {
            remote = self.apply_roles(remote, &plan).await?;
        }
        self.link = Some(Link {
            id: remote.id.clone(),
            seen: Some(remote),
        });
        for p in &self.desired.problems {
            self.notes
                .push(format!("not sent, ZenQMS keeps its value: {p}"));
        }
        Ok(Pass::Done(Outcome::Synced {
            note: (!self.notes.is_empty()).then(|| self.notes.join("; ")),
        }))
    }

    /// One PATCH. `Ok(Err(pass))` when the run must restart or stop.
    async fn update(
        &mut self,
        remote: &RemoteUser,
        patch: &UserPatch,
    ) -> Result<Result<RemoteUser, Pass>, SyncError> {
        self.calls += 1;
        match self
            .api
            .update_user(self.ctx(Some(remote)), &remote.id, patch)
            .await
        {
            Ok(r) => Ok(Ok(r)),
            Err(SyncError::Zenqms(ZenqmsError::NotFound(_))) => {
                self.notes.push(format!(
                    "the linked ZenQMS user {} no longer exists; looked again",
                    remote.id
                ));
                self.link = None;
                Ok(Err(Pass::Restart))
            }
            Err(SyncError::Zenqms(e @ ZenqmsError::Conflict { .. })) => {
                self.conflict(remote, patch, e).await.map(Err)
            }
            Err(SyncError::Zenqms(e @ ZenqmsError::Validation { .. })) => {
                Ok(Err(Pass::Done(Outcome::Failed {
                    reason: format!("{e} (sent: {})", patch.fields().join(", ")),
                })))
            }
            Err(e) => Err(e),
        }
    }

    /// A `409` on PATCH: another user holds the email (or external id) we sent.
    async fn conflict(
        &mut self,
        remote: &RemoteUser,
        patch: &UserPatch,
        e: ZenqmsError,
    ) -> Result<Pass, SyncError> {
        let ZenqmsError::Conflict { user_id, code, .. } = &e else {
            return Err(e.into());
        };
        let holder = match user_id {
            Some(id) => Some(id.clone()),
            None => match patch.email.clone() {
                Some(email) => self
                    .search(SearchFilters {
                        email: Some(email),
                        ..SearchFilters::default()
                    })
                    .await?
                    .map(|r| r.id),
                None => None,
            },
        };
        match holder {
            // It is us: the stored picture is stale. Read it again.
            Some(h) if h == remote.id => {
                if let Some(l) = &mut self.link {
                    l.seen = None;
                }
                Ok(Pass::Restart)
            }
            Some(h) => {
                let what = if code == crate::zenqms::contract::CODE_EMAIL_TAKEN {
                    "email"
                } else {
                    "external_id"
                };
                let value = if what == "email" {
                    patch.email.clone()
                } else {
                    patch.external_id.clone()
                };
                let whose = match self.links.owner_of(&h, self.me).await? {
                    Some(o) => format!("linked to directory user {} ({})", o.user_name, o.user_id),
                    None => "not managed by the bridge".to_string(),
                };
                Ok(Pass::Done(Outcome::Failed {
                    reason: format!(
                        "{what} {} is held by ZenQMS user {h}, {whose}; change it in the directory or in ZenQMS, then retry",
                        value.unwrap_or_default()
                    ),
                }))
            }
            None => Ok(Pass::Done(Outcome::Failed {
                reason: e.to_string(),
            })),
        }
    }

    async fn apply_roles(
        &mut self,
        mut remote: RemoteUser,
        plan: &RolePlan,
    ) -> Result<RemoteUser, SyncError> {
        let (add, remove) = plan.diff(&remote.role_ids);
        if !add.is_empty() {
            self.calls += 1;
            remote = match self
                .api
                .add_roles(self.ctx(Some(&remote)), &remote.id, &add)
                .await
            {
                Ok(r) => r,
                // A mapped role deleted in ZenQMS: add the others, say which one is gone,
                // and do not fail the user over it (no failing loop).
                Err(SyncError::Zenqms(ZenqmsError::UnknownRole { role_ids })) => {
                    let rest: Vec<ZenqmsId> = add
                        .iter()
                        .filter(|r| !role_ids.contains(r))
                        .cloned()
                        .collect();
                    self.notes.push(format!(
                        "roles missing in ZenQMS: {}",
                        role_ids
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                    if rest.is_empty() {
                        remote
                    } else {
                        self.calls += 1;
                        self.api
                            .add_roles(self.ctx(Some(&remote)), &remote.id, &rest)
                            .await?
                    }
                }
                Err(e) => return Err(e),
            };
        }
        if !remove.is_empty() {
            self.calls += 1;
            remote = self
                .api
                .remove_roles(self.ctx(Some(&remote)), &remote.id, &remove)
                .await?;
        }
        Ok(remote)
    }
}
