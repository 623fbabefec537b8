//! The console's users list (and `GET /api/v1/sync/users?q=`): search by userName, email or
//! name (any case), paged, with the state filter still applying; a search text that is too
//! long (or holds a NUL) is refused in words.

use reqwest::Method;
use serde_json::json;

use crate::console_support::admin_browser;
use crate::harness::{send, TestApp};
use crate::scim_support::{create_user, scim_json, user_body, USER};

/// The users' names the page lists, in order.
fn listed(body: &str) -> Vec<String> {
    body.split("<a href=\"/console/users/")
        .skip(1)
        .filter_map(|rest| {
            let start = rest.find('>')? + 1;
            let end = rest[start..].find('<')? + start;
            Some(rest[start..end].to_string())
        })
        .collect()
}

#[tokio::test]
async fn users_are_found_by_user_name_email_or_name_a_page_at_a_time() {
    let app = TestApp::start().await;
    let (s, body) = scim_json(
        &app,
        Method::POST,
        "/Users",
        &json!({
            "schemas": [USER],
            "userName": "ada.l@example.com",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [{"primary": true, "value": "countess@analytical.example", "type": "work"}],
            "active": true
        }),
    )
    .await;
    assert_eq!(s, 201, "{body}");
    let mut body = user_body("grace.h@example.com");
    body["name"] = json!({"givenName": "Grace", "familyName": "Hopper"});
    let (s, res) = scim_json(&app, Method::POST, "/Users", &body).await;
    assert_eq!(s, 201, "{res}");
    for i in 0..52 {
        create_user(&app, &format!("bulk{i:02}@example.com")).await;
    }
    let mut b = admin_browser(&app).await;

    // By userName, by an email that is not the userName, by family name; any case.
    let page = b.get("/console/users?q=ADA.L").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(listed(&page.body), vec!["ada.l@example.com"]);
    let page = b.get("/console/users?q=analytical").await;
    assert_eq!(listed(&page.body), vec!["ada.l@example.com"]);
    let page = b.get("/console/users?q=hopper").await;
    assert_eq!(listed(&page.body), vec!["grace.h@example.com"]);
    assert!(
        page.body.contains("value=\"hopper\""),
        "the box keeps the text"
    );
    // LIKE's wildcards are plain characters in a search.
    let page = b.get("/console/users?q=%25").await;
    assert!(listed(&page.body).is_empty(), "{:?}", listed(&page.body));
    let page = b.get("/console/users?q=nobody-has-this").await;
    assert!(page.body.contains("No user."));

    // 52 matches: a page of 50, then the rest, the search carried by the next link.
    let first = b.get("/console/users?q=BULK").await;
    let names = listed(&first.body);
    assert_eq!(names.len(), 50);
    assert!(names.iter().all(|n| n.starts_with("bulk")), "{names:?}");
    let next = first
        .body
        .split("<a href=\"")
        .filter_map(|r| r.split('"').next())
        .find(|h| h.contains("after="))
        .expect("a next-page link")
        .replace("&amp;", "&")
        .replace("&#38;", "&");
    assert!(next.contains("q=BULK") && next.contains("after="), "{next}");
    let second = b.get(&next).await;
    let rest = listed(&second.body);
    assert_eq!(rest.len(), 2, "{rest:?}");
    assert!(rest.iter().all(|n| !names.contains(n)));

    // The state filter still applies (nobody is synced: ZenQMS is not connected).
    let page = b.get("/console/users?q=bulk&state=synced").await;
    assert!(listed(&page.body).is_empty());

    let long = "x".repeat(201);
    let page = b.get(&format!("/console/users?q={long}")).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("too long"), "{}", page.body);
    app.stop().await;
}

#[tokio::test]
async fn the_rest_api_searches_users_the_same_way() {
    let app = TestApp::start().await;
    let mut body = user_body("grace.h@example.com");
    body["name"] = json!({"givenName": "Grace", "familyName": "Hopper"});
    let (s, res) = scim_json(&app, Method::POST, "/Users", &body).await;
    assert_eq!(s, 201, "{res}");
    create_user(&app, "other@example.com").await;
    let (s, found) = send(app.admin(Method::GET, "/sync/users?q=HOPPER")).await;
    assert_eq!(s, 200, "{found}");
    let names: Vec<&str> = found["users"]
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|u| u["user_name"].as_str())
        .collect();
    assert_eq!(names, vec!["grace.h@example.com"]);
    let (s, err) =
        send(app.admin(Method::GET, &format!("/sync/users?q={}", "y".repeat(201)))).await;
    assert_eq!(s, 400, "{err}");
    assert!(
        err["message"].as_str().unwrap_or("").contains("too long"),
        "{err}"
    );
    let (s, err) = send(app.admin(Method::GET, "/sync/users?q=a%00b")).await;
    assert_eq!(s, 400, "{err}");
    app.stop().await;
}
