//! The drift sweep: changes made by hand in ZenQMS (roles, fields, status) are found by reading
//! every ZenQMS user a page at a time, and restored by the reconciler's usual calls; ZenQMS
//! users the bridge has not linked are reported, never touched.

use reqwest::Method;
use serde_json::{json, Value};
use zenqms_sim::RunningSim;

use crate::harness::{eventually, send, TestApp};
use crate::mapping_support::*;
use crate::scim_support::audit_entries;
use crate::sim_support::*;

const SEARCH: &str = "POST /v2/users/search";

/// Changes a ZenQMS user's fields by hand (`PATCH /v2/users/{id}` with the simulator's token).
async fn edit_by_hand(sim: &RunningSim, p: &Person, fields: Value) {
    let id = zuser(sim, p).id.to_string();
    let res = reqwest::Client::new()
        .patch(format!("{}/v2/users/{id}", sim.base_url))
        .bearer_auth(SIM_TOKEN)
        .json(&fields)
        .send()
        .await
        .expect("sim call");
    assert_eq!(res.status().as_u16(), 200);
}

fn sweep_of(status: &Value) -> Value {
    status["drift_sweep"].clone()
}

/// `POST /api/v1/sync/sweep`, asserting `202`; returns when the sweep it started has ended
/// (and the users it enqueued are reconciled).
async fn sweep_now(app: &TestApp) -> Value {
    let (s, started) = send(app.admin(Method::POST, "/sync/sweep")).await;
    assert_eq!(s, 202, "{started}");
    assert_eq!(started["started"], true, "{started}");
    let at = started["started_at"].clone();
    eventually(T, || async {
        let sw = sweep_of(&status(app).await);
        sw["running"] == false && sw["last_started_at"] == at && sw["last_finished_at"].is_string()
    })
    .await;
    settled(app, T).await;
    sweep_of(&status(app).await)
}

fn drift_entries(app: &TestApp) -> Vec<(String, Option<String>, Value)> {
    audit_entries(app)
        .into_iter()
        .filter(|(_, action, _, _)| action == "sync.drift")
        .map(|(actor, _, target, detail)| (actor, target, detail))
        .collect()
}

/// Waits for the sweep that a role becoming managed asks for.
async fn triggered_sweep(app: &TestApp) -> Value {
    eventually(T, || async {
        let sw = sweep_of(&status(app).await);
        sw["running"] == false && sw["last_outcome"] == "completed"
    })
    .await;
    settled(app, T).await;
    sweep_of(&status(app).await)
}

