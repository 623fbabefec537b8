//! PostgreSQL restarted (issue 14 §4): the server of a private cluster (`pg_cluster.rs`) is
//! stopped (`-m fast`, as a restart or failover does) and started again, once during a burst of
//! SCIM writes and once during a ZenQMS drain. Every write answered `201` is there afterwards,
//! writes during the outage get `503` with `Retry-After` and never a `500`, the bridge recovers
//! by itself, and no ZenQMS user is created twice. Runs in the PostgreSQL pass of the suite
//! (`TEST_DATABASE_URL` set), as root (CI); elsewhere it says SKIPPED.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;

use crate::harness::{eventually, TestApp, TestDb};
use crate::pg_cluster::Cluster;
use crate::scim_support::{get, user_body};
use crate::sim_support::*;

/// A private cluster, or `None` after saying why the test is skipped.
fn cluster(test: &str) -> Option<Cluster> {
    use std::io::Write;
    let skip = |why: &str| {
        let _ = writeln!(std::io::stderr(), "\nSKIPPED {test}: {why}");
        None
    };
    if std::env::var("TEST_DATABASE_URL").map_or(true, |v| v.is_empty()) {
        return skip("runs in the PostgreSQL pass (TEST_DATABASE_URL)");
    }
    match Cluster::start_new() {
        Ok(c) => Some(c),
        Err(why) => skip(&why),
    }
}

async fn stop(cluster: &Arc<Cluster>) {
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.stop().unwrap_or_else(|e| panic!("stop: {e}")))
        .await
        .expect("stop task");
}

async fn start(cluster: &Arc<Cluster>) {
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.start().unwrap_or_else(|e| panic!("start: {e}")))
        .await
        .expect("start task");
}

#[derive(Default)]
struct Seen {
    acknowledged: Vec<String>,
    refused: usize,
    wrong: Vec<String>,
}

/// What one SCIM create got.
enum Answer {
    Created(String),
    Refused,
    Wrong(String),
}

async fn create(client: &reqwest::Client, url: &str, token: &str, name: &str) -> Answer {
    let res = client
        .post(url)
        .bearer_auth(token)
        .header("Content-Type", "application/scim+json")
        .body(user_body(name).to_string())
        .send()
        .await;
    match res {
        Ok(r) if r.status().as_u16() == 201 => {
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            match body["id"].as_str() {
                Some(id) => Answer::Created(id.to_string()),
                None => Answer::Wrong(format!("201 without an id: {body}")),
            }
        }
        Ok(r) if r.status().as_u16() == 503 && r.headers().contains_key("retry-after") => {
            Answer::Refused
        }
        Ok(r) => {
            let status = r.status();
            Answer::Wrong(format!("{status}: {}", r.text().await.unwrap_or_default()))
        }
        Err(e) => Answer::Wrong(format!("no answer: {e}")),
    }
}

#[tokio::test]
async fn a_restart_during_a_burst_of_scim_writes_loses_no_acknowledged_write() {
    let Some(cluster) = cluster("a_restart_during_a_burst_of_scim_writes…") else {
        return;
    };
    let cluster = Arc::new(cluster);
    let app = TestApp::start_on(TestDb::at(cluster.url()), &[]).await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let done = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (client, url, token) = (
            app.client.clone(),
            app.url("/scim/v2/Users"),
            app.scim_token.clone(),
        );
        let (seen, done) = (seen.clone(), done.clone());
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !done.load(Ordering::SeqCst) {
                i += 1;
                let answer = create(&client, &url, &token, &format!("b{w}-{i}@example.com")).await;
                let mut seen = seen.lock().unwrap();
                match answer {
                    Answer::Created(id) => seen.acknowledged.push(id),
                    Answer::Refused => seen.refused += 1,
                    Answer::Wrong(what) => seen.wrong.push(what),
                }
            }
        }));
    }
    let acked = || seen.lock().unwrap().acknowledged.len();
    let refused = || seen.lock().unwrap().refused;
    eventually(Duration::from_secs(30), || async { acked() >= 20 }).await;
    stop(&cluster).await;
    // Writes keep coming during the outage: they are refused, quickly.
    let refused_before = refused();
    eventually(Duration::from_secs(30), || async {
        refused() >= refused_before + 8
    })
    .await;
    start(&cluster).await;
    // The bridge recovers by itself: writes are acknowledged again.
    let acked_at_restart = acked();
    eventually(Duration::from_secs(30), || async {
        acked() >= acked_at_restart + 20
    })
    .await;
    done.store(true, Ordering::SeqCst);
    for w in writers {
        w.await.expect("writer");
    }
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert!(
        seen.wrong.is_empty(),
        "answers other than 201 or 503 with Retry-After: {:?}\n{}",
        seen.wrong,
        cluster.log()
    );
    for id in &seen.acknowledged {
        let (status, body) = get(&app, &format!("/Users/{id}")).await;
        assert_eq!(status, 200, "an acknowledged write is missing: {body}");
    }
    eprintln!(
        "PostgreSQL restart during SCIM writes: {} acknowledged (all present), {} refused with 503",
        seen.acknowledged.len(),
        seen.refused
    );
    app.stop().await;
}

