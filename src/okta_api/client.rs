//! The Okta HTTP client (see `mod.rs`). One instance per org URL; cheap to clone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::{ErrorCode, OAuthErrorKind, OktaApiError};
use super::governor::{family_of, Governor, RateLimit};
use super::model::{Page, TokenResponse};
use super::paging::next_link;
use crate::config::Secret;

/// How often one call is sent again after a `429` (each time after the window's reset).
const RATE_LIMIT_ATTEMPTS: u32 = 4;
/// Waiting for a reset never takes longer than this (a clock far off, a bogus header).
const MAX_RESET_WAIT: Duration = Duration::from_secs(120);
/// The reset is in whole seconds; a little more makes sure the new window has begun.
const RESET_MARGIN: Duration = Duration::from_millis(50);

#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// The normalised org URL (`https://acme.okta.com`, no trailing slash).
    pub org_url: String,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

/// The OIDC web app's credentials (client authentication `client_secret_basic`).
#[derive(Clone)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: Secret,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .finish()
    }
}

/// One finished call, as the listener sees it (no token, no query string).
#[derive(Debug, Clone, Copy)]
pub struct CallReport<'a> {
    pub method: &'a str,
    /// The path template (`/api/v1/groups/{id}/users`): the metric's label.
    pub endpoint: &'a str,
    pub path: &'a str,
    pub status: Option<u16>,
    /// `X-Okta-Request-Id`: what Okta support asks for.
    pub request_id: Option<&'a str>,
    pub rate_limit: Option<RateLimit>,
    pub error: Option<&'a OktaApiError>,
    pub duration: Duration,
    /// Who asked (an admin's token name), `None` for the bridge itself.
    pub actor: Option<&'a str>,
}

/// Told about every call before it returns to its caller. Implemented by the Okta service.
pub trait CallListener: Send + Sync {
    fn on_call<'a>(&'a self, report: CallReport<'a>) -> BoxFuture<'a, ()>;
}

#[derive(Clone)]
pub struct OktaClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    org: Url,
    org_url: String,
    governor: Governor,
    listener: Option<Arc<dyn CallListener>>,
}

impl std::fmt::Debug for OktaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OktaClient")
            .field("org_url", &self.inner.org_url)
            .finish()
    }
}

/// An answer as read: status, headers, body text.
pub(super) struct Answer {
    pub(super) headers: HeaderMap,
    pub(super) body: String,
}

