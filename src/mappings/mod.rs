//! Group → role mappings: Okta groups decide ZenQMS roles (design.md, "Rules of the mapping").
//!
//! - A mapping links one directory group (by SCIM id, so it survives renames) to one ZenQMS
//!   role (by its exact id). One created by display name for a group Okta has not pushed yet
//!   is *pending* and binds, without regard to case, when a group of that name is created or
//!   renamed into that name.
//! - A role is *managed* when ZenQMS still lists it and a mapping binds it to a group — or did,
//!   until that group was deleted: deleting a group in Okta takes what it granted from its
//!   former members, and the mapping waits (pending, under the group's last name) for a group
//!   of that name. Deleting the mapping is what stops managing a role; existing assignments
//!   then stay as they are.
//! - For every user, the managed roles they hold are exactly those mapped from their groups;
//!   a manual change to a managed role is overwritten, any other role is never touched.
//!   Nothing a SCIM client sends can grant a role: only the groups named here can.
//! - Every change here enqueues, in its own transaction, exactly the users whose roles it
//!   alters (`entitlement`), and records an audit entry with the admin's name.
//! - Role ids are checked against ZenQMS's role list (cached in `zenqms_roles`, refreshed
//!   every `ZENQMS_ROLE_REFRESH_SECS` while mappings exist, and on demand); a mapping whose role
//!   ZenQMS no longer lists is `role_missing` and that role is left alone until it returns.

pub mod changes;
pub mod document;
pub mod editor;
pub mod entitlement;
pub mod error;
pub mod plan;
pub mod preview;
pub mod roles;
pub mod table;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::watch;

pub use changes::{on_group_deleted, on_group_named, GroupRef};
pub use error::{MappingError, Unavailable};
pub use table::{MappingView, Status};

use self::document::Document;
use self::preview::{Change, RolePreview};
use self::roles::{CachedRole, Refreshed, Resolution, RoleView};
use self::table::Target;
use crate::audit;
use crate::outbox::Wakeup;
use crate::server::AppState;
use crate::store::{self, tx, Pool, StoreError};
use crate::sync::{Engine, SyncError};
use crate::zenqms::ZenqmsError;

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

/// One change of a preview.
#[derive(Debug, Clone, Serialize)]
pub struct PreviewChange {
    /// `create` or `delete`.
    pub action: &'static str,
    /// The mapping deleted, or the one that already exists for a create.
    pub mapping_id: Option<String>,
    pub group_id: Option<String>,
    pub group_display_name: String,
    pub role_id: String,
    pub role_name: String,
    /// What the mapping would be (create) or is (delete).
    pub status: Status,
    /// A create of a pair that is already mapped changes nothing.
    pub already_exists: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    pub changes: Vec<PreviewChange>,
    pub roles: Vec<RolePreview>,
    /// Always false: a preview writes nothing.
    pub applied: bool,
}

