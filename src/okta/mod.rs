//! The Okta connection: the OIDC web app's settings, the authorization (state, nonce, PKCE
//! S256, the id_token validated against the org's JWKS), the tokens — sealed at rest, bound to
//! the org URL and client id (`crypto.rs`), refreshed before they expire and once on a `401`,
//! one refresh at a time across every process on the database —, the calls' audit, and the
//! reading of the org for the initial sync (`reader.rs`). A service: front doors call it (`admin/okta.rs`, `okta_callback.rs`); it
//! calls the Okta client (`okta_api`) and the store. `docs/okta-api.md`.

pub mod authorize;
pub mod calls;
pub mod event_hooks;
pub mod follow;
pub mod id_token;
pub mod import;
pub mod org_url;
pub mod reader;
pub mod resync;
pub mod signin;
pub mod store;
pub mod tokens;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::audit::{self, Outcome};
use crate::config::{Config, Secret};
use crate::crypto::Key;
use crate::okta_api::{ClientCredentials, ClientSettings, OktaApiError, OktaClient};
use crate::store::{tx, Pool, StoreError};
use crate::telemetry::Metrics;

pub use authorize::CallbackOutcome;
pub use reader::{OrgSnapshot, SnapshotGroup, SnapshotUser};

/// What the bridge asks for at `/authorize`.
pub const REQUESTED_SCOPES: &str =
    "openid email offline_access okta.users.read okta.groups.read okta.eventHooks.manage";
/// The Okta API scopes the connection needs granted (the app's "Okta API Scopes" tab).
pub const REQUIRED_SCOPES: [&str; 3] = [
    "okta.users.read",
    "okta.groups.read",
    "okta.eventHooks.manage",
];

/// Purposes of the sealed values (`crypto.rs`); each is bound to [`binding`].
const SECRET_PURPOSE: &str = "okta.client_secret";
const REFRESH_PURPOSE: &str = "okta.refresh_token";
const ACCESS_PURPOSE: &str = "okta.access_token";
const VERIFIER_PURPOSE: &str = "okta.pkce_verifier";

/// What the Okta secrets are bound to: the org and the client they were issued by and for.
fn binding(org_url: &str, client_id: &str) -> String {
    format!("{org_url} {client_id}")
}

/// `GET /api/v1/settings/okta`'s `state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    NotConfigured,
    NeedsAuthorization,
    Connected,
    ReauthorizationNeeded,
}

impl ConnectionState {
    fn parse(s: &str) -> ConnectionState {
        match s {
            "connected" => ConnectionState::Connected,
            "reauthorization_needed" => ConnectionState::ReauthorizationNeeded,
            _ => ConnectionState::NeedsAuthorization,
        }
    }
}

/// The connection as the admin API shows it (never a secret or a token).
#[derive(Debug, Clone, Serialize)]
pub struct View {
    pub org_url: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: String,
    pub state: ConnectionState,
    pub scopes: Vec<String>,
    pub scope_group_ids: Vec<String>,
    pub authorized_by: Option<String>,
    pub authorized_at: Option<String>,
    pub access_token_expires_at: Option<String>,
    pub problem: Option<String>,
}

