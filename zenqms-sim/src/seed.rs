//! Seeds: roles and pre-existing users loaded at start (`--seed FILE`, [`SimConfig::seed`])
//! or at run time (`POST /_sim/seed`, [`Simulator::seed`]).
//!
//! A seed merges into what is there: a role or user whose `id` exists is replaced, one
//! without `id` (or with a new one) is added. Users go through the same validation as
//! `POST /v2/users`, and their `role_ids` must name roles that exist after the seed's
//! roles are in. A seed applies whole or not at all.
//!
//! [`SimConfig::seed`]: crate::SimConfig::seed
//! [`Simulator::seed`]: crate::Simulator::seed

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::input::{Field, UserInput};
use crate::model::{Id, NewRole, Role, Status, User};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    #[serde(default)]
    pub roles: Vec<NewRole>,
    #[serde(default)]
    pub users: Vec<SeedUser>,
}

/// A pre-existing user. Field names as in the API's user object; `id`, the timestamps
/// and everything optional may be left out.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedUser {
    #[serde(default)]
    pub id: Option<Id>,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub title: String,
    #[serde(default)]
    pub site: Option<String>,
    #[serde(default)]
    pub supervisor_email: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub status: Option<Status>,
    #[serde(default)]
    pub role_ids: Vec<Id>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

impl SeedUser {
    /// A user with the four required fields; set the others with struct update syntax.
    pub fn new(email: &str, first_name: &str, last_name: &str, title: &str) -> Self {
        SeedUser {
            email: email.to_owned(),
            first_name: first_name.to_owned(),
            last_name: last_name.to_owned(),
            title: title.to_owned(),
            ..SeedUser::default()
        }
    }

    /// The fields as a create body would give them, for the shared validation.
    pub(crate) fn input(&self) -> UserInput {
        let opt = |v: &Option<String>| v.clone().map_or(Field::Absent, Field::Set);
        UserInput {
            email: Field::Set(self.email.clone()),
            first_name: Field::Set(self.first_name.clone()),
            last_name: Field::Set(self.last_name.clone()),
            title: Field::Set(self.title.clone()),
            site: opt(&self.site),
            supervisor_email: opt(&self.supervisor_email),
            external_id: opt(&self.external_id),
            status: match self.status {
                None => Field::Absent,
                Some(Status::Active) => Field::Set("active".into()),
                Some(Status::Disabled) => Field::Set("disabled".into()),
                Some(Status::LockedOut) => Field::Set("locked_out".into()),
            },
        }
    }
}

impl Seed {
    pub fn from_json(text: &str) -> Result<Seed, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// What a seed created or replaced, in the seed's order (with the ids it was given).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SeedOutcome {
    pub roles: Vec<Role>,
    pub users: Vec<User>,
}

/// A small realistic tenant for demos: five roles and two users who were in ZenQMS
/// before the bridge (one active without an `external_id`, one disabled).
pub fn demo_seed() -> Seed {
    let role = |id: u64, name: &str, description: &str| NewRole::new(id, name, description);
    Seed {
        roles: vec![
            role(
                7,
                "Document Approver",
                "Approves controlled documents and their revisions",
            ),
            role(
                12,
                "Training Coordinator",
                "Assigns training and tracks completion",
            ),
            role(
                15,
                "QA Reviewer",
                "Reviews deviations, change controls and records",
            ),
            role(21, "CAPA Owner", "Owns corrective and preventive actions"),
            role(
                31,
                "Auditor",
                "Read access for internal and external audits",
            ),
        ],
        users: vec![
            SeedUser {
                site: Some("Boston".into()),
                role_ids: vec![Id::Num(7), Id::Num(15)],
                ..SeedUser::new(
                    "grace.hopper@example.com",
                    "Grace",
                    "Hopper",
                    "Head of Quality",
                )
            },
            SeedUser {
                status: Some(Status::Disabled),
                role_ids: vec![Id::Num(31)],
                ..SeedUser::new(
                    "alan.turing@example.com",
                    "Alan",
                    "Turing",
                    "Validation Engineer",
                )
            },
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_files_parse() {
        let seed = Seed::from_json(
            r#"{"roles":[{"id":7,"name":"Document Approver","description":"d"},{"name":"New"}],
                "users":[{"email":"a@example.com","first_name":"A","last_name":"B","title":"T",
                          "status":"locked_out","role_ids":[7],"external_id":"00u1",
                          "created_at":"2026-11-02T10:00:00Z"}]}"#,
        )
        .unwrap();
        assert_eq!(seed.roles[0].id, Some(Id::Num(7)));
        assert_eq!(seed.roles[1].id, None);
        assert_eq!(seed.users[0].status, Some(Status::LockedOut));
        assert!(seed.users[0].created_at.is_some());
        assert!(Seed::from_json(r#"{"roles":[],"userz":[]}"#).is_err());
    }

    #[test]
    fn demo_seed_is_valid() {
        for user in demo_seed().users {
            assert!(user.input().into_new_user().is_ok());
        }
    }
}
