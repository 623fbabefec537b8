//! The Users and Groups APIs over real HTTP: object shapes, cursor paging through Link
//! headers, filters and search (DEPROVISIONED handling), errors and request ids.

mod common;

use std::collections::{BTreeSet, HashSet};

use common::*;
use okta_sim::{Generate, Lifecycle, LinkStyle, NewGroup, SimConfig, UserStatus};
use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};

fn generated(users: usize, groups: usize) -> SimConfig {
    SimConfig {
        generate: Some(Generate::new(users, groups, 11)),
        ..config()
    }
}

/// Follows `rel="next"` verbatim from `first`; every page's items and the page count.
async fn all_pages(org: &Org, token: &str, first: &str) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut next = Some(first.to_owned());
    let mut pages = 0;
    while let Some(url) = next {
        let a = org.get(&url, token).await;
        assert_eq!(a.status, StatusCode::OK, "{url}: {}", a.body);
        pages += 1;
        assert!(pages < 1000, "paging does not end");
        let links = a.links();
        assert!(links.contains_key("self"));
        items.extend(a.body.as_array().unwrap().iter().cloned());
        next = links.get("next").cloned();
    }
    (items, pages)
}

#[tokio::test]
async fn users_page_by_cursor_and_leave_out_deprovisioned_users() {
    let org = start(generated(450, 6)).await;
    let token = org.access_token().await;
    let state = org.sim().state();
    let active: BTreeSet<String> = state
        .users
        .iter()
        .filter(|u| u.status != UserStatus::Deprovisioned)
        .map(|u| u.id.clone())
        .collect();
    assert!(active.len() < 450, "some users are deprovisioned");

    let (items, pages) = all_pages(&org, &token, "/api/v1/users").await;
    assert_eq!(pages, 3);
    let ids: Vec<String> = items
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.iter().cloned().collect::<BTreeSet<_>>(), active);
    assert_eq!(ids.len(), active.len(), "no user twice");

    // Small pages: many of them, each at most `limit`, Link headers separate.
    let first = org.get("/api/v1/users?limit=25", &token).await;
    assert_eq!(first.body.as_array().unwrap().len(), 25);
    assert_eq!(first.headers.get_all("link").iter().count(), 2);
    let next = &first.links()["next"];
    assert!(
        next.starts_with(&org.running.base_url)
            && next.contains("after=")
            && next.contains("limit=25"),
        "{next}"
    );
    let (items, pages) = all_pages(&org, &token, "/api/v1/users?limit=25").await;
    assert_eq!(items.len(), active.len());
    assert_eq!(pages, active.len().div_ceil(25));

    // limit over 200 is capped; limit 0 is refused.
    let a = org.get("/api/v1/users?limit=1000", &token).await;
    assert_eq!(a.body.as_array().unwrap().len(), 200);
    let a = org.get("/api/v1/users?limit=0", &token).await;
    a.assert_error(StatusCode::BAD_REQUEST, "E0000001");
    org.stop().await;
}

#[tokio::test]
async fn combined_link_header_style() {
    let org = start(SimConfig {
        link_style: LinkStyle::Combined,
        ..generated(30, 2)
    })
    .await;
    let token = org.access_token().await;
    let a = org.get("/api/v1/users?limit=10", &token).await;
    assert_eq!(a.headers.get_all("link").iter().count(), 1);
    assert!(a.links().contains_key("next"));
    let (items, _) = all_pages(&org, &token, "/api/v1/users?limit=10").await;
    let unfiltered = org
        .sim()
        .state()
        .users
        .iter()
        .filter(|u| u.status != UserStatus::Deprovisioned)
        .count();
    assert_eq!(items.len(), unfiltered);
    org.stop().await;
}

