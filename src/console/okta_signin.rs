//! "Sign in with Okta": `GET /console/okta/signin` sends the browser to Okta with a fresh
//! `state` that it also keeps in a cookie; Okta comes back to the connection's callback
//! (`/oauth/okta/callback`), which hands a sign-in's state to [`complete`]: the state must be
//! the browser's own (the cookie), then the Okta service checks the code, the id_token and
//! the person's groups, and a session opens with the scope the groups give.

use actix_web::cookie::{time::Duration as CookieAge, Cookie, SameSite};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

use super::error::ConsoleError;
use super::page;
use super::signin::session_cookie;
use super::{Settings, ROOT};
use crate::auth::sessions::{Sessions, Via};
use crate::okta::Okta;

/// Binds a sign-in to the browser that started it. `Lax`: it must come back with Okta's
/// redirect, a top-level navigation from another site.
const STATE_COOKIE: &str = "zqb_okta_signin";

pub async fn start(
    okta: actix_web::web::Data<Okta>,
    settings: actix_web::web::Data<Settings>,
) -> Result<HttpResponse, ConsoleError> {
    let (url, state) = match okta.start_signin().await {
        Ok(started) => started,
        Err(e) => {
            let message = ConsoleError::from(e).message();
            return Ok(signin_failed(&message));
        }
    };
    let mut res = page::see_other(&url);
    res.add_cookie(
        &Cookie::build(STATE_COOKIE, state)
            .path("/")
            .http_only(true)
            .secure(settings.secure)
            .same_site(SameSite::Lax)
            .max_age(CookieAge::minutes(10))
            .finish(),
    )
    .map_err(|e| ConsoleError::internal(format!("cookie: {e}")))?;
    Ok(res)
}

fn signin_failed(message: &str) -> HttpResponse {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("reason", "okta")
        .append_pair("error", message)
        .finish();
    page::see_other(&format!("{ROOT}/signin?{q}"))
}

#[derive(Template)]
#[template(path = "signed_in.html")]
struct SignedInPage<'a> {
    principal: &'a str,
    access: &'a str,
}

/// The callback of a sign-in (its `state` starts with `okta::signin::STATE_PREFIX`).
pub async fn complete(
    req: &HttpRequest,
    code: Option<&str>,
    state: &str,
    error: Option<&str>,
) -> HttpResponse {
    match finish(req, code, state, error).await {
        Ok(res) => res,
        Err(e) => signin_failed(&e.message()),
    }
}

async fn finish(
    req: &HttpRequest,
    code: Option<&str>,
    state: &str,
    error: Option<&str>,
) -> Result<HttpResponse, ConsoleError> {
    let (Some(okta), Some(sessions), Some(settings)) = (
        req.app_data::<actix_web::web::Data<Okta>>(),
        req.app_data::<actix_web::web::Data<Sessions>>(),
        req.app_data::<actix_web::web::Data<Settings>>(),
    ) else {
        return Err(ConsoleError::unavailable(
            "The console is not set up in this process.",
        ));
    };
    // The state must be the one this browser was given: a link someone else started (login
    // CSRF) finds no cookie, or another one.
    let mine = req
        .cookie(STATE_COOKIE)
        .is_some_and(|c| !c.value().is_empty() && c.value() == state);
    if !mine {
        return Err(ConsoleError::bad_request(
            "This sign-in was not started in this browser (or took longer than 10 minutes). Sign in again.",
        ));
    }
    let signed = okta
        .complete_signin(code, state, error)
        .await
        .map_err(|e| ConsoleError::Api(crate::admin::AdminError::Forbidden(e.0)))?;
    let id = sessions
        .open(&signed.principal, signed.scope, Via::Okta)
        .await?;
    let access = if signed.scope == crate::auth::Scope::Admin {
        "admin"
    } else {
        "read-only"
    };
    // A page rather than a redirect: the session cookie is `SameSite=Strict`, and a browser
    // does not send it on a redirect chain that began at Okta's site; the page's own
    // navigation to the console is same-site.
    let body = SignedInPage {
        principal: &signed.principal,
        access,
    }
    .render()?;
    let mut res = HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::CONTENT_SECURITY_POLICY, super::guard::CSP))
        .insert_header(("X-Frame-Options", "DENY"))
        .body(body);
    res.add_cookie(&session_cookie(settings, id))
        .map_err(|e| ConsoleError::internal(format!("cookie: {e}")))?;
    res.add_removal_cookie(&Cookie::build(STATE_COOKIE, "").path("/").finish())
        .map_err(|e| ConsoleError::internal(format!("cookie: {e}")))?;
    Ok(res)
}
