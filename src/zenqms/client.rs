//! The HTTP client of the ZenQMS public API: reqwest over rustls, connect and request
//! timeouts, typed errors, and a report of every call (endpoint, status, duration, error, what
//! it was about) to a [`CallListener`] — the sync engine's, which writes the audit entry and the
//! metric and tracks whether ZenQMS is reachable. The client itself knows no database. The
//! token is kept in a sensitive header value and never appears in `Debug`, logs or reports.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use reqwest::header::{HeaderValue, AUTHORIZATION, RETRY_AFTER};
use reqwest::Url;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::contract::{
    self, Endpoint, NewUser, Page, RemoteUser, Role, SearchFilters, UserPatch, ZenqmsId,
};
use super::error::ZenqmsError;
use crate::config::Secret;

/// Where and how to reach a tenant.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// `https://public-api.zenqms.com`, without a trailing slash.
    pub base_url: String,
    pub api_token: Secret,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

/// One finished call, as the listener sees it.
#[derive(Debug, Clone, Copy)]
pub struct CallReport<'a> {
    pub endpoint: Endpoint,
    /// The URL path called (no query string, no secret).
    pub path: &'a str,
    /// The ZenQMS user the call addressed, if any.
    pub zenqms_id: Option<&'a ZenqmsId>,
    /// The HTTP status, when an answer came.
    pub status: Option<u16>,
    pub error: Option<&'a ZenqmsError>,
    pub duration: Duration,
    /// What the caller said the call is about (directory user, actor, "before").
    pub ctx: CallCtx<'a>,
    pub request: Option<&'a Value>,
    /// The answer's JSON, when it was a success.
    pub response: Option<&'a Value>,
}

impl CallReport<'_> {
    /// A 2xx answer.
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Told about every call before the call returns to its caller (so a call's record exists
/// once its result is seen). Implemented by the sync engine.
pub trait CallListener: Send + Sync {
    fn on_call<'a>(&'a self, report: CallReport<'a>) -> BoxFuture<'a, ()>;
}

/// What a call is about, for the audit trail.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallCtx<'a> {
    /// The directory (SCIM) user the call is made for.
    pub scim_user_id: Option<&'a str>,
    /// The ZenQMS user as last seen before a change (the audit's "before").
    pub before: Option<&'a RemoteUser>,
    /// Who asked for the call, for the audit trail (an admin's token name); `system` when
    /// `None` (the reconciler, periodic refreshes).
    pub actor: Option<&'a str>,
}

#[derive(Clone)]
pub struct ZenqmsClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    authorization: HeaderValue,
    request_timeout: Duration,
    listener: Option<Arc<dyn CallListener>>,
}

impl std::fmt::Debug for ZenqmsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZenqmsClient")
            .field("base_url", &self.inner.base.as_str())
            .field("api_token", &"***")
            .finish()
    }
}

/// Why a client could not be built from its settings.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(
        "`base_url` must be an https:// URL without credentials, query or fragment, such as https://public-api.zenqms.com (http:// only for a loopback address: a simulator or a local proxy)"
    )]
    BadUrl,
    #[error("`api_token` must not be empty and must be printable ASCII")]
    BadToken,
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}

