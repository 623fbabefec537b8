//! `/oauth2/v1/authorize`, `/token`, `/keys`, `/revoke` (behind the gate: rate limits,
//! faults, call record) and the discovery document. Handlers only parse and answer; the
//! rules are `tokens.rs`'s.

use actix_web::http::header::{self, AUTHORIZATION};
use actix_web::middleware::from_fn;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::api::resource;
use crate::error::{ApiError, OAuthError};
use crate::gate::{gate, CallClient};
use crate::model::now_ms;
use crate::oauth::clients::KNOWN_SCOPES;
use crate::oauth::tokens::{AuthorizeParams, TokenForm};
use crate::sim::Simulator;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/oauth2/v1")
            .wrap(from_fn(gate))
            .service(resource("/authorize").route(web::get().to(authorize)))
            .service(resource("/token").route(web::post().to(token)))
            .service(resource("/keys").route(web::get().to(keys)))
            .service(resource("/revoke").route(web::post().to(revoke)))
            .default_service(web::to(not_found)),
    )
    .service(resource("/.well-known/openid-configuration").route(web::get().to(discovery)))
    .service(resource("/.well-known/oauth-authorization-server").route(web::get().to(discovery)));
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("no such endpoint".into()))
}

fn with_client(mut res: HttpResponse, client_id: Option<String>) -> HttpResponse {
    if let Some(id) = client_id {
        res.extensions_mut().insert(CallClient(id));
    }
    res
}

async fn authorize(sim: web::Data<Simulator>, req: HttpRequest) -> HttpResponse {
    let params: AuthorizeParams =
        match web::Query::<AuthorizeParams>::from_query(req.query_string()) {
            Ok(q) => q.into_inner(),
            Err(e) => {
                return actix_web::ResponseError::error_response(&OAuthError::invalid_request(
                    format!("invalid query: {e}"),
                ))
            }
        };
    let result = sim.oauth().authorize(&params, now_ms());
    let res = match result {
        Ok(redirect) => HttpResponse::Found()
            .insert_header((header::LOCATION, redirect.0))
            .finish(),
        Err(e) => actix_web::ResponseError::error_response(&e),
    };
    with_client(res, params.client_id)
}

fn authorization(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

async fn token(
    sim: web::Data<Simulator>,
    req: HttpRequest,
    form: web::Form<TokenForm>,
) -> HttpResponse {
    let org = sim.org_url();
    let result = {
        let mut oauth = sim.oauth();
        oauth
            .authenticate(authorization(&req), &form)
            .and_then(|client| {
                oauth
                    .token(&client, &form, &org, sim.key(), now_ms())
                    .map(|answer| (client.client_id, answer))
            })
    };
    match result {
        Ok((client_id, answer)) => with_client(
            HttpResponse::Ok()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .insert_header((header::PRAGMA, "no-cache"))
                .json(answer),
            Some(client_id),
        ),
        Err(e) => with_client(
            actix_web::ResponseError::error_response(&e),
            form.client_id.clone(),
        ),
    }
}

async fn revoke(
    sim: web::Data<Simulator>,
    req: HttpRequest,
    form: web::Form<TokenForm>,
) -> HttpResponse {
    let result = {
        let mut oauth = sim.oauth();
        oauth
            .authenticate(authorization(&req), &form)
            .and_then(|client| oauth.revoke(&client, &form).map(|()| client.client_id))
    };
    match result {
        Ok(client_id) => with_client(HttpResponse::Ok().finish(), Some(client_id)),
        Err(e) => actix_web::ResponseError::error_response(&e),
    }
}

async fn keys(sim: web::Data<Simulator>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "max-age=3600, must-revalidate"))
        .json(sim.jwks())
}

async fn discovery(sim: web::Data<Simulator>) -> HttpResponse {
    let org = sim.org_url();
    HttpResponse::Ok().json(json!({
        "issuer": org,
        "authorization_endpoint": format!("{org}/oauth2/v1/authorize"),
        "token_endpoint": format!("{org}/oauth2/v1/token"),
        "jwks_uri": format!("{org}/oauth2/v1/keys"),
        "revocation_endpoint": format!("{org}/oauth2/v1/revoke"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": KNOWN_SCOPES,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nonce", "email", "preferred_username", "name"],
    }))
}
