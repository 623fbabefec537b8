//! The simulator handle: shared state behind mutexes (never held across an await),
//! used by the HTTP handlers and directly by in-process tests.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::calls::{CallLog, CallsSnapshot};
use crate::error::SimError;
use crate::faults::{FaultState, Faults};
use crate::input::{SearchQuery, UserInput};
use crate::model::{now_ms, DeletedRole, Id, NewRole, Page, Role, StateSnapshot, User};
use crate::seed::{Seed, SeedOutcome};
use crate::store::Store;

#[derive(Clone, Default)]
pub struct SimConfig {
    /// The API token: `Authorization: Bearer <token>` on every `/v2` request.
    pub token: String,
    /// A token that may read (`GET /v2/roles`, search) but gets `403` on writes.
    pub readonly_token: Option<String>,
    /// Generate user ids as strings (`"u-1001"`) and role ids as `"r-1"` instead of numbers.
    pub string_ids: bool,
    /// Roles and users present from the start.
    pub seed: Option<Seed>,
    pub faults: Faults,
}

impl SimConfig {
    pub fn new(token: impl Into<String>) -> Self {
        SimConfig {
            token: token.into(),
            ..SimConfig::default()
        }
    }
}

impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("token", &"***")
            .field(
                "readonly_token",
                &self.readonly_token.as_ref().map(|_| "***"),
            )
            .field("string_ids", &self.string_ids)
            .field("seed", &self.seed)
            .field("faults", &self.faults)
            .finish()
    }
}

/// What a request's token allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    Denied,
    ReadOnly,
    Full,
}

/// The simulator. Cheap to clone; clones share the state.
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

struct Inner {
    token: String,
    readonly_token: Option<String>,
    string_ids: bool,
    store: Mutex<Store>,
    faults: Mutex<FaultState>,
    calls: Mutex<CallLog>,
}

impl fmt::Debug for Simulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulator")
            .field("string_ids", &self.inner.string_ids)
            .finish_non_exhaustive()
    }
}

