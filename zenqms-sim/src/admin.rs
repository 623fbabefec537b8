//! `/_sim`: seeding, faults and inspection for tests and demos. No token, no faults,
//! not recorded in the call log. Errors use the API's error shape.

use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use crate::api::method_not_allowed;
use crate::error::SimError;
use crate::faults::Faults;
use crate::model::NewRole;
use crate::seed::Seed;
use crate::sim::Simulator;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    let resource = |path: &str| web::resource(path).default_service(web::to(method_not_allowed));
    cfg.service(
        web::scope("/_sim")
            .service(resource("/health").route(web::get().to(health)))
            .service(resource("/state").route(web::get().to(state)))
            .service(resource("/seed").route(web::post().to(seed)))
            .service(resource("/reset").route(web::post().to(reset)))
            .service(resource("/roles").route(web::post().to(add_role)))
            .service(resource("/roles/{id}").route(web::delete().to(delete_role)))
            .service(
                resource("/faults")
                    .route(web::get().to(get_faults))
                    .route(web::put().to(put_faults))
                    .route(web::patch().to(patch_faults)),
            )
            .service(resource("/calls").route(web::get().to(calls)))
            .service(resource("/calls/reset").route(web::post().to(reset_calls))),
    );
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

async fn state(sim: web::Data<Simulator>) -> HttpResponse {
    HttpResponse::Ok().json(sim.state())
}

async fn seed(sim: web::Data<Simulator>, body: web::Json<Seed>) -> Result<HttpResponse, SimError> {
    Ok(HttpResponse::Ok().json(sim.seed(body.into_inner())?))
}

async fn reset(sim: web::Data<Simulator>) -> HttpResponse {
    sim.reset();
    HttpResponse::NoContent().finish()
}

async fn add_role(
    sim: web::Data<Simulator>,
    body: web::Json<NewRole>,
) -> Result<HttpResponse, SimError> {
    Ok(HttpResponse::Created().json(sim.add_role(body.into_inner())?))
}

async fn delete_role(
    sim: web::Data<Simulator>,
    id: web::Path<String>,
) -> Result<HttpResponse, SimError> {
    let deleted = sim
        .delete_role(&id)
        .ok_or_else(|| SimError::NotFound(format!("no role with id {id}")))?;
    Ok(HttpResponse::Ok().json(deleted))
}

async fn get_faults(sim: web::Data<Simulator>) -> HttpResponse {
    HttpResponse::Ok().json(sim.faults())
}

/// Replaces every fault; fields left out take their defaults (`{}` clears all).
async fn put_faults(
    sim: web::Data<Simulator>,
    body: web::Json<Faults>,
) -> Result<HttpResponse, SimError> {
    sim.set_faults(body.into_inner())?;
    Ok(HttpResponse::Ok().json(sim.faults()))
}

/// Changes only the fields given (`{"outage": false}` leaves latency alone).
async fn patch_faults(
    sim: web::Data<Simulator>,
    body: web::Json<Value>,
) -> Result<HttpResponse, SimError> {
    let Value::Object(changes) = body.into_inner() else {
        return Err(SimError::bad_request("body must be a JSON object"));
    };
    let mut merged =
        serde_json::to_value(sim.faults()).map_err(|e| SimError::bad_request(e.to_string()))?;
    if let Value::Object(current) = &mut merged {
        current.extend(changes);
    }
    let faults: Faults = serde_json::from_value(merged)
        .map_err(|e| SimError::bad_request(format!("invalid faults: {e}")))?;
    sim.set_faults(faults)?;
    Ok(HttpResponse::Ok().json(sim.faults()))
}

async fn calls(sim: web::Data<Simulator>) -> HttpResponse {
    HttpResponse::Ok().json(sim.calls())
}

async fn reset_calls(sim: web::Data<Simulator>) -> HttpResponse {
    sim.reset_calls();
    HttpResponse::NoContent().finish()
}
