//! The admin console: server-rendered pages at `/` over the same services as the REST API
//! (it adds no rule of its own), for people who would otherwise use `curl`.
//!
//! Sign-in with an `admin` or `read` token, or with Okta (`okta_signin.rs`), opens a session
//! (`crate::auth::sessions`); `guard.rs` resolves it on every request, refuses a change from a
//! `read` session or without the session's CSRF token, and sets the security headers. Pages:
//! the two-page setup wizard (`setup.rs`, `initial.rs`), the dashboard, the role mappings, a
//! user, the audit trail and the tokens. Templates are in `templates/` (askama, checked at
//! compile time); the stylesheet and the little JavaScript are embedded (`assets.rs`).
//! `docs/console.md` describes the pages.

pub mod assets;
pub mod audit;
pub mod dashboard;
pub mod error;
pub mod guard;
pub mod initial;
pub mod mappings;
pub mod okta_signin;
pub mod page;
pub mod setup;
pub mod signin;
pub mod tokens;
pub mod users;

use actix_web::{web, HttpResponse};

pub use error::ConsoleError;
pub use page::{Editor, Viewer};

/// Where the console lives.
pub const ROOT: &str = "/console";

/// What the console needs from the configuration, registered once by `server.rs`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The session cookie's name: `__Host-` prefixed (and `Secure`) under HTTPS.
    pub cookie: &'static str,
    pub secure: bool,
    pub limits: crate::auth::sessions::Limits,
    /// `PUBLIC_URL/scim/v2`, shown in the wizard with a copy button.
    pub scim_base_url: String,
    pub public_url: String,
}

impl Settings {
    pub fn new(config: &crate::config::Config) -> Settings {
        let secure = config.public_url.starts_with("https://");
        let delta = |d: std::time::Duration| {
            chrono::TimeDelta::from_std(d).unwrap_or(chrono::TimeDelta::seconds(1800))
        };
        Settings {
            cookie: if secure {
                "__Host-zqb_session"
            } else {
                "zqb_session"
            },
            secure,
            limits: crate::auth::sessions::Limits {
                idle: delta(config.console_session_idle),
                max: delta(config.console_session_max),
            },
            scim_base_url: config.scim_base_url(),
            public_url: config.public_url.clone(),
        }
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(root));
    cfg.service(
        web::scope(ROOT)
            .app_data(web::FormConfig::default().limit(guard::MAX_FORM_BYTES))
            .route("", web::get().to(dashboard::home))
            .route("/", web::get().to(dashboard::home))
            .route("/assets/{name}", web::get().to(assets::serve))
            .route("/signin", web::get().to(signin::page))
            .route("/signin", web::post().to(signin::submit))
            .route("/signout", web::post().to(signin::signout))
            .route("/okta/signin", web::get().to(okta_signin::start))
            .route("/dashboard", web::get().to(dashboard::page))
            .route("/sync/retry", web::post().to(dashboard::retry))
            .route("/sync/pause", web::post().to(dashboard::pause))
            .route("/sync/resume", web::post().to(dashboard::resume))
            .route("/sync/sweep", web::post().to(dashboard::sweep))
            .route("/okta/event-hook", web::post().to(dashboard::event_hook))
            .route("/setup/connections", web::get().to(setup::page))
            .route("/setup/okta", web::post().to(setup::save_okta))
            .route("/setup/okta/authorize", web::post().to(setup::authorize))
            .route(
                "/setup/okta/signin",
                web::post().to(setup::save_signin_groups),
            )
            .route("/setup/zenqms", web::post().to(setup::save_zenqms))
            .route("/setup/sync", web::get().to(initial::page))
            .route("/setup/sync/start", web::post().to(initial::start))
            .route("/initial-sync/{id}", web::get().to(initial::run))
            .route("/initial-sync/{id}/items.csv", web::get().to(initial::csv))
            .route("/initial-sync/{id}/cancel", web::post().to(initial::cancel))
            .route("/mappings", web::get().to(mappings::page))
            .route("/mappings", web::post().to(mappings::submit))
            .route("/mappings/preview", web::post().to(mappings::preview))
            .route("/mappings/{id}/delete", web::post().to(mappings::delete))
            .route("/users", web::get().to(users::list))
            .route("/users/{id}", web::get().to(users::page))
            .route("/audit", web::get().to(audit::page))
            .route("/audit/export", web::get().to(audit::export))
            .route("/tokens", web::get().to(tokens::page))
            .route("/tokens", web::post().to(tokens::create))
            .route("/tokens/{name}/revoke", web::post().to(tokens::revoke))
            .default_service(web::to(not_found))
            .wrap(actix_web::middleware::from_fn(guard::guard)),
    );
}

/// `/` is the console.
async fn root() -> HttpResponse {
    page::see_other(ROOT)
}

async fn not_found() -> Result<HttpResponse, ConsoleError> {
    Err(ConsoleError::not_found(
        "There is no such page in the console.",
    ))
}
