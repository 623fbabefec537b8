//! `/api/v1/eventHooks`: register, list, read, replace, delete, and
//! `lifecycle/verify|activate|deactivate`. The rules are `hooks/registry.rs`'s; the
//! verification call `hooks/verify.rs`'s.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde_json::Value;

use crate::error::ApiError;
use crate::hooks::registry::{parse_input, HookStatus};
use crate::hooks::verify::verify;
use crate::model::now_ms;
use crate::sim::Simulator;

pub(crate) async fn list(sim: web::Data<Simulator>) -> HttpResponse {
    let org = sim.org_url();
    let hooks: Vec<Value> = sim.hooks().iter().map(|h| h.to_wire(&org)).collect();
    HttpResponse::Ok().json(hooks)
}

pub(crate) async fn create(
    sim: web::Data<Simulator>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let input = parse_input(&body)?;
    let created_by = sim.admin().id;
    let hook = sim.hub().registry().create(input, &created_by, now_ms())?;
    Ok(HttpResponse::Ok().json(hook.to_wire(&sim.org_url())))
}

pub(crate) async fn get(
    sim: web::Data<Simulator>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let hook = sim.hub().registry().get(&id)?;
    Ok(HttpResponse::Ok().json(hook.to_wire(&sim.org_url())))
}

pub(crate) async fn replace(
    sim: web::Data<Simulator>,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let input = parse_input(&body)?;
    let hook = sim.hub().registry().replace(&id, input, now_ms())?;
    Ok(HttpResponse::Ok().json(hook.to_wire(&sim.org_url())))
}

pub(crate) async fn delete(
    sim: web::Data<Simulator>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    sim.hub().registry().delete(&id)?;
    Ok(HttpResponse::NoContent().finish())
}

pub(crate) async fn lifecycle(
    sim: web::Data<Simulator>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, action) = path.into_inner();
    let hook = match action.as_str() {
        "activate" => sim
            .hub()
            .registry()
            .set_status(&id, HookStatus::Active, now_ms())?,
        "deactivate" => sim
            .hub()
            .registry()
            .set_status(&id, HookStatus::Inactive, now_ms())?,
        "verify" => {
            // The registry lock is not held across the call to the hook.
            let hook = sim.hub().registry().verifiable(&id)?;
            let timeout = Duration::from_millis(sim.hook_delivery().verify_timeout_ms);
            if let Err(reason) = verify(&hook, timeout).await {
                tracing::info!(hook = %hook.id, %reason, "okta-sim: event hook verification failed");
                return Err(ApiError::validation(
                    "verification",
                    format!("Event hook verification failed: {reason}"),
                ));
            }
            sim.hub().registry().mark_verified(&hook, now_ms())?
        }
        _ => return Err(ApiError::NotFound("no such endpoint".into())),
    };
    Ok(HttpResponse::Ok().json(hook.to_wire(&sim.org_url())))
}
