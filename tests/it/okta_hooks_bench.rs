//! Event-hook benchmarks (`#[ignore]`; numbers printed, no timed assertion; recorded in
//! `docs/event-hooks.md`):
//! (a) `POST /okta/events` answer time under 200 concurrent deliveries of 100 events;
//! (b) 1,000 events (one per Okta user) until every user exists in zenqms-sim.
//!
//! `cargo test --release --test it okta_hooks_bench -- --ignored --nocapture --test-threads=1`

use std::time::{Duration, Instant};

use okta_sim::NewUser;
use serde_json::{json, Value};
use zenqms_bridge::okta_hooks::{HookRecord, EVENT_TYPES};

use crate::harness::{eventually, TestDb};
use crate::okta_hooks_support::*;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn record_hook(app: &crate::harness::TestApp) {
    app.state
        .okta_hooks
        .set_hook(HookRecord {
            okta_hook_id: "whobench".into(),
            uri: app.url("/okta/events"),
            status: "ACTIVE".into(),
            verification_status: "VERIFIED".into(),
            events: EVENT_TYPES.iter().map(|t| t.to_string()).collect(),
            problem: None,
            secret: Some(HOOK_SECRET.into()),
        })
        .await
        .expect("hook");
}

#[tokio::test]
#[ignore]
async fn okta_hooks_bench_delivery_answer_time() {
    let Setup { okta, app, .. } = setup_on(TestDb::new(), fast()).await;
    record_hook(&app).await;
    let bodies: Vec<Vec<u8>> = (0..200)
        .map(|d| {
            let events: Vec<Value> = (0..100)
                .map(|e| {
                    log_event(
                        &format!("bench-{d}-{e}"),
                        "user.account.update_profile",
                        Some(&format!("00ubench{d}x{e}")),
                        None,
                    )
                })
                .collect();
            envelope(events).to_string().into_bytes()
        })
        .collect();
    let started = Instant::now();
    let posts = bodies.into_iter().map(|b| {
        let app = &app;
        async move {
            let t = Instant::now();
            let (s, _) = post_delivery(app, Some(HOOK_SECRET), b).await;
            assert_eq!(s, 204);
            t.elapsed()
        }
    });
    let mut times: Vec<Duration> = futures_util::future::join_all(posts).await;
    let wall = started.elapsed();
    times.sort();
    println!(
        "okta_hooks_bench (a) {} : 200 concurrent deliveries x 100 events: p50 {:?}, p99 {:?}, max {:?}, all answered in {:?}",
        if app.db.is_postgres() { "postgres" } else { "sqlite" },
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        times[times.len() - 1],
        wall
    );
    app.stop().await;
    okta.stop().await;
}

#[tokio::test]
#[ignore]
async fn okta_hooks_bench_events_to_zenqms() {
    let Setup { zenqms, okta, app } = setup_on(TestDb::new(), fast()).await;
    let ids: Vec<String> = (0..1000)
        .map(|i| {
            let n = format!("bench{i}");
            let profile = json!({"login": format!("{n}@example.com"), "email": format!("{n}@example.com"),
                "firstName": "Bench", "lastName": format!("User{i}")});
            okta.sim
                .create_user(NewUser {
                    profile: profile.as_object().cloned().unwrap_or_default(),
                    ..NewUser::default()
                })
                .expect("user")
                .id
        })
        .collect();
    record_hook(&app).await;
    let before = zenqms.sim.state().users.len();
    let started = Instant::now();
    for (d, chunk) in ids.chunks(100).enumerate() {
        let events: Vec<Value> = chunk
            .iter()
            .enumerate()
            .map(|(e, id)| {
                log_event(
                    &format!("e2e-{d}-{e}"),
                    "user.lifecycle.create",
                    Some(id),
                    None,
                )
            })
            .collect();
        let (s, _) = post_delivery(
            &app,
            Some(HOOK_SECRET),
            envelope(events).to_string().into_bytes(),
        )
        .await;
        assert_eq!(s, 204);
    }
    eventually(Duration::from_secs(600), || async {
        zenqms.sim.state().users.len() >= before + 1000
    })
    .await;
    println!(
        "okta_hooks_bench (b) {} : 1,000 events (10 deliveries of 100) to 1,000 users in zenqms-sim: {:?}",
        if app.db.is_postgres() { "postgres" } else { "sqlite" },
        started.elapsed()
    );
    app.stop().await;
    okta.stop().await;
}
