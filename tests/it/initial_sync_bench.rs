//! The initial sync's benchmark, ignored by default; run it on purpose, in release, one case at
//! a time (each takes about eight and a half minutes), on each database:
//!
//! ```sh
//! cargo test --release --test it initial_sync_bench -- --ignored --nocapture --test-threads 1
//! TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!   cargo test --release --test it initial_sync_bench -- --ignored --nocapture --test-threads 1
//! ```
//!
//! 10,000 Okta users in 50 groups (okta-sim: 50 ms latency, a 600-requests-per-minute bucket
//! per endpoint family), ZenQMS at 50 ms and 20 requests per second (zenqms-sim refuses with
//! `429` past that; the bridge's budget is `ZENQMS_MAX_RPS=20`):
//! - Standard with 10,000 existing ZenQMS users (the same emails): one search per 100 ZenQMS
//!   users and one `PATCH` per user;
//! - Full into an empty tenant: one search and one create per user (no role mappings).
//!
//! **The bound.** The run reads Okta, then ZenQMS, then applies, so the two budgets bound it as
//! `okta_calls × 50 ms` (the read is sequential and stays under the bucket: fewer than 600
//! calls a minute per family) `+ zenqms_calls ÷ 20 req/s`. Each case prints its time, both
//! terms, the ratio to their sum and to the larger term alone, and the `429`s of both sides.
//! Timings are printed, not asserted; what the run did is asserted. `BENCH_USERS` shrinks it.

use std::time::{Duration, Instant};

use okta_sim::{Generate, SimConfig as OktaConfig};
use serde_json::Value;
use zenqms_sim::SeedUser;

use crate::harness::TestApp;
use crate::initial_sync_support::{run_of, start};
use crate::okta_support::{client_for, connect, register, start_sim as start_okta};
use crate::sim_support::*;

const RPS: f64 = 20.0;
const LATENCY_MS: u64 = 50;

fn users() -> usize {
    std::env::var("BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

async fn okta_org(n: usize) -> okta_sim::RunningSim {
    let mut g = Generate::new(n, 50, 7);
    // Everybody active with a title, one group each: every user is in scope and applicable.
    g.statuses = Default::default();
    g.without_title = 0.0;
    g.min_groups = 1;
    g.max_groups = 1;
    start_okta(OktaConfig {
        generate: Some(g),
        faults: okta_sim::Faults {
            latency_ms: LATENCY_MS,
            ..Default::default()
        },
        ..OktaConfig::default()
    })
    .await
}

fn emails(okta: &okta_sim::RunningSim) -> Vec<String> {
    okta.sim
        .state()
        .users
        .iter()
        .filter_map(|u| u.profile.get("email").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

async fn zenqms_with(existing: &[String]) -> zenqms_sim::RunningSim {
    let users = existing
        .iter()
        .map(|e| SeedUser::new(e, "Old", "Name", "QA Specialist"))
        .collect();
    start_sim(zenqms_sim::SimConfig {
        seed: Some(zenqms_sim::Seed {
            users,
            ..Default::default()
        }),
        faults: zenqms_sim::Faults {
            latency_ms: LATENCY_MS,
            rate_limit_rps: Some(RPS as u32),
            ..Default::default()
        },
        ..zenqms_sim::SimConfig::new(SIM_TOKEN)
    })
    .await
}

async fn bridge_for(zenqms: &zenqms_sim::RunningSim, okta: &okta_sim::RunningSim) -> TestApp {
    let app = bridge(
        zenqms,
        &[
            ("ZENQMS_MAX_RPS", "20"),
            ("SYNC_WORKERS", "4"),
            ("SYNC_DRIFT_SWEEP_SECS", "0"),
            ("ZENQMS_REQUEST_TIMEOUT_MS", "30000"),
            ("RUST_LOG", "warn"),
        ],
    )
    .await;
    register(okta, client_for(&app));
    connect(&app, okta).await;
    crate::initial_sync_support::connected(&app).await;
    zenqms.sim.reset_calls();
    okta.sim.reset_calls();
    app
}

async fn measure(
    name: &str,
    mode: &str,
    app: &TestApp,
    zenqms: &zenqms_sim::RunningSim,
    okta: &okta_sim::RunningSim,
) -> Value {
    let started = Instant::now();
    let run = start(app, mode, false).await;
    let id = run["id"].as_str().unwrap_or_default().to_string();
    let run = loop {
        let r = run_of(app, &id).await;
        if r["state"] != "reading_okta"
            && r["state"] != "reading_zenqms"
            && r["state"] != "applying"
        {
            break r;
        }
        assert!(started.elapsed() < Duration::from_secs(3 * 3600), "{r}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let took = started.elapsed().as_secs_f64();
    let okta_calls = okta.sim.calls();
    let okta_api: Vec<_> = okta_calls
        .log
        .iter()
        .filter(|c| c.path.starts_with("/api/v1/"))
        .collect();
    let okta_429 = okta_calls
        .log
        .iter()
        .filter(|c| c.status == Some(429))
        .count();
    let zenqms_calls = zenqms.sim.calls();
    let zenqms_total = zenqms_calls.total();
    let zenqms_429 = zenqms_calls
        .log
        .iter()
        .filter(|c| c.status == Some(429))
        .count();
    let okta_term = okta_api.len() as f64 * LATENCY_MS as f64 / 1000.0;
    let zenqms_term = zenqms_total as f64 / RPS;
    let bound = okta_term + zenqms_term;
    let db = if app.db.is_postgres() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!(
        "BENCH initial sync {name} ({db}): {took:.1} s; Okta {} API calls ({okta_429} answered 429) = {okta_term:.1} s at {LATENCY_MS} ms; \
         ZenQMS {zenqms_total} calls ({zenqms_429} answered 429) = {zenqms_term:.1} s at {RPS} req/s; \
         bound (sum) {bound:.1} s, ratio {:.3}; ratio to the ZenQMS term alone {:.3}; counts {}",
        okta_api.len(),
        took / bound,
        took / zenqms_term.max(okta_term),
        run["counts"]
    );
    println!(
        "BENCH initial sync {name}: ZenQMS calls {:?}",
        zenqms_calls.counts
    );
    assert_eq!(run["state"], "done", "{run}");
    run
}

#[tokio::test]
#[ignore = "benchmark: cargo test --release --test it initial_sync_bench -- --ignored --nocapture"]
async fn bench_standard_10k_existing() {
    let n = users();
    let okta = okta_org(n).await;
    let zenqms = zenqms_with(&emails(&okta)).await;
    let app = bridge_for(&zenqms, &okta).await;
    let run = measure("Standard", "standard", &app, &zenqms, &okta).await;
    assert_eq!(run["counts"]["link"], n as i64, "{run}");
    app.stop().await;
    okta.stop().await;
}

#[tokio::test]
#[ignore = "benchmark: cargo test --release --test it initial_sync_bench -- --ignored --nocapture"]
async fn bench_full_into_an_empty_tenant() {
    let n = users();
    let okta = okta_org(n).await;
    let zenqms = zenqms_with(&[]).await;
    let app = bridge_for(&zenqms, &okta).await;
    let run = measure("Full", "full", &app, &zenqms, &okta).await;
    assert_eq!(run["counts"]["create"], n as i64, "{run}");
    assert_eq!(zenqms.sim.state().users.len(), n);
    app.stop().await;
    okta.stop().await;
}
