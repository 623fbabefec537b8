//! The async face of the mappings, built once by `server.rs`: runs each operation on the
//! blocking pool, asks ZenQMS through its [`RoleSource`] port, and wakes the sync workers once
//! a transaction that enqueued jobs has committed.

use std::sync::Arc;

use chrono::NaiveDateTime;
use serde_json::Value;

use super::api::{CreateOutcome, MappingBody, PreviewRequest, RolesView};
use super::document::{self, Document};
use super::error::MappingError;
use super::import::{self, ImportReport};
use super::preview::{self, Preview};
use super::roles::{self, CachedRole, Refreshed, Resolution};
use super::source::RoleSource;
use super::{changes, editor, table, MappingView, DEFAULT_LISTED};
use crate::outbox::Wakeup;
use crate::store::{self, tx, DbConn, Pool};

#[derive(Clone)]
pub struct Mappings {
    pool: Pool,
    wakeup: Wakeup,
    zenqms: Arc<dyn RoleSource>,
}

fn list_of(values: &[Value]) -> String {
    values
        .iter()
        .filter_map(roles::input_form)
        .map(|v| format!("`{v}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The longest `name` or `after` of a group listing (a group name is at most 1,024 bytes).
const MAX_GROUP_QUERY_BYTES: usize = 1024;

impl Mappings {
    pub fn new(pool: Pool, wakeup: Wakeup, zenqms: Arc<dyn RoleSource>) -> Mappings {
        Mappings {
            pool,
            wakeup,
            zenqms,
        }
    }

    /// Runs a write transaction on the blocking pool; wakes the workers if it enqueued.
    pub(super) async fn write<T, F>(&self, f: F) -> Result<T, MappingError>
    where
        F: FnMut(&mut DbConn) -> Result<(T, usize), MappingError> + Send + 'static,
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

    pub(super) async fn read<T, F>(&self, f: F) -> Result<T, MappingError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, MappingError> + Send + 'static,
        T: Send + 'static,
    {
        store::run(&self.pool, f).await
    }

    pub(super) fn zenqms_available(&self) -> bool {
        self.zenqms.available()
    }

    /// The mappings that grant `user_id` a role, by role.
    pub async fn grants(&self, user_id: &str) -> Result<Vec<super::plan::Grant>, MappingError> {
        let id = user_id.to_string();
        self.read(move |c| Ok(super::plan::grants_for(c, &id)?))
            .await
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
        let roles = self.checked_roles(actor, &req.role_ids, true).await?;
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
    ///
    /// `may_call` is the caller's right to call ZenQMS (an `admin`): a `read` caller is
    /// answered from the cache only, and told when a role is not in it.
    pub async fn preview(
        &self,
        actor: &str,
        body: MappingBody,
        limit: Option<i64>,
        may_call: bool,
    ) -> Result<Preview, MappingError> {
        let limit = limit.unwrap_or(DEFAULT_LISTED);
        if !(0..=1000).contains(&limit) {
            return Err(MappingError::Invalid(
                "`limit` (users listed per role) must be between 0 and 1000".into(),
            ));
        }
        let req = body.into_preview()?;
        let roles = match &req {
            PreviewRequest::Create(c) => self.checked_roles(actor, &c.role_ids, may_call).await?,
            PreviewRequest::Delete(_) => Vec::new(),
        };
        self.read(move |c| preview::compute(c, req, roles, limit))
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
        // Bounded like a SCIM `co` value (SQLite refuses LIKE patterns over 50,000 bytes;
        // PostgreSQL's text cannot hold a NUL), so every accepted query runs on both.
        for (what, v) in [("name", &name), ("after", &after)] {
            let Some(v) = v else { continue };
            if v.len() > MAX_GROUP_QUERY_BYTES || v.contains('\0') {
                return Err(MappingError::Invalid(format!(
                    "`{what}` must be at most {MAX_GROUP_QUERY_BYTES} bytes, without NUL characters"
                )));
            }
        }
        let q = editor::GroupQuery { name, after, limit };
        self.read(move |c| Ok(editor::groups(c, &q)?)).await
    }

    /// When the role list was last read completely from ZenQMS (by any process sharing the
    /// database); `None`: never.
    pub async fn roles_refreshed_at(&self) -> Result<Option<NaiveDateTime>, MappingError> {
        self.read(|c| Ok(roles::refreshed_at(c)?)).await
    }

    /// The cached roles; read from ZenQMS first when `refresh` is asked, or when the list
    /// was never read and ZenQMS can be asked (then a failure is reported beside the cache).
    /// `may_call` is the caller's right to call ZenQMS (an `admin`): a `read` caller gets the
    /// cache as it is, marked `stale` when it was never read.
    pub async fn roles(
        &self,
        actor: &str,
        refresh: bool,
        may_call: bool,
    ) -> Result<RolesView, MappingError> {
        let mut view_refresh = None;
        let mut problem = None;
        if refresh && may_call {
            view_refresh = Some(self.refresh_roles(actor).await?);
        } else if !may_call {
            if self.roles_refreshed_at().await?.is_none() {
                problem = Some(
                    "the role list was never read from ZenQMS, and a `read` token never calls ZenQMS; an `admin` may read it (POST /api/v1/zenqms/roles/refresh)".to_string(),
                );
            }
        } else if self.roles_refreshed_at().await?.is_none() && self.zenqms.available() {
            match self.refresh_roles(actor).await {
                Ok(r) => view_refresh = Some(r),
                Err(e @ MappingError::ZenqmsUnavailable { .. }) => problem = Some(e.to_string()),
                Err(e) => return Err(e),
            }
        }
        let (roles, refreshed_at) = self
            .read(|c| Ok((roles::views(c)?, roles::refreshed_at(c)?)))
            .await?;
        Ok(RolesView {
            roles,
            stale: refreshed_at.is_none(),
            refreshed_at,
            refresh: view_refresh,
            refresh_problem: problem,
        })
    }

    /// Reads every role from ZenQMS and stores the listing (audited with `actor`).
    pub async fn refresh_roles(&self, actor: &str) -> Result<Refreshed, MappingError> {
        let listed =
            self.zenqms
                .list_roles(actor)
                .await
                .map_err(|why| MappingError::ZenqmsUnavailable {
                    purpose: "cannot read the role list from ZenQMS".to_string(),
                    why,
                })?;
        let actor = actor.to_string();
        self.write(move |c| {
            table::lock(c)?;
            let out = roles::apply_listing(c, &listed, &actor)?;
            let enqueued = out.enqueued;
            Ok((out, enqueued))
        })
        .await
    }

    /// The cached roles these ids name, in order; the list is read from ZenQMS first when an
    /// id is unknown to the cache (or known to be missing): a role made a minute ago in ZenQMS
    /// can be mapped at once, and nothing is ever guessed.
    async fn checked_roles(
        &self,
        actor: &str,
        wanted: &[Value],
        may_call: bool,
    ) -> Result<Vec<CachedRole>, MappingError> {
        let w = wanted.to_vec();
        let first = self.read(move |c| Ok(roles::resolve(c, &w)?)).await?;
        if first.iter().all(Resolution::is_found) {
            return roles::require_found(first);
        }
        if !may_call {
            let not_cached: Vec<String> = first
                .iter()
                .filter_map(|r| match r {
                    Resolution::Unknown(id) => Some(id.clone()),
                    _ => None,
                })
                .collect();
            if !not_cached.is_empty() {
                return Err(MappingError::NotCached(not_cached));
            }
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
            self.checked_roles(actor, &values, true).await?
        };
        let (actor, source) = (actor.to_string(), source.to_string());
        if dry_run {
            self.read(move |c| {
                import::run(c, &actor, &doc, &roles, true, &source, limit).map(|(r, _)| r)
            })
            .await
        } else {
            // The transaction may run again after a transient failure: `run` only reads
            // what it is given.
            self.write(move |c| import::run(c, &actor, &doc, &roles, false, &source, limit))
                .await
        }
    }
}
