//! The sync engine of one process: the ZenQMS connection in force, the call budget, the
//! pause flag, what is known of ZenQMS's health, and the admin operations on them. Built once
//! by `server.rs`, which also runs the tasks that use it (`worker.rs`, `housekeeping.rs`,
//! `sweep.rs`); the admin handlers call it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use chrono::{NaiveDateTime, Utc};
use serde::Serialize;

use super::backlog::{self, Reason};
use super::budget::Budget;
use super::calls::CallRecorder;
use super::error::SyncError;
use super::health::{Connectivity, Health, LastError};
use super::queue;
use super::roles::RolePolicy;
use super::settings::{self, StoredConnection};
use super::state::{self, SyncState};
use super::throttle::{Patience, Throttled};
use crate::audit::{self, Outcome};
use crate::config::{Config, Secret};
use crate::crypto::Key;
use crate::outbox::{self, Wakeup};
use crate::store::{self, tx, Pool, StoreError};
use crate::telemetry::{Metrics, StateLabels};
use crate::zenqms::{CallCtx, ClientSettings, ZenqmsClient, ZenqmsError};

/// Where the connection in force came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// `ZENQMS_BASE_URL` / `ZENQMS_API_TOKEN`.
    Environment,
    /// `PUT /api/v1/settings/zenqms` (wins over the environment).
    Settings,
}

/// A usable connection.
pub struct Connected {
    pub client: ZenqmsClient,
    pub base_url: String,
    pub source: Source,
    pub updated_at: Option<NaiveDateTime>,
    pub updated_by: Option<String>,
}

enum Conn {
    NotConfigured,
    /// Configured but unusable (a stored token that no longer decrypts, a bad URL).
    Broken {
        base_url: Option<String>,
        message: String,
    },
    Ready(Arc<Connected>),
}

#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub pool: Pool,
    pub config: Arc<Config>,
    pub metrics: Metrics,
    pub key: Key,
    pub wakeup: Wakeup,
    /// The port to the role mappings (`roles.rs`).
    pub roles: Arc<dyn RolePolicy>,
    pub budget: Budget,
    pub health: Arc<Health>,
    pub paused: AtomicBool,
    /// Rounds the housekeeping task has finished since start (liveness, and a clock that
    /// tests can wait on instead of sleeping).
    pub housekeeping_rounds: AtomicU64,
    conn: RwLock<Conn>,
    /// The version of the stored connection `conn` was built from (`None`: from the
    /// environment); unset before the first load.
    loaded: Mutex<Option<Option<NaiveDateTime>>>,
    /// Names this process's leases: `<pid>-<random>`.
    pub process: String,
    /// A drift sweep an admin started in this process, for its sweeper to run; its wake-up.
    pub(crate) sweep_handoff: super::lease::Handoff<super::sweep::Claim>,
    /// Orders the in-memory copies of the settings after their database writes: without it a
    /// refresh that read the old row could overwrite a pause (or a connection) just saved.
    settings_lock: tokio::sync::Mutex<()>,
}

impl Engine {
    /// No I/O: the connection and the pause flag are loaded by [`Engine::refresh`].
    pub fn new(
        pool: Pool,
        config: Arc<Config>,
        metrics: Metrics,
        key: Key,
        wakeup: Wakeup,
        roles: Arc<dyn RolePolicy>,
    ) -> Engine {
        let process = super::lease::owner_name();
        Engine {
            inner: Arc::new(Inner {
                budget: Budget::shared(config.zenqms_max_rps, pool.clone()),
                pool,
                config,
                metrics,
                key,
                wakeup,
                roles,
                health: Arc::new(Health::default()),
                paused: AtomicBool::new(false),
                housekeeping_rounds: AtomicU64::new(0),
                conn: RwLock::new(Conn::NotConfigured),
                loaded: Mutex::new(None),
                process,
                sweep_handoff: super::lease::Handoff::default(),
                settings_lock: tokio::sync::Mutex::new(()),
            }),
        }
    }

