//! SCIM and API tokens: the list (never a token), create — the token is shown once, on the
//! answer to the form, and never again —, and revoke. The service is the REST API's
//! (`Authenticator::create`/`revoke`, audited under the signed-in person's name).

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::error::ConsoleError;
use super::page::{self, Chrome, Editor, Notice, Viewer};
use super::ROOT;
use crate::auth::{AccountInfo, Authenticator, Scope};

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    chrome: Chrome,
    notice: Notice,
    accounts: Vec<AccountInfo>,
    /// Just made: (name, scope, token), shown this once.
    created: Option<(String, String, String)>,
}

impl TokensPage {
    fn when(&self, t: &Option<chrono::NaiveDateTime>) -> String {
        t.as_ref()
            .map(crate::time::rfc3339)
            .unwrap_or_else(|| "never".into())
    }
    fn created_at(&self, a: &AccountInfo) -> String {
        crate::time::rfc3339(&a.created_at)
    }
}

#[derive(Deserialize)]
pub struct Query {
    ok: Option<String>,
}

pub async fn page(
    who: Viewer,
    q: web::Query<Query>,
    authn: web::Data<Authenticator>,
) -> Result<HttpResponse, ConsoleError> {
    let notice = match q.ok.as_deref() {
        Some("revoked") => {
            Notice::ok("The token is revoked: it stops working on its next request.")
        }
        _ => Notice::default(),
    };
    render(who.chrome("tokens"), notice, None, &authn, StatusCode::OK).await
}

async fn render(
    chrome: Chrome,
    notice: Notice,
    created: Option<(String, String, String)>,
    authn: &Authenticator,
    status: StatusCode,
) -> Result<HttpResponse, ConsoleError> {
    let t = TokensPage {
        chrome,
        notice,
        accounts: authn.accounts().await?,
        created,
    };
    page::html_status(status, &t)
}

#[derive(Deserialize)]
pub struct CreateForm {
    name: String,
    scope: String,
}

pub async fn create(
    who: Editor,
    form: web::Form<CreateForm>,
    authn: web::Data<Authenticator>,
) -> Result<HttpResponse, ConsoleError> {
    let form = form.into_inner();
    let Some(scope) = Scope::parse(&form.scope) else {
        let e = ConsoleError::bad_request("Choose the token's kind: scim, admin or read.");
        return render(
            who.chrome("tokens"),
            Notice::error(&e),
            None,
            &authn,
            StatusCode::BAD_REQUEST,
        )
        .await;
    };
    match authn.create(who.actor(), form.name.trim(), scope).await {
        Ok(created) => {
            let shown = (
                created.account.name.clone(),
                created.account.scope.clone(),
                created.token,
            );
            let notice = Notice::ok(
                "The token is made. Copy it now: it is shown this once and never again.",
            );
            render(
                who.chrome("tokens"),
                notice,
                Some(shown),
                &authn,
                StatusCode::OK,
            )
            .await
        }
        Err(e) => {
            let e = ConsoleError::from(e);
            let status = match &e {
                ConsoleError::Api(a) => actix_web::ResponseError::status_code(a),
                _ => StatusCode::BAD_REQUEST,
            };
            render(
                who.chrome("tokens"),
                Notice::error(&e),
                None,
                &authn,
                status,
            )
            .await
        }
    }
}

pub async fn revoke(
    who: Editor,
    name: web::Path<String>,
    authn: web::Data<Authenticator>,
) -> Result<HttpResponse, ConsoleError> {
    authn.revoke(who.actor(), &name).await?;
    Ok(page::see_other(&format!("{ROOT}/tokens?ok=revoked")))
}
