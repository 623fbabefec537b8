//! Where role enforcement meets the sync engine — in both directions through a port, so that
//! `mappings` never imports `sync`:
//! - [`RolePolicy`]: what the engine needs of the group→role mappings (the role part of a
//!   user's desired state, the managed roles, ZenQMS's `unknown_role` answers, the status
//!   summary). `server.rs` plugs the `mappings` module in.
//! - `mappings::RoleSource`, implemented here by the [`Engine`]: ZenQMS's role list, read
//!   through the connection in force and the one throttle every ZenQMS call goes through.

use futures_util::future::BoxFuture;

use super::engine::Engine;
use super::error::SyncError;
use super::throttle::{Patience, Throttled};
use crate::mappings::{RolePlan, RoleSource, Summary, Unavailable};
use crate::store::{DbConn, StoreError};
use crate::zenqms::contract::MAX_PAGE_SIZE;
use crate::zenqms::{CallCtx, Role, ZenqmsError, ZenqmsId};

/// Most pages read from `GET /v2/roles` (100 roles each): a tenant past this is an answer
/// that never ends, not a role list.
const MAX_PAGES: u32 = 1000;

/// The engine's port to the role mappings. Every method runs on the caller's connection,
/// inside its transaction where it has one.
pub trait RolePolicy: Send + Sync + 'static {
    /// The managed roles and the roles this user's groups map to; `None`: roles unmanaged.
    fn plan_for(&self, conn: &mut DbConn, user_id: &str) -> Result<Option<RolePlan>, StoreError>;
    /// The managed roles (JSON text of their ids), for the drift sweep.
    fn managed_roles(&self, conn: &mut DbConn) -> Result<Vec<String>, StoreError>;
    /// ZenQMS answered `422 unknown_role` for these roles: they are no longer managed until a
    /// role listing shows them again. Returns those that were present until now.
    fn mark_missing(&self, conn: &mut DbConn, ids: &[ZenqmsId]) -> Result<Vec<String>, StoreError>;
    /// The mappings' part of `GET /api/v1/sync/status`.
    fn summary(&self, conn: &mut DbConn) -> Result<Summary, StoreError>;
}

impl RoleSource for Engine {
    fn available(&self) -> bool {
        !self.is_paused() && self.connected().is_some()
    }

    fn list_roles<'a>(&'a self, actor: &'a str) -> BoxFuture<'a, Result<Vec<Role>, Unavailable>> {
        Box::pin(async move {
            read_roles(self, actor)
                .await
                .map_err(|e| unavailable(self, e))
        })
    }
}

/// Every role ZenQMS lists (all pages, within the call budget); the audit entries of the
/// calls name `actor`.
async fn read_roles(engine: &Engine, actor: &str) -> Result<Vec<Role>, SyncError> {
    if engine.is_paused() {
        return Err(SyncError::Paused);
    }
    let conn = engine.connected().ok_or(SyncError::NotConfigured)?;
    let api = Throttled {
        engine: &engine.inner,
        client: &conn.client,
        patience: Patience::FailFast,
    };
    let ctx = CallCtx {
        actor: Some(actor),
        ..CallCtx::default()
    };
    let mut out: Vec<Role> = Vec::new();
    for page in 1..=MAX_PAGES {
        let got = api.list_roles(ctx, page, MAX_PAGE_SIZE).await?;
        let n = got.data.len();
        out.extend(got.data);
        let complete = got.total.is_some_and(|t| out.len() as u64 >= t);
        if n < MAX_PAGE_SIZE as usize || complete {
            return Ok(out);
        }
    }
    Err(SyncError::Inconsistent(format!(
        "GET /v2/roles kept answering full pages past page {MAX_PAGES}; the role list was not stored"
    )))
}

/// Why the role list could not be read, in the mappings' terms.
fn unavailable(engine: &Engine, e: SyncError) -> Unavailable {
    match e {
        SyncError::NotConfigured => Unavailable::NotConfigured(
            engine
                .connection_view()
                .problem
                .unwrap_or_else(|| SyncError::NotConfigured.to_string()),
        ),
        SyncError::Paused => Unavailable::Paused,
        SyncError::Zenqms(ZenqmsError::RateLimited { retry_after }) => {
            Unavailable::RateLimited(retry_after)
        }
        SyncError::Zenqms(z @ ZenqmsError::Auth { .. }) => Unavailable::Refused(z.to_string()),
        other => Unavailable::Unreachable(other.to_string()),
    }
}
