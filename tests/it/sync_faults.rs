//! ZenQMS misbehaving: outages, rate limits, pauses, and a connection given at run time.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::harness::{eventually, send, TestApp};
use crate::sim_support::*;

#[tokio::test]
async fn an_outage_loses_nothing_and_creates_nothing_twice() {
    let sim = start_sim(zenqms_sim::SimConfig {
        faults: zenqms_sim::Faults {
            outage: true,
            ..Default::default()
        },
        ..zenqms_sim::SimConfig::new(SIM_TOKEN)
    })
    .await;
    let app = bridge(&sim, &[]).await;
    let mut people: Vec<Person> = (0..200).map(|i| Person::new(&format!("out{i}"))).collect();
    for p in people.iter_mut() {
        push(&app, p).await;
    }
    // Some fail at least once while ZenQMS is down; change half of them meanwhile.
    eventually(Duration::from_secs(20), || async {
        calls(&sim, "POST /v2/users") >= 50
    })
    .await;
    for p in people.iter_mut().step_by(2) {
        p.title = Some("Changed During Outage".into());
        push(&app, p).await;
    }
    let st = status(&app).await;
    assert_eq!(st["counts"]["pending"], 200, "{st}");
    assert_eq!(st["zenqms"]["connectivity"], "unreachable", "{st}");
    sim.sim.set_faults(zenqms_sim::Faults::default()).unwrap();
    settled(&app, Duration::from_secs(60)).await;

    let state = sim.sim.state();
    assert_eq!(state.users.len(), 200);
    for p in &people {
        let z = state
            .user_by_external_id(p.external_id.as_deref().unwrap())
            .expect("exists");
        assert_eq!(Some(z.title.clone()), p.title, "{}", p.user_name);
    }
    let created = sim
        .sim
        .calls()
        .records("POST /v2/users")
        .filter(|r| r.status == Some(201))
        .count();
    assert_eq!(created, 200, "one create per user");
    assert_eq!(status(&app).await["counts"]["synced"], 200);

    // Nothing left to do: no call at all over the next housekeeping rounds.
    sim.sim.reset_calls();
    housekeeping_rounds(&app, 3).await;
    assert_eq!(total_calls(&sim), 0, "{:?}", sim.sim.calls().counts);
    app.stop().await;
}

