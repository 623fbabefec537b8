//! `/_sim`: change the org at run time, set faults and OAuth behaviour, and inspect
//! state, calls, events and deliveries. No token, never faulted, not in the call log.
//! Errors use Okta's error body. Every directory change goes through
//! [`Simulator::apply`], so it produces System Log events like a change in Okta would.

use actix_web::{web, HttpResponse};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::api::resource;
use crate::error::ApiError;
use crate::faults::Faults;
use crate::hooks::delivery::HookDelivery;
use crate::oauth::clients::{AdminIdentity, Denial, OAuthClient};
use crate::oauth::tokens::TokenKind;
use crate::ratelimit::RateLimits;
use crate::seed::{Generate, Seed};
use crate::sim::Simulator;
use crate::state::{Lifecycle, NewGroup, NewUser};

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/_sim")
            .service(resource("/health").route(web::get().to(health)))
            .service(resource("/state").route(web::get().to(state)))
            .service(resource("/seed").route(web::post().to(seed)))
            .service(resource("/generate").route(web::post().to(generate)))
            .service(resource("/events").route(web::get().to(events)))
            .service(resource("/users").route(web::post().to(create_user)))
            .service(
                resource("/users/{id}")
                    .route(web::patch().to(update_user))
                    .route(web::delete().to(delete_user)),
            )
            .service(resource("/users/{id}/lifecycle/{op}").route(web::post().to(lifecycle)))
            .service(resource("/groups").route(web::post().to(create_group)))
            .service(
                resource("/groups/{id}")
                    .route(web::patch().to(update_group))
                    .route(web::delete().to(delete_group)),
            )
            .service(
                resource("/groups/{gid}/users/{uid}")
                    .route(web::put().to(add_member))
                    .route(web::delete().to(remove_member)),
            )
            .service(
                resource("/faults")
                    .route(web::get().to(get_faults))
                    .route(web::put().to(put_faults))
                    .route(web::patch().to(patch_faults)),
            )
            .service(
                resource("/rate-limits")
                    .route(web::get().to(get_limits))
                    .route(web::put().to(put_limits))
                    .route(web::patch().to(patch_limits)),
            )
            .service(resource("/calls").route(web::get().to(calls)))
            .service(resource("/calls/reset").route(web::post().to(reset_calls)))
            .service(resource("/oauth").route(web::get().to(oauth)))
            .service(
                resource("/oauth/clients/{id}")
                    .route(web::put().to(put_client))
                    .route(web::patch().to(patch_client)),
            )
            .service(
                resource("/oauth/admin")
                    .route(web::put().to(put_admin))
                    .route(web::patch().to(patch_admin)),
            )
            .service(
                resource("/oauth/deny")
                    .route(web::post().to(deny))
                    .route(web::delete().to(clear_denials)),
            )
            .service(resource("/oauth/expire").route(web::post().to(expire)))
            .service(resource("/oauth/revoke").route(web::post().to(revoke)))
            .service(resource("/hooks").route(web::get().to(hooks)))
            .service(resource("/hooks/deliveries").route(web::get().to(deliveries)))
            .service(resource("/hooks/deliveries/reset").route(web::post().to(reset_deliveries)))
            .service(
                resource("/hooks/delivery")
                    .route(web::get().to(get_delivery))
                    .route(web::put().to(put_delivery))
                    .route(web::patch().to(patch_delivery)),
            ),
    );
}

fn config_error(e: String) -> ApiError {
    ApiError::validation("config", e)
}

/// `current` with the fields of `changes` replaced.
fn merge<T: Serialize + DeserializeOwned>(current: &T, changes: Value) -> Result<T, ApiError> {
    let Value::Object(changes) = changes else {
        return Err(ApiError::Malformed("the body must be a JSON object".into()));
    };
    let mut merged =
        serde_json::to_value(current).map_err(|e| ApiError::Malformed(e.to_string()))?;
    if let Value::Object(m) = &mut merged {
        m.extend(changes);
    }
    serde_json::from_value(merged).map_err(|e| ApiError::Malformed(e.to_string()))
}