    pub fn is_paused(&self) -> bool {
        self.inner.paused.load(Ordering::SeqCst)
    }

    /// The connection in force, if usable.
    pub fn connected(&self) -> Option<Arc<Connected>> {
        match &*self.inner.conn.read().unwrap_or_else(|p| p.into_inner()) {
            Conn::Ready(c) => Some(c.clone()),
            _ => None,
        }
    }

    /// Metrics and audit for every client; the health listener only for the connection in
    /// force (a candidate being verified must not make the status report its failures).
    fn recorder(&self, in_force: bool) -> Arc<CallRecorder> {
        Arc::new(CallRecorder {
            metrics: self.inner.metrics.clone(),
            pool: self.inner.pool.clone(),
            health: in_force.then(|| self.inner.health.clone()),
        })
    }

    fn client_for(
        &self,
        base_url: &str,
        token: Secret,
    ) -> Result<ZenqmsClient, crate::zenqms::SettingsError> {
        self.build_client(base_url, token, true)
    }

    fn build_client(
        &self,
        base_url: &str,
        token: Secret,
        in_force: bool,
    ) -> Result<ZenqmsClient, crate::zenqms::SettingsError> {
        ZenqmsClient::new(
            &ClientSettings {
                base_url: base_url.to_string(),
                api_token: token,
                connect_timeout: self.inner.config.zenqms_connect_timeout,
                request_timeout: self.inner.config.zenqms_request_timeout,
            },
            Some(self.recorder(in_force)),
        )
    }

    /// Re-reads the pause flag and the stored connection (cheap: one small query), so a
    /// change made through another process takes effect here too.
    pub async fn refresh(&self) -> Result<(), SyncError> {
        let _ordered = self.inner.settings_lock.lock().await;
        let (stored, paused) = store::run(&self.inner.pool, |c| {
            Ok::<_, StoreError>((settings::load_connection(c)?, settings::load_paused(c)?))
        })
        .await?;
        let was_paused = self.inner.paused.swap(paused, Ordering::SeqCst);
        if was_paused && !paused {
            self.inner.wakeup.notify();
        }
        let version = stored.as_ref().map(|(_, at)| *at);
        {
            let mut loaded = self.inner.loaded.lock().unwrap_or_else(|p| p.into_inner());
            if *loaded == Some(version) {
                return Ok(());
            }
            *loaded = Some(version);
        }
        let next = match stored {
            Some((s, at)) => match self.open_token(&s).await {
                Ok(token) => match self.client_for(&s.base_url, Secret::new(token)) {
                    Ok(client) => Conn::Ready(Arc::new(Connected {
                        client,
                        base_url: s.base_url,
                        source: Source::Settings,
                        updated_at: Some(at),
                        updated_by: Some(s.updated_by),
                    })),
                    Err(e) => Conn::Broken { base_url: Some(s.base_url), message: e.to_string() },
                },
                // Never sent anywhere: a token that no longer opens for this base URL (the URL
                // was changed beside it) must be entered again with the URL it is for.
                Err(e) => Conn::Broken {
                    base_url: Some(s.base_url),
                    message: format!("{e}: enter the ZenQMS token again with PUT /api/v1/settings/zenqms"),
                },
            },
            None => match (&self.inner.config.zenqms_base_url, &self.inner.config.zenqms_api_token) {
                (Some(url), Some(token)) => match self.client_for(url, token.clone()) {
                    Ok(client) => Conn::Ready(Arc::new(Connected {
                        client,
                        base_url: url.clone(),
                        source: Source::Environment,
                        updated_at: None,
                        updated_by: None,
                    })),
                    Err(e) => Conn::Broken { base_url: Some(url.clone()), message: format!("ZENQMS_BASE_URL / ZENQMS_API_TOKEN: {e}") },
                },
                (Some(url), None) => Conn::Broken {
                    base_url: Some(url.clone()),
                    message: "ZENQMS_BASE_URL is set but ZENQMS_API_TOKEN (or ZENQMS_API_TOKEN_FILE) is not".into(),
                },
                (None, Some(_)) => Conn::Broken {
                    base_url: None,
                    message: "ZENQMS_API_TOKEN is set but ZENQMS_BASE_URL is not".into(),
                },
                (None, None) => Conn::NotConfigured,
            },
        };
        if let Conn::Broken { message, .. } = &next {
            tracing::error!(%message, "the ZenQMS connection is unusable; SCIM keeps accepting and queueing");
        }
        let ready = matches!(next, Conn::Ready(_));
        *self.inner.conn.write().unwrap_or_else(|p| p.into_inner()) = next;
        self.inner.health.reset();
        if ready {
            self.inner.wakeup.notify();
        }
        Ok(())
    }

