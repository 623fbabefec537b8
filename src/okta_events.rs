//! `GET|POST /okta/events`: the front door Okta's event hook calls (`docs/event-hooks.md`).
//! No bearer token: the hook's secret, sent by Okta as the whole `Authorization` header, is
//! the proof — checked (`OktaHooks::secret_matches`, constant time) before anything else,
//! and before a byte of the body is read.
//!
//! - `GET` answers Okta's one-time verification: `{"verification": <the
//!   X-Okta-Verification-Challenge header>}`.
//! - `POST` takes a delivery: `401` without the secret (nothing stored), `413` over
//!   [`MAX_BODY_BYTES`] or [`delivery::MAX_EVENTS`](crate::okta_hooks::delivery::MAX_EVENTS)
//!   events, `400` when it cannot be read (Okta never resends a `4xx`: logged as an error
//!   and counted), `503` when the database cannot take it (Okta retries once); otherwise
//!   the delivery and its new events are stored in one transaction and `204` answered at
//!   once — processing happens afterwards, in the background, and never on this request.
//!
//! Every answer is counted in `zenqms_bridge_okta_hook_deliveries_total{outcome}`; errors
//! are JSON `{"error", "message"}`.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde_json::json;

use crate::okta_hooks::delivery::ParseError;
use crate::okta_hooks::{HooksError, OktaHooks};
use crate::telemetry::Metrics;

pub const PATH: &str = "/okta/events";
/// The largest delivery body accepted (Okta's batches are far smaller: 1,000 LogEvents of a
/// few kilobytes each fit).
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// The longest verification challenge echoed back.
const MAX_CHALLENGE: usize = 512;
const CHALLENGE_HEADER: &str = "x-okta-verification-challenge";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(PATH)
            .route(web::get().to(verify))
            .route(web::post().to(deliver)),
    );
}

fn error(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({"error": code, "message": message}))
}

/// `Ok(())` with the hook's secret; else the answer to send.
async fn authenticate(req: &HttpRequest, hooks: &OktaHooks) -> Result<(), HttpResponse> {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Some(presented) = presented else {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the event hook's secret is missing from the Authorization header",
        ));
    };
    match hooks.secret_matches(presented).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the Authorization header is not this bridge's event-hook secret",
        )),
        Err(e) => {
            tracing::warn!(error = %e, "cannot check an event-hook request's secret");
            Err(unavailable())
        }
    }
}

fn unavailable() -> HttpResponse {
    let mut res = error(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "the bridge cannot store the delivery now; retry",
    );
    res.headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    res
}

async fn verify(req: HttpRequest, hooks: web::Data<OktaHooks>) -> HttpResponse {
    if let Err(res) = authenticate(&req, &hooks).await {
        tracing::warn!("event-hook verification refused: wrong or missing secret");
        return res;
    }
    let challenge = req
        .headers()
        .get(CHALLENGE_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|c| !c.is_empty() && c.len() <= MAX_CHALLENGE);
    match challenge {
        Some(c) => {
            tracing::info!("event-hook verification answered");
            HttpResponse::Ok().json(json!({"verification": c}))
        }
        None => error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "X-Okta-Verification-Challenge is missing, empty or too long",
        ),
    }
}

async fn deliver(
    req: HttpRequest,
    mut payload: web::Payload,
    hooks: web::Data<OktaHooks>,
    metrics: web::Data<Metrics>,
) -> HttpResponse {
    if let Err(res) = authenticate(&req, &hooks).await {
        if res.status() == StatusCode::UNAUTHORIZED {
            tracing::warn!("event-hook delivery refused: wrong or missing secret");
            metrics.record_hook_delivery("unauthorized");
        } else {
            metrics.record_hook_delivery("unavailable");
        }
        return res;
    }
    let too_large = |metrics: &Metrics, why: &str| {
        tracing::error!(
            why,
            "event-hook delivery refused as too large (Okta will not resend it)"
        );
        metrics.record_hook_delivery("too_large");
        error(StatusCode::PAYLOAD_TOO_LARGE, "too_large", why)
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let limit_text = format!("a delivery's body may hold at most {MAX_BODY_BYTES} bytes");
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return too_large(&metrics, &limit_text);
    }
    let mut body = Vec::with_capacity(declared.map_or(8192, |n| n as usize));
    while let Some(chunk) = payload.next().await {
        match chunk {
            Ok(bytes) if body.len() + bytes.len() > MAX_BODY_BYTES => {
                return too_large(&metrics, &limit_text);
            }
            Ok(bytes) => body.extend_from_slice(&bytes),
            Err(e) => {
                tracing::error!(error = %e, "event-hook delivery's body could not be read");
                metrics.record_hook_delivery("malformed");
                return error(StatusCode::BAD_REQUEST, "bad_request", &e.to_string());
            }
        }
    }
    match hooks.receive(body).await {
        Ok(stored) => {
            tracing::info!(
                delivery = %stored.delivery_id,
                pending = stored.pending,
                ignored = stored.ignored,
                duplicates = stored.duplicates,
                "event-hook delivery stored"
            );
            metrics.record_hook_delivery("accepted");
            HttpResponse::NoContent().finish()
        }
        Err(HooksError::Malformed(ParseError::TooManyEvents(n))) => {
            too_large(&metrics, &ParseError::TooManyEvents(n).to_string())
        }
        Err(HooksError::Malformed(e)) => {
            // Okta never sends a 4xx delivery again: these events are lost to the hook (the
            // periodic re-read catches up) — said loudly.
            tracing::error!(error = %e, "event-hook delivery refused as malformed (Okta will not resend it)");
            metrics.record_hook_delivery("malformed");
            error(StatusCode::BAD_REQUEST, "bad_request", &e.to_string())
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot store an event-hook delivery");
            metrics.record_hook_delivery("unavailable");
            unavailable()
        }
    }
}
