//! The composition root, and the only module that knows every other one: start-up (database,
//! migrations, key, first admin token), the services built once and registered each as its
//! own app data, the routes, the background tasks, and the HTTP server with graceful shutdown.
//! `docs/architecture.md` draws the layers.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{middleware, web, App, HttpResponse, HttpServer};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::audit::AuditLog;
use crate::auth::{tokens, Authenticator, Scope};
use crate::config::Config;
use crate::crypto::Key;
use crate::directory::Directory;
use crate::initial_sync::InitialSync;
use crate::mappings::{self, Mappings};
use crate::outbox::Wakeup;
use crate::store::{self, DbConn, Pool, StoreError};
use crate::sync::{self, Engine};
use crate::telemetry::Metrics;
use crate::zenqms::ZenqmsId;

/// How long stopping lets sync runs in progress finish before abandoning them (their jobs
/// stay; their leases are released so another process takes them at once).
const STOP_GRACE: Duration = Duration::from_secs(10);

/// The services of one process, each built once. Handlers get each as its own app data,
/// never this whole.
#[derive(Clone)]
pub struct Services {
    pub config: Arc<Config>,
    pub pool: Pool,
    pub metrics: Metrics,
    pub authenticator: Authenticator,
    pub directory: Directory,
    pub mappings: Mappings,
    pub sync: Engine,
    pub initial_sync: InitialSync,
    pub audit: AuditLog,
    /// How often the sync tasks look for work on their own, besides wake-ups.
    pub polling: sync::Polling,
}

/// The sync engine's port to the role mappings (`sync::RolePolicy`), served by `mappings`.
struct MappingRoles;

impl sync::RolePolicy for MappingRoles {
    fn plan_for(
        &self,
        conn: &mut DbConn,
        user_id: &str,
    ) -> Result<Option<mappings::RolePlan>, StoreError> {
        mappings::plan::for_user(conn, user_id)
    }

    fn managed_roles(&self, conn: &mut DbConn) -> Result<Vec<String>, StoreError> {
        mappings::plan::managed_roles(conn)
    }

    fn mark_missing(&self, conn: &mut DbConn, ids: &[ZenqmsId]) -> Result<Vec<String>, StoreError> {
        mappings::roles::mark_missing(conn, ids)
    }

