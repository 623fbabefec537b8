//! What a run would do for each user of its scope, decided against one read of the ZenQMS
//! users — the report of a dry run, and the plan a real run applies.
//!
//! - Standard: match by email (case-insensitive), link (set `external_id`) and nothing else.
//! - Full: the reconciler itself (`sync::reconcile`), run against [`SnapshotApi`], an
//!   in-memory ZenQMS made from that read, so that the report is what the real run (the same
//!   reconciler against the real API) does on the same data.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::mappings::RolePlan;
use crate::sync::desired::Desired;
use crate::sync::reconcile::{self, Api, Link, Links, Outcome as RunOutcome, Run};
use crate::sync::SyncError;
use crate::zenqms::{
    CallCtx, NewUser, RemoteStatus, RemoteUser, SearchFilters, UserPatch, WriteStatus, ZenqmsError,
    ZenqmsId,
};

use super::source::SourceUser;

/// One line of a run's report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Link,
    Create,
    Update,
    Unchanged,
    Skip,
    Conflict,
}

impl Outcome {
    pub const ALL: [Outcome; 6] = [
        Outcome::Link,
        Outcome::Create,
        Outcome::Update,
        Outcome::Unchanged,
        Outcome::Skip,
        Outcome::Conflict,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Link => "link",
            Outcome::Create => "create",
            Outcome::Update => "update",
            Outcome::Unchanged => "unchanged",
            Outcome::Skip => "skip",
            Outcome::Conflict => "conflict",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// The plan for one user.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub user_id: Option<String>,
    pub okta_id: Option<String>,
    pub email: Option<String>,
    pub outcome: Outcome,
    pub zenqms_id: Option<ZenqmsId>,
    pub reason: Option<String>,
}

fn email_of(u: &SourceUser) -> (Option<String>, Option<String>) {
    let d = Desired::project(&u.user, None, None);
    let problem = d
        .problems
        .iter()
        .find(|p| p.field == "email")
        .map(|p| p.to_string());
    (d.email, problem)
}

/// Okta users that share an email (case-insensitive) with another one: a conflict naming
/// every Okta id, never a guess.
fn shared_emails(users: &[SourceUser]) -> HashMap<String, Vec<String>> {
    let mut by_email: HashMap<String, Vec<String>> = HashMap::new();
    for u in users {
        if let (Some(e), _) = email_of(u) {
            let who = u
                .okta_id
                .clone()
                .or_else(|| u.user_id.clone())
                .unwrap_or_default();
            by_email
                .entry(e.to_ascii_lowercase())
                .or_default()
                .push(who);
        }
    }
    by_email.retain(|_, v| v.len() > 1);
    by_email
}

fn shared_conflict(
    u: &SourceUser,
    email: &str,
    shared: &HashMap<String, Vec<String>>,
) -> Option<Item> {
    let ids = shared.get(&email.to_ascii_lowercase())?;
    Some(Item {
        user_id: u.user_id.clone(),
        okta_id: u.okta_id.clone(),
        email: Some(email.to_string()),
        outcome: Outcome::Conflict,
        zenqms_id: None,
        reason: Some(format!(
            "Okta users {} share the email {email}; neither is linked",
            ids.join(" and ")
        )),
    })
}

/// Standard: one line per user. `owners` maps a ZenQMS id (JSON text) to the directory user
/// the bridge already links it to.
pub fn standard(
    users: &[SourceUser],
    zenqms: &[RemoteUser],
    owners: &HashMap<String, String>,
) -> Vec<Item> {
    let by_email: HashMap<String, &RemoteUser> = zenqms
        .iter()
        .map(|r| (r.email.to_ascii_lowercase(), r))
        .collect();
    let by_external: HashMap<&str, &RemoteUser> = zenqms
        .iter()
        .filter_map(|r| r.external_id.as_deref().map(|x| (x, r)))
        .collect();
    let shared = shared_emails(users);
    users
        .iter()
        .map(|u| {
            let (email, problem) = email_of(u);
            let item = |outcome, zenqms_id: Option<&ZenqmsId>, reason: String| Item {
                user_id: u.user_id.clone(),
                okta_id: u.okta_id.clone(),
                email: email.clone(),
                outcome,
                zenqms_id: zenqms_id.cloned(),
                reason: Some(reason),
            };
            let Some(email) = email.clone() else {
                return item(
                    Outcome::Skip,
                    None,
                    problem.unwrap_or_else(|| "email: missing".into()),
                );
            };
            if let Some(c) = shared_conflict(u, &email, &shared) {
                return c;
            }
            let Some(okta) = u.okta_id.clone() else {
                return item(
                    Outcome::Skip,
                    None,
                    "externalId: missing (Okta sends the Okta user id as externalId; without it there is nothing to link)".into(),
                );
            };
            let linked_elsewhere = by_external.get(okta.as_str()).copied();
            match by_email.get(&email.to_ascii_lowercase()).copied() {
                None => match linked_elsewhere {
                    Some(r) => item(
                        Outcome::Unchanged,
                        Some(&r.id),
                        format!("already linked: ZenQMS user {} ({}) has this Okta id", r.id, r.email),
                    ),
                    None => item(
                        Outcome::Skip,
                        None,
                        "unmatched: no ZenQMS user has this email (Standard creates nobody)".into(),
                    ),
                },
                Some(r) => {
                    let owner = owners
                        .get(&r.id.json_text())
                        .filter(|o| Some(*o) != u.user_id.as_ref());
                    if let Some(o) = owner {
                        return item(
                            Outcome::Conflict,
                            Some(&r.id),
                            format!(
                                "ZenQMS user {} ({}) is already linked to directory user {o}; Okta id {okta}",
                                r.id, r.email
                            ),
                        );
                    }
                    match r.external_id.as_deref() {
                        Some(x) if x == okta => item(
                            Outcome::Unchanged,
                            Some(&r.id),
                            "already linked".into(),
                        ),
                        Some(other) => item(
                            Outcome::Conflict,
                            Some(&r.id),
                            format!(
                                "ZenQMS user {} ({}) is linked to Okta id {other}, not to this user's Okta id {okta}",
                                r.id, r.email
                            ),
                        ),
                        None => match linked_elsewhere {
                            Some(l) => item(
                                Outcome::Conflict,
                                Some(&r.id),
                                format!(
                                    "Okta id {okta} is already the external_id of ZenQMS user {} ({}), while ZenQMS user {} has this email",
                                    l.id, l.email, r.id
                                ),
                            ),
                            None => item(Outcome::Link, Some(&r.id), "linked by email".into()),
                        },
                    }
                }
            }
        })
        .collect()
}

/// What the Full rules are given for one user.
pub struct FullInput {
    pub link: Option<Link>,
    pub roles: Option<RolePlan>,
}

/// Full: one line per user, from the reconciler run against the snapshot.
pub async fn full<L: Links>(
    users: &[SourceUser],
    inputs: Vec<FullInput>,
    snapshot: &SnapshotApi,
    links: &L,
    default_title: Option<&str>,
) -> Vec<Item> {
    let shared = shared_emails(users);
    let mut out = Vec::with_capacity(users.len());
    for (u, input) in users.iter().zip(inputs) {
        let (email, _) = email_of(u);
        if let Some(c) = email
            .as_deref()
            .and_then(|e| shared_conflict(u, e, &shared))
        {
            out.push(c);
            continue;
        }
        let had_link = input.link.is_some();
        let rec = Recording::new(snapshot);
        let plan_links = Planning(links);
        let run = reconcile::reconcile(
            &rec,
            &plan_links,
            &u.user,
            input.link,
            default_title,
            input.roles,
        )
        .await;
        out.push(classify(u, email, had_link, &rec, &run));
    }
    out
}

/// The stored links, read-only: a plan's create is made against the snapshot, so it must not
/// be written down as a create sent (`sync::creates`) — that would write to the database in a
/// dry run, and make the real run look each new user up before creating it (two searches a
/// user too many).
struct Planning<'a, L>(&'a L);

