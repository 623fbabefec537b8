//! `POST /api/v1/zenqms/unlink`: clears `external_id` in ZenQMS for every user the bridge
//! linked — what ZenQMS does when its own Okta integration is removed. The bridge keeps its
//! own link (`sync_users`), so a later change from Okta would set `external_id` again: pause
//! sync first when the integration is being removed.

use diesel::prelude::*;
use serde::Serialize;

use super::{InitialSync, InitialSyncError};
use crate::audit;
use crate::store::schema::{scim_users, sync_users};
use crate::store::{self, StoreError};
use crate::sync::throttle::{Patience, Throttled};
use crate::sync::SyncError;
use crate::zenqms::{CallCtx, ZenqmsId};

#[derive(Debug, Clone, Serialize)]
pub struct UnlinkLine {
    pub user_id: String,
    pub user_name: String,
    pub zenqms_id: String,
    /// `cleared`, `would_clear` (dry run) or `failed`.
    pub result: &'static str,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UnlinkReport {
    pub dry_run: bool,
    pub cleared: usize,
    pub failed: usize,
    pub users: Vec<UnlinkLine>,
}

pub(super) async fn run(
    svc: &InitialSync,
    actor: &str,
    dry_run: bool,
) -> Result<UnlinkReport, InitialSyncError> {
    let conn = svc
        .inner
        .sync
        .connected()
        .ok_or(InitialSyncError::NotConfigured)?;
    let linked: Vec<(String, String, Option<String>)> = store::run(&svc.inner.pool, |c| {
        Ok::<_, StoreError>(
            sync_users::table
                .inner_join(scim_users::table)
                .filter(sync_users::zenqms_id_json.is_not_null())
                .order(sync_users::user_id.asc())
                .select((
                    sync_users::user_id,
                    scim_users::user_name,
                    sync_users::zenqms_id_json,
                ))
                .load(c)?,
        )
    })
    .await?;
    let who = format!("{actor} (unlink)");
    let mut report = UnlinkReport {
        dry_run,
        cleared: 0,
        failed: 0,
        users: Vec::new(),
    };
    for (user_id, user_name, json) in linked {
        let Some(zid) = json.as_deref().and_then(ZenqmsId::from_json_text) else {
            continue;
        };
        let mut line = UnlinkLine {
            user_id: user_id.clone(),
            user_name,
            zenqms_id: zid.path_form(),
            result: "would_clear",
            reason: None,
        };
        if !dry_run {
            let api = Throttled {
                engine: &svc.inner.sync.inner,
                client: &conn.client,
                patience: Patience::Verification,
            };
            let ctx = CallCtx {
                scim_user_id: Some(&user_id),
                before: None,
                actor: Some(&who),
            };
            match api.clear_external_id(ctx, &zid).await {
                Ok(_) => {
                    line.result = "cleared";
                    report.cleared += 1;
                }
                Err(SyncError::Zenqms(e)) => {
                    line.result = "failed";
                    line.reason = Some(e.to_string());
                    report.failed += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
        report.users.push(line);
    }
    let (a, detail) = (
        actor.to_string(),
        serde_json::json!({"dry_run": dry_run, "users": report.users.len(), "cleared": report.cleared, "failed": report.failed}),
    );
    store::run(&svc.inner.pool, move |c| {
        audit::record(
            c,
            &audit::Entry {
                actor: &a,
                action: "zenqms.unlink",
                target_type: "zenqms",
                target_id: None,
                detail,
                outcome: audit::Outcome::Success,
            },
        )
    })
    .await?;
    Ok(report)
}