#[tokio::test]
async fn hand_made_changes_are_found_by_a_sweep_and_restored_with_minimal_calls() {
    let sim = roles_sim().await;
    let app = bridge(&sim, &[]).await;
    let mut ps = people(&app, &["ann", "ben", "cat", "dan"]).await;
    let g = group(&app, "Approvers", &[&ps[0], &ps[1]]).await;
    map_group(&app, &g, &["7"]).await;
    ps[3].active = false;
    push(&app, &mut ps[3]).await;
    assert_roles(&app, &sim, &[&ps[0], &ps[1]], &["7"]).await;
    // Mapping role 7 made it managed: a sweep was asked for and ran on its own.
    let first = triggered_sweep(&app).await;
    assert_eq!(first["trigger"], "role 7 became managed", "{first}");
    assert_eq!(first["drifted"], 0, "{first}");

    // By hand in ZenQMS: Ann loses the mapped role, Cat (not entitled) is given it, Ben's
    // title is edited and Dan (disabled in Okta) is enabled again.
    by_hand(&sim, &ps[0], false, 7).await;
    by_hand(&sim, &ps[2], true, 7).await;
    edit_by_hand(&sim, &ps[1], json!({"title": "Chief Everything"})).await;
    edit_by_hand(&sim, &ps[3], json!({"status": "active"})).await;
    sim.sim.reset_calls();

    let sw = sweep_now(&app).await;
    assert_eq!(
        (&sw["users_seen"], &sw["drifted"], &sw["trigger"]),
        (&json!(4), &json!(4), &json!("admin")),
        "{sw}"
    );
    assert_eq!(zroles(&sim, &ps[0]), ["7"]);
    assert_eq!(zroles(&sim, &ps[2]), Vec::<String>::new());
    assert_eq!(zuser(&sim, &ps[1]).title, "QA Specialist");
    assert_eq!(zuser(&sim, &ps[3]).status, zenqms_sim::Status::Disabled);
    // One page for four users, then exactly the corrections.
    let counts = sim.sim.calls().counts;
    assert_eq!(calls(&sim, SEARCH), 1, "{counts:?}");
    assert_eq!(role_calls(&sim), (1, 1), "{counts:?}");
    assert_eq!(calls(&sim, "PATCH /v2/users/{id}"), 2, "{counts:?}");
    assert_eq!(total_calls(&sim), 5, "{counts:?}");

    // The trail says what differed, before and after, as the system's doing.
    let drift = drift_entries(&app);
    assert_eq!(drift.len(), 4, "{drift:?}");
    assert!(drift.iter().all(|(actor, _, _)| actor == "system"));
    let of = |p: &Person| {
        drift
            .iter()
            .find(|(_, target, _)| target.as_deref() == Some(p.sid()))
            .map(|(_, _, d)| d["changed"].clone())
            .unwrap_or_else(|| panic!("no sync.drift entry for {}", p.user_name))
    };
    assert_eq!(of(&ps[0])["role_ids"], json!({"added": [], "removed": [7]}));
    assert_eq!(of(&ps[2])["role_ids"], json!({"added": [7], "removed": []}));
    assert_eq!(
        of(&ps[1])["title"],
        json!({"before": "QA Specialist", "after": "Chief Everything"})
    );
    assert_eq!(
        of(&ps[3])["status"],
        json!({"before": "disabled", "after": "active"})
    );
    assert!(audit_entries(&app)
        .iter()
        .any(|(actor, action, _, d)| actor == "test-admin"
            && action == "sync.sweep"
            && d["drifted"] == 4));

    // Nothing changed since: a sweep makes only its search call.
    sim.sim.reset_calls();
    let sw = sweep_now(&app).await;
    assert_eq!(sw["drifted"], 0, "{sw}");
    assert_eq!(calls(&sim, SEARCH), 1);
    assert_eq!(total_calls(&sim), 1, "{:?}", sim.sim.calls().counts);
    app.stop().await;
}

#[tokio::test]
async fn a_role_becoming_managed_finds_hand_granted_holders_and_reports_unlinked_ones() {
    // Zed holds Document Approver in ZenQMS and is nobody in the directory; Ray is pushed,
    // reconciled, and only then given the role by hand — the bridge's picture of him lacks it.
    let sim = roles_sim_with(vec![existing("zed", &[7, 12])]).await;
    let app = bridge(&sim, &[]).await;
    let ps = people(&app, &["ray", "sue"]).await;
    settled(&app, T).await;
    by_hand(&sim, &ps[0], true, 7).await;
    let zed_before = sim.sim.state().user_by_email("zed@example.com").cloned();

    // Sue's group is mapped to 7: the role becomes managed, and a sweep follows on its own.
    let g = group(&app, "Approvers", &[&ps[1]]).await;
    map_group(&app, &g, &["7"]).await;
    let sw = triggered_sweep(&app).await;
    assert_roles(&app, &sim, &[&ps[1]], &["7"]).await;
    assert_eq!(
        zroles(&sim, &ps[0]),
        Vec::<String>::new(),
        "Ray's hand-given role is taken"
    );
    assert_eq!(sw["users_seen"], 3, "{sw}");
    // Zed is reported, and left exactly as he was.
    assert_eq!(sw["unlinked_holders"]["count"], 1, "{sw}");
    assert_eq!(
        sw["unlinked_holders"]["first"][0]["email"],
        "zed@example.com"
    );
    assert_eq!(sw["unlinked_holders"]["first"][0]["role_ids"], json!([7]));
    assert_eq!(
        sim.sim.state().user_by_email("zed@example.com").cloned(),
        zed_before
    );
    assert!(audit_entries(&app)
        .iter()
        .any(|(actor, action, _, d)| actor == "system"
            && action == "sync.sweep"
            && d["unlinked_holders"]["count"] == 1));
    app.stop().await;
}

