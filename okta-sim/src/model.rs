//! The directory's objects in Okta's wire shape (users, groups) and the timestamps they
//! carry. Links (`_links`) need the org URL and are added by [`User::to_wire`] and
//! [`Group::to_wire`] when an object leaves through the API.

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// Now, truncated to milliseconds: Okta's timestamps carry milliseconds, and a filter
/// value a client copies from one must compare equal to it.
pub fn now_ms() -> DateTime<Utc> {
    truncate_ms(Utc::now())
}

pub(crate) fn truncate_ms(t: DateTime<Utc>) -> DateTime<Utc> {
    let ms = t.timestamp_millis();
    DateTime::from_timestamp_millis(ms).unwrap_or(t)
}

/// `2026-11-02T10:00:00.000Z`, the form of every Okta timestamp.
pub fn fmt_ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A new `lastUpdated` that is later than `previous` (by at least 1 ms), so that
/// `lastUpdated gt "<previous>"` always finds a change made after `previous` was read.
pub(crate) fn later_than(previous: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
    if now > previous {
        now
    } else {
        previous + TimeDelta::milliseconds(1)
    }
}

/// Serde for timestamps in Okta's form (RFC 3339, milliseconds, `Z`).
pub mod okta_ts {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::fmt_ts(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }

    /// The same for `Option<DateTime<Utc>>` (`null` when absent).
    pub mod option {
        use chrono::{DateTime, Utc};
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(
            t: &Option<DateTime<Utc>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.serialize_str(&super::super::fmt_ts(t)),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<DateTime<Utc>>, D::Error> {
            let text = Option::<String>::deserialize(d)?;
            text.map(|t| {
                DateTime::parse_from_rfc3339(&t)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(serde::de::Error::custom)
            })
            .transpose()
        }
    }
}

/// A user's `status` (Okta's user lifecycle).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UserStatus {
    Staged,
    Provisioned,
    Active,
    Recovery,
    PasswordExpired,
    LockedOut,
    Suspended,
    Deprovisioned,
}

impl UserStatus {
    pub const ALL: [UserStatus; 8] = [
        UserStatus::Staged,
        UserStatus::Provisioned,
        UserStatus::Active,
        UserStatus::Recovery,
        UserStatus::PasswordExpired,
        UserStatus::LockedOut,
        UserStatus::Suspended,
        UserStatus::Deprovisioned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Staged => "STAGED",
            UserStatus::Provisioned => "PROVISIONED",
            UserStatus::Active => "ACTIVE",
            UserStatus::Recovery => "RECOVERY",
            UserStatus::PasswordExpired => "PASSWORD_EXPIRED",
            UserStatus::LockedOut => "LOCKED_OUT",
            UserStatus::Suspended => "SUSPENDED",
            UserStatus::Deprovisioned => "DEPROVISIONED",
        }
    }

    pub fn parse(s: &str) -> Option<UserStatus> {
        UserStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// `type` of a user: Okta's user type object; only its id is carried.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserType {
    pub id: String,
}

/// An Okta user as `GET /api/v1/users/{id}` returns it, without `credentials` and
/// `_links` (added by [`User::to_wire`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub status: UserStatus,
    #[serde(with = "okta_ts")]
    pub created: DateTime<Utc>,
    #[serde(with = "okta_ts::option")]
    pub activated: Option<DateTime<Utc>>,
    #[serde(with = "okta_ts::option")]
    pub status_changed: Option<DateTime<Utc>>,
    #[serde(with = "okta_ts::option")]
    pub last_login: Option<DateTime<Utc>>,
    #[serde(with = "okta_ts")]
    pub last_updated: DateTime<Utc>,
    #[serde(with = "okta_ts::option")]
    pub password_changed: Option<DateTime<Utc>>,
    #[serde(rename = "type")]
    pub user_type: UserType,
    /// `login`, `email`, `firstName`, `lastName`, `title`, `displayName`, … and custom
    /// attributes; any of them may be `null` or absent except `login` and `email`.
    pub profile: Map<String, Value>,
}

impl User {
    pub fn login(&self) -> &str {
        self.profile_str("login").unwrap_or("")
    }

