//! Helpers for the role-mapping tests: a simulator with the demo tenant's roles, groups pushed
//! over SCIM, mappings made over the admin API, and what ZenQMS (the simulator) holds.

#![allow(dead_code)]

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use zenqms_sim::{RunningSim, Seed, SeedUser, SimConfig};

use crate::harness::{send, TestApp};
use crate::scim_support::{create_group, patch};
use crate::sim_support::*;

pub const T: Duration = Duration::from_secs(15);

/// Document Approver 7, Training Coordinator 12, QA Reviewer 15, CAPA Owner 21, Auditor 31.
pub fn roles_seed(users: Vec<SeedUser>) -> Seed {
    Seed {
        roles: zenqms_sim::demo_seed().roles,
        users,
    }
}

pub async fn roles_sim() -> RunningSim {
    roles_sim_with(Vec::new()).await
}

/// The demo roles, and these users already in ZenQMS (with roles assigned by hand).
pub async fn roles_sim_with(users: Vec<SeedUser>) -> RunningSim {
    start_sim(SimConfig {
        seed: Some(roles_seed(users)),
        ..SimConfig::new(SIM_TOKEN)
    })
    .await
}

/// A user already in ZenQMS whose email is `<n>@example.com` (as `Person::new(n)` pushes).
pub fn existing(n: &str, roles: &[u64]) -> SeedUser {
    SeedUser {
        role_ids: roles.iter().map(|r| zenqms_sim::Id::Num(*r)).collect(),
        ..SeedUser::new(
            &format!("{n}@example.com"),
            &format!("Given{n}"),
            &format!("Family{n}"),
            "QA Specialist",
        )
    }
}

/// Pushes people over SCIM.
pub async fn people(app: &TestApp, names: &[&str]) -> Vec<Person> {
    let mut out = Vec::new();
    for n in names {
        let mut p = Person::new(n);
        push(app, &mut p).await;
        out.push(p);
    }
    out
}

/// `POST /Groups` with these members; returns its id.
pub async fn group(app: &TestApp, name: &str, members: &[&Person]) -> String {
    let ids: Vec<&str> = members.iter().map(|p| p.sid()).collect();
    create_group(app, name, &ids).await
}

/// Okta's membership PATCH: add or remove these people.
pub async fn members(app: &TestApp, gid: &str, op: &str, who: &[&Person]) {
    let values: Vec<Value> = who.iter().map(|p| json!({"value": p.sid()})).collect();
    let (s, body) = patch(
        app,
        &format!("/Groups/{gid}"),
        json!([{"op": op, "path": "members", "value": values}]),
    )
    .await;
    assert!(s == 200 || s == 204, "{s} {body}");
}

pub async fn rename(app: &TestApp, gid: &str, name: &str) {
    let (s, body) = patch(
        app,
        &format!("/Groups/{gid}"),
        json!([{"op": "replace", "value": {"id": gid, "displayName": name}}]),
    )
    .await;
    assert!(s == 200 || s == 204, "{s} {body}");
}

/// `POST /api/v1/role-mappings`.
pub async fn map(app: &TestApp, body: Value) -> (u16, Value) {
    send(app.admin(Method::POST, "/role-mappings").json(&body)).await
}

/// Maps a group (by id) to roles; asserts `201`; returns the created rows.
pub async fn map_group(app: &TestApp, gid: &str, roles: &[&str]) -> Vec<Value> {
    let (s, body) = map(app, json!({"group_id": gid, "role_ids": roles})).await;
    assert_eq!(s, 201, "{body}");
    body["mappings"].as_array().cloned().unwrap_or_default()
}

pub async fn mappings(app: &TestApp) -> Vec<Value> {
    let (s, body) = send(app.admin(Method::GET, "/role-mappings")).await;
    assert_eq!(s, 200, "{body}");
    body["mappings"].as_array().cloned().unwrap_or_default()
}

/// `POST /api/v1/role-mappings/preview`.
pub async fn preview(app: &TestApp, body: Value) -> Value {
    let (s, out) = send(
        app.admin(Method::POST, "/role-mappings/preview?limit=100")
            .json(&body),
    )
    .await;
    assert_eq!(s, 200, "{out}");
    out
}

/// The ZenQMS user a person was created as.
pub fn zuser(sim: &RunningSim, p: &Person) -> zenqms_sim::User {
    let x = p.external_id.as_deref().expect("external id");
    sim.sim
        .state()
        .user_by_external_id(x)
        .cloned()
        .unwrap_or_else(|| panic!("{} is not in ZenQMS", p.user_name))
}

/// The roles a person holds in ZenQMS, as sorted strings.
pub fn zroles(sim: &RunningSim, p: &Person) -> Vec<String> {
    let mut r: Vec<String> = zuser(sim, p)
        .role_ids
        .iter()
        .map(ToString::to_string)
        .collect();
    r.sort();
    r
}

/// Who holds a role in ZenQMS: their emails, sorted.
pub fn holders(sim: &RunningSim, role: u64) -> Vec<String> {
    let mut h: Vec<String> = sim
        .sim
        .state()
        .users
        .iter()
        .filter(|u| u.role_ids.contains(&zenqms_sim::Id::Num(role)))
        .map(|u| u.email.clone())
        .collect();
    h.sort();
    h
}

/// Waits until the bridge has nothing left to do, then until each person holds exactly
/// `roles` in ZenQMS.
pub async fn assert_roles(app: &TestApp, sim: &RunningSim, who: &[&Person], roles: &[&str]) {
    settled(app, T).await;
    let mut want: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
    want.sort();
    for p in who {
        assert_eq!(zroles(sim, p), want, "{}", p.user_name);
    }
}

/// Changes a user's roles in ZenQMS by hand (the API, as an admin's script would).
pub async fn by_hand(sim: &RunningSim, p: &Person, add: bool, role: u64) {
    let id = zuser(sim, p).id.to_string();
    let (method, verb) = if add {
        (Method::POST, "add")
    } else {
        (Method::DELETE, "remove")
    };
    let res = reqwest::Client::new()
        .request(
            method,
            format!("{}/v2/users/{id}/roles/{verb}", sim.base_url),
        )
        .bearer_auth(SIM_TOKEN)
        .json(&json!({"role_ids": [role]}))
        .send()
        .await
        .expect("sim call");
    assert_eq!(res.status().as_u16(), 200);
}

/// Calls made to one ZenQMS endpoint since the last reset.
pub fn role_calls(sim: &RunningSim) -> (u64, u64) {
    (
        calls(sim, "POST /v2/users/{id}/roles/add"),
        calls(sim, "DELETE /v2/users/{id}/roles/remove"),
    )
}

/// A mapping row of the listing, by group name and role id.
pub fn row<'a>(rows: &'a [Value], group: &str, role: &str) -> &'a Value {
    rows.iter()
        .find(|m| m["group_display_name"] == group && m["role_id"] == role)
        .unwrap_or_else(|| panic!("no mapping {group} → {role} in {rows:?}"))
}