fn typed<T: DeserializeOwned>(body: Value) -> Result<T, ApiError> {
    serde_json::from_value(body).map_err(|e| ApiError::Malformed(e.to_string()))
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

async fn state(sim: web::Data<Simulator>) -> HttpResponse {
    let snap = sim.state();
    HttpResponse::Ok().json(json!({
        "org_url": sim.org_url(),
        "users": snap.users,
        "groups": snap.groups,
        "memberships": snap.memberships,
        "hooks": sim.hooks(),
    }))
}

async fn seed(sim: web::Data<Simulator>, body: web::Json<Value>) -> Result<HttpResponse, ApiError> {
    let seed: Seed = typed(body.into_inner())?;
    Ok(HttpResponse::Ok().json(sim.seed(seed)?))
}

async fn generate(
    sim: web::Data<Simulator>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let g: Generate = typed(body.into_inner())?;
    Ok(HttpResponse::Ok().json(sim.generate(&g)?))
}

async fn events(sim: web::Data<Simulator>) -> HttpResponse {
    HttpResponse::Ok().json(sim.events())
}

async fn create_user(
    sim: web::Data<Simulator>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let new: NewUser = typed(body.into_inner())?;
    let user = sim.create_user(new)?;
    Ok(HttpResponse::Created().json(user.to_wire(&sim.org_url())))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileChange {
    profile: Map<String, Value>,
}

async fn update_user(
    sim: web::Data<Simulator>,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let change: ProfileChange = typed(body.into_inner())?;
    let user = sim.update_profile(&id, change.profile)?;
    Ok(HttpResponse::Ok().json(user.to_wire(&sim.org_url())))
}

async fn lifecycle(
    sim: web::Data<Simulator>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, op) = path.into_inner();
    let op = Lifecycle::parse(&op).ok_or_else(|| {
        ApiError::NotFound(format!(
            "{op} (lifecycle operation: activate, deactivate, reactivate, suspend, unsuspend)"
        ))
    })?;
    let user = sim.lifecycle(&id, op)?;
    Ok(HttpResponse::Ok().json(user.to_wire(&sim.org_url())))
}

async fn delete_user(
    sim: web::Data<Simulator>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    sim.delete_user(&id)?;
    Ok(HttpResponse::NoContent().finish())
}

async fn create_group(
    sim: web::Data<Simulator>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let new: NewGroup = typed(body.into_inner())?;
    let group = sim.create_group(new)?;
    Ok(HttpResponse::Created().json(group.to_wire(&sim.org_url())))
}

async fn update_group(
    sim: web::Data<Simulator>,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let Value::Object(body) = body.into_inner() else {
        return Err(ApiError::Malformed("the body must be a JSON object".into()));
    };
    if let Some(k) = body.keys().find(|k| *k != "name" && *k != "description") {
        return Err(ApiError::validation(
            k.as_str(),
            format!("{k}: unknown field (name, description)"),
        ));
    }
    let name = match body.get("name") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(ApiError::validation("name", "name: must be a string")),
    };
    let description = match body.get("description") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(s.clone())),
        Some(_) => {
            return Err(ApiError::validation(
                "description",
                "description: must be a string or null",
            ))
        }
    };
    let group = sim.update_group(&id, name, description)?;
    Ok(HttpResponse::Ok().json(group.to_wire(&sim.org_url())))
}

async fn delete_group(
    sim: web::Data<Simulator>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    sim.delete_group(&id)?;
    Ok(HttpResponse::NoContent().finish())
}

async fn add_member(
    sim: web::Data<Simulator>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (gid, uid) = path.into_inner();
    let changed = sim.add_member(&gid, &uid)?;
    Ok(HttpResponse::Ok().json(json!({ "changed": changed })))
}

async fn remove_member(
    sim: web::Data<Simulator>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (gid, uid) = path.into_inner();
    let changed = sim.remove_member(&gid, &uid)?;
    Ok(HttpResponse::Ok().json(json!({ "changed": changed })))
}

async fn get_faults(sim: web::Data<Simulator>) -> HttpResponse {
    HttpResponse::Ok().json(sim.faults())
}

async fn put_faults(
    sim: web::Data<Simulator>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    sim.set_faults(typed(body.into_inner())?)
        .map_err(config_error)?;
    Ok(HttpResponse::Ok().json(sim.faults()))
}

async fn patch_faults(
    sim: web::Data<Simulator>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let f: Faults = merge(&sim.faults(), body.into_inner())?;
    sim.set_faults(f).map_err(config_error)?;
    Ok(HttpResponse::Ok().json(sim.faults()))
}

async fn get_limits(sim: web::Data<Simulator>) -> HttpResponse {
    HttpResponse::Ok().json(sim.rate_limits())
}

async fn put_limits(
    sim: web::Data<Simulator>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    sim.set_rate_limits(typed(body.into_inner())?)
        .map_err(config_error)?;
    Ok(HttpResponse::Ok().json(sim.rate_limits()))
}

async fn patch_limits(
    sim: web::Data<Simulator>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let l: RateLimits = merge(&sim.rate_limits(), body.into_inner())?;
    sim.set_rate_limits(l).map_err(config_error)?;
    Ok(HttpResponse::Ok().json(sim.rate_limits()))
}

