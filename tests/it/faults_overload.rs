//! Overload (issue 14 §4): writes past what the database takes are refused at once with `503`
//! and `Retry-After`, before their token or body is looked at, while reads keep answering.
//! The minute-long measurement at twice the sustainable rate is `loadgen/overload.sh`
//! (docs/operations.md); here the admission itself, deterministically: the test holds the
//! write slots.

use reqwest::Method;

use crate::harness::{send, TestApp};
use crate::scim_support::{assert_error, create_user, get, scim_json, user_body};

#[tokio::test]
async fn writes_past_the_slots_and_queue_get_503_with_retry_after_and_reads_still_answer() {
    let app = TestApp::start_with(&[
        ("DB_MAX_WRITES_IN_FLIGHT", "1"),
        ("DB_MAX_WRITES_QUEUED", "0"),
    ])
    .await;
    let before = create_user(&app, "before@example.com").await;

    // Every write slot taken (as by a write in progress): the next write is refused at once.
    let held = app.state.admission.admit().await.expect("the one slot");
    let res = app
        .scim(Method::POST, "/Users")
        .header("Content-Type", "application/scim+json")
        .body(user_body("refused@example.com").to_string())
        .send()
        .await
        .expect("answer");
    assert_eq!(
        res.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let (status, body) = crate::harness::json_of(res).await;
    assert_error(status, &body, 503, None);
    // Refused before the token check: a bad token gets the same 503, not a 401.
    let (status, _) = send(
        app.raw(Method::DELETE, &format!("/scim/v2/Users/{before}"))
            .header("Authorization", format!("Bearer zqb_{}", "x".repeat(43))),
    )
    .await;
    assert_eq!(status, 503);
    // Reads do not need a write slot.
    let (status, body) = get(&app, &format!("/Users/{before}")).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = get(
        &app,
        "/Users?filter=userName%20eq%20%22refused@example.com%22",
    )
    .await;
    assert_eq!(
        (status, &body["totalResults"]),
        (200, &serde_json::json!(0)),
        "{body}"
    );

    // The refusals are counted for the operator.
    let (status, text) = {
        let res = app
            .raw(Method::GET, "/metrics")
            .bearer_auth(&app.admin_token)
            .send()
            .await
            .expect("metrics");
        (res.status().as_u16(), res.text().await.unwrap_or_default())
    };
    assert_eq!(status, 200, "{text}");
    assert!(
        text.contains("zenqms_bridge_writes_refused_total 2"),
        "{text}"
    );

    // The slot freed, writes are taken again.
    drop(held);
    let (status, body) = scim_json(
        &app,
        Method::POST,
        "/Users",
        &user_body("after@example.com"),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    app.stop().await;
}