/// `PUT /api/v1/settings/okta`'s body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsInput {
    pub org_url: String,
    pub client_id: String,
    /// May be left out when the org and client stay the same (the stored one is kept).
    #[serde(default, deserialize_with = "crate::json_body::present")]
    pub client_secret: Option<String>,
    /// Okta group ids whose members the initial sync reads; absent: keep; empty: the whole org.
    #[serde(default, deserialize_with = "crate::json_body::present")]
    pub scope_group_ids: Option<Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum OktaError {
    #[error("the Okta org is not connected: PUT /api/v1/settings/okta with org_url, client_id and client_secret first")]
    NotConfigured,
    #[error("{0}")]
    Invalid(String),
    #[error("the Okta connection is not authorized: POST /api/v1/okta/authorize and open the URL it returns")]
    NeedsAuthorization,
    #[error("Okta refused the stored authorization ({0}): an Okta admin must authorize again (POST /api/v1/okta/authorize)")]
    ReauthorizationNeeded(String),
    #[error(
        "another bridge process is refreshing the Okta token and has not finished; retry shortly"
    )]
    Busy,
    #[error(transparent)]
    Okta(#[from] OktaApiError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The Okta connection as a service, built once by `server.rs`.
#[derive(Clone)]
pub struct Okta {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub pool: Pool,
    pub key: Key,
    pub metrics: Metrics,
    pub redirect_uri: String,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// Names this process's refresh leases.
    pub process: String,
    /// The client of the org in use (its governor must outlive a call).
    client: Mutex<Option<OktaClient>>,
    /// One refresh at a time in this process; the lease row does it across processes.
    pub refresh_lock: tokio::sync::Mutex<()>,
}

impl Okta {
    pub fn new(pool: Pool, key: Key, metrics: Metrics, config: &Config) -> Okta {
        let process = format!(
            "{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        Okta {
            inner: Arc::new(Inner {
                pool,
                key,
                metrics,
                redirect_uri: format!(
                    "{}/oauth/okta/callback",
                    config.public_url.trim_end_matches('/')
                ),
                connect_timeout: config.okta_connect_timeout,
                request_timeout: config.okta_request_timeout,
                process,
                client: Mutex::new(None),
                refresh_lock: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// `<PUBLIC_URL>/oauth/okta/callback`: what the admin registers in Okta.
    pub fn redirect_uri(&self) -> &str {
        &self.inner.redirect_uri
    }

    /// The client of `org_url` (kept while the org stays the same: its rate-limit governor
    /// carries from call to call).
    pub(crate) fn client(&self, org_url: &str) -> Result<OktaClient, OktaError> {
        let mut slot = self.inner.client.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = slot.as_ref().filter(|c| c.org_url() == org_url) {
            return Ok(c.clone());
        }
        let client = OktaClient::new(
            &ClientSettings {
                org_url: org_url.to_string(),
                connect_timeout: self.inner.connect_timeout,
                request_timeout: self.inner.request_timeout,
            },
            Some(Arc::new(calls::CallRecorder {
                metrics: self.inner.metrics.clone(),
                pool: self.inner.pool.clone(),
            })),
        )?;
        *slot = Some(client.clone());
        Ok(client)
    }

    /// The client credentials of `row`, the secret opened for its org and client.
    pub(crate) fn credentials(&self, row: &store::Row) -> Result<ClientCredentials, OktaError> {
        let opened = self
            .inner
            .key
            .open(
                SECRET_PURPOSE,
                &binding(&row.org_url, &row.client_id),
                &row.client_secret_sealed,
            )
            .map_err(|e| {
                OktaError::Invalid(format!(
                    "the stored Okta client secret: {e} (PUT /api/v1/settings/okta)"
                ))
            })?;
        Ok(ClientCredentials {
            client_id: row.client_id.clone(),
            client_secret: Secret::new(opened.plaintext),
        })
    }

    pub(crate) async fn load(&self) -> Result<Option<store::Row>, OktaError> {
        Ok(crate::store::run(&self.inner.pool, store::load).await?)
    }

    /// Whether an org is connected (authorized and not in need of re-authorization).
    pub async fn is_connected(&self) -> Result<bool, OktaError> {
        Ok(self
            .load()
            .await?
            .is_some_and(|r| ConnectionState::parse(&r.state) == ConnectionState::Connected))
    }

    pub async fn view(&self) -> Result<View, OktaError> {
        let row = self.load().await?;
        Ok(self.view_of(row.as_ref()))
    }

    fn view_of(&self, row: Option<&store::Row>) -> View {
        let ts = |t: &Option<chrono::NaiveDateTime>| t.as_ref().map(crate::time::rfc3339);
        match row {
            None => View {
                org_url: None,
                client_id: None,
                redirect_uri: self.inner.redirect_uri.clone(),
                state: ConnectionState::NotConfigured,
                scopes: Vec::new(),
                scope_group_ids: Vec::new(),
                authorized_by: None,
                authorized_at: None,
                access_token_expires_at: None,
                problem: None,
            },
            Some(r) => View {
                org_url: Some(r.org_url.clone()),
                client_id: Some(r.client_id.clone()),
                redirect_uri: self.inner.redirect_uri.clone(),
                state: ConnectionState::parse(&r.state),
                scopes: r
                    .scopes
                    .as_deref()
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(str::to_string)
                    .collect(),
                scope_group_ids: r.scope_group_ids(),
                authorized_by: r.authorized_by.clone(),
                authorized_at: ts(&r.authorized_at),
                access_token_expires_at: ts(&r.access_token_expires_at),
                problem: r.problem.clone(),
            },
        }
    }

    /// `PUT /api/v1/settings/okta`. A new org or client forgets the authorization (its
    /// tokens belong to the old one); a new secret or scope alone keeps it.
    pub async fn put_settings(&self, input: SettingsInput, actor: &str) -> Result<View, OktaError> {
        let org_url = org_url::normalise(&input.org_url).map_err(OktaError::Invalid)?;
        let client_id = input.client_id.trim().to_string();
        if client_id.is_empty() || !client_id.chars().all(|c| c.is_ascii_graphic()) {
            return Err(OktaError::Invalid(
                "`client_id` must be the OIDC app's client ID (General tab of the app in Okta)"
                    .into(),
            ));
        }
        let secret = input
            .client_secret
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        if let Some(ids) = &input.scope_group_ids {
            if let Some(bad) = ids.iter().find(|id| {
                id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric())
            }) {
                return Err(OktaError::Invalid(format!(
                    "`scope_group_ids` holds {bad:?}, which is not an Okta group id (00g…)"
                )));
            }
        }
        let key = self.inner.key.clone();
        let actor = actor.to_string();
        let row = crate::store::run(&self.inner.pool, move |c| {
            tx::write(c, |c| {
                let existing = store::load_for_update(c)?;
                let same = existing
                    .as_ref()
                    .is_some_and(|r| r.org_url == org_url && r.client_id == client_id);
                let bound = binding(&org_url, &client_id);
                let sealed = match (&secret, &existing) {
                    (Some(s), _) => key.seal(SECRET_PURPOSE, &bound, s),
                    (None, Some(r)) if same => r.client_secret_sealed.clone(),
                    _ => {
                        return Err(SettingsTxError::Refused(
                            "`client_secret` is required (the OIDC app's client secret) when the org or the client is new".into(),
                        ))
                    }
                };
                let groups = match (&input.scope_group_ids, &existing) {
                    (Some(ids), _) => ids.clone(),
                    (None, Some(r)) => r.scope_group_ids(),
                    (None, None) => Vec::new(),
                };
                let groups_json = serde_json::to_string(&groups).unwrap_or_else(|_| "[]".into());
                let forget = existing.is_some() && !same;
                store::save_settings(
                    c,
                    &store::NewSettings {
                        org_url: &org_url,
                        client_id: &client_id,
                        client_secret_sealed: &sealed,
                        scope_group_ids: &groups_json,
                    },
                    existing.is_some(),
                    forget,
                )?;
                audit::record(
                    c,
                    &audit::Entry {
                        actor: &actor,
                        action: "settings.okta.update",
                        target_type: "settings",
                        target_id: Some("okta"),
                        detail: serde_json::json!({
                            "org_url": org_url, "client_id": client_id,
                            "client_secret": if secret.is_some() { "(set; encrypted at rest)" } else { "(kept)" },
                            "scope_group_ids": groups, "authorization_forgotten": forget,
                        }),
                        outcome: Outcome::Success,
                    },
                )?;
                Ok(store::load(c)?)
            })
        })
        .await
        .map_err(|e: SettingsTxError| match e {
            SettingsTxError::Refused(m) => OktaError::Invalid(m),
            SettingsTxError::Store(s) => OktaError::Store(s),
        })?;
        Ok(self.view_of(row.as_ref()))
    }

    /// `DELETE /api/v1/settings/okta`: revokes the refresh token at Okta and forgets the
    /// tokens (the settings stay, so authorizing again reconnects).
    pub async fn disconnect(&self, actor: &str) -> Result<View, OktaError> {
        let Some(row) = self.load().await? else {
            return Err(OktaError::NotConfigured);
        };
        let revoked = match &row.refresh_token_sealed {
            None => serde_json::json!("no token held"),
            Some(sealed) => {
                let opened = self.inner.key.open(
                    REFRESH_PURPOSE,
                    &binding(&row.org_url, &row.client_id),
                    sealed,
                );
                match (opened, self.credentials(&row), self.client(&row.org_url)) {
                    (Ok(token), Ok(creds), Ok(client)) => {
                        match client
                            .revoke(&creds, &Secret::new(token.plaintext), Some(actor))
                            .await
                        {
                            Ok(()) => serde_json::json!(true),
                            Err(e) => serde_json::json!(format!("not revoked at Okta: {e}")),
                        }
                    }
                    _ => {
                        serde_json::json!("not revoked: the stored token or secret no longer opens")
                    }
                }
            }
        };
        let actor = actor.to_string();
        let row = crate::store::run(&self.inner.pool, move |c| {
            tx::write(c, |c| {
                store::forget(c, "needs_authorization", None)?;
                audit::record(
                    c,
                    &audit::Entry {
                        actor: &actor,
                        action: "settings.okta.disconnect",
                        target_type: "settings",
                        target_id: Some("okta"),
                        detail: serde_json::json!({"refresh_token_revoked": revoked, "tokens_forgotten": true}),
                        outcome: Outcome::Success,
                    },
                )?;
                store::load(c)
            })
        })
        .await?;
        Ok(self.view_of(row.as_ref()))
    }
}

/// A settings write refused inside its transaction (a typed value out of it, not a string).
enum SettingsTxError {
    Refused(String),
    Store(StoreError),
}

impl From<StoreError> for SettingsTxError {
    fn from(e: StoreError) -> Self {
        SettingsTxError::Store(e)
    }
}

impl std::fmt::Display for SettingsTxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SettingsTxError::Refused(m) => f.write_str(m),
            SettingsTxError::Store(e) => e.fmt(f),
        }
    }
}

impl tx::Contention for SettingsTxError {
    fn is_contention(&self) -> bool {
        matches!(self, SettingsTxError::Store(e) if e.is_contention())
    }
}
