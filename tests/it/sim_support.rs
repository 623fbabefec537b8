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
    bridge_tuned(db, sim, extra, |_| {}).await
}

/// A bridge whose sync tasks never look for work on their own within a test's deadline (an
/// hour between polls, no drift sweep): only the wake-up that an enqueue in this process sends
/// can make a worker run.
pub async fn bridge_waking_only(sim: &RunningSim) -> TestApp {
    bridge_tuned(TestDb::new(), sim, &[("SYNC_DRIFT_SWEEP_SECS", "0")], |s| {
        s.polling = zenqms_bridge::sync::Polling {
            housekeeping: Duration::from_secs(3600),
            idle_worker: Duration::from_secs(3600),
        }
    })
    .await
}

/// [`bridge_settings`] with `extra` in place of the same names.
fn settings_with(sim: &RunningSim, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut settings = bridge_settings(sim);
    for (k, v) in extra {
        settings.retain(|(name, _)| name != k);
        settings.push((k.to_string(), v.to_string()));
    }
    settings
}

fn pairs(settings: &[(String, String)]) -> Vec<(&str, &str)> {
    settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// A bridge started again on `db` at `port`, the address a stopped one served.
pub async fn bridge_at(db: TestDb, port: u16, sim: &RunningSim, extra: &[(&str, &str)]) -> TestApp {
    let settings = settings_with(sim, extra);
    TestApp::start_at(db, port, &pairs(&settings)).await
}

async fn bridge_tuned(
    db: TestDb,
    sim: &RunningSim,
    extra: &[(&str, &str)],
    tune: impl FnOnce(&mut zenqms_bridge::server::Services),
) -> TestApp {
    let settings = settings_with(sim, extra);
    TestApp::start_tuned(db, &pairs(&settings), tune).await
}

/// `GET /api/v1/sync/status`.
pub async fn status(app: &TestApp) -> Value {
    let (s, body) = send(app.admin(Method::GET, "/sync/status")).await;
    assert_eq!(s, 200, "{body}");
    body
}

/// Waits until this process's sync housekeeping has run `rounds` more times — each round
/// looks for due jobs and wakes the workers — so "no call happened" is asserted over real
/// chances to make one rather than over a fixed sleep.
pub async fn housekeeping_rounds(app: &TestApp, rounds: u64) {
    let start = rounds_of(&status(app).await);
    eventually(Duration::from_secs(30), || async {
        rounds_of(&status(app).await) >= start + rounds
    })
    .await;
}

pub fn rounds_of(status: &Value) -> u64 {
    status["housekeeping_rounds"].as_u64().unwrap_or(0)
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
    let end = std::time::Instant::now() + crate::harness::failure_bound(within);
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

/// A person as Okta pushes it. `id` is the SCIM id, known after the first push.
#[derive(Clone, Debug)]
pub struct Person {
    pub id: Option<String>,
    pub user_name: String,
    pub external_id: Option<String>,
    pub given: Option<String>,
    pub family: Option<String>,
    pub title: Option<String>,
    pub active: bool,
    pub email: Option<String>,
}

impl Person {
    pub fn new(n: &str) -> Person {
        Person {
            id: None,
            user_name: format!("{n}@example.com"),
            external_id: Some(format!("00u{n}")),
            given: Some(format!("Given{n}")),
            family: Some(format!("Family{n}")),
            title: Some("QA Specialist".into()),
            active: true,
            email: Some(format!("{n}@example.com")),
        }
    }

    /// The SCIM id (after the first push).
    pub fn sid(&self) -> &str {
        self.id.as_deref().expect("pushed")
    }

    /// The body Okta sends on create and on a profile push (PUT).
    pub fn body(&self) -> Value {
        let mut b = serde_json::json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": self.user_name,
            "name": {"givenName": self.given, "familyName": self.family},
            "displayName": format!("{} {}", self.given.as_deref().unwrap_or(""), self.family.as_deref().unwrap_or("")).trim(),
            "locale": "en-US",
            "active": self.active,
            "groups": [],
        });
        if let Some(x) = &self.external_id {
            b["externalId"] = x.as_str().into();
        }
        if let Some(t) = &self.title {
            b["title"] = t.as_str().into();
        }
        if let Some(e) = &self.email {
            b["emails"] = serde_json::json!([{"primary": true, "value": e, "type": "work"}]);
        }
        b
    }
}

/// Okta's push: `POST /Users` the first time, `PUT /Users/{id}` after.
pub async fn push(app: &TestApp, p: &mut Person) {
    let client = app.client.clone();
    push_to(&client, &app.base, &app.scim_token, p).await;
}

/// The same against any bridge (a child process).
pub async fn push_to(client: &reqwest::Client, base: &str, scim_token: &str, p: &mut Person) {
    let (method, url) = match &p.id {
        None => (Method::POST, format!("{base}/scim/v2/Users")),
        Some(id) => (Method::PUT, format!("{base}/scim/v2/Users/{id}")),
    };
    let res = client
        .request(method.clone(), url)
        .bearer_auth(scim_token)
        .header("Content-Type", "application/scim+json")
        .body(p.body().to_string())
        .send()
        .await
        .expect("SCIM push");
    let (s, body) = crate::harness::json_of(res).await;
    let want = if method == Method::POST { 201 } else { 200 };
    assert_eq!(s, want, "{method} {}: {body}", p.user_name);
    p.id = body["id"].as_str().map(str::to_string);
}

/// `PATCH /Users/{id}` with Okta's operations.
/// Okta's (de)activation: `PATCH` replacing `active` without a path.
pub async fn set_active(app: &TestApp, id: &str, active: bool) -> Value {
    patch_user(
        app,
        id,
        serde_json::json!([{"op": "replace", "value": {"active": active}}]),
    )
    .await
}

pub async fn patch_user(app: &TestApp, id: &str, ops: Value) -> Value {
    let (s, body) = send(
        app.scim(Method::PATCH, &format!("/Users/{id}"))
            .header("Content-Type", "application/scim+json")
            .body(serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops}).to_string()),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    body
}
