//! `/Groups` over HTTP: membership as set operations, counts, outbox, concurrency.

use reqwest::Method;
use serde_json::json;

use crate::harness::{send, TestApp};
use crate::scim_support::*;

fn member_ids(group: &serde_json::Value) -> Vec<String> {
    let mut ids: Vec<String> = group["members"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|x| x["value"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

fn member_count(app: &TestApp, gid: &str) -> i64 {
    use diesel::prelude::*;
    use zenqms_bridge::store::schema::scim_groups;
    let mut conn = app.state.pool.get().unwrap();
    scim_groups::table
        .find(gid)
        .select(scim_groups::member_count)
        .first(&mut *conn)
        .unwrap()
}

#[tokio::test]
async fn group_membership_lifecycle() {
    let app = TestApp::start().await;
    let a = create_user(&app, "a@example.com").await;
    let b = create_user(&app, "b@example.com").await;
    let c = create_user(&app, "c@example.com").await;
    let gid = create_group(&app, "QA Approvers", &[&a]).await;
    assert_eq!(member_count(&app, &gid), 1);
    assert_eq!(
        job_generation(&app, &a),
        Some(2),
        "joining enqueues the member"
    );

    let (s, g) = patch(
        &app,
        &format!("/Groups/{gid}"),
        json!([
            {"op": "add", "path": "members", "value": [{"value": b, "display": "b"}, {"value": c}]},
            {"op": "remove", "path": format!("members[value eq \"{a}\"]")}
        ]),
    )
    .await;
    assert_eq!(s, 200, "{g}");
    let mut expected = vec![b.clone(), c.clone()];
    expected.sort();
    assert_eq!(member_ids(&g), expected);
    assert_eq!(g["members"][0]["type"], "User");
    assert_eq!(member_count(&app, &gid), 2);
    assert_eq!(
        job_generation(&app, &a),
        Some(3),
        "leaving enqueues the member"
    );

    // The user's groups are computed from memberships.
    let (_, user) = get(&app, &format!("/Users/{b}")).await;
    assert_eq!(user["groups"][0]["value"], gid.as_str());
    assert_eq!(user["groups"][0]["display"], "QA Approvers");

    // Lists carry each user's groups too (one query per page), in the page's order.
    let second = create_group(&app, "Auditors", &[&b]).await;
    let (_, list) = get(&app, "/Users?sortBy=userName&sortOrder=descending").await;
    let names: Vec<&str> = list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["c@example.com", "b@example.com", "a@example.com"]
    );
    assert_eq!(list["Resources"][0]["groups"][0]["value"], gid.as_str());
    let b_groups: Vec<&str> = list["Resources"][1]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["display"].as_str().unwrap())
        .collect();
    assert_eq!(b_groups, vec!["Auditors", "QA Approvers"]);
    assert!(list["Resources"][2].get("groups").is_none());
    let _ = second;

    // Unknown members are refused by id, and nothing changes.
    let (s, err) = patch(
        &app,
        &format!("/Groups/{gid}"),
        json!([{"op": "add", "path": "members", "value": [{"value": "no-such-user"}]}]),
    )
    .await;
    assert_error(s, &err, 400, Some("invalidValue"));
    assert!(err["detail"].as_str().unwrap().contains("no-such-user"));

    // excludedAttributes=members
    let (s, g) = get(&app, &format!("/Groups/{gid}?excludedAttributes=members")).await;
    assert_eq!(s, 200);
    assert!(g.get("members").is_none(), "{g}");
    assert_eq!(g["displayName"], "QA Approvers");

    // replace members [] empties the group.
    let (s, g) = patch(
        &app,
        &format!("/Groups/{gid}"),
        json!([{"op": "replace", "path": "members", "value": []}]),
    )
    .await;
    assert_eq!(s, 200);
    assert!(g.get("members").is_none());
    assert_eq!(member_count(&app, &gid), 0);

    // DELETE enqueues the members first.
    let gid2 = create_group(&app, "Doomed", &[&a, &b]).await;
    let before = job_generation(&app, &a).unwrap();
    let res = app
        .scim(Method::DELETE, &format!("/Groups/{gid2}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(job_generation(&app, &a), Some(before + 1));
    let (s, err) = get(&app, &format!("/Groups/{gid2}")).await;
    assert_error(s, &err, 404, None);
    app.stop().await;
}

#[tokio::test]
async fn concurrent_patches_of_one_group_lose_no_member() {
    let app = TestApp::start().await;
    let gid = create_group(&app, "Busy", &[]).await;
    let mut users = Vec::new();
    for i in 0..24 {
        users.push(create_user(&app, &format!("u{i}@example.com")).await);
    }
    let mut tasks = Vec::new();
    for u in &users {
        let req = app
            .scim(Method::PATCH, &format!("/Groups/{gid}"))
            .header("Content-Type", "application/scim+json")
            .body(
                json!({"schemas": [PATCH_OP], "Operations": [
                    {"op": "add", "path": "members", "value": [{"value": u}]}]})
                .to_string(),
            );
        tasks.push(tokio::spawn(send(req)));
    }
    for t in tasks {
        let (s, body) = t.await.unwrap();
        assert_eq!(s, 200, "{body}");
    }
    let (_, g) = get(&app, &format!("/Groups/{gid}")).await;
    let mut expected = users.clone();
    expected.sort();
    assert_eq!(member_ids(&g), expected);
    assert_eq!(member_count(&app, &gid), 24);
    app.stop().await;
}

/// `excludedAttributes=members` must not touch the membership table at all: with the table
/// out of the way, such reads still work, and reads that need members fail.
#[tokio::test]
async fn excluding_members_never_reads_the_membership_table() {
    use diesel::RunQueryDsl;
    let app = TestApp::start().await;
    let u = create_user(&app, "m@example.com").await;
    let gid = create_group(&app, "Big", &[&u]).await;
    let rename = |from: &str, to: &str| {
        let mut conn = app.state.pool.get().unwrap();
        diesel::sql_query(format!("ALTER TABLE {from} RENAME TO {to}"))
            .execute(&mut *conn)
            .unwrap();
    };
    rename("group_members", "group_members_hidden");
    let (s, g) = get(&app, &format!("/Groups/{gid}?excludedAttributes=members")).await;
    assert_eq!(s, 200, "{g}");
    assert_eq!(g["displayName"], "Big");
    let (s, list) = get(
        &app,
        &format!(
            "/Groups?excludedAttributes=members&filter={}",
            enc("displayName eq \"big\"")
        ),
    )
    .await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list["totalResults"], 1);
    let (s, body) = get(&app, &format!("/Groups/{gid}")).await;
    assert_error(s, &body, 500, None);
    rename("group_members_hidden", "group_members");
    let (s, g) = get(&app, &format!("/Groups/{gid}")).await;
    assert_eq!(s, 200);
    assert_eq!(g["members"][0]["value"], u.as_str());
    app.stop().await;
}
