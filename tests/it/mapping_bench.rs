//! Benchmark, ignored by default; run it on purpose, in release:
//!
//! ```sh
//! cargo test --release --test it mapping_bench -- --ignored --nocapture --test-threads 1
//! ```
//!
//! A group of 5,000 members (`BENCH_MEMBERS` overrides) already in ZenQMS is mapped to one
//! role, with the simulator at 50 ms latency allowing 20 requests per second and the bridge's
//! budget at `ZENQMS_MAX_RPS=20`. Reports the preview's answer time and how long the mapping
//! takes to converge against the budget-bound minimum (calls ÷ budget); asserts the issue's
//! bars (within 10 %; preview under 500 ms).

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::send;
use crate::mapping_support::*;
use crate::sim_support::*;

const RPS: f64 = 20.0;

#[tokio::test]
#[ignore = "benchmark: cargo test --release --test it mapping_bench -- --ignored --nocapture"]
async fn bench_map_a_large_group_to_one_role() {
    let n: usize = std::env::var("BENCH_MEMBERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let sim = roles_sim().await;

    // Setup, not measured: the users pushed and created in ZenQMS by a bridge without a
    // tight budget, and the group pushed.
    let setup = bridge(&sim, &[("RUST_LOG", "warn"), ("SYNC_WORKERS", "8")]).await;
    let started = Instant::now();
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let mut p = Person::new(&format!("m{i:05}"));
        push(&setup, &mut p).await;
        ids.push(p.id.expect("pushed"));
    }
    let gid = {
        let members: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
        let (s, body) = crate::scim_support::scim_json(
            &setup,
            Method::POST,
            "/Groups",
            &json!({"schemas": [crate::scim_support::GROUP], "displayName": "Everyone in QA", "members": members}),
        )
        .await;
        assert_eq!(s, 201, "{body}");
        body["id"].as_str().unwrap().to_string()
    };
    settled(&setup, Duration::from_secs(3600)).await;
    assert_eq!(sim.sim.state().users.len(), n);
    println!(
        "BENCH mapping: setup ({n} users created in ZenQMS, group of {n} pushed) took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let db = setup.stop_keeping_db().await;

    // The measured bridge: ZenQMS at 50 ms and 20 req/s, the bridge's budget 20 req/s.
    sim.sim
        .set_faults(zenqms_sim::Faults {
            latency_ms: 50,
            rate_limit_rps: Some(RPS as u32),
            ..Default::default()
        })
        .unwrap();
    let app = bridge_on(db, &sim, crate::sync_bench::BENCH_BRIDGE).await;
    settled(&app, Duration::from_secs(60)).await;

    // The preview of the change: the first asks ZenQMS for the role list (the cache is
    // empty); the rest are what an admin iterating on a change sees.
    let body = json!({"group_id": gid, "role_ids": ["15"]});
    let mut samples = Vec::new();
    for _ in 0..11 {
        let t = Instant::now();
        let (s, p) = send(
            app.admin(Method::POST, "/role-mappings/preview")
                .json(&body),
        )
        .await;
        samples.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(s, 200, "{p}");
        assert_eq!(p["roles"][0]["gain_count"], n as i64, "{p}");
    }
    let first = samples.remove(0);
    samples.sort_by(f64::total_cmp);
    let median = samples[samples.len() / 2];
    let max = samples[samples.len() - 1];
    println!(
        "BENCH mapping: preview of mapping {n} members to one role: {first:.0} ms the first time \
         (reads the role list from ZenQMS at 50 ms latency), then median {median:.0} ms, max {max:.0} ms over {} runs",
        samples.len()
    );

    // Apply and wait until every member holds the role in ZenQMS.
    sim.sim.reset_calls();
    let t0 = Instant::now();
    let (s, out) = send(app.admin(Method::POST, "/role-mappings").json(&body)).await;
    let post_ms = t0.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(s, 201, "{out}");
    loop {
        let st = status(&app).await;
        if st["queue"]["depth"] == 0 && st["counts"]["pending"] == 0 {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(3600), "never converged");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let took = t0.elapsed().as_secs_f64();
    assert_eq!(holders(&sim, 15).len(), n, "every member holds the role");
    let calls = sim.sim.calls();
    let total = calls.total();
    let minimum = total as f64 / RPS;
    let ratio = took / minimum;
    let limited = calls.log.iter().filter(|r| r.status == Some(429)).count();
    println!(
        "BENCH mapping: POST answered in {post_ms:.0} ms; {n} members hold the role after {took:.1} s; \
         {total} ZenQMS calls ({:?}; {limited} answered 429); budget-bound minimum {minimum:.1} s; ratio {ratio:.3}",
        calls.counts
    );
    assert!(median < 500.0, "preview under 500 ms");
    assert!(ratio <= 1.10, "within 10 % of calls ÷ budget");
    app.stop().await;
}