async fn calls(sim: web::Data<Simulator>) -> HttpResponse {
    HttpResponse::Ok().json(sim.calls())
}

async fn reset_calls(sim: web::Data<Simulator>) -> HttpResponse {
    sim.reset_calls();
    HttpResponse::NoContent().finish()
}

async fn oauth(sim: web::Data<Simulator>) -> HttpResponse {
    let pending = sim.oauth().pending_denials();
    HttpResponse::Ok().json(json!({
        "clients": sim.clients(),
        "admin": sim.admin(),
        "pending_denials": pending,
        "tokens": sim.tokens(),
    }))
}

fn client(sim: &Simulator, id: &str) -> Result<OAuthClient, ApiError> {
    sim.clients()
        .into_iter()
        .find(|c| c.client_id == id)
        .ok_or_else(|| ApiError::NotFound(format!("{id} (OAuth client)")))
}

async fn put_client(
    sim: web::Data<Simulator>,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let mut c: OAuthClient = typed(body.into_inner())?;
    c.client_id = id.into_inner();
    sim.set_client(c.clone()).map_err(config_error)?;
    Ok(HttpResponse::Ok().json(c))
}

async fn patch_client(
    sim: web::Data<Simulator>,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let mut c: OAuthClient = merge(&client(&sim, &id)?, body.into_inner())?;
    c.client_id = id.into_inner();
    sim.set_client(c.clone()).map_err(config_error)?;
    Ok(HttpResponse::Ok().json(c))
}

async fn put_admin(
    sim: web::Data<Simulator>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let a: AdminIdentity = typed(body.into_inner())?;
    sim.set_admin(a);
    Ok(HttpResponse::Ok().json(sim.admin()))
}

async fn patch_admin(
    sim: web::Data<Simulator>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let a: AdminIdentity = merge(&sim.admin(), body.into_inner())?;
    sim.set_admin(a);
    Ok(HttpResponse::Ok().json(sim.admin()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DenyBody {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
    /// How many authorize requests in a row are denied (1 by default).
    #[serde(default)]
    times: Option<usize>,
}

async fn deny(sim: web::Data<Simulator>, body: web::Json<Value>) -> Result<HttpResponse, ApiError> {
    let b: DenyBody = typed(body.into_inner())?;
    let times = b.times.unwrap_or(1);
    sim.deny_next_authorize(
        Denial {
            error: b.error,
            error_description: b.error_description,
        },
        times,
    )
    .map_err(config_error)?;
    Ok(HttpResponse::Ok().json(json!({ "pending_denials": sim.oauth().pending_denials() })))
}

async fn clear_denials(sim: web::Data<Simulator>) -> HttpResponse {
    sim.clear_denials();
    HttpResponse::NoContent().finish()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensBody {
    kind: TokenKind,
    /// One token (the whole value); all of `kind` when absent.
    #[serde(default)]
    token: Option<String>,
}

async fn expire(
    sim: web::Data<Simulator>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let b: TokensBody = typed(body.into_inner())?;
    let n = sim.expire_tokens(b.kind, b.token.as_deref());
    Ok(HttpResponse::Ok().json(json!({ "changed": n })))
}

async fn revoke(
    sim: web::Data<Simulator>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let b: TokensBody = typed(body.into_inner())?;
    let n = sim.revoke_tokens(b.kind, b.token.as_deref());
    Ok(HttpResponse::Ok().json(json!({ "changed": n })))
}

async fn hooks(sim: web::Data<Simulator>) -> HttpResponse {
    HttpResponse::Ok().json(sim.hooks())
}

async fn deliveries(sim: web::Data<Simulator>) -> HttpResponse {
    HttpResponse::Ok().json(sim.deliveries())
}

async fn reset_deliveries(sim: web::Data<Simulator>) -> HttpResponse {
    sim.reset_deliveries();
    HttpResponse::NoContent().finish()
}

async fn get_delivery(sim: web::Data<Simulator>) -> HttpResponse {
    HttpResponse::Ok().json(sim.hook_delivery())
}

async fn put_delivery(
    sim: web::Data<Simulator>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    sim.set_hook_delivery(typed(body.into_inner())?)
        .map_err(config_error)?;
    Ok(HttpResponse::Ok().json(sim.hook_delivery()))
}

async fn patch_delivery(
    sim: web::Data<Simulator>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let d: HookDelivery = merge(&sim.hook_delivery(), body.into_inner())?;
    sim.set_hook_delivery(d).map_err(config_error)?;
    Ok(HttpResponse::Ok().json(sim.hook_delivery()))
}
