//! The admin REST API under `/api/v1` (JSON; `admin` scope to write, `read` to read).

pub mod audit;
pub mod error;
pub mod principal;
pub mod settings;
pub mod sync;
pub mod tokens;

use actix_web::web;

pub use error::AdminError;
pub use principal::{AdminPrincipal, ReadPrincipal};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .app_data(
                web::JsonConfig::default()
                    .limit(1 << 20)
                    .error_handler(error::json_error),
            )
            .app_data(web::QueryConfig::default().error_handler(error::query_error))
            .app_data(web::PathConfig::default().error_handler(error::path_error))
            .route("/audit", web::get().to(audit::list))
            .route("/tokens", web::get().to(tokens::list))
            .route("/tokens", web::post().to(tokens::create))
            .route("/tokens/{name}", web::delete().to(tokens::revoke))
            .route("/sync/status", web::get().to(sync::status))
            .route("/sync/users", web::get().to(sync::users))
            .route("/sync/retry", web::post().to(sync::retry))
            .route("/sync/pause", web::post().to(sync::pause))
            .route("/sync/resume", web::post().to(sync::resume))
            .route("/settings/zenqms", web::get().to(settings::get_zenqms))
            .route("/settings/zenqms", web::put().to(settings::put_zenqms))
            .default_service(web::to(not_found)),
    );
}

async fn not_found(req: actix_web::HttpRequest) -> Result<actix_web::HttpResponse, AdminError> {
    Err(AdminError::NotFound(format!(
        "no admin endpoint {} {}",
        req.method(),
        req.path()
    )))
}
