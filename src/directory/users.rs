//! Users: create, read, list, replace, modify (PATCH), delete.
//!
//! A user's document is the source of truth for its representation; the shadow columns
//! (`user_name`, `external_id`, `given_name`, …, `scim_user_emails`) are derived from it in the
//! same transaction and serve uniqueness, filters and the ZenQMS projection.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::{json, Value};

mod pg_create;

use super::query::{self, UserQuery};
use super::{
    tx, Actor, DirectoryError, Document, Edit, Kind, Meta, Page, Precondition, Rejection, Written,
};
use crate::audit::{self, Outcome};
use crate::outbox;
use crate::store::schema::{group_members, scim_groups, scim_user_emails, scim_users};
use crate::store::sql::{CountRow, Sql};
use crate::store::{self, db_run, lock_rows, Backend, DbConn, StoreError};

/// A user as the SCIM layer renders it.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub active: bool,
    pub doc: Document,
    pub meta: Meta,
    /// The groups the user belongs to, when asked for (RFC 7643 §4.1.2 `groups`, read-only).
    pub groups: Option<Vec<GroupRef>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRef {
    pub id: String,
    pub display_name: String,
}

/// The shadow columns of a document.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Fields {
    pub(super) user_name: String,
    pub(super) external_id: Option<String>,
    pub(super) display_name: Option<String>,
    pub(super) given_name: Option<String>,
    pub(super) family_name: Option<String>,
    pub(super) title: Option<String>,
    pub(super) active: bool,
    pub(super) emails: Vec<EmailRow>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct EmailRow {
    pub(super) value: String,
    pub(super) email_type: Option<String>,
    pub(super) primary: bool,
}

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl Fields {
    pub(super) fn of(doc: &Document) -> Result<Fields, Rejection> {
        let user_name = text(doc.get("userName")).ok_or_else(|| {
            Rejection::invalid_value("userName is required and must not be empty")
        })?;
        let name = doc.get("name");
        let emails = doc
            .get("emails")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|e| {
                        Some(EmailRow {
                            value: text(e.get("value"))?,
                            email_type: text(e.get("type")),
                            primary: e.get("primary").and_then(Value::as_bool).unwrap_or(false),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Fields {
            user_name,
            external_id: text(doc.get("externalId")),
            display_name: text(doc.get("displayName")),
            given_name: text(name.and_then(|n| n.get("givenName"))),
            family_name: text(name.and_then(|n| n.get("familyName"))),
            title: text(doc.get("title")),
            // RFC 7643 leaves an unasserted `active` undefined; an IdP deactivates by sending
            // `false`, so a user whose document says nothing is active.
            active: doc.get("active").and_then(Value::as_bool).unwrap_or(true),
            emails,
        })
    }
}

/// What a user's representation is made from (diesel selects it by the field names; the
/// list's SQL text selects [`ROW_SQL`], the same columns by name).
#[derive(Queryable, Selectable, QueryableByName)]
#[diesel(table_name = scim_users)]
struct Row {
    id: String,
    active: bool,
    attributes: String,
    version: i64,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// The columns of [`Row`] in SQL text, for the list queries built with [`Sql`].
const ROW_SQL: &str = "scim_users.id, scim_users.active, scim_users.attributes, \
     scim_users.version, scim_users.created_at, scim_users.updated_at";

/// A page row joined with one of the user's groups (or none).
#[derive(QueryableByName)]
struct RowWithGroup {
    // Not named `row`: the derive's generated code has a variable of that name.
    #[diesel(embed)]
    user: Row,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    group_id: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    group_name: Option<String>,
}

pub(crate) fn parse_doc(id: &str, text: &str) -> Result<Document, StoreError> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(StoreError::Corrupt(format!(
            "the stored document of {id} is not a JSON object"
        ))),
    }
}

impl Row {
    fn into_user(self) -> Result<User, StoreError> {
        let doc = parse_doc(&self.id, &self.attributes)?;
        Ok(User {
            id: self.id,
            active: self.active,
            doc,
            meta: Meta {
                version: self.version,
                created: self.created_at,
                last_modified: self.updated_at,
            },
            groups: None,
        })
    }
}

fn not_found(id: &str) -> DirectoryError {
    DirectoryError::NotFound {
        kind: Kind::User,
        id: id.to_string(),
    }
}

fn conflict(user_name: &str) -> DirectoryError {
    DirectoryError::Conflict(format!(
        "a user with userName \"{user_name}\" already exists (userName is unique without regard to case)"
    ))
}

/// The groups of each of `user_ids`, by display name: one query for a whole page.
fn groups_of(
    conn: &mut DbConn,
    user_ids: &[String],
) -> Result<HashMap<String, Vec<GroupRef>>, StoreError> {
    let mut out: HashMap<String, Vec<GroupRef>> = HashMap::new();
    for chunk in user_ids.chunks(5000) {
        let rows: Vec<(String, String, String)> = group_members::table
            .inner_join(scim_groups::table)
            .filter(group_members::user_id.eq_any(chunk))
            .select((
                group_members::user_id,
                scim_groups::id,
                scim_groups::display_name,
            ))
            .load(conn)?;
        for (user_id, id, display_name) in rows {
            out.entry(user_id)
                .or_default()
                .push(GroupRef { id, display_name });
        }
    }
    for groups in out.values_mut() {
        sort_groups(groups);
    }
    Ok(out)
}

/// A user's groups by display name (case-insensitive), then id.
fn sort_groups(groups: &mut [GroupRef]) {
    groups.sort_by_cached_key(|g| (g.display_name.to_lowercase(), g.id.clone()));
}

fn attach_groups(conn: &mut DbConn, users: &mut [User]) -> Result<(), StoreError> {
    let ids: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
    let mut groups = groups_of(conn, &ids)?;
    for u in users {
        u.groups = Some(groups.remove(&u.id).unwrap_or_default());
    }
    Ok(())
}

fn with_groups(conn: &mut DbConn, mut user: User, load: bool) -> Result<User, StoreError> {
    if load {
        attach_groups(conn, std::slice::from_mut(&mut user))?;
    }
    Ok(user)
}

/// A live user, locked for the rest of the transaction on PostgreSQL (SQLite's write
/// transaction already excludes other writers).
fn lock(conn: &mut DbConn, id: &str) -> Result<User, DirectoryError> {
    let row: Option<Row> = lock_rows!(
        conn,
        for_update,
        scim_users::table
            .filter(scim_users::id.eq(id))
            .filter(scim_users::deleted_at.is_null())
            .select(Row::as_select()),
        first
    )
    .optional()?;
    Ok(row.ok_or_else(|| not_found(id))?.into_user()?)
}

pub fn get(conn: &mut DbConn, id: &str, load_groups: bool) -> Result<User, DirectoryError> {
    if !load_groups {
        let row: Option<Row> = scim_users::table
            .filter(scim_users::id.eq(id))
            .filter(scim_users::deleted_at.is_null())
            .select(Row::as_select())
            .first(conn)
            .optional()?;
        return Ok(row.ok_or_else(|| not_found(id))?.into_user()?);
    }
    // The user and its groups in one round trip: one row per group (or one without).
    // Joined flat (not `users ⟕ (members ⋈ groups)`, which SQLite may materialise whole) and
    // without ORDER BY, which could make a planner walk the groups by name: a user's groups are
    // few, they are sorted here.
    let rows: Vec<(Row, Option<String>, Option<String>)> = scim_users::table
        .left_join(group_members::table)
        .left_join(
            scim_groups::table.on(scim_groups::id
                .nullable()
                .eq(group_members::group_id.nullable())),
        )
        .filter(scim_users::id.eq(id))
        .filter(scim_users::deleted_at.is_null())
        .select((
            Row::as_select(),
            scim_groups::id.nullable(),
            scim_groups::display_name.nullable(),
        ))
        .load(conn)?;
    let mut groups = Vec::with_capacity(rows.len());
    let mut user_row = None;
    for (row, gid, name) in rows {
        if let (Some(id), Some(display_name)) = (gid, name) {
            groups.push(GroupRef { id, display_name });
        }
        user_row.get_or_insert(row);
    }
    let mut user = user_row.ok_or_else(|| not_found(id))?.into_user()?;
    sort_groups(&mut groups);
    user.groups = Some(groups);
    Ok(user)
}

pub fn list(
    conn: &mut DbConn,
    q: &UserQuery,
    load_groups: bool,
) -> Result<Page<User>, DirectoryError> {
    let backend = conn.backend();
    let where_clause = |sql: &mut Sql| -> Result<(), Rejection> {
        sql.push(" FROM scim_users WHERE scim_users.deleted_at IS NULL");
        if let Some(f) = &q.filter {
            sql.push(" AND ");
            query::user_filter(sql, f)?;
        }
        Ok(())
    };
    let mut items = Vec::new();
    if q.limit > 0 {
        let mut sql = Sql::new(backend);
        if load_groups {
            // The page and its users' groups in one query: the page is selected (filtered,
            // ordered, cut) in a subquery that keeps the table's name, so the same ORDER BY
            // applies outside and each user's rows stay together.
            sql.push("SELECT ")
                .push(ROW_SQL)
                .push(", g.id AS group_id, g.display_name AS group_name FROM (SELECT scim_users.*");
            where_clause(&mut sql)?;
            query::user_order(&mut sql, q.sort);
            query::limit_offset(&mut sql, q.limit, q.offset);
            sql.push(
                ") AS scim_users LEFT JOIN group_members m ON m.user_id = scim_users.id \
                 LEFT JOIN scim_groups g ON g.id = m.group_id",
            );
            query::user_order(&mut sql, q.sort);
            let rows: Vec<RowWithGroup> = sql.load(conn)?;
            for RowWithGroup {
                user: row,
                group_id,
                group_name,
            } in rows
            {
                let same = items.last().is_some_and(|u: &User| u.id == row.id);
                if !same {
                    let mut user = row.into_user()?;
                    user.groups = Some(Vec::new());
                    items.push(user);
                }
                if let (Some(id), Some(display_name), Some(user)) =
                    (group_id, group_name, items.last_mut())
                {
                    if let Some(groups) = user.groups.as_mut() {
                        groups.push(GroupRef { id, display_name });
                    }
                }
            }
            for u in &mut items {
                if let Some(groups) = u.groups.as_mut() {
                    sort_groups(groups);
                }
            }
        } else {
            sql.push("SELECT ").push(ROW_SQL);
            where_clause(&mut sql)?;
            query::user_order(&mut sql, q.sort);
            query::limit_offset(&mut sql, q.limit, q.offset);
            let rows: Vec<Row> = sql.load(conn)?;
            items = rows
                .into_iter()
                .map(Row::into_user)
                .collect::<Result<Vec<_>, _>>()?;
        }
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
    Ok(Page { total, items })
}

fn insert_emails(conn: &mut DbConn, id: &str, emails: &[EmailRow]) -> Result<(), StoreError> {
    if emails.is_empty() {
        return Ok(());
    }
    let rows: Vec<_> = emails
        .iter()
        .enumerate()
        .map(|(i, e)| {
            (
                scim_user_emails::user_id.eq(id),
                scim_user_emails::position.eq(i as i32),
                scim_user_emails::value.eq(&e.value),
                scim_user_emails::value_lower.eq(e.value.to_lowercase()),
                scim_user_emails::email_type.eq(e.email_type.as_deref()),
                scim_user_emails::is_primary.eq(e.primary),
            )
        })
        .collect();
    // Six parameters a row: chunks keep a statement far below SQLite's 32,766 bound
    // parameters, whatever the SCIM layer's cap on values per attribute.
    for chunk in rows.chunks(EMAIL_INSERT_CHUNK) {
        db_run!(conn, |c| diesel::insert_into(scim_user_emails::table)
            .values(chunk)
            .execute(c))?;
    }
    Ok(())
}

const EMAIL_INSERT_CHUNK: usize = 1000;

/// The document as stored: `active` is always explicit.
pub(super) fn complete(mut doc: Document, fields: &Fields) -> Document {
    doc.insert("active".into(), Value::Bool(fields.active));
    doc
}

pub(super) fn map_unique(e: diesel::result::Error, user_name: &str) -> DirectoryError {
    let e = DirectoryError::from(e);
    if e.is_unique_violation() {
        conflict(user_name)
    } else {
        e
    }
}

pub fn create(
    conn: &mut DbConn,
    actor: Actor<'_>,
    doc: &Document,
    load_groups: bool,
) -> Result<Written<User>, DirectoryError> {
    let fields = Fields::of(doc)?;
    let doc = complete(doc.clone(), &fields);
    let attributes = Value::Object(doc.clone()).to_string();
    let action = actor.action("user.create");
    let id = uuid::Uuid::now_v7().to_string();
    let now = store::now();
    match conn.backend() {
        // One statement, one round trip (`users/pg_create.rs`).
        Backend::Postgres => pg_create::insert(
            conn,
            &id,
            now,
            &fields,
            &attributes,
            &created_entry(actor.name, &action, &id, &fields, &doc),
        )
        .map_err(|e| map_unique(e, &fields.user_name))?,
        Backend::Sqlite => tx::write(conn, |c| {
            insert_user(c, &id, now, &fields, &attributes)?;
            insert_emails(c, &id, &fields.emails)?;
            outbox::enqueue_changed_users(c, std::slice::from_ref(&id))?;
            audit::record(c, &created_entry(actor.name, &action, &id, &fields, &doc))?;
            Ok(())
        })?,
    }
    let user = User {
        id,
        active: fields.active,
        doc,
        meta: Meta {
            version: 1,
            created: now,
            last_modified: now,
        },
        // A new user belongs to no group yet: nothing to load.
        groups: load_groups.then(Vec::new),
    };
    Ok(Written {
        value: user,
        enqueued: 1,
    })
}

/// The audit entry of a create.
fn created_entry<'a>(
    actor: &'a str,
    action: &'a str,
    id: &'a str,
    fields: &Fields,
    doc: &Document,
) -> audit::Entry<'a> {
    audit::Entry {
        actor,
        action,
        target_type: "user",
        target_id: Some(id),
        detail: json!({
            "userName": fields.user_name,
            "externalId": fields.external_id,
            "active": fields.active,
            "attributes": doc.keys().collect::<Vec<_>>(),
        }),
        outcome: Outcome::Success,
    }
}

