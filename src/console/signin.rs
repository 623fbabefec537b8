//! Sign-in with a token (pasted once: the session cookie replaces it), and sign-out, which
//! ends the session in the database — a copied cookie is worth nothing afterwards.

use actix_web::cookie::{time::Duration as CookieAge, Cookie, SameSite};
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::error::ConsoleError;
use super::guard::SIGNIN_COOKIE;
use super::page::{self, Viewer};
use super::{Settings, ROOT};
use crate::auth::sessions::{Sessions, Via};
use crate::auth::{AuthError, Authenticator, Scope};

#[derive(Deserialize)]
pub struct SigninQuery {
    reason: Option<String>,
    next: Option<String>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SigninPage {
    signin: String,
    next: String,
    reason: Option<&'static str>,
    error: Option<String>,
    okta: bool,
}

/// Only a console path is a place to come back to (never another site).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with(ROOT) && !n.starts_with("//") && !n.contains('\\') => {
            n.to_string()
        }
        _ => ROOT.to_string(),
    }
}

pub async fn page(
    q: web::Query<SigninQuery>,
    okta: web::Data<crate::okta::Okta>,
) -> Result<HttpResponse, ConsoleError> {
    let reason = match q.reason.as_deref() {
        Some("idle") => Some("You were signed out after a period without activity."),
        Some("expired") => Some("Your session reached its maximum length; sign in again."),
        Some("signed_out") => Some("Your session has ended."),
        Some("okta") => Some("Okta sign-in did not complete."),
        _ => None,
    };
    render(
        &okta,
        safe_next(q.next.as_deref()),
        reason,
        q.error.clone(),
        actix_web::http::StatusCode::OK,
    )
    .await
}

async fn render(
    okta: &crate::okta::Okta,
    next: String,
    reason: Option<&'static str>,
    error: Option<String>,
    status: actix_web::http::StatusCode,
) -> Result<HttpResponse, ConsoleError> {
    let signin = crate::auth::sessions::random();
    let t = SigninPage {
        signin: signin.clone(),
        next,
        reason,
        error,
        okta: okta.signin_available().await.unwrap_or(false),
    };
    let mut res = page::html_status(status, &t)?;
    let cookie = Cookie::build(SIGNIN_COOKIE, signin)
        .path(ROOT)
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(CookieAge::minutes(30))
        .finish();
    res.add_cookie(&cookie)
        .map_err(|e| ConsoleError::internal(format!("cookie: {e}")))?;
    Ok(res)
}

#[derive(Deserialize)]
pub struct SigninForm {
    token: String,
    next: Option<String>,
}

pub async fn submit(
    form: web::Form<SigninForm>,
    authn: web::Data<Authenticator>,
    okta: web::Data<crate::okta::Okta>,
    sessions: web::Data<Sessions>,
    settings: web::Data<Settings>,
) -> Result<HttpResponse, ConsoleError> {
    let form = form.into_inner();
    let next = safe_next(form.next.as_deref());
    let token = form.token.trim().to_string();
    let refused = |m: &str| m.to_string();
    let principal = if crate::auth::tokens::looks_like_token(&token) {
        authn.check_token(token, Scope::Read).await
    } else {
        Err(AuthError::Malformed)
    };
    let principal = match principal {
        Ok(p) => p,
        Err(e) => {
            let message = match e {
                AuthError::Malformed => refused("That is not a bridge token: tokens start with zqb_ and are 47 characters long. Paste the whole token."),
                AuthError::Invalid | AuthError::Missing => refused("This token is unknown or was revoked. Ask an admin for a valid admin or read token."),
                AuthError::WrongScope { .. } => refused("This is a SCIM token (for Okta). The console needs an admin or read token."),
                AuthError::Unavailable => refused("The token could not be checked right now; try again."),
            };
            return render(
                &okta,
                next,
                None,
                Some(message),
                actix_web::http::StatusCode::UNAUTHORIZED,
            )
            .await;
        }
    };
    let id = sessions
        .open(&principal.name, principal.scope, Via::Token)
        .await?;
    let cookie = session_cookie(&settings, id);
    let mut res = page::see_other(&next);
    res.add_cookie(&cookie)
        .map_err(|e| ConsoleError::internal(format!("cookie: {e}")))?;
    res.add_removal_cookie(&Cookie::build(SIGNIN_COOKIE, "").path(ROOT).finish())
        .map_err(|e| ConsoleError::internal(format!("cookie: {e}")))?;
    Ok(res)
}

/// The session cookie of a session just opened.
pub fn session_cookie(settings: &Settings, id: String) -> Cookie<'static> {
    Cookie::build(settings.cookie, id)
        .path("/")
        .http_only(true)
        .secure(settings.secure)
        .same_site(SameSite::Strict)
        .finish()
}

pub async fn signout(
    who: Viewer,
    sessions: web::Data<Sessions>,
    settings: web::Data<Settings>,
) -> Result<HttpResponse, ConsoleError> {
    sessions.close(who.0).await?;
    let mut res = page::see_other(&format!("{ROOT}/signin?reason=signed_out"));
    res.add_removal_cookie(
        &Cookie::build(settings.cookie, "")
            .path("/")
            .secure(settings.secure)
            .finish(),
    )
    .map_err(|e| ConsoleError::internal(format!("cookie: {e}")))?;
    Ok(res)
}

#[cfg(test)]
mod tests {
    #[test]
    fn next_stays_in_the_console() {
        assert_eq!(
            super::safe_next(Some("/console/audit?x=1")),
            "/console/audit?x=1"
        );
        assert_eq!(super::safe_next(Some("https://evil.example/")), "/console");
        assert_eq!(super::safe_next(Some("//evil.example/console")), "/console");
        assert_eq!(super::safe_next(None), "/console");
    }
}
