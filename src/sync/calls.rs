//! The record of every ZenQMS call, as the client reports it (`zenqms::CallListener`): the
//! `zenqms_calls` metric (endpoint × outcome), an audit entry (actor: who asked, else
//! `system`), and — for the connection in force only — what the status endpoint says of
//! ZenQMS's reachability (`health.rs`).

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::Value;

use super::health::Health;
use crate::audit::{self, Outcome};
use crate::store::{self, Pool, StoreError};
use crate::telemetry::Metrics;
use crate::zenqms::{CallListener, CallReport, Endpoint, ZenqmsError, ZenqmsId};

pub struct CallRecorder {
    pub metrics: Metrics,
    /// Audit entries are written through this pool, each in its own transaction.
    pub pool: Pool,
    /// Set for the connection in force; `None` for a candidate being verified, whose
    /// failures must not show in the status.
    pub health: Option<Arc<Health>>,
}

impl CallListener for CallRecorder {
    fn on_call<'a>(&'a self, call: CallReport<'a>) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let outcome = call.error.map(ZenqmsError::outcome).unwrap_or("ok");
            self.metrics
                .record_zenqms_call(call.endpoint.label(), outcome);
            self.metrics
                .zenqms_call_duration
                .observe(call.duration.as_secs_f64());
            if let Some(h) = &self.health {
                h.observe(&call);
            }
            self.audit(&call).await;
        })
    }
}

impl CallRecorder {
    async fn audit(&self, call: &CallReport<'_>) {
        let endpoint = call.endpoint;
        let detail = serde_json::json!({
            "endpoint": endpoint.label(),
            "path": call.path,
            "status": call.status,
            "duration_ms": call.duration.as_millis() as u64,
            "zenqms_id": call.zenqms_id.map(ZenqmsId::as_json),
            "request": call.request,
            "before": call.ctx.before,
            "after": call.response.filter(|_| endpoint != Endpoint::SearchUsers && endpoint != Endpoint::ListRoles),
            "found": call.response
                .filter(|_| endpoint == Endpoint::SearchUsers)
                .and_then(|v| v.get("data"))
                .and_then(Value::as_array)
                .map(|users| users.iter().filter_map(|u| u.get("id").cloned()).collect::<Vec<_>>()),
            "error": call.error.map(|e| serde_json::json!({"kind": e.outcome(), "message": e.to_string()})),
        });
        let target = call.ctx.scim_user_id.map(str::to_string);
        let actor = call.ctx.actor.unwrap_or(audit::SYSTEM).to_string();
        let action = endpoint.action();
        let outcome = if call.succeeded() {
            Outcome::Success
        } else {
            Outcome::Failure
        };
        let result = store::run(&self.pool, move |conn| {
            audit::record(
                conn,
                &audit::Entry {
                    actor: &actor,
                    action,
                    target_type: if target.is_some() { "user" } else { "zenqms" },
                    target_id: target.as_deref(),
                    detail,
                    outcome,
                },
            )
        })
        .await;
        if let Err::<(), StoreError>(e) = result {
            tracing::warn!(error = %e, endpoint = endpoint.label(), "could not write the audit entry of a ZenQMS call");
        }
    }
}
