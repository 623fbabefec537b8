//! Reading the org for the initial sync against okta-sim: cursor paging across many pages
//! at 200 a page, DEPROVISIONED users left out, the scope groups' members only when set, and
//! the rate limit: slowing down near the bottom of the bucket, and after a `429` no call
//! before `X-Rate-Limit-Reset` (checked in the simulator's call log).

use std::collections::BTreeMap;

use okta_sim::{Generate, RateLimits, SimConfig, UserStatus};
use reqwest::Method;
use serde_json::json;

use crate::harness::{send, TestApp};
use crate::okta_support::*;

/// okta-sim with a generated org, and a bridge connected to it.
async fn connected(g: Generate) -> (okta_sim::RunningSim, TestApp) {
    let sim = start_sim(SimConfig {
        generate: Some(g),
        ..SimConfig::default()
    })
    .await;
    let app = TestApp::start().await;
    register(&sim, client_for(&app));
    connect(&app, &sim).await;
    sim.sim.reset_calls();
    (sim, app)
}

/// The org's users that a read brings (all but the DEPROVISIONED).
fn not_deprovisioned(sim: &okta_sim::RunningSim) -> usize {
    sim.sim
        .state()
        .users
        .iter()
        .filter(|u| u.status != UserStatus::Deprovisioned)
        .count()
}

#[actix_web::test]
async fn many_pages_are_read_200_at_a_time_without_deactivated_users() {
    let mut g = Generate::new(650, 3, 21);
    g.statuses = BTreeMap::from([(UserStatus::Deprovisioned, 0.1)]);
    let (sim, app) = connected(g).await;
    let mut seen = Vec::new();
    let snapshot = app
        .state
        .okta
        .read_org(|p| seen.push(p.users))
        .await
        .expect("read");
    let active = not_deprovisioned(&sim);
    assert_eq!(active, 585);
    assert_eq!(snapshot.users.len(), active);
    assert_eq!(snapshot.groups.len(), sim.sim.state().groups.len());
    let calls = sim.sim.calls();
    let pages: Vec<_> = calls.records("GET /api/v1/users").collect();
    assert_eq!(pages.len(), 3, "585 users at 200 a page");
    assert!(
        pages.iter().all(|c| c.query.contains("limit=200")),
        "{pages:?}"
    );
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]) && seen.len() >= 4,
        "progress after each page: {seen:?}"
    );
    // Every member listed is a user of the snapshot.
    let ids: std::collections::HashSet<_> = snapshot.users.iter().map(|u| &u.okta_id).collect();
    assert!(snapshot
        .groups
        .iter()
        .flat_map(|g| &g.members)
        .all(|m| ids.contains(m)));
    app.stop().await;
    sim.stop().await;
}

#[actix_web::test]
async fn scope_groups_limit_the_read_to_their_members() {
    let (sim, app) = connected(Generate::new(60, 4, 5)).await;
    let state = sim.sim.state();
    let group = state
        .groups
        .iter()
        .find(|g| g.profile.name != "Everyone")
        .expect("a group");
    let (s, body) = send(app.admin(Method::PUT, "/settings/okta").json(&json!({
        "org_url": format!("http://{}", sim.addr), "client_id": CLIENT_ID, "scope_group_ids": [group.id]
    })))
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        body["state"], "connected",
        "same org and client: still authorized"
    );
    let snapshot = app.state.okta.read_org(|_| {}).await.expect("read");
    assert_eq!(snapshot.groups.len(), 1);
    assert_eq!(snapshot.groups[0].okta_id, group.id);
    assert!(!snapshot.users.is_empty() && snapshot.users.len() < 60);
    assert_eq!(snapshot.users.len(), snapshot.groups[0].members.len());
    assert_eq!(
        sim.sim.calls().count("GET /api/v1/users"),
        0,
        "no read of the whole org"
    );
    app.stop().await;
    sim.stop().await;
}

#[actix_web::test]
async fn a_429_is_waited_out_until_reset() {
    let (sim, app) = connected(Generate::new(1000, 2, 3)).await;
    // A tiny bucket: 2 user calls a second; the read needs 5 pages.
    sim.sim
        .set_rate_limits(RateLimits {
            users: 2,
            window_ms: 1000,
            ..RateLimits::default()
        })
        .unwrap();
    // Another client of the org spends the bucket first: the bridge's first call is refused.
    for _ in 0..3 {
        let _ = reqwest::get(format!("{}/api/v1/users", sim.base_url)).await;
    }
    sim.sim.reset_calls();
    let snapshot = app
        .state
        .okta
        .read_org(|_| {})
        .await
        .expect("read despite the limit");
    let active = not_deprovisioned(&sim);
    assert!(active > 800);
    assert_eq!(snapshot.users.len(), active);
    let calls = sim.sim.calls();
    let users: Vec<_> = calls.records("GET /api/v1/users").collect();
    let pages_ok = users.iter().filter(|c| c.status == Some(200)).count();
    assert_eq!(pages_ok, 5);
    // Each call after a 429 went only once the window it was refused in had reset.
    for pair in users.windows(2) {
        if pair[0].status == Some(429) {
            let reset = pair[0].rate_limit.expect("headers on a 429").reset;
            assert!(
                pair[1].at.timestamp_millis() >= reset * 1000,
                "a call at {} before the reset at {reset}",
                pair[1].at
            );
        }
    }
    // The governor read the headers: at most the first refusal of a window, never a burst.
    let refused = users.iter().filter(|c| c.status == Some(429)).count();
    assert!((1..=2).contains(&refused), "{refused} refusals: {users:?}");
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("okta_calls_total{endpoint=\"GET /api/v1/users\",outcome=\"ok\"} 5"),
        "{metrics}"
    );
    app.stop().await;
    sim.stop().await;
}
