//! Roles that disappear from ZenQMS (and come back), the role list for the editor, and the
//! audit trail of role calls.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::harness::{eventually, send};
use crate::mapping_support::*;
use crate::scim_support::audit_entries;
use crate::sim_support::*;

#[tokio::test]
async fn a_role_deleted_in_zenqms_is_role_missing_and_the_others_apply() {
    let sim = roles_sim().await;
    let app = bridge(&sim, &[("ZENQMS_ROLE_REFRESH_SECS", "0")]).await;
    let ps = people(&app, &["mia", "ned", "ola"]).await;
    let g = group(&app, "CAPA", &[&ps[0]]).await;
    map_group(&app, &g, &["7", "21"]).await;
    assert_roles(&app, &sim, &[&ps[0]], &["21", "7"]).await;

    // CAPA Owner (21) is deleted in ZenQMS; an admin refreshes the list.
    sim.sim.delete_role("21").expect("role 21");
    let (s, body) = send(app.admin(Method::POST, "/zenqms/roles/refresh")).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["refresh"]["disappeared"], json!(["21"]), "{body}");
    let r21 = body["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "21")
        .unwrap()
        .clone();
    assert_eq!(r21["status"], "missing");
    let rows = mappings(&app).await;
    assert_eq!(row(&rows, "CAPA", "21")["status"], "role_missing");
    assert_eq!(row(&rows, "CAPA", "7")["status"], "active");
    let st = status(&app).await;
    assert_eq!(st["role_mappings"]["role_missing"], 1, "{st}");
    assert_eq!(
        st["role_mappings"]["missing_roles"][0]["role_id"], "21",
        "{st}"
    );

    // A new member gets the role that exists; the missing one is not asked for, nobody fails.
    sim.sim.reset_calls();
    members(&app, &g, "add", &[&ps[1]]).await;
    assert_roles(&app, &sim, &[&ps[1]], &["7"]).await;
    assert_eq!(role_calls(&sim), (1, 0));
    assert_eq!(status(&app).await["counts"]["failed"], 0);

    // The role comes back: its members are read again and hold it again.
    sim.sim
        .add_role(zenqms_sim::NewRole::new(21, "CAPA Owner", ""))
        .expect("role back");
    let (s, body) = send(app.admin(Method::GET, "/zenqms/roles?refresh=true")).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["refresh"]["reappeared"], json!(["21"]), "{body}");
    assert_roles(&app, &sim, &[&ps[0], &ps[1]], &["21", "7"]).await;
    assert_eq!(row(&mappings(&app).await, "CAPA", "21")["status"], "active");
    app.stop().await;
}

