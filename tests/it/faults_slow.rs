//! A ZenQMS that answers slowly (issue 14 §4): the queue holds, nothing is lost, `/readyz`
//! stays ready, and the status and metrics say why the queue grows (`zenqms_slow`,
//! `recent_call_ms`). The short test uses 1.5 s a call; the ten-minute run at 10 s a call is
//! `ten_minutes_of_a_10_s_zenqms` (`#[ignore]`, numbers in docs/operations.md).

use std::time::{Duration, Instant};

use reqwest::Method;

use crate::harness::{eventually, send};
use crate::sim_support::*;

fn slow(ms: u64) -> zenqms_sim::Faults {
    zenqms_sim::Faults {
        latency_ms: ms,
        ..Default::default()
    }
}

/// Resident and peak resident memory of this process (the bridge runs in it), in MB.
pub fn rss_mb() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(0.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[tokio::test]
async fn a_slow_zenqms_lets_the_queue_grow_and_says_why() {
    let sim = start_sim(zenqms_sim::SimConfig {
        faults: slow(1500),
        ..zenqms_sim::SimConfig::new(SIM_TOKEN)
    })
    .await;
    let app = bridge(
        &sim,
        &[
            ("ZENQMS_REQUEST_TIMEOUT_MS", "20000"),
            ("SYNC_WORKERS", "2"),
            ("ZENQMS_MAX_RPS", "20"),
        ],
    )
    .await;
    let mut people: Vec<Person> = (0..12).map(|i| Person::new(&format!("slow{i}"))).collect();
    for p in people.iter_mut() {
        push(&app, p).await;
    }
    // Once calls have been timed, the status names the bound: 2 workers at 1.5 s a call make
    // 1.3 calls/s, below the budget of 20.
    eventually(Duration::from_secs(30), || async {
        status(&app).await["queue"]["backlog_reason"] == "zenqms_slow"
    })
    .await;
    let st = status(&app).await;
    assert!(
        st["zenqms"]["recent_call_ms"].as_u64().unwrap_or(0) >= 1000,
        "{st}"
    );
    assert!(st["queue"]["depth"].as_i64().unwrap_or(0) > 0, "{st}");
    assert!(
        st["queue"]["backlog_detail"]
            .as_str()
            .is_some_and(|d| d.contains("slowly")),
        "{st}"
    );
    let (s, body) = send(app.raw(Method::GET, "/readyz")).await;
    assert_eq!(s, 200, "{body}");
    let text = app.metrics().await;
    assert!(
        text.contains("zenqms_bridge_sync_backlog{reason=\"zenqms_slow\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("zenqms_bridge_zenqms_call_duration_seconds_bucket"),
        "{text}"
    );

    // ZenQMS fast again: everything drains, each user created once.
    sim.sim
        .set_faults(zenqms_sim::Faults::default())
        .expect("faults");
    settled(&app, Duration::from_secs(60)).await;
    assert_eq!(sim.sim.state().users.len(), people.len());
    assert_eq!(calls(&sim, "POST /v2/users"), people.len() as u64);
    assert_eq!(status(&app).await["queue"]["backlog_reason"], "empty");
    app.stop().await;
}

/// Ten minutes of a ZenQMS at 10 s a call while Okta keeps pushing (2 users a second): the
/// queue depth, `/readyz` and memory are sampled every 30 s; then ZenQMS recovers and every
/// user must arrive exactly once.
/// `cargo test --test it faults_slow::ten_minutes_of_a_10_s_zenqms -- --ignored --nocapture`
/// (`FAULTS_SLOW_SECS` shortens the ten minutes).
#[tokio::test]
#[ignore]
async fn ten_minutes_of_a_10_s_zenqms() {
    let secs: u64 = std::env::var("FAULTS_SLOW_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    let sim = start_sim(zenqms_sim::SimConfig {
        faults: slow(10_000),
        ..zenqms_sim::SimConfig::new(SIM_TOKEN)
    })
    .await;
    let app = bridge(
        &sim,
        &[
            ("ZENQMS_REQUEST_TIMEOUT_MS", "30000"),
            ("SYNC_LEASE_SECS", "60"),
        ],
    )
    .await;
    let start = Instant::now();
    let mut pushed = 0usize;
    let mut next_sample = Duration::ZERO;
    let mut not_ready = 0;
    println!("t_s depth backlog_reason recent_call_ms readyz rss_mb");
    while start.elapsed() < Duration::from_secs(secs) {
        for _ in 0..2 {
            let mut p = Person::new(&format!("long{pushed}"));
            push(&app, &mut p).await;
            pushed += 1;
        }
        if start.elapsed() >= next_sample {
            let st = status(&app).await;
            let (ready, _) = send(app.raw(Method::GET, "/readyz")).await;
            if ready != 200 {
                not_ready += 1;
            }
            println!(
                "{} {} {} {} {} {:.0}",
                start.elapsed().as_secs(),
                st["queue"]["depth"],
                st["queue"]["backlog_reason"],
                st["zenqms"]["recent_call_ms"],
                ready,
                rss_mb().0
            );
            next_sample += Duration::from_secs(30);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let st = status(&app).await;
    let depth_at_end = st["queue"]["depth"].as_i64().unwrap_or(0);
    let failed = st["counts"]["failed"].as_i64().unwrap_or(0);
    sim.sim
        .set_faults(zenqms_sim::Faults::default())
        .expect("faults");
    settled(&app, Duration::from_secs(600)).await;
    let users = sim.sim.state().users.len();
    let creates = calls(&sim, "POST /v2/users");
    let (rss, peak) = rss_mb();
    println!(
        "slow ZenQMS {secs} s: pushed {pushed}, queue at the end {depth_at_end}, failed {failed}, \
         readyz not ready {not_ready} times; after recovery {users} ZenQMS users, {creates} creates; \
         RSS {rss:.0} MB, peak {peak:.0} MB"
    );
    assert_eq!(not_ready, 0);
    assert_eq!(failed, 0);
    assert_eq!(users, pushed);
    assert_eq!(creates, pushed as u64);
    app.stop().await;
}
