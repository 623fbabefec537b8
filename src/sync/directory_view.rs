//! The reconciler's read-only view of the directory. The SCIM layer owns these tables; the
//! columns read here are a contract between the two: `scim_users` (`title` NULL when absent,
//! `deleted_at` set by a SCIM DELETE), `scim_user_emails` (in `position` order) and, for
//! role mappings, `group_members`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::store::schema::{scim_user_emails, scim_users};
use crate::store::{DbConn, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryEmail {
    pub value: String,
    pub email_type: Option<String>,
    pub is_primary: bool,
}

/// One directory user as the projection needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryUser {
    pub id: String,
    pub user_name: String,
    pub external_id: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub title: Option<String>,
    pub active: bool,
    /// SCIM-deleted (the resource is gone from SCIM; ZenQMS keeps the user, disabled).
    pub deleted: bool,
    /// In `position` order.
    pub emails: Vec<DirectoryEmail>,
}

type UserRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    bool,
    Option<NaiveDateTime>,
);

/// The user with this id, deleted or not; `None` when there is no such row.
pub fn load(conn: &mut DbConn, user_id: &str) -> Result<Option<DirectoryUser>, StoreError> {
    let row: Option<UserRow> = scim_users::table
        .filter(scim_users::id.eq(user_id))
        .select((
            scim_users::id,
            scim_users::user_name,
            scim_users::external_id,
            scim_users::given_name,
            scim_users::family_name,
            scim_users::title,
            scim_users::active,
            scim_users::deleted_at,
        ))
        .first(conn)
        .optional()?;
    let Some((id, user_name, external_id, given_name, family_name, title, active, deleted_at)) =
        row
    else {
        return Ok(None);
    };
    let emails = scim_user_emails::table
        .filter(scim_user_emails::user_id.eq(&id))
        .order(scim_user_emails::position.asc())
        .select((
            scim_user_emails::value,
            scim_user_emails::email_type,
            scim_user_emails::is_primary,
        ))
        .load::<(String, Option<String>, bool)>(conn)?
        .into_iter()
        .map(|(value, email_type, is_primary)| DirectoryEmail {
            value,
            email_type,
            is_primary,
        })
        .collect();
    Ok(Some(DirectoryUser {
        id,
        user_name,
        external_id,
        given_name,
        family_name,
        title,
        active,
        deleted: deleted_at.is_some(),
        emails,
    }))
}
