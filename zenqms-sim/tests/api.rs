//! The `/v2` API over real HTTP: auth, validation, conflicts, updates, search, roles.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use zenqms_sim::{Id, Seed, SeedUser, SimConfig, Status};

fn ada() -> Value {
    json!({
        "email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace",
        "title": "QA Specialist", "external_id": "00u1abcd"
    })
}

#[tokio::test]
async fn tokens_are_checked_and_read_only_tokens_cannot_write() {
    let api = start(SimConfig {
        seed: Some(two_roles()),
        ..config()
    })
    .await;
    let no_token = api.send(api.client.get(api.url("/v2/roles"))).await;
    assert_eq!(no_token.status, StatusCode::UNAUTHORIZED);
    assert_eq!(no_token.code(), "unauthorized");
    assert_eq!(no_token.headers["www-authenticate"], "Bearer");

    let wrong = api
        .send(api.client.get(api.url("/v2/roles")).bearer_auth("nope"))
        .await;
    assert_eq!(
        (wrong.status, wrong.code()),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );

    let ro = |req: reqwest::RequestBuilder| req.bearer_auth(READONLY_TOKEN);
    let read = api.send(ro(api.client.get(api.url("/v2/roles")))).await;
    assert_eq!(read.status, StatusCode::OK);
    let search = api
        .send(ro(api
            .client
            .post(api.url("/v2/users/search"))
            .json(&json!({}))))
        .await;
    assert_eq!(search.status, StatusCode::OK);
    let write = api
        .send(ro(api.client.post(api.url("/v2/users")).json(&ada())))
        .await;
    assert_eq!(
        (write.status, write.code()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    assert!(
        api.running.sim.state().users.is_empty(),
        "403 changed nothing"
    );

    // The full token still may; a 403 is checked before the body.
    let id = path_id(&api.create("ada@example.com").await);
    let patch = api
        .send(ro(api
            .client
            .patch(api.url(&format!("/v2/users/{id}")))
            .body("not json")))
        .await;
    assert_eq!(patch.status, StatusCode::FORBIDDEN);
    api.stop().await;
}

#[tokio::test]
async fn create_returns_the_user_with_defaults() {
    let api = start(config()).await;
    let a = api.post("/v2/users", ada()).await;
    assert_eq!(a.status, StatusCode::CREATED);
    let u = &a.body;
    assert_eq!(u["id"], 1001);
    assert_eq!(u["email"], "ada@example.com");
    assert_eq!(u["status"], "active");
    assert_eq!(u["external_id"], "00u1abcd");
    assert_eq!(
        (u["site"].clone(), u["supervisor_email"].clone()),
        (Value::Null, Value::Null)
    );
    assert_eq!(u["role_ids"], json!([]));
    let created = u["created_at"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(created).is_ok(),
        "{created}"
    );
    assert!(created.ends_with('Z'));
    assert_eq!(u["created_at"], u["updated_at"]);
    assert_eq!(api.create("bob@example.com").await, 1002);

    let disabled = api
        .post(
            "/v2/users",
            json!({"email": "cy@example.com", "first_name": "Cy", "last_name": "D",
                   "title": "T", "status": "disabled", "site": "Boston", "unknown": [1, 2]}),
        )
        .await;
    assert_eq!(disabled.status, StatusCode::CREATED);
    assert_eq!(disabled.body["status"], "disabled");
    assert_eq!(disabled.body["site"], "Boston");
    assert!(disabled.body.get("unknown").is_none());
    assert_eq!(api.running.sim.state().users.len(), 3);
    api.stop().await;
}

#[tokio::test]
async fn create_validation_lists_the_fields() {
    let api = start(config()).await;
    let cases = [
        (
            json!({"email": "a@example.com", "first_name": "A", "last_name": "B"}),
            vec!["title"],
        ),
        (
            json!({"email": "zoë@example.com", "first_name": "Z", "last_name": "B", "title": "T"}),
            vec!["email"],
        ),
        (
            json!({"email": "a@example.com", "first_name": "A", "last_name": "B", "title": "T",
                   "status": "retired"}),
            vec!["status"],
        ),
        (
            json!({"email": "not-an-email", "first_name": "", "last_name": null, "title": " "}),
            vec!["email", "first_name", "last_name", "title"],
        ),
        (
            json!({"email": "a@example.com", "first_name": "A", "last_name": "B", "title": "T",
                   "supervisor_email": "boss@"}),
            vec!["supervisor_email"],
        ),
    ];
    for (body, fields) in cases {
        let a = api.post("/v2/users", body.clone()).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(a.code(), "validation_failed");
        assert_eq!(
            a.body["error"]["details"]["fields"],
            json!(fields),
            "{body}"
        );
        assert!(a.body["error"]["message"].is_string());
    }
    assert!(api.running.sim.state().users.is_empty());
    api.stop().await;
}

#[tokio::test]
async fn malformed_bodies_are_bad_requests_not_crashes() {
    let api = start(config()).await;
    let raw = |path: &str, body: String| {
        api.client
            .post(api.url(path))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body)
    };
    let bodies = [
        "",
        "{",
        "not json",
        "[]",
        "\"x\"",
        "{\"email\": 5, \"first_name\": \"A\", \"last_name\": \"B\", \"title\": \"T\"}",
        "{\"email\": \"a@example.com\", \"title\": {\"x\": 1}}",
        "{\"email\": 1e999999}",
    ];
    let deep = "[".repeat(10_000);
    for body in bodies.iter().copied().chain([deep.as_str()]) {
        let a = api.send(raw("/v2/users", body.to_owned())).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{body:.40}");
        assert_eq!(a.code(), "bad_request", "{body:.40}");
    }
    let huge = format!("{{\"email\": \"{}\"}}", "a".repeat(2 << 20));
    let a = api
        .send(
            api.client
                .post(api.url("/v2/users"))
                .bearer_auth(TOKEN)
                .body(huge),
        )
        .await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );

    let search = api
        .send(raw(
            "/v2/users/search",
            r#"{"page": 18446744073709551616}"#.into(),
        ))
        .await;
    assert_eq!(search.status, StatusCode::BAD_REQUEST);
    let roles = api.get("/v2/roles?page=99999999999999999999999").await;
    assert_eq!(roles.status, StatusCode::BAD_REQUEST);
    let roles = api.get("/v2/roles?page_size=abc").await;
    assert_eq!(roles.code(), "bad_request");

    let unknown = api.get("/v2/groups").await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let wrong_method = api.get("/v2/users/1001").await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.code(), "method_not_allowed");
    assert!(api.running.sim.state().users.is_empty());
    api.stop().await;
}