impl<L: Links> Links for Planning<'_, L> {
    async fn owner_of(
        &self,
        id: &crate::zenqms::ZenqmsId,
        except: &str,
    ) -> Result<Option<reconcile::Owner>, SyncError> {
        self.0.owner_of(id, except).await
    }
}

/// The write calls a reconcile made, to name its outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    Create,
    Update { sets_external_id: bool },
    Roles,
}

/// An [`Api`] that remembers the writes that succeeded, and the roles they granted and
/// revoked (the report names them).
pub struct Recording<'a, A> {
    inner: &'a A,
    writes: Mutex<Vec<Write>>,
    granted: Mutex<Vec<ZenqmsId>>,
    revoked: Mutex<Vec<ZenqmsId>>,
}

impl<'a, A: Api> Recording<'a, A> {
    pub fn new(inner: &'a A) -> Self {
        Recording {
            inner,
            writes: Mutex::new(Vec::new()),
            granted: Mutex::new(Vec::new()),
            revoked: Mutex::new(Vec::new()),
        }
    }
}

impl<A> Recording<'_, A> {
    /// `roles granted: 7, 15; revoked: 12`, or `None` when no role changed.
    pub fn roles_note(&self) -> Option<String> {
        let list = |m: &Mutex<Vec<ZenqmsId>>| {
            m.lock()
                .map(|v| v.iter().map(ZenqmsId::path_form).collect::<Vec<_>>())
                .unwrap_or_default()
        };
        let (granted, revoked) = (list(&self.granted), list(&self.revoked));
        let mut parts = Vec::new();
        if !granted.is_empty() {
            parts.push(format!("roles granted: {}", granted.join(", ")));
        }
        if !revoked.is_empty() {
            parts.push(format!("roles revoked: {}", revoked.join(", ")));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }

    fn note_roles(&self, slot: &Mutex<Vec<ZenqmsId>>, ok: bool, roles: &[ZenqmsId]) {
        if ok {
            if let Ok(mut v) = slot.lock() {
                v.extend(roles.iter().cloned());
            }
        }
    }
}

