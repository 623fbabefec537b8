//! The dashboard: the connections and their health, the queue, the users per sync state
//! (with the reasons, a page at a time), retry, pause and resume, the drift sweep, the last
//! initial sync. `GET /console` itself leads an unconfigured bridge into the wizard first.

use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::error::ConsoleError;
use super::page::{self, Chrome, Editor, Notice, Viewer};
use super::ROOT;
use crate::admin::AdminError;
use crate::initial_sync::{InitialSync, RunView};
use crate::okta::Okta;
use crate::okta_hooks::registration::{HookView, Registration};
use crate::sync::{state::UserView, Engine, StatusView, SyncState};

/// Users listed per page.
const PAGE: i64 = 50;

/// `GET /console`: the wizard until ZenQMS is connected and a first initial sync or mapping
/// exists, the dashboard afterwards.
pub async fn home(
    _who: Viewer,
    sync: web::Data<Engine>,
    initial: web::Data<InitialSync>,
) -> Result<HttpResponse, ConsoleError> {
    if !sync.connection_view().configured {
        return Ok(page::see_other(&format!("{ROOT}/setup/connections")));
    }
    if initial.list(1).await?.is_empty() {
        return Ok(page::see_other(&format!("{ROOT}/setup/sync")));
    }
    Ok(page::see_other(&format!("{ROOT}/dashboard")))
}

#[derive(Deserialize)]
pub struct Query {
    /// synced, pending, skipped or failed.
    state: Option<String>,
    after: Option<String>,
    ok: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    notice: Notice,
    status: StatusView,
    okta: crate::okta::View,
    counts: Vec<(&'static str, String, i64)>,
    state: &'static str,
    users: Vec<UserView>,
    next_after: Option<String>,
    last_run: Option<RunView>,
    /// The Okta event hook as last recorded (the page asks Okta nothing).
    hook: HookView,
}

impl DashboardPage {
    fn okta_state(&self) -> &'static str {
        use crate::okta::ConnectionState as S;
        match self.okta.state {
            S::NotConfigured => "not configured (SCIM pushes only)",
            S::NeedsAuthorization => "needs authorization",
            S::Connected => "connected",
            S::ReauthorizationNeeded => "needs authorization again",
        }
    }
    fn connectivity(&self) -> String {
        match &self.status.zenqms.connectivity {
            Some(c) => serde_json::to_value(c)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| "unknown".into()),
            None => "not configured".into(),
        }
    }
    fn oldest(&self) -> String {
        match self.status.queue.oldest_pending_age_seconds {
            Some(s) => format!("{s:.0} s"),
            None => "none waiting".into(),
        }
    }
}

pub async fn page(
    who: Viewer,
    q: web::Query<Query>,
    sync: web::Data<Engine>,
    okta: web::Data<Okta>,
    initial: web::Data<InitialSync>,
    hooks: web::Data<Registration>,
) -> Result<HttpResponse, ConsoleError> {
    let q = q.into_inner();
    let notice = match q.ok.as_deref() {
        Some("paused") => Notice::ok("Sync is paused: no calls are made to ZenQMS; Okta's pushes are still accepted and queued."),
        Some("resumed") => Notice::ok("Sync resumed: the queue drains now."),
        Some("retried") => Notice::ok("The users are queued to be reconciled again."),
        Some("sweep") => Notice::ok("A drift sweep started: every ZenQMS user is read and compared."),
        Some("hook") => Notice::ok("The Okta event hook was created or repaired; its state is in the Okta card."),
        _ => Notice::default(),
    };
    let status = sync.status().await?;
    let wanted = match q.state.as_deref() {
        None | Some("") => {
            // The state that most needs a look.
            let n = |s: &str| status.counts.get(s).copied().unwrap_or(0);
            if n("failed") > 0 {
                SyncState::Failed
            } else if n("skipped") > 0 {
                SyncState::Skipped
            } else {
                SyncState::Pending
            }
        }
        Some(s) => SyncState::parse(s).ok_or_else(|| {
            ConsoleError::bad_request("The state must be synced, pending, skipped or failed.")
        })?,
    };
    let users = sync.users(Some(wanted), q.after.clone(), PAGE).await?;
    let next_after = (users.len() as i64 == PAGE)
        .then(|| users.last().map(|u| u.scim_id.clone()))
        .flatten();
    let counts = SyncState::ALL
        .iter()
        .map(|s| {
            let n = status.counts.get(s.as_str()).copied().unwrap_or(0);
            (s.as_str(), page::count(n), n)
        })
        .collect();
    let t = DashboardPage {
        chrome: who.chrome("dashboard"),
        notice,
        okta: okta.view().await?,
        last_run: initial.list(1).await?.into_iter().next(),
        hook: hooks.recorded().await.map_err(AdminError::from)?,
        status,
        counts,
        state: wanted.as_str(),
        users,
        next_after,
    };
    page::html(&t)
}

/// The form's `user_ids` (one SCIM id) or none: every failed user.
#[derive(Deserialize)]
pub struct RetryForm {
    user_id: Option<String>,
}

pub async fn retry(
    who: Editor,
    sync: web::Data<Engine>,
    form: web::Form<RetryForm>,
) -> Result<HttpResponse, ConsoleError> {
    let ids = form
        .into_inner()
        .user_id
        .filter(|s| !s.is_empty())
        .map(|id| vec![id]);
    sync.retry(ids, who.actor()).await?;
    Ok(page::see_other(&format!("{ROOT}/dashboard?ok=retried")))
}

pub async fn pause(who: Editor, sync: web::Data<Engine>) -> Result<HttpResponse, ConsoleError> {
    sync.set_paused(true, who.actor()).await?;
    Ok(page::see_other(&format!("{ROOT}/dashboard?ok=paused")))
}

pub async fn resume(who: Editor, sync: web::Data<Engine>) -> Result<HttpResponse, ConsoleError> {
    sync.set_paused(false, who.actor()).await?;
    Ok(page::see_other(&format!("{ROOT}/dashboard?ok=resumed")))
}

pub async fn sweep(who: Editor, sync: web::Data<Engine>) -> Result<HttpResponse, ConsoleError> {
    sync.sweep_now(who.actor()).await?;
    Ok(page::see_other(&format!("{ROOT}/dashboard?ok=sweep")))
}

/// The Okta card's "Create or repair the event hook" (the same service as
/// `POST /api/v1/okta/event-hook`).
pub async fn event_hook(
    who: Editor,
    hooks: web::Data<Registration>,
) -> Result<HttpResponse, ConsoleError> {
    hooks.ensure(who.actor()).await.map_err(AdminError::from)?;
    Ok(page::see_other(&format!("{ROOT}/dashboard?ok=hook")))
}
