//! Benchmarks, ignored by default; run them on purpose, in release, one at a time:
//!
//! ```sh
//! cargo test --release --test it sync_bench -- --ignored --nocapture --test-threads 1
//! ```
//!
//! The simulator answers every call after 50 ms and allows 20 requests per second (past that:
//! `429`); the bridge's budget is `ZENQMS_MAX_RPS=20`. Users are pushed over SCIM as Okta
//! pushes them. Each prints its figures and asserts the issue's bar. `BENCH_USERS` overrides
//! the 2,000 users of the drain.

use std::time::{Duration, Instant};

use crate::harness::TestApp;
use crate::sim_support::*;

const RPS: f64 = 20.0;

/// The benchmarks' bridge: its budget at the simulator's 20 calls a second, 4 workers, and
/// backoff, lease and timeout long enough that a slow ZenQMS is waited for, not failed.
pub const BENCH_BRIDGE: &[(&str, &str)] = &[
    ("ZENQMS_MAX_RPS", "20"),
    ("SYNC_WORKERS", "4"),
    ("SYNC_BACKOFF_CAP_SECS", "600"),
    ("SYNC_LEASE_SECS", "60"),
    ("ZENQMS_REQUEST_TIMEOUT_MS", "30000"),
    ("RUST_LOG", "warn"),
];

async fn bench_setup() -> (zenqms_sim::RunningSim, TestApp) {
    let sim = start_sim(zenqms_sim::SimConfig {
        faults: zenqms_sim::Faults {
            latency_ms: 50,
            rate_limit_rps: Some(RPS as u32),
            ..Default::default()
        },
        ..zenqms_sim::SimConfig::new(SIM_TOKEN)
    })
    .await;
    let app = bridge(&sim, BENCH_BRIDGE).await;
    (sim, app)
}

fn limited(sim: &zenqms_sim::RunningSim) -> usize {
    sim.sim
        .calls()
        .log
        .iter()
        .filter(|r| r.status == Some(429))
        .count()
}

#[tokio::test]
#[ignore = "benchmark: cargo test --release --test it sync_bench -- --ignored --nocapture"]
async fn bench_drain_new_users() {
    let n: usize = std::env::var("BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let (sim, app) = bench_setup().await;
    let started = Instant::now();
    for i in 0..n {
        push(&app, &mut Person::new(&format!("d{i}"))).await;
    }
    let pushed = started.elapsed();
    settled(&app, Duration::from_secs(3600)).await;
    let took = started.elapsed().as_secs_f64();
    let total = total_calls(&sim);
    let minimum = total as f64 / RPS;
    let ratio = took / minimum;
    println!(
        "BENCH drain: {n} new users pushed over SCIM in {:.1} s; all synced after {took:.1} s; \
         {total} ZenQMS calls ({} answered 429); budget-bound minimum {minimum:.1} s; ratio {ratio:.3}",
        pushed.as_secs_f64(),
        limited(&sim)
    );
    let log = sim.sim.calls().log;
    let first = log.first().map(|r| r.at_ms).unwrap_or(0.0);
    let at: Vec<String> = log
        .iter()
        .filter(|r| r.status == Some(429))
        .map(|r| format!("{:.1}", (r.at_ms - first) / 1000.0))
        .collect();
    println!(
        "BENCH drain: 429s at (s after the first call): [{}]",
        at.join(", ")
    );
    assert_eq!(sim.sim.state().users.len(), n);
    assert!(ratio <= 1.10, "within 10 % of calls ÷ budget");
    app.stop().await;
}

#[tokio::test]
#[ignore = "benchmark: cargo test --release --test it sync_bench -- --ignored --nocapture"]
async fn bench_idle_latency_scim_201_to_zenqms() {
    let (sim, app) = bench_setup().await;
    let mut samples: Vec<f64> = Vec::new();
    for i in 0..60 {
        let mut p = Person::new(&format!("lat{i}"));
        let external_id = p.external_id.clone().unwrap_or_default();
        push(&app, &mut p).await;
        let created = Instant::now();
        loop {
            if sim.sim.state().user_by_external_id(&external_id).is_some() {
                break;
            }
            assert!(created.elapsed() < Duration::from_secs(10), "never arrived");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        samples.push(created.elapsed().as_secs_f64() * 1000.0);
        // Idle between pushes: let the run finish and the budget refill.
        settled(&app, Duration::from_secs(10)).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    samples.sort_by(f64::total_cmp);
    let median = samples[samples.len() / 2];
    let p95 = samples[samples.len() * 95 / 100];
    println!(
        "BENCH latency: SCIM 201 → user exists in ZenQMS, idle system, 50 ms ZenQMS latency: \
         median {median:.0} ms, p95 {p95:.0} ms, max {:.0} ms over {} users",
        samples[samples.len() - 1],
        samples.len()
    );
    assert!(median < 300.0);
    app.stop().await;
}

#[tokio::test]
#[ignore = "benchmark: cargo test --release --test it sync_bench -- --ignored --nocapture"]
async fn bench_calls_per_user() {
    let n = 50;
    let (sim, app) = bench_setup().await;
    let mut people: Vec<Person> = (0..n).map(|i| Person::new(&format!("c{i}"))).collect();
    let phase = |name: &str| {
        let calls = sim.sim.calls();
        let per_user = calls.total() as f64 / n as f64;
        println!(
            "BENCH calls per user, {name}: {per_user:.2} ({:?})",
            calls.counts
        );
        sim.sim.reset_calls();
        per_user
    };
    for p in people.iter_mut() {
        push(&app, p).await;
    }
    settled(&app, Duration::from_secs(60)).await;
    let create = phase("create");
    for p in people.iter_mut() {
        p.title = Some("Senior QA Specialist".into());
        push(&app, p).await;
    }
    settled(&app, Duration::from_secs(60)).await;
    let update = phase("update (profile push, PUT)");
    for p in &people {
        set_active(&app, p.sid(), false).await;
    }
    settled(&app, Duration::from_secs(60)).await;
    let deactivate = phase("deactivate (PATCH active=false)");
    // Okta's next full profile push of the same (deactivated) users changes nothing.
    for p in people.iter_mut() {
        p.active = false;
        push(&app, p).await;
    }
    settled(&app, Duration::from_secs(60)).await;
    let replay = phase("replayed push, nothing changed");
    assert_eq!((create, update, deactivate, replay), (1.0, 1.0, 1.0, 0.0));
    app.stop().await;
}
