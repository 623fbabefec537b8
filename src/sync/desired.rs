//! The ZenQMS state one directory user should have, and the smallest change that takes a
//! ZenQMS user there. Pure: no I/O. The rules, field by field:
//!
//! | ZenQMS | from the directory user | note |
//! |---|---|---|
//! | `external_id` | SCIM `externalId` (the Okta user id) | the link; matching falls back to email |
//! | `email` | primary email, else the first, else `userName` if it is an email | required |
//! | `first_name` / `last_name` | `name.givenName` / `name.familyName` | required |
//! | `title` | `title`, else `DEFAULT_TITLE` | required by ZenQMS |
//! | `status` | `active` → `active`, otherwise `disabled` | users are never deleted |
//! | roles | the role mappings (`crate::mappings::RolePlan`) | only managed roles are touched |
//!
//! A user missing a required field is skipped, not failed, until a push supplies it.

use super::directory_view::DirectoryUser;
use crate::mappings::RolePlan;
use crate::zenqms::{NewUser, RemoteStatus, RemoteUser, UserPatch, WriteStatus};

/// A required field the directory does not supply (or supplies in a form ZenQMS refuses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The ZenQMS field.
    pub field: &'static str,
    pub reason: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

/// The desired ZenQMS user. A `None` field is one the directory does not supply: it is
/// not sent, so ZenQMS keeps its own value; a user without one cannot be created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    /// The Okta user id (SCIM `externalId`): the link. `None` leaves ZenQMS's alone.
    pub external_id: Option<String>,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub title: Option<String>,
    pub status: WriteStatus,
    pub roles: Option<RolePlan>,
    /// Why a required field is `None`.
    pub problems: Vec<Problem>,
}

fn clean(v: Option<&str>) -> Option<String> {
    v.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Why ZenQMS would refuse this email, or `None`. The spec: emails are compared without
/// regard to case and non-ASCII ones are rejected; "malformed" is kept as simple as the
/// API's own check (one `@`, a local part, a dotted domain), so the bridge never skips
/// an address ZenQMS would take.
pub fn email_problem(email: &str) -> Option<&'static str> {
    if !email.is_ascii() {
        return Some("contains non-ASCII characters, which ZenQMS rejects");
    }
    if email.chars().any(char::is_whitespace) {
        return Some("contains whitespace");
    }
    let mut parts = email.split('@');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(local), Some(domain), None)
            if !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.') =>
        {
            None
        }
        _ => Some("is not an email address"),
    }
}