/// A poisoned lock only means another request panicked; the data is still consistent
/// (every mutation is a whole-value replace), so keep serving.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Simulator {
    /// Fails when the seed or the faults are invalid.
    pub fn new(cfg: SimConfig) -> Result<Simulator, SimError> {
        let sim = Simulator {
            inner: Arc::new(Inner {
                token: cfg.token,
                readonly_token: cfg.readonly_token,
                string_ids: cfg.string_ids,
                store: Mutex::new(Store::new(cfg.string_ids)),
                faults: Mutex::new(FaultState::default()),
                calls: Mutex::new(CallLog::default()),
            }),
        };
        sim.set_faults(cfg.faults)?;
        if let Some(seed) = cfg.seed {
            sim.seed(seed)?;
        }
        Ok(sim)
    }

    pub fn state(&self) -> StateSnapshot {
        lock(&self.inner.store).snapshot()
    }

    /// The user whose id has this string form (`"1001"` or `"u-1001"`).
    pub fn user(&self, id: &str) -> Option<User> {
        lock(&self.inner.store).user(id).cloned()
    }

    pub fn calls(&self) -> CallsSnapshot {
        lock(&self.inner.calls).snapshot()
    }

    pub fn reset_calls(&self) {
        lock(&self.inner.calls).reset();
    }

    pub fn faults(&self) -> Faults {
        lock(&self.inner.faults).faults().clone()
    }

    /// Replaces all faults (`Faults::default()` clears them).
    pub fn set_faults(&self, faults: Faults) -> Result<(), SimError> {
        faults.validate()?;
        lock(&self.inner.faults).set(faults);
        Ok(())
    }

    /// Merges a seed; all of it or, on error, none of it.
    pub fn seed(&self, seed: Seed) -> Result<SeedOutcome, SimError> {
        let mut store = lock(&self.inner.store);
        let mut next = store.clone();
        let outcome = next.apply_seed(seed, now_ms())?;
        *store = next;
        Ok(outcome)
    }

    pub fn add_role(&self, role: NewRole) -> Result<Role, SimError> {
        lock(&self.inner.store).add_role(role)
    }

    /// Deletes the role whose id has this string form and takes it off every user;
    /// `None` when there is no such role.
    pub fn delete_role(&self, id: &str) -> Option<DeletedRole> {
        lock(&self.inner.store).delete_role(id)
    }

    /// Wipes users, roles, the call record and the faults; ids start over.
    pub fn reset(&self) {
        *lock(&self.inner.store) = Store::new(self.inner.string_ids);
        lock(&self.inner.faults).set(Faults::default());
        lock(&self.inner.calls).reset();
    }

    // ---- used by the /v2 handlers and the request gate ----

    pub(crate) fn access(&self, authorization: Option<&str>) -> Access {
        let token = authorization.and_then(|h| {
            let (scheme, token) = h.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
        match token {
            Some(t) if !t.is_empty() && t == self.inner.token => Access::Full,
            Some(t) if !t.is_empty() && Some(t) == self.inner.readonly_token.as_deref() => {
                Access::ReadOnly
            }
            _ => Access::Denied,
        }
    }

    pub(crate) fn begin_call(&self, method: &str, endpoint: &str, path: &str) -> u64 {
        lock(&self.inner.calls).begin(method, endpoint, path)
    }

    pub(crate) fn finish_call(&self, seq: u64, status: u16) {
        lock(&self.inner.calls).finish(seq, status);
    }

    pub(crate) fn fault_delay(&self) -> Duration {
        lock(&self.inner.faults).delay(&mut rand::rng())
    }

    pub(crate) fn outage(&self) -> bool {
        lock(&self.inner.faults).outage()
    }

    pub(crate) fn admit(&self) -> Result<(), u64> {
        lock(&self.inner.faults).admit(Instant::now())
    }

    pub(crate) fn injected_error(&self) -> Option<u16> {
        lock(&self.inner.faults).injected_error(&mut rand::rng())
    }

    pub(crate) fn lose_response(&self) -> bool {
        lock(&self.inner.faults).lose_response(&mut rand::rng())
    }

    pub(crate) fn create_user(&self, input: UserInput) -> Result<User, SimError> {
        let new = input.into_new_user()?;
        lock(&self.inner.store).create_user(new, Vec::new(), None, now_ms())
    }

    /// `404` before `422` before `409`.
    pub(crate) fn patch_user(&self, id: &str, input: UserInput) -> Result<User, SimError> {
        let mut store = lock(&self.inner.store);
        if store.user(id).is_none() {
            return Err(SimError::user_not_found(id));
        }
        store.patch_user(id, input.into_patch()?, now_ms())
    }

    pub(crate) fn search(&self, query: &SearchQuery) -> Page<User> {
        lock(&self.inner.store).search(query)
    }

    pub(crate) fn add_roles(&self, id: &str, role_ids: &[Id]) -> Result<User, SimError> {
        lock(&self.inner.store).add_roles(id, role_ids, now_ms())
    }

    pub(crate) fn remove_roles(&self, id: &str, role_ids: &[Id]) -> Result<User, SimError> {
        lock(&self.inner.store).remove_roles(id, role_ids, now_ms())
    }

    pub(crate) fn roles_page(&self, page: u64, page_size: u64) -> Page<Role> {
        lock(&self.inner.store).roles_page(page, page_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        let sim = Simulator::new(SimConfig {
            readonly_token: Some("ro".into()),
            ..SimConfig::new("secret")
        })
        .unwrap();
        assert_eq!(sim.access(Some("Bearer secret")), Access::Full);
        assert_eq!(sim.access(Some("bearer  secret ")), Access::Full);
        assert_eq!(sim.access(Some("Bearer ro")), Access::ReadOnly);
        for bad in [
            None,
            Some("secret"),
            Some("Basic secret"),
            Some("Bearer "),
            Some("Bearer secret2"),
        ] {
            assert_eq!(sim.access(bad), Access::Denied, "{bad:?}");
        }
        let open = Simulator::new(SimConfig::new("")).unwrap();
        assert_eq!(open.access(Some("Bearer ")), Access::Denied);
    }

    #[test]
    fn bad_config_is_refused_and_seed_is_atomic() {
        let faults = Faults {
            error_rate: 2.0,
            ..Faults::default()
        };
        assert!(Simulator::new(SimConfig {
            faults,
            ..SimConfig::new("t")
        })
        .is_err());

        let sim = Simulator::new(SimConfig {
            seed: Some(crate::demo_seed()),
            ..SimConfig::new("t")
        })
        .unwrap();
        let before = sim.state();
        let mut bad = crate::demo_seed();
        bad.roles.push(NewRole::new(99, "New", ""));
        bad.users[1].email = "not-an-email".into();
        assert!(sim.seed(bad).is_err());
        assert_eq!(sim.state(), before);
        assert_eq!(before.roles.len(), 5);
        assert_eq!(before.users.len(), 2);
    }
}
