//! Several bridge processes on one PostgreSQL share one ZenQMS budget and one `429` pause
//! (issue 14 §2; the design is in docs/architecture.md, "One ZenQMS budget across
//! instances"). Each drains users pushed over SCIM against a simulator whose rate limit is the
//! budget, with latency that varies from call to call; the simulator's call log is the judge:
//! no call arrives inside a `Retry-After` that ZenQMS has already answered, `429`s are rare,
//! and the drain takes about as long as the one budget allows — however many processes share
//! it.
//!
//! The benchmark (ignored by default; the issue's figures — 200 users, 5 requests/s, latency
//! 10–200 ms — with 1, 2 and 3 processes):
//!
//! ```sh
//! TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!   cargo test --test it sync_budget::bench -- --ignored --nocapture --test-threads 1
//! ```

use std::time::{Duration, Instant};

use crate::harness::{eventually, BinaryApp, TestDb};
use crate::sim_support::*;
use crate::sync_processes::{prepare, spawn, status_of, Prepared};

/// The simulator's `Retry-After` (whole seconds) in these runs.
const RETRY_AFTER_S: u64 = 1;

/// A call may arrive this long after a `429` was answered without breaking the shared pause:
/// it had passed its last look at the pause before the `429` could be seen (the pause is read
/// at most `PAUSE_FRESH` = 10 ms before a call, and recording it takes a database round trip).
const IN_FLIGHT: f64 = 50.0;

struct Drain {
    instances: usize,
    users: usize,
    secs: f64,
    calls: usize,
    limited: usize,
    /// Calls that arrived inside a `Retry-After` already answered (after [`IN_FLIGHT`]).
    inside_pause: usize,
    /// The same without the in-flight allowance: any arrival after a `429` was answered and
    /// before its `Retry-After` ended.
    inside_strict: usize,
    bound: f64,
}

impl Drain {
    fn ratio(&self) -> f64 {
        self.secs / self.bound
    }
}

/// `users` pushed over SCIM, spread over `instances` processes sharing one PostgreSQL, drained
/// into a simulator allowing `rps` requests per second; the bridges' budget is `rps` too.
async fn drain(instances: usize, users: usize, rps: u32, latency_ms: (u64, u64)) -> Drain {
    let sim = start_sim(zenqms_sim::SimConfig {
        faults: zenqms_sim::Faults {
            latency_min_ms: Some(latency_ms.0),
            latency_max_ms: Some(latency_ms.1),
            rate_limit_rps: Some(rps),
            retry_after_s: Some(RETRY_AFTER_S),
            ..Default::default()
        },
        ..zenqms_sim::SimConfig::new(SIM_TOKEN)
    })
    .await;
    let db = TestDb::new();
    let Prepared {
        admin: token, scim, ..
    } = prepare(&db);
    let client = reqwest::Client::new();
    let rps_setting = rps.to_string();
    let settings = [
        ("ZENQMS_MAX_RPS", rps_setting.as_str()),
        ("SYNC_WORKERS", "4"),
        ("SYNC_LEASE_SECS", "60"),
        ("SYNC_BACKOFF_CAP_SECS", "2"),
        ("ZENQMS_REQUEST_TIMEOUT_MS", "15000"),
        ("SYNC_DRIFT_SWEEP_SECS", "0"),
        ("RUST_LOG", "warn"),
    ];
    let bins: Vec<BinaryApp> = (0..instances)
        .map(|_| spawn(&db, &sim, &settings))
        .collect();
    for b in &bins {
        b.wait_ready(&client).await;
    }
    let started = Instant::now();
    // Okta pushes to whichever instance its load balancer picks.
    for i in 0..users {
        let mut p = Person::new(&format!("budget{i}"));
        push_to(&client, &bins[i % instances].base, &scim, &mut p).await;
    }
    let deadline = Duration::from_secs_f64(users as f64 / f64::from(rps) * 4.0 + 60.0);
    eventually(deadline, || async {
        let st = status_of(&client, &bins[0], &token).await;
        st["counts"]["synced"] == users && st["queue"]["depth"] == 0
    })
    .await;
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(
        sim.sim.state().users.len(),
        users,
        "every user arrived once"
    );

    let log = sim.sim.calls().log;
    let pauses: Vec<(f64, f64)> = log
        .iter()
        .filter(|r| r.status == Some(429))
        .filter_map(|r| r.answered_ms)
        .map(|answered| (answered, answered + RETRY_AFTER_S as f64 * 1000.0))
        .collect();
    // How long after a `429` was answered each offending call arrived (ms).
    let late: Vec<String> = log
        .iter()
        .filter_map(|c| {
            pauses
                .iter()
                .find(|(answered, end)| c.at_ms > answered + IN_FLIGHT && c.at_ms < *end)
                .map(|(answered, _)| format!("{:.0}", c.at_ms - answered))
        })
        .collect();
    if !late.is_empty() {
        println!("BUDGET calls inside a Retry-After, ms after the 429 was answered: {late:?}");
    }
    let inside_pause = late.len();
    let inside_strict = log
        .iter()
        .filter(|c| {
            pauses
                .iter()
                .any(|(answered, end)| c.at_ms > *answered && c.at_ms < *end)
        })
        .count();
    let calls = log.len();
    drop(bins);
    Drain {
        instances,
        users,
        secs,
        calls,
        limited: pauses.len(),
        inside_pause,
        inside_strict,
        bound: calls as f64 / f64::from(rps),
    }
}