    /// The stored token, opened for its base URL (`crypto.rs`). One sealed before tokens were
    /// bound is re-sealed bound and written back (if the row is still as read), so the
    /// upgrade needs no migration.
    async fn open_token(&self, s: &StoredConnection) -> Result<String, crate::crypto::CryptoError> {
        let opened =
            self.inner
                .key
                .open(settings::TOKEN_PURPOSE, &s.base_url, &s.api_token_encrypted)?;
        if opened.legacy {
            let next = StoredConnection {
                api_token_encrypted: self.inner.key.seal(
                    settings::TOKEN_PURPOSE,
                    &s.base_url,
                    &opened.plaintext,
                ),
                ..s.clone()
            };
            let expected = s.clone();
            let resealed = store::run(&self.inner.pool, move |c| {
                settings::reseal_connection(c, &expected, &next)
            })
            .await;
            match resealed {
                Ok(true) => {
                    tracing::info!("the stored ZenQMS token was re-sealed bound to its base URL")
                }
                Ok(false) => {}
                Err::<_, StoreError>(e) => {
                    tracing::warn!(error = %e, "could not re-seal the stored ZenQMS token; it stays as it was")
                }
            }
        }
        Ok(opened.plaintext)
    }

    /// Verifies a connection with one `GET /v2/roles`, then saves it (token encrypted) and
    /// puts it in force. Jobs waiting out a backoff become due at once: the usual reason
    /// for a new connection is that the old one failed.
    pub async fn set_connection(
        &self,
        base_url: &str,
        api_token: &str,
        actor: &str,
    ) -> Result<ConnectionView, SyncError> {
        let base_url = base_url.trim().trim_end_matches('/').to_string();
        let candidate = self
            .build_client(&base_url, Secret::new(api_token.trim()), false)
            .map_err(|e| SyncError::InvalidConnection(e.to_string()))?;
        let verifying = Throttled {
            engine: &self.inner,
            client: &candidate,
            patience: Patience::Verification,
        };
        let roles = match verifying.list_roles(CallCtx::default(), 1, 1).await {
            Ok(page) => page.total.unwrap_or(page.data.len() as u64),
            Err(e) => {
                let refused = verification_error(&base_url, e);
                self.audit_refused_connection(&base_url, actor, &refused)
                    .await;
                return Err(refused);
            }
        };
        let client = self
            .client_for(&base_url, Secret::new(api_token.trim()))
            .map_err(|e| SyncError::InvalidConnection(e.to_string()))?;
        let stored = StoredConnection {
            base_url: base_url.clone(),
            api_token_encrypted: self.inner.key.seal(
                settings::TOKEN_PURPOSE,
                &base_url,
                api_token.trim(),
            ),
            updated_by: actor.to_string(),
        };
        let _ordered = self.inner.settings_lock.lock().await;
        let saved_by = actor.to_string();
        let actor = actor.to_string();
        let url = base_url.clone();
        let saved_at = store::run(&self.inner.pool, move |c| {
            tx::write(c, |c| {
                let at = settings::save_connection(c, &stored)?;
                let due = queue::make_all_due(c)?;
                audit::record(
                    c,
                    &audit::Entry {
                        actor: &actor,
                        action: "settings.zenqms.update",
                        target_type: "settings",
                        target_id: Some("zenqms"),
                        detail: serde_json::json!({"base_url": url, "api_token": "(set; encrypted at rest)", "roles_visible": roles, "jobs_made_due": due}),
                        outcome: Outcome::Success,
                    },
                )?;
                Ok::<_, StoreError>(at)
            })
        })
        .await?;
        {
            *self.inner.loaded.lock().unwrap_or_else(|p| p.into_inner()) = Some(Some(saved_at));
            *self.inner.conn.write().unwrap_or_else(|p| p.into_inner()) =
                Conn::Ready(Arc::new(Connected {
                    client,
                    base_url,
                    source: Source::Settings,
                    updated_at: Some(saved_at),
                    updated_by: Some(saved_by),
                }));
        }
        self.inner.wakeup.notify();
        let mut view = self.connection_view();
        view.roles_visible = Some(roles);
        Ok(view)
    }

