//! The initial sync over the SCIM source against the simulator: Standard and Full on the same
//! seeded tenant, the conflicts, dry runs that write nothing, the hold after Standard, the
//! report's pages and CSV, unlink, metrics and the audit trail.

use reqwest::Method;
use serde_json::json;

use crate::harness::{eventually, send};
use crate::initial_sync_support::*;
use crate::sim_support::*;

#[tokio::test]
async fn standard_links_by_email_and_changes_nothing_else() {
    let sim = tenant_sim().await;
    let app = bridge(&sim, &[("SYNC_DRIFT_SWEEP_SECS", "0")]).await;
    let pushed = push_paused(&app, &sim).await;
    let before = sim_picture(&sim);

    let run = run_to_done(&app, "standard", false).await;
    assert_eq!(run["mode"], "standard");
    assert_eq!(run["source"], "scim");
    assert_eq!(run["dry_run"], false);
    assert_eq!(
        run["counts"],
        json!({"link": 2, "create": 0, "update": 0, "unchanged": 1, "skip": 2, "conflict": 3}),
        "{run}"
    );
    assert_eq!(run["progress"], json!({"done": 8, "total": 8}));
    assert!(run["finished_at"].is_string() && run["error"].is_null());

    // Only the paged search and one external_id PATCH per match.
    assert_eq!(
        call_keys(&sim),
        ["PATCH /v2/users/{id}", "POST /v2/users/search"],
        "{:?}",
        sim.sim.calls().counts
    );
    assert_eq!(calls(&sim, "PATCH /v2/users/{id}"), 2);
    assert_eq!(calls(&sim, "POST /v2/users/search"), 1, "5 users: one page");
    let a = zenqms_user(&sim, "a@example.com").expect("a");
    assert_eq!(a.external_id.as_deref(), Some("00ua"));
    let e = zenqms_user(&sim, "e@example.com").expect("e");
    assert_eq!(e.external_id.as_deref(), Some("00ue"));
    assert_eq!(e.first_name, "Evelyn", "no profile changed");
    assert!(a.role_ids.is_empty(), "no role granted");
    assert_eq!(sim.sim.state().users.len(), 5, "nobody created");
    assert_ne!(before, sim_picture(&sim));

    let id = run["id"].as_str().expect("id");
    let items = all_items(&app, id).await;
    assert_eq!(items.len(), 8);
    assert_eq!(okta_ids(&items, "link"), ["00ua", "00ue"]);
    assert_eq!(okta_ids(&items, "conflict"), ["00ub", "00udup1", "00udup2"]);
    assert_eq!(okta_ids(&items, "unchanged"), ["00uc"]);
    assert_eq!(okta_ids(&items, "skip"), ["00ud", "00ut"]);
    let reason = |okta: &str| {
        items
            .iter()
            .find(|i| i["okta_id"] == okta)
            .and_then(|i| i["reason"].as_str())
            .unwrap_or("")
            .to_string()
    };
    assert!(
        reason("00ub").contains("00uother") && reason("00ub").contains("00ub"),
        "both ids named: {}",
        reason("00ub")
    );
    assert!(
        reason("00udup1").contains("00udup1") && reason("00udup1").contains("00udup2"),
        "{}",
        reason("00udup1")
    );
    assert!(
        reason("00ud").starts_with("unmatched"),
        "{}",
        reason("00ud")
    );
    let a_item = items.iter().find(|i| i["okta_id"] == "00ua").expect("a");
    assert_eq!(a_item["email"], "a@example.com");
    assert_eq!(a_item["zenqms_id"], a.id.to_string());
    assert_eq!(a_item["user_id"], pushed.get("a").sid());

    // Every change is audited with the run id.
    let (_, audit) = send(app.admin(Method::GET, "/audit?limit=1000")).await;
    let actor = format!("initial-sync:{id}");
    let entries = audit["entries"].as_array().cloned().unwrap_or_default();
    let patches = entries
        .iter()
        .filter(|e| e["actor"] == actor.as_str() && e["action"] == "zenqms.user.update")
        .count();
    assert_eq!(patches, 2, "{audit}");
    assert!(entries.iter().any(|e| e["action"] == "initial_sync.start"));
    assert!(entries.iter().any(|e| e["action"] == "initial_sync.finish"));

    // Progress and counts in /metrics.
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("zenqms_bridge_initial_sync_items{outcome=\"link\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("zenqms_bridge_initial_sync_done 8"));
    app.stop().await;
}

#[tokio::test]
async fn full_creates_updates_and_grants_mapped_roles_on_the_same_tenant() {
    let sim = tenant_sim().await;
    let app = bridge(&sim, &[("SYNC_DRIFT_SWEEP_SECS", "0")]).await;
    push_paused(&app, &sim).await;

    let run = run_to_done(&app, "full", false).await;
    assert_eq!(
        run["counts"],
        json!({"link": 2, "create": 1, "update": 1, "unchanged": 0, "skip": 1, "conflict": 3}),
        "{run}"
    );
    let id = run["id"].as_str().expect("id");
    let items = all_items(&app, id).await;
    assert_eq!(okta_ids(&items, "create"), ["00ud"]);
    assert_eq!(okta_ids(&items, "update"), ["00uc"]);
    assert_eq!(okta_ids(&items, "link"), ["00ua", "00ue"]);
    assert_eq!(okta_ids(&items, "skip"), ["00ut"]);
    let t = items.iter().find(|i| i["okta_id"] == "00ut").expect("t");
    assert!(
        t["reason"].as_str().unwrap_or("").starts_with("title"),
        "the field is named: {t}"
    );

    let d = zenqms_user(&sim, "d@example.com").expect("d created");
    assert_eq!(d.external_id.as_deref(), Some("00ud"));
    assert_eq!(
        d.role_ids,
        vec![zenqms_sim::Id::Num(7)],
        "mapped role granted"
    );
    let a = zenqms_user(&sim, "a@example.com").expect("a");
    assert_eq!(a.role_ids, vec![zenqms_sim::Id::Num(7)]);
    assert_eq!(
        zenqms_user(&sim, "c@example.com").expect("c").title,
        "QA Specialist"
    );
    assert_eq!(
        zenqms_user(&sim, "e@example.com").expect("e").first_name,
        "Givene"
    );
    let b = zenqms_user(&sim, "b@example.com").expect("b");
    assert_eq!(
        b.external_id.as_deref(),
        Some("00uother"),
        "someone else's: untouched"
    );
    assert!(calls(&sim, "POST /v2/users/{id}/roles/add") >= 2);
    assert!(sim
        .sim
        .calls()
        .records("POST /v2/users")
        .any(|r| r.status == Some(201)));
    app.stop().await;
}

#[tokio::test]
async fn a_dry_run_writes_nothing_and_reports_what_the_run_does() {
    for mode in ["standard", "full"] {
        let sim = tenant_sim().await;
        let app = bridge(&sim, &[("SYNC_DRIFT_SWEEP_SECS", "0")]).await;
        push_paused(&app, &sim).await;
        let (sim_before, db_before) = (sim_picture(&sim), db_picture(&app));

        let dry = run_to_done(&app, mode, true).await;
        assert_eq!(dry["dry_run"], true);
        assert_eq!(sim_picture(&sim), sim_before, "{mode}: ZenQMS unchanged");
        assert_eq!(db_picture(&app), db_before, "{mode}: database unchanged");
        assert_eq!(
            call_keys(&sim),
            ["POST /v2/users/search"],
            "{mode}: reads only"
        );
        let planned = outcomes(&all_items(&app, dry["id"].as_str().expect("id")).await);

        let real = run_to_done(&app, mode, false).await;
        let applied = outcomes(&all_items(&app, real["id"].as_str().expect("id")).await);
        assert_eq!(
            planned, applied,
            "{mode}: the dry run's report is the run's"
        );
        assert_eq!(dry["counts"], real["counts"], "{mode}");
        app.stop().await;
    }
}

#[tokio::test]
async fn after_standard_resuming_sync_touches_nobody_until_okta_changes_them() {
    let sim = tenant_sim().await;
    let app = bridge(&sim, &[("SYNC_DRIFT_SWEEP_SECS", "0")]).await;
    let mut pushed = push_paused(&app, &sim).await;
    run_to_done(&app, "standard", false).await;
    let after_standard = sim_picture(&sim);
    sim.sim.reset_calls();

    let (s, body) = send(app.admin(Method::POST, "/sync/resume")).await;
    assert_eq!(s, 200, "{body}");
    housekeeping_rounds(&app, 3).await;
    // A role change enqueues the group's members (held ones included): still nothing.
    let (s, body) = send(
        app.admin(Method::POST, "/sync/retry")
            .json(&json!({"user_ids": [pushed.get("d").sid()]})),
    )
    .await;
    assert!(s == 202 || s == 200, "{s} {body}");
    settled(&app, T).await;
    assert_eq!(total_calls(&sim), 0, "{:?}", sim.sim.calls().counts);
    assert_eq!(
        sim_picture(&sim),
        after_standard,
        "nobody created, no profile changed"
    );

    // A change made by hand in ZenQMS to a held user: the drift sweep leaves it alone too.
    let a = zenqms_user(&sim, "a@example.com").expect("a");
    let res = reqwest::Client::new()
        .patch(format!("{}/v2/users/{}", sim.base_url, a.id))
        .bearer_auth(SIM_TOKEN)
        .json(&json!({"title": "Edited by hand"}))
        .send()
        .await
        .expect("sim call");
    assert_eq!(res.status().as_u16(), 200);
    let (s, started) = send(app.admin(Method::POST, "/sync/sweep")).await;
    assert_eq!(s, 202, "{started}");
    let at = started["started_at"].clone();
    eventually(T, || async {
        let sw = status(&app).await["drift_sweep"].clone();
        sw["running"] == false && sw["last_started_at"] == at && sw["last_finished_at"].is_string()
    })
    .await;
    settled(&app, T).await;
    assert!(
        calls(&sim, "POST /v2/users/search") >= 1,
        "the sweep read ZenQMS"
    );
    assert_eq!(
        calls(&sim, "PATCH /v2/users/{id}"),
        1,
        "only the edit by hand"
    );
    let a = zenqms_user(&sim, "a@example.com").expect("a");
    assert_eq!(a.title, "Edited by hand", "held: not restored");
    let (_, audit) = send(app.admin(Method::GET, "/audit?limit=1000")).await;
    assert!(
        !audit["entries"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["action"] == "sync.drift"),
        "the sweep does not even record drift of a held user"
    );

    // Okta changes a held user: the full rules apply to it (and only to it).
    let mut e = pushed.people.remove("e").expect("e");
    e.title = Some("Head of QA".into());
    push(&app, &mut e).await;
    wait_state(&app, e.sid(), "synced", T).await;
    eventually(T, || async {
        zenqms_user(&sim, "e@example.com").is_some_and(|u| u.title == "Head of QA")
    })
    .await;
    let zu = zenqms_user(&sim, "e@example.com").expect("e");
    assert_eq!(zu.first_name, "Givene", "its profile follows Okta now");
    assert_eq!(calls(&sim, "POST /v2/users"), 0, "linked: nothing created");
    // A held user Okta pushes for the first time is created by the same rule.
    let mut d = pushed.people.remove("d").expect("d");
    d.family = Some("Changed".into());
    push(&app, &mut d).await;
    wait_state(&app, d.sid(), "synced", T).await;
    let zd = zenqms_user(&sim, "d@example.com").expect("d created once Okta changed it");
    assert_eq!(zd.role_ids, vec![zenqms_sim::Id::Num(7)]);
    assert!(
        zenqms_user(&sim, "a@example.com")
            .expect("a")
            .role_ids
            .is_empty(),
        "a is still held"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_report_pages_filters_and_exports_csv() {
    let sim = tenant_sim().await;
    let app = bridge(&sim, &[("SYNC_DRIFT_SWEEP_SECS", "0")]).await;
    push_paused(&app, &sim).await;
    let run = run_to_done(&app, "standard", true).await;
    let id = run["id"].as_str().expect("id");

    let all = all_items(&app, id).await;
    assert_eq!(all.len(), 8, "three pages of 3, 3, 2");
    let seqs: Vec<i64> = all.iter().filter_map(|i| i["seq"].as_i64()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

    let (s, body) = send(app.admin(
        Method::GET,
        &format!("/initial-sync/{id}/items?outcome=conflict"),
    ))
    .await;
    assert_eq!(s, 200);
    assert_eq!(body["items"].as_array().map(Vec::len), Some(3));
    assert!(body["next_after"].is_null());

    let res = app
        .admin(
            Method::GET,
            &format!("/initial-sync/{id}/items?format=csv&limit=1000"),
        )
        .send()
        .await
        .expect("csv");
    assert_eq!(res.status().as_u16(), 200);
    assert!(res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/csv")));
    let text = res.text().await.expect("text");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "okta_id,email,outcome,zenqms_id,reason,user_id");
    assert_eq!(lines.len(), 9);
    assert!(lines
        .iter()
        .any(|l| l.starts_with("00ua,a@example.com,link,")));

    for bad in [
        "outcome=maybe",
        "outcome=",
        "format=",
        "limit=0",
        "format=xml",
        "after=x",
    ] {
        let (s, body) =
            send(app.admin(Method::GET, &format!("/initial-sync/{id}/items?{bad}"))).await;
        assert_eq!(s, 400, "{bad}: {body}");
        assert!(body["message"].is_string());
    }
    let (s, _) = send(app.admin(Method::GET, "/initial-sync/nope/items")).await;
    assert_eq!(s, 404);
    let (s, _) = send(app.admin(Method::GET, "/initial-sync/nope")).await;
    assert_eq!(s, 404);
    let (s, body) = send(app.admin(Method::GET, "/initial-sync")).await;
    assert_eq!(s, 200);
    assert_eq!(body["runs"][0]["id"], id);
    let (s, body) = send(
        app.admin(Method::POST, "/initial-sync")
            .json(&json!({"mode": "partial"})),
    )
    .await;
    assert_eq!(s, 400, "{body}");
    app.stop().await;
}

#[tokio::test]
async fn unlink_clears_the_external_ids_the_bridge_set() {
    let sim = tenant_sim().await;
    let app = bridge(&sim, &[("SYNC_DRIFT_SWEEP_SECS", "0")]).await;
    push_paused(&app, &sim).await;
    run_to_done(&app, "standard", false).await;
    sim.sim.reset_calls();

    let (s, dry) = send(
        app.admin(Method::POST, "/zenqms/unlink")
            .json(&json!({"dry_run": true})),
    )
    .await;
    assert_eq!(s, 200, "{dry}");
    // a and e (linked by the run) and c (found already linked, recorded as the bridge's).
    assert_eq!(dry["users"].as_array().map(Vec::len), Some(3), "{dry}");
    assert!(dry["users"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|u| u["result"] == "would_clear"));
    assert_eq!(total_calls(&sim), 0, "a dry run calls nobody");

    let (s, done) = send(
        app.admin(Method::POST, "/zenqms/unlink")
            .json(&json!({"dry_run": false})),
    )
    .await;
    assert_eq!(s, 200, "{done}");
    assert_eq!(done["cleared"], 3, "{done}");
    for email in ["a@example.com", "c@example.com", "e@example.com"] {
        assert_eq!(
            zenqms_user(&sim, email).expect("user").external_id,
            None,
            "{email}"
        );
    }
    assert_eq!(
        zenqms_user(&sim, "b@example.com")
            .expect("b")
            .external_id
            .as_deref(),
        Some("00uother"),
        "another identity's link: left alone"
    );
    assert_eq!(calls(&sim, "PATCH /v2/users/{id}"), 3);
    let (_, audit) = send(app.admin(Method::GET, "/audit?limit=1000")).await;
    assert!(audit["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|e| e["action"] == "zenqms.unlink" && e["detail"]["cleared"] == 3));
    app.stop().await;
}