#[tokio::test]
async fn user_objects_have_okta_shape_and_can_be_read_by_id_or_login() {
    let org = start(generated(5, 2)).await;
    let token = org.access_token().await;
    let u = org.sim().state().users[0].clone();
    let a = org.get(&format!("/api/v1/users/{}", u.id), &token).await;
    assert_eq!(a.status, StatusCode::OK);
    let b = &a.body;
    assert!(b["id"].as_str().unwrap().starts_with("00u"));
    for key in [
        "status",
        "created",
        "activated",
        "statusChanged",
        "lastLogin",
        "lastUpdated",
        "type",
        "profile",
        "credentials",
        "_links",
    ] {
        assert!(b.get(key).is_some(), "missing {key}: {b}");
    }
    assert!(b["lastUpdated"].as_str().unwrap().ends_with('Z'));
    assert_eq!(b["lastUpdated"].as_str().unwrap().len(), 24, "milliseconds");
    assert_eq!(b["profile"]["login"], u.login());
    assert!(b["_links"]["self"]["href"]
        .as_str()
        .unwrap()
        .ends_with(&u.id));
    let by_login = org
        .get(&format!("/api/v1/users/{}", u.login()), &token)
        .await;
    assert_eq!(by_login.body["id"], u.id.as_str());

    let groups = org
        .get(&format!("/api/v1/users/{}/groups", u.id), &token)
        .await;
    let names: Vec<&str> = groups
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["profile"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names[0], "Everyone");
    assert!(names.len() >= 2);

    let a = org.get("/api/v1/users/00unobody00000000000", &token).await;
    a.assert_error(StatusCode::NOT_FOUND, "E0000007");
    for key in [
        "errorCode",
        "errorSummary",
        "errorLink",
        "errorId",
        "errorCauses",
    ] {
        assert!(a.body.get(key).is_some(), "{key}");
    }
    let a = org.get("/api/v1/apps", &token).await;
    a.assert_error(StatusCode::NOT_FOUND, "E0000007");
    let a = org.api(Method::DELETE, "/api/v1/users", &token, None).await;
    a.assert_error(StatusCode::METHOD_NOT_ALLOWED, "E0000022");
    org.stop().await;
}

