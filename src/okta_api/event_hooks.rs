//! The Event Hooks API (`/api/v1/eventHooks`, scope `okta.eventHooks.manage`): list, read,
//! create, replace, the lifecycle (`activate`, `deactivate`, `verify`) and delete. Okta never
//! returns the hook's secret (the `authScheme` value); the bridge sends it on create and on a
//! replace, and never prints it.

use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use super::client::{bearer, Body, OktaClient};
use super::error::OktaApiError;
use crate::config::Secret;

/// A hook as Okta answers it (without its secret).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EventHook {
    pub id: String,
    /// `ACTIVE` or `INACTIVE`.
    pub status: String,
    /// `VERIFIED` or `UNVERIFIED`.
    #[serde(default)]
    pub verification_status: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub events: HookEvents,
    #[serde(default)]
    pub channel: HookChannel,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct HookEvents {
    #[serde(default)]
    pub items: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct HookChannel {
    #[serde(default)]
    pub config: HookChannelConfig,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HookChannelConfig {
    #[serde(default)]
    pub uri: String,
    #[serde(default)]
    pub auth_scheme: Option<AuthSchemeView>,
}

/// The auth header's name as Okta shows it (its value never comes back).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct AuthSchemeView {
    #[serde(default)]
    pub key: String,
}

impl EventHook {
    pub fn is_active(&self) -> bool {
        self.status == "ACTIVE"
    }

    pub fn is_verified(&self) -> bool {
        self.verification_status == "VERIFIED"
    }

    pub fn uri(&self) -> &str {
        &self.channel.config.uri
    }

    pub fn events(&self) -> &[String] {
        &self.events.items
    }
}

/// What the bridge registers: a name, the event types, the URI and the secret Okta sends in
/// the `Authorization` header.
pub struct EventHookSpec {
    pub name: String,
    pub events: Vec<String>,
    pub uri: String,
    pub secret: Secret,
}

impl std::fmt::Debug for EventHookSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventHookSpec")
            .field("name", &self.name)
            .field("events", &self.events)
            .field("uri", &self.uri)
            .field("secret", &"***")
            .finish()
    }
}

impl EventHookSpec {
    /// The body of `POST /api/v1/eventHooks` and `PUT /api/v1/eventHooks/{id}`.
    fn body(&self) -> Value {
        json!({
            "name": self.name,
            "events": {"type": "EVENT_TYPE", "items": self.events},
            "channel": {
                "type": "HTTP",
                "version": "1.0.0",
                "config": {
                    "uri": self.uri,
                    "headers": [],
                    "authScheme": {"type": "HEADER", "key": "Authorization", "value": self.secret.expose()},
                },
            },
        })
    }
}

/// `POST /api/v1/eventHooks/{id}/lifecycle/{action}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookAction {
    Activate,
    Deactivate,
    /// Okta calls the hook's URI once with a challenge; `400` when it is not answered right.
    Verify,
}

impl HookAction {
    fn as_str(self) -> &'static str {
        match self {
            HookAction::Activate => "activate",
            HookAction::Deactivate => "deactivate",
            HookAction::Verify => "verify",
        }
    }
}

/// A hook id goes into a path: Okta's are alphanumeric (`who…`).
fn hook_path(id: &str) -> Result<String, OktaApiError> {
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(OktaApiError::Unexpected(format!(
            "{id:?} is not an Okta event hook id"
        )));
    }
    Ok(format!("/api/v1/eventHooks/{id}"))
}

impl OktaClient {
    async fn hook_call(
        &self,
        access_token: &Secret,
        method: Method,
        path: &str,
        body: Body<'_>,
        actor: Option<&str>,
    ) -> Result<String, OktaApiError> {
        let url = self.url(path)?;
        let auth = bearer(access_token)?;
        Ok(self.call(method, url, Some(&auth), body, actor).await?.body)
    }

    /// `GET /api/v1/eventHooks` (an org holds few: no paging).
    pub async fn list_event_hooks(
        &self,
        access_token: &Secret,
        actor: Option<&str>,
    ) -> Result<Vec<EventHook>, OktaApiError> {
        let body = self
            .hook_call(
                access_token,
                Method::GET,
                "/api/v1/eventHooks",
                Body::None,
                actor,
            )
            .await?;
        parse(&body, "the event hook list")
    }

