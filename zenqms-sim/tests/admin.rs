//! `/_sim` and the library handle: seeding, roles, state, the call record, reset, and
//! the standalone binary.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use zenqms_sim::{demo_seed, Id, NewRole, Seed, SimConfig, StateSnapshot};

const SEED_FILE: &str = include_str!("data/seed.json");

#[tokio::test]
async fn calls_are_counted_by_route_template_and_logged() {
    let api = start(SimConfig {
        seed: Some(Seed::from_json(SEED_FILE).unwrap()),
        ..config()
    })
    .await;
    let id = path_id(&api.create("ada@example.com").await);
    api.patch(&format!("/v2/users/{id}"), json!({"title": "Lead"}))
        .await;
    api.patch("/v2/users/1", json!({"title": "Lead"})).await;
    api.post(
        &format!("/v2/users/{id}/roles/add"),
        json!({"role_ids": [7]}),
    )
    .await;
    api.delete(
        &format!("/v2/users/{id}/roles/remove"),
        json!({"role_ids": [7]}),
    )
    .await;
    api.post("/v2/users/search", json!({})).await;
    api.get("/v2/roles?page=1").await;
    api.get("/v2/nothing/here").await;
    api.send(api.client.get(api.url("/v2/roles"))).await; // no token
    api.get("/_sim/state").await; // not recorded

    let http: Value = api.get("/_sim/calls").await.body;
    assert_eq!(
        http["counts"],
        json!({
            "POST /v2/users": 1,
            "PATCH /v2/users/{id}": 2,
            "POST /v2/users/{id}/roles/add": 1,
            "DELETE /v2/users/{id}/roles/remove": 1,
            "POST /v2/users/search": 1,
            "GET /v2/roles": 2,
            "GET /v2/(unmatched)": 1,
        })
    );
    let log = http["log"].as_array().unwrap();
    assert_eq!(log.len(), 9);
    let first = &log[0];
    assert_eq!(first["seq"], 1);
    assert_eq!(first["method"], "POST");
    assert_eq!(first["endpoint"], "/v2/users");
    assert_eq!(first["status"], 201);
    let at = first["at"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(at).is_ok() && at.ends_with('Z'),
        "{at}"
    );
    assert!(first["at_ms"].is_number());
    let statuses: Vec<Value> = log.iter().map(|r| r["status"].clone()).collect();
    assert_eq!(
        statuses,
        json!([201, 200, 404, 200, 200, 200, 200, 404, 401])
            .as_array()
            .unwrap()
            .clone()
    );
    assert_eq!(log[2]["path"], "/v2/users/1");
    assert_eq!(log[2]["endpoint"], "/v2/users/{id}");
    assert_eq!(
        log[6]["path"], "/v2/roles",
        "the query string is not part of the path"
    );
    let at_ms: Vec<f64> = log.iter().map(|r| r["at_ms"].as_f64().unwrap()).collect();
    assert!(at_ms.windows(2).all(|w| w[0] <= w[1]));

    // The library sees the same record.
    let calls = api.running.sim.calls();
    assert_eq!(calls.count("PATCH /v2/users/{id}"), 2);
    assert_eq!(calls.total(), 9);

    let reset = api.post("/_sim/calls/reset", json!({})).await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT);
    let after = api.get("/_sim/calls").await.body;
    assert_eq!(after, json!({"counts": {}, "log": []}));
    api.get("/v2/roles").await;
    let calls = api.running.sim.calls();
    assert_eq!((calls.total(), calls.log[0].seq), (1, 10));
    api.running.sim.reset_calls();
    assert_eq!(api.running.sim.calls().total(), 0);
    assert_eq!(
        api.running.sim.state().users.len(),
        3,
        "resetting calls keeps the data"
    );
    api.stop().await;
}

