//! Injected faults over real HTTP: rate limit, outage, 5xx, latency, hangs, lost answers.

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use zenqms_sim::{Faults, SimConfig};

#[tokio::test]
async fn rate_limit_answers_429_with_integer_retry_after_and_is_logged() {
    let api = start(SimConfig {
        faults: Faults {
            rate_limit_rps: Some(2),
            ..Faults::default()
        },
        ..config()
    })
    .await;
    // An unauthenticated call does not use up the budget.
    let anon = api.send(api.client.get(api.url("/v2/roles"))).await;
    assert_eq!(anon.status, StatusCode::UNAUTHORIZED);

    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..3 {
        let a = api.get("/v2/roles").await;
        statuses.push(a.status.as_u16());
        if a.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(a);
        }
    }
    assert_eq!(statuses, [200, 200, 429]);
    let limited = limited.unwrap();
    assert_eq!(limited.code(), "rate_limited");
    let retry_after: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);

    let calls = api.running.sim.calls();
    assert_eq!(calls.count("GET /v2/roles"), 4);
    let logged: Vec<Option<u16>> = calls.records("GET /v2/roles").map(|r| r.status).collect();
    assert_eq!(logged, [Some(401), Some(200), Some(200), Some(429)]);

    // A fixed Retry-After, and rate 0 refuses everything.
    api.running
        .sim
        .set_faults(Faults {
            rate_limit_rps: Some(0),
            retry_after_s: Some(30),
            ..Faults::default()
        })
        .unwrap();
    let a = api.post("/v2/users/search", json!({})).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(a.headers["retry-after"], "30");
    api.running.sim.set_faults(Faults::default()).unwrap();
    assert_eq!(api.get("/v2/roles").await.status, StatusCode::OK);
    api.stop().await;
}

#[tokio::test]
async fn outage_answers_503_until_lifted_and_spares_sim_endpoints() {
    let api = start(config()).await;
    let on = api.put("/_sim/faults", json!({"outage": true})).await;
    assert_eq!(
        (on.status, on.body["outage"].clone()),
        (StatusCode::OK, json!(true))
    );
    for _ in 0..3 {
        let a = api.get("/v2/roles").await;
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::SERVICE_UNAVAILABLE, "service_unavailable")
        );
    }
    let create = api
        .post("/v2/users", json!({"email": "a@example.com"}))
        .await;
    assert_eq!(create.status, StatusCode::SERVICE_UNAVAILABLE);
    // /_sim is never faulted.
    assert_eq!(api.get("/_sim/state").await.status, StatusCode::OK);
    assert_eq!(api.get("/_sim/faults").await.body["outage"], true);

    let off = api
        .call(
            reqwest::Method::PATCH,
            "/_sim/faults",
            Some(json!({"outage": false})),
        )
        .await;
    assert_eq!(off.body["outage"], false);
    assert_eq!(api.get("/v2/roles").await.status, StatusCode::OK);
    assert!(api.running.sim.state().users.is_empty());
    api.stop().await;
}

#[tokio::test]
async fn error_rate_one_fails_every_call_without_effect() {
    let api = start(config()).await;
    api.running
        .sim
        .set_faults(Faults {
            error_rate: 1.0,
            ..Faults::default()
        })
        .unwrap();
    for i in 0..10 {
        let a = api
            .post(
                "/v2/users",
                json!({"email": format!("u{i}@example.com"), "first_name": "A",
                       "last_name": "B", "title": "T"}),
            )
            .await;
        assert!(matches!(a.status.as_u16(), 500 | 503), "{}", a.status);
        assert!(matches!(a.code(), "internal_error" | "service_unavailable"));
    }
    assert!(api.running.sim.state().users.is_empty());
    api.running.sim.set_faults(Faults::default()).unwrap();
    assert_eq!(api.create("ok@example.com").await, 1001);
    api.stop().await;
}

