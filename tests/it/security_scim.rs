//! Issue 13, the SCIM surface: each test sends the hostile request a black-box attacker sent
//! (a core attribute under its full URN, tens of thousands of values, oversized and NUL
//! values, filters past every backend's bound, a member filter SQLite's RETURNING choked on)
//! and checks the answer is a SCIM `400` naming the bound — or the correct result — never a
//! `500`, on SQLite and PostgreSQL alike.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{send, TestApp};
use crate::scim_support::*;

const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

/// Finding 2: `<core URN>:password` is `password` — dropped on POST, PUT and PATCH, never
/// answered, stored or audited — and `<core URN>:title` (any case) is `title`.
#[tokio::test]
async fn a_core_attribute_under_its_full_urn_follows_the_core_rules() {
    let app = TestApp::start().await;
    let mut body = user_body("urn@example.com");
    body[format!("{CORE}:password")] = json!("s3cret-post");
    body[format!("{}:TITLE", CORE.to_uppercase())] = json!("Auditor");
    body.as_object_mut().unwrap().remove("title");
    let (s, created) = scim_json(&app, Method::POST, "/Users", &body).await;
    assert_eq!(s, 201, "{created}");
    assert!(!created.to_string().contains("s3cret"), "{created}");
    assert_eq!(created["title"], "Auditor", "{created}");
    let id = created["id"].as_str().unwrap().to_string();

    let mut put = user_body("urn@example.com");
    put[format!("{CORE}:password")] = json!("s3cret-put");
    put[format!("{CORE}:userName")] = json!("urn2@example.com");
    put.as_object_mut().unwrap().remove("userName");
    let (s, replaced) = scim_json(&app, Method::PUT, &format!("/Users/{id}"), &put).await;
    assert_eq!(s, 200, "{replaced}");
    assert_eq!(replaced["userName"], "urn2@example.com");
    let (s, patched) = patch(
        &app,
        &format!("/Users/{id}"),
        json!([{"op": "add", "value": {format!("{CORE}:password"): "s3cret-patch"}}]),
    )
    .await;
    assert_eq!(s, 200, "{patched}");

    let (_, read) = get(&app, &format!("/Users/{id}")).await;
    assert!(!read.to_string().contains("s3cret"), "{read}");
    let audit = serde_json::to_string(&audit_entries(&app)).unwrap();
    assert!(!audit.contains("s3cret"), "a password reached the audit");
    let stored: Vec<String> = {
        use diesel::prelude::*;
        use zenqms_bridge::store::schema::scim_users;
        let mut conn = app.state.pool.get().unwrap();
        scim_users::table
            .select(scim_users::attributes)
            .load(&mut *conn)
            .unwrap()
    };
    assert!(stored.iter().all(|d| !d.contains("s3cret")), "{stored:?}");
    app.stop().await;
}

fn phones(n: usize) -> Value {
    Value::Array((0..n).map(|i| json!({"value": i.to_string()})).collect())
}

