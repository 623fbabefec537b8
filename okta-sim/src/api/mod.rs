//! The management API under `/api/v1` (users, groups, event hooks). Handlers parse,
//! call the simulator once, answer; the access token, scopes, rate limit and faults are
//! the gate's (`gate.rs`), paging and `Link` headers `paging.rs`'s.

pub(crate) mod groups;
pub(crate) mod hooks;
pub(crate) mod paging;
pub(crate) mod users;

use actix_web::middleware::from_fn;
use actix_web::{web, HttpResponse};

use crate::error::ApiError;
use crate::gate::gate;

/// The route template of a real-API path, as recorded in the call counts.
pub(crate) fn endpoint_template(path: &str) -> String {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let t = match segments.as_slice() {
        ["api", "v1", "users"] => "/api/v1/users",
        ["api", "v1", "users", id] if !id.is_empty() => "/api/v1/users/{id}",
        ["api", "v1", "users", id, "groups"] if !id.is_empty() => "/api/v1/users/{id}/groups",
        ["api", "v1", "groups"] => "/api/v1/groups",
        ["api", "v1", "groups", id] if !id.is_empty() => "/api/v1/groups/{id}",
        ["api", "v1", "groups", id, "users"] if !id.is_empty() => "/api/v1/groups/{id}/users",
        ["api", "v1", "eventHooks"] => "/api/v1/eventHooks",
        ["api", "v1", "eventHooks", id] if !id.is_empty() => "/api/v1/eventHooks/{id}",
        ["api", "v1", "eventHooks", id, "lifecycle", action] if !id.is_empty() => {
            return format!("/api/v1/eventHooks/{{id}}/lifecycle/{action}")
        }
        ["oauth2", "v1", "authorize"] => "/oauth2/v1/authorize",
        ["oauth2", "v1", "token"] => "/oauth2/v1/token",
        ["oauth2", "v1", "keys"] => "/oauth2/v1/keys",
        ["oauth2", "v1", "revoke"] => "/oauth2/v1/revoke",
        ["oauth2", ..] => "/oauth2/(unmatched)",
        _ => "/api/v1/(unmatched)",
    };
    t.to_owned()
}

/// The scopes any one of which a call needs (`None`: no token needed, the OAuth
/// endpoints; an empty list: a token but no particular scope).
pub(crate) fn required_scopes(method: &str, template: &str) -> Option<&'static [&'static str]> {
    if template.starts_with("/oauth2/") {
        return None;
    }
    Some(if template.starts_with("/api/v1/users") {
        &["okta.users.read", "okta.users.manage"]
    } else if template.starts_with("/api/v1/groups") {
        &["okta.groups.read", "okta.groups.manage"]
    } else if template.starts_with("/api/v1/eventHooks") {
        if method == "GET" {
            &["okta.eventHooks.read", "okta.eventHooks.manage"]
        } else {
            &["okta.eventHooks.manage"]
        }
    } else {
        &[]
    })
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .wrap(from_fn(gate))
            .service(resource("/users").route(web::get().to(users::list)))
            .service(resource("/users/{id}").route(web::get().to(users::get)))
            .service(resource("/users/{id}/groups").route(web::get().to(users::groups)))
            .service(resource("/groups").route(web::get().to(groups::list)))
            .service(resource("/groups/{id}").route(web::get().to(groups::get)))
            .service(resource("/groups/{id}/users").route(web::get().to(groups::members)))
            .service(
                resource("/eventHooks")
                    .route(web::get().to(hooks::list))
                    .route(web::post().to(hooks::create)),
            )
            .service(
                resource("/eventHooks/{id}")
                    .route(web::get().to(hooks::get))
                    .route(web::put().to(hooks::replace))
                    .route(web::delete().to(hooks::delete)),
            )
            .service(
                resource("/eventHooks/{id}/lifecycle/{action}")
                    .route(web::post().to(hooks::lifecycle)),
            )
            .default_service(web::to(not_found)),
    );
}

pub(crate) fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

pub(crate) async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("no such endpoint".into()))
}

pub(crate) async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_and_scopes() {
        assert_eq!(endpoint_template("/api/v1/users"), "/api/v1/users");
        assert_eq!(
            endpoint_template("/api/v1/users/00u1/groups"),
            "/api/v1/users/{id}/groups"
        );
        assert_eq!(
            endpoint_template("/api/v1/groups/00g1/users"),
            "/api/v1/groups/{id}/users"
        );
        assert_eq!(
            endpoint_template("/api/v1/eventHooks/who1/lifecycle/verify"),
            "/api/v1/eventHooks/{id}/lifecycle/verify"
        );
        assert_eq!(endpoint_template("/api/v1/apps"), "/api/v1/(unmatched)");
        assert_eq!(endpoint_template("/oauth2/v1/token"), "/oauth2/v1/token");
        assert_eq!(required_scopes("GET", "/oauth2/v1/keys"), None);
        assert_eq!(
            required_scopes("POST", "/api/v1/eventHooks"),
            Some(&["okta.eventHooks.manage"][..])
        );
        assert_eq!(
            required_scopes("GET", "/api/v1/users/{id}/groups"),
            Some(&["okta.users.read", "okta.users.manage"][..])
        );
    }
}
