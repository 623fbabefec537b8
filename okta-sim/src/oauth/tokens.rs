//! Authorization codes, access tokens and refresh tokens, and the rules of the three
//! OAuth calls (RFC 6749, RFC 7636 PKCE, RFC 7009 revocation) as Okta's org
//! authorization server applies them. No HTTP here: `http.rs` parses and answers.
//!
//! Choices where Okta's documentation is silent:
//! - A code is spent by the first exchange attempt of its client, successful or not
//!   (a PKCE or `redirect_uri` mismatch needs a new authorization). Presenting a spent
//!   code again also revokes the tokens it produced (RFC 6749 §4.1.2).
//! - Revoking a refresh token revokes every refresh token rotated from the same
//!   authorization; access tokens already issued live on until they expire.
//! - Access tokens are opaque random strings (clients must not parse Okta's anyway).

use std::collections::{BTreeMap, HashMap, VecDeque};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::error::OAuthError;
use crate::ids::{fingerprint, random_token, secret_token};
use crate::oauth::clients::{AdminIdentity, Denial, OAuthClient, KNOWN_SCOPES};
use crate::oauth::keys::SigningKey;

/// The query of `GET /oauth2/v1/authorize`.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct AuthorizeParams {
    pub client_id: Option<String>,
    pub response_type: Option<String>,
    pub response_mode: Option<String>,
    pub scope: Option<String>,
    pub redirect_uri: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
}

/// The form of `POST /oauth2/v1/token` and `/revoke`.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct TokenForm {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub token: Option<String>,
    pub token_type_hint: Option<String>,
}

/// Where `/authorize` sends the browser: `redirect_uri` with `code` or `error`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Redirect(pub String);

/// What an API call's access token allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Grant {
    pub client_id: String,
    pub scopes: Vec<String>,
    pub fingerprint: String,
}

#[derive(Clone, Debug)]
struct Code {
    client_id: String,
    redirect_uri: String,
    scopes: Vec<String>,
    nonce: Option<String>,
    challenge: Option<String>,
    expires_at: DateTime<Utc>,
    used: bool,
    /// Tokens issued for this code (revoked when the code is presented again).
    issued: Vec<String>,
}

/// An issued token, as `/_sim/oauth/tokens` lists it (by fingerprint, never whole).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub fingerprint: String,
    /// `access` or `refresh`.
    pub kind: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
    /// Refresh tokens replaced by rotation: when (they work until the grace period ends).
    pub rotated_at: Option<DateTime<Utc>>,
    /// The authorization the token descends from (all rotations share it).
    pub family: String,
}

#[derive(Clone, Debug)]
struct Token {
    info: TokenInfo,
}

/// What `/_sim/oauth/expire` and `/_sim/oauth/revoke` act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    Access,
    Refresh,
    Code,
    All,
}

pub(crate) struct OAuthState {
    pub clients: BTreeMap<String, OAuthClient>,
    pub admin: AdminIdentity,
    denials: VecDeque<Denial>,
    codes: HashMap<String, Code>,
    access: HashMap<String, Token>,
    refresh: HashMap<String, Token>,
}

fn scopes_of(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in s.split_whitespace() {
        if !out.iter().any(|o| o == w) {
            out.push(w.to_owned());
        }
    }
    out
}

fn has(scopes: &[String], s: &str) -> bool {
    scopes.iter().any(|x| x == s)
}

/// `redirect_uri` plus query parameters (RFC 6749 §4.1.2: keep its own query).
fn with_query(uri: &str, params: &[(&str, &str)]) -> String {
    let encoded = serde_urlencoded::to_string(params).unwrap_or_default();
    let sep = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{sep}{encoded}")
}

/// RFC 7636 §4.6: BASE64URL(SHA256(ASCII(code_verifier))).
pub(crate) fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// RFC 7636 §4.1: 43 to 128 characters of [A-Z] [a-z] [0-9] - . _ ~
fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~'))
}

impl OAuthState {
    pub fn new(clients: Vec<OAuthClient>, admin: AdminIdentity) -> OAuthState {
        OAuthState {
            clients: clients
                .into_iter()
                .map(|c| (c.client_id.clone(), c))
                .collect(),
            admin,
            denials: VecDeque::new(),
            codes: HashMap::new(),
            access: HashMap::new(),
            refresh: HashMap::new(),
        }
    }

