//! The cache of ZenQMS roles (`zenqms_roles`): names for display, whether each role still
//! exists, and how an id an admin typed resolves to the exact id ZenQMS uses.
//!
//! A complete listing (`GET /v2/roles`, every page) is the only thing that marks a role
//! present or missing, apart from a `422 unknown_role` from ZenQMS itself, which marks the
//! named roles missing at once (so the reconciler stops asking). A role that reappears
//! enqueues the users its mappings concern.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use serde_json::{json, Value};

use super::entitlement;
use super::error::{MappingError, MissingRole};
use crate::audit::{self, Outcome};
use crate::store::schema::{role_mappings, zenqms_roles};
use crate::store::{self, DbConn, StoreError};
use crate::zenqms::{Role, ZenqmsId};

/// A cached role.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = zenqms_roles)]
pub struct CachedRole {
    /// Exactly as ZenQMS sent it (JSON text).
    pub id_json: String,
    /// Its string form.
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub present: bool,
    pub first_seen_at: NaiveDateTime,
    pub refreshed_at: NaiveDateTime,
    pub missing_since: Option<NaiveDateTime>,
}

impl CachedRole {
    pub fn missing(&self) -> MissingRole {
        MissingRole {
            id: self.id.clone(),
            name: self.name.clone(),
            missing_since: self
                .missing_since
                .as_ref()
                .map(crate::time::rfc3339)
                .unwrap_or_else(|| "an unknown time".into()),
        }
    }
}

/// How one id an admin sent resolved against the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    Found(CachedRole),
    /// Known, but ZenQMS no longer lists it.
    Missing(CachedRole),
    Unknown(String),
    /// Several roles have this string form (`7` and `"7"`) and the input names neither exactly.
    Ambiguous {
        id: String,
        forms: Vec<String>,
    },
}

impl Resolution {
    pub fn is_found(&self) -> bool {
        matches!(self, Resolution::Found(_))
    }
}

