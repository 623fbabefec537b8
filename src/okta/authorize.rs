//! Authorizing the connection (OAuth 2.0 authorization code with PKCE, RFC 6749 §4.1 and
//! RFC 7636; OpenID Connect for who authorized). `POST /api/v1/okta/authorize` makes a
//! `state` (single use, 10 minutes, bound to the admin who asked — honoured only while that
//! admin's token is valid), a `nonce` and a PKCE S256 pair, all from the `oauth2` crate's
//! helpers (random from the OS, the S256 transform as RFC 7636 §4.2 defines it); only the
//! state's SHA-256 is stored, and the verifier sealed. The callback (no bearer token: the
//! state is the proof) exchanges the code, validates the id_token, checks the granted scopes
//! and stores the tokens; each failure ends in a page and a `problem` that say what to fix.

use chrono::TimeDelta;
use oauth2::{CsrfToken, PkceCodeChallenge};
use sha2::{Digest, Sha256};

use super::id_token::{self, IdTokenError};
use super::{
    binding, store, tokens::expiry, Okta, OktaError, ACCESS_PURPOSE, REFRESH_PURPOSE,
    REQUESTED_SCOPES, REQUIRED_SCOPES, VERIFIER_PURPOSE,
};
use crate::audit::{self, Outcome};
use crate::okta_api::{OAuthErrorKind, OktaApiError};
use crate::store::{tx, StoreError};

/// How long an authorization request may take.
const STATE_LIFETIME: TimeDelta = TimeDelta::minutes(10);

/// What the callback page says.
#[derive(Debug, Clone)]
pub struct CallbackOutcome {
    pub connected: bool,
    pub title: String,
    /// What happened, and what to fix when it failed.
    pub message: String,
}

/// The callback's query (`code` and `state`, or `error`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

fn state_hash(state: &str) -> String {
    hex::encode(Sha256::digest(state.as_bytes()))
}