/// What a request sends.
pub(super) enum Body<'a> {
    None,
    Form(&'a [(&'a str, &'a str)]),
    Json(&'a Value),
}

impl OktaClient {
    pub fn new(
        settings: &ClientSettings,
        listener: Option<Arc<dyn CallListener>>,
    ) -> Result<OktaClient, OktaApiError> {
        crate::install_crypto_provider();
        let org_url = settings.org_url.trim_end_matches('/').to_string();
        let org =
            Url::parse(&format!("{org_url}/")).map_err(|e| OktaApiError::BadUrl(e.to_string()))?;
        if !matches!(org.scheme(), "http" | "https") || org.host().is_none() {
            return Err(OktaApiError::BadUrl(org_url));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.request_timeout)
            // A `next` link or a redirect must never carry the bearer token elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("zenqms-bridge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| OktaApiError::Unexpected(e.to_string()))?;
        Ok(OktaClient {
            inner: Arc::new(Inner {
                http,
                org,
                org_url,
                governor: Governor::new(),
                listener,
            }),
        })
    }

    /// The org URL, without a trailing slash (the id_token's expected `iss`).
    pub fn org_url(&self) -> &str {
        &self.inner.org_url
    }

    pub(super) fn url(&self, path: &str) -> Result<Url, OktaApiError> {
        self.inner
            .org
            .join(path.trim_start_matches('/'))
            .map_err(|e| OktaApiError::BadUrl(e.to_string()))
    }

    /// `GET /oauth2/v1/authorize?…` with these query parameters (the browser goes there).
    pub fn authorize_url(&self, params: &[(&str, &str)]) -> Result<String, OktaApiError> {
        let mut url = self.url("/oauth2/v1/authorize")?;
        url.query_pairs_mut().extend_pairs(params);
        Ok(url.to_string())
    }

    /// `grant_type=authorization_code` with the PKCE verifier.
    pub async fn exchange_code(
        &self,
        client: &ClientCredentials,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
        actor: Option<&str>,
    ) -> Result<TokenResponse, OktaApiError> {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", code_verifier),
        ];
        self.token_call(client, &form, actor).await
    }

    /// `grant_type=refresh_token`.
    pub async fn refresh(
        &self,
        client: &ClientCredentials,
        refresh_token: &Secret,
    ) -> Result<TokenResponse, OktaApiError> {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose()),
        ];
        self.token_call(client, &form, None).await
    }

    async fn token_call(
        &self,
        client: &ClientCredentials,
        form: &[(&str, &str)],
        actor: Option<&str>,
    ) -> Result<TokenResponse, OktaApiError> {
        let url = self.url("/oauth2/v1/token")?;
        let auth = basic(client)?;
        let answer = self
            .call(Method::POST, url, Some(&auth), Body::Form(form), actor)
            .await?;
        serde_json::from_str(&answer.body)
            .map_err(|e| OktaApiError::Unexpected(format!("token answer: {e}")))
    }

    /// `POST /oauth2/v1/revoke` for a refresh token (`200` also for an unknown one).
    pub async fn revoke(
        &self,
        client: &ClientCredentials,
        refresh_token: &Secret,
        actor: Option<&str>,
    ) -> Result<(), OktaApiError> {
        let url = self.url("/oauth2/v1/revoke")?;
        let auth = basic(client)?;
        let form = [
            ("token", refresh_token.expose()),
            ("token_type_hint", "refresh_token"),
        ];
        self.call(Method::POST, url, Some(&auth), Body::Form(&form), actor)
            .await
            .map(|_| ())
    }

    /// `GET /oauth2/v1/keys`: the JWKS that signs id_tokens.
    pub async fn jwks(&self) -> Result<jsonwebtoken::jwk::JwkSet, OktaApiError> {
        let url = self.url("/oauth2/v1/keys")?;
        let answer = self.call(Method::GET, url, None, Body::None, None).await?;
        serde_json::from_str(&answer.body)
            .map_err(|e| OktaApiError::Unexpected(format!("JWKS: {e}")))
    }

    /// The first page of `path` (`/api/v1/users`) with `query`.
    pub async fn first_page<T: DeserializeOwned>(
        &self,
        access_token: &Secret,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Page<T>, OktaApiError> {
        let mut url = self.url(path)?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        self.page(access_token, url).await
    }

    /// One object (`/api/v1/groups/{id}`).
    pub async fn get_one<T: DeserializeOwned>(
        &self,
        access_token: &Secret,
        path: &str,
    ) -> Result<T, OktaApiError> {
        let url = self.url(path)?;
        let auth = bearer(access_token)?;
        let answer = self
            .call(Method::GET, url, Some(&auth), Body::None, None)
            .await?;
        serde_json::from_str(&answer.body)
            .map_err(|e| OktaApiError::Unexpected(format!("an object: {e}")))
    }

    /// The page a `rel="next"` link names, followed verbatim — but only on the org itself:
    /// the bearer token goes nowhere else.
    pub async fn next_page<T: DeserializeOwned>(
        &self,
        access_token: &Secret,
        next: &str,
    ) -> Result<Page<T>, OktaApiError> {
        let url =
            Url::parse(next).map_err(|e| OktaApiError::Unexpected(format!("next link: {e}")))?;
        if url.origin() != self.inner.org.origin() {
            return Err(OktaApiError::Unexpected(format!(
                "a next link points outside the org ({})",
                url.origin().ascii_serialization()
            )));
        }
        self.page(access_token, url).await
    }

    async fn page<T: DeserializeOwned>(
        &self,
        access_token: &Secret,
        url: Url,
    ) -> Result<Page<T>, OktaApiError> {
        let auth = bearer(access_token)?;
        let answer = self
            .call(Method::GET, url, Some(&auth), Body::None, None)
            .await?;
        let items: Vec<T> = serde_json::from_str(&answer.body)
            .map_err(|e| OktaApiError::Unexpected(format!("a list page: {e}")))?;
        Ok(Page {
            items,
            next: next_link(&answer.headers),
        })
    }

    /// One call through the governor: waits as the rate-limit headers say, sends, reads the
    /// headers, waits for the reset and sends again after a `429`, reports to the listener.
    pub(super) async fn call(
        &self,
        method: Method,
        url: Url,
        auth: Option<&HeaderValue>,
        body: Body<'_>,
        actor: Option<&str>,
    ) -> Result<Answer, OktaApiError> {
        let path = url.path().to_string();
        let family = family_of(&path);
        let endpoint = template(&path);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let wait = self
                .inner
                .governor
                .delay(family, chrono::Utc::now().timestamp_millis());
            if !wait.is_zero() {
                tracing::debug!(
                    family,
                    wait_ms = wait.as_millis() as u64,
                    "pacing Okta calls by X-Rate-Limit-Remaining"
                );
                tokio::time::sleep(wait.min(MAX_RESET_WAIT)).await;
            }
            let mut req = self.inner.http.request(method.clone(), url.clone());
            if let Some(auth) = auth {
                req = req.header(AUTHORIZATION, auth.clone());
            }
            req = req.header(reqwest::header::ACCEPT, "application/json");
            match &body {
                Body::None => {}
                Body::Form(form) => req = req.form(form),
                Body::Json(json) => req = req.json(json),
            }
            let started = Instant::now();
            let sent = req.send().await;
            let (result, status, headers) = match sent {
                Err(e) => {
                    let err = if e.is_timeout() {
                        OktaApiError::Timeout
                    } else {
                        OktaApiError::Unreachable(without_url(&e))
                    };
                    (Err(err), None, HeaderMap::new())
                }
                Ok(res) => {
                    let status = res.status();
                    let headers = res.headers().clone();
                    match res.text().await {
                        Err(e) if e.is_timeout() => {
                            (Err(OktaApiError::Timeout), Some(status), headers)
                        }
                        Err(e) => (
                            Err(OktaApiError::Unreachable(without_url(&e))),
                            Some(status),
                            headers,
                        ),
                        Ok(body) => (classify(status, &headers, body), Some(status), headers),
                    }
                }
            };
            let duration = started.elapsed();
            let rate_limit = RateLimit::from_headers(&headers);
            if let Some(seen) = rate_limit {
                self.inner.governor.observe(family, seen);
            }
            let request_id = headers
                .get("x-okta-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let error = result.as_ref().err();
            match error {
                None => {
                    tracing::debug!(method = %method, endpoint, status = status.map(|s| s.as_u16()), okta_request_id = request_id.as_deref(), duration_ms = duration.as_millis() as u64, "Okta call")
                }
                Some(e) => {
                    tracing::warn!(method = %method, endpoint, status = status.map(|s| s.as_u16()), okta_request_id = request_id.as_deref(), error = %e, "Okta call failed")
                }
            }
            if let Some(listener) = &self.inner.listener {
                listener
                    .on_call(CallReport {
                        method: method.as_str(),
                        endpoint: &endpoint,
                        path: &path,
                        status: status.map(|s| s.as_u16()),
                        request_id: request_id.as_deref(),
                        rate_limit,
                        error,
                        duration,
                        actor,
                    })
                    .await;
            }
            let limited = status == Some(StatusCode::TOO_MANY_REQUESTS);
            if limited {
                // E0000047: nothing is left until the window resets; wait for it and send again.
                let reset = rate_limit
                    .map(|r| r.reset)
                    .unwrap_or_else(|| chrono::Utc::now().timestamp() + 1);
                let limit = rate_limit.map(|r| r.limit).unwrap_or(1);
                self.inner.governor.exhausted(family, reset, limit);
                if attempt >= RATE_LIMIT_ATTEMPTS {
                    return Err(OktaApiError::RateLimited);
                }
                let now_ms = chrono::Utc::now().timestamp_millis();
                let until =
                    Duration::from_millis((reset.saturating_mul(1000) - now_ms).max(0) as u64);
                tracing::info!(
                    family,
                    wait_ms = until.as_millis() as u64,
                    okta_request_id = request_id.as_deref(),
                    "Okta answered 429 (E0000047): waiting until X-Rate-Limit-Reset"
                );
                tokio::time::sleep(until.min(MAX_RESET_WAIT) + RESET_MARGIN).await;
                continue;
            }
            return result.map(|body| Answer { headers, body });
        }
    }
}

