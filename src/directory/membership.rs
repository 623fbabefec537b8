//! Group membership as set operations on `group_members`.
//!
//! A membership change is never a read-modify-write of a member list: each operation is one
//! (chunked) statement that inserts or deletes exactly the rows it names and reports the user
//! ids it actually changed, so two concurrent PATCHes of one group cannot lose each other's
//! changes, and the caller knows precisely whom to enqueue and what to count.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;

use super::query::{self, MemberFilter};
use super::{DirectoryError, Edit};
use crate::store::schema::{group_members, scim_users};
use crate::store::sql::{Bind, Sql};
use crate::store::{db_run, lock_rows, DbConn, StoreError};

/// Bounded `IN` lists keep every statement under both backends' bind-parameter limits.
const CHUNK: usize = 5000;
/// Two parameters per inserted row.
const INSERT_CHUNK: usize = 2000;

/// One membership change, in request order (RFC 7644 §3.5.2: operations apply in sequence).
#[derive(Debug, Clone, PartialEq)]
pub enum MemberOp {
    /// `add` to `members`: idempotent for users already in the group.
    Add(Vec<String>),
    /// `remove` of listed members (Entra's value-array form): other members stay.
    Remove(Vec<String>),
    /// `remove` with a value filter, e.g. `members[value eq "…"]` (RFC 7644 §3.5.2.2); a
    /// member that is not in the group is a no-op, not an error.
    RemoveWhere(MemberFilter),
    /// `remove` of `members` without a filter: the group becomes empty.
    RemoveAll,
    /// `replace` of `members` (or a PUT): exactly these users afterwards; `[]` empties it.
    Replace(Vec<String>),
    /// `replace` of `members[filter]`: the matched members are replaced by these users;
    /// RFC 7644 §3.5.2.3 makes a filter that matches nothing a `noTarget` error.
    ReplaceWhere(MemberFilter, Vec<String>),
}

/// One step of a group PATCH.
pub enum GroupOp {
    /// A change of the group's own attributes (displayName, externalId, extensions).
    Edit(Box<dyn Edit>),
    Members(MemberOp),
}

impl std::fmt::Debug for GroupOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GroupOp::Edit(_) => f.write_str("Edit(..)"),
            GroupOp::Members(m) => write!(f, "Members({m:?})"),
        }
    }
}

/// The user ids an operation actually added and removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delta {
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

impl Delta {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }

    pub fn extend(&mut self, other: Delta) {
        self.added.extend(other.added);
        self.removed.extend(other.removed);
    }

    /// Net change of the member count.
    pub fn count_change(&self) -> i64 {
        self.added.len() as i64 - self.removed.len() as i64
    }

    /// Every user whose membership changed (each once).
    pub fn affected(&self) -> Vec<String> {
        let mut seen = HashSet::new();
        self.added
            .iter()
            .chain(&self.removed)
            .filter(|id| seen.insert(id.as_str()))
            .cloned()
            .collect()
    }
}

/// The ids once each, in first-seen order.
pub fn dedupe(ids: &[String]) -> Vec<String> {
    let mut seen = HashSet::with_capacity(ids.len());
    ids.iter()
        .filter(|id| seen.insert(id.as_str()))
        .cloned()
        .collect()
}

/// Fails with the ids that are not live users. On PostgreSQL the found rows are share-locked
/// (`FOR KEY SHARE`) until commit, so a concurrent DELETE of one of them waits and then removes
/// the membership this transaction adds, instead of leaving a deleted user in the group.
pub fn require_users(conn: &mut DbConn, ids: &[String]) -> Result<(), DirectoryError> {
    let mut found: HashSet<String> = HashSet::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let rows: Vec<String> = lock_rows!(
            conn,
            for_key_share,
            scim_users::table
                .filter(scim_users::id.eq_any(chunk))
                .filter(scim_users::deleted_at.is_null())
                .select(scim_users::id),
            load
        )?;
        found.extend(rows);
    }
    let missing: Vec<String> = ids
        .iter()
        .filter(|id| !found.contains(id.as_str()))
        .cloned()
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(DirectoryError::UnknownMembers(dedupe(&missing)))
    }
}

/// Inserts the memberships that do not exist yet; returns the users actually added.
pub fn add(
    conn: &mut DbConn,
    group_id: &str,
    ids: &[String],
) -> Result<Vec<String>, DirectoryError> {
    let ids = dedupe(ids);
    require_users(conn, &ids)?;
    let mut added = Vec::new();
    for chunk in ids.chunks(INSERT_CHUNK) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|u| {
                (
                    group_members::group_id.eq(group_id),
                    group_members::user_id.eq(u),
                )
            })
            .collect();
        let inserted: Vec<String> = db_run!(conn, |c| diesel::insert_into(group_members::table)
            .values(&rows)
            .on_conflict_do_nothing()
            .returning(group_members::user_id)
            .get_results(c))?;
        added.extend(inserted);
    }
    Ok(added)
}

/// Deletes the listed memberships; users that were not members are ignored.
pub fn remove(
    conn: &mut DbConn,
    group_id: &str,
    ids: &[String],
) -> Result<Vec<String>, StoreError> {
    let mut removed = Vec::new();
    for chunk in dedupe(ids).chunks(CHUNK) {
        let gone: Vec<String> = diesel::delete(
            group_members::table
                .filter(group_members::group_id.eq(group_id))
                .filter(group_members::user_id.eq_any(chunk)),
        )
        .returning(group_members::user_id)
        .get_results(conn)?;
        removed.extend(gone);
    }
    Ok(removed)
}

