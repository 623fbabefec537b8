//! The simulator handle: configuration, shared state behind mutexes (never held across
//! an await), used by the HTTP handlers and directly by in-process tests.
//!
//! Directory changes — from `/_sim`, from Rust, from anywhere — go through
//! [`Simulator::apply`], which hands them to the state module (`state.rs`), appends the
//! System Log events they produced and queues them for event-hook delivery.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::calls::{CallLog, CallsSnapshot, Outcome};
use crate::error::ApiError;
use crate::events::{LogEvent, Party};
use crate::faults::Faults;
use crate::hooks::delivery::{DeliveryRecord, HookDelivery, HookHub, Published};
use crate::hooks::registry::EventHook;
use crate::model::{now_ms, Group, User};
use crate::oauth::clients::{AdminIdentity, Denial, OAuthClient};
use crate::oauth::keys::{process_key, SigningKey};
use crate::oauth::tokens::{OAuthState, TokenInfo, TokenKind};
use crate::ratelimit::{Family, Limiter, RateHeaders, RateLimits};
use crate::seed::{apply_seed, avoid_group_names, generated_seed, Generate, Seed, SeedOutcome};
use crate::state::{Applied, Change, Directory, DirectorySnapshot, Lifecycle, NewGroup, NewUser};

/// The System Log keeps the newest this many events.
pub const MAX_EVENTS: usize = 100_000;

/// How `Link` headers are sent: one header per relation (as Okta does) or one header
/// with both, comma-separated (also valid RFC 8288; a client must accept both).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkStyle {
    #[default]
    Separate,
    Combined,
}

#[derive(Clone)]
pub struct SimConfig {
    /// Users, groups and memberships present from the start (applied before `generate`,
    /// whose groups are renamed `Name (2)` where a name is taken).
    pub seed: Option<Seed>,
    /// A generated org ("N users in M groups").
    pub generate: Option<Generate>,
    /// Seeds the id generator: the same seed gives the same ids. Random when absent
    /// (the generator's seed is used when `generate` is set).
    pub id_seed: Option<u64>,
    pub clients: Vec<OAuthClient>,
    pub admin: AdminIdentity,
    pub faults: Faults,
    pub rate_limits: RateLimits,
    pub hook_delivery: HookDelivery,
    pub link_style: LinkStyle,
    /// The org URL the simulator calls itself (`iss`, links). By default the address it
    /// serves on (`http://127.0.0.1:PORT`).
    pub org_url: Option<String>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: None,
            generate: None,
            id_seed: None,
            clients: vec![OAuthClient::default()],
            admin: AdminIdentity::default(),
            faults: Faults::default(),
            rate_limits: RateLimits::default(),
            hook_delivery: HookDelivery::default(),
            link_style: LinkStyle::default(),
            org_url: None,
        }
    }
}

impl SimConfig {
    /// One client (replacing the default one), nothing else changed.
    pub fn with_client(client: OAuthClient) -> Self {
        SimConfig {
            clients: vec![client],
            ..SimConfig::default()
        }
    }
}

impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.clients.iter().map(|c| c.client_id.as_str()).collect();
        f.debug_struct("SimConfig")
            .field("clients", &ids)
            .field("admin", &self.admin.login)
            .field("generate", &self.generate)
            .field("faults", &self.faults)
            .field("rate_limits", &self.rate_limits)
            .finish_non_exhaustive()
    }
}

/// The simulator. Cheap to clone; clones share the state.
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

struct Inner {
    directory: Mutex<Directory>,
    system_log: Mutex<VecDeque<LogEvent>>,
    oauth: Mutex<OAuthState>,
    key: Arc<SigningKey>,
    faults: Mutex<Faults>,
    limiter: Mutex<Limiter>,
    calls: Mutex<CallLog>,
    hooks: Arc<HookHub>,
    events_tx: UnboundedSender<Published>,
    events_rx: Mutex<Option<UnboundedReceiver<Published>>>,
    link_style: LinkStyle,
    fixed_org_url: bool,
}

impl fmt::Debug for Simulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulator")
            .field("org_url", &self.org_url())
            .finish_non_exhaustive()
    }
}

