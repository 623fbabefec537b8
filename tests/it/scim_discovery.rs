//! Discovery (RFC 7644 §4), `.search`, and `attributes`/`excludedAttributes` on every answer.

use reqwest::Method;
use serde_json::json;

use crate::harness::TestApp;
use crate::scim_support::*;

#[tokio::test]
async fn discovery_is_served_from_the_schema_files_and_truthful() {
    let app = TestApp::start_with(&[("SCIM_MAX_PAGE_SIZE", "250")]).await;
    let (s, spc) = get(&app, "/ServiceProviderConfig").await;
    assert_eq!(s, 200);
    assert_eq!(spc["patch"]["supported"], true);
    assert_eq!(spc["filter"], json!({"supported": true, "maxResults": 250}));
    assert_eq!(spc["sort"]["supported"], true);
    assert_eq!(spc["etag"]["supported"], true);
    assert_eq!(spc["bulk"]["supported"], false);
    assert_eq!(spc["changePassword"]["supported"], false);
    assert_eq!(spc["authenticationSchemes"][0]["type"], "oauthbearertoken");
    assert_eq!(
        spc["meta"]["location"],
        app.url("/scim/v2/ServiceProviderConfig")
    );
    // The advertised maximum is the one enforced.
    for i in 0..3 {
        create_user(&app, &format!("u{i}@example.com")).await;
    }
    let (_, page) = get(&app, "/Users?count=100000").await;
    assert_eq!(page["itemsPerPage"], 3);

    let (s, types) = get(&app, "/ResourceTypes").await;
    assert_eq!(s, 200);
    assert_eq!(types["schemas"], json!([LIST]));
    assert_eq!(types["totalResults"], 2);
    let (s, user_type) = get(&app, "/ResourceTypes/User").await;
    assert_eq!(s, 200);
    assert_eq!(user_type["endpoint"], "/Users");
    assert_eq!(user_type["schemaExtensions"][0]["schema"], ENTERPRISE);
    assert_eq!(
        user_type["meta"]["location"],
        app.url("/scim/v2/ResourceTypes/User")
    );
    let (s, body) = get(&app, "/ResourceTypes/Printer").await;
    assert_error(s, &body, 404, None);

    let (s, schemas) = get(&app, "/Schemas").await;
    assert_eq!(s, 200);
    assert_eq!(schemas["totalResults"], 3);
    let (s, user_schema) = get(&app, &format!("/Schemas/{USER}")).await;
    assert_eq!(s, 200);
    let attr = |name: &str| {
        user_schema["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(attr("userName")["uniqueness"], "server");
    assert_eq!(attr("userName")["caseExact"], false);
    assert_eq!(attr("password")["returned"], "never");
    assert_eq!(attr("groups")["mutability"], "readOnly");
    let (s, group_schema) = get(&app, &format!("/Schemas/{GROUP}")).await;
    assert_eq!(s, 200);
    assert_eq!(group_schema["attributes"][0]["name"], "displayName");
    let (s, body) = get(&app, "/Schemas/urn:nope").await;
    assert_error(s, &body, 404, None);
    app.stop().await;
}

#[tokio::test]
async fn search_posts_and_projections_on_reads_and_writes() {
    let app = TestApp::start().await;
    let mut body = user_body("proj@example.com");
    body[ENTERPRISE] = json!({"department": "QA", "employeeNumber": "9"});
    let (s, created) = scim_json(
        &app,
        Method::POST,
        "/Users?attributes=userName,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        &body,
    )
    .await;
    assert_eq!(s, 201);
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(
        created,
        json!({"schemas": [USER, ENTERPRISE], "id": id, "userName": "proj@example.com", ENTERPRISE: {"department": "QA"}})
    );
    create_user(&app, "other@example.com").await;

    // POST /.search (RFC 7644 §3.4.3).
    let (s, found) = scim_json(
        &app,
        Method::POST,
        "/Users/.search",
        &json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": "userName sw \"PROJ\"",
            "attributes": ["userName", "emails.value"],
            "startIndex": 1, "count": 10
        }),
    )
    .await;
    assert_eq!(s, 200, "{found}");
    assert_eq!(found["totalResults"], 1);
    assert_eq!(
        found["Resources"][0],
        json!({"schemas": [USER], "id": id, "userName": "proj@example.com", "emails": [{"value": "proj@example.com"}]})
    );
    let (s, body) = scim_json(
        &app,
        Method::POST,
        "/Users/.search",
        &json!({"filter": "bogus"}),
    )
    .await;
    assert_error(s, &body, 400, Some("invalidFilter"));

    // excludedAttributes on a PATCH answer and on lists.
    let (s, patched) = patch(
        &app,
        &format!("/Users/{id}?excludedAttributes=emails,meta,name.familyName"),
        json!([{"op": "replace", "path": "title", "value": "Lead"}]),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(patched["title"], "Lead");
    assert!(patched.get("emails").is_none() && patched.get("meta").is_none());
    assert_eq!(patched["name"], json!({"givenName": "Given"}));
    let (_, list) = get(&app, "/Users?attributes=id&sortBy=userName").await;
    assert_eq!(list["Resources"][1], json!({"schemas": [USER], "id": id}));

    // Groups: `.search` and members projection.
    let gid = create_group(&app, "Projected", &[&id]).await;
    let (s, found) = scim_json(
        &app,
        Method::POST,
        "/Groups/.search",
        &json!({"filter": "displayName eq \"projected\"", "excludedAttributes": ["members"]}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(found["Resources"][0]["id"], gid.as_str());
    assert!(found["Resources"][0].get("members").is_none());
    let (_, g) = get(&app, &format!("/Groups/{gid}?attributes=members.display")).await;
    assert_eq!(g["members"], json!([{"display": "proj@example.com"}]));
    app.stop().await;
}
