//! What every page shares: the signed-in person (as extractors), the frame around the page
//! (navigation, who is signed in, the CSRF token for its forms), and the answers.

use std::future::{ready, Ready};

use actix_web::http::header;
use actix_web::{dev::Payload, FromRequest, HttpMessage, HttpRequest, HttpResponse};
use askama::Template;

use super::error::ConsoleError;
use crate::auth::sessions::{Session, Via};
use crate::auth::Scope;

/// Anyone signed in (the guard resolved the session before the handler runs).
pub struct Viewer(pub Session);

/// Someone signed in with `admin` access (the guard checked it for every `POST` already;
/// this says it again where the handler is).
pub struct Editor(pub Session);

impl FromRequest for Viewer {
    type Error = ConsoleError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<Session>()
                .cloned()
                .map(Viewer)
                .ok_or(ConsoleError::SignIn {
                    reason: None,
                    next: None,
                }),
        )
    }
}

impl FromRequest for Editor {
    type Error = ConsoleError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let session = req.extensions().get::<Session>().cloned();
        ready(match session {
            None => Err(ConsoleError::SignIn {
                reason: None,
                next: None,
            }),
            Some(s) if s.scope.grants(Scope::Admin) => Ok(Editor(s)),
            Some(_) => Err(ConsoleError::ReadOnly),
        })
    }
}

impl Viewer {
    pub fn chrome(&self, section: &'static str) -> Chrome {
        Chrome::of(&self.0, section)
    }
}

impl Editor {
    pub fn chrome(&self, section: &'static str) -> Chrome {
        Chrome::of(&self.0, section)
    }
    /// The name console actions are audited under.
    pub fn actor(&self) -> &str {
        &self.0.principal
    }
}

/// The frame of a page: who is signed in, what they may do, the CSRF token, where they are.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub principal: String,
    pub access: &'static str,
    pub can_write: bool,
    pub via_okta: bool,
    pub csrf: String,
    pub section: &'static str,
}

impl Chrome {
    pub fn of(s: &Session, section: &'static str) -> Chrome {
        Chrome {
            principal: s.principal.clone(),
            access: if s.scope.grants(Scope::Admin) {
                "admin"
            } else {
                "read-only"
            },
            can_write: s.scope.grants(Scope::Admin),
            via_okta: s.via == Via::Okta,
            csrf: s.csrf.clone(),
            section,
        }
    }

    /// `aria-current` for the navigation link of `name`.
    pub fn current(&self, name: &str) -> &'static str {
        if self.section == name {
            "page"
        } else {
            "false"
        }
    }
}

/// A notice at the top of a page: what just happened, or why it did not.
#[derive(Debug, Clone, Default)]
pub struct Notice {
    pub ok: Option<String>,
    pub error: Option<String>,
}

impl Notice {
    pub fn ok(m: impl Into<String>) -> Notice {
        Notice {
            ok: Some(m.into()),
            error: None,
        }
    }
    pub fn error(e: &ConsoleError) -> Notice {
        Notice {
            ok: None,
            error: Some(e.message()),
        }
    }
}

/// A rendered page.
pub fn html(t: &impl Template) -> Result<HttpResponse, ConsoleError> {
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(t.render()?))
}

/// A rendered page with another status (a form sent back with what was wrong).
pub fn html_status(
    status: actix_web::http::StatusCode,
    t: &impl Template,
) -> Result<HttpResponse, ConsoleError> {
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(t.render()?))
}

/// `303 See Other` (after a form: the browser loads the page with a `GET`).
pub fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish()
}

/// Formats a count with thousands separators (`100,000`).
pub fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_are_grouped() {
        assert_eq!(super::count(0), "0");
        assert_eq!(super::count(999), "999");
        assert_eq!(super::count(100_000), "100,000");
        assert_eq!(super::count(1_234_567), "1,234,567");
    }
}
