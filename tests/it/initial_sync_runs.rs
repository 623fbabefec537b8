//! The life of an initial sync run: one at a time (also when two starts race), cancel, a
//! ZenQMS outage that pauses a run without failing it, and a bridge process killed mid-run
//! that the next process resumes without setting any external_id twice.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use zenqms_sim::{Faults, RunningSim, SeedUser, SimConfig};

use crate::harness::{eventually, json_of, send, BinaryApp, TestApp, TestDb};
use crate::initial_sync_support::*;
use crate::mapping_support::existing;
use crate::sim_support::*;
use crate::sync_processes::{created, prepare, Prepared};

/// `n` ZenQMS users (`l0@…` …) that Okta pushes too: `n` links.
fn linkable(n: usize) -> Vec<SeedUser> {
    (0..n).map(|i| existing(&format!("l{i}"), &[])).collect()
}

async fn slow_sim(n: usize, latency_ms: u64) -> RunningSim {
    start_sim(SimConfig {
        seed: Some(zenqms_sim::Seed {
            roles: Vec::new(),
            users: linkable(n),
        }),
        faults: Faults {
            latency_min_ms: Some(latency_ms),
            latency_max_ms: Some(latency_ms),
            ..Faults::default()
        },
        ..SimConfig::new(SIM_TOKEN)
    })
    .await
}

async fn push_linkable(app: &TestApp, n: usize) {
    connected(app).await;
    let (s, body) = send(app.admin(Method::POST, "/sync/pause")).await;
    assert_eq!(s, 200, "{body}");
    for i in 0..n {
        push(app, &mut Person::new(&format!("l{i}"))).await;
    }
}

/// Successful `PATCH /v2/users/{id}` per path.
fn patches(sim: &RunningSim) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in sim.sim.calls().records("PATCH /v2/users/{id}") {
        if r.status == Some(200) {
            *out.entry(r.path.clone()).or_default() += 1;
        }
    }
    out
}

/// `n` linkable users in a ZenQMS answering in `latency_ms`, pushed (sync paused) to a bridge
/// that spends 4 calls a second: a run over them takes seconds, so what a test does to it
/// meanwhile (a cancel, an outage) arrives while links remain — at the tests' usual 1,000 a
/// second the run could finish first.
async fn throttled(n: usize, latency_ms: u64) -> (RunningSim, TestApp) {
    let sim = slow_sim(n, latency_ms).await;
    let app = bridge(
        &sim,
        &[("SYNC_DRIFT_SWEEP_SECS", "0"), ("ZENQMS_MAX_RPS", "4")],
    )
    .await;
    push_linkable(&app, n).await;
    (sim, app)
}

#[tokio::test]
async fn one_run_at_a_time_even_when_two_starts_race() {
    let sim = slow_sim(30, 40).await;
    let app = bridge(&sim, &[("SYNC_DRIFT_SWEEP_SECS", "0")]).await;
    push_linkable(&app, 30).await;

    let body = json!({"mode": "standard", "dry_run": false});
    let (one, two) = tokio::join!(
        send(app.admin(Method::POST, "/initial-sync").json(&body)),
        send(app.admin(Method::POST, "/initial-sync").json(&body)),
    );
    let mut statuses = [one.0, two.0];
    statuses.sort();
    assert_eq!(statuses, [202, 409], "{one:?} {two:?}");
    let (running, refused) = if one.0 == 202 {
        (one.1, two.1)
    } else {
        (two.1, one.1)
    };
    let id = running["id"].as_str().expect("id").to_string();
    assert!(
        refused["message"].as_str().unwrap_or("").contains(&id),
        "names the run in the way: {refused}"
    );
    let (s, again) = send(app.admin(Method::POST, "/initial-sync").json(&body)).await;
    assert_eq!(s, 409, "{again}");
    let done = wait_run(&app, &id, "done").await;
    assert_eq!(done["counts"]["link"], 30);
    let (s, next) = send(
        app.admin(Method::POST, "/initial-sync")
            .json(&json!({"dry_run": true})),
    )
    .await;
    assert_eq!(s, 202, "a finished run frees the slot: {next}");
    app.stop().await;
}