impl Okta {
    /// `POST /api/v1/okta/authorize`: the URL the admin opens.
    pub async fn start_authorization(&self, principal: &str) -> Result<String, OktaError> {
        let row = self.load().await?.ok_or(OktaError::NotConfigured)?;
        let client = self.client(&row.org_url)?;
        let state = CsrfToken::new_random_len(32);
        let nonce = CsrfToken::new_random_len(32);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let sealed = self.inner.key.seal(
            VERIFIER_PURPOSE,
            &binding(&row.org_url, &row.client_id),
            verifier.secret(),
        );
        let url = client.authorize_url(&[
            ("client_id", row.client_id.as_str()),
            ("response_type", "code"),
            ("response_mode", "query"),
            ("scope", REQUESTED_SCOPES),
            ("redirect_uri", self.redirect_uri()),
            ("state", state.secret()),
            ("nonce", nonce.secret()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", challenge.method().as_str()),
        ])?;
        let (hash, principal, nonce) = (
            state_hash(state.secret()),
            principal.to_string(),
            nonce.secret().clone(),
        );
        crate::store::run(&self.inner.pool, move |c| {
            tx::write(c, |c| {
                store::insert_authorization(
                    c,
                    &hash,
                    &principal,
                    &nonce,
                    &sealed,
                    crate::store::now() + STATE_LIFETIME,
                )?;
                audit::record(
                    c,
                    &audit::Entry {
                        actor: &principal,
                        action: "okta.authorize.start",
                        target_type: "okta",
                        target_id: None,
                        detail: serde_json::json!({"scopes": REQUESTED_SCOPES}),
                        outcome: Outcome::Success,
                    },
                )
            })
        })
        .await?;
        Ok(url)
    }

    /// `GET /oauth/okta/callback`.
    pub async fn complete_authorization(&self, q: CallbackQuery) -> CallbackOutcome {
        match self.callback(q).await {
            Ok(who) => CallbackOutcome {
                connected: true,
                title: "Okta is connected".into(),
                message: format!(
                    "Authorized by {who}. The bridge can now read users and groups from Okta; you can close this page."
                ),
            },
            Err(Failure { problem, actor }) => {
                let stored = problem.clone();
                let written = crate::store::run(&self.inner.pool, move |c| {
                    tx::write(c, |c| {
                        if store::load(c)?.is_some() {
                            store::set_problem(c, &stored)?;
                        }
                        audit::record(
                            c,
                            &audit::Entry {
                                actor: actor.as_deref().unwrap_or(audit::SYSTEM),
                                action: "okta.authorize.complete",
                                target_type: "okta",
                                target_id: None,
                                detail: serde_json::json!({"problem": stored}),
                                outcome: Outcome::Failure,
                            },
                        )
                    })
                })
                .await;
                if let Err::<(), StoreError>(e) = written {
                    tracing::warn!(error = %e, "could not record a failed Okta authorization");
                }
                tracing::warn!(%problem, "Okta authorization failed");
                CallbackOutcome {
                    connected: false,
                    title: "Okta was not connected".into(),
                    message: problem,
                }
            }
        }
    }

    async fn callback(&self, q: CallbackQuery) -> Result<String, Failure> {
        let state = q
            .state
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Failure::new("the callback carries no `state`: start again with POST /api/v1/okta/authorize and open the URL it returns"))?;
        let hash = state_hash(state);
        let consumed = crate::store::run(&self.inner.pool, move |c| {
            store::consume_authorization(c, &hash)
        })
        .await
        .map_err(|e: StoreError| Failure::new(format!("the database failed: {e}; try again")))?;
        let pending = match consumed {
            store::Consumed::Fresh(p) => p,
            store::Consumed::Reused => return Err(Failure::new("this authorization link was already used (a state works once): start again with POST /api/v1/okta/authorize")),
            store::Consumed::Stale => return Err(Failure::new("this authorization link expired (it lives 10 minutes): start again with POST /api/v1/okta/authorize")),
            store::Consumed::Unknown => return Err(Failure::new("this authorization link is unknown or long expired: start again with POST /api/v1/okta/authorize")),
        };
        let actor = Some(pending.principal.clone());
        let fail = |m: String| Failure {
            problem: m,
            actor: actor.clone(),
        };
        // The state is bound to the admin who asked: honoured only while they still are one.
        let principal = pending.principal.clone();
        let still_admin = crate::store::run(&self.inner.pool, move |c| {
            crate::auth::is_active_admin(c, &principal)
        })
        .await
        .map_err(|e: StoreError| fail(format!("the database failed: {e}; try again")))?;
        if !still_admin {
            return Err(fail(format!(
                "`{}`, who started this authorization, is no longer an admin (a revoked admin token, or a console session that ended): start again as an admin",
                pending.principal
            )));
        }
        if let Some(error) = q.error.as_deref() {
            let description = q.error_description.clone().unwrap_or_default();
            let fix = match error {
                "access_denied" => "the Okta user declined, or is not assigned to the OIDC app: assign the app to the admin who authorizes (Assignments tab) and try again",
                "invalid_scope" => "Okta refused a scope: on the app's Okta API Scopes tab grant okta.users.read, okta.groups.read and okta.eventHooks.manage",
                "unauthorized_client" => "the app may not use the authorization code grant: in Okta, enable Authorization Code and Refresh Token on the app's General tab",
                _ => "see Okta's description; fix the app in Okta and try again",
            };
            return Err(fail(format!(
                "Okta answered {error} ({description}): {fix}"
            )));
        }
        let code = q
            .code
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| fail("the callback carries neither `code` nor `error`".into()))?;
        let row = self
            .load()
            .await
            .map_err(|e| fail(e.to_string()))?
            .ok_or_else(|| {
                fail("the Okta settings were removed meanwhile: PUT /api/v1/settings/okta".into())
            })?;
        let bound = binding(&row.org_url, &row.client_id);
        let verifier = self
            .inner
            .key
            .open(VERIFIER_PURPOSE, &bound, &pending.verifier_sealed)
            .map_err(|_| {
                fail(
                    "the Okta org or client changed since this authorization started: start again"
                        .into(),
                )
            })?;
        let creds = self.credentials(&row).map_err(|e| fail(e.to_string()))?;
        let client = self.client(&row.org_url).map_err(|e| fail(e.to_string()))?;
        let tokens = client
            .exchange_code(
                &creds,
                code,
                self.redirect_uri(),
                &verifier.plaintext,
                Some(&pending.principal),
            )
            .await
            .map_err(|e| fail(exchange_problem(&e)))?;
        let id_token = tokens.id_token.as_deref().ok_or_else(|| {
            fail("Okta returned no id_token: the openid scope must be allowed for the app".into())
        })?;
        let jwks = client
            .jwks()
            .await
            .map_err(|e| fail(format!("cannot read the org's signing keys: {e}")))?;
        let claims = id_token::validate(
            id_token,
            &jwks,
            &row.org_url,
            &row.client_id,
            &pending.nonce,
        )
        .map_err(|e| fail(id_token_problem(&e)))?;
        let granted: Vec<&str> = tokens
            .scope
            .as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        let missing: Vec<&str> = REQUIRED_SCOPES
            .iter()
            .copied()
            .filter(|s| !granted.contains(s))
            .collect();
        if !missing.is_empty() {
            return Err(fail(format!(
                "Okta did not grant {}: on the OIDC app's Okta API Scopes tab, grant them, then authorize again",
                missing.join(", ")
            )));
        }
        let refresh = tokens.refresh_token.as_deref().ok_or_else(|| {
            fail("Okta returned no refresh token: enable the Refresh Token grant on the app's General tab (and allow offline_access), then authorize again".into())
        })?;
        let who = claims.who();
        let refresh_sealed = self.inner.key.seal(REFRESH_PURPOSE, &bound, refresh);
        let access_sealed = self
            .inner
            .key
            .seal(ACCESS_PURPOSE, &bound, &tokens.access_token);
        let expires_at = expiry(tokens.expires_in);
        let scopes = granted.join(" ");
        let (by, principal, sub) = (who.clone(), pending.principal.clone(), claims.sub.clone());
        crate::store::run(&self.inner.pool, move |c| {
            tx::write(c, |c| {
                store::save_authorization(
                    c,
                    &store::Authorized {
                        refresh_token_sealed: &refresh_sealed,
                        access_token_sealed: &access_sealed,
                        expires_at,
                        scopes: &scopes,
                        authorized_by: &by,
                    },
                )?;
                audit::record(
                    c,
                    &audit::Entry {
                        actor: &principal,
                        action: "okta.authorize.complete",
                        target_type: "okta",
                        target_id: None,
                        detail: serde_json::json!({"authorized_by": by, "okta_user_id": sub, "scopes": scopes}),
                        outcome: Outcome::Success,
                    },
                )
            })
        })
        .await
        .map_err(|e: StoreError| fail(format!("the database failed: {e}; authorize again")))?;
        Ok(who)
    }
}

/// A failed callback: the problem the page and `GET /api/v1/settings/okta` show, and the
/// admin it was for (when the state named one).
struct Failure {
    problem: String,
    actor: Option<String>,
}

impl Failure {
    fn new(problem: impl Into<String>) -> Failure {
        Failure {
            problem: problem.into(),
            actor: None,
        }
    }
}

fn exchange_problem(e: &OktaApiError) -> String {
    match e {
        OktaApiError::OAuth { kind: OAuthErrorKind::InvalidClient, .. } => "Okta refused the client credentials (invalid_client): check the client ID and secret on the OIDC app's General tab and PUT /api/v1/settings/okta again".into(),
        OktaApiError::OAuth { kind: OAuthErrorKind::InvalidGrant, description, .. } => format!(
            "Okta refused the authorization code (invalid_grant: {description}): it expired or was used, or the app's sign-in redirect URI is not this bridge's; start again"
        ),
        other => format!("the code exchange failed: {other}"),
    }
}

fn id_token_problem(e: &IdTokenError) -> String {
    format!("the id_token Okta returned was refused ({e}); check that org_url is the org the app lives in, then authorize again")
}
