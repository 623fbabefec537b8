//! Every error path under /scim/v2 answers a SCIM error body (RFC 7644 §3.12): status as a
//! string, the RFC's scimType where it defines one, a useful detail, application/scim+json.

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{json_of, send, TestApp};
use crate::scim_support::*;

async fn raw(req: reqwest::RequestBuilder) -> (u16, reqwest::header::HeaderMap, Value) {
    let res = req.send().await.expect("sent");
    let headers = res.headers().clone();
    let (s, body) = json_of(res).await;
    (s, headers, body)
}

#[tokio::test]
async fn authentication_and_authorisation() {
    let app = TestApp::start().await;
    // Missing, malformed and unknown tokens: 401 with WWW-Authenticate, on any path.
    for (path, auth) in [
        ("/Users", None),
        ("/Users", Some("non-token".to_string())),
        ("/Users", Some(format!("Bearer zqb_{}", "A".repeat(43)))),
        ("/NoSuchThing", None),
        (
            "/NoSuchThing",
            Some(format!("Bearer zqb_{}", "B".repeat(43))),
        ),
        (
            "/Users?filter=bogus",
            Some(format!("Bearer zqb_{}", "C".repeat(43))),
        ),
        (
            "/Users/01a2348e-2e0a-7451-ab82-e9beae71d597",
            Some(format!("zqb_{}", "D".repeat(43))),
        ),
        (
            "/ServiceProviderConfig",
            Some("Basic dXNlcjpwYXNz".to_string()),
        ),
    ] {
        let mut req = app.raw(Method::GET, &format!("/scim/v2{path}"));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        let (s, h, body) = raw(req).await;
        assert_error(s, &body, 401, None);
        assert!(h["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer"));
        assert_eq!(h["content-type"], "application/scim+json");
    }
    // A bare token works as well as `Bearer <t>` (Okta's HTTP Header auth).
    let (s, _) = send(
        app.raw(Method::GET, "/scim/v2/Users")
            .header("Authorization", app.scim_token.clone()),
    )
    .await;
    assert_eq!(s, 200);
    // The admin token has another scope: 403.
    let (s, body) = send(
        app.raw(Method::GET, "/scim/v2/Users")
            .header("Authorization", format!("Bearer {}", app.admin_token)),
    )
    .await;
    assert_error(s, &body, 403, None);
    for (method, path) in [
        (Method::GET, "/Schemas"),
        (Method::GET, "/Users?filter=bogus"),
        (Method::DELETE, "/Users/nobody"),
        (Method::PUT, "/Groups"),
    ] {
        let (s, body) = send(
            app.raw(method, &format!("/scim/v2{path}"))
                .header("Authorization", format!("Bearer {}", app.admin_token)),
        )
        .await;
        assert_error(s, &body, 403, None);
    }
    let (s, body) = send(
        app.raw(Method::DELETE, "/scim/v2/Users/nobody")
            .header("Authorization", format!("Bearer zqb_{}", "E".repeat(43))),
    )
    .await;
    assert_error(s, &body, 401, None);
    // Unauthenticated requests are refused before the body is even looked at.
    let (s, body) = send(
        app.raw(Method::POST, "/scim/v2/Users")
            .header("Content-Type", "text/plain")
            .body("x".repeat(5000)),
    )
    .await;
    assert_error(s, &body, 401, None);
    app.stop().await;
}