    pub fn email(&self) -> &str {
        self.profile_str("email").unwrap_or("")
    }

    pub fn profile_str(&self, key: &str) -> Option<&str> {
        self.profile.get(key).and_then(Value::as_str)
    }

    /// `"First Last"` (what Okta's System Log shows as a user's display name).
    pub fn display_name(&self) -> String {
        if let Some(d) = self.profile_str("displayName").filter(|d| !d.is_empty()) {
            return d.to_owned();
        }
        let parts: Vec<&str> = [self.profile_str("firstName"), self.profile_str("lastName")]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect();
        if parts.is_empty() {
            self.login().to_owned()
        } else {
            parts.join(" ")
        }
    }

    /// The API's JSON: the object plus `credentials` and `_links`.
    pub fn to_wire(&self, org_url: &str) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut v {
            map.insert(
                "credentials".into(),
                json!({
                    "emails": [{"value": self.email(), "status": "VERIFIED", "type": "PRIMARY"}],
                    "provider": {"type": "OKTA", "name": "OKTA"}
                }),
            );
            let me = format!("{org_url}/api/v1/users/{}", self.id);
            let mut links = Map::new();
            links.insert("self".into(), json!({ "href": me }));
            match self.status {
                UserStatus::Deprovisioned => {
                    links.insert(
                        "activate".into(),
                        json!({"href": format!("{me}/lifecycle/activate"), "method": "POST"}),
                    );
                }
                UserStatus::Suspended => {
                    links.insert(
                        "unsuspend".into(),
                        json!({"href": format!("{me}/lifecycle/unsuspend"), "method": "POST"}),
                    );
                    links.insert(
                        "deactivate".into(),
                        json!({"href": format!("{me}/lifecycle/deactivate"), "method": "POST"}),
                    );
                }
                _ => {
                    links.insert(
                        "deactivate".into(),
                        json!({"href": format!("{me}/lifecycle/deactivate"), "method": "POST"}),
                    );
                }
            }
            links.insert(
                "type".into(),
                json!({"href": format!("{org_url}/api/v1/meta/types/user/{}", self.user_type.id)}),
            );
            map.insert("_links".into(), Value::Object(links));
        }
        v
    }
}

/// `type` of a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum GroupType {
    OktaGroup,
    AppGroup,
    BuiltIn,
}

impl GroupType {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupType::OktaGroup => "OKTA_GROUP",
            GroupType::AppGroup => "APP_GROUP",
            GroupType::BuiltIn => "BUILT_IN",
        }
    }

    pub fn parse(s: &str) -> Option<GroupType> {
        [
            GroupType::OktaGroup,
            GroupType::AppGroup,
            GroupType::BuiltIn,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupProfile {
    pub name: String,
    pub description: Option<String>,
}

/// An Okta group as `GET /api/v1/groups/{id}` returns it, without `_links`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub id: String,
    #[serde(with = "okta_ts")]
    pub created: DateTime<Utc>,
    #[serde(with = "okta_ts")]
    pub last_updated: DateTime<Utc>,
    #[serde(with = "okta_ts")]
    pub last_membership_updated: DateTime<Utc>,
    pub object_class: Vec<String>,
    #[serde(rename = "type")]
    pub group_type: GroupType,
    pub profile: GroupProfile,
}

impl Group {
    pub fn name(&self) -> &str {
        &self.profile.name
    }

    pub fn to_wire(&self, org_url: &str) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut v {
            let me = format!("{org_url}/api/v1/groups/{}", self.id);
            map.insert(
                "_links".into(),
                json!({
                    "logo": [],
                    "users": {"href": format!("{me}/users")},
                    "apps": {"href": format!("{me}/apps")}
                }),
            );
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_and_statuses() {
        let t = DateTime::parse_from_rfc3339("2026-11-02T10:00:00.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(fmt_ts(&truncate_ms(t)), "2026-11-02T10:00:00.123Z");
        assert_eq!(later_than(t, t), t + TimeDelta::milliseconds(1));
        for s in UserStatus::ALL {
            assert_eq!(UserStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(UserStatus::parse("active"), None);
        assert_eq!(GroupType::parse("BUILT_IN"), Some(GroupType::BuiltIn));
    }
}
