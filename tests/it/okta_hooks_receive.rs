//! The receiving end of Okta event hooks (`okta_hooks`, `POST|GET /okta/events`): the hook's
//! record and secret, deliveries stored once and processed from the Okta API's current state,
//! against okta-sim and zenqms-sim, on both databases.

use zenqms_bridge::okta_hooks::HookRecord;

use crate::harness::TestApp;

fn record(secret: Option<&str>) -> HookRecord {
    HookRecord {
        okta_hook_id: "who1".into(),
        uri: "https://bridge.example.com/okta/events".into(),
        status: "ACTIVE".into(),
        verification_status: "UNVERIFIED".into(),
        events: vec!["user.lifecycle.create".into()],
        problem: None,
        secret: secret.map(str::to_string),
    }
}

#[tokio::test]
async fn the_hook_record_keeps_only_the_secrets_hash_and_matches_it() {
    let app = TestApp::start().await;
    let hooks = &app.state.okta_hooks;
    assert_eq!(hooks.hook().await.expect("hook"), None);
    assert!(!hooks.secret_matches("anything").await.expect("match"));
    assert!(
        hooks.set_hook(record(None)).await.is_err(),
        "a first record without a secret is refused"
    );

    let saved = hooks
        .set_hook(record(Some("first-secret")))
        .await
        .expect("set");
    assert_eq!(saved.okta_hook_id, "who1");
    assert_eq!(saved.events, vec!["user.lifecycle.create".to_string()]);
    assert!(hooks.secret_matches("first-secret").await.expect("match"));
    assert!(!hooks.secret_matches("first-secreT").await.expect("match"));
    assert!(!format!("{:?}", record(Some("first-secret"))).contains("first-secret"));

    // A status change keeps the secret; a new secret replaces it.
    let mut verified = record(None);
    verified.verification_status = "VERIFIED".into();
    let saved = hooks.set_hook(verified).await.expect("set");
    assert_eq!(saved.verification_status, "VERIFIED");
    assert!(hooks.secret_matches("first-secret").await.expect("match"));
    hooks
        .set_hook(record(Some("second-secret")))
        .await
        .expect("set");
    assert!(!hooks.secret_matches("first-secret").await.expect("match"));
    assert!(hooks.secret_matches("second-secret").await.expect("match"));

    let stats = hooks.stats().await.expect("stats");
    assert_eq!((stats.deliveries, stats.events_applied), (0, 0));
    assert_eq!(stats.last_delivery_at, None);

    assert!(hooks.forget_hook().await.expect("forget"));
    assert!(!hooks.forget_hook().await.expect("forget"));
    assert!(!hooks.secret_matches("second-secret").await.expect("match"));
    app.stop().await;
}

use std::collections::HashSet;

use diesel::prelude::*;
use okta_sim::{DeliveryOutcome, HookDelivery, Lifecycle, NewGroup};
use reqwest::Method;
use serde_json::{json, Value};
use zenqms_bridge::store::schema::{okta_hook_deliveries, okta_hook_events};
use zenqms_sim::{Id, Status};

use crate::harness::{eventually, send, TestDb};
use crate::mapping_support::map_group;
use crate::okta_hooks_support::*;
use crate::okta_support::{group_named, new_user, zenqms_until};
use crate::sim_support::{bridge_on, settled, total_calls};

/// `(uuid, state, attempts)` of every stored event.
fn stored_events(app: &TestApp) -> Vec<(String, String, i32)> {
    let mut conn = app.state.pool.get().expect("conn");
    okta_hook_events::table
        .select((
            okta_hook_events::uuid,
            okta_hook_events::state,
            okta_hook_events::attempts,
        ))
        .load(&mut *conn)
        .expect("events")
}

/// `(event type, error)` of the failed events.
fn failed_events(app: &TestApp) -> Vec<(String, Option<String>)> {
    let mut conn = app.state.pool.get().expect("conn");
    okta_hook_events::table
        .filter(okta_hook_events::state.eq("failed"))
        .select((okta_hook_events::event_type, okta_hook_events::error))
        .load(&mut *conn)
        .expect("events")
}

fn stored_deliveries(app: &TestApp) -> i64 {
    let mut conn = app.state.pool.get().expect("conn");
    okta_hook_deliveries::table
        .count()
        .get_result(&mut *conn)
        .expect("deliveries")
}