impl<A: Api> Recording<'_, A> {
    pub fn writes(&self) -> Vec<Write> {
        self.writes.lock().map(|w| w.clone()).unwrap_or_default()
    }

    fn note<T>(&self, r: Result<T, SyncError>, w: Write) -> Result<T, SyncError> {
        if r.is_ok() {
            if let Ok(mut v) = self.writes.lock() {
                v.push(w);
            }
        }
        r
    }
}

impl<A: Api> Api for Recording<'_, A> {
    async fn search(
        &self,
        ctx: CallCtx<'_>,
        f: &SearchFilters,
    ) -> Result<Vec<RemoteUser>, SyncError> {
        self.inner.search(ctx, f).await
    }
    async fn create_user(&self, ctx: CallCtx<'_>, u: &NewUser) -> Result<RemoteUser, SyncError> {
        let r = self.inner.create_user(ctx, u).await;
        self.note(r, Write::Create)
    }
    async fn update_user(
        &self,
        ctx: CallCtx<'_>,
        id: &ZenqmsId,
        p: &UserPatch,
    ) -> Result<RemoteUser, SyncError> {
        let sets_external_id =
            p.external_id.is_some() && ctx.before.is_some_and(|b| b.external_id.is_none());
        let r = self.inner.update_user(ctx, id, p).await;
        self.note(r, Write::Update { sets_external_id })
    }
    async fn add_roles(
        &self,
        ctx: CallCtx<'_>,
        id: &ZenqmsId,
        r: &[ZenqmsId],
    ) -> Result<RemoteUser, SyncError> {
        let res = self.inner.add_roles(ctx, id, r).await;
        self.note_roles(&self.granted, res.is_ok(), r);
        self.note(res, Write::Roles)
    }
    async fn remove_roles(
        &self,
        ctx: CallCtx<'_>,
        id: &ZenqmsId,
        r: &[ZenqmsId],
    ) -> Result<RemoteUser, SyncError> {
        let res = self.inner.remove_roles(ctx, id, r).await;
        self.note_roles(&self.revoked, res.is_ok(), r);
        self.note(res, Write::Roles)
    }
}

