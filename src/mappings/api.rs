//! The mappings' API types: the request bodies with their validation, and the answers of
//! create and of the role list. (Preview and import answers live with their computation.)

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::changes::GroupRef;
use super::error::MappingError;
use super::roles::{self, Refreshed, RoleView};
use super::table::MappingView;

/// Most roles one request may name.
const MAX_ROLES: usize = 100;
/// Longest group display name accepted for a pending mapping.
const MAX_NAME: usize = 1024;
/// Users a preview lists per role and direction unless asked otherwise.
pub const DEFAULT_LISTED: i64 = 20;

/// The body of `POST /api/v1/role-mappings` and of its preview.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingBody {
    pub group_id: Option<String>,
    pub group_display_name: Option<String>,
    pub role_ids: Option<Vec<Value>>,
    /// Preview only: mapping ids whose deletion to preview.
    pub delete: Option<Vec<String>>,
}

const BODY_SHAPE: &str = "send {\"group_id\": \"<SCIM group id>\", \"role_ids\": [\"<ZenQMS role id>\", …]} or {\"group_display_name\": \"<name>\", \"role_ids\": […]}";

/// A checked create request.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateRequest {
    pub group: GroupRef,
    pub role_ids: Vec<Value>,
}

/// A checked preview request.
#[derive(Debug, Clone, PartialEq)]
pub enum PreviewRequest {
    Create(CreateRequest),
    Delete(Vec<String>),
}

impl MappingBody {
    pub fn into_create(self) -> Result<CreateRequest, MappingError> {
        if self.delete.is_some() {
            return Err(MappingError::Invalid(format!(
                "`delete` belongs to POST /api/v1/role-mappings/preview; to delete a mapping use DELETE /api/v1/role-mappings/{{id}}; {BODY_SHAPE}"
            )));
        }
        let group = match (self.group_id, self.group_display_name) {
            (Some(_), Some(_)) => {
                return Err(MappingError::Invalid(format!(
                    "send either `group_id` or `group_display_name`, not both; {BODY_SHAPE}"
                )))
            }
            (None, None) => {
                return Err(MappingError::Invalid(format!(
                    "name the group with `group_id` or `group_display_name`; {BODY_SHAPE}"
                )))
            }
            (Some(id), None) if id.trim().is_empty() => {
                return Err(MappingError::Invalid("`group_id` is empty".into()))
            }
            (Some(id), None) => GroupRef::Id(id.trim().to_string()),
            (None, Some(name)) => {
                let name = name.trim().to_string();
                if name.is_empty() || name.chars().count() > MAX_NAME {
                    return Err(MappingError::Invalid(format!(
                        "`group_display_name` must be 1–{MAX_NAME} characters"
                    )));
                }
                GroupRef::DisplayName(name)
            }
        };
        let role_ids = self.role_ids.unwrap_or_default();
        if role_ids.is_empty() {
            return Err(MappingError::Invalid(format!(
                "`role_ids` must list at least one ZenQMS role id (GET /api/v1/zenqms/roles lists them); {BODY_SHAPE}"
            )));
        }
        if role_ids.len() > MAX_ROLES {
            return Err(MappingError::Invalid(format!(
                "`role_ids` lists {} roles; at most {MAX_ROLES} per request",
                role_ids.len()
            )));
        }
        if let Some(bad) = role_ids.iter().find(|v| roles::input_form(v).is_none()) {
            return Err(MappingError::Invalid(format!(
                "`role_ids` must hold non-empty strings (or numbers), not {bad}"
            )));
        }
        Ok(CreateRequest { group, role_ids })
    }

    pub fn into_preview(self) -> Result<PreviewRequest, MappingError> {
        match self.delete {
            None => self.into_create().map(PreviewRequest::Create),
            Some(_)
                if self.group_id.is_some()
                    || self.group_display_name.is_some()
                    || self.role_ids.is_some() =>
            {
                Err(MappingError::Invalid(
                    "preview either a creation (the body of POST /api/v1/role-mappings) or deletions ({\"delete\": [\"<mapping id>\", …]}), not both".into(),
                ))
            }
            Some(ids) if ids.is_empty() || ids.iter().any(|i| i.trim().is_empty()) => {
                Err(MappingError::Invalid(
                    "`delete` must list the ids of existing mappings (GET /api/v1/role-mappings)"
                        .into(),
                ))
            }
            Some(ids) => Ok(PreviewRequest::Delete(ids)),
        }
    }
}

/// `201`/`200` answer of a create: the rows it made, and the pairs that existed already.
#[derive(Debug, Clone, Serialize)]
pub struct CreateOutcome {
    pub mappings: Vec<MappingView>,
    pub existing: Vec<MappingView>,
}

/// `GET /api/v1/zenqms/roles`.
#[derive(Debug, Clone, Serialize)]
pub struct RolesView {
    pub roles: Vec<RoleView>,
    /// The list was never read completely from ZenQMS: what is shown may be incomplete.
    pub stale: bool,
    /// When the list was last read completely from ZenQMS; `null`: never.
    #[serde(serialize_with = "crate::time::serialize_opt_rfc3339")]
    pub refreshed_at: Option<chrono::NaiveDateTime>,
    /// What this request's refresh changed, when it made one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh: Option<Refreshed>,
    /// Why the list could not be read from ZenQMS, when the cache is served instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_problem: Option<String>,
}
