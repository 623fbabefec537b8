//! The Event Hooks API through the connection's token: each call refreshes once on
//! `401 invalid_token`, as the reads do (`tokens.rs`). The scope is `okta.eventHooks.manage`
//! (in [`super::REQUIRED_SCOPES`]); a token without it gets `403 insufficient_scope`, which the
//! caller explains (`okta_hooks::registration`). Every call is audited as `okta.call` with the
//! admin who asked.

use std::future::Future;

use super::tokens::Access;
use super::{Okta, OktaError};
use crate::okta_api::{EventHook, EventHookSpec, HookAction, OktaApiError};

/// The scope the Event Hooks API needs.
pub const EVENT_HOOKS_SCOPE: &str = "okta.eventHooks.manage";

impl Okta {
    /// One call with a usable token, sent again once with a refreshed token when Okta
    /// answers `401 invalid_token`.
    async fn with_token<T, F, Fut>(&self, call: F) -> Result<T, OktaError>
    where
        F: Fn(Access) -> Fut,
        Fut: Future<Output = Result<T, OktaApiError>>,
    {
        let access = self.access().await?;
        let generation = access.generation;
        match call(access).await {
            Err(OktaApiError::InvalidToken) => {
                let access = self.refresh_after(generation).await?;
                Ok(call(access).await?)
            }
            other => Ok(other?),
        }
    }

    pub async fn list_event_hooks(&self, actor: &str) -> Result<Vec<EventHook>, OktaError> {
        self.with_token(|a| async move { a.client.list_event_hooks(&a.token, Some(actor)).await })
            .await
    }

    pub async fn get_event_hook(&self, id: &str, actor: &str) -> Result<EventHook, OktaError> {
        self.with_token(|a| async move { a.client.get_event_hook(&a.token, id, Some(actor)).await })
            .await
    }

    pub async fn create_event_hook(
        &self,
        spec: &EventHookSpec,
        actor: &str,
    ) -> Result<EventHook, OktaError> {
        self.with_token(|a| async move {
            a.client
                .create_event_hook(&a.token, spec, Some(actor))
                .await
        })
        .await
    }

    pub async fn update_event_hook(
        &self,
        id: &str,
        spec: &EventHookSpec,
        actor: &str,
    ) -> Result<EventHook, OktaError> {
        self.with_token(|a| async move {
            a.client
                .update_event_hook(&a.token, id, spec, Some(actor))
                .await
        })
        .await
    }

    pub async fn event_hook_lifecycle(
        &self,
        id: &str,
        action: HookAction,
        actor: &str,
    ) -> Result<EventHook, OktaError> {
        self.with_token(|a| async move {
            a.client
                .event_hook_lifecycle(&a.token, id, action, Some(actor))
                .await
        })
        .await
    }

    pub async fn delete_event_hook(&self, id: &str, actor: &str) -> Result<(), OktaError> {
        self.with_token(
            |a| async move { a.client.delete_event_hook(&a.token, id, Some(actor)).await },
        )
        .await
    }
}