    fn summary(&self, conn: &mut DbConn) -> Result<mappings::Summary, StoreError> {
        mappings::table::summary(conn)
    }
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

/// Opens the database, applies migrations, loads the secret key, and builds the services
/// (no task runs yet: [`start_on`] starts them with the HTTP server).
pub fn prepare(config: Config) -> Result<Services, StartError> {
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
    let wakeup = Wakeup::new();
    let sync = Engine::new(
        pool.clone(),
        config.clone(),
        metrics.clone(),
        key,
        wakeup.clone(),
        Arc::new(MappingRoles),
    );
    // The Okta org port (`initial_sync::OktaOrg`) is plugged in here once the Okta
    // connection exists; without it the initial sync runs over the SCIM source.
    let initial_sync = InitialSync::new(pool.clone(), sync.clone(), metrics.clone(), None);
    Ok(Services {
        initial_sync,
        mappings: Mappings::new(pool.clone(), wakeup.clone(), Arc::new(sync.clone())),
        directory: Directory::new(pool.clone(), wakeup),
        authenticator: Authenticator::new(pool.clone()),
        audit: AuditLog::new(pool.clone()),
        sync,
        metrics,
        config,
        pool,
        polling: sync::Polling::default(),
    })
}

/// On a database with no service account at all, creates one `admin` token and returns it
/// (to be printed once). Returns `None` otherwise.
pub fn bootstrap_admin_token(services: &Services) -> Result<Option<String>, StartError> {
    let mut conn = services.pool.get().map_err(StoreError::from)?;
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

/// Registers each service as its own app data, and the routes of the whole service.
fn app(services: &Services) -> impl FnOnce(&mut web::ServiceConfig) {
    let config = &services.config;
    let scim = crate::scim::Settings {
        base_url: config.scim_base_url(),
        max_page: i64::from(config.scim_max_page_size),
        max_body: config.scim_max_body_bytes,
    };
    let probe = Probe {
        pool: services.pool.clone(),
        metrics: services.metrics.clone(),
        sync: services.sync.clone(),
        initial_sync: services.initial_sync.clone(),
    };
    let data = (
        web::Data::new(services.authenticator.clone()),
        web::Data::new(services.directory.clone()),
        web::Data::new(services.mappings.clone()),
        web::Data::new(services.sync.clone()),
        web::Data::new(services.audit.clone()),
        web::Data::new(services.metrics.clone()),
        web::Data::new(scim),
        web::Data::new(probe),
        web::Data::new(services.initial_sync.clone()),
    );
    move |cfg| {
        cfg.app_data(data.0)
            .app_data(data.1)
            .app_data(data.2)
            .app_data(data.3)
            .app_data(data.4)
            .app_data(data.5)
            .app_data(data.6)
            .app_data(data.7)
            .app_data(data.8)
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(metrics));
        crate::scim::configure(cfg);
        crate::admin::configure(cfg);
    }
}

/// What the probes and `/metrics` read (private: no handler below reaches for the pool).
struct Probe {
    pool: Pool,
    metrics: Metrics,
    sync: Engine,
    initial_sync: InitialSync,
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

async fn readyz(probe: web::Data<Probe>) -> HttpResponse {
    let checked = store::run(&probe.pool, store::migrations_current).await;
    match checked {
        Ok(true) => HttpResponse::Ok().json(serde_json::json!({"status": "ready", "database": "ok", "migrations": "current"})),
        Ok(false) => HttpResponse::ServiceUnavailable().json(serde_json::json!({"status": "not ready", "database": "ok", "migrations": "pending: run `zenqms-bridge migrate`"})),
        Err::<_, StoreError>(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable().json(serde_json::json!({"status": "not ready", "database": "unreachable"}))
        }
    }
}

async fn metrics(probe: web::Data<Probe>) -> HttpResponse {
    probe.sync.refresh_gauges().await;
    probe.initial_sync.refresh_gauges().await;
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(probe.metrics.render(&probe.pool))
}

async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(serde_json::json!({
        "error": "not_found",
        "message": "no such endpoint; the SCIM API is under /scim/v2 and the admin API under /api/v1"
    }))
}

/// The background tasks of a process: the sync housekeeping, `SYNC_WORKERS` workers, the
/// drift sweeper, the mappings' housekeeping, and the initial sync's runner.
struct Background {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    owners: Vec<String>,
    sync: Engine,
}

impl Background {
    fn spawn(services: &Services) -> Background {
        let (stop, rx) = watch::channel(false);
        let sync = services.sync.clone();
        let polling = services.polling;
        let mut tasks = vec![tokio::spawn(sync::housekeeping::run(
            sync.clone(),
            polling.housekeeping,
            rx.clone(),
        ))];
        let owners = sync::worker::owners(&sync);
        for owner in &owners {
            tasks.push(tokio::spawn(sync::worker::run(
                sync.clone(),
                owner.clone(),
                polling.idle_worker,
                rx.clone(),
            )));
        }
        tasks.push(tokio::spawn(sync::sweep::run(sync.clone(), rx.clone())));
        tasks.push(tokio::spawn(mappings::periodic::run(
            services.mappings.clone(),
            services.config.zenqms_role_refresh,
            rx.clone(),
        )));
        tasks.push(tokio::spawn(services.initial_sync.clone().run_pending(rx)));
        Background {
            stop,
            tasks,
            owners,
            sync,
        }
    }

    /// Stops the tasks, lets sync runs in progress finish (for a while), and releases the
    /// leases of any it had to abandon, so that no job waits for a lease to expire.
    async fn stop(self) {
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + STOP_GRACE;
        for mut task in self.tasks {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                task.abort();
                let _ = task.await;
            }
        }
        sync::worker::release_leases(&self.sync, self.owners).await;
    }
}

/// A server listening on a socket, with its background tasks, running on the current runtime.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub handle: ServerHandle,
    pub services: Services,
    task: JoinHandle<std::io::Result<()>>,
    background: Background,
}

impl RunningServer {
    /// Stops accepting, lets in-flight requests finish, then stops the background tasks
    /// (runs in progress finish or give their jobs back), and waits.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        let _ = self.task.await;
        self.background.stop().await;
    }

    /// Waits until the server stops (on SIGTERM/SIGINT when signals are enabled), then
    /// stops the background tasks.
    pub async fn wait(self) -> std::io::Result<()> {
        let result = match self.task.await {
            Ok(r) => r,
            Err(e) => Err(std::io::Error::other(e)),
        };
        self.background.stop().await;
        result
    }
}

/// Binds and starts the HTTP server. `handle_signals` makes SIGTERM/SIGINT stop it gracefully.
pub fn start(services: Services, handle_signals: bool) -> Result<RunningServer, StartError> {
    let addr = services.config.bind_addr;
    let listener = TcpListener::bind(addr).map_err(|source| StartError::Bind { addr, source })?;
    start_on(services, listener, handle_signals)
}

/// Starts the HTTP server on `listener`, and the background tasks.
pub fn start_on(
    services: Services,
    listener: TcpListener,
    handle_signals: bool,
) -> Result<RunningServer, StartError> {
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: services.config.bind_addr,
        source,
    })?;
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(2, 8);
    let for_app = services.clone();
    let mut server = HttpServer::new(move || {
        App::new()
            .wrap(middleware::from_fn(crate::telemetry::observe))
            .configure(app(&for_app))
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
    let background = Background::spawn(&services);
    Ok(RunningServer {
        addr,
        handle,
        services,
        task,
        background,
    })
}
