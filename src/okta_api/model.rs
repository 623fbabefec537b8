//! What the bridge reads from Okta: token answers, users, groups, and pages of them.
//! Unknown fields are ignored; profile values may be `null` or absent (`docs/okta-api.md`).

use serde::Deserialize;
use serde_json::{Map, Value};

/// `POST /oauth2/v1/token`'s answer. Its tokens never print.
#[derive(Clone, Deserialize)]
pub struct TokenResponse {
    #[serde(default)]
    pub token_type: String,
    /// Seconds.
    #[serde(default)]
    pub expires_in: i64,
    pub access_token: String,
    /// The scopes granted, space-separated.
    #[serde(default)]
    pub scope: Option<String>,
    /// Present when `offline_access` was granted; a refresh may rotate it.
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub id_token: Option<String>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "***"))
            .field("id_token", &self.id_token.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

/// An Okta user, as far as the bridge reads it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct OktaUser {
    pub id: String,
    pub status: String,
    #[serde(default, rename = "lastUpdated")]
    pub last_updated: Option<String>,
    #[serde(default)]
    pub profile: Map<String, Value>,
}

impl OktaUser {
    /// A profile attribute as text (absent, `null` and non-strings are `None`).
    pub fn profile_str(&self, key: &str) -> Option<&str> {
        self.profile
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct GroupProfile {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
}

/// An Okta group (`type` OKTA_GROUP, APP_GROUP or BUILT_IN).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct OktaGroup {
    pub id: String,
    #[serde(default, rename = "type")]
    pub group_type: String,
    pub profile: GroupProfile,
    /// When the group's profile last changed (ISO 8601, Okta's clock).
    #[serde(default, rename = "lastUpdated")]
    pub last_updated: Option<String>,
    /// When a member last joined or left (the periodic re-read follows groups whose value moved).
    #[serde(default, rename = "lastMembershipUpdated")]
    pub last_membership_updated: Option<String>,
}

/// One page of a list, and the `rel="next"` link to follow (verbatim) for the next.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}
