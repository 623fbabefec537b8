//! Users: the directory's users with their sync state, a page at a time, and one user's
//! page — the directory record, what ZenQMS holds (as the bridge last saw it), the roles the
//! mappings grant and which mapping grants each, and the recent audit entries about them.

use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::error::ConsoleError;
use super::page::{self, Chrome, Notice, Viewer};
use crate::audit::{AuditLog, Record};
use crate::directory::{users, Directory, DirectoryError};
use crate::mappings::plan::Grant;
use crate::mappings::Mappings;
use crate::sync::engine::UserDetail;
use crate::sync::{state::UserView, Engine, SyncState};

const PAGE: i64 = 50;
const RECENT: i64 = 20;

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    chrome: Chrome,
    notice: Notice,
    users: Vec<UserView>,
    state: String,
    /// The search text (userName, email or name), as typed.
    q: String,
    /// The next page's URL, query encoded.
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct ListQuery {
    state: Option<String>,
    /// Finds users whose userName, an email or a name contains it (any case).
    q: Option<String>,
    after: Option<String>,
}

pub async fn list(
    who: Viewer,
    q: web::Query<ListQuery>,
    sync: web::Data<Engine>,
) -> Result<HttpResponse, ConsoleError> {
    let wanted = match q.state.as_deref() {
        None | Some("") => None,
        Some(s) => Some(SyncState::parse(s).ok_or_else(|| {
            ConsoleError::bad_request("The state must be synced, pending, skipped or failed.")
        })?),
    };
    let text = q.q.as_deref().unwrap_or("").trim().to_string();
    if let Some(problem) = crate::sync::state::search_text_problem(&text) {
        return Err(ConsoleError::bad_request(&problem));
    }
    let users = if text.is_empty() {
        sync.users(wanted, q.after.clone(), PAGE).await?
    } else {
        sync.search_users(text.clone(), wanted, q.after.clone(), PAGE)
            .await?
    };
    let state = wanted.map(|s| s.as_str().to_string()).unwrap_or_default();
    let next = (users.len() as i64 == PAGE)
        .then(|| users.last().map(|u| u.scim_id.clone()))
        .flatten()
        .map(|after| {
            let query = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("q", &text)
                .append_pair("state", &state)
                .append_pair("after", &after)
                .finish();
            format!("{}/users?{query}", super::ROOT)
        });
    let t = UsersPage {
        chrome: who.chrome("users"),
        notice: Notice::default(),
        users,
        state,
        q: text,
        next,
    };
    page::html(&t)
}

#[derive(Template)]
#[template(path = "user.html")]
struct UserPage {
    chrome: Chrome,
    notice: Notice,
    id: String,
    active: bool,
    fields: Vec<(&'static str, String)>,
    groups: Vec<String>,
    record: String,
    sync: UserDetail,
    seen: String,
    grants: Vec<Grant>,
    /// Roles ZenQMS showed the user holding: (id, name, managed, granted).
    held: Vec<(String, String, bool, bool)>,
    recent: Vec<Record>,
}

impl UserPage {
    fn at(&self, r: &Record) -> String {
        crate::time::rfc3339(&r.at)
    }
    fn when(&self, t: &Option<chrono::NaiveDateTime>) -> String {
        t.as_ref().map(crate::time::rfc3339).unwrap_or_default()
    }
}

/// A text field of a SCIM document at `path` (`name.givenName`).
fn text_at(doc: &serde_json::Map<String, serde_json::Value>, path: &str) -> String {
    let mut parts = path.split('.');
    let first = parts.next().unwrap_or("");
    let mut v = doc.get(first);
    for p in parts {
        v = v.and_then(|x| x.get(p));
    }
    v.and_then(|x| x.as_str()).unwrap_or("").to_string()
}

pub async fn page(
    who: Viewer,
    id: web::Path<String>,
    directory: web::Data<Directory>,
    sync: web::Data<Engine>,
    mappings: web::Data<Mappings>,
    audit: web::Data<AuditLog>,
) -> Result<HttpResponse, ConsoleError> {
    let id = id.into_inner();
    let uid = id.clone();
    let user = directory
        .read(move |c| users::get(c, &uid, true))
        .await
        .map_err(|e| match e {
            DirectoryError::NotFound { .. } => {
                ConsoleError::not_found("There is no directory user with this id.")
            }
            DirectoryError::Store(s) => ConsoleError::from(s),
            other => ConsoleError::internal(other),
        })?;
    let detail = sync
        .user(&id)
        .await?
        .ok_or_else(|| ConsoleError::not_found("There is no directory user with this id."))?;
    let grants = mappings.grants(&id).await?;
    let managed = mappings.list().await?;
    let names: std::collections::HashMap<String, String> = mappings
        .roles(&who.0.principal, false, false)
        .await?
        .roles
        .into_iter()
        .map(|r| (r.id, r.name))
        .collect();
    let held = detail
        .held_role_ids
        .iter()
        .map(|json| {
            let plain = serde_json::from_str::<serde_json::Value>(json)
                .ok()
                .map(|v| match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                })
                .unwrap_or_else(|| json.clone());
            let name = names.get(&plain).cloned().unwrap_or_else(|| plain.clone());
            let is_managed = managed.iter().any(|m| m.role_id == plain);
            let granted = grants.iter().any(|g| &g.role_id_json == json);
            (plain, name, is_managed, granted)
        })
        .collect();
    let doc = &user.doc;
    let emails = doc
        .get("emails")
        .and_then(|e| e.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|e| e.get("value").and_then(|v| v.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let fields = vec![
        ("User name", text_at(doc, "userName")),
        ("Okta id (externalId)", text_at(doc, "externalId")),
        ("Given name", text_at(doc, "name.givenName")),
        ("Family name", text_at(doc, "name.familyName")),
        ("Title", text_at(doc, "title")),
        ("Emails", emails),
    ];
    let t = UserPage {
        chrome: who.chrome("users"),
        notice: Notice::default(),
        active: user.active,
        fields,
        groups: user
            .groups
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|g| g.display_name)
            .collect(),
        record: serde_json::to_string_pretty(doc).unwrap_or_default(),
        seen: detail
            .seen
            .as_ref()
            .and_then(|s| serde_json::to_string_pretty(s).ok())
            .unwrap_or_default(),
        sync: detail,
        grants,
        held,
        recent: audit.recent_for(&id, RECENT).await?,
        id,
    };
    page::html(&t)
}
