//! PostgreSQL going away under SCIM writes (issue 14 §4). Every session of the test database
//! is ended while writes run, as a restart or a failover ends them: a write answered `2xx` is
//! there afterwards, the others get `503` with `Retry-After` (never a `500`), and the service
//! recovers by itself. PostgreSQL only (`TEST_DATABASE_URL`); the restart of a whole server
//! is `faults_pg_restart` (a private cluster).

use reqwest::Method;

use crate::harness::{TestApp, TestDb};
use crate::scim_support::{get, user_body};

#[tokio::test]
async fn ended_sessions_during_writes_lose_no_acknowledged_write_and_answer_503_not_500() {
    let db = TestDb::new();
    if !db.is_postgres() {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "\nSKIPPED ended_sessions_during_writes…: needs PostgreSQL (TEST_DATABASE_URL)"
        );
        return;
    }
    let app = TestApp::start_on(db, &[]).await;
    let mut acknowledged = Vec::new();
    let mut refused = 0;
    for round in 0..6 {
        // Sessions end while 8 writes are in flight.
        let mut tasks = Vec::new();
        for i in 0..8 {
            let req = app
                .scim(Method::POST, "/Users")
                .header("Content-Type", "application/scim+json")
                .body(user_body(&format!("pg{round}-{i}@example.com")).to_string());
            tasks.push(tokio::spawn(async move { req.send().await }));
        }
        app.db.terminate_connections();
        for t in tasks {
            let res = t.await.expect("task").expect("an answer");
            let status = res.status().as_u16();
            let retry_after = res.headers().contains_key("retry-after");
            let (_, body) = crate::harness::json_of(res).await;
            match status {
                201 => acknowledged.push(body["id"].as_str().expect("id").to_string()),
                503 => {
                    assert!(retry_after, "a 503 without Retry-After: {body}");
                    refused += 1;
                }
                other => panic!("{other} during a database outage: {body}"),
            }
        }
    }
    // The service recovers by itself; every acknowledged write is there.
    crate::harness::eventually(std::time::Duration::from_secs(10), || async {
        get(&app, "/Users?count=1").await.0 == 200
    })
    .await;
    for id in &acknowledged {
        let (status, body) = get(&app, &format!("/Users/{id}")).await;
        assert_eq!(status, 200, "an acknowledged write is missing: {body}");
    }
    assert!(!acknowledged.is_empty(), "no write got through at all");
    eprintln!(
        "ended sessions: {} writes acknowledged, {refused} refused with 503",
        acknowledged.len()
    );
    app.stop().await;
}
