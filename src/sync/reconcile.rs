//! Reconciling one directory user: find (or create) its ZenQMS user, then send only what
//! differs. Level-triggered and idempotent: a second run with nothing changed makes no call.
//!
//! Calls per run, in the usual cases:
//! - new user: `POST /v2/users` (1). Both `email` and `external_id` are unique in a tenant,
//!   so a create succeeds exactly when the spec's lookups (by `external_id`, then by email)
//!   would have found nobody; on `409` the holder is looked up and linked. This saves the
//!   two searches that a look-before-create would spend on every new user (see
//!   `contract::EXTERNAL_ID_IS_UNIQUE` for a tenant where that assumption fails).
//! - changed user (linked, with the last answer stored): one `PATCH` with the changed fields
//!   (1). The stored answer is the picture diffed against, so no read is needed.
//! - unchanged user: nothing (0).
//!
//! A stale picture is re-read: `404` on a linked id drops the link and looks again; `409`
//! naming the user itself re-reads it; `409` naming someone else fails with a reason.

use super::desired::{unsent, Desired};
use super::directory_view::DirectoryUser;
use super::error::SyncError;
use crate::mappings::RolePlan;
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

    /// A create for directory user `me` is about to be sent: write that down first (an error
    /// stops the create), and say whether an earlier one was sent without its link being
    /// recorded since (`sync::creates`) — then the user may exist in ZenQMS already.
    /// By default nothing is written and nothing is known.
    async fn note_create(&self, _me: &str) -> Result<bool, SyncError> {
        Ok(false)
    }
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
    /// Mapped roles ZenQMS refused as unknown (`422 unknown_role`): recorded as missing, so
    /// no run asks for them again until a role listing shows them.
    pub missing_roles: Vec<ZenqmsId>,
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
        missing_roles: Vec::new(),
    };
    let outcome = r.run().await;
    Run {
        link: r.link,
        outcome,
        took_over_from: r.took_over_from,
        calls: r.calls,
        missing_roles: r.missing_roles,
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
    missing_roles: Vec<ZenqmsId>,
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
            actor: None,
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
        if !crate::zenqms::contract::EXTERNAL_ID_IS_UNIQUE {
            if let Some(x) = self.desired.external_id.clone() {
                let filters = SearchFilters {
                    external_id: Some(x),
                    ..SearchFilters::default()
                };
                if let Some(r) = self.search(filters).await? {
                    return self.adopt(r).await;
                }
            }
        }
        if active {
            if let Some(new) = self.desired.new_user() {
                // An earlier create may have reached ZenQMS while its answer was lost with
                // the database: look before creating, instead of a create that meets `409`.
                if self.links.note_create(self.me).await? {
                    if let Some(r) = self.lookup().await? {
                        return self.adopt(r).await;
                    }
                }
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
                // and do not fail the user over it (no failing loop). A refusal that names
                // no role cannot be narrowed down: nothing is added this run.
                Err(SyncError::Zenqms(ZenqmsError::UnknownRole { role_ids })) => {
                    let rest: Vec<ZenqmsId> = add
                        .iter()
                        .filter(|r| !role_ids.contains(r))
                        .cloned()
                        .collect();
                    let named = if role_ids.is_empty() {
                        add.clone()
                    } else {
                        role_ids.clone()
                    };
                    self.notes.push(format!(
                        "roles missing in ZenQMS: {}",
                        named
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                    self.missing_roles.extend(role_ids);
                    if rest.is_empty() || rest.len() == add.len() {
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

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::HashMap;

    use serde_json::json;

    use super::*;
    use crate::sync::directory_view::DirectoryEmail;
    use crate::zenqms::RemoteStatus;

    /// A ZenQMS with the spec's uniqueness rules, a call log, and scripted failures.
    #[derive(Default)]
    struct Fake {
        users: RefCell<Vec<RemoteUser>>,
        log: RefCell<Vec<&'static str>>,
        /// Errors returned by the n-th call (0-based) instead of doing it.
        fail: RefCell<HashMap<usize, ZenqmsError>>,
        /// Calls whose effect happens but whose answer is lost (a 500).
        lose: RefCell<HashMap<usize, ()>>,
        owners: RefCell<HashMap<String, Owner>>,
    }

    fn id(n: u64) -> ZenqmsId {
        ZenqmsId::from_json(&json!(n)).unwrap()
    }

    fn remote(n: u64, email: &str, external_id: Option<&str>) -> RemoteUser {
        RemoteUser {
            id: id(n),
            email: email.into(),
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            title: "QA".into(),
            external_id: external_id.map(str::to_string),
            status: RemoteStatus::Active,
            role_ids: vec![],
            updated_at: None,
        }
    }

    impl Fake {
        fn begin(&self, name: &'static str) -> Result<usize, SyncError> {
            let n = self.log.borrow().len();
            self.log.borrow_mut().push(name);
            match self.fail.borrow_mut().remove(&n) {
                Some(e) => Err(e.into()),
                None => Ok(n),
            }
        }
        fn answer<T>(&self, n: usize, t: T) -> Result<T, SyncError> {
            if self.lose.borrow_mut().remove(&n).is_some() {
                return Err(ZenqmsError::Server {
                    status: 500,
                    message: "lost".into(),
                }
                .into());
            }
            Ok(t)
        }
        fn holder(
            &self,
            email: &str,
            external_id: Option<&str>,
            except: Option<&ZenqmsId>,
        ) -> Option<ZenqmsError> {
            let users = self.users.borrow();
            let other = |u: &&RemoteUser| Some(&u.id) != except;
            if let Some(u) = users
                .iter()
                .filter(other)
                .find(|u| u.email.eq_ignore_ascii_case(email))
            {
                return Some(ZenqmsError::Conflict {
                    code: "email_taken".into(),
                    user_id: Some(u.id.clone()),
                    message: "taken".into(),
                });
            }
            if let Some(u) = users
                .iter()
                .filter(other)
                .find(|u| external_id.is_some() && u.external_id.as_deref() == external_id)
            {
                return Some(ZenqmsError::Conflict {
                    code: "external_id_taken".into(),
                    user_id: Some(u.id.clone()),
                    message: "taken".into(),
                });
            }
            None
        }
        fn calls(&self) -> Vec<&'static str> {
            self.log.borrow().clone()
        }
    }

    impl Api for Fake {
        async fn search(
            &self,
            _: CallCtx<'_>,
            f: &SearchFilters,
        ) -> Result<Vec<RemoteUser>, SyncError> {
            let n = self.begin("search")?;
            let hits = self
                .users
                .borrow()
                .iter()
                .filter(|u| f.matches(u))
                .cloned()
                .collect();
            self.answer(n, hits)
        }
        async fn create_user(&self, _: CallCtx<'_>, u: &NewUser) -> Result<RemoteUser, SyncError> {
            let n = self.begin("create")?;
            if let Some(e) = self.holder(&u.email, u.external_id.as_deref(), None) {
                return Err(e.into());
            }
            let next = 1000 + self.users.borrow().len() as u64 + 1;
            let mut r = remote(next, &u.email, u.external_id.as_deref());
            r.first_name = u.first_name.clone();
            r.last_name = u.last_name.clone();
            r.title = u.title.clone();
            self.users.borrow_mut().push(r.clone());
            self.answer(n, r)
        }
        async fn update_user(
            &self,
            _: CallCtx<'_>,
            uid: &ZenqmsId,
            p: &UserPatch,
        ) -> Result<RemoteUser, SyncError> {
            let n = self.begin("update")?;
            let Some(mut u) = self.users.borrow().iter().find(|u| u.id == *uid).cloned() else {
                return Err(ZenqmsError::NotFound(uid.clone()).into());
            };
            if let Some(v) = &p.email {
                u.email = v.clone()
            }
            if let Some(v) = &p.first_name {
                u.first_name = v.clone()
            }
            if let Some(v) = &p.last_name {
                u.last_name = v.clone()
            }
            if let Some(v) = &p.title {
                u.title = v.clone()
            }
            if let Some(v) = &p.external_id {
                u.external_id = Some(v.clone())
            }
            if let Some(v) = p.status {
                u.status = match v {
                    WriteStatus::Active => RemoteStatus::Active,
                    WriteStatus::Disabled => RemoteStatus::Disabled,
                };
            }
            if let Some(e) = self.holder(&u.email, u.external_id.as_deref(), Some(uid)) {
                return Err(e.into());
            }
            for slot in self.users.borrow_mut().iter_mut().filter(|x| x.id == *uid) {
                *slot = u.clone();
            }
            self.answer(n, u)
        }
        async fn add_roles(
            &self,
            _: CallCtx<'_>,
            uid: &ZenqmsId,
            r: &[ZenqmsId],
        ) -> Result<RemoteUser, SyncError> {
            self.begin("add_roles")?;
            let mut users = self.users.borrow_mut();
            let u = users
                .iter_mut()
                .find(|u| u.id == *uid)
                .ok_or_else(|| ZenqmsError::NotFound(uid.clone()))?;
            for role in r {
                if !u.role_ids.contains(role) {
                    u.role_ids.push(role.clone());
                }
            }
            Ok(u.clone())
        }
        async fn remove_roles(
            &self,
            _: CallCtx<'_>,
            uid: &ZenqmsId,
            r: &[ZenqmsId],
        ) -> Result<RemoteUser, SyncError> {
            self.begin("remove_roles")?;
            let mut users = self.users.borrow_mut();
            let u = users
                .iter_mut()
                .find(|u| u.id == *uid)
                .ok_or_else(|| ZenqmsError::NotFound(uid.clone()))?;
            u.role_ids.retain(|x| !r.contains(x));
            Ok(u.clone())
        }
    }

    impl Links for Fake {
        async fn owner_of(&self, zid: &ZenqmsId, except: &str) -> Result<Option<Owner>, SyncError> {
            Ok(self
                .owners
                .borrow()
                .get(&zid.json_text())
                .filter(|o| o.user_id != except)
                .cloned())
        }
    }

    fn ada() -> DirectoryUser {
        DirectoryUser {
            id: "s-ada".into(),
            user_name: "ada@example.com".into(),
            external_id: Some("00uada".into()),
            given_name: Some("Ada".into()),
            family_name: Some("Lovelace".into()),
            title: Some("QA".into()),
            active: true,
            deleted: false,
            emails: vec![DirectoryEmail {
                value: "ada@example.com".into(),
                email_type: None,
                is_primary: true,
            }],
        }
    }

    async fn run(fake: &Fake, user: &DirectoryUser, link: Option<Link>) -> Run {
        reconcile(fake, fake, user, link, None, None).await
    }

    #[tokio::test]
    async fn create_then_nothing() {
        let fake = Fake::default();
        let first = run(&fake, &ada(), None).await;
        assert!(
            matches!(first.outcome, Outcome::Synced { note: None }),
            "{:?}",
            first.outcome
        );
        assert_eq!(fake.calls(), ["create"]);
        let again = run(&fake, &ada(), first.link).await;
        assert!(matches!(again.outcome, Outcome::Synced { .. }));
        assert_eq!(fake.calls(), ["create"], "idempotent: no second call");
    }

    #[tokio::test]
    async fn a_lost_create_answer_links_the_user_it_made() {
        let fake = Fake::default();
        fake.lose.borrow_mut().insert(0, ());
        let first = run(&fake, &ada(), None).await;
        assert!(matches!(first.outcome, Outcome::Retry { .. }));
        let second = run(&fake, &ada(), first.link).await;
        assert!(
            matches!(second.outcome, Outcome::Synced { .. }),
            "{:?}",
            second.outcome
        );
        assert_eq!(fake.calls(), ["create", "create", "search"]);
        assert_eq!(fake.users.borrow().len(), 1);
        assert_eq!(second.link.unwrap().id, id(1001));
    }

    #[tokio::test]
    async fn links_by_email_and_sets_the_external_id() {
        let fake = Fake::default();
        fake.users
            .borrow_mut()
            .push(remote(7, "ADA@example.com", None));
        let r = run(&fake, &ada(), None).await;
        assert!(
            matches!(r.outcome, Outcome::Synced { .. }),
            "{:?}",
            r.outcome
        );
        assert_eq!(fake.calls(), ["create", "search", "update"]);
        assert_eq!(
            fake.users.borrow()[0].external_id.as_deref(),
            Some("00uada")
        );
    }

    #[tokio::test]
    async fn someone_elses_account_is_not_taken() {
        let fake = Fake::default();
        fake.users
            .borrow_mut()
            .push(remote(7, "ada@example.com", Some("00uother")));
        let r = run(&fake, &ada(), None).await;
        let Outcome::Failed { reason } = r.outcome else {
            panic!("{:?}", r.outcome)
        };
        assert!(reason.contains("00uother"), "{reason}");
        assert!(r.link.is_none());
        // Deactivating such a user does nothing to the other account.
        let mut gone = ada();
        gone.active = false;
        let r = run(&fake, &gone, None).await;
        assert!(
            matches!(r.outcome, Outcome::Synced { .. }),
            "{:?}",
            r.outcome
        );
        assert_eq!(fake.users.borrow()[0].status, RemoteStatus::Active);
    }

    #[tokio::test]
    async fn a_deleted_owners_account_is_taken_over() {
        let fake = Fake::default();
        fake.users
            .borrow_mut()
            .push(remote(7, "ada@example.com", Some("00uada")));
        fake.owners.borrow_mut().insert(
            id(7).json_text(),
            Owner {
                user_id: "s-old".into(),
                user_name: "ada".into(),
                deleted: true,
            },
        );
        let r = run(&fake, &ada(), None).await;
        assert!(
            matches!(r.outcome, Outcome::Synced { .. }),
            "{:?}",
            r.outcome
        );
        assert_eq!(r.took_over_from.as_deref(), Some("s-old"));
        fake.owners.borrow_mut().insert(
            id(7).json_text(),
            Owner {
                user_id: "s-old".into(),
                user_name: "ada".into(),
                deleted: false,
            },
        );
        let r = run(&fake, &ada(), None).await;
        assert!(
            matches!(r.outcome, Outcome::Failed { .. }),
            "a live owner keeps it"
        );
    }

    #[tokio::test]
    async fn inactive_users_are_not_created() {
        let fake = Fake::default();
        let mut u = ada();
        u.deleted = true;
        let r = run(&fake, &u, None).await;
        assert!(matches!(r.outcome, Outcome::Synced { note: Some(_) }));
        assert_eq!(
            fake.calls(),
            ["search", "search"],
            "looked for it (by external_id, then email)"
        );
        assert!(fake.users.borrow().is_empty());
    }

    #[tokio::test]
    async fn a_stale_link_is_looked_up_again() {
        let fake = Fake::default();
        let stale = Link {
            id: id(99),
            seen: Some(remote(99, "ada@example.com", Some("00uada"))),
        };
        let mut u = ada();
        u.title = Some("New".into());
        let r = run(&fake, &u, Some(stale)).await;
        assert!(
            matches!(r.outcome, Outcome::Synced { .. }),
            "{:?}",
            r.outcome
        );
        assert_eq!(fake.calls(), ["update", "create"]);
        assert_eq!(r.link.unwrap().id, id(1001));
    }

    #[tokio::test]
    async fn drift_in_fields_not_sent_is_corrected_in_a_second_patch() {
        let fake = Fake::default();
        let first = run(&fake, &ada(), None).await;
        // Someone renames the user in ZenQMS; then Okta changes the title.
        fake.users.borrow_mut()[0].first_name = "Augusta".into();
        let mut u = ada();
        u.title = Some("Head of QA".into());
        let r = run(&fake, &u, first.link).await;
        let Outcome::Synced { note: Some(note) } = r.outcome else {
            panic!("{:?}", r.outcome)
        };
        assert!(
            note.contains("drift") && note.contains("first_name"),
            "{note}"
        );
        assert_eq!(fake.calls(), ["create", "update", "update"]);
        assert_eq!(fake.users.borrow()[0].first_name, "Ada");
    }

    #[tokio::test]
    async fn missing_fields_skip_new_users_but_not_linked_ones() {
        let fake = Fake::default();
        let mut u = ada();
        u.title = None;
        let r = run(&fake, &u, None).await;
        let Outcome::Skipped { reason } = r.outcome else {
            panic!("{:?}", r.outcome)
        };
        assert!(reason.starts_with("title"), "{reason}");
        let linked = run(&fake, &ada(), None).await.link;
        u.active = false;
        let r = run(&fake, &u, linked).await;
        assert!(
            matches!(r.outcome, Outcome::Synced { note: Some(_) }),
            "{:?}",
            r.outcome
        );
        assert_eq!(
            fake.users.borrow()[0].status,
            RemoteStatus::Disabled,
            "disabled all the same"
        );
        assert_eq!(fake.users.borrow()[0].title, "QA", "its title is kept");
    }

    #[tokio::test]
    async fn permanent_and_retryable_errors() {
        let fake = Fake::default();
        fake.fail.borrow_mut().insert(
            0,
            ZenqmsError::Validation {
                fields: vec!["email".into()],
                message: "bad".into(),
            },
        );
        assert!(matches!(
            run(&fake, &ada(), None).await.outcome,
            Outcome::Failed { .. }
        ));
        fake.fail
            .borrow_mut()
            .insert(1, ZenqmsError::Timeout(std::time::Duration::from_secs(1)));
        assert!(matches!(
            run(&fake, &ada(), None).await.outcome,
            Outcome::Retry { .. }
        ));
        fake.fail.borrow_mut().insert(
            2,
            ZenqmsError::Auth {
                status: 401,
                message: "no".into(),
            },
        );
        assert!(matches!(
            run(&fake, &ada(), None).await.outcome,
            Outcome::Retry { .. }
        ));
    }

    #[tokio::test]
    async fn roles_slot_in_as_part_of_the_desired_state() {
        let fake = Fake::default();
        let plan = RolePlan {
            managed: vec![id(7), id(12)],
            wanted: vec![id(7)],
        };
        let r = reconcile(&fake, &fake, &ada(), None, None, Some(plan.clone())).await;
        assert!(matches!(r.outcome, Outcome::Synced { .. }));
        assert_eq!(fake.calls(), ["create", "add_roles"]);
        fake.users.borrow_mut()[0].role_ids.push(id(12));
        fake.users.borrow_mut()[0].role_ids.push(id(99));
        let seen = Link {
            id: id(1001),
            seen: None,
        };
        let r = reconcile(&fake, &fake, &ada(), Some(seen), None, Some(plan)).await;
        assert!(matches!(r.outcome, Outcome::Synced { .. }));
        assert_eq!(
            fake.users.borrow()[0].role_ids,
            vec![id(7), id(99)],
            "unmanaged 99 untouched"
        );
    }
}