    pub fn deny_next(&mut self, denial: Denial, times: usize) {
        for _ in 0..times {
            self.denials.push_back(denial.clone());
        }
    }

    pub fn clear_denials(&mut self) {
        self.denials.clear();
    }

    pub fn pending_denials(&self) -> usize {
        self.denials.len()
    }

    // ---- /authorize ----

    /// `Ok(redirect)` — with a code or with an error the client can read — or `Err` when
    /// the browser must not be sent back (unknown client, unregistered `redirect_uri`).
    pub fn authorize(
        &mut self,
        p: &AuthorizeParams,
        now: DateTime<Utc>,
    ) -> Result<Redirect, OAuthError> {
        let client_id = p
            .client_id
            .as_deref()
            .ok_or_else(|| OAuthError::invalid_request("The 'client_id' parameter is required."))?;
        let client = self.clients.get(client_id).cloned().ok_or_else(|| {
            OAuthError::invalid_client(format!("The client {client_id} is not known."))
        })?;
        let redirect_uri = p.redirect_uri.as_deref().unwrap_or("");
        if !client.redirect_uris.iter().any(|u| u == redirect_uri) {
            return Err(OAuthError::invalid_request(
                "The 'redirect_uri' parameter must be a Login redirect URI in the client app settings.",
            ));
        }
        let state = p.state.as_deref().unwrap_or("");
        let error = |error: &str, description: &str| {
            let mut params = vec![("error", error), ("error_description", description)];
            if !state.is_empty() {
                params.push(("state", state));
            }
            Ok(Redirect(with_query(redirect_uri, &params)))
        };
        if p.response_type.as_deref() != Some("code") {
            return error(
                "unsupported_response_type",
                "The response type is not supported by the authorization server. Configured response types: [code].",
            );
        }
        if !matches!(p.response_mode.as_deref(), None | Some("query")) {
            return error(
                "invalid_request",
                "The simulator answers only with response_mode=query.",
            );
        }
        if !client.has_grant("authorization_code") {
            return error(
                "unauthorized_client",
                "The client is not authorized to use the provided grant type. Configured grant types: [refresh_token].",
            );
        }
        if let Some(d) = self.denials.pop_front() {
            let description =
                d.error_description
                    .clone()
                    .unwrap_or_else(|| match d.error.as_str() {
                        "access_denied" => "User is not assigned to the client application.".into(),
                        other => format!("The authorization server answered {other}."),
                    });
            return error(&d.error, &description);
        }
        let requested = scopes_of(p.scope.as_deref().unwrap_or(""));
        if !has(&requested, "openid") {
            return error(
                "invalid_scope",
                "The authentication request has an invalid 'scope' parameter: 'openid' is required.",
            );
        }
        if let Some(unknown) = requested
            .iter()
            .find(|s| !KNOWN_SCOPES.contains(&s.as_str()))
        {
            return error(
                "invalid_scope",
                &format!("One or more scopes are not configured for the authorization server resource: {unknown}."),
            );
        }
        let not_allowed: Vec<&String> = requested
            .iter()
            .filter(|s| !has(&client.allowed_scopes, s))
            .collect();
        if client.reject_unallowed_scopes && !not_allowed.is_empty() {
            let list: Vec<&str> = not_allowed.iter().map(|s| s.as_str()).collect();
            return error(
                "invalid_scope",
                &format!(
                    "The following scopes are not allowed: [{}]",
                    list.join(", ")
                ),
            );
        }
        let granted: Vec<String> = requested
            .iter()
            .filter(|s| has(&client.allowed_scopes, s))
            .cloned()
            .collect();
        let challenge =
            match (
                p.code_challenge.as_deref(),
                p.code_challenge_method.as_deref(),
            ) {
                (Some(c), Some("S256")) if !c.is_empty() => Some(c.to_owned()),
                (Some(_), Some(m)) => {
                    return error(
                        "invalid_request",
                        &format!("The code_challenge_method {m} is not supported; use S256."),
                    )
                }
                (Some(_), None) => return error(
                    "invalid_request",
                    "The code_challenge_method parameter is required with code_challenge (S256).",
                ),
                (None, _) if client.require_pkce => return error(
                    "invalid_request",
                    "PKCE code challenge is required by this client (code_challenge with S256).",
                ),
                (None, _) => None,
            };
        let code = secret_token();
        self.codes.insert(
            code.clone(),
            Code {
                client_id: client.client_id.clone(),
                redirect_uri: redirect_uri.to_owned(),
                scopes: granted,
                nonce: p.nonce.clone(),
                challenge,
                expires_at: now + TimeDelta::seconds(client.code_lifetime_s as i64),
                used: false,
                issued: Vec::new(),
            },
        );
        let mut params = vec![("code", code.as_str())];
        if !state.is_empty() {
            params.push(("state", state));
        }
        Ok(Redirect(with_query(redirect_uri, &params)))
    }