/// Whether a reconcile's refusal is about someone else's account (a conflict) or not.
fn is_conflict(reason: &str) -> bool {
    reason.contains("already linked") || reason.contains("belongs to another identity")
}

/// Names the outcome of one reconcile from the writes it made. `None` means "try again"
/// (a retryable error: the real run waits and repeats the user).
pub fn outcome_of<A>(
    had_link: bool,
    rec: &Recording<'_, A>,
    run: &Run,
) -> Option<(Outcome, Option<String>)> {
    match &run.outcome {
        RunOutcome::Skipped { reason } => Some((Outcome::Skip, Some(reason.clone()))),
        RunOutcome::Failed { reason } if is_conflict(reason) => {
            Some((Outcome::Conflict, Some(reason.clone())))
        }
        RunOutcome::Failed { reason } => Some((
            Outcome::Skip,
            Some(format!("ZenQMS refused the change: {reason}")),
        )),
        RunOutcome::Retry { .. } => None,
        RunOutcome::Synced { note } => {
            let writes = rec.writes.lock().map(|w| w.clone()).unwrap_or_default();
            // A ZenQMS user found by email and given its `external_id` is a link (even when
            // its profile was updated on the way); one that already carried it, an update.
            let linked = writes.contains(&Write::Update {
                sets_external_id: true,
            });
            let outcome = if writes.contains(&Write::Create) {
                Outcome::Create
            } else if linked && !had_link {
                Outcome::Link
            } else if writes.is_empty() {
                Outcome::Unchanged
            } else {
                Outcome::Update
            };
            let reason = match (note.clone(), rec.roles_note()) {
                (Some(n), Some(r)) => Some(format!("{n}; {r}")),
                (n, r) => n.or(r),
            };
            Some((outcome, reason))
        }
    }
}

fn classify<A>(
    u: &SourceUser,
    email: Option<String>,
    had_link: bool,
    rec: &Recording<'_, A>,
    run: &Run,
) -> Item {
    let (outcome, reason) = outcome_of(had_link, rec, run).unwrap_or_else(|| {
        let why = match &run.outcome {
            RunOutcome::Retry { error } => error.to_string(),
            _ => String::new(),
        };
        (Outcome::Skip, Some(format!("could not be planned: {why}")))
    });
    Item {
        user_id: u.user_id.clone(),
        okta_id: u.okta_id.clone(),
        email,
        outcome,
        zenqms_id: run.link.as_ref().map(|l| l.id.clone()),
        reason,
    }
}

/// ZenQMS as one paged read showed it, kept in memory: the reconciler's calls are answered
/// as the real API would answer them (the uniqueness of `email` and `external_id`, `404`
/// for an unknown id), and its writes change only this copy.
pub struct SnapshotApi {
    users: Mutex<Vec<RemoteUser>>,
    next: Mutex<u64>,
}

impl SnapshotApi {
    pub fn new(users: Vec<RemoteUser>) -> SnapshotApi {
        SnapshotApi {
            users: Mutex::new(users),
            next: Mutex::new(0),
        }
    }

    fn users(&self) -> Result<std::sync::MutexGuard<'_, Vec<RemoteUser>>, SyncError> {
        self.users
            .lock()
            .map_err(|_| SyncError::Inconsistent("the plan's snapshot was poisoned".into()))
    }

    fn holder(
        users: &[RemoteUser],
        email: &str,
        external_id: Option<&str>,
        except: Option<&ZenqmsId>,
    ) -> Option<ZenqmsError> {
        let other = |u: &&RemoteUser| Some(&u.id) != except;
        if let Some(u) = users
            .iter()
            .filter(other)
            .find(|u| u.email.eq_ignore_ascii_case(email))
        {
            return Some(ZenqmsError::Conflict {
                code: "email_taken".into(),
                user_id: Some(u.id.clone()),
                message: "email already in use".into(),
            });
        }
        let x = external_id?;
        users
            .iter()
            .filter(other)
            .find(|u| u.external_id.as_deref() == Some(x))
            .map(|u| ZenqmsError::Conflict {
                code: "external_id_taken".into(),
                user_id: Some(u.id.clone()),
                message: "external_id already in use".into(),
            })
    }

    fn with_user(
        &self,
        id: &ZenqmsId,
        f: impl FnOnce(&mut RemoteUser),
    ) -> Result<RemoteUser, SyncError> {
        let mut users = self.users()?;
        let u = users
            .iter_mut()
            .find(|u| u.id == *id)
            .ok_or_else(|| ZenqmsError::NotFound(id.clone()))?;
        f(u);
        Ok(u.clone())
    }
}

