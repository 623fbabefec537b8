//! The `/v2` endpoints of the ZenQMS public API (`docs/zenqms-api.md` of the bridge,
//! "Endpoints"). Each handler: parse the body into an intent, call the simulator once,
//! answer. Token, faults and the call record are the gate's (`gate.rs`).

use actix_web::middleware::from_fn;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::Value;

use crate::error::SimError;
use crate::gate::gate;
use crate::input;
use crate::sim::Simulator;

const USERS: &str = "/v2/users";
const SEARCH: &str = "/v2/users/search";
const USER: &str = "/v2/users/{id}";
const ROLES_ADD: &str = "/v2/users/{id}/roles/add";
const ROLES_REMOVE: &str = "/v2/users/{id}/roles/remove";
const ROLES: &str = "/v2/roles";
/// The template recorded for a `/v2` path that names no endpoint.
const UNMATCHED: &str = "/v2/(unmatched)";

/// The route template of a `/v2` path, as recorded in the call counts.
pub(crate) fn endpoint_template(path: &str) -> &'static str {
    let Some(rest) = path.strip_prefix("/v2/") else {
        return UNMATCHED;
    };
    let segments: Vec<&str> = rest.split('/').collect();
    match segments.as_slice() {
        ["users"] => USERS,
        ["users", "search"] => SEARCH,
        ["users", id] if !id.is_empty() => USER,
        ["users", id, "roles", "add"] if !id.is_empty() => ROLES_ADD,
        ["users", id, "roles", "remove"] if !id.is_empty() => ROLES_REMOVE,
        ["roles"] => ROLES,
        _ => UNMATCHED,
    }
}

/// Whether a call changes data (and so needs the full token). Search is a read.
pub(crate) fn is_write(method: &str, endpoint: &str) -> bool {
    matches!(
        (method, endpoint),
        ("POST", USERS) | ("PATCH", USER) | ("POST", ROLES_ADD) | ("DELETE", ROLES_REMOVE)
    )
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    let relative = |template: &'static str| &template["/v2".len()..];
    cfg.service(
        web::scope("/v2")
            .wrap(from_fn(gate))
            .service(resource(relative(USERS)).route(web::post().to(create_user)))
            .service(resource(relative(SEARCH)).route(web::post().to(search_users)))
            .service(resource(relative(USER)).route(web::patch().to(patch_user)))
            .service(resource(relative(ROLES_ADD)).route(web::post().to(add_roles)))
            .service(resource(relative(ROLES_REMOVE)).route(web::delete().to(remove_roles)))
            .service(resource(relative(ROLES)).route(web::get().to(list_roles)))
            .default_service(web::to(not_found)),
    );
}

fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

pub(crate) async fn not_found() -> Result<HttpResponse, SimError> {
    Err(SimError::NotFound("no such endpoint".into()))
}

pub(crate) async fn method_not_allowed() -> Result<HttpResponse, SimError> {
    Err(SimError::MethodNotAllowed)
}

async fn create_user(
    sim: web::Data<Simulator>,
    body: web::Json<Value>,
) -> Result<HttpResponse, SimError> {
    let user = sim.create_user(input::user_input(&body)?)?;
    Ok(HttpResponse::Created().json(user))
}

async fn patch_user(
    sim: web::Data<Simulator>,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, SimError> {
    let user = sim.patch_user(&id, input::user_input(&body)?)?;
    Ok(HttpResponse::Ok().json(user))
}

async fn search_users(
    sim: web::Data<Simulator>,
    body: web::Json<Value>,
) -> Result<HttpResponse, SimError> {
    let page = sim.search(&input::search(&body)?);
    Ok(HttpResponse::Ok().json(page))
}

async fn add_roles(
    sim: web::Data<Simulator>,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, SimError> {
    let user = sim.add_roles(&id, &input::role_ids(&body)?)?;
    Ok(HttpResponse::Ok().json(user))
}

async fn remove_roles(
    sim: web::Data<Simulator>,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, SimError> {
    let user = sim.remove_roles(&id, &input::role_ids(&body)?)?;
    Ok(HttpResponse::Ok().json(user))
}

#[derive(Deserialize)]
struct PageQuery {
    page: Option<u64>,
    page_size: Option<u64>,
}

async fn list_roles(
    sim: web::Data<Simulator>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, SimError> {
    let (page, page_size) = input::paging(query.page, query.page_size)?;
    Ok(HttpResponse::Ok().json(sim.roles_page(page, page_size)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        assert_eq!(endpoint_template("/v2/users"), USERS);
        assert_eq!(endpoint_template("/v2/users/search"), SEARCH);
        assert_eq!(endpoint_template("/v2/users/u-1001"), USER);
        assert_eq!(endpoint_template("/v2/users/1001/roles/add"), ROLES_ADD);
        assert_eq!(
            endpoint_template("/v2/users/1001/roles/remove"),
            ROLES_REMOVE
        );
        assert_eq!(endpoint_template("/v2/roles"), ROLES);
        for other in [
            "/v2",
            "/v2/",
            "/v2/users/",
            "/v2/users//roles/add",
            "/v2/groups",
            "/v2/roles/7",
        ] {
            assert_eq!(endpoint_template(other), UNMATCHED, "{other}");
        }
        assert!(is_write("PATCH", USER));
        assert!(!is_write("POST", SEARCH));
        assert!(!is_write("GET", ROLES));
    }
}