#[derive(QueryableByName)]
struct UserIdRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    user_id: String,
}

/// Deletes the memberships matching a member filter (translated to SQL like list filters).
pub fn remove_where(
    conn: &mut DbConn,
    group_id: &str,
    filter: &MemberFilter,
) -> Result<Vec<String>, DirectoryError> {
    let mut sql = Sql::new(conn.backend());
    sql.push("DELETE FROM group_members AS m WHERE m.group_id = ")
        .bind(Bind::Text(group_id.to_string()))
        .push(" AND ");
    query::member_filter(&mut sql, filter)?;
    // Unqualified: SQLite's RETURNING cannot name the table's alias ("no such column:
    // m.user_id"); PostgreSQL takes either.
    sql.push(" RETURNING user_id");
    let rows: Vec<UserIdRow> = sql.load(conn)?;
    Ok(rows.into_iter().map(|r| r.user_id).collect())
}

pub fn remove_all(conn: &mut DbConn, group_id: &str) -> Result<Vec<String>, StoreError> {
    Ok(
        diesel::delete(group_members::table.filter(group_members::group_id.eq(group_id)))
            .returning(group_members::user_id)
            .get_results(conn)?,
    )
}

/// The current member ids of a group.
pub fn member_ids(conn: &mut DbConn, group_id: &str) -> Result<Vec<String>, StoreError> {
    Ok(group_members::table
        .filter(group_members::group_id.eq(group_id))
        .select(group_members::user_id)
        .load(conn)?)
}

/// Makes the group's members exactly `ids`: removes the others, adds the missing. Runs under
/// the group's row lock, so the member set read here cannot change before the writes.
pub fn replace(conn: &mut DbConn, group_id: &str, ids: &[String]) -> Result<Delta, DirectoryError> {
    let wanted = dedupe(ids);
    require_users(conn, &wanted)?;
    let current: HashSet<String> = member_ids(conn, group_id)?.into_iter().collect();
    let wanted_set: HashSet<&str> = wanted.iter().map(String::as_str).collect();
    let to_remove: Vec<String> = current
        .iter()
        .filter(|id| !wanted_set.contains(id.as_str()))
        .cloned()
        .collect();
    let to_add: Vec<String> = wanted
        .iter()
        .filter(|id| !current.contains(id.as_str()))
        .cloned()
        .collect();
    let removed = if to_remove.is_empty() {
        Vec::new()
    } else {
        remove(conn, group_id, &to_remove)?
    };
    let added = if to_add.is_empty() {
        Vec::new()
    } else {
        add(conn, group_id, &to_add)?
    };
    Ok(Delta { added, removed })
}

/// Applies one membership operation.
pub fn apply(conn: &mut DbConn, group_id: &str, op: &MemberOp) -> Result<Delta, DirectoryError> {
    Ok(match op {
        MemberOp::Add(ids) => Delta {
            added: add(conn, group_id, ids)?,
            removed: Vec::new(),
        },
        MemberOp::Remove(ids) => Delta {
            added: Vec::new(),
            removed: remove(conn, group_id, ids)?,
        },
        MemberOp::RemoveWhere(f) => Delta {
            added: Vec::new(),
            removed: remove_where(conn, group_id, f)?,
        },
        MemberOp::RemoveAll => Delta {
            added: Vec::new(),
            removed: remove_all(conn, group_id)?,
        },
        MemberOp::Replace(ids) => replace(conn, group_id, ids)?,
        MemberOp::ReplaceWhere(f, ids) => {
            let removed = remove_where(conn, group_id, f)?;
            if removed.is_empty() {
                return Err(super::Rejection::new(
                    super::Reason::NoTarget,
                    "no member matches the filter of the replace path",
                )
                .into());
            }
            Delta {
                added: add(conn, group_id, ids)?,
                removed,
            }
        }
    })
}

/// A member as rendered: the user's id, userName and displayName.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user_id: String,
    pub user_name: String,
    pub display_name: Option<String>,
}

/// The members of each of `group_ids`, ordered by user id: one query for a whole page.
pub fn members_of(
    conn: &mut DbConn,
    group_ids: &[String],
) -> Result<HashMap<String, Vec<Member>>, StoreError> {
    let mut out: HashMap<String, Vec<Member>> = HashMap::new();
    for chunk in group_ids.chunks(CHUNK) {
        let rows: Vec<(String, String, String, Option<String>)> = group_members::table
            .inner_join(scim_users::table)
            .filter(group_members::group_id.eq_any(chunk))
            .select((
                group_members::group_id,
                scim_users::id,
                scim_users::user_name,
                scim_users::display_name,
            ))
            .order((group_members::group_id.asc(), group_members::user_id.asc()))
            .load(conn)?;
        for (group_id, user_id, user_name, display_name) in rows {
            out.entry(group_id).or_default().push(Member {
                user_id,
                user_name,
                display_name,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_counts_and_affected_users() {
        let mut d = Delta {
            added: vec!["a".into(), "b".into()],
            removed: vec![],
        };
        d.extend(Delta {
            added: vec![],
            removed: vec!["a".into()],
        });
        assert_eq!(d.count_change(), 1);
        assert_eq!(d.affected(), vec!["a".to_string(), "b".to_string()]);
        assert_eq!(
            dedupe(&["x".into(), "x".into(), "y".into()]),
            vec!["x", "y"]
        );
    }
}