impl Api for SnapshotApi {
    async fn search(
        &self,
        _: CallCtx<'_>,
        f: &SearchFilters,
    ) -> Result<Vec<RemoteUser>, SyncError> {
        Ok(self
            .users()?
            .iter()
            .filter(|u| f.matches(u))
            .take(1)
            .cloned()
            .collect())
    }

    async fn create_user(&self, _: CallCtx<'_>, n: &NewUser) -> Result<RemoteUser, SyncError> {
        let mut users = self.users()?;
        if let Some(e) = Self::holder(&users, &n.email, n.external_id.as_deref(), None) {
            return Err(e.into());
        }
        let seq = {
            let mut next = self
                .next
                .lock()
                .map_err(|_| SyncError::Inconsistent("poisoned".into()))?;
            *next += 1;
            *next
        };
        let id = ZenqmsId::from_json_text(&format!("\"planned-{seq}\""))
            .ok_or_else(|| SyncError::Inconsistent("cannot name a planned user".into()))?;
        let r = RemoteUser {
            id,
            email: n.email.clone(),
            first_name: n.first_name.clone(),
            last_name: n.last_name.clone(),
            title: n.title.clone(),
            external_id: n.external_id.clone(),
            status: RemoteStatus::Active,
            role_ids: Vec::new(),
            updated_at: None,
        };
        users.push(r.clone());
        Ok(r)
    }

    async fn update_user(
        &self,
        _: CallCtx<'_>,
        id: &ZenqmsId,
        p: &UserPatch,
    ) -> Result<RemoteUser, SyncError> {
        let mut users = self.users()?;
        let Some(mut u) = users.iter().find(|u| u.id == *id).cloned() else {
            return Err(ZenqmsError::NotFound(id.clone()).into());
        };
        let set = |slot: &mut String, v: &Option<String>| {
            if let Some(v) = v {
                *slot = v.clone()
            }
        };
        set(&mut u.email, &p.email);
        set(&mut u.first_name, &p.first_name);
        set(&mut u.last_name, &p.last_name);
        set(&mut u.title, &p.title);
        if let Some(x) = &p.external_id {
            u.external_id = Some(x.clone());
        }
        if let Some(s) = p.status {
            u.status = match s {
                WriteStatus::Active => RemoteStatus::Active,
                WriteStatus::Disabled => RemoteStatus::Disabled,
            };
        }
        if let Some(e) = Self::holder(&users, &u.email, u.external_id.as_deref(), Some(id)) {
            return Err(e.into());
        }
        for slot in users.iter_mut().filter(|x| x.id == *id) {
            *slot = u.clone();
        }
        Ok(u)
    }

    async fn add_roles(
        &self,
        _: CallCtx<'_>,
        id: &ZenqmsId,
        r: &[ZenqmsId],
    ) -> Result<RemoteUser, SyncError> {
        self.with_user(id, |u| {
            for role in r {
                if !u.role_ids.contains(role) {
                    u.role_ids.push(role.clone());
                }
            }
        })
    }