/// A 2xx answer's body, or the typed error of any other.
fn classify(status: StatusCode, headers: &HeaderMap, body: String) -> Result<String, OktaApiError> {
    if status.is_success() {
        return Ok(body);
    }
    let code = status.as_u16();
    // RFC 6750 §3: the bearer token's errors are in WWW-Authenticate.
    let challenge = headers
        .get(WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if code == 401 && challenge.contains("invalid_token") {
        return Err(OktaApiError::InvalidToken);
    }
    if code == 403 && challenge.contains("insufficient_scope") {
        let scope = challenge
            .split("scope=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .map(str::to_string);
        return Err(OktaApiError::InsufficientScope(scope));
    }
    let json: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    if let Some(error_code) = json.get("errorCode").and_then(Value::as_str) {
        let code_kind = ErrorCode::parse(error_code);
        if code_kind == ErrorCode::InvalidToken {
            return Err(OktaApiError::InvalidToken);
        }
        let mut summary = json
            .get("errorSummary")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        // A validation error's summary names the field; its causes say what is wrong (a
        // failed event hook verification says why there).
        let causes: Vec<&str> = json
            .get("errorCauses")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|c| c.get("errorSummary").and_then(Value::as_str))
                    .collect()
            })
            .unwrap_or_default();
        if !causes.is_empty() {
            summary = format!("{summary} ({})", causes.join("; "));
        }
        return Err(OktaApiError::Api {
            status: code,
            code: code_kind,
            summary,
        });
    }
    if let Some(error) = json.get("error").and_then(Value::as_str) {
        return Err(OktaApiError::OAuth {
            status: code,
            kind: OAuthErrorKind::parse(error),
            description: json
                .get("error_description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        });
    }
    Err(OktaApiError::Unexpected(format!(
        "HTTP {code} without an Okta error body"
    )))
}

/// The metric label of a path: ids replaced by `{id}`.
fn template(path: &str) -> String {
    let mut out = Vec::new();
    let mut after_collection = false;
    for seg in path.split('/') {
        if after_collection && !seg.is_empty() {
            out.push("{id}");
            after_collection = false;
            continue;
        }
        after_collection =
            matches!(seg, "users" | "groups" | "eventHooks") && out.last() != Some(&"{id}");
        out.push(seg);
    }
    out.join("/")
}

pub(super) fn bearer(token: &Secret) -> Result<HeaderValue, OktaApiError> {
    let mut v = HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
        OktaApiError::Unexpected("the access token is not a valid header value".into())
    })?;
    v.set_sensitive(true);
    Ok(v)
}

