//! `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas` (RFC 7644 §4), served from the JSON in
//! `schemas/` — the same files that drive the server's behaviour — with `meta.location` made
//! absolute from `PUBLIC_URL` and `filter.maxResults` from `SCIM_MAX_PAGE_SIZE`.

use actix_web::http::StatusCode;
use actix_web::{middleware, web, HttpResponse};
use serde_json::Value;

use super::schema::{
    ENTERPRISE_SCHEMA_JSON, GROUP_SCHEMA_JSON, RESOURCE_TYPES_JSON, SERVICE_PROVIDER_CONFIG_JSON,
    USER_SCHEMA_JSON,
};
use super::{guard, method_not_allowed, Ctx, ScimError};
use super::{limits, render};

type Query = web::Query<Vec<(String, String)>>;
type Answer = Result<HttpResponse, ScimError>;

pub fn routes(cfg: &mut web::ServiceConfig) {
    let get_only = || web::to(method_not_allowed("GET"));
    cfg.service(
        web::resource("/ServiceProviderConfig")
            .wrap(middleware::from_fn(guard::catch_panics))
            .route(web::get().to(service_provider_config))
            .default_service(get_only()),
    )
    .service(
        web::resource("/ResourceTypes")
            .wrap(middleware::from_fn(guard::catch_panics))
            .route(web::get().to(resource_types))
            .default_service(get_only()),
    )
    .service(
        web::resource("/ResourceTypes/{name}")
            .wrap(middleware::from_fn(guard::catch_panics))
            .route(web::get().to(resource_type))
            .default_service(get_only()),
    )
    .service(
        web::resource("/Schemas")
            .wrap(middleware::from_fn(guard::catch_panics))
            .route(web::get().to(schemas))
            .default_service(get_only()),
    )
    .service(
        web::resource("/Schemas/{urn}")
            .wrap(middleware::from_fn(guard::catch_panics))
            .route(web::get().to(one_schema))
            .default_service(get_only()),
    );
}

fn parse(text: &str) -> Result<Value, ScimError> {
    serde_json::from_str(text).map_err(|e| ScimError::Internal(format!("embedded schema: {e}")))
}

/// `meta.location` in the files is relative to the SCIM base URL.
fn locate(mut v: Value, base: &str) -> Value {
    if let Some(loc) = v.pointer_mut("/meta/location") {
        if let Some(rel) = loc.as_str().filter(|s| s.starts_with('/')) {
            *loc = Value::String(format!("{base}{rel}"));
        }
    }
    v
}

/// RFC 7644 §4: query parameters are ignored on discovery endpoints, but a filter is
/// refused (`403`) so a client cannot believe it was applied.
fn refuse_filter(q: &Query) -> Result<(), ScimError> {
    if q.iter().any(|(k, _)| k.eq_ignore_ascii_case("filter")) {
        return Err(ScimError::Forbidden(
            "filters are not supported on discovery endpoints (RFC 7644 §4)".into(),
        ));
    }
    Ok(())
}

async fn service_provider_config(ctx: Ctx, q: Query) -> Answer {
    refuse_filter(&q)?;
    let mut v = locate(parse(SERVICE_PROVIDER_CONFIG_JSON)?, &ctx.base);
    if let Some(max) = v.pointer_mut("/filter/maxResults") {
        *max = Value::from(ctx.max_page);
    }
    // RFC 7643 §5 has no field for the bounds of `limits.rs`: they are advertised in an
    // extension block of this service's own (each is also named by the 400 that enforces it).
    if let Some(obj) = v.as_object_mut() {
        if let Some(Value::Array(schemas)) = obj.get_mut("schemas") {
            schemas.push(Value::from(limits::LIMITS_URN));
        }
        obj.insert(limits::LIMITS_URN.to_string(), limits::advertised());
    }
    Ok(render::json(StatusCode::OK, &v))
}

fn all_resource_types(base: &str) -> Result<Vec<Value>, ScimError> {
    match parse(RESOURCE_TYPES_JSON)? {
        Value::Array(items) => Ok(items.into_iter().map(|v| locate(v, base)).collect()),
        _ => Err(ScimError::Internal(
            "ResourceTypes.json is not a list".into(),
        )),
    }
}

fn all_schemas(base: &str) -> Result<Vec<Value>, ScimError> {
    [USER_SCHEMA_JSON, GROUP_SCHEMA_JSON, ENTERPRISE_SCHEMA_JSON]
        .iter()
        .map(|t| parse(t).map(|v| locate(v, base)))
        .collect()
}

fn list(items: Vec<Value>) -> HttpResponse {
    let n = items.len() as i64;
    render::json(StatusCode::OK, &render::list(n, 1, items))
}

async fn resource_types(ctx: Ctx, q: Query) -> Answer {
    refuse_filter(&q)?;
    Ok(list(all_resource_types(&ctx.base)?))
}

async fn resource_type(ctx: Ctx, name: web::Path<String>) -> Answer {
    all_resource_types(&ctx.base)?
        .into_iter()
        .find(|v| v["id"].as_str() == Some(name.as_str()))
        .map(|v| render::json(StatusCode::OK, &v))
        .ok_or_else(|| ScimError::NotFound(format!("no resource type {name}")))
}

async fn schemas(ctx: Ctx, q: Query) -> Answer {
    refuse_filter(&q)?;
    Ok(list(all_schemas(&ctx.base)?))
}

async fn one_schema(ctx: Ctx, urn: web::Path<String>) -> Answer {
    all_schemas(&ctx.base)?
        .into_iter()
        .find(|v| {
            v["id"]
                .as_str()
                .is_some_and(|id| id.eq_ignore_ascii_case(&urn))
        })
        .map(|v| render::json(StatusCode::OK, &v))
        .ok_or_else(|| ScimError::NotFound(format!("no schema {urn}")))
}
