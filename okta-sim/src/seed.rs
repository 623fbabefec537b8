//! Seeds: the org's users, groups and memberships at start (`--seed FILE`, `--generate`,
//! [`SimConfig`](crate::SimConfig)) or at run time (`POST /_sim/seed`, `/_sim/generate`).
//!
//! A seed merges into what is there: an object whose `id` exists is replaced, one without
//! `id` is added with a new one. Memberships name groups by name or id and users by login
//! or id. A seed applies whole or not at all and produces no System Log events (it is the
//! state the org starts from).

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::model::{Group, GroupProfile, GroupType, User, UserStatus, UserType};
use crate::state::{Directory, DEFAULT_USER_TYPE};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    #[serde(default)]
    pub users: Vec<SeedUser>,
    #[serde(default)]
    pub groups: Vec<SeedGroup>,
}

impl Seed {
    pub fn from_json(text: &str) -> Result<Seed, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }
}

/// A user as it already exists. Only `profile.login` and `profile.email` are required.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SeedUser {
    #[serde(default)]
    pub id: Option<String>,
    /// ACTIVE when absent.
    #[serde(default)]
    pub status: Option<UserStatus>,
    pub profile: Map<String, Value>,
    #[serde(default)]
    pub created: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_updated: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_login: Option<DateTime<Utc>>,
    /// Names or ids of the (non-built-in) groups the user is in.
    #[serde(default)]
    pub groups: Vec<String>,
}

impl SeedUser {
    /// An ACTIVE user with login = email and the given names.
    pub fn new(email: &str, first_name: &str, last_name: &str) -> SeedUser {
        let Value::Object(profile) = json!({
            "login": email, "email": email, "firstName": first_name, "lastName": last_name,
            "displayName": format!("{first_name} {last_name}"),
        }) else {
            unreachable!("a JSON object literal")
        };
        SeedUser {
            profile,
            ..SeedUser::default()
        }
    }

    /// Sets one profile attribute.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> SeedUser {
        self.profile.insert(key.to_owned(), value.into());
        self
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedGroup {
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// OKTA_GROUP when absent.
    #[serde(default, rename = "type")]
    pub group_type: Option<GroupType>,
    /// Logins or ids of the members.
    #[serde(default)]
    pub members: Vec<String>,
    /// When the group's profile last changed; now when absent.
    #[serde(default, rename = "lastUpdated")]
    pub last_updated: Option<DateTime<Utc>>,
    /// When its membership last changed; now when absent (a re-read filtering on it should
    /// not see a seeded org as just changed: set both in the past).
    #[serde(default, rename = "lastMembershipUpdated")]
    pub last_membership_updated: Option<DateTime<Utc>>,
}

impl SeedGroup {
    pub fn new(name: &str) -> SeedGroup {
        SeedGroup {
            name: name.to_owned(),
            ..SeedGroup::default()
        }
    }
}

/// What a seed added or replaced.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedOutcome {
    pub users: usize,
    pub groups: usize,
    pub memberships: usize,
}

/// A generated org: `users` users in `groups` groups, the same for the same `seed`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Generate {
    pub users: usize,
    pub groups: usize,
    pub seed: u64,
    pub domain: String,
    /// Fraction of users without a `title`.
    pub without_title: f64,
    /// Fraction of users per non-ACTIVE status (rounded down), e.g.
    /// `{"DEPROVISIONED": 0.02, "SUSPENDED": 0.01}`.
    pub statuses: BTreeMap<UserStatus, f64>,
    /// Each user is in between `min_groups` and `max_groups` groups.
    pub min_groups: usize,
    pub max_groups: usize,
}

impl Default for Generate {
    fn default() -> Self {
        Generate {
            users: 0,
            groups: 0,
            seed: 1,
            domain: "example.com".into(),
            without_title: 0.05,
            statuses: [
                (UserStatus::Deprovisioned, 0.02),
                (UserStatus::Suspended, 0.01),
                (UserStatus::Staged, 0.01),
                (UserStatus::LockedOut, 0.01),
            ]
            .into_iter()
            .collect(),
            min_groups: 1,
            max_groups: 3,
        }
    }
}