#[tokio::test]
async fn seed_file_and_seed_endpoint() {
    let api = start(SimConfig {
        seed: Some(Seed::from_json(SEED_FILE).unwrap()),
        ..config()
    })
    .await;
    let state: StateSnapshot = serde_json::from_value(api.get("/_sim/state").await.body).unwrap();
    assert_eq!(state, api.running.sim.state());
    assert_eq!(state.roles.len(), 3);
    assert_eq!(state.roles[2].description, "");
    let grace = state.user_by_external_id("00u1grace").unwrap();
    assert_eq!(
        (grace.id.clone(), grace.role_ids.clone()),
        (Id::Num(1001), vec![Id::Num(7), Id::Num(15)])
    );
    assert_eq!(
        state
            .user_by_email("ALAN.TURING@example.com")
            .unwrap()
            .status,
        zenqms_sim::Status::LockedOut
    );

    // Merge: a role renamed, a role added without id, a user replaced, one added.
    let merged = api
        .post(
            "/_sim/seed",
            json!({
                "roles": [{"id": 7, "name": "Approver"}, {"name": "Auditor"}],
                "users": [
                    {"id": 1001, "email": "grace.hopper@example.com", "first_name": "Grace",
                     "last_name": "Hopper", "title": "VP Quality", "role_ids": [12]},
                    {"email": "new@example.com", "first_name": "N", "last_name": "U",
                     "title": "T", "role_ids": [7]}
                ]
            }),
        )
        .await;
    assert_eq!(merged.status, StatusCode::OK, "{}", merged.body);
    assert_eq!(merged.body["roles"][1]["id"], 1, "generated role id");
    assert_eq!(merged.body["users"][1]["id"], 1003);
    let state = api.running.sim.state();
    assert_eq!(state.roles.len(), 4);
    assert_eq!(state.roles[0].name, "Approver");
    let grace = state.user("1001").unwrap();
    assert_eq!(
        (grace.title.as_str(), grace.external_id.clone()),
        ("VP Quality", None)
    );
    assert_eq!(grace.role_ids, vec![Id::Num(12)]);

    // A bad seed applies nothing.
    let before = api.running.sim.state();
    for (bad, status, code) in [
        (
            json!({"roles": [{"name": "X"}], "users": [{"email": "bad", "first_name": "B", "last_name": "C", "title": "T"}]}),
            422,
            "validation_failed",
        ),
        (
            json!({"users": [{"email": "x@example.com", "first_name": "B", "last_name": "C", "title": "T", "role_ids": [99]}]}),
            422,
            "unknown_role",
        ),
        (
            json!({"users": [{"email": "NEW@example.com", "first_name": "B", "last_name": "C", "title": "T"}]}),
            409,
            "email_taken",
        ),
        (
            json!({"users": [{"email": "x@example.com"}]}),
            400,
            "bad_request",
        ),
        (json!({"users": [], "groups": []}), 400, "bad_request"),
    ] {
        let a = api.post("/_sim/seed", bad.clone()).await;
        assert_eq!((a.status.as_u16(), a.code()), (status, code), "{bad}");
    }
    assert_eq!(api.running.sim.state(), before);

    // And through the library.
    let outcome = api
        .running
        .sim
        .seed(Seed {
            users: vec![seed_user("lib@example.com")],
            ..Seed::default()
        })
        .unwrap();
    assert_eq!(outcome.users[0].id, Id::Num(1004));
    api.stop().await;
}

