//! The initial sync (docs/initial-sync.md): link the users of the identity provider to the
//! ZenQMS users that already exist (Standard), or apply every rule of the reconciler to them
//! (Full); a dry run of either reports what it would do and writes nothing.
//!
//! A run is persisted (`runs.rs`): its plan is one row per user, applied one at a time and
//! marked as it goes, so a process killed mid-run is resumed by the next one that holds the
//! run's lease (`execute.rs`), without repeating a call. One run at a time, across processes.
//! The source is the Okta org through the [`source::OktaOrg`] port when one is connected,
//! else the users Okta pushed over SCIM. Every ZenQMS call goes through the sync engine's
//! throttle and is audited with the run id as its actor.

mod execute;
pub mod plan;
pub mod runs;
pub mod source;
mod unlink;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{watch, Notify};

use crate::audit;
use crate::store::{self, Pool, StoreError};
use crate::sync::{Engine, SyncError};
use crate::telemetry::Metrics;

pub use plan::Outcome;
pub use runs::{Mode, State};
pub use source::{OktaOrg, Org, OrgGroup, OrgSnapshot, OrgUser, SourceError, SourceKind};
pub use unlink::{UnlinkLine, UnlinkReport};

/// How often a process looks for a run to resume (a run it did not start, or whose process
/// died), besides the wake-up a start sends.
const POLL: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum InitialSyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no initial sync run {0}")]
    NotFound(String),
    #[error("initial sync run {0} is still running; wait for it to finish or cancel it (POST /api/v1/initial-sync/{0}/cancel)")]
    Busy(String),
    #[error("ZenQMS is not configured: set ZENQMS_BASE_URL and ZENQMS_API_TOKEN, or PUT /api/v1/settings/zenqms, before an initial sync")]
    NotConfigured,
    #[error("initial sync run {0} has already finished")]
    Finished(String),
    #[error(transparent)]
    Sync(#[from] SyncError),
}

/// `GET /api/v1/initial-sync/{id}`.
#[derive(Debug, Clone, Serialize)]
pub struct RunView {
    pub id: String,
    pub mode: &'static str,
    pub dry_run: bool,
    pub source: String,
    pub state: &'static str,
    pub progress: Progress,
    pub counts: std::collections::BTreeMap<&'static str, i64>,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub error: Option<String>,
    /// `GET` of one run only: the users the run refused (`skip`, `conflict`), each with its
    /// reason, the first [`REFUSED_LISTED`] in report order (the rest: the items filtered by
    /// outcome). An admin sees who was left out without paging through the whole report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<Vec<runs::ItemRow>>,
}

/// Refused users listed in the `GET` of a run.
pub const REFUSED_LISTED: i64 = 50;

#[derive(Debug, Clone, Serialize)]
pub struct Progress {
    pub done: i64,
    pub total: i64,
}

fn view(run: &runs::RunRow, c: runs::Counts) -> RunView {
    RunView {
        id: run.id.clone(),
        mode: run.mode().as_str(),
        dry_run: run.dry_run,
        source: run.source.clone(),
        state: run.state().as_str(),
        progress: Progress {
            done: c.done,
            total: c.total,
        },
        counts: c.by_outcome,
        started_at: crate::time::rfc3339(&run.started_at),
        finished_at: run.finished_at.as_ref().map(crate::time::rfc3339),
        error: run.error.clone(),
        refused: None,
    }
}

/// The service: built once by `server.rs`.
#[derive(Clone)]
pub struct InitialSync {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    sync: Engine,
    metrics: Metrics,
    org: Org,
    /// This process's name on the leases it takes.
    owner: String,
    lease: Duration,
    backoff_cap: Duration,
    default_title: Option<String>,
    /// Wakes this process's runner (a run was just started here).
    kick: Notify,
}

impl InitialSync {
    pub fn new(pool: Pool, sync: Engine, metrics: Metrics, org: Org) -> InitialSync {
        let config = sync.inner.config.clone();
        InitialSync {
            inner: Arc::new(Inner {
                owner: format!("{}/initial-sync", sync.inner.process),
                lease: config.sync_lease,
                backoff_cap: config.sync_backoff_cap.min(Duration::from_secs(30)),
                default_title: config.default_title.clone(),
                pool,
                sync,
                metrics,
                org,
                kick: Notify::new(),
            }),
        }
    }

    async fn org_connected(&self) -> bool {
        match &self.inner.org {
            Some(org) => org.connected().await,
            None => false,
        }
    }

    /// Starts a run (`202`); `Busy` while another is unfinished.
    pub async fn start(
        &self,
        actor: &str,
        mode: Mode,
        dry_run: bool,
    ) -> Result<RunView, InitialSyncError> {
        if self.inner.sync.connected().is_none() {
            return Err(InitialSyncError::NotConfigured);
        }
        let source = if self.org_connected().await {
            SourceKind::Okta
        } else {
            SourceKind::Scim
        };
        let id = uuid::Uuid::now_v7().to_string();
        let actor = actor.to_string();
        let (rid, a) = (id.clone(), actor.clone());
        let started = store::run(&self.inner.pool, move |c| {
            store::tx::write(c, |c| {
                runs::insert(c, &rid, mode, dry_run, source.as_str(), &a)?;
                audit::record(
                    c,
                    &audit::Entry {
                        actor: &a,
                        action: "initial_sync.start",
                        target_type: "initial_sync",
                        target_id: Some(&rid),
                        detail: serde_json::json!({"mode": mode.as_str(), "dry_run": dry_run, "source": source.as_str()}),
                        outcome: audit::Outcome::Success,
                    },
                )?;
                Ok::<_, StoreError>(())
            })
        })
        .await;
        // Another unfinished run holds the slot (its unique index); the transaction is
        // over, so the run in the way can be read.
        if let Err(e) = started {
            if !e.is_unique_violation() {
                return Err(e.into());
            }
            let other = store::run(&self.inner.pool, runs::active).await?;
            return Err(InitialSyncError::Busy(
                other.map(|r| r.id).unwrap_or_default(),
            ));
        }
        tracing::info!(run = %id, mode = mode.as_str(), dry_run, source = source.as_str(), %actor, "initial sync started");
        self.inner.kick.notify_one();
        self.get(&id).await
    }

