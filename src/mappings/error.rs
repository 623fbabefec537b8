//! The mappings layer's one error type. Every variant says what the admin can do about it;
//! `AdminError: From<MappingError>` (in `admin/error.rs`) is its one way out to HTTP.

use std::time::Duration;

use crate::store::tx::Contention;
use crate::store::StoreError;

/// A role the cache knows but ZenQMS no longer lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingRole {
    pub id: String,
    pub name: String,
    pub missing_since: String,
}

/// Why ZenQMS could not be asked (for a role check or a refresh).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unavailable {
    /// No connection: `ZENQMS_BASE_URL` / `ZENQMS_API_TOKEN`, or `PUT /api/v1/settings/zenqms`.
    NotConfigured(String),
    /// `POST /api/v1/sync/pause` is in force: no call goes to ZenQMS.
    Paused,
    /// Network, timeout, 5xx, or answers that are not the API's.
    Unreachable(String),
    /// 401/403: the token is wrong, inactive, or lacks permissions.
    Refused(String),
    /// A `429`: nothing may be sent before this has passed.
    RateLimited(Duration),
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unavailable::NotConfigured(why) => write!(f, "{why}"),
            Unavailable::Paused => f.write_str(
                "sync is paused, so no call is made to ZenQMS; resume with POST /api/v1/sync/resume",
            ),
            Unavailable::Unreachable(why) => write!(f, "{why}; try again shortly"),
            Unavailable::Refused(why) => write!(
                f,
                "{why}; check the token in ZenQMS (Settings → API Settings) or PUT /api/v1/settings/zenqms"
            ),
            Unavailable::RateLimited(wait) => write!(
                f,
                "ZenQMS is rate limiting; try again in {} s",
                wait.as_secs().max(1)
            ),
        }
    }
}

fn list(ids: &[String]) -> String {
    const SHOWN: usize = 20;
    let mut s = ids
        .iter()
        .take(SHOWN)
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > SHOWN {
        s.push_str(&format!(" and {} more", ids.len() - SHOWN));
    }
    s
}

#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    /// The request is malformed or self-contradictory (a `400`).
    #[error("{0}")]
    Invalid(String),
    #[error("ZenQMS has no role with id {} (checked against GET /v2/roles just now); GET /api/v1/zenqms/roles lists the roles", list(.0))]
    UnknownRoles(Vec<String>),
    /// A `read` caller named a role the cache does not hold; it never calls ZenQMS to check.
    #[error("role id {} is not in the cached role list, and a `read` token never calls ZenQMS to check; an `admin` may read the list again (POST /api/v1/zenqms/roles/refresh), GET /api/v1/zenqms/roles shows what is cached", list(.0))]
    NotCached(Vec<String>),
    #[error("{} no longer in ZenQMS ({}); GET /api/v1/zenqms/roles lists the roles that exist", if .0.len() == 1 { "this role is" } else { "these roles are" }, .0.iter().map(|r| format!("`{}` {} missing since {}", r.id, r.name, r.missing_since)).collect::<Vec<_>>().join(", "))]
    MissingRoles(Vec<MissingRole>),
    #[error("role id `{id}` is ambiguous: ZenQMS has roles {} whose ids read the same; send the id as a JSON number or string exactly as GET /api/v1/zenqms/roles shows it", .forms.join(" and "))]
    AmbiguousRole { id: String, forms: Vec<String> },
    #[error("no directory group with id `{0}`; GET /api/v1/groups lists the groups Okta pushed, or send `group_display_name` to map a group before it is pushed")]
    UnknownGroup(String),
    #[error("no role mapping with id {}; GET /api/v1/role-mappings lists them", list(.0))]
    UnknownMappings(Vec<String>),
    #[error("no role mapping with id `{0}`; GET /api/v1/role-mappings lists them")]
    NotFound(String),
    /// ZenQMS had to be asked and could not be; nothing was written.
    #[error("{purpose}: {why}; nothing was saved")]
    ZenqmsUnavailable { purpose: String, why: Unavailable },
    /// Lock contention that outlasted the retries.
    #[error("the database is busy; retry shortly")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<diesel::result::Error> for MappingError {
    fn from(e: diesel::result::Error) -> Self {
        MappingError::Store(StoreError::Query(e))
    }
}

impl Contention for MappingError {
    /// Lock contention, and a unique-index race with a group binding that ran in another
    /// transaction: the retry sees the row that won and takes it as existing.
    fn is_contention(&self) -> bool {
        match self {
            MappingError::Store(e) => e.is_contention() || e.is_unique_violation(),
            _ => false,
        }
    }
}

impl MappingError {
    /// A failure the write transaction gave up retrying becomes `Busy` (a `503`, not a `500`).
    pub(crate) fn settle(self) -> MappingError {
        if self.is_contention() {
            MappingError::Busy
        } else {
            self
        }
    }
}
