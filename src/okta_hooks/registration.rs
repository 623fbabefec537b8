//! The hook in Okta: created, repaired, read and removed through the Event Hooks API
//! (`okta::event_hooks`), recorded through [`OktaHooks`] (the secret only as its hash).
//!
//! `ensure` (`POST /api/v1/okta/event-hook`) brings Okta to one hook named `zenqms-bridge`,
//! ACTIVE and VERIFIED, pointing at `<PUBLIC_URL>/okta/events`, subscribed to exactly
//! [`EVENT_TYPES`], whatever it finds: nothing (created with a fresh secret), the recorded hook
//! deleted in Okta (created again), a hook of ours the database does not know (found by name
//! and URI, given a fresh secret), a changed URI or event list (replaced, with a fresh secret),
//! a deactivated hook (activated), an unverified one (verified). It always asks Okta to verify
//! at the end — the proof that Okta reaches `/okta/events` with the secret the bridge holds;
//! when that fails with a secret Okta may hold from before (a restored database), the hook gets
//! a fresh secret and one more verification. The secret is stored before Okta verifies
//! (verification presents it to `/okta/events`), and an unverified hook gets no events, so a
//! new secret never meets a delivery signed with the old one — except a replace of a verified
//! hook whose URI stayed, where deliveries in the milliseconds between Okta's answer and the
//! stored hash are refused and the periodic re-read brings their changes.

use std::net::IpAddr;

use base64::Engine;
use chrono::NaiveDateTime;
use rand::RngCore;
use serde::Serialize;

use super::{Hook, HookRecord, HooksError, OktaHooks, EVENT_TYPES};
use crate::audit::{self, Outcome};
use crate::config::Secret;
use crate::okta::event_hooks::EVENT_HOOKS_SCOPE;
use crate::okta::{Okta, OktaError};
use crate::okta_api::{ErrorCode, EventHook, EventHookSpec, HookAction, OktaApiError};
use crate::store::{Pool, StoreError};

/// The hook's name in Okta (how the bridge finds a hook of its own it has no record of).
pub const HOOK_NAME: &str = "zenqms-bridge";
/// Bytes of randomness in a hook secret (from the thread's CSPRNG, seeded by the OS).
const SECRET_BYTES: usize = 32;
/// Where Okta sends events and the verification challenge, under `PUBLIC_URL`.
pub const EVENTS_PATH: &str = "/okta/events";

/// Why a re-read is asked for when a process starts with a hook recorded (the re-read's
/// `trigger` in the sync status).
pub const RESTARTED: &str = "bridge started: events sent while it was not answering";

/// `status` when there is no hook to show.
pub const NOT_REGISTERED: &str = "NOT_REGISTERED";
/// `status` of a recorded hook that Okta no longer has.
pub const DELETED_IN_OKTA: &str = "DELETED_IN_OKTA";

/// `GET /api/v1/okta/event-hook`: the hook as Okta has it (when it could be read), the
/// deliveries received, and what an admin should do about it, if anything.
#[derive(Debug, Clone, Serialize)]
pub struct HookView {
    /// Okta's id (`who…`).
    pub id: Option<String>,
    /// `ACTIVE`, `INACTIVE`, `DELETED_IN_OKTA` or `NOT_REGISTERED`.
    pub status: String,
    /// `VERIFIED` or `UNVERIFIED` (Okta sends events only to an ACTIVE, VERIFIED hook).
    pub verification_status: Option<String>,
    pub uri: Option<String>,
    pub events: Vec<String>,
    pub last_delivery_at: Option<String>,
    pub deliveries: i64,
    pub events_applied: i64,
    pub events_ignored: i64,
    /// What is wrong, in words an admin can act on; `None` when the hook works.
    pub problem: Option<String>,
    /// `okta`: read from Okta just now; `recorded`: as last recorded (Okta could not be read).
    pub source: &'static str,
}

