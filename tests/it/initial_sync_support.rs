//! Helpers for the initial-sync tests: one seeded tenant (ZenQMS users that predate the bridge,
//! Okta users pushed over SCIM with sync paused, a group mapped to a role), runs started and
//! awaited over the admin API, and what the database holds.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use diesel::prelude::*;
use reqwest::Method;
use serde_json::{json, Value};
use zenqms_sim::{RunningSim, SeedUser, SimConfig};

use crate::harness::{eventually, send, TestApp};
use crate::mapping_support::{existing, group, map_group, roles_seed};
use crate::sim_support::*;

pub const T: Duration = Duration::from_secs(30);

/// The ZenQMS tenant before the bridge:
/// - `a`: same email as Okta's `a`, no external_id → link;
/// - `b`: linked to another Okta id (`00uother`) → conflict;
/// - `c`: already carries Okta's id `00uc`, another title → unchanged (Standard) / update (Full);
/// - `e`: same email, another first name → link (Full also corrects the name);
/// - `dup`: one ZenQMS user whose email two Okta users share → conflict for both.
pub fn tenant() -> Vec<SeedUser> {
    vec![
        existing("a", &[]),
        SeedUser {
            external_id: Some("00uother".into()),
            ..existing("b", &[])
        },
        SeedUser {
            external_id: Some("00uc".into()),
            title: "Old Title".into(),
            ..existing("c", &[])
        },
        SeedUser {
            first_name: "Evelyn".into(),
            ..existing("e", &[])
        },
        existing("dup", &[]),
    ]
}

pub async fn tenant_sim() -> RunningSim {
    start_sim(SimConfig {
        seed: Some(roles_seed(tenant())),
        ..SimConfig::new(SIM_TOKEN)
    })
    .await
}

/// Okta's users: a, b, c, e (in ZenQMS), d (not), dup1 and dup2 (one email), t (no title);
/// a and d are in the group "QA", mapped to role 7.
pub struct Pushed {
    pub people: BTreeMap<String, Person>,
}

impl Pushed {
    pub fn get(&self, n: &str) -> &Person {
        &self.people[n]
    }
}

/// Refreshes the role cache, pauses sync, then pushes the users and the group and maps it —
/// the set-up an admin does before an initial sync ("push with sync paused").
pub async fn push_paused(app: &TestApp, sim: &RunningSim) -> Pushed {
    connected(app).await;
    let (s, body) = send(app.admin(Method::POST, "/zenqms/roles/refresh")).await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = send(app.admin(Method::POST, "/sync/pause")).await;
    assert_eq!(s, 200, "{body}");
    let mut people = BTreeMap::new();
    for n in ["a", "b", "c", "d", "e", "dup1", "dup2", "t"] {
        let mut p = Person::new(n);
        if n.starts_with("dup") {
            p.email = Some("dup@example.com".into());
        }
        if n == "t" {
            p.title = None;
        }
        push(app, &mut p).await;
        people.insert(n.to_string(), p);
    }
    let gid = group(app, "QA", &[&people["a"], &people["d"]]).await;
    map_group(app, &gid, &["7"]).await;
    sim.sim.reset_calls();
    Pushed { people }
}

/// Waits until the bridge has loaded its ZenQMS connection (its housekeeping does at start).
pub async fn connected(app: &TestApp) {
    eventually(T, || async { status(app).await["configured"] == true }).await;
}

/// `POST /api/v1/initial-sync`; asserts `202`; returns the run.
pub async fn start(app: &TestApp, mode: &str, dry_run: bool) -> Value {
    let (s, body) = send(
        app.admin(Method::POST, "/initial-sync")
            .json(&json!({"mode": mode, "dry_run": dry_run})),
    )
    .await;
    assert_eq!(s, 202, "{body}");
    assert!(body["id"].is_string(), "{body}");
    body
}

pub async fn run_of(app: &TestApp, id: &str) -> Value {
    let (s, body) = send(app.admin(Method::GET, &format!("/initial-sync/{id}"))).await;
    assert_eq!(s, 200, "{body}");
    body
}

