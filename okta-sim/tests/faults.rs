//! Rate limits and injected faults over real HTTP, and what the call log records.

mod common;

use std::time::Instant;

use common::*;
use okta_sim::{Faults, RateLimits, SimConfig};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn every_answer_has_rate_limit_headers_and_the_bucket_answers_429_until_reset() {
    let org = start(SimConfig {
        rate_limits: RateLimits {
            users: 3,
            window_ms: 1500,
            ..RateLimits::default()
        },
        ..config()
    })
    .await;
    let token = org.access_token().await;
    let mut seen = Vec::new();
    for _ in 0..4 {
        let a = org.get("/api/v1/users", &token).await;
        let limit: u32 = a.header("x-rate-limit-limit").unwrap().parse().unwrap();
        let remaining: u32 = a.header("x-rate-limit-remaining").unwrap().parse().unwrap();
        let reset: i64 = a.header("x-rate-limit-reset").unwrap().parse().unwrap();
        seen.push((
            a.status.as_u16(),
            limit,
            remaining,
            reset,
            a.error_code().to_owned(),
        ));
    }
    let statuses: Vec<(u16, u32, u32)> = seen.iter().map(|s| (s.0, s.1, s.2)).collect();
    assert_eq!(
        statuses,
        [(200, 3, 2), (200, 3, 1), (200, 3, 0), (429, 3, 0)]
    );
    assert_eq!(seen[3].4, "E0000047");
    let reset = seen[3].3;
    let now = chrono::Utc::now().timestamp();
    assert!(
        reset >= now && reset <= now + 3,
        "reset {reset} vs now {now}"
    );
    // Groups have their own bucket.
    assert_eq!(
        org.get("/api/v1/groups", &token).await.status,
        StatusCode::OK
    );

    // After Reset the bucket is full again.
    let answer = eventually("the window to reset", || {
        let org = &org;
        let token = token.clone();
        async move {
            if chrono::Utc::now().timestamp() < reset {
                return None;
            }
            Some(org.get("/api/v1/users", &token).await)
        }
    })
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.header("x-rate-limit-remaining"), Some("2"));

    // The call log holds what each answer said.
    let calls = org.sim().calls();
    let logged: Vec<(Option<u16>, Option<u32>)> = calls
        .records("GET /api/v1/users")
        .map(|r| (r.status, r.rate_limit.map(|h| h.remaining)))
        .collect();
    assert_eq!(
        logged,
        [
            (Some(200), Some(2)),
            (Some(200), Some(1)),
            (Some(200), Some(0)),
            (Some(429), Some(0)),
            (Some(200), Some(2))
        ]
    );
    assert!(calls.log.iter().all(|r| !r.request_id.is_empty()));

    // Limits change at run time over /_sim.
    let a = org
        .admin(
            Method::PATCH,
            "/_sim/rate-limits",
            Some(json!({"users": 0})),
        )
        .await;
    assert_eq!(a.body["users"], 0);
    let a = org.get("/api/v1/users", &token).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    org.stop().await;
}

#[tokio::test]
async fn outage_errors_and_latency_spare_sim_endpoints() {
    let org = start(config()).await;
    let token = org.access_token().await;
    let on = org
        .admin(Method::PATCH, "/_sim/faults", Some(json!({"outage": true})))
        .await;
    assert_eq!(on.body["outage"], true);
    let a = org.get("/api/v1/users", &token).await;
    a.assert_error(StatusCode::SERVICE_UNAVAILABLE, "E0000009");
    assert!(a.header("x-rate-limit-limit").is_some());
    let a = org.get("/oauth2/v1/keys", "").await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        org.admin(Method::GET, "/_sim/state", None).await.status,
        StatusCode::OK
    );
    org.admin(Method::PUT, "/_sim/faults", Some(json!({})))
        .await;
    assert_eq!(
        org.get("/api/v1/users", &token).await.status,
        StatusCode::OK
    );

    org.sim()
        .set_faults(Faults {
            error_rate: 1.0,
            ..Faults::default()
        })
        .unwrap();
    for _ in 0..5 {
        let a = org.get("/api/v1/groups", &token).await;
        a.assert_error(StatusCode::INTERNAL_SERVER_ERROR, "E0000009");
    }
    org.sim()
        .set_faults(Faults {
            latency_ms: 150,
            ..Faults::default()
        })
        .unwrap();
    let t0 = Instant::now();
    assert_eq!(
        org.get("/api/v1/groups", &token).await.status,
        StatusCode::OK
    );
    assert!(t0.elapsed().as_millis() >= 150);
    let rec = org
        .sim()
        .calls()
        .records("GET /api/v1/groups")
        .last()
        .cloned()
        .unwrap();
    assert!(rec.duration_ms.unwrap() >= 150.0);

    // Bad values are refused with a message, unknown fields too.
    let a = org
        .admin(
            Method::PATCH,
            "/_sim/faults",
            Some(json!({"error_rate": 3})),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.body["errorCauses"][0]["errorSummary"]
        .as_str()
        .unwrap()
        .contains("error_rate"));
    let a = org
        .admin(Method::PUT, "/_sim/faults", Some(json!({"nonsense": 1})))
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    org.stop().await;
}

#[tokio::test]
async fn faults_given_at_start_apply_from_the_first_call() {
    let org = start(SimConfig {
        faults: Faults {
            outage: true,
            ..Faults::default()
        },
        ..config()
    })
    .await;
    let a = org.get("/api/v1/users", "whatever").await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    let calls = org.sim().calls();
    assert_eq!(calls.count("GET /api/v1/users"), 1);
    assert_eq!(calls.log[0].query, "");
    org.stop().await;
}