/// `POST /api/v1/okta/event-hook`'s answer: the hook as it now is, and what was done.
#[derive(Debug, Clone, Serialize)]
pub struct Ensured {
    #[serde(flatten)]
    pub hook: HookView,
    /// What was done, in order (`created`, `activated`, `verified`, …).
    pub actions: Vec<String>,
}

/// `DELETE /api/v1/okta/event-hook`'s answer.
#[derive(Debug, Clone, Serialize)]
pub struct Removed {
    pub id: String,
    /// `false` when Okta no longer had it.
    pub deleted_in_okta: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    /// The Okta connection is missing or needs authorizing again.
    #[error("{0}")]
    NotConnected(String),
    /// `PUBLIC_URL` is not an address Okta can deliver to.
    #[error("{0}")]
    PublicUrl(String),
    /// The token lacks `okta.eventHooks.manage`, or its admin may not manage hooks.
    #[error("{0}")]
    NotPermitted(String),
    #[error("no event hook is registered: POST /api/v1/okta/event-hook creates it")]
    NotRegistered,
    #[error("{0}")]
    Busy(String),
    /// Okta failed the call (unreachable, timed out, an unexpected answer).
    #[error("{0}")]
    Okta(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

impl From<HooksError> for RegistrationError {
    fn from(e: HooksError) -> Self {
        match e {
            HooksError::Store(s) => RegistrationError::Store(s),
            other => RegistrationError::Internal(other.to_string()),
        }
    }
}

/// What an Okta failure means for the hook, said so that an admin can act on it.
fn explain(e: OktaError) -> RegistrationError {
    match e {
        OktaError::NotConfigured | OktaError::NeedsAuthorization | OktaError::ReauthorizationNeeded(_) | OktaError::Invalid(_) => {
            RegistrationError::NotConnected(format!(
                "the event hook needs the Okta connection, which is not usable: {e}"
            ))
        }
        OktaError::Okta(OktaApiError::InsufficientScope(_)) => RegistrationError::NotPermitted(format!(
            "the Okta token lacks the {EVENT_HOOKS_SCOPE} scope (Okta answered 403 insufficient_scope): in Okta, grant {EVENT_HOOKS_SCOPE} on the bridge app's \"Okta API Scopes\" tab, then authorize again (POST /api/v1/okta/authorize) so that the new token carries it"
        )),
        OktaError::Okta(OktaApiError::Api { code: ErrorCode::Forbidden, ref summary, .. }) => RegistrationError::NotPermitted(format!(
            "Okta refused to let the bridge manage event hooks (E0000006: {summary}): the Okta admin who authorized the bridge lacks the permission; authorize again (POST /api/v1/okta/authorize) as an Okta super administrator"
        )),
        OktaError::Busy => RegistrationError::Busy(e.to_string()),
        OktaError::Store(s) => RegistrationError::Store(s),
        OktaError::Okta(api) => RegistrationError::Okta(format!("Okta: {api}")),
    }
}

fn not_found(e: &OktaError) -> bool {
    matches!(
        e,
        OktaError::Okta(OktaApiError::Api {
            code: ErrorCode::NotFound,
            ..
        })
    )
}

/// `<PUBLIC_URL>/okta/events`, or why Okta could not deliver there: Okta calls HTTPS only
/// (plain HTTP is accepted for a loopback host, which only a local simulator can reach).
pub fn events_uri(public_url: &str) -> Result<String, String> {
    let base = public_url.trim_end_matches('/');
    let parsed = url::Url::parse(base).map_err(|e| {
        format!("PUBLIC_URL ({base}) is not a URL ({e}): set it to the bridge's public https:// address and restart")
    })?;
    let loopback = match parsed.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    };
    match parsed.scheme() {
        "https" => Ok(format!("{base}{EVENTS_PATH}")),
        "http" if loopback => Ok(format!("{base}{EVENTS_PATH}")),
        _ => Err(format!(
            "PUBLIC_URL is {base}, but Okta delivers event hooks only to HTTPS: set PUBLIC_URL to the https:// address at which Okta reaches this bridge (a TLS-terminating proxy in front of it is fine) and restart"
        )),
    }
}

fn fresh_secret() -> Secret {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    Secret::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

fn spec(uri: &str, secret: Secret) -> EventHookSpec {
    EventHookSpec {
        name: HOOK_NAME.to_string(),
        events: EVENT_TYPES.iter().map(|t| t.to_string()).collect(),
        uri: uri.to_string(),
        secret,
    }
}

/// Whether `events` is exactly the spec's list (in any order).
fn exact_events(events: &[String]) -> bool {
    let mut have: Vec<&str> = events.iter().map(String::as_str).collect();
    have.sort_unstable();
    have.dedup();
    let mut want: Vec<&str> = EVENT_TYPES.to_vec();
    want.sort_unstable();
    have == want && events.len() == EVENT_TYPES.len()
}

/// What is wrong with a hook as Okta has it, for an admin; `None` when it works.
fn problem_of(hook: &EventHook, uri: &str) -> Option<String> {
    if !hook.is_active() {
        return Some("the hook is deactivated in Okta, so Okta sends no events: POST /api/v1/okta/event-hook activates and verifies it".into());
    }
    if hook.uri() != uri {
        return Some(format!(
            "the hook points at {}, not {uri}: POST /api/v1/okta/event-hook points it here and verifies it",
            hook.uri()
        ));
    }
    if !hook.is_verified() {
        return Some("Okta has not verified the hook, so it sends no events: POST /api/v1/okta/event-hook asks Okta to verify it (Okta must reach <PUBLIC_URL>/okta/events)".into());
    }
    if !exact_events(hook.events()) {
        return Some("the hook's event types are not the ones the bridge follows: POST /api/v1/okta/event-hook sets them".into());
    }
    None
}

/// The registration service, built once by `server.rs`.
#[derive(Clone)]
pub struct Registration {
    okta: Okta,
    hooks: OktaHooks,
    pool: Pool,
    public_url: String,
    /// Asked for a re-read after a repair: events Okta sent nowhere meanwhile are found by it.
    resync: crate::okta::resync::Resync,
    /// One create or repair at a time in this process (two would create two hooks).
    lock: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl Registration {
    pub fn new(
        okta: Okta,
        hooks: OktaHooks,
        pool: Pool,
        public_url: &str,
        resync: crate::okta::resync::Resync,
    ) -> Registration {
        Registration {
            okta,
            hooks,
            pool,
            public_url: public_url.to_string(),
            resync,
            lock: std::sync::Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// At a process's start: when a hook is recorded, asks for a re-read of the org. Okta
    /// sends each event to the hook once and retries a failed delivery once, so every event
    /// it sent while no bridge answered (this process stopped, restarted, unreachable) is
    /// lost; the re-read finds those changes. The request is persisted and served once
    /// across processes (`okta::resync`), and it waits for the Okta connection and a first
    /// initial sync if there are none yet.
    pub async fn after_start(&self) {
        let recorded = match self.hooks.hook().await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the recorded event hook at start; the periodic re-read brings what it missed");
                return;
            }
        };
        if recorded.is_none() {
            return;
        }
        match self.resync.request_now(RESTARTED).await {
            Ok(()) => tracing::info!(
                "an event hook is recorded: a re-read of the Okta org is requested for the events sent while the bridge was not answering"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "could not request the Okta re-read at start; the periodic re-read brings what was missed")
            }
        }
    }

    /// Creates or repairs the hook (see the module's comment); audited either way.
    pub async fn ensure(&self, actor: &str) -> Result<Ensured, RegistrationError> {
        let _one = self.lock.lock().await;
        let had = self.hooks.hook().await?;
        let action = if had.is_some() {
            "okta.event_hook.repair"
        } else {
            "okta.event_hook.create"
        };
        let mut done = Vec::new();
        let result = self.ensure_locked(had, actor, &mut done).await;
        let (detail, outcome) = match &result {
            Ok(e) => (
                serde_json::json!({"okta_hook_id": e.hook.id, "uri": e.hook.uri, "events": e.hook.events,
                    "status": e.hook.status, "verification_status": e.hook.verification_status,
                    "actions": done, "problem": e.hook.problem}),
                if e.hook.problem.is_none() {
                    Outcome::Success
                } else {
                    Outcome::Failure
                },
            ),
            Err(err) => (
                serde_json::json!({"actions": done, "error": err.to_string()}),
                Outcome::Failure,
            ),
        };
        let id = result.as_ref().ok().and_then(|e| e.hook.id.clone());
        self.audit(actor, action, id.as_deref(), detail, outcome)
            .await?;
        result
    }

    async fn ensure_locked(
        &self,
        had: Option<Hook>,
        actor: &str,
        done: &mut Vec<String>,
    ) -> Result<Ensured, RegistrationError> {
        let uri = events_uri(&self.public_url).map_err(RegistrationError::PublicUrl)?;
        // The hook in Okta: the recorded one (its secret is ours), else one of ours by name
        // and URI (its secret unknown: a database restored or replaced).
        let mut live = None;
        let mut secret_known = false;
        if let Some(h) = &had {
            match self.okta.get_event_hook(&h.okta_hook_id, actor).await {
                Ok(found) => {
                    live = Some(found);
                    secret_known = true;
                }
                Err(e) if not_found(&e) => {
                    done.push(format!("found hook {} deleted in Okta", h.okta_hook_id));
                }
                Err(e) => return Err(explain(e)),
            }
        }
        if live.is_none() {
            let ours = self
                .okta
                .list_event_hooks(actor)
                .await
                .map_err(explain)?
                .into_iter()
                .find(|h| h.name == HOOK_NAME && h.uri() == uri);
            if let Some(h) = &ours {
                done.push(format!("found hook {} in Okta without its secret", h.id));
            }
            live = ours;
        }
        let mut hook = match live {
            None => {
                let secret = fresh_secret();
                let created = self
                    .okta
                    .create_event_hook(&spec(&uri, secret.clone()), actor)
                    .await
                    .map_err(explain)?;
                self.record(&created, Some(&secret), None).await?;
                done.push(format!("created hook {}", created.id));
                created
            }
            Some(h) if h.uri() != uri || !exact_events(h.events()) || !secret_known => {
                let replaced = self.replace(&h.id, &uri, actor).await?;
                done.push(format!(
                    "replaced hook {} (URI, events and a fresh secret)",
                    h.id
                ));
                replaced
            }
            Some(h) => h,
        };
        if !hook.is_active() {
            hook = self
                .okta
                .event_hook_lifecycle(&hook.id, HookAction::Activate, actor)
                .await
                .map_err(explain)?;
            done.push("activated".into());
        }
        // The secret Okta holds is the one just sent, unless the hook was found as it was.
        let rotated = done
            .iter()
            .any(|d| d.starts_with("created") || d.starts_with("replaced"));
        let mut problem = None;
        match self.verify(&hook.id, actor).await? {
            Ok(h) => {
                hook = h;
                done.push("verified".into());
            }
            Err(reason) if !rotated => {
                // Okta may hold a secret other than the recorded one: a fresh one, once more.
                done.push(format!("verification failed ({reason}); new secret"));
                hook = self.replace(&hook.id, &uri, actor).await?;
                match self.verify(&hook.id, actor).await? {
                    Ok(h) => {
                        hook = h;
                        done.push("verified".into());
                    }
                    Err(reason) => problem = Some(verification_problem(&uri, &reason)),
                }
            }
            Err(reason) => problem = Some(verification_problem(&uri, &reason)),
        }
        let problem = problem.or_else(|| problem_of(&hook, &uri));
        self.record(&hook, None, problem.clone()).await?;
        // A recorded hook that was not delivering (deleted, deactivated, moved, unverified)
        // lost events meanwhile: the re-read finds them.
        let was_broken = had.as_ref().is_some_and(|h| {
            h.status != "ACTIVE" || h.verification_status != "VERIFIED" || h.uri != uri
        }) || done
            .iter()
            .any(|d| d.contains("deleted") || d == "activated" || d.starts_with("replaced"));
        if had.is_some() && was_broken && hook.is_verified() {
            match self.resync.request_now("event hook repaired").await {
                Ok(()) => done.push("re-read of the org requested".into()),
                Err(e) => {
                    tracing::warn!(error = %e, "could not request the Okta re-read after repairing the event hook")
                }
            }
        }
        let mut view = self.view_of_live(&hook, problem).await?;
        view.source = "okta";
        Ok(Ensured {
            hook: view,
            actions: done.clone(),
        })
    }

    /// `PUT` with a fresh secret, recorded at once.
    async fn replace(
        &self,
        id: &str,
        uri: &str,
        actor: &str,
    ) -> Result<EventHook, RegistrationError> {
        let secret = fresh_secret();
        let replaced = self
            .okta
            .update_event_hook(id, &spec(uri, secret.clone()), actor)
            .await
            .map_err(explain)?;
        self.record(&replaced, Some(&secret), None).await?;
        Ok(replaced)
    }

    /// Asks Okta to verify the hook: the hook as verified, or why Okta says it failed (a
    /// `400`: Okta did not get the challenge back from `/okta/events`).
    async fn verify(
        &self,
        id: &str,
        actor: &str,
    ) -> Result<Result<EventHook, String>, RegistrationError> {
        match self
            .okta
            .event_hook_lifecycle(id, HookAction::Verify, actor)
            .await
        {
            Ok(h) => Ok(Ok(h)),
            Err(OktaError::Okta(OktaApiError::Api {
                status: 400,
                summary,
                ..
            })) => Ok(Err(summary)),
            Err(e) => Err(explain(e)),
        }
    }

    async fn record(
        &self,
        hook: &EventHook,
        secret: Option<&Secret>,
        problem: Option<String>,
    ) -> Result<Hook, RegistrationError> {
        Ok(self
            .hooks
            .set_hook(HookRecord {
                okta_hook_id: hook.id.clone(),
                uri: hook.uri().to_string(),
                status: hook.status.clone(),
                verification_status: hook.verification_status.clone(),
                events: hook.events().to_vec(),
                problem,
                secret: secret.map(|s| s.expose().to_string()),
            })
            .await?)
    }

    /// `GET /api/v1/okta/event-hook`: the hook read from Okta when the connection allows,
    /// else as recorded; the record follows what Okta says.
    pub async fn status(&self, actor: &str) -> Result<HookView, RegistrationError> {
        let uri = events_uri(&self.public_url);
        let recorded = self.hooks.hook().await?;
        let Some(rec) = recorded else {
            let problem = match &uri {
                Err(why) => why.clone(),
                Ok(_) => "no event hook is registered, so changes in Okta reach the bridge only through the periodic re-read: POST /api/v1/okta/event-hook creates it".into(),
            };
            return self.view_of_record(None, Some(problem)).await;
        };
        let live = match self.okta.get_event_hook(&rec.okta_hook_id, actor).await {
            Ok(h) => h,
            Err(e) if not_found(&e) => {
                let mut view = self
                    .view_of_record(
                        Some(&rec),
                        Some(format!(
                            "hook {} was deleted in Okta, so Okta sends no events: POST /api/v1/okta/event-hook creates it again",
                            rec.okta_hook_id
                        )),
                    )
                    .await?;
                view.status = DELETED_IN_OKTA.into();
                view.verification_status = None;
                view.source = "okta";
                return Ok(view);
            }
            Err(e) => {
                let why = explain(e);
                if let RegistrationError::Store(s) = why {
                    return Err(RegistrationError::Store(s));
                }
                return self
                    .view_of_record(
                        Some(&rec),
                        Some(format!("{why} (showing the hook as last recorded)")),
                    )
                    .await;
            }
        };
        let problem = match &uri {
            Err(why) => Some(why.clone()),
            Ok(uri) => problem_of(&live, uri),
        };
        // Why the last verification failed says more than "unverified": it stays while the
        // hook is active, unverified and where it was.
        let problem = problem.map(|p| {
            rec.problem
                .clone()
                .filter(|_| live.is_active() && !live.is_verified() && live.uri() == rec.uri)
                .unwrap_or(p)
        });
        let changed = rec.status != live.status
            || rec.verification_status != live.verification_status
            || rec.uri != live.uri()
            || rec.events != live.events()
            || rec.problem != problem;
        if changed {
            self.record(&live, None, problem.clone()).await?;
        }
        self.view_of_live(&live, problem).await
    }

    /// The hook as last recorded, without asking Okta (the console's dashboard).
    pub async fn recorded(&self) -> Result<HookView, RegistrationError> {
        match self.hooks.hook().await? {
            None => {
                let problem = match events_uri(&self.public_url) {
                    Err(why) => why,
                    Ok(_) => "no event hook is registered: create it to get changes from Okta within seconds".into(),
                };
                self.view_of_record(None, Some(problem)).await
            }
            Some(rec) => {
                let problem = rec.problem.clone();
                self.view_of_record(Some(&rec), problem).await
            }
        }
    }

    /// `DELETE /api/v1/okta/event-hook`: deactivates and deletes the hook in Okta, then
    /// forgets it (its secret no longer opens `/okta/events`).
    pub async fn remove(&self, actor: &str) -> Result<Removed, RegistrationError> {
        let _one = self.lock.lock().await;
        let result = self.remove_locked(actor).await;
        let (id, detail, outcome) = match &result {
            Ok(r) => (
                Some(r.id.clone()),
                serde_json::json!({"okta_hook_id": r.id, "deleted_in_okta": r.deleted_in_okta, "forgotten": true}),
                Outcome::Success,
            ),
            Err(e) => (
                None,
                serde_json::json!({"error": e.to_string()}),
                Outcome::Failure,
            ),
        };
        self.audit(
            actor,
            "okta.event_hook.delete",
            id.as_deref(),
            detail,
            outcome,
        )
        .await?;
        result
    }

    async fn remove_locked(&self, actor: &str) -> Result<Removed, RegistrationError> {
        let recorded = self.hooks.hook().await?;
        let id = match &recorded {
            Some(r) => r.okta_hook_id.clone(),
            None => {
                // One of ours the database does not know (by name and URI) goes too.
                let uri = events_uri(&self.public_url).ok();
                let hooks = self.okta.list_event_hooks(actor).await.map_err(explain)?;
                hooks
                    .into_iter()
                    .find(|h| h.name == HOOK_NAME && Some(h.uri()) == uri.as_deref())
                    .map(|h| h.id)
                    .ok_or(RegistrationError::NotRegistered)?
            }
        };
        let deleted_in_okta = match self.okta.get_event_hook(&id, actor).await {
            Err(e) if not_found(&e) => false,
            Err(e) => return Err(explain(e)),
            Ok(h) => {
                if h.is_active() {
                    match self
                        .okta
                        .event_hook_lifecycle(&id, HookAction::Deactivate, actor)
                        .await
                    {
                        Err(e) if not_found(&e) => {}
                        other => {
                            other.map_err(explain)?;
                        }
                    }
                }
                match self.okta.delete_event_hook(&id, actor).await {
                    Ok(()) => true,
                    Err(e) if not_found(&e) => false,
                    Err(e) => return Err(explain(e)),
                }
            }
        };
        if recorded.is_some() {
            self.hooks.forget_hook().await?;
        }
        Ok(Removed {
            id,
            deleted_in_okta,
        })
    }

    async fn view_of_live(
        &self,
        hook: &EventHook,
        problem: Option<String>,
    ) -> Result<HookView, RegistrationError> {
        let stats = self.hooks.stats().await?;
        Ok(HookView {
            id: Some(hook.id.clone()),
            status: hook.status.clone(),
            verification_status: Some(hook.verification_status.clone()),
            uri: Some(hook.uri().to_string()),
            events: hook.events().to_vec(),
            last_delivery_at: stats.last_delivery_at.as_ref().map(crate::time::rfc3339),
            deliveries: stats.deliveries,
            events_applied: stats.events_applied,
            events_ignored: stats.events_ignored,
            problem,
            source: "okta",
        })
    }

    async fn view_of_record(
        &self,
        rec: Option<&Hook>,
        problem: Option<String>,
    ) -> Result<HookView, RegistrationError> {
        let stats = self.hooks.stats().await?;
        let last: Option<NaiveDateTime> = stats.last_delivery_at;
        Ok(HookView {
            id: rec.map(|r| r.okta_hook_id.clone()),
            status: rec
                .map(|r| r.status.clone())
                .unwrap_or_else(|| NOT_REGISTERED.into()),
            verification_status: rec.map(|r| r.verification_status.clone()),
            uri: rec.map(|r| r.uri.clone()),
            events: rec.map(|r| r.events.clone()).unwrap_or_default(),
            last_delivery_at: last.as_ref().map(crate::time::rfc3339),
            deliveries: stats.deliveries,
            events_applied: stats.events_applied,
            events_ignored: stats.events_ignored,
            problem,
            source: "recorded",
        })
    }

    async fn audit(
        &self,
        actor: &str,
        action: &'static str,
        target: Option<&str>,
        detail: serde_json::Value,
        outcome: Outcome,
    ) -> Result<(), RegistrationError> {
        let actor = actor.to_string();
        let target = target.map(str::to_string);
        crate::store::run(&self.pool, move |c| {
            audit::record(
                c,
                &audit::Entry {
                    actor: &actor,
                    action,
                    target_type: "okta_event_hook",
                    target_id: target.as_deref(),
                    detail,
                    outcome,
                },
            )
        })
        .await?;
        Ok(())
    }
}

fn verification_problem(uri: &str, reason: &str) -> String {
    format!(
        "Okta could not verify the hook: {reason}. Okta must reach {uri} from the internet and get the challenge back: check PUBLIC_URL, the proxy or firewall in front of the bridge, then POST /api/v1/okta/event-hook again"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_events_uri_is_https_or_loopback() {
        assert_eq!(
            events_uri("https://bridge.example.com/").as_deref(),
            Ok("https://bridge.example.com/okta/events")
        );
        assert_eq!(
            events_uri("https://example.com/bridge").as_deref(),
            Ok("https://example.com/bridge/okta/events")
        );
        assert!(events_uri("http://127.0.0.1:8080").is_ok());
        assert!(events_uri("http://localhost:8080").is_ok());
        assert!(events_uri("http://[::1]:8080").is_ok());
        let refused = events_uri("http://bridge.example.com").unwrap_err();
        assert!(
            refused.contains("HTTPS") && refused.contains("PUBLIC_URL"),
            "{refused}"
        );
        assert!(events_uri("http://10.0.0.5").is_err());
        assert!(events_uri("not a url").is_err());
    }

    #[test]
    fn secrets_are_fresh_and_long() {
        let a = fresh_secret();
        let b = fresh_secret();
        assert_ne!(a.expose(), b.expose());
        // 32 bytes, base64url without padding.
        assert_eq!(a.expose().len(), 43);
        assert!(a
            .expose()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }

    #[test]
    fn the_event_list_is_exactly_the_spec() {
        let all: Vec<String> = EVENT_TYPES.iter().map(|s| s.to_string()).collect();
        assert!(exact_events(&all));
        let mut reversed = all.clone();
        reversed.reverse();
        assert!(exact_events(&reversed));
        assert!(!exact_events(&all[1..]));
        let mut more = all.clone();
        more.push("user.session.start".into());
        assert!(!exact_events(&more));
        let mut doubled = all[1..].to_vec();
        doubled.push(all[1].clone());
        assert!(!exact_events(&doubled));
    }
}