#[tokio::test]
async fn cancel_stops_a_run_between_users() {
    let (sim, app) = throttled(40, 60).await;
    let run = start(&app, "standard", false).await;
    let id = run["id"].as_str().expect("id");
    eventually(T, || async { patches(&sim).len() >= 3 }).await;

    let (s, body) = send(app.admin(Method::POST, &format!("/initial-sync/{id}/cancel"))).await;
    assert_eq!(s, 202, "{body}");
    let end = wait_run(&app, id, "cancelled").await;
    let linked = patches(&sim).len();
    assert!(linked < 40, "stopped before the end ({linked} linked)");
    assert!(end["finished_at"].is_string());
    assert_eq!(
        end["counts"]["link"], 40,
        "the plan stays in the report: {end}"
    );
    assert!(end["progress"]["done"].as_i64().unwrap_or(0) < 40, "{end}");
    let (s, body) = send(app.admin(Method::POST, &format!("/initial-sync/{id}/cancel"))).await;
    assert_eq!(s, 409, "already finished: {body}");
    let (s, _) = send(app.admin(Method::POST, "/initial-sync/nope/cancel")).await;
    assert_eq!(s, 404);
    let (s, body) = send(
        app.admin(Method::POST, "/initial-sync")
            .json(&json!({"mode": "standard"})),
    )
    .await;
    assert_eq!(s, 202, "{body}");
    app.stop().await;
}

#[tokio::test]
async fn a_zenqms_outage_pauses_the_run_and_it_resumes_when_zenqms_answers() {
    // The 15 links left after the fifth take seconds: the second outage below begins while
    // the run is still applying.
    let (sim, app) = throttled(20, 5).await;
    let outage = |on: bool| Faults {
        outage: on,
        latency_min_ms: Some(5),
        latency_max_ms: Some(5),
        ..Faults::default()
    };
    sim.sim.set_faults(outage(true)).expect("faults");
    let run = start(&app, "standard", false).await;
    let id = run["id"].as_str().expect("id");
    // Retried while ZenQMS is down: the run waits in its state, it does not fail.
    eventually(T, || async { calls(&sim, "POST /v2/users/search") >= 3 }).await;
    assert_eq!(run_of(&app, id).await["state"], "reading_zenqms");

    sim.sim.set_faults(outage(false)).expect("faults");
    eventually(T, || async { patches(&sim).len() >= 5 }).await;
    sim.sim.set_faults(outage(true)).expect("faults");
    let failed_before = calls(&sim, "PATCH /v2/users/{id}");
    eventually(T, || async {
        calls(&sim, "PATCH /v2/users/{id}") >= failed_before + 2
    })
    .await;
    let mid = run_of(&app, id).await;
    assert_eq!(mid["state"], "applying", "{mid}");
    assert!(mid["error"].is_null());

    sim.sim.set_faults(outage(false)).expect("faults");
    let done = wait_run(&app, id, "done").await;
    assert_eq!(done["counts"]["link"], 20, "{done}");
    let p = patches(&sim);
    assert_eq!(p.len(), 20);
    assert!(p.values().all(|n| *n == 1), "{p:?}");
    app.stop().await;
}

fn spawn(db: &TestDb, sim: &RunningSim) -> BinaryApp {
    let mut env = bridge_settings(sim);
    env.retain(|(k, _)| k != "SYNC_LEASE_SECS");
    env.push(("SYNC_LEASE_SECS".into(), "2".into()));
    env.push(("SYNC_DRIFT_SWEEP_SECS".into(), "0".into()));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    BinaryApp::spawn(db, &pairs)
}

/// Bridge processes on one database and one ZenQMS, for the tests that kill one mid-run and
/// let the next resume the run.
struct Processes<'a> {
    db: &'a TestDb,
    sim: &'a RunningSim,
    client: reqwest::Client,
    admin: String,
    scim: String,
}

impl<'a> Processes<'a> {
    /// The tokens made through the CLI on `db`.
    fn new(db: &'a TestDb, sim: &'a RunningSim) -> Self {
        let Prepared { admin, scim, .. } = prepare(db);
        Processes {
            db,
            sim,
            client: reqwest::Client::new(),
            admin,
            scim,
        }
    }