impl ZenqmsClient {
    pub fn new(
        settings: &ClientSettings,
        listener: Option<Arc<dyn CallListener>>,
    ) -> Result<ZenqmsClient, SettingsError> {
        crate::install_crypto_provider();
        let trimmed = settings.base_url.trim().trim_end_matches('/');
        let base = Url::parse(&format!("{trimmed}/")).map_err(|_| SettingsError::BadUrl)?;
        if !acceptable_base(&base) {
            return Err(SettingsError::BadUrl);
        }
        let token = settings.api_token.expose().trim();
        if token.is_empty() {
            return Err(SettingsError::BadToken);
        }
        let mut authorization = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| SettingsError::BadToken)?;
        authorization.set_sensitive(true);
        let http = reqwest::Client::builder()
            // The ZenQMS API never redirects; following one would send the token on to
            // wherever the answer points.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.request_timeout)
            .user_agent(concat!("zenqms-bridge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SettingsError::Http(e.to_string()))?;
        Ok(ZenqmsClient {
            inner: Arc::new(Inner {
                http,
                base,
                authorization,
                request_timeout: settings.request_timeout,
                listener,
            }),
        })
    }

    /// The base URL as configured (no trailing slash).
    pub fn base_url(&self) -> String {
        self.inner.base.as_str().trim_end_matches('/').to_string()
    }

    /// First page of users matching every filter (the bridge's filters match at most one).
    pub async fn search(
        &self,
        ctx: CallCtx<'_>,
        filters: &SearchFilters,
    ) -> Result<Vec<RemoteUser>, ZenqmsError> {
        Ok(self
            .search_page(ctx, filters, 1, contract::MAX_PAGE_SIZE)
            .await?
            .data)
    }

    /// One page (1-based) of the users matching every filter; with no filter, of every user
    /// (the drift sweep pages through the tenant this way). `total` says how many match.
    pub async fn search_page(
        &self,
        ctx: CallCtx<'_>,
        filters: &SearchFilters,
        page: u32,
        page_size: u32,
    ) -> Result<Page<RemoteUser>, ZenqmsError> {
        let body = contract::search_body(filters, page.max(1), page_size.max(1));
        self.exec(ctx, Endpoint::SearchUsers, None, &[], Some(body))
            .await
    }

    pub async fn create_user(
        &self,
        ctx: CallCtx<'_>,
        user: &NewUser,
    ) -> Result<RemoteUser, ZenqmsError> {
        let body = serde_json::to_value(user).unwrap_or(Value::Null);
        self.exec(ctx, Endpoint::CreateUser, None, &[], Some(body))
            .await
    }

    pub async fn update_user(
        &self,
        ctx: CallCtx<'_>,
        id: &ZenqmsId,
        patch: &UserPatch,
    ) -> Result<RemoteUser, ZenqmsError> {
        let body = serde_json::to_value(patch).unwrap_or(Value::Null);
        self.exec(ctx, Endpoint::UpdateUser, Some(id), &[], Some(body))
            .await
    }

    /// `PATCH /v2/users/{id}` with `{"external_id": null}`: unlinks a ZenQMS user from its
    /// Okta account (what ZenQMS does when its own integration is removed). `UserPatch`
    /// cannot say `null` (an absent field leaves ZenQMS's value), hence its own call.
    pub async fn clear_external_id(
        &self,
        ctx: CallCtx<'_>,
        id: &ZenqmsId,
    ) -> Result<RemoteUser, ZenqmsError> {
        let body = serde_json::json!({"external_id": null});
        self.exec(ctx, Endpoint::UpdateUser, Some(id), &[], Some(body))
            .await
    }

    pub async fn add_roles(
        &self,
        ctx: CallCtx<'_>,
        id: &ZenqmsId,
        role_ids: &[ZenqmsId],
    ) -> Result<RemoteUser, ZenqmsError> {
        let body = contract::role_ids_body(role_ids);
        self.exec(ctx, Endpoint::AddRoles, Some(id), &[], Some(body))
            .await
    }

    pub async fn remove_roles(
        &self,
        ctx: CallCtx<'_>,
        id: &ZenqmsId,
        role_ids: &[ZenqmsId],
    ) -> Result<RemoteUser, ZenqmsError> {
        let body = contract::role_ids_body(role_ids);
        self.exec(ctx, Endpoint::RemoveRoles, Some(id), &[], Some(body))
            .await
    }

    /// One page of roles; `total` says whether there are more.
    pub async fn list_roles(
        &self,
        ctx: CallCtx<'_>,
        page: u32,
        page_size: u32,
    ) -> Result<Page<Role>, ZenqmsError> {
        let query = contract::roles_query(page.max(1), page_size.max(1));
        self.exec(ctx, Endpoint::ListRoles, None, &query, None)
            .await
    }

    /// Sends one call, maps the answer, and reports it.
    async fn exec<T: DeserializeOwned>(
        &self,
        ctx: CallCtx<'_>,
        endpoint: Endpoint,
        id: Option<&ZenqmsId>,
        query: &[(&str, String)],
        body: Option<Value>,
    ) -> Result<T, ZenqmsError> {
        let started = Instant::now();
        let mut url = self.inner.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty();
            for s in endpoint.segments(id) {
                segments.push(&s);
            }
        }
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let mut req = self
            .inner
            .http
            .request(endpoint.method(), url.clone())
            .header(AUTHORIZATION, self.inner.authorization.clone());
        if let Some(b) = &body {
            req = req.json(b);
        }
        let answer = self.send(req, endpoint, id).await;
        let (status, result): (Option<u16>, Result<(Value, T), ZenqmsError>) = match answer {
            Ok((status, value)) => {
                let parsed = serde_json::from_value::<T>(value.clone())
                    .map(|t| (value, t))
                    .map_err(|e| ZenqmsError::Unexpected {
                        status,
                        message: format!("the answer does not have the expected shape: {e}"),
                    });
                (Some(status), parsed)
            }
            Err(e) => (e.status(), Err(e)),
        };
        let duration = started.elapsed();
        let (response, error) = match &result {
            Ok((value, _)) => (Some(value), None),
            Err(e) => (None, Some(e)),
        };
        self.report(CallReport {
            endpoint,
            path: url.path(),
            zenqms_id: id,
            status,
            error,
            duration,
            ctx,
            request: body.as_ref(),
            response,
        })
        .await;
        result.map(|(_, t)| t)
    }

    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        endpoint: Endpoint,
        id: Option<&ZenqmsId>,
    ) -> Result<(u16, Value), ZenqmsError> {
        let res = req.send().await.map_err(|e| self.transport_error(&e))?;
        let status = res.status().as_u16();
        let retry_after = res
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = res.text().await.map_err(|e| self.transport_error(&e))?;
        if (200..300).contains(&status) {
            let value = if text.trim().is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).map_err(|e| ZenqmsError::Unexpected {
                    status,
                    message: format!("the answer is not JSON: {e}"),
                })?
            };
            return Ok((status, value));
        }
        Err(error_from(
            endpoint,
            id,
            status,
            retry_after.as_deref(),
            &text,
        ))
    }

    fn transport_error(&self, e: &reqwest::Error) -> ZenqmsError {
        if e.is_timeout() {
            ZenqmsError::Timeout(self.inner.request_timeout)
        } else {
            // The cause chain names the real problem (refused, DNS, TLS); the URL it
            // contains carries no secret.
            let mut message = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                message.push_str(": ");
                message.push_str(&s.to_string());
                source = s.source();
            }
            ZenqmsError::Network(message)
        }
    }

    async fn report(&self, call: CallReport<'_>) {
        let ms = call.duration.as_millis() as u64;
        match call.error {
            None => tracing::debug!(
                endpoint = call.endpoint.label(),
                status = call.status,
                ms,
                "zenqms call"
            ),
            Some(e) => {
                tracing::info!(endpoint = call.endpoint.label(), status = call.status, ms, error = %e, "zenqms call failed")
            }
        }
        if let Some(l) = &self.inner.listener {
            l.on_call(call).await;
        }
    }
}

