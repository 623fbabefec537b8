//! Everything this client assumes about the ZenQMS public API beyond what ZenQMS's support
//! articles state (endpoint names and field names): paths, the search body, paging limits,
//! the error body and its codes, the `Retry-After` form, id forms and status values.
//! `docs/zenqms-api.md` fixes these; when checked against a live tenant, this module
//! is the one edit.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

// ---- endpoints -------------------------------------------------------------------------

/// An endpoint as counted in `/metrics` and named in the audit log: method and route
/// template, never the concrete path (ids would explode the label set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    CreateUser,
    UpdateUser,
    SearchUsers,
    AddRoles,
    RemoveRoles,
    ListRoles,
}

impl Endpoint {
    pub fn method(self) -> reqwest::Method {
        match self {
            Endpoint::CreateUser | Endpoint::SearchUsers | Endpoint::AddRoles => {
                reqwest::Method::POST
            }
            Endpoint::UpdateUser => reqwest::Method::PATCH,
            // The spec's remove call is a DELETE with a JSON body.
            Endpoint::RemoveRoles => reqwest::Method::DELETE,
            Endpoint::ListRoles => reqwest::Method::GET,
        }
    }

    /// `"METHOD /v2/route/{id}"`: the metric label and the audit action's detail.
    pub fn label(self) -> &'static str {
        match self {
            Endpoint::CreateUser => "POST /v2/users",
            Endpoint::UpdateUser => "PATCH /v2/users/{id}",
            Endpoint::SearchUsers => "POST /v2/users/search",
            Endpoint::AddRoles => "POST /v2/users/{id}/roles/add",
            Endpoint::RemoveRoles => "DELETE /v2/users/{id}/roles/remove",
            Endpoint::ListRoles => "GET /v2/roles",
        }
    }

    /// The audit action of a call to this endpoint.
    pub fn action(self) -> &'static str {
        match self {
            Endpoint::CreateUser => "zenqms.user.create",
            Endpoint::UpdateUser => "zenqms.user.update",
            Endpoint::SearchUsers => "zenqms.user.search",
            Endpoint::AddRoles => "zenqms.user.roles.add",
            Endpoint::RemoveRoles => "zenqms.user.roles.remove",
            Endpoint::ListRoles => "zenqms.roles.list",
        }
    }

    /// Path segments after the base URL; `id` fills the `{id}` segment.
    pub fn segments(self, id: Option<&ZenqmsId>) -> Vec<String> {
        let id = id.map(ZenqmsId::path_form).unwrap_or_default();
        let s = |parts: &[&str]| parts.iter().map(|p| p.to_string()).collect();
        match self {
            Endpoint::CreateUser => s(&["v2", "users"]),
            Endpoint::SearchUsers => s(&["v2", "users", "search"]),
            Endpoint::UpdateUser => s(&["v2", "users", &id]),
            Endpoint::AddRoles => s(&["v2", "users", &id, "roles", "add"]),
            Endpoint::RemoveRoles => s(&["v2", "users", &id, "roles", "remove"]),
            Endpoint::ListRoles => s(&["v2", "roles"]),
        }
    }

    /// Whether a `404` from this endpoint means "no such user" (a stale link) rather than
    /// "no such endpoint" (a wrong base URL, which must not be read as a missing user).
    pub fn addresses_a_user(self) -> bool {
        matches!(
            self,
            Endpoint::UpdateUser | Endpoint::AddRoles | Endpoint::RemoveRoles
        )
    }
}

/// The spec: "`external_id`: unique per tenant when set", enforced with a `409` like email.
/// With both unique, a create succeeds exactly when the lookups by `external_id` and by
/// email would have found nobody, so the reconciler creates first and looks up only on
/// `409`. Set to `false` for a tenant that does not enforce it: the reconciler then looks up
/// by `external_id` before every create.
pub const EXTERNAL_ID_IS_UNIQUE: bool = true;

/// Largest `page_size` the API accepts (search and roles).
pub const MAX_PAGE_SIZE: u32 = 100;

// ---- ids -------------------------------------------------------------------------------

/// A ZenQMS id, opaque: a JSON number or string, kept in the form it arrived in and sent
/// back in that form (`7` and `"7"` are different ids to a strict server).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ZenqmsId(Value);

impl ZenqmsId {
    /// Accepts a JSON number or a non-empty string; anything else is not an id.
    pub fn from_json(v: &Value) -> Option<ZenqmsId> {
        match v {
            Value::Number(_) => Some(ZenqmsId(v.clone())),
            Value::String(s) if !s.is_empty() => Some(ZenqmsId(v.clone())),
            _ => None,
        }
    }

    /// The id as JSON text (`1042` or `"u-1042"`): what is stored and sent back.
    pub fn json_text(&self) -> String {
        self.0.to_string()
    }

    pub fn from_json_text(text: &str) -> Option<ZenqmsId> {
        serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|v| ZenqmsId::from_json(&v))
    }

    /// The id as a path segment and for display: a number's digits, a string's content.
    pub fn path_form(&self) -> String {
        match &self.0 {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }

    pub fn as_json(&self) -> &Value {
        &self.0
    }
}