    // ---- client authentication ----

    /// HTTP Basic (RFC 6749 §2.3.1: id and secret form-urlencoded inside) or
    /// `client_secret_post`; both at once is `invalid_request`.
    pub fn authenticate(
        &self,
        authorization: Option<&str>,
        form: &TokenForm,
    ) -> Result<OAuthClient, OAuthError> {
        let basic = authorization.and_then(|h| {
            let (scheme, rest) = h.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("basic")
                .then(|| rest.trim().to_owned())
        });
        let (id, secret) = match (basic, &form.client_secret) {
            (Some(_), Some(_)) => {
                return Err(OAuthError::invalid_request(
                    "Cannot supply multiple client credentials. Use one of the following: credentials in the Authorization header, credentials in the post body, or a client_assertion in the post body.",
                ))
            }
            (Some(b64), None) => {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| OAuthError::invalid_client("The client credentials are not valid Basic credentials."))?;
                let (id, secret) = decoded.split_once(':').ok_or_else(|| {
                    OAuthError::invalid_client("The client credentials are not valid Basic credentials.")
                })?;
                let unescape = |s: &str| {
                    url::form_urlencoded::parse(format!("x={s}").as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default()
                };
                (unescape(id), unescape(secret))
            }
            (None, Some(secret)) => (form.client_id.clone().unwrap_or_default(), secret.clone()),
            (None, None) => {
                return Err(OAuthError::invalid_client(
                    "Client authentication failed. Either the client or the client credentials are invalid.",
                ))
            }
        };
        match self.clients.get(&id) {
            Some(c) if c.client_secret == secret => Ok(c.clone()),
            Some(_) => Err(OAuthError::invalid_client(
                "The client secret supplied for a confidential client is invalid.",
            )),
            None => Err(OAuthError::invalid_client(
                "Client authentication failed. Either the client or the client credentials are invalid.",
            )),
        }
    }

    // ---- /token ----

    pub fn token(
        &mut self,
        client: &OAuthClient,
        form: &TokenForm,
        org_url: &str,
        key: &SigningKey,
        now: DateTime<Utc>,
    ) -> Result<Value, OAuthError> {
        match form.grant_type.as_deref() {
            Some("authorization_code") => self.exchange_code(client, form, org_url, key, now),
            Some("refresh_token") => self.refresh(client, form, org_url, key, now),
            Some(other) => Err(OAuthError::unsupported_grant_type(format!(
                "The authorization grant type {other} is not supported by the authorization server."
            ))),
            None => Err(OAuthError::invalid_request(
                "The 'grant_type' parameter is required.",
            )),
        }
    }