    /// A new process, ready.
    async fn spawn(&self) -> BinaryApp {
        let bin = spawn(self.db, self.sim);
        bin.wait_ready(&self.client).await;
        bin
    }

    fn api(&self, bin: &BinaryApp, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}/api/v1{path}", bin.base))
            .bearer_auth(&self.admin)
    }

    /// `POST /api/v1/initial-sync` with `body` through `bin`; asserts `202`; the run.
    async fn start(&self, bin: &BinaryApp, body: serde_json::Value) -> serde_json::Value {
        let res = self
            .api(bin, Method::POST, "/initial-sync")
            .json(&body)
            .send()
            .await
            .expect("start");
        let (s, run) = json_of(res).await;
        assert_eq!(s, 202, "{run}");
        run
    }

    /// Kills `bin` (SIGKILL) once `applied()` reaches 15 and asserts it had not reached `n`
    /// (the `what` of the message: linked, created), then starts the next process and waits
    /// (at most `within`) for it to finish run `id`: the run at its end.
    async fn kill_and_resume(
        &self,
        mut bin: BinaryApp,
        id: &str,
        (n, what): (usize, &str),
        applied: impl Fn() -> usize,
        within: Duration,
    ) -> serde_json::Value {
        eventually(T, || async { applied() >= 15 }).await;
        bin.child.kill().expect("SIGKILL");
        let _ = bin.child.wait();
        let at_kill = applied();
        assert!(at_kill < n, "killed mid-run ({at_kill} {what})");

        let bin = self.spawn().await;
        let run_path = format!("/initial-sync/{id}");
        eventually(within, || async {
            let res = self
                .api(&bin, Method::GET, &run_path)
                .send()
                .await
                .expect("get");
            json_of(res).await.1["state"] == "done"
        })
        .await;
        let res = self
            .api(&bin, Method::GET, &run_path)
            .send()
            .await
            .expect("get");
        json_of(res).await.1
    }
}

