//! Group → role mappings: Okta groups decide ZenQMS roles (`docs/architecture.md` and the
//! README's "Role mappings" say how they are used).
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
//!
//! Files: `api` (request and answer types), `service` (the async [`Mappings`] service),
//! `changes` (every write to the table, inside the caller's transaction — including the
//! directory's group hooks), `entitlement` (whom a change concerns), `preview`, `import`,
//! `document` (export format), `roles` (the ZenQMS role cache), `plan` (the role part of a
//! user's desired state, for the sync engine), `periodic` (housekeeping), `source` (the port
//! to ZenQMS's role list), `table`, `editor`, `error`.

pub mod api;
pub mod changes;
pub mod document;
pub mod editor;
pub mod entitlement;
pub mod error;
pub mod import;
pub mod periodic;
pub mod plan;
pub mod preview;
pub mod roles;
pub mod service;
pub mod source;
pub mod table;

pub use api::{CreateOutcome, MappingBody, RolesView, DEFAULT_LISTED};
pub use changes::{on_group_deleted, on_group_named, GroupRef};
pub use error::{MappingError, Unavailable};
pub use import::{ImportLine, ImportReport};
pub use plan::RolePlan;
pub use preview::Preview;
pub use service::Mappings;
pub use source::RoleSource;
pub use table::{MappingView, Status, Summary};
