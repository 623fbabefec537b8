//! The one way to call ZenQMS: every call waits for the tenant's budget (shared by every
//! process on the database, `budget.rs`), none is made while sync is paused, and a `429`
//! pauses every caller of every process for its `Retry-After`. The
//! workers and the drift sweep wait that pause out and try the call again; an admin request
//! (the role list) fails at once instead ([`Patience`]). Also the reconciler's ports (`Api`,
//! `Links`) as the worker implements them.

use std::future::Future;

use super::engine::Inner;
use super::error::SyncError;
use super::reconcile::{Api, Links, Owner};
use super::state;
use crate::store;
use crate::zenqms::{
    CallCtx, NewUser, Page, RemoteUser, Role, SearchFilters, UserPatch, ZenqmsClient, ZenqmsError,
    ZenqmsId,
};
use std::sync::atomic::Ordering;

/// In-place retries of one call after `429`s before the run gives up (and is retried when
/// the pause ends, without counting as a failure).
const MAX_RATE_LIMITED: usize = 3;

pub struct Throttled<'a> {
    pub engine: &'a Inner,
    pub client: &'a ZenqmsClient,
    pub patience: Patience,
}

/// What a call does about a `429` pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Patience {
    /// Workers and sweeps: wait the pause out, and try a call that got a `429` again (a few
    /// times; then the run is retried when the pause ends, without counting as a failure).
    WaitOut,
    /// An admin request: fail at once, without a call, while a pause is in force, and return
    /// the `429` of a call (after pausing everyone else).
    FailFast,
    /// Verifying a connection an admin gives, before it is saved: not stopped by sync's pause
    /// (a new connection is how a paused integration is often repaired); waits its turn like
    /// any call, and returns the `429` of the call (after pausing everyone else).
    Verification,
}

impl Patience {
    fn heeds_sync_pause(self) -> bool {
        self != Patience::Verification
    }
}

impl Throttled<'_> {
    async fn call<T, F, Fut>(&self, f: F) -> Result<T, SyncError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, ZenqmsError>>,
    {
        let paused =
            || self.patience.heeds_sync_pause() && self.engine.paused.load(Ordering::SeqCst);
        let mut limited = 0;
        loop {
            if paused() {
                return Err(SyncError::Paused);
            }
            if self.patience == Patience::FailFast {
                if let Some(until) = self.engine.budget.pause().await? {
                    let retry_after = until.saturating_duration_since(tokio::time::Instant::now());
                    return Err(ZenqmsError::RateLimited { retry_after }.into());
                }
            }
            let departure = self.engine.budget.acquire().await?;
            // A pause that came while this call waited for its turn.
            if paused() {
                return Err(SyncError::Paused);
            }
            let answer = f().await;
            // The answer is in: ZenQMS counted the call no later than now (budget.rs).
            drop(departure);
            match answer {
                Err(ZenqmsError::RateLimited { retry_after }) => {
                    // Recorded for every process; if the database cannot take it, this
                    // process still honours it (and the others may meet a `429` of their own).
                    if let Err(e) = self.engine.budget.pause_for(retry_after).await {
                        tracing::warn!(error = %e, "cannot share the 429 pause with other instances");
                    }
                    limited += 1;
                    if self.patience != Patience::WaitOut || limited >= MAX_RATE_LIMITED {
                        return Err(ZenqmsError::RateLimited { retry_after }.into());
                    }
                }
                other => return other.map_err(SyncError::from),
            }
        }
    }
}

impl Throttled<'_> {
    /// One page of `GET /v2/roles`.
    pub async fn list_roles(
        &self,
        ctx: CallCtx<'_>,
        page: u32,
        page_size: u32,
    ) -> Result<Page<Role>, SyncError> {
        self.call(|| self.client.list_roles(ctx, page, page_size))
            .await
    }

    /// One page of `POST /v2/users/search` (the drift sweep's only call).
    pub async fn search_page(
        &self,
        ctx: CallCtx<'_>,
        f: &SearchFilters,
        page: u32,
        page_size: u32,
    ) -> Result<Page<RemoteUser>, SyncError> {
        self.call(|| self.client.search_page(ctx, f, page, page_size))
            .await
    }
}

impl Api for Throttled<'_> {
    async fn search(
        &self,
        ctx: CallCtx<'_>,
        f: &SearchFilters,
    ) -> Result<Vec<RemoteUser>, SyncError> {
        self.call(|| self.client.search(ctx, f)).await
    }

    async fn create_user(&self, ctx: CallCtx<'_>, u: &NewUser) -> Result<RemoteUser, SyncError> {
        self.call(|| self.client.create_user(ctx, u)).await
    }

    async fn update_user(
        &self,
        ctx: CallCtx<'_>,
        id: &ZenqmsId,
        p: &UserPatch,
    ) -> Result<RemoteUser, SyncError> {
        self.call(|| self.client.update_user(ctx, id, p)).await
    }

    async fn add_roles(
        &self,
        ctx: CallCtx<'_>,
        id: &ZenqmsId,
        r: &[ZenqmsId],
    ) -> Result<RemoteUser, SyncError> {
        self.call(|| self.client.add_roles(ctx, id, r)).await
    }

    async fn remove_roles(
        &self,
        ctx: CallCtx<'_>,
        id: &ZenqmsId,
        r: &[ZenqmsId],
    ) -> Result<RemoteUser, SyncError> {
        self.call(|| self.client.remove_roles(ctx, id, r)).await
    }
}

/// Links as the database holds them.
pub struct DbLinks<'a> {
    pub pool: &'a store::Pool,
}

impl Links for DbLinks<'_> {
    async fn owner_of(&self, id: &ZenqmsId, except: &str) -> Result<Option<Owner>, SyncError> {
        let id = id.clone();
        let except = except.to_string();
        Ok(store::run(self.pool, move |c| state::owner_of(c, &id, &except)).await?)
    }

    async fn note_create(&self, me: &str) -> Result<bool, SyncError> {
        let me = me.to_string();
        Ok(store::run(self.pool, move |c| super::creates::note(c, &me)).await?)
    }
}

impl Throttled<'_> {
    /// `PATCH /v2/users/{id}` `{"external_id": null}` (the initial sync's unlink).
    pub async fn clear_external_id(
        &self,
        ctx: CallCtx<'_>,
        id: &ZenqmsId,
    ) -> Result<RemoteUser, SyncError> {
        self.call(|| self.client.clear_external_id(ctx, id)).await
    }
}