#[tokio::test]
async fn the_periodic_sweep_runs_on_its_own() {
    let sim = roles_sim().await;
    let app = bridge(&sim, &[("SYNC_DRIFT_SWEEP_SECS", "1")]).await;
    let ps = people(&app, &["amy"]).await;
    settled(&app, T).await;
    edit_by_hand(&sim, &ps[0], json!({"title": "Edited"})).await;
    eventually(T, || async { zuser(&sim, &ps[0]).title == "QA Specialist" }).await;
    let sw = sweep_of(&status(&app).await);
    assert_eq!(sw["interval_secs"], 1, "{sw}");
    assert!(sw["next_due_at"].is_string(), "{sw}");
    assert!(drift_entries(&app)
        .iter()
        .any(|(_, target, d)| target.as_deref() == Some(ps[0].sid())
            && d["changed"]["title"]["after"] == "Edited"));
    eventually(T, || async {
        sweep_of(&status(&app).await)["trigger"] == "periodic"
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_sweep_is_refused_while_one_runs_paused_or_not_connected() {
    let sim = roles_sim().await;
    let app = bridge(&sim, &[]).await;
    people(&app, &["kim"]).await;
    settled(&app, T).await;
    // ZenQMS answers 429 with Retry-After: 600: the sweep's first page waits out the pause
    // (as every call does), so it is still running however long the next requests take.
    sim.sim
        .set_faults(zenqms_sim::Faults {
            rate_limit_rps: Some(0),
            retry_after_s: Some(600),
            ..Default::default()
        })
        .expect("faults");
    let (s, first) = send(app.admin(Method::POST, "/sync/sweep")).await;
    assert_eq!(s, 202, "{first}");
    assert_eq!(first["linked_users"], 1, "{first}");
    let (s, again) = send(app.admin(Method::POST, "/sync/sweep")).await;
    assert_eq!((s, &again["error"]), (409, &json!("conflict")), "{again}");
    assert!(
        again["message"]
            .as_str()
            .unwrap()
            .contains("already running"),
        "{again}"
    );
    let sw = sweep_of(&status(&app).await);
    assert_eq!(
        (&sw["running"], &sw["trigger"]),
        (&json!(true), &json!("admin")),
        "{sw}"
    );

    let (s, _) = send(app.admin(Method::POST, "/sync/pause")).await;
    assert_eq!(s, 200);
    let (s, body) = send(app.admin(Method::POST, "/sync/sweep")).await;
    assert_eq!(s, 409, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("paused"),
        "{body}"
    );

    // Stopping the process ends its sweep as interrupted and frees the claim at once (no
    // waiting for the lease): the next bridge on the database sees none running.
    let db = app.stop_keeping_db().await;
    sim.sim
        .set_faults(zenqms_sim::Faults::default())
        .expect("faults");
    let next = bridge_on(db, &sim, &[]).await;
    let sw = sweep_of(&status(&next).await);
    assert_eq!(
        (&sw["running"], &sw["last_outcome"]),
        (&json!(false), &json!("interrupted")),
        "{sw}"
    );
    next.stop().await;

    let offline = TestApp::start().await;
    let (s, body) = send(offline.admin(Method::POST, "/sync/sweep")).await;
    assert_eq!(s, 409, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("not connected"),
        "{body}"
    );
    let (s, body) = send(offline.admin(Method::GET, "/sync/status")).await;
    assert_eq!(s, 200);
    assert_eq!(
        body["drift_sweep"]["last_started_at"],
        Value::Null,
        "{body}"
    );
    offline.stop().await;
}
