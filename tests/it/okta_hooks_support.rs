//! Helpers for the event-hook tests: a bridge connected to okta-sim (and zenqms-sim), an Okta
//! access token of the test's own (the authorize redirect caught before the bridge's
//! callback), and a hook registered in okta-sim pointing at the bridge's `/okta/events`,
//! recorded in the bridge and verified by okta-sim's real `GET`.

#![allow(dead_code)]

use std::time::Duration;

use base64::Engine as _;
use okta_sim::{HookDelivery, RunningSim as OktaSim, Seed, SimConfig as OktaConfig};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use zenqms_bridge::okta_hooks::{HookRecord, EVENT_TYPES};

use crate::harness::{send, TestApp, TestDb};
use crate::initial_sync_support::tenant_sim;
use crate::okta_support::{
    client_for, connect_with_roles, no_redirects, redirect_of, start_sim as start_okta, CLIENT_ID,
    CLIENT_SECRET, SECRET_KEY,
};
use crate::sim_support::bridge_on;

pub const HOOK_SECRET: &str = "hook-secret-3b1f0c9d2e8a4f67b5c1d0e9f8a7b6c5";

/// Okta's org: a and d (QA), and e.
pub fn org() -> Seed {
    let users: Vec<Value> = ["a", "d", "e"]
        .iter()
        .map(|n| {
            json!({"id": format!("00u{n}"), "profile": {
                "login": format!("{n}@example.com"), "email": format!("{n}@example.com"),
                "firstName": format!("Given{n}"), "lastName": format!("Family{n}"),
                "title": "QA Specialist"}})
        })
        .collect();
    Seed::from_json(
        &json!({"users": users, "groups": [{"id": "00gqa", "name": "QA", "members": ["00ua", "00ud"]}]})
            .to_string(),
    )
    .expect("seed")
}

pub struct Setup {
    pub zenqms: zenqms_sim::RunningSim,
    pub okta: OktaSim,
    pub app: TestApp,
}

/// zenqms-sim, okta-sim (batches sent 20 ms after their first event, `delivery` otherwise),
/// a bridge on `db` connected to both, ZenQMS's roles read.
pub async fn setup_on(db: TestDb, delivery: HookDelivery) -> Setup {
    let zenqms = tenant_sim().await;
    let okta = start_okta(OktaConfig {
        seed: Some(org()),
        hook_delivery: delivery,
        ..OktaConfig::default()
    })
    .await;
    let app = bridge_on(
        db,
        &zenqms,
        &[("SYNC_DRIFT_SWEEP_SECS", "0"), ("SECRET_KEY", SECRET_KEY)],
    )
    .await;
    connect_with_roles(&app, &okta).await;
    Setup { zenqms, okta, app }
}

pub fn fast() -> HookDelivery {
    HookDelivery {
        batch_window_ms: 20,
        retry_delay_ms: 10,
        ..HookDelivery::default()
    }
}

