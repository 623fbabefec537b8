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
use crate::directory::{Admission, Directory};
use crate::initial_sync::InitialSync;
use crate::mappings::{self, Mappings};
use crate::okta::Okta;
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
    /// How many SCIM writes may run and wait at once (the SCIM guard asks it).
    pub admission: Admission,
    pub mappings: Mappings,
    pub sync: Engine,
    pub okta: Okta,
    /// Follows one Okta user or group into the directory (event hooks, the re-read).
    pub follow: crate::okta::follow::Follower,
    /// The periodic re-read of the Okta org (what event hooks missed).
    pub resync: crate::okta::resync::Resync,
    /// Okta event hooks: the hook's record and secret, what was received and processed.
    pub okta_hooks: crate::okta_hooks::OktaHooks,
    /// The hook in Okta: created, repaired, read, removed (`okta_hooks::registration`).
    pub hook_registration: crate::okta_hooks::registration::Registration,
    pub initial_sync: InitialSync,
    pub audit: AuditLog,
    /// The admin console's browser sessions.
    pub sessions: crate::auth::sessions::Sessions,
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
    // 0700: the data directory holds the database and the secret key.
    store::private_dir(&config.data_dir).map_err(|source| StartError::DataDir {
        path: config.data_dir.display().to_string(),
        source,
    })?;
    warn_if_shared(&config.data_dir);
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
    let okta = Okta::new(pool.clone(), key.clone(), metrics.clone(), &config);
    let sync = Engine::new(
        pool.clone(),
        config.clone(),
        metrics.clone(),
        key,
        wakeup.clone(),
        Arc::new(MappingRoles),
    );
    let directory = Directory::new(pool.clone(), wakeup.clone());
    // The initial sync reads a connected Okta org through this port (and the users Okta
    // pushed over SCIM when none is connected).
    let org = crate::okta::import::OrgSource {
        okta: okta.clone(),
        directory: directory.clone(),
    };
    let initial_sync = InitialSync::new(
        pool.clone(),
        sync.clone(),
        metrics.clone(),
        Some(Arc::new(org)),
    );
    let follow = crate::okta::follow::Follower::new(okta.clone(), directory.clone());
    let resync = crate::okta::resync::Resync::new(
        pool.clone(),
        follow.clone(),
        config.okta_resync,
        config.okta_presence,
    );
    let okta_hooks =
        crate::okta_hooks::OktaHooks::new(pool.clone(), metrics.clone(), config.okta_events_retain);
    let hook_registration = crate::okta_hooks::registration::Registration::new(
        okta.clone(),
        okta_hooks.clone(),
        pool.clone(),
        &config.public_url,
        resync.clone(),
    );
    Ok(Services {
        initial_sync,
        follow,
        okta_hooks,
        hook_registration,
        resync,
        mappings: Mappings::new(pool.clone(), wakeup, Arc::new(sync.clone())),
        directory,
        admission: Admission::new(
            config.db_max_writes_in_flight as usize,
            config.db_max_writes_queued as usize,
            metrics.writes_refused.clone(),
        ),
        authenticator: Authenticator::new(pool.clone()),
        audit: AuditLog::new(pool.clone()),
        sessions: crate::auth::sessions::Sessions::new(
            pool.clone(),
            crate::console::Settings::new(&config).limits,
        ),
        sync,
        okta,
        metrics,
        config,
        pool,
        polling: sync::Polling::default(),
    })
}

/// An existing data directory that others may read is the operator's choice, but said once.
fn warn_if_shared(dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(dir) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(dir = %dir.display(), mode = format!("{mode:o}"), "the data directory is accessible to other users; `chmod 700` it (it holds the database and the secret key)");
        }
    }
}

/// On a database with no service account at all, creates one `admin` token and returns it
/// (to be printed once), with its audit entry. Returns `None` otherwise.
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
    let created = store::tx::write(&mut conn, |c| {
        let created = tokens::create(c, "bootstrap-admin", Scope::Admin)?;
        crate::audit::record(
            c,
            &crate::audit::Entry {
                actor: "system",
                action: "token.create",
                target_type: "service_account",
                target_id: Some("bootstrap-admin"),
                detail: serde_json::json!({"scope": "admin", "prefix": created.account.prefix, "bootstrap": true}),
                outcome: crate::audit::Outcome::Success,
            },
        )?;
        Ok::<_, crate::auth::TokenError>(created)
    });
    match created {
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
        web::Data::new(services.okta.clone()),
        web::Data::new(services.initial_sync.clone()),
        web::Data::new(crate::console::Settings::new(config)),
        web::Data::new(services.sessions.clone()),
        web::Data::new(services.okta_hooks.clone()),
    );
    let admission = web::Data::new(services.admission.clone());
    let resync = web::Data::new(services.resync.clone());
    let hook_registration = web::Data::new(services.hook_registration.clone());
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
            .app_data(data.9)
            .app_data(data.10)
            .app_data(data.11)
            .app_data(data.12)
            .app_data(admission)
            .app_data(resync)
            .app_data(hook_registration)
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(metrics));
        crate::scim::configure(cfg);
        crate::admin::configure(cfg);
        crate::okta_callback::configure(cfg);
        crate::okta_events::configure(cfg);
        crate::console::configure(cfg);
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

