//! The role-mapping API's answers when something is wrong: each status with a message a
//! person can act on; and the OpenAPI document.

use reqwest::Method;
use serde_json::{json, Value};
use zenqms_sim::Faults;

use crate::console_support::token;
use crate::harness::{send, TestApp};
use crate::mapping_support::*;
use crate::sim_support::*;

#[track_caller]
fn says(status: u16, body: &Value, want: u16, code: &str, words: &[&str]) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["error"], code, "{body}");
    let m = body["message"].as_str().unwrap_or("");
    for w in words {
        assert!(m.contains(w), "`{w}` not in: {m}");
    }
}

#[tokio::test]
async fn errors_name_what_is_wrong() {
    let sim = roles_sim().await;
    let app = bridge(&sim, &[("ZENQMS_ROLE_REFRESH_SECS", "0")]).await;
    let ps = people(&app, &["uma"]).await;
    let g = group(&app, "Approvers", &[&ps[0]]).await;

    // 401 / 403.
    let (s, body) = send(app.raw(Method::GET, "/api/v1/role-mappings")).await;
    says(s, &body, 401, "unauthorized", &["Authorization"]);
    let reader = token(&app, "reviewer", "read").await;
    let (s, body) = send(
        app.raw(Method::POST, "/api/v1/role-mappings")
            .bearer_auth(&reader)
            .json(&json!({"group_id": g, "role_ids": ["7"]})),
    )
    .await;
    says(s, &body, 403, "forbidden", &["admin"]);
    let (s, body) = send(
        app.raw(Method::GET, "/api/v1/role-mappings")
            .bearer_auth(&app.scim_token),
    )
    .await;
    says(s, &body, 403, "forbidden", &["scim"]);
    let (s, body) = send(
        app.raw(Method::GET, "/api/v1/zenqms/roles?refresh=true")
            .bearer_auth(&reader),
    )
    .await;
    says(s, &body, 403, "forbidden", &["refresh", "admin"]);
    // A reader may list and preview (reviewing a change is not making it).
    let (s, _) = send(
        app.raw(Method::GET, "/api/v1/role-mappings")
            .bearer_auth(&reader),
    )
    .await;
    assert_eq!(s, 200);
    // A reader is answered from the cached role list (it never calls ZenQMS): an admin
    // reads the list first.
    let (s, body) = send(app.admin(Method::POST, "/zenqms/roles/refresh")).await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = send(
        app.raw(Method::POST, "/api/v1/role-mappings/preview")
            .bearer_auth(&reader)
            .json(&json!({"group_id": g, "role_ids": ["7"]})),
    )
    .await;
    assert_eq!(s, 200, "{body}");

    // 400: malformed or contradictory bodies.
    let (s, body) = send(
        app.admin(Method::POST, "/role-mappings")
            .header("Content-Type", "application/json")
            .body("{not json"),
    )
    .await;
    says(s, &body, 400, "bad_request", &["body"]);
    for (bad, words) in [
        (
            json!({"group_id": g, "group_display_name": "x", "role_ids": ["7"]}),
            vec!["not both"],
        ),
        (
            json!({"role_ids": ["7"]}),
            vec!["group_id", "group_display_name"],
        ),
        (json!({"group_id": g, "role_ids": []}), vec!["role_ids"]),
        (json!({"group_id": g}), vec!["role_ids"]),
        (json!({"group_id": g, "role_ids": [""]}), vec!["role_ids"]),
        (
            json!({"group_id": g, "role_ids": [{"id": 7}]}),
            vec!["role_ids"],
        ),
        (json!({"group_id": g, "role_ids": "7"}), vec!["body"]),
        (json!({"group_id": g, "roles": ["7"]}), vec!["roles"]),
        (
            json!({"group_display_name": "  ", "role_ids": ["7"]}),
            vec!["group_display_name"],
        ),
        (json!({"delete": ["x"]}), vec!["preview"]),
    ] {
        let (s, body) = map(&app, bad.clone()).await;
        says(s, &body, 400, "bad_request", &words);
    }
    let (s, body) = send(
        app.admin(Method::POST, "/role-mappings/preview")
            .json(&json!({"delete": ["x"], "group_id": g, "role_ids": ["7"]})),
    )
    .await;
    says(s, &body, 400, "bad_request", &["not both"]);
    let (s, body) = send(
        app.admin(Method::POST, "/role-mappings/preview?limit=5000")
            .json(&json!({"group_id": g, "role_ids": ["7"]})),
    )
    .await;
    says(s, &body, 400, "bad_request", &["limit"]);
    let (s, body) = send(app.admin(Method::GET, "/groups?limit=0")).await;
    says(s, &body, 400, "bad_request", &["limit"]);

    // 422: a role ZenQMS does not have, a group the directory does not have.
    let (s, body) = map(&app, json!({"group_id": g, "role_ids": ["7", "999"]})).await;
    says(
        s,
        &body,
        422,
        "unprocessable",
        &["`999`", "GET /api/v1/zenqms/roles"],
    );
    let (s, body) = map(
        &app,
        json!({"group_id": "no-such-group", "role_ids": ["7"]}),
    )
    .await;
    says(
        s,
        &body,
        422,
        "unprocessable",
        &["no-such-group", "GET /api/v1/groups"],
    );
    let (s, body) = send(
        app.admin(Method::POST, "/role-mappings/preview")
            .json(&json!({"delete": ["no-such-mapping"]})),
    )
    .await;
    says(s, &body, 422, "unprocessable", &["no-such-mapping"]);
    assert!(mappings(&app).await.is_empty(), "nothing was written");

    // 404: an unknown mapping id.
    let (s, body) = send(app.admin(Method::DELETE, "/role-mappings/no-such-mapping")).await;
    says(s, &body, 404, "not_found", &["no-such-mapping"]);

    // A role id sent as a number works as well as a string.
    let (s, body) = map(&app, json!({"group_id": g, "role_ids": [7]})).await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["mappings"][0]["role_id"], "7");

    // ZenQMS cannot be asked: sync paused (409), ZenQMS down (502). Known roles still work.
    send(app.admin(Method::POST, "/sync/pause")).await;
    let (s, body) = map(&app, json!({"group_id": g, "role_ids": ["12345"]})).await;
    says(
        s,
        &body,
        409,
        "conflict",
        &[
            "`12345`",
            "paused",
            "/api/v1/sync/resume",
            "nothing was saved",
        ],
    );
    let (s, _) = map(&app, json!({"group_id": g, "role_ids": ["12"]})).await;
    assert_eq!(s, 201, "a role already in the cache needs no call");
    send(app.admin(Method::POST, "/sync/resume")).await;
    sim.sim
        .set_faults(Faults {
            outage: true,
            ..Faults::default()
        })
        .unwrap();
    let (s, body) = map(&app, json!({"group_id": g, "role_ids": ["12345"]})).await;
    says(
        s,
        &body,
        502,
        "upstream_error",
        &["`12345`", "503", "nothing was saved"],
    );
    let (s, body) = send(app.admin(Method::POST, "/zenqms/roles/refresh")).await;
    says(s, &body, 502, "upstream_error", &["role list"]);
    app.stop().await;
}