    fn exchange_code(
        &mut self,
        client: &OAuthClient,
        form: &TokenForm,
        org_url: &str,
        key: &SigningKey,
        now: DateTime<Utc>,
    ) -> Result<Value, OAuthError> {
        if !client.has_grant("authorization_code") {
            return Err(OAuthError::unauthorized_client(
                "The client is not authorized to use the provided grant type.",
            ));
        }
        let code_text = form
            .code
            .as_deref()
            .ok_or_else(|| OAuthError::invalid_request("The 'code' parameter is required."))?;
        let bad_code =
            || OAuthError::invalid_grant("The authorization code is invalid or has expired.");
        let code = self.codes.get_mut(code_text).ok_or_else(bad_code)?;
        if code.client_id != client.client_id {
            return Err(bad_code());
        }
        if code.used {
            let issued = std::mem::take(&mut code.issued);
            for t in issued {
                self.revoke_token(&t);
            }
            return Err(bad_code());
        }
        code.used = true;
        if code.expires_at <= now {
            return Err(bad_code());
        }
        if form.redirect_uri.as_deref() != Some(code.redirect_uri.as_str()) {
            return Err(OAuthError::invalid_grant(
                "The 'redirect_uri' does not match the redirection URI used in the authorization request.",
            ));
        }
        match (&code.challenge, form.code_verifier.as_deref()) {
            (Some(challenge), Some(verifier)) => {
                if !valid_verifier(verifier) {
                    return Err(OAuthError::invalid_request(
                        "PKCE code verifier must be 43 to 128 characters of [A-Za-z0-9-._~].",
                    ));
                }
                if s256(verifier) != *challenge {
                    return Err(OAuthError::invalid_grant("PKCE verification failed."));
                }
            }
            (Some(_), None) => {
                return Err(OAuthError::invalid_grant(
                    "PKCE verification failed: the 'code_verifier' parameter is required.",
                ))
            }
            (None, Some(_)) => return Err(OAuthError::invalid_request(
                "A code_verifier was given but the authorization request had no code_challenge.",
            )),
            (None, None) => {}
        }
        let scopes = code.scopes.clone();
        let nonce = code.nonce.clone();
        let family = random_token(12);
        let expires = now + TimeDelta::seconds(client.refresh_token_lifetime_s as i64);
        let (answer, issued) = self.issue(
            client, &scopes, nonce, &family, None, expires, org_url, key, now,
        )?;
        if let Some(code) = self.codes.get_mut(code_text) {
            code.issued = issued;
        }
        Ok(answer)
    }

    fn refresh(
        &mut self,
        client: &OAuthClient,
        form: &TokenForm,
        org_url: &str,
        key: &SigningKey,
        now: DateTime<Utc>,
    ) -> Result<Value, OAuthError> {
        if !client.has_grant("refresh_token") {
            return Err(OAuthError::unauthorized_client(
                "The client is not authorized to use the provided grant type.",
            ));
        }
        let text = form.refresh_token.as_deref().ok_or_else(|| {
            OAuthError::invalid_request("The 'refresh_token' parameter is required.")
        })?;
        let bad = || OAuthError::invalid_grant("The refresh token is invalid or expired.");
        let token = self.refresh.get(text).ok_or_else(bad)?.info.clone();
        let grace_over = token
            .rotated_at
            .is_some_and(|at| now > at + TimeDelta::seconds(client.rotation_grace_s as i64));
        if token.client_id != client.client_id
            || token.revoked
            || token.expires_at <= now
            || grace_over
        {
            return Err(bad());
        }
        // A grant the org's admin has since taken from the app (its Okta API Scopes tab) is
        // not renewed: the new access token lacks it, as in Okta.
        let scopes = match form.scope.as_deref() {
            None => token
                .scopes
                .iter()
                .filter(|s| has(&client.allowed_scopes, s))
                .cloned()
                .collect(),
            Some(s) => {
                let asked = scopes_of(s);
                if let Some(extra) = asked.iter().find(|s| !has(&token.scopes, s)) {
                    return Err(OAuthError::invalid_scope(format!(
                        "The requested scope is invalid, unknown, or malformed: {extra} was not granted."
                    )));
                }
                asked
            }
        };
        let keep = (!client.refresh_rotation).then(|| text.to_owned());
        let (mut answer, _) = self.issue(
            client,
            &scopes,
            None,
            &token.family,
            keep.clone(),
            token.expires_at,
            org_url,
            key,
            now,
        )?;
        if keep.is_none() {
            if let Some(old) = self.refresh.get_mut(text) {
                old.info.rotated_at.get_or_insert(now);
            }
        }
        // A refresh hands back a refresh token (the same or the new one) even when the
        // narrowed scope lacks offline_access: the grant itself continues.
        if answer.get("refresh_token").is_none() {
            if let Value::Object(m) = &mut answer {
                m.insert("refresh_token".into(), json!(keep.unwrap_or_default()));
            }
        }
        Ok(answer)
    }

