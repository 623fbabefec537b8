//! The reconciler's view of ZenQMS inside the worker: every call waits for the process's
//! budget, none is made while sync is paused, and a `429` pauses every worker for its
//! `Retry-After` before the same call is tried again.

use std::future::Future;

use super::engine::Inner;
use super::error::SyncError;
use super::reconcile::{Api, Links, Owner};
use super::state;
use crate::store;
use crate::zenqms::{
    CallCtx, NewUser, Page, RemoteUser, SearchFilters, UserPatch, ZenqmsClient, ZenqmsError,
    ZenqmsId,
};
use std::sync::atomic::Ordering;

/// In-place retries of one call after `429`s before the run gives up (and is retried when
/// the pause ends, without counting as a failure).
const MAX_RATE_LIMITED: usize = 3;

pub struct Throttled<'a> {
    pub engine: &'a Inner,
    pub client: &'a ZenqmsClient,
}

impl Throttled<'_> {
    async fn call<T, F, Fut>(&self, f: F) -> Result<T, SyncError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, ZenqmsError>>,
    {
        let mut limited = 0;
        loop {
            if self.engine.paused.load(Ordering::SeqCst) {
                return Err(SyncError::Paused);
            }
            self.engine.budget.acquire().await;
            // A pause that came while this call waited for its turn.
            if self.engine.paused.load(Ordering::SeqCst) {
                return Err(SyncError::Paused);
            }
            match f().await {
                Err(ZenqmsError::RateLimited { retry_after }) => {
                    self.engine.budget.pause_for(retry_after);
                    limited += 1;
                    if limited >= MAX_RATE_LIMITED {
                        return Err(ZenqmsError::RateLimited { retry_after }.into());
                    }
                }
                other => return other.map_err(SyncError::from),
            }
        }
    }
}

impl Throttled<'_> {
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
}
