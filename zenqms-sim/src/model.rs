//! The resources the simulator keeps, in the wire shape of the ZenQMS public API
//! (`docs/zenqms-api.md` of the bridge, "User object"), and the rules that belong to them.

use std::fmt;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// An opaque id exactly as it appears on the wire: a JSON number or a JSON string.
///
/// In a request body an id matches a resource only in the JSON form the simulator
/// handed out (`7` is not `"7"`): the spec asks clients to send ids back in the form
/// they received them, and the simulator is strict so that a client that does not is
/// caught. A path segment has no JSON type, so it matches by the string form
/// ([`Id::to_string`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Id {
    Num(u64),
    Str(String),
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Id::Num(n) => write!(f, "{n}"),
            Id::Str(s) => f.write_str(s),
        }
    }
}

impl From<u64> for Id {
    fn from(n: u64) -> Self {
        Id::Num(n)
    }
}

impl From<&str> for Id {
    fn from(s: &str) -> Self {
        Id::Str(s.to_owned())
    }
}

impl From<String> for Id {
    fn from(s: String) -> Self {
        Id::Str(s)
    }
}

/// `status` of a user. The bridge writes `active` and `disabled`; `locked_out` is set by
/// ZenQMS itself (and here by seeds or tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    Disabled,
    LockedOut,
}

impl Status {
    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "active" => Some(Status::Active),
            "disabled" => Some(Status::Disabled),
            "locked_out" => Some(Status::LockedOut),
            _ => None,
        }
    }
}

/// A ZenQMS user as the API returns it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: Id,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub title: String,
    pub site: Option<String>,
    pub supervisor_email: Option<String>,
    pub external_id: Option<String>,
    pub status: Status,
    pub role_ids: Vec<Id>,
    #[serde(with = "rfc3339_ms")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "rfc3339_ms")]
    pub updated_at: DateTime<Utc>,
}

impl User {
    /// True when the two differ in anything a client can change (not the timestamps).
    pub(crate) fn same_content(&self, other: &User) -> bool {
        self.id == other.id
            && self.email == other.email
            && self.first_name == other.first_name
            && self.last_name == other.last_name
            && self.title == other.title
            && self.site == other.site
            && self.supervisor_email == other.supervisor_email
            && self.external_id == other.external_id
            && self.status == other.status
            && self.role_ids == other.role_ids
    }
}

/// A ZenQMS role as `GET /v2/roles` returns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub id: Id,
    pub name: String,
    pub description: String,
}

/// A role to create (`POST /_sim/roles`, seeds). Without `id` the simulator picks one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRole {
    #[serde(default)]
    pub id: Option<Id>,
    pub name: String,
    #[serde(default)]
    pub description: String,
}

impl NewRole {
    pub fn new(id: impl Into<Id>, name: &str, description: &str) -> Self {
        NewRole {
            id: Some(id.into()),
            name: name.to_owned(),
            description: description.to_owned(),
        }
    }
}

/// What `delete_role` removed: the role and the users that held it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeletedRole {
    pub role: Role,
    pub removed_from_users: Vec<Id>,
}

/// One page of a list answer: `{"data": [...], "page", "page_size", "total"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub page: u64,
    pub page_size: u64,
    pub total: u64,
}

impl<T: Clone> Page<T> {
    /// Cuts page `page` (1-based) of `page_size` out of `all`.
    pub(crate) fn of(all: &[T], page: u64, page_size: u64) -> Page<T> {
        let start = page.saturating_sub(1).saturating_mul(page_size);
        let data = usize::try_from(start)
            .ok()
            .and_then(|start| all.get(start..))
            .unwrap_or(&[])
            .iter()
            .take(usize::try_from(page_size).unwrap_or(usize::MAX))
            .cloned()
            .collect();
        Page {
            data,
            page,
            page_size,
            total: all.len() as u64,
        }
    }
}

/// Everything the simulator holds: `GET /_sim/state`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StateSnapshot {
    pub users: Vec<User>,
    pub roles: Vec<Role>,
}

