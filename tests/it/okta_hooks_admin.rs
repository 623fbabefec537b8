//! The event hook in Okta through `GET/POST/DELETE /api/v1/okta/event-hook`, against
//! okta-sim: created ACTIVE and VERIFIED for exactly the spec's event types with a secret
//! whose hash the bridge keeps (Okta's verification passes only with it); repaired after it
//! was deactivated, moved or deleted in Okta; deleted in Okta; refused to read tokens; and what
//! an admin is told without a connection, without the scope, or with a plain-HTTP PUBLIC_URL.
//! Changes "in Okta" are made over okta-sim's own Event Hooks API, as an Okta admin would.

use okta_sim::{OAuthClient, RunningSim, SimConfig};
use reqwest::Method;
use serde_json::{json, Value};
use zenqms_bridge::okta_hooks::EVENT_TYPES;

use crate::console_support::token;
use crate::harness::{send, TestApp};
use crate::okta_support::{age_access_token, client_for, connect, register, start_sim};

async fn setup() -> (RunningSim, TestApp) {
    let okta = start_sim(SimConfig::default()).await;
    let app = TestApp::start().await;
    register(&okta, client_for(&app));
    connect(&app, &okta).await;
    (okta, app)
}

/// A call to okta-sim's Event Hooks API with the connection's token (the Okta admin's).
async fn in_okta(
    app: &TestApp,
    okta: &RunningSim,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let access = app.state.okta.access().await.expect("a token");
    let mut req = reqwest::Client::new()
        .request(
            method,
            format!("http://{}/api/v1/eventHooks{path}", okta.addr),
        )
        .bearer_auth(access.token.expose());
    if let Some(b) = body {
        req = req.json(&b);
    }
    send(req).await
}

async fn hook(app: &TestApp) -> Value {
    let (s, body) = send(app.admin(Method::GET, "/okta/event-hook")).await;
    assert_eq!(s, 200, "{body}");
    body
}

async fn ensure(app: &TestApp) -> Value {
    let (s, body) = send(app.admin(Method::POST, "/okta/event-hook")).await;
    assert_eq!(s, 200, "{body}");
    body
}

/// The bridge's view of the hook, whose `problem` names `what`.
async fn problem_names(app: &TestApp, what: &str) -> Value {
    let view = hook(app).await;
    assert!(
        view["problem"].as_str().unwrap_or_default().contains(what),
        "{view}"
    );
    view
}

/// The hook deactivated in Okta, by its admin.
async fn deactivate_in_okta(app: &TestApp, okta: &RunningSim, id: &str) {
    let path = format!("/{id}/lifecycle/deactivate");
    let (s, body) = in_okta(app, okta, Method::POST, &path, None).await;
    assert_eq!(s, 200, "{body}");
}

fn sorted(v: &Value) -> Vec<String> {
    let mut list: Vec<String> = v
        .as_array()
        .expect("a list")
        .iter()
        .map(|e| e.as_str().expect("a string").to_string())
        .collect();
    list.sort();
    list
}

fn spec_events() -> Vec<String> {
    let mut list: Vec<String> = EVENT_TYPES.iter().map(|s| s.to_string()).collect();
    list.sort();
    list
}

/// The one hook in okta-sim, secret included.
fn only_hook(okta: &RunningSim) -> okta_sim::EventHook {
    let hooks = okta.sim.hooks();
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    hooks.into_iter().next().expect("one hook")
}

fn secret_of(h: &okta_sim::EventHook) -> String {
    h.auth_scheme
        .as_ref()
        .expect("an auth header")
        .value
        .clone()
}

async fn audit(app: &TestApp, action: &str) -> Vec<Value> {
    let (s, body) = send(app.admin(Method::GET, &format!("/audit?action={action}"))).await;
    assert_eq!(s, 200, "{body}");
    body["entries"].as_array().cloned().unwrap_or_default()
}

