//! `/_sim` and the library handle: seeding from a file and by generation, state changes
//! at run time and the System Log events they produce, OAuth switches, and the binary.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;
use okta_sim::{Generate, Seed, SimConfig, UserStatus};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const SEED_FILE: &str = include_str!("data/seed.json");

#[tokio::test]
async fn a_seed_file_gives_users_groups_and_memberships() {
    let org = start(SimConfig {
        seed: Some(Seed::from_json(SEED_FILE).unwrap()),
        ..config()
    })
    .await;
    let state = org.sim().state();
    assert_eq!(state.users.len(), 3);
    assert_eq!(state.groups.len(), 4, "three seeded groups and Everyone");
    let ada = state.user_by_login("ada@example.com").unwrap();
    assert_eq!(ada.status, UserStatus::Active);
    assert_eq!(ada.profile["costCenter"], "CC-12");
    let qa = state.group_by_name("Quality Assurance").unwrap();
    let dc = state.group_by_name("Document Control").unwrap();
    assert_eq!(state.members(&qa.id), std::slice::from_ref(&ada.id));
    assert_eq!(state.members(&dc.id), std::slice::from_ref(&ada.id));
    assert_eq!(
        state.group_by_name("Workday Sync").unwrap().group_type,
        okta_sim::GroupType::AppGroup
    );
    let grace = org.sim().user("00ugrace000000000001").unwrap();
    assert_eq!(grace.status, UserStatus::Suspended);
    assert!(grace.profile["title"].is_null());
    let alan = state.user_by_login("alan@example.com").unwrap();
    assert_eq!(
        okta_sim::fmt_ts(&alan.last_updated),
        "2026-01-02T03:04:05.678Z"
    );
    // Seeds make no events.
    assert!(org.sim().events().is_empty());

    // A bad seed (unknown group) is refused whole over /_sim.
    let a = org
        .admin(
            Method::POST,
            "/_sim/seed",
            Some(json!({"users": [{"profile": {"login": "x@example.com", "email": "x@example.com"}, "groups": ["Nope"]}]})),
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(org.sim().state().users.len(), 3);
    // A generated addition.
    let a = org
        .admin(
            Method::POST,
            "/_sim/generate",
            Some(json!({"users": 10, "groups": 2, "seed": 3})),
        )
        .await;
    assert_eq!(
        (a.body["users"].as_u64(), a.body["groups"].as_u64()),
        (Some(10), Some(2)),
        "{}",
        a.body
    );
    // Generated group names avoid the seeded ones ("Quality Assurance" exists).
    let names: Vec<String> = org
        .sim()
        .state()
        .groups
        .iter()
        .map(|g| g.profile.name.clone())
        .collect();
    assert!(
        names.contains(&"Quality Assurance (2)".to_owned()),
        "{names:?}"
    );
    assert_eq!(org.sim().state().users.len(), 13);
    org.stop().await;
}

#[tokio::test]
async fn generation_is_deterministic_and_has_the_asked_shape() {
    let g = Generate {
        statuses: [
            (UserStatus::Deprovisioned, 0.1),
            (UserStatus::Suspended, 0.05),
        ]
        .into_iter()
        .collect(),
        without_title: 0.2,
        ..Generate::new(200, 5, 99)
    };
    let a = start(SimConfig {
        generate: Some(g.clone()),
        ..config()
    })
    .await;
    let b = start(SimConfig {
        generate: Some(g),
        ..config()
    })
    .await;
    let (sa, sb) = (a.sim().state(), b.sim().state());
    let logins = |s: &okta_sim::DirectorySnapshot| {
        s.users
            .iter()
            .map(|u| (u.id.clone(), u.login().to_owned()))
            .collect::<Vec<_>>()
    };
    assert_eq!(logins(&sa), logins(&sb));
    assert_eq!(
        sa.users
            .iter()
            .filter(|u| u.status == UserStatus::Deprovisioned)
            .count(),
        20
    );
    assert_eq!(
        sa.users
            .iter()
            .filter(|u| u.status == UserStatus::Suspended)
            .count(),
        10
    );
    let no_title = sa
        .users
        .iter()
        .filter(|u| u.profile_str("title").is_none())
        .count();
    assert!((10..=70).contains(&no_title), "{no_title}");
    assert_eq!(sa.groups.len(), 6);
    assert!(sa
        .users
        .iter()
        .all(|u| u.email().ends_with("@example.com") && u.profile_str("firstName").is_some()));
    a.stop().await;
    b.stop().await;
}

fn types(events: &[okta_sim::LogEvent]) -> Vec<&str> {
    events.iter().map(|e| e.event_type.as_str()).collect()
}

#[tokio::test]
async fn admin_changes_go_through_one_place_and_each_makes_events() {
    let org = start(config()).await;
    let token = org.access_token().await;
    let created = org
        .admin(
            Method::POST,
            "/_sim/users",
            Some(json!({"profile": {"login": "new@example.com", "email": "new@example.com",
                                     "firstName": "New", "lastName": "Person", "title": "Auditor"}})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let uid = created.body["id"].as_str().unwrap().to_owned();
    let g = org
        .admin(
            Method::POST,
            "/_sim/groups",
            Some(json!({"name": "Auditors", "description": "Internal audit"})),
        )
        .await;
    let gid = g.body["id"].as_str().unwrap().to_owned();
    let add = org
        .admin(
            Method::PUT,
            &format!("/_sim/groups/{gid}/users/{uid}"),
            None,
        )
        .await;
    assert_eq!(add.body, json!({"changed": true}));
    let again = org
        .admin(
            Method::PUT,
            &format!("/_sim/groups/{gid}/users/{uid}"),
            None,
        )
        .await;
    assert_eq!(again.body, json!({"changed": false}));
    let upd = org
        .admin(
            Method::PATCH,
            &format!("/_sim/users/{uid}"),
            Some(json!({"profile": {"title": "Lead Auditor", "nickName": null}})),
        )
        .await;
    assert_eq!(upd.body["profile"]["title"], "Lead Auditor");
    for op in ["suspend", "unsuspend", "deactivate", "reactivate"] {
        let a = org
            .admin(
                Method::POST,
                &format!("/_sim/users/{uid}/lifecycle/{op}"),
                None,
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{op}: {}", a.body);
    }
    // A transition that does not apply is refused with a reason.
    let a = org
        .admin(
            Method::POST,
            &format!("/_sim/users/{uid}/lifecycle/unsuspend"),
            None,
        )
        .await;
    a.assert_error(StatusCode::BAD_REQUEST, "E0000001");
    org.admin(
        Method::PATCH,
        &format!("/_sim/groups/{gid}"),
        Some(json!({"name": "Audit"})),
    )
    .await;
    org.admin(
        Method::DELETE,
        &format!("/_sim/groups/{gid}/users/{uid}"),
        None,
    )
    .await;
    org.admin(Method::DELETE, &format!("/_sim/groups/{gid}"), None)
        .await;
    let staged = org
        .admin(
            Method::POST,
            "/_sim/users",
            Some(json!({"status": "STAGED", "profile": {"login": "s@example.com", "email": "s@example.com"}})),
        )
        .await;
    let sid = staged.body["id"].as_str().unwrap().to_owned();
    org.admin(
        Method::POST,
        &format!("/_sim/users/{sid}/lifecycle/activate"),
        None,
    )
    .await;
    let del = org
        .admin(Method::DELETE, &format!("/_sim/users/{sid}"), None)
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);

    let events: Vec<Value> = org
        .admin(Method::GET, "/_sim/events", None)
        .await
        .body
        .as_array()
        .unwrap()
        .clone();
    let got: Vec<&str> = events
        .iter()
        .map(|e| e["eventType"].as_str().unwrap())
        .collect();
    assert_eq!(
        got,
        [
            "user.lifecycle.create",
            "user.lifecycle.activate",
            "group.lifecycle.create",
            "group.user_membership.add",
            "user.account.update_profile",
            "user.lifecycle.suspend",
            "user.lifecycle.unsuspend",
            "user.lifecycle.deactivate",
            "user.lifecycle.reactivate",
            "group.profile.update",
            "group.user_membership.remove",
            "group.lifecycle.delete",
            "user.lifecycle.create",
            "user.lifecycle.activate",
            "user.lifecycle.deactivate",
            "user.lifecycle.delete.initiated",
        ]
    );
    let membership = &events[3];
    assert_eq!(membership["target"][0]["type"], "User");
    assert_eq!(membership["target"][0]["id"], uid.as_str());
    assert_eq!(membership["target"][0]["alternateId"], "new@example.com");
    assert_eq!(membership["target"][1]["type"], "UserGroup");
    assert_eq!(membership["target"][1]["displayName"], "Auditors");
    assert_eq!(membership["actor"]["alternateId"], "admin@example.com");
    for e in &events {
        for key in [
            "uuid",
            "published",
            "version",
            "displayMessage",
            "severity",
            "outcome",
        ] {
            assert!(e.get(key).is_some(), "{key}");
        }
    }
    // The API sees the changes.
    let a = org.get(&format!("/api/v1/users/{uid}"), &token).await;
    assert_eq!(a.body["status"], "ACTIVE");
    assert_eq!(a.body["profile"]["title"], "Lead Auditor");
    assert_eq!(
        org.get(&format!("/api/v1/users/{sid}"), &token)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // Everyone cannot be changed.
    let everyone = org
        .sim()
        .state()
        .group_by_name("Everyone")
        .unwrap()
        .id
        .clone();
    let a = org
        .admin(Method::DELETE, &format!("/_sim/groups/{everyone}"), None)
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(types(&org.sim().events()).len(), 16);
    org.stop().await;
}

#[tokio::test]
async fn oauth_state_is_inspectable_and_switchable() {
    let org = start(config()).await;
    org.login(ALL_SCOPES).await;
    let o = org.admin(Method::GET, "/_sim/oauth", None).await;
    assert_eq!(o.body["clients"][0]["client_id"], CLIENT_ID);
    let tokens = o.body["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 2, "an access and a refresh token");
    assert!(tokens
        .iter()
        .all(|t| t["fingerprint"].as_str().unwrap().len() == 8));
    let r = org
        .admin(
            Method::POST,
            "/_sim/oauth/revoke",
            Some(json!({"kind": "all"})),
        )
        .await;
    assert_eq!(
        r.body["changed"], 3,
        "access token, refresh token and the spent code"
    );
    let put = org
        .admin(
            Method::PUT,
            "/_sim/oauth/clients/0oasecond",
            Some(json!({"client_secret": "s2", "redirect_uris": ["http://127.0.0.1:9/cb2"]})),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert_eq!(org.sim().clients().len(), 2);
    let bad = org
        .admin(
            Method::PATCH,
            &format!("/_sim/oauth/clients/{CLIENT_ID}"),
            Some(json!({"allowed_scopes": ["okta.nope"]})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let bad = org
        .admin(
            Method::POST,
            "/_sim/oauth/deny",
            Some(json!({"error": "teapot"})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    org.stop().await;
}

#[test]
fn the_binary_prints_its_url_credentials_and_admin() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_okta-sim"))
        .args([
            "--port",
            "0",
            "--users",
            "12",
            "--groups",
            "3",
            "--client-id",
            "bin-client",
        ])
        .env("OKTA_SIM_CLIENT_SECRET", "bin-secret")
        .stdout(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().unwrap();
    let lines: Vec<String> = BufReader::new(stdout)
        .lines()
        .take(7)
        .map(|l| l.unwrap())
        .collect();
    let _ = child.kill();
    let _ = child.wait();
    let text = lines.join("\n");
    assert!(
        lines[0].starts_with("okta-sim listening on http://127.0.0.1:"),
        "{text}"
    );
    assert!(text.contains("client_id:     bin-client"), "{text}");
    assert!(text.contains("client_secret: bin-secret"), "{text}");
    assert!(text.contains("admin:         admin@example.com"), "{text}");
    assert!(text.contains("12 users, 4 groups"), "{text}");

    let bad = Command::new(env!("CARGO_BIN_EXE_okta-sim"))
        .args(["--port", "0", "--error-rate", "7"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}
