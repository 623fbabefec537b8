//! Groups: create, read, list, replace, patch, delete — with their membership.
//!
//! A group's member count is maintained with every membership change (from the rows each set
//! operation reports), and `excludedAttributes=members` reads never touch `group_members`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::{json, Value};

use super::membership::{self, Delta, GroupOp, Member};
use super::query::{self, GroupQuery};
use super::users::{diff, parse_doc};
use super::{
    tx, Actor, DirectoryError, Document, Kind, Meta, Page, Precondition, Rejection, Written,
};
use crate::audit::{self, Outcome};
use crate::mappings;
use crate::outbox;
use crate::store::schema::{group_members, scim_groups};
use crate::store::sql::{CountRow, Sql};
use crate::store::{self, lock_rows, DbConn, StoreError};

/// A group as the SCIM layer renders it.
#[derive(Debug, Clone)]
pub struct Group {
    pub id: String,
    pub doc: Document,
    pub meta: Meta,
    pub member_count: i64,
    /// Loaded only when the answer includes `members`.
    pub members: Option<Vec<Member>>,
}

/// Ids listed in an audit entry before it says "and N more".
const AUDIT_IDS: usize = 1000;

struct Fields {
    display_name: String,
    external_id: Option<String>,
}

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl Fields {
    fn of(doc: &Document) -> Result<Fields, Rejection> {
        Ok(Fields {
            display_name: text(doc.get("displayName")).ok_or_else(|| {
                Rejection::invalid_value("displayName is required and must not be empty")
            })?,
            external_id: text(doc.get("externalId")),
        })
    }
}

