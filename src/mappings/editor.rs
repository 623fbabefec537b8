//! What the mapping editor lists: directory groups with their member counts and mappings,
//! paged in name order and filtered by a part of the name (three queries per page).

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::table::{self, fold, MappingView, Status};
use crate::store::schema::{role_mappings, scim_groups};
use crate::store::{DbConn, StoreError};

#[derive(Debug, Clone, Default)]
pub struct GroupQuery {
    /// Groups whose display name contains this, without regard to case.
    pub name: Option<String>,
    /// Cursor: the `next_after` of the previous page.
    pub after: Option<String>,
    pub limit: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupMapping {
    pub id: String,
    pub role_id: String,
    pub role_name: String,
    pub status: Status,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupView {
    pub id: String,
    pub display_name: String,
    pub external_id: Option<String>,
    pub member_count: i64,
    #[serde(serialize_with = "crate::time::serialize_rfc3339")]
    pub created_at: NaiveDateTime,
    #[serde(serialize_with = "crate::time::serialize_rfc3339")]
    pub updated_at: NaiveDateTime,
    /// The mappings of this group.
    pub mappings: Vec<GroupMapping>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupPage {
    pub groups: Vec<GroupView>,
    /// Groups matching the filter, on every page.
    pub total: i64,
    /// Pass as `after` for the next page; `null` on the last.
    pub next_after: Option<String>,
}

/// `%`, `_` and `\` are literal in the filter.
fn like_pattern(needle: &str) -> String {
    let mut p = String::from("%");
    for ch in fold(needle).chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

type GroupRow = (
    String,
    String,
    String,
    Option<String>,
    i64,
    NaiveDateTime,
    NaiveDateTime,
);

pub fn groups(conn: &mut DbConn, q: &GroupQuery) -> Result<GroupPage, StoreError> {
    let name = q
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(like_pattern);
    let filtered = || {
        let mut b = scim_groups::table.into_boxed();
        if let Some(p) = &name {
            b = b.filter(scim_groups::display_name_lower.like(p.clone()).escape('\\'));
        }
        b
    };
    let total: i64 = filtered().count().get_result(conn)?;
    let mut page = filtered();
    if let Some(after) = &q.after {
        page = page.filter(scim_groups::display_name_lower.gt(after.clone()));
    }
    let rows: Vec<GroupRow> = page
        .select((
            scim_groups::id,
            scim_groups::display_name,
            scim_groups::display_name_lower,
            scim_groups::external_id,
            scim_groups::member_count,
            scim_groups::created_at,
            scim_groups::updated_at,
        ))
        .order(scim_groups::display_name_lower.asc())
        .limit(q.limit)
        .load(conn)?;
    let ids: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    let mapping_ids: Vec<String> = if ids.is_empty() {
        Vec::new()
    } else {
        role_mappings::table
            .filter(role_mappings::group_id.eq_any(&ids))
            .select(role_mappings::id)
            .load(conn)?
    };
    let mut by_group: HashMap<String, Vec<GroupMapping>> = HashMap::new();
    for v in table::views(conn, Some(&mapping_ids))? {
        let MappingView {
            id,
            group_id,
            role_id,
            role_name,
            status,
            ..
        } = v;
        if let Some(g) = group_id {
            by_group.entry(g).or_default().push(GroupMapping {
                id,
                role_id,
                role_name,
                status,
            });
        }
    }
    let next_after = (rows.len() as i64 == q.limit)
        .then(|| rows.last().map(|r| r.2.clone()))
        .flatten();
    let groups = rows
        .into_iter()
        .map(
            |(id, display_name, _, external_id, member_count, created_at, updated_at)| GroupView {
                mappings: by_group.remove(&id).unwrap_or_default(),
                id,
                display_name,
                external_id,
                member_count,
                created_at,
                updated_at,
            },
        )
        .collect();
    Ok(GroupPage {
        groups,
        total,
        next_after,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn filters_are_literal() {
        assert_eq!(super::like_pattern("QA_100%"), "%qa\\_100\\%%");
    }
}