impl StateSnapshot {
    /// The user whose id has this string form.
    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id.to_string() == id)
    }

    /// The user with this email, compared without regard to case.
    pub fn user_by_email(&self, email: &str) -> Option<&User> {
        let email = email.to_lowercase();
        self.users.iter().find(|u| u.email.to_lowercase() == email)
    }

    /// The user with this `external_id`.
    pub fn user_by_external_id(&self, external_id: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.external_id.as_deref() == Some(external_id))
    }
}

/// Why an email is not acceptable, or `None` when it is. ZenQMS rejects non-ASCII
/// emails; "malformed" is deliberately simple: one `@`, a non-empty local part, a
/// dotted domain of non-empty labels, no whitespace or control characters.
pub(crate) fn email_problem(email: &str) -> Option<&'static str> {
    if !email.is_ascii() {
        return Some("must not contain non-ASCII characters");
    }
    let malformed = Some("is not a valid email address");
    if email.len() > 254
        || email
            .chars()
            .any(|c| c.is_ascii_whitespace() || c.is_control())
    {
        return malformed;
    }
    let Some((local, domain)) = email.split_once('@') else {
        return malformed;
    };
    if local.is_empty() || local.len() > 64 || domain.contains('@') {
        return malformed;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty()) {
        return malformed;
    }
    None
}

/// The current time at the millisecond precision the simulator stores and prints.
pub(crate) fn now_ms() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}

/// The next `updated_at`: now, but always later than the previous one, so that every
/// change is visible to a client comparing timestamps even within one millisecond.
pub(crate) fn next_update(previous: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
    now.max(previous + TimeDelta::milliseconds(1))
}

/// RFC 3339 UTC with milliseconds (`2026-11-02T10:00:00.000Z`) out; any RFC 3339 in.
pub(crate) mod rfc3339_ms {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_ts(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

pub(crate) fn format_ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(email_problem("ada@example.com"), None);
        assert_eq!(email_problem("Ada.Lovelace+qa@sub.example.co.uk"), None);
        assert!(email_problem("adä@example.com")
            .unwrap()
            .contains("non-ASCII"));
        for bad in [
            "ada",
            "@example.com",
            "ada@",
            "ada@example",
            "ada@@example.com",
            "a@b@example.com",
            "ada @example.com",
            "ada@example..com",
            "ada@.example.com",
            "ada@example.com.",
        ] {
            assert!(email_problem(bad).is_some(), "{bad} accepted");
        }
    }

    #[test]
    fn ids_serialize_in_their_json_form() {
        assert_eq!(serde_json::to_string(&Id::Num(7)).unwrap(), "7");
        assert_eq!(serde_json::to_string(&Id::from("u-7")).unwrap(), "\"u-7\"");
        assert_eq!(serde_json::from_str::<Id>("\"7\"").unwrap(), Id::from("7"));
        assert_ne!(Id::Num(7), Id::from("7"));
        assert_eq!(Id::Num(7).to_string(), Id::from("7").to_string());
        assert!(serde_json::from_str::<Id>("-1").is_err());
    }

    #[test]
    fn paging() {
        let all: Vec<u32> = (1..=5).collect();
        assert_eq!(Page::of(&all, 1, 2).data, vec![1, 2]);
        assert_eq!(Page::of(&all, 3, 2).data, vec![5]);
        assert_eq!(Page::of(&all, 4, 2).data, Vec::<u32>::new());
        assert_eq!(Page::of(&all, u64::MAX, 100).total, 5);
        assert!(Page::of(&all, u64::MAX, 100).data.is_empty());
    }

    #[test]
    fn updates_are_strictly_later() {
        let t = now_ms();
        assert!(next_update(t, t) > t);
        let later = t + TimeDelta::seconds(5);
        assert_eq!(next_update(t, later), later);
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_millis() {
        let t = DateTime::from_timestamp_millis(1_793_613_600_123).unwrap();
        assert_eq!(format_ts(&t), "2026-11-02T10:00:00.123Z");
    }
}