/// `/metrics` on `BIND_ADDR`: the user counts per sync state are not for anyone who can reach
/// the port, so a `read` (or `admin`) token is needed.
async fn metrics(_who: crate::admin::ReadPrincipal, probe: web::Data<Probe>) -> HttpResponse {
    render_metrics(&probe).await
}

/// `/metrics` on `METRICS_BIND_ADDR`, a private address the operator chose: no token.
async fn open_metrics(probe: web::Data<Probe>) -> HttpResponse {
    render_metrics(&probe).await
}

async fn render_metrics(probe: &Probe) -> HttpResponse {
    // The sync gauges are aggregates over whole tables: read at most every GAUGE_MAX_AGE,
    // whoever scrapes and however often.
    if probe.metrics.claim_refresh(crate::telemetry::GAUGE_MAX_AGE) {
        probe.sync.refresh_gauges().await;
        probe.initial_sync.refresh_gauges().await;
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(probe.metrics.render(&probe.pool))
}

/// The second listener of `METRICS_BIND_ADDR`: `/metrics` and nothing else.
fn start_metrics_server(
    services: &Services,
    addr: SocketAddr,
) -> Result<(ServerHandle, JoinHandle<std::io::Result<()>>), StartError> {
    let listener = TcpListener::bind(addr).map_err(|source| StartError::Bind { addr, source })?;
    let probe = web::Data::new(Probe {
        pool: services.pool.clone(),
        metrics: services.metrics.clone(),
        sync: services.sync.clone(),
        initial_sync: services.initial_sync.clone(),
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(probe.clone())
            .route("/metrics", web::get().to(open_metrics))
            .default_service(web::to(not_found))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .map_err(|source| StartError::Bind { addr, source })?
    .run();
    let handle = server.handle();
    Ok((handle, tokio::spawn(server)))
}

async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(serde_json::json!({
        "error": "not_found",
        "message": "no such endpoint; the SCIM API is under /scim/v2 and the admin API under /api/v1"
    }))
}

/// The background tasks of a process: the sync housekeeping, `SYNC_WORKERS` workers, the
/// drift sweeper, the mappings' housekeeping, the console sessions' purge, the Okta re-read,
/// and the initial sync's runner.
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
        tasks.push(tokio::spawn(crate::auth::sessions::purge_every(
            services.sessions.clone(),
            services.config.console_session_purge,
            rx.clone(),
        )));
        tasks.push(tokio::spawn(services.resync.clone().run(rx.clone())));
        let registration = services.hook_registration.clone();
        tasks.push(tokio::spawn(
            async move { registration.after_start().await },
        ));
        tasks.push(tokio::spawn(crate::okta_hooks::process::run(
            services.okta_hooks.clone(),
            services.follow.clone(),
            format!("{}/okta-events", sync.inner.process),
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
    /// The `METRICS_BIND_ADDR` listener, when configured.
    metrics: Option<(ServerHandle, JoinHandle<std::io::Result<()>>)>,
    background: Background,
}

impl RunningServer {
    /// Stops accepting, lets in-flight requests finish, then stops the background tasks
    /// (runs in progress finish or give their jobs back), and waits.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        let _ = self.task.await;
        stop_metrics(self.metrics).await;
        self.background.stop().await;
    }

    /// Waits until the server stops (on SIGTERM/SIGINT when signals are enabled), then
    /// stops the background tasks.
    pub async fn wait(self) -> std::io::Result<()> {
        let result = match self.task.await {
            Ok(r) => r,
            Err(e) => Err(std::io::Error::other(e)),
        };
        stop_metrics(self.metrics).await;
        self.background.stop().await;
        result
    }
}

async fn stop_metrics(metrics: Option<(ServerHandle, JoinHandle<std::io::Result<()>>)>) {
    if let Some((handle, task)) = metrics {
        handle.stop(true).await;
        let _ = task.await;
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
    let metrics = match services.config.metrics_bind_addr {
        Some(addr) => Some(start_metrics_server(&services, addr)?),
        None => None,
    };
    let server = server.run();
    let handle = server.handle();
    let task = tokio::spawn(server);
    let background = Background::spawn(&services);
    Ok(RunningServer {
        addr,
        handle,
        services,
        task,
        metrics,
        background,
    })
}
