//! Helpers for the sync tests: a simulator in-process, a bridge pointed at it with short
//! backoff and lease times, and waits on what ZenQMS (the simulator) holds.

#![allow(dead_code)]

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use zenqms_sim::{RunningSim, SimConfig};

use crate::harness::{eventually, send, TestApp, TestDb};

pub const SIM_TOKEN: &str = "sim-test-token";

pub async fn start_sim(cfg: SimConfig) -> RunningSim {
    zenqms_sim::start(cfg, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("simulator starts")
}

pub async fn sim() -> RunningSim {
    start_sim(SimConfig::new(SIM_TOKEN)).await
}

/// The settings that point a bridge at `sim`, fast enough for tests.
pub fn bridge_settings(sim: &RunningSim) -> Vec<(String, String)> {
    vec![
        ("ZENQMS_BASE_URL".into(), sim.base_url.clone()),
        ("ZENQMS_API_TOKEN".into(), SIM_TOKEN.into()),
        ("ZENQMS_MAX_RPS".into(), "1000".into()),
        ("ZENQMS_REQUEST_TIMEOUT_MS".into(), "2000".into()),
        ("SYNC_BACKOFF_CAP_SECS".into(), "1".into()),
        ("SYNC_LEASE_SECS".into(), "3".into()),
    ]
}

pub async fn bridge(sim: &RunningSim, extra: &[(&str, &str)]) -> TestApp {
    bridge_on(TestDb::new(), sim, extra).await
}

pub async fn bridge_on(db: TestDb, sim: &RunningSim, extra: &[(&str, &str)]) -> TestApp {
    let mut settings = bridge_settings(sim);
    for (k, v) in extra {
        settings.retain(|(name, _)| name != k);
        settings.push((k.to_string(), v.to_string()));
    }
    let pairs: Vec<(&str, &str)> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    TestApp::start_on(db, &pairs).await
}

/// `GET /api/v1/sync/status`.
pub async fn status(app: &TestApp) -> Value {
    let (s, body) = send(app.admin(Method::GET, "/sync/status")).await;
    assert_eq!(s, 200, "{body}");
    body
}

/// Waits until no job is waiting and no user is pending.
pub async fn settled(app: &TestApp, within: Duration) {
    eventually(within, || async {
        let st = status(app).await;
        st["queue"]["depth"] == 0 && st["counts"]["pending"] == 0
    })
    .await;
}

/// The sync row of one user, from `GET /api/v1/sync/users`.
pub async fn sync_user(app: &TestApp, scim_id: &str) -> Value {
    let (s, body) = send(app.admin(Method::GET, "/sync/users?limit=1000")).await;
    assert_eq!(s, 200, "{body}");
    body["users"]
        .as_array()
        .and_then(|users| users.iter().find(|u| u["scim_id"] == scim_id).cloned())
        .unwrap_or(Value::Null)
}

/// Waits until a user's state is `state`; returns its row.
pub async fn wait_state(app: &TestApp, scim_id: &str, state: &str, within: Duration) -> Value {
    let mut last;
    let end = std::time::Instant::now() + within;
    loop {
        last = sync_user(app, scim_id).await;
        if last["state"] == state {
            return last;
        }
        assert!(
            std::time::Instant::now() < end,
            "user {scim_id} not {state} within {within:?}: {last}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Calls to ZenQMS by `"METHOD /v2/route"` since the last reset.
pub fn calls(sim: &RunningSim, key: &str) -> u64 {
    sim.sim.calls().count(key)
}

pub fn total_calls(sim: &RunningSim) -> u64 {
    sim.sim.calls().total()
}