#[tokio::test]
async fn emails_and_external_ids_are_unique() {
    let api = start(config()).await;
    let first = api.post("/v2/users", ada()).await.body["id"].clone();
    let mut same_email = ada();
    same_email["email"] = json!("ADA@Example.COM");
    same_email["external_id"] = json!("other");
    let a = api.post("/v2/users", same_email).await;
    assert_eq!((a.status, a.code()), (StatusCode::CONFLICT, "email_taken"));
    assert_eq!(a.body["error"]["details"]["user_id"], first);

    let mut same_external = ada();
    same_external["email"] = json!("other@example.com");
    let a = api.post("/v2/users", same_external).await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::CONFLICT, "external_id_taken")
    );
    assert_eq!(a.body["error"]["details"]["user_id"], first);

    let second = path_id(&api.create("bob@example.com").await);
    let a = api
        .patch(
            &format!("/v2/users/{second}"),
            json!({"email": "Ada@example.com"}),
        )
        .await;
    assert_eq!((a.status, a.code()), (StatusCode::CONFLICT, "email_taken"));
    assert_eq!(a.body["error"]["details"]["user_id"], first);
    assert_eq!(api.running.sim.state().users.len(), 2);
    assert_eq!(
        api.running.sim.user(&second).unwrap().email,
        "bob@example.com"
    );
    api.stop().await;
}