/// `PUT` of the hook in Okta, keeping its secret (no `value`): as an admin editing the URI.
fn moved(uri: &str) -> Value {
    let events: Vec<&str> = EVENT_TYPES.to_vec();
    json!({"name": "zenqms-bridge", "events": {"type": "EVENT_TYPE", "items": events},
        "channel": {"type": "HTTP", "version": "1.0.0",
            "config": {"uri": uri, "authScheme": {"type": "HEADER", "key": "Authorization"}}}})
}

#[actix_web::test]
async fn a_created_hook_is_active_verified_for_exactly_the_spec_events_and_its_secret_is_kept_hashed(
) {
    let (okta, app) = setup().await;
    let before = hook(&app).await;
    assert_eq!(before["status"], "NOT_REGISTERED", "{before}");
    assert!(
        before["problem"]
            .as_str()
            .unwrap_or_default()
            .contains("POST /api/v1/okta/event-hook"),
        "{before}"
    );

    let made = ensure(&app).await;
    assert_eq!(made["status"], "ACTIVE", "{made}");
    assert_eq!(made["verification_status"], "VERIFIED", "{made}");
    assert_eq!(made["problem"], Value::Null, "{made}");
    let uri = format!("{}/okta/events", app.base);
    assert_eq!(made["uri"], uri.as_str());
    assert_eq!(sorted(&made["events"]), spec_events());

    let live = only_hook(&okta);
    assert!(live.is_live(), "{live:?}");
    assert_eq!(made["id"], live.id.as_str());
    assert_eq!(live.uri, uri);
    let mut events = live.events.clone();
    events.sort();
    assert_eq!(events, spec_events(), "exactly the spec's list");
    let auth = live.auth_scheme.clone().expect("an auth header");
    assert_eq!(auth.key, "Authorization");
    assert!(auth.value.len() >= 43, "at least 32 random bytes");
    // The bridge keeps the secret Okta holds (as its hash), nothing else opens the endpoint.
    assert!(app
        .state
        .okta_hooks
        .secret_matches(&auth.value)
        .await
        .expect("read"));
    assert!(!app
        .state
        .okta_hooks
        .secret_matches("another secret")
        .await
        .expect("read"));

    // GET: the full shape, read from Okta.
    let view = hook(&app).await;
    for key in [
        "id",
        "status",
        "verification_status",
        "uri",
        "events",
        "last_delivery_at",
        "deliveries",
        "events_applied",
        "events_ignored",
        "problem",
    ] {
        assert!(view.get(key).is_some(), "{key} missing from {view}");
    }
    assert_eq!(view["id"], live.id.as_str());
    assert_eq!(view["status"], "ACTIVE");
    assert_eq!(view["verification_status"], "VERIFIED");
    assert_eq!(view["source"], "okta");
    assert_eq!(view["deliveries"], 0);
    assert!(!view.to_string().contains(&auth.value));

    // Nothing to repair: the same hook, verified again, the same secret.
    let again = ensure(&app).await;
    assert_eq!(again["id"], live.id.as_str(), "{again}");
    assert_eq!(sorted(&again["actions"]), ["verified"], "{again}");
    assert_eq!(secret_of(&only_hook(&okta)), auth.value);

    // Audited, never the secret.
    let created = audit(&app, "okta.event_hook.create").await;
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0]["actor"], "test-admin");
    assert_eq!(created[0]["outcome"], "success");
    assert_eq!(audit(&app, "okta.event_hook.repair").await.len(), 1);
    let (_, all) = send(app.admin(Method::GET, "/audit?limit=1000")).await;
    assert!(
        !all.to_string().contains(&auth.value),
        "the secret is in the audit trail"
    );
    app.stop().await;
}