/// What a group's representation is made from (diesel selects it by the field names; the
/// list's SQL text names the same columns).
#[derive(Queryable, Selectable, QueryableByName)]
#[diesel(table_name = scim_groups)]
struct Row {
    id: String,
    display_name: String,
    attributes: String,
    member_count: i64,
    version: i64,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl Row {
    fn into_group(self) -> Result<(Group, String), StoreError> {
        let doc = parse_doc(&self.id, &self.attributes)?;
        Ok((
            Group {
                id: self.id,
                doc,
                meta: Meta {
                    version: self.version,
                    created: self.created_at,
                    last_modified: self.updated_at,
                },
                member_count: self.member_count,
                members: None,
            },
            self.display_name,
        ))
    }
}

fn not_found(id: &str) -> DirectoryError {
    DirectoryError::NotFound {
        kind: Kind::Group,
        id: id.to_string(),
    }
}

fn map_unique(e: diesel::result::Error, display_name: &str) -> DirectoryError {
    let e = DirectoryError::from(e);
    if e.is_unique_violation() {
        DirectoryError::Conflict(format!(
            "a group with displayName \"{display_name}\" already exists (displayName is unique without regard to case)"
        ))
    } else {
        e
    }
}

fn attach_members(conn: &mut DbConn, groups: &mut [Group]) -> Result<(), StoreError> {
    let ids: Vec<String> = groups.iter().map(|g| g.id.clone()).collect();
    let mut members = membership::members_of(conn, &ids)?;
    for g in groups {
        g.members = Some(members.remove(&g.id).unwrap_or_default());
    }
    Ok(())
}

fn with_members(conn: &mut DbConn, mut group: Group, load: bool) -> Result<Group, StoreError> {
    if load {
        attach_members(conn, std::slice::from_mut(&mut group))?;
    }
    Ok(group)
}

/// The group, row-locked until commit on PostgreSQL: concurrent writers of one group
/// serialise here, so member counts and versions stay exact.
pub(super) fn lock(conn: &mut DbConn, id: &str) -> Result<(Group, String), DirectoryError> {
    let row: Option<Row> = lock_rows!(
        conn,
        for_update,
        scim_groups::table
            .filter(scim_groups::id.eq(id))
            .select(Row::as_select()),
        first
    )
    .optional()?;
    Ok(row.ok_or_else(|| not_found(id))?.into_group()?)
}

pub fn get(conn: &mut DbConn, id: &str, load_members: bool) -> Result<Group, DirectoryError> {
    let row: Option<Row> = scim_groups::table
        .filter(scim_groups::id.eq(id))
        .select(Row::as_select())
        .first(conn)
        .optional()?;
    let (group, _) = row.ok_or_else(|| not_found(id))?.into_group()?;
    Ok(with_members(conn, group, load_members)?)
}

pub fn list(
    conn: &mut DbConn,
    q: &GroupQuery,
    load_members: bool,
) -> Result<Page<Group>, DirectoryError> {
    let backend = conn.backend();
    let where_clause = |sql: &mut Sql| -> Result<(), Rejection> {
        sql.push(" FROM scim_groups");
        if let Some(f) = &q.filter {
            sql.push(" WHERE ");
            query::group_filter(sql, f)?;
        }
        Ok(())
    };
    let mut items = Vec::new();
    if q.limit > 0 {
        let mut sql = Sql::new(backend);
        sql.push(
            "SELECT scim_groups.id, scim_groups.display_name, scim_groups.attributes, \
             scim_groups.member_count, scim_groups.version, scim_groups.created_at, \
             scim_groups.updated_at",
        );
        where_clause(&mut sql)?;
        query::group_order(&mut sql, q.sort);
        query::limit_offset(&mut sql, q.limit, q.offset);
        let rows: Vec<Row> = sql.load(conn)?;
        items = rows
            .into_iter()
            .map(|r| r.into_group().map(|(g, _)| g))
            .collect::<Result<Vec<_>, _>>()?;
    }
    let total = match query::total_from_page(q.offset, q.limit, items.len()) {
        Some(t) => t,
        None => {
            let mut sql = Sql::new(backend);
            sql.push("SELECT COUNT(*) AS n");
            where_clause(&mut sql)?;
            let rows: Vec<CountRow> = sql.load(conn)?;
            rows.first().map(|r| r.n).unwrap_or(0)
        }
    };
    if load_members && !items.is_empty() {
        attach_members(conn, &mut items)?;
    }
    Ok(Page { total, items })
}

pub(super) fn listed(ids: &[String]) -> Value {
    let shown: Vec<&String> = ids.iter().take(AUDIT_IDS).collect();
    json!({"count": ids.len(), "ids": shown, "truncated": ids.len() > AUDIT_IDS})
}

pub fn create(
    conn: &mut DbConn,
    actor: Actor<'_>,
    doc: &Document,
    members: &[String],
    load_members: bool,
) -> Result<Written<Group>, DirectoryError> {
    let group = tx::write(conn, |c| create_in(c, actor, doc, members))?;
    let value = with_members(conn, group.value, load_members)?;
    Ok(Written { value, ..group })
}

/// The body of [`create`], inside the caller's write transaction (composable with other
/// writes of the directory: `external.rs`).
pub(super) fn create_in(
    c: &mut DbConn,
    actor: Actor<'_>,
    doc: &Document,
    members: &[String],
) -> Result<Written<Group>, DirectoryError> {
    let fields = Fields::of(doc)?;
    let members = membership::dedupe(members);
    let attributes = Value::Object(doc.clone()).to_string();
    membership::require_users(c, &members)?;
    let id = uuid::Uuid::now_v7().to_string();
    let now = store::now();
    diesel::insert_into(scim_groups::table)
        .values((
            scim_groups::id.eq(&id),
            scim_groups::display_name.eq(&fields.display_name),
            scim_groups::display_name_lower.eq(fields.display_name.to_lowercase()),
            scim_groups::external_id.eq(fields.external_id.as_deref()),
            scim_groups::attributes.eq(&attributes),
            scim_groups::member_count.eq(0i64),
            scim_groups::version.eq(1i64),
            scim_groups::created_at.eq(now),
            scim_groups::updated_at.eq(now),
        ))
        .execute(c)
        .map_err(|e| map_unique(e, &fields.display_name))?;
    let added = membership::add(c, &id, &members)?;
    if !added.is_empty() {
        diesel::update(scim_groups::table.filter(scim_groups::id.eq(&id)))
            .set(scim_groups::member_count.eq(added.len() as i64))
            .execute(c)?;
    }
    // Members may gain roles; pending mappings of this name bind to the group (and may
    // make a role managed, enqueuing its holders).
    let enqueued = outbox::enqueue_changed_users(c, &added)?
        + mappings::on_group_named(c, actor.name, &id, &fields.display_name)?;
    audit::record(
        c,
        &audit::Entry {
            actor: actor.name,
            action: &actor.action("group.create"),
            target_type: "group",
            target_id: Some(&id),
            detail: json!({
                "displayName": fields.display_name,
                "externalId": fields.external_id,
                "members_added": listed(&added),
            }),
            outcome: Outcome::Success,
        },
    )?;
    Ok(Written {
        value: Group {
            id,
            doc: doc.clone(),
            meta: Meta {
                version: 1,
                created: now,
                last_modified: now,
            },
            member_count: added.len() as i64,
            members: None,
        },
        enqueued,
    })
}

/// Stores the outcome of a replace or patch over the locked group.
#[allow(clippy::too_many_arguments)]
pub(super) fn store_update(
    conn: &mut DbConn,
    actor: Actor<'_>,
    action: &str,
    current: Group,
    current_name: &str,
    new_doc: Document,
    delta: Delta,
) -> Result<Written<Group>, DirectoryError> {
    let fields = Fields::of(&new_doc)?;
    let changes = diff(&current.doc, &new_doc);
    let renamed = fields.display_name != current_name;
    let changed = !changes.is_empty() || !delta.is_empty();
    let mut enqueued = 0;
    let mut group = current;
    if changed {
        let now = store::now();
        group.meta.version += 1;
        group.meta.last_modified = now;
        group.member_count += delta.count_change();
        diesel::update(scim_groups::table.filter(scim_groups::id.eq(&group.id)))
            .set((
                scim_groups::display_name.eq(&fields.display_name),
                scim_groups::display_name_lower.eq(fields.display_name.to_lowercase()),
                scim_groups::external_id.eq(fields.external_id.as_deref()),
                scim_groups::attributes.eq(Value::Object(new_doc.clone()).to_string()),
                scim_groups::member_count.eq(group.member_count),
                scim_groups::version.eq(group.meta.version),
                scim_groups::updated_at.eq(now),
            ))
            .execute(conn)
            .map_err(|e| map_unique(e, &fields.display_name))?;
        // Whoever joined or left may gain or lose a ZenQMS role; a renamed group may map
        // differently, so then every member is re-evaluated (one statement either way).
        enqueued += outbox::enqueue_changed_users(conn, &delta.affected())?;
        if renamed {
            enqueued += outbox::enqueue_group_members(conn, &group.id)?;
            enqueued +=
                mappings::on_group_named(conn, actor.name, &group.id, &fields.display_name)?;
        }
        group.doc = new_doc;
    }
    audit::record(
        conn,
        &audit::Entry {
            actor: actor.name,
            action,
            target_type: "group",
            target_id: Some(&group.id),
            detail: json!({
                "displayName": fields.display_name,
                "changed": changes,
                "members_added": listed(&delta.added),
                "members_removed": listed(&delta.removed),
            }),
            outcome: Outcome::Success,
        },
    )?;
    Ok(Written {
        value: group,
        enqueued,
    })
}

/// PUT: the document and the member list replace the stored ones (absent members: none).
pub fn replace(
    conn: &mut DbConn,
    actor: Actor<'_>,
    id: &str,
    pre: &Precondition,
    doc: &Document,
    members: &[String],
    load_members: bool,
) -> Result<Written<Group>, DirectoryError> {
    let written = tx::write(conn, |c| {
        let (current, name) = lock(c, id)?;
        pre.check(Kind::Group, current.meta.version)?;
        Fields::of(doc)?;
        let delta = membership::replace(c, id, members)?;
        store_update(
            c,
            actor,
            &actor.action("group.replace"),
            current,
            &name,
            doc.clone(),
            delta,
        )
    })?;
    let value = with_members(conn, written.value, load_members)?;
    Ok(Written { value, ..written })
}

/// PATCH: attribute edits and membership operations, in request order, in one transaction.
pub fn patch(
    conn: &mut DbConn,
    actor: Actor<'_>,
    id: &str,
    pre: &Precondition,
    ops: &[GroupOp],
    load_members: bool,
) -> Result<Written<Group>, DirectoryError> {
    let written = tx::write(conn, |c| {
        let (current, name) = lock(c, id)?;
        pre.check(Kind::Group, current.meta.version)?;
        let mut doc = current.doc.clone();
        let mut delta = Delta::default();
        for op in ops {
            match op {
                GroupOp::Edit(edit) => doc = edit.apply(doc)?,
                GroupOp::Members(m) => delta.extend(membership::apply(c, id, m)?),
            }
        }
        store_update(
            c,
            actor,
            &actor.action("group.patch"),
            current,
            &name,
            doc,
            delta,
        )
    })?;
    let value = with_members(conn, written.value, load_members)?;
    Ok(Written { value, ..written })
}

/// DELETE: members are enqueued first (they may lose roles), then the group and its
/// memberships go.
pub fn delete(
    conn: &mut DbConn,
    actor: Actor<'_>,
    id: &str,
    pre: &Precondition,
) -> Result<Written<()>, DirectoryError> {
    tx::write(conn, |c| delete_in(c, actor, id, pre))
}

/// The body of [`delete`], inside the caller's write transaction.
pub(super) fn delete_in(
    c: &mut DbConn,
    actor: Actor<'_>,
    id: &str,
    pre: &Precondition,
) -> Result<Written<()>, DirectoryError> {
    let (current, name) = lock(c, id)?;
    pre.check(Kind::Group, current.meta.version)?;
    let enqueued = outbox::enqueue_group_members(c, id)?
        + mappings::on_group_deleted(c, actor.name, id, &name)?;
    let removed =
        diesel::delete(group_members::table.filter(group_members::group_id.eq(id))).execute(c)?;
    diesel::delete(scim_groups::table.filter(scim_groups::id.eq(id))).execute(c)?;
    audit::record(
        c,
        &audit::Entry {
            actor: actor.name,
            action: &actor.action("group.delete"),
            target_type: "group",
            target_id: Some(id),
            detail: json!({"displayName": name, "members_removed": removed}),
            outcome: Outcome::Success,
        },
    )?;
    Ok(Written {
        value: (),
        enqueued,
    })
}