#[tokio::test]
async fn patch_changes_clears_and_validates() {
    let api = start(config()).await;
    let mut body = ada();
    body["site"] = json!("Boston");
    body["supervisor_email"] = json!("boss@example.com");
    let created = api.post("/v2/users", body).await.body;
    let path = format!("/v2/users/{}", path_id(&created["id"]));

    let a = api
        .patch(
            &path,
            json!({"title": "QA Lead", "status": "disabled", "site": null,
                             "supervisor_email": null, "external_id": null, "ignored": true}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let u = &a.body;
    assert_eq!(u["title"], "QA Lead");
    assert_eq!(u["status"], "disabled");
    assert_eq!(
        (u["site"].clone(), u["supervisor_email"].clone()),
        (Value::Null, Value::Null)
    );
    assert_eq!(u["external_id"], Value::Null);
    assert_eq!(u["email"], "ada@example.com", "fields not sent are kept");
    assert_eq!(u["created_at"], created["created_at"]);
    assert!(u["updated_at"].as_str() > created["updated_at"].as_str());

    // Nothing changed: updated_at stays.
    let same = api.patch(&path, json!({"title": "QA Lead"})).await;
    assert_eq!(same.body["updated_at"], u["updated_at"]);
    let empty = api.patch(&path, json!({})).await;
    assert_eq!(
        (empty.status, empty.body["updated_at"].clone()),
        (StatusCode::OK, u["updated_at"].clone())
    );

    for (body, field) in [
        (json!({"first_name": null}), "first_name"),
        (json!({"title": ""}), "title"),
        (json!({"email": "x"}), "email"),
        (json!({"status": "gone"}), "status"),
        (json!({"status": null}), "status"),
    ] {
        let a = api.patch(&path, body.clone()).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(a.body["error"]["details"]["fields"], json!([field]));
    }
    let wrong_type = api.patch(&path, json!({"status": true})).await;
    assert_eq!(wrong_type.code(), "bad_request");

    let missing = api.patch("/v2/users/999999", json!({"title": "X"})).await;
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let locked = api.patch(&path, json!({"status": "locked_out"})).await;
    assert_eq!(locked.body["status"], "locked_out");
    assert_eq!(api.running.sim.state().users[0].status, Status::LockedOut);
    api.stop().await;
}

#[tokio::test]
async fn search_filters_page_and_count() {
    let api = start(config()).await;
    let people = [
        ("ada@example.com", "Ada", "Lovelace", Some("00u1"), "active"),
        ("grace@example.com", "Grace", "Hopper", None, "disabled"),
        ("alan@example.com", "Alan", "Turing", Some("00u3"), "active"),
        ("adele@example.com", "Adele", "Goldberg", None, "locked_out"),
    ];
    let mut ids = Vec::new();
    for (email, first, last, x, status) in people {
        let a = api
            .post(
                "/v2/users",
                json!({"email": email, "first_name": first, "last_name": last, "title": "T",
                       "external_id": x, "status": status}),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
        ids.push(a.body["id"].clone());
    }
    let emails = |a: &Answer| -> Vec<String> {
        a.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"].as_str().unwrap().to_owned())
            .collect()
    };
    let search = |filters: Value| api.post("/v2/users/search", json!({"filters": filters}));

    let a = search(json!({"email": "GRACE@EXAMPLE.com"})).await;
    assert_eq!(emails(&a), ["grace@example.com"]);
    assert_eq!(
        (a.body["total"].clone(), a.body["page"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(
        emails(&search(json!({"email": "grace@example"})).await),
        Vec::<String>::new()
    );
    assert_eq!(
        emails(&search(json!({"external_id": "00u3"})).await),
        ["alan@example.com"]
    );
    assert_eq!(
        emails(&search(json!({"external_id": "00U3"})).await),
        Vec::<String>::new()
    );
    assert_eq!(
        emails(&search(json!({"id": ids[1]})).await),
        ["grace@example.com"]
    );
    assert_eq!(
        emails(&search(json!({"status": "locked_out"})).await),
        ["adele@example.com"]
    );
    assert_eq!(
        emails(&search(json!({"name": "AD"})).await),
        ["ada@example.com", "adele@example.com"]
    );
    assert_eq!(
        emails(&search(json!({"name": "ace hop"})).await),
        ["grace@example.com"]
    );
    assert_eq!(
        emails(&search(json!({"name": "a", "status": "active", "external_id": "00u1"})).await),
        ["ada@example.com"]
    );
    assert_eq!(emails(&search(json!({"email": null})).await).len(), 4);

    let page2 = api
        .post(
            "/v2/users/search",
            json!({"filters": {}, "page": 2, "page_size": 3}),
        )
        .await;
    assert_eq!(emails(&page2), ["adele@example.com"]);
    assert_eq!(page2.body["total"], 4);
    assert_eq!(
        (page2.body["page"].clone(), page2.body["page_size"].clone()),
        (json!(2), json!(3))
    );
    let beyond = api
        .post("/v2/users/search", json!({"page": 9, "page_size": 3}))
        .await;
    assert_eq!(
        (beyond.body["data"].clone(), beyond.body["total"].clone()),
        (json!([]), json!(4))
    );
    let all = api.post("/v2/users/search", json!({})).await;
    assert_eq!(all.body["page_size"], 100);
    let ordered: Vec<Value> = all.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].clone())
        .collect();
    assert_eq!(ordered, ids, "stable order by id");

    for bad in [
        json!({"page_size": 101}),
        json!({"page": 0}),
        json!({"filters": {"mail": "x"}}),
        json!({"filters": {"email": 1}}),
        json!({"filters": "email=x"}),
    ] {
        let a = api.post("/v2/users/search", bad.clone()).await;
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::BAD_REQUEST, "bad_request"),
            "{bad}"
        );
    }
    let bad_status = search(json!({"status": "retired"})).await;
    assert_eq!(bad_status.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        bad_status.body["error"]["details"]["fields"],
        json!(["filters.status"])
    );
    api.stop().await;
}

#[tokio::test]
async fn roles_are_added_and_removed() {
    let api = start(SimConfig {
        seed: Some(two_roles()),
        ..config()
    })
    .await;
    let id = path_id(&api.create("ada@example.com").await);
    let add = format!("/v2/users/{id}/roles/add");
    let remove = format!("/v2/users/{id}/roles/remove");

    let a = api.post(&add, json!({"role_ids": [7]})).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["role_ids"], json!([7]));
    let after_add = a.body["updated_at"].clone();

    // Holding it already: no-op, updated_at unchanged.
    let again = api.post(&add, json!({"role_ids": [7]})).await;
    assert_eq!(
        (again.status, again.body["updated_at"].clone()),
        (StatusCode::OK, after_add.clone())
    );

    // One unknown role: 422 and nothing added, not even the known one.
    let unknown = api.post(&add, json!({"role_ids": [12, 99, "7"]})).await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "unknown_role")
    );
    assert_eq!(
        unknown.body["error"]["details"]["role_ids"],
        json!([99, "7"])
    );
    assert_eq!(
        api.running.sim.user(&id).unwrap().role_ids,
        vec![Id::Num(7)]
    );

    let both = api.post(&add, json!({"role_ids": [12, 7]})).await;
    assert_eq!(both.body["role_ids"], json!([7, 12]));

    // Removing a role not held (or unknown) is a no-op.
    let noop = api.delete(&remove, json!({"role_ids": [99]})).await;
    assert_eq!(noop.status, StatusCode::OK);
    assert_eq!(noop.body["updated_at"], both.body["updated_at"]);
    let removed = api.delete(&remove, json!({"role_ids": [7]})).await;
    assert_eq!(removed.body["role_ids"], json!([12]));
    assert!(removed.body["updated_at"].as_str() > both.body["updated_at"].as_str());

    let missing = api
        .post("/v2/users/424242/roles/add", json!({"role_ids": [7]}))
        .await;
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let missing = api
        .delete("/v2/users/424242/roles/remove", json!({"role_ids": [7]}))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let no_list = api.post(&add, json!({})).await;
    assert_eq!(no_list.code(), "validation_failed");
    let bad_list = api.post(&add, json!({"role_ids": "7"})).await;
    assert_eq!(bad_list.code(), "bad_request");
    let no_body = api.call(Method::DELETE, &remove, None).await;
    assert_eq!(no_body.code(), "bad_request");
    api.stop().await;
}

