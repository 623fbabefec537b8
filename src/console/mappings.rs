//! The role-mapping form: the Okta groups (from the Okta API when the org is connected, the
//! groups Okta pushed over SCIM otherwise) against the ZenQMS roles, many roles per group, a
//! preview of who would gain and lose each role before saving (the preview API), and the
//! mappings that wait for their group (`pending_group`) or lost their role (`role_missing`)
//! with what to do. Every rule is the mapping service's.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;
use serde_json::Value;

use super::error::ConsoleError;
use super::page::{self, Chrome, Editor, Notice, Viewer};
use super::ROOT;
use crate::auth::Scope;
use crate::mappings::preview::Preview;
use crate::mappings::{MappingBody, MappingView, Mappings};
use crate::okta::Okta;

/// Users a preview names per role and direction.
const LISTED: i64 = 20;

#[derive(Template)]
#[template(path = "mappings.html")]
struct MappingsPage {
    chrome: Chrome,
    notice: Notice,
    mappings: Vec<MappingView>,
    groups: Vec<String>,
    groups_from: &'static str,
    roles: Vec<crate::mappings::roles::RoleView>,
    roles_problem: Option<String>,
    group: String,
    chosen: Vec<String>,
    preview: Option<Preview>,
}

impl MappingsPage {
    fn checked(&self, id: &str) -> bool {
        self.chosen.iter().any(|c| c == id)
    }
    fn status(&self, m: &MappingView) -> &'static str {
        m.status.as_str()
    }
    fn todo(&self, m: &MappingView) -> &'static str {
        match m.status.as_str() {
            "pending_group" => "No group by this name has been pushed by Okta yet. Assign and push the group to the app in Okta (Push Groups tab), or fix the name here.",
            "role_missing" => "ZenQMS no longer lists this role (deleted or renamed). Delete this mapping and map the group to the role that replaces it; users keep what they hold meanwhile.",
            _ => "",
        }
    }
}

#[derive(Deserialize)]
pub struct Query {
    ok: Option<String>,
}

pub async fn page(
    who: Viewer,
    q: web::Query<Query>,
    mappings: web::Data<Mappings>,
    okta: web::Data<Okta>,
) -> Result<HttpResponse, ConsoleError> {
    let notice = match q.ok.as_deref() {
        Some("saved") => Notice::ok("The mapping is saved; its members are being reconciled."),
        Some("deleted") => Notice::ok("The mapping is deleted; its users are being reconciled."),
        _ => Notice::default(),
    };
    let chrome = who.chrome("mappings");
    let may_call = who.0.scope.grants(Scope::Admin);
    render(
        chrome,
        &who.0.principal,
        may_call,
        notice,
        Form::default(),
        None,
        &mappings,
        &okta,
        StatusCode::OK,
    )
    .await
}

/// The form as sent: the group's name and the roles' ids.
#[derive(Default)]
struct Form {
    group: String,
    roles: Vec<String>,
}

#[allow(clippy::too_many_arguments)]
async fn render(
    chrome: Chrome,
    actor: &str,
    may_call: bool,
    notice: Notice,
    form: Form,
    preview: Option<Preview>,
    mappings: &Mappings,
    okta: &Okta,
    status: StatusCode,
) -> Result<HttpResponse, ConsoleError> {
    let (groups, groups_from) = match okta.is_connected().await {
        Ok(true) => match okta.group_names().await {
            Ok(names) => (names, "your Okta org"),
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the Okta groups for the mapping form");
                (
                    scim_groups(mappings).await?,
                    "the groups Okta pushed (the Okta API did not answer)",
                )
            }
        },
        _ => (
            scim_groups(mappings).await?,
            "the groups Okta pushed over SCIM",
        ),
    };
    let roles = mappings.roles(actor, false, may_call).await?;
    let t = MappingsPage {
        chrome,
        notice,
        mappings: mappings.list().await?,
        groups,
        groups_from,
        roles_problem: roles.refresh_problem.clone().or_else(|| {
            roles.stale.then(|| {
                "The ZenQMS role list has not been read yet: connect ZenQMS first (step 1)."
                    .to_string()
            })
        }),
        roles: roles.roles,
        group: form.group,
        chosen: form.roles,
        preview,
    };
    page::html_status(status, &t)
}

async fn scim_groups(mappings: &Mappings) -> Result<Vec<String>, ConsoleError> {
    let page = mappings.groups(None, None, Some(1000)).await?;
    Ok(page.groups.into_iter().map(|g| g.display_name).collect())
}

/// The form's fields: `group` once, `role` once per checked box (repeated keys, which
/// `web::Form` does not collect).
fn parse(body: &[u8]) -> Form {
    let mut form = Form::default();
    for (k, v) in url::form_urlencoded::parse(body) {
        match k.as_ref() {
            "group" => form.group = v.trim().to_string(),
            "role" => form.roles.push(v.into_owned()),
            _ => {}
        }
    }
    form
}

fn body_of(form: &Form) -> MappingBody {
    MappingBody {
        group_id: None,
        group_display_name: Some(form.group.clone()),
        role_ids: Some(
            form.roles
                .iter()
                .map(|r| Value::String(r.clone()))
                .collect(),
        ),
        delete: None,
    }
}

/// "Preview": who would gain and lose each role; writes nothing (a read session may ask).
pub async fn preview(
    who: Viewer,
    body: web::Bytes,
    mappings: web::Data<Mappings>,
    okta: web::Data<Okta>,
) -> Result<HttpResponse, ConsoleError> {
    let form = parse(&body);
    let may_call = who.0.scope.grants(Scope::Admin);
    let chrome = who.chrome("mappings");
    let actor = who.0.principal.clone();
    match mappings
        .preview(&actor, body_of(&form), Some(LISTED), may_call)
        .await
    {
        Ok(p) => {
            render(
                chrome,
                &actor,
                may_call,
                Notice::default(),
                form,
                Some(p),
                &mappings,
                &okta,
                StatusCode::OK,
            )
            .await
        }
        Err(e) => {
            let e = ConsoleError::from(e);
            let status = status_of(&e);
            render(
                chrome,
                &actor,
                may_call,
                Notice::error(&e),
                form,
                None,
                &mappings,
                &okta,
                status,
            )
            .await
        }
    }
}

fn status_of(e: &ConsoleError) -> StatusCode {
    match e {
        ConsoleError::Api(a) => actix_web::ResponseError::status_code(a),
        _ => StatusCode::BAD_REQUEST,
    }
}

/// "Save": the mapping service's create (one group, many roles), audited under the person.
pub async fn submit(
    who: Editor,
    body: web::Bytes,
    mappings: web::Data<Mappings>,
    okta: web::Data<Okta>,
) -> Result<HttpResponse, ConsoleError> {
    let form = parse(&body);
    match mappings.create(who.actor(), body_of(&form)).await {
        Ok(_) => Ok(page::see_other(&format!("{ROOT}/mappings?ok=saved"))),
        Err(e) => {
            let e = ConsoleError::from(e);
            let status = status_of(&e);
            let actor = who.actor().to_string();
            render(
                who.chrome("mappings"),
                &actor,
                true,
                Notice::error(&e),
                form,
                None,
                &mappings,
                &okta,
                status,
            )
            .await
        }
    }
}

pub async fn delete(
    who: Editor,
    id: web::Path<String>,
    mappings: web::Data<Mappings>,
) -> Result<HttpResponse, ConsoleError> {
    mappings.delete(who.actor(), &id).await?;
    Ok(page::see_other(&format!("{ROOT}/mappings?ok=deleted")))
}