    /// A refused connection is an admin action too: it goes in the trail (without the token).
    async fn audit_refused_connection(&self, base_url: &str, actor: &str, why: &SyncError) {
        let (url, actor, message) = (base_url.to_string(), actor.to_string(), why.to_string());
        let written = store::run(&self.inner.pool, move |c| {
            audit::record(
                c,
                &audit::Entry {
                    actor: &actor,
                    action: "settings.zenqms.update",
                    target_type: "settings",
                    target_id: Some("zenqms"),
                    detail: serde_json::json!({"base_url": url, "refused": message, "saved": false}),
                    outcome: Outcome::Failure,
                },
            )
        })
        .await;
        if let Err::<(), StoreError>(e) = written {
            tracing::warn!(error = %e, "could not write the audit entry of a refused connection");
        }
    }

    pub fn connection_view(&self) -> ConnectionView {
        let conn = self.inner.conn.read().unwrap_or_else(|p| p.into_inner());
        match &*conn {
            Conn::NotConfigured => ConnectionView {
                configured: false,
                base_url: None,
                source: None,
                api_token_set: false,
                updated_at: None,
                updated_by: None,
                problem: Some(SyncError::NotConfigured.to_string()),
                roles_visible: None,
            },
            Conn::Broken { base_url, message } => ConnectionView {
                configured: false,
                base_url: base_url.clone(),
                source: None,
                api_token_set: false,
                updated_at: None,
                updated_by: None,
                problem: Some(message.clone()),
                roles_visible: None,
            },
            Conn::Ready(c) => ConnectionView {
                configured: true,
                base_url: Some(c.base_url.clone()),
                source: Some(c.source),
                api_token_set: true,
                updated_at: c.updated_at.as_ref().map(crate::time::rfc3339),
                updated_by: c.updated_by.clone(),
                problem: None,
                roles_visible: None,
            },
        }
    }

    pub async fn set_paused(&self, paused: bool, actor: &str) -> Result<(), SyncError> {
        let _ordered = self.inner.settings_lock.lock().await;
        let actor = actor.to_string();
        store::run(&self.inner.pool, move |c| {
            tx::write(c, |c| {
                settings::save_paused(c, paused)?;
                audit::record(
                    c,
                    &audit::Entry {
                        actor: &actor,
                        action: if paused { "sync.pause" } else { "sync.resume" },
                        target_type: "sync",
                        target_id: None,
                        detail: serde_json::json!({}),
                        outcome: Outcome::Success,
                    },
                )?;
                Ok::<_, StoreError>(())
            })
        })
        .await?;
        self.inner.paused.store(paused, Ordering::SeqCst);
        if !paused {
            self.inner.wakeup.notify();
        }
        Ok(())
    }

