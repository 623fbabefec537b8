//! The middleware around every console route.
//!
//! 1. Resolves the session cookie (`crate::auth::sessions`) and hands the session to the
//!    handler (request extensions); without one a page answers a redirect to sign-in that says
//!    why (signed out, idle, expired).
//! 2. A `POST` changes something, so it needs an `admin` session (a `read` session sees
//!    everything and changes nothing) — except the few that only look (`READ_ONLY_POSTS`) —
//!    and the session's CSRF token in the form's `csrf` field, checked here once for every
//!    form, before any handler runs. Sign-in has no session yet: its form carries a token
//!    that must equal a short-lived cookie (double submit), so no other site can sign a
//!    browser in to an account of its choosing.
//! 3. Every answer gets a strict Content-Security-Policy (scripts and styles from the console
//!    only, no inline script), no framing, no sniffing, no caching of pages.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, ResponseError};
use futures_util::StreamExt;

use super::error::ConsoleError;
use super::{Settings, ROOT};
use crate::auth::sessions::{self, ResumeError, Sessions};
use crate::auth::Scope;

/// The largest form the console accepts (a mapping form with many roles is a few KiB).
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// The cookie that carries sign-in's double-submit token.
pub const SIGNIN_COOKIE: &str = "zqb_signin";

/// Routes open without a session.
const PUBLIC: &[&str] = &["/signin", "/okta/signin"];
/// `POST`s that change nothing: a `read` session may send them (still with the CSRF token).
const READ_ONLY_POSTS: &[&str] = &["/signout", "/mappings/preview"];

/// The policy of every console answer; a page that posts a form elsewhere (the wizard's
/// "Authorize" goes on to Okta) widens `form-action` with [`csp_with_form_target`].
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// [`CSP`] with one more origin allowed as a form target (and its redirects).
pub fn csp_with_form_target(origin: &str) -> String {
    CSP.replace(
        "form-action 'self'",
        &format!("form-action 'self' {origin}"),
    )
}

pub async fn guard(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let route = req
        .path()
        .strip_prefix(ROOT)
        .unwrap_or(req.path())
        .to_string();
    let is_public = PUBLIC.contains(&route.as_str()) || route.starts_with("/assets/");
    let is_post = *req.method() == Method::POST;
    let checked = if is_public {
        if is_post && route == "/signin" {
            check_signin_form(&mut req).await
        } else {
            Ok(())
        }
    } else {
        admit(&mut req, &route, is_post).await
    };
    let res = match checked {
        Ok(()) => next.call(req).await?.map_into_boxed_body(),
        Err(e) => req.into_response(e.error_response()),
    };
    Ok(secured(res, route.starts_with("/assets/")))
}

/// Resolves the session, and for a `POST` checks its scope and CSRF token.
async fn admit(req: &mut ServiceRequest, route: &str, is_post: bool) -> Result<(), ConsoleError> {
    let (settings, sessions) = match (
        req.app_data::<web::Data<Settings>>().cloned(),
        req.app_data::<web::Data<Sessions>>().cloned(),
    ) {
        (Some(s), Some(p)) => (s, p),
        _ => {
            return Err(ConsoleError::unavailable(
                "The console is not set up in this process.",
            ))
        }
    };
    let Some(cookie) = req.cookie(settings.cookie) else {
        return Err(ConsoleError::SignIn {
            reason: None,
            next: next_of(req, is_post),
        });
    };
    let session = match sessions.resume(cookie.value().to_string()).await {
        Ok(s) => s,
        Err(ResumeError::Closed(why)) => {
            return Err(ConsoleError::SignIn {
                reason: Some(why),
                next: next_of(req, is_post),
            })
        }
        Err(ResumeError::Store(e)) => return Err(e.into()),
    };
    if is_post {
        if !session.scope.grants(Scope::Admin) && !READ_ONLY_POSTS.contains(&route) {
            return Err(ConsoleError::ReadOnly);
        }
        let form = read_form(req).await?;
        let submitted = field(&form, "csrf").unwrap_or_default();
        if !sessions::csrf_matches(&session, &submitted) {
            return Err(ConsoleError::Csrf);
        }
        req.set_payload(form.into());
    }
    req.extensions_mut().insert(session);
    Ok(())
}

/// Where to come back to after signing in: the page asked for (a `GET` only; a form posted
/// without a session is not replayed).
fn next_of(req: &ServiceRequest, is_post: bool) -> Option<String> {
    if is_post {
        return None;
    }
    let path = req.uri().path_and_query().map(|p| p.as_str().to_string())?;
    path.starts_with(ROOT).then_some(path)
}

/// The sign-in form's `signin` field must equal the [`SIGNIN_COOKIE`] the form page set.
async fn check_signin_form(req: &mut ServiceRequest) -> Result<(), ConsoleError> {
    let cookie = req.cookie(SIGNIN_COOKIE).map(|c| c.value().to_string());
    let form = read_form(req).await?;
    let submitted = field(&form, "signin");
    let ok = match (cookie, submitted) {
        (Some(c), Some(s)) => !c.is_empty() && c == s,
        _ => false,
    };
    if !ok {
        return Err(ConsoleError::Csrf);
    }
    req.set_payload(form.into());
    Ok(())
}

/// The whole form body, at most [`MAX_FORM_BYTES`].
async fn read_form(req: &mut ServiceRequest) -> Result<web::Bytes, ConsoleError> {
    let mut payload = req.take_payload();
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|_| ConsoleError::bad_request("The form could not be read; send it again."))?;
        if body.len() + chunk.len() > MAX_FORM_BYTES {
            return Err(ConsoleError::bad_request(
                "The form is larger than the console accepts (64 KiB).",
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The first value of `name` in a urlencoded form.
fn field(form: &[u8], name: &str) -> Option<String> {
    url::form_urlencoded::parse(form)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The security headers of every console answer (a page may have set its own policy).
fn secured(mut res: ServiceResponse<BoxBody>, cacheable: bool) -> ServiceResponse<BoxBody> {
    let headers = res.headers_mut();
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !cacheable {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_and_policy() {
        assert_eq!(
            field(b"a=1&csrf=x%2By&csrf=z", "csrf").as_deref(),
            Some("x+y")
        );
        assert_eq!(field(b"a=1", "csrf"), None);
        let widened = csp_with_form_target("https://acme.okta.com");
        assert!(widened.contains("form-action 'self' https://acme.okta.com;"));
        assert!(CSP.contains("frame-ancestors 'none'") && !CSP.contains("unsafe-inline"));
    }
}
