//! The console's error: an HTML page that says what happened and what to do. A service's
//! error is judged as the REST API judges it (`AdminError`'s status and words), so the
//! console and the API refuse the same things for the same reasons.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::admin::AdminError;
use crate::auth::sessions::Closed;

#[derive(Debug)]
pub enum ConsoleError {
    /// No open session: go and sign in (and come back to `next`).
    SignIn {
        reason: Option<Closed>,
        next: Option<String>,
    },
    /// A `read` session asked for a change.
    ReadOnly,
    /// A form without this session's CSRF token.
    Csrf,
    /// Any other refusal, in the REST API's terms.
    Api(AdminError),
}

impl ConsoleError {
    pub fn not_found(m: &str) -> ConsoleError {
        ConsoleError::Api(AdminError::NotFound(m.into()))
    }
    pub fn bad_request(m: &str) -> ConsoleError {
        ConsoleError::Api(AdminError::BadRequest(m.into()))
    }
    pub fn unavailable(m: &str) -> ConsoleError {
        ConsoleError::Api(AdminError::Unavailable(m.into()))
    }
    pub fn internal(m: impl std::fmt::Display) -> ConsoleError {
        ConsoleError::Api(AdminError::Internal(m.to_string()))
    }

    /// The words a person reads.
    pub fn message(&self) -> String {
        match self {
            ConsoleError::SignIn { .. } => "Sign in to continue.".into(),
            ConsoleError::ReadOnly => "You are signed in with read-only access: you can see everything but change nothing. Sign in with an admin token, or as a member of the console's Okta admin group, to make this change.".into(),
            ConsoleError::Csrf => "This form expired or did not come from this console (its security token does not match your session). Go back, reload the page and send it again.".into(),
            ConsoleError::Api(AdminError::Internal(cause)) => {
                tracing::error!(cause = %cause, "console request failed");
                "The bridge failed to do this; the cause has been logged. Try again, and tell your operator if it keeps failing.".into()
            }
            ConsoleError::Api(e) => e.to_string(),
        }
    }
}

impl std::fmt::Display for ConsoleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConsoleError::Api(e) => e.fmt(f),
            other => f.write_str(match other {
                ConsoleError::SignIn { .. } => "not signed in",
                ConsoleError::ReadOnly => "read-only session",
                _ => "CSRF token mismatch",
            }),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConsoleError::SignIn { .. } => StatusCode::SEE_OTHER,
            ConsoleError::ReadOnly | ConsoleError::Csrf => StatusCode::FORBIDDEN,
            ConsoleError::Api(e) => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ConsoleError::SignIn { reason, next } = self {
            let mut to = format!("{}/signin", super::ROOT);
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            if let Some(r) = reason {
                query.append_pair(
                    "reason",
                    match r {
                        Closed::Idle => "idle",
                        Closed::Expired => "expired",
                        Closed::Unknown => "signed_out",
                    },
                );
            }
            if let Some(n) = next {
                query.append_pair("next", n);
            }
            let q = query.finish();
            if !q.is_empty() {
                to = format!("{to}?{q}");
            }
            return super::page::see_other(&to);
        }
        let title = match self.status_code().as_u16() {
            403 => "Not allowed",
            404 => "Not found",
            409 => "Not now",
            s if s >= 500 => "Something failed",
            _ => "That did not work",
        };
        let message = self.message();
        let body = ErrorPage {
            title,
            message: &message,
        }
        .render()
        .unwrap_or_else(|_| message.clone());
        HttpResponse::build(self.status_code())
            .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
            .body(body)
    }
}

macro_rules! through_admin_error {
    ($($t:ty),*) => {$(
        impl From<$t> for ConsoleError {
            fn from(e: $t) -> Self {
                ConsoleError::Api(AdminError::from(e))
            }
        }
    )*};
}

through_admin_error!(
    crate::store::StoreError,
    crate::sync::SyncError,
    crate::okta::OktaError,
    crate::auth::TokenError,
    crate::auth::AuthError,
    crate::mappings::MappingError,
    crate::initial_sync::InitialSyncError
);

impl From<AdminError> for ConsoleError {
    fn from(e: AdminError) -> Self {
        ConsoleError::Api(e)
    }
}

impl From<askama::Error> for ConsoleError {
    fn from(e: askama::Error) -> Self {
        ConsoleError::internal(format!("template: {e}"))
    }
}
