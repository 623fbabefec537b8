//! The record of every Okta call, as the client reports it (`okta_api::CallListener`): the
//! `okta_calls` metric (endpoint × outcome) and an audit entry (`okta.call`, actor: who asked,
//! else `system`) with the status, `X-Okta-Request-Id` and the rate-limit headers — never a
//! token or a query string.

use futures_util::future::BoxFuture;

use crate::audit::{self, Outcome};
use crate::okta_api::{CallListener, CallReport, OktaApiError};
use crate::store::{self, Pool, StoreError};
use crate::telemetry::Metrics;

pub struct CallRecorder {
    pub metrics: Metrics,
    pub pool: Pool,
}

impl CallListener for CallRecorder {
    fn on_call<'a>(&'a self, call: CallReport<'a>) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let outcome = call.error.map(OktaApiError::outcome).unwrap_or("ok");
            self.metrics
                .record_okta_call(&format!("{} {}", call.method, call.endpoint), outcome);
            let detail = serde_json::json!({
                "method": call.method,
                "endpoint": call.endpoint,
                "path": call.path,
                "status": call.status,
                "okta_request_id": call.request_id,
                "duration_ms": call.duration.as_millis() as u64,
                "rate_limit": call.rate_limit.map(|r| serde_json::json!({"limit": r.limit, "remaining": r.remaining, "reset": r.reset})),
                "error": call.error.map(|e| serde_json::json!({"kind": e.outcome(), "message": e.to_string()})),
            });
            let actor = call.actor.unwrap_or(audit::SYSTEM).to_string();
            let outcome = if call.error.is_none() {
                Outcome::Success
            } else {
                Outcome::Failure
            };
            let written = store::run(&self.pool, move |conn| {
                audit::record(
                    conn,
                    &audit::Entry {
                        actor: &actor,
                        action: "okta.call",
                        target_type: "okta",
                        target_id: None,
                        detail,
                        outcome,
                    },
                )
            })
            .await;
            if let Err::<(), StoreError>(e) = written {
                tracing::warn!(error = %e, "could not write the audit entry of an Okta call");
            }
        })
    }
}