#[tokio::test]
async fn roles_list_pages() {
    let roles = (1..=7)
        .map(|n| zenqms_sim::NewRole::new(n * 10, &format!("Role {n}"), "d"))
        .collect();
    let api = start(SimConfig {
        seed: Some(Seed {
            roles,
            users: vec![],
        }),
        ..config()
    })
    .await;
    let all = api.get("/v2/roles").await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(
        (
            all.body["total"].clone(),
            all.body["page"].clone(),
            all.body["page_size"].clone()
        ),
        (json!(7), json!(1), json!(100))
    );
    assert_eq!(
        all.body["data"][0],
        json!({"id": 10, "name": "Role 1", "description": "d"})
    );

    let p3 = api.get("/v2/roles?page=3&page_size=3").await;
    let ids: Vec<Value> = p3.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(ids, [json!(70)]);
    assert_eq!(p3.body["total"], 7);
    assert_eq!(
        api.get("/v2/roles?page=4&page_size=3").await.body["data"],
        json!([])
    );
    for bad in [
        "/v2/roles?page=0",
        "/v2/roles?page_size=0",
        "/v2/roles?page_size=101",
        "/v2/roles?page=-1",
    ] {
        let a = api.get(bad).await;
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::BAD_REQUEST, "bad_request"),
            "{bad}"
        );
    }
    api.stop().await;
}