impl Generate {
    pub fn new(users: usize, groups: usize, seed: u64) -> Generate {
        Generate {
            users,
            groups,
            seed,
            ..Generate::default()
        }
    }

    fn validate(&self) -> Result<(), ApiError> {
        let bad = |f: &str, c: &str| Err(ApiError::validation(f, c));
        if self.users > 1_000_000 || self.groups > 100_000 {
            return bad("users", "at most 1000000 users and 100000 groups");
        }
        if !(0.0..=1.0).contains(&self.without_title) {
            return bad("without_title", "must be between 0 and 1");
        }
        if self.statuses.values().any(|f| !(0.0..=1.0).contains(f))
            || self.statuses.values().sum::<f64>() > 1.0
        {
            return bad(
                "statuses",
                "fractions between 0 and 1 that add up to at most 1",
            );
        }
        if self.min_groups > self.max_groups {
            return bad("min_groups", "must not exceed max_groups");
        }
        if self.domain.is_empty() || self.domain.contains('@') {
            return bad("domain", "must be a domain name");
        }
        Ok(())
    }
}

const FIRST: [&str; 48] = [
    "Ada",
    "Grace",
    "Alan",
    "Katherine",
    "Linus",
    "Margaret",
    "Dennis",
    "Barbara",
    "Ken",
    "Radia",
    "Tim",
    "Frances",
    "Donald",
    "Hedy",
    "John",
    "Shafi",
    "Edsger",
    "Lynn",
    "Niklaus",
    "Adele",
    "Bjarne",
    "Joan",
    "Guido",
    "Anita",
    "James",
    "Sophie",
    "Leslie",
    "Mary",
    "Vint",
    "Annie",
    "Robert",
    "Evelyn",
    "Claude",
    "Jean",
    "Brian",
    "Karen",
    "Yukihiro",
    "Carol",
    "Rasmus",
    "Elena",
    "Andrew",
    "Priya",
    "Mateo",
    "Aisha",
    "Lars",
    "Mei",
    "Omar",
    "Ingrid",
];
const LAST: [&str; 48] = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Johnson",
    "Torvalds",
    "Hamilton",
    "Ritchie",
    "Liskov",
    "Thompson",
    "Perlman",
    "Berners-Lee",
    "Allen",
    "Knuth",
    "Lamarr",
    "McCarthy",
    "Goldwasser",
    "Dijkstra",
    "Conway",
    "Wirth",
    "Goldberg",
    "Stroustrup",
    "Clarke",
    "van Rossum",
    "Borg",
    "Gosling",
    "Wilson",
    "Lamport",
    "Keller",
    "Cerf",
    "Easley",
    "Kahn",
    "Boyd",
    "Shannon",
    "Sammet",
    "Kernighan",
    "Jones",
    "Matsumoto",
    "Shaw",
    "Lerdorf",
    "Petrova",
    "Ng",
    "Sharma",
    "García",
    "Bello",
    "Nilsen",
    "Chen",
    "Haddad",
    "Berg",
];
const TITLES: [&str; 24] = [
    "QA Specialist",
    "Quality Manager",
    "Document Controller",
    "Regulatory Affairs Manager",
    "Validation Engineer",
    "Lab Technician",
    "Production Supervisor",
    "CAPA Coordinator",
    "Training Coordinator",
    "Internal Auditor",
    "Process Engineer",
    "Software Engineer",
    "Clinical Research Associate",
    "Supplier Quality Engineer",
    "Plant Manager",
    "Compliance Officer",
    "Microbiologist",
    "Data Analyst",
    "Operations Director",
    "Research Scientist",
    "Packaging Engineer",
    "Complaint Handler",
    "HR Generalist",
    "Chief Quality Officer",
];
const DEPARTMENTS: [&str; 16] = [
    "Quality Assurance",
    "Quality Control",
    "Regulatory Affairs",
    "Manufacturing",
    "Engineering",
    "Research and Development",
    "Clinical Operations",
    "Supply Chain",
    "Document Control",
    "Validation",
    "Training",
    "Human Resources",
    "Finance",
    "IT",
    "Sales",
    "Executive",
];

