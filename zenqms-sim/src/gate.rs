//! What every `/v2` request passes before (and after) its endpoint: the call record, the
//! token check and the injected faults, in the order `faults.rs` describes.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::AUTHORIZATION;
use actix_web::middleware::Next;
use actix_web::{web, Error, ResponseError};

use crate::api::{endpoint_template, is_write};
use crate::error::SimError;
use crate::sim::{Access, Simulator};

pub(crate) async fn gate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let Some(sim) = req.app_data::<web::Data<Simulator>>().cloned() else {
        return Ok(req.into_response(SimError::Injected { status: 500 }.error_response()));
    };
    let method = req.method().as_str().to_owned();
    let path = req.path().to_owned();
    let endpoint = endpoint_template(&path);
    let seq = sim.begin_call(&method, endpoint, &path);
    tracing::debug!(seq, %method, %path, "zenqms-sim call");

    let res = pass(&sim, req, next, &method, endpoint).await;
    let status = match &res {
        Ok(res) => res.status(),
        Err(err) => err.as_response_error().status_code(),
    };
    sim.finish_call(seq, status.as_u16());
    res
}

async fn pass(
    sim: &Simulator,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    method: &str,
    endpoint: &str,
) -> Result<ServiceResponse<BoxBody>, Error> {
    // The token and the rate limit are judged when the request arrives, as a tenant's API
    // gateway counts it, before the latency of the answer: the window holds calls at the
    // moments the client sent them (the call log's `at_ms`), not at moments shifted by a
    // latency drawn per call. Outage and the answers themselves come after the latency.
    let access = {
        let authorization = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        sim.access(authorization)
    };
    let admitted = if access == Access::Denied || sim.outage() {
        Ok(()) // refused below without using the budget
    } else {
        sim.admit()
    };
    let delay = sim.fault_delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if sim.outage() {
        return refuse(req, SimError::Outage);
    }
    if access == Access::Denied {
        return refuse(req, SimError::Unauthorized);
    }
    if let Err(retry_after_s) = admitted {
        return refuse(req, SimError::RateLimited { retry_after_s });
    }
    if access == Access::ReadOnly && is_write(method, endpoint) {
        return refuse(req, SimError::Forbidden);
    }
    if let Some(status) = sim.injected_error() {
        return refuse(req, SimError::Injected { status });
    }

    // Nothing may hold a clone of the request here: routing inside the scope needs it
    // unshared.
    let res = next.call(req).await?.map_into_boxed_body();
    if res.status().is_success() && sim.lose_response() {
        let (http_req, _) = res.into_parts();
        let lost = SimError::Injected { status: 500 }.error_response();
        return Ok(ServiceResponse::new(http_req, lost));
    }
    Ok(res)
}

fn refuse(req: ServiceRequest, err: SimError) -> Result<ServiceResponse<BoxBody>, Error> {
    Ok(req.into_response(err.error_response()))
}