#[tokio::test]
async fn without_zenqms_role_ids_cannot_be_checked() {
    let app = TestApp::start().await;
    let (s, body) = map(&app, json!({"group_display_name": "QA", "role_ids": ["7"]})).await;
    says(
        s,
        &body,
        409,
        "conflict",
        &["`7`", "not configured", "/api/v1/settings/zenqms"],
    );
    // The editor still answers, from an empty cache, and says why.
    let (s, body) = send(app.admin(Method::GET, "/zenqms/roles")).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["roles"], json!([]));
    let st = send(app.admin(Method::GET, "/sync/status")).await.1;
    assert_eq!(st["role_mappings"]["active"], 0, "{st}");
    app.stop().await;
}

#[tokio::test]
async fn the_openapi_document_describes_the_api() {
    let app = TestApp::start().await;
    let (s, doc) = send(app.raw(Method::GET, "/api/v1/openapi.json")).await;
    assert_eq!(s, 200, "served without a token");
    assert_eq!(doc["openapi"], "3.0.3");
    for (path, method) in [
        ("/api/v1/role-mappings", "get"),
        ("/api/v1/role-mappings", "post"),
        ("/api/v1/role-mappings/{id}", "delete"),
        ("/api/v1/role-mappings/preview", "post"),
        ("/api/v1/groups", "get"),
        ("/api/v1/zenqms/roles", "get"),
        ("/api/v1/tokens", "post"),
        ("/api/v1/tokens/{name}", "delete"),
        ("/api/v1/audit", "get"),
        ("/api/v1/sync/status", "get"),
        ("/api/v1/settings/zenqms", "put"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }
    // Tokens over REST: the new token is returned once, never listed.
    let (s, created) = send(
        app.admin(Method::POST, "/tokens")
            .json(&json!({"name": "editor", "scope": "admin"})),
    )
    .await;
    assert_eq!(s, 201);
    let secret = created["token"].as_str().unwrap();
    let (_, list) = send(app.admin(Method::GET, "/tokens")).await;
    assert!(!list.to_string().contains(secret));
    let (s, _) = send(app.admin(Method::DELETE, "/tokens/editor")).await;
    assert_eq!(s, 204);
    let (s, body) = send(app.admin(Method::GET, "/nope")).await;
    says(s, &body, 404, "not_found", &["openapi.json"]);
    app.stop().await;
}