fn insert_user(
    conn: &mut DbConn,
    id: &str,
    now: NaiveDateTime,
    fields: &Fields,
    attributes: &str,
) -> Result<(), DirectoryError> {
    diesel::insert_into(scim_users::table)
        .values((
            scim_users::id.eq(id),
            scim_users::user_name.eq(&fields.user_name),
            scim_users::user_name_lower.eq(fields.user_name.to_lowercase()),
            scim_users::external_id.eq(fields.external_id.as_deref()),
            scim_users::display_name.eq(fields.display_name.as_deref()),
            scim_users::given_name.eq(fields.given_name.as_deref()),
            scim_users::family_name.eq(fields.family_name.as_deref()),
            scim_users::title.eq(fields.title.as_deref()),
            scim_users::active.eq(fields.active),
            scim_users::attributes.eq(attributes),
            scim_users::version.eq(1i64),
            scim_users::created_at.eq(now),
            scim_users::updated_at.eq(now),
        ))
        .execute(conn)
        .map_err(|e| map_unique(e, &fields.user_name))?;
    Ok(())
}

/// The top-level attributes that differ, with their values before and after.
pub(crate) fn diff(before: &Document, after: &Document) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    for key in before.keys().chain(after.keys()) {
        if out.contains_key(key) {
            continue;
        }
        let (b, a) = (before.get(key), after.get(key));
        if b != a {
            out.insert(
                key.clone(),
                json!({"before": b.cloned().unwrap_or(Value::Null), "after": a.cloned().unwrap_or(Value::Null)}),
            );
        }
    }
    out
}