    /// Mints the access token (and a refresh token, and an id_token) of one grant.
    /// `keep_refresh`: a refresh without rotation hands back the token it was given.
    #[allow(clippy::too_many_arguments)]
    fn issue(
        &mut self,
        client: &OAuthClient,
        scopes: &[String],
        nonce: Option<String>,
        family: &str,
        keep_refresh: Option<String>,
        refresh_expires: DateTime<Utc>,
        org_url: &str,
        key: &SigningKey,
        now: DateTime<Utc>,
    ) -> Result<(Value, Vec<String>), OAuthError> {
        let mut issued = Vec::new();
        let access = secret_token();
        let lifetime = client.access_token_lifetime_s;
        self.access.insert(
            access.clone(),
            Token {
                info: TokenInfo {
                    fingerprint: fingerprint(&access),
                    kind: "access".into(),
                    client_id: client.client_id.clone(),
                    scopes: scopes.to_vec(),
                    issued_at: now,
                    expires_at: now + TimeDelta::seconds(lifetime as i64),
                    revoked: false,
                    rotated_at: None,
                    family: family.to_owned(),
                },
            },
        );
        issued.push(access.clone());
        let mut answer = Map::new();
        answer.insert("token_type".into(), json!("Bearer"));
        answer.insert("expires_in".into(), json!(lifetime));
        answer.insert("access_token".into(), json!(access));
        answer.insert("scope".into(), json!(scopes.join(" ")));
        let wants_refresh = has(scopes, "offline_access") && client.has_grant("refresh_token");
        match keep_refresh {
            Some(same) => {
                answer.insert("refresh_token".into(), json!(same));
            }
            None if wants_refresh => {
                let refresh = secret_token();
                self.refresh.insert(
                    refresh.clone(),
                    Token {
                        info: TokenInfo {
                            fingerprint: fingerprint(&refresh),
                            kind: "refresh".into(),
                            client_id: client.client_id.clone(),
                            scopes: scopes.to_vec(),
                            issued_at: now,
                            expires_at: refresh_expires,
                            revoked: false,
                            rotated_at: None,
                            family: family.to_owned(),
                        },
                    },
                );
                issued.push(refresh.clone());
                answer.insert("refresh_token".into(), json!(refresh));
            }
            None => {}
        }
        if has(scopes, "openid") {
            let id_token = self.id_token(client, scopes, nonce, &access, org_url, key, now)?;
            answer.insert("id_token".into(), json!(id_token));
        }
        Ok((Value::Object(answer), issued))
    }

    #[allow(clippy::too_many_arguments)]
    fn id_token(
        &self,
        client: &OAuthClient,
        scopes: &[String],
        nonce: Option<String>,
        access_token: &str,
        org_url: &str,
        key: &SigningKey,
        now: DateTime<Utc>,
    ) -> Result<String, OAuthError> {
        let a = &self.admin;
        let digest = Sha256::digest(access_token.as_bytes());
        let mut claims = json!({
            "sub": a.id,
            "ver": 1,
            "iss": org_url,
            "aud": client.client_id,
            "iat": now.timestamp(),
            "exp": now.timestamp() + 3600,
            "jti": format!("ID.{}", random_token(43)),
            "amr": ["pwd"],
            "idp": "00osimorg00000000001",
            "auth_time": now.timestamp(),
            "at_hash": URL_SAFE_NO_PAD.encode(&digest[..16]),
            "preferred_username": a.login,
        });
        if let Value::Object(m) = &mut claims {
            if let Some(n) = nonce {
                m.insert("nonce".into(), json!(n));
            }
            if has(scopes, "email") {
                m.insert("email".into(), json!(a.email));
                m.insert("email_verified".into(), json!(true));
            }
            if has(scopes, "profile") {
                m.insert("name".into(), json!(a.name));
            }
        }
        key.sign(&claims).map_err(|e| OAuthError {
            status: 500,
            error: "server_error",
            description: format!("cannot sign the id_token: {e}"),
        })
    }

    // ---- /revoke ----

    /// RFC 7009 §2.2: unknown tokens and other clients' tokens are answered like
    /// revoked ones (`200`), and nothing changes for the latter.
    pub fn revoke(&mut self, client: &OAuthClient, form: &TokenForm) -> Result<(), OAuthError> {
        let token = form
            .token
            .as_deref()
            .ok_or_else(|| OAuthError::invalid_request("The 'token' parameter is required."))?;
        if let Some(hint) = form.token_type_hint.as_deref() {
            if !matches!(
                hint,
                "access_token" | "refresh_token" | "id_token" | "device_secret"
            ) {
                return Err(OAuthError {
                    status: 400,
                    error: "unsupported_token_type",
                    description: format!("The token type {hint} is not supported."),
                });
            }
        }
        let owned = self
            .access
            .get(token)
            .or_else(|| self.refresh.get(token))
            .is_some_and(|t| t.info.client_id == client.client_id);
        if owned {
            self.revoke_token(token);
        }
        Ok(())
    }

