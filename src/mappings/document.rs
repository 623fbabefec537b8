//! The mapping set as a document (`zenqms-bridge mapping export` / `mapping import`), so it can
//! be reviewed, approved and applied under change control.
//!
//! The document is stable: the same table always exports to the same bytes (sorted by group
//! name, group id, role id; no timestamps), so a diff between two exports is the change.
//! Importing makes the table *equal* to the document: mappings it lacks are removed, the
//! ones it adds are created, the rest are left alone (the report lists all three). A group
//! is found by `group_id` when that group exists, else by `group_display_name` (without
//! regard to case; a document approved on a staging bridge names groups whose ids differ in
//! production), else the mapping is pending until Okta pushes a group of that name.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::table::{fold, MappingView};

pub const FORMAT: &str = "zenqms-bridge/role-mappings";
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    pub format: String,
    pub version: u32,
    pub mappings: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub group_display_name: String,
    #[serde(default)]
    pub group_id: Option<String>,
    /// A string (as exported) or a JSON number.
    pub role_id: Value,
    /// For the reader; a difference from ZenQMS's current name is reported, not refused.
    #[serde(default)]
    pub role_name: Option<String>,
    /// The mapping's group was deleted: it waits for a group of that name and keeps its role
    /// managed meanwhile (so the group's former members do not hold it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub group_deleted: bool,
}

/// The document of these mappings.
pub fn export(mappings: &[MappingView]) -> Document {
    let mut entries: Vec<Entry> = mappings
        .iter()
        .map(|m| Entry {
            group_display_name: m.group_display_name.clone(),
            group_id: m.group_id.clone(),
            role_id: Value::String(m.role_id.clone()),
            role_name: Some(m.role_name.clone()),
            group_deleted: m.group_id.is_none() && m.group_deleted_at.is_some(),
        })
        .collect();
    entries.sort_by_key(sort_key);
    Document {
        format: FORMAT.into(),
        version: VERSION,
        mappings: entries,
    }
}

fn sort_key(e: &Entry) -> (String, String, String, (u8, String)) {
    (
        fold(&e.group_display_name),
        e.group_display_name.clone(),
        e.group_id.clone().unwrap_or_default(),
        super::table::role_order(&super::roles::input_form(&e.role_id).unwrap_or_default()),
    )
}

/// Pretty JSON with a final newline: what `mapping export` prints.
pub fn to_text(doc: &Document) -> String {
    let mut s = serde_json::to_string_pretty(doc).unwrap_or_else(|_| "{}".into());
    s.push('\n');
    s
}

/// Parses and checks a document; the message names the problem.
pub fn parse(text: &str) -> Result<Document, String> {
    let doc: Document = serde_json::from_str(text).map_err(|e| {
        format!(
            "not a mapping document ({e}); expected {{\"format\": \"{FORMAT}\", \"version\": {VERSION}, \"mappings\": [...]}} as `zenqms-bridge mapping export` writes it"
        )
    })?;
    if doc.format != FORMAT {
        return Err(format!("`format` is `{}`, expected `{FORMAT}`", doc.format));
    }
    if doc.version != VERSION {
        return Err(format!(
            "`version` {} is not supported (this bridge reads version {VERSION})",
            doc.version
        ));
    }
    for (i, e) in doc.mappings.iter().enumerate() {
        if e.group_display_name.trim().is_empty() {
            return Err(format!("mappings[{i}]: `group_display_name` is empty"));
        }
        if super::roles::input_form(&e.role_id).is_none() {
            return Err(format!(
                "mappings[{i}]: `role_id` must be a non-empty string or a number, not {}",
                e.role_id
            ));
        }
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_checks() {
        let doc = Document {
            format: FORMAT.into(),
            version: VERSION,
            mappings: vec![Entry {
                group_display_name: "QA".into(),
                group_id: None,
                role_id: Value::String("7".into()),
                role_name: Some("Approver".into()),
                group_deleted: false,
            }],
        };
        assert_eq!(parse(&to_text(&doc)).unwrap(), doc);
        assert!(parse("{}").unwrap_err().contains("not a mapping document"));
        let bad = to_text(&doc).replace("\"7\"", "\"\"");
        assert!(parse(&bad).unwrap_err().contains("role_id"), "{bad}");
        let other = to_text(&doc).replace(FORMAT, "something-else");
        assert!(parse(&other).unwrap_err().contains("format"));
        let typo = to_text(&doc).replace("role_name", "rolename");
        assert!(parse(&typo).is_err(), "unknown fields are refused");
    }
}