/// `GET /api/v1/zenqms/roles`.
#[derive(Debug, Clone, Serialize)]
pub struct RolesView {
    pub roles: Vec<RoleView>,
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

/// The async face of the mappings: runs each operation on the blocking pool, asks ZenQMS
/// through the sync engine (its budget, pause and connection), and wakes the sync workers
/// once a transaction that enqueued jobs has committed.
#[derive(Clone)]
pub struct Mappings {
    pool: Pool,
    wakeup: Wakeup,
    engine: Engine,
}

fn list_of(values: &[Value]) -> String {
    values
        .iter()
        .filter_map(roles::input_form)
        .map(|v| format!("`{v}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Mappings {
    pub fn of(state: &AppState) -> Mappings {
        Mappings::for_engine(&state.sync)
    }

    pub fn for_engine(engine: &Engine) -> Mappings {
        Mappings {
            pool: engine.inner.pool.clone(),
            wakeup: engine.inner.wakeup.clone(),
            engine: engine.clone(),
        }
    }

    /// Runs a write transaction on the blocking pool; wakes the workers if it enqueued.
    async fn write<T, F>(&self, f: F) -> Result<T, MappingError>
    where
        F: FnMut(&mut store::DbConn) -> Result<(T, usize), MappingError> + Send + 'static,
        T: Send + 'static,
    {
        let (value, enqueued) = store::run(&self.pool, move |c| {
            tx::write(c, f).map_err(MappingError::settle)
        })
        .await?;
        if enqueued > 0 {
            self.wakeup.notify();
        }
        Ok(value)
    }

    async fn read<T, F>(&self, f: F) -> Result<T, MappingError>
    where
        F: FnOnce(&mut store::DbConn) -> Result<T, MappingError> + Send + 'static,
        T: Send + 'static,
    {
        store::run(&self.pool, f).await
    }

    pub async fn list(&self) -> Result<Vec<MappingView>, MappingError> {
        self.read(|c| Ok(table::views(c, None)?)).await
    }

    pub async fn create(
        &self,
        actor: &str,
        body: MappingBody,
    ) -> Result<CreateOutcome, MappingError> {
        let req = body.into_create()?;
        let roles = self.checked_roles(actor, &req.role_ids).await?;
        let actor_name = actor.to_string();
        let done = self
            .write(move |c| {
                let done = changes::create(c, &actor_name, &req.group, &roles)?;
                let enqueued = done.enqueued;
                Ok((done, enqueued))
            })
            .await?;
        self.read(move |c| {
            Ok(CreateOutcome {
                mappings: table::views(c, Some(&done.created))?,
                existing: table::views(c, Some(&done.existing))?,
            })
        })
        .await
    }

    pub async fn delete(&self, actor: &str, id: &str) -> Result<(), MappingError> {
        let (actor, id) = (actor.to_string(), id.to_string());
        self.write(move |c| Ok(((), changes::delete(c, &actor, &id)?)))
            .await
    }

    /// What a create or a deletion would change; writes nothing (a role id unknown to the
    /// cache is checked against ZenQMS, as for a create).
    pub async fn preview(
        &self,
        actor: &str,
        body: MappingBody,
        limit: Option<i64>,
    ) -> Result<Preview, MappingError> {
        let limit = limit.unwrap_or(DEFAULT_LISTED);
        if !(0..=1000).contains(&limit) {
            return Err(MappingError::Invalid(
                "`limit` (users listed per role) must be between 0 and 1000".into(),
            ));
        }
        let req = body.into_preview()?;
        let roles = match &req {
            PreviewRequest::Create(c) => self.checked_roles(actor, &c.role_ids).await?,
            PreviewRequest::Delete(_) => Vec::new(),
        };
        self.read(move |c| {
            let mut changes_out = Vec::new();
            let mut planned = Vec::new();
            match req {
                PreviewRequest::Create(create) => {
                    let target = changes::resolve_target(c, &create.group)?;
                    let mut seen = std::collections::BTreeSet::new();
                    for role in roles {
                        if !seen.insert(role.id_json.clone()) {
                            continue;
                        }
                        let existing = table::find_pair(c, &target, &role.id_json)?;
                        changes_out.push(PreviewChange {
                            action: "create",
                            already_exists: existing.is_some(),
                            mapping_id: existing,
                            group_id: target.group_id().map(str::to_string),
                            group_display_name: target.display_name().to_string(),
                            role_id: role.id.clone(),
                            role_name: role.name.clone(),
                            status: if target.group_id().is_some() {
                                Status::Active
                            } else {
                                Status::PendingGroup
                            },
                        });
                        planned.push(Change::Create {
                            target: target.clone(),
                            role,
                            group_deleted: false,
                        });
                    }
                }
                PreviewRequest::Delete(ids) => {
                    let mut unknown = Vec::new();
                    let views = table::views(c, Some(&ids))?;
                    for id in &ids {
                        match table::get(c, id)? {
                            None => unknown.push(id.clone()),
                            Some(row) => {
                                if let Some(v) = views.iter().find(|v| v.id == row.id) {
                                    changes_out.push(PreviewChange {
                                        action: "delete",
                                        mapping_id: Some(v.id.clone()),
                                        group_id: v.group_id.clone(),
                                        group_display_name: v.group_display_name.clone(),
                                        role_id: v.role_id.clone(),
                                        role_name: v.role_name.clone(),
                                        status: v.status,
                                        already_exists: true,
                                    });
                                }
                                planned.push(Change::Delete { row });
                            }
                        }
                    }
                    if !unknown.is_empty() {
                        return Err(MappingError::UnknownMappings(unknown));
                    }
                }
            }
            Ok(Preview {
                changes: changes_out,
                roles: preview::effects(c, &planned, limit)?,
                applied: false,
            })
        })
        .await
    }

    /// A page of directory groups (default 100, at most 1000), by name.
    pub async fn groups(
        &self,
        name: Option<String>,
        after: Option<String>,
        limit: Option<i64>,
    ) -> Result<editor::GroupPage, MappingError> {
        let limit = limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(MappingError::Invalid(
                "`limit` must be between 1 and 1000".into(),
            ));
        }
        let q = editor::GroupQuery { name, after, limit };
        self.read(move |c| Ok(editor::groups(c, &q)?)).await
    }

    /// The cached roles; read from ZenQMS first when `refresh` is asked, or when the list
    /// was never read and ZenQMS can be asked (then a failure is reported beside the cache).
    pub async fn roles(&self, actor: &str, refresh: bool) -> Result<RolesView, MappingError> {
        let mut view_refresh = None;
        let mut problem = None;
        if refresh {
            view_refresh = Some(self.refresh_roles(actor).await?);
        } else {
            let never = self
                .read(|c| Ok(crate::sync::settings::load_roles_refreshed(c)?.is_none()))
                .await?;
            if never && self.engine.connected().is_some() && !self.engine.is_paused() {
                match self.refresh_roles(actor).await {
                    Ok(r) => view_refresh = Some(r),
                    Err(e @ MappingError::ZenqmsUnavailable { .. }) => {
                        problem = Some(e.to_string())
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        let (roles, refreshed_at) = self
            .read(|c| {
                Ok((
                    roles::views(c)?,
                    crate::sync::settings::load_roles_refreshed(c)?,
                ))
            })
            .await?;
        Ok(RolesView {
            roles,
            refreshed_at,
            refresh: view_refresh,
            refresh_problem: problem,
        })
    }

    /// Reads every role from ZenQMS and stores the listing (audited with `actor`).
    pub async fn refresh_roles(&self, actor: &str) -> Result<Refreshed, MappingError> {
        let listed = self
            .engine
            .list_roles(actor)
            .await
            .map_err(|e| self.unavailable("cannot read the role list from ZenQMS", e))?;
        let actor = actor.to_string();
        self.write(move |c| {
            table::lock(c)?;
            let out = roles::apply_listing(c, &listed, &actor)?;
            let enqueued = out.enqueued;
            Ok((out, enqueued))
        })
        .await
    }

    fn unavailable(&self, purpose: &str, e: SyncError) -> MappingError {
        let why = match e {
            SyncError::Store(s) => return MappingError::Store(s),
            SyncError::NotConfigured => Unavailable::NotConfigured(
                self.engine
                    .connection_view()
                    .problem
                    .unwrap_or_else(|| SyncError::NotConfigured.to_string()),
            ),
            SyncError::Paused => Unavailable::Paused,
            SyncError::Zenqms(ZenqmsError::RateLimited { retry_after }) => {
                Unavailable::RateLimited(retry_after)
            }
            SyncError::Zenqms(z @ ZenqmsError::Auth { .. }) => Unavailable::Refused(z.to_string()),
            other => Unavailable::Unreachable(other.to_string()),
        };
        MappingError::ZenqmsUnavailable {
            purpose: purpose.to_string(),
            why,
        }
    }

    /// The cached roles these ids name, in order; the list is read from ZenQMS first when an
    /// id is unknown to the cache (or known to be missing): a role made a minute ago in ZenQMS
    /// can be mapped at once, and nothing is ever guessed.
    async fn checked_roles(
        &self,
        actor: &str,
        wanted: &[Value],
    ) -> Result<Vec<CachedRole>, MappingError> {
        let w = wanted.to_vec();
        let first = self.read(move |c| Ok(roles::resolve(c, &w)?)).await?;
        if first.iter().all(Resolution::is_found) {
            return roles::require_found(first);
        }
        let unresolved: Vec<Value> = wanted
            .iter()
            .zip(&first)
            .filter(|(_, r)| !r.is_found())
            .map(|(v, _)| v.clone())
            .collect();
        if let Err(e) = self.refresh_roles(actor).await {
            return Err(match e {
                MappingError::ZenqmsUnavailable { why, .. } => MappingError::ZenqmsUnavailable {
                    purpose: format!(
                        "cannot check role id {} against ZenQMS (it is not in the cached role list)",
                        list_of(&unresolved)
                    ),
                    why,
                },
                other => other,
            });
        }
        let w = wanted.to_vec();
        let again = self.read(move |c| Ok(roles::resolve(c, &w)?)).await?;
        roles::require_found(again)
    }

    pub async fn export(&self) -> Result<Document, MappingError> {
        self.read(|c| Ok(document::export(&table::views(c, None)?)))
            .await
    }

    /// Makes the table equal to the document (or, with `dry_run`, says what that would do).
    /// `source` names the document in the audit trail (a file name and its digest).
    pub async fn import(
        &self,
        actor: &str,
        doc: Document,
        dry_run: bool,
        source: &str,
        limit: i64,
    ) -> Result<ImportReport, MappingError> {
        let values: Vec<Value> = doc.mappings.iter().map(|e| e.role_id.clone()).collect();
        let roles = if values.is_empty() {
            Vec::new()
        } else {
            self.checked_roles(actor, &values).await?
        };
        let (actor, source) = (actor.to_string(), source.to_string());
        let run = move |c: &mut store::DbConn| -> Result<(ImportReport, usize), MappingError> {
            if !dry_run {
                table::lock(c)?;
            }
            let mut warnings = Vec::new();
            let mut wanted = Vec::new();
            for (e, role) in doc.mappings.iter().zip(&roles) {
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
            let names = |rows: &[table::Row], c: &mut store::DbConn| {
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
                enqueued = changes::apply(c, &actor, &plan)?;
                audit::record(
                    c,
                    &audit::Entry {
                        actor: &actor,
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
        };
        if dry_run {
            self.read(move |c| run(c).map(|(r, _)| r)).await
        } else {
            // The transaction may run again after a transient failure: `run` only reads
            // what it captured.
            self.write(run).await
        }
    }

    /// Housekeeping while `serve` runs: binds pending mappings whose group exists, and
    /// re-reads the role list every `ZENQMS_ROLE_REFRESH_SECS` while mappings exist (once
    /// across processes sharing the database: the last complete read is stored).
    pub async fn run_periodic(self, mut stop: watch::Receiver<bool>) {
        let every = self.engine.inner.config.zenqms_role_refresh;
        let tick = every
            .unwrap_or(Duration::from_secs(5))
            .min(Duration::from_secs(5))
            .max(Duration::from_millis(200));
        loop {
            if let Err(e) = self.sweep().await {
                tracing::warn!(error = %e, "cannot bind pending role mappings");
            }
            if let Some(every) = every {
                if let Err(e) = self.refresh_if_due(every).await {
                    tracing::warn!(error = %e, "periodic refresh of the ZenQMS role list failed; will try again");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(tick) => {}
                _ = stop.changed() => return,
            }
        }
    }

    async fn sweep(&self) -> Result<(), MappingError> {
        let pending = self
            .read(|c| Ok(!changes::pending_matches(c)?.is_empty()))
            .await?;
        if pending {
            self.write(|c| {
                table::lock(c)?;
                Ok(((), changes::sweep_pending(c)?))
            })
            .await?;
        }
        Ok(())
    }

    async fn refresh_if_due(&self, every: Duration) -> Result<(), MappingError> {
        if self.engine.is_paused() || self.engine.connected().is_none() {
            return Ok(());
        }
        let (mappings, last) = self
            .read(|c| {
                use diesel::prelude::*;
                let n: i64 = crate::store::schema::role_mappings::table
                    .count()
                    .get_result(c)
                    .map_err(StoreError::from)?;
                Ok((n, crate::sync::settings::load_roles_refreshed(c)?))
            })
            .await?;
        let due =
            last.is_none_or(|t| (store::now() - t).to_std().unwrap_or(Duration::ZERO) >= every);
        if mappings > 0 && due {
            let out = self.refresh_roles(audit::SYSTEM).await?;
            if !out.disappeared.is_empty() || !out.reappeared.is_empty() {
                tracing::info!(disappeared = ?out.disappeared, reappeared = ?out.reappeared, "ZenQMS role list changed");
            }
        }
        Ok(())
    }
}