#[tokio::test]
async fn string_ids_mode_hands_out_opaque_strings() {
    let api = start(SimConfig {
        string_ids: true,
        seed: Some(Seed {
            roles: vec![zenqms_sim::NewRole::new(
                "r-approver",
                "Document Approver",
                "",
            )],
            users: vec![SeedUser {
                role_ids: vec![Id::from("r-approver")],
                ..seed_user("pre@example.com")
            }],
        }),
        ..config()
    })
    .await;
    let pre = &api.running.sim.state().users[0];
    assert_eq!(pre.id, Id::from("u-1001"));
    let id = api.create("ada@example.com").await;
    assert_eq!(id, json!("u-1002"));

    let patched = api
        .patch("/v2/users/u-1002", json!({"title": "Lead"}))
        .await;
    assert_eq!(
        (patched.status, patched.body["id"].clone()),
        (StatusCode::OK, json!("u-1002"))
    );
    assert_eq!(
        api.patch("/v2/users/1002", json!({"title": "X"}))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let found = api
        .post("/v2/users/search", json!({"filters": {"id": "u-1002"}}))
        .await;
    assert_eq!(found.body["total"], 1);
    let by_number = api
        .post("/v2/users/search", json!({"filters": {"id": 1002}}))
        .await;
    assert_eq!(
        by_number.body["total"], 0,
        "ids match in the form handed out"
    );

    let add = api
        .post(
            "/v2/users/u-1002/roles/add",
            json!({"role_ids": ["r-approver"]}),
        )
        .await;
    assert_eq!(add.body["role_ids"], json!(["r-approver"]));
    let roles = api.get("/v2/roles").await;
    assert_eq!(roles.body["data"][0]["id"], "r-approver");
    let role = api
        .running
        .sim
        .add_role(zenqms_sim::NewRole {
            name: "New".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(role.id, Id::from("r-1"));
    api.stop().await;
}

#[tokio::test]
async fn seeded_users_keep_their_fields() {
    let api = start(SimConfig {
        seed: Some(Seed {
            users: vec![SeedUser {
                id: Some(Id::Num(42)),
                status: Some(Status::LockedOut),
                external_id: Some("00u42".into()),
                role_ids: vec![Id::Num(12)],
                created_at: Some("2026-11-02T10:00:00Z".parse().unwrap()),
                ..seed_user("locked@example.com")
            }],
            ..two_roles()
        }),
        ..config()
    })
    .await;
    let a = api
        .post(
            "/v2/users/search",
            json!({"filters": {"external_id": "00u42"}}),
        )
        .await;
    let u = &a.body["data"][0];
    assert_eq!(u["id"], 42);
    assert_eq!(u["status"], "locked_out");
    assert_eq!(u["role_ids"], json!([12]));
    assert_eq!(u["created_at"], "2026-11-02T10:00:00.000Z");
    assert_eq!(api.create("next@example.com").await, 1001);
    api.stop().await;
}

#[actix_web::test]
async fn runs_under_the_actix_runtime_too() {
    let api = start(config()).await;
    let id = api.create("ada@example.com").await;
    assert_eq!(id, 1001);
    assert_eq!(api.running.sim.calls().count("POST /v2/users"), 1);
    api.stop().await;
}