/// Stores `new_doc` over the locked `current`, unless nothing changed.
fn store_update(
    conn: &mut DbConn,
    actor: Actor<'_>,
    action: &str,
    current: User,
    new_doc: Document,
) -> Result<Written<User>, DirectoryError> {
    let fields = Fields::of(&new_doc)?;
    let new_doc = complete(new_doc, &fields);
    let changes = diff(&current.doc, &new_doc);
    if changes.is_empty() {
        audit::record(
            conn,
            &audit::Entry {
                actor: actor.name,
                action,
                target_type: "user",
                target_id: Some(&current.id),
                detail: json!({"userName": fields.user_name, "changed": {}}),
                outcome: Outcome::Success,
            },
        )?;
        return Ok(Written {
            value: current,
            enqueued: 0,
        });
    }
    let now = store::now();
    let version = current.meta.version + 1;
    diesel::update(scim_users::table.filter(scim_users::id.eq(&current.id)))
        .set((
            scim_users::user_name.eq(&fields.user_name),
            scim_users::user_name_lower.eq(fields.user_name.to_lowercase()),
            scim_users::external_id.eq(fields.external_id.as_deref()),
            scim_users::display_name.eq(fields.display_name.as_deref()),
            scim_users::given_name.eq(fields.given_name.as_deref()),
            scim_users::family_name.eq(fields.family_name.as_deref()),
            scim_users::title.eq(fields.title.as_deref()),
            scim_users::active.eq(fields.active),
            scim_users::attributes.eq(Value::Object(new_doc.clone()).to_string()),
            scim_users::version.eq(version),
            scim_users::updated_at.eq(now),
        ))
        .execute(conn)
        .map_err(|e| map_unique(e, &fields.user_name))?;
    if changes.contains_key("emails") {
        diesel::delete(scim_user_emails::table.filter(scim_user_emails::user_id.eq(&current.id)))
            .execute(conn)?;
        insert_emails(conn, &current.id, &fields.emails)?;
    }
    let enqueued = outbox::enqueue_changed_users(conn, std::slice::from_ref(&current.id))?;
    audit::record(
        conn,
        &audit::Entry {
            actor: actor.name,
            action,
            target_type: "user",
            target_id: Some(&current.id),
            detail: json!({"userName": fields.user_name, "changed": changes}),
            outcome: Outcome::Success,
        },
    )?;
    Ok(Written {
        value: User {
            id: current.id,
            active: fields.active,
            doc: new_doc,
            meta: Meta {
                version,
                created: current.meta.created,
                last_modified: now,
            },
            groups: None,
        },
        enqueued,
    })
}