/// Waits until the run is in `state`; returns it.
pub async fn wait_run(app: &TestApp, id: &str, state: &str) -> Value {
    eventually(T, || async { run_of(app, id).await["state"] == state }).await;
    run_of(app, id).await
}

/// Starts a run and waits for it to finish `done`.
pub async fn run_to_done(app: &TestApp, mode: &str, dry_run: bool) -> Value {
    let run = start(app, mode, dry_run).await;
    let id = run["id"].as_str().unwrap_or_default().to_string();
    wait_run(app, &id, "done").await
}

/// Every item of a run, through the pages.
pub async fn all_items(app: &TestApp, id: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = 0i64;
    loop {
        let (s, body) = send(app.admin(
            Method::GET,
            &format!("/initial-sync/{id}/items?limit=3&after={after}"),
        ))
        .await;
        assert_eq!(s, 200, "{body}");
        let page = body["items"].as_array().cloned().unwrap_or_default();
        out.extend(page);
        match body["next_after"].as_i64() {
            Some(n) => after = n,
            None => return out,
        }
    }
}

/// Okta id → outcome.
pub fn outcomes(items: &[Value]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|i| {
            (
                i["okta_id"].as_str().unwrap_or("").to_string(),
                i["outcome"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// The Okta ids of the run's items with `outcome`, sorted.
pub fn okta_ids(items: &[Value], outcome: &str) -> Vec<String> {
    let mut v: Vec<String> = items
        .iter()
        .filter(|i| i["outcome"] == outcome)
        .map(|i| i["okta_id"].as_str().unwrap_or("").to_string())
        .collect();
    v.sort();
    v
}

/// The ZenQMS user with this email, as the simulator holds it.
pub fn zenqms_user(sim: &RunningSim, email: &str) -> Option<zenqms_sim::User> {
    sim.sim
        .state()
        .users
        .into_iter()
        .find(|u| u.email.eq_ignore_ascii_case(email))
}

/// What the database holds that an initial sync could change: sync states and links, jobs,
/// holds, directory users.
pub fn db_picture(app: &TestApp) -> String {
    use zenqms_bridge::store::schema::{scim_users, sync_holds, sync_jobs, sync_users};
    let mut conn = app.state.pool.get().expect("conn");
    let users: Vec<(String, Option<String>, String, Option<String>)> = sync_users::table
        .order(sync_users::user_id)
        .select((
            sync_users::user_id,
            sync_users::zenqms_id,
            sync_users::state,
            sync_users::applied,
        ))
        .load(&mut *conn)
        .expect("sync_users");
    let jobs: Vec<(String, i64)> = sync_jobs::table
        .order(sync_jobs::user_id)
        .select((sync_jobs::user_id, sync_jobs::generation))
        .load(&mut *conn)
        .expect("sync_jobs");
    let holds: Vec<String> = sync_holds::table
        .order(sync_holds::user_id)
        .select(sync_holds::user_id)
        .load(&mut *conn)
        .expect("sync_holds");
    let directory: Vec<(String, i64)> = scim_users::table
        .order(scim_users::id)
        .select((scim_users::id, scim_users::version))
        .load(&mut *conn)
        .expect("scim_users");
    format!("{users:?}\n{jobs:?}\n{holds:?}\n{directory:?}")
}

/// ZenQMS's users without the timestamps.
pub fn sim_picture(sim: &RunningSim) -> String {
    let mut users: Vec<String> = sim
        .sim
        .state()
        .users
        .iter()
        .map(|u| {
            format!(
                "{} {} {} {} {} {:?} {:?} {:?}",
                u.id,
                u.email,
                u.first_name,
                u.last_name,
                u.title,
                u.external_id,
                u.status,
                u.role_ids
            )
        })
        .collect();
    users.sort();
    users.join("\n")
}

/// The call-log keys the simulator saw (since the last reset).
pub fn call_keys(sim: &RunningSim) -> Vec<String> {
    sim.sim.calls().counts.keys().cloned().collect()
}