/// An Okta access token for the test itself: `/authorize` (okta-sim redirects at once; the
/// redirect is not followed to the bridge) and the code exchanged with PKCE.
pub async fn okta_token(okta: &OktaSim, app: &TestApp) -> String {
    let verifier = format!("v-{}-{}", uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    let redirect = client_for(app).redirect_uris[0].clone();
    let browser = no_redirects();
    let mut authorize =
        url::Url::parse(&format!("http://{}/oauth2/v1/authorize", okta.addr)).expect("url");
    authorize.query_pairs_mut().extend_pairs([
        ("client_id", CLIENT_ID),
        ("response_type", "code"),
        ("response_mode", "query"),
        ("scope", "openid okta.eventHooks.manage okta.users.read"),
        ("redirect_uri", redirect.as_str()),
        ("state", "test-state"),
        ("nonce", "test-nonce"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ]);
    let location = redirect_of(&browser, authorize.as_str()).await;
    let url = url::Url::parse(&location).expect("redirect URL");
    let code = url
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.to_string())
        .expect("code");
    let (s, body) = send(
        browser
            .post(format!("http://{}/oauth2/v1/token", okta.addr))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", redirect.as_str()),
                ("code_verifier", verifier.as_str()),
            ]),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

/// Registers the hook in okta-sim (every followed event type, the bridge's `/okta/events`,
/// [`HOOK_SECRET`]), records it in the bridge, and has okta-sim verify it (its `GET` must get
/// the challenge back). Returns the hook's Okta id.
pub async fn register_hook(okta: &OktaSim, app: &TestApp) -> String {
    let token = okta_token(okta, app).await;
    let http = reqwest::Client::new();
    let uri = app.url("/okta/events");
    let (s, hook) = send(
        http.post(format!("http://{}/api/v1/eventHooks", okta.addr))
            .bearer_auth(&token)
            .json(&json!({
                "name": "zenqms-bridge",
                "events": {"type": "EVENT_TYPE", "items": EVENT_TYPES},
                "channel": {"type": "HTTP", "version": "1.0.0", "config": {"uri": uri,
                    "authScheme": {"type": "HEADER", "key": "Authorization", "value": HOOK_SECRET}}}
            })),
    )
    .await;
    assert_eq!(s, 200, "{hook}");
    let id = hook["id"].as_str().expect("hook id").to_string();
    app.state
        .okta_hooks
        .set_hook(HookRecord {
            okta_hook_id: id.clone(),
            uri,
            status: "ACTIVE".into(),
            verification_status: "UNVERIFIED".into(),
            events: EVENT_TYPES.iter().map(|t| t.to_string()).collect(),
            problem: None,
            secret: Some(HOOK_SECRET.into()),
        })
        .await
        .expect("hook recorded");
    let (s, verified) = send(
        http.post(format!(
            "http://{}/api/v1/eventHooks/{id}/lifecycle/verify",
            okta.addr
        ))
        .bearer_auth(&token),
    )
    .await;
    assert_eq!(s, 200, "{verified}");
    assert_eq!(verified["verificationStatus"], "VERIFIED", "{verified}");
    id
}

/// A delivery's envelope around `events`.
pub fn envelope(events: Vec<Value>) -> Value {
    json!({"eventType": "com.okta.event_hook", "eventTypeVersion": "1.0",
           "cloudEventsVersion": "0.1", "source": "https://x.okta.com/api/v1/eventHooks/who1",
           "eventId": uuid::Uuid::new_v4().to_string(),
           "eventTime": "2026-12-06T10:00:00.000Z", "contentType": "application/json",
           "data": {"events": events}})
}

/// A LogEvent of `event_type` about user `user` (and group `group`).
pub fn log_event(uuid: &str, event_type: &str, user: Option<&str>, group: Option<&str>) -> Value {
    let mut target = Vec::new();
    if let Some(u) = user {
        target.push(json!({"id": u, "type": "User", "alternateId": format!("{u}@example.com")}));
    }
    if let Some(g) = group {
        target.push(json!({"id": g, "type": "UserGroup", "displayName": g}));
    }
    json!({"uuid": uuid, "published": "2026-12-06T10:00:00.000Z", "eventType": event_type,
           "version": "0", "severity": "INFO", "displayMessage": "test",
           "actor": {"id": "00uadmin", "type": "User"}, "outcome": {"result": "SUCCESS"},
           "target": target})
}

/// `POST /okta/events` with `secret` (none: no header).
pub async fn post_delivery(app: &TestApp, secret: Option<&str>, body: Vec<u8>) -> (u16, Value) {
    let mut req = app
        .raw(Method::POST, "/okta/events")
        .header("Content-Type", "application/json")
        .body(body);
    if let Some(s) = secret {
        req = req.header("Authorization", s);
    }
    send(req).await
}

pub const WAIT: Duration = Duration::from_secs(30);