#[tokio::test]
async fn a_bridge_killed_mid_run_is_resumed_without_a_duplicate_call() {
    const N: usize = 60;
    let sim = slow_sim(N, 25).await;
    let db = TestDb::new();
    let procs = Processes::new(&db, &sim);
    let bin = procs.spawn().await;
    let (s, body) = json_of(
        procs
            .api(&bin, Method::POST, "/sync/pause")
            .send()
            .await
            .expect("pause"),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    for i in 0..N {
        push_to(
            &procs.client,
            &bin.base,
            &procs.scim,
            &mut Person::new(&format!("l{i}")),
        )
        .await;
    }
    let run = procs.start(&bin, json!({"mode": "standard"})).await;
    let id = run["id"].as_str().expect("id");

    let done = procs
        .kill_and_resume(
            bin,
            id,
            (N, "linked"),
            || patches(&sim).len(),
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(done["counts"]["link"], N, "{done}");
    assert_eq!(done["progress"]["done"], N);
    let p = patches(&sim);
    assert_eq!(p.len(), N, "every user linked");
    let twice: Vec<_> = p.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "external_id set twice: {twice:?}");
    for u in sim.sim.state().users {
        let want = format!("00u{}", u.email.trim_end_matches("@example.com"));
        assert_eq!(u.external_id.as_deref(), Some(want.as_str()), "{}", u.email);
    }
}

#[tokio::test]
async fn the_command_runs_a_dry_run_and_prints_the_summary() {
    let sim = tenant_sim().await;
    let app = bridge(&sim, &[("SYNC_DRIFT_SWEEP_SECS", "0")]).await;
    push_paused(&app, &sim).await;
    let before = sim_picture(&sim);
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_zenqms-bridge"));
    cmd.args(["initial-sync", "--mode", "standard", "--dry-run"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &app.db.url)
        .env("DATA_DIR", app.db.dir.path())
        .current_dir(app.db.dir.path());
    for (k, v) in bridge_settings(&sim) {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(T, cmd.output())
        .await
        .expect("the command ends")
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(": done (standard, dry run"), "{stdout}");
    assert!(stdout.contains("link       2"), "{stdout}");
    assert!(stdout.contains("conflict   3"), "{stdout}");
    assert!(
        !stdout.contains('\u{1b}'),
        "no progress bar when stdout is not a terminal"
    );
    assert_eq!(sim_picture(&sim), before, "a dry run changes nothing");
    let (s, body) = send(app.admin(Method::GET, "/initial-sync")).await;
    assert_eq!(s, 200);
    assert_eq!(body["runs"][0]["dry_run"], true, "{body}");
    app.stop().await;
}

#[tokio::test]
async fn a_bridge_killed_mid_run_from_okta_resumes_and_creates_each_user_once() {
    use crate::okta_support::{open, CLIENT_ID, CLIENT_SECRET};
    const N: usize = 60;
    let sim = start_sim(SimConfig {
        faults: Faults {
            latency_min_ms: Some(25),
            latency_max_ms: Some(25),
            ..Faults::default()
        },
        ..SimConfig::new(SIM_TOKEN)
    })
    .await;
    let users: Vec<serde_json::Value> = (0..N)
        .map(|i| {
            json!({"id": format!("00uk{i}"), "profile": {
                "login": format!("k{i}@example.com"), "email": format!("k{i}@example.com"),
                "firstName": "Given", "lastName": format!("Family{i}"), "title": "Chemist"}})
        })
        .collect();
    let seed = okta_sim::Seed::from_json(&json!({"users": users}).to_string()).expect("seed");
    let okta = crate::okta_support::start_sim(okta_sim::SimConfig {
        seed: Some(seed),
        ..okta_sim::SimConfig::default()
    })
    .await;
    let db = TestDb::new();
    let procs = Processes::new(&db, &sim);
    let bin = procs.spawn().await;
    let api = |bin: &BinaryApp, method: Method, path: &str| procs.api(bin, method, path);
    // Connect the org through the first process (its callback is the redirect URI).
    okta.sim
        .set_client(okta_sim::OAuthClient::new(
            CLIENT_ID,
            CLIENT_SECRET,
            &format!("{}/oauth/okta/callback", bin.base),
        ))
        .expect("client");
    let put = api(&bin, Method::PUT, "/settings/okta").json(&json!({
        "org_url": format!("http://{}/", okta.addr), "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}));
    let (s, body) = json_of(put.send().await.expect("put")).await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = json_of(
        api(&bin, Method::POST, "/okta/authorize")
            .send()
            .await
            .expect("authorize"),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (status, page, _) = open(body["authorize_url"].as_str().expect("url")).await;
    assert_eq!(status, 200, "{page}");

    let run = procs.start(&bin, json!({"mode": "full"})).await;
    assert_eq!(run["source"], "okta", "{run}");
    let id = run["id"].as_str().expect("id");

    let done = procs
        .kill_and_resume(
            bin,
            id,
            (N, "created"),
            || created(&sim),
            Duration::from_secs(90),
        )
        .await;
    // Every user created by the run, and counted so: the run holds each until it applies it
    // (the second process's start-up enqueues every user without a record, and its workers
    // must not create them first), and a create whose answer died with the first process is
    // still the run's create when the second finds the user it made.
    assert_eq!(done["counts"]["create"], N, "{done}");
    assert_eq!(done["counts"]["unchanged"], 0, "{done}");
    assert_eq!(done["progress"]["done"], N);
    // Every Okta user exactly once in ZenQMS, linked to its Okta id, created once.
    let state = sim.sim.state();
    assert_eq!(state.users.len(), N, "no duplicate ZenQMS user");
    assert_eq!(created(&sim), N, "no create sent twice");
    for i in 0..N {
        let email = format!("k{i}@example.com");
        let mine: Vec<_> = state.users.iter().filter(|u| u.email == email).collect();
        assert_eq!(mine.len(), 1, "{email}");
        assert_eq!(
            mine[0].external_id.as_deref(),
            Some(format!("00uk{i}").as_str())
        );
    }
    okta.stop().await;
}