/// A base URL the token may be sent to: `https://`, or `http://` on a loopback address only
/// (the simulator, a local TLS-terminating proxy) — a token never crosses a network in clear;
/// no credentials, query or fragment (they would be stored and shown with the URL).
pub fn acceptable_base(base: &Url) -> bool {
    let host = base.host_str().unwrap_or("");
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    let scheme_ok = base.scheme() == "https" || (base.scheme() == "http" && loopback);
    scheme_ok
        && base.host().is_some()
        && !base.cannot_be_a_base()
        && base.username().is_empty()
        && base.password().is_none()
        && base.query().is_none()
        && base.fragment().is_none()
}

/// The spec's error table, status first, then the body's `code`.
fn error_from(
    endpoint: Endpoint,
    id: Option<&ZenqmsId>,
    status: u16,
    retry_after: Option<&str>,
    text: &str,
) -> ZenqmsError {
    let body: contract::ErrorBody = serde_json::from_str(text).unwrap_or_default();
    let err = body.error;
    // Only the API's own error message, and only so much of it: an answer that is not a
    // ZenQMS error body is never echoed (a base URL pointed at an internal service must not
    // turn the admin API into a way to read that service).
    let message = match &err.message {
        Some(m) => m.chars().take(200).collect::<String>().trim().to_string(),
        None => format!(
            "HTTP {status} without a ZenQMS error body ({} bytes not shown)",
            text.len()
        ),
    };
    match status {
        429 => ZenqmsError::RateLimited {
            retry_after: contract::parse_retry_after(retry_after),
        },
        401 | 403 => ZenqmsError::Auth { status, message },
        400 => ZenqmsError::BadRequest(message),
        404 if endpoint.addresses_a_user() => match id {
            Some(id) => ZenqmsError::NotFound(id.clone()),
            None => ZenqmsError::Unexpected { status, message },
        },
        409 => ZenqmsError::Conflict {
            code: err.code.clone().unwrap_or_else(|| "conflict".into()),
            user_id: err.conflicting_user(),
            message,
        },
        422 if err.code.as_deref() == Some(contract::CODE_UNKNOWN_ROLE) => {
            ZenqmsError::UnknownRole {
                role_ids: err.role_ids(),
            }
        }
        422 => ZenqmsError::Validation {
            fields: err.fields(),
            message,
        },
        408 | 500..=599 => ZenqmsError::Server { status, message },
        _ => ZenqmsError::Unexpected { status, message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zenqms::ErrorClass;

    #[test]
    fn the_error_table() {
        let e = error_from(Endpoint::CreateUser, None, 429, Some("2"), "");
        assert!(
            matches!(e, ZenqmsError::RateLimited { retry_after } if retry_after == Duration::from_secs(2))
        );
        let e = error_from(
            Endpoint::CreateUser,
            None,
            409,
            None,
            r#"{"error":{"code":"email_taken","message":"taken","details":{"user_id":"u-7"}}}"#,
        );
        assert!(e.is_email_taken());
        assert!(
            matches!(&e, ZenqmsError::Conflict { user_id: Some(id), .. } if id.path_form() == "u-7")
        );
        let e = error_from(
            Endpoint::CreateUser,
            None,
            422,
            None,
            r#"{"error":{"code":"validation_failed","message":"bad","details":{"fields":["title"]}}}"#,
        );
        assert!(matches!(&e, ZenqmsError::Validation { fields, .. } if fields == &["title"]));
        assert_eq!(e.class(), ErrorClass::Permanent);
        let id = ZenqmsId::from_json(&serde_json::json!(5)).unwrap();
        let e = error_from(Endpoint::UpdateUser, Some(&id), 404, None, "{}");
        assert!(matches!(e, ZenqmsError::NotFound(_)));
        // A 404 from search means a wrong base URL, never "no such user".
        let e = error_from(Endpoint::SearchUsers, None, 404, None, "<html>nope</html>");
        assert!(matches!(e, ZenqmsError::Unexpected { status: 404, .. }));
        assert_eq!(e.class(), ErrorClass::Retryable);
        let e = error_from(Endpoint::ListRoles, None, 503, None, "");
        assert_eq!(e.class(), ErrorClass::Retryable);
        let e = error_from(Endpoint::ListRoles, None, 401, None, "");
        assert!(matches!(e, ZenqmsError::Auth { status: 401, .. }));
    }

    #[test]
    fn debug_hides_the_token() {
        let c = ZenqmsClient::new(
            &ClientSettings {
                base_url: "https://example.invalid/".into(),
                api_token: Secret::new("zq-very-secret"),
                connect_timeout: Duration::from_secs(1),
                request_timeout: Duration::from_secs(1),
            },
            None,
        )
        .unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("zq-very-secret"), "{shown}");
        assert_eq!(c.base_url(), "https://example.invalid");
        let bad = ClientSettings {
            base_url: "ftp://x".into(),
            api_token: Secret::new("t"),
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(1),
        };
        assert!(matches!(
            ZenqmsClient::new(&bad, None),
            Err(SettingsError::BadUrl)
        ));
    }
}
