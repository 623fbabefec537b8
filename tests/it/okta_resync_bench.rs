//! The periodic Okta re-read's benchmark (issue 11, measurement (c)), ignored by default; run
//! it on purpose, in release, on each database:
//!
//! ```sh
//! cargo test --release --test it okta_resync_bench -- --ignored --nocapture
//! TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!   cargo test --release --test it okta_resync_bench -- --ignored --nocapture
//! ```
//!
//! okta-sim holds 10,000 users in 50 groups (each user in one; every group a scope group;
//! 50 ms latency per call), last changed long ago; a Standard initial sync mirrors them into
//! the directory (an empty ZenQMS tenant: nobody is created, everybody is held) and a first
//! re-read sets the marks. Then 100 users change their title in Okta, and the re-read that
//! follows is measured: the Okta calls it made (okta-sim's call log) and its wall time (the
//! status's start and finish, and the admin's `POST` until the status shows it finished).
//! Numbers are printed, not asserted; what the re-read did is asserted: the 100 changes reach
//! zenqms-sim (each user's change ends its hold, so it is created there with the new title).
//! `BENCH_USERS` and `BENCH_CHANGED` shrink it.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use okta_sim::{generated_seed, Generate, SimConfig as OktaConfig};
use reqwest::Method;
use serde_json::{json, Map, Value};

use crate::harness::{eventually, send, TestApp};
use crate::initial_sync_support::{connected, run_of, start, zenqms_user};
use crate::okta_resync::resync;
use crate::okta_support::{client_for, connect, start_sim as start_okta, CLIENT_ID, CLIENT_SECRET};
use crate::sim_support::*;

const LATENCY_MS: u64 = 50;
/// The initial sync of 10,000 users may take minutes (a failure bound, not a timing).
const LONG: Duration = Duration::from_secs(1800);

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The generated org with every group's timestamps a year back (a seed's default is the
/// moment of seeding, which a re-read within its 5-minute overlap would list as changed).
fn org(users: usize) -> okta_sim::Seed {
    let mut g = Generate::new(users, 50, 11);
    g.statuses = Default::default();
    g.without_title = 0.0;
    g.min_groups = 1;
    g.max_groups = 1;
    let now = Utc::now();
    let mut seed = generated_seed(&g, now).expect("generated org");
    let long_ago: DateTime<Utc> = now - chrono::TimeDelta::days(365);
    for (i, group) in seed.groups.iter_mut().enumerate() {
        group.id = Some(format!("00gbench{i:04}"));
        group.last_updated = Some(long_ago);
        group.last_membership_updated = Some(long_ago);
    }
    // Users changed in the last minutes would be listed by the overlap: none are.
    for user in &mut seed.users {
        user.created = Some(long_ago - chrono::TimeDelta::days(30));
        user.last_updated = Some(long_ago);
    }
    seed
}

/// Starts a re-read and waits for its end; returns the status and the time from the `POST`
/// to the status showing it finished.
async fn timed_resync(app: &TestApp) -> (Value, f64) {
    let t = Instant::now();
    let r = resync(app).await;
    (r, t.elapsed().as_secs_f64())
}

fn seconds_between(r: &Value) -> f64 {
    let at = |k: &str| {
        r[k].as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .expect("a timestamp")
    };
    (at("last_finished_at") - at("last_started_at"))
        .num_microseconds()
        .unwrap_or(0) as f64
        / 1e6
}