impl Desired {
    /// Projects a directory user. `default_title` is `DEFAULT_TITLE`.
    pub fn project(
        user: &DirectoryUser,
        default_title: Option<&str>,
        roles: Option<RolePlan>,
    ) -> Desired {
        let mut problems = Vec::new();
        // Primary email, else the first, else a userName that is an email.
        let candidate = user
            .emails
            .iter()
            .find(|e| e.is_primary && !e.value.trim().is_empty())
            .or_else(|| user.emails.iter().find(|e| !e.value.trim().is_empty()))
            .map(|e| e.value.trim().to_string())
            .or_else(|| {
                let n = user.user_name.trim();
                (n.contains('@') && email_problem(n).is_none()).then(|| n.to_string())
            });
        let email = match candidate {
            None => {
                problems.push(Problem {
                    field: "email",
                    reason:
                        "missing: the user has no email and its userName is not an email address"
                            .into(),
                });
                None
            }
            Some(e) => match email_problem(&e) {
                Some(why) => {
                    problems.push(Problem {
                        field: "email",
                        reason: format!("`{e}` {why}"),
                    });
                    None
                }
                None => Some(e),
            },
        };
        let mut required = |field: &'static str, value: Option<String>, source: &str| {
            if value.is_none() {
                problems.push(Problem {
                    field,
                    reason: format!("missing: SCIM {source} is empty"),
                });
            }
            value
        };
        let first_name = required(
            "first_name",
            clean(user.given_name.as_deref()),
            "name.givenName",
        );
        let last_name = required(
            "last_name",
            clean(user.family_name.as_deref()),
            "name.familyName",
        );
        let title = clean(user.title.as_deref()).or_else(|| clean(default_title));
        if title.is_none() {
            problems.push(Problem {
                field: "title",
                reason: "missing: SCIM title is empty and DEFAULT_TITLE is not set".into(),
            });
        }
        Desired {
            external_id: clean(user.external_id.as_deref()),
            email,
            first_name,
            last_name,
            title,
            status: if user.active && !user.deleted {
                WriteStatus::Active
            } else {
                WriteStatus::Disabled
            },
            roles,
            problems,
        }
    }

    /// The create body, when every required field is there.
    pub fn new_user(&self) -> Option<NewUser> {
        Some(NewUser {
            email: self.email.clone()?,
            first_name: self.first_name.clone()?,
            last_name: self.last_name.clone()?,
            title: self.title.clone()?,
            external_id: self.external_id.clone(),
            status: self.status,
        })
    }

    /// Reason text naming every missing field, for a `skipped` state.
    pub fn problems_text(&self) -> String {
        self.problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The fields of `remote` that differ from this (only those the directory supplies).
    pub fn patch_against(&self, remote: &RemoteUser) -> UserPatch {
        let differs = |want: &Option<String>, have: &str| match want {
            Some(w) if w != have => Some(w.clone()),
            _ => None,
        };
        UserPatch {
            // ZenQMS compares emails without regard to case: a change of case alone is not
            // a change (and a tenant that lower-cases would otherwise be patched forever).
            email: match &self.email {
                Some(e) if !e.eq_ignore_ascii_case(&remote.email) => Some(e.clone()),
                _ => None,
            },
            first_name: differs(&self.first_name, &remote.first_name),
            last_name: differs(&self.last_name, &remote.last_name),
            title: differs(&self.title, &remote.title),
            external_id: match &self.external_id {
                Some(x) if remote.external_id.as_deref() != Some(x.as_str()) => Some(x.clone()),
                _ => None,
            },
            status: match (self.status, &remote.status) {
                (WriteStatus::Disabled, RemoteStatus::Disabled) => None,
                (WriteStatus::Disabled, _) => Some(WriteStatus::Disabled),
                // `locked_out` is active-but-locked: ZenQMS's business, left alone. So is
                // any status this client does not know.
                (WriteStatus::Active, RemoteStatus::Disabled) => Some(WriteStatus::Active),
                (WriteStatus::Active, _) => None,
            },
        }
    }
}

