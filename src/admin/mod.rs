//! The admin REST API under `/api/v1` (JSON; `admin` scope to write, `read` to read).

pub mod audit;
pub mod error;
pub mod groups;
pub mod guard;
pub mod initial_sync;
pub mod mappings;
pub mod okta;
pub mod okta_hooks;
pub mod okta_resync;
pub mod openapi;
pub mod principal;
pub mod roles;
pub mod settings;
pub mod sync;
pub mod tokens;

use actix_web::web;

pub use error::AdminError;
pub use principal::{AdminPrincipal, ReadPrincipal};

/// Declares the routes once: they are registered from this list, and `ROUTES` lets the
/// OpenAPI document be checked against it (a route cannot be added without being described).
macro_rules! api_routes {
    ($($method:ident $path:literal => $handler:path;)*) => {
        /// Every route under `/api/v1`: (method, path template as OpenAPI writes it).
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        fn register(scope: actix_web::Scope) -> actix_web::Scope {
            scope$(.route($path, web::$method().to($handler)))*
        }
    };
}

api_routes! {
    get "/openapi.json" => openapi::document;
    get "/audit" => audit::list;
    get "/tokens" => tokens::list;
    post "/tokens" => tokens::create;
    delete "/tokens/{name}" => tokens::revoke;
    get "/sync/status" => sync::status;
    get "/sync/users" => sync::users;
    post "/sync/retry" => sync::retry;
    post "/sync/recheck" => sync::recheck;
    post "/sync/sweep" => sync::sweep;
    post "/sync/pause" => sync::pause;
    post "/sync/resume" => sync::resume;
    get "/settings/zenqms" => settings::get_zenqms;
    put "/settings/zenqms" => settings::put_zenqms;
    get "/settings/okta" => okta::get_settings;
    put "/settings/okta" => okta::put_settings;
    delete "/settings/okta" => okta::delete_settings;
    post "/okta/authorize" => okta::authorize;
    post "/okta/resync" => okta_resync::start;
    get "/okta/event-hook" => okta_hooks::get;
    post "/okta/event-hook" => okta_hooks::ensure;
    delete "/okta/event-hook" => okta_hooks::delete;
    get "/settings/console/okta-groups" => okta::get_signin_groups;
    put "/settings/console/okta-groups" => okta::put_signin_groups;
    get "/role-mappings" => mappings::list;
    post "/role-mappings" => mappings::create;
    post "/role-mappings/preview" => mappings::preview;
    delete "/role-mappings/{id}" => mappings::delete;
    get "/groups" => groups::list;
    get "/zenqms/roles" => roles::list;
    post "/zenqms/roles/refresh" => roles::refresh;
    post "/zenqms/unlink" => initial_sync::unlink;
    get "/initial-sync" => initial_sync::list;
    post "/initial-sync" => initial_sync::start;
    get "/initial-sync/{id}" => initial_sync::get;
    get "/initial-sync/{id}/items" => initial_sync::items;
    post "/initial-sync/{id}/cancel" => initial_sync::cancel;
}

/// Routes that take a body but change nothing, open to a `read` token (every other route
/// that is not a `GET` needs `admin`). The guard checks the scope before reading a body; the
/// handlers' principal extractors say the same again.
pub const READ_ONLY_POSTS: &[&str] = &["/role-mappings/preview"];

/// The scope a request needs, from its method and path.
fn needed_scope(method: &actix_web::http::Method, path: &str) -> crate::auth::Scope {
    use actix_web::http::Method;
    let template = path.strip_prefix("/api/v1").unwrap_or(path);
    if matches!(*method, Method::GET | Method::HEAD) || READ_ONLY_POSTS.contains(&template) {
        crate::auth::Scope::Read
    } else {
        crate::auth::Scope::Admin
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    let scope = web::scope("/api/v1")
        .app_data(
            web::JsonConfig::default()
                .limit(error::MAX_BODY_BYTES)
                .error_handler(error::json_error),
        )
        .app_data(web::PayloadConfig::default().limit(error::MAX_BODY_BYTES))
        .app_data(web::QueryConfig::default().error_handler(error::query_error))
        .app_data(web::PathConfig::default().error_handler(error::path_error));
    cfg.service(
        register(scope)
            .default_service(web::to(not_found))
            .wrap(actix_web::middleware::from_fn(guard::guard)),
    );
}

/// Whatever no route took: `405` with `Allow` when the path is an admin route under another
/// method (RFC 9110 §15.5.6), `404` otherwise — both in the admin error shape.
async fn not_found(req: actix_web::HttpRequest) -> Result<actix_web::HttpResponse, AdminError> {
    let allow = allowed_methods(req.path());
    if !allow.is_empty() {
        return Err(AdminError::MethodNotAllowed {
            message: format!(
                "{} is not allowed on {}; it answers {}",
                req.method(),
                req.path(),
                allow.join(", ")
            ),
            allow,
        });
    }
    Err(AdminError::NotFound(format!(
        "no admin endpoint {} {}; GET /api/v1/openapi.json describes them all",
        req.method(),
        req.path()
    )))
}

/// The methods `ROUTES` registers for the template that matches this request path.
fn allowed_methods(path: &str) -> Vec<&'static str> {
    use actix_web::dev::ResourceDef;
    static TEMPLATES: std::sync::OnceLock<Vec<(ResourceDef, &'static str)>> =
        std::sync::OnceLock::new();
    let templates = TEMPLATES.get_or_init(|| {
        ROUTES
            .iter()
            .map(|(method, template)| {
                (
                    ResourceDef::new(format!("/api/v1{template}")),
                    http_method(method),
                )
            })
            .collect()
    });
    let matching: Vec<&(ResourceDef, &'static str)> = templates
        .iter()
        .filter(|(def, _)| def.is_match(path))
        .collect();
    // A static template (`/role-mappings/preview`) wins over a dynamic one that also matches
    // (`/role-mappings/{id}`), as in the router.
    let is_static = |def: &ResourceDef| !def.pattern().unwrap_or("{").contains('{');
    let static_only = matching.iter().any(|(def, _)| is_static(def));
    let mut allow: Vec<&'static str> = matching
        .iter()
        .filter(|(def, _)| !static_only || is_static(def))
        .map(|(_, m)| *m)
        .collect();
    allow.sort_unstable();
    allow.dedup();
    allow
}

/// `ROUTES` spells methods as actix's route constructors (`get`); HTTP spells them `GET`.
fn http_method(route_fn: &str) -> &'static str {
    match route_fn {
        "get" => "GET",
        "post" => "POST",
        "put" => "PUT",
        "patch" => "PATCH",
        "delete" => "DELETE",
        "head" => "HEAD",
        _ => "OPTIONS",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_methods_come_from_the_route_table() {
        assert_eq!(allowed_methods("/api/v1/tokens"), ["GET", "POST"]);
        assert_eq!(allowed_methods("/api/v1/tokens/ops"), ["DELETE"]);
        assert_eq!(allowed_methods("/api/v1/settings/zenqms"), ["GET", "PUT"]);
        assert_eq!(allowed_methods("/api/v1/role-mappings/preview"), ["POST"]);
        assert!(allowed_methods("/api/v1/tokens/ops/more").is_empty());
        assert!(allowed_methods("/api/v1/nothing").is_empty());
        for (method, _) in ROUTES {
            assert_ne!(http_method(method), "OPTIONS", "{method} has no HTTP name");
        }
    }
}