#[tokio::test]
async fn zenqms_refusing_a_mapped_role_marks_it_missing_without_a_failing_loop() {
    let sim = roles_sim().await;
    let app = bridge(&sim, &[("ZENQMS_ROLE_REFRESH_SECS", "0")]).await;
    let ps = people(&app, &["pat", "quy"]).await;
    let g = group(&app, "Training", &[&ps[0]]).await;
    map_group(&app, &g, &["12", "31"]).await;
    assert_roles(&app, &sim, &[&ps[0]], &["12", "31"]).await;

    // Auditor (31) disappears and nobody refreshes: the reconciler learns it from ZenQMS's
    // `422 unknown_role`, adds the rest, and stops asking for it.
    sim.sim.delete_role("31").expect("role 31");
    members(&app, &g, "add", &[&ps[1]]).await;
    assert_roles(&app, &sim, &[&ps[1]], &["12"]).await;
    let u = sync_user(&app, ps[1].sid()).await;
    assert_eq!(u["state"], "synced", "{u}");
    assert!(u["reason"].as_str().unwrap_or("").contains("31"), "{u}");
    assert_eq!(
        row(&mappings(&app).await, "Training", "31")["status"],
        "role_missing"
    );
    assert_eq!(status(&app).await["role_mappings"]["role_missing"], 1);
    sim.sim.reset_calls();
    let (s, _) = send(
        app.admin(Method::POST, "/sync/retry")
            .json(&json!({"user_ids": [ps[0].sid(), ps[1].sid()]})),
    )
    .await;
    assert_eq!(s, 202);
    settled(&app, T).await;
    assert_eq!(
        role_calls(&sim),
        (0, 0),
        "the missing role is not asked for again"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_role_list_is_refreshed_periodically_while_mappings_exist() {
    let sim = roles_sim().await;
    let app = bridge(&sim, &[("ZENQMS_ROLE_REFRESH_SECS", "1")]).await;
    // No mapping yet: the bridge does not poll ZenQMS for roles.
    let ps = people(&app, &["ray"]).await;
    settled(&app, T).await;
    assert_eq!(calls(&sim, "GET /v2/roles"), 0);
    let g = group(&app, "Approvers", &[&ps[0]]).await;
    map_group(&app, &g, &["7"]).await;
    assert_roles(&app, &sim, &[&ps[0]], &["7"]).await;

    sim.sim.delete_role("7").expect("role 7");
    eventually(Duration::from_secs(10), || async {
        mappings(&app).await[0]["status"] == "role_missing"
    })
    .await;
    let st = status(&app).await;
    assert_eq!(st["role_mappings"]["role_missing"], 1, "{st}");
    assert!(
        st["role_mappings"]["roles_refreshed_at"].is_string(),
        "{st}"
    );
    // Periodic refreshes are the system's own calls. (The mapping's drift sweep may have seen
    // the role gone first: the reconciler's 422 marks it missing too.)
    eventually(Duration::from_secs(10), || async {
        audit_entries(&app)
            .iter()
            .any(|(actor, action, _, _)| actor == "system" && action == "zenqms.roles.refresh")
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn the_editor_lists_roles_and_groups_and_role_calls_are_audited() {
    let sim = roles_sim().await;
    let app = bridge(&sim, &[("ZENQMS_ROLE_REFRESH_SECS", "0")]).await;
    let ps = people(&app, &["sam", "tia"]).await;
    for (i, name) in ["QA Approvers", "QA_Reviewers", "Trainers", "Auditors"]
        .iter()
        .enumerate()
    {
        let who: Vec<&Person> = ps.iter().take(i.min(2)).collect();
        group(&app, name, &who).await;
    }

    // The first read fills the cache from ZenQMS, in the caller's name.
    let (s, body) = send(app.admin(Method::GET, "/zenqms/roles")).await;
    assert_eq!(s, 200, "{body}");
    let names: Vec<&str> = body["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Auditor",
            "CAPA Owner",
            "Document Approver",
            "QA Reviewer",
            "Training Coordinator"
        ]
    );
    assert!(body["refreshed_at"].is_string());
    let audited = audit_entries(&app);
    assert!(
        audited
            .iter()
            .any(|(actor, action, _, _)| actor == "test-admin" && action == "zenqms.roles.list"),
        "the GET /v2/roles call carries the admin's name"
    );
    assert!(audited
        .iter()
        .any(|(actor, action, _, _)| actor == "test-admin" && action == "zenqms.roles.refresh"));

    // Groups: filtered by part of the name (literally: `_` is not a wildcard), paged.
    let (s, body) = send(app.admin(Method::GET, "/groups?name=qa_")).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["total"], 1, "{body}");
    assert_eq!(body["groups"][0]["display_name"], "QA_Reviewers");
    assert_eq!(body["groups"][0]["member_count"], 1);
    let (_, page1) = send(app.admin(Method::GET, "/groups?limit=3")).await;
    assert_eq!(page1["total"], 4);
    let first: Vec<&str> = page1["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["display_name"].as_str().unwrap())
        .collect();
    assert_eq!(first, ["Auditors", "QA Approvers", "QA_Reviewers"]);
    let after = page1["next_after"].as_str().expect("a next page");
    let (_, page2) = send(app.admin(
        Method::GET,
        &format!("/groups?limit=3&after={}", crate::scim_support::enc(after)),
    ))
    .await;
    assert_eq!(page2["groups"][0]["display_name"], "Trainers");
    assert_eq!(page2["next_after"], json!(null));

    // A mapping shows on its group, and every mapping change is audited with the admin's name.
    let gid = page1["groups"][1]["id"].as_str().unwrap().to_string();
    let rows = map_group(&app, &gid, &["7"]).await;
    let (_, body) = send(app.admin(Method::GET, "/groups?name=approvers")).await;
    assert_eq!(
        body["groups"][0]["mappings"][0]["role_name"],
        "Document Approver"
    );
    let id = rows[0]["id"].as_str().unwrap().to_string();
    send(app.admin(Method::DELETE, &format!("/role-mappings/{id}"))).await;
    let trail: Vec<(String, String)> = audit_entries(&app)
        .into_iter()
        .filter(|(_, _, target, _)| target.as_deref() == Some(id.as_str()))
        .map(|(actor, action, _, _)| (actor, action))
        .collect();
    assert_eq!(
        trail,
        [
            ("test-admin".to_string(), "mapping.create".to_string()),
            ("test-admin".to_string(), "mapping.delete".to_string())
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn string_role_ids_are_kept_as_zenqms_sent_them() {
    let sim = start_sim(zenqms_sim::SimConfig {
        string_ids: true,
        ..zenqms_sim::SimConfig::new(SIM_TOKEN)
    })
    .await;
    let role = sim
        .sim
        .add_role(zenqms_sim::NewRole {
            id: None,
            name: "Document Approver".into(),
            description: String::new(),
        })
        .expect("role");
    let rid = role.id.to_string();
    assert!(rid.starts_with("r-"), "{rid}");
    let app = bridge(&sim, &[("ZENQMS_ROLE_REFRESH_SECS", "0")]).await;
    let ps = people(&app, &["una"]).await;
    let g = group(&app, "Approvers", &[&ps[0]]).await;
    let rows = map_group(&app, &g, &[rid.as_str()]).await;
    assert_eq!(rows[0]["role_id"], rid);
    settled(&app, T).await;
    assert_eq!(zroles(&sim, &ps[0]), vec![rid.clone()]);
    // ZenQMS matches ids in bodies only in the form it handed out: a string, here.
    assert_eq!(
        zuser(&sim, &ps[0]).role_ids,
        vec![zenqms_sim::Id::Str(rid.clone())]
    );
    app.stop().await;
}