#[actix_web::test]
async fn a_hook_deactivated_moved_or_deleted_in_okta_is_repaired() {
    let (okta, app) = setup().await;
    let made = ensure(&app).await;
    let id = made["id"].as_str().expect("id").to_string();
    let uri = format!("{}/okta/events", app.base);

    // Deactivated in Okta.
    deactivate_in_okta(&app, &okta, &id).await;
    let view = problem_names(&app, "deactivated").await;
    assert_eq!(view["status"], "INACTIVE", "{view}");
    let repaired = ensure(&app).await;
    assert_eq!(repaired["id"], id.as_str(), "the same hook");
    assert_eq!(repaired["status"], "ACTIVE", "{repaired}");
    assert_eq!(repaired["verification_status"], "VERIFIED", "{repaired}");
    assert!(
        repaired["actions"].to_string().contains("activated")
            && repaired["actions"]
                .to_string()
                .contains("re-read of the org requested"),
        "{repaired}"
    );
    assert!(only_hook(&okta).is_live());

    // Pointed elsewhere in Okta (which makes it unverified).
    let old_secret = secret_of(&only_hook(&okta));
    let (s, body) = in_okta(
        &app,
        &okta,
        Method::PUT,
        &format!("/{id}"),
        Some(moved("https://elsewhere.example.com/hook")),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let view = problem_names(&app, "points at").await;
    assert_eq!(view["uri"], "https://elsewhere.example.com/hook", "{view}");
    let repaired = ensure(&app).await;
    assert_eq!(repaired["uri"], uri.as_str(), "{repaired}");
    assert_eq!(repaired["verification_status"], "VERIFIED", "{repaired}");
    assert_eq!(repaired["problem"], Value::Null, "{repaired}");
    let live = only_hook(&okta);
    assert!(live.is_live() && live.uri == uri, "{live:?}");
    let new_secret = secret_of(&live);
    assert_ne!(
        new_secret, old_secret,
        "a rewritten hook gets a fresh secret"
    );
    assert!(app
        .state
        .okta_hooks
        .secret_matches(&new_secret)
        .await
        .expect("read"));
    assert!(!app
        .state
        .okta_hooks
        .secret_matches(&old_secret)
        .await
        .expect("read"));

    // Deleted in Okta.
    deactivate_in_okta(&app, &okta, &id).await;
    let (s, _) = in_okta(&app, &okta, Method::DELETE, &format!("/{id}"), None).await;
    assert_eq!(s, 204);
    assert!(okta.sim.hooks().is_empty());
    let view = problem_names(&app, "deleted in Okta").await;
    assert_eq!(view["status"], "DELETED_IN_OKTA", "{view}");
    let repaired = ensure(&app).await;
    let live = only_hook(&okta);
    assert_ne!(live.id, id, "created again");
    assert!(live.is_live());
    assert_eq!(repaired["id"], live.id.as_str());
    assert_eq!(repaired["verification_status"], "VERIFIED", "{repaired}");
    assert!(app
        .state
        .okta_hooks
        .secret_matches(&secret_of(&live))
        .await
        .expect("read"));
    assert_eq!(audit(&app, "okta.event_hook.repair").await.len(), 3);
    app.stop().await;
}

#[actix_web::test]
async fn delete_removes_the_hook_in_okta_and_forgets_it() {
    let (okta, app) = setup().await;
    let made = ensure(&app).await;
    let secret = secret_of(&only_hook(&okta));
    let (s, body) = send(app.admin(Method::DELETE, "/okta/event-hook")).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["id"], made["id"]);
    assert_eq!(body["deleted_in_okta"], true);
    assert!(okta.sim.hooks().is_empty(), "deleted in Okta");
    assert!(
        !app.state
            .okta_hooks
            .secret_matches(&secret)
            .await
            .expect("read"),
        "the secret opens nothing any more"
    );
    assert_eq!(hook(&app).await["status"], "NOT_REGISTERED");
    let (s, body) = send(app.admin(Method::DELETE, "/okta/event-hook")).await;
    assert_eq!(s, 404, "{body}");
    assert_eq!(body["error"], "not_found");
    let deleted = audit(&app, "okta.event_hook.delete").await;
    assert_eq!(deleted.len(), 2, "{deleted:?}");
    assert!(deleted
        .iter()
        .any(|e| e["outcome"] == "success" && e["target_id"] == made["id"]));
    app.stop().await;
}

