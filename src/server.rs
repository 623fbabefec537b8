//! Start-up (database, migrations, key, first admin token), the application's routes, and
//! the HTTP server with graceful shutdown.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::{middleware, web, App, HttpResponse, HttpServer};

use crate::auth::{tokens, Scope};
use crate::config::Config;
use crate::crypto::Key;
use crate::store::{self, Pool, StoreError};
use crate::telemetry::Metrics;

/// Everything a handler may need, shared by all workers.
#[derive(Clone)]
pub struct AppState {
    pub pool: Pool,
    pub config: Arc<Config>,
    pub metrics: Metrics,
    pub key: Key,
    /// Wakes this process's sync workers after a commit that enqueued jobs.
    pub sync_wakeup: crate::outbox::Wakeup,
    /// The sync engine (connection, budget, pause) the workers and the admin API share.
    pub sync: crate::sync::Engine,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot create the first admin token: {0}")]
    Bootstrap(#[from] crate::auth::TokenError),
}

/// Opens the database, applies migrations and loads the secret key.
pub fn prepare(config: Config) -> Result<AppState, StartError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::DataDir {
        path: config.data_dir.display().to_string(),
        source,
    })?;
    let pool = store::connect(&config.database_url, config.db_pool_size)?;
    {
        let mut conn = pool.get().map_err(StoreError::from)?;
        let applied = store::run_migrations(&mut conn)?;
        if applied > 0 {
            tracing::info!(applied, "database migrations applied");
        }
    }
    let key = Key::load_or_create(
        config.secret_key.as_ref().map(|s| s.expose()),
        &config.data_dir,
    )?;
    let config = Arc::new(config);
    let metrics = Metrics::new();
    let sync_wakeup = crate::outbox::Wakeup::new();
    let sync = crate::sync::Engine::new(
        pool.clone(),
        config.clone(),
        metrics.clone(),
        key.clone(),
        sync_wakeup.clone(),
    );
    Ok(AppState {
        pool,
        config,
        metrics,
        key,
        sync_wakeup,
        sync,
    })
}

/// On a database with no service account at all, creates one `admin` token and returns it
/// (to be printed once). Returns `None` otherwise.
pub fn bootstrap_admin_token(state: &AppState) -> Result<Option<String>, StartError> {
    let mut conn = state.pool.get().map_err(StoreError::from)?;
    let any: i64 = {
        use diesel::prelude::*;
        store::schema::service_accounts::table
            .count()
            .get_result(&mut *conn)
            .map_err(StoreError::from)?
    };
    if any > 0 {
        return Ok(None);
    }
    match tokens::create(&mut conn, "bootstrap-admin", Scope::Admin) {
        Ok(created) => Ok(Some(created.token)),
        // Another instance bootstrapped at the same moment.
        Err(crate::auth::TokenError::NameTaken(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The routes of the whole service.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
    crate::scim::configure(cfg);
    crate::admin::configure(cfg);
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let checked = store::run(&state.pool, store::migrations_current).await;
    match checked {
        Ok(true) => HttpResponse::Ok().json(serde_json::json!({"status": "ready", "database": "ok", "migrations": "current"})),
        Ok(false) => HttpResponse::ServiceUnavailable().json(serde_json::json!({"status": "not ready", "database": "ok", "migrations": "pending: run `zenqms-bridge migrate`"})),
        Err::<_, StoreError>(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable().json(serde_json::json!({"status": "not ready", "database": "unreachable"}))
        }
    }
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    state.sync.refresh_gauges().await;
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render(&state.pool))
}

async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(serde_json::json!({
        "error": "not_found",
        "message": "no such endpoint; the SCIM API is under /scim/v2 and the admin API under /api/v1"
    }))
}

/// A server listening on a socket, with its sync workers, running on the current runtime.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub handle: ServerHandle,
    pub state: AppState,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    sync: crate::sync::SyncHandle,
}

impl RunningServer {
    /// Stops accepting, lets in-flight requests finish, then stops the sync workers
    /// (runs in progress finish or give their jobs back), and waits.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        let _ = self.task.await;
        self.sync.stop().await;
    }

    /// Waits until the server stops (on SIGTERM/SIGINT when signals are enabled), then
    /// stops the sync workers.
    pub async fn wait(self) -> std::io::Result<()> {
        let result = match self.task.await {
            Ok(r) => r,
            Err(e) => Err(std::io::Error::other(e)),
        };
        self.sync.stop().await;
        result
    }
}

/// Binds and starts the HTTP server. `handle_signals` makes SIGTERM/SIGINT stop it gracefully.
pub fn start(state: AppState, handle_signals: bool) -> Result<RunningServer, StartError> {
    let addr = state.config.bind_addr;
    let listener = TcpListener::bind(addr).map_err(|source| StartError::Bind { addr, source })?;
    start_on(state, listener, handle_signals)
}

pub fn start_on(
    state: AppState,
    listener: TcpListener,
    handle_signals: bool,
) -> Result<RunningServer, StartError> {
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: state.config.bind_addr,
        source,
    })?;
    let data = web::Data::new(state.clone());
    let metrics = web::Data::new(state.metrics.clone());
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(2, 8);
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(metrics.clone())
            .wrap(middleware::from_fn(crate::telemetry::observe))
            .configure(routes)
            .default_service(web::to(not_found))
    })
    .workers(workers)
    .shutdown_timeout(30)
    .listen(listener)
    .map_err(|source| StartError::Bind { addr, source })?;
    if !handle_signals {
        server = server.disable_signals();
    }
    let server = server.run();
    let handle = server.handle();
    let task = tokio::spawn(server);
    let sync = state.sync.start();
    Ok(RunningServer {
        addr,
        handle,
        state,
        task,
        sync,
    })
}
