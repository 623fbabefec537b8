//! OAuth clients (the OIDC web apps an admin creates in Okta) and the admin identity on
//! whose behalf `/oauth2/v1/authorize` answers.

use serde::{Deserialize, Serialize};

/// Scopes the org authorization server knows. Any other requested scope is
/// `invalid_scope`.
pub const KNOWN_SCOPES: [&str; 16] = [
    "openid",
    "profile",
    "email",
    "address",
    "phone",
    "offline_access",
    "okta.users.read",
    "okta.users.manage",
    "okta.groups.read",
    "okta.groups.manage",
    "okta.eventHooks.read",
    "okta.eventHooks.manage",
    "okta.logs.read",
    "okta.apps.read",
    "okta.userTypes.read",
    "okta.schemas.read",
];

/// Scopes a client may be granted unless configured otherwise: everything a
/// provisioning client asks for.
pub fn default_scopes() -> Vec<String> {
    [
        "openid",
        "profile",
        "email",
        "offline_access",
        "okta.users.read",
        "okta.groups.read",
        "okta.eventHooks.manage",
    ]
    .map(String::from)
    .to_vec()
}

/// An OIDC web application registered in the org.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OAuthClient {
    pub client_id: String,
    pub client_secret: String,
    /// Sign-in redirect URIs; `redirect_uri` must equal one exactly.
    pub redirect_uris: Vec<String>,
    /// Scopes this client may be granted (its "Okta API Scopes" grants plus OIDC scopes).
    pub allowed_scopes: Vec<String>,
    /// When false (the default), a requested scope that is known but not allowed is left
    /// out of the grant (the token's `scope` lacks it); when true, `/authorize` answers
    /// `invalid_scope`.
    pub reject_unallowed_scopes: bool,
    /// `authorization_code` and/or `refresh_token`.
    pub grant_types: Vec<String>,
    /// `/authorize` without a PKCE S256 `code_challenge` answers `invalid_request`.
    pub require_pkce: bool,
    /// A refresh returns a new refresh token; the old one works for `rotation_grace_s`.
    pub refresh_rotation: bool,
    pub rotation_grace_s: u64,
    pub access_token_lifetime_s: u64,
    /// Absolute: a refresh token (and each one rotated from it) dies this long after the
    /// authorization, however often it is used.
    pub refresh_token_lifetime_s: u64,
    pub code_lifetime_s: u64,
}

impl Default for OAuthClient {
    fn default() -> Self {
        OAuthClient {
            client_id: "0oasimclient00000000".into(),
            client_secret: "okta-sim-client-secret".into(),
            redirect_uris: vec![
                "http://127.0.0.1:8080/oauth/okta/callback".into(),
                "http://localhost:8080/oauth/okta/callback".into(),
            ],
            allowed_scopes: default_scopes(),
            reject_unallowed_scopes: false,
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            require_pkce: true,
            refresh_rotation: false,
            rotation_grace_s: 30,
            access_token_lifetime_s: 3600,
            refresh_token_lifetime_s: 90 * 24 * 3600,
            code_lifetime_s: 300,
        }
    }
}

impl OAuthClient {
    /// A client with one redirect URI and the defaults for everything else.
    pub fn new(client_id: &str, client_secret: &str, redirect_uri: &str) -> Self {
        OAuthClient {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            redirect_uris: vec![redirect_uri.into()],
            ..OAuthClient::default()
        }
    }

    pub(crate) fn has_grant(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.client_id.trim().is_empty() || self.client_secret.is_empty() {
            return Err("client_id and client_secret must not be empty".into());
        }
        if let Some(s) = self
            .allowed_scopes
            .iter()
            .find(|s| !KNOWN_SCOPES.contains(&s.as_str()))
        {
            return Err(format!("unknown scope {s} in allowed_scopes"));
        }
        if let Some(g) = self
            .grant_types
            .iter()
            .find(|g| !matches!(g.as_str(), "authorization_code" | "refresh_token"))
        {
            return Err(format!("unsupported grant type {g}"));
        }
        if self.access_token_lifetime_s == 0 || self.code_lifetime_s == 0 {
            return Err("lifetimes must be at least 1 second".into());
        }
        Ok(())
    }
}

/// Whom `/oauth2/v1/authorize` signs in (no login page: it answers at once for this
/// admin), and what the id_token says about them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminIdentity {
    /// `sub` of the id_token.
    pub id: String,
    pub login: String,
    pub email: String,
    pub name: String,
    /// The admin's role lacks the permission: API calls answer `403` E0000006 although
    /// the token has the scope.
    pub lacks_permission: bool,
}

impl Default for AdminIdentity {
    fn default() -> Self {
        AdminIdentity {
            id: "00uSimAdmin000000001".into(),
            login: "admin@example.com".into(),
            email: "admin@example.com".into(),
            name: "Sim Admin".into(),
            lacks_permission: false,
        }
    }
}

/// An answer `/authorize` gives instead of a code (`access_denied`, `invalid_scope`,
/// `unauthorized_client`), set with `/_sim/oauth/deny`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Denial {
    pub error: String,
    #[serde(default)]
    pub error_description: Option<String>,
}

impl Denial {
    pub(crate) fn validate(&self) -> Result<(), String> {
        match self.error.as_str() {
            "access_denied"
            | "invalid_scope"
            | "unauthorized_client"
            | "server_error"
            | "temporarily_unavailable" => Ok(()),
            other => Err(format!(
                "error must be access_denied, invalid_scope, unauthorized_client, \
                 server_error or temporarily_unavailable, not {other}"
            )),
        }
    }
}