    async fn remove_roles(
        &self,
        _: CallCtx<'_>,
        id: &ZenqmsId,
        r: &[ZenqmsId],
    ) -> Result<RemoteUser, SyncError> {
        self.with_user(id, |u| u.role_ids.retain(|x| !r.contains(x)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::directory_view::{DirectoryEmail, DirectoryUser};
    use crate::sync::reconcile::Owner;

    fn zid(n: u64) -> ZenqmsId {
        ZenqmsId::from_json_text(&n.to_string()).expect("id")
    }

    fn remote(n: u64, email: &str, external_id: Option<&str>) -> RemoteUser {
        RemoteUser {
            id: zid(n),
            email: email.into(),
            first_name: "F".into(),
            last_name: "L".into(),
            title: "T".into(),
            external_id: external_id.map(str::to_string),
            status: RemoteStatus::Active,
            role_ids: vec![],
            updated_at: None,
        }
    }

    fn person(id: &str, okta: Option<&str>, email: &str) -> SourceUser {
        SourceUser {
            user_id: Some(id.into()),
            okta_id: okta.map(str::to_string),
            user: DirectoryUser {
                id: id.into(),
                user_name: email.into(),
                external_id: okta.map(str::to_string),
                given_name: Some("F".into()),
                family_name: Some("L".into()),
                title: Some("T".into()),
                active: true,
                deleted: false,
                emails: vec![DirectoryEmail {
                    value: email.into(),
                    email_type: None,
                    is_primary: true,
                }],
            },
        }
    }

    struct NoOwners;
    impl Links for NoOwners {
        async fn owner_of(&self, _: &ZenqmsId, _: &str) -> Result<Option<Owner>, SyncError> {
            Ok(None)
        }
    }

    #[test]
    fn standard_links_by_email_and_names_conflicts() {
        let zenqms = vec![
            remote(1, "Ada@Example.com", None),
            remote(2, "bob@example.com", Some("00uother")),
            remote(3, "cy@example.com", Some("00ucy")),
            remote(4, "dup@example.com", None),
        ];
        let users = vec![
            person("a", Some("00uada"), "ada@example.com"),
            person("b", Some("00ubob"), "bob@example.com"),
            person("c", Some("00ucy"), "cy@example.com"),
            person("d1", Some("00ud1"), "dup@example.com"),
            person("d2", Some("00ud2"), "DUP@example.com"),
            person("e", Some("00ue"), "nobody@example.com"),
            person("f", None, "ada2@example.com"),
        ];
        let items = standard(&users, &zenqms, &HashMap::new());
        let got: Vec<_> = items.iter().map(|i| i.outcome).collect();
        assert_eq!(
            got,
            [
                Outcome::Link,
                Outcome::Conflict,
                Outcome::Unchanged,
                Outcome::Conflict,
                Outcome::Conflict,
                Outcome::Skip,
                Outcome::Skip
            ]
        );
        let bob = items[1].reason.clone().unwrap_or_default();
        assert!(bob.contains("00uother") && bob.contains("00ubob"), "{bob}");
        let dup = items[3].reason.clone().unwrap_or_default();
        assert!(dup.contains("00ud1") && dup.contains("00ud2"), "{dup}");
        assert_eq!(items[0].zenqms_id, Some(zid(1)));
    }

    #[tokio::test]
    async fn full_plans_with_the_reconciler() {
        let snap = SnapshotApi::new(vec![
            remote(1, "ada@example.com", None),
            remote(2, "bob@example.com", Some("00ubob")),
        ]);
        let mut title_missing = person("t", Some("00ut"), "t@example.com");
        title_missing.user.title = None;
        let users = vec![
            person("a", Some("00uada"), "ada@example.com"),
            person("b", Some("00ubob"), "bob@example.com"),
            person("n", Some("00un"), "new@example.com"),
            title_missing,
        ];
        let bob_link = Link {
            id: zid(2),
            seen: Some(remote(2, "bob@example.com", Some("00ubob"))),
        };
        let inputs = vec![
            FullInput {
                link: None,
                roles: None,
            },
            FullInput {
                link: Some(bob_link),
                roles: None,
            },
            FullInput {
                link: None,
                roles: None,
            },
            FullInput {
                link: None,
                roles: None,
            },
        ];
        let items = full(&users, inputs, &snap, &NoOwners, None).await;
        let got: Vec<_> = items.iter().map(|i| i.outcome).collect();
        assert_eq!(
            got,
            [
                Outcome::Link,
                Outcome::Unchanged,
                Outcome::Create,
                Outcome::Skip
            ]
        );
        assert!(items[3]
            .reason
            .as_deref()
            .unwrap_or("")
            .starts_with("title"));
    }
}