/// Waits until no stored event is pending.
async fn processed(app: &TestApp) {
    eventually(WAIT, || async {
        stored_events(app)
            .iter()
            .all(|(_, state, _)| state != "pending")
    })
    .await;
}

/// The value of `zenqms_bridge_okta_hook_deliveries_total{outcome=…}` (0 when absent).
async fn delivery_metric(app: &TestApp, outcome: &str) -> u64 {
    let text = app.metrics().await;
    let prefix = format!("zenqms_bridge_okta_hook_deliveries_total{{outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn the_secret_guards_both_routes_and_bad_deliveries_change_nothing() {
    let Setup { okta, app, .. } = setup_on(TestDb::new(), fast()).await;
    register_hook(&okta, &app).await;

    // Verification: only with the secret.
    let challenge = |secret: Option<&str>| {
        let mut req = app
            .raw(Method::GET, "/okta/events")
            .header("X-Okta-Verification-Challenge", "chal-123");
        if let Some(s) = secret {
            req = req.header("Authorization", s);
        }
        send(req)
    };
    assert_eq!(
        challenge(Some(HOOK_SECRET)).await,
        (200, json!({"verification": "chal-123"}))
    );
    for secret in [None, Some("wrong"), Some(&HOOK_SECRET[1..])] {
        let (s, body) = challenge(secret).await;
        assert_eq!(s, 401, "{body}");
        assert_eq!(body["error"], "unauthorized", "{body}");
        assert!(body["message"].is_string());
    }

    // A well-formed delivery without the secret: 401, nothing stored.
    let good = envelope(vec![log_event(
        "u-1",
        "user.lifecycle.create",
        Some("00ua"),
        None,
    )]);
    for secret in [None, Some("Bearer nope")] {
        let (s, body) = post_delivery(&app, secret, good.to_string().into_bytes()).await;
        assert_eq!(s, 401, "{body}");
    }
    assert_eq!(delivery_metric(&app, "unauthorized").await, 2);

    // Malformed: 400, counted, nothing stored.
    for bad in [
        &b"{not json"[..],
        b"[]",
        br#"{"data":{"events":[{"uuid":"x"}]}}"#,
    ] {
        let (s, body) = post_delivery(&app, Some(HOOK_SECRET), bad.to_vec()).await;
        assert_eq!(s, 400, "{body}");
        assert_eq!(body["error"], "bad_request", "{body}");
    }
    assert_eq!(delivery_metric(&app, "malformed").await, 3);

    // Too large: the body, and the number of events.
    let huge = vec![b' '; zenqms_bridge::okta_events::MAX_BODY_BYTES + 1];
    let (s, body) = post_delivery(&app, Some(HOOK_SECRET), huge).await;
    assert_eq!(s, 413, "{body}");
    let many: Vec<Value> = (0..=1000)
        .map(|i| {
            log_event(
                &format!("m-{i}"),
                "user.lifecycle.create",
                Some("00ua"),
                None,
            )
        })
        .collect();
    let (s, body) = post_delivery(
        &app,
        Some(HOOK_SECRET),
        envelope(many).to_string().into_bytes(),
    )
    .await;
    assert_eq!(s, 413, "{body}");
    assert_eq!(delivery_metric(&app, "too_large").await, 2);
    assert_eq!(stored_deliveries(&app), 0);
    assert!(stored_events(&app).is_empty());

    // An event type the bridge does not follow: stored as ignored, counted.
    let other = envelope(vec![log_event(
        "o-1",
        "user.session.start",
        Some("00ua"),
        None,
    )]);
    let (s, body) = post_delivery(&app, Some(HOOK_SECRET), other.to_string().into_bytes()).await;
    assert_eq!((s, body), (204, Value::Null));
    assert_eq!(delivery_metric(&app, "accepted").await, 1);
    let stats = app.state.okta_hooks.stats().await.expect("stats");
    assert_eq!(
        (stats.deliveries, stats.events_ignored, stats.events_pending),
        (1, 1, 0)
    );
    assert!(stats.last_delivery_at.is_some());
    app.stop().await;
    okta.stop().await;
}

#[tokio::test]
async fn every_event_type_from_okta_converges_in_zenqms() {
    let Setup { zenqms, okta, app } = setup_on(TestDb::new(), fast()).await;
    register_hook(&okta, &app).await;

    // user.lifecycle.create / activate: provisioned.
    let n = okta.sim.create_user(new_user("n")).expect("created");
    let z = zenqms_until(&zenqms, "n@example.com", |u| u.status == Status::Active).await;
    assert_eq!(z.external_id.as_deref(), Some(n.id.as_str()));

    // user.account.update_profile.
    let mut p = serde_json::Map::new();
    p.insert("firstName".into(), json!("Nora"));
    okta.sim.update_profile(&n.id, p).expect("updated");
    zenqms_until(&zenqms, "n@example.com", |u| u.first_name == "Nora").await;

    // suspend / unsuspend / deactivate / reactivate.
    for (op, want) in [
        (Lifecycle::Suspend, Status::Disabled),
        (Lifecycle::Unsuspend, Status::Active),
        (Lifecycle::Deactivate, Status::Disabled),
        (Lifecycle::Reactivate, Status::Active),
    ] {
        okta.sim.lifecycle(&n.id, op).expect("lifecycle");
        zenqms_until(&zenqms, "n@example.com", |u| u.status == want).await;
    }

    // group.lifecycle.create: the group is mirrored.
    let ops = okta
        .sim
        .create_group(NewGroup {
            name: "Ops".into(),
            description: None,
            group_type: None,
        })
        .expect("group");
    eventually(WAIT, || async { group_named(&app, "Ops").await.is_some() }).await;
    let g = group_named(&app, "Ops").await.expect("Ops");
    assert_eq!(g["externalId"], ops.id.as_str());
    map_group(&app, g["id"].as_str().expect("id"), &["7"]).await;

    // group.user_membership.add / remove: the mapped role comes and goes.
    okta.sim.add_member(&ops.id, &n.id).expect("added");
    zenqms_until(&zenqms, "n@example.com", |u| {
        u.role_ids.contains(&Id::Num(7))
    })
    .await;
    okta.sim.remove_member(&ops.id, &n.id).expect("removed");
    zenqms_until(&zenqms, "n@example.com", |u| {
        !u.role_ids.contains(&Id::Num(7))
    })
    .await;

    // group.profile.update: renamed; group.lifecycle.delete: gone.
    okta.sim
        .update_group(&ops.id, Some("Operations".into()), None)
        .expect("renamed");
    eventually(WAIT, || async {
        group_named(&app, "Operations").await.is_some()
    })
    .await;
    okta.sim.delete_group(&ops.id).expect("deleted");
    eventually(WAIT, || async {
        group_named(&app, "Operations").await.is_none()
    })
    .await;

    processed(&app).await;
    let delivered: Vec<_> = okta.sim.deliveries();
    assert!(
        delivered
            .iter()
            .all(|d| d.outcome == DeliveryOutcome::Delivered),
        "{delivered:?}"
    );
    let types: HashSet<String> = delivered
        .iter()
        .flat_map(|d| d.event_types.clone())
        .collect();
    for t in zenqms_bridge::okta_hooks::EVENT_TYPES {
        assert!(types.contains(t), "okta-sim delivered no {t}: {types:?}");
    }
    let stats = app.state.okta_hooks.stats().await.expect("stats");
    assert_eq!(
        stats.events_failed,
        0,
        "{stats:?} {:?}",
        failed_events(&app)
    );
    assert_eq!(stats.deliveries, delivered.len() as i64);
    assert!(stats.events_applied >= 12, "{stats:?}");
    app.stop().await;
    okta.stop().await;
}

#[tokio::test]
async fn duplicate_and_reordered_deliveries_apply_each_event_once_and_converge() {
    let Setup { zenqms, okta, app } = setup_on(
        TestDb::new(),
        HookDelivery {
            duplicate_rate: 1.0,
            reorder: true,
            reorder_hold_ms: 2_000,
            ..fast()
        },
    )
    .await;
    register_hook(&okta, &app).await;

    // The create's delivery is held back until the profile update's has been sent: the
    // profile event arrives first, then the create, each twice.
    let p = okta.sim.create_user(new_user("p")).expect("created");
    eventually(WAIT, || async { !okta.sim.deliveries().is_empty() }).await;
    let mut profile = serde_json::Map::new();
    profile.insert("firstName".into(), json!("Late"));
    okta.sim.update_profile(&p.id, profile).expect("updated");
    let z = zenqms_until(&zenqms, "p@example.com", |u| u.first_name == "Late").await;
    assert_eq!(z.external_id.as_deref(), Some(p.id.as_str()));
    eventually(WAIT, || async {
        let d = okta.sim.deliveries();
        d.len() >= 4 && d.iter().all(|d| d.outcome == DeliveryOutcome::Delivered)
    })
    .await;
    let delivered = okta.sim.deliveries();
    assert!(delivered.iter().any(|d| d.reordered), "{delivered:?}");
    assert!(
        delivered.iter().any(|d| d.duplicate_of.is_some()),
        "{delivered:?}"
    );
    processed(&app).await;
    settled(&app, WAIT).await;

    // Every uuid stored once, each processed once.
    let uuids: HashSet<String> = delivered
        .iter()
        .flat_map(|d| d.event_uuids.clone())
        .collect();
    let events = stored_events(&app);
    assert_eq!(events.len(), uuids.len());
    assert!(
        events
            .iter()
            .all(|(u, state, attempts)| uuids.contains(u) && state == "applied" && *attempts == 1),
        "{events:?}"
    );
    assert_eq!(stored_deliveries(&app), delivered.len() as i64);

    // The same events again: accepted, nothing applied twice, no ZenQMS call.
    let calls = total_calls(&zenqms);
    let again: Vec<Value> = uuids
        .iter()
        .map(|u| log_event(u, "user.account.update_profile", Some(&p.id), None))
        .collect();
    let (s, _) = post_delivery(
        &app,
        Some(HOOK_SECRET),
        envelope(again).to_string().into_bytes(),
    )
    .await;
    assert_eq!(s, 204);
    assert_eq!(stored_events(&app).len(), uuids.len());
    processed(&app).await;
    settled(&app, WAIT).await;
    assert_eq!(
        total_calls(&zenqms),
        calls,
        "a duplicate made a ZenQMS call"
    );
    app.stop().await;
    okta.stop().await;
}

#[tokio::test]
async fn two_bridges_on_one_database_apply_each_event_once() {
    let Setup { zenqms, okta, app } = setup_on(TestDb::new(), fast()).await;
    let second = bridge_on(
        app.db.share(),
        &zenqms,
        &[
            ("SYNC_DRIFT_SWEEP_SECS", "0"),
            ("SECRET_KEY", crate::okta_support::SECRET_KEY),
        ],
    )
    .await;
    // Users made before the hook exists: no delivery from okta-sim; the test delivers.
    let users: Vec<String> = (0..12)
        .map(|i| {
            okta.sim
                .create_user(new_user(&format!("t{i}")))
                .expect("user")
                .id
        })
        .collect();
    register_hook(&okta, &app).await;
    // Each user's create and activate in two deliveries, one to each bridge, all at once.
    let mut posts = Vec::new();
    for (i, id) in users.iter().enumerate() {
        for (k, t) in ["user.lifecycle.create", "user.lifecycle.activate"]
            .iter()
            .enumerate()
        {
            let body = envelope(vec![log_event(&format!("two-{i}-{k}"), t, Some(id), None)]);
            let target = if (i + k) % 2 == 0 { &app } else { &second };
            posts.push(post_delivery(
                target,
                Some(HOOK_SECRET),
                body.to_string().into_bytes(),
            ));
        }
    }
    for (s, body) in futures_util::future::join_all(posts).await {
        assert_eq!(s, 204, "{body}");
    }
    processed(&app).await;
    let events = stored_events(&app);
    assert_eq!(events.len(), 24);
    // Each event claimed by one bridge; a write that lost a race with the other bridge
    // following the same user is tried again (more attempts), never failed nor doubled.
    assert!(
        events
            .iter()
            .all(|(_, state, attempts)| state == "applied" && *attempts >= 1),
        "{events:?}"
    );
    for i in 0..12 {
        zenqms_until(&zenqms, &format!("t{i}@example.com"), |u| {
            u.status == Status::Active
        })
        .await;
    }
    let creates = zenqms
        .sim
        .state()
        .users
        .iter()
        .filter(|u| u.email.starts_with('t') && u.email.ends_with("@example.com"))
        .count();
    assert_eq!(creates, 12);
    second.stop().await;
    app.stop().await;
    okta.stop().await;
}
