//! Wizard page 1, Connections: the Okta OIDC app (org URL, client ID, client secret, then
//! "authorize the connection via OAuth"), the console's Okta sign-in groups, and ZenQMS (API
//! token and base URL, tested live before it is saved). Each step says what to do in Okta or
//! ZenQMS; failures come back in the services' own words.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::error::ConsoleError;
use super::guard::csp_with_form_target;
use super::page::{self, Chrome, Editor, Notice, Viewer};
use super::{Settings, ROOT};
use crate::okta::signin::SigninGroups;
use crate::okta::{ConnectionState, Okta, SettingsInput, REQUIRED_SCOPES};
use crate::sync::{ConnectionView, Engine};

#[derive(Template)]
#[template(path = "connections.html")]
struct ConnectionsPage {
    chrome: Chrome,
    notice: Notice,
    okta: crate::okta::View,
    groups: SigninGroups,
    zenqms: ConnectionView,
    scim_base_url: String,
    scopes: String,
}

impl ConnectionsPage {
    fn okta_configured(&self) -> bool {
        self.okta.state != ConnectionState::NotConfigured
    }
    fn okta_connected(&self) -> bool {
        self.okta.state == ConnectionState::Connected
    }
    fn okta_state(&self) -> &'static str {
        match self.okta.state {
            ConnectionState::NotConfigured => "not configured",
            ConnectionState::NeedsAuthorization => "saved — now authorize the connection",
            ConnectionState::Connected => "connected",
            ConnectionState::ReauthorizationNeeded => "needs to be authorized again",
        }
    }
    fn opt<'a>(&self, v: &'a Option<String>) -> &'a str {
        v.as_deref().unwrap_or("")
    }
}

#[derive(Deserialize)]
pub struct Query {
    ok: Option<String>,
}

pub async fn page(
    who: Viewer,
    q: web::Query<Query>,
    okta: web::Data<Okta>,
    sync: web::Data<Engine>,
    settings: web::Data<Settings>,
) -> Result<HttpResponse, ConsoleError> {
    let notice = match q.ok.as_deref() {
        Some("okta") => Notice::ok("The Okta settings are saved. Now authorize the connection."),
        Some("groups") => Notice::ok("The console's Okta groups are saved."),
        Some("zenqms") => {
            Notice::ok("ZenQMS answered: the connection works and is saved. Go on to step 2.")
        }
        _ => Notice::default(),
    };
    render(
        who.chrome("connections"),
        notice,
        StatusCode::OK,
        &okta,
        &sync,
        &settings,
    )
    .await
}

async fn render(
    chrome: Chrome,
    notice: Notice,
    status: StatusCode,
    okta: &Okta,
    sync: &Engine,
    settings: &Settings,
) -> Result<HttpResponse, ConsoleError> {
    let view = okta.view().await?;
    let t = ConnectionsPage {
        chrome,
        notice,
        groups: okta.signin_groups().await?,
        zenqms: sync.connection_view(),
        scim_base_url: settings.scim_base_url.clone(),
        scopes: REQUIRED_SCOPES.join(", "),
        okta: view,
    };
    let mut res = page::html_status(status, &t)?;
    // "Authorize" posts here and goes on to the org: the policy lets that form leave.
    if let Some(origin) = t.okta.org_url.as_deref().and_then(origin_of) {
        if let Ok(v) = header::HeaderValue::from_str(&csp_with_form_target(&origin)) {
            res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
        }
    }
    Ok(res)
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    Some(u.origin().ascii_serialization()).filter(|o| o != "null")
}

/// A failed form: the page again, with what went wrong.
async fn again(
    who: &Editor,
    e: ConsoleError,
    okta: &Okta,
    sync: &Engine,
    settings: &Settings,
) -> Result<HttpResponse, ConsoleError> {
    let status = match &e {
        ConsoleError::Api(a) => actix_web::ResponseError::status_code(a),
        _ => StatusCode::BAD_REQUEST,
    };
    render(
        who.chrome("connections"),
        Notice::error(&e),
        status,
        okta,
        sync,
        settings,
    )
    .await
}