impl std::fmt::Display for ZenqmsId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.path_form())
    }
}

impl Serialize for ZenqmsId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for ZenqmsId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        ZenqmsId::from_json(&v)
            .ok_or_else(|| serde::de::Error::custom("an id must be a JSON number or string"))
    }
}

// ---- users -----------------------------------------------------------------------------

/// `status` of a ZenQMS user. The bridge writes `active` and `disabled`; `locked_out` is
/// ZenQMS's own (active but locked) and any other value is kept as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteStatus {
    Active,
    Disabled,
    LockedOut,
    Other(String),
}

impl RemoteStatus {
    pub fn as_str(&self) -> &str {
        match self {
            RemoteStatus::Active => "active",
            RemoteStatus::Disabled => "disabled",
            RemoteStatus::LockedOut => "locked_out",
            RemoteStatus::Other(s) => s,
        }
    }

    fn parse(s: &str) -> RemoteStatus {
        match s {
            "active" => RemoteStatus::Active,
            "disabled" => RemoteStatus::Disabled,
            "locked_out" => RemoteStatus::LockedOut,
            other => RemoteStatus::Other(other.to_string()),
        }
    }
}

impl Serialize for RemoteStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RemoteStatus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(RemoteStatus::parse(&String::deserialize(d)?))
    }
}

/// The status values the bridge writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteStatus {
    Active,
    Disabled,
}

/// A ZenQMS user as the API returns it; unknown fields are ignored, absent optional
/// fields read as `None` so a sparser real tenant still parses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteUser {
    pub id: ZenqmsId,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub external_id: Option<String>,
    pub status: RemoteStatus,
    #[serde(default)]
    pub role_ids: Vec<ZenqmsId>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

/// `POST /v2/users`: the four required fields, the link, the status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewUser {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub status: WriteStatus,
}

/// `PATCH /v2/users/{id}`: only the fields present are sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UserPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<WriteStatus>,
}

impl UserPatch {
    pub fn is_empty(&self) -> bool {
        *self == UserPatch::default()
    }

    /// Names of the fields this patch sets, for logs and the audit trail.
    pub fn fields(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut push = |set: bool, name| {
            if set {
                out.push(name)
            }
        };
        push(self.email.is_some(), "email");
        push(self.first_name.is_some(), "first_name");
        push(self.last_name.is_some(), "last_name");
        push(self.title.is_some(), "title");
        push(self.external_id.is_some(), "external_id");
        push(self.status.is_some(), "status");
        out
    }
}

/// Filters of `POST /v2/users/search`, ANDed by the server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SearchFilters {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<ZenqmsId>,
    /// Matched without regard to case by the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

impl SearchFilters {
    /// Whether `u` answers this search as ZenQMS does: every given field matches, the email
    /// without regard to case (docs/zenqms-api.md, `POST /v2/users/search`).
    pub fn matches(&self, u: &RemoteUser) -> bool {
        self.id.as_ref().is_none_or(|i| *i == u.id)
            && self
                .email
                .as_ref()
                .is_none_or(|e| e.eq_ignore_ascii_case(&u.email))
            && self
                .external_id
                .as_ref()
                .is_none_or(|x| Some(x) == u.external_id.as_ref())
    }
}

pub fn search_body(filters: &SearchFilters, page: u32, page_size: u32) -> Value {
    serde_json::json!({"filters": filters, "page": page, "page_size": page_size.min(MAX_PAGE_SIZE)})
}

pub fn role_ids_body(role_ids: &[ZenqmsId]) -> Value {
    serde_json::json!({ "role_ids": role_ids })
}

pub fn roles_query(page: u32, page_size: u32) -> [(&'static str, String); 2] {
    [
        ("page", page.to_string()),
        ("page_size", page_size.min(MAX_PAGE_SIZE).to_string()),
    ]
}

/// A ZenQMS role (`GET /v2/roles`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Role {
    pub id: ZenqmsId,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
}

/// `{"data": [...], "page", "page_size", "total"}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    #[serde(default)]
    pub total: Option<u64>,
}

// ---- errors ----------------------------------------------------------------------------

/// `{"error": {"code", "message", "details"}}`; every part optional so that a proxy's
/// error page or a sparser body still yields what it can.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub error: ErrorInner,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ErrorInner {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub details: Value,
}

pub const CODE_EMAIL_TAKEN: &str = "email_taken";
pub const CODE_UNKNOWN_ROLE: &str = "unknown_role";

impl ErrorInner {
    /// `details.user_id` of a `409`: the user who holds the email (or external id).
    pub fn conflicting_user(&self) -> Option<ZenqmsId> {
        self.details.get("user_id").and_then(ZenqmsId::from_json)
    }

    /// `details.fields` of a `422 validation_failed`.
    pub fn fields(&self) -> Vec<String> {
        strings(self.details.get("fields"))
    }