/// A poisoned lock only means another request panicked; every mutation replaces whole
/// values, so the data is still consistent: keep serving.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Simulator {
    /// Fails when the configuration, seed or key generation fails.
    pub fn new(cfg: SimConfig) -> Result<Simulator, String> {
        cfg.faults.validate()?;
        cfg.rate_limits.validate()?;
        cfg.hook_delivery.validate()?;
        for c in &cfg.clients {
            c.validate()
                .map_err(|e| format!("client {}: {e}", c.client_id))?;
        }
        let key = process_key()?;
        let now = now_ms();
        let id_seed = cfg.id_seed.or(cfg.generate.as_ref().map(|g| g.seed));
        let mut directory = Directory::new(id_seed, now);
        // The seed first, so that its group names stay as written and generated groups
        // step aside.
        if let Some(seed) = cfg.seed {
            apply_seed(&mut directory, seed, now).map_err(|e| format!("seed: {e:?}"))?;
        }
        if let Some(g) = &cfg.generate {
            let mut seed = generated_seed(g, now).map_err(|e| format!("generate: {e:?}"))?;
            let existing: Vec<String> = directory
                .snapshot()
                .groups
                .into_iter()
                .map(|g| g.profile.name)
                .collect();
            avoid_group_names(&mut seed, &existing);
            apply_seed(&mut directory, seed, now).map_err(|e| format!("generate: {e:?}"))?;
        }
        let (tx, rx) = unbounded_channel();
        let org_url = cfg
            .org_url
            .clone()
            .map(|u| u.trim_end_matches('/').to_owned());
        Ok(Simulator {
            inner: Arc::new(Inner {
                directory: Mutex::new(directory),
                system_log: Mutex::new(VecDeque::new()),
                oauth: Mutex::new(OAuthState::new(cfg.clients, cfg.admin)),
                key,
                faults: Mutex::new(cfg.faults),
                limiter: Mutex::new(Limiter::new(cfg.rate_limits)),
                calls: Mutex::new(CallLog::default()),
                hooks: Arc::new(HookHub::new(
                    cfg.hook_delivery,
                    org_url.clone().unwrap_or_else(|| "http://127.0.0.1".into()),
                )),
                events_tx: tx,
                events_rx: Mutex::new(Some(rx)),
                link_style: cfg.link_style,
                fixed_org_url: org_url.is_some(),
            }),
        })
    }

    /// `http://127.0.0.1:PORT` once served (or the configured org URL); no trailing slash.
    pub fn org_url(&self) -> String {
        self.inner.hooks.org_url()
    }

    // ---- the directory ----

    pub fn state(&self) -> DirectorySnapshot {
        lock(&self.inner.directory).snapshot()
    }

    /// By id or login.
    pub fn user(&self, id_or_login: &str) -> Option<User> {
        lock(&self.inner.directory).user(id_or_login).cloned()
    }

    pub fn group(&self, id: &str) -> Option<Group> {
        lock(&self.inner.directory).group(id).cloned()
    }

    /// The one way the directory changes: applies `change` as the admin, records its
    /// System Log events and queues them for the hooks.
    pub fn apply(&self, change: Change) -> Result<Applied, ApiError> {
        let actor = {
            let oauth = lock(&self.inner.oauth);
            let a = &oauth.admin;
            Party {
                id: a.id.clone(),
                kind: "User".into(),
                alternate_id: a.login.clone(),
                display_name: a.name.clone(),
                detail_entry: None,
            }
        };
        let mut dir = lock(&self.inner.directory);
        let (applied, events) = dir.apply(change, &actor, now_ms())?;
        // Still under the directory lock: events enter the log and the delivery queue in
        // the order the changes were made, each with the hooks live and subscribed now.
        // Sending never blocks (the queue is unbounded; the dispatcher batches and
        // delivers in the background).
        if !events.is_empty() {
            let mut log = lock(&self.inner.system_log);
            log.extend(events.iter().cloned());
            let excess = log.len().saturating_sub(MAX_EVENTS);
            log.drain(..excess);
            drop(log);
            let registry = self.inner.hooks.registry();
            let published: Published = events
                .into_iter()
                .map(|e| {
                    let hooks = registry
                        .subscribers(&e.event_type)
                        .into_iter()
                        .map(|h| h.id)
                        .collect();
                    (e, hooks)
                })
                .collect();
            let _ = self.inner.events_tx.send(published);
        }
        Ok(applied)
    }

    pub fn create_user(&self, new: NewUser) -> Result<User, ApiError> {
        match self.apply(Change::CreateUser(new))? {
            Applied::User(u) => Ok(u),
            _ => Err(ApiError::Internal),
        }
    }

    pub fn update_profile(
        &self,
        user: &str,
        profile: Map<String, Value>,
    ) -> Result<User, ApiError> {
        match self.apply(Change::UpdateProfile {
            user: user.to_owned(),
            profile,
        })? {
            Applied::User(u) => Ok(u),
            _ => Err(ApiError::Internal),
        }
    }

    pub fn lifecycle(&self, user: &str, op: Lifecycle) -> Result<User, ApiError> {
        match self.apply(Change::Lifecycle {
            user: user.to_owned(),
            op,
        })? {
            Applied::User(u) => Ok(u),
            _ => Err(ApiError::Internal),
        }
    }

    pub fn delete_user(&self, user: &str) -> Result<(), ApiError> {
        self.apply(Change::DeleteUser {
            user: user.to_owned(),
        })
        .map(|_| ())
    }

    pub fn create_group(&self, new: NewGroup) -> Result<Group, ApiError> {
        match self.apply(Change::CreateGroup(new))? {
            Applied::Group(g) => Ok(g),
            _ => Err(ApiError::Internal),
        }
    }

    /// `description: Some(None)` clears it.
    pub fn update_group(
        &self,
        group: &str,
        name: Option<String>,
        description: Option<Option<String>>,
    ) -> Result<Group, ApiError> {
        match self.apply(Change::UpdateGroup {
            group: group.to_owned(),
            name,
            description,
        })? {
            Applied::Group(g) => Ok(g),
            _ => Err(ApiError::Internal),
        }
    }

    pub fn delete_group(&self, group: &str) -> Result<(), ApiError> {
        self.apply(Change::DeleteGroup {
            group: group.to_owned(),
        })
        .map(|_| ())
    }

    /// `Ok(false)` when the user already was a member.
    pub fn add_member(&self, group: &str, user: &str) -> Result<bool, ApiError> {
        match self.apply(Change::AddMember {
            group: group.to_owned(),
            user: user.to_owned(),
        })? {
            Applied::Membership { changed } => Ok(changed),
            _ => Err(ApiError::Internal),
        }
    }

    /// `Ok(false)` when the user was not a member.
    pub fn remove_member(&self, group: &str, user: &str) -> Result<bool, ApiError> {
        match self.apply(Change::RemoveMember {
            group: group.to_owned(),
            user: user.to_owned(),
        })? {
            Applied::Membership { changed } => Ok(changed),
            _ => Err(ApiError::Internal),
        }
    }

    /// Merges a seed (no events); all of it or, on error, none of it.
    pub fn seed(&self, seed: Seed) -> Result<SeedOutcome, ApiError> {
        apply_seed(&mut lock(&self.inner.directory), seed, now_ms())
    }

    /// Adds a generated org (no events).
    pub fn generate(&self, g: &Generate) -> Result<SeedOutcome, ApiError> {
        let mut seed = generated_seed(g, now_ms())?;
        let existing: Vec<String> = self
            .state()
            .groups
            .into_iter()
            .map(|g| g.profile.name)
            .collect();
        avoid_group_names(&mut seed, &existing);
        self.seed(seed)
    }

    /// The System Log events so far (the newest [`MAX_EVENTS`]), oldest first.
    pub fn events(&self) -> Vec<LogEvent> {
        lock(&self.inner.system_log).iter().cloned().collect()
    }

    // ---- calls, faults, rate limits ----

    pub fn calls(&self) -> CallsSnapshot {
        lock(&self.inner.calls).snapshot()
    }

    pub fn reset_calls(&self) {
        lock(&self.inner.calls).reset();
    }

    pub fn faults(&self) -> Faults {
        lock(&self.inner.faults).clone()
    }

    pub fn set_faults(&self, faults: Faults) -> Result<(), String> {
        faults.validate()?;
        *lock(&self.inner.faults) = faults;
        Ok(())
    }

    pub fn rate_limits(&self) -> RateLimits {
        lock(&self.inner.limiter).limits().clone()
    }

    /// New limits; every window starts over.
    pub fn set_rate_limits(&self, limits: RateLimits) -> Result<(), String> {
        limits.validate()?;
        lock(&self.inner.limiter).set(limits);
        Ok(())
    }

    // ---- event hooks ----

    /// Registered hooks, secrets included.
    pub fn hooks(&self) -> Vec<EventHook> {
        self.inner.hooks.registry().list()
    }

    pub fn deliveries(&self) -> Vec<DeliveryRecord> {
        self.inner.hooks.deliveries()
    }

    pub fn reset_deliveries(&self) {
        self.inner.hooks.reset_deliveries();
    }

    pub fn hook_delivery(&self) -> HookDelivery {
        self.inner.hooks.config()
    }

    pub fn set_hook_delivery(&self, d: HookDelivery) -> Result<(), String> {
        d.validate()?;
        self.inner.hooks.set_config(d);
        Ok(())
    }

    // ---- OAuth ----

    pub fn clients(&self) -> Vec<OAuthClient> {
        lock(&self.inner.oauth).clients.values().cloned().collect()
    }

    /// Adds a client or replaces the one with the same `client_id`.
    pub fn set_client(&self, client: OAuthClient) -> Result<(), String> {
        client.validate()?;
        lock(&self.inner.oauth)
            .clients
            .insert(client.client_id.clone(), client);
        Ok(())
    }

    pub fn admin(&self) -> AdminIdentity {
        lock(&self.inner.oauth).admin.clone()
    }

    pub fn set_admin(&self, admin: AdminIdentity) {
        lock(&self.inner.oauth).admin = admin;
    }

    /// The next `times` authorize requests answer with `denial` instead of a code.
    pub fn deny_next_authorize(&self, denial: Denial, times: usize) -> Result<(), String> {
        denial.validate()?;
        lock(&self.inner.oauth).deny_next(denial, times);
        Ok(())
    }

    pub fn clear_denials(&self) {
        lock(&self.inner.oauth).clear_denials();
    }

    /// Makes tokens of `kind` (or only `token`) expired; returns how many.
    pub fn expire_tokens(&self, kind: TokenKind, token: Option<&str>) -> usize {
        lock(&self.inner.oauth).expire(kind, token, now_ms())
    }

    /// Revokes tokens of `kind` (or only `token`); returns how many.
    pub fn revoke_tokens(&self, kind: TokenKind, token: Option<&str>) -> usize {
        lock(&self.inner.oauth).revoke_all(kind, token)
    }

    /// Issued tokens (by fingerprint), newest first.
    pub fn tokens(&self) -> Vec<TokenInfo> {
        lock(&self.inner.oauth).tokens()
    }

    /// The JWKS of `/oauth2/v1/keys`.
    pub fn jwks(&self) -> Value {
        self.inner.key.jwks()
    }

    // ---- crate-internal: the gate, handlers, server ----

    pub(crate) fn set_served_url(&self, url: String) {
        if !self.inner.fixed_org_url {
            self.inner.hooks.set_org_url(url);
        }
    }

    pub(crate) fn take_event_receiver(&self) -> Option<UnboundedReceiver<Published>> {
        lock(&self.inner.events_rx).take()
    }

    pub(crate) fn hub(&self) -> &Arc<HookHub> {
        &self.inner.hooks
    }

    pub(crate) fn link_style(&self) -> LinkStyle {
        self.inner.link_style
    }

    pub(crate) fn directory(&self) -> MutexGuard<'_, Directory> {
        lock(&self.inner.directory)
    }

    pub(crate) fn oauth(&self) -> MutexGuard<'_, OAuthState> {
        lock(&self.inner.oauth)
    }

    pub(crate) fn key(&self) -> &SigningKey {
        &self.inner.key
    }

    pub(crate) fn admit(&self, family: Family) -> Result<RateHeaders, RateHeaders> {
        lock(&self.inner.limiter).admit(family, now_ms())
    }

    pub(crate) fn begin_call(
        &self,
        method: &str,
        endpoint: &str,
        path: &str,
        query: &str,
        request_id: &str,
    ) -> u64 {
        lock(&self.inner.calls).begin(method, endpoint, path, query, request_id)
    }

    pub(crate) fn finish_call(&self, seq: u64, outcome: Outcome) {
        lock(&self.inner.calls).finish(seq, outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::UserStatus;

    #[test]
    fn config_is_checked_and_changes_log_events() {
        let bad = SimConfig {
            faults: Faults {
                error_rate: 2.0,
                ..Faults::default()
            },
            ..SimConfig::default()
        };
        assert!(Simulator::new(bad).is_err());
        let sim = Simulator::new(SimConfig {
            generate: Some(Generate::new(20, 3, 9)),
            ..SimConfig::default()
        })
        .unwrap();
        let again = Simulator::new(SimConfig {
            generate: Some(Generate::new(20, 3, 9)),
            ..SimConfig::default()
        })
        .unwrap();
        let ids = |s: &Simulator| {
            s.state()
                .users
                .iter()
                .map(|u| u.id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&sim), ids(&again));
        assert!(sim.events().is_empty());
        let user = sim.state().users[0].clone();
        if user.status == UserStatus::Active {
            sim.lifecycle(&user.id, Lifecycle::Suspend).unwrap();
            assert_eq!(sim.events().len(), 1);
        }
        assert!(sim.lifecycle("nobody", Lifecycle::Suspend).is_err());
    }
}
