//! Import: makes the mapping table equal to a reviewable document (`document.rs`), or says
//! what that would do (a dry run) — who would gain or lose each role, as a preview does.

use serde::Serialize;

use super::changes::{self, GroupRef};
use super::document::Document;
use super::error::MappingError;
use super::preview::{self, Change, RolePreview};
use super::roles::CachedRole;
use super::table::{self, Status, Target};
use crate::audit;
use crate::store::DbConn;

/// One line of an import report.
#[derive(Debug, Clone, Serialize)]
pub struct ImportLine {
    pub group_display_name: String,
    pub group_id: Option<String>,
    pub role_id: String,
    pub role_name: String,
    /// `active` or `pending_group` (the group is not in the directory).
    pub status: Status,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub dry_run: bool,
    pub created: Vec<ImportLine>,
    pub removed: Vec<ImportLine>,
    pub unchanged: Vec<ImportLine>,
    /// Who would gain or lose each role the import touches (as a preview computes it).
    pub roles: Vec<RolePreview>,
    pub warnings: Vec<String>,
    pub users_enqueued: usize,
}

/// One run of an import on `c`: the report, and the jobs it enqueued (none on a dry run).
/// `roles` are the document's roles, checked and in the order of its entries. A write may be
/// run again after a transient failure: it only reads what it is given.
#[allow(clippy::too_many_arguments)]
pub fn run(
    c: &mut DbConn,
    actor: &str,
    doc: &Document,
    roles: &[CachedRole],
    dry_run: bool,
    source: &str,
    limit: i64,
) -> Result<(ImportReport, usize), MappingError> {
    if !dry_run {
        table::lock(c)?;
    }
    let mut warnings = Vec::new();
    let mut wanted = Vec::new();
    for (e, role) in doc.mappings.iter().zip(roles) {
        let by_id = match &e.group_id {
            Some(id) => table::group_by_id(c, id)?,
            None => None,
        };
        let target = match by_id {
            Some(g) => Target::Group {
                id: g.id,
                display_name: g.display_name,
            },
            None => {
                let t = changes::resolve_target(
                    c,
                    &GroupRef::DisplayName(e.group_display_name.trim().to_string()),
                )?;
                if let Some(id) = &e.group_id {
                    warnings.push(match &t {
                        Target::Group { id: found, .. } => format!(
                            "group id {id} is not in this directory: \"{}\" matched group {found} by name",
                            e.group_display_name
                        ),
                        Target::Pending { .. } => format!(
                            "group id {id} is not in this directory and no group is named \"{}\": the mapping will be pending until Okta pushes that group",
                            e.group_display_name
                        ),
                    });
                }
                t
            }
        };
        if let Some(name) = &e.role_name {
            if name.trim() != role.name {
                warnings.push(format!(
                    "role {} is named \"{}\" in ZenQMS, not \"{name}\" as the document says",
                    role.id, role.name
                ));
            }
        }
        wanted.push((target, role.clone(), e.group_deleted));
    }
    let plan = changes::plan(c, wanted)?;
    let planned: Vec<Change> = plan
        .remove
        .iter()
        .map(|row| Change::Delete { row: row.clone() })
        .chain(
            plan.create
                .iter()
                .map(|(target, role, deleted)| Change::Create {
                    target: target.clone(),
                    role: role.clone(),
                    group_deleted: *deleted,
                }),
        )
        .collect();
    let role_effects = preview::effects(c, &planned, limit)?;
    let names = |rows: &[table::Row], c: &mut DbConn| {
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        table::views(c, Some(&ids)).map(|views| {
            views
                .into_iter()
                .map(|v| ImportLine {
                    group_display_name: v.group_display_name,
                    group_id: v.group_id,
                    role_id: v.role_id,
                    role_name: v.role_name,
                    status: v.status,
                })
                .collect::<Vec<_>>()
        })
    };
    let removed = names(&plan.remove, c)?;
    let unchanged = names(&plan.unchanged, c)?;
    let created: Vec<ImportLine> = plan
        .create
        .iter()
        .map(|(t, r, _)| ImportLine {
            group_display_name: t.display_name().to_string(),
            group_id: t.group_id().map(str::to_string),
            role_id: r.id.clone(),
            role_name: r.name.clone(),
            status: if t.group_id().is_some() {
                Status::Active
            } else {
                Status::PendingGroup
            },
        })
        .collect();
    let mut enqueued = 0;
    if !dry_run {
        enqueued = changes::apply(c, actor, &plan)?;
        audit::record(
            c,
            &audit::Entry {
                actor,
                action: "mapping.import",
                target_type: "role_mapping",
                target_id: None,
                detail: serde_json::json!({
                    "source": source,
                    "created": plan.create.len(),
                    "removed": plan.remove.len(),
                    "unchanged": plan.unchanged.len(),
                    "warnings": warnings,
                    "users_enqueued": enqueued,
                }),
                outcome: audit::Outcome::Success,
            },
        )?;
    }
    Ok((
        ImportReport {
            dry_run,
            created,
            removed,
            unchanged,
            roles: role_effects,
            warnings,
            users_enqueued: enqueued,
        },
        enqueued,
    ))
}
