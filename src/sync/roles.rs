//! Where role enforcement plugs into the sync layer: the role part of a user's desired state
//! (from the group→role mappings, `crate::mappings`), and reading ZenQMS's role list through
//! the engine's connection, budget and pause.

use super::desired::RolePlan;
use super::engine::Engine;
use super::error::SyncError;
use crate::store::{DbConn, StoreError};
use crate::zenqms::contract::MAX_PAGE_SIZE;
use crate::zenqms::{CallCtx, Role, ZenqmsError};

/// Most pages read from `GET /v2/roles` (100 roles each): a tenant past this is an answer
/// that never ends, not a role list.
const MAX_PAGES: u32 = 1000;

/// The managed roles and the roles this user's groups map to; `None`: roles unmanaged.
pub fn plan_for(conn: &mut DbConn, user_id: &str) -> Result<Option<RolePlan>, StoreError> {
    crate::mappings::plan::for_user(conn, user_id)
}

impl Engine {
    /// Every role ZenQMS lists (all pages, within the call budget); the audit entries of the
    /// calls name `actor`. Fails at once, without a call, when sync is paused, ZenQMS is not
    /// connected, or a `429` pause is in force — an admin request must not wait it out.
    pub async fn list_roles(&self, actor: &str) -> Result<Vec<Role>, SyncError> {
        if self.is_paused() {
            return Err(SyncError::Paused);
        }
        let conn = self.connected().ok_or(SyncError::NotConfigured)?;
        let budget = &self.inner.budget;
        let mut out: Vec<Role> = Vec::new();
        for page in 1..=MAX_PAGES {
            if let Some(until) = budget.paused_until() {
                let wait = until.saturating_duration_since(tokio::time::Instant::now());
                return Err(ZenqmsError::RateLimited { retry_after: wait }.into());
            }
            budget.acquire().await;
            let ctx = CallCtx {
                actor: Some(actor),
                ..CallCtx::default()
            };
            let got = match conn.client.list_roles(ctx, page, MAX_PAGE_SIZE).await {
                Ok(p) => p,
                Err(ZenqmsError::RateLimited { retry_after }) => {
                    budget.pause_for(retry_after);
                    return Err(ZenqmsError::RateLimited { retry_after }.into());
                }
                Err(e) => return Err(e.into()),
            };
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
}