#[tokio::test]
async fn a_restart_during_a_zenqms_drain_creates_nobody_twice() {
    let Some(cluster) = cluster("a_restart_during_a_zenqms_drain…") else {
        return;
    };
    let cluster = Arc::new(cluster);
    let sim = start_sim(zenqms_sim::SimConfig {
        faults: zenqms_sim::Faults {
            latency_ms: 100,
            ..Default::default()
        },
        ..zenqms_sim::SimConfig::new(SIM_TOKEN)
    })
    .await;
    // Leases of 3 s (the sync tests' setting) expire during the outage: another worker may
    // take a job whose run created the user and could not record the link yet.
    let app = bridge_on(TestDb::at(cluster.url()), &sim, &[]).await;
    const USERS: usize = 60;
    let mut people: Vec<Person> = (0..USERS)
        .map(|i| Person::new(&format!("drain{i}")))
        .collect();
    for p in people.iter_mut() {
        push(&app, p).await;
    }
    eventually(Duration::from_secs(30), || async {
        calls(&sim, "POST /v2/users") >= 10
    })
    .await;
    stop(&cluster).await;
    let at_stop = calls(&sim, "POST /v2/users");
    assert!(at_stop < USERS as u64, "the drain ended before the outage");
    let (s, _) = crate::harness::send(app.raw(Method::GET, "/readyz")).await;
    assert_eq!(s, 503, "/readyz during the outage");
    let (s, _) = crate::harness::send(app.admin(Method::GET, "/sync/status")).await;
    assert_eq!(s, 503, "the admin API during the outage");
    // The outage's length, longer than a lease (the fault being modelled, not a wait for a
    // condition).
    tokio::time::sleep(Duration::from_secs(4)).await;
    start(&cluster).await;
    // Each pooled connection that died with the server fails its next use (a 503) and is
    // dropped; the bridge answers again by itself.
    eventually(Duration::from_secs(30), || async {
        crate::harness::send(app.admin(Method::GET, "/sync/status"))
            .await
            .0
            == 200
    })
    .await;
    settled(&app, Duration::from_secs(60)).await;

    let state = sim.sim.state();
    assert_eq!(state.users.len(), USERS);
    for p in &people {
        assert!(
            state
                .user_by_external_id(p.external_id.as_deref().unwrap_or_default())
                .is_some(),
            "{} is missing in ZenQMS",
            p.user_name
        );
    }
    let creates: Vec<Option<u16>> = sim
        .sim
        .calls()
        .records("POST /v2/users")
        .map(|r| r.status)
        .collect();
    assert_eq!(
        creates.len(),
        USERS,
        "one create per user, none sent again: {creates:?}"
    );
    assert_eq!(status(&app).await["counts"]["synced"], USERS);
    eprintln!(
        "PostgreSQL restart during a drain: {USERS} users, {at_stop} created before the stop, \
         {} creates in all, {} calls in all",
        creates.len(),
        total_calls(&sim)
    );
    app.stop().await;
}
