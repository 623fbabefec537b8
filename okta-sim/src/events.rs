//! Okta System Log events (`LogEvent`), as event hooks deliver them: one per change the
//! state module makes (`state.rs`). Membership events name the user as target 0 and the
//! group as target 1, as Okta does.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::model::{okta_ts, Group, User};

/// The event types the simulator emits. The first twelve are the ones a provisioning
/// client subscribes to; `user.lifecycle.delete.initiated` is emitted on delete too.
pub const EVENT_TYPES: [&str; 13] = [
    "user.lifecycle.create",
    "user.lifecycle.activate",
    "user.lifecycle.deactivate",
    "user.lifecycle.reactivate",
    "user.lifecycle.suspend",
    "user.lifecycle.unsuspend",
    "user.account.update_profile",
    "group.user_membership.add",
    "group.user_membership.remove",
    "group.lifecycle.create",
    "group.lifecycle.delete",
    "group.profile.update",
    "user.lifecycle.delete.initiated",
];

/// Whether a hook may subscribe to `event_type`: the emitted ones plus a few other
/// event-hook-eligible types Okta offers (accepted, never emitted here).
pub fn is_hook_eligible(event_type: &str) -> bool {
    EVENT_TYPES.contains(&event_type)
        || matches!(
            event_type,
            "user.session.start"
                | "user.account.lock"
                | "user.account.unlock"
                | "user.account.privilege.grant"
                | "user.account.privilege.revoke"
                | "application.user_membership.add"
                | "application.user_membership.remove"
                | "group.application_assignment.add"
                | "group.application_assignment.remove"
        )
}

/// Who did it or what it was done to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Party {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub alternate_id: String,
    pub display_name: String,
    pub detail_entry: Option<Value>,
}

impl Party {
    pub fn user(u: &User) -> Party {
        Party {
            id: u.id.clone(),
            kind: "User".into(),
            alternate_id: u.login().to_owned(),
            display_name: u.display_name(),
            detail_entry: None,
        }
    }

    pub fn group(g: &Group) -> Party {
        Party {
            id: g.id.clone(),
            kind: "UserGroup".into(),
            alternate_id: "unknown".into(),
            display_name: g.name().to_owned(),
            detail_entry: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub result: String,
    pub reason: Option<String>,
}

/// One System Log event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEvent {
    pub uuid: String,
    #[serde(with = "okta_ts")]
    pub published: DateTime<Utc>,
    pub event_type: String,
    pub version: String,
    pub display_message: String,
    pub severity: String,
    pub legacy_event_type: Option<String>,
    pub actor: Party,
    pub client: Value,
    pub authentication_context: Value,
    pub security_context: Value,
    pub debug_context: Value,
    pub transaction: Value,
    pub request: Value,
    pub outcome: Outcome,
    pub target: Vec<Party>,
}

impl LogEvent {
    pub(crate) fn new(
        event_type: &str,
        published: DateTime<Utc>,
        actor: &Party,
        target: Vec<Party>,
    ) -> LogEvent {
        LogEvent {
            uuid: uuid::Uuid::new_v4().to_string(),
            published,
            event_type: event_type.to_owned(),
            version: "0".into(),
            display_message: display_message(event_type).to_owned(),
            severity: "INFO".into(),
            legacy_event_type: legacy_type(event_type).map(str::to_owned),
            actor: actor.clone(),
            client: json!({
                "userAgent": {"rawUserAgent": "okta-sim", "os": null, "browser": "UNKNOWN"},
                "zone": "null", "device": "Unknown", "id": null, "ipAddress": "127.0.0.1",
                "geographicalContext": null
            }),
            authentication_context: json!({
                "authenticationProvider": null, "credentialProvider": null,
                "credentialType": null, "issuer": null, "interface": null,
                "authenticationStep": 0, "externalSessionId": "okta-sim"
            }),
            security_context: json!({
                "asNumber": null, "asOrg": null, "isp": null, "domain": null, "isProxy": null
            }),
            debug_context: json!({ "debugData": {} }),
            transaction: json!({ "type": "WEB", "id": crate::ids::random_token(27), "detail": {} }),
            request: json!({ "ipChain": [] }),
            outcome: Outcome {
                result: "SUCCESS".into(),
                reason: None,
            },
            target,
        }
    }

    /// The target of `kind` (`"User"`, `"UserGroup"`), if any.
    pub fn target_of(&self, kind: &str) -> Option<&Party> {
        self.target.iter().find(|t| t.kind == kind)
    }
}

fn display_message(event_type: &str) -> &'static str {
    match event_type {
        "user.lifecycle.create" => "Create Okta user",
        "user.lifecycle.activate" => "Activate Okta user",
        "user.lifecycle.deactivate" => "Deactivate Okta user",
        "user.lifecycle.reactivate" => "Reactivate Okta user",
        "user.lifecycle.suspend" => "Suspend Okta user",
        "user.lifecycle.unsuspend" => "Unsuspend Okta user",
        "user.lifecycle.delete.initiated" => "Delete Okta user",
        "user.account.update_profile" => "Update user profile for Okta",
        "group.user_membership.add" => "Add user to group membership",
        "group.user_membership.remove" => "Remove user from group membership",
        "group.lifecycle.create" => "Create okta group",
        "group.lifecycle.delete" => "Delete okta group",
        "group.profile.update" => "Update group profile",
        _ => "Okta event",
    }
}

fn legacy_type(event_type: &str) -> Option<&'static str> {
    Some(match event_type {
        "user.lifecycle.create" => "core.user.config.user_creation.success",
        "user.lifecycle.activate" => "core.user.config.user_activated",
        "user.lifecycle.deactivate" => "core.user.config.user_deactivated",
        "user.lifecycle.reactivate" => "core.user.config.user_reactivated",
        "user.lifecycle.suspend" => "core.user.config.user_suspended",
        "user.lifecycle.unsuspend" => "core.user.config.user_unsuspended",
        "user.account.update_profile" => "core.user.config.profile_update.success",
        "group.user_membership.add" => "core.user_group_member.user_add",
        "group.user_membership.remove" => "core.user_group_member.user_remove",
        "group.lifecycle.create" => "core.user_group.created",
        "group.lifecycle.delete" => "core.user_group.deleted",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape() {
        let actor = Party {
            id: "00uadmin".into(),
            kind: "User".into(),
            alternate_id: "admin@example.com".into(),
            display_name: "Admin".into(),
            detail_entry: None,
        };
        let e = LogEvent::new(
            "group.user_membership.add",
            crate::model::now_ms(),
            &actor,
            vec![],
        );
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["eventType"], "group.user_membership.add");
        assert_eq!(v["version"], "0");
        assert_eq!(v["actor"]["alternateId"], "admin@example.com");
        assert_eq!(v["outcome"]["result"], "SUCCESS");
        assert!(v["published"].as_str().unwrap().ends_with('Z'));
        assert!(EVENT_TYPES.iter().all(|t| is_hook_eligible(t)));
        assert!(!is_hook_eligible("user.nonsense"));
    }
}