/// PUT (RFC 7644 §3.5.1): the document replaces the stored one.
pub fn replace(
    conn: &mut DbConn,
    actor: Actor<'_>,
    id: &str,
    pre: &Precondition,
    doc: &Document,
    load_groups: bool,
) -> Result<Written<User>, DirectoryError> {
    let mut written = tx::write(conn, |c| {
        let current = lock(c, id)?;
        pre.check(Kind::User, current.meta.version)?;
        store_update(
            c,
            actor,
            &actor.action("user.replace"),
            current,
            doc.clone(),
        )
    })?;
    written.value = with_groups(conn, written.value, load_groups)?;
    Ok(written)
}

/// PATCH (RFC 7644 §3.5.2): `edit` computes the new document from the locked current one, so
/// all operations of one request apply atomically.
pub fn modify(
    conn: &mut DbConn,
    actor: Actor<'_>,
    id: &str,
    pre: &Precondition,
    edit: &dyn Edit,
    load_groups: bool,
) -> Result<Written<User>, DirectoryError> {
    let mut written = tx::write(conn, |c| {
        let current = lock(c, id)?;
        pre.check(Kind::User, current.meta.version)?;
        let new_doc = edit.apply(current.doc.clone())?;
        store_update(c, actor, &actor.action("user.patch"), current, new_doc)
    })?;
    written.value = with_groups(conn, written.value, load_groups)?;
    Ok(written)
}