/// The string form of an id as an admin sent it (a JSON string or number); `None` for
/// anything else, or an empty string.
pub fn input_form(v: &Value) -> Option<String> {
    ZenqmsId::from_json(v)
        .map(|id| id.path_form().trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Resolves ids as admins send them: a role whose string form matches; when two roles share
/// it, the one whose JSON form is exactly the input. Present roles win over missing ones.
pub fn resolve(conn: &mut DbConn, wanted: &[Value]) -> Result<Vec<Resolution>, StoreError> {
    let forms: Vec<String> = wanted.iter().filter_map(input_form).collect();
    let mut by_id: HashMap<String, Vec<CachedRole>> = HashMap::new();
    for chunk in forms.chunks(1000) {
        let rows: Vec<CachedRole> = zenqms_roles::table
            .filter(zenqms_roles::id.eq_any(chunk))
            .select(CachedRole::as_select())
            .load(conn)?;
        for r in rows {
            by_id.entry(r.id.clone()).or_default().push(r);
        }
    }
    Ok(wanted
        .iter()
        .map(|v| {
            let Some(form) = input_form(v) else {
                return Resolution::Unknown(v.to_string());
            };
            let candidates = by_id.get(&form).cloned().unwrap_or_default();
            let exact = ZenqmsId::from_json(v).map(|id| id.json_text());
            let pick = match candidates.len() {
                0 => return Resolution::Unknown(form),
                1 => candidates[0].clone(),
                _ => match candidates
                    .iter()
                    .find(|c| Some(&c.id_json) == exact.as_ref())
                {
                    Some(c) => c.clone(),
                    None => {
                        let present: Vec<&CachedRole> =
                            candidates.iter().filter(|c| c.present).collect();
                        if present.len() == 1 {
                            present[0].clone()
                        } else {
                            return Resolution::Ambiguous {
                                id: form,
                                forms: candidates.iter().map(|c| c.id_json.clone()).collect(),
                            };
                        }
                    }
                },
            };
            if pick.present {
                Resolution::Found(pick)
            } else {
                Resolution::Missing(pick)
            }
        })
        .collect())
}

/// Turns resolutions into roles, or the error that names every problem of one kind.
pub fn require_found(resolved: Vec<Resolution>) -> Result<Vec<CachedRole>, MappingError> {
    let mut found = Vec::new();
    let mut unknown = Vec::new();
    let mut missing = Vec::new();
    for r in resolved {
        match r {
            Resolution::Found(c) => found.push(c),
            Resolution::Missing(c) => missing.push(c.missing()),
            Resolution::Unknown(id) => unknown.push(id),
            Resolution::Ambiguous { id, forms } => {
                return Err(MappingError::AmbiguousRole { id, forms })
            }
        }
    }
    if !unknown.is_empty() {
        return Err(MappingError::UnknownRoles(unknown));
    }
    if !missing.is_empty() {
        return Err(MappingError::MissingRoles(missing));
    }
    Ok(found)
}

pub fn get(conn: &mut DbConn, id_json: &str) -> Result<Option<CachedRole>, StoreError> {
    Ok(zenqms_roles::table
        .filter(zenqms_roles::id_json.eq(id_json))
        .select(CachedRole::as_select())
        .first(conn)
        .optional()?)
}

/// When the role list was last read completely (by any process sharing the database).
const REFRESHED: &str = "zenqms.roles.refreshed_at";

/// Records that the role list was read completely just now.
fn save_refreshed(conn: &mut DbConn) -> Result<NaiveDateTime, StoreError> {
    let now = store::now();
    store::settings::put(conn, REFRESHED, &crate::time::rfc3339(&now))
}

/// When the role list was last read completely, by any process; `None`: never.
pub fn refreshed_at(conn: &mut DbConn) -> Result<Option<NaiveDateTime>, StoreError> {
    Ok(store::settings::get(conn, REFRESHED)?.map(|(_, at)| at))
}

/// What a complete listing changed in the cache.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Refreshed {
    /// Roles ZenQMS listed.
    pub listed: usize,
    /// Roles seen for the first time.
    pub added: Vec<String>,
    /// `(id, old name, new name)`.
    pub renamed: Vec<(String, String, String)>,
    /// Roles that were present and are no longer listed: their mappings read `role_missing`.
    pub disappeared: Vec<String>,
    /// Roles that were missing and are listed again: their mappings apply again.
    pub reappeared: Vec<String>,
    /// Users enqueued because a role reappeared.
    pub enqueued: usize,
}

/// Stores a complete listing (call inside a write transaction): new roles are added, names
/// follow ZenQMS, roles not listed are marked missing, reappearing ones enqueue their users.
pub fn apply_listing(
    conn: &mut DbConn,
    listed: &[Role],
    actor: &str,
) -> Result<Refreshed, StoreError> {
    let now = store::now();
    let cached: BTreeMap<String, CachedRole> = zenqms_roles::table
        .select(CachedRole::as_select())
        .load::<CachedRole>(conn)?
        .into_iter()
        .map(|r| (r.id_json.clone(), r))
        .collect();
    let mut seen: BTreeMap<String, &Role> = BTreeMap::new();
    for r in listed {
        seen.entry(r.id.json_text()).or_insert(r);
    }
    let mut out = Refreshed {
        listed: seen.len(),
        ..Refreshed::default()
    };
    // Roles whose presence changes: their entitlement is taken before and after.
    let flipping: Vec<String> = cached
        .values()
        .filter(|c| c.present != seen.contains_key(&c.id_json))
        .map(|c| c.id_json.clone())
        .collect();
    let mut before = BTreeMap::new();
    for r in &flipping {
        before.insert(r.clone(), entitlement::of(conn, r)?);
    }
    for (id_json, role) in &seen {
        let name = role.name.trim().to_string();
        let description = role.description.clone().filter(|d| !d.trim().is_empty());
        match cached.get(id_json) {
            None => {
                diesel::insert_into(zenqms_roles::table)
                    .values((
                        zenqms_roles::id_json.eq(id_json),
                        zenqms_roles::id.eq(role.id.path_form()),
                        zenqms_roles::name.eq(&name),
                        zenqms_roles::description.eq(&description),
                        zenqms_roles::present.eq(true),
                        zenqms_roles::first_seen_at.eq(now),
                        zenqms_roles::refreshed_at.eq(now),
                        zenqms_roles::missing_since.eq(None::<NaiveDateTime>),
                    ))
                    .execute(conn)?;
                out.added.push(role.id.path_form());
            }
            Some(c) => {
                if c.name != name {
                    out.renamed
                        .push((c.id.clone(), c.name.clone(), name.clone()));
                }
                if !c.present {
                    out.reappeared.push(c.id.clone());
                }
                diesel::update(zenqms_roles::table.filter(zenqms_roles::id_json.eq(id_json)))
                    .set((
                        zenqms_roles::name.eq(&name),
                        zenqms_roles::description.eq(&description),
                        zenqms_roles::present.eq(true),
                        zenqms_roles::refreshed_at.eq(now),
                        zenqms_roles::missing_since.eq(None::<NaiveDateTime>),
                    ))
                    .execute(conn)?;
            }
        }
    }
    let gone: Vec<&CachedRole> = cached
        .values()
        .filter(|c| c.present && !seen.contains_key(&c.id_json))
        .collect();
    if !gone.is_empty() {
        let ids: Vec<&str> = gone.iter().map(|c| c.id_json.as_str()).collect();
        diesel::update(zenqms_roles::table.filter(zenqms_roles::id_json.eq_any(&ids)))
            .set((
                zenqms_roles::present.eq(false),
                zenqms_roles::missing_since.eq(Some(now)),
            ))
            .execute(conn)?;
        out.disappeared = gone.iter().map(|c| c.id.clone()).collect();
    }
    for r in &flipping {
        let after = entitlement::of(conn, r)?;
        if let Some(b) = before.get(r) {
            if after.managed && !b.managed {
                // Back after being missing: whether a user still holds it is unknown (ZenQMS
                // took a deleted role off everyone), so the users concerned are read again.
                let groups: Vec<String> = after.groups.iter().cloned().collect();
                crate::outbox::reread_for_role(conn, r, &groups)?;
            }
            out.enqueued += entitlement::enqueue(conn, r, b, &after)?;
        }
    }
    save_refreshed(conn)?;
    audit::record(
        conn,
        &audit::Entry {
            actor,
            action: "zenqms.roles.refresh",
            target_type: "zenqms",
            target_id: None,
            detail: json!({
                "listed": out.listed,
                "added": out.added,
                "renamed": out.renamed.iter().map(|(id, from, to)| json!({"id": id, "from": from, "to": to})).collect::<Vec<_>>(),
                "disappeared": out.disappeared,
                "reappeared": out.reappeared,
                "users_enqueued": out.enqueued,
            }),
            outcome: Outcome::Success,
        },
    )?;
    for id in &out.disappeared {
        tracing::warn!(role_id = %id, "a mapped or cached ZenQMS role is no longer listed; its mappings read role_missing");
    }
    Ok(out)
}

/// Marks roles missing because ZenQMS answered `422 unknown_role` naming them (call inside
/// the transaction that records the run). Returns the ids that were present until now.
pub fn mark_missing(conn: &mut DbConn, ids: &[ZenqmsId]) -> Result<Vec<String>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let texts: Vec<String> = ids.iter().map(ZenqmsId::json_text).collect();
    let flipped: Vec<String> = zenqms_roles::table
        .filter(zenqms_roles::id_json.eq_any(&texts))
        .filter(zenqms_roles::present.eq(true))
        .select(zenqms_roles::id)
        .load(conn)?;
    if flipped.is_empty() {
        return Ok(flipped);
    }
    diesel::update(
        zenqms_roles::table
            .filter(zenqms_roles::id_json.eq_any(&texts))
            .filter(zenqms_roles::present.eq(true)),
    )
    .set((
        zenqms_roles::present.eq(false),
        zenqms_roles::missing_since.eq(Some(store::now())),
    ))
    .execute(conn)?;
    audit::record(
        conn,
        &audit::Entry {
            actor: audit::SYSTEM,
            action: "zenqms.roles.missing",
            target_type: "zenqms",
            target_id: None,
            detail: json!({
                "role_ids": flipped,
                "why": "ZenQMS answered 422 unknown_role when the reconciler added them; their mappings read role_missing until a role listing shows them again",
            }),
            outcome: Outcome::Success,
        },
    )?;
    tracing::warn!(role_ids = ?flipped, "ZenQMS says these mapped roles do not exist; their mappings read role_missing");
    Ok(flipped)
}

