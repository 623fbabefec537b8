//! The receiving end of Okta event hooks (`okta_hooks`, `POST|GET /okta/events`): the hook's
//! record and secret, deliveries stored once and processed from the Okta API's current state,
//! against okta-sim and zenqms-sim, on both databases.

use zenqms_bridge::okta_hooks::HookRecord;

use crate::harness::TestApp;

fn record(secret: Option<&str>) -> HookRecord {
    HookRecord {
        okta_hook_id: "who1".into(),
        uri: "https://bridge.example.com/okta/events".into(),
        status: "ACTIVE".into(),
        verification_status: "UNVERIFIED".into(),
        events: vec!["user.lifecycle.create".into()],
        problem: None,
        secret: secret.map(str::to_string),
    }
}

#[tokio::test]
async fn the_hook_record_keeps_only_the_secrets_hash_and_matches_it() {
    let app = TestApp::start().await;
    let hooks = &app.state.okta_hooks;
    assert_eq!(hooks.hook().await.expect("hook"), None);
    assert!(!hooks.secret_matches("anything").await.expect("match"));
    assert!(
        hooks.set_hook(record(None)).await.is_err(),
        "a first record without a secret is refused"
    );

    let saved = hooks
        .set_hook(record(Some("first-secret")))
        .await
        .expect("set");
    assert_eq!(saved.okta_hook_id, "who1");
    assert_eq!(saved.events, vec!["user.lifecycle.create".to_string()]);
    assert!(hooks.secret_matches("first-secret").await.expect("match"));
    assert!(!hooks.secret_matches("first-secreT").await.expect("match"));
    assert!(!format!("{:?}", record(Some("first-secret"))).contains("first-secret"));

    // A status change keeps the secret; a new secret replaces it.
    let mut verified = record(None);
    verified.verification_status = "VERIFIED".into();
    let saved = hooks.set_hook(verified).await.expect("set");
    assert_eq!(saved.verification_status, "VERIFIED");
    assert!(hooks.secret_matches("first-secret").await.expect("match"));
    hooks
        .set_hook(record(Some("second-secret")))
        .await
        .expect("set");
    assert!(!hooks.secret_matches("first-secret").await.expect("match"));
    assert!(hooks.secret_matches("second-secret").await.expect("match"));

    let stats = hooks.stats().await.expect("stats");
    assert_eq!((stats.deliveries, stats.events_applied), (0, 0));
    assert_eq!(stats.last_delivery_at, None);

    assert!(hooks.forget_hook().await.expect("forget"));
    assert!(!hooks.forget_hook().await.expect("forget"));
    assert!(!hooks.secret_matches("second-secret").await.expect("match"));
    app.stop().await;
}
