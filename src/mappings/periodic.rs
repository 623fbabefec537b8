//! The mappings' housekeeping while `serve` runs (spawned by `server.rs`): binds pending
//! mappings whose group exists, and re-reads the role list every `ZENQMS_ROLE_REFRESH_SECS`
//! while mappings exist — once across processes sharing the database, since the last complete
//! read is stored.

use std::time::Duration;

use tokio::sync::watch;

use super::error::MappingError;
use super::service::Mappings;
use super::{changes, table};
use crate::audit;
use crate::store;

/// Runs until `stop` changes. `refresh_every`: `ZENQMS_ROLE_REFRESH_SECS` (`None`: off).
pub async fn run(
    mappings: Mappings,
    refresh_every: Option<Duration>,
    mut stop: watch::Receiver<bool>,
) {
    let tick = refresh_every
        .unwrap_or(Duration::from_secs(5))
        .min(Duration::from_secs(5))
        .max(Duration::from_millis(200));
    loop {
        if let Err(e) = bind_pending(&mappings).await {
            tracing::warn!(error = %e, "cannot bind pending role mappings");
        }
        if let Some(every) = refresh_every {
            if let Err(e) = refresh_if_due(&mappings, every).await {
                tracing::warn!(error = %e, "periodic refresh of the ZenQMS role list failed; will try again");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn bind_pending(mappings: &Mappings) -> Result<(), MappingError> {
    let pending = mappings
        .read(|c| Ok(!changes::pending_matches(c)?.is_empty()))
        .await?;
    if pending {
        mappings
            .write(|c| {
                table::lock(c)?;
                Ok(((), changes::sweep_pending(c)?))
            })
            .await?;
    }
    Ok(())
}

async fn refresh_if_due(mappings: &Mappings, every: Duration) -> Result<(), MappingError> {
    if !mappings.zenqms_available() {
        return Ok(());
    }
    if mappings.read(|c| Ok(table::count(c)?)).await? == 0 {
        return Ok(());
    }
    let last = mappings.roles_refreshed_at().await?;
    let due = last.is_none_or(|t| (store::now() - t).to_std().unwrap_or(Duration::ZERO) >= every);
    if due {
        let out = mappings.refresh_roles(audit::SYSTEM).await?;
        if !out.disappeared.is_empty() || !out.reappeared.is_empty() {
            tracing::info!(disappeared = ?out.disappeared, reappeared = ?out.reappeared, "ZenQMS role list changed");
        }
    }
    Ok(())
}