#[tokio::test]
async fn routing_methods_bodies_and_limits() {
    let app = TestApp::start_with(&[("SCIM_MAX_BODY_BYTES", "2048")]).await;
    // Unknown route; ids that are not ours.
    for path in [
        "/Nope",
        "/Users/010101001010101011001010101011",
        "/Groups/%20x",
        "/Users/",
    ] {
        let (s, body) = get(&app, path).await;
        assert_error(s, &body, 404, None);
    }
    // Wrong method: 405 with Allow.
    let (s, h, body) = raw(app.scim(Method::DELETE, "/Users")).await;
    assert_error(s, &body, 405, None);
    assert_eq!(h["allow"], "GET, POST");
    let (s, _, body) = raw(app.scim(Method::POST, "/ServiceProviderConfig")).await;
    assert_error(s, &body, 405, None);

    // Malformed JSON, a non-object, an empty body: 400 invalidSyntax.
    for text in ["{\"userName\": ", "[1, 2]", ""] {
        let (s, body) = send(
            app.scim(Method::POST, "/Users")
                .header("Content-Type", "application/scim+json")
                .body(text),
        )
        .await;
        assert_error(s, &body, 400, Some("invalidSyntax"));
    }
    // Wrong content type: 415, no scimType (RFC 7644 §3.12 defines none).
    let (s, body) = send(
        app.scim(Method::POST, "/Users")
            .header("Content-Type", "text/xml")
            .body(user_body("x@example.com").to_string()),
    )
    .await;
    assert_error(s, &body, 415, None);
    // application/json is fine.
    let (s, body) = send(
        app.scim(Method::POST, "/Users")
            .json(&user_body("j@example.com")),
    )
    .await;
    assert_eq!(s, 201, "{body}");
    // Over the limit: 413.
    let mut big = user_body("big@example.com");
    big["nickName"] = json!("x".repeat(4096));
    let (s, body) = scim_json(&app, Method::POST, "/Users", &big).await;
    assert_error(s, &body, 413, None);
    app.stop().await;
}