    /// Revokes an access token, or a refresh token with its whole rotation family.
    fn revoke_token(&mut self, token: &str) {
        if let Some(t) = self.access.get_mut(token) {
            t.info.revoked = true;
        }
        if let Some(family) = self.refresh.get(token).map(|t| t.info.family.clone()) {
            for t in self
                .refresh
                .values_mut()
                .filter(|t| t.info.family == family)
            {
                t.info.revoked = true;
            }
        }
    }

    // ---- API calls ----

    /// The grant behind a bearer token, or why it is refused (the `error_description` of
    /// the `401`).
    pub fn check_access(&self, token: &str, now: DateTime<Utc>) -> Result<Grant, &'static str> {
        let t = self
            .access
            .get(token)
            .ok_or("The access token is invalid.")?;
        if t.info.revoked {
            return Err("The access token has been revoked.");
        }
        if t.info.expires_at <= now {
            return Err("The token has expired.");
        }
        Ok(Grant {
            client_id: t.info.client_id.clone(),
            scopes: t.info.scopes.clone(),
            fingerprint: t.info.fingerprint.clone(),
        })
    }

    // ---- /_sim ----

    /// Makes tokens (all of `kind`, or the one given) expired now. Returns how many.
    pub fn expire(&mut self, kind: TokenKind, token: Option<&str>, now: DateTime<Utc>) -> usize {
        let past = now - TimeDelta::seconds(1);
        let mut n = 0;
        let hit = |t: &str| token.is_none_or(|x| x == t);
        if matches!(kind, TokenKind::Access | TokenKind::All) {
            for (k, t) in self.access.iter_mut().filter(|(k, _)| hit(k)) {
                let _ = k;
                t.info.expires_at = past;
                n += 1;
            }
        }
        if matches!(kind, TokenKind::Refresh | TokenKind::All) {
            for (_, t) in self.refresh.iter_mut().filter(|(k, _)| hit(k)) {
                t.info.expires_at = past;
                n += 1;
            }
        }
        if matches!(kind, TokenKind::Code | TokenKind::All) {
            for (_, c) in self.codes.iter_mut().filter(|(k, _)| hit(k)) {
                c.expires_at = past;
                n += 1;
            }
        }
        n
    }

    /// Revokes tokens (all of `kind`, or the one given). Returns how many.
    pub fn revoke_all(&mut self, kind: TokenKind, token: Option<&str>) -> usize {
        let mut n = 0;
        let hit = |t: &str| token.is_none_or(|x| x == t);
        if matches!(kind, TokenKind::Access | TokenKind::All) {
            for (_, t) in self.access.iter_mut().filter(|(k, _)| hit(k)) {
                t.info.revoked = true;
                n += 1;
            }
        }
        if matches!(kind, TokenKind::Refresh | TokenKind::All) {
            let keys: Vec<String> = self.refresh.keys().filter(|k| hit(k)).cloned().collect();
            n += keys.len();
            for k in keys {
                self.revoke_token(&k);
            }
        }
        if matches!(kind, TokenKind::Code | TokenKind::All) {
            for (_, c) in self.codes.iter_mut().filter(|(k, _)| hit(k)) {
                c.used = true;
                n += 1;
            }
        }
        n
    }

    /// Every issued token, newest first.
    pub fn tokens(&self) -> Vec<TokenInfo> {
        let mut out: Vec<TokenInfo> = self
            .access
            .values()
            .chain(self.refresh.values())
            .map(|t| t.info.clone())
            .collect();
        out.sort_by_key(|t| std::cmp::Reverse(t.issued_at));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_and_verifier_rules() {
        // RFC 7636 appendix B.
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(valid_verifier(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        ));
        assert!(!valid_verifier("short"));
        assert!(!valid_verifier(&"é".repeat(50)));
    }

    #[test]
    fn redirect_keeps_the_uri_query_and_encodes() {
        assert_eq!(
            with_query("http://x/cb?a=1", &[("code", "c d"), ("state", "s&t")]),
            "http://x/cb?a=1&code=c+d&state=s%26t"
        );
        assert_eq!(scopes_of(" openid  email openid "), ["openid", "email"]);
    }
}