#[tokio::test]
async fn lost_responses_apply_the_change_then_answer_500() {
    let api = start(config()).await;
    api.running
        .sim
        .set_faults(Faults {
            lost_response_rate: 1.0,
            ..Faults::default()
        })
        .unwrap();
    let body = json!({"email": "a@example.com", "first_name": "A", "last_name": "B", "title": "T"});
    let lost = api.post("/v2/users", body.clone()).await;
    assert_eq!(lost.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        api.running.sim.state().users.len(),
        1,
        "the create happened"
    );
    api.running.sim.set_faults(Faults::default()).unwrap();
    let retry = api.post("/v2/users", body).await;
    assert_eq!(
        (retry.status, retry.code()),
        (StatusCode::CONFLICT, "email_taken")
    );
    assert_eq!(retry.body["error"]["details"]["user_id"], 1001);
    api.stop().await;
}

#[tokio::test]
async fn latency_delays_answers() {
    let api = start(SimConfig {
        faults: Faults {
            latency_ms: 200,
            ..Faults::default()
        },
        ..config()
    })
    .await;
    let t = Instant::now();
    assert_eq!(api.get("/v2/roles").await.status, StatusCode::OK);
    assert!(
        t.elapsed() >= Duration::from_millis(200),
        "{:?}",
        t.elapsed()
    );

    let range = api
        .put(
            "/_sim/faults",
            json!({"latency_min_ms": 100, "latency_max_ms": 150}),
        )
        .await;
    assert_eq!(range.status, StatusCode::OK);
    assert_eq!(range.body["latency_ms"], 0, "PUT replaces every fault");
    let t = Instant::now();
    assert_eq!(api.get("/v2/roles").await.status, StatusCode::OK);
    assert!(
        t.elapsed() >= Duration::from_millis(100),
        "{:?}",
        t.elapsed()
    );

    // /_sim is not delayed: several admin calls together take less than one delay.
    api.put("/_sim/faults", json!({"latency_ms": 2000})).await;
    let t = Instant::now();
    for _ in 0..3 {
        assert_eq!(api.get("/_sim/state").await.status, StatusCode::OK);
    }
    assert!(
        t.elapsed() < Duration::from_millis(2000),
        "{:?}",
        t.elapsed()
    );
    api.stop().await;
}

#[tokio::test]
async fn hangs_outlast_the_client_timeout_and_are_logged() {
    let api = start(SimConfig {
        faults: Faults {
            hang_rate: 1.0,
            hang_ms: 1500,
            ..Faults::default()
        },
        ..config()
    })
    .await;
    let impatient = client(Some(Duration::from_millis(250)));
    let err = impatient
        .get(api.url("/v2/roles"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect_err("the client gives up first");
    assert!(err.is_timeout(), "{err}");
    let calls = api.running.sim.calls();
    assert_eq!(calls.count("GET /v2/roles"), 1);
    assert_eq!(calls.log[0].endpoint, "/v2/roles");

    api.running.sim.set_faults(Faults::default()).unwrap();
    let t = Instant::now();
    assert_eq!(api.get("/v2/roles").await.status, StatusCode::OK);
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "no hang once it is off"
    );
    api.stop().await;
}

#[tokio::test]
async fn fault_settings_are_validated() {
    let api = start(config()).await;
    let bad = api
        .put(
            "/_sim/faults",
            json!({"error_rate": 1.5, "latency_min_ms": 9, "latency_max_ms": 1}),
        )
        .await;
    assert_eq!(
        (bad.status, bad.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    assert_eq!(
        bad.body["error"]["details"]["fields"],
        json!(["error_rate", "latency_min_ms"])
    );
    let unknown = api.put("/_sim/faults", json!({"error_rat": 0.5})).await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (StatusCode::BAD_REQUEST, "bad_request")
    );
    let wrong = api
        .call(
            reqwest::Method::PATCH,
            "/_sim/faults",
            Some(json!({"outage": "yes"})),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        api.running.sim.faults(),
        Faults::default(),
        "nothing applied"
    );
    assert!(api
        .running
        .sim
        .set_faults(Faults {
            hang_rate: -0.1,
            ..Faults::default()
        })
        .is_err());
    let started = zenqms_sim::start(
        SimConfig {
            faults: Faults {
                error_rate: 2.0,
                ..Faults::default()
            },
            ..config()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await;
    assert_eq!(
        started.err().map(|e| e.kind()),
        Some(std::io::ErrorKind::InvalidInput)
    );
    api.stop().await;
}