#[tokio::test]
async fn filters_and_search_include_deprovisioned_users() {
    let org = start(generated(120, 3)).await;
    let token = org.access_token().await;
    let state = org.sim().state();
    let deprovisioned: BTreeSet<String> = state
        .users
        .iter()
        .filter(|u| u.status == UserStatus::Deprovisioned)
        .map(|u| u.id.clone())
        .collect();
    assert!(!deprovisioned.is_empty());
    let ids = |a: &Answer| -> BTreeSet<String> {
        a.body
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_str().unwrap().to_owned())
            .collect()
    };
    for param in ["filter", "search"] {
        let a = org
            .send(
                org.http
                    .get(org.url("/api/v1/users"))
                    .bearer_auth(&token)
                    .query(&[(param, r#"status eq "DEPROVISIONED""#)]),
            )
            .await;
        assert_eq!(ids(&a), deprovisioned, "{param}");
    }

    // lastUpdated gt: exactly the users changed since.
    let since = okta_sim::fmt_ts(&state.users.iter().map(|u| u.last_updated).max().unwrap());
    let active = state
        .users
        .iter()
        .find(|u| u.status == UserStatus::Active)
        .unwrap();
    let gone = deprovisioned.iter().next().unwrap().clone();
    let mut change = Map::new();
    change.insert("title".into(), json!("Head of Quality"));
    org.sim().update_profile(&active.id, change).unwrap();
    org.sim().lifecycle(&gone, Lifecycle::Reactivate).unwrap();
    org.sim().lifecycle(&gone, Lifecycle::Deactivate).unwrap();
    let q = format!(r#"lastUpdated gt "{since}""#);
    let a = org
        .get_with("/api/v1/users", &token, ("filter", q.as_str()))
        .await;
    assert_eq!(
        ids(&a),
        [active.id.clone(), gone.clone()].into_iter().collect()
    );
    // The next link of a filtered listing keeps the filter.
    let a = org
        .send(
            org.http
                .get(org.url("/api/v1/users"))
                .bearer_auth(&token)
                .query(&[
                    (
                        "filter",
                        r#"status eq "ACTIVE" or status eq "DEPROVISIONED""#,
                    ),
                    ("limit", "5"),
                ]),
        )
        .await;
    let next = a.links()["next"].clone();
    assert!(next.contains("filter="), "{next}");
    let page2 = org.get(&next, &token).await;
    assert!(page2
        .body
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u["status"] == "ACTIVE" || u["status"] == "DEPROVISIONED"));

    // Login and email equality ignore case; and/or combine.
    let u = &state.users[3];
    let q = format!(
        r#"profile.login eq "{}" and status eq "{}""#,
        u.login().to_uppercase(),
        u.status.as_str()
    );
    let a = org
        .get_with("/api/v1/users", &token, ("filter", q.as_str()))
        .await;
    assert_eq!(ids(&a), [u.id.clone()].into_iter().collect());
    let q = format!(
        r#"id eq "{}" or profile.email eq "{}""#,
        state.users[0].id,
        state.users[1].email()
    );
    let a = org
        .get_with("/api/v1/users", &token, ("filter", q.as_str()))
        .await;
    assert_eq!(a.body.as_array().unwrap().len(), 2);

    // search may use any profile attribute and more operators; filter may not.
    let a = org
        .get_with(
            "/api/v1/users",
            &token,
            ("search", r#"profile.title sw "QA""#),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a
        .body
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u["profile"]["title"].as_str().unwrap().starts_with("QA")));
    for bad in [
        r#"profile.title sw "QA""#,
        r#"status eq"#,
        r#"lastUpdated gt "yesterday""#,
    ] {
        let a = org.get_with("/api/v1/users", &token, ("filter", bad)).await;
        assert_eq!(
            (a.status, a.error_code()),
            (StatusCode::BAD_REQUEST, "E0000031"),
            "{bad}"
        );
    }
    org.stop().await;
}

#[tokio::test]
async fn groups_members_and_group_filters() {
    let org = start(generated(60, 4)).await;
    let token = org.access_token().await;
    let a = org.get("/api/v1/groups", &token).await;
    let groups = a.body.as_array().unwrap().clone();
    assert_eq!(groups.len(), 5);
    let everyone = groups.iter().find(|g| g["type"] == "BUILT_IN").unwrap();
    assert_eq!(everyone["profile"]["name"], "Everyone");
    for g in &groups {
        assert!(g["id"].as_str().unwrap().starts_with("00g"));
        assert!(g["lastMembershipUpdated"].is_string() && g["lastUpdated"].is_string());
    }
    let a = org
        .get_with(
            "/api/v1/groups",
            &token,
            ("filter", r#"type eq "OKTA_GROUP""#),
        )
        .await;
    assert_eq!(a.body.as_array().unwrap().len(), 4);
    let a = org.get("/api/v1/groups?q=quality", &token).await;
    let names: Vec<&str> = a
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["profile"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.iter().all(|n| n.starts_with("Quality")));

    // Everyone's members are all users, deprovisioned included, paged.
    let (members, _) = all_pages(
        &org,
        &token,
        &format!(
            "/api/v1/groups/{}/users?limit=7",
            everyone["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(members.len(), 60);

    // lastMembershipUpdated moves with a membership change, lastUpdated does not.
    let state = org.sim().state();
    let since = okta_sim::fmt_ts(
        &state
            .groups
            .iter()
            .map(|g| g.last_membership_updated)
            .max()
            .unwrap(),
    );
    let group = org
        .sim()
        .create_group(NewGroup {
            name: "Auditors".into(),
            description: None,
            group_type: None,
        })
        .unwrap();
    org.sim().add_member(&group.id, &state.users[0].id).unwrap();
    let q = format!(r#"lastMembershipUpdated gt "{since}""#);
    let a = org
        .get_with("/api/v1/groups", &token, ("filter", q.as_str()))
        .await;
    let changed: HashSet<&str> = a
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["profile"]["name"].as_str().unwrap())
        .collect();
    assert!(changed.contains("Auditors"), "{changed:?}");
    let a = org
        .get(&format!("/api/v1/groups/{}/users", group.id), &token)
        .await;
    assert_eq!(
        a.body.as_array().unwrap()[0]["id"],
        state.users[0].id.as_str()
    );
    let a = org
        .get(&format!("/api/v1/groups/{}", group.id), &token)
        .await;
    assert_eq!(a.body["profile"]["name"], "Auditors");
    let a = org
        .get("/api/v1/groups/00gnothing0000000000/users", &token)
        .await;
    assert_eq!(a.error_code(), "E0000007");
    org.stop().await;
}

#[tokio::test]
async fn an_admin_without_the_permission_gets_403_despite_the_scope_and_every_answer_has_a_request_id(
) {
    let org = start(generated(3, 1)).await;
    let token = org.access_token().await;
    let mut ids = HashSet::new();
    for a in [
        org.get("/api/v1/users", &token).await,
        org.get("/api/v1/users", "bad").await,
        org.get("/api/v1/users/nobody", &token).await,
        org.get("/oauth2/v1/keys", "").await,
    ] {
        let id = a
            .header("x-okta-request-id")
            .expect("request id")
            .to_owned();
        assert!(ids.insert(id));
    }
    org.admin(
        Method::PATCH,
        "/_sim/oauth/admin",
        Some(json!({"lacks_permission": true})),
    )
    .await;
    let a = org.get("/api/v1/users", &token).await;
    a.assert_error(StatusCode::FORBIDDEN, "E0000006");
    assert!(a.header("www-authenticate").is_none());
    org.stop().await;
}