/// `patch` without the fields `sent` already set (what a PATCH answer shows as drift).
pub fn unsent(patch: UserPatch, sent: &UserPatch) -> UserPatch {
    UserPatch {
        email: patch.email.filter(|_| sent.email.is_none()),
        first_name: patch.first_name.filter(|_| sent.first_name.is_none()),
        last_name: patch.last_name.filter(|_| sent.last_name.is_none()),
        title: patch.title.filter(|_| sent.title.is_none()),
        external_id: patch.external_id.filter(|_| sent.external_id.is_none()),
        status: patch.status.filter(|_| sent.status.is_none()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::directory_view::DirectoryEmail;
    use serde_json::json;

    fn user() -> DirectoryUser {
        DirectoryUser {
            id: "s1".into(),
            user_name: "ada@example.com".into(),
            external_id: Some("00u1".into()),
            given_name: Some("Ada".into()),
            family_name: Some("Lovelace".into()),
            title: Some("QA Specialist".into()),
            active: true,
            deleted: false,
            emails: vec![
                DirectoryEmail {
                    value: "ada.home@example.com".into(),
                    email_type: Some("home".into()),
                    is_primary: false,
                },
                DirectoryEmail {
                    value: "ada.work@example.com".into(),
                    email_type: Some("work".into()),
                    is_primary: true,
                },
            ],
        }
    }

    fn remote(d: &Desired) -> RemoteUser {
        serde_json::from_value(json!({
            "id": 1001, "email": d.email, "first_name": d.first_name, "last_name": d.last_name,
            "title": d.title, "external_id": d.external_id, "status": "active", "role_ids": []
        }))
        .unwrap()
    }

    #[test]
    fn email_rules() {
        let d = Desired::project(&user(), None, None);
        assert_eq!(
            d.email.as_deref(),
            Some("ada.work@example.com"),
            "primary first"
        );
        let mut u = user();
        u.emails[1].is_primary = false;
        assert_eq!(
            Desired::project(&u, None, None).email.as_deref(),
            Some("ada.home@example.com"),
            "else the first"
        );
        u.emails.clear();
        assert_eq!(
            Desired::project(&u, None, None).email.as_deref(),
            Some("ada@example.com"),
            "else the userName"
        );
        u.user_name = "ada".into();
        let d = Desired::project(&u, None, None);
        assert_eq!(d.email, None);
        assert_eq!(d.problems[0].field, "email");
        u.emails.push(DirectoryEmail {
            value: "adá@example.com".into(),
            email_type: None,
            is_primary: true,
        });
        let d = Desired::project(&u, None, None);
        assert!(
            d.problems_text().contains("non-ASCII"),
            "{}",
            d.problems_text()
        );
        assert!(d.new_user().is_none());
    }

    #[test]
    fn title_defaults_and_skips() {
        let mut u = user();
        u.title = None;
        let d = Desired::project(&u, None, None);
        assert_eq!(d.title, None);
        assert_eq!(d.problems.len(), 1);
        assert!(d.problems_text().starts_with("title: missing"));
        assert!(d.new_user().is_none());
        let d = Desired::project(&u, Some("Employee"), None);
        assert_eq!(d.title.as_deref(), Some("Employee"));
        assert!(d.new_user().is_some());
        u.title = Some("  ".into());
        assert_eq!(
            Desired::project(&u, Some("Employee"), None)
                .title
                .as_deref(),
            Some("Employee")
        );
    }

    #[test]
    fn status_from_active_and_deletion() {
        let mut u = user();
        assert_eq!(Desired::project(&u, None, None).status, WriteStatus::Active);
        u.active = false;
        assert_eq!(
            Desired::project(&u, None, None).status,
            WriteStatus::Disabled
        );
        u.active = true;
        u.deleted = true;
        assert_eq!(
            Desired::project(&u, None, None).status,
            WriteStatus::Disabled
        );
    }

    #[test]
    fn patches_are_minimal() {
        let d = Desired::project(&user(), None, None);
        let mut r = remote(&d);
        assert!(
            d.patch_against(&r).is_empty(),
            "nothing changed, nothing sent"
        );
        r.email = "ADA.WORK@example.com".into();
        assert!(d.patch_against(&r).is_empty(), "case of the email alone");
        r.title = "Old".into();
        r.status = RemoteStatus::LockedOut;
        let p = d.patch_against(&r);
        assert_eq!(p.fields(), ["title"], "locked_out is left alone");
        r.status = RemoteStatus::Disabled;
        r.external_id = None;
        let p = d.patch_against(&r);
        assert_eq!(p.fields(), ["title", "external_id", "status"]);
        let mut u = user();
        u.external_id = None;
        u.title = None;
        let d = Desired::project(&u, None, None);
        r.external_id = Some("someone".into());
        let p = d.patch_against(&r);
        assert_eq!(
            p.fields(),
            ["status"],
            "what the directory lacks is not sent"
        );
        let sent = UserPatch {
            status: Some(WriteStatus::Active),
            ..UserPatch::default()
        };
        assert!(unsent(p, &sent).is_empty());
    }
}