/// DELETE: the SCIM resource goes away (`404` from now on, its userName free again) but the row
/// stays, marked deleted and inactive, and the user is enqueued so ZenQMS disables it. Its group
/// memberships end here, with each group's count and version kept right.
pub fn delete(
    conn: &mut DbConn,
    actor: Actor<'_>,
    id: &str,
    pre: &Precondition,
) -> Result<Written<()>, DirectoryError> {
    tx::write(conn, |c| {
        let current = lock(c, id)?;
        pre.check(Kind::User, current.meta.version)?;
        let now = store::now();
        let enqueued = outbox::enqueue_changed_users(c, std::slice::from_ref(&current.id))?;
        let left: Vec<String> =
            diesel::delete(group_members::table.filter(group_members::user_id.eq(&current.id)))
                .returning(group_members::group_id)
                .get_results(c)?;
        if !left.is_empty() {
            diesel::update(scim_groups::table.filter(scim_groups::id.eq_any(&left)))
                .set((
                    scim_groups::member_count.eq(scim_groups::member_count - 1),
                    scim_groups::version.eq(scim_groups::version + 1),
                    scim_groups::updated_at.eq(now),
                ))
                .execute(c)?;
        }
        let mut doc = current.doc.clone();
        doc.insert("active".into(), Value::Bool(false));
        diesel::update(scim_users::table.filter(scim_users::id.eq(&current.id)))
            .set((
                scim_users::deleted_at.eq(Some(now)),
                scim_users::user_name_lower.eq(None::<String>),
                scim_users::active.eq(false),
                scim_users::attributes.eq(Value::Object(doc).to_string()),
                scim_users::version.eq(current.meta.version + 1),
                scim_users::updated_at.eq(now),
            ))
            .execute(c)?;
        audit::record(
            c,
            &audit::Entry {
                actor: actor.name,
                action: &actor.action("user.delete"),
                target_type: "user",
                target_id: Some(&current.id),
                detail: json!({
                    "userName": current.doc.get("userName"),
                    "left_groups": left,
                }),
                outcome: Outcome::Success,
            },
        )?;
        Ok(Written {
            value: (),
            enqueued,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_treat_empty_strings_as_absent_and_default_active() {
        let doc: Document = serde_json::from_value(json!({
            "userName": "Ada@Example.com",
            "title": "",
            "name": {"givenName": "Ada", "familyName": " "},
            "emails": [{"value": "ada@example.com", "type": "work", "primary": true}, {"type": "home"}]
        }))
        .unwrap();
        let f = Fields::of(&doc).unwrap();
        assert_eq!(f.user_name, "Ada@Example.com");
        assert_eq!(f.title, None);
        assert_eq!(f.family_name, None);
        assert!(f.active);
        assert_eq!(f.emails.len(), 1);
        assert!(f.emails[0].primary);
    }

    #[test]
    fn user_name_is_required() {
        let doc: Document = serde_json::from_value(json!({"userName": "  "})).unwrap();
        assert!(Fields::of(&doc).is_err());
    }

    #[test]
    fn diff_lists_changed_top_level_attributes() {
        let a: Document = serde_json::from_value(json!({"userName": "a", "title": "x"})).unwrap();
        let b: Document =
            serde_json::from_value(json!({"userName": "a", "active": false})).unwrap();
        let d = diff(&a, &b);
        assert_eq!(d.len(), 2);
        assert_eq!(d["title"]["after"], Value::Null);
        assert_eq!(d["active"]["after"], false);
    }
}