#[actix_web::test]
async fn a_read_token_may_look_but_not_create_or_delete() {
    let (okta, app) = setup().await;
    let read = token(&app, "auditor", "read").await;
    let as_reader = |m: Method| app.raw(m, "/api/v1/okta/event-hook").bearer_auth(&read);
    let (s, body) = send(as_reader(Method::POST)).await;
    assert_eq!(s, 403, "{body}");
    assert_eq!(body["error"], "forbidden");
    assert!(okta.sim.hooks().is_empty(), "nothing created");
    ensure(&app).await;
    let (s, _) = send(as_reader(Method::DELETE)).await;
    assert_eq!(s, 403);
    assert_eq!(okta.sim.hooks().len(), 1, "nothing deleted");
    let (s, body) = send(as_reader(Method::GET)).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["status"], "ACTIVE");
    app.stop().await;
}

#[actix_web::test]
async fn without_a_connection_the_scope_or_https_the_admin_is_told_what_to_do() {
    // No Okta connection at all.
    let app = TestApp::start().await;
    let (s, body) = send(app.admin(Method::POST, "/okta/event-hook")).await;
    assert_eq!(s, 409, "{body}");
    assert_eq!(body["error"], "conflict");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("/api/v1/settings/okta"),
        "{body}"
    );
    let failed = audit(&app, "okta.event_hook.create").await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["outcome"], "failure");
    assert_eq!(hook(&app).await["status"], "NOT_REGISTERED");
    app.stop().await;

    // Connected, then the scope's grant taken from the app in Okta: the next token lacks it.
    let (okta, app) = setup().await;
    let mut narrowed: OAuthClient = client_for(&app);
    narrowed
        .allowed_scopes
        .retain(|s| s != "okta.eventHooks.manage");
    register(&okta, narrowed);
    age_access_token(&app);
    let (s, body) = send(app.admin(Method::POST, "/okta/event-hook")).await;
    assert_eq!(s, 409, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("okta.eventHooks.manage") && message.contains("authorize again"),
        "{body}"
    );
    assert!(okta.sim.hooks().is_empty());
    app.stop().await;

    // PUBLIC_URL on plain HTTP to a host Okta would have to reach.
    let app = TestApp::start_with(&[("PUBLIC_URL", "http://bridge.example.com")]).await;
    let (s, body) = send(app.admin(Method::POST, "/okta/event-hook")).await;
    assert_eq!(s, 409, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("PUBLIC_URL") && message.contains("HTTPS"),
        "{body}"
    );
    problem_names(&app, "PUBLIC_URL").await;
    app.stop().await;
}

#[actix_web::test]
async fn the_console_card_creates_the_hook_with_the_sessions_csrf_token() {
    use crate::console_support::{admin_browser, Browser};
    let (okta, app) = setup().await;
    let mut b = admin_browser(&app).await;
    let page = b.get("/console/dashboard").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("NOT_REGISTERED"), "{}", page.body);
    assert!(page.body.contains("Create event hook"), "{}", page.body);

    // A form without the session's CSRF token changes nothing.
    let refused = b.post("/console/okta/event-hook", &[]).await;
    assert_ne!(refused.status, 303, "{}", refused.body);
    assert!(okta.sim.hooks().is_empty());

    let done = b
        .submit("/console/dashboard", "/console/okta/event-hook", &[])
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location(), "/console/dashboard?ok=hook");
    let live = only_hook(&okta);
    assert_eq!(live.uri, format!("{}/okta/events", app.base));
    let page = b.get("/console/dashboard?ok=hook").await;
    assert!(page.body.contains("Repair event hook"), "{}", page.body);
    assert!(page.body.contains("ACTIVE"), "{}", page.body);
    assert_eq!(audit(&app, "okta.event_hook.create").await.len(), 1);

    // A read-only session sees the card but no button, and may not post it.
    let read = token(&app, "auditor", "read").await;
    let mut r = Browser::new(&app);
    assert_eq!(r.sign_in(&read).await.status, 303);
    let page = r.get("/console/dashboard").await;
    assert!(page.body.contains("hook-status"), "{}", page.body);
    assert!(!page.body.contains("Repair event hook"), "{}", page.body);
    app.stop().await;
}
