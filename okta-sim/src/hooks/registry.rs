//! Registered event hooks and the rules of `/api/v1/eventHooks`:
//! - `POST` creates an ACTIVE, UNVERIFIED hook; `PUT` replaces name, events and channel
//!   (an `authScheme` without `value` keeps the stored secret; a new URI makes the hook
//!   UNVERIFIED again).
//! - The URI must be `https://`; plain `http://` is accepted only for loopback hosts
//!   (`127.0.0.0/8`, `::1`, `localhost`), so tests and the demo can use a local receiver.
//! - `DELETE` only for an INACTIVE hook (`400` E0000001 otherwise).
//! - At most [`MAX_ACTIVE_VERIFIED`] hooks may be ACTIVE and VERIFIED at once: verifying
//!   or activating one more answers `400` E0000001.
//! - The channel's auth secret never leaves through the API (only `/_sim/hooks` shows it).

use std::collections::BTreeMap;
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::events::is_hook_eligible;
use crate::ids::okta_id;
use crate::model::{fmt_ts, later_than, okta_ts};

pub const MAX_ACTIVE_VERIFIED: usize = 25;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HookStatus {
    Active,
    Inactive,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verification {
    Unverified,
    Verified,
}

/// `channel.config.authScheme`: the header Okta sends with every call to the hook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthScheme {
    #[serde(rename = "type")]
    pub kind: String,
    pub key: String,
    pub value: String,
}

/// A registered hook, secret included (what `/_sim/hooks` shows).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventHook {
    pub id: String,
    pub status: HookStatus,
    pub verification_status: Verification,
    pub name: String,
    pub description: Option<String>,
    #[serde(with = "okta_ts")]
    pub created: DateTime<Utc>,
    pub created_by: String,
    #[serde(with = "okta_ts")]
    pub last_updated: DateTime<Utc>,
    /// Subscribed event types.
    pub events: Vec<String>,
    pub uri: String,
    pub auth_scheme: Option<AuthScheme>,
    /// Further headers sent with every call (`channel.config.headers`).
    pub headers: Vec<(String, String)>,
}

impl EventHook {
    pub fn is_live(&self) -> bool {
        self.status == HookStatus::Active && self.verification_status == Verification::Verified
    }

    pub fn subscribes(&self, event_type: &str) -> bool {
        self.events.iter().any(|e| e == event_type)
    }

    /// Okta's JSON, without the secret.
    pub fn to_wire(&self, org_url: &str) -> Value {
        let me = format!("{org_url}/api/v1/eventHooks/{}", self.id);
        let auth = self
            .auth_scheme
            .as_ref()
            .map(|a| json!({"type": a.kind, "key": a.key}));
        let headers: Vec<Value> = self
            .headers
            .iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect();
        let lifecycle = if self.status == HookStatus::Active {
            json!({"deactivate": {"href": format!("{me}/lifecycle/deactivate"), "hints": {"allow": ["POST"]}}})
        } else {
            json!({"activate": {"href": format!("{me}/lifecycle/activate"), "hints": {"allow": ["POST"]}}})
        };
        let mut links = json!({
            "self": {"href": me, "hints": {"allow": ["GET", "PUT", "DELETE"]}},
            "verify": {"href": format!("{me}/lifecycle/verify"), "hints": {"allow": ["POST"]}},
        });
        if let (Value::Object(l), Value::Object(extra)) = (&mut links, lifecycle) {
            l.extend(extra);
        }
        json!({
            "id": self.id,
            "status": self.status,
            "verificationStatus": self.verification_status,
            "name": self.name,
            "description": self.description,
            "created": fmt_ts(&self.created),
            "createdBy": self.created_by,
            "lastUpdated": fmt_ts(&self.last_updated),
            "events": {"type": "EVENT_TYPE", "items": self.events, "filter": null},
            "channel": {
                "type": "HTTP",
                "version": "1.0.0",
                "config": {"uri": self.uri, "headers": headers, "method": "POST", "authScheme": auth}
            },
            "_links": links,
        })
    }
}

/// A validated `POST`/`PUT` body.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct HookInput {
    pub name: String,
    pub description: Option<String>,
    pub events: Vec<String>,
    pub uri: String,
    /// `(type, key, value)`; `value` absent in a `PUT` keeps the stored one.
    pub auth: Option<(String, String, Option<String>)>,
    pub headers: Vec<(String, String)>,
}

fn invalid(field: &str, cause: impl Into<String>) -> ApiError {
    ApiError::validation(field, cause)
}

/// `https://`, or `http://` to a loopback host.
pub(crate) fn check_uri(uri: &str) -> Result<(), ApiError> {
    let url = url::Url::parse(uri)
        .map_err(|e| invalid("channel.config.uri", format!("channel.config.uri: {e}")))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(invalid(
            "channel.config.uri",
            "channel.config.uri: The URI must use HTTPS (plain HTTP only to a loopback host in the simulator).",
        )),
    }
}