#[tokio::test]
async fn a_429_stops_every_worker_until_retry_after() {
    let retry_after = 3.0;
    let sim = start_sim(zenqms_sim::SimConfig {
        faults: zenqms_sim::Faults {
            rate_limit_rps: Some(8),
            retry_after_s: Some(retry_after as u64),
            ..Default::default()
        },
        ..zenqms_sim::SimConfig::new(SIM_TOKEN)
    })
    .await;
    let app = bridge(&sim, &[("SYNC_WORKERS", "4")]).await;
    for i in 0..24 {
        push(&app, &mut Person::new(&format!("rl{i}"))).await;
    }
    settled(&app, Duration::from_secs(60)).await;
    assert_eq!(sim.sim.state().users.len(), 24);
    let log = sim.sim.calls().log;
    let limited: Vec<f64> = log
        .iter()
        .filter(|r| r.status == Some(429))
        .map(|r| r.at_ms)
        .collect();
    assert!(!limited.is_empty(), "the test must provoke a 429");
    // Calls already on the wire when the first 429 came back may still arrive; nothing
    // sent after it may, until Retry-After has passed.
    // Generous, so a loaded machine that delays a call already sent cannot fail the test;
    // Retry-After (3 s) is well above it, so a worker that ignored it would still be caught.
    let in_flight_ms = 1000.0;
    for t in &limited {
        let early: Vec<_> = log
            .iter()
            .filter(|r| r.at_ms > t + in_flight_ms && r.at_ms < t + retry_after * 1000.0)
            .collect();
        assert!(
            early.is_empty(),
            "calls before Retry-After elapsed after the 429 at {t} ms: {early:?}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn pause_stops_calls_and_resume_drains_the_backlog() {
    let sim = sim().await;
    let app = bridge(&sim, &[]).await;
    let (s, body) = send(app.admin(Method::POST, "/sync/pause")).await;
    assert_eq!((s, &body["paused"]), (200, &json!(true)), "{body}");
    for i in 0..5 {
        push(&app, &mut Person::new(&format!("p{i}"))).await;
    }
    housekeeping_rounds(&app, 3).await;
    assert_eq!(total_calls(&sim), 0, "paused: no call");
    let st = status(&app).await;
    assert_eq!(
        (&st["paused"], &st["counts"]["pending"]),
        (&json!(true), &json!(5)),
        "{st}"
    );
    let (s, _) = send(app.admin(Method::POST, "/sync/resume")).await;
    assert_eq!(s, 200);
    settled(&app, Duration::from_secs(10)).await;
    assert_eq!(sim.sim.state().users.len(), 5);
    let (_, audit) = send(app.admin(Method::GET, "/audit?limit=1000")).await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"sync.pause") && actions.contains(&"sync.resume"),
        "{actions:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn without_a_connection_scim_queues_and_a_verified_connection_drains_it() {
    let sim = sim().await;
    let app = TestApp::start_with(&[("SYNC_BACKOFF_CAP_SECS", "1")]).await;
    let st = status(&app).await;
    assert_eq!(
        (&st["configured"], &st["zenqms"]["state"]),
        (&json!(false), &json!("not configured")),
        "{st}"
    );
    let mut q1 = Person::new("q1");
    push(&app, &mut q1).await;
    eventually(Duration::from_secs(5), || async {
        status(&app).await["counts"]["pending"] == 1
    })
    .await;

    let (s, body) = send(
        app.admin(Method::PUT, "/settings/zenqms")
            .json(&json!({"base_url": sim.base_url, "api_token": "wrong-token"})),
    )
    .await;
    assert_eq!(s, 422, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("refused the API token"),
        "{body}"
    );
    let (s, body) = send(
        app.admin(Method::PUT, "/settings/zenqms")
            .json(&json!({"base_url": "http://127.0.0.1:9", "api_token": "x"})),
    )
    .await;
    assert_eq!(s, 502, "{body}");
    let (_, got) = send(app.admin(Method::GET, "/settings/zenqms")).await;
    assert_eq!(got["configured"], false, "nothing saved: {got}");

    sim.sim.reset_calls();
    let (s, body) = send(
        app.admin(Method::PUT, "/settings/zenqms")
            .json(&json!({"base_url": sim.base_url, "api_token": SIM_TOKEN})),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        sim.sim.calls().count("GET /v2/roles"),
        1,
        "verified with one GET /v2/roles"
    );
    assert!(!body.to_string().contains(SIM_TOKEN), "{body}");
    let (_, got) = send(app.admin(Method::GET, "/settings/zenqms")).await;
    assert_eq!(
        (&got["source"], &got["api_token_set"], &got["updated_by"]),
        (&json!("settings"), &json!(true), &json!("test-admin")),
        "{got}"
    );
    assert!(!got.to_string().contains(SIM_TOKEN));
    {
        use diesel::prelude::*;
        use zenqms_bridge::store::schema::settings;
        let mut conn = app.state.pool.get().unwrap();
        let stored: Vec<String> = settings::table
            .select(settings::value)
            .load(&mut *conn)
            .unwrap();
        assert!(
            stored.iter().all(|v| !v.contains(SIM_TOKEN)),
            "token stored encrypted"
        );
    }
    settled(&app, Duration::from_secs(10)).await;
    assert_eq!(sim.sim.state().users.len(), 1);
    let st = status(&app).await;
    assert_eq!(
        (&st["zenqms"]["connectivity"], &st["zenqms"]["source"]),
        (&json!("ok"), &json!("settings")),
        "{st}"
    );

    // Every call is in the audit log (actor `system`) and counted in /metrics.
    let (_, audit) = send(app.admin(Method::GET, "/audit?limit=1000")).await;
    let entries = audit["entries"].as_array().unwrap();
    let create = entries
        .iter()
        .find(|e| e["action"] == "zenqms.user.create")
        .expect("create audited");
    assert_eq!(
        (&create["actor"], &create["target_id"]),
        (&json!("system"), &json!(q1.sid())),
        "{create}"
    );
    assert_eq!(create["detail"]["status"], 201);
    assert!(entries
        .iter()
        .any(|e| e["action"] == "settings.zenqms.update"
            && e["actor"] == "test-admin"
            && e["outcome"] == "success"));
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "settings.zenqms.update" && e["outcome"] == "failure"),
        "refused connections are audited too"
    );
    assert!(!audit.to_string().contains(SIM_TOKEN));
    let text = app.metrics().await;
    assert!(
        text.contains(
            r#"zenqms_bridge_zenqms_calls_total{endpoint="POST /v2/users",outcome="ok"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"zenqms_bridge_zenqms_calls_total{endpoint="GET /v2/roles",outcome="auth"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"zenqms_bridge_sync_users{state="synced"} 1"#),
        "{text}"
    );
    app.stop().await;
}

#[tokio::test]
async fn errors_and_hangs_past_the_timeout_are_retried_until_everyone_converges() {
    let sim = start_sim(zenqms_sim::SimConfig {
        faults: zenqms_sim::Faults {
            error_rate: 0.3,
            hang_rate: 0.2,
            hang_ms: 3000,
            ..Default::default()
        },
        ..zenqms_sim::SimConfig::new(SIM_TOKEN)
    })
    .await;
    let app = bridge(&sim, &[("ZENQMS_REQUEST_TIMEOUT_MS", "200")]).await;
    let mut people: Vec<Person> = (0..30).map(|i| Person::new(&format!("f{i}"))).collect();
    for p in people.iter_mut() {
        push(&app, p).await;
    }
    settled(&app, Duration::from_secs(60)).await;
    let state = sim.sim.state();
    assert_eq!(state.users.len(), 30);
    for p in &people {
        assert!(state
            .user_by_external_id(p.external_id.as_deref().unwrap())
            .is_some());
    }
    let text = app.metrics().await;
    assert!(
        text.contains(r#"outcome="timeout""#) && text.contains(r#"outcome="server_error""#),
        "{text}"
    );
    app.stop().await;
}