/// Finding 3: 40,000 values of one attribute (POST and PATCH `add`) are refused before any
/// work per value; up to the bound, duplicates are dropped in linear time; and a list stays
/// answerable meanwhile.
#[tokio::test]
async fn tens_of_thousands_of_values_are_refused_at_once() {
    let app = TestApp::start().await;
    let mut body = user_body("many@example.com");
    body["phoneNumbers"] = phones(40_000);
    let started = Instant::now();
    let (s, err) = scim_json(&app, Method::POST, "/Users", &body).await;
    assert_error(s, &err, 400, Some("invalidValue"));
    assert!(err["detail"].as_str().unwrap().contains("1000"), "{err}");
    // Refused before any per-value work: well under the seconds it used to take.
    let refused_in = started.elapsed();

    let id = create_user(&app, "few@example.com").await;
    let (s, err) = patch(
        &app,
        &format!("/Users/{id}"),
        json!([{"op": "add", "path": "phoneNumbers", "value": phones(40_000)}]),
    )
    .await;
    assert_error(s, &err, 400, Some("invalidValue"));
    // Two adds of 600 each: the second would pass the bound.
    let (s, ok) = patch(
        &app,
        &format!("/Users/{id}"),
        json!([{"op": "add", "path": "phoneNumbers", "value": phones(600)}]),
    )
    .await;
    assert_eq!(s, 200, "{ok}");
    let more: Vec<Value> = (600..1200)
        .map(|i| json!({"value": i.to_string()}))
        .collect();
    let (s, err) = patch(
        &app,
        &format!("/Users/{id}"),
        json!([{"op": "add", "path": "phoneNumbers", "value": more}]),
    )
    .await;
    assert_error(s, &err, 400, Some("invalidValue"));

    // At the bound, with every value sent twice: accepted, each value once.
    let mut twice = phones(500).as_array().unwrap().clone();
    twice.extend(twice.clone());
    let mut body = user_body("dups@example.com");
    body["phoneNumbers"] = Value::Array(twice);
    let (s, created) = scim_json(&app, Method::POST, "/Users", &body).await;
    assert_eq!(s, 201, "{created}");
    assert_eq!(created["phoneNumbers"].as_array().unwrap().len(), 500);
    // Bodies at the bound, several at once, while a list is asked for: the list is answered
    // (parsing and normalising run on the blocking pool, never on the async workers).
    let mut heavy = user_body("heavy@example.com");
    heavy["phoneNumbers"] = Value::Array(
        (0..1_000)
            .map(|i| json!({"value": format!("{i}-{}", "x".repeat(900))}))
            .collect(),
    );
    let posts: Vec<_> = (0..4)
        .map(|_| {
            let req = app
                .scim(Method::POST, "/Users")
                .header("Content-Type", "application/scim+json")
                .body(heavy.to_string());
            tokio::spawn(async move { req.send().await.map(|r| r.status().as_u16()) })
        })
        .collect();
    let (s, _) = get(&app, "/Users?count=1").await;
    assert_eq!(s, 200);
    for p in posts {
        let status = p.await.unwrap().unwrap();
        assert!(status == 201 || status == 409, "{status}");
    }
    assert!(
        refused_in < Duration::from_secs(30),
        "refusing 40,000 values took {refused_in:?}"
    );
    app.stop().await;
}