#[tokio::test]
async fn deleting_a_role_removes_it_everywhere() {
    let api = start(SimConfig {
        seed: Some(Seed::from_json(SEED_FILE).unwrap()),
        ..config()
    })
    .await;
    let deleted = api.call(Method::DELETE, "/_sim/roles/7", None).await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert_eq!(deleted.body["role"]["name"], "Document Approver");
    assert_eq!(deleted.body["removed_from_users"], json!([1001, 1002]));
    let roles = api.get("/v2/roles").await;
    assert_eq!(roles.body["total"], 2);
    assert!(roles.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["id"] != 7));
    let grace = api
        .post(
            "/v2/users/search",
            json!({"filters": {"external_id": "00u1grace"}}),
        )
        .await;
    assert_eq!(grace.body["data"][0]["role_ids"], json!([15]));
    let add = api
        .post("/v2/users/1001/roles/add", json!({"role_ids": [7]}))
        .await;
    assert_eq!(add.code(), "unknown_role");
    let again = api.call(Method::DELETE, "/_sim/roles/7", None).await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::NOT_FOUND, "not_found")
    );

    // Library: delete and add.
    let gone = api.running.sim.delete_role("15").unwrap();
    assert_eq!(gone.removed_from_users, vec![Id::Num(1001)]);
    assert!(api.running.sim.user("1001").unwrap().role_ids.is_empty());
    assert!(api.running.sim.delete_role("15").is_none());
    let back = api
        .running
        .sim
        .add_role(NewRole::new(7, "Document Approver", "again"))
        .unwrap();
    assert_eq!(back.id, Id::Num(7));
    assert_eq!(
        api.post("/v2/users/1001/roles/add", json!({"role_ids": [7]}))
            .await
            .status,
        StatusCode::OK
    );

    let created = api
        .post(
            "/_sim/roles",
            json!({"name": "CAPA Owner", "description": "d"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.body["id"], 1);
    let dup = api
        .post("/_sim/roles", json!({"id": 7, "name": "Dup"}))
        .await;
    assert_eq!(
        (dup.status, dup.code()),
        (StatusCode::CONFLICT, "role_id_taken")
    );
    let unnamed = api.post("/_sim/roles", json!({"name": " "})).await;
    assert_eq!(unnamed.code(), "validation_failed");
    api.stop().await;
}

#[tokio::test]
async fn reset_wipes_everything() {
    let api = start(SimConfig {
        seed: Some(demo_seed()),
        ..config()
    })
    .await;
    assert_eq!(api.running.sim.state().roles.len(), 5);
    api.put("/_sim/faults", json!({"latency_ms": 5})).await;
    api.get("/v2/roles").await;
    let reset = api.post("/_sim/reset", json!({})).await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT);
    assert_eq!(api.running.sim.state(), StateSnapshot::default());
    assert_eq!(api.running.sim.calls().total(), 0);
    assert_eq!(api.running.sim.faults(), zenqms_sim::Faults::default());
    assert_eq!(
        api.create("first@example.com").await,
        1001,
        "ids start over"
    );
    assert_eq!(api.get("/_sim/health").await.body, json!({"status": "ok"}));
    assert_eq!(api.get("/_sim/nothing").await.code(), "not_found");
    api.stop().await;
}

/// The JSON body of the answer to `req`.
async fn json_of<T: serde::de::DeserializeOwned>(req: reqwest::RequestBuilder) -> T {
    req.send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn the_binary_serves_a_seed_file() {
    let dir = std::env::temp_dir().join(format!("zenqms-sim-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let seed_path = dir.join("seed.json");
    std::fs::write(&seed_path, SEED_FILE).unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_zenqms-sim"))
        .args([
            "--port",
            "0",
            "--token",
            "bin-token",
            "--string-ids",
            "--rate-limit-rps",
            "50",
        ])
        .arg("--seed")
        .arg(&seed_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("zenqms-sim listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_owned();

    let http = client(None);
    let roles: Value = json_of(
        http.get(format!("{base}/v2/roles"))
            .bearer_auth("bin-token"),
    )
    .await;
    assert_eq!(roles["total"], 3);
    let faults: Value = json_of(http.get(format!("{base}/_sim/faults"))).await;
    assert_eq!(faults["rate_limit_rps"], 50);
    let state: StateSnapshot = json_of(http.get(format!("{base}/_sim/state"))).await;
    assert_eq!(state.users[0].id, Id::from("u-1001"));

    // SIGTERM shuts it down cleanly.
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    std::fs::remove_dir_all(&dir).unwrap();

    let bad = Command::new(env!("CARGO_BIN_EXE_zenqms-sim"))
        .args(["--port", "0", "--token", "t", "--error-rate", "3"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("error_rate"));
}