    /// `details.role_ids` of a `422 unknown_role`.
    pub fn role_ids(&self) -> Vec<ZenqmsId> {
        self.details
            .get("role_ids")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(ZenqmsId::from_json).collect())
            .unwrap_or_default()
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Longest `Retry-After` honoured; a larger (or absurd) value is clamped so a bad header
/// cannot park the worker for days.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// Used when a `429` comes without a readable `Retry-After`.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// `Retry-After: <seconds>` (the spec's form); an HTTP date is accepted too (RFC 9110
/// §10.2.3 allows it and proxies send it).
pub fn parse_retry_after(value: Option<&str>) -> Duration {
    let Some(v) = value.map(str::trim) else {
        return DEFAULT_RETRY_AFTER;
    };
    if let Ok(secs) = v.parse::<u64>() {
        return Duration::from_secs(secs.max(1)).min(MAX_RETRY_AFTER);
    }
    if let Ok(s) = v.parse::<f64>() {
        if s.is_finite() && s > 0.0 {
            return Duration::from_secs_f64(s.min(MAX_RETRY_AFTER.as_secs_f64()));
        }
    }
    if let Ok(at) = chrono::DateTime::parse_from_rfc2822(v) {
        let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
        return wait
            .to_std()
            .unwrap_or(DEFAULT_RETRY_AFTER)
            .clamp(DEFAULT_RETRY_AFTER, MAX_RETRY_AFTER);
    }
    DEFAULT_RETRY_AFTER
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_keep_their_json_form() {
        let n = ZenqmsId::from_json(&json!(1042)).unwrap();
        let s = ZenqmsId::from_json(&json!("1042")).unwrap();
        assert_ne!(n, s);
        assert_eq!(n.json_text(), "1042");
        assert_eq!(s.json_text(), "\"1042\"");
        assert_eq!(n.path_form(), s.path_form());
        assert_eq!(ZenqmsId::from_json_text(&s.json_text()), Some(s.clone()));
        assert_eq!(serde_json::to_value(&n).unwrap(), json!(1042));
        assert!(ZenqmsId::from_json(&json!(null)).is_none());
        assert!(ZenqmsId::from_json(&json!("")).is_none());
        assert!(ZenqmsId::from_json(&json!({"a": 1})).is_none());
    }

    #[test]
    fn users_parse_leniently() {
        let u: RemoteUser = serde_json::from_value(json!({
            "id": "u-1", "email": "a@x.com", "first_name": "A", "last_name": "B",
            "title": "T", "status": "locked_out", "role_ids": [7, "r-2"], "extra": {"x": 1}
        }))
        .unwrap();
        assert_eq!(u.status, RemoteStatus::LockedOut);
        assert_eq!(u.role_ids.len(), 2);
        assert_eq!(u.external_id, None);
        let odd: RemoteUser =
            serde_json::from_value(json!({"id": 5, "status": "suspended"})).unwrap();
        assert_eq!(odd.status, RemoteStatus::Other("suspended".into()));
    }

    #[test]
    fn patches_send_only_what_is_set() {
        let p = UserPatch {
            title: Some("QA".into()),
            status: Some(WriteStatus::Disabled),
            ..UserPatch::default()
        };
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            json!({"title": "QA", "status": "disabled"})
        );
        assert_eq!(p.fields(), ["title", "status"]);
        assert!(UserPatch::default().is_empty());
    }

    #[test]
    fn error_bodies() {
        let b: ErrorBody = serde_json::from_value(json!({"error": {"code": "email_taken",
            "message": "taken", "details": {"user_id": 1001}}}))
        .unwrap();
        assert_eq!(
            b.error.conflicting_user(),
            ZenqmsId::from_json(&json!(1001))
        );
        let b: ErrorBody = serde_json::from_value(json!({"error": {"code": "validation_failed",
            "details": {"fields": ["title", "email"]}}}))
        .unwrap();
        assert_eq!(b.error.fields(), ["title", "email"]);
        let b: ErrorBody = serde_json::from_str("{}").unwrap();
        assert!(b.error.code.is_none());
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after(Some("3")), Duration::from_secs(3));
        assert_eq!(parse_retry_after(Some("0")), Duration::from_secs(1));
        assert_eq!(parse_retry_after(None), DEFAULT_RETRY_AFTER);
        assert_eq!(parse_retry_after(Some("soon")), DEFAULT_RETRY_AFTER);
        assert_eq!(parse_retry_after(Some("999999999")), MAX_RETRY_AFTER);
        assert_eq!(
            parse_retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            DEFAULT_RETRY_AFTER
        );
    }

    #[test]
    fn endpoint_paths() {
        let id = ZenqmsId::from_json(&json!("u/1")).unwrap();
        assert_eq!(
            Endpoint::AddRoles.segments(Some(&id)),
            ["v2", "users", "u/1", "roles", "add"]
        );
        assert_eq!(Endpoint::RemoveRoles.method(), reqwest::Method::DELETE);
        assert!(!Endpoint::SearchUsers.addresses_a_user());
    }
}
