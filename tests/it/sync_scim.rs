//! The lifecycle Okta drives, end to end: deactivate by PATCH and by PUT, reactivate (the
//! same ZenQMS user), SCIM DELETE → disabled (never deleted), and replays that cost nothing.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use zenqms_sim::Status;

use crate::harness::send;
use crate::sim_support::*;

const T: Duration = Duration::from_secs(10);

#[tokio::test]
async fn deactivate_by_patch_and_put_reactivate_and_delete() {
    let sim = sim().await;
    let app = bridge(&sim, &[]).await;
    let mut ada = Person::new("ada");
    push(&app, &mut ada).await;
    settled(&app, T).await;
    let zid = sim
        .sim
        .state()
        .user_by_external_id("00uada")
        .expect("created")
        .id
        .to_string();
    let zstatus = || sim.sim.user(&zid).expect("never deleted").status;

    // Okta deactivates with PATCH replace {"active": false}: one PATCH to ZenQMS.
    sim.sim.reset_calls();
    set_active(&app, ada.sid(), false).await;
    settled(&app, T).await;
    assert_eq!(zstatus(), Status::Disabled);
    assert_eq!(
        (total_calls(&sim), calls(&sim, "PATCH /v2/users/{id}")),
        (1, 1)
    );

    // Reactivation goes to the same ZenQMS user.
    set_active(&app, ada.sid(), true).await;
    settled(&app, T).await;
    assert_eq!(zstatus(), Status::Active);

    // A profile push with PUT, and a deactivation by PUT.
    ada.title = Some("Head of QA".into());
    push(&app, &mut ada).await;
    settled(&app, T).await;
    assert_eq!(sim.sim.user(&zid).unwrap().title, "Head of QA");
    ada.active = false;
    push(&app, &mut ada).await;
    settled(&app, T).await;
    assert_eq!(zstatus(), Status::Disabled);
    ada.active = true;
    push(&app, &mut ada).await;
    settled(&app, T).await;
    assert_eq!(zstatus(), Status::Active);

    // SCIM DELETE: gone from SCIM, disabled in ZenQMS, still there.
    let (s, _) = send(app.scim(Method::DELETE, &format!("/Users/{}", ada.sid()))).await;
    assert_eq!(s, 204);
    settled(&app, T).await;
    assert_eq!(zstatus(), Status::Disabled);
    assert_eq!(sim.sim.state().users.len(), 1, "users are never deleted");
    assert_eq!(
        calls(&sim, "POST /v2/users"),
        0,
        "the same ZenQMS user throughout"
    );
    let row = sync_user(&app, ada.sid()).await;
    assert_eq!(
        (&row["state"], &row["zenqms_id"]),
        (
            &json!("synced"),
            &serde_json::to_value(&sim.sim.user(&zid).unwrap().id).unwrap()
        )
    );
    app.stop().await;
}

#[tokio::test]
async fn replayed_scim_requests_make_no_zenqms_calls() {
    let sim = sim().await;
    let app = bridge(&sim, &[]).await;
    let mut people: Vec<Person> = (0..5).map(|i| Person::new(&format!("r{i}"))).collect();
    for p in people.iter_mut() {
        push(&app, p).await;
    }
    patch_user(
        &app,
        people[0].sid(),
        json!([{"op": "replace", "path": "title", "value": "Auditor"}]),
    )
    .await;
    settled(&app, T).await;
    sim.sim.reset_calls();

    // Okta retries what it already sent: the same PUTs and PATCHes, a create that now
    // conflicts, and an admin asks for a retry of users that are in step.
    for p in people.iter_mut().skip(1) {
        push(&app, p).await;
    }
    patch_user(
        &app,
        people[0].sid(),
        json!([{"op": "replace", "path": "title", "value": "Auditor"}]),
    )
    .await;
    let (s, _) = send(
        app.scim(Method::POST, "/Users")
            .header("Content-Type", "application/scim+json")
            .body(people[1].body().to_string()),
    )
    .await;
    assert_eq!(s, 409);
    let ids: Vec<&str> = people.iter().map(|p| p.sid()).collect();
    let (s, body) = send(
        app.admin(Method::POST, "/sync/retry")
            .json(&json!({"user_ids": ids})),
    )
    .await;
    assert_eq!((s, &body["enqueued"]), (202, &json!(5)), "{body}");
    settled(&app, T).await;
    assert_eq!(total_calls(&sim), 0, "{:?}", sim.sim.calls().counts);
    let (s, body) = send(
        app.admin(Method::POST, "/sync/retry")
            .json(&json!({"user_ids": ["nobody"]})),
    )
    .await;
    assert_eq!(s, 422, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("nobody"),
        "{body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn sync_users_lists_by_state_in_pages() {
    let sim = sim().await;
    let app = bridge(&sim, &[]).await;
    for i in 0..5 {
        let mut p = Person::new(&format!("l{i}"));
        if i % 2 == 0 {
            p.title = None;
        }
        push(&app, &mut p).await;
    }
    settled(&app, T).await;
    let st = status(&app).await;
    assert_eq!(
        st["counts"],
        json!({"synced": 2, "skipped": 3, "pending": 0, "failed": 0}),
        "{st}"
    );
    let (s, page1) = send(app.admin(Method::GET, "/sync/users?state=skipped&limit=2")).await;
    assert_eq!(s, 200, "{page1}");
    let users = page1["users"].as_array().unwrap();
    assert_eq!(users.len(), 2);
    assert!(users
        .iter()
        .all(|u| u["state"] == "skipped" && u["reason"].as_str().unwrap().contains("title")));
    assert!(users[0]["user_name"]
        .as_str()
        .unwrap()
        .ends_with("@example.com"));
    let after = page1["next_after"].as_str().expect("more");
    let (_, page2) = send(app.admin(
        Method::GET,
        &format!("/sync/users?state=skipped&limit=2&after={after}"),
    ))
    .await;
    assert_eq!(page2["users"].as_array().unwrap().len(), 1);
    assert_eq!(page2["next_after"], serde_json::Value::Null);
    let (s, body) = send(app.admin(Method::GET, "/sync/users?state=broken")).await;
    assert_eq!(s, 400);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("synced, pending, skipped or failed"),
        "{body}"
    );
    let synced = send(app.admin(Method::GET, "/sync/users?state=synced"))
        .await
        .1;
    let u = &synced["users"][0];
    for field in [
        "scim_id",
        "user_name",
        "zenqms_id",
        "state",
        "reason",
        "attempts",
        "last_attempt_at",
        "next_attempt_at",
    ] {
        assert!(u.get(field).is_some(), "{field} in {u}");
    }
    app.stop().await;
}