#[tokio::test]
#[ignore = "benchmark: cargo test --release --test it okta_resync_bench -- --ignored --nocapture"]
async fn okta_resync_bench_100_changed_of_10k() {
    let (n, changed) = (env_or("BENCH_USERS", 10_000), env_or("BENCH_CHANGED", 100));
    let seed = org(n);
    let scope: Vec<String> = seed.groups.iter().filter_map(|g| g.id.clone()).collect();
    let okta = start_okta(OktaConfig {
        seed: Some(seed),
        faults: okta_sim::Faults {
            latency_ms: LATENCY_MS,
            ..Default::default()
        },
        ..OktaConfig::default()
    })
    .await;
    let zenqms = start_sim(zenqms_sim::SimConfig::new(SIM_TOKEN)).await;
    let app = bridge(
        &zenqms,
        &[
            ("SYNC_DRIFT_SWEEP_SECS", "0"),
            ("OKTA_RESYNC_SECS", "0"),
            ("RUST_LOG", "warn"),
        ],
    )
    .await;
    crate::okta_support::register(&okta, client_for(&app));
    connect(&app, &okta).await;
    assert_eq!(scope.len(), 50, "every group is a scope group");
    let (s, body) = send(app.admin(Method::PUT, "/settings/okta").json(&json!({
        "org_url": format!("http://{}/", okta.addr),
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scope_group_ids": scope,
    })))
    .await;
    assert_eq!(s, 200, "{body}");
    connected(&app).await;

    // The starting point: a Standard initial sync, then a first re-read (the marks).
    let run = start(&app, "standard", false).await;
    let id = run["id"].as_str().unwrap_or_default().to_string();
    eventually(LONG, || async {
        !["reading_okta", "reading_zenqms", "applying"]
            .contains(&run_of(&app, &id).await["state"].as_str().unwrap_or(""))
    })
    .await;
    let run = run_of(&app, &id).await;
    assert_eq!(run["state"], "done", "{run}");
    let first = resync(&app).await;
    assert_eq!(first["last_outcome"], "completed", "{first}");

    // `changed` users change in Okta (no event hook: only the re-read can bring them).
    let users: Vec<String> = okta
        .sim
        .state()
        .users
        .iter()
        .step_by((n / changed.max(1)).max(1))
        .take(changed)
        .map(|u| u.id.clone())
        .collect();
    assert_eq!(users.len(), changed);
    for (i, u) in users.iter().enumerate() {
        let mut p = Map::new();
        p.insert("title".into(), json!(format!("Changed {i}")));
        okta.sim.update_profile(u, p).expect("profile");
    }
    okta.sim.reset_calls();

    let (r, posted_to_finished) = timed_resync(&app).await;
    let calls = okta.sim.calls();
    let api: Vec<_> = calls
        .log
        .iter()
        .filter(|c| c.path.starts_with("/api/v1/"))
        .collect();
    let db = if app.db.is_postgres() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let by_endpoint: Vec<String> = calls
        .counts
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    println!(
        "BENCH okta resync ({db}): {n} users, {changed} changed: {} Okta API calls ({} in all: {}); \
         re-read {:.2} s (status start to finish), {:.2} s from the POST to the status showing it done; \
         users_read {}, users_changed {}, groups_read {}, okta latency {LATENCY_MS} ms",
        api.len(),
        calls.total(),
        by_endpoint.join(", "),
        seconds_between(&r),
        posted_to_finished,
        r["users_read"],
        r["users_changed"],
        r["groups_read"],
    );
    assert_eq!(r["last_outcome"], "completed", "{r}");
    assert_eq!(r["errors"], 0, "{r}");
    assert_eq!(r["users_changed"], changed as i64, "{r}");

    // Each change reaches ZenQMS (the hold ends: the user is created with its new title).
    let t = Instant::now();
    let okta_users = okta.sim.state().users;
    for (i, u) in users.iter().enumerate() {
        let email = okta_users
            .iter()
            .find(|o| &o.id == u)
            .and_then(|o| o.profile.get("email").and_then(Value::as_str))
            .expect("email")
            .to_string();
        let title = format!("Changed {i}");
        eventually(LONG, || async {
            zenqms_user(&zenqms, &email).is_some_and(|z| z.title == title)
        })
        .await;
    }
    println!(
        "BENCH okta resync ({db}): the {changed} changes were in zenqms-sim {:.2} s after the re-read ended",
        t.elapsed().as_secs_f64()
    );
    app.stop().await;
    okta.stop().await;
}