    /// `GET /api/v1/eventHooks/{id}`.
    pub async fn get_event_hook(
        &self,
        access_token: &Secret,
        id: &str,
        actor: Option<&str>,
    ) -> Result<EventHook, OktaApiError> {
        let body = self
            .hook_call(
                access_token,
                Method::GET,
                &hook_path(id)?,
                Body::None,
                actor,
            )
            .await?;
        parse(&body, "an event hook")
    }

    /// `POST /api/v1/eventHooks`: an ACTIVE, UNVERIFIED hook.
    pub async fn create_event_hook(
        &self,
        access_token: &Secret,
        spec: &EventHookSpec,
        actor: Option<&str>,
    ) -> Result<EventHook, OktaApiError> {
        let json = spec.body();
        let body = self
            .hook_call(
                access_token,
                Method::POST,
                "/api/v1/eventHooks",
                Body::Json(&json),
                actor,
            )
            .await?;
        parse(&body, "the created event hook")
    }

    /// `PUT /api/v1/eventHooks/{id}`: name, events and channel replaced (a new URI makes the
    /// hook UNVERIFIED again).
    pub async fn update_event_hook(
        &self,
        access_token: &Secret,
        id: &str,
        spec: &EventHookSpec,
        actor: Option<&str>,
    ) -> Result<EventHook, OktaApiError> {
        let json = spec.body();
        let body = self
            .hook_call(
                access_token,
                Method::PUT,
                &hook_path(id)?,
                Body::Json(&json),
                actor,
            )
            .await?;
        parse(&body, "the updated event hook")
    }

    /// `POST /api/v1/eventHooks/{id}/lifecycle/{action}`.
    pub async fn event_hook_lifecycle(
        &self,
        access_token: &Secret,
        id: &str,
        action: HookAction,
        actor: Option<&str>,
    ) -> Result<EventHook, OktaApiError> {
        let path = format!("{}/lifecycle/{}", hook_path(id)?, action.as_str());
        let body = self
            .hook_call(access_token, Method::POST, &path, Body::None, actor)
            .await?;
        parse(&body, "an event hook after a lifecycle change")
    }

    /// `DELETE /api/v1/eventHooks/{id}` (only a deactivated hook).
    pub async fn delete_event_hook(
        &self,
        access_token: &Secret,
        id: &str,
        actor: Option<&str>,
    ) -> Result<(), OktaApiError> {
        self.hook_call(
            access_token,
            Method::DELETE,
            &hook_path(id)?,
            Body::None,
            actor,
        )
        .await
        .map(|_| ())
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &str, what: &str) -> Result<T, OktaApiError> {
    serde_json::from_str(body).map_err(|e| OktaApiError::Unexpected(format!("{what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_carries_the_secret_and_debug_does_not() {
        let spec = EventHookSpec {
            name: "zenqms-bridge".into(),
            events: vec!["user.lifecycle.create".into()],
            uri: "https://bridge.example.com/okta/events".into(),
            secret: Secret::new("s3cret-value"),
        };
        let body = spec.body();
        assert_eq!(
            body["channel"]["config"]["authScheme"]["value"],
            "s3cret-value"
        );
        assert_eq!(body["events"]["type"], "EVENT_TYPE");
        assert!(!format!("{spec:?}").contains("s3cret"));
    }

    #[test]
    fn hook_ids_are_checked_before_they_reach_a_path() {
        assert!(hook_path("who1abc").is_ok());
        for bad in ["", "../users", "who 1", "a/b", "who?x=1"] {
            assert!(hook_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn okta_hooks_parse() {
        let hook: EventHook = serde_json::from_str(
            r#"{"id":"who1","status":"ACTIVE","verificationStatus":"UNVERIFIED","name":"n",
            "events":{"type":"EVENT_TYPE","items":["user.lifecycle.create"],"filter":null},
            "channel":{"type":"HTTP","version":"1.0.0","config":{"uri":"https://x/okta/events",
            "headers":[],"method":"POST","authScheme":{"type":"HEADER","key":"Authorization"}}}}"#,
        )
        .expect("parsed");
        assert!(hook.is_active() && !hook.is_verified());
        assert_eq!(hook.uri(), "https://x/okta/events");
        assert_eq!(hook.events(), ["user.lifecycle.create"]);
    }
}