pub(crate) fn parse_input(body: &Value) -> Result<HookInput, ApiError> {
    let s = |v: &Value| v.as_str().map(str::to_owned);
    let name = s(&body["name"])
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| invalid("name", "name: The field cannot be left blank"))?;
    let description = s(&body["description"]);
    let events = &body["events"];
    if events["type"].as_str() != Some("EVENT_TYPE") {
        return Err(invalid("events.type", "events.type: must be EVENT_TYPE"));
    }
    let items: Vec<String> = events["items"]
        .as_array()
        .ok_or_else(|| {
            invalid(
                "events.items",
                "events.items: a list of event types is required",
            )
        })?
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| invalid("events.items", "events.items: must be strings"))
        })
        .collect::<Result<_, _>>()?;
    if items.is_empty() {
        return Err(invalid(
            "events.items",
            "events.items: at least one event type is required",
        ));
    }
    if let Some(bad) = items.iter().find(|t| !is_hook_eligible(t)) {
        return Err(invalid(
            "events.items",
            format!("events.items: {bad} is not an event type eligible for event hooks"),
        ));
    }
    let channel = &body["channel"];
    if channel["type"].as_str() != Some("HTTP") {
        return Err(invalid("channel.type", "channel.type: must be HTTP"));
    }
    if channel["version"].as_str() != Some("1.0.0") {
        return Err(invalid("channel.version", "channel.version: must be 1.0.0"));
    }
    let config = &channel["config"];
    let uri = s(&config["uri"])
        .ok_or_else(|| invalid("channel.config.uri", "channel.config.uri: is required"))?;
    check_uri(&uri)?;
    let auth = match &config["authScheme"] {
        Value::Null => None,
        a => {
            let kind = s(&a["type"]).unwrap_or_else(|| "HEADER".into());
            if kind != "HEADER" {
                return Err(invalid(
                    "channel.config.authScheme.type",
                    "channel.config.authScheme.type: must be HEADER",
                ));
            }
            let key = s(&a["key"]).filter(|k| !k.is_empty()).ok_or_else(|| {
                invalid(
                    "channel.config.authScheme.key",
                    "channel.config.authScheme.key: is required",
                )
            })?;
            Some((kind, key, s(&a["value"])))
        }
    };
    let headers = match &config["headers"] {
        Value::Null => Vec::new(),
        Value::Array(list) => list
            .iter()
            .map(|h| match (h["key"].as_str(), h["value"].as_str()) {
                (Some(k), Some(v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
                _ => Err(invalid(
                    "channel.config.headers",
                    "channel.config.headers: each needs key and value",
                )),
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(invalid(
                "channel.config.headers",
                "channel.config.headers: must be a list",
            ))
        }
    };
    Ok(HookInput {
        name,
        description,
        events: items,
        uri,
        auth,
        headers,
    })
}

#[derive(Debug, Default)]
pub(crate) struct Registry {
    hooks: BTreeMap<String, EventHook>,
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("{id} (EventHook)"))
}

impl Registry {
    pub fn list(&self) -> Vec<EventHook> {
        self.hooks.values().cloned().collect()
    }

    pub fn get(&self, id: &str) -> Result<EventHook, ApiError> {
        self.hooks.get(id).cloned().ok_or_else(|| not_found(id))
    }

    /// Live hooks subscribed to `event_type`.
    pub fn subscribers(&self, event_type: &str) -> Vec<EventHook> {
        self.hooks
            .values()
            .filter(|h| h.is_live() && h.subscribes(event_type))
            .cloned()
            .collect()
    }

    fn live_count(&self, except: &str) -> usize {
        self.hooks
            .values()
            .filter(|h| h.is_live() && h.id != except)
            .count()
    }

    pub fn create(
        &mut self,
        input: HookInput,
        created_by: &str,
        now: DateTime<Utc>,
    ) -> Result<EventHook, ApiError> {
        let auth = match input.auth {
            Some((kind, key, Some(value))) => Some(AuthScheme { kind, key, value }),
            Some(_) => {
                return Err(invalid(
                    "channel.config.authScheme.value",
                    "channel.config.authScheme.value: is required",
                ))
            }
            None => None,
        };
        let hook = EventHook {
            id: okta_id("who", &mut rand::rng()),
            status: HookStatus::Active,
            verification_status: Verification::Unverified,
            name: input.name,
            description: input.description,
            created: now,
            created_by: created_by.to_owned(),
            last_updated: now,
            events: input.events,
            uri: input.uri,
            auth_scheme: auth,
            headers: input.headers,
        };
        self.hooks.insert(hook.id.clone(), hook.clone());
        Ok(hook)
    }

    pub fn replace(
        &mut self,
        id: &str,
        input: HookInput,
        now: DateTime<Utc>,
    ) -> Result<EventHook, ApiError> {
        let old = self.get(id)?;
        let auth = match input.auth {
            Some((kind, key, Some(value))) => Some(AuthScheme { kind, key, value }),
            Some((kind, key, None)) => match &old.auth_scheme {
                Some(a) => Some(AuthScheme {
                    kind,
                    key,
                    value: a.value.clone(),
                }),
                None => {
                    return Err(invalid(
                        "channel.config.authScheme.value",
                        "channel.config.authScheme.value: is required",
                    ))
                }
            },
            None => None,
        };
        let mut hook = old.clone();
        if input.uri != old.uri {
            hook.verification_status = Verification::Unverified;
        }
        hook.name = input.name;
        hook.description = input.description;
        hook.events = input.events;
        hook.uri = input.uri;
        hook.auth_scheme = auth;
        hook.headers = input.headers;
        hook.last_updated = later_than(old.last_updated, now);
        self.hooks.insert(hook.id.clone(), hook.clone());
        Ok(hook)
    }

    pub fn delete(&mut self, id: &str) -> Result<(), ApiError> {
        let hook = self.get(id)?;
        if hook.status == HookStatus::Active {
            return Err(invalid(
                "status",
                "Event hook must be deactivated before it can be deleted.",
            ));
        }
        self.hooks.remove(id);
        Ok(())
    }

    fn check_room(&self, hook: &EventHook) -> Result<(), ApiError> {
        if self.live_count(&hook.id) >= MAX_ACTIVE_VERIFIED {
            return Err(invalid(
                "eventHook",
                format!(
                    "An org can have at most {MAX_ACTIVE_VERIFIED} active, verified event hooks."
                ),
            ));
        }
        Ok(())
    }

    pub fn set_status(
        &mut self,
        id: &str,
        status: HookStatus,
        now: DateTime<Utc>,
    ) -> Result<EventHook, ApiError> {
        let mut hook = self.get(id)?;
        if status == HookStatus::Active && hook.verification_status == Verification::Verified {
            self.check_room(&hook)?;
        }
        if hook.status != status {
            hook.status = status;
            hook.last_updated = later_than(hook.last_updated, now);
            self.hooks.insert(hook.id.clone(), hook.clone());
        }
        Ok(hook)
    }

    /// Before a verification call: the hook must be ACTIVE and there must be room.
    pub fn verifiable(&self, id: &str) -> Result<EventHook, ApiError> {
        let hook = self.get(id)?;
        if hook.status != HookStatus::Active {
            return Err(invalid(
                "status",
                "Only an ACTIVE event hook can be verified.",
            ));
        }
        self.check_room(&hook)?;
        Ok(hook)
    }

    /// After a successful verification call of `verified` (unless the hook changed its
    /// URI meanwhile).
    pub fn mark_verified(
        &mut self,
        verified: &EventHook,
        now: DateTime<Utc>,
    ) -> Result<EventHook, ApiError> {
        let mut hook = self.get(&verified.id)?;
        if hook.uri == verified.uri {
            self.check_room(&hook)?;
            hook.verification_status = Verification::Verified;
            hook.last_updated = later_than(hook.last_updated, now);
            self.hooks.insert(hook.id.clone(), hook.clone());
        }
        Ok(hook)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::now_ms;

    fn body(uri: &str) -> Value {
        json!({
            "name": "bridge",
            "events": {"type": "EVENT_TYPE", "items": ["user.lifecycle.create"]},
            "channel": {"type": "HTTP", "version": "1.0.0",
                        "config": {"uri": uri, "authScheme": {"type": "HEADER", "key": "Authorization", "value": "s3cret"}}}
        })
    }

    #[test]
    fn uris_inputs_and_limits() {
        for ok in [
            "https://bridge.example.com/okta/events",
            "http://127.0.0.1:9/x",
            "http://localhost/x",
            "http://[::1]:8/x",
        ] {
            assert!(check_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://bridge.example.com/x",
            "ftp://x/y",
            "not a uri",
            "http://10.0.0.1/x",
        ] {
            assert!(check_uri(bad).is_err(), "{bad}");
        }
        let mut r = Registry::default();
        let now = now_ms();
        let h = r
            .create(parse_input(&body("https://a.example/x")).unwrap(), "c", now)
            .unwrap();
        let wire = h.to_wire("https://org");
        assert_eq!(
            wire["channel"]["config"]["authScheme"],
            json!({"type": "HEADER", "key": "Authorization"})
        );
        assert!(!wire.to_string().contains("s3cret"));
        assert!(r.delete(&h.id).is_err());
        for _ in 0..MAX_ACTIVE_VERIFIED {
            let h = r
                .create(parse_input(&body("https://a.example/x")).unwrap(), "c", now)
                .unwrap();
            r.mark_verified(&h, now).unwrap();
        }
        assert!(r.verifiable(&h.id).is_err());
        r.set_status(&h.id, HookStatus::Inactive, now).unwrap();
        r.delete(&h.id).unwrap();
        let mut bad = body("https://a.example/x");
        bad["events"]["items"] = json!(["user.nonsense"]);
        assert!(parse_input(&bad).is_err());
    }
}