#[derive(Deserialize)]
pub struct OktaForm {
    org_url: String,
    client_id: String,
    client_secret: Option<String>,
}

pub async fn save_okta(
    who: Editor,
    form: web::Form<OktaForm>,
    okta: web::Data<Okta>,
    sync: web::Data<Engine>,
    settings: web::Data<Settings>,
) -> Result<HttpResponse, ConsoleError> {
    let form = form.into_inner();
    let input = SettingsInput {
        org_url: form.org_url,
        client_id: form.client_id,
        client_secret: form.client_secret.filter(|s| !s.trim().is_empty()),
        scope_group_ids: None,
    };
    match okta.put_settings(input, who.actor()).await {
        Ok(_) => Ok(page::see_other(&format!(
            "{ROOT}/setup/connections?ok=okta"
        ))),
        Err(e) => again(&who, e.into(), &okta, &sync, &settings).await,
    }
}

/// "Authorize the connection": the same start as `POST /api/v1/okta/authorize`, then on to
/// Okta; Okta comes back to `/oauth/okta/callback`.
pub async fn authorize(
    who: Editor,
    okta: web::Data<Okta>,
    sync: web::Data<Engine>,
    settings: web::Data<Settings>,
) -> Result<HttpResponse, ConsoleError> {
    match okta.start_authorization(who.actor()).await {
        Ok(url) => Ok(page::see_other(&url)),
        Err(e) => again(&who, e.into(), &okta, &sync, &settings).await,
    }
}

#[derive(Deserialize)]
pub struct GroupsForm {
    admin_group: Option<String>,
    read_group: Option<String>,
}

pub async fn save_signin_groups(
    who: Editor,
    form: web::Form<GroupsForm>,
    okta: web::Data<Okta>,
    sync: web::Data<Engine>,
    settings: web::Data<Settings>,
) -> Result<HttpResponse, ConsoleError> {
    let form = form.into_inner();
    let groups = SigninGroups {
        admin_group: form.admin_group,
        read_group: form.read_group,
    };
    match okta.set_signin_groups(groups, who.actor()).await {
        Ok(_) => Ok(page::see_other(&format!(
            "{ROOT}/setup/connections?ok=groups"
        ))),
        Err(e) => again(&who, e.into(), &okta, &sync, &settings).await,
    }
}

#[derive(Deserialize)]
pub struct ZenqmsForm {
    base_url: String,
    api_token: String,
}

/// ZenQMS's "Test connection": `set_connection` calls `GET /v2/roles` and saves only what
/// answered.
pub async fn save_zenqms(
    who: Editor,
    form: web::Form<ZenqmsForm>,
    okta: web::Data<Okta>,
    sync: web::Data<Engine>,
    settings: web::Data<Settings>,
) -> Result<HttpResponse, ConsoleError> {
    let form = form.into_inner();
    if form.base_url.trim().is_empty() || form.api_token.trim().is_empty() {
        let e = ConsoleError::bad_request(
            "Enter both the ZenQMS API base URL (e.g. https://public-api.zenqms.com) and the API token.",
        );
        return again(&who, e, &okta, &sync, &settings).await;
    }
    match sync
        .set_connection(&form.base_url, &form.api_token, who.actor())
        .await
    {
        Ok(_) => Ok(page::see_other(&format!(
            "{ROOT}/setup/connections?ok=zenqms"
        ))),
        Err(e) => again(&who, e.into(), &okta, &sync, &settings).await,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn origins() {
        assert_eq!(
            super::origin_of("https://acme.okta.com/").as_deref(),
            Some("https://acme.okta.com")
        );
        assert_eq!(
            super::origin_of("http://127.0.0.1:9999").as_deref(),
            Some("http://127.0.0.1:9999")
        );
        assert_eq!(super::origin_of("not a url"), None);
    }
}
