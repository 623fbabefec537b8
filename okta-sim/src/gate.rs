//! What every real-API request (`/api/v1`, `/oauth2/v1`) passes before and after its
//! endpoint, in this order: call record → latency → rate limit (`429` E0000047) →
//! outage (`503`) → access token (`401` invalid_token) → scope (`403`
//! insufficient_scope) → the admin's permission (`403`) → injected error (`500`) → the
//! endpoint. Every answer gets `X-Okta-Request-Id` and the three `X-Rate-Limit-*`
//! headers.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue, AUTHORIZATION};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage, ResponseError};

use crate::api::{endpoint_template, required_scopes};
use crate::calls::Outcome;
use crate::error::{ApiError, Challenge};
use crate::ids::request_id;
use crate::model::now_ms;
use crate::oauth::tokens::Grant;
use crate::ratelimit::{Family, RateHeaders};
use crate::sim::Simulator;

/// Put into a response's extensions by the OAuth endpoints: the client the call log
/// should name.
#[derive(Clone, Debug)]
pub(crate) struct CallClient(pub String);

pub(crate) async fn gate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let Some(sim) = req.app_data::<web::Data<Simulator>>().cloned() else {
        return Ok(req.into_response(ApiError::Internal.error_response()));
    };
    let method = req.method().as_str().to_owned();
    let path = req.path().to_owned();
    let endpoint = endpoint_template(&path);
    let rid = request_id();
    let seq = sim.begin_call(&method, &endpoint, &path, req.query_string(), &rid);

    let mut outcome = Outcome::default();
    let res = pass(&sim, req, next, &method, &endpoint, &mut outcome).await;
    let mut res = match res {
        Ok(res) => res,
        Err(err) => {
            outcome.status = err.as_response_error().status_code().as_u16();
            sim.finish_call(seq, outcome);
            return Err(err);
        }
    };
    if let Some(c) = res.response().extensions().get::<CallClient>() {
        outcome.client_id = Some(c.0.clone());
    }
    outcome.status = res.status().as_u16();
    let headers = res.headers_mut();
    insert(headers, "x-okta-request-id", &rid);
    if let Some(rl) = outcome.rate_limit {
        insert(headers, "x-rate-limit-limit", &rl.limit.to_string());
        insert(headers, "x-rate-limit-remaining", &rl.remaining.to_string());
        insert(headers, "x-rate-limit-reset", &rl.reset.to_string());
    }
    sim.finish_call(seq, outcome);
    Ok(res)
}

fn insert(headers: &mut actix_web::http::header::HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), v);
    }
}

async fn pass(
    sim: &Simulator,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    method: &str,
    endpoint: &str,
    outcome: &mut Outcome,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let faults = sim.faults();
    let delay = faults.delay(&mut rand::rng());
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let admitted: Result<RateHeaders, RateHeaders> = sim.admit(Family::of(req.path()));
    outcome.rate_limit = Some(match admitted {
        Ok(h) | Err(h) => h,
    });
    if admitted.is_err() {
        return refuse(req, ApiError::RateLimited);
    }
    if faults.outage {
        return refuse(req, ApiError::Unavailable);
    }
    if let Some(scopes) = required_scopes(method, endpoint) {
        let challenge = Challenge {
            org_url: sim.org_url(),
            scope: scopes.first().copied().unwrap_or("").to_owned(),
            resource: req.path().to_owned(),
        };
        let grant = match check_token(sim, &req) {
            Ok(g) => g,
            Err(description) => {
                return refuse(
                    req,
                    ApiError::InvalidToken {
                        challenge,
                        description: description.to_owned(),
                    },
                )
            }
        };
        outcome.client_id = Some(grant.client_id.clone());
        outcome.token = Some(grant.fingerprint.clone());
        if !scopes.is_empty() && !scopes.iter().any(|s| grant.scopes.iter().any(|g| g == s)) {
            return refuse(req, ApiError::InsufficientScope { challenge });
        }
        if sim.admin().lacks_permission {
            return refuse(
                req,
                ApiError::Forbidden("the authorizing admin's role does not allow this".into()),
            );
        }
        req.extensions_mut().insert(grant);
    }
    if faults.inject_error(&mut rand::rng()) {
        return refuse(req, ApiError::Internal);
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

fn check_token(sim: &Simulator, req: &ServiceRequest) -> Result<Grant, &'static str> {
    let token = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| {
            let (scheme, token) = h.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty())
        .ok_or("The access token is missing.")?;
    sim.oauth().check_access(token, now_ms())
}

fn refuse(req: ServiceRequest, err: ApiError) -> Result<ServiceResponse<BoxBody>, Error> {
    Ok(req.into_response(err.error_response()))
}
