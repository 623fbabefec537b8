//! Wizard page 2, Sync settings: the Enable Initial Sync switch (off = Standard, on = Full,
//! with what each does), a preview (the dry run: its counts and a table per user, as CSV
//! too), the start, and the run's live progress; and Role Sync, which leads to the mapping
//! form. Runs are the initial-sync service's (`POST /api/v1/initial-sync` does the same).

use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::error::ConsoleError;
use super::page::{self, Chrome, Editor, Notice, Viewer};
use super::ROOT;
use crate::initial_sync::{runs::ItemRow, InitialSync, Mode, Outcome, RunView};
use crate::okta::Okta;
use crate::sync::Engine;

/// Rows of a run shown per page.
const PAGE: i64 = 100;
/// Rows of one CSV download (the REST API pages further with `after`).
const CSV_ROWS: i64 = 100_000;

#[derive(Template)]
#[template(path = "sync_settings.html")]
struct SyncSettingsPage {
    chrome: Chrome,
    notice: Notice,
    zenqms_ready: bool,
    source: &'static str,
    runs: Vec<RunView>,
    mappings: crate::mappings::Summary,
}

pub async fn page(
    who: Viewer,
    sync: web::Data<Engine>,
    okta: web::Data<Okta>,
    initial: web::Data<InitialSync>,
) -> Result<HttpResponse, ConsoleError> {
    render(
        who.chrome("sync"),
        Notice::default(),
        &sync,
        &okta,
        &initial,
        actix_web::http::StatusCode::OK,
    )
    .await
}

async fn render(
    chrome: Chrome,
    notice: Notice,
    sync: &Engine,
    okta: &Okta,
    initial: &InitialSync,
    status: actix_web::http::StatusCode,
) -> Result<HttpResponse, ConsoleError> {
    let t = SyncSettingsPage {
        chrome,
        notice,
        zenqms_ready: sync.connection_view().configured,
        source: if okta.is_connected().await? {
            "the Okta API (your org is connected)"
        } else {
            "the users Okta pushed over SCIM"
        },
        runs: initial.list(10).await?,
        mappings: sync.status().await?.role_mappings,
    };
    page::html_status(status, &t)
}

#[derive(Deserialize)]
pub struct StartForm {
    /// The switch: present (`on`) = Full.
    full: Option<String>,
    /// `preview` (a dry run) or `start`.
    action: String,
}

pub async fn start(
    who: Editor,
    form: web::Form<StartForm>,
    sync: web::Data<Engine>,
    okta: web::Data<Okta>,
    initial: web::Data<InitialSync>,
) -> Result<HttpResponse, ConsoleError> {
    let form = form.into_inner();
    let mode = if form.full.is_some() {
        Mode::Full
    } else {
        Mode::Standard
    };
    let dry_run = form.action != "start";
    match initial.start(who.actor(), mode, dry_run).await {
        Ok(run) => Ok(page::see_other(&format!("{ROOT}/initial-sync/{}", run.id))),
        Err(e) => {
            let e = ConsoleError::from(e);
            let status = match &e {
                ConsoleError::Api(a) => actix_web::ResponseError::status_code(a),
                _ => actix_web::http::StatusCode::BAD_REQUEST,
            };
            render(
                who.chrome("sync"),
                Notice::error(&e),
                &sync,
                &okta,
                &initial,
                status,
            )
            .await
        }
    }
}

#[derive(Template)]
#[template(path = "run.html")]
struct RunPage {
    chrome: Chrome,
    notice: Notice,
    run: RunView,
    counts: Vec<(&'static str, i64)>,
    items: Vec<ItemRow>,
    outcome: String,
    next_after: Option<i64>,
    running: bool,
}

impl RunPage {
    fn percent(&self) -> i64 {
        (self.run.progress.done * 100)
            .checked_div(self.run.progress.total)
            .unwrap_or(0)
    }
    fn opt<'a>(&self, v: &'a Option<String>) -> &'a str {
        v.as_deref().unwrap_or("")
    }
}

#[derive(Deserialize)]
pub struct RunQuery {
    outcome: Option<String>,
    after: Option<i64>,
}

fn outcome_of(q: Option<&str>) -> Result<Option<Outcome>, ConsoleError> {
    match q {
        None | Some("") => Ok(None),
        Some(o) => Outcome::parse(o).map(Some).ok_or_else(|| {
            ConsoleError::bad_request(
                "The outcome must be one of link, create, update, unchanged, skip, conflict.",
            )
        }),
    }
}

pub async fn run(
    who: Viewer,
    id: web::Path<String>,
    q: web::Query<RunQuery>,
    initial: web::Data<InitialSync>,
) -> Result<HttpResponse, ConsoleError> {
    let run = initial.get(&id).await?;
    let outcome = outcome_of(q.outcome.as_deref())?;
    let items = initial
        .items(&id, outcome, q.after.unwrap_or(0), PAGE)
        .await?;
    let next_after = (items.len() as i64 == PAGE)
        .then(|| items.last().map(|i| i.seq))
        .flatten();
    let running = !matches!(run.state, "done" | "failed" | "cancelled");
    let t = RunPage {
        chrome: who.chrome("sync"),
        notice: Notice::default(),
        counts: run.counts.iter().map(|(k, v)| (*k, *v)).collect(),
        run,
        items,
        outcome: q.outcome.clone().unwrap_or_default(),
        next_after,
        running,
    };
    page::html(&t)
}

/// The run's rows as CSV (the same rows and columns as the REST API's `format=csv`).
pub async fn csv(
    _who: Viewer,
    id: web::Path<String>,
    q: web::Query<RunQuery>,
    initial: web::Data<InitialSync>,
) -> Result<HttpResponse, ConsoleError> {
    let outcome = outcome_of(q.outcome.as_deref())?;
    let items = initial
        .items(&id, outcome, q.after.unwrap_or(0), CSV_ROWS)
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!(
                "attachment; filename=\"initial-sync-{}.csv\"",
                id.chars()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect::<String>()
            ),
        ))
        .body(crate::admin::initial_sync::to_csv(&items)))
}

pub async fn cancel(
    who: Editor,
    id: web::Path<String>,
    initial: web::Data<InitialSync>,
) -> Result<HttpResponse, ConsoleError> {
    initial.cancel(&id, who.actor()).await?;
    Ok(page::see_other(&format!("{ROOT}/initial-sync/{id}")))
}
