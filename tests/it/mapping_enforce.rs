//! Enforcement of group→role mappings, end to end: Okta pushes over SCIM, an admin maps over
//! REST, and the simulator shows what ZenQMS ends up holding.

use reqwest::Method;
use serde_json::json;

use crate::harness::send;
use crate::mapping_support::*;
use crate::sim_support::*;

#[tokio::test]
async fn members_hold_mapped_roles_and_lose_only_those_when_they_leave() {
    let sim = roles_sim().await;
    let app = bridge(&sim, &[]).await;
    let ps = people(&app, &["ada", "bob", "cyd"]).await;
    let (ada, bob, cyd) = (&ps[0], &ps[1], &ps[2]);
    let g = group(&app, "QA Approvers", &[ada, bob]).await;
    settled(&app, T).await;
    // A role nobody maps (Auditor 31), given by hand: never touched.
    by_hand(&sim, ada, true, 31).await;

    let rows = map_group(&app, &g, &["7", "12"]).await;
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert_eq!(r["status"], "active", "{r}");
        assert_eq!(r["member_count"], 2, "{r}");
        assert_eq!(r["group_id"], json!(g));
        assert_eq!(r["created_by"], "test-admin");
    }
    assert_roles(&app, &sim, &[bob], &["12", "7"]).await;
    assert_eq!(zroles(&sim, ada), ["12", "31", "7"]);
    assert_eq!(zroles(&sim, cyd), Vec::<String>::new(), "not in the group");

    // Ada leaves: the mapped roles go, the one given by hand stays.
    members(&app, &g, "remove", &[ada]).await;
    assert_roles(&app, &sim, &[ada], &["31"]).await;
    assert_roles(&app, &sim, &[bob], &["12", "7"]).await;

    // Replaying the same state costs nothing: the table and the directory agree with ZenQMS.
    sim.sim.reset_calls();
    let (s, _) = map(&app, json!({"group_id": g, "role_ids": ["7"]})).await;
    assert_eq!(s, 200, "an existing pair is not duplicated");
    settled(&app, T).await;
    assert_eq!(role_calls(&sim), (0, 0));
    assert_eq!(mappings(&app).await.len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn manual_changes_to_a_mapped_role_are_overwritten() {
    let sim = roles_sim().await;
    let app = bridge(&sim, &[]).await;
    let mut ps = people(&app, &["ann", "ben", "cat"]).await;
    let g = group(&app, "Approvers", &[&ps[0], &ps[1]]).await;
    map_group(&app, &g, &["7"]).await;
    assert_roles(&app, &sim, &[&ps[0], &ps[1]], &["7"]).await;

    // Someone removes the mapped role from Ann in ZenQMS, and gives it to Cat, who is not
    // entitled. An admin asks the bridge to look again: both are corrected.
    by_hand(&sim, &ps[0], false, 7).await;
    by_hand(&sim, &ps[2], true, 7).await;
    assert_eq!(zroles(&sim, &ps[0]), Vec::<String>::new());
    let ids = [ps[0].sid(), ps[2].sid()];
    let (s, body) = send(
        app.admin(Method::POST, "/sync/recheck")
            .json(&json!({"user_ids": ids})),
    )
    .await;
    assert_eq!((s, &body["enqueued"]), (202, &json!(2)), "{body}");
    assert_roles(&app, &sim, &[&ps[0]], &["7"]).await;
    assert_roles(&app, &sim, &[&ps[2]], &[]).await;

    // The same drift is also caught on the user's next change from Okta (the PATCH answer
    // shows ZenQMS's whole user).
    by_hand(&sim, &ps[1], false, 7).await;
    by_hand(&sim, &ps[2], true, 7).await;
    ps[1].title = Some("Senior Approver".into());
    push(&app, &mut ps[1]).await;
    ps[2].title = Some("Analyst".into());
    push(&app, &mut ps[2]).await;
    assert_roles(&app, &sim, &[&ps[1]], &["7"]).await;
    assert_roles(&app, &sim, &[&ps[2]], &[]).await;
    app.stop().await;
}

#[tokio::test]
async fn two_groups_one_role_and_renames() {
    let sim = roles_sim().await;
    let app = bridge(&sim, &[]).await;
    let ps = people(&app, &["dan", "eve", "fay"]).await;
    let (dan, eve, fay) = (&ps[0], &ps[1], &ps[2]);
    let a = group(&app, "Reviewers EU", &[dan, eve]).await;
    let b = group(&app, "Reviewers US", &[dan]).await;
    map_group(&app, &a, &["15"]).await;
    map_group(&app, &b, &["15"]).await;
    assert_roles(&app, &sim, &[dan, eve], &["15"]).await;

    // Dan leaves one of the two groups: he keeps the role; Eve leaves her only one: she loses it.
    members(&app, &a, "remove", &[dan, eve]).await;
    assert_roles(&app, &sim, &[dan], &["15"]).await;
    assert_roles(&app, &sim, &[eve], &[]).await;
    members(&app, &b, "remove", &[dan]).await;
    assert_roles(&app, &sim, &[dan], &[]).await;

    // A renamed group keeps its mappings (they name it by id) and new members get the role.
    rename(&app, &a, "Reviewers Europe").await;
    let rows = mappings(&app).await;
    let m = row(&rows, "Reviewers Europe", "15");
    assert_eq!(
        (&m["status"], &m["group_id"]),
        (&json!("active"), &json!(a))
    );
    members(&app, &a, "add", &[fay]).await;
    assert_roles(&app, &sim, &[fay], &["15"]).await;
    app.stop().await;
}

#[tokio::test]
async fn a_mapping_by_name_binds_when_the_group_is_pushed() {
    // Hal was in ZenQMS before the bridge, holding Auditor (31) by hand; he is linked by email.
    let sim = roles_sim_with(vec![existing("hal", &[31])]).await;
    let app = bridge(&sim, &[]).await;
    let ps = people(&app, &["gus", "hal"]).await;
    settled(&app, T).await;
    assert_eq!(zroles(&sim, &ps[1]), ["31"]);
    let (s, body) = map(
        &app,
        json!({"group_display_name": "ZenQMS Auditors", "role_ids": ["31"]}),
    )
    .await;
    assert_eq!(s, 201, "{body}");
    let m = &body["mappings"][0];
    assert_eq!(
        (&m["status"], &m["group_id"], &m["member_count"]),
        (&json!("pending_group"), &json!(null), &json!(0))
    );

    // Okta pushes the group, in another case.
    let g = group(&app, "zenqms auditors", &[&ps[0]]).await;
    assert_roles(&app, &sim, &[&ps[0]], &["31"]).await;
    let rows = mappings(&app).await;
    let m = row(&rows, "zenqms auditors", "31");
    assert_eq!(
        (&m["status"], &m["group_id"]),
        (&json!("active"), &json!(g))
    );
    assert_eq!(m["member_count"], 1);
    // Once managed, the role held by hand by someone outside the group goes.
    assert_roles(&app, &sim, &[&ps[1]], &[]).await;

    // A group renamed into a pending mapping's name binds too.
    let other = group(&app, "Temp", &[&ps[1]]).await;
    map(
        &app,
        json!({"group_display_name": "CAPA Owners", "role_ids": ["21"]}),
    )
    .await;
    rename(&app, &other, "CAPA owners").await;
    assert_roles(&app, &sim, &[&ps[1]], &["21"]).await;
    app.stop().await;
}

#[tokio::test]
async fn a_deleted_group_takes_its_roles_and_binds_again_by_name() {
    let sim = roles_sim().await;
    let app = bridge(&sim, &[]).await;
    let ps = people(&app, &["ivy", "jon"]).await;
    let g = group(&app, "Trainers", &[&ps[0]]).await;
    map_group(&app, &g, &["12"]).await;
    assert_roles(&app, &sim, &[&ps[0]], &["12"]).await;

    let (s, _) = send(app.scim(Method::DELETE, &format!("/Groups/{g}"))).await;
    assert_eq!(s, 204);
    assert_roles(&app, &sim, &[&ps[0]], &[]).await;
    let rows = mappings(&app).await;
    let m = row(&rows, "Trainers", "12");
    assert_eq!(
        (&m["status"], &m["group_id"]),
        (&json!("pending_group"), &json!(null))
    );
    assert!(m["group_deleted_at"].is_string(), "{m}");
    assert!(m["detail"].as_str().unwrap().contains("deleted"), "{m}");

    // Okta pushes a group of that name again (unlink and relink): it binds.
    let g2 = group(&app, "Trainers", &[&ps[1]]).await;
    assert_roles(&app, &sim, &[&ps[1]], &["12"]).await;
    assert_eq!(
        row(&mappings(&app).await, "Trainers", "12")["group_id"],
        json!(g2)
    );
    app.stop().await;
}

#[tokio::test]
async fn deleting_a_mapping_leaves_assignments_alone() {
    let sim = roles_sim().await;
    let app = bridge(&sim, &[]).await;
    let ps = people(&app, &["kim", "lou"]).await;
    let g = group(&app, "Approvers", &[&ps[0], &ps[1]]).await;
    let rows = map_group(&app, &g, &["7"]).await;
    assert_roles(&app, &sim, &[&ps[0], &ps[1]], &["7"]).await;
    sim.sim.reset_calls();
    let id = rows[0]["id"].as_str().unwrap();
    let (s, _) = send(app.admin(Method::DELETE, &format!("/role-mappings/{id}"))).await;
    assert_eq!(s, 204);
    // The role is no longer managed: a member leaving keeps it, nothing is sent.
    members(&app, &g, "remove", &[&ps[0]]).await;
    assert_roles(&app, &sim, &[&ps[0], &ps[1]], &["7"]).await;
    assert_eq!(role_calls(&sim), (0, 0));
    assert!(mappings(&app).await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn deactivated_users_keep_their_roles_until_they_leave_the_group() {
    let sim = roles_sim().await;
    let app = bridge(&sim, &[]).await;
    let ps = people(&app, &["max"]).await;
    let g = group(&app, "Approvers", &[&ps[0]]).await;
    map_group(&app, &g, &["7"]).await;
    assert_roles(&app, &sim, &[&ps[0]], &["7"]).await;
    set_active(&app, ps[0].sid(), false).await;
    assert_roles(&app, &sim, &[&ps[0]], &["7"]).await;
    assert_eq!(zuser(&sim, &ps[0]).status, zenqms_sim::Status::Disabled);
    members(&app, &g, "remove", &[&ps[0]]).await;
    assert_roles(&app, &sim, &[&ps[0]], &[]).await;
    app.stop().await;
}

/// A rename that binds a pending mapping makes its role managed: the role's holders outside
/// the group are enqueued by the mapping, not by the membership. With the workers polling only
/// once an hour, the change reaches ZenQMS within the deadline only if the write that enqueued
/// them woke the workers — for the rename, and for the deletion of the group.
#[tokio::test]
async fn a_group_rename_or_delete_wakes_the_workers_at_once() {
    let sim = roles_sim_with(vec![existing("bob", &[7])]).await;
    let app = bridge_waking_only(&sim).await;
    let ps = people(&app, &["bob", "ann"]).await;
    let (bob, ann) = (&ps[0], &ps[1]);
    let (s, body) = map(
        &app,
        json!({"group_display_name": "Approvers", "role_ids": ["7"]}),
    )
    .await;
    assert_eq!(s, 201, "{body}");
    let g = group(&app, "Staff", &[]).await;
    // A pending mapping manages nothing: Bob keeps the role he was given by hand.
    assert_roles(&app, &sim, &[bob], &["7"]).await;

    // Bound by the rename: role 7 is managed, and Bob is in no group that grants it.
    rename(&app, &g, "Approvers").await;
    assert_roles(&app, &sim, &[bob], &[]).await;

    members(&app, &g, "add", &[ann]).await;
    assert_roles(&app, &sim, &[ann], &["7"]).await;
    // Deleting the group takes what it granted; the mapping waits for a group of that name.
    let (s, _) = send(app.scim(Method::DELETE, &format!("/Groups/{g}"))).await;
    assert_eq!(s, 204);
    assert_roles(&app, &sim, &[ann], &[]).await;
    app.stop().await;
}