fn ascii_slug(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            'á' | 'à' | 'ä' => Some('a'),
            'é' | 'è' => Some('e'),
            'í' => Some('i'),
            'ó' | 'ö' => Some('o'),
            'ú' | 'ü' => Some('u'),
            c if c.is_ascii_alphanumeric() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

/// Builds the seed of a generated org (deterministic for a given [`Generate`]).
pub fn generated_seed(g: &Generate, now: DateTime<Utc>) -> Result<Seed, ApiError> {
    g.validate()?;
    let mut rng = StdRng::seed_from_u64(g.seed);
    let groups: Vec<SeedGroup> = (0..g.groups)
        .map(|i| {
            let base = DEPARTMENTS[i % DEPARTMENTS.len()];
            let round = i / DEPARTMENTS.len();
            let name = if round == 0 {
                base.to_owned()
            } else {
                format!("{base} {}", round + 1)
            };
            SeedGroup {
                description: Some(format!("Members of {name}")),
                ..SeedGroup::new(&name)
            }
        })
        .collect();
    let mut statuses: Vec<UserStatus> = Vec::with_capacity(g.users);
    for (status, fraction) in &g.statuses {
        let n = (g.users as f64 * fraction).floor() as usize;
        statuses.extend(std::iter::repeat_n(*status, n));
    }
    statuses.truncate(g.users);
    statuses.resize(g.users, UserStatus::Active);
    statuses.shuffle(&mut rng);
    let mut taken: BTreeMap<String, usize> = BTreeMap::new();
    let group_names: Vec<String> = groups.iter().map(|s| s.name.clone()).collect();
    let mut users = Vec::with_capacity(g.users);
    for status in statuses {
        let first = *FIRST.choose(&mut rng).unwrap_or(&"Ada");
        let last = *LAST.choose(&mut rng).unwrap_or(&"Lovelace");
        let local = format!("{}.{}", ascii_slug(first), ascii_slug(last));
        let n = taken.entry(local.clone()).or_insert(0);
        *n += 1;
        let email = if *n == 1 {
            format!("{local}@{}", g.domain)
        } else {
            format!("{local}{n}@{}", g.domain)
        };
        let mut u = SeedUser::new(&email, first, last);
        if rng.random::<f64>() >= g.without_title {
            u = u.with(
                "title",
                *TITLES.choose(&mut rng).unwrap_or(&"QA Specialist"),
            );
        }
        let employee = rng.random_range(10_000..99_999);
        u = u.with("employeeNumber", employee.to_string());
        let created = now - TimeDelta::days(rng.random_range(30..730));
        let since = (now - created).num_minutes().max(1);
        u.created = Some(created);
        u.last_updated = Some(created + TimeDelta::minutes(rng.random_range(0..since)));
        if status == UserStatus::Active && rng.random::<f64>() < 0.8 {
            u.last_login = Some(now - TimeDelta::minutes(rng.random_range(5..60 * 24 * 20)));
        }
        u.status = Some(status);
        if !group_names.is_empty() {
            let k = rng
                .random_range(g.min_groups..=g.max_groups)
                .min(group_names.len());
            let chosen: Vec<&String> = group_names.choose_multiple(&mut rng, k).collect();
            if let Some(dept) = chosen.first() {
                u = u.with("department", dept.as_str());
            }
            u.groups = chosen.into_iter().cloned().collect();
        }
        users.push(u);
    }
    Ok(Seed { users, groups })
}

/// Renames the seed's new groups (those without an `id`) whose name is taken in the org
/// — `Engineering` becomes `Engineering (2)` — and follows the rename in the users' group
/// lists, so that a generated org can be added to a seeded one.
pub(crate) fn avoid_group_names(seed: &mut Seed, existing: &[String]) {
    let taken = |name: &str, names: &[String]| names.iter().any(|n| n.eq_ignore_ascii_case(name));
    let mut names: Vec<String> = existing.to_vec();
    for g in seed.groups.iter_mut().filter(|g| g.id.is_none()) {
        if !taken(&g.name, &names) {
            names.push(g.name.clone());
            continue;
        }
        let mut n = 2;
        let renamed = loop {
            let candidate = format!("{} ({n})", g.name);
            if !taken(&candidate, &names) {
                break candidate;
            }
            n += 1;
        };
        for u in seed.users.iter_mut() {
            for ug in u.groups.iter_mut().filter(|ug| **ug == g.name) {
                *ug = renamed.clone();
            }
        }
        names.push(renamed.clone());
        g.name = renamed;
    }
}

/// Turns a seed into objects and imports them into `dir` (whole or not at all).
pub(crate) fn apply_seed(
    dir: &mut Directory,
    seed: Seed,
    now: DateTime<Utc>,
) -> Result<SeedOutcome, ApiError> {
    let mut groups = Vec::new();
    let mut by_name: BTreeMap<String, String> = dir
        .snapshot()
        .groups
        .iter()
        .map(|g| (g.profile.name.clone(), g.id.clone()))
        .collect();
    let mut memberships = Vec::new();
    for sg in seed.groups {
        let id = sg.id.clone().unwrap_or_else(|| dir.new_id("00g"));
        let group_type = sg.group_type.unwrap_or(GroupType::OktaGroup);
        by_name.insert(sg.name.clone(), id.clone());
        for m in &sg.members {
            memberships.push((id.clone(), m.clone()));
        }
        let last_updated = sg.last_updated.unwrap_or(now);
        groups.push(Group {
            id,
            created: last_updated.min(now),
            last_updated,
            last_membership_updated: sg.last_membership_updated.unwrap_or(now),
            object_class: vec!["okta:user_group".into()],
            group_type,
            profile: GroupProfile {
                name: sg.name,
                description: sg.description,
            },
        });
    }
    let mut users = Vec::new();
    for su in seed.users {
        let id = su.id.clone().unwrap_or_else(|| dir.new_id("00u"));
        let status = su.status.unwrap_or(UserStatus::Active);
        let created = su.created.unwrap_or(now);
        let last_updated = su.last_updated.unwrap_or(created).max(created);
        let activated = (status != UserStatus::Staged).then_some(created);
        for g in &su.groups {
            let gid = by_name.get(g).cloned().unwrap_or_else(|| g.clone());
            memberships.push((gid, id.clone()));
        }
        users.push(User {
            id,
            status,
            created,
            activated,
            status_changed: Some(last_updated)
                .filter(|_| status != UserStatus::Active)
                .or(activated),
            last_login: su.last_login,
            last_updated,
            password_changed: activated,
            user_type: UserType {
                id: DEFAULT_USER_TYPE.into(),
            },
            profile: su.profile,
        });
    }
    let outcome = SeedOutcome {
        users: users.len(),
        groups: groups.len(),
        memberships: memberships.len(),
    };
    // Membership user references may be logins of users in this same seed.
    dir.import(users, groups, memberships)?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::now_ms;

    #[test]
    fn generation_is_deterministic_and_realistic() {
        let now = now_ms();
        let g = Generate::new(300, 7, 42);
        let a = generated_seed(&g, now).unwrap();
        let b = generated_seed(&g, now).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.users.len(), 300);
        assert_eq!(a.groups.len(), 7);
        let count = |s| a.users.iter().filter(|u| u.status == Some(s)).count();
        assert_eq!(count(UserStatus::Deprovisioned), 6);
        assert_eq!(count(UserStatus::Suspended), 3);
        let no_title = a
            .users
            .iter()
            .filter(|u| !u.profile.contains_key("title"))
            .count();
        assert!(no_title > 0 && no_title < 60, "{no_title}");
        let emails: std::collections::BTreeSet<_> = a
            .users
            .iter()
            .map(|u| u.profile["email"].as_str().unwrap())
            .collect();
        assert_eq!(emails.len(), 300);
        assert!(a.users.iter().all(|u| (1..=3).contains(&u.groups.len())));

        let mut dir = Directory::new(Some(42), now);
        let out = apply_seed(&mut dir, a, now).unwrap();
        assert_eq!((out.users, out.groups), (300, 7));
        assert_eq!(dir.user_count(), 300);
    }

    #[test]
    fn bad_seed_changes_nothing() {
        let now = now_ms();
        let mut dir = Directory::new(Some(1), now);
        let seed = Seed {
            users: vec![SeedUser {
                groups: vec!["Nope".into()],
                ..SeedUser::new("a@example.com", "A", "B")
            }],
            groups: vec![],
        };
        assert!(apply_seed(&mut dir, seed, now).is_err());
        assert_eq!(dir.user_count(), 0);
    }
}