#[tokio::test]
async fn request_content_errors_carry_their_scim_type() {
    let app = TestApp::start().await;
    let id = create_user(&app, "a@example.com").await;
    let user = format!("/Users/{id}");

    // Bodies that are not a user: invalidValue.
    for body in [
        // userName missing / empty.
        json!({"schemas": [USER], "userName": ""}),
        // A wrongly typed value.
        json!({"userName": "b", "active": "perhaps"}),
        // A body for another resource type.
        json!({"schemas": [GROUP], "userName": "c"}),
    ] {
        let (s, body) = scim_json(&app, Method::POST, "/Users", &body).await;
        assert_error(s, &body, 400, Some("invalidValue"));
    }

    // Filters the server cannot evaluate: invalidFilter, never an empty 200.
    for (resource, f) in [
        ("/Users", "userName eq"),
        ("/Users", "nickName eq \"x\""),
        ("/Users", "active gt true"),
        ("/Users", "meta.created gt \"not a date\""),
        ("/Users", "emails[display eq \"x\"]"),
        ("/Groups", "members.display eq \"x\""),
    ] {
        let (s, body) = get(&app, &format!("{resource}?filter={}", enc(f))).await;
        assert_error(s, &body, 400, Some("invalidFilter"));
    }
    // Bad paging and sorting values: invalidValue.
    for q in [
        "count=ten",
        "startIndex=x",
        "sortBy=nickName",
        "sortBy=userName&sortOrder=sideways",
    ] {
        let (s, body) = get(&app, &format!("/Users?{q}")).await;
        assert_error(s, &body, 400, Some("invalidValue"));
    }

    // PATCH: the RFC's scimTypes.
    let cases: Vec<(Value, &str)> = vec![
        (json!([{"op": "remove"}]), "noTarget"),
        (
            json!([{"op": "frobnicate", "path": "title", "value": "x"}]),
            "invalidSyntax",
        ),
        (json!([{"op": "add", "path": "title"}]), "invalidSyntax"),
        (
            json!([{"op": "replace", "path": "emails[type eq"}]),
            "invalidPath",
        ),
        (
            json!([{"op": "replace", "path": "nonsense", "value": 1}]),
            "invalidPath",
        ),
        (
            json!([{"op": "replace", "path": "name.nonsense", "value": 1}]),
            "invalidPath",
        ),
        (
            json!([{"op": "replace", "path": "id", "value": "x"}]),
            "mutability",
        ),
        (
            json!([{"op": "replace", "path": "groups", "value": []}]),
            "mutability",
        ),
        (json!([{"op": "remove", "path": "userName"}]), "mutability"),
        (
            json!([{"op": "replace", "path": "emails[value sw \"zzz\"].type", "value": "home"}]),
            "noTarget",
        ),
        (
            json!([{"op": "replace", "path": "active", "value": "maybe"}]),
            "invalidValue",
        ),
    ];
    for (ops, scim_type) in cases {
        let (s, body) = patch(&app, &user, ops.clone()).await;
        assert_error(s, &body, 400, Some(scim_type));
    }
    let (s, body) = scim_json(&app, Method::PATCH, &user, &json!({"schemas": [PATCH_OP]})).await;
    assert_error(s, &body, 400, Some("invalidSyntax"));
    // A failed PATCH changed nothing (all operations of a request or none).
    let (s, body) = patch(
        &app,
        &user,
        json!([{"op": "replace", "path": "title", "value": "Changed"}, {"op": "remove", "path": "userName"}]),
    )
    .await;
    assert_error(s, &body, 400, Some("mutability"));
    let (_, now) = get(&app, &user).await;
    assert_eq!(now["title"], "Analyst");

    // Preconditions: 412 on a stale If-Match; 304 on a matching If-None-Match.
    let res = app.scim(Method::GET, &user).send().await.unwrap();
    let etag = res.headers()["etag"].to_str().unwrap().to_string();
    let res = app
        .scim(Method::GET, &user)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);
    let (s, body) = send(
        app.scim(Method::PATCH, &user)
            .header("If-Match", "W/\"999\"")
            .header("Content-Type", "application/scim+json")
            .body(json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "x"}]}).to_string()),
    )
    .await;
    assert_error(s, &body, 412, None);
    let (s, body) = send(
        app.scim(Method::DELETE, &user)
            .header("If-Match", "\"1000\""),
    )
    .await;
    assert_error(s, &body, 412, None);
    let (s, _) = send(
        app.scim(Method::PATCH, &user)
            .header("If-Match", &etag)
            .header("Content-Type", "application/scim+json")
            .body(json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "x"}]}).to_string()),
    )
    .await;
    assert_eq!(s, 200);

    // Group members that are not users.
    let gid = create_group(&app, "G", &[]).await;
    let (s, body) = scim_json(
        &app,
        Method::POST,
        "/Groups",
        &json!({"displayName": "H", "members": [{"value": gid, "type": "Group"}]}),
    )
    .await;
    assert_error(s, &body, 400, Some("invalidValue"));
    let (s, body) = scim_json(&app, Method::POST, "/Groups", &json!({"displayName": "g"})).await;
    assert_error(s, &body, 409, Some("uniqueness"));
    let (s, body) = get(&app, "/Schemas?filter=x").await;
    assert_error(s, &body, 403, None);
    // Renames into a name that is taken: 409 too.
    let other = create_user(&app, "other@example.com").await;
    let (s, body) = patch(
        &app,
        &format!("/Users/{other}"),
        json!([{"op": "replace", "path": "userName", "value": "A@EXAMPLE.COM"}]),
    )
    .await;
    assert_error(s, &body, 409, Some("uniqueness"));
    let mut put = user_body("a@example.com");
    put["userName"] = json!("A@example.com");
    let (s, body) = scim_json(&app, Method::PUT, &format!("/Users/{other}"), &put).await;
    assert_error(s, &body, 409, Some("uniqueness"));
    let h = create_group(&app, "H", &[]).await;
    let (s, body) = patch(
        &app,
        &format!("/Groups/{h}"),
        json!([{"op": "replace", "path": "displayName", "value": "g"}]),
    )
    .await;
    assert_error(s, &body, 409, Some("uniqueness"));
    app.stop().await;
}

#[tokio::test]
async fn internal_failures_are_500_without_the_cause() {
    let app = TestApp::start().await;
    let id = create_user(&app, "a@example.com").await;
    {
        use diesel::prelude::*;
        use zenqms_bridge::store::schema::scim_users;
        let mut conn = app.state.pool.get().unwrap();
        diesel::update(scim_users::table.find(&id))
            .set(scim_users::attributes.eq("{not json"))
            .execute(&mut *conn)
            .unwrap();
    }
    let (s, body) = get(&app, &format!("/Users/{id}")).await;
    assert_error(s, &body, 500, None);
    let detail = body["detail"].as_str().unwrap();
    assert!(
        !detail.contains("json") && !detail.contains(&id),
        "{detail}"
    );
    app.stop().await;
}