fn report(d: &Drain) {
    println!(
        "BUDGET {} instance(s): {} users drained in {:.1} s; {} ZenQMS calls, {} answered 429, \
         {} inside a Retry-After ({} without the in-flight allowance); single-budget bound {:.1} s; \
         ratio {:.3}",
        d.instances,
        d.users,
        d.secs,
        d.calls,
        d.limited,
        d.inside_pause,
        d.inside_strict,
        d.bound,
        d.ratio()
    );
}

fn skip_unless_postgres(name: &str) -> bool {
    if std::env::var("TEST_DATABASE_URL").is_ok_and(|v| !v.is_empty()) {
        return false;
    }
    // Straight to the process's stderr: libtest captures `eprintln!` of passing tests, and
    // a skip must be seen.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "\nSKIPPED {name}: several bridge processes need PostgreSQL; run with \
         TEST_DATABASE_URL=postgres://… to include it"
    );
    true
}

async fn shared_budget_holds(instances: usize) {
    let d = drain(instances, 60, 10, (5, 15)).await;
    report(&d);
    assert_eq!(d.inside_pause, 0, "no call inside another's Retry-After");
    // Rare, not absent: a loaded machine delays timers past the budget's 4 % headroom, so an
    // evenly spaced call now and then lands in a full window — one instance meets those too. Budgets per process would have about half of
    // the calls answered `429`.
    assert!(
        d.limited * 10 <= d.calls,
        "429s are rare: {} of {}",
        d.limited,
        d.calls
    );
    // Well under the sum of the budgets (which would be ~1 / instances of the bound).
    assert!(d.ratio() > 0.8, "one budget for all: {:.3}", d.ratio());
}

#[tokio::test]
async fn two_processes_share_one_budget_and_one_429_pause() {
    if skip_unless_postgres("two_processes_share_one_budget_and_one_429_pause") {
        return;
    }
    shared_budget_holds(2).await;
}

#[tokio::test]
async fn three_processes_share_one_budget_and_one_429_pause() {
    if skip_unless_postgres("three_processes_share_one_budget_and_one_429_pause") {
        return;
    }
    shared_budget_holds(3).await;
}

#[tokio::test]
#[ignore = "benchmark: cargo test --release --test it sync_budget -- --ignored --nocapture"]
async fn bench_drain_with_one_two_and_three_instances() {
    if skip_unless_postgres("bench_drain_with_one_two_and_three_instances") {
        return;
    }
    let users: usize = std::env::var("BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let mut runs = Vec::new();
    for instances in 1..=3 {
        let d = drain(instances, users, 5, (10, 200)).await;
        report(&d);
        runs.push(d);
    }
    // The issue's bar: every drain within 10 % of the single-budget bound (`calls / max_rps`),
    // and no call inside a `Retry-After`. Times are printed, not asserted (a benchmark on a
    // shared machine); the call log's verdict is asserted.
    for d in &runs {
        println!(
            "BUDGET {} instance(s): {:.3} × the single-budget bound ({}), {:.3} × one instance's time",
            d.instances,
            d.ratio(),
            if d.ratio() <= 1.10 { "within 10 %" } else { "NOT within 10 %" },
            d.secs / runs[0].secs
        );
    }
    for d in &runs {
        assert_eq!(d.inside_pause, 0, "{} instance(s)", d.instances);
    }
}