    /// Enqueues these users (all must exist), or every `failed` one.
    pub async fn retry(
        &self,
        user_ids: Option<Vec<String>>,
        actor: &str,
    ) -> Result<usize, SyncError> {
        let actor = actor.to_string();
        let n = store::run(&self.inner.pool, move |c| {
            tx::write(c, |c| {
                let all_failed = user_ids.is_none();
                let ids = match &user_ids {
                    Some(ids) => {
                        let unknown = state::unknown_users(c, ids)?;
                        if !unknown.is_empty() {
                            return Err(SyncError::UnknownUsers(unknown));
                        }
                        ids.clone()
                    }
                    None => state::failed_user_ids(c)?,
                };
                let n = outbox::enqueue_users(c, &ids)?;
                audit::record(
                    c,
                    &audit::Entry {
                        actor: &actor,
                        action: "sync.retry",
                        target_type: "sync",
                        target_id: None,
                        detail: serde_json::json!({"all_failed": all_failed, "user_ids": ids, "enqueued": n}),
                        outcome: Outcome::Success,
                    },
                )?;
                Ok(n)
            })
        })
        .await?;
        self.inner.wakeup.notify();
        Ok(n)
    }

    /// Reads these users (every linked user when `None`) from ZenQMS again on their next run,
    /// and enqueues them: whatever was changed by hand in ZenQMS since the bridge last saw
    /// them (a managed role added or removed, a field edited) is corrected. Costs one search
    /// per user on top of the corrections (the drift sweep, `sweep.rs`, reads 100 a call).
    pub async fn recheck(
        &self,
        user_ids: Option<Vec<String>>,
        actor: &str,
    ) -> Result<usize, SyncError> {
        let actor = actor.to_string();
        let n = store::run(&self.inner.pool, move |c| {
            tx::write(c, |c| {
                if let Some(ids) = &user_ids {
                    let unknown = state::unknown_users(c, ids)?;
                    if !unknown.is_empty() {
                        return Err(SyncError::UnknownUsers(unknown));
                    }
                }
                let all = user_ids.is_none();
                let forgotten = state::forget_pictures(c, user_ids.as_deref())?;
                // A user never linked has no picture to forget; its run looks it up anyway.
                let ids = user_ids.clone().unwrap_or_else(|| forgotten.clone());
                let n = outbox::enqueue_users(c, &ids)?;
                audit::record(
                    c,
                    &audit::Entry {
                        actor: &actor,
                        action: "sync.recheck",
                        target_type: "sync",
                        target_id: None,
                        detail: serde_json::json!({"all_linked": all, "user_ids": if all { serde_json::Value::Null } else { serde_json::json!(ids) }, "enqueued": n}),
                        outcome: Outcome::Success,
                    },
                )?;
                Ok(n)
            })
        })
        .await?;
        self.inner.wakeup.notify();
        Ok(n)
    }

    /// `POST /api/v1/sync/sweep`: claims a drift sweep for this process at once (refused while
    /// one runs anywhere, ZenQMS is not connected, or sync is paused) and hands it to the
    /// sweeper (`sweep.rs`).
    pub async fn sweep_now(&self, actor: &str) -> Result<super::sweep::Started, SyncError> {
        super::sweep::start_now(self, actor).await
    }

    pub async fn status(&self) -> Result<StatusView, SyncError> {
        let me = self.clone();
        let (counts, q, role_mappings, drift_sweep) = store::run(&self.inner.pool, move |c| {
            Ok::<_, StoreError>((
                state::counts(c)?,
                queue::stats(c)?,
                me.inner.roles.summary(c)?,
                super::sweep::view(&me, c)?,
            ))
        })
        .await?;
        let conn = self.connection_view();
        let now = store::now();
        let connectivity = if conn.configured {
            self.inner.health.connectivity()
        } else {
            Connectivity::Unknown
        };
        // The pause in force anywhere (a reading of the shared row; the last one if that fails).
        let pause = match self.inner.budget.pause().await {
            Ok(p) => p,
            Err(_) => self.inner.budget.paused_until(),
        };
        let recent_call = self.inner.health.recent_call();
        let backlog = self.backlog(q.depth, conn.configured, pause.is_some());
        let rate_limited_until = pause.map(|until| {
            let wait = until.saturating_duration_since(tokio::time::Instant::now());
            (Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default())
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        });
        Ok(StatusView {
            configured: conn.configured,
            paused: self.is_paused(),
            zenqms: ZenqmsStatus {
                connectivity: if conn.configured {
                    Some(connectivity)
                } else {
                    None
                },
                state: if conn.configured {
                    "configured"
                } else {
                    "not configured"
                },
                base_url: conn.base_url,
                source: conn.source,
                problem: conn.problem,
                last_success_at: self
                    .inner
                    .health
                    .last_success()
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
                rate_limited_until,
                recent_call_ms: recent_call.map(|d| d.as_millis() as u64),
            },
            counts: counts.iter().map(|(s, n)| (s.as_str(), *n)).collect(),
            queue: QueueView {
                depth: q.depth,
                in_progress: q.leased,
                oldest_pending_age_seconds: q
                    .oldest_enqueued
                    .map(|t| ((now - t).num_milliseconds().max(0) as f64) / 1000.0),
                backlog_reason: backlog.reason,
                backlog_detail: backlog.detail,
            },
            last_error: self.inner.health.last_error(),
            workers: self.inner.config.sync_workers,
            housekeeping_rounds: self.inner.housekeeping_rounds.load(Ordering::Relaxed),
            role_mappings,
            drift_sweep,
        })
    }