/// Finding 4: every input that used to be a `500` is a SCIM `400` naming its bound.
#[tokio::test]
async fn oversized_and_nul_values_are_400s_on_both_databases() {
    let app = TestApp::start().await;
    for (field, value) in [
        ("userName", json!("nul\u{0}@example.com")),
        ("displayName", json!("Ada\u{0}Lovelace")),
        (
            "userName",
            json!(format!("{}@example.com", "a".repeat(300_000))),
        ),
        ("externalId", json!("x".repeat(2_000))),
    ] {
        let mut body = user_body("victim@example.com");
        body[field] = value;
        let (s, err) = scim_json(&app, Method::POST, "/Users", &body).await;
        assert_error(s, &err, 400, Some("invalidValue"));
        assert!(err["detail"].as_str().unwrap().contains(field), "{err}");
    }
    // A group's displayName is an identifier: NUL and length bounds too.
    for name in [json!("QA\u{0}"), json!("g".repeat(5_000))] {
        let (s, err) = scim_json(
            &app,
            Method::POST,
            "/Groups",
            &json!({"schemas": [GROUP], "displayName": name}),
        )
        .await;
        assert_error(s, &err, 400, Some("invalidValue"));
    }
    // More emails than SQLite binds in one statement: refused by the values bound.
    let mut body = user_body("emails@example.com");
    body["emails"] = Value::Array(
        (0..6_000)
            .map(|i| json!({"value": format!("e{i}@example.com")}))
            .collect(),
    );
    let (s, err) = scim_json(&app, Method::POST, "/Users", &body).await;
    assert_error(s, &err, 400, Some("invalidValue"));
    // The bound itself is accepted and stored (one chunked insert).
    body["emails"] = Value::Array(
        (0..1_000)
            .map(|i| json!({"value": format!("e{i}@example.com")}))
            .collect(),
    );
    let (s, created) = scim_json(&app, Method::POST, "/Users", &body).await;
    assert_eq!(s, 201, "{created}");
    assert_eq!(created["emails"].as_array().unwrap().len(), 1_000);
    let (s, found) = get(
        &app,
        &format!(
            "/Users?filter={}",
            enc(r#"emails.value eq "e999@example.com""#)
        ),
    )
    .await;
    assert_eq!(
        (s, found["totalResults"].as_i64()),
        (200, Some(1)),
        "{found}"
    );
    app.stop().await;
}

/// Finding 4: filters past a backend's bound (a 50,000-byte pattern, a 1,000-term `or`, a
/// NUL) are `400 invalidFilter`, on Users, Groups and emails alike.
#[tokio::test]
async fn filters_past_a_backends_bound_are_invalid_filter() {
    let app = TestApp::start().await;
    create_user(&app, "someone@example.com").await;
    create_group(&app, "Someone's group", &[]).await;
    let long = "a".repeat(51_000);
    let ors = (0..1_000)
        .map(|i| format!("userName eq \"u{i}\""))
        .collect::<Vec<_>>()
        .join(" or ");
    for (resource, filter) in [
        ("/Users", format!("userName co \"{long}\"")),
        ("/Users", format!("emails.value sw \"{long}\"")),
        ("/Groups", format!("displayName ew \"{long}\"")),
        ("/Users", ors.clone()),
        ("/Users", "userName eq \"a\u{0}b\"".to_string()),
        ("/Groups", "displayName co \"\u{0}\"".to_string()),
    ] {
        // In a `.search` body: no URI length gets in the way of the filter's own bound.
        let (s, err) = scim_json(
            &app,
            Method::POST,
            &format!("{resource}/.search"),
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": filter}),
        )
        .await;
        assert_error(s, &err, 400, Some("invalidFilter"));
    }
    // In the query string too (the attacker's form).
    let (s, err) = get(
        &app,
        &format!(
            "/Users?filter={}",
            enc(&format!("userName co \"{}\"", "b".repeat(51_000)))
        ),
    )
    .await;
    assert_error(s, &err, 400, Some("invalidFilter"));
    // Within the bounds, the same shapes run on both backends.
    let ors = (0..100)
        .map(|i| format!("userName eq \"u{i}\""))
        .collect::<Vec<_>>()
        .join(" or ");
    let pattern = "c".repeat(1_000);
    for filter in [
        ors,
        format!("userName co \"{pattern}\""),
        format!("emails[value ew \"{pattern}\"]"),
    ] {
        let (s, body) = scim_json(
            &app,
            Method::POST,
            "/Users/.search",
            &json!({"filter": filter}),
        )
        .await;
        assert_eq!(s, 200, "{body}");
    }
    app.stop().await;
}

/// Finding 4: remove and replace of `members[…]` with a filter that is not a list of `eq`
/// (Entra can send one) — SQLite once failed on `RETURNING m.user_id`.
#[tokio::test]
async fn member_filters_that_are_not_a_list_of_eq() {
    let app = TestApp::start().await;
    let a = create_user(&app, "a@example.com").await;
    let b = create_user(&app, "b@example.com").await;
    let c = create_user(&app, "c@example.com").await;
    let g = create_group(&app, "Filtered", &[&a, &b, &c]).await;
    // Ids are uuid v7 (time-ordered): their ends tell them apart.
    let suffix = &b[b.len() - 12..];
    let (s, body) = patch(
        &app,
        &format!("/Groups/{g}"),
        json!([{"op": "remove", "path": format!("members[value eq \"{a}\" or value ew \"{suffix}\"]")}]),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (_, body) = get(&app, &format!("/Groups/{g}?attributes=members")).await;
    let members: Vec<&str> = body["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["value"].as_str())
        .collect();
    assert_eq!(members, vec![c.as_str()], "{body}");
    let (s, body) = patch(
        &app,
        &format!("/Groups/{g}"),
        json!([{"op": "replace", "path": format!("members[value ne \"{a}\"]"), "value": [{"value": a}]}]),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (_, body) = get(&app, &format!("/Groups/{g}?attributes=members")).await;
    assert_eq!(body["members"][0]["value"], json!(a), "{body}");
    assert_eq!(body["members"].as_array().unwrap().len(), 1, "{body}");
    app.stop().await;
}

/// Finding 8: a list inside an extension block cannot grow without bound under repeated
/// PATCH `add`s.
#[tokio::test]
async fn lists_inside_extension_blocks_are_bounded() {
    let app = TestApp::start().await;
    let id = create_user(&app, "ext@example.com").await;
    let tags =
        |from: usize| -> Value { (from..from + 600).map(|i| json!(format!("t{i}"))).collect() };
    let (s, body) = patch(
        &app,
        &format!("/Users/{id}"),
        json!([{"op": "add", "path": "urn:okta:custom:1.0:user:tags", "value": tags(0)}]),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (s, err) = patch(
        &app,
        &format!("/Users/{id}"),
        json!([{"op": "add", "path": "urn:okta:custom:1.0:user:tags", "value": tags(600)}]),
    )
    .await;
    assert_error(s, &err, 400, Some("invalidValue"));
    let (_, read) = get(&app, &format!("/Users/{id}")).await;
    assert_eq!(
        read["urn:okta:custom:1.0:user"]["tags"]
            .as_array()
            .map(Vec::len),
        Some(600),
        "{read}"
    );
    // A PATCH of more operations than the bound: `tooMany`.
    let ops: Vec<Value> = (0..10_001)
        .map(|_| json!({"op": "replace", "path": "title", "value": "x"}))
        .collect();
    let (s, err) = patch(&app, &format!("/Users/{id}"), Value::Array(ops)).await;
    assert_error(s, &err, 400, Some("tooMany"));
    app.stop().await;
}

/// The bounds are advertised where a client looks for the server's capabilities.
#[tokio::test]
async fn the_bounds_are_advertised() {
    let app = TestApp::start().await;
    let (s, spc) = get(&app, "/ServiceProviderConfig").await;
    assert_eq!(s, 200);
    let urn = "urn:zenqms-bridge:params:scim:limits";
    assert!(
        spc["schemas"].as_array().unwrap().contains(&json!(urn)),
        "{spc}"
    );
    assert_eq!(spc[urn]["maxValuesPerAttribute"], 1000, "{spc}");
    assert_eq!(spc[urn]["maxFilterTerms"], 100, "{spc}");
    assert_eq!(spc[urn]["maxPatternBytes"], 1024, "{spc}");
    app.stop().await;
}

/// Finding 9: root-level `POST /scim/v2/.search` (RFC 7644 §3.4.3) across Users and Groups.
#[tokio::test]
async fn root_level_search_spans_users_and_groups() {
    let app = TestApp::start().await;
    let mut body = user_body("ada@example.com");
    body["displayName"] = json!("Ada Lovelace");
    let (s, created) = scim_json(&app, Method::POST, "/Users", &body).await;
    assert_eq!(s, 201, "{created}");
    let user = created["id"].as_str().unwrap().to_string();
    let group = create_group(&app, "Ada's team", &[&user]).await;
    create_group(&app, "Other", &[]).await;
    let search = |body: Value| {
        let app = &app;
        async move { scim_json(app, Method::POST, "/.search", &body).await }
    };
    let (s, list) = search(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": "displayName sw \"ada\""
    }))
    .await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list["schemas"], json!([LIST]));
    assert_eq!(list["totalResults"], 2, "{list}");
    assert_eq!(ids(&list), vec![user.clone(), group.clone()]);
    assert_eq!(list["Resources"][0]["schemas"][0], json!(CORE));
    assert_eq!(list["Resources"][1]["schemas"][0], json!(GROUP));
    // One window over both: the second item is the group.
    let (_, page) =
        search(json!({"filter": "displayName sw \"ada\"", "startIndex": 2, "count": 1})).await;
    assert_eq!(ids(&page), vec![group.clone()], "{page}");
    assert_eq!(page["totalResults"], 2);
    // A filter only users can run finds users only; one no type can run is invalidFilter.
    let (_, only) = search(json!({"filter": "userName eq \"ada@example.com\""})).await;
    assert_eq!(ids(&only), vec![user.clone()], "{only}");
    let (s, err) = search(json!({"filter": "nickName eq \"x\""})).await;
    assert_error(s, &err, 400, Some("invalidFilter"));
    // No filter: everything, users first.
    let (_, all) = search(json!({})).await;
    assert_eq!(all["totalResults"], 3, "{all}");
    // Other methods: 405.
    let (s, err) = send(app.scim(Method::GET, "/.search")).await;
    assert_error(s, &err, 405, None);
    app.stop().await;
}
