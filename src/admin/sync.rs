//! `GET /api/v1/sync/status`, `GET /api/v1/sync/users?state=&q=&after=&limit=`,
//! `POST /api/v1/sync/retry`, `POST /api/v1/sync/recheck`, `POST /api/v1/sync/sweep`,
//! `POST /api/v1/sync/pause`, `POST /api/v1/sync/resume`.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::{AdminError, AdminPrincipal, ReadPrincipal};
use crate::json_body::Object;
use crate::sync::{Engine, SyncState};

const MAX_LIMIT: i64 = 1000;

pub async fn status(
    _who: ReadPrincipal,
    sync: web::Data<Engine>,
    okta: web::Data<crate::okta::Okta>,
    resync: web::Data<crate::okta::resync::Resync>,
) -> Result<HttpResponse, AdminError> {
    let mut body = serde_json::to_value(sync.status().await?)
        .map_err(|e| AdminError::Internal(e.to_string()))?;
    // The Okta connection's state: `reauthorization_needed` shows here (and SCIM still works),
    // and the periodic re-read's last outcome.
    let view = okta.view().await?;
    let resync = resync.view().await?;
    if let Some(map) = body.as_object_mut() {
        map.insert(
            "okta".into(),
            serde_json::json!({"state": view.state, "problem": view.problem, "resync": resync}),
        );
    }
    Ok(HttpResponse::Ok().json(body))
}

#[derive(Deserialize)]
pub struct UsersQuery {
    /// synced, pending, skipped or failed; all when absent.
    state: Option<String>,
    /// Cursor: users whose SCIM id sorts after this (the `next_after` of the previous page).
    after: Option<String>,
    limit: Option<i64>,
    /// Only users whose userName, an email or a name contains this (any case).
    q: Option<String>,
}

pub async fn users(
    _who: ReadPrincipal,
    sync: web::Data<Engine>,
    q: web::Query<UsersQuery>,
) -> Result<HttpResponse, AdminError> {
    let q = q.into_inner();
    let wanted = match q.state.as_deref() {
        None | Some("") => None,
        Some(s) => Some(SyncState::parse(s).ok_or_else(|| {
            AdminError::BadRequest(format!(
                "`state` must be synced, pending, skipped or failed, not `{s}`"
            ))
        })?),
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(AdminError::BadRequest(format!(
            "`limit` must be between 1 and {MAX_LIMIT}"
        )));
    }
    let text = q.q.as_deref().unwrap_or("").trim().to_string();
    if let Some(problem) = crate::sync::state::search_text_problem(&text) {
        return Err(AdminError::BadRequest(format!("`q`: {problem}")));
    }
    let users = if text.is_empty() {
        sync.users(wanted, q.after, limit).await?
    } else {
        sync.search_users(text, wanted, q.after, limit).await?
    };
    let next_after = (users.len() as i64 == limit)
        .then(|| users.last().map(|u| u.scim_id.clone()))
        .flatten();
    Ok(HttpResponse::Ok().json(serde_json::json!({"users": users, "next_after": next_after})))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RetryBody {
    /// SCIM ids of the users to reconcile again; every `failed` user when absent.
    user_ids: Option<Vec<String>>,
}

pub async fn retry(
    who: AdminPrincipal,
    sync: web::Data<Engine>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminError> {
    // An empty body means "every failed user"; a body that does not parse must not be
    // taken for an empty one (a misspelt `user_ids` would retry everyone).
    let parsed: RetryBody = if body.iter().all(u8::is_ascii_whitespace) {
        RetryBody::default()
    } else {
        serde_json::from_slice::<Object<RetryBody>>(&body)
            .map(|b| b.0)
            .map_err(|e| {
                AdminError::BadRequest(format!(
                    "the body must be empty or {{\"user_ids\": [\"<SCIM id>\", …]}}: {e}"
                ))
            })?
    };
    let ids = parsed.user_ids;
    if ids.as_ref().is_some_and(|i| i.is_empty()) {
        return Err(AdminError::BadRequest(
            "`user_ids` is empty: leave it out to retry every failed user".into(),
        ));
    }
    let enqueued = sync.retry(ids, &who.0.name).await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({"enqueued": enqueued})))
}

pub async fn pause(
    who: AdminPrincipal,
    sync: web::Data<Engine>,
) -> Result<HttpResponse, AdminError> {
    sync.set_paused(true, &who.0.name).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "paused": true,
        "message": "no calls are made to ZenQMS; SCIM keeps accepting and queueing; POST /api/v1/sync/resume drains the queue"
    })))
}

pub async fn resume(
    who: AdminPrincipal,
    sync: web::Data<Engine>,
) -> Result<HttpResponse, AdminError> {
    sync.set_paused(false, &who.0.name).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"paused": false})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecheckBody {
    /// SCIM ids of the users to read from ZenQMS again.
    user_ids: Option<Vec<String>>,
    /// Every linked user (one search each: mind the ZenQMS budget).
    #[serde(default)]
    all: bool,
}

/// `POST /api/v1/sync/recheck`: reads users from ZenQMS again and corrects what was changed
/// there by hand (a managed role added or removed, a field edited).
pub async fn recheck(
    who: AdminPrincipal,
    sync: web::Data<Engine>,
    body: web::Json<Object<RecheckBody>>,
) -> Result<HttpResponse, AdminError> {
    let body = body.into_inner().0;
    let ids = match (body.user_ids, body.all) {
        (Some(_), true) => {
            return Err(AdminError::BadRequest(
                "send either `user_ids` or `\"all\": true`, not both".into(),
            ))
        }
        (Some(ids), false) if ids.is_empty() => {
            return Err(AdminError::BadRequest(
                "`user_ids` is empty: list SCIM user ids, or send {\"all\": true}".into(),
            ))
        }
        (Some(ids), false) => Some(ids),
        (None, true) => None,
        (None, false) => {
            return Err(AdminError::BadRequest(
                "send {\"user_ids\": [\"<SCIM id>\", …]} or {\"all\": true}".into(),
            ))
        }
    };
    let enqueued = sync.recheck(ids, &who.0.name).await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({"enqueued": enqueued})))
}

/// `POST /api/v1/sync/sweep`: reads every ZenQMS user now and corrects what was changed there
/// by hand. `202` with what it will do; `409` while one runs, or when ZenQMS cannot be asked.
pub async fn sweep(
    who: AdminPrincipal,
    sync: web::Data<Engine>,
) -> Result<HttpResponse, AdminError> {
    let started = sync.sweep_now(&who.0.name).await?;
    Ok(HttpResponse::Accepted().json(started))
}