    pub async fn get(&self, id: &str) -> Result<RunView, InitialSyncError> {
        let rid = id.to_string();
        let found = store::run(&self.inner.pool, move |c| {
            let Some(run) = runs::get(c, &rid)? else {
                return Ok::<_, StoreError>(None);
            };
            let counts = runs::counts(c, &rid)?;
            let mut v = view(&run, counts);
            v.refused = Some(runs::refused(c, &rid, REFUSED_LISTED)?);
            Ok(Some(v))
        })
        .await?;
        found.ok_or_else(|| InitialSyncError::NotFound(id.to_string()))
    }

    /// Runs, newest first.
    pub async fn list(&self, limit: i64) -> Result<Vec<RunView>, InitialSyncError> {
        Ok(store::run(&self.inner.pool, move |c| {
            let mut out = Vec::new();
            for run in runs::list(c, limit)? {
                let counts = runs::counts(c, &run.id)?;
                out.push(view(&run, counts));
            }
            Ok::<_, StoreError>(out)
        })
        .await?)
    }

    /// One page of a run's report.
    pub async fn items(
        &self,
        id: &str,
        outcome: Option<Outcome>,
        after: i64,
        limit: i64,
    ) -> Result<Vec<runs::ItemRow>, InitialSyncError> {
        let rid = id.to_string();
        let found = store::run(&self.inner.pool, move |c| {
            if runs::get(c, &rid)?.is_none() {
                return Ok::<_, StoreError>(None);
            }
            Ok(Some(runs::items(c, &rid, outcome, after, limit)?))
        })
        .await?;
        found.ok_or_else(|| InitialSyncError::NotFound(id.to_string()))
    }

    /// Asks a run to stop; it ends `cancelled` after the item under way.
    pub async fn cancel(&self, id: &str, actor: &str) -> Result<RunView, InitialSyncError> {
        let (rid, a) = (id.to_string(), actor.to_string());
        let asked = store::run(&self.inner.pool, move |c| {
            store::tx::write(c, |c| {
                if runs::get(c, &rid)?.is_none() {
                    return Ok::<_, StoreError>(None);
                }
                let asked = runs::request_cancel(c, &rid)?;
                if asked {
                    audit::record(
                        c,
                        &audit::Entry {
                            actor: &a,
                            action: "initial_sync.cancel",
                            target_type: "initial_sync",
                            target_id: Some(&rid),
                            detail: serde_json::json!({}),
                            outcome: audit::Outcome::Success,
                        },
                    )?;
                }
                Ok(Some(asked))
            })
        })
        .await?;
        match asked {
            None => Err(InitialSyncError::NotFound(id.to_string())),
            Some(false) => Err(InitialSyncError::Finished(id.to_string())),
            Some(true) => {
                self.inner.kick.notify_one();
                self.get(id).await
            }
        }
    }

    /// Clears `external_id` in ZenQMS for every user the bridge linked.
    pub async fn unlink(
        &self,
        actor: &str,
        dry_run: bool,
    ) -> Result<UnlinkReport, InitialSyncError> {
        unlink::run(self, actor, dry_run).await
    }

    /// Resumes or runs the unfinished run whenever this process can take its lease, until
    /// `stop` changes (`server.rs` spawns this with the other background tasks).
    pub async fn run_pending(self, mut stop: watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                return;
            }
            let (owner, lease) = (self.inner.owner.clone(), self.inner.lease);
            match store::run(&self.inner.pool, move |c| runs::claim(c, &owner, lease)).await {
                Ok(Some(id)) => execute::drive(&self, &id, &mut stop).await,
                Ok(None) => {}
                Err::<_, StoreError>(e) => {
                    tracing::warn!(error = %e, "cannot look for an initial sync to run")
                }
            }
            tokio::select! {
                _ = self.inner.kick.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// Runs `id` in this process if nobody holds it, and returns when it has finished (or
    /// another process holds it and finished it): the CLI's in-process run.
    pub async fn run_to_end(&self, id: &str) -> Result<RunView, InitialSyncError> {
        let (_tx, mut stop) = watch::channel(false);
        loop {
            let (owner, lease) = (self.inner.owner.clone(), self.inner.lease);
            let claimed =
                store::run(&self.inner.pool, move |c| runs::claim(c, &owner, lease)).await?;
            if let Some(claimed) = claimed {
                execute::drive(self, &claimed, &mut stop).await;
            }
            let v = self.get(id).await?;
            if State::parse(v.state).is_some_and(State::finished) {
                return Ok(v);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The metrics of the latest run, refreshed at scrape time.
    pub async fn refresh_gauges(&self) {
        let latest = store::run(&self.inner.pool, |c| {
            let Some(run) = runs::list(c, 1)?.into_iter().next() else {
                return Ok::<_, StoreError>(None);
            };
            let counts = runs::counts(c, &run.id)?;
            Ok(Some((run.state(), counts)))
        })
        .await;
        match latest {
            Ok(Some((state, counts))) => self.inner.metrics.set_initial_sync(
                !state.finished(),
                counts.done,
                counts.total,
                &counts.by_outcome,
            ),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot read the initial sync metrics"),
        }
    }
}
