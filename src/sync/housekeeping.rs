//! One housekeeping task per process (spawned by `server.rs`): loads the sync settings at
//! start, enqueues directory users nobody looked at yet, then every half second (`Polling`) re-reads the
//! pause flag and the stored connection (so a change made through another process takes
//! effect here) and, when a job is due that nobody holds (enqueued by another process, or a
//! backoff that ran out), wakes the workers.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::watch;

use super::engine::Engine;
use super::queue;
use crate::store::{self, StoreError};

/// Runs every `every` (`Polling::housekeeping`) until `stop` changes.
pub async fn run(engine: Engine, every: Duration, mut stop: watch::Receiver<bool>) {
    // The connection first, so the workers and the status know it at once.
    if let Err(e) = engine.refresh().await {
        tracing::warn!(error = %e, "cannot read the sync settings");
    }
    if engine.connected().is_none() {
        tracing::warn!(
            problem = engine.connection_view().problem.unwrap_or_default(),
            "ZenQMS is not connected: SCIM keeps accepting and queueing; nothing is sent"
        );
    }
    match store::run(&engine.inner.pool, queue::backfill).await {
        Ok(n) if n > 0 => {
            tracing::info!(users = n, "enqueued directory users that had no sync state")
        }
        Ok(_) => {}
        Err::<_, StoreError>(e) => {
            tracing::warn!(error = %e, "cannot enqueue users without sync state")
        }
    }
    loop {
        if !engine.is_paused() && engine.connected().is_some() {
            match store::run(&engine.inner.pool, queue::any_due).await {
                Ok(true) => engine.inner.wakeup.notify(),
                Ok(false) => {}
                Err::<_, StoreError>(e) => {
                    tracing::warn!(error = %e, "cannot look for due sync jobs")
                }
            }
        }
        engine
            .inner
            .housekeeping_rounds
            .fetch_add(1, Ordering::Relaxed);
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        if let Err(e) = engine.refresh().await {
            tracing::warn!(error = %e, "cannot re-read the sync settings");
        }
    }
}