    /// Why the queue is not empty (`sync::backlog`), from what this process knows.
    fn backlog(&self, depth: i64, configured: bool, rate_limited: bool) -> backlog::Backlog {
        backlog::explain(&backlog::Inputs {
            depth,
            paused: self.is_paused(),
            configured,
            connectivity: if configured {
                self.inner.health.connectivity()
            } else {
                Connectivity::Unknown
            },
            rate_limited,
            recent_call: self.inner.health.recent_call(),
            workers: self.inner.config.sync_workers,
            max_rps: self.inner.config.zenqms_max_rps,
        })
    }

    /// Refreshes the sync gauges of `/metrics` (at scrape time).
    pub async fn refresh_gauges(&self) {
        let figures = store::run(&self.inner.pool, |c| {
            Ok::<_, StoreError>((state::counts(c)?, queue::stats(c)?))
        })
        .await;
        match figures {
            Ok((counts, q)) => {
                let depth = q.depth;
                self.inner.metrics.sync_queue_depth.set(depth);
                let age = q
                    .oldest_enqueued
                    .map(|t| (store::now() - t).num_seconds().max(0))
                    .unwrap_or(0);
                self.inner.metrics.sync_queue_oldest_age_seconds.set(age);
                let configured = self.connection_view().configured;
                let rate_limited = self.inner.budget.paused_until().is_some();
                let now = self.backlog(depth, configured, rate_limited).reason;
                for reason in Reason::ALL {
                    self.inner
                        .metrics
                        .sync_backlog
                        .get_or_create(&crate::telemetry::ReasonLabels {
                            reason: reason.as_str(),
                        })
                        .set(i64::from(reason == now));
                }
                for (s, n) in counts {
                    self.inner
                        .metrics
                        .sync_users
                        .get_or_create(&StateLabels {
                            state: s.as_str().to_string(),
                        })
                        .set(n);
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot refresh the sync gauges"),
        }
    }

    /// One user's sync state and what the bridge last saw of them in ZenQMS (the user as
    /// ZenQMS answered, the role ids it showed); `None`: no such directory user.
    pub async fn user(&self, id: &str) -> Result<Option<UserDetail>, SyncError> {
        let id = id.to_string();
        Ok(store::run(&self.inner.pool, move |c| {
            let Some(view) = state::one(c, &id)? else {
                return Ok::<_, StoreError>(None);
            };
            let (seen, roles) = state::held(c, &id)?;
            Ok(Some(UserDetail {
                view,
                seen,
                held_role_ids: roles,
            }))
        })
        .await?)
    }

    /// Users in one state (or all), a page at a time.
    pub async fn users(
        &self,
        st: Option<SyncState>,
        after: Option<String>,
        limit: i64,
    ) -> Result<Vec<state::UserView>, SyncError> {
        Ok(store::run(&self.inner.pool, move |c| {
            state::list(c, st, after.as_deref(), limit)
        })
        .await?)
    }

    /// [`Engine::users`] whose userName, an email or a name contains `text` (any case).
    pub async fn search_users(
        &self,
        text: String,
        st: Option<SyncState>,
        after: Option<String>,
        limit: i64,
    ) -> Result<Vec<state::UserView>, SyncError> {
        Ok(store::run(&self.inner.pool, move |c| {
            state::search(c, &text, st, after.as_deref(), limit)
        })
        .await?)
    }
}

fn verification_error(base_url: &str, e: SyncError) -> SyncError {
    let e = match e {
        SyncError::Zenqms(e) => e,
        other => return other,
    };
    match e {
        ZenqmsError::Auth { status, message } => SyncError::InvalidConnection(format!(
            "ZenQMS at {base_url} refused the API token ({status}: {message}); check that the token is activated and has the user-management permissions (ZenQMS: Settings → API Settings)"
        )),
        ZenqmsError::RateLimited { retry_after } => SyncError::ZenqmsUnreachable(format!(
                "ZenQMS at {base_url} is rate limiting; try again in {} s",
                retry_after.as_secs().max(1)
            )),
        ZenqmsError::Network(_) | ZenqmsError::Timeout(_) | ZenqmsError::Server { .. } => SyncError::ZenqmsUnreachable(format!(
            "cannot verify the connection: {e}; nothing was saved"
        )),
        other => SyncError::InvalidConnection(format!(
            "{base_url} does not answer GET /v2/roles like the ZenQMS API ({other}); check the base URL (e.g. https://public-api.zenqms.com)"
        )),
    }
}

/// [`Engine::user`]'s answer.
#[derive(Debug, Clone, Serialize)]
pub struct UserDetail {
    pub view: state::UserView,
    /// The user as ZenQMS last answered (`null`: never seen there).
    pub seen: Option<serde_json::Value>,
    /// The role ids (JSON text) ZenQMS last showed the user holding.
    pub held_role_ids: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConnectionView {
    pub configured: bool,
    pub base_url: Option<String>,
    pub source: Option<Source>,
    /// Whether a token is in force (it is never returned).
    pub api_token_set: bool,
    pub updated_at: Option<String>,
    pub updated_by: Option<String>,
    /// What keeps the connection from being usable.
    pub problem: Option<String>,
    /// Roles the token can see (after a `PUT`: the verification's answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles_visible: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusView {
    pub configured: bool,
    pub paused: bool,
    pub zenqms: ZenqmsStatus,
    pub counts: std::collections::BTreeMap<&'static str, i64>,
    pub queue: QueueView,
    pub last_error: Option<LastError>,
    pub workers: usize,
    /// Rounds of this process's housekeeping (it looks for due jobs every half second):
    /// a number that stops growing means the sync loop is stuck.
    pub housekeeping_rounds: u64,
    /// Mappings per status; roles ZenQMS no longer lists (their mappings are skipped).
    pub role_mappings: crate::mappings::Summary,
    /// The periodic read of every ZenQMS user that finds changes made there by hand.
    pub drift_sweep: super::sweep::SweepView,
}

#[derive(Debug, Clone, Serialize)]
pub struct ZenqmsStatus {
    /// `configured` or `not configured`.
    pub state: &'static str,
    pub base_url: Option<String>,
    pub source: Option<Source>,
    /// As last seen by this process; `None` when not configured.
    pub connectivity: Option<Connectivity>,
    pub problem: Option<String>,
    pub last_success_at: Option<String>,
    /// Every worker waits until then (a `429`'s `Retry-After`).
    pub rate_limited_until: Option<String>,
    /// The mean duration of this process's latest calls (`sync::health`).
    pub recent_call_ms: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueueView {
    pub depth: i64,
    pub in_progress: i64,
    pub oldest_pending_age_seconds: Option<f64>,
    /// What bounds how fast the queue drains now (`sync::backlog`).
    pub backlog_reason: Reason,
    pub backlog_detail: String,
}