fn basic(client: &ClientCredentials) -> Result<HeaderValue, OktaApiError> {
    use base64::Engine;
    // RFC 6749 §2.3.1: id and secret are form-urlencoded before they are joined.
    let enc = |s: &str| url_encode(s);
    let raw = format!(
        "{}:{}",
        enc(&client.client_id),
        enc(client.client_secret.expose())
    );
    let mut v = HeaderValue::from_str(&format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    ))
    .map_err(|_| {
        OktaApiError::Unexpected("the client credentials are not a valid header value".into())
    })?;
    v.set_sensitive(true);
    Ok(v)
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A reqwest error's text without its URL (which may carry a cursor, never a token — but a
/// short message is what the admin needs).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "");
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_hide_ids() {
        assert_eq!(template("/api/v1/users"), "/api/v1/users");
        assert_eq!(
            template("/api/v1/users/00u1/groups"),
            "/api/v1/users/{id}/groups"
        );
        assert_eq!(
            template("/api/v1/groups/00g1/users"),
            "/api/v1/groups/{id}/users"
        );
        assert_eq!(template("/oauth2/v1/token"), "/oauth2/v1/token");
    }

    #[test]
    fn errors_are_typed_by_code() {
        let h = HeaderMap::new();
        let e = classify(
            StatusCode::NOT_FOUND,
            &h,
            r#"{"errorCode":"E0000007","errorSummary":"Not found: Resource not found: x (User)"}"#
                .into(),
        )
        .unwrap_err();
        assert!(matches!(
            e,
            OktaApiError::Api {
                code: ErrorCode::NotFound,
                status: 404,
                ..
            }
        ));
        let e = classify(
            StatusCode::BAD_REQUEST,
            &h,
            r#"{"error":"invalid_grant","error_description":"The refresh token is invalid or expired."}"#.into(),
        )
        .unwrap_err();
        assert!(matches!(
            e,
            OktaApiError::OAuth {
                kind: OAuthErrorKind::InvalidGrant,
                ..
            }
        ));
        let mut h401 = HeaderMap::new();
        h401.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer authorization_uri=\"x\", error=\"invalid_token\", error_description=\"The token has expired.\""));
        assert!(matches!(
            classify(StatusCode::UNAUTHORIZED, &h401, String::new()),
            Err(OktaApiError::InvalidToken)
        ));
        let mut h403 = HeaderMap::new();
        h403.insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(
                "Bearer error=\"insufficient_scope\", scope=\"okta.users.read\"",
            ),
        );
        assert!(matches!(
            classify(StatusCode::FORBIDDEN, &h403, String::new()),
            Err(OktaApiError::InsufficientScope(Some(s))) if s == "okta.users.read"
        ));
    }
}