/// A role as `GET /api/v1/zenqms/roles` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct RoleView {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    /// `present` or `missing` (no longer listed by ZenQMS).
    pub status: &'static str,
    #[serde(serialize_with = "crate::time::serialize_opt_rfc3339")]
    pub missing_since: Option<NaiveDateTime>,
    /// The last listing that showed it.
    #[serde(serialize_with = "crate::time::serialize_rfc3339")]
    pub refreshed_at: NaiveDateTime,
    /// Mappings naming it.
    pub mappings: i64,
}

/// Every cached role, by name, with how many mappings name it (two queries).
pub fn views(conn: &mut DbConn) -> Result<Vec<RoleView>, StoreError> {
    let rows: Vec<CachedRole> = zenqms_roles::table
        .select(CachedRole::as_select())
        .order((zenqms_roles::name.asc(), zenqms_roles::id.asc()))
        .load(conn)?;
    let counts: HashMap<String, i64> = role_mappings::table
        .group_by(role_mappings::role_id_json)
        .select((role_mappings::role_id_json, diesel::dsl::count_star()))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect();
    Ok(rows
        .into_iter()
        .map(|r| RoleView {
            mappings: counts.get(&r.id_json).copied().unwrap_or(0),
            id: r.id,
            name: r.name,
            description: r.description,
            status: if r.present { "present" } else { "missing" },
            missing_since: r.missing_since,
            refreshed_at: r.refreshed_at,
        })
        .collect())
}
